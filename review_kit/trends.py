"""Fleet statistics that stay honest about heavy-tailed incident data: counts, bootstrap
intervals, period comparisons, control charts, recurrence, follow-through and load.

Everything here is a pure function of DataFrames (the metrics frame of
`metrics.compute_metrics`, the incidents, action-items and events frames); nothing knows the
store. Durations are close to log-normal, so the centre is the median (with p90 for the
tail), every estimate carries a percentile-bootstrap interval, and a mean, where one is
shown at all, stands next to the median.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.sparse.csgraph import connected_components

from .model import SEVERITIES, check_columns, parse_timestamp, parse_timestamps

__all__ = [
    "DURATION_METRICS", "COMMUNICATION_METRICS", "Interval", "PeriodComparison",
    "RateComparison", "FollowThrough",
    "bootstrap_ci", "compare_periods", "min_detectable_ratio", "needed_per_period",
    "log_spread", "incident_times", "incident_counts", "compare_rates", "rate_comparison",
    "duration_summary", "duration_table", "median_over_time", "xmr", "control_chart",
    "title_tokens", "recurring_groups", "repeat_rate", "top_recurring",
    "action_item_follow_through", "overdue", "communication_trends", "responder_load",
    "group_order", "human_duration", "metric_label", "period_range", "last_two_periods",
    "summary_sentences",
]

DURATION_METRICS: tuple[str, ...] = (
    "time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve",
    "impact_duration",
)
COMMUNICATION_METRICS: tuple[str, ...] = ("time_to_first_update", "longest_silence")
VERDICTS: tuple[str, ...] = ("improved", "worse", "not distinguishable")
FREQUENCIES: frozenset[str] = frozenset({"D", "W", "M", "Q", "Y"})
UNKNOWN = "unknown"
ALL = "all"

# Asymptotic relative efficiency against the t-test on normal data (here: on log
# durations). Mann–Whitney keeps 3/π ≈ 0.955 of the t-test's power; a sample quantile q
# keeps φ(z_q)² / (q(1 − q)): 2/π ≈ 0.637 for the median, 0.342 for the p90. Our verdict
# needs the bootstrap interval of the difference AND the rank test, so the weaker of the
# two binds (the simulation tests check that the reported minimum detectable ratio of a
# median comparison is found about 80% of the time). For the mean or a callable we use
# Mann–Whitney's, an upper bound: the detectable ratio is then optimistic.
EFFICIENCY_MANN_WHITNEY = 3 / math.pi
EFFICIENCY_MEDIAN = 2 / math.pi
EFFICIENCY_P90 = float(stats.norm.pdf(stats.norm.ppf(0.9)) ** 2 / (0.9 * 0.1))
SMALL_SAMPLE = 10
# Bootstraps bigger than this many indices run in blocks of ~1 M on a thread pool.
_PARALLEL_ELEMENTS = 2_000_000
_BLOCK_ELEMENTS = 1_000_000

StatLike = str | Callable[..., Any]


# --- bootstrap ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile-bootstrap interval."""

    estimate: float
    low: float
    high: float
    n: int
    stat: str
    level: float = 0.95


@dataclass(frozen=True)
class PeriodComparison:
    """Two periods of one duration compared: values, the difference and a verdict.

    `difference` is after − before and `ratio` after / before, both of the chosen statistic;
    `ci_low`/`ci_high` bound the difference (percentile bootstrap, level 1 − alpha);
    `p_value` is the two-sided Mann–Whitney U test; `min_detectable_ratio` is the factor
    (≥ 1; a shift to ×r or ×1/r) these sample sizes would detect with 80% power under
    this verdict rule (see `min_detectable_ratio`); `spread` is the pooled log-scale SD.
    """

    stat: str
    before_n: int
    after_n: int
    before_value: float
    after_value: float
    before_low: float
    before_high: float
    after_low: float
    after_high: float
    difference: float
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    spread: float
    min_detectable_ratio: float
    small_sample: bool
    verdict: str
    alpha: float = 0.05


