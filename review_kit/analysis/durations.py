"""When a duration is measured, and when it is unknown: the one place that says so.

The milestones themselves are derived in ``timeline.milestones`` (ARCHITECTURE.md gives the
rule per milestone). From them, a duration is the time from its start milestone to its end
milestone (``DURATION_SPANS``) and it is **unknown** (NaN, null in JSON, blank in tables),
never 0 and never negative, when:

1. either milestone is missing;
2. the two are less than ``RESOLUTION_SECONDS`` apart: the data does not tell the start from
   the end (a status-page incident posted after the fact, whose one update is both its
   detection and its resolution; a start that falls back to the very record that detected
   the incident). A phase that took no measurable time is not a measurement of 0;
3. either milestone is *out of order* (``order_findings``).

Order. Milestones must keep the order of ``MILESTONE_ORDER`` (impact started, then detected,
then acknowledged and mitigated, then resolved; acknowledged and mitigated are not ordered
against each other). A pair reversed by at least ``RESOLUTION_SECONDS`` is a data-quality
finding. The milestones stay as the data says; the ones to blame lose the durations they
take part in. Which ones to blame: the fewest milestones whose removal leaves the rest in
order (a detection posted after the incident was mitigated and resolved is the detection's
fault, not the other two's); when several choices tie (one reversed pair: either end may be
wrong) every milestone of every such choice is blamed.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .timeline import MILESTONES, milestones

__all__ = [
    "DURATION_SPANS", "MILESTONE_ORDER", "RESOLUTION_SECONDS", "describe_finding",
    "measured_durations", "order_conflicts", "order_findings", "refused_override",
    "FINDING_COLUMNS",
]

# Each duration: (from milestone, to milestone).
DURATION_SPANS: dict[str, tuple[str, str]] = {
    "time_to_detect": ("started_at", "detected_at"),
    "time_to_acknowledge": ("detected_at", "acknowledged_at"),
    "time_to_mitigate": ("detected_at", "mitigated_at"),
    "time_to_resolve": ("detected_at", "resolved_at"),
    "impact_duration": ("started_at", "mitigated_at"),
}
# (must come first, must come after): every pair whose order the data must keep.
MILESTONE_ORDER: tuple[tuple[str, str], ...] = (
    ("started_at", "detected_at"), ("started_at", "acknowledged_at"),
    ("started_at", "mitigated_at"), ("started_at", "resolved_at"),
    ("detected_at", "acknowledged_at"), ("detected_at", "mitigated_at"),
    ("detected_at", "resolved_at"),
    ("acknowledged_at", "resolved_at"), ("mitigated_at", "resolved_at"),
)
# Times closer than this are one instant as far as the sources can tell (several record whole
# seconds, and a status page stamps an incident and its first update milliseconds apart).
RESOLUTION_SECONDS: float = 1.0
FINDING_COLUMNS: tuple[str, ...] = (
    "incident_id", "earlier", "later", "earlier_at", "later_at", "seconds",
)
_NAT = np.iinfo(np.int64).min
_RESOLUTION = int(RESOLUTION_SECONDS * 1_000_000)


@lru_cache(maxsize=1)
def _blame_table() -> np.ndarray:
    """For each set of reversed pairs (a bit per ``MILESTONE_ORDER`` entry), the milestones to
    blame (a bit per ``MILESTONES`` entry): the union of the smallest sets that touch every
    reversed pair. Built as one array operation over every (pattern, subset): a loop over
    them cost a tenth of a second in every process that measured a duration."""
    index = {name: i for i, name in enumerate(MILESTONES)}
    pairs = np.array([(index[a], index[b]) for a, b in MILESTONE_ORDER], dtype="int64")
    subsets = np.arange(1 << len(MILESTONES), dtype="int64")
    size = np.array([bin(s).count("1") for s in range(len(subsets))], dtype="int64")
    # touched[s]: a bit per pair that subset s holds one end of.
    holds = (((subsets[:, None] >> pairs[None, :, 0]) & 1)
             | ((subsets[:, None] >> pairs[None, :, 1]) & 1))
    touched = (holds << np.arange(len(pairs), dtype="int64")[None, :]).sum(axis=1)
    patterns = np.arange(1 << len(pairs), dtype="int64")
    covers = (patterns[:, None] & ~touched[None, :]) == 0
    smallest = np.where(covers, size[None, :], len(MILESTONES) + 1).min(axis=1, keepdims=True)
    chosen = covers & (size[None, :] == smallest)
    table = np.bitwise_or.reduce(np.where(chosen, subsets[None, :], 0), axis=1)
    table[0] = 0  # nothing reversed, nobody blamed
    return table.astype("int64")


def _micros(values: Any) -> np.ndarray:
    series = pd.Series(values)
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = pd.to_datetime(series, utc=True)
    return series.dt.tz_convert("UTC").to_numpy(dtype="datetime64[us]").view("int64")


def _milestone_micros(marks: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: _micros(marks[name].reset_index(drop=True)) for name in MILESTONES}


def _reversed_bits(times: Mapping[str, np.ndarray]) -> np.ndarray:
    n = len(next(iter(times.values())))
    bits = np.zeros(n, dtype="int64")
    for k, (first, then) in enumerate(MILESTONE_ORDER):
        a, b = times[first], times[then]
        back = (a != _NAT) & (b != _NAT) & (a - b >= _RESOLUTION)
        bits |= back.astype("int64") << k
    return bits


def _blamed(times: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per incident, a bit per milestone (``MILESTONES`` order) blamed for a reversed order."""
    return _blame_table()[_reversed_bits(times)]


