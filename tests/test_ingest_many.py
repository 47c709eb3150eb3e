"""Many files, one command: a history kept as many small files gives the store one file gives,
and a bad file among them is named, with nothing of it written."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd

from review_kit.cli import main
from histories import status_page_history, write_json

END = pd.Timestamp("2025-06-30T12:00:00Z")


def rows(db: Path) -> dict[str, list]:
    with sqlite3.connect(db) as connection:
        return {table: sorted(connection.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                for table in ("incidents", "events", "aliases")}


def split(tmp_path: Path, n: int = 30) -> tuple[Path, Path]:
    document = status_page_history(END, n=n)
    one = write_json(tmp_path / "incidents.json", document)
    folder = tmp_path / "history"
    folder.mkdir()
    for incident in document["incidents"]:
        write_json(folder / f"{incident['id']}.json",
                   {"page": document["page"], "incidents": [incident]})
    return one, folder


def test_many_files_and_a_folder_give_what_one_file_gives(tmp_path: Path, capsys) -> None:
    one, folder = split(tmp_path)
    files = sorted(str(p) for p in folder.iterdir())
    assert main(["--store", str(tmp_path / "one.db"), "ingest", "auto", str(one), "-q"]) == 0
    assert main(["--store", str(tmp_path / "many.db"), "ingest", "auto", *files, "-q"]) == 0
    assert main(["--store", str(tmp_path / "dir.db"), "ingest", "auto", str(folder), "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    # 8 incidents told live (3 updates, started_at, monitoring_at), 22 posted after the fact
    # (1 update, started_at).
    assert out[1] == out[2] == ("ingested 30 input(s): 84 new event(s) of 84 read, "
                                "30 incident(s), 30 new alias(es)")
    assert rows(tmp_path / "many.db") == rows(tmp_path / "one.db") == rows(tmp_path / "dir.db")


def test_a_bad_file_among_many_is_named_and_nothing_of_it_is_written(tmp_path: Path,
                                                                   capsys) -> None:
    _, folder = split(tmp_path, n=6)
    bad = folder / "sp003.json"
    document = json.loads(bad.read_text())
    document["incidents"][0]["incident_updates"][0]["display_at"] = "yesterday"
    write_json(bad, document)
    db = tmp_path / "review.db"
    code = main(["--store", str(db), "ingest", "auto", *sorted(str(p) for p in folder.iterdir()),
                 "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"review-kit: {bad}: $.incidents[0].incident_updates[0].display_at: ")
    assert len(err.strip().splitlines()) == 1
    assert "sp003" not in {r[0] for r in rows(db)["incidents"]}
