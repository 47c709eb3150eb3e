"""Choosing the incident (issue 15): the picker in a live session, one line headless and from
the CLI, a folder per incident, plain papermill showing what was decided, the panel's export."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from review_kit.analysis.retrospective import closest_incident_ids, not_chosen_line
from review_kit.cli import main
from review_kit.notebook.decisions import front_end_possible
from review_kit.notebook.picker import IncidentPicker, incident_choices, matching
from review_kit.notebook.retrospective import RetrospectiveView
from review_kit.notebook.widgets import FacilitatorPanel, save_annotation
from review_kit.paths import NOTEBOOKS_DIR
from review_kit.store import Store

INCIDENTS = pd.DataFrame({
    "incident_id": ["INC-1", "INC-2", "INC-3"],
    "title": ["Checkout errors", "Search slow", None],
    "severity": ["SEV2", "SEV3", None], "service": ["checkout", "search", None],
    "created_at": pd.to_datetime(["2024-03-01T10:00Z", "2024-03-05T10:00Z", "2024-03-03T10:00Z"], utc=True),
})


def test_choices_newest_first_with_title_severity_and_service() -> None:
    choices = incident_choices(INCIDENTS)
    assert list(choices["incident_id"]) == ["INC-2", "INC-3", "INC-1"]
    assert choices["label"].iloc[0] == "INC-2 · SEV3 · search · Search slow · 2024-03-05"
    assert choices["label"].iloc[1] == "INC-3 · no severity · no service ·  · 2024-03-03"
    assert list(matching(choices, "CHECKOUT sev2")["incident_id"]) == ["INC-1"]
    assert matching(choices, "nothing like it").empty


def test_closest_ids_for_a_typo_and_the_newest_for_nothing() -> None:
    assert closest_incident_ids("inc-2", INCIDENTS)[0] == "INC-2"
    assert closest_incident_ids("", INCIDENTS) == ["INC-2", "INC-3", "INC-1"]
    line = not_chosen_line("INC-22", INCIDENTS)
    assert "\n" not in line and line.startswith("No incident 'INC-22' in the store; the closest ids: INC-2")
    assert not_chosen_line("", INCIDENTS) == ("No incident chosen (incident_id is empty); the newest: "
                                              "INC-2, INC-3, INC-1.")


def test_picker_filters_as_you_type_and_opens_the_review_into_waiting_cells(sample_store, tmp_path) -> None:
    view = RetrospectiveView(Store.open(sample_store, create=False), "", tmp_path / "out", config={})
    assert view.data is None and view.picker is None  # outside a kernel: headless
    view.picker = IncidentPicker(view.store.incidents(), view.choose)
    header, table, chart = view.header(), view.metrics_table(), view.timeline_chart()
    newest = incident_choices(view.store.incidents())["incident_id"].iloc[0]
    assert view.picker.list.options[0][1] == newest
    title = view.store.incident(newest)["title"]
    view.picker.search.value = title.split()[0]
    assert all(title.split()[0].lower() in label.lower() for label, _ in view.picker.list.options)
    view.picker.list.value = newest
    view.picker.open_button.click()
    assert view.incident_id == newest
    assert "Time to detect" in table.outputs[0]["data"]["text/html"]
    assert "image/png" in chart.outputs[0]["data"]
    assert title in header.children[1].outputs[0]["data"]["text/html"]
    assert (tmp_path / "out" / "timeline.png").is_file()


def test_headless_without_an_incident_one_line_and_nothing_else(sample_store, tmp_path) -> None:
    store = Store.open(sample_store, create=False)
    for wanted in ("", "PNOTANID"):
        view = RetrospectiveView(store, wanted, tmp_path, config={})
        line = view.header().data
        assert line.count("<p") == 1 and ("closest ids" in line or "the newest" in line)
        assert view.milestones_table() is None and view.postmortem() is None
        assert view.reload() is None
    assert not front_end_possible()


def test_cli_retro_with_an_unknown_id_is_one_line_and_exit_2(sample_store, tmp_path, capsys) -> None:
    store = Store.open(sample_store, create=False)
    real = str(store.incidents()["incident_id"].iloc[0])
    typo = real[:-1] + ("X" if real[-1] != "X" else "Y")
    assert main(["--store", str(sample_store), "retro", typo, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"No incident '{typo}' in the store; the closest ids: {real}" in err
    assert not any(tmp_path.iterdir())


def test_output_dir_defaults_to_a_folder_per_incident(sample_store, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = Store.open(sample_store, create=False)
    first, second = store.incidents()["incident_id"].astype(str).iloc[:2]
    a = RetrospectiveView(store, first, None, config={}, interactive=False)
    b = RetrospectiveView(store, second, "", config={}, interactive=False)
    assert a.output_dir == (tmp_path / "out" / "retro" / first).resolve()
    assert b.output_dir == (tmp_path / "out" / "retro" / second).resolve()


def test_panel_exports_the_postmortem_as_markdown_and_html(inc7_store, tmp_path) -> None:
    save_annotation(inc7_store, "INC-7", "summary", "Declines <b>spiked</b>", "Dana Facilitator")
    view = RetrospectiveView(inc7_store, "INC-7", tmp_path / "out", config={})
    panel = FacilitatorPanel(view)
    panel.export_button.click()
    markdown = (tmp_path / "out" / "postmortem.md").read_text(encoding="utf-8")
    html = (tmp_path / "out" / "postmortem.html").read_text(encoding="utf-8")
    assert "- **Authors:** Dana Facilitator" in markdown
    assert "<dt>Authors</dt><dd>Dana Facilitator</dd>" in html
    assert "## Impact in numbers" in markdown and "Milestone: Detected" in markdown
    assert "postmortem.html" in panel.export_status.value and "<b>spiked" not in html
    configured = RetrospectiveView(inc7_store, "INC-7", tmp_path / "c",
                                   config={"postmortem": {"authors": ["Ana", "Bo"]}})
    assert configured.authors() == "Ana and Bo"


def test_explorer_search_filters_as_you_type(inc7_store, tmp_path) -> None:
    panel = FacilitatorPanel(RetrospectiveView(inc7_store, "INC-7", tmp_path, config={}))
    assert panel.explorer.search.continuous_update is True


@pytest.mark.slow
def test_plain_papermill_shows_what_was_decided(sample_store, tmp_path) -> None:
    import papermill
    store = Store.open(sample_store, create=False)
    incident_id = str(store.incidents()["incident_id"].iloc[0])
    store.close()
    copy = tmp_path / "review.db"
    shutil.copy(sample_store, copy)
    out = tmp_path / "run.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "retrospective.ipynb"), str(out), cwd=str(tmp_path),
                               parameters={"incident_id": incident_id, "store": str(copy)},
                               progress_bar=False, kernel_name="python3")
    nb = nbformat.read(str(out), as_version=4)
    facilitator = next(c for c in nb.cells if c.cell_type == "code" and "retro.facilitator()" in c.source)
    html = "".join(o.get("data", {}).get("text/html", "") for o in facilitator.outputs)
    assert "Decided in the review" in html
    assert (tmp_path / "out" / "retro" / incident_id / "postmortem.md").is_file()
