"""Tests for review_kit.report.plots.timeline: lanes, milestones, phases, comms, breaches, density."""
from __future__ import annotations

import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import dates as mdates
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch

from review_kit.analysis.metrics import communication_gaps, incident_metrics
from review_kit.model import EVENT_COLUMNS, parse_timestamps
from review_kit.report.plots.timeline import (COMMS_LANE, kind_group, responder_activity_chart,
                                       save_figure, timeline_chart)
from frames import literal_events, utc

matplotlib.use("Agg")


def events(*rows: dict) -> pd.DataFrame:
    return literal_events(*rows, incident_id='INC-7', id_format='{source}:{i}')


ts = utc


def num(text: str) -> float:
    return float(mdates.date2num(ts(text).tz_localize(None).to_datetime64()))


# One small incident told by four sources: alert at 10:02 (impact from 10:00 by hand),
# paged 10:03, acknowledged 10:06, chat, two external and one internal update, a deploy,
# mitigated 10:40, resolved 10:50, reopened 10:55, resolved again 11:10.
SMALL = events(
    {"at": "2024-03-01T10:02:00Z", "source": "alertmanager", "kind": "alert_firing",
     "summary": "HighErrorRate"},
    {"at": "2024-03-01T10:03:00Z", "kind": "triggered", "summary": "Checkout 5xx"},
    {"at": "2024-03-01T10:06:00Z", "kind": "acknowledged", "actor": "Ana"},
    {"at": "2024-03-01T10:08:00Z", "source": "slack", "kind": "message", "actor": "Ana",
     "summary": "rolling back"},
    {"at": "2024-03-01T10:09:00Z", "source": "slack", "kind": "message", "actor": "Bo",
     "summary": "ok"},
    {"at": "2024-03-01T10:10:00Z", "source": "statuspage", "kind": "status_update",
     "status": "investigating", "visibility": "external"},
    {"at": "2024-03-01T10:12:00Z", "source": "slack", "kind": "stakeholder_update",
     "actor": "Ana"},
    {"at": "2024-03-01T10:20:00Z", "source": "slack", "kind": "deploy", "summary": "rollback"},
    {"at": "2024-03-01T10:40:00Z", "kind": "mitigated"},
    {"at": "2024-03-01T10:45:00Z", "source": "statuspage", "kind": "status_update",
     "status": "monitoring", "visibility": "external"},
    {"at": "2024-03-01T10:50:00Z", "kind": "resolved"},
    {"at": "2024-03-01T10:55:00Z", "kind": "reopened"},
    {"at": "2024-03-01T11:10:00Z", "kind": "resolved"},
)
METRICS = {
    "incident_id": "INC-7", "title": "Checkout errors", "severity": "SEV2",
    "started_at": ts("2024-03-01T10:00:00Z"), "detected_at": ts("2024-03-01T10:02:00Z"),
    "acknowledged_at": ts("2024-03-01T10:06:00Z"), "mitigated_at": ts("2024-03-01T10:40:00Z"),
    "resolved_at": ts("2024-03-01T11:10:00Z"),
}
GAPS = pd.DataFrame({
    "incident_id": ["INC-7", "INC-7", "INC-7", "OTHER"],
    "audience": ["external", "external", "internal", "external"],
    "gap_start": [ts("2024-03-01T10:10:00Z"), ts("2024-03-01T10:45:00Z"),
                  ts("2024-03-01T10:12:00Z"), ts("2024-03-01T09:00:00Z")],
    "gap_end": [ts("2024-03-01T10:45:00Z"), ts("2024-03-01T11:10:00Z"),
                ts("2024-03-01T11:10:00Z"), ts("2024-03-01T10:00:00Z")],
    "seconds": [2100.0, 1500.0, 3480.0, 3600.0],
    "limit_seconds": [1200.0, 1200.0, 1800.0, 1200.0],
    "breach": [True, True, True, True],
})


def lanes_of(fig: Figure) -> list[str]:
    """Lane labels, top to bottom."""
    ax = fig.axes[0]
    return [t.get_text() for t in ax.get_yticklabels()][::-1]


def by_gid(fig: Figure, prefix: str) -> dict[str, object]:
    ax = fig.axes[0]
    return {a.get_gid(): a for a in ax.get_children()
            if isinstance(a.get_gid(), str) and a.get_gid().startswith(prefix)}


