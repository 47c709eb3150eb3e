"""Unit tests of review_kit.analysis.trends on small literal frames with hand-computed answers."""
from __future__ import annotations

import math
import re
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from review_kit.analysis import statistics as S
from review_kit.analysis import trends as T
from review_kit.analysis.similarity import event_terms

UTC = "UTC"
METRIC_DEFAULTS = {
    "title": "Checkout errors", "severity": "SEV2", "service": "checkout", "team": "payments",
    "commander": "alice", "time_to_detect": np.nan, "time_to_acknowledge": np.nan,
    "time_to_mitigate": np.nan, "time_to_resolve": np.nan, "impact_duration": np.nan,
    "time_to_first_update": np.nan, "longest_silence": np.nan, "cadence_breaches": 0,
    "responders": None, "escalations": 0, "handoffs": 0, "reopened": 0,
}
TIME_COLUMNS = ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")


def ts(text: str | None) -> pd.Timestamp:
    return pd.NaT if text is None else pd.Timestamp(text, tz=UTC)


def metrics_frame(rows: list[dict]) -> pd.DataFrame:
    """A metrics frame of compute_metrics' shape from the fields a test cares about."""
    records = []
    for number, row in enumerate(rows, start=1):
        record = {"incident_id": f"INC-{number}", **METRIC_DEFAULTS, **row}
        record["responders"] = list(record["responders"] or [])
        records.append(record)
    frame = pd.DataFrame(records)
    for column in TIME_COLUMNS:
        values = frame[column] if column in frame else pd.Series([None] * len(frame))
        stamps = [ts(v) if isinstance(v, str) or v is None else v for v in values]
        frame[column] = pd.Series(pd.to_datetime(stamps, utc=True)).dt.as_unit("us")
    frame["responder_count"] = frame["responders"].map(len)
    frame["is_resolved"] = frame["resolved_at"].notna()
    return frame


# --- bootstrap_ci --------------------------------------------------------------------------------
def test_bootstrap_median_is_the_percentiles_of_its_resampled_medians():
    values = np.array([310., 45., 1200., 75., 600., 95., 30., 2400., 150., 61., 88.])
    ci = S.bootstrap_ci(values, "median", n_boot=500, seed=7)
    medians = S.resample(np.sort(values), ["median"], 500, np.random.default_rng(7))[:, 0]
    assert ci.estimate == 95.0
    assert ci.low == pytest.approx(np.percentile(medians, 2.5))
    assert ci.high == pytest.approx(np.percentile(medians, 97.5))
    assert (ci.n, ci.stat, ci.level) == (11, "median", 0.95)
    # Every resampled median is a median of values of the sample: a value or a midpoint.
    assert set(np.round(medians, 6)) <= set(np.round(values, 6))


def _exact_bootstrap(values: np.ndarray) -> dict[tuple[float, float], float]:
    """The exact bootstrap distribution of (median, p90): every one of the n**n resamples."""
    n = values.size
    idx = np.array(np.meshgrid(*[np.arange(n)] * n, indexing="ij")).reshape(n, -1).T
    drawn = values[idx]
    pairs = zip(np.round(np.quantile(drawn, 0.5, axis=1), 6),
                np.round(np.quantile(drawn, 0.9, axis=1), 6))
    found: dict[tuple[float, float], float] = {}
    for pair in pairs:
        found[pair] = found.get(pair, 0) + 1 / len(idx)
    return found


