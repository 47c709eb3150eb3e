"""Chart PNGs keyed by their inputs: shown as they are when the inputs match, drawn again when
anything differs, and never showing what redaction hides."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from review_kit.report.chart_files import chart_key, chart_png, png_key
from review_kit.store import Store
from review_kit.notebook.retrospective import RetrospectiveView
from review_kit.notebook.widgets import save_annotation, save_milestone

EVENTS = pd.DataFrame({
    "at": pd.to_datetime(["2024-06-11T14:02:00Z", "2024-06-11T14:09:00Z"], utc=True),
    "source": ["pagerduty", "slack"], "kind": ["triggered", "message"],
    "actor": [None, "Ana"], "summary": ["Checkout errors", "rolling back"],
})
METRICS = {"incident_id": "INC-7", "title": "Checkout down",
           "detected_at": pd.Timestamp("2024-06-11T14:02:00Z"), "responders": ["Ana"]}


def test_the_key_follows_every_input() -> None:
    key = chart_key("timeline", 110, EVENTS, METRICS)
    assert key == chart_key("timeline", 110, EVENTS.copy(), dict(METRICS))
    changed_cell = EVENTS.copy()
    changed_cell.loc[1, "summary"] = "rolling forward"
    later = {**METRICS, "detected_at": pd.Timestamp("2024-06-11T14:03:00Z")}
    others = [chart_key("responders", 110, EVENTS, METRICS),       # another chart
              chart_key("timeline", 150, EVENTS, METRICS),         # another resolution
              chart_key("timeline", 110, changed_cell, METRICS),   # one text changed
              chart_key("timeline", 110, EVENTS.iloc[:1], METRICS),
              chart_key("timeline", 110, EVENTS, later),           # a milestone moved
              chart_key("timeline", 110, EVENTS.rename(columns={"actor": "who"}), METRICS)]
    assert len({key, *others}) == len(others) + 1


class Drawn:
    """A draw() that counts its calls and gives a real one-line figure."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self):
        from matplotlib.figure import Figure
        self.calls += 1
        fig = Figure(figsize=(2, 1))
        fig.add_subplot().plot([1, 2, 3])
        return fig


def test_a_png_is_drawn_once_per_key(tmp_path: Path) -> None:
    path, draw = tmp_path / "out" / "timeline.png", Drawn()
    assert png_key(path) is None  # no file yet
    assert chart_png(path, "k1", draw, dpi=50) == path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png_key(path) == "k1"
    before = path.stat().st_mtime_ns
    chart_png(path, "k1", draw, dpi=50)
    assert draw.calls == 1 and path.stat().st_mtime_ns == before  # shown as it is
    chart_png(path, "k2", draw, dpi=50)
    assert draw.calls == 2 and png_key(path) == "k2"
    assert not list(path.parent.glob(".*partial"))


