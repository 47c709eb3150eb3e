"""Per-incident review metrics: milestones, phase durations, communication and coordination.

Pure functions of the canonical events and incidents frames (ARCHITECTURE.md, "metrics");
one vectorised pass serves one incident or ten thousand.

Communication windows. The comms points of an incident are its ``status_update`` and
``stakeholder_update`` events between ``detected_at`` and the end of the window, both
inclusive. The window ends at ``resolved_at``; an incident that is not resolved has its
window end at the report's as-of time (``asof``, which the report states: the silence of a
live incident counts until now), or, without one, at its last event.
Points at the same instant are one point: gaps of zero length are not listed.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..model import check_columns, normalise_severity, parse_timestamp, person_name, target_people, to_iso
from .durations import DURATION_SPANS, RESOLUTION_SECONDS, measured_durations
from .timeline import OrderedEvents, member_of, milestones_of, order_events

__all__ = [
    "AUDIENCES", "CadencePolicy", "DEFAULT_CADENCE", "METRIC_COLUMNS", "communication_gaps",
    "compute_metrics", "incident_metrics", "metrics_to_json",
]

# Who an update speaks to, and the event kind that carries it.
AUDIENCES: dict[str, str] = {"external": "status_update", "internal": "stakeholder_update"}
# Maximum seconds between updates, per severity and audience; severities not listed have
# no cadence to keep.
DEFAULT_CADENCE: dict[str, dict[str, float]] = {
    "SEV1": {"external": 20 * 60.0, "internal": 30 * 60.0},
    "SEV2": {"external": 20 * 60.0, "internal": 30 * 60.0},
}
METRIC_COLUMNS: tuple[str, ...] = (
    "incident_id", "title", "severity", "service", "team",
    "started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at",
    "reopened", "is_resolved",
    "time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve",
    "impact_duration",
    "time_to_first_update", "longest_silence", "cadence_breaches",
    "responders", "responder_count", "escalations", "handoffs", "commander",
)
GAP_COLUMNS: tuple[str, ...] = (
    "incident_id", "audience", "gap_start", "gap_end", "seconds", "limit_seconds", "breach",
)
# Actors of these types are automation, not people responding (ARCHITECTURE.md, actor_type).
NOT_RESPONDERS: tuple[str, ...] = ("bot", "service")
_RESPONDER_ACTOR_KINDS = ("acknowledged", "responder_joined", "message", "note", "reassigned")
_NAT = np.iinfo(np.int64).min
_INCIDENT_FIELDS = ("title", "severity", "service", "team", "commander")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b",
                       re.IGNORECASE)
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_NO_LIMIT = ("none", "off", "never", "")


# --- cadence policy -------------------------------------------------------------------------

def _seconds(value: Any, where: str) -> float | None:
    """Seconds from a number or a text duration ("20m", "1h 30m", "90s"); None = no limit."""
    if value is None or value is False:
        return None
    if isinstance(value, bool):
        raise InputError(None, where, f"expected a duration, found {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _NO_LIMIT:
            return None
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION.findall(text)
            if not parts or _DURATION.sub("", text).strip():
                raise InputError(None, where, f"not a duration: {value!r} "
                                 "(write seconds, or e.g. '20m', '1h 30m', '90s')") from None
            seconds = sum(float(n) * _UNIT_SECONDS[unit[0]] for n, unit in parts)
    else:
        raise InputError(None, where, f"expected a duration, found {value!r}")
    if math.isnan(seconds) or seconds < 0:
        raise InputError(None, where, f"a cadence cannot be {value!r}")
    # Zero reads as "no cadence": a limit of no time at all would breach every gap.
    return seconds or None


@dataclass
class CadencePolicy:
    """How often each audience must hear from the response, per severity.

    ``limits`` maps a severity (``SEV1``…) to ``{"external": seconds, "internal": seconds}``:
    external updates are ``status_update`` events, internal ones ``stakeholder_update``.
    A severity or audience without a limit has no cadence to keep. The default: SEV1 and
    SEV2 tell customers every 20 minutes and stakeholders every 30; SEV3 and below, none.

    >>> policy = CadencePolicy.from_dict({"SEV1": {"external": "15m"}, "SEV2": "none"})
    >>> policy.limit("SEV1", "external"), policy.limit("SEV1", "internal"), policy.limit("SEV2", "external")
    (900.0, 1800.0, None)
    """

    limits: dict[str, dict[str, float]] = field(
        default_factory=lambda: {sev: dict(by) for sev, by in DEFAULT_CADENCE.items()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, inherit: bool = True) -> "CadencePolicy":
        """A policy from configuration, e.g. the ``[cadence]`` table of the TOML config.

        ``{"SEV1": {"external": 1200, "internal": "30m"}, "SEV3": {"external": "1h"}}``:
        durations in seconds or as text (``"20m"``, ``"1h 30m"``); ``"none"``, ``"off"``,
        ``false`` or 0 switch a cadence off, and a severity set to ``"none"`` switches both
        off. Severities are read as the loaders read them (``sev1``, ``P1`` → SEV1). With
        ``inherit`` (the default) what the configuration leaves out keeps the default.
        """
        if not isinstance(data, Mapping):
            raise InputError(None, "cadence", "expected a table of severities")
        limits = ({sev: dict(by) for sev, by in DEFAULT_CADENCE.items()} if inherit else {})
        for raw_severity, audiences in data.items():
            where = f"cadence.{raw_severity}"
            severity = normalise_severity(raw_severity)
            if severity is None:
                raise InputError(None, where, f"unknown severity {raw_severity!r}; "
                                 "expected SEV1..SEV5")
            if not isinstance(audiences, Mapping):
                if _seconds(audiences, where) is not None:
                    raise InputError(None, where, "expected a table with 'external' and/or "
                                     "'internal', or 'none'")
                limits.pop(severity, None)
                continue
            current = limits.setdefault(severity, {})
            for audience, value in audiences.items():
                if audience not in AUDIENCES:
                    raise InputError(None, f"{where}.{audience}", "unknown audience; expected "
                                     f"{' or '.join(AUDIENCES)}")
                seconds = _seconds(value, f"{where}.{audience}")
                if seconds is None:
                    current.pop(audience, None)
                else:
                    current[audience] = seconds
        return cls({sev: by for sev, by in limits.items() if by})

    def limit(self, severity: str | None, audience: str) -> float | None:
        """Maximum seconds between two ``audience`` updates for ``severity``, or None."""
        if audience not in AUDIENCES:
            raise ValueError(f"unknown audience {audience!r}; expected {' or '.join(AUDIENCES)}")
        normalised = normalise_severity(severity) if severity is not None else None
        seconds = self.limits.get(normalised or "", {}).get(audience)
        return None if seconds is None else float(seconds)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {sev: dict(by) for sev, by in self.limits.items()}


def _policy(cadence: CadencePolicy | Mapping[str, Any] | None) -> CadencePolicy:
    if cadence is None:
        return CadencePolicy()
    if isinstance(cadence, CadencePolicy):
        return cadence
    return CadencePolicy.from_dict(cadence)


# --- shared pieces --------------------------------------------------------------------------

def _micros(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype="datetime64[us]").view("int64")


def _times(values: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(values, dtype="int64").view("datetime64[us]")).dt.tz_localize("UTC")


def _incident_fields(incidents: pd.DataFrame | None, ids: pd.Index) -> pd.DataFrame:
    """title, severity, service, team, commander aligned to ``ids`` (None where unknown)."""
    out = pd.DataFrame(index=range(len(ids)))
    if incidents is None:
        for name in _INCIDENT_FIELDS:
            out[name] = pd.Series([None] * len(ids), dtype=object)
        return out
    table = incidents.drop_duplicates("incident_id", keep="last")
    positions = pd.Index(table["incident_id"].astype(object)).get_indexer(ids)
    for name in _INCIDENT_FIELDS:
        values = (table[name].to_numpy(dtype=object) if name in table.columns
                  else np.full(len(table), None, dtype=object))
        column = np.full(len(ids), None, dtype=object)
        found = positions >= 0
        column[found] = values[positions[found]]
        out[name] = pd.Series(column, dtype=object).where(pd.notna(column), None)
    return out


def _window(ordered: OrderedEvents, detected: np.ndarray, resolved: np.ndarray,
            asof: Any = None) -> np.ndarray:
    """Where each incident's communication window ends: resolution, else the report's as-of
    time when there is one, else its last event."""
    last_event = np.full(len(ordered.incidents), _NAT, dtype="int64")
    if asof is not None:
        last_event[:] = _asof_micros(asof)
    elif len(ordered):
        end = np.ones(len(ordered), dtype=bool)
        end[:-1] = ordered.inc[1:] != ordered.inc[:-1]
        last_event[ordered.inc[end]] = ordered.at[end]
    return np.where(resolved != _NAT, resolved, last_event)


def _asof_micros(asof: Any) -> int:
    stamp = parse_timestamp(asof)
    if stamp is None:
        raise InputError(None, "asof", f"not a time: {asof!r}")
    return int(np.datetime64(stamp.tz_convert("UTC").tz_localize(None), "us").astype("int64"))


def _gaps(ordered: OrderedEvents, kinds: Iterable[str], start: np.ndarray, end: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(incident, gap start, gap end) for the sequence start, updates of ``kinds``…, end.

    Only incidents whose window is known and not inverted have a sequence.
    """
    valid = (start != _NAT) & (end != _NAT) & (end >= start)
    rows = np.flatnonzero(ordered.kind_is(*kinds))
    inc, at = ordered.inc[rows], ordered.at[rows]
    inside = valid[inc] & (at >= start[inc]) & (at <= end[inc])
    bounded = np.flatnonzero(valid)
    points_inc = np.concatenate((bounded, inc[inside], bounded))
    points_at = np.concatenate((start[bounded], at[inside], end[bounded]))
    order = np.lexsort((points_at, points_inc))
    points_inc, points_at = points_inc[order], points_at[order]
    same = points_inc[1:] == points_inc[:-1]
    gap_inc, gap_start, gap_end = points_inc[1:][same], points_at[:-1][same], points_at[1:][same]
    real = gap_end > gap_start
    return gap_inc[real], gap_start[real], gap_end[real]


