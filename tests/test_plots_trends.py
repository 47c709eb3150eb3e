"""The trend figures: each returns a Figure whose artists show what the frame says."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from review_kit.analysis import statistics as S
from review_kit.analysis import trends as T
from review_kit.report.plots import trends as P

matplotlib.use("Agg")


def by_gid(fig: Figure, gid: str) -> list:
    return [a for a in fig.findobj() if a.get_gid() == gid]


@pytest.fixture
def metrics() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 60
    detected = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 180, n)), unit="D")
    frame = pd.DataFrame({
        "incident_id": [f"INC-{i}" for i in range(n)],
        "severity": np.array(["SEV1", "SEV2", "SEV3"])[np.arange(n) % 3],
        "detected_at": pd.Series(detected).dt.as_unit("us"),
        "time_to_mitigate": rng.lognormal(7, 1, n),
        "time_to_first_update": rng.lognormal(6, 0.5, n),
        "cadence_breaches": rng.integers(0, 3, n),
    })
    frame.loc[5, "time_to_mitigate"] = np.nan
    frame.loc[7, "time_to_mitigate"] = 0.0  # no place on a log axis
    return frame


def test_counts_chart_stacks_severities(metrics):
    counts = T.incident_counts(metrics, "M")
    fig = P.counts_chart(counts)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.containers) == 3  # one bar container per severity
    sev1 = [p.get_height() for p in by_gid(fig, "counts-SEV1")]
    sev2_bottoms = [p.get_y() for p in by_gid(fig, "counts-SEV2")]
    assert sev1 == counts["SEV1"].tolist()
    assert sev2_bottoms == counts["SEV1"].tolist()  # SEV2 sits on SEV1
    # Periods named as people say them ("Mar 2024"), not "2024-03".
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{p.start_time:%b %Y}" for p in counts.index]


def test_ecdf_chart_one_curve_per_severity_on_a_log_axis(metrics):
    fig = P.ecdf_chart(metrics, "time_to_mitigate")
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and ax.get_xscale() == "log"
    curves = [line for line in ax.get_lines() if (line.get_gid() or "").startswith("ecdf-")]
    assert [c.get_gid() for c in curves] == ["ecdf-SEV1", "ecdf-SEV2", "ecdf-SEV3"]
    sev1 = metrics.loc[metrics.severity == "SEV1", "time_to_mitigate"].dropna()
    x, y = curves[0].get_data()
    assert np.array_equal(x, np.sort(sev1.to_numpy()))
    assert y[-1] == 1.0 and y[0] == pytest.approx(1 / len(sev1))
    assert curves[0].get_label() == f"SEV1 (n={len(sev1)})"
    labels = {t.get_text() for t in ax.get_xticklabels()}
    assert "1 h" in labels or "10 min" in labels  # durations as people say them


def test_box_chart_log_axis_and_counts(metrics):
    fig = P.box_chart(metrics, "time_to_mitigate")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert len(by_gid(fig, "box-SEV1")) == 1 and len(by_gid(fig, "box-SEV3")) == 1
    positive = metrics[metrics.time_to_mitigate > 0]
    expected = [f"{s}\nn={(positive.severity == s).sum()}" for s in ("SEV1", "SEV2", "SEV3")]
    assert [t.get_text() for t in ax.get_xticklabels()] == expected
    # each box's median line sits at its group's median
    sev2_median = positive.loc[positive.severity == "SEV2", "time_to_mitigate"].median()
    assert by_gid(fig, "box-median-SEV2")[0].get_ydata()[0] == pytest.approx(sev2_median)


def test_median_chart_draws_line_and_interval_per_group(metrics):
    over_time = T.median_over_time(metrics, "time_to_mitigate", "M", by="severity", n_boot=200)
    fig = P.median_chart(over_time, "time_to_mitigate")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lines = [line for line in ax.get_lines() if (line.get_gid() or "").startswith("median-")]
    assert len(lines) == 3
    sev3 = over_time[over_time.group == "SEV3"]
    _, y = by_gid(fig, "median-SEV3")[0].get_data()
    assert np.allclose(y, sev3["median"].to_numpy(), equal_nan=True)
    assert len(by_gid(fig, "median-ci-SEV3")) == 1
    assert "95% interval" in ax.get_title()


def test_xmr_chart_marks_the_points_outside_the_limits():
    values = np.exp([4.0, 4.2, 3.9, 4.1, 4.0, 4.1, 9.0, 4.0, 3.8, 4.2])
    chart = S.xmr(values, baseline=6)
    assert chart["out_of_control"].tolist() == [False] * 6 + [True] + [False] * 3
    chart.insert(0, "incident_id", [f"INC-{i}" for i in range(10)])
    fig = P.xmr_chart(chart, "time_to_mitigate")
    assert len(fig.axes) == 2  # individuals and moving range
    top = fig.axes[0]
    assert top.get_yscale() == "log"
    marks = by_gid(fig, "xmr-out-of-control")[0]
    assert marks.get_offsets().tolist() == [[6.0, pytest.approx(math.exp(9.0))]]
    assert [t.get_text() for t in top.texts] == ["INC-6"]
    ucl = by_gid(fig, "xmr-ucl")[0].get_ydata()
    assert np.allclose(ucl, chart["ucl_value"])
    assert len(by_gid(fig, "mr-values")) == 1 and len(by_gid(fig, "mr-limit")) == 1


def test_action_items_chart_bars_and_backlog_line():
    per_period = pd.DataFrame({"opened": [2, 1, 1], "closed": [1, 0, 2],
                               "open_at_end": [1, 2, 1]},
                              index=pd.period_range("2024-01", periods=3, freq="M"))
    fig = P.action_items_chart(per_period)
    assert len(fig.axes) == 2  # bars and the twin axis of the backlog
    assert [p.get_height() for p in by_gid(fig, "items-opened")] == [2, 1, 1]
    assert [p.get_height() for p in by_gid(fig, "items-closed")] == [1, 0, 2]
    assert by_gid(fig, "items-open")[0].get_ydata().tolist() == [1, 2, 1]


def test_communication_chart_breach_rate_per_severity(metrics):
    table = T.communication_trends(metrics, "M")
    fig = P.communication_chart(table)
    assert len(fig.axes) == 2
    breach = [line for line in fig.axes[0].get_lines() if (line.get_gid() or "").startswith("breach-")]
    assert [line.get_gid() for line in breach] == ["breach-SEV1", "breach-SEV2", "breach-SEV3"]
    expected = table[table.group == "SEV2"]["breach_rate"].to_numpy()
    assert np.allclose(by_gid(fig, "breach-SEV2")[0].get_ydata(), expected)
    assert fig.axes[1].get_yscale() == "log"


def test_duration_ticks_read_in_whole_units():
    assert [P.duration_tick(v) for v in (30, 60, 600, 3600, 5400, 86400, 7 * 86400)] == [
        "30 s", "1 min", "10 min", "1 h", "90 min", "1 d", "7 d"]


def test_figures_render_under_agg(metrics, tmp_path):
    fig = P.ecdf_chart(metrics, "time_to_mitigate")
    fig.savefig(tmp_path / "ecdf.png")
    assert (tmp_path / "ecdf.png").stat().st_size > 1000