@pytest.mark.parametrize("n", [5, 6])  # median of one order statistic, then of two
def test_quantile_resamples_follow_the_exact_bootstrap_distribution(n):
    # The quantiles come from order statistics drawn directly, not from sorted resamples:
    # their joint distribution must be the bootstrap's exactly. All n**n resamples give it;
    # 200,000 draws must fit it (chi-square; a fixed seed, so this never flakes).
    values = np.sort(np.random.default_rng(n).lognormal(6, 1, n))
    exact = _exact_bootstrap(values)
    draws = S.resample(values, ["median", "p90"], 200_000, np.random.default_rng(1))
    observed: dict[tuple[float, float], int] = {}
    for pair in zip(np.round(draws[:, 0], 6), np.round(draws[:, 1], 6)):
        observed[pair] = observed.get(pair, 0) + 1
    assert set(observed) <= set(exact)
    # Cells expected fewer than 5 times are pooled into one, as the test requires.
    big = [pair for pair, p in exact.items() if p * 200_000 >= 5]
    expected = [exact[pair] * 200_000 for pair in big]
    counts = [observed.get(pair, 0) for pair in big]
    rest, rest_count = 200_000 - sum(expected), 200_000 - sum(counts)
    if rest >= 5:
        expected.append(rest)
        counts.append(rest_count)
    else:  # too rare to stand alone: pooled with the last cell
        expected[-1] += rest
        counts[-1] += rest_count
    assert stats.chisquare(counts, expected).pvalue > 0.001
    # A broken sampler (e.g. one order statistic off by one rank) is far from it.
    shifted = np.sort(np.random.default_rng(1).integers(0, n, size=(200_000, n)), axis=1)
    wrong = values[shifted[:, n // 2 + 1]] if n % 2 else values[shifted[:, n // 2]]
    assert abs(np.mean(wrong) - sum(p * m for (m, _), p in exact.items())) > 0.05 * values.mean()


def test_bootstrap_p90_mean_and_callable():
    values = np.arange(1.0, 21.0)  # 1..20
    p90 = S.bootstrap_ci(values, "p90", n_boot=400, seed=1)
    assert p90.estimate == pytest.approx(18.1)  # position 0.9 × 19 = 17.1 → 18 + 0.1
    drawn = S.resample(values, ["p90"], 400, np.random.default_rng(1))[:, 0]
    assert (p90.low, p90.high) == pytest.approx(tuple(np.percentile(drawn, [2.5, 97.5])))
    mean = S.bootstrap_ci(values, "mean", n_boot=400, seed=1)
    assert mean.estimate == 10.5 and mean.low < 10.5 < mean.high
    # A callable needs every resampled value: it is the statistic of an index matrix.
    by_callable = S.bootstrap_ci(values, np.median, n_boot=400, seed=3)
    idx = np.random.default_rng(3).integers(0, 20, size=(400, 20), dtype=S.index_dtype(20))
    direct = np.median(values[idx], axis=1)
    assert by_callable.stat == "median"
    assert (by_callable.low, by_callable.high) == pytest.approx(
        tuple(np.percentile(direct, [2.5, 97.5])))
    # By name the median's draws are made another way, from the same distribution: with
    # many resamples both give the same interval, to within a step between two values.
    many_callable = S.bootstrap_ci(values, np.median, n_boot=20_000, seed=3)
    many_name = S.bootstrap_ci(values, "median", n_boot=20_000, seed=3)
    assert many_name.low == pytest.approx(many_callable.low, abs=0.5)
    assert many_name.high == pytest.approx(many_callable.high, abs=0.5)


def test_bootstrap_drops_nan_and_handles_tiny_samples():
    ci = S.bootstrap_ci(pd.Series([np.nan, 120.0, np.nan]), seed=0)
    assert ci.n == 1 and ci.estimate == 120.0
    assert math.isnan(ci.low) and math.isnan(ci.high)
    empty = S.bootstrap_ci([], seed=0)
    assert empty.n == 0 and math.isnan(empty.estimate)
    two = S.bootstrap_ci([10.0, 30.0], seed=0)
    assert two.estimate == 20.0 and 10.0 <= two.low <= two.high <= 30.0


def test_bootstrap_level_seed_and_errors():
    rng = np.random.default_rng(5)
    values = rng.lognormal(6, 1, 60)
    wide = S.bootstrap_ci(values, level=0.95, seed=2)
    narrow = S.bootstrap_ci(values, level=0.5, seed=2)
    assert wide.low < narrow.low < wide.estimate < narrow.high < wide.high
    assert S.bootstrap_ci(values, seed=9) == S.bootstrap_ci(values, seed=9)
    with pytest.raises(ValueError, match="unknown statistic 'p95'"):
        S.bootstrap_ci(values, "p95")
    with pytest.raises(ValueError, match="level"):
        S.bootstrap_ci(values, level=95)


def test_big_bootstrap_runs_in_blocks_and_stays_reproducible():
    # 3,000 values × 2,000 resamples = 6 M indices: the mean takes the blocked, threaded path.
    values = np.random.default_rng(11).lognormal(7, 1, 3000)
    first = S.bootstrap_ci(values, "mean", seed=4)
    assert first == S.bootstrap_ci(values, "mean", seed=4)
    assert first.low < values.mean() < first.high
    p90 = S.bootstrap_ci(values, "p90", seed=4)
    assert p90 == S.bootstrap_ci(values, "p90", seed=4)
    assert p90.low < np.quantile(values, 0.9) < p90.high
    # The interval of a p90 from 3,000 log-normal values is a few percent wide, not more.
    assert 0.85 < p90.low / p90.estimate < 1.0 < p90.high / p90.estimate < 1.15


# --- compare_periods and power -------------------------------------------------------------------
def test_compare_periods_fields_against_hand_and_scipy():
    before = [600.0, 900, 1200, 1500, 1800, 2400, 3000, 3600, 4200, 5400, 7200, 9000]
    after = [300.0, 420, 480, 540, 600, 660, 720, 900, 1020, 1200, 1500, 1800]
    result = S.compare_periods(before, after, n_boot=1000, seed=3)
    assert (result.before_n, result.after_n) == (12, 12)
    assert result.before_value == 2700.0  # (2400 + 3000) / 2
    assert result.after_value == 690.0    # (660 + 720) / 2
    assert result.difference == -2010.0
    assert result.ratio == pytest.approx(690 / 2700)
    expected_p = stats.mannwhitneyu(after, before, alternative="two-sided").pvalue
    assert result.p_value == pytest.approx(expected_p)
    assert result.ci_low < result.ci_high < 0
    assert result.verdict == "improved"
    assert result.small_sample is False
    assert result.before_low <= 2700 <= result.before_high
    assert result.after_low <= 690 <= result.after_high
    swapped = S.compare_periods(after, before, n_boot=1000, seed=3)
    assert swapped.verdict == "worse" and swapped.difference == 2010.0


def test_compare_periods_small_and_degenerate_samples():
    small = S.compare_periods([60, 90, 120], [600, 700, 800, 900], n_boot=500, seed=0)
    assert small.small_sample is True
    one = S.compare_periods([60.0], [600.0, 700.0], seed=0)
    assert one.before_value == 60.0 and one.after_value == 650.0
    assert math.isnan(one.ci_low) and math.isnan(one.p_value)
    assert one.verdict == "not distinguishable"
    assert one.after_low <= 650 <= one.after_high and math.isnan(one.before_low)
    nothing = S.compare_periods([], [np.nan], seed=0)
    assert nothing.before_n == 0 and nothing.after_n == 0
    assert math.isnan(nothing.min_detectable_ratio) and math.isnan(nothing.ratio)


def test_log_spread_pools_within_samples():
    e = math.e
    # logs [0, 2] and [1, 3]: squared deviations 1+1 and 1+1 over 2 degrees of freedom
    assert S.log_spread([1, e ** 2], [e, e ** 3]) == pytest.approx(math.sqrt(2))
    # zero durations have no logarithm and are left out
    assert S.log_spread([0, 1, e ** 2], [e, e ** 3]) == pytest.approx(math.sqrt(2))
    assert math.isnan(S.log_spread([5.0], [0.0, 3.0]))


def test_min_detectable_ratio_and_needed_per_period_by_hand():
    z = 1.959964 + 0.841621  # z(0.975) + z(0.80)
    # spread 1, 100 per period, median efficiency 2/π
    shift = z * math.sqrt(2 / 100) / math.sqrt(2 / math.pi)
    assert S.min_detectable_ratio(1.0, 100, 100) == pytest.approx(math.exp(shift), rel=1e-5)
    mann_whitney = S.min_detectable_ratio(1.0, 100, 100, efficiency=3 / math.pi)
    assert mann_whitney == pytest.approx(math.exp(z * math.sqrt(0.02) / math.sqrt(3 / math.pi)),
                                         rel=1e-5)
    # 2 × (2.8016 / ln 2)² = 32.7 → 33 per period for a halving with a t-test on logs
    assert S.needed_per_period(1.0, 0.5, efficiency=1.0) == 33
    # 2 × (2.8016 / ln 0.75)² / (2/π) = 297.9 → 298 for a 25% reduction
    assert S.needed_per_period(1.0, 0.75) == 298
    # the two are inverses: at the needed n, the detectable ratio is the asked one
    n = S.needed_per_period(1.3, 0.8)
    assert 1 / S.min_detectable_ratio(1.3, n, n) == pytest.approx(0.8, abs=0.002)
    with pytest.raises(ValueError):
        S.needed_per_period(1.0, 1.0)


# --- counts and rates -----------------------------------------------------------------------------
def test_incident_counts_per_month_fill_gaps_and_order_severities():
    metrics = metrics_frame([
        {"severity": "SEV3", "detected_at": "2024-01-03T10:00:00Z"},
        {"severity": "SEV1", "detected_at": "2024-01-31T23:59:59Z"},
        {"severity": "SEV3", "detected_at": "2024-03-01T00:00:00Z"},
        {"severity": None, "detected_at": "2024-03-15T12:00:00Z"},
        # no detection: the start stands in (February)
        {"severity": "SEV1", "detected_at": None, "started_at": "2024-02-10T08:00:00Z"},
    ])
    counts = T.incident_counts(metrics, "M")
    assert list(counts.columns) == ["SEV1", "SEV3", "unknown"]
    assert [str(p) for p in counts.index] == ["2024-01", "2024-02", "2024-03"]
    assert counts.to_numpy().tolist() == [[1, 1, 0], [1, 0, 0], [0, 1, 1]]
    tidy = T.incident_counts(metrics, "M", tidy=True)
    assert len(tidy) == 9 and tidy["incidents"].sum() == 5
    row = tidy[(tidy["period"].astype(str) == "2024-03") & (tidy["group"] == "unknown")]
    assert row["incidents"].tolist() == [1]


def test_incident_counts_weeks_start_monday_and_incidents_frame_uses_created_at():
    incidents = pd.DataFrame({
        "incident_id": ["A", "B", "C"], "title": ["x", "y", "z"],
        "service": ["api", "api", "db"], "severity": ["SEV2", "SEV2", "SEV2"],
        "created_at": pd.to_datetime(["2024-01-07T23:00:00Z", "2024-01-08T01:00:00Z",
                                      "2024-01-14T12:00:00Z"], utc=True).as_unit("us"),
    })
    weekly = T.incident_counts(incidents, "W", by="service")
    # Sunday 7 Jan closes one week; Monday 8 and Sunday 14 share the next.
    assert [str(p) for p in weekly.index] == ["2024-01-01/2024-01-07", "2024-01-08/2024-01-14"]
    assert weekly.to_numpy().tolist() == [[1, 0], [1, 1]]
    quarterly = T.incident_counts(incidents, "Q", by=None)
    assert quarterly.to_numpy().tolist() == [[3]]
    with pytest.raises(ValueError, match="unknown period"):
        T.incident_counts(incidents, "fortnight")


def test_compare_rates_exact_binomial():
    result = S.compare_rates(10, 30, 20, 30)
    # Under no change the 30 incidents split like Binomial(30, ½): P(X ≥ 20) + P(X ≤ 10)
    tail = sum(math.comb(30, k) for k in range(20, 31)) / 2 ** 30
    assert result.p_value == pytest.approx(2 * tail)
    assert result.p_value == pytest.approx(0.098737, abs=1e-6)
    assert (result.rate_before, result.rate_after, result.ratio) == (1 / 3, 2 / 3, 2.0)
    assert result.ratio_low < 2.0 < result.ratio_high and result.ratio_low < 1
    assert result.verdict == "not distinguishable"
    assert S.compare_rates(25, 30, 5, 30).verdict == "improved"
    assert S.compare_rates(5, 30, 25, 30).verdict == "worse"
    # 10 in 30 days against 20 in 60 days: the same rate, p = 1
    same = S.compare_rates(10, pd.Timedelta(days=30), 20, pd.Timedelta(days=60))
    assert same.exposure_after == 60.0 and same.ratio == 1.0 and same.p_value == 1.0
    empty = S.compare_rates(0, 10, 0, 10)
    assert empty.verdict == "not distinguishable" and math.isnan(empty.p_value)


def test_rate_comparison_counts_incidents_in_each_window():
    times = ["2024-01-05", "2024-02-05", "2024-04-01", "2024-04-02", "2024-05-01",
             "2024-06-30T23:59:59"]
    metrics = metrics_frame([{"detected_at": f"{t}Z" if "T" in t else f"{t}T00:00:00Z"}
                             for t in times])
    result = T.rate_comparison(metrics, pd.Period("2024Q1"), ("2024-04-01", "2024-07-01"))
    assert (result.count_before, result.count_after) == (2, 4)
    assert (result.exposure_before, result.exposure_after) == (91.0, 91.0)


# --- duration summaries ---------------------------------------------------------------------------
def test_duration_summary_per_severity_by_hand():
    metrics = metrics_frame(
        [{"severity": "SEV1", "time_to_mitigate": v} for v in (60, 120, 180, 240, 300)]
        + [{"severity": "SEV2", "time_to_mitigate": 600.0},
           {"severity": "SEV2", "time_to_mitigate": np.nan}])
    table = T.duration_summary(metrics, "time_to_mitigate", n_boot=500, seed=0)
    assert list(table.index) == ["SEV1", "SEV2", "all"]
    assert list(table.columns) == ["n", "median", "median_low", "median_high", "p90",
                                   "p90_low", "p90_high", "mean"]
    sev1 = table.loc["SEV1"]
    assert (sev1["n"], sev1["median"], sev1["mean"]) == (5, 180.0, 180.0)
    assert sev1["p90"] == pytest.approx(276.0)  # position 3.6: 240 + 0.6 × 60
    assert 60 <= sev1["median_low"] <= 180 <= sev1["median_high"] <= 300
    assert sev1["p90_low"] <= 276 <= sev1["p90_high"] <= 300
    sev2 = table.loc["SEV2"]
    assert sev2["n"] == 1 and sev2["median"] == 600 and math.isnan(sev2["median_low"])
    assert table.loc["all", "n"] == 6 and table.loc["all", "median"] == 210.0


def test_duration_table_long_form():
    metrics = metrics_frame([{"severity": s, "time_to_mitigate": m, "time_to_resolve": r}
                             for s, m, r in [("SEV1", 60, 600), ("SEV1", 120, 900),
                                             ("SEV3", 30, 60)]])
    table = T.duration_table(metrics, ["time_to_mitigate", "time_to_resolve"], n_boot=200)
    assert table[["metric", "group"]].values.tolist() == [
        ["time_to_mitigate", "SEV1"], ["time_to_mitigate", "SEV3"], ["time_to_mitigate", "all"],
        ["time_to_resolve", "SEV1"], ["time_to_resolve", "SEV3"], ["time_to_resolve", "all"]]
    assert table["median"].tolist() == [90.0, 30.0, 60.0, 750.0, 60.0, 600.0]


def test_median_over_time_per_quarter():
    metrics = metrics_frame([{"detected_at": d, "time_to_resolve": v} for d, v in [
        ("2024-01-10T00:00:00Z", 100), ("2024-02-10T00:00:00Z", 300),
        ("2024-03-10T00:00:00Z", 200), ("2024-10-01T00:00:00Z", 50)]])
    table = T.median_over_time(metrics, "time_to_resolve", "Q", n_boot=200)
    assert [str(p) for p in table["period"]] == ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]
    assert table["n"].tolist() == [3, 0, 0, 1]
    assert table["median"].iloc[0] == 200 and math.isnan(table["median"].iloc[1])


# --- control chart --------------------------------------------------------------------------------
def test_xmr_limits_by_hand():
    logs = np.array([0.0, 0.0, 0.0, 0.0, 4.0])
    chart = S.xmr(np.exp(logs))
    # centre 0.8; moving ranges 0, 0, 0, 4 → mean 1; limits 0.8 ± 2.66
    assert chart["centre"].iloc[0] == pytest.approx(0.8)
    assert chart["ucl"].iloc[0] == pytest.approx(3.46)
    assert chart["lcl"].iloc[0] == pytest.approx(-1.86)
    assert chart["moving_range"].tolist()[1:] == pytest.approx([0, 0, 0, 4])
    assert chart["out_of_control"].tolist() == [False, False, False, False, True]
    assert chart["ucl_value"].iloc[0] == pytest.approx(math.exp(3.46))


def test_xmr_baseline_floor_and_control_chart_order():
    logs = np.array([0.0, 1.0, 0.0, 1.0, 5.0])
    # Limits from all five: centre 1.4, mean moving range 1.75 → ucl 6.055: 5 is inside.
    assert not S.xmr(np.exp(logs))["out_of_control"].any()
    # From the first four only: centre 0.5, mean moving range 1 → ucl 3.16: 5 is out.
    chart = S.xmr(np.exp(logs), baseline=4)
    assert chart["ucl"].iloc[0] == pytest.approx(3.16)
    assert chart["out_of_control"].tolist() == [False, False, False, False, True]
    # A zero duration is read as one second (log 0); NaN is dropped.
    floored = S.xmr(pd.Series([0.0, np.nan, math.e]))
    assert floored["log_value"].tolist() == pytest.approx([0.0, 1.0])
    metrics = metrics_frame([
        {"detected_at": "2024-01-03T00:00:00Z", "time_to_mitigate": 300.0},
        {"detected_at": "2024-01-01T00:00:00Z", "time_to_mitigate": 60.0},
        {"detected_at": "2024-01-02T00:00:00Z", "time_to_mitigate": np.nan}])
    ordered = T.control_chart(metrics, "time_to_mitigate")
    assert ordered["incident_id"].tolist() == ["INC-2", "INC-1"]
    assert ordered["value"].tolist() == [60.0, 300.0]


# --- recurrence -----------------------------------------------------------------------------------
def recurrence_incidents() -> pd.DataFrame:
    rows = [  # (id, service, title, created_at, severity)
        ("A", "checkout", "Checkout API 5xx errors", "2024-01-01T10:00:00Z", "SEV2"),
        ("B", "checkout", "[INC-1042] Checkout API errors", "2024-01-20T10:00:00Z", "SEV1"),
        ("C", "checkout", "Checkout API latency high", "2024-02-01T10:00:00Z", "SEV3"),
        ("D", "payments", "Checkout API errors", "2024-02-02T10:00:00Z", "SEV2"),
        ("E", "checkout", "Database disk full on db-7", "2024-02-03T10:00:00Z", "SEV3"),
        ("F", "checkout", "checkout api latency", "2024-04-15T10:00:00Z", "SEV3"),
        ("G", "checkout", "12345", "2024-04-16T10:00:00Z", "SEV4"),
        ("H", "checkout", "12345", "2024-04-17T10:00:00Z", "SEV4"),
        ("I", None, "Login failures", "2024-04-18T10:00:00Z", "SEV2"),
        ("J", None, "login failures (EU)", "2024-04-19T10:00:00Z", "SEV2"),
    ]
    frame = pd.DataFrame(rows, columns=["incident_id", "service", "title", "created_at",
                                        "severity"])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True).dt.as_unit("us")
    return frame