@pytest.mark.parametrize("content", [b"", b"not a png at all", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_anything_but_a_keyed_png_has_no_key(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "timeline.png"
    path.write_bytes(content)
    assert png_key(path) is None
    draw = Drawn()
    chart_png(path, "k", draw, dpi=50)
    assert draw.calls == 1 and png_key(path) == "k"


@pytest.fixture
def store(inc7_store: Store) -> Store:
    return inc7_store


def test_a_view_reuses_charts_drawn_by_another_view_of_the_same_data(store: Store,
                                                                      tmp_path: Path) -> None:
    """What the runner relies on: charts drawn in one process are shown by the kernel."""
    out = tmp_path / "out"
    first = RetrospectiveView(store, "INC-7", out, config={}, interactive=False)
    timeline, responders = first.draw_charts()
    stamps = (timeline.stat().st_mtime_ns, responders.stat().st_mtime_ns)
    again = RetrospectiveView(store, "INC-7", out, config={}, interactive=False)
    assert again.draw_charts() == [timeline, responders]
    assert (timeline.stat().st_mtime_ns, responders.stat().st_mtime_ns) == stamps


def test_a_decision_of_the_room_redraws_the_timeline(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    view = RetrospectiveView(store, "INC-7", out, config={}, interactive=False)
    old_key = png_key(view.timeline_png())
    save_milestone(store, "INC-7", "mitigated_at", "2024-06-11T14:30:00Z")
    view.reload()
    assert png_key(view.timeline_png()) != old_key
    # Postmortem prose is not drawn: writing it leaves the chart as it is.
    key = png_key(out / "timeline.png")
    save_annotation(store, "INC-7", "summary", "Checkout was down for 40 minutes")
    view.reload()
    assert png_key(view.timeline_png()) == key


def test_redaction_reaches_the_charts(store: Store, tmp_path: Path) -> None:
    plain = RetrospectiveView(store, "INC-7", tmp_path / "plain", config={}, interactive=False)
    shut = RetrospectiveView(store, "INC-7", tmp_path / "shut", config={}, interactive=False,
                             redact=True)
    plain.data.metrics["title"] = shut.data.metrics["title"] = "call ops@example.com"
    assert shut._chart_metrics()["title"] != plain._chart_metrics()["title"]
    assert "ops@example.com" not in shut._chart_metrics()["title"]
    plain.data.timeline["actor"] = shut.data.timeline["actor"] = "ana@example.com"
    assert not shut._chart_events()["actor"].str.contains("@example.com").any()
    assert png_key(plain.timeline_png()) != png_key(shut.timeline_png())


def test_a_frame_index_is_part_of_the_key() -> None:
    # A trend chart's periods are its frame's index: the same counts in other months differ.
    months = pd.DataFrame({"SEV1": [1, 2]}, index=pd.period_range("2024-01", periods=2, freq="M"))
    later = months.set_axis(pd.period_range("2024-03", periods=2, freq="M"))
    assert chart_key("counts", months) != chart_key("counts", later)
    assert chart_key("counts", months) == chart_key("counts", months.copy())


# --- the trend report's charts (issue 17: drawn ahead while the kernel starts) ----------------
def test_the_charts_drawn_ahead_are_the_notebooks_charts() -> None:
    import json
    from review_kit.notebook.trends import CHART_CELLS
    from review_kit.paths import NOTEBOOKS_DIR
    cells = ["".join(c["source"]) for c in
             json.loads((NOTEBOOKS_DIR / "trends.ipynb").read_text())["cells"]]
    for method, args in CHART_CELLS:
        call = f"trends.{method}({', '.join(repr(a).replace(chr(39), chr(34)) for a in args)})"
        assert call in cells, call


def test_a_trend_chart_drawn_ahead_is_shown_without_drawing(sample_store, tmp_path, monkeypatch):
    from review_kit.notebook import trends as notebook_trends
    from review_kit.notebook.trends import CHART_CELLS, TrendsView
    from review_kit.report.plots import trends as trend_plots

    ahead = TrendsView.open(str(sample_store), output_dir=tmp_path, config={}, n_boot=200)
    ahead.draw_charts()
    drawn = {p.name: png_key(p) for p in tmp_path.glob("*.png")}
    assert len(drawn) == len(CHART_CELLS) and None not in drawn.values()

    def refuse(*args, **kwargs):
        raise AssertionError("drawn again")
    for name in trend_plots.__all__:
        monkeypatch.setattr(trend_plots, name, refuse)
    notebook = TrendsView.open(str(sample_store), output_dir=tmp_path, config={}, n_boot=200)
    for method, args in CHART_CELLS:
        image = getattr(notebook, method)(*args)
        assert image.data[:8] == b"\x89PNG\r\n\x1a\n"
    # Another window of the same store is other data: drawn, not shown from the file.
    middle = ahead.incidents["created_at"].sort_values().iloc[len(ahead.incidents) // 2]
    window = TrendsView.open(str(sample_store), output_dir=tmp_path, config={}, n_boot=200,
                             since=middle.strftime("%Y-%m-%d"))
    assert 0 < len(window.metrics) < len(ahead.metrics)
    assert notebook_trends._plots() is trend_plots
    with pytest.raises(AssertionError, match="drawn again"):
        window.duration_distributions("time_to_resolve")

