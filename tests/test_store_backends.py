"""The same store on SQLite and PostgreSQL: same frames from the same files, the same orders
whatever the server's locale, concurrent opening, deadlock retries, URLs and secrets."""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from review_kit.errors import StoreError
from review_kit.store.ingest import ingest_paths
from review_kit.loaders import Batch, LoadContext, Loader, events_frame, incident_row
from review_kit.demo.sample import generate_sample
from review_kit.store import Store, store_url
from review_kit.store import database
from review_kit.store.database import SCHEMA_VERSION

from backends import assert_events_tied_to_incidents
from backends import backend, pg_database, pg_store_location, store_location  # noqa: F401  (fixtures)

# Ids whose order differs between byte order and a language's (ICU en-US puts "a" before "B"
# and "INC-10" before "inc-2" before "INC1").
IDS = ["a", "B", "INC-10", "INC1", "inc-2", "Z9", "z10"]


class IdsLoader(Loader):
    """One event per id, all at one instant, plus an incident without a creation time."""

    name = "ids"

    def load(self, path, ctx: LoadContext):
        rows = [dict(incident_id="INC-ORDER", at="2024-03-01T09:00:00Z", kind="message",
                     source_id=i, summary=np.nan if i == "B" else f"said {i}") for i in IDS]
        frame = events_frame(rows, source="ids", path=path, tz=None)
        frame.loc[frame["event_id"] == "ids:B", "summary"] = np.nan  # a float NaN as pandas gives it
        frame["seq"] = 0  # same instant, same seq: only the event id orders them
        yield Batch(incidents=[incident_row(incident_id=i, source="ids", title=i) for i in IDS]
                    + [incident_row(incident_id="INC-ORDER", source="ids", created_at="2024-03-01T09:00:00Z")],
                    events=frame)


def test_same_files_same_frames_on_both_backends(pg_store_location, tmp_path):
    files = generate_sample(tmp_path / "files", n_incidents=8, seed=3)
    sqlite, pg = Store.open(tmp_path / "review.db"), Store.open(pg_store_location())
    for name, path in files.ingest:
        a = ingest_paths(sqlite, name, [path], quiet=True)
        b = ingest_paths(pg, name, [path], quiet=True)
        assert (a.events_seen, a.events_added, a.aliases, a.incident_ids) == \
            (b.events_seen, b.events_added, b.aliases, b.incident_ids)
    incident = files.demo_incident_id
    pd.testing.assert_frame_equal(pg.events(incident), sqlite.events(incident))
    by_id = ["event_id"]
    pd.testing.assert_frame_equal(pg.events().sort_values(by_id, ignore_index=True),
                                  sqlite.events().sort_values(by_id, ignore_index=True))
    pd.testing.assert_frame_equal(pg.incidents(), sqlite.incidents())
    pd.testing.assert_frame_equal(pg.aliases(), sqlite.aliases())
    assert pg.counts() == sqlite.counts()


def test_ids_sort_byte_wise_and_missing_times_first(store_location):
    store = Store.open(store_location())
    store.ingest(IdsLoader(), "ids.json")
    # Incidents without created_at first (as SQLite orders NULLs), then by id byte-wise.
    assert store.incidents()["incident_id"].tolist() == sorted(IDS) + ["INC-ORDER"]
    events = store.events("INC-ORDER")
    assert events["event_id"].tolist() == sorted(f"ids:{i}" for i in IDS)
    assert events.set_index("event_id").loc["ids:B", "summary"] is None  # NaN stored as NULL
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM events WHERE summary IS NULL")).scalar() == 1


def test_postgresql_reads_one_incident_through_its_index(pg_store_location):
    store = Store.open(pg_store_location())
    store.ingest(IdsLoader(), "ids.json")
    with store.engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))  # a tiny table: make the planner show its choice
        plan = " ".join(r[0] for r in conn.execute(text(
            "EXPLAIN SELECT * FROM events WHERE incident_id = 'INC-ORDER' ORDER BY at")))
    assert "ix_events_incident_at" in plan


def test_many_processes_opening_a_new_store_make_it_once(store_location):
    location = store_location()
    versions, errors = [], []

    def open_it() -> None:
        try:
            store = Store.open(location)
            versions.append(store.schema_version)
            store.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and versions == [SCHEMA_VERSION] * 6
    with Store.open(location).engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM meta WHERE key = 'schema_version'")).scalar() == 1