def test_title_tokens_strip_ids_numbers_and_stop_words():
    tokens = T.title_tokens(pd.Series(["[INC-1042] Checkout API errors on host-12",
                                       "Disk 95% full at 10.0.0.7", "12345", None]))
    assert tokens.tolist() == [frozenset({"checkout", "api", "errors"}),
                               frozenset({"disk", "full"}), frozenset(), frozenset()]


def test_recurring_groups_follow_similarity_and_say_why():
    from seen_before import NEW, OTHER, PHRASE, SAME_A, SAME_B, UNRELATED, frames
    incidents, events = frames()
    terms = event_terms(events)
    groups = T.recurring_groups(incidents, terms=terms)
    g = groups.to_dict()
    # C shares a rare chat phrase with NEW, A and B share service and alert with NEW: one group,
    # numbered 0 (C is the oldest incident of all).
    assert g[PHRASE] == g[SAME_A] == g[SAME_B] == g[NEW] == 0
    # Common words ("error", "deploy", "latency") link nothing: every other incident alone.
    alone = [g[i] for i in UNRELATED + [OTHER]]
    assert len(set(alone)) == len(alone) and 0 not in alone
    assert sorted(set(g.values())) == list(range(len(set(g.values()))))
    why = T.recurrence_reasons(incidents, groups, terms=terms)
    assert "same service payments-api" in why[0] and "PaymentsHighErrorRate" in why[0]
    top = T.top_recurring(incidents, groups, why=why)
    assert top["incident_ids"].tolist() == [[PHRASE, SAME_A, SAME_B, NEW]]
    assert top["why"].iloc[0] == why[0]


