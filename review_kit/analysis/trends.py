"""Fleet summaries across incidents: counts and rates per period, duration summaries, control
charts, recurrence, action-item follow-through, communication and responder load, and the
sentences that say what changed.

Everything here is a pure function of DataFrames (the metrics frame of
`metrics.compute_metrics`, the incidents, action-items and events frames); nothing knows the
store. The statistics themselves (bootstrap, comparisons, control limits) are in `statistics`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from .. import human
from ..model import SEVERITIES, check_columns, parse_timestamp, parse_timestamps, person_name
from .durations import DURATION_SPANS
from .similarity import SimilarityIndex, text_tokens
from .statistics import (
    PeriodComparison,
    RateComparison,
    bootstrap_ci,
    compare_periods,
    compare_rates,
    compare_shares,
    needed_per_period,
    point_estimate,
    resample,
    xmr,
)

__all__ = [
    "DURATION_METRICS", "COMMUNICATION_METRICS", "FollowThrough",
    "incident_times", "incident_counts", "rate_comparison",
    "duration_summary", "duration_table", "median_over_time", "control_chart",
    "title_tokens", "recurring_groups", "recurrence_reasons", "repeat_rate", "top_recurring",
    "repeats_after_fix", "repeats_after_fix_per_period",
    "action_item_follow_through", "overdue", "communication_trends", "responder_activity", "responder_load",
    "group_order", "human_duration", "metric_label", "period_range", "last_two_periods",
    "summary_sentences", "HEADLINE_COLUMNS", "headline_figures",
    "ComparedPeriods", "compared_periods", "missing_duration",
]

DURATION_METRICS: tuple[str, ...] = (
    "time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve",
    "impact_duration",
)
COMMUNICATION_METRICS: tuple[str, ...] = ("time_to_first_update", "longest_silence")
FREQUENCIES: frozenset[str] = frozenset({"D", "W", "M", "Q", "Y"})
UNKNOWN = "unknown"
ALL = "all"


# --- time and periods -------------------------------------------------------------------------
def _as_utc(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(series.dtype):
        raise ValueError(f"column {series.name!r} holds times without a zone; "
                         "review-kit keeps times in UTC")
    return parse_timestamps(series)


def _utc_datetime64(times: pd.Series) -> np.ndarray:
    """A zoned UTC column as zone-less datetime64 values in its unit (NaT for unknown)."""
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def incident_times(frame: pd.DataFrame) -> pd.Series:
    """When each incident happened: detected_at, else started_at, else created_at (UTC)."""
    columns = [c for c in ("detected_at", "started_at", "created_at") if c in frame.columns]
    if not columns:
        raise ValueError("incident frame is missing a time column "
                         "(detected_at, started_at or created_at)")
    times = _as_utc(frame[columns[0]])
    for column in columns[1:]:
        times = times.fillna(_as_utc(frame[column]))
    return times.rename("at")


def _check_freq(freq: str) -> str:
    freq = freq.upper()
    if freq not in FREQUENCIES:
        raise ValueError(f"unknown period {freq!r}; expected one of W, M, Q (or D, Y)")
    return freq


def _periods(times: pd.Series, freq: str) -> pd.Series:
    # Periods carry no zone; convert to naive UTC first so pandas does not warn and drop it.
    return times.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period(_check_freq(freq))


def period_range(times: pd.Series, freq: str, until: Any = None) -> pd.PeriodIndex:
    """Every period from the first time to the last (or `until`), empty ones included."""
    periods = _periods(times.dropna(), freq)
    if periods.empty:
        return pd.PeriodIndex([], freq=_check_freq(freq), name="period")
    last = periods.max()
    if until is not None:
        last = max(last, pd.Timestamp(_bound(until)).tz_localize(None).to_period(
            _check_freq(freq)))
    return pd.period_range(periods.min(), last, freq=_check_freq(freq), name="period")


def _labels(frame: pd.DataFrame, by: str | None) -> pd.Series:
    if by is None:
        return pd.Series(ALL, index=frame.index, dtype="string")
    check_columns(frame, [by], "frame")
    return frame[by].astype("string").fillna(UNKNOWN).rename(by)


def group_order(labels: Iterable[str]) -> list[str]:
    """Distinct group names in reading order: SEV1..SEV5, then others A–Z, "unknown" last."""
    present = list(dict.fromkeys(labels))
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(present, key=lambda s: (s == UNKNOWN, rank.get(s, len(rank)), s))


def incident_counts(frame: pd.DataFrame, freq: str = "M", by: str | None = "severity",
                    tidy: bool = False) -> pd.DataFrame:
    """Incidents per week ("W", weeks start Monday), month ("M") or quarter ("Q").

    Pivoted by default: one row per period (empty periods included, as zeros), one column
    per value of `by` (severities in SEV1..SEV5 order; a missing value counts as
    "unknown"). `tidy=True` gives long rows (period, group, incidents).
    """
    times = incident_times(frame)
    known = times.notna()
    groups = _labels(frame, by)[known]
    periods = _periods(times[known], freq)
    counts = pd.crosstab(periods.rename("period"), groups.rename(by or "group"))
    counts = counts.reindex(period_range(times, freq), fill_value=0)
    counts = counts[group_order(counts.columns)]
    counts.columns.name = by or "group"
    counts.index.name = "period"
    counts = counts.astype("int64")
    if tidy:
        return (counts.stack().rename("incidents").reset_index()
                .rename(columns={by or "group": "group"}))
    return counts



def _bound(value: Any) -> pd.Timestamp:
    if isinstance(value, pd.Period):
        return value.start_time.tz_localize("UTC")
    # An analysis window is the user's choice, not source data: a bare date means UTC.
    stamp = parse_timestamp(value, "UTC")
    if stamp is None:
        raise ValueError(f"not a time: {value!r}")
    return stamp


def _range(value: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) from a (start, end) pair, a pd.Period or a period's name ("2024Q3")."""
    if isinstance(value, str):
        value = pd.Period(value)
    if isinstance(value, pd.Period):
        return _bound(value), _bound(value + 1)
    start, end = value
    start, end = _bound(start), _bound(end)
    if end <= start:
        raise ValueError(f"period ends before it starts: {start} – {end}")
    return start, end


def last_two_periods(asof: Any, freq: str = "Q") -> tuple[pd.Period, pd.Period]:
    """The last two complete periods before `asof`: (the one before, the last one)."""
    current = _bound(asof).tz_localize(None).to_period(_check_freq(freq))
    return current - 2, current - 1


