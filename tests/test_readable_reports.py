"""Reports people read (issue 15), on the demo store and on a store with missing data: the
headline table's shape and units; no nan/NaT/None, literal "\\n", snake_case header, index
column or double escaping in any report; nothing fetched from the network by either HTML
page; a real alt text on every image; headline figures equal to their tables."""
from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from review_kit import human
from review_kit.analysis import trends as tr
from review_kit.analysis.retrospective import (load_incident, responder_activity,
                                               responder_actions, silences_by_audience)
from review_kit.cli import main
from review_kit.notebook.retrospective import RetrospectiveView
from review_kit.notebook.trends import TrendsView
from review_kit.report.html_export import accessible
from review_kit.report.tables import html_table
from review_kit.report.trend_summary import MAX_ROWS, MAX_SENTENCES, headline_sentences, headline_table
from review_kit.store import Store
from review_kit.store.ingest import ingest_paths

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DURATION = re.compile(r"^(—|\d+ (d|h|min|s)( \d+ (h|min|s))?)$")
SIGNED_DURATION = re.compile(r"^(—|[+−±]\d+ (d|h|min|s)( \d+ (h|min|s))?)$")


class Page(HTMLParser):
    """The parts of a report page the checks read: visible text, headers, tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.headers: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self._skip = 0
        self._in_th = False
        self._th: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "th":
            self._in_th, self._th = True, []

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
        if tag == "th" and self._in_th:
            self._in_th = False
            self.headers.append("".join(self._th).strip())

    def handle_data(self, data):
        if self._skip:
            self.styles.append(data)
            return
        self.text.append(data)
        if self._in_th:
            self._th.append(data)


def read_page(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def check_readable(html: str, where: str) -> None:
    """Every rule of a readable report page."""
    page = read_page(html)
    text = " ".join(page.text)
    for word in ("nan", "NaN", "NaT", "None", "n/a"):
        assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text), (where, word)
    assert "\\n" not in text, where
    assert "&lt;" not in text and "&amp;" not in text, f"{where}: double escaping"
    assert 'class="dataframe"' not in html, f"{where}: a raw pandas table"
    for header in page.headers:
        assert not re.fullmatch(r"[a-z]+(_[a-z]+)+", header), (where, header)
        assert header != "" and not header.isdigit(), (where, "index column")
    for tag, attrs in page.tags:
        remote = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
        if tag == "script":
            assert not remote.match(attrs.get("src") or ""), (where, attrs)
        if tag == "link":
            assert not remote.match(attrs.get("href") or ""), (where, attrs)
        if tag == "img":
            assert not remote.match(attrs.get("src") or ""), (where, attrs)
            alt = attrs.get("alt") or ""
            assert len(alt) > 25 and "No description" not in alt, (where, alt)
    css = " ".join(page.styles)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", css), where
    assert "@import" not in css, where


# --- stores -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def missing_store(tmp_path_factory) -> Path:
    """Incidents with no acknowledgement, no update, no resolution, no team; action items
    without owner or due date; a chat message over two lines with markup in it."""
    folder = tmp_path_factory.mktemp("missing")
    path = folder / "review.db"
    store = Store.open(path)
    ingest_paths(store, "csv", [FIXTURES / "csv" / "incidents.csv", FIXTURES / "csv" / "events.csv"],
                 quiet=True)
    ingest_paths(store, "csv", [FIXTURES / "widgets" / "events.csv"], quiet=True)
    extra = folder / "extra.csv"
    extra.write_text('incident_id,at,kind,actor,summary\n'
                     'INC-42,2024-06-11T14:30:00Z,message,Bob Okafor,"rolled back v2.3\n'
                     'errors < 1% & falling"\n', encoding="utf-8")
    ingest_paths(store, "csv", [extra], quiet=True)
    store.add_action_item("INC-42", "Canary every config push")
    store.add_action_item("INC-42", "Alert on card declines", owner="Bo Chen", due="2024-07-01")
    store.close()
    return path


@pytest.fixture(scope="module", params=["demo", "missing"])
def store_path(request, sample_store, missing_store) -> Path:
    return sample_store if request.param == "demo" else missing_store


@pytest.fixture(scope="module")
def reports(store_path: Path, tmp_path_factory) -> dict[str, Path]:
    """Both reports run headless through the CLI, as a scheduled run would."""
    out = tmp_path_factory.mktemp("reports")
    copy = out / "review.db"
    shutil.copy(store_path, copy)
    store = Store.open(copy, create=False)
    incidents = store.incidents()
    store.close()
    incident_id = "INC-42" if "INC-42" in set(incidents["incident_id"]) else \
        str(incidents.sort_values("created_at").iloc[-1]["incident_id"])
    assert main(["--store", str(copy), "retro", incident_id, "--out", str(out), "--quiet"]) == 0
    assert main(["--store", str(copy), "trends", "--out", str(out / "trends"), "--quiet"]) == 0
    return {"retro": out / incident_id / "retrospective.html",
            "postmortem": out / incident_id / "postmortem.md",
            "trends": out / "trends" / "trends.html", "store": copy}


@pytest.mark.slow
def test_both_reports_read_as_written_for_people(reports) -> None:
    for name in ("retro", "trends"):
        check_readable(reports[name].read_text(encoding="utf-8"), f"{name} on {reports['store']}")
    postmortem = reports["postmortem"].read_text(encoding="utf-8")
    for word in ("nan", "NaT", "None"):
        assert not re.search(rf"(?<![\w-]){word}(?![\w-])", postmortem), word
    assert "\\n" not in postmortem.replace("\\\\", "")


@pytest.mark.slow
def test_the_trend_report_opens_with_the_headline_table(reports) -> None:
    html = reports["trends"].read_text(encoding="utf-8")
    page = read_page(html)
    # The table is the first one on the page, with its seven columns.
    assert page.headers[:7] == ["Figure", "Previous period", "This period", "Change",
                                "95% interval", "Verdict", "Measured (previous; this)"]


def _view(path: Path, tmp_path: Path) -> TrendsView:
    return TrendsView.open(str(path), output_dir=tmp_path, n_boot=200)


@pytest.mark.parametrize("which", ["demo", "missing"])
def test_headline_table_shape_and_units(which, sample_store, missing_store, tmp_path) -> None:
    view = _view(sample_store if which == "demo" else missing_store, tmp_path)
    figures = view.headline()
    assert list(figures["figure"]) == [
        "Incidents", "Time to detect (median)", "Time to acknowledge (median)",
        "Time to mitigate (median)", "Time to resolve (median)", "Communication breach rate",
        "Action items open past due"]
    table = headline_table(figures)
    assert len(table) <= MAX_ROWS and list(table.columns) == [
        "Figure", "Previous period", "This period", "Change", "95% interval", "Verdict",
        "Measured (previous; this)"]
    assert set(table["Verdict"]) <= {"improved", "worse", "not distinguishable", "too few to compare"}
    by_figure = table.set_index("Figure")
    assert re.fullmatch(r"—|\d[\d,]*", by_figure.loc["Incidents", "This period"])
    for figure in figures.loc[figures["unit"] == "duration", "figure"]:
        assert DURATION.match(by_figure.loc[figure, "This period"]), by_figure.loc[figure]
        assert DURATION.match(by_figure.loc[figure, "Previous period"])
        assert SIGNED_DURATION.match(by_figure.loc[figure, "Change"]), by_figure.loc[figure]
    for figure in ("Communication breach rate", "Action items open past due"):
        assert re.fullmatch(r"—|\d+(\.\d)?%", by_figure.loc[figure, "This period"])
        assert re.fullmatch(r"—|[+−±]\d+(\.\d)? points", by_figure.loc[figure, "Change"])
    for value in table.to_numpy().ravel():
        assert not re.search(r"\bnan\b|NaT|None|inf", str(value)), value
    assert 1 <= len(headline_sentences(figures, view.before, view.after)) <= MAX_SENTENCES
    # Unknown is not zero: a figure nothing measured is blank, not 0.
    for _, row in figures.iterrows():
        if row["unit"] == "duration" and row["n_this"] == 0:
            assert by_figure.loc[row["figure"], "This period"] == "—"


def test_headline_figures_equal_their_statistics(sample_store, tmp_path) -> None:
    view = _view(sample_store, tmp_path)
    figures = view.headline().set_index("metric")
    times = tr.incident_times(view._with_created())
    start, end = view.after.start_time.tz_localize("UTC"), (view.after + 1).start_time.tz_localize("UTC")
    inside = (times >= start) & (times < end)
    assert figures.loc["incidents", "this"] == int(inside.sum())
    resolve = pd.to_numeric(view.metrics.loc[inside.to_numpy(), "time_to_resolve"]).dropna()
    assert figures.loc["time_to_resolve", "this"] == pytest.approx(float(np.median(resolve)))
    assert figures.loc["time_to_resolve", "n_this"] == len(resolve)


# --- one computation per figure ------------------------------------------------------------------

def test_audit_headline_and_metrics_table_equal_the_gap_table(missing_store, tmp_path) -> None:
    store = Store.open(missing_store, create=False)
    view = RetrospectiveView(store, "INC-42", tmp_path, interactive=False)
    gaps = view.data.gaps
    assert len(gaps)
    audit = view.communication_audit().data
    metrics_table = view.metrics_table().data
    for audience, rows in gaps.groupby("audience"):
        longest = human.duration(rows["seconds"].max())
        assert f"{audience} {longest}" in audit
        assert f"<td>Longest silence, {audience}</td><td class=\"num\">{longest}</td>" in metrics_table
    breaches = int(gaps["breach"].sum())
    assert f"<b>{breaches}</b> gap" in audit
    assert silences_by_audience(gaps)["breaches"].sum() == breaches
    store.close()


def test_responder_chart_counts_equal_the_coordination_table(sample_store, tmp_path) -> None:
    store = Store.open(sample_store, create=False)
    incident_id = str(store.incidents().sort_values("created_at").iloc[-1]["incident_id"])
    view = RetrospectiveView(store, incident_id, tmp_path, interactive=False)
    table = responder_activity(view.data.timeline)
    assert len(table)
    from review_kit.report.plots.timeline import responder_activity_chart
    actions = view._chart_actions()
    fig = responder_activity_chart(actions, list(dict.fromkeys(actions["actor"])))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    counts = [t.get_text() for t in ax.texts if t.get_text() != "actions"]
    # Rows top to bottom are the table's rows in order; the counts at the right are its actions.
    assert list(reversed(labels)) == list(table["responder"])
    shown = dict(zip(reversed(labels), reversed(counts)))
    assert shown == {r: f"{a:,}" for r, a in zip(table["responder"], table["actions"])}
    # The span of each row is the table's first to last activity.
    html = view.coordination().data
    for _, row in table.iterrows():
        assert human.time(row["first_activity"]) in html
        assert human.duration((row["last_activity"] - row["first_activity"]).total_seconds()) in html
    assert responder_actions(view.data.timeline)["escalation"].isin([0, 1]).all()
    store.close()


# --- the formatters and the table renderer ----------------------------------------------------------

def test_one_duration_formatter_everywhere() -> None:
    from review_kit.report.postmortem import format_duration
    for seconds, text in ((2700, "45 min"), (5280, "1 h 28 min"), (183600, "2 d 3 h"),
                          (None, "—"), (float("nan"), "—")):
        assert human.duration(seconds) == format_duration(seconds) == tr.human_duration(seconds) == text


def test_tables_in_words_with_numbers_right_and_lists_as_text() -> None:
    frame = pd.DataFrame({"time_to_acknowledge": [np.nan, 120.0], "responders": [["Ana", "Bo"], []],
                          "summary": ["line one\nline <two> & more", None],
                          "at": [pd.Timestamp("2024-03-01T10:04:12Z"), pd.NaT]})
    html = html_table(frame, max_rows=1)
    page = read_page(html)
    assert page.headers[:4] == ["Time to acknowledge", "Responders", "Summary", "At"]
    assert "Ana and Bo" in html and "['Ana'" not in html
    assert "line one<br>line &lt;two&gt; &amp; more" in html
    assert "2024-03-01 10:04:12" in html and "<details" in html and "1 more rows" in html
    assert '<td class="num">120</td>' in html
    assert "nan" not in html and "NaT" not in html and "None" not in html


def test_exported_images_keep_their_alt_text() -> None:
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from review_kit.report.html_export import _new_exporter
    nb = new_notebook(cells=[new_code_cell("x", outputs=[new_output(
        "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Image>"},
        metadata={"image/png": {"alt": "Incidents per month, <12> months"}})])])
    html, _ = _new_exporter().from_notebook_node(nb)
    assert 'alt="Incidents per month, &lt;12&gt; months"' in html
    assert not re.search(r"<script[^>]+src=", html)
    assert accessible("<img src='x'>") != "<img src='x'>"


@pytest.mark.parametrize("value, expected", [
    (pd.Period("2024-03", "M"), "Mar 2024"),
    (pd.Period("2024Q1", "Q"), "Q1 2024"),
    (pd.Period("2024-03-05", "W"), "week of 4 Mar 2024"),  # weeks start on Monday
    (pd.Period("2024", "Y"), "2024"),
    (pd.Period("2024-03-05", "D"), "5 Mar 2024"),
    ("2024-03", "Mar 2024"),
    ("2024-01-01/2024-01-07", "week of 1 Jan 2024"),
    ("SEV1", "SEV1"),
    (None, "—"),
])
def test_periods_are_named_as_people_name_them(value, expected) -> None:
    assert human.period(value) == expected