def test_a_deadlocked_write_is_retried_whole(pg_store_location):
    """Two writers lock two incidents in opposite orders: PostgreSQL aborts one (40P01) and
    the store runs that transaction again; both writes land."""
    store = Store.open(pg_store_location())
    store.ingest(IdsLoader(), "ids.json")
    both_hold_one = threading.Barrier(2, timeout=20)
    attempts = {"ab": 0, "ba": 0}

    def writer(name: str, first: str, second: str) -> None:
        def work(conn):
            attempts[name] += 1
            conn.execute(text("UPDATE incidents SET team = :t WHERE incident_id = :i"), {"t": name, "i": first})
            if attempts[name] == 1:
                both_hold_one.wait()
            conn.execute(text("UPDATE incidents SET service = :t WHERE incident_id = :i"), {"t": name, "i": second})
        store._write(work)

    threads = [threading.Thread(target=writer, args=("ab", "a", "B")),
               threading.Thread(target=writer, args=("ba", "B", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(attempts.values()) == [1, 2]  # one was chosen as the deadlock victim and re-run
    frame = store.incidents(["a", "B"]).set_index("incident_id")
    winner = max(attempts, key=attempts.get)  # the re-run committed last
    assert frame.loc["a", "team" if winner == "ab" else "service"] == winner
    assert frame.loc["B", "service" if winner == "ab" else "team"] == winner


def test_an_id_stored_by_a_concurrent_ingest_meanwhile_is_skipped_not_an_error(pg_store_location,
                                                                                monkeypatch):
    """PostgreSQL COPYs new events straight into the table, after looking up which ids are
    known. Another writer storing one of them between that look-up and the COPY makes the
    COPY fail (unique violation): the batch is then inserted with ON CONFLICT DO NOTHING,
    which waits for that writer and skips its ids; nothing fails and nothing is doubled."""
    location = pg_store_location()
    store = Store.open(location)
    store.ingest(IdsLoader(), "ids.json")  # INC-ORDER and the incidents exist
    rows = [dict(incident_id="INC-ORDER", at="2024-03-01T10:00:00Z", kind="message",
                 source_id=f"late-{n}", summary=f"late {n}") for n in range(3)]
    frame = events_frame(rows, source="ids", path="late.json", tz=None)
    fallbacks = []
    through_temp = database._insert_events_through_temp
    monkeypatch.setattr(database, "_insert_events_through_temp",
                        lambda cursor, rows: fallbacks.append(len(rows)) or through_temp(cursor, rows))

    class LateLoader(Loader):
        name = "ids"

        def load(self, path, ctx):
            yield Batch(events=frame)

    other = Store.open(location)
    with other.engine.connect() as rival:
        # The rival stores one of the ids and holds its transaction open.
        rival.execute(text("INSERT INTO events (event_id, incident_id, at, seq, source, kind, "
                           "visibility, summary) VALUES ('ids:late-1', 'INC-ORDER', 0, 0, 'ids', "
                           "'message', 'internal', 'the rival''s')"))
        result: dict = {}
        ingest = threading.Thread(target=lambda: result.update(done=store.ingest(LateLoader(), "late.json")))
        ingest.start()
        # The ingest's COPY waits on the rival's row; then the rival commits.
        with other.engine.connect() as watcher:
            for _ in range(200):
                waiting = watcher.execute(text("SELECT count(*) FROM pg_stat_activity "
                                               "WHERE wait_event_type = 'Lock' "
                                               "AND datname = current_database()")).scalar()
                if waiting:
                    break
                threading.Event().wait(0.05)
        assert waiting, "the ingest never waited for the rival's row"
        rival.commit()
        ingest.join(60)
    assert fallbacks == [3]  # the COPY failed on the rival's id and was redone
    assert result["done"].events_added == 2 and result["done"].events_seen == 3
    stored = store.events("INC-ORDER").set_index("event_id")
    assert stored.loc["ids:late-1", "summary"] == "the rival's"  # the first writer's is kept
    assert {"ids:late-0", "ids:late-2"} <= set(stored.index)
    assert len(stored) == len(IDS) + 3
    other.close()
    store.close()


def test_postgresql_urls_and_secrets(pg_database):
    assert store_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert store_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert store_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    with pytest.raises(StoreError) as error:
        Store.open("postgresql://someone:hunter2secret@127.0.0.1:1/nowhere")
    assert "cannot open store" in str(error.value) and "hunter2secret" not in str(error.value)
    store = Store.open(pg_database.replace("postgresql+psycopg://", "postgresql://"))
    assert store.engine.dialect.driver == "psycopg" and store.schema_version == SCHEMA_VERSION
    store.close()


def test_a_known_event_id_with_other_content_keeps_the_stored_event_and_says_so(store_location, tmp_path, capsys):
    from review_kit.cli import main
    header = "event_id,incident_id,at,kind,actor,summary\n"
    first, edited = tmp_path / "first.csv", tmp_path / "edited.csv"
    first.write_text(header + "e-1,INC-7,2024-06-11T14:00:00Z,message,Ann,deploy started\n"
                     "e-2,INC-7,2024-06-11T14:05:00Z,message,Bob,rolling back\n")
    # The same ids again: e-1 unchanged, e-2 edited (text and time), e-3 new.
    edited.write_text(header + "e-1,INC-7,2024-06-11T14:00:00Z,message,Ann,deploy started\n"
                      "e-2,INC-7,2024-06-11T14:06:00Z,message,Bob,rolling back (edited)\n"
                      "e-3,INC-7,2024-06-11T14:09:00Z,message,Ann,error rate normal\n")
    location = store_location()
    assert main(["--store", location, "ingest", "--quiet", "csv", str(first)]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["--store", location, "ingest", "--quiet", "csv", str(first)]) == 0
    assert "note:" not in capsys.readouterr().err  # the same file again: nothing differs
    assert main(["--store", location, "ingest", "--quiet", "csv", str(edited)]) == 0
    captured = capsys.readouterr()
    assert "1 new event(s) of 3 read" in captured.out
    assert captured.err.strip() == (
        "note: 1 event(s) already in the store came with other content, e.g. event id 'e-2' "
        "(its time and summary) differs from the one stored in incident 'INC-7'; the stored "
        "version is kept")
    stored = Store.open(location).events("INC-7").set_index("event_id")
    assert stored.loc["e-2", "summary"] == "rolling back"
    assert stored.loc["e-3", "summary"] == "error rate normal"


def test_action_items_of_some_incidents_only(store_location):
    store = Store.open(store_location())
    store.ingest(IdsLoader(), "ids.json")  # incidents a, B, INC-10, …
    first = store.add_action_item("a", "Add a canary", created_at="2024-03-02T10:00:00Z")
    store.add_action_item("B", "Page the database team")
    third = store.add_action_item("a", "Alert on saturation", status="done",
                                  created_at="2024-03-02T11:00:00Z",
                                  closed_at="2024-03-05T09:30:00Z")
    some = store.action_items(incident_ids=["a", "INC1"])
    assert some["id"].tolist() == [first, third] and set(some["incident_id"]) == {"a"}
    assert str(some["closed_at"].dtype) == "datetime64[us, UTC]"
    assert some["closed_at"].iloc[1] == pd.Timestamp("2024-03-05T09:30:00Z")
    assert pd.isna(some["closed_at"].iloc[0])
    assert store.action_items(incident_ids=[]).empty
    assert len(store.action_items()) == 3


def test_the_revision_moves_only_when_the_history_changes(store_location, tmp_path):
    # What kept results are stamped with: a re-ingest of the same files leaves it, a changed
    # title or a new event moves it, on SQLite and PostgreSQL alike.
    store = Store.open(store_location())
    incidents, events = tmp_path / "incidents.csv", tmp_path / "events.csv"
    incidents.write_text("incident_id,title,severity,created_at\n"
                         "A,Checkout down,SEV2,2024-01-01T00:00:00Z\nB,Login slow,SEV3,2024-01-02T00:00:00Z\n")
    events.write_text("incident_id,at,kind,actor,summary\nA,2024-01-01T00:01:00Z,triggered,pd,paged\n")
    ingest_paths(store, "csv", [incidents, events], quiet=True)
    start = store.revision()
    assert start > 0
    ingest_paths(store, "csv", [incidents], quiet=True)
    ingest_paths(store, "csv", [events], quiet=True)
    assert store.revision() == start
    incidents.write_text("incident_id,title,severity,created_at\n"
                         "A,Checkout down in EU,SEV2,2024-01-01T00:00:00Z\nB,Login slow,SEV3,2024-01-02T00:00:00Z\n")
    ingest_paths(store, "csv", [incidents], quiet=True)
    assert store.revision() == start + 1
    events.write_text("incident_id,at,kind,actor,summary\nA,2024-01-01T00:09:00Z,resolved,pd,done\n")
    ingest_paths(store, "csv", [events], quiet=True)
    assert store.revision() == start + 2
    store.set_annotation("A", "summary", "written in the room")
    assert store.revision() == start + 2
    store.close()


# Texts the COPY text format escapes or would misread, each as a person might have typed it.
AWKWARD_TEXTS = ["tab\there", "two\nlines\r\nand a CR\r", "back\\slash \\N \\. \\t", "\\N",
                 "quote \" and ' and ,", "ünïcødé ✓ 🚒 \u2028 separator", "", " lead and trail "]


class AwkwardTextsLoader(Loader):
    """One event per awkward text, in every text column that takes free text."""

    name = "awkward"

    def load(self, path, ctx: LoadContext):
        rows = [dict(incident_id="INC-TEXT", at="2024-03-01T09:00:00Z", kind="message",
                     source_id=f"t{n}", actor=value or None, target=value or None,
                     summary=value or None, raw={"text": value})
                for n, value in enumerate(AWKWARD_TEXTS)]
        yield Batch(incidents=[incident_row(incident_id="INC-TEXT", source="awkward")],
                    events=events_frame(rows, source="awkward", path=path, tz=None))


def test_awkward_texts_are_stored_as_they_came_on_both_backends(pg_store_location, tmp_path):
    sqlite, pg = Store.open(tmp_path / "review.db"), Store.open(pg_store_location())
    for store in (sqlite, pg):
        assert store.ingest(AwkwardTextsLoader(), "a.json").events_added == len(AWKWARD_TEXTS)
    events = pg.events("INC-TEXT")
    pd.testing.assert_frame_equal(events, sqlite.events("INC-TEXT"))
    summaries = events.set_index("event_id")["summary"]
    for n, value in enumerate(AWKWARD_TEXTS):
        assert summaries[f"awkward:t{n}"] == (value or None)
    # Stored again: every id is known, nothing added, nothing differs.
    again = pg.ingest(AwkwardTextsLoader(), "a.json")
    assert (again.events_added, again.events_differing) == (0, 0)
    sqlite.close()
    pg.close()


# Texts an incident row or an alias may carry that a JSON unpacking could misread.
AWKWARD_INCIDENT_TEXTS = [*AWKWARD_TEXTS, '{"a": 1}', '["x", null]', "null", "true", "12", "\\u0041"]


class AwkwardIncidentsLoader(Loader):
    """One incident per awkward text, in its title and service, with an alias of that text."""

    name = "awkward"

    def load(self, path, ctx: LoadContext):
        yield Batch(incidents=[incident_row(incident_id=f"INC-{n}", source="awkward", title=value,
                                            service=value or None, created_at="2024-03-01T09:00:00Z")
                               for n, value in enumerate(AWKWARD_INCIDENT_TEXTS)],
                    aliases=[{"incident_id": f"INC-{n}", "source": "awkward", "external_id": f"ext {value}"}
                             for n, value in enumerate(AWKWARD_INCIDENT_TEXTS)])


def test_incident_rows_and_aliases_keep_awkward_texts_packed_or_as_arrays(pg_store_location, tmp_path,
                                                                          monkeypatch):
    """PostgreSQL gets a batch's incidents and aliases as one JSON text (`_pg_rows`), or as
    arrays when JSON cannot carry them: both store what SQLite stores, and a second ingest
    finds every alias (nothing new, nothing folded)."""
    sqlite = Store.open(tmp_path / "review.db")
    sqlite.ingest(AwkwardIncidentsLoader(), "a.json")
    expected_incidents, expected_aliases = sqlite.incidents(), sqlite.aliases()
    assert sorted(expected_incidents["title"]) == sorted(AWKWARD_INCIDENT_TEXTS)
    sqlite.close()
    packed_rows = database._pg_rows

    def as_arrays(names, rows):
        packed, params = packed_rows(names, rows)
        assert packed  # these texts fit in JSON: the packed form is the one taken
        return False, {name: [row[i] for row in rows] for i, name in enumerate(names)}

    for form in ("packed", "arrays"):
        if form == "arrays":
            monkeypatch.setattr(database, "_pg_rows", as_arrays)
        pg = Store.open(pg_store_location())
        first = pg.ingest(AwkwardIncidentsLoader(), "a.json")
        again = pg.ingest(AwkwardIncidentsLoader(), "a.json")
        assert (first.incidents_changed, first.aliases) == (len(AWKWARD_INCIDENT_TEXTS),) * 2, form
        assert (again.incidents_changed, again.aliases) == (0, 0), form
        pd.testing.assert_frame_equal(pg.incidents(), expected_incidents)
        pd.testing.assert_frame_equal(pg.aliases(), expected_aliases)
        pg.close()


@pytest.mark.parametrize("value", ["a NUL \x00 inside", "a lone \ud800 surrogate", 2**70])
def test_rows_json_cannot_carry_go_as_arrays(value):
    packed, params = database._pg_rows(("incident_id", "title"), [["INC-1", "fine"], ["INC-2", value]])
    assert not packed and params == {"incident_id": ["INC-1", "INC-2"], "title": ["fine", value]}
    packed, params = database._pg_rows(("incident_id", "title"), [["INC-1", "fine"], ["INC-2", None]])
    assert packed and params == {"rows": '[["INC-1","fine"],["INC-2",null]]'}


def test_events_stay_tied_to_their_incident_and_the_ingest_mark_ends_with_its_insert(store_location, tmp_path):
    """On PostgreSQL the ingest skips the per-row check of the events' incident (it holds
    them), marked for its own insert only: a later statement in the same transaction is
    checked again. The foreign key's rules hold for every other writer, on both backends."""
    from sqlalchemy.exc import IntegrityError

    location = store_location()
    store = Store.open(location)
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f' "
                                     "AND conrelid = 'events'::regclass")).scalar() == 0

    def orphan(conn, result):
        assert result.events_added == 2
        conn.execute(text("INSERT INTO events (event_id, incident_id, at, seq, source, kind, visibility) "
                          "VALUES ('orphan:1', 'no-such-incident', 0, 0, 'csv', 'message', 'internal')"))

    events = tmp_path / "events.csv"
    events.write_text("incident_id,at,kind,actor,summary\nINC-1,2024-01-01T00:00:00Z,message,ana,hi\n"
                      "INC-1,2024-01-01T00:05:00Z,resolved,ana,done\n")
    with pytest.raises(IntegrityError):
        store.ingest("csv", events, then=orphan)
    assert store.counts()["events"] == 0  # the whole ingest rolled back
    assert store.ingest("csv", events).events_added == 2
    store.close()
    assert_events_tied_to_incidents(location, "INC-1")


def test_a_result_kept_in_parts_replaces_every_part_at_once(store_location):
    # A directory and its slices (the kept milestones): written in one transaction, and a
    # shorter list leaves none of the earlier parts behind to be read by mistake.
    store = Store.open(store_location())
    try:
        store.keep("rows", b"directory 1", parts=[b"a", b"b", b"c"])
        store.keep("rows_other", b"kept beside", parts=[b"x"])  # "_" is no wildcard here
        assert store.kept_parts("rows", [0, 2, 7]) == {0: b"a", 2: b"c"}
        store.keep("rows", b"directory 2", parts=[b"a2"])
        assert store.kept("rows") == b"directory 2"
        assert store.kept_parts("rows", range(3)) == {0: b"a2"}
        assert store.kept_parts("rows_other", [0]) == {0: b"x"}
        store.keep("rows", b"directory 3")  # no parts named: the parts stay as they are
        assert store.kept_parts("rows", range(3)) == {0: b"a2"}
        assert store.kept_parts("rows", []) == {}
    finally:
        store.close()