def _communication(ordered: OrderedEvents, start: np.ndarray, end: np.ndarray,
                   severity: np.ndarray, policy: CadencePolicy) -> pd.DataFrame:
    """Every gap per incident and audience, with the policy's limit and whether it broke it."""
    # A policy lookup per distinct severity, not per incident.
    severity_codes, severities = pd.factorize(pd.Series(severity, dtype=object),
                                              use_na_sentinel=False)
    parts = []
    for audience, kind in AUDIENCES.items():
        gap_inc, gap_start, gap_end = _gaps(ordered, [kind], start, end)
        limits = np.array([np.nan if (s := policy.limit(None if pd.isna(sev) else sev, audience))
                           is None else s for sev in severities], dtype="float64")
        limit = limits[severity_codes[gap_inc]] if len(limits) else np.full(len(gap_inc), np.nan)
        seconds = (gap_end - gap_start) / 1e6
        parts.append(pd.DataFrame({
            "inc": gap_inc, "incident_id": ordered.incidents.to_numpy(dtype=object)[gap_inc],
            "audience": audience, "gap_start": _times(gap_start), "gap_end": _times(gap_end),
            "seconds": seconds, "limit_seconds": limit,
            "breach": seconds > limit,
        }))
    gaps = pd.concat(parts, ignore_index=True)
    # Text columns are object, as in every canonical frame (loaders.base._typed).
    gaps = gaps.astype({"incident_id": object, "audience": object})
    return gaps.sort_values(["inc", "audience", "gap_start"], kind="stable",
                            ignore_index=True)