def _clean(values: Any) -> np.ndarray:
    if isinstance(values, (pd.Series, pd.Index)):
        array = pd.to_numeric(pd.Series(values), errors="raise").to_numpy(
            dtype=float, na_value=np.nan)
    else:
        array = np.asarray(values, dtype=float).ravel()
    return array[~np.isnan(array)]


def _stat_name(stat: StatLike) -> str:
    if callable(stat):
        return getattr(stat, "__name__", "statistic")
    if stat not in ("median", "mean", "p90"):
        raise ValueError(f"unknown statistic {stat!r}; expected 'median', 'mean', 'p90' "
                         "or a callable taking (array, axis)")
    return stat


_QUANTILE_OF = {"median": 0.5, "p90": 0.9}


def _point(sorted_values: np.ndarray, stat: StatLike) -> float:
    if sorted_values.size == 0:
        return math.nan
    if callable(stat):
        return float(stat(sorted_values[None, :], axis=1)[0])
    if stat == "mean":
        return float(sorted_values.mean())
    return float(np.quantile(sorted_values, _QUANTILE_OF[stat]))


def _resample(sorted_values: np.ndarray, stats_wanted: Sequence[StatLike], n_boot: int,
              rng: np.random.Generator) -> np.ndarray:
    """Bootstrap distributions, shape (n_boot, len(stats_wanted)), without a resample loop.

    Quantiles use a trick that keeps the hot path to one integer sort: with the data sorted,
    the k-th order statistic of a resample is the value at the k-th smallest resampled
    index, so we sort the int32 index matrix (SIMD-fast) and gather only the columns the
    quantile needs. The result equals np.quantile(values[idx], q, axis=1) exactly.

    Big jobs are cut into blocks of ~1 M indices, each with its own child generator and
    run on a thread pool (numpy drops the GIL while drawing and sorting): memory stays
    bounded, the cores are used, and since the blocks depend only on n, a seed gives the
    same result on any machine.
    """
    n = sorted_values.size
    if n_boot * n <= _PARALLEL_ELEMENTS:
        return _resample_block(sorted_values, stats_wanted, n_boot, rng)
    per_block = max(1, _BLOCK_ELEMENTS // n)
    sizes = [min(per_block, n_boot - start) for start in range(0, n_boot, per_block)]
    children = rng.spawn(len(sizes))
    workers = max(1, min(len(sizes), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(lambda job: _resample_block(sorted_values, stats_wanted, *job),
                              zip(sizes, children)))
    return np.concatenate(parts)


def _resample_block(sorted_values: np.ndarray, stats_wanted: Sequence[StatLike], rows: int,
                    rng: np.random.Generator) -> np.ndarray:
    n = sorted_values.size
    out = np.empty((rows, len(stats_wanted)))
    idx = rng.integers(0, n, size=(rows, n), dtype=np.int32)
    if any(not callable(s) and s in _QUANTILE_OF for s in stats_wanted):
        idx.sort(axis=1)
    for column, stat in enumerate(stats_wanted):
        if callable(stat):
            out[:, column] = stat(sorted_values[idx], axis=1)
        elif stat == "mean":
            out[:, column] = sorted_values[idx].mean(axis=1)
        else:
            position = (n - 1) * _QUANTILE_OF[stat]
            k = int(math.floor(position))
            fraction = position - k
            value = sorted_values[idx[:, k]]
            if fraction > 0 and k + 1 < n:
                value = value + fraction * (sorted_values[idx[:, k + 1]] - value)
            out[:, column] = value
    return out


def _percentile_interval(distribution: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(distribution, [tail, 100 - tail], axis=0)
    return float(low), float(high)


def bootstrap_ci(values: Any, stat: StatLike = "median", n_boot: int = 2000,
                 level: float = 0.95, seed: int | np.random.Generator | None = None) -> Interval:
    """Percentile-bootstrap interval of a statistic; NaN values are dropped.

    `stat` is "median", "mean", "p90" (90th percentile, linear interpolation) or a callable
    `f(array, axis)` such as `np.median`. With fewer than two values the interval is NaN
    (one value still gives an estimate).

    >>> ci = bootstrap_ci([30, 60, 45, 600, 120, 90, 75], seed=1)
    >>> ci.estimate, ci.low <= 75 <= ci.high
    (75.0, True)
    """
    name = _stat_name(stat)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    values = np.sort(_clean(values))
    estimate = _point(values, stat)
    if values.size < 2:
        return Interval(estimate, math.nan, math.nan, int(values.size), name, level)
    rng = np.random.default_rng(seed)
    distribution = _resample(values, [stat], n_boot, rng)[:, 0]
    low, high = _percentile_interval(distribution, level)
    return Interval(estimate, low, high, int(values.size), name, level)


def log_spread(*samples: Any) -> float:
    """Pooled within-sample standard deviation of the natural log of positive values.

    The spread of log durations is what decides how big a shift is visible; pooling within
    samples keeps a real shift between them from inflating it. Zero and negative durations
    have no logarithm and are left out.
    """
    logs = [np.log(s[s > 0]) for s in (_clean(x) for x in samples)]
    logs = [x for x in logs if x.size >= 2]
    if not logs:
        return math.nan
    dof = sum(x.size - 1 for x in logs)
    return float(math.sqrt(sum(((x - x.mean()) ** 2).sum() for x in logs) / dof))


@lru_cache(maxsize=64)
def _z_total(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def min_detectable_ratio(spread: float, n_before: int, n_after: int, alpha: float = 0.05,
                         power: float = 0.8, efficiency: float = EFFICIENCY_MEDIAN) -> float:
    """The factor r ≥ 1 (a change to ×r or ×1/r) detectable with `power` at `alpha`.

    Normal approximation for a two-sample test on log durations with log-scale SD
    `spread`: the detectable log shift is (z₁₋α/₂ + z_power) · spread · √(1/n₁ + 1/n₂),
    divided by √efficiency for a test that keeps only that share of the t-test's power
    (3/π for Mann–Whitney, 2/π for a comparison of medians, 0.34 for p90s). Assumes the
    shift moves the whole log distribution, which is what "durations got 20% shorter"
    usually means.
    """
    if not (n_before > 0 and n_after > 0) or not np.isfinite(spread):
        return math.nan
    shift = _z_total(alpha, power) * spread * math.sqrt(1 / n_before + 1 / n_after)
    return float(math.exp(shift / math.sqrt(efficiency)))


def needed_per_period(spread: float, ratio: float, alpha: float = 0.05, power: float = 0.8,
                      efficiency: float = EFFICIENCY_MEDIAN) -> int:
    """Incidents per period needed to detect a change of the median to `ratio` × before.

    The inverse of `min_detectable_ratio` with equal periods:
    n = 2 · ((z₁₋α/₂ + z_power) · spread / |ln ratio|)² / efficiency, rounded up.

    >>> needed_per_period(1.0, 0.5, efficiency=1.0)
    33
    """
    if not np.isfinite(spread) or ratio <= 0 or ratio == 1:
        raise ValueError("needed_per_period needs a finite spread and a ratio > 0, ≠ 1")
    n = 2 * (_z_total(alpha, power) * spread / abs(math.log(ratio))) ** 2 / efficiency
    return int(math.ceil(n))


def compare_periods(before: Any, after: Any, stat: StatLike = "median", n_boot: int = 2000,
                    alpha: float = 0.05, seed: int | np.random.Generator | None = None
                    ) -> PeriodComparison:
    """Compare one duration between two periods (lower is better).

    The verdict is "improved" or "worse" only when both the bootstrap interval of the
    difference (after − before, level 1 − alpha) excludes 0 and the two-sided Mann–Whitney
    test gives p < alpha; otherwise "not distinguishable". Requiring both keeps the false
    alarm rate below alpha. Either period under 10 incidents sets `small_sample`.
    """
    name = _stat_name(stat)
    a, b = np.sort(_clean(before)), np.sort(_clean(after))
    level = 1 - alpha
    rng = np.random.default_rng(seed)
    before_value, after_value = _point(a, stat), _point(b, stat)
    nan4 = (math.nan,) * 4
    if a.size >= 2 and b.size >= 2:
        boot_a = _resample(a, [stat], n_boot, rng)[:, 0]
        boot_b = _resample(b, [stat], n_boot, rng)[:, 0]
        ci_low, ci_high = _percentile_interval(boot_b - boot_a, level)
        before_low, before_high = _percentile_interval(boot_a, level)
        after_low, after_high = _percentile_interval(boot_b, level)
        p_value = float(stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    else:
        ci_low, ci_high, p_value = math.nan, math.nan, math.nan
        before_low, before_high, after_low, after_high = nan4
        if a.size >= 2:
            single = bootstrap_ci(a, stat, n_boot, level, rng)
            before_low, before_high = single.low, single.high
        if b.size >= 2:
            single = bootstrap_ci(b, stat, n_boot, level, rng)
            after_low, after_high = single.low, single.high
    spread = log_spread(a, b)
    efficiency = {"median": EFFICIENCY_MEDIAN, "p90": EFFICIENCY_P90}.get(
        name, EFFICIENCY_MANN_WHITNEY)
    mdr = min_detectable_ratio(spread, a.size, b.size, alpha, 0.8, efficiency)
    verdict = "not distinguishable"
    if p_value < alpha and (ci_low > 0 or ci_high < 0):
        verdict = "improved" if ci_high < 0 else "worse"
    ratio = (after_value / before_value if np.isfinite(before_value) and before_value != 0
             else math.nan)
    return PeriodComparison(
        stat=name, before_n=int(a.size), after_n=int(b.size),
        before_value=before_value, after_value=after_value,
        before_low=before_low, before_high=before_high,
        after_low=after_low, after_high=after_high,
        difference=after_value - before_value, ratio=ratio,
        ci_low=ci_low, ci_high=ci_high, p_value=p_value, spread=spread,
        min_detectable_ratio=mdr, small_sample=bool(min(a.size, b.size) < SMALL_SAMPLE),
        verdict=verdict, alpha=alpha)


# --- time and periods -------------------------------------------------------------------------
def _as_utc(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(series.dtype):
        raise ValueError(f"column {series.name!r} holds times without a zone; "
                         "review-kit keeps times in UTC")
    return parse_timestamps(series)


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


@dataclass(frozen=True)
class RateComparison:
    """Incident rates of two periods and the exact conditional test of their ratio."""

    count_before: int
    count_after: int
    exposure_before: float
    exposure_after: float
    rate_before: float
    rate_after: float
    ratio: float
    ratio_low: float
    ratio_high: float
    p_value: float
    verdict: str


def _exposure(value: Any) -> float:
    if isinstance(value, (pd.Timedelta, np.timedelta64)) or hasattr(value, "total_seconds"):
        return pd.Timedelta(value).total_seconds() / 86400
    return float(value)


def compare_rates(count_before: int, exposure_before: Any, count_after: int,
                  exposure_after: Any, alpha: float = 0.05) -> RateComparison:
    """Compare incident rates with the exact conditional binomial test.

    Given the total, the after-period's count is Binomial(total, share of exposure after)
    when the rate did not change. Exposure is anything counts are per: days (a number or a
    Timedelta, read as days), deploys, requests. Fewer incidents per exposure is "improved".

    >>> round(compare_rates(10, 30, 20, 30).p_value, 4)
    0.0987
    """
    e1, e2 = _exposure(exposure_before), _exposure(exposure_after)
    if e1 <= 0 or e2 <= 0:
        raise ValueError("exposures must be positive")
    c1, c2 = int(count_before), int(count_after)
    rate1, rate2 = c1 / e1, c2 / e2
    ratio = rate2 / rate1 if rate1 > 0 else (math.inf if rate2 > 0 else math.nan)
    total = c1 + c2
    if total == 0:
        return RateComparison(c1, c2, e1, e2, rate1, rate2, ratio, math.nan, math.nan,
                              math.nan, "not distinguishable")
    share = e2 / (e1 + e2)
    test = stats.binomtest(c2, total, share, alternative="two-sided")
    low, high = test.proportion_ci(1 - alpha, method="exact")
    # share of events after ↔ rate ratio: p / (1 − p) · e1 / e2
    to_ratio = lambda p: math.inf if p >= 1 else p / (1 - p) * e1 / e2  # noqa: E731
    verdict = "not distinguishable"
    if test.pvalue < alpha:
        verdict = "improved" if rate2 < rate1 else "worse"
    return RateComparison(c1, c2, e1, e2, rate1, rate2, ratio, to_ratio(low), to_ratio(high),
                          float(test.pvalue), verdict)


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
    median, p90 = _point(values, "median"), _point(values, "p90")
    if n < 2:
        return [n, median, math.nan, math.nan, p90, math.nan, math.nan, float(values.mean())]
    # One resample matrix serves both quantiles: half the work of two bootstrap_ci calls.
    distribution = _resample(values, ["median", "p90"], n_boot, rng)
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


# --- control chart ---------------------------------------------------------------------------
XMR_CONSTANT = 2.66  # 3 / d2 with d2 = 1.128 for moving ranges of two points


def xmr(values: Any, floor: float = 1.0, baseline: int | None = None) -> pd.DataFrame:
    """An XmR (individuals and moving range) chart on log durations, in time order.

    Columns: value, log_value (natural log), moving_range, centre, ucl, lcl (centre ±
    2.66 × mean moving range, on the log scale), centre_value, ucl_value, lcl_value (the
    same back in seconds) and out_of_control. NaN values are dropped; values below `floor`
    seconds are raised to it, since zero has no logarithm and sources resolve to the second.
    `baseline` computes the limits from the first that many points only.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    series = pd.to_numeric(series, errors="coerce").astype(float).dropna()
    logs = np.log(np.maximum(series.to_numpy(), floor))
    frame = pd.DataFrame({"value": series.to_numpy(), "log_value": logs}, index=series.index)
    frame["moving_range"] = frame["log_value"].diff().abs()
    base = frame if baseline is None else frame.iloc[:baseline]
    centre = float(base["log_value"].mean()) if len(base) else math.nan
    spread = float(base["moving_range"].mean()) if len(base) > 1 else math.nan
    frame["centre"] = centre
    frame["ucl"] = centre + XMR_CONSTANT * spread
    frame["lcl"] = centre - XMR_CONSTANT * spread
    for column in ("centre", "ucl", "lcl"):
        frame[f"{column}_value"] = np.exp(frame[column])
    frame["out_of_control"] = (frame["log_value"] > frame["ucl"]) | (
        frame["log_value"] < frame["lcl"])
    return frame


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
# Words carrying no identity of a failure.
_STOPWORDS = frozenset("""a an and are as at be by for from in into is it of on or the to
    with was were we our is are has have after before during via""".split())
# Any token containing a digit is an id, a number, a host or an address: INC-1234, 5xx,
# 10.0.0.1, a1b2c3d4, 2024-03-01.
_WITH_DIGIT = r"[^\s]*\d[^\s]*"
_UUID_ISH = r"\b[0-9a-f]{8,}\b"


def title_tokens(titles: pd.Series) -> pd.Series:
    """Normalised word tokens of each title: lower case, ids and numbers and stop words out.

    >>> sorted(title_tokens(pd.Series(["[INC-42] Checkout API 5xx errors on eu-west-1"]))[0])
    ['api', 'checkout', 'errors']
    """
    text = titles.astype("string").fillna("").str.lower()
    text = text.str.replace(_WITH_DIGIT, " ", regex=True).str.replace(_UUID_ISH, " ", regex=True)
    words = text.str.findall(r"[a-z]{2,}")
    return words.map(lambda ws: frozenset(w for w in ws if w not in _STOPWORDS)).astype(object)


def _similar_pairs(matrix: sparse.csr_matrix, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) of rows whose token-set Jaccard similarity reaches the threshold."""
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    n = matrix.shape[0]
    left, right = [], []
    step = max(1, 4_000_000 // max(n, 1))
    for start in range(0, n, step):  # row blocks keep the dense similarity block bounded
        stop = min(n, start + step)
        inter = (matrix[start:stop] @ matrix.T).tocoo()
        rows = inter.row + start
        union = sizes[rows] + sizes[inter.col] - inter.data
        keep = (inter.col > rows) & (inter.data >= threshold * union)
        left.append(rows[keep])
        right.append(inter.col[keep])
    return np.concatenate(left), np.concatenate(right)


def recurring_groups(incidents: pd.DataFrame, threshold: float = 0.5) -> pd.Series:
    """Group incidents of the same service whose titles are alike.

    Titles become token sets (`title_tokens`); two incidents of one service are linked when
    the Jaccard similarity of their sets is at least `threshold`, and groups are the
    connected components of those links (so A~B and B~C put A, B and C together).
    Incidents without a service are compared with each other; a title with no words left
    stands alone. Returns the group number per incident (indexed by incident_id), numbered
    from 0 in order of each group's first incident.
    """
    check_columns(incidents, ["incident_id", "title"], "incidents frame")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    n = len(incidents)
    if n == 0:
        return pd.Series([], dtype="int64", index=pd.Index([], name="incident_id"),
                         name="group")
    tokens = title_tokens(incidents["title"].reset_index(drop=True))
    service = (incidents["service"].astype("string").fillna("") if "service" in incidents
               else pd.Series("", index=incidents.index, dtype="string")).reset_index(drop=True)
    key = service + "\x1f" + tokens.map(lambda t: " ".join(sorted(t))).astype("string")
    empty = tokens.map(len).to_numpy() == 0
    key[empty] = "\x00" + pd.Series(np.arange(n))[empty].astype("string")
    # Identical normalised titles of a service are one node: recurring alerts often repeat
    # the exact title, so this shrinks the similarity work to the distinct titles.
    node_of, node_keys = pd.factorize(key)
    node_service = pd.Series(node_keys).str.split("\x1f").str[0].to_numpy(dtype=object)
    node_tokens = tokens.groupby(node_of).first().to_numpy()
    vocabulary: dict[str, int] = {}
    cols = [[vocabulary.setdefault(t, len(vocabulary)) for t in ts] for ts in node_tokens]
    indptr = np.cumsum([0] + [len(c) for c in cols])
    matrix = sparse.csr_matrix(
        (np.ones(indptr[-1]), np.fromiter((c for cs in cols for c in cs), dtype=np.int64,
                                          count=indptr[-1]), indptr),
        shape=(len(node_tokens), max(1, len(vocabulary))))
    left, right = [], []
    for name in pd.unique(node_service):
        members = np.flatnonzero((node_service == name) & (indptr[1:] > indptr[:-1]))
        if members.size < 2:
            continue
        i, j = _similar_pairs(matrix[members], threshold)
        left.append(members[i])
        right.append(members[j])
    nodes = len(node_tokens)
    left_all = np.concatenate(left) if left else np.array([], dtype=np.int64)
    right_all = np.concatenate(right) if right else np.array([], dtype=np.int64)
    graph = sparse.coo_matrix((np.ones(left_all.size), (left_all, right_all)),
                              shape=(nodes, nodes))
    _, component = connected_components(graph, directed=False)
    raw = component[node_of]
    # Number groups by their first incident so ids read in time order and are stable.
    times = incident_times(incidents).reset_index(drop=True)
    order = pd.DataFrame({"raw": raw, "at": times, "id": incidents["incident_id"].to_numpy()})
    first = order.sort_values(["at", "id"], kind="stable", na_position="last").drop_duplicates(
        "raw")["raw"].to_numpy()
    renumber = np.empty(raw.max() + 1, dtype=np.int64)
    renumber[first] = np.arange(first.size)
    return pd.Series(renumber[raw], index=pd.Index(incidents["incident_id"].to_numpy(),
                                                   name="incident_id"), name="group")


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
                  min_size: int = 2) -> pd.DataFrame:
    """The largest groups of recurring incidents, most incidents (then most recent) first.

    Columns: group, service, title (the latest), incidents, first_seen, last_seen,
    worst_severity, incident_ids.
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
    return table[["group", "service", "title", "incidents", "first_seen", "last_seen",
                  "worst_severity", "incident_ids"]].reset_index(drop=True)


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
    due = pd.to_datetime(action_items["due"], errors="coerce").dt.date
    is_open = action_items["status"].astype("string").str.lower() == "open"
    late = is_open & due.notna() & (due < today)
    frame = action_items.loc[late].copy()
    frame["due"] = due[late]
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

    Columns: period, group, incidents, with_breach, breach_rate (share of incidents with at
    least one cadence breach), with_update (incidents with a first update),
    median_time_to_first_update (seconds).
    """
    check_columns(metrics, ["cadence_breaches", "time_to_first_update"], "metrics frame")
    times = incident_times(metrics)
    frame = pd.DataFrame({
        "period": _periods(times, freq), "group": _labels(metrics, by),
        "breached": pd.to_numeric(metrics["cadence_breaches"], errors="coerce").fillna(0) > 0,
        "first_update": pd.to_numeric(metrics["time_to_first_update"], errors="coerce")})
    frame = frame[times.notna()]
    table = frame.groupby(["period", "group"], observed=True).agg(
        incidents=("breached", "size"), with_breach=("breached", "sum"),
        with_update=("first_update", "count"),
        median_time_to_first_update=("first_update", "median")).reset_index()
    table["with_breach"] = table["with_breach"].astype("int64")
    table["breach_rate"] = table["with_breach"] / table["incidents"]
    order = {g: i for i, g in enumerate(group_order(table["group"]))}
    table = table.sort_values(["period", "group"], key=lambda s: s.map(order)
                              if s.name == "group" else s, kind="stable")
    return table[["period", "group", "incidents", "with_breach", "breach_rate", "with_update",
                  "median_time_to_first_update"]].reset_index(drop=True)


def responder_load(metrics: pd.DataFrame, events: pd.DataFrame | None = None,
                   working_hours: tuple[float, float] = (9, 17), tz: str = "UTC",
                   workdays: Sequence[int] = (0, 1, 2, 3, 4)) -> pd.DataFrame:
    """Incidents, hours and out-of-hours share per responder, busiest first.

    `hours` sums detected→resolved of the incidents a person responded to (unresolved ones
    add nothing). The out-of-hours share is over the events the person acted in (their
    `actor` events in the incidents they responded to; bots and services are never
    responders), read in zone `tz`:
    outside `working_hours` [start, end) on `workdays` (Monday = 0). Without events, each
    incident's detection time stands in for its responders' activity.
    """
    check_columns(metrics, ["incident_id", "responders"], "metrics frame")
    start_hour, end_hour = working_hours
    people = metrics[["incident_id", "responders"]].assign(
        hours=_resolve_hours(metrics)).explode("responders").dropna(subset=["responders"])
    people = people.rename(columns={"responders": "responder"})
    people["responder"] = people["responder"].astype("string")
    people = people.drop_duplicates(["incident_id", "responder"])
    load = people.groupby("responder").agg(incidents=("incident_id", "size"),
                                           hours=("hours", "sum"))
    if events is not None:
        check_columns(events, ["incident_id", "at", "actor"], "events frame")
        acts = pd.DataFrame({"incident_id": events["incident_id"],
                             "responder": events["actor"].astype("string"),
                             "at": _as_utc(events["at"])})
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
    activity = pd.DataFrame({"responder": acts["responder"], "outside": ~inside}).groupby(
        "responder").agg(events=("outside", "size"), out_of_hours_events=("outside", "sum"))
    load = load.join(activity, how="outer")
    load["incidents"] = load["incidents"].fillna(0).astype("int64")
    load["hours"] = load["hours"].fillna(0.0)
    load["events"] = load["events"].fillna(0).astype("int64")
    load["out_of_hours_events"] = load["out_of_hours_events"].fillna(0).astype("int64")
    load["out_of_hours_share"] = load["out_of_hours_events"] / load["events"].where(
        load["events"] > 0)
    load.index.name = "responder"
    return load.sort_values(["hours", "incidents"], ascending=False, kind="stable").reset_index()


def _resolve_hours(metrics: pd.DataFrame) -> pd.Series:
    if "time_to_resolve" in metrics:
        return pd.to_numeric(metrics["time_to_resolve"], errors="coerce") / 3600
    seconds = (_as_utc(metrics["resolved_at"]) - _as_utc(metrics["detected_at"])).dt.total_seconds()
    return seconds / 3600


# --- sentences --------------------------------------------------------------------------------
_UNITS = (("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0))


def _unit_for(seconds: float) -> tuple[str, float]:
    magnitude = abs(seconds)
    if magnitude >= 2 * 86400:
        return _UNITS[0]
    if magnitude >= 2 * 3600:
        return _UNITS[1]
    if magnitude >= 60:
        return _UNITS[2]
    return _UNITS[3]


def _number(value: float) -> str:
    text = f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def human_duration(seconds: float, unit: str | None = None) -> str:
    """A duration as people say it: "45 s", "42 min", "3.5 h", "2.1 d".

    >>> human_duration(2520), human_duration(12600), human_duration(45)
    ('42 min', '3.5 h', '45 s')
    """
    if seconds is None or not np.isfinite(seconds):
        return "n/a"
    name, size = next(u for u in _UNITS if u[0] == unit) if unit else _unit_for(seconds)
    return f"{_number(seconds / size)} {name}"


def human_span(low: float, high: float, unit: str) -> str:
    size = dict(_UNITS)[unit]
    if not (np.isfinite(low) and np.isfinite(high)):
        return "n/a"
    low, high = low / size, high / size
    # Both bounds with the same precision: "2.0–3.1", not "2–3.1".
    digits = 1 if min(abs(low), abs(high)) < 10 else 0
    return f"{low:.{digits}f}–{high:.{digits}f}"


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
    for metric in metrics_list:
        check_columns(metrics, [metric], "metrics frame")
        for group in groups:
            member = labels == group
            a = _values_in(metrics, metric, in_before & member)
            b = _values_in(metrics, metric, in_after & member)
            a, b = a[~np.isnan(a)], b[~np.isnan(b)]
            if a.size == 0 and b.size == 0:
                continue
            subject = metric_label(metric) + (f" for {group}" if by is not None else "")
            if min(a.size, b.size) < 2:
                sentences.append(f"{subject}: too few incidents to compare "
                                 f"({a.size} before, {b.size} after).")
                continue
            result = compare_periods(a, b, "median", n_boot, alpha, rng)
            sentences.append(f"{subject}: {_comparison_text(result, percent, alpha, change)}")
    return sentences


def _comparison_text(result: PeriodComparison, percent: int, alpha: float,
                     change: float) -> str:
    after_unit, _ = _unit_for(result.after_value)
    before_unit, _ = _unit_for(result.before_value)
    text = (f"median {human_duration(result.after_value)} ({percent}% CI "
            f"{human_span(result.after_low, result.after_high, after_unit)}) against "
            f"{human_duration(result.before_value)} "
            f"({human_span(result.before_low, result.before_high, before_unit)}) before: ")
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
