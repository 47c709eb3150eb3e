"""The trend report on histories shaped like the real ones: every section renders, without a
Python warning, without nan/NaT/None as text, and says what is missing when data is absent;
the compared periods are anchored to the data."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from review_kit.analysis import trends as tr
from review_kit.notebook.trends import TrendsView
from review_kit.store import Store
from review_kit.store.ingest import ingest_paths
from histories import bare_export, status_page_history, write_json

# A history whose newest incident is a year before "today" (the report's as-of time).
TODAY = pd.Timestamp("2026-12-03T06:00:00Z")
YEAR_AGO = pd.Timestamp("2025-12-03T06:00:00Z")
CELLS = [("summary", ()), ("counts_chart", ()), ("rate_comparison", ()), ("duration_table", ()),
         ("duration_distributions", ("time_to_resolve",)),
         ("duration_boxes", ("time_to_acknowledge",)), ("median_over_time", ("time_to_mitigate",)),
         ("control_chart", ("time_to_resolve",)), ("action_items_chart", ()),
         ("action_items_open_share", ()), ("overdue", ()), ("communication", ()),
         ("responder_load", ())]
VISIBLE_NOTHING = re.compile(r"\b(nan|NaN|NaT|None)\b")


def _store(tmp_path: Path, name: str, files: list[Path]) -> Store:
    store = Store.open(tmp_path / f"{name}.db")
    ingest_paths(store, "auto", files, quiet=True)
    return store


@pytest.fixture
def page(tmp_path: Path) -> Store:
    """40 status-page incidents, most posted after the fact, the newest a year ago."""
    path = write_json(tmp_path / "incidents.json", status_page_history(YEAR_AGO, n=40))
    store = _store(tmp_path, "page", [path])
    yield store
    store.close()


@pytest.fixture
def bare(tmp_path: Path) -> Store:
    """An export with no detection events, no updates and no action items."""
    store = _store(tmp_path, "bare", list(bare_export(tmp_path, YEAR_AGO, n=12)))
    yield store
    store.close()


@pytest.fixture
def single(tmp_path: Path) -> Store:
    store = _store(tmp_path, "single", list(bare_export(tmp_path, YEAR_AGO, n=1)))
    yield store
    store.close()


def shown(output) -> str:
    """What a cell puts on the page, as text."""
    from IPython.display import Image
    if isinstance(output, Image):  # a chart: drawn and saved, described by its alt text
        assert output.data[:8] == b"\x89PNG\r\n\x1a\n" and len(output.data) > 1000
        return str(getattr(output, "alt", "") or "")
    if hasattr(output, "data"):  # IPython HTML
        return str(output.data)
    if isinstance(output, pd.DataFrame):
        return output.to_html()
    if hasattr(output, "savefig"):
        texts = [t.get_text() for ax in output.axes for t in
                 [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(),
                  *ax.get_yticklabels()]]
        legends = [t.get_text() for ax in output.axes if ax.get_legend()
                   for t in ax.get_legend().get_texts()]
        # A chart drawn empty is no chart: every figure must plot something.
        assert any(ax.lines or ax.patches or ax.collections for ax in output.axes)
        return " ".join(texts + legends)
    raise AssertionError(f"unexpected output {type(output)}")


def render(store: Store, tmp_path: Path) -> dict[str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        view = TrendsView(store, output_dir=tmp_path / "out", config={}, n_boot=200, asof=TODAY)
        return {name: shown(getattr(view, name)(*args)) for name, args in CELLS}


@pytest.mark.parametrize("history", ["page", "bare", "single"])
def test_every_section_renders_without_warning_or_nan(history, request, tmp_path) -> None:
    pages = render(request.getfixturevalue(history), tmp_path)
    for name, text in pages.items():
        assert not VISIBLE_NOTHING.search(text), (name, text[:300])


def test_a_year_old_history_compares_its_own_last_two_quarters(page, tmp_path) -> None:
    view = TrendsView(page, output_dir=tmp_path / "out", config={}, n_boot=200, asof=TODAY)
    assert (view.compared.before, view.compared.after) == (pd.Period("2025Q3"), pd.Period("2025Q4"))
    assert not view.compared.partial
    from bs4 import BeautifulSoup

    def text(output) -> str:
        return " ".join(BeautifulSoup(output.data, "html.parser").get_text(" | ").split())

    summary = text(view.summary())
    assert ("comparing Q4 2025 (2025-10-01 to 2025-12-31) with Q3 2025 (2025-07-01 to "
            "2025-09-30)") in summary
    # Incidents every 3 days back from 2025-12-03: 18 in 2025Q3, 22 in 2025Q4; of those the
    # ones told live (every fourth) have a time to resolve: 4 and 6.
    assert "Incidents | 18 | 22 |" in summary
    assert "Time to resolve (median) | 50 min | 50 min |" in summary
    assert "| 4 of 18; 6 of 22 |" in summary
    # Only the 10 incidents told live have a time to resolve (50 min each).
    assert "Time to resolve | all | 10 of 40 | 50 min" in text(view.duration_table())


def test_a_running_period_is_compared_only_when_nothing_else_holds_data() -> None:
    times = pd.Series(pd.to_datetime(["2026-10-05T00:00:00Z", "2026-11-01T00:00:00Z"], utc=True))
    compared = tr.compared_periods(times, TODAY, "Q")
    assert (compared.before, compared.after, compared.partial) == (
        pd.Period("2026Q3"), pd.Period("2026Q4"), True)
    assert compared.labels() == ("Q3 2026 (2026-07-01 to 2026-09-30)",
                                 "Q4 2026 (2026-10-01 to 2026-12-03, partial)")
    # Once a complete quarter holds data, it is the one compared.
    times = pd.concat([times, pd.Series(pd.to_datetime(["2026-08-01T00:00:00Z"], utc=True))])
    compared = tr.compared_periods(times, TODAY, "Q")
    assert (compared.before, compared.after, compared.partial) == (
        pd.Period("2026Q2"), pd.Period("2026Q3"), False)


def test_sections_without_data_say_what_is_missing_and_how_to_get_it(bare, tmp_path) -> None:
    pages = render(bare, tmp_path)
    assert "No communication updates: ingest the status page" in pages["communication"]
    assert "No action items recorded" in pages["action_items_chart"]
    # How to record them is said once; the sections after it say only what they lack.
    assert "No action items recorded" not in pages["overdue"]
    assert "Overdue action items: none recorded." in pages["overdue"]
    view = TrendsView(bare, output_dir=tmp_path / "out", config={}, n_boot=200, asof=TODAY)
    # No alert or impact start anywhere: time to detect cannot be measured.
    assert tr.missing_duration(view.metrics, "time_to_detect") == (
        "Time to detect: measured for 0 of 12 incidents; none has an impact start (an "
        "impact_started event, alerts, or Impact started set by hand in the retrospective) "
        "apart from its detected time.")
    assert view.duration_distributions("time_to_detect").data.startswith(
        "<p class='rk-missing'>Time to detect: measured for 0 of 12 incidents")


def test_one_incident_says_a_comparison_needs_two(single, tmp_path) -> None:
    pages = render(single, tmp_path)
    assert "comparing periods needs at least two" in pages["rate_comparison"]
    assert "this chart needs at least 3" in pages["control_chart"]


@pytest.mark.parametrize("history", ["page", "bare"])
def test_the_trend_report_renders_whole(history, request, tmp_path) -> None:
    """`review-kit trends` end to end: every cell runs, no warning or nan reaches the page."""
    from bs4 import BeautifulSoup

    from review_kit.cli import main
    store = request.getfixturevalue(history)
    assert main(["--store", str(store.url).removeprefix("sqlite:///"), "trends", "--out",
                 str(tmp_path / "report"), "--quiet"]) == 0
    page = (tmp_path / "report" / "trends.html").read_text()
    soup = BeautifulSoup(page, "html.parser")
    for hidden in soup(["script", "style"]):
        hidden.decompose()
    text = soup.get_text(" ")
    assert not VISIBLE_NOTHING.search(text), VISIBLE_NOTHING.search(text)
    assert "Warning" not in text and "Traceback" not in text and "Error" not in text
    assert "comparing Q4 2025 (2025-10-01 to 2025-12-31) with Q3 2025 (2025-07-01 to 2025-09-30)" \
        in text


def test_a_long_overdue_list_stays_short_in_the_page_and_whole_in_a_file(bare, tmp_path, monkeypatch):
    import review_kit.notebook.trends as views
    monkeypatch.setattr(views, "OVERDUE_LISTED", 4)
    for i in range(7):
        bare.add_action_item(f"EX-{i % 3}", f"Fix number {i}", due="2025-06-01",
                             created_at="2025-05-01T00:00:00Z")
    view = TrendsView(bare, output_dir=tmp_path / "out", asof=TODAY)
    page = view.overdue(visible=2)._repr_html_()
    assert "7 open action items past their due date" in page
    assert page.count("Fix number") == 4
    assert "2 more overdue items (all 7 in overdue_action_items.csv" in page
    listed = pd.read_csv(tmp_path / "out" / "overdue_action_items.csv")
    assert len(listed) == 7 and set(listed["Action item"]) == {f"Fix number {i}" for i in range(7)}
