"""Papermill runs of both notebooks: the files DESIGN.md names, no errors, escaped sources."""
from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from review_kit.report.chart_files import png_key
from review_kit.cli import main
from review_kit.store.ingest import ingest_paths
from review_kit.store import Store

PAYLOAD_SCRIPT = "<script>window.rkInjected = 1</script>"
PAYLOAD_IMG = "<img src=x onerror=\"window.rkInjected=2\">"


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def errors_in(notebook: Path) -> list[str]:
    nb = nbformat.read(str(notebook), as_version=4)
    return [o.get("ename", "") for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory, sample_store) -> tuple[Path, str]:
    """The sample store plus chat messages carrying HTML/JS in the demo-like incident."""
    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "review.db"
    shutil.copy(sample_store, path)
    store = Store.open(path)
    incidents = store.incidents()
    incident_id = incidents[incidents["severity"] == "SEV1"]["incident_id"].iloc[0]
    csv_file = folder / "hostile.csv"
    csv_file.write_text(
        "incident_id,at,kind,actor,summary\n"
        f"{incident_id},2030-01-01T00:00:00Z,message,\"<b onmouseover=alert(1)>Mallory</b>\",\"{PAYLOAD_SCRIPT.replace(chr(34), chr(34) * 2)}\"\n"
        f"{incident_id},2030-01-01T00:00:01Z,message,Mallory,\"{PAYLOAD_IMG.replace(chr(34), chr(34) * 2)} call +1 415 555 0100 or eve@example.com\"\n")
    ingest_paths(store, "csv", [csv_file], quiet=True)
    store.close()
    return path, incident_id


@pytest.fixture(scope="module")
def retro_run(hostile_store, tmp_path_factory) -> Path:
    path, incident_id = hostile_store
    out = tmp_path_factory.mktemp("retro-out")
    assert main(["--store", str(path), "retro", incident_id, "--out", str(out), "--quiet"]) == 0
    return out / incident_id


def test_retro_writes_the_design_files_without_errors(retro_run):
    for name in ("retrospective.ipynb", "retrospective.html", "postmortem.md", "timeline.png",
                 "responders.png"):
        assert (retro_run / name).is_file(), name
    assert errors_in(retro_run / "retrospective.ipynb") == []
    assert (retro_run / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(retro_run.glob(".*.tmp*"))


def test_retro_charts_are_drawn_while_the_kernel_starts_and_shown_as_drawn(retro_run):
    """The runner draws both charts before the first cell runs; the kernel, finding them keyed
    to the data it loaded, shows those very files instead of drawing them again."""
    import base64
    from datetime import datetime

    nb = nbformat.read(str(retro_run / "retrospective.ipynb"), as_version=4)
    first_cell = min(datetime.fromisoformat(c.metadata.papermill.start_time) for c in nb.cells
                     if c.cell_type == "code")
    shown = [base64.b64decode(o["data"]["image/png"]) for c in nb.cells if c.cell_type == "code"
             for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    for name in ("timeline.png", "responders.png"):
        png = retro_run / name
        assert png_key(png) is not None
        drawn = datetime.fromtimestamp(png.stat().st_mtime).astimezone()
        assert drawn < first_cell, name
        assert png.read_bytes() in shown, name


def test_retro_html_hides_code_and_keeps_sources_as_text(retro_run):
    html = (retro_run / "retrospective.html").read_text()
    assert "RetrospectiveView.open(" not in html  # code cells hidden
    parser = Elements()
    parser.feed(html)
    assert not any("rkInjected" in script for script in parser.scripts)
    assert not any(tag == "img" and "onerror" in attrs for tag, attrs in parser.found)
    assert not any(any(name.startswith("on") for name in attrs) for tag, attrs in parser.found
                   if tag in ("b", "img"))
    assert "&lt;script&gt;window.rkInjected = 1&lt;/script&gt;" in html


def test_postmortem_has_the_sre_sections(retro_run):
    text = (retro_run / "postmortem.md").read_text()
    for heading in ("Summary", "Impact", "Root causes", "Trigger", "Resolution", "Detection",
                    "Action items", "Lessons learned", "Timeline", "Supporting information"):
        assert heading in text, heading
    assert "<script>" not in text


def test_redacted_retro_hides_contact_details(hostile_store, tmp_path):
    path, incident_id = hostile_store
    assert main(["--store", str(path), "retro", incident_id, "--out", str(tmp_path), "--redact", "--quiet"]) == 0
    folder = tmp_path / incident_id
    for name in ("postmortem.md", "retrospective.html", "retrospective.ipynb"):
        text = (folder / name).read_text()
        assert "eve@example.com" not in text and "555 0100" not in text, name


def test_trends_report(sample_store, tmp_path):
    assert main(["--store", str(sample_store), "trends", "--out", str(tmp_path), "--quiet"]) == 0
    assert errors_in(tmp_path / "trends.ipynb") == []
    html = (tmp_path / "trends.html").read_text()
    assert "median" in html.lower()
    nb = json.loads((tmp_path / "trends.ipynb").read_text())
    images = sum(1 for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    assert images >= 6