@dataclass(frozen=True)
class ComparedPeriods:
    """The two periods a trend report compares: ``after`` against ``before``.

    ``partial`` says ``after`` is still running at ``asof``: its window ends there.
    """

    before: pd.Period
    after: pd.Period
    partial: bool
    asof: pd.Timestamp

    def windows(self) -> tuple[tuple[pd.Timestamp, pd.Timestamp], tuple[pd.Timestamp, pd.Timestamp]]:
        """[start, end) of each period, the partial one cut at ``asof``."""
        before = (_bound(self.before), _bound(self.before + 1))
        end = min(_bound(self.after + 1), self.asof) if self.partial else _bound(self.after + 1)
        return before, (_bound(self.after), end)

    def labels(self) -> tuple[str, str]:
        """"Q3 2025 (2025-07-01 to 2025-09-30)" for each; "…, partial" for a running one."""
        out = []
        for period, (start, end) in zip((self.before, self.after), self.windows()):
            last = (end - pd.Timedelta(microseconds=1)).strftime("%Y-%m-%d")
            partial = ", partial" if period == self.after and self.partial else ""
            out.append(f"{human.period(period)} ({start.strftime('%Y-%m-%d')} to {last}{partial})")
        return out[0], out[1]


def compared_periods(times: pd.Series, asof: Any, freq: str = "Q") -> ComparedPeriods:
    """The periods to compare, anchored to the data: the last complete period before
    ``asof`` that holds an incident, and the one before it. When every incident falls in
    the period still running at ``asof``, that period (partial) and the one before.

    A history whose newest incident is a year old compares its last two quarters, not two
    empty ones ending today.
    """
    asof = _bound(asof)
    running = asof.tz_localize(None).to_period(_check_freq(freq))
    periods = _periods(_as_utc(times).dropna(), freq)
    periods = periods[periods <= running]
    complete = periods[periods < running]
    if len(complete):
        last = complete.max()
        return ComparedPeriods(last - 1, last, False, asof)
    return ComparedPeriods(running - 1, running, True, asof)


# What a duration needs, and how to get it when no incident has it.
_MILESTONE_HINTS: dict[str, str] = {
    "started_at": "an impact start (an impact_started event, alerts, or Impact started set "
                  "by hand in the retrospective)",
    "detected_at": "a detection time (alerts or the paging tool's triggered events: ingest "
                   "Alertmanager, PagerDuty or Opsgenie, or set Detected by hand)",
    "acknowledged_at": "an acknowledgement (ingest the paging tool's log: PagerDuty log "
                       "entries, Opsgenie alert logs)",
    "mitigated_at": "a mitigation or resolution time (ingest the incident tool's lifecycle "
                    "or the status page's updates)",
    "resolved_at": "a resolution (nothing in this window is resolved: ingest the incident "
                   "tool's resolve events or the status page's resolved updates)",
}


def missing_duration(metrics: pd.DataFrame, metric: str, label: str | None = None) -> str | None:
    """One sentence saying why no incident has a measured ``metric`` and how to get one, or
    None when at least one has it."""
    check_columns(metrics, [metric], "metrics frame")
    measured = int(pd.to_numeric(metrics[metric], errors="coerce").notna().sum())
    if measured:
        return None
    total = len(metrics)
    name = label or metric_label(metric)
    if total == 0:
        return f"{name}: no incidents in this window."
    start, end = DURATION_SPANS.get(metric, (None, None))
    for milestone in (end, start):
        if milestone in metrics and metrics[milestone].notna().sum() == 0:
            return (f"{name}: measured for 0 of {total} incidents; none has "
                    f"{_MILESTONE_HINTS[milestone]}.")
    if start in metrics and end in metrics:
        apart = (_as_utc(metrics[end]) - _as_utc(metrics[start])).dt.total_seconds() >= 1
        if not apart.any():
            # Every start falls on its end: the start is a fallback to the same record.
            lacking = start if start == "started_at" else end
            return (f"{name}: measured for 0 of {total} incidents; none has "
                    f"{_MILESTONE_HINTS[lacking]} apart from its {end.removesuffix('_at')} "
                    "time.")
    return (f"{name}: measured for 0 of {total} incidents; no incident's milestones are a "
            "second or more apart and in order (an incident posted on a status page after "
            "the fact has none): ingest the incident tool's lifecycle, or set the milestones "
            "by hand in the retrospective.")


def _in_range(times: pd.Series, window: tuple[pd.Timestamp, pd.Timestamp]) -> pd.Series:
    return (times >= window[0]) & (times < window[1])


def rate_comparison(frame: pd.DataFrame, before: Any, after: Any,
                    alpha: float = 0.05) -> RateComparison:
    """Incidents per day in two windows ((start, end) pairs or periods), compared exactly."""
    times = incident_times(frame)
    first, second = _range(before), _range(after)
    return compare_rates(int(_in_range(times, first).sum()), first[1] - first[0],
                         int(_in_range(times, second).sum()), second[1] - second[0], alpha)


# --- durations --------------------------------------------------------------------------------
_SUMMARY_COLUMNS = ("n", "median", "median_low", "median_high", "p90", "p90_low", "p90_high",
                    "mean")


def _summarise(values: np.ndarray, n_boot: int, level: float,
               rng: np.random.Generator) -> list[float]:
    values = np.sort(values[~np.isnan(values)])
    n = values.size
    if n == 0:
        return [0] + [math.nan] * 7
    median, p90 = point_estimate(values, "median"), point_estimate(values, "p90")
    if n < 2:
        return [n, median, math.nan, math.nan, p90, math.nan, math.nan, float(values.mean())]
    # One resample matrix serves both quantiles: half the work of two bootstrap_ci calls.
    distribution = resample(values, ["median", "p90"], n_boot, rng)
    tail = (1 - level) / 2 * 100
    (m_low, p_low), (m_high, p_high) = np.percentile(distribution, [tail, 100 - tail], axis=0)
    return [n, median, m_low, m_high, p90, p_low, p_high, float(values.mean())]