def _responders(ordered: OrderedEvents) -> tuple[list[list[str]], np.ndarray]:
    """Distinct people who acted, per incident, in order of first activity; and how many."""
    n_incidents = len(ordered.incidents)
    actor, actor_names = ordered.codes("actor")
    actor_type, types = ordered.codes("actor_type")
    # Bots and services are automation; an actor of unknown type counts as a person.
    automated = member_of(actor_type, types, NOT_RESPONDERS)
    acting = np.flatnonzero(ordered.kind_is(*_RESPONDER_ACTOR_KINDS) & ~automated & (actor >= 0))
    # Escalations are few: their targets are read row by row, not as a whole column. A
    # target may name several people (`target_people`); each counts, as in the
    # retrospective's responder table.
    escalated = np.flatnonzero(ordered.kind_is("escalated"))
    target, target_texts = pd.factorize(pd.Series(ordered.column("target", escalated),
                                                  dtype=object))
    named = [target_people(text) for text in target_texts]
    # One numbering of people for actors and targets alike, on their names (`person_name`).
    spellings = [person_name(name) for name in actor_names] + [n for names in named for n in names]
    person_of, people = pd.factorize(pd.Series(spellings, dtype=object))
    people = np.asarray(people, dtype=object)
    nobody = np.append(people == "", True)  # a blank name, and code -1, name nobody
    person_of = np.where(nobody[person_of], -1, person_of)
    # Where each target text's names start in `spellings`, and how many it has.
    counts = np.array([len(names) for names in named], dtype="int64")
    starts = len(actor_names) + np.cumsum(counts) - counts
    assigned = target >= 0
    assigned[assigned] = counts[target[assigned]] > 0
    rows, text = escalated[assigned], target[assigned]
    # Each row's first person in timeline order (-1: nobody): the acting rows and the
    # escalations are different kinds, so they never share a row, and no sort is needed to
    # merge them. Escalations to more than one person are rare: their other names are
    # added after, at the same place in the timeline.
    person_at = np.full(len(ordered), -1, dtype="int64")
    person_at[acting] = person_of[actor[acting]]
    person_at[rows] = person_of[starts[text]]
    positions = np.flatnonzero(person_at >= 0)
    person = person_at[positions]
    more = np.flatnonzero(counts[text] > 1)
    if len(more):
        extra = counts[text[more]] - 1
        at_rows = np.repeat(rows[more], extra)
        nth = np.arange(int(extra.sum())) - np.repeat(np.cumsum(extra) - extra, extra) + 1
        extra_person = person_of[np.repeat(starts[text[more]], extra) + nth]
        keep = extra_person >= 0
        positions = np.concatenate((positions, at_rows[keep]))
        person = np.concatenate((person, extra_person[keep]))
        # Each row's first person (rank 0) before its others, in the order the target names them.
        rank = np.concatenate((np.zeros(len(positions) - int(keep.sum()), dtype="int64"), nth[keep]))
        by = np.lexsort((rank, positions))
        positions, person = positions[by], person[by]
    inc = ordered.inc[positions]
    # A person's first act in an incident is never a repeat of the row before: dropping
    # those repeats first (a chat is long runs of one person) leaves the hash little to do.
    fresh = np.ones(len(positions), dtype=bool)
    fresh[1:] = (person[1:] != person[:-1]) | (inc[1:] != inc[:-1])
    person, inc = person[fresh], inc[fresh]
    first = ~pd.Series(inc * max(len(people), 1) + person).duplicated().to_numpy()
    first_inc, first_names = inc[first], people[person[first]]
    # The timeline is in incident order, so each incident's people are one slice.
    bounds = np.searchsorted(first_inc, np.arange(n_incidents + 1)).tolist()
    # One conversion to a list, then a slice each: a list per incident is what the column holds.
    names = first_names.tolist()
    return ([names[bounds[i]:bounds[i + 1]] for i in range(n_incidents)],
            np.diff(np.asarray(bounds, dtype="int64")))


