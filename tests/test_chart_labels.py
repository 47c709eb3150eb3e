"""Charts a reader can read: with many labels, no two tick labels overlap (measured with
matplotlib's own text extents); the control chart's axis is dates; a partial period is
labelled so; a series without a policy is left out rather than drawn as 0%."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from matplotlib import dates as mdates

from review_kit.analysis import trends as tr
from review_kit.report.plots import trends as plots
from review_kit.report.plots.timeline import timeline_chart

RNG = np.random.default_rng(15)


def overlapping_labels(fig) -> list[tuple[str, str]]:
    """Pairs of visible tick labels (per axis) whose drawn boxes intersect."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text().strip()]
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
            for (a, box_a), (b, box_b) in combinations(boxes, 2):
                if box_a.overlaps(box_b):
                    found.append((a, b))
    return found


def many_incidents(n: int = 600, days: int = 900) -> pd.DataFrame:
    start = pd.Timestamp("2023-01-01T00:00Z")
    detected = start + pd.to_timedelta(np.sort(RNG.uniform(0, days, n)), unit="D")
    return pd.DataFrame({
        "incident_id": [f"INCIDENT-{i:05d}" for i in range(n)],
        "detected_at": detected,
        "time_to_resolve": np.exp(RNG.normal(8, 1.4, n)),
        "severity": RNG.choice(["SEV1", "SEV2", "SEV3"], n),
    })


def test_control_chart_with_hundreds_of_incidents_has_dated_readable_axes() -> None:
    metrics = many_incidents()
    # A few far out, so many incidents get named on the chart.
    metrics.loc[metrics.index[::40], "time_to_resolve"] = 40 * 86400
    fig = plots.xmr_chart(tr.control_chart(metrics, "time_to_resolve"), "time_to_resolve")
    assert overlapping_labels(fig) == []
    bottom = fig.axes[1]
    assert isinstance(bottom.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
    low, high = bottom.get_xlim()
    first, last = metrics["detected_at"].min(), metrics["detected_at"].max()
    # Dates on the axis, and the axis ends with the data (a day's margin at most... 2%).
    span = last - first
    assert first - 0.03 * span <= mdates.num2date(low) <= first
    assert last <= mdates.num2date(high) <= last + 0.03 * span
    # The legend sits outside the data.
    legend = fig.axes[0].get_legend()
    fig.canvas.draw()
    assert legend.get_window_extent().x0 >= fig.axes[0].get_window_extent().x1 - 1


def test_timeline_with_many_lanes_events_and_close_milestones_has_no_overlapping_labels() -> None:
    start = pd.Timestamp("2024-05-21T09:00Z")
    sources = [f"source-with-a-long-name-{i}" for i in range(9)]
    n = 2500
    events = pd.DataFrame({
        "at": start + pd.to_timedelta(np.sort(RNG.uniform(0, 3 * 86400, n)), unit="s"),
        "source": RNG.choice(sources, n),
        "kind": RNG.choice(["message", "alert_firing", "status_update", "acknowledged", "deploy"], n),
    })
    metrics = {"incident_id": "INC-1", "severity": "SEV1", "title": "A long incident",
               "started_at": start, "detected_at": start + pd.Timedelta(minutes=1),
               "acknowledged_at": start + pd.Timedelta(minutes=2),
               "mitigated_at": start + pd.Timedelta(minutes=3),
               "resolved_at": start + pd.Timedelta(days=3)}
    fig = timeline_chart(events, metrics)
    assert overlapping_labels(fig) == []


def test_counts_over_three_years_and_a_partial_month() -> None:
    metrics = many_incidents(days=1100)
    counts = tr.incident_counts(metrics, freq="M", by="severity")
    partial = counts.index.max()
    fig = plots.counts_chart(counts, "Incidents per month", partial=partial)
    assert overlapping_labels(fig) == []
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[-1] == f"{partial.start_time:%b %Y} (partial)"
    hatched = [p for p in fig.axes[0].patches if p.get_hatch()]
    assert hatched and all(p.get_gid().startswith("counts-") for p in hatched)


def test_communication_leaves_out_groups_without_a_policy_and_breaks_across_empty_months() -> None:
    frame = pd.DataFrame({
        "period": pd.PeriodIndex(["2024-01", "2024-03", "2024-01", "2024-03"], freq="M"),
        "group": ["SEV1", "SEV1", "SEV3", "SEV3"], "incidents": [2, 3, 4, 1],
        "with_breach": [1, 0, 0, 0], "breach_rate": [0.5, 0.0, 0.0, 0.0], "with_update": [2, 3, 0, 0],
        "median_time_to_first_update": [600.0, 900.0, np.nan, np.nan]})
    fig = plots.communication_chart(frame, with_policy=["SEV1"])
    top, bottom = fig.axes[0], fig.axes[1]
    assert [line.get_gid() for line in top.get_lines()] == ["breach-SEV1"]
    ys = top.get_lines()[0].get_ydata()
    assert len(ys) == 3 and np.isnan(ys[1])  # February: no incident, no line through it
    assert [line.get_gid() for line in bottom.get_lines()] == ["first-update-SEV1"]


def test_box_medians_are_labelled() -> None:
    metrics = many_incidents(200)
    fig = plots.box_chart(metrics, "time_to_resolve", by="severity")
    ax = fig.axes[0]
    labels = [t for t in ax.texts if (t.get_gid() or "").startswith("box-median-label-")]
    assert len(labels) == 3
    for text in labels:
        group = text.get_gid().rsplit("-", 1)[1]
        median = np.median(metrics.loc[metrics["severity"] == group, "time_to_resolve"])
        assert text.get_text() == tr.human_duration(median)