def duration_summary(metrics: pd.DataFrame, metric: str, by: str | None = "severity",
                     n_boot: int = 2000, seed: int | None = 0, level: float = 0.95,
                     total: bool = True) -> pd.DataFrame:
    """Median and p90 of one duration per group, each with a bootstrap interval.

    Rows: one per group (SEV1..SEV5 order), plus "all" when `total`; columns n, median,
    median_low, median_high, p90, p90_low, p90_high, and mean (for reading next to the
    median only: on heavy-tailed data it sits far above the typical incident).
    """
    check_columns(metrics, [metric], "metrics frame")
    rng = np.random.default_rng(seed)
    values = pd.to_numeric(metrics[metric], errors="coerce").to_numpy(dtype=float)
    labels = _labels(metrics, by).to_numpy(dtype=object)
    rows: dict[str, list[float]] = {}
    for group in group_order(labels):
        rows[group] = _summarise(values[labels == group], n_boot, level, rng)
    if total and (by is not None):
        rows[ALL] = _summarise(values, n_boot, level, rng)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(_SUMMARY_COLUMNS))
    table["n"] = table["n"].astype("int64")
    table.index.name = by or "group"
    return table


def duration_table(metrics: pd.DataFrame, metrics_list: Sequence[str] = DURATION_METRICS,
                   by: str | None = "severity", n_boot: int = 2000, seed: int | None = 0,
                   level: float = 0.95, total: bool = True) -> pd.DataFrame:
    """`duration_summary` for several metrics at once, in long form (metric, group, …)."""
    parts = []
    for offset, metric in enumerate(metrics_list):
        part = duration_summary(metrics, metric, by, n_boot,
                                None if seed is None else seed + offset, level, total)
        parts.append(part.reset_index().rename(columns={by or "group": "group"})
                     .assign(metric=metric))
    if not parts:
        return pd.DataFrame(columns=["metric", "group", *_SUMMARY_COLUMNS])
    table = pd.concat(parts, ignore_index=True)
    return table[["metric", "group", *_SUMMARY_COLUMNS]]


def median_over_time(metrics: pd.DataFrame, metric: str, freq: str = "Q",
                     by: str | None = None, n_boot: int = 2000, seed: int | None = 0,
                     level: float = 0.95) -> pd.DataFrame:
    """Median of a duration per period (and group) with its bootstrap interval.

    Columns: period, group, n, median, low, high. Periods with no value have n = 0.
    """
    check_columns(metrics, [metric], "metrics frame")
    rng = np.random.default_rng(seed)
    times = incident_times(metrics)
    frame = pd.DataFrame({
        "period": _periods(times, freq), "group": _labels(metrics, by),
        "value": pd.to_numeric(metrics[metric], errors="coerce").astype(float)})
    frame = frame[frame["period"].notna()]
    rows = []
    for group in group_order(frame["group"]):
        chosen = frame[frame["group"] == group]
        for period in period_range(times, freq):
            values = chosen.loc[chosen["period"] == period, "value"].to_numpy()
            ci = bootstrap_ci(values, "median", n_boot, level, rng)
            rows.append((period, group, ci.n, ci.estimate, ci.low, ci.high))
    return pd.DataFrame(rows, columns=["period", "group", "n", "median", "low", "high"])



def control_chart(metrics: pd.DataFrame, metric: str, floor: float = 1.0,
                  baseline: int | None = None) -> pd.DataFrame:
    """`xmr` of one metric over incidents in time order, with incident_id and time columns."""
    check_columns(metrics, ["incident_id", metric], "metrics frame")
    frame = pd.DataFrame({"incident_id": metrics["incident_id"], "at": incident_times(metrics),
                          "metric": pd.to_numeric(metrics[metric], errors="coerce")})
    frame = frame.dropna(subset=["metric"]).sort_values(["at", "incident_id"], kind="stable")
    chart = xmr(frame["metric"], floor, baseline)
    chart.insert(0, "at", frame["at"])
    chart.insert(0, "incident_id", frame["incident_id"])
    return chart.reset_index(drop=True)


# --- recurrence --------------------------------------------------------------------------------
def title_tokens(titles: pd.Series) -> pd.Series:
    """Normalised word tokens of each title: lower case, ids and numbers and stop words out
    (the words `similarity` weighs).

    >>> sorted(title_tokens(pd.Series(["[INC-42] Checkout API 5xx errors on eu-west-1"]))[0])
    ['api', 'checkout', 'errors']
    """
    return text_tokens(titles).map(frozenset).astype(object)


def _index_for(incidents: pd.DataFrame, index: SimilarityIndex | None,
               terms: Any = None) -> SimilarityIndex:
    if index is None:
        return SimilarityIndex.build(incidents, terms)
    if list(index.ids) != incidents["incident_id"].astype(str).tolist():
        raise ValueError("the similarity index was built from other incidents")
    return index


def recurring_groups(incidents: pd.DataFrame, index: SimilarityIndex | None = None, *,
                     terms: Any = None) -> pd.Series:
    """Group incidents that keep coming back: chains of similar pairs (`analysis.similarity`:
    a shared alert, the same service with rare words in common, or rare words and phrases
    alone) in which each incident is among the other's five most similar, so A~B and B~C
    put A, B and C together while a stray link between two busy services does not merge them.

    `index` is a `SimilarityIndex` of these incidents (built here from `terms`, the kept
    terms of their events, when not given). Returns the group number per incident (indexed
    by incident_id), numbered from 0 in order of each group's first incident; an incident
    like no other stands alone.
    """
    check_columns(incidents, ["incident_id", "title"], "incidents frame")
    n = len(incidents)
    if n == 0:
        return pd.Series([], dtype="int64", index=pd.Index([], name="incident_id"),
                         name="group")
    pairs = _index_for(incidents, index, terms).neighbour_pairs()
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs["left"].to_numpy(),
                                                     pairs["right"].to_numpy())), shape=(n, n))
    _, raw = connected_components(graph, directed=False)
    # Number groups by their first incident so ids read in time order and are stable.
    times = incident_times(incidents).reset_index(drop=True)
    order = pd.DataFrame({"raw": raw, "at": times, "id": incidents["incident_id"].to_numpy()})
    first = order.sort_values(["at", "id"], kind="stable", na_position="last").drop_duplicates(
        "raw")["raw"].to_numpy()
    renumber = np.empty(raw.max() + 1, dtype=np.int64)
    renumber[first] = np.arange(first.size)
    return pd.Series(renumber[raw], index=pd.Index(incidents["incident_id"].to_numpy(),
                                                   name="incident_id"), name="group")