def x_extent(patch) -> tuple[float, float]:
    verts = patch.get_path().vertices
    xs = patch.get_patch_transform().transform(verts)[:, 0]
    return float(xs.min()), float(xs.max())


def marker_points(fig: Figure) -> int:
    return sum(len(c.get_offsets()) for c in fig.axes[0].collections
               if isinstance(c, PathCollection))


# --- lanes and markers -------------------------------------------------------------------------

def test_source_lanes_in_order_of_first_event_with_communication_lane_on_top() -> None:
    fig = timeline_chart(SMALL, METRICS, GAPS)
    assert lanes_of(fig) == [COMMS_LANE, "alertmanager", "pagerduty", "slack", "statuspage"]
    # 13 events, plus the 3 updates repeated on the communication lane.
    assert marker_points(fig) == 16


def test_kind_group_lanes() -> None:
    fig = timeline_chart(SMALL, METRICS, GAPS, lanes="kind_group")
    assert lanes_of(fig) == ["alerts", "paging", "chat", COMMS_LANE, "lifecycle", "changes"]
    assert marker_points(fig) == 13
    groups = by_gid(fig, "events-")
    assert set(groups) == {"events-alerts", "events-paging", "events-chat",
                           "events-lifecycle", "events-changes"}
    assert len(groups["events-lifecycle"].get_offsets()) == 4
    assert len(groups["events-paging"].get_offsets()) == 2


def test_communication_points_on_their_audience_half_of_the_lane() -> None:
    fig = timeline_chart(SMALL, METRICS, None)
    comms = by_gid(fig, "comms-")
    lane_y = len(lanes_of(fig)) - 1  # the top lane
    external = comms["comms-external"].get_offsets()
    internal = comms["comms-internal"].get_offsets()
    assert sorted(external[:, 0]) == pytest.approx([num("2024-03-01T10:10:00Z"),
                                                    num("2024-03-01T10:45:00Z")])
    assert np.allclose(external[:, 1], lane_y + 0.2)
    assert list(internal[:, 0]) == pytest.approx([num("2024-03-01T10:12:00Z")])
    assert np.allclose(internal[:, 1], lane_y - 0.2)


def test_kind_groups() -> None:
    kinds = pd.Series(["message", "status_update", "deploy", "reopened", "mystery", None])
    assert kind_group(kinds).tolist() == ["chat", "comms", "changes", "lifecycle", "other",
                                          "other"]


# --- milestones, phases, reopen, breaches --------------------------------------------------------

def test_milestone_lines_at_the_milestones() -> None:
    fig = timeline_chart(SMALL, METRICS)
    lines = by_gid(fig, "milestone-")
    expected = {"started": "10:00", "detected": "10:02", "acknowledged": "10:06",
                "mitigated": "10:40", "resolved": "11:10"}
    assert set(lines) == {f"milestone-{name}" for name in expected}
    for name, clock in expected.items():
        assert lines[f"milestone-{name}"].get_xdata()[0] == pytest.approx(
            num(f"2024-03-01T{clock}:00Z"))
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert {"started 10:00", "detected 10:02", "acknowledged 10:06", "mitigated 10:40",
            "resolved 11:10"} <= labels


def test_phase_spans_between_milestones() -> None:
    fig = timeline_chart(SMALL, METRICS)
    phases = by_gid(fig, "phase-")
    assert x_extent(phases["phase-detect"]) == pytest.approx(
        (num("2024-03-01T10:00:00Z"), num("2024-03-01T10:02:00Z")))
    assert x_extent(phases["phase-respond"]) == pytest.approx(
        (num("2024-03-01T10:02:00Z"), num("2024-03-01T10:06:00Z")))
    assert x_extent(phases["phase-mitigate"]) == pytest.approx(
        (num("2024-03-01T10:06:00Z"), num("2024-03-01T10:40:00Z")))
    assert x_extent(phases["phase-recover"]) == pytest.approx(
        (num("2024-03-01T10:40:00Z"), num("2024-03-01T11:10:00Z")))


