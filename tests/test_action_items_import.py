"""A history of action items from CSV (`review-kit actions import`): parsed by the loader,
written by the store in one transaction, one-line errors naming the file, line and problem."""
from __future__ import annotations

import pandas as pd
import pytest

from review_kit.cli import main
from review_kit.errors import InputError
from review_kit.loaders.action_items import read_action_items
from review_kit.store import Store
from review_kit.store.ingest import ingest_paths

from seen_before import NEW, SAME_A, SAME_B, write_exports

HISTORY = """Incident,Title,Owner,Type,Status,Due,Created,Closed,URL
INC-A,Add retries to the card processor client,maria,prevent,Closed,2024-02-01,2024-01-16T09:00:00Z,2024-01-30T09:00:00Z,https://tracker.example/T-1
INC-A,Alert on processor timeouts,sam,mitigate,done,2024-02-15T00:00:00Z,2024-01-16T09:00:00Z,2024-02-10T09:00:00+01:00,
INC-B,Validate payment config before push,lee,process,In Progress,2024-04-15,2024-03-21T09:00:00Z,,
INC-B,Rewrite the config service,lee,,Won't Fix,,2024-03-21T09:00:00Z,2024-03-30T00:00:00Z,
PD-2,Done but when?,ana,,done,,,,
"""


@pytest.fixture()
def store(tmp_path) -> Store:
    incidents, events = write_exports(tmp_path / "exports")
    store = Store.open(tmp_path / "review.db")
    ingest_paths(store, "csv", [incidents, events], quiet=True)
    store.link(NEW, "pagerduty", "PD-2")
    yield store
    store.close()


def write(tmp_path, text: str):
    path = tmp_path / "items.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_normalises_statuses_dates_and_times(tmp_path):
    items = read_action_items(write(tmp_path, HISTORY))
    assert items["status"].tolist() == ["done", "done", "open", "wontfix", "done"]
    assert items["due"].tolist() == ["2024-02-01", "2024-02-15", "2024-04-15", None, None]
    assert items["closed_at"].iloc[1] == pd.Timestamp("2024-02-10T08:00:00Z")
    assert pd.isna(items["closed_at"].iloc[4]) and items["line"].tolist() == [2, 3, 4, 5, 6]


def test_import_writes_once_and_again_updates(store, tmp_path, capsys):
    path = write(tmp_path, HISTORY)
    location = store.engine.url.database
    assert main(["--store", location, "actions", "import", str(path)]) == 0
    assert "imported 5 action item(s): 5 new, 0 updated" in capsys.readouterr().out
    items = store.action_items().set_index("title")
    a = items.loc["Alert on processor timeouts"]
    assert (a["incident_id"], a["owner"], a["type"], a["status"]) == (SAME_A, "sam", "mitigate", "done")
    assert a["created_at"] == pd.Timestamp("2024-01-16T09:00:00Z")
    assert items.loc["Validate payment config before push", "incident_id"] == SAME_B
    # An alias names the incident; a done item without a closing time keeps it unknown.
    unknown = items.loc["Done but when?"]
    assert unknown["incident_id"] == NEW and pd.isna(unknown["closed_at"])
    assert main(["--store", location, "actions", "import", str(path)]) == 0
    assert "0 new, 5 updated" in capsys.readouterr().out
    assert len(store.action_items()) == 5


@pytest.mark.parametrize("text, where, problem", [
    ("Title,Owner\nx,y\n", "line 1", "missing column(s) incident"),
    ("incident,title,status\nINC-A,x,maybe\n", "line 2: status", "unknown status 'maybe'"),
    ("incident,title,type\nINC-A,x,fix\n", "line 2: type", "unknown type 'fix'"),
    ("incident,title,due\nINC-A,x,next week\n", "line 2: due", "is not YYYY-MM-DD"),
    ("incident,title,created\nINC-A,x,2024-01-01 10:00\n", "line 2: created", "no time zone"),
    ("incident,title\nINC-A,\n", "line 2", "title is empty"),
    ("incident,title,created,closed\nINC-A,x,2024-02-01T00:00:00Z,2024-01-01T00:00:00Z\n",
     "line 2: closed", "closed before it was created"),
    ("incident,title,url\nINC-A,x,javascript:alert(1)\n", "line 2: url", "not an http(s) link"),
])
def test_bad_files_give_one_line(tmp_path, text, where, problem):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as error:
        read_action_items(path)
    assert error.value.where == where and problem in error.value.problem


def test_an_unknown_incident_stops_the_import_and_nothing_is_written(store, tmp_path, capsys):
    path = write(tmp_path, "incident,title\nINC-A,kept?\nINC-NOPE,x\n")
    assert main(["--store", store.engine.url.database, "actions", "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: line 3: no incident 'INC-NOPE' in the store" in err and "Traceback" not in err
    assert store.action_items().empty
