"""OUT/index.html, and incident ids that would escape the output folder."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from review_kit.cli import main
from review_kit.automation.outputs import rebuild_index
from review_kit.paths import safe_name
from review_kit.automation.queue import list_runs
from review_kit.store import Store

HEADER = "incident_id,at,kind,actor,summary\n"
HOSTILE = ["../../etc/x", "a/b"]


def write_store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "review.db")
    rows = []
    for n, incident in enumerate(["INC-1", "<script>alert(1)</script>", *HOSTILE]):
        quoted = f'"{incident}"' if "," in incident else incident
        rows += [f"{quoted},2024-04-0{n + 1}T08:00:00Z,triggered,pd,Paged",
                 f"{quoted},2024-04-0{n + 1}T08:03:00Z,acknowledged,Ana,On it",
                 f"{quoted},2024-04-0{n + 1}T09:1{n}:00Z,resolved,Ana,Fixed"]
    (tmp_path / "events.csv").write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "incidents.csv").write_text(
        'incident_id,title,severity\nINC-1,"Checkout & <b>cart</b> down",SEV1\n', encoding="utf-8")
    store.ingest("csv", tmp_path / "events.csv")
    store.ingest("csv", tmp_path / "incidents.csv")
    return store


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def test_index_lists_reports_escaped_and_newest_resolution_first(tmp_path):
    store = write_store(tmp_path)
    out = tmp_path / "out"
    for incident in ["INC-1", "<script>alert(1)</script>", "a/b"]:   # ../../etc/x has no report yet
        folder = out / safe_name(incident)
        folder.mkdir(parents=True)
        (folder / "retrospective.html").write_text("<html></html>", encoding="utf-8")
    (out / "trends.html").write_text("<html></html>", encoding="utf-8")
    page = rebuild_index(store, out).read_text(encoding="utf-8")
    rows = re.findall(r"<tr><td>.*?</tr>", page)
    assert len(rows) == 3
    # Newest resolution first: a/b (Apr 4), <script> (Apr 2), INC-1 (Apr 1).
    assert [re.search(r'href="([^"]+)/retrospective.html"', r).group(1) for r in rows] == [
        safe_name("a/b"), safe_name("<script>alert(1)</script>"), "INC-1"]
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Checkout &amp; &lt;b&gt;cart&lt;/b&gt; down" in page
    assert "<td>SEV1</td><td class=\"when\">2024-04-01 09:10</td>" in page
    assert '<a href="trends.html">Latest trend report</a>' in page
    assert "3 retrospective(s)" in page
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_backfill_runs_in_parallel_and_hostile_ids_stay_inside_the_output_folder(tmp_path, capsys):
    write_store(tmp_path)
    root = tmp_path / "deep" / "er"
    out = root / "out"
    before = tree(tmp_path)
    store_path = str(tmp_path / "review.db")
    # The four incidents resolve on 1–4 April; the hostile ids are the last two, so exactly
    # those run, two papermill processes at once.
    assert main(["--store", store_path, "retro", "--all", "--since", "2024-04-03", "--jobs", "2",
                 "--out", str(out), "-q"]) == 0
    assert capsys.readouterr().out.strip() == "2 retrospective(s) done, 0 failed, 0 to retry"
    created = tree(tmp_path) - before
    outside = [p for p in created if not (tmp_path / p).resolve().is_relative_to(out.resolve())
               and not p.startswith("review.db") and (tmp_path / p) not in (tmp_path / "deep", root, out)]
    assert outside == []
    assert not (tmp_path / "deep" / "etc").exists() and not (root / "etc").exists()
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == sorted(safe_name(i) for i in HOSTILE)
    assert all("/" not in f and ".." not in f.split("-")[0] for f in folders)
    for incident in HOSTILE:
        assert (out / safe_name(incident) / "retrospective.html").is_file()
    runs = list_runs(Store.open(store_path))
    assert sorted(runs["incident_id"]) == sorted(HOSTILE) and set(runs["status"]) == {"done"}
    # Both ran at once: each started before the other finished.
    first, second = runs.sort_values("started_at").to_dict("records")
    assert second["started_at"] < first["finished_at"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "../../etc/x" in index and 'href="../' not in index
    # A second backfill finds every resolution done: nothing runs again.
    assert main(["--store", store_path, "retro", "--all", "--since", "2024-04-03", "--jobs", "2",
                 "--out", str(out), "-q"]) == 0
    assert capsys.readouterr().out.strip() == "0 retrospective(s) done, 0 failed, 0 to retry"


def test_index_lists_open_incidents_when_nothing_is_resolved(tmp_path):
    store = Store.open(tmp_path / "review.db")
    (tmp_path / "events.csv").write_text(
        HEADER + "INC-9,2024-04-01T08:00:00Z,triggered,pd,Paged\n", encoding="utf-8")
    store.ingest("csv", tmp_path / "events.csv")
    out = tmp_path / "out"
    (out / "INC-9").mkdir(parents=True)
    (out / "INC-9" / "retrospective.html").write_text("<html></html>", encoding="utf-8")
    page = rebuild_index(store, out).read_text(encoding="utf-8")
    rows = re.findall(r"<tr><td>.*?</tr>", page)
    assert len(rows) == 1 and 'href="INC-9/retrospective.html"' in rows[0]
    assert '<td class="when"></td>' in rows[0]   # open: no resolution time, not a made-up one