def recurrence_reasons(incidents: pd.DataFrame, groups: pd.Series,
                       index: SimilarityIndex | None = None, *, terms: Any = None,
                       only: Iterable[int] | None = None) -> pd.Series:
    """Why each group of two or more matched: what its strongest link shared (group → text).
    `only` limits it to those groups (a big history has thousands; a report shows ten)."""
    index = _index_for(incidents, index, terms)
    pairs = index.neighbour_pairs()
    if pairs.empty:
        return pd.Series([], dtype=object, name="why")
    group_of = groups.reindex(incidents["incident_id"].to_numpy()).to_numpy()
    pairs = pairs.assign(group=group_of[pairs["left"].to_numpy()])
    if only is not None:
        pairs = pairs[pairs["group"].isin(list(only))]
    best = pairs.sort_values(["group", "score"], ascending=[True, False], kind="stable") \
        .drop_duplicates("group")
    return pd.Series([index.why(int(l), int(r)) for l, r in zip(best["left"], best["right"])],
                     index=best["group"].to_numpy(), name="why", dtype=object)


def _with_groups(incidents: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    frame = incidents.copy()
    frame["group"] = frame["incident_id"].map(groups)
    if frame["group"].isna().any():
        missing = frame.loc[frame["group"].isna(), "incident_id"].iloc[0]
        raise ValueError(f"incident {missing!r} has no recurrence group")
    frame["group"] = frame["group"].astype("int64")
    frame["at"] = incident_times(incidents)
    return frame


def repeat_rate(incidents: pd.DataFrame, groups: pd.Series, window_days: float = 30,
                freq: str = "Q") -> pd.DataFrame:
    """Share of incidents with an earlier incident of the same group within `window_days`.

    One row per period: incidents, repeats, repeat_rate.
    """
    frame = _with_groups(incidents, groups).dropna(subset=["at"])
    frame = frame.sort_values(["group", "at"], kind="stable")
    gap = frame["at"] - frame.groupby("group")["at"].shift()
    frame["repeat"] = (gap <= pd.Timedelta(days=window_days)).fillna(False).astype(bool)
    frame["period"] = _periods(frame["at"], freq)
    table = frame.groupby("period").agg(incidents=("repeat", "size"),
                                        repeats=("repeat", "sum"))
    table = table.reindex(period_range(frame["at"], freq), fill_value=0)
    table["repeats"] = table["repeats"].astype("int64")
    table["repeat_rate"] = table["repeats"] / table["incidents"].where(table["incidents"] > 0)
    table.index.name = "period"
    return table


def top_recurring(incidents: pd.DataFrame, groups: pd.Series, n: int = 10,
                  min_size: int = 2, why: pd.Series | None = None) -> pd.DataFrame:
    """The largest groups of recurring incidents, most incidents (then most recent) first.

    Columns: group, service, title (the latest), incidents, first_seen, last_seen,
    worst_severity, incident_ids, and why (what the group shares) when `why` is given
    (`recurrence_reasons`).
    """
    frame = _with_groups(incidents, groups).sort_values(["at", "incident_id"], kind="stable")
    service = frame["service"] if "service" in frame else pd.Series(pd.NA, index=frame.index)
    severity = frame["severity"] if "severity" in frame else pd.Series(pd.NA, index=frame.index)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    frame = frame.assign(service=service, _rank=severity.map(rank).astype(float),
                         severity=severity)
    table = frame.groupby("group").agg(
        service=("service", "last"), title=("title", "last"),
        incidents=("incident_id", "size"), first_seen=("at", "min"), last_seen=("at", "max"),
        _rank=("_rank", "min"), incident_ids=("incident_id", list))
    table = table[table["incidents"] >= min_size]
    table["worst_severity"] = table["_rank"].map(
        lambda r: SEVERITIES[int(r)] if np.isfinite(r) else None)
    table = table.drop(columns="_rank").reset_index()
    table = table.sort_values(["incidents", "last_seen"], ascending=[False, False],
                              kind="stable").head(n)
    columns = ["group", "service", "title", "incidents", "first_seen", "last_seen",
               "worst_severity", "incident_ids"]
    if why is not None:
        table["why"] = table["group"].map(why).astype(object)
        columns.append("why")
    return table[columns].reset_index(drop=True)


def repeats_after_fix(incidents: pd.DataFrame, action_items: pd.DataFrame,
                      index: SimilarityIndex | None = None, *, terms: Any = None) -> pd.DataFrame:
    """Fixes that did not hold: incidents that repeat an earlier similar one after every
    action item of the earlier one was marked done.

    Each incident is paired with the most recent earlier incident similar to it (the
    similarity of `recurring_groups`) that has action items opened before it. The pair is a
    repeat after fix when those items (won't-fix ones left out: nothing was done) are all
    done and all closed before the later incident began; an item done without a closing time
    cannot be placed in time and keeps the pair out. Columns: earlier, later, earlier_at,
    later_at, gap_days (between the incidents), last_fix_closed_at, days_after_fix, fixes
    (titles of the items that were to prevent it), why; oldest repeat first.
    """
    columns = ["earlier", "later", "earlier_at", "later_at", "gap_days", "last_fix_closed_at",
               "days_after_fix", "fixes", "why"]
    check_columns(action_items, ["incident_id", "title", "status", "created_at", "closed_at"],
                  "action items frame")
    index = _index_for(incidents, index, terms)
    times = incident_times(incidents).reset_index(drop=True)
    if action_items.empty or len(incidents) < 2:
        return pd.DataFrame(columns=columns)
    ids = incidents["incident_id"].astype(str).to_numpy(dtype=object)
    # Times as zone-less UTC datetime64 while pairing: a zoned column's values become one
    # Timestamp object each (seconds for the million pairs of a big history).
    moments = _utc_datetime64(times)
    row_of = pd.Series(np.arange(len(ids)), index=pd.Index(ids))
    items = pd.DataFrame({
        "earlier": row_of.reindex(action_items["incident_id"].astype(str).to_numpy()).to_numpy(),
        "title": action_items["title"].astype(str).to_numpy(),
        "status": action_items["status"].astype("string").str.lower().to_numpy(),
        "created_at": _utc_datetime64(_as_utc(action_items["created_at"])),
        "closed_at": _utc_datetime64(_as_utc(action_items["closed_at"]))})
    items = items[items["earlier"].notna() & (items["status"] != "wontfix")]
    items["earlier"] = items["earlier"].astype("int64")
    # Per incident, its first item's opening (an item without one counts as opened before
    # anything: NaT is the smallest int64). A pair qualifies when that precedes the later
    # incident.
    first_opened = np.full(len(ids), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_opened, items["earlier"].to_numpy(),
                  items["created_at"].to_numpy().astype("datetime64[ns]").view(np.int64))
    at_ns = moments.astype("datetime64[ns]").view(np.int64)
    # Each incident (row i) as the later one: of its similar incidents j, those strictly
    # earlier whose items were opened before it, the most recent (then the last row); an
    # incident without a time (NaT, the smallest int64) repeats nothing.
    earliers = index.latest_linked(at_ns, first_opened)
    later_rows = np.flatnonzero(earliers >= 0)
    if not later_rows.size:
        return pd.DataFrame(columns=columns)
    latest = pd.DataFrame({"later": later_rows, "earlier": earliers[later_rows]})
    latest["earlier_at"] = moments[latest["earlier"].to_numpy()]
    latest["later_at"] = moments[latest["later"].to_numpy()]
    joined = latest.merge(items, on="earlier")
    joined = joined[joined["created_at"].isna() | (joined["created_at"] < joined["later_at"])]
    if joined.empty:
        return pd.DataFrame(columns=columns)
    joined["fixed"] = ((joined["status"] == "done") & joined["closed_at"].notna()
                       & (joined["closed_at"] < joined["later_at"]))
    # Only pairs whose every item was fixed go on: listing titles is per pair, and a big
    # history has a pair for nearly every incident.
    joined = joined[joined.groupby(["later", "earlier"], sort=False)["fixed"].transform("all")]
    pairs_done = joined.groupby(["later", "earlier"], sort=False).agg(
        fixed=("fixed", "all"), earlier_at=("earlier_at", "first"), later_at=("later_at", "first"),
        last_fix_closed_at=("closed_at", "max"), fixes=("title", list)).reset_index()
    pairs_done = pairs_done[pairs_done["fixed"]]
    rows = [(ids[e], ids[l], ea, la, (la - ea) / pd.Timedelta(days=1), last,
             (la - last) / pd.Timedelta(days=1), fixes, index.why(int(e), int(l)))
            for e, l, ea, la, last, fixes in zip(
                pairs_done["earlier"], pairs_done["later"], pairs_done["earlier_at"],
                pairs_done["later_at"], pairs_done["last_fix_closed_at"], pairs_done["fixes"])]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("gap_days", "days_after_fix"):
        frame[column] = frame[column].astype(float).round(1)
    for column in ("earlier_at", "later_at", "last_fix_closed_at"):
        frame[column] = pd.to_datetime(frame[column]).dt.tz_localize("UTC")
    return frame.sort_values("later_at", kind="stable").reset_index(drop=True)


def repeats_after_fix_per_period(repeats: pd.DataFrame, incidents: pd.DataFrame,
                                 freq: str = "Q") -> pd.Series:
    """How many repeats after fix each period saw (by the later incident's time), every
    period of the incidents included."""
    periods = period_range(incident_times(incidents), freq)
    if repeats.empty:
        return pd.Series(0, index=periods, name="repeats_after_fix", dtype="int64")
    counts = _periods(_as_utc(repeats["later_at"]), freq).value_counts()
    return counts.reindex(periods, fill_value=0).astype("int64").rename("repeats_after_fix")


# --- action items -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FollowThrough:
    """Action-item follow-through: flow per period and the share left open by age."""

    per_period: pd.DataFrame
    still_open: pd.DataFrame


_CLOSED = ("done", "wontfix")


def _action_items(action_items: pd.DataFrame) -> pd.DataFrame:
    check_columns(action_items, ["id", "incident_id", "status", "created_at", "closed_at"],
                  "action items frame")
    frame = action_items.copy()
    frame["created_at"] = _as_utc(frame["created_at"])
    frame["closed_at"] = _as_utc(frame["closed_at"])
    frame["status"] = frame["status"].astype("string").str.lower()
    return frame


def action_item_follow_through(action_items: pd.DataFrame, incidents: pd.DataFrame,
                               asof: Any, freq: str = "M",
                               horizons: Sequence[int] = (30, 60, 90)) -> FollowThrough:
    """Are action items closed? Items opened and closed per period, and by severity the
    share still open `horizons` days after creation.

    `per_period` (index period): opened, closed (done or won't fix, by closing time) and
    open_at_end (open items at the period's end, or at `asof` for the current period).
    `still_open` (tidy): severity, after_days, eligible (items at least that old at
    `asof`: younger ones cannot tell yet), still_open, share; "all" rows cover every
    severity. An item marked done without a closing time counts as closed in time.
    """
    asof = _bound(asof)
    items = _action_items(action_items)
    items = items[items["created_at"].notna() & (items["created_at"] <= asof)]
    closed = items["status"].isin(_CLOSED)
    closed_at = items["closed_at"].where(closed & (items["closed_at"] <= asof))
    periods = period_range(items["created_at"], freq, until=asof)
    opened = _periods(items["created_at"], freq).value_counts()
    shut = _periods(closed_at.dropna(), freq).value_counts()
    per_period = pd.DataFrame({"opened": opened.reindex(periods, fill_value=0),
                               "closed": shut.reindex(periods, fill_value=0)}).astype("int64")
    # An item closed without a closing time left the open pile at an unknown moment: count
    # it out in the period it was opened rather than keep it open for ever.
    undated = closed & items["closed_at"].isna()
    undated_out = _periods(items.loc[undated, "created_at"], freq).value_counts().reindex(
        periods, fill_value=0)
    per_period["open_at_end"] = (per_period["opened"].cumsum() - per_period["closed"].cumsum()
                                 - undated_out.cumsum()).astype("int64")
    per_period.index.name = "period"

    severity = items["incident_id"].map(
        incidents.set_index("incident_id")["severity"] if "severity" in incidents else {})
    items = items.assign(severity=severity.astype("string").fillna(UNKNOWN))
    age = asof - items["created_at"]
    rows = []
    for days in horizons:
        limit = pd.Timedelta(days=days)
        eligible = age >= limit
        closed_in_time = closed & (items["closed_at"].isna()
                                   | (items["closed_at"] <= items["created_at"] + limit))
        still = eligible & ~closed_in_time
        for group in [*group_order(items["severity"]), ALL]:
            member = (items["severity"] == group) if group != ALL else pd.Series(
                True, index=items.index)
            n_eligible, n_open = int((eligible & member).sum()), int((still & member).sum())
            rows.append((group, days, n_eligible, n_open,
                         n_open / n_eligible if n_eligible else math.nan))
    still_open = pd.DataFrame(rows, columns=["severity", "after_days", "eligible",
                                             "still_open", "share"])
    return FollowThrough(per_period, still_open)


def overdue(action_items: pd.DataFrame, asof: Any) -> pd.DataFrame:
    """Open action items whose due date has passed at `asof`, most overdue first.

    Columns: id, incident_id, title, owner, priority, due, days_overdue. An item due today
    is not overdue yet.
    """
    check_columns(action_items, ["id", "incident_id", "status", "due"], "action items frame")
    today = _bound(asof).date()
    # Compared as timestamps: with no due date at all, `.dt.date` stays datetime64 (pandas 3).
    due = pd.to_datetime(action_items["due"], errors="coerce")
    is_open = action_items["status"].astype("string").str.lower() == "open"
    late = is_open & due.notna() & (due < pd.Timestamp(today))
    frame = action_items.loc[late].copy()
    frame["due"] = due[late].dt.date
    frame["days_overdue"] = frame["due"].map(lambda d: (today - d).days).astype("int64")
    for column in ("title", "owner", "priority"):
        if column not in frame:
            frame[column] = pd.NA
    frame = frame.sort_values(["days_overdue", "id"], ascending=[False, True], kind="stable")
    return frame[["id", "incident_id", "title", "owner", "priority", "due",
                  "days_overdue"]].reset_index(drop=True)


# --- communication and load ---------------------------------------------------------------------
def communication_trends(metrics: pd.DataFrame, freq: str = "M",
                         by: str | None = "severity") -> pd.DataFrame:
    """Cadence breach rate and median time to first update per period and group.

    Columns: period, group, incidents, cadence_measured (incidents with a communication
    window), with_breach, breach_rate (share of those with at least one cadence breach;
    NaN when none was measured), with_update (incidents with a first update),
    median_time_to_first_update (seconds).
    """
    check_columns(metrics, ["cadence_breaches", "time_to_first_update"], "metrics frame")
    times = incident_times(metrics)
    breaches = pd.to_numeric(metrics["cadence_breaches"], errors="coerce").astype("float64")
    frame = pd.DataFrame({
        "period": _periods(times, freq), "group": _labels(metrics, by),
        "breached": breaches.fillna(0).to_numpy() > 0,
        "measured": breaches.notna().to_numpy(),
        "first_update": pd.to_numeric(metrics["time_to_first_update"], errors="coerce")})
    frame = frame[times.notna()]
    table = frame.groupby(["period", "group"], observed=True).agg(
        incidents=("breached", "size"), cadence_measured=("measured", "sum"),
        with_breach=("breached", "sum"), with_update=("first_update", "count"),
        median_time_to_first_update=("first_update", "median")).reset_index()
    table["with_breach"] = table["with_breach"].astype("int64")
    table["cadence_measured"] = table["cadence_measured"].astype("int64")
    # Over the incidents whose cadence could be measured (a communication window): an
    # incident without one is unknown, not "no breach".
    table["breach_rate"] = table["with_breach"] / table["cadence_measured"].where(
        table["cadence_measured"] > 0)
    order = {g: i for i, g in enumerate(group_order(table["group"]))}
    table = table.sort_values(["period", "group"], key=lambda s: s.map(order)
                              if s.name == "group" else s, kind="stable")
    return table[["period", "group", "incidents", "cadence_measured", "with_breach", "breach_rate",
                  "with_update", "median_time_to_first_update"]].reset_index(drop=True)


def _responder_pairs(metrics: pd.DataFrame) -> pd.DataFrame:
    """Each (incident_id, responder) of the metrics once, with the incident's hours."""
    check_columns(metrics, ["incident_id", "responders"], "metrics frame")
    people = metrics[["incident_id", "responders"]].assign(
        hours=_resolve_hours(metrics)).explode("responders").dropna(subset=["responders"])
    people = people.rename(columns={"responders": "responder"})
    people["responder"] = people["responder"].astype("string")
    return people.drop_duplicates(["incident_id", "responder"])


def responder_activity(metrics: pd.DataFrame, events: pd.DataFrame | None = None,
                       working_hours: tuple[float, float] = (9, 17), tz: str = "UTC",
                       workdays: Sequence[int] = (0, 1, 2, 3, 4)) -> pd.DataFrame:
    """What each responder did in each incident they responded to: one row per
    (incident_id, responder) with ``events`` and ``out_of_hours_events``.

    The events a person acted in are their `actor` events in the incidents they responded
    to (bots and services are never responders), read in zone `tz`: outside
    `working_hours` [start, end) on `workdays` (Monday = 0) is out of hours. Without events,
    each incident's detection time stands in for its responders' activity."""
    start_hour, end_hour = working_hours
    people = _responder_pairs(metrics)
    if events is not None:
        check_columns(events, ["incident_id", "at", "actor"], "events frame")
        # Actors by the name the metrics count them by (`person_name`), read once per name.
        actor, names = pd.factorize(events["actor"].to_numpy(dtype=object))
        names = np.array([person_name(name) or None for name in names] + [None], dtype=object)
        acts = pd.DataFrame({"incident_id": events["incident_id"],
                             "responder": pd.array(names[actor], dtype="string"),
                             "at": _as_utc(events["at"])}, index=events.index)
        if "actor_type" in events:
            acts = acts[~events["actor_type"].isin(["bot", "service"])]
        # Only what a person did in an incident they are a responder of: the same people
        # the metrics count, so incidents, hours and activity describe one group.
        acts = acts.merge(people[["incident_id", "responder"]], on=["incident_id", "responder"])
    else:
        acts = people[["responder", "incident_id"]].merge(
            pd.DataFrame({"incident_id": metrics["incident_id"],
                          "at": incident_times(metrics)}), on="incident_id")
    acts = acts.dropna(subset=["at"])
    local = acts["at"].dt.tz_convert(tz)
    hour = local.dt.hour + local.dt.minute / 60 + local.dt.second / 3600
    inside = local.dt.day_of_week.isin(list(workdays)) & (hour >= start_hour) & (hour < end_hour)
    activity = pd.DataFrame({"incident_id": acts["incident_id"],
                             "responder": acts["responder"], "outside": ~inside}).groupby(
        ["incident_id", "responder"], sort=True).agg(events=("outside", "size"),
                                                     out_of_hours_events=("outside", "sum"))
    # Text columns are object, as in every canonical frame (loaders.base._typed).
    return activity.reset_index().astype({"incident_id": object, "responder": object,
                                          "events": "int64", "out_of_hours_events": "int64"})


def responder_load(metrics: pd.DataFrame, activity: pd.DataFrame | None = None) -> pd.DataFrame:
    """Incidents, hours and out-of-hours share per responder, busiest first.

    `hours` sums detected→resolved of the incidents a person responded to; `hours_measured`
    says how many of their incidents had that duration (an unresolved one adds nothing), and
    `hours` is unknown (NaN), not 0, when none had. `activity` is `responder_activity` (its
    rows of incidents not in `metrics` are left out); without it, each incident's detection
    time in UTC working hours stands in for its responders' activity.
    """
    people = _responder_pairs(metrics)
    if activity is None:
        activity = responder_activity(metrics)
    check_columns(activity, ["incident_id", "responder", "events", "out_of_hours_events"],
                  "responder activity")
    load = people.groupby("responder").agg(incidents=("incident_id", "size"),
                                           hours=("hours", lambda h: h.sum(min_count=1)),
                                           hours_measured=("hours", "count"))
    activity = activity[activity["incident_id"].isin(metrics["incident_id"])]
    activity = activity.assign(responder=activity["responder"].astype("string")).groupby(
        "responder")[["events", "out_of_hours_events"]].sum()
    load = load.join(activity, how="outer")
    load["incidents"] = load["incidents"].fillna(0).astype("int64")
    load["hours_measured"] = load["hours_measured"].fillna(0).astype("int64")
    load["events"] = load["events"].fillna(0).astype("int64")
    load["out_of_hours_events"] = load["out_of_hours_events"].fillna(0).astype("int64")
    load["out_of_hours_share"] = load["out_of_hours_events"] / load["events"].where(
        load["events"] > 0)
    load.index.name = "responder"
    return load.sort_values(["hours", "incidents"], ascending=False, kind="stable",
                            na_position="last").reset_index()


def _resolve_hours(metrics: pd.DataFrame) -> pd.Series:
    if "time_to_resolve" in metrics:
        return pd.to_numeric(metrics["time_to_resolve"], errors="coerce") / 3600
    seconds = (_as_utc(metrics["resolved_at"]) - _as_utc(metrics["detected_at"])).dt.total_seconds()
    return seconds / 3600


# --- sentences --------------------------------------------------------------------------------
def _number(value: float) -> str:
    text = f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def human_duration(seconds: float) -> str:
    """A duration as people say it: the one formatter of every output (`review_kit.human`).

    >>> human_duration(2520), human_duration(5280), human_duration(45)
    ('42 min', '1 h 28 min', '45 s')
    """
    return human.duration(seconds)


def human_span(low: float, high: float) -> str:
    """An interval of two durations: "31 min – 55 min"; "—" when either end is unknown."""
    if human.is_missing(low) or human.is_missing(high) or not (np.isfinite(low) and np.isfinite(high)):
        return human.MISSING
    return f"{human.duration(low)} – {human.duration(high)}"


def metric_label(metric: str) -> str:
    """"time_to_mitigate" → "Time to mitigate"."""
    return metric.replace("_", " ").capitalize()


def _values_in(metrics: pd.DataFrame, metric: str, mask: pd.Series) -> np.ndarray:
    return pd.to_numeric(metrics.loc[mask, metric], errors="coerce").to_numpy(dtype=float)


def summary_sentences(metrics: pd.DataFrame, compare: tuple[Any, Any],
                      metrics_list: Sequence[str] = DURATION_METRICS,
                      by: str | None = "severity", seed: int | None = 0, n_boot: int = 2000,
                      alpha: float = 0.05, change: float = 0.25) -> list[str]:
    """Plain sentences comparing two periods, for the top of the trend report.

    `compare` is (before, after), each a (start, end) pair (half-open; a bare date means
    UTC midnight), a pd.Period or a period's name such as "2024Q3". The first sentence compares incident rates per day; then
    one per metric and group, e.g. "Time to mitigate for SEV2: median 42 min (95% CI 31–55)
    against 47 min (36–61) before: not distinguishable from noise at these volumes; 290
    incidents per period would be needed to see a 25% reduction." `change` sets the
    reduction that last clause speaks of.
    """
    before, after = _range(compare[0]), _range(compare[1])
    times = incident_times(metrics)
    in_before, in_after = _in_range(times, before), _in_range(times, after)
    sentences = [_rate_sentence(compare_rates(int(in_before.sum()), before[1] - before[0],
                                              int(in_after.sum()), after[1] - after[0], alpha))]
    labels = _labels(metrics, by)
    groups = group_order(labels[in_before | in_after]) if by is not None else [ALL]
    rng = np.random.default_rng(seed)
    percent = round(100 * (1 - alpha))
    # Masks and values as arrays, made once: every (metric, group) pair is a slice of them.
    before_mask, after_mask = in_before.to_numpy(dtype=bool), in_after.to_numpy(dtype=bool)
    members = {group: (labels == group).to_numpy(dtype=bool) for group in groups}
    for metric in metrics_list:
        check_columns(metrics, [metric], "metrics frame")
        values = pd.to_numeric(metrics[metric], errors="coerce").to_numpy(dtype=float)
        for group in groups:
            member = members[group]
            a = values[before_mask & member]
            b = values[after_mask & member]
            # Every statistic says how many incidents it measured out of how many.
            of_before, of_after = a.size, b.size
            a, b = a[~np.isnan(a)], b[~np.isnan(b)]
            if a.size == 0 and b.size == 0:
                continue
            subject = metric_label(metric) + (f" for {group}" if by is not None else "")
            measured = (f"{b.size} of {of_after} measured, {a.size} of {of_before} before")
            if min(a.size, b.size) < 2:
                sentences.append(f"{subject}: too few incidents to compare ({measured}).")
                continue
            result = compare_periods(a, b, "median", n_boot, alpha, rng)
            sentences.append(f"{subject} ({measured}): "
                             f"{_comparison_text(result, percent, alpha, change)}")
    return sentences


def _comparison_text(result: PeriodComparison, percent: int, alpha: float,
                     change: float) -> str:
    text = (f"median {human_duration(result.after_value)} ({percent}% CI "
            f"{human_span(result.after_low, result.after_high)}) against "
            f"{human_duration(result.before_value)} "
            f"({human_span(result.before_low, result.before_high)}) before: ")
    p = f"p = {result.p_value:.2g}" if result.p_value >= 0.001 else "p < 0.001"
    if result.verdict == "not distinguishable":
        text += "not distinguishable from noise at these volumes"
        if np.isfinite(result.spread) and 0 < change < 1:
            needed = needed_per_period(result.spread, 1 - change, alpha)
            text += (f"; {needed} incidents per period would be needed to see a "
                     f"{round(change * 100)}% reduction")
    else:
        size = abs(result.ratio - 1) * 100
        direction = "lower" if result.ratio < 1 else "higher"
        text += f"{result.verdict}, {size:.0f}% {direction} ({p})"
    if result.small_sample:
        text += f" (small samples: {result.before_n} before, {result.after_n} after)"
    return text + "."


def _rate_sentence(result: RateComparison) -> str:
    text = (f"Incidents: {result.count_after} ({_number(result.rate_after * 7)} a week) against "
            f"{result.count_before} ({_number(result.rate_before * 7)} a week) before: ")
    if result.verdict == "not distinguishable":
        return text + "not distinguishable from noise at these volumes."
    p = f"p = {result.p_value:.2g}" if result.p_value >= 0.001 else "p < 0.001"
    direction = "fewer" if result.verdict == "improved" else "more"
    return text + f"{result.verdict}, {abs(result.ratio - 1) * 100:.0f}% {direction} ({p})."


# --- the headline table ---------------------------------------------------------------------------
HEADLINE_DURATIONS: tuple[str, ...] = (
    "time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve")
HEADLINE_COLUMNS: tuple[str, ...] = (
    "figure", "metric", "unit", "previous", "this", "change", "change_low", "change_high",
    "verdict", "n_previous", "of_previous", "n_this", "of_this")


def headline_figures(metrics: pd.DataFrame, compare: tuple[Any, Any],
                     action_items: pd.DataFrame | None = None,
                     has_cadence: pd.Series | None = None, *, n_boot: int = 2000,
                     seed: int | None = 0, alpha: float = 0.05) -> pd.DataFrame:
    """The trend report's answer: each headline figure in two periods, compared.

    ``compare`` is (previous, this), as for `summary_sentences`. One row per figure, in
    this order: the incident count; the median time to detect, acknowledge, mitigate and
    resolve; the communication breach rate (incidents with a cadence breach among those
    whose severity has a cadence policy, ``has_cadence`` per metrics row: without it every
    incident counts); the share of action items due in the period still open at its end.

    Columns (``HEADLINE_COLUMNS``): figure, metric, unit ("count", "duration" in seconds or
    "share" as a fraction), previous, this, change (this − previous; for the count the
    relative change of the rate per day), change_low/change_high (its interval at 1 −
    alpha), verdict ("improved", "worse", "not distinguishable", or "too few to compare"),
    n_previous/n_this (measured) of of_previous/of_this (incidents or items in the period).
    Lower is better for every figure. A figure nothing measured is NaN, never 0.
    """
    first, second = _range(compare[0]), _range(compare[1])
    times = incident_times(metrics)
    in_first, in_second = _in_range(times, first), _in_range(times, second)
    rows: list[tuple] = []
    rate = compare_rates(int(in_first.sum()), first[1] - first[0], int(in_second.sum()),
                         second[1] - second[0], alpha)
    rows.append(("Incidents", "incidents", "count", rate.count_before, rate.count_after,
                 rate.ratio - 1 if rate.count_before else math.nan,
                 rate.ratio_low - 1, rate.ratio_high - 1, rate.verdict,
                 rate.count_before, rate.count_before, rate.count_after, rate.count_after))
    rng = np.random.default_rng(seed)
    for metric in HEADLINE_DURATIONS:
        a = _values_in(metrics, metric, in_first)
        b = _values_in(metrics, metric, in_second)
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        label = f"{metric_label(metric)} (median)"
        if min(a.size, b.size) < 2:
            before = float(np.median(a)) if a.size else math.nan
            after = float(np.median(b)) if b.size else math.nan
            rows.append((label, metric, "duration", before, after, after - before, math.nan,
                         math.nan, "too few to compare", a.size, int(in_first.sum()), b.size,
                         int(in_second.sum())))
            continue
        result = compare_periods(a, b, "median", n_boot, alpha, rng)
        rows.append((label, metric, "duration", result.before_value, result.after_value,
                     result.difference, result.ci_low, result.ci_high, result.verdict,
                     result.before_n, int(in_first.sum()), result.after_n, int(in_second.sum())))
    if "cadence_breaches" in metrics:
        eligible = pd.Series(True, index=metrics.index) if has_cadence is None else \
            has_cadence.reindex(metrics.index).fillna(False).astype(bool)
        breaches = pd.to_numeric(metrics["cadence_breaches"], errors="coerce")
        eligible &= breaches.notna()
        breached = breaches.fillna(0) > 0
        rows.append(_share_row("Communication breach rate", "breach_rate",
                               int((breached & eligible & in_first).sum()),
                               int((eligible & in_first).sum()),
                               int((breached & eligible & in_second).sum()),
                               int((eligible & in_second).sum()),
                               int(in_first.sum()), int(in_second.sum()), alpha))
    if action_items is not None:
        rows.append(_overdue_row(action_items, first, second, alpha))
    return pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))


