"""The CSV loader: events and incidents files, line-numbered errors, stable ids."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.loaders import LoadContext, get_loader
from review_kit.loaders.csv_events import LOADER
from review_kit.model import EVENT_COLUMNS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "csv"
EVENTS = FIXTURES / "events.csv"
INCIDENTS = FIXTURES / "incidents.csv"
HEADER = "incident_id,at,kind,actor,summary\n"


def load(path: Path, **ctx):
    batches = list(LOADER.load(path, LoadContext(**ctx)))
    assert len(batches) == 1
    return batches[0]


def write(tmp_path: Path, text: str, name: str = "input.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, **ctx) -> str:
    with pytest.raises(InputError) as caught:
        load(path, **ctx)
    return str(caught.value)


def test_registered_under_csv():
    assert get_loader("csv") is LOADER


def test_sniff():
    assert LOADER.sniff(EVENTS, EVENTS.read_text()[:512])
    assert LOADER.sniff(INCIDENTS, INCIDENTS.read_text()[:512])
    assert not LOADER.sniff(Path("x.json"), '{"incidents": [{"incident_id": "x", "at": 1, "kind": 2}]}')
    assert not LOADER.sniff(Path("void.csv"), "ID,Primary source,voidId,Title,Date of incident\n")


# --- events files -------------------------------------------------------------------------------
def test_events_file():
    batch = load(EVENTS)
    events = batch.events
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events["kind"].tolist() == [
        "impact_started", "alert_firing", "acknowledged", "notified", "notified", "status_update",
        "deploy", "mitigated", "triggered", "resolved"]          # "Resolved" read as resolved
    assert events["incident_id"].tolist() == ["INC-42"] * 8 + ["INC-43"] * 2
    assert events["at"].tolist() == [pd.Timestamp(t) for t in (
        "2024-06-11T14:02:11Z", "2024-06-11T14:04:00Z",
        "2024-06-11T14:09:40Z",                                   # written 16:09:40+02:00
        "2024-06-11T14:09:40Z", "2024-06-11T14:09:40Z", "2024-06-11T14:15:00Z",
        "2024-06-11T14:31:12.500Z", "2024-06-11T14:40:00Z", "2024-06-12T09:00:00Z",
        "2024-06-12T09:45:00Z")]
    assert str(events["at"].dt.tz) == "UTC"
    assert events["seq"].tolist() == list(range(10))
    assert events["source"].tolist() == ["grafana"] + ["csv"] * 4 + ["statuspage"] + ["csv"] * 4
    assert events["visibility"].tolist() == ["internal"] * 5 + ["external"] + ["internal"] * 4
    assert events["target"].tolist()[3:5] == ["Chen Wei", "Dana Ruiz"]
    assert events["actor"].tolist()[:2] == [None, "Alertmanager"]     # an empty cell is unknown
    assert events["summary"].iloc[5] == ("Investigating: some customers cannot complete checkout.\n"
                                         "We will update in 30 minutes.")
    assert events["summary"].iloc[6] == 'Rolled back checkout-api to v2.14.2 ("bad pool config")'
    assert json.loads(events["raw"].iloc[1]) == {
        "incident_id": "INC-42", "at": "2024-06-11T14:04:00Z", "kind": "alert_firing",
        "actor": "Alertmanager", "summary": "CheckoutHighErrorRate firing", "source": "",
        "visibility": "", "target": ""}


def test_events_file_creates_the_incidents_it_names():
    assert load(EVENTS).incidents == [{"incident_id": "INC-42", "source": "csv"},
                                      {"incident_id": "INC-43", "source": "csv"}]


def test_event_ids_are_stable_and_distinguish_targets():
    first, second = load(EVENTS).events, load(EVENTS).events
    assert first["event_id"].tolist() == second["event_id"].tolist()
    assert first["event_id"].is_unique       # the two notified rows differ only in target
    assert first["event_id"].iloc[0].startswith("grafana:h")
    assert first["event_id"].iloc[1].startswith("csv:h")


def test_event_id_hashes_the_instant_not_how_it_was_written(tmp_path):
    zulu = load(write(tmp_path, HEADER + "INC-1,2024-06-11T14:00:00Z,note,Ann,Checked\n", "a.csv"))
    offset = load(write(tmp_path, HEADER + "INC-1,2024-06-11T16:00:00+02:00,note,Ann,Checked\n", "b.csv"))
    assert zulu.events["event_id"].tolist() == offset.events["event_id"].tolist()
    edited = load(write(tmp_path, HEADER + "INC-1,2024-06-11T14:00:00Z,note,Ann,Checked twice\n", "c.csv"))
    assert edited.events["event_id"].tolist() != zulu.events["event_id"].tolist()


def test_an_event_id_is_the_hash_every_earlier_ingest_gave_the_row(tmp_path):
    # A store keeps these ids: if they moved (with a pandas release, say), ingesting the same
    # file again would add every row twice. The first id is the one stores already hold.
    path = write(tmp_path, "incident_id,at,kind,actor,summary,source,target,status\n"
                 "PKDKTDM,2025-11-01T00:45:38Z,impact_started,Fatima Haddad,"
                 "Customer impact started: incorrect stock information,manual,,\n"
                 "PKDKTDM,2025-11-01T00:45:38Z,notified,Bot,Paged,manual,Ana,sent\n")
    ids = load(path).events["event_id"].tolist()
    assert ids[0] == "manual:h3dff3cfa1d2857cdacad43fa"
    key = "\x1f".join(["1761957938000000", "PKDKTDM", "notified", "Bot", "Paged", "Ana", "sent"])
    assert ids[1] == "manual:h" + hashlib.sha1(key.encode()).hexdigest()[:24]


def test_explicit_event_id_wins(tmp_path):
    path = write(tmp_path, "event_id,incident_id,at,kind,actor,summary\n"
                           "pagerduty:Q02JTSNZWHSEKV,INC-1,2024-06-11T14:00:00Z,triggered,,Paged\n"
                           ",INC-1,2024-06-11T14:01:00Z,note,Ann,Looking\n")
    ids = load(path).events["event_id"].tolist()
    assert ids[0] == "pagerduty:Q02JTSNZWHSEKV"
    assert ids[1].startswith("csv:h")


def test_timeline_csv_export_reads_back_unchanged(tmp_path):
    original = load(EVENTS).events
    exported = original.assign(at=original["at"].map(lambda t: t.isoformat()))
    path = tmp_path / "timeline.csv"
    exported.to_csv(path, index=False)
    pd.testing.assert_frame_equal(load(path).events, original)


def test_optional_columns(tmp_path):
    path = write(tmp_path, "Incident ID;At;Kind;Actor;Summary;Actor Type;Status;Seq\n"
                           "INC-7;2024-06-11T14:00:00Z;status_update;Statuspage;Investigating;service;investigating;5\n"
                           "INC-7;2024-06-11T14:00:00Z;status_update;Statuspage;Monitoring;service;monitoring;6\n")
    events = load(path).events
    assert events[["actor_type", "status", "seq"]].values.tolist() == [
        ["service", "investigating", 5], ["service", "monitoring", 6]]


def test_status_updates_are_external_unless_the_file_says_otherwise(tmp_path):
    path = write(tmp_path, HEADER.strip() + ",visibility\n"
                           "INC-1,2024-06-11T14:00:00Z,status_update,Statuspage,Investigating,\n"
                           "INC-1,2024-06-11T14:05:00Z,status_update,Comms,Draft for execs,internal\n"
                           "INC-1,2024-06-11T14:06:00Z,note,Ann,Checked,\n")
    assert load(path).events["visibility"].tolist() == ["external", "internal", "internal"]
    plain = write(tmp_path, HEADER + "INC-1,2024-06-11T14:00:00Z,status_update,Statuspage,Investigating\n",
                  "plain.csv")
    assert load(plain).events["visibility"].tolist() == ["external"]


def test_incident_option_fills_a_missing_incident_column(tmp_path):
    path = write(tmp_path, "at,kind,actor,summary\n2024-06-11T14:00:00Z,note,Ann,Checked\n")
    batch = load(path, incident_id="INC-9")
    assert batch.events["incident_id"].tolist() == ["INC-9"]
    assert batch.incidents == [{"incident_id": "INC-9", "source": "csv"}]
    assert set(load(EVENTS, incident_id="INC-9").events["incident_id"]) == {"INC-9"}


def test_zone_less_timestamps_need_tz(tmp_path):
    path = write(tmp_path, HEADER + "INC-1,2024-06-11T14:00:00Z,note,Ann,ok\n"
                                    "INC-1,2024-06-11 16:05:00,note,Ann,no zone\n")
    message = error_of(path)
    assert message.startswith(f"{path}: line 3: ")
    assert "no time zone" in message


def test_zone_less_timestamps_with_tz(tmp_path):
    path = write(tmp_path, HEADER + "INC-1,2024-06-11 16:05:00,note,Ann,no zone\n"
                                    "INC-1,2024-01-11 16:05:00,note,Ann,winter\n")
    events = load(path, tz="Europe/Berlin").events
    assert events["at"].tolist() == [pd.Timestamp("2024-06-11T14:05:00Z"),
                                     pd.Timestamp("2024-01-11T15:05:00Z")]


# --- incidents files ----------------------------------------------------------------------------
def test_incidents_file():
    batch = load(INCIDENTS)
    assert batch.events.empty and list(batch.events.columns) == list(EVENT_COLUMNS)
    rows = {row["incident_id"]: row for row in batch.incidents}
    assert rows["INC-42"] == {
        "incident_id": "INC-42", "title": "Checkout outage", "severity": "SEV1",
        "severity_raw": "SEV1", "status": "resolved", "service": "Checkout API",
        "team": "Payments Platform", "commander": "Bob Okafor", "source": "csv", "source_id": None,
        "url": "https://wiki.acme.example/inc/42", "created_at": pd.Timestamp("2024-06-11T14:02:11Z")}
    assert rows["INC-43"]["title"] == "Search slow, EU only"
    assert (rows["INC-43"]["severity"], rows["INC-43"]["severity_raw"]) == ("SEV3", "P3")
    assert rows["INC-43"]["created_at"] == pd.Timestamp("2024-06-12T09:00:00Z")   # 11:00+02:00
    assert rows["INC-43"]["team"] is None
    assert (rows["INC-44"]["severity"], rows["INC-44"]["severity_raw"]) == (None, "critical")
    assert rows["INC-44"]["created_at"] is None


def test_severity_map_from_config():
    rows = {row["incident_id"]: row
            for row in load(INCIDENTS, config={"severity_map": {"critical": "SEV1"}}).incidents}
    assert (rows["INC-44"]["severity"], rows["INC-44"]["severity_raw"]) == ("SEV1", "critical")
    assert rows["INC-43"]["severity"] == "SEV3"


# --- bad input ----------------------------------------------------------------------------------
def test_unknown_kind_names_its_line(tmp_path):
    # The quoted summary spans lines 3-4, so the third record is on line 5.
    path = write(tmp_path, HEADER + "INC-1,2024-06-11T14:00:00Z,note,Ann,fine\n"
                                    'INC-1,2024-06-11T14:00:00Z,note,Ann,"two\nlines"\n'
                                    "INC-1,2024-06-11T14:05:00Z,paged,Bob,oops\n")
    message = error_of(path)
    assert message.startswith(f"{path}: line 5: unknown event kind 'paged'")
    assert "acknowledged" in message


def test_missing_required_column(tmp_path):
    path = write(tmp_path, "incident_id,at,kind,summary\nINC-1,2024-06-11T14:00:00Z,note,hi\n")
    assert error_of(path) == (f"{path}: line 1: events file is missing column(s) actor; an events "
                              "file needs incident_id, at, kind, actor, summary")


def test_incident_id_column_needed_without_incident_option(tmp_path):
    path = write(tmp_path, "at,kind,actor,summary\n2024-06-11T14:00:00Z,note,Ann,Checked\n")
    assert "missing column(s) incident_id" in error_of(path)


def test_header_that_is_neither_shape(tmp_path):
    path = write(tmp_path, "ID,Title,Date of incident\n1,Outage,1/2/2020\n")
    assert error_of(path).startswith(f"{path}: line 1: not a review-kit CSV")


@pytest.mark.parametrize("row,problem", [
    ("INC-1,not a time,note,Ann,x", "not a timestamp"),
    ("INC-1,,note,Ann,x", "event has no timestamp"),
    (",2024-06-11T14:00:00Z,note,Ann,x", "event belongs to no incident"),
    ("INC-1,2024-06-11T14:00:00Z,note,Ann", "4 fields where the header has 5"),
    ("INC-1,2024-06-11T14:00:00Z,note,Ann,x,extra", "6 fields where the header has 5"),
])
def test_bad_rows_name_their_line(tmp_path, row, problem):
    path = write(tmp_path, HEADER + "INC-1,2024-06-11T13:00:00Z,note,Ann,first\n" + row + "\n")
    message = error_of(path)
    assert message.startswith(f"{path}: line 3: ")
    assert problem in message


@pytest.mark.parametrize("column,value,problem", [
    ("visibility", "public", "visibility must be internal or external"),
    ("actor_type", "robot", "actor_type must be one of"),
    ("seq", "2.5", "seq must be a whole number"),
])
def test_bad_optional_values(tmp_path, column, value, problem):
    path = write(tmp_path, f"incident_id,at,kind,actor,summary,{column}\n"
                           f"INC-1,2024-06-11T14:00:00Z,note,Ann,x,{value}\n")
    message = error_of(path)
    assert message.startswith(f"{path}: line 2: ")
    assert problem in message


def test_unclosed_quote(tmp_path):
    path = write(tmp_path, HEADER + 'INC-1,2024-06-11T14:00:00Z,note,Ann,"never closed\n')
    assert error_of(path).startswith(f"{path}: line ")


def test_incidents_file_errors(tmp_path):
    duplicate = write(tmp_path, "incident_id,title\nINC-1,a\nINC-2,b\nINC-1,c\n", "dup.csv")
    assert error_of(duplicate) == f"{duplicate}: line 4: incident 'INC-1' already appears on line 2"
    zone_less = write(tmp_path, "incident_id,created_at\nINC-1,2024-06-11T14:00:00Z\n"
                                "INC-2,2024-06-11 14:00\n", "tz.csv")
    message = error_of(zone_less)
    assert message.startswith(f"{zone_less}: line 3: created_at: ") and "no time zone" in message
    assert load(zone_less, tz="UTC").incidents[1]["created_at"] == pd.Timestamp("2024-06-11T14:00:00Z")


def test_duplicate_and_empty_files(tmp_path):
    twice = write(tmp_path, "incident_id,at,kind,at,actor,summary\n", "twice.csv")
    assert error_of(twice) == f"{twice}: line 1: column 'at' appears twice"
    empty = write(tmp_path, "", "empty.csv")
    assert error_of(empty) == f"{empty}: file is empty"


# --- streaming ----------------------------------------------------------------------------------
def test_a_big_events_file_streams_in_batches_that_add_up_to_one(tmp_path, monkeypatch):
    """Read in chunks, an events file gives the events one whole read gives: the same ids,
    and rows without a seq keep their place in the whole file, not in their chunk."""
    from review_kit.loaders import _jsonstream

    whole = load(EVENTS).events
    monkeypatch.setattr(_jsonstream, "BATCH_EVENTS", 2)
    batches = list(LOADER.load(EVENTS, LoadContext()))
    assert len(batches) == -(-len(whole) // 2)
    streamed = pd.concat([b.events for b in batches], ignore_index=True)
    pd.testing.assert_frame_equal(streamed, whole)
    assert streamed["seq"].tolist() == list(range(len(whole)))


def test_a_bad_row_in_a_later_chunk_names_its_line(tmp_path, monkeypatch):
    from review_kit.loaders import _jsonstream

    monkeypatch.setattr(_jsonstream, "BATCH_EVENTS", 2)
    rows = "".join(f"INC-1,2024-06-11T14:0{i}:00Z,note,Ann,note {i}\n" for i in range(5))
    path = write(tmp_path, HEADER + rows + "INC-1,2024-06-11T14:09:00Z,note,Ann\n")
    assert error_of_batches(path) == f"{path}: line 7: 4 fields where the header has 5"
    raw = path.read_bytes().replace(b"note 4", b"note \xff")
    path.write_bytes(raw)
    offset = raw.index(b"\xff")
    assert error_of_batches(path) == f"{path}: byte {offset}: not UTF-8 text"


def error_of_batches(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        list(LOADER.load(path, LoadContext()))
    return str(caught.value)


def test_a_text_longer_than_the_limit_is_refused_naming_its_event_and_column(tmp_path, monkeypatch):
    from review_kit.loaders import base
    from review_kit.loaders.base import checked_load
    monkeypatch.setattr(base, "MAX_FIELD_CHARS", 60)  # the file is bigger: its texts are measured
    rows = "".join(f"INC-1,2024-06-11T14:{i:02d}:00Z,note,Ann,{'x' * (61 if i == 3 else 60)}\n"
                   for i in range(6))
    path = write(tmp_path, HEADER + rows)
    with pytest.raises(InputError) as caught:
        list(checked_load(LOADER, path, LoadContext()))
    assert "event 4: summary" in str(caught.value) and "longer than 60 characters (61)" in str(caught.value)
    monkeypatch.setattr(base, "MAX_FIELD_CHARS", 200)  # and every one at the limit or under passes
    path.write_text(HEADER + rows.replace("x" * 61, "x" * 60), encoding="utf-8")
    assert sum(b.event_count for b in checked_load(LOADER, path, LoadContext())) == 6