def test_phases_need_both_ends() -> None:
    partial = {**METRICS, "acknowledged_at": pd.NaT, "resolved_at": None}
    fig = timeline_chart(SMALL, partial)
    assert set(by_gid(fig, "phase-")) == {"phase-detect"}
    assert set(by_gid(fig, "milestone-")) == {"milestone-started", "milestone-detected",
                                              "milestone-mitigated"}


def test_reopen_period_is_hatched_from_resolution_to_reopen() -> None:
    fig = timeline_chart(SMALL, METRICS)
    reopen = by_gid(fig, "reopen-")
    assert list(reopen) == ["reopen-0"]
    assert reopen["reopen-0"].get_hatch() == "//"
    assert x_extent(reopen["reopen-0"]) == pytest.approx(
        (num("2024-03-01T10:50:00Z"), num("2024-03-01T10:55:00Z")))


def test_breaches_drawn_on_the_communication_lane_for_this_incident_only() -> None:
    fig = timeline_chart(SMALL, METRICS, GAPS)
    breaches = by_gid(fig, "breach-")
    assert set(breaches) == {"breach-external", "breach-internal"}
    external = breaches["breach-external"].get_paths()
    assert len(external) == 2  # the OTHER incident's breach is not drawn
    xs = sorted((p.vertices[:, 0].min(), p.vertices[:, 0].max()) for p in external)
    assert xs[0] == pytest.approx((num("2024-03-01T10:10:00Z"), num("2024-03-01T10:45:00Z")))
    top = len(lanes_of(fig)) - 1
    ys = external[0].vertices[:, 1]
    assert (ys.min(), ys.max()) == pytest.approx((top, top + 0.45))
    internal = breaches["breach-internal"].get_paths()[0].vertices[:, 1]
    assert (internal.min(), internal.max()) == pytest.approx((top - 0.45, top))


def test_no_breach_drawn_without_gaps_or_without_breaches() -> None:
    assert by_gid(timeline_chart(SMALL, METRICS), "breach-") == {}
    calm = GAPS.assign(breach=False)
    assert by_gid(timeline_chart(SMALL, METRICS, calm), "breach-") == {}


def test_works_with_the_metrics_modules_own_rows() -> None:
    row = incident_metrics(SMALL, "INC-7", {"severity": "SEV1"})
    gaps = communication_gaps(SMALL, pd.DataFrame([row]),
                              pd.DataFrame({"incident_id": ["INC-7"], "severity": ["SEV1"]}))
    fig = timeline_chart(SMALL, row, gaps)
    assert "milestone-detected" in by_gid(fig, "milestone-")
    assert by_gid(fig, "breach-")  # a 35-minute external silence breaks SEV1's 20 minutes
    fig.canvas.draw()


def test_dollar_signs_in_titles_are_text_not_mathtext() -> None:
    fig = timeline_chart(SMALL, {**METRICS, "title": "refunds of $5 ^{ broke $x_"})
    fig.canvas.draw()  # an unescaped $…$ pair would be parsed as (invalid) mathtext
    assert "$5" in fig.axes[0].get_title(loc="left").replace("\\$", "$")


def test_figures_show_themselves_in_jupyter_without_pyplot() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    data, _ = InteractiveShell.instance().display_formatter.format(timeline_chart(SMALL, METRICS))
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"


def test_empty_incident_still_gives_a_figure() -> None:
    fig = timeline_chart(SMALL.iloc[0:0], {})
    assert isinstance(fig, Figure)
    assert "No events to show" in {t.get_text() for t in fig.axes[0].texts}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="lanes"):
        timeline_chart(SMALL, METRICS, lanes="actor")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing column"):
        timeline_chart(SMALL.drop(columns=["source"]), METRICS)


# --- 5,000 events ---------------------------------------------------------------------------