# --- public API -----------------------------------------------------------------------------

def compute_metrics(events: pd.DataFrame, incidents: pd.DataFrame | None = None, *,
                    overrides: pd.DataFrame | Mapping[str, Mapping[str, Any]] | None = None,
                    cadence: CadencePolicy | Mapping[str, Any] | None = None,
                    asof: Any = None, unique_ids: bool = False) -> pd.DataFrame:
    """One row of review metrics per incident (columns ``METRIC_COLUMNS``), ordered by id.

    - milestones (``timeline.milestones``), ``reopened`` and ``is_resolved``;
    - durations in seconds (``durations.measured_durations``: NaN where the data cannot
      measure them, never 0 or negative): ``time_to_detect`` (detected − started),
      ``time_to_acknowledge``, ``time_to_mitigate`` and ``time_to_resolve`` (from detected),
      ``impact_duration`` (mitigated − started);
    - communication: ``time_to_first_update`` (first comms point − detected),
      ``longest_silence`` (largest gap in detected, comms points…, end of window; module
      docs say where the window of an unresolved incident ends) and ``cadence_breaches``
      (the breaches ``communication_gaps`` lists for the incident);
    - coordination: ``responders`` (people who acknowledged, joined, wrote, took notes or
      reassigned, and those escalated to, in order of first activity; actors typed bot or
      service left out), ``responder_count``, ``escalations``, ``handoffs`` (reassignments)
      and ``commander``;
    - ``title``, ``severity``, ``service``, ``team``, ``commander`` from ``incidents``.

    With ``incidents``, there is one row for each of its incidents (events of others are
    ignored; an incident without events gets a row of unknowns); without, one per incident
    in ``events``, and the incident fields are null. Without a severity no cadence applies.
    ``overrides``: hand-set milestones, as for ``timeline.milestones``. ``cadence``: a
    ``CadencePolicy`` or its configuration dict; default ``CadencePolicy()``. ``asof``: the
    report's as-of time; an unresolved incident's communication window (and so its longest
    silence) runs up to it; without one, up to the incident's last event. ``unique_ids``:
    no two events share an event_id (``timeline.order_events``; true of a store's frame).
    """
    if incidents is not None:
        check_columns(incidents, ("incident_id",), "incidents")
        ordered = order_events(events, incident_ids=incidents["incident_id"], number_actors=True,
                               unique_ids=unique_ids)
    else:
        ordered = order_events(events, number_actors=True, unique_ids=unique_ids)
    return _metrics(ordered, incidents, overrides, _policy(cadence), asof)