def test_boilerplate_titles_never_make_a_group_of_a_quarter_of_the_history():
    """A status page's history: most titles are "Incident with <product>" or "Disruption with
    some services", across many products; the words every title has carry nothing."""
    products = ["Actions", "Git Operations", "Pages", "Packages", "Codespaces", "Copilot",
                "Issues", "Pull Requests", "Webhooks", "API Requests", "Git LFS", "Migrations"]
    rows = []
    for i in range(600):
        product = products[i % len(products)]
        title = "Disruption with some services" if i % 3 == 0 else f"Incident with {product}"
        rows.append((f"S{i:04d}", title, None, pd.Timestamp("2015-01-01", tz="UTC") + pd.Timedelta(days=7 * i)))
    incidents = pd.DataFrame(rows, columns=["incident_id", "title", "service", "created_at"])
    groups = T.recurring_groups(incidents)
    largest = groups.value_counts().max()
    assert largest < len(incidents) / 4
    # "Disruption with some services" shares nothing rare: each such incident stands alone.
    disruptions = groups[incidents.set_index("incident_id")["title"].eq(
        "Disruption with some services").to_numpy()]
    assert disruptions.is_unique


def test_repeat_rate_and_top_recurring():
    incidents = recurrence_incidents()
    # Groups as given: A+B, C+F, I+J, the rest alone.
    groups = pd.Series([0, 0, 1, 2, 3, 1, 4, 5, 6, 6], index=pd.Index(list("ABCDEFGHIJ"),
                                                                      name="incident_id"))
    rate = T.repeat_rate(incidents, groups, window_days=30, freq="Q")
    # Q1: A, B (19 days after A: repeat), C, D, E → 1 of 5.
    # Q2: F (74 days after C: no), G, H, I, J (1 day after I: repeat) → 1 of 5.
    assert rate["incidents"].tolist() == [5, 5]
    assert rate["repeats"].tolist() == [1, 1]
    assert rate["repeat_rate"].tolist() == [0.2, 0.2]
    wide = T.repeat_rate(incidents, groups, window_days=80, freq="Q")
    assert wide["repeats"].tolist() == [1, 2]
    top = T.top_recurring(incidents, groups)
    assert top["incidents"].tolist() == [2, 2, 2]
    first = top.iloc[0]  # ties broken by the most recent: I and J
    assert first["incident_ids"] == ["I", "J"] and first["title"] == "login failures (EU)"
    ab = top[top["incident_ids"].map(lambda ids: ids == ["A", "B"])].iloc[0]
    assert ab["worst_severity"] == "SEV1" and ab["service"] == "checkout"
    assert ab["first_seen"] == pd.Timestamp("2024-01-01T10:00:00Z")


