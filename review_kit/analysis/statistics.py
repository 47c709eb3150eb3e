"""Statistics that stay honest about heavy-tailed durations: bootstrap intervals, period
and rate comparisons with the shift the volumes could detect, and XmR control limits.

Pure functions of arrays and numbers; `trends` builds the fleet summaries on them. Durations
are close to log-normal, so the centre is the median (with p90 for the tail), every estimate
carries a percentile-bootstrap interval, and comparisons work on log durations.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "Interval", "PeriodComparison", "RateComparison", "ShareComparison", "VERDICTS",
    "bootstrap_ci", "compare_periods", "compare_rates", "compare_shares", "log_spread", "min_detectable_ratio",
    "needed_per_period", "point_estimate", "resample", "xmr",
]

VERDICTS: tuple[str, ...] = ("improved", "worse", "not distinguishable")

# Asymptotic relative efficiency against the t-test on normal data (here: on log
# durations). Mann–Whitney keeps 3/π ≈ 0.955 of the t-test's power; a sample quantile q
# keeps φ(z_q)² / (q(1 − q)): 2/π ≈ 0.637 for the median, 0.342 for the p90. Our verdict
# needs the bootstrap interval of the difference AND the rank test, so the weaker of the
# two binds (the simulation tests check that the reported minimum detectable ratio of a
# median comparison is found about 80% of the time). For the mean or a callable we use
# Mann–Whitney's, an upper bound: the detectable ratio is then optimistic.
EFFICIENCY_MANN_WHITNEY = 3 / math.pi
EFFICIENCY_MEDIAN = 2 / math.pi
# The standard normal from the standard library: scipy.stats costs a second to import, so
# only the rank and binomial tests import it, when first run.
_NORMAL = NormalDist()
EFFICIENCY_P90 = _NORMAL.pdf(_NORMAL.inv_cdf(0.9)) ** 2 / (0.9 * 0.1)
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


def point_estimate(sorted_values: np.ndarray, stat: StatLike) -> float:
    if sorted_values.size == 0:
        return math.nan
    if callable(stat):
        return float(stat(sorted_values[None, :], axis=1)[0])
    if stat == "mean":
        return float(sorted_values.mean())
    return float(np.quantile(sorted_values, _QUANTILE_OF[stat]))


def resample(sorted_values: np.ndarray, stats_wanted: Sequence[StatLike], n_boot: int,
             rng: np.random.Generator) -> np.ndarray:
    """Bootstrap distributions, shape (n_boot, len(stats_wanted)), without a resample loop.

    When every statistic is a quantile (median, p90), no resample is drawn at all: with the
    data sorted, a resample's quantile is read from one or two order statistics of its n
    resampled indices, and those order statistics are drawn directly from their exact
    distribution (``_order_statistics``). That is the same bootstrap (the same distribution
    of every statistic, jointly, as sorting n drawn indices gives) at O(n_boot) cost instead
    of O(n_boot × n): a seed gives other draws than an index matrix would, not other odds.

    The mean and callables need every resampled value: they draw the (n_boot, n) index
    matrix, in blocks of ~1 M indices when big, each with its own child generator, on a
    thread pool (numpy drops the GIL while drawing and sorting): memory stays bounded, the
    cores are used, and since the blocks depend only on n, a seed gives the same result on
    any machine.
    """
    n = sorted_values.size
    if all(not callable(s) and s in _QUANTILE_OF for s in stats_wanted):
        return _quantile_draws(sorted_values, stats_wanted, n_boot, rng)
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


def _quantile_positions(n: int, stat: str) -> tuple[int, float]:
    """(k, fraction): the quantile of n sorted values is value[k] + fraction ×
    (value[k + 1] − value[k]), linear interpolation as np.quantile does it."""
    position = (n - 1) * _QUANTILE_OF[stat]
    k = int(math.floor(position))
    return k, position - k


def _order_statistics(n: int, ranks: Sequence[int], n_boot: int,
                      rng: np.random.Generator) -> np.ndarray:
    """The order statistics of ranks ``ranks`` (0-based, increasing) of n indices drawn
    uniformly from 0..n-1, for n_boot independent resamples: shape (n_boot, len(ranks)).

    A drawn index is floor(n·U) with U uniform on [0, 1), and floor keeps order, so the
    r-th smallest index is floor(n·U₍ᵣ₎), U₍ᵣ₎ the r-th smallest of n uniforms: Beta(r + 1,
    n − r). Given U₍ᵣ₎ = u, the other n − r − 1 lie uniformly above u, so the s-th smallest
    (s > r) is u + (1 − u)·Beta(s − r, n − s): the ranks come out jointly as in one resample.
    """
    out = np.empty((n_boot, len(ranks)), dtype=np.int64)
    u = np.zeros(n_boot)
    previous = -1
    for column, rank in enumerate(ranks):
        step = rng.beta(rank - previous, n - rank, size=n_boot)
        u = u + (1.0 - u) * step
        # A uniform is below 1; a Beta draw rounded to 1.0 must not index past the end.
        out[:, column] = np.minimum(np.floor(u * n), n - 1).astype(np.int64)
        previous = rank
    return out


def _quantile_draws(sorted_values: np.ndarray, stats_wanted: Sequence[StatLike], n_boot: int,
                    rng: np.random.Generator) -> np.ndarray:
    n = sorted_values.size
    wanted = {}
    for stat in stats_wanted:
        k, fraction = _quantile_positions(n, stat)
        wanted[stat] = (k, fraction if fraction > 0 and k + 1 < n else 0.0)
    ranks = sorted({k for k, _ in wanted.values()}
                   | {k + 1 for k, fraction in wanted.values() if fraction})
    drawn = _order_statistics(n, ranks, n_boot, rng)
    column_of = {rank: column for column, rank in enumerate(ranks)}
    out = np.empty((n_boot, len(stats_wanted)))
    for column, stat in enumerate(stats_wanted):
        k, fraction = wanted[stat]
        value = sorted_values[drawn[:, column_of[k]]]
        if fraction:
            value = value + fraction * (sorted_values[drawn[:, column_of[k + 1]]] - value)
        out[:, column] = value
    return out


def index_dtype(n: int) -> type:
    """The integer type a resample of ``n`` values draws its indices in (which decides the
    draws a seed gives)."""
    return np.uint16 if n <= 1 << 16 else np.int32


def _resample_block(sorted_values: np.ndarray, stats_wanted: Sequence[StatLike], rows: int,
                    rng: np.random.Generator) -> np.ndarray:
    n = sorted_values.size
    out = np.empty((rows, len(stats_wanted)))
    # Up to 65,536 values (every history we have seen) the indices fit in 16 bits: drawn
    # several times faster than 32-bit ones, and sorted by radix sort ("stable" on 16-bit
    # integers), four times faster than the 32-bit sort.
    small = n <= 1 << 16
    idx = rng.integers(0, n, size=(rows, n), dtype=index_dtype(n))
    if any(not callable(s) and s in _QUANTILE_OF for s in stats_wanted):
        idx.sort(axis=1, kind="stable" if small else None)
    for column, stat in enumerate(stats_wanted):
        if callable(stat):
            out[:, column] = stat(sorted_values[idx], axis=1)
        elif stat == "mean":
            out[:, column] = sorted_values[idx].mean(axis=1)
        else:
            k, fraction = _quantile_positions(n, stat)
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
    estimate = point_estimate(values, stat)
    if values.size < 2:
        return Interval(estimate, math.nan, math.nan, int(values.size), name, level)
    rng = np.random.default_rng(seed)
    distribution = resample(values, [stat], n_boot, rng)[:, 0]
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
    return _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)


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
    before_value, after_value = point_estimate(a, stat), point_estimate(b, stat)
    nan4 = (math.nan,) * 4
    if a.size >= 2 and b.size >= 2:
        boot_a = resample(a, [stat], n_boot, rng)[:, 0]
        boot_b = resample(b, [stat], n_boot, rng)[:, 0]
        ci_low, ci_high = _percentile_interval(boot_b - boot_a, level)
        before_low, before_high = _percentile_interval(boot_a, level)
        after_low, after_high = _percentile_interval(boot_b, level)
        from scipy import stats
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


# --- rates ----------------------------------------------------------------------------------
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
    from scipy import stats
    test = stats.binomtest(c2, total, share, alternative="two-sided")
    low, high = test.proportion_ci(1 - alpha, method="exact")
    # share of events after ↔ rate ratio: p / (1 − p) · e1 / e2
    to_ratio = lambda p: math.inf if p >= 1 else p / (1 - p) * e1 / e2  # noqa: E731
    verdict = "not distinguishable"
    if test.pvalue < alpha:
        verdict = "improved" if rate2 < rate1 else "worse"
    return RateComparison(c1, c2, e1, e2, rate1, rate2, ratio, to_ratio(low), to_ratio(high),
                          float(test.pvalue), verdict)


@dataclass(frozen=True)
class ShareComparison:
    """Two shares (k of n) compared: the difference after − before with Newcombe's hybrid
    Wilson interval and Fisher's exact test; lower is better."""

    count_before: int
    n_before: int
    count_after: int
    n_after: int
    share_before: float
    share_after: float
    difference: float
    low: float
    high: float
    p_value: float
    verdict: str