def _share_row(figure: str, metric: str, k1: int, n1: int, k2: int, n2: int, of1: int,
               of2: int, alpha: float) -> tuple:
    result = compare_shares(k1, n1, k2, n2, alpha)
    verdict = result.verdict if (n1 and n2) else "too few to compare"
    return (figure, metric, "share", result.share_before, result.share_after,
            result.difference, result.low, result.high, verdict, n1, of1, n2, of2)


def _overdue_row(action_items: pd.DataFrame, first: tuple[pd.Timestamp, pd.Timestamp],
                 second: tuple[pd.Timestamp, pd.Timestamp], alpha: float) -> tuple:
    """Action items due in each period, and of them those still open at the period's end."""
    items = _action_items(action_items)
    due = pd.to_datetime(items["due"], errors="coerce", utc=True) if "due" in items else \
        pd.Series(pd.NaT, index=items.index, dtype="datetime64[ns, UTC]")
    counts = []
    for start, end in (first, second):
        in_period = due.notna() & (due >= start) & (due < end)
        closed_by_end = items["status"].isin(_CLOSED) & (
            items["closed_at"].isna() | (items["closed_at"] <= end))
        counts.append((int((in_period & ~closed_by_end).sum()), int(in_period.sum())))
    (k1, n1), (k2, n2) = counts
    return _share_row("Action items open past due", "overdue_share", k1, n1, k2, n2, n1, n2,
                      alpha)