# --- action items ---------------------------------------------------------------------------------
def action_items() -> tuple[pd.DataFrame, pd.DataFrame]:
    incidents = pd.DataFrame({"incident_id": ["I1", "I2"], "severity": ["SEV1", "SEV2"]})
    rows = [  # id, incident, status, created, closed, due
        ("a1", "I1", "done", "2024-01-01", "2024-01-20", "2024-01-10"),
        ("a2", "I1", "done", "2024-01-15", "2024-03-15", "2024-02-15"),
        ("a3", "I1", "open", "2024-02-01", None, "2024-03-01"),
        ("a4", "I2", "open", "2024-05-15", None, "2024-06-30"),
        ("a5", "I2", "wontfix", "2024-03-01", "2024-05-01", None),
        ("a6", "I2", "done", "2024-06-20", "2024-06-25", "2024-07-01"),
        ("a7", "I2", "open", "2024-07-05", None, "2024-07-06"),  # after asof
        ("a8", "I2", "open", "2024-06-01", None, None),
    ]
    frame = pd.DataFrame(rows, columns=["id", "incident_id", "status", "created_at",
                                        "closed_at", "due"])
    frame["title"] = frame["id"].map(lambda i: f"fix {i}")
    frame["owner"] = "sam"
    frame["priority"] = "P2"
    for column in ("created_at", "closed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.as_unit("us")
    frame["due"] = frame["due"].map(lambda d: date.fromisoformat(d) if isinstance(d, str) else None)
    return frame, incidents


def test_action_item_flow_per_month():
    items, incidents = action_items()
    result = T.action_item_follow_through(items.drop(index=7), incidents, "2024-06-30")
    flow = result.per_period
    assert [str(p) for p in flow.index] == ["2024-01", "2024-02", "2024-03", "2024-04",
                                            "2024-05", "2024-06"]
    assert flow["opened"].tolist() == [2, 1, 1, 0, 1, 1]
    assert flow["closed"].tolist() == [1, 0, 1, 0, 1, 1]
    assert flow["open_at_end"].tolist() == [1, 2, 2, 2, 2, 2]  # a3 and a4 at the end


def test_action_items_share_still_open_by_age_and_severity():
    items, incidents = action_items()
    shares = T.action_item_follow_through(items.drop(index=7), incidents, "2024-06-30").still_open
    table = shares.set_index(["severity", "after_days"])
    # 30 days: eligible a1 a2 a3 (SEV1), a4 a5 (SEV2); open then: a2 a3, a4 a5.
    assert table.loc[("SEV1", 30), ["eligible", "still_open"]].tolist() == [3, 2]
    assert table.loc[("SEV1", 30), "share"] == pytest.approx(2 / 3)
    assert table.loc[("SEV2", 30), ["eligible", "still_open"]].tolist() == [2, 2]
    # 60 days: a4 too young; a2 closed on day 60 exactly counts as closed; a5 (61) open.
    assert table.loc[("SEV1", 60), ["eligible", "still_open"]].tolist() == [3, 1]
    assert table.loc[("SEV2", 60), ["eligible", "still_open"]].tolist() == [1, 1]
    # 90 days: only a3 is still open.
    assert table.loc[("SEV2", 90), "share"] == 0.0
    assert table.loc[("all", 90), ["eligible", "still_open"]].tolist() == [4, 1]
    assert table.loc[("all", 30), "share"] == pytest.approx(4 / 5)


def test_overdue_list():
    items, _ = action_items()
    late = T.overdue(items, "2024-06-30")
    # a3 due 1 March is 121 days late; a4 is due today, a8 has no due date, a1 is done.
    assert late["id"].tolist() == ["a3"]
    assert late["days_overdue"].tolist() == [121]
    assert late.columns.tolist() == ["id", "incident_id", "title", "owner", "priority", "due",
                                     "days_overdue"]
    later = T.overdue(items, "2024-07-10T08:00:00Z")
    assert later["id"].tolist() == ["a3", "a4", "a7"]
    assert later["days_overdue"].tolist() == [131, 10, 4]


# --- communication and responder load ---------------------------------------------------------------
def test_communication_trends_by_hand():
    metrics = metrics_frame([
        {"severity": "SEV1", "detected_at": "2024-01-05T00:00:00Z", "cadence_breaches": 0,
         "time_to_first_update": 300.0},
        {"severity": "SEV1", "detected_at": "2024-01-20T00:00:00Z", "cadence_breaches": 2,
         "time_to_first_update": 900.0},
        {"severity": "SEV2", "detected_at": "2024-01-25T00:00:00Z", "cadence_breaches": 0,
         "time_to_first_update": 600.0},
        {"severity": "SEV1", "detected_at": "2024-02-02T00:00:00Z", "cadence_breaches": 1,
         "time_to_first_update": np.nan},
    ])
    table = T.communication_trends(metrics, "M")
    assert [(str(p), g) for p, g in zip(table["period"], table["group"])] == [
        ("2024-01", "SEV1"), ("2024-01", "SEV2"), ("2024-02", "SEV1")]
    assert table["incidents"].tolist() == [2, 1, 1]
    assert table["with_breach"].tolist() == [1, 0, 1]
    assert table["breach_rate"].tolist() == [0.5, 0.0, 1.0]
    assert table["with_update"].tolist() == [2, 1, 0]
    assert table["median_time_to_first_update"].tolist()[:2] == [600.0, 600.0]
    assert math.isnan(table["median_time_to_first_update"].iloc[2])


def load_fixture() -> tuple[pd.DataFrame, pd.DataFrame]:
    metrics = metrics_frame([
        {"responders": ["alice", "bob"], "time_to_resolve": 7200.0,
         "detected_at": "2024-01-15T08:00:00Z"},
        {"responders": ["alice"], "time_to_resolve": 3600.0,
         "detected_at": "2024-01-13T11:00:00Z"},
        {"responders": ["bob", "carol"], "time_to_resolve": np.nan,
         "detected_at": "2024-01-16T20:00:00Z"},
    ])
    events = pd.DataFrame({
        "incident_id": ["INC-1", "INC-1", "INC-2", "INC-1", "INC-1", "INC-9", "INC-2"],
        "at": pd.to_datetime(["2024-01-15T08:30:00Z", "2024-01-15T10:00:00Z",
                              "2024-01-13T12:00:00Z", "2024-01-15T10:00:00Z",
                              "2024-01-15T03:00:00Z", "2024-01-15T03:00:00Z",
                              "2024-01-13T13:00:00Z"], utc=True).as_unit("us"),
        # the bot, bob in an incident not reviewed here and bob in one he did not respond
        # to do not count
        "actor": ["alice", "alice", "alice", "bob", "PagerDuty", "bob", "bob"],
        "actor_type": ["person", "person", "person", "person", "bot", "person", "person"],
        "kind": ["acknowledged", "message", "message", "message", "notified", "message",
                 "status_update"],
    })
    return metrics, events


def test_responder_load_hours_and_out_of_hours_share_in_a_zone():
    metrics, events = load_fixture()
    utc = T.responder_load(metrics, T.responder_activity(metrics, events)).set_index("responder")
    assert utc.loc["alice", ["incidents", "events", "out_of_hours_events"]].tolist() == [2, 3, 2]
    assert utc.loc["alice", "hours"] == 3.0
    # UTC: 08:30 Monday is before nine, Saturday is no workday → 2 of 3 outside.
    assert utc.loc["alice", "out_of_hours_share"] == pytest.approx(2 / 3)
    assert utc.loc["bob", ["incidents", "hours", "hours_measured", "events"]].tolist() == [2, 2.0, 1, 1]
    assert utc.loc["bob", "out_of_hours_share"] == 0.0
    assert utc.loc["carol", "events"] == 0 and math.isnan(utc.loc["carol", "out_of_hours_share"])
    assert "PagerDuty" not in utc.index  # bots are not responders
    assert list(utc.index) == ["alice", "bob", "carol"]  # busiest first
    # Berlin (UTC+1 in January): 08:30Z is 09:30 local, inside → only Saturday is outside.
    berlin = T.responder_load(metrics, T.responder_activity(metrics, events, tz="Europe/Berlin")).set_index("responder")
    assert berlin.loc["alice", "out_of_hours_share"] == pytest.approx(1 / 3)
    late_shift = T.responder_load(metrics, T.responder_activity(metrics, events, working_hours=(10, 18))).set_index("responder")
    assert late_shift.loc["alice", "out_of_hours_share"] == pytest.approx(2 / 3)


def test_responder_activity_counts_a_padded_name_as_the_person_the_metrics_count():
    metrics, events = load_fixture()
    events["actor"] = events["actor"].replace({"alice": " alice  "})
    load = T.responder_load(metrics, T.responder_activity(metrics, events)).set_index("responder")
    assert load.loc["alice", ["incidents", "events", "out_of_hours_events"]].tolist() == [2, 3, 2]


def test_responder_load_without_events_uses_detection_times():
    metrics, _ = load_fixture()
    load = T.responder_load(metrics).set_index("responder")
    # alice: 08:00 Monday (outside), Saturday 11:00 (outside); bob: 08:00 Monday, Tuesday
    # 20:00 (both outside); carol: Tuesday 20:00.
    assert load.loc["alice", ["events", "out_of_hours_events"]].tolist() == [2, 2]
    # carol's one incident is unresolved: her time is unknown, not 0.
    assert load.loc["carol", "incidents"] == 1 and load.loc["carol", "hours_measured"] == 0
    assert math.isnan(load.loc["carol", "hours"])
    weekend_shift = T.responder_load(metrics, T.responder_activity(metrics, working_hours=(0, 24), workdays=(5,)))
    share = weekend_shift.set_index("responder")["out_of_hours_share"]
    assert share["alice"] == 0.5 and share["bob"] == 1.0


# --- sentences ------------------------------------------------------------------------------------
def test_human_duration_and_labels():
    assert T.human_duration(45) == "45 s"
    assert T.human_duration(2520) == "42 min"
    assert T.human_duration(270) == "4 min 30 s"
    assert T.human_duration(12600) == "3 h 30 min"
    assert T.human_duration(3 * 86400) == "3 d"
    assert T.human_duration(float("nan")) == "—"
    assert T.metric_label("time_to_first_update") == "Time to first update"


def sentence_metrics() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    rows = []
    # SEV2, time to mitigate: the same distribution both quarters (30 each).
    for quarter_start in ("2024-01-01", "2024-04-01"):
        start = pd.Timestamp(quarter_start, tz=UTC)
        for i, value in enumerate(rng.lognormal(math.log(2700), 0.8, 30)):
            rows.append({"severity": "SEV2", "detected_at": start + pd.Timedelta(days=2 * i),
                         "time_to_mitigate": float(value)})
    # SEV1: 20 per quarter, mitigation five times faster in the second.
    for quarter_start, scale in (("2024-01-01", 3600.0), ("2024-04-01", 720.0)):
        start = pd.Timestamp(quarter_start, tz=UTC)
        for i, value in enumerate(rng.lognormal(0, 0.5, 20) * scale):
            rows.append({"severity": "SEV1", "detected_at": start + pd.Timedelta(days=3 * i),
                         "time_to_mitigate": float(value)})
    # SEV4: one incident only, in the second quarter.
    rows.append({"severity": "SEV4", "detected_at": "2024-05-01T00:00:00Z",
                 "time_to_mitigate": 60.0})
    return metrics_frame(rows)


def test_summary_sentences_text():
    metrics = sentence_metrics()
    sentences = T.summary_sentences(metrics, (pd.Period("2024Q1"), pd.Period("2024Q2")),
                                    metrics_list=["time_to_mitigate"], seed=0, n_boot=1000)
    assert len(sentences) == 4
    # 50 incidents in 91 days before (3.8 a week), 51 in 91 days after.
    assert sentences[0] == ("Incidents: 51 (3.9 a week) against 50 (3.8 a week) before: "
                            "not distinguishable from noise at these volumes.")
    sev1, sev2, sev4 = sentences[1:]
    assert sev4 == ("Time to mitigate for SEV4: too few incidents to compare (1 of 1 measured, "
                    "0 of 0 before).")
    duration = r"\d+ (?:d|h|min|s)(?: \d+ (?:h|min|s))?"
    span = rf"{duration} – {duration}"
    assert re.fullmatch(rf"Time to mitigate for SEV1 \(20 of 20 measured, 20 of 20 before\): "
                        rf"median {duration} \(95% CI {span}\)"
                        rf" against {duration} \({span}\) before: improved, "
                        r"\d+% lower \(p (=|<) [\d.e-]+\)\.", sev1), sev1
    assert re.fullmatch(rf"Time to mitigate for SEV2 \(30 of 30 measured, 30 of 30 before\): "
                        rf"median {duration} \(95% CI {span}\) against "
                        rf"{duration} \({span}\) before: not distinguishable from noise at these "
                        r"volumes; \d+ incidents per period would be needed to see a 25% "
                        r"reduction\.", sev2), sev2
    # The numbers are those of the comparison, in the one duration format.
    before = metrics[(metrics.severity == "SEV2") & (metrics.detected_at < "2024-04-01")]
    after = metrics[(metrics.severity == "SEV2") & (metrics.detected_at >= "2024-04-01")]
    median_after = np.median(after["time_to_mitigate"])
    assert f"median {T.human_duration(median_after)} " in sev2
    spread = S.log_spread(before["time_to_mitigate"], after["time_to_mitigate"])
    assert f"; {S.needed_per_period(spread, 0.75)} incidents per period" in sev2


def test_summary_sentences_are_seeded_and_accept_ranges():
    metrics = sentence_metrics()
    compare = (("2024-01-01", "2024-04-01"), ("2024-04-01", "2024-07-01"))
    first = T.summary_sentences(metrics, compare, ["time_to_mitigate"], by=None, seed=4,
                                n_boot=500)
    assert first == T.summary_sentences(metrics, compare, ["time_to_mitigate"], by=None,
                                        seed=4, n_boot=500)
    assert len(first) == 2 and first[1].startswith("Time to mitigate (51 of 51 measured, 50 of 50 before): median ")
    by_name = T.summary_sentences(metrics, ("2024Q1", "2024Q2"), ["time_to_mitigate"],
                                  by=None, seed=4, n_boot=500)
    assert by_name == first
    with pytest.raises(ValueError, match="ends before it starts"):
        T.summary_sentences(metrics, (("2024-04-01", "2024-01-01"), compare[1]))


def test_last_two_periods():
    assert T.last_two_periods("2025-02-10") == (pd.Period("2024Q3"), pd.Period("2024Q4"))
    assert T.last_two_periods("2025-02-10", "M") == (pd.Period("2024-12"), pd.Period("2025-01"))


def test_action_item_done_without_closing_time_counts_as_closed():
    items, incidents = action_items()
    undated = pd.DataFrame({
        "id": ["a9"], "incident_id": ["I1"], "status": ["done"],
        "created_at": pd.to_datetime(["2024-02-10"], utc=True).as_unit("us"),
        "closed_at": pd.Series([pd.NaT], dtype="datetime64[us, UTC]"), "due": [None],
        "title": ["fix a9"], "owner": ["sam"], "priority": ["P2"]})
    result = T.action_item_follow_through(pd.concat([items.drop(index=7), undated]),
                                          incidents, "2024-06-30")
    assert result.per_period["opened"].tolist() == [2, 2, 1, 0, 1, 1]
    assert result.per_period["open_at_end"].tolist() == [1, 2, 2, 2, 2, 2]
    table = result.still_open.set_index(["severity", "after_days"])
    assert table.loc[("SEV1", 90), ["eligible", "still_open"]].tolist() == [4, 1]


def test_min_detectable_ratio_follows_the_statistic_compared():
    rng = np.random.default_rng(12)
    before, after = rng.lognormal(7, 1, 40), rng.lognormal(7, 1, 50)
    # φ(1.2816)² / (0.9 × 0.1) = 0.17550² / 0.09
    assert S.EFFICIENCY_P90 == pytest.approx(0.17550 ** 2 / 0.09, rel=1e-3)
    for stat, efficiency in (("median", 2 / math.pi), ("p90", S.EFFICIENCY_P90),
                             ("mean", 3 / math.pi)):
        result = S.compare_periods(before, after, stat, n_boot=200, seed=0)
        assert result.stat == stat
        assert result.spread == pytest.approx(S.log_spread(before, after))
        assert result.min_detectable_ratio == pytest.approx(
            S.min_detectable_ratio(result.spread, 40, 50, efficiency=efficiency))


def test_repeats_after_fix_only_when_every_earlier_item_was_done_before():
    from seen_before import ACTION_ITEMS, NEW, SAME_A, SAME_B, frames
    incidents, events = frames()
    items = pd.DataFrame(ACTION_ITEMS, columns=["incident_id", "title", "owner", "status", "due",
                                                "created_at", "closed_at"])
    for column in ("created_at", "closed_at"):
        items[column] = pd.to_datetime(items[column], utc=True)
    repeats = T.repeats_after_fix(incidents, items, terms=event_terms(events))
    # B repeats A after both of A's items were done (the last on 2024-02-10); NEW repeats B,
    # whose item is still open: not a fix that did not hold.
    assert repeats[["earlier", "later"]].values.tolist() == [[SAME_A, SAME_B]]
    row = repeats.iloc[0]
    assert row["gap_days"] == 65.2          # 2024-01-15 10:00 → 2024-03-20 14:00
    assert row["last_fix_closed_at"] == pd.Timestamp("2024-02-10T09:00:00Z")
    assert row["days_after_fix"] == 39.2
    assert row["fixes"] == ["Add retries to the card processor client", "Alert on processor timeouts"]
    assert "PaymentsHighErrorRate" in row["why"]
    assert NEW not in set(repeats["later"])
    per_period = T.repeats_after_fix_per_period(repeats, incidents, freq="Q")
    assert per_period[pd.Period("2024Q1")] == 1 and per_period.sum() == 1
    # Had A's last item been closed after B began, nothing would be listed.
    late = items.copy()
    late.loc[late["title"] == "Alert on processor timeouts", "closed_at"] = pd.Timestamp(
        "2024-03-25T00:00:00Z")
    assert T.repeats_after_fix(incidents, late, terms=event_terms(events)).empty


@pytest.mark.parametrize("n", [3000, 70_000])  # 16-bit indices (radix-sorted), then 32-bit ones
def test_resampled_quantiles_equal_the_quantiles_of_the_same_draws(n):
    values = np.sort(np.random.default_rng(5).lognormal(6, 1.5, n))
    out = S.resample(values, ["median", "p90", "mean"], 8, np.random.default_rng(11))
    idx = np.random.default_rng(11).integers(0, n, size=(8, n), dtype=S.index_dtype(n))
    drawn = values[idx]
    assert S.index_dtype(n) == (np.uint16 if n <= 65536 else np.int32)
    assert out[:, 0] == pytest.approx(np.quantile(drawn, 0.5, axis=1))
    assert out[:, 1] == pytest.approx(np.quantile(drawn, 0.9, axis=1))
    assert out[:, 2] == pytest.approx(drawn.mean(axis=1))