def compare_shares(count_before: int, n_before: int, count_after: int, n_after: int,
                   alpha: float = 0.05) -> ShareComparison:
    """Compare two shares (breach rates, overdue shares): "improved" or "worse" only when
    the interval of the difference excludes 0 and Fisher's exact test gives p < alpha.

    >>> result = compare_shares(30, 100, 10, 100)
    >>> result.verdict, round(result.difference, 2)
    ('improved', -0.2)
    """
    k1, n1, k2, n2 = int(count_before), int(n_before), int(count_after), int(n_after)
    p1 = k1 / n1 if n1 else math.nan
    p2 = k2 / n2 if n2 else math.nan
    if not (n1 and n2):
        return ShareComparison(k1, n1, k2, n2, p1, p2, p2 - p1, math.nan, math.nan, math.nan,
                               "not distinguishable")
    level = 1 - alpha
    from scipy import stats
    l1, u1 = stats.binomtest(k1, n1).proportion_ci(level, method="wilson")
    l2, u2 = stats.binomtest(k2, n2).proportion_ci(level, method="wilson")
    difference = p2 - p1
    low = difference - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = difference + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    p_value = float(stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)
    verdict = "not distinguishable"
    if p_value < alpha and (low > 0 or high < 0):
        verdict = "improved" if high < 0 else "worse"
    return ShareComparison(k1, n1, k2, n2, p1, p2, difference, low, high, p_value, verdict)


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