def _metrics(ordered: OrderedEvents, incidents: pd.DataFrame | None,
             overrides: Any, policy: CadencePolicy, asof: Any = None) -> pd.DataFrame:
    marks = milestones_of(ordered, overrides)
    fields = _incident_fields(incidents, ordered.incidents)
    n_incidents = len(ordered.incidents)

    detected, resolved = _micros(marks["detected_at"]), _micros(marks["resolved_at"])
    end = _window(ordered, detected, resolved, asof)
    valid = (detected != _NAT) & (end != _NAT) & (end >= detected)

    gap_inc, gap_start, gap_end = _gaps(ordered, AUDIENCES.values(), detected, end)
    longest = np.where(valid, 0.0, np.nan)
    np.maximum.at(longest, gap_inc, (gap_end - gap_start) / 1e6)
    rows = np.flatnonzero(ordered.kind_is(*AUDIENCES.values()))
    inc, at = ordered.inc[rows], ordered.at[rows]
    inside = valid[inc] & (at >= detected[inc]) & (at <= end[inc])
    inc, at = inc[inside], at[inside]
    first = np.ones(len(inc), dtype=bool)
    first[1:] = inc[1:] != inc[:-1]
    first_update = np.full(n_incidents, np.nan)
    first_update[inc[first]] = (at[first] - detected[inc[first]]) / 1e6

    # As for every duration (durations.RESOLUTION_SECONDS): less than a second is no measure
    # (a status page's first update is the detection itself), unknown rather than 0.
    first_update[first_update < RESOLUTION_SECONDS] = np.nan
    longest[longest < RESOLUTION_SECONDS] = np.nan

    gaps = _communication(ordered, detected, end, fields["severity"].to_numpy(dtype=object),
                          policy)
    breaches = np.bincount(gaps["inc"].to_numpy()[gaps["breach"].to_numpy(dtype=bool)],
                           minlength=n_incidents)

    responders, responder_count = _responders(ordered)
    counts = lambda kind: np.bincount(ordered.inc[ordered.kind_is(kind)],  # noqa: E731
                                      minlength=n_incidents).astype("int64")

    durations = measured_durations(marks)
    out = pd.DataFrame({
        "incident_id": marks["incident_id"],
        "title": fields["title"], "severity": fields["severity"],
        "service": fields["service"], "team": fields["team"],
        "started_at": marks["started_at"], "detected_at": marks["detected_at"],
        "acknowledged_at": marks["acknowledged_at"], "mitigated_at": marks["mitigated_at"],
        "resolved_at": marks["resolved_at"],
        "reopened": marks["reopened"], "is_resolved": marks["is_resolved"],
        **{name: durations[name] for name in DURATION_SPANS},
        "time_to_first_update": first_update,
        "longest_silence": longest,
        # No window (no detection, or it ends before it starts): not "no breach" but unknown.
        "cadence_breaches": pd.arrays.IntegerArray(breaches.astype("int64"), ~valid),
        "responders": pd.Series(responders, dtype=object),
        "responder_count": responder_count,
        "escalations": counts("escalated"),
        "handoffs": counts("reassigned"),
        "commander": fields["commander"],
    })
    return out.loc[:, list(METRIC_COLUMNS)]