def big_incident(n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    start = ts("2024-03-01T10:00:00Z")
    at = start + pd.to_timedelta(np.sort(rng.integers(0, 3 * 3600, n)), unit="s")
    kinds = rng.choice(["message", "alert_firing", "note", "status_update", "notified"], n,
                       p=[0.7, 0.2, 0.05, 0.01, 0.04])
    source = np.select([kinds == "message", kinds == "alert_firing",
                        kinds == "status_update"], ["slack", "alertmanager", "statuspage"],
                       "pagerduty")
    frame = pd.DataFrame({c: None for c in EVENT_COLUMNS}, index=range(n))
    frame["at"] = pd.Series(at).dt.as_unit("us")
    frame["kind"], frame["source"] = kinds, source
    frame["actor"] = rng.choice(["Ana", "Bo", "Cy", "Di", "Ed"], n)
    frame["event_id"] = [f"e{i}" for i in range(n)]
    frame["seq"] = np.arange(n, dtype="int64")
    return frame


def test_dense_lanes_become_count_strips_and_render_fast() -> None:
    big = big_incident()
    timeline_chart(SMALL, METRICS).canvas.draw()  # warm fonts and caches once
    # Best of two, so a busy CI machine's scheduling does not count as the chart's cost.
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        fig = timeline_chart(big, METRICS, GAPS, max_points_per_lane=400)
        fig.canvas.draw()
        timings.append(time.perf_counter() - started)
    assert min(timings) < 1.0, f"5,000-event timeline took {min(timings):.2f} s"

    assert marker_points(fig) < len(big)
    strips = [a for a in fig.axes[0].patches if isinstance(a, StepPatch)]
    assert strips and all(s.get_gid().startswith("density-") for s in strips)
    dense_lanes = {s.get_gid().split("-")[1] for s in strips}
    assert {"slack", "alertmanager"} <= dense_lanes
    # The slack lane holds only chat: its strip's heights are the messages per bin, scaled.
    chat = next(s for s in strips if s.get_gid() == "density-slack-chat")
    values, edges, baseline = chat.get_data()
    assert edges[1] - edges[0] == pytest.approx(120 / 86400)  # 2-minute bins over 3 hours
    messages = big.loc[big["kind"] == "message", "at"]
    expected, _ = np.histogram(mdates.date2num(messages.dt.tz_localize(None).to_numpy()),
                               bins=edges)
    assert expected.sum() == len(messages)
    heights = values - baseline
    assert heights / heights.max() == pytest.approx(expected / expected.max())
    n_chat = len(messages)
    captions = [t.get_text() for t in fig.axes[0].texts if "counted per" in t.get_text()]
    assert f"{n_chat:,} events, counted per 2 min" in " ".join(captions)


def test_sparse_lanes_keep_markers_next_to_dense_ones() -> None:
    big = big_incident()
    fig = timeline_chart(big, METRICS, max_points_per_lane=400)
    status_updates = int((big["kind"] == "status_update").sum())
    assert status_updates <= 400
    comms = by_gid(fig, "comms-")
    assert len(comms["comms-external"].get_offsets()) == status_updates


# --- responders -----------------------------------------------------------------------------

def test_responder_activity_rows_and_counts() -> None:
    fig = responder_activity_chart(SMALL, ["Ana", "Bo"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()][::-1] == ["Ana", "Bo"]
    points = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert points == 4  # Ana: ack, message, stakeholder update; Bo: message
    counts = [t.get_text() for t in ax.texts if t.get_text().isdigit()]
    assert counts == ["3", "1"] or sorted(counts) == ["1", "3"]


def test_responder_activity_heat_for_busy_incidents() -> None:
    big = big_incident()
    fig = responder_activity_chart(big, ["Ana", "Bo", "Cy", "Di", "Ed"], max_points=400)
    heat = [c for c in fig.axes[0].collections if c.get_gid() == "actions-heat"]
    assert len(heat) == 1
    assert heat[0].get_array().sum() == len(big)


def test_responder_activity_without_responders() -> None:
    fig = responder_activity_chart(SMALL, [])
    assert "No responder activity" in {t.get_text() for t in fig.axes[0].texts}


# --- files ----------------------------------------------------------------------------------

def test_save_figure_writes_png_and_svg(tmp_path: Path) -> None:
    fig = timeline_chart(SMALL, METRICS, GAPS)
    written = save_figure(fig, tmp_path / "out" / "INC-7.timeline")
    assert written == [tmp_path / "out" / "INC-7.timeline.png",
                       tmp_path / "out" / "INC-7.timeline.svg"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = written[1].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert 'id="milestone-detected"' in svg and 'id="breach-external"' in svg
    # A re-run writes the same bytes: no dates or random ids in the files.
    again = save_figure(timeline_chart(SMALL, METRICS, GAPS), tmp_path / "again")
    assert again[1].read_text() == svg
    assert again[0].read_bytes() == written[0].read_bytes()


def test_save_figure_rejects_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="docx"):
        save_figure(timeline_chart(SMALL, METRICS), tmp_path / "t", formats=("docx",))


# --- layout ---------------------------------------------------------------------------------

def _outside(fig: Figure) -> list[str]:
    """Texts of the figure (tick labels, titles, legend, annotations) reaching past its edges."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox.padded(1)
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    return [t.get_text() for t in texts
            if not page.contains(*t.get_window_extent(renderer).p0)
            or not page.contains(*t.get_window_extent(renderer).p1)]


def test_long_lane_and_responder_names_and_every_legend_entry_fit_on_the_page() -> None:
    long_names = SMALL.assign(
        source=SMALL["source"].replace({"slack": "slack:#inc-2024-03-01-checkout-war-room"}),
        actor=SMALL["actor"].replace({"Ana": "Ana Maria Lima-Gonçalves (platform on-call)"}))
    gaps = communication_gaps(long_names, pd.DataFrame([METRICS]),
                              pd.DataFrame({"incident_id": ["INC-7"], "severity": ["SEV1"]}))
    assert _outside(timeline_chart(long_names, METRICS, gaps)) == []
    people = ["Ana Maria Lima-Gonçalves (platform on-call)", "Bo"]
    assert _outside(responder_activity_chart(long_names, people)) == []
    assert _outside(responder_activity_chart(big_incident(), ["Ana", "Bo", "Cy", "Di", "Ed"],
                                             max_points=400)) == []


def test_saving_draws_the_chart_once(tmp_path: Path, monkeypatch) -> None:
    """No layout engine: savefig renders once instead of a layout pass plus a render."""
    fig = timeline_chart(SMALL, METRICS, GAPS)
    assert fig.get_layout_engine() is None
    draws = []
    original = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: (draws.append(1), original(self, renderer)))
    save_figure(fig, tmp_path / "timeline", formats=("png",))
    assert len(draws) == 1


def _grey(colour: str) -> float:
    """Luminance (0 black … 1 white) of a colour, as a greyscale print shows it."""
    red, green, blue = matplotlib.colors.to_rgb(colour)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_kind_groups_differ_in_shape_as_well_as_colour() -> None:
    """In greyscale or to a colour-blind reader two groups may look alike in colour: every
    group has its own marker shape, in the chart and in its legend."""
    from review_kit.report.plots.timeline import KIND_GROUP_COLOURS, KIND_GROUP_MARKERS
    assert set(KIND_GROUP_MARKERS) == set(KIND_GROUP_COLOURS)
    assert len(set(KIND_GROUP_MARKERS.values())) == len(KIND_GROUP_MARKERS)
    assert not {"^", "v"} & set(KIND_GROUP_MARKERS.values())  # the audiences' update markers
    fig = timeline_chart(SMALL, METRICS, GAPS, lanes="kind_group")
    shapes = {gid: tuple(map(tuple, np.round(c.get_paths()[0].vertices, 3)))
              for gid, c in by_gid(fig, "events-").items()}
    assert len(set(shapes.values())) == len(shapes) == 5
    legend = {h.get_label(): h.get_marker() for legend in fig.legends for h in legend.legend_handles
              if h.get_label() in KIND_GROUP_MARKERS}
    assert set(legend) == {"alerts", "paging", "chat", "lifecycle", "changes"}
    assert legend == {g: KIND_GROUP_MARKERS[g] for g in legend}
    # The marks are solid enough to read on white paper: no group paler than 75% grey.
    assert max(_grey(c) for c in KIND_GROUP_COLOURS.values()) < 0.75


def test_responder_actions_use_their_groups_marker() -> None:
    from review_kit.report.plots.timeline import KIND_GROUP_MARKERS
    fig = responder_activity_chart(SMALL, ["Ana", "Bo"])
    drawn = by_gid(fig, "actions-")
    assert drawn, "the responder chart draws its actions"
    for gid, collection in drawn.items():
        group = gid.removeprefix("actions-")
        expected = matplotlib.markers.MarkerStyle(KIND_GROUP_MARKERS[group]).get_path()
        expected = expected.transformed(matplotlib.markers.MarkerStyle(KIND_GROUP_MARKERS[group])
                                        .get_transform())
        assert np.allclose(collection.get_paths()[0].vertices, expected.vertices)