def measured_durations(marks: pd.DataFrame) -> pd.DataFrame:
    """The ``DURATION_SPANS`` durations in seconds for a frame of milestones (one row per
    incident, as ``timeline.milestones`` or ``compute_metrics`` give), NaN where unknown
    (module docs). Same index as ``marks``."""
    times = _milestone_micros(marks)
    blamed = _blamed(times)
    index = {name: i for i, name in enumerate(MILESTONES)}
    out = {}
    for name, (first, then) in DURATION_SPANS.items():
        a, b = times[first], times[then]
        ok = ((a != _NAT) & (b != _NAT) & (b - a >= _RESOLUTION)
              & ~(blamed >> index[first] & 1).astype(bool)
              & ~(blamed >> index[then] & 1).astype(bool))
        out[name] = np.where(ok, (b - a) / 1e6, np.nan)
    return pd.DataFrame(out, index=marks.index)


def order_findings(marks: pd.DataFrame) -> pd.DataFrame:
    """Every reversed pair of milestones (columns ``FINDING_COLUMNS``): ``earlier`` should
    come first but comes ``seconds`` after ``later``. Ordered by incident, then by
    ``MILESTONE_ORDER``."""
    times = _milestone_micros(marks)
    ids = marks["incident_id"].to_numpy(dtype=object)
    parts = []
    for rank, (first, then) in enumerate(MILESTONE_ORDER):
        a, b = times[first], times[then]
        rows = np.flatnonzero((a != _NAT) & (b != _NAT) & (a - b >= _RESOLUTION))
        if len(rows):
            parts.append(pd.DataFrame({
                "incident_id": ids[rows], "earlier": first, "later": then,
                "earlier_at": _stamps(a[rows]), "later_at": _stamps(b[rows]),
                "seconds": (a[rows] - b[rows]) / 1e6, "_rank": rank}))
    if not parts:
        return pd.DataFrame({
            "incident_id": pd.Series([], dtype=object), "earlier": pd.Series([], dtype=object),
            "later": pd.Series([], dtype=object),
            "earlier_at": pd.Series([], dtype="datetime64[us, UTC]"),
            "later_at": pd.Series([], dtype="datetime64[us, UTC]"),
            "seconds": pd.Series([], dtype="float64")})
    found = pd.concat(parts, ignore_index=True)
    found = found.sort_values(["incident_id", "_rank"], kind="stable", ignore_index=True)
    return found.drop(columns="_rank").astype({"incident_id": object, "earlier": object,
                                               "later": object})


def _stamps(values: np.ndarray) -> pd.Series:
    return pd.Series(values.view("datetime64[us]")).dt.tz_localize("UTC")


def order_conflicts(milestones: Mapping[str, Any], field: str, value: Any) -> list[str]:
    """The milestones that ``field`` set to ``value`` would be out of order with, given the
    incident's other milestones (``{name: time or None}``): empty when the order holds."""
    if field not in MILESTONES:
        raise ValueError(f"unknown milestone {field!r}")
    stamp = pd.Timestamp(value)
    conflicts = []
    for first, then in MILESTONE_ORDER:
        if field not in (first, then):
            continue
        other = then if field == first else first
        other_value = milestones.get(other)
        if other_value is None or pd.isna(other_value):
            continue
        other_stamp = pd.Timestamp(other_value)
        earlier, later = (stamp, other_stamp) if field == first else (other_stamp, stamp)
        if (earlier - later).total_seconds() >= RESOLUTION_SECONDS:
            conflicts.append(other)
    return conflicts


def refused_override(events: pd.DataFrame, overrides: Mapping[str, Any], incident_id: str,
                     field: str, value: Any, labels: Mapping[str, str] | None = None) -> str | None:
    """Why setting ``field`` of ``incident_id`` to ``value`` by hand must be refused, in one
    line, or None when the milestones keep their order with it.

    ``events`` are the incident's events, ``overrides`` its annotations (``{field: text}``;
    fields other than milestones are passed over); the value is weighed against the
    milestones they give.
    """
    labels = labels or {}
    others = {k: v for k, v in overrides.items() if k in MILESTONES and k != field and v}
    current = milestones(events, {incident_id: others}) if len(events) else None
    row: dict[str, Any] = {}
    if current is not None:
        found = current[current["incident_id"] == incident_id]
        if len(found):
            row = found.iloc[0].to_dict()
    for name, text in others.items():  # an incident without events has only its overrides
        row.setdefault(name, pd.Timestamp(text))
    conflicts = order_conflicts(row, field, value)
    if not conflicts:
        return None
    def when(value: Any) -> str:
        return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")

    must_follow = [o for o in conflicts if (field, o) in MILESTONE_ORDER]
    must_precede = [o for o in conflicts if (o, field) in MILESTONE_ORDER]
    clauses = [f"{side} {' and '.join(f'{labels.get(o, o)} ({when(row[o])})' for o in group)}"
               for side, group in (("after", must_follow), ("before", must_precede)) if group]
    return (f"{labels.get(field, field)} at {when(value)} would come "
            f"{' and '.join(clauses)}; milestones must stay in order")


def describe_finding(finding: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """One sentence for a finding of ``order_findings``: "INC-7: Resolved (2024-03-01 10:00
    UTC) comes 30 min before Detected (2024-03-01 10:30 UTC)"."""
    labels = labels or {}
    earlier, later = finding["earlier"], finding["later"]

    def when(value: Any) -> str:
        return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")

    return (f"{finding['incident_id']}: {labels.get(later, later)} ({when(finding['later_at'])}) "
            f"comes {_span(float(finding['seconds']))} before {labels.get(earlier, earlier)} "
            f"({when(finding['earlier_at'])})")


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size:
            value = seconds / size
            return f"{value:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.0f} s"