def communication_gaps(events: pd.DataFrame, milestones_frame: pd.DataFrame,
                       incidents: pd.DataFrame | None = None,
                       cadence: CadencePolicy | Mapping[str, Any] | None = None,
                       asof: Any = None) -> pd.DataFrame:
    """Every silence between updates, per incident and audience, against the cadence policy.

    For each incident of ``milestones_frame`` (``timeline.milestones`` or
    ``compute_metrics`` output) and each audience (external: ``status_update``, internal:
    ``stakeholder_update``) the sequence detected_at, that audience's updates in the
    window, end of window (module docs) gives one row per gap: ``incident_id, audience,
    gap_start, gap_end, seconds, limit_seconds`` (NaN when the severity has no cadence for
    the audience) and ``breach`` (seconds > limit). Severities come from ``incidents``.
    """
    check_columns(milestones_frame, ("incident_id", "detected_at", "resolved_at"), "milestones")
    ordered = order_events(events, incident_ids=milestones_frame["incident_id"])
    marks = milestones_frame.drop_duplicates("incident_id")
    marks = marks.set_axis(pd.Index(marks["incident_id"].astype(object))).reindex(
        ordered.incidents)
    detected = _micros(pd.to_datetime(marks["detected_at"], utc=True).dt.as_unit("us"))
    resolved = _micros(pd.to_datetime(marks["resolved_at"], utc=True).dt.as_unit("us"))
    if incidents is not None:
        check_columns(incidents, ("incident_id",), "incidents")
    severity = _incident_fields(incidents, ordered.incidents)["severity"].to_numpy(dtype=object)
    gaps = _communication(ordered, detected, _window(ordered, detected, resolved, asof),
                          severity, _policy(cadence))
    return gaps.loc[:, list(GAP_COLUMNS)]


def incident_metrics(events: pd.DataFrame, incident_id: str,
                     incident: Mapping[str, Any] | pd.Series | pd.DataFrame | None = None, *,
                     overrides: pd.DataFrame | Mapping[str, Mapping[str, Any]] | None = None,
                     cadence: CadencePolicy | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``compute_metrics`` for one incident, as a dict (the row of that incident).

    ``events`` may hold other incidents' events too; ``incident`` is its incidents row (a
    dict, a Series or a one-row frame), if known.
    """
    if incident is None:
        table = pd.DataFrame({"incident_id": pd.Series([incident_id], dtype=object)})
    elif isinstance(incident, pd.DataFrame):
        table = incident[incident["incident_id"].astype(object) == incident_id]
        if table.empty:
            table = pd.DataFrame({"incident_id": pd.Series([incident_id], dtype=object)})
    else:
        row = dict(incident)
        row["incident_id"] = incident_id
        table = pd.DataFrame({k: pd.Series([v], dtype=object) for k, v in row.items()})
    frame = compute_metrics(events, table, overrides=overrides, cadence=cadence)
    return frame.iloc[0].to_dict()


def _json_value(value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_value(v) for v in value]
    if isinstance(value, (pd.Timestamp, datetime, np.datetime64)):
        return to_iso(value) if not pd.isna(value) else None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value if isinstance(value, str) else str(value)


def metrics_to_json(row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    """A metrics row ready for ``json.dumps``: ISO 8601 UTC times, numbers, None for missing.

    >>> metrics_to_json({"resolved_at": pd.Timestamp("2024-03-01T10:00:00Z"),
    ...                  "time_to_resolve": float("nan"), "responders": ["Ana"]})
    {'resolved_at': '2024-03-01T10:00:00Z', 'time_to_resolve': None, 'responders': ['Ana']}
    """
    return {str(key): _json_value(value) for key, value in dict(row).items()}
