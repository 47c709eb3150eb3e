"""The store: one transaction per file, idempotent ingest, linking, annotations, versions.

Every test that takes `store` runs on SQLite and on PostgreSQL (when REVIEW_KIT_TEST_PG is set)."""
from __future__ import annotations

import collections
import weakref
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from review_kit.errors import InputError, SchemaVersionError, StoreError, UnknownIncidentError
from review_kit.loaders import Batch, LoadContext, Loader, events_frame, incident_row
from review_kit.loaders.base import checked_load
from review_kit.store import Store, database
from review_kit.store.database import SQLITE_PAGE_SIZE
from review_kit.store.ingest import ingest_paths

from backends import backend, pg_database, pg_store_location, store_location  # noqa: F401  (fixtures)


class TwoBatchLoader(Loader):
    """Yields two batches; a path containing 'broken' fails after the first was written."""

    name = "fake"

    def load(self, path: Path, ctx: LoadContext):
        incident = ctx.incident_id or "P1"
        rows = [dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="triggered", source_id="e1"),
                dict(incident_id="P1", at="2024-01-01T11:02:00+01:00", kind="acknowledged",
                     actor="Ann Lee", source_id="e2")]
        if ctx.incident_id:
            for row in rows:
                row["incident_id"] = incident
        yield Batch(incidents=[incident_row(incident_id=incident, source="fake", severity_raw="P2",
                                            title="Checkout down", created_at="2024-01-01T10:00:00Z")],
                    events=events_frame(rows, source="fake", path=path, tz=ctx.tz),
                    aliases=[dict(incident_id=incident, source="fake", external_id="42")])
        if "broken" in str(path):
            raise InputError(path, "$[1]", "truncated")
        yield Batch(events=events_frame(
            [dict(incident_id=incident, at="2024-01-01T10:30:00Z", kind="resolved", source_id="e3")],
            source="fake", path=path, tz=ctx.tz))


def snapshot(store: Store) -> dict:
    with store.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2")).all()
                for t in ("incidents", "events", "aliases", "annotations", "action_items")}


@pytest.fixture
def store(store_location) -> Store:
    store = Store.open(store_location())
    yield store
    store.close()


def test_ingest_writes_canonical_rows(store):
    result = store.ingest(TwoBatchLoader(), "a.json")
    assert (result.events_seen, result.events_added, result.incident_ids) == (3, 3, {"P1"})
    events = store.events("P1")
    assert events["kind"].tolist() == ["triggered", "acknowledged", "resolved"]
    assert str(events["at"].dtype) == "datetime64[us, UTC]"
    assert events["at"].iloc[1] == pd.Timestamp("2024-01-01T10:02:00Z")
    incident = store.incident("P1")
    assert (incident["severity"], incident["severity_raw"], incident["title"]) == ("SEV2", "P2", "Checkout down")
    assert store.incident("42")["incident_id"] == "P1"  # an alias finds the incident


def test_reingest_is_a_no_op(store):
    store.ingest(TwoBatchLoader(), "a.json")
    before = snapshot(store)
    again = store.ingest(TwoBatchLoader(), "a.json")
    assert again.events_added == 0
    assert snapshot(store) == before


def test_a_failing_file_leaves_the_store_unchanged(store):
    store.ingest(TwoBatchLoader(), "a.json")
    store.set_annotation("P1", "summary", "kept")
    before = snapshot(store)
    with pytest.raises(InputError):
        store.ingest(TwoBatchLoader(), "broken.json", LoadContext(incident_id="INC-7"))
    assert snapshot(store) == before
    with pytest.raises(UnknownIncidentError):
        store.incident("INC-7")


def test_link_folds_an_incident_and_later_ingests_follow(store):
    store.ingest(TwoBatchLoader(), "a.json")
    store.set_annotation("P1", "impact", "checkout errors for 12% of users")
    store.link("INC-9", "fake", "42")
    assert store.incidents()["incident_id"].tolist() == ["INC-9"]
    assert store.incident("INC-9")["title"] == "Checkout down"  # gaps filled from the folded one
    assert store.annotations("INC-9") == {"impact": "checkout errors for 12% of users"}
    result = store.ingest(TwoBatchLoader(), "a.json")
    assert result.events_added == 0 and result.incident_ids == {"INC-9"}
    assert len(store.events("INC-9")) == 3
    assert store.incident("P1")["incident_id"] == "INC-9"


class ManyIncidentsLoader(Loader):
    """One batch of 1,200 incidents named by their source's ids, one event each."""

    name = "fake"

    def load(self, path: Path, ctx: LoadContext):
        rows = [dict(incident_id=f"SRC-{n}", at="2024-01-01T10:00:00Z", kind="triggered",
                     source_id=f"m{n}") for n in range(1200)]
        yield Batch(events=events_frame(rows, source="fake", path=path, tz=ctx.tz))


def test_every_linked_id_of_a_big_batch_follows_its_link(store):
    """The alias lookup of a batch's ids finds every linked one, in a batch of more ids
    than one lookup chunk ever held (400), and leaves the unlinked ones alone."""
    store.ingest(TwoBatchLoader(), "a.json")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO aliases (source, external_id, incident_id) VALUES "
                          + ", ".join(f"('fake', 'SRC-{n}', 'P1')" for n in range(0, 1200, 3))))
    result = store.ingest(ManyIncidentsLoader(), "many.json")
    assert result.events_added == 1200
    counts = store.events()["incident_id"].value_counts()
    assert counts["P1"] == 3 + 400
    assert sorted(set(counts.index) - {"P1"}) == sorted(f"SRC-{n}" for n in range(1200) if n % 3)
    assert (counts.drop("P1") == 1).all()


def test_incident_option_attaches_everything(store):
    store.ingest(TwoBatchLoader(), "a.json", LoadContext(incident_id="INC-1"))
    assert store.incidents()["incident_id"].tolist() == ["INC-1"]
    assert store.aliases("INC-1")["external_id"].tolist() == ["42"]


def test_ingest_never_touches_annotations(store):
    store.ingest(TwoBatchLoader(), "a.json")
    store.set_annotation("P1", "root_causes", "connection pool exhausted", author="ann")
    store.set_annotation("P1", "started_at", "2024-01-01T09:50:00Z")
    store.ingest(TwoBatchLoader(), "a.json")
    assert store.annotations("P1") == {"root_causes": "connection pool exhausted",
                                       "started_at": "2024-01-01T09:50:00Z"}
    store.set_annotation("P1", "root_causes", "")
    assert store.annotations("P1") == {"started_at": "2024-01-01T09:50:00Z"}


def test_action_items_validate_and_close(store):
    store.ingest(TwoBatchLoader(), "a.json")
    item = store.add_action_item("P1", "Alert on pool saturation", owner="Ann Lee", type="prevent",
                                 priority="P2", due="2024-02-01", url="https://tracker/ABC-1")
    frame = store.action_items("P1")
    assert frame.loc[0, ["title", "type", "status", "due"]].tolist() == \
        ["Alert on pool saturation", "prevent", "open", "2024-02-01"]
    assert pd.isna(frame.loc[0, "closed_at"])
    store.update_action_item(item, status="done")
    assert store.action_items("P1").loc[0, "closed_at"] is not pd.NaT
    store.update_action_item(item, status="open")
    assert pd.isna(store.action_items("P1").loc[0, "closed_at"])
    with pytest.raises(StoreError, match="type must be one of"):
        store.add_action_item("P1", "x", type="blame")
    with pytest.raises(StoreError, match="YYYY-MM-DD"):
        store.add_action_item("P1", "x", due="next week")
    with pytest.raises(UnknownIncidentError):
        store.add_action_item("nope", "x")


def test_newer_schema_is_refused(store_location):
    path = store_location()
    store = Store.open(path)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    store.close()
    with pytest.raises(SchemaVersionError, match="newer than this review-kit understands"):
        Store.open(path)


def test_a_store_made_with_small_pages_keeps_them_and_takes_new_events(tmp_path, monkeypatch):
    """Stores made before the page size changed (4 KB, in WAL mode) open, read and write as
    before: SQLite cannot change a WAL file's page size, and must not be asked to."""
    path = tmp_path / "old.db"
    monkeypatch.setattr(database, "SQLITE_PAGE_SIZE", 4096)
    old = Store.open(path)
    old.ingest(TwoBatchLoader(), "a.json")
    before = old.counts()
    old.close()
    monkeypatch.undo()
    store = Store.open(path)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA page_size")).scalar() == 4096
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    again = store.ingest(TwoBatchLoader(), "a.json")
    assert again.events_added == 0 and store.counts() == before and before["events"] > 0
    assert store.events()["event_id"].is_unique
    store.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_settings_and_indexes(store):
    store.ingest(TwoBatchLoader(), "a.json")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA page_size")).scalar() == SQLITE_PAGE_SIZE == 16384
        plan = " ".join(str(r) for r in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT * FROM events WHERE incident_id = 'P1' ORDER BY at")))
    assert "ix_events_incident_at" in plan and "SCAN events" not in plan


def test_store_url_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("REVIEW_KIT_STORE", str(tmp_path / "env.db"))
    store = Store.open()
    assert store.url.endswith("env.db")
    with pytest.raises(StoreError):
        Store.open("nosuchdialect://x")


# --- a batch let go before the next is built ----------------------------------------------------
class ProbeLoader(Loader):
    """Four batches of 300 events; records, as it builds each, whether the last one's
    events are still alive somewhere."""

    name = "fake"

    def __init__(self) -> None:
        self.last_alive: list[bool] = []

    def load(self, path, ctx):
        last = None
        for n in range(4):
            if last is not None:
                self.last_alive.append(last() is not None)
            batch = Batch(incidents=[incident_row(incident_id="P1", source="fake")],
                          events=events_frame([dict(incident_id="P1", at="2024-01-01T10:00:00Z",
                                                    kind="note", source_id=f"e{n}-{i}")
                                               for i in range(300)], source="fake", path=path, tz=None))
            last = weakref.ref(batch.events)
            yield batch
            del batch


def test_a_batch_is_let_go_before_the_next_is_built(store):
    """A batch still held while the next is built spreads every later batch over scattered
    memory (measured: a CSV's batches took 0.2 s, then 0.5 s; `loaders.base._checked`).
    Neither the checks nor the store's writer may hold the last one. The first is the one
    exception: its event ids are hashed only once a second batch shows the input has more
    than one (a webhook delivery never pays for it), so it lives until then."""
    checked = ProbeLoader()
    collections.deque(checked_load(checked, Path("a.json"), LoadContext()), maxlen=0)
    written = ProbeLoader()
    result = store.ingest(written, "a.json")
    assert result.events_added == 1200
    assert checked.last_alive == [True, False, False]
    assert written.last_alive == [True, False, False]


# --- a big input read a batch ahead of the writer ---------------------------------------------
def _read_ahead_threads() -> list:
    import threading
    return [t for t in threading.enumerate() if t.name == "review-kit-read-ahead"]


def test_a_big_input_read_ahead_is_written_as_one_read_in_turn(store_location, monkeypatch):
    from review_kit.store import database
    in_turn = Store.open(store_location())
    in_turn.ingest(TwoBatchLoader(), "a.json")
    monkeypatch.setattr(database, "READ_AHEAD_BYTES", 0)  # every input counts as big
    monkeypatch.setattr(database, "READ_AHEAD_DIALECTS", frozenset({"sqlite", "postgresql"}))
    readers = []
    original = database._ReadAhead
    monkeypatch.setattr(database, "_ReadAhead", lambda batches: readers.append(1) or original(batches))
    ahead = Store.open(store_location())
    result = ahead.ingest(TwoBatchLoader(), "a.json")
    assert readers == [1] and not _read_ahead_threads()
    assert (result.events_seen, result.events_added) == (3, 3)
    assert snapshot(ahead) == snapshot(in_turn)


def test_a_big_input_failing_while_read_ahead_leaves_the_store_unchanged(store, monkeypatch):
    from review_kit.store import database
    monkeypatch.setattr(database, "READ_AHEAD_BYTES", 0)
    monkeypatch.setattr(database, "READ_AHEAD_DIALECTS", frozenset({"sqlite", "postgresql"}))
    store.ingest(TwoBatchLoader(), "a.json")
    before = snapshot(store)
    with pytest.raises(InputError, match="truncated"):
        store.ingest(TwoBatchLoader(), "broken.json", LoadContext(incident_id="INC-7"))
    assert snapshot(store) == before and not _read_ahead_threads()


def test_a_failed_write_stops_the_reader(store, monkeypatch):
    """The writer failing on a batch ends the transaction; the reader stops within a batch
    or two instead of reading the rest of the input for nothing."""
    from review_kit.store import database
    monkeypatch.setattr(database, "READ_AHEAD_BYTES", 0)
    monkeypatch.setattr(database, "READ_AHEAD_DIALECTS", frozenset({"sqlite", "postgresql"}))
    read = []

    class EndlessLoader(Loader):
        name = "fake"

        def load(self, path, ctx):
            while True:
                read.append(1)
                n = len(read)
                yield Batch(incidents=[incident_row(incident_id="P1", source="fake")],
                            events=events_frame([dict(incident_id="P1", at="2024-01-01T10:00:00Z",
                                                      kind="note", source_id=f"e{n}")],
                                                source="fake", path=path, tz=None))

    def failing(conn, source, batch, ctx, result):
        if len(read) >= 2:
            raise StoreError("disk full")
        written(conn, source, batch, ctx, result)

    written = store._write_batch
    monkeypatch.setattr(store, "_write_batch", failing)
    with pytest.raises(StoreError, match="disk full"):
        store.ingest(EndlessLoader(), "endless.json")
    assert len(read) <= 4 and not _read_ahead_threads()
    assert store.counts()["events"] == 0


def test_many_ids_are_asked_in_chunks_with_the_same_rows(tmp_path, monkeypatch):
    # A big store's severity holds more incidents than SQLite binds in one statement.
    from review_kit.store import database
    store = Store.open(tmp_path / "review.db")
    lines = ["incident_id,at,kind,actor,summary"]
    for n in range(7):
        lines += [f"INC-{n},2024-01-0{n + 1}T10:00:00Z,triggered,pd,paged",
                  f"INC-{n},2024-01-0{n + 1}T10:05:00Z,acknowledged,ana,on it"]
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    ingest_paths(store, "csv", [tmp_path / "events.csv"], quiet=True)
    for n in range(7):
        store.set_annotation(f"INC-{n}", "summary", f"note {n}")
    ids = [f"INC-{n}" for n in range(6)] + ["INC-none"]
    whole_events = store.events(incident_ids=ids).sort_values("event_id", ignore_index=True)
    whole_notes = store.annotation_rows(ids).sort_values("incident_id", ignore_index=True)
    assert len(whole_events) == 12 and len(whole_notes) == 6
    monkeypatch.setattr(database, "IN_CHUNK", 2)
    pd.testing.assert_frame_equal(
        store.events(incident_ids=ids).sort_values("event_id", ignore_index=True), whole_events)
    pd.testing.assert_frame_equal(
        store.annotation_rows(ids).sort_values("incident_id", ignore_index=True), whole_notes)
    assert store.events(incident_ids=[]).empty
    store.close()


def test_repeated_texts_read_back_as_one_object_each_and_every_text_intact(tmp_path, monkeypatch):
    """SQLite hands back a new string per cell; the store reads the repetitive columns as one
    object per distinct text (smaller and faster downstream), with every value as written."""
    from review_kit.store import database
    store = Store.open(tmp_path / "review.db")
    lines = ["incident_id,at,kind,actor,summary,status"]
    people = ["Zoë Ørsted", "李雷", "Ana 🚒", "Ana-Maria"]
    for n in range(40):
        lines.append(f"INC-{n % 3},2024-01-01T10:{n:02d}:00Z,{('message', 'note')[n % 2]},"
                     f"{people[n % 4]},said {n},{'' if n % 5 else 'investigating'}")
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_paths(store, "csv", [tmp_path / "events.csv"], quiet=True)
    with store.engine.connect() as conn:
        written = conn.execute(text("SELECT event_id, incident_id, kind, actor, status, summary "
                                    "FROM events ORDER BY event_id")).all()
    events = store.events().sort_values("event_id", ignore_index=True)
    assert [tuple(row) for row in events[["event_id", "incident_id", "kind", "actor", "status",
                                          "summary"]].itertuples(index=False)] == \
        [tuple(row) for row in written]
    assert set(events["actor"]) == set(people)
    assert events["status"].isna().sum() == 32  # NULL stays None, not a text
    for column in ("incident_id", "kind", "actor"):
        assert len({id(value) for value in events[column]}) == events[column].nunique()
    # Texts no other column shares are left as SQLite gives them.
    assert len({id(value) for value in events["summary"]}) == 40
    assert len(database._shared_texts) == 0  # nothing kept once the read is done
    # The converter forgets what it met once it holds its limit, and reads on correctly.
    monkeypatch.setattr(database, "_SHARED_LIMIT", 2)
    again = store.events().sort_values("event_id", ignore_index=True)
    pd.testing.assert_frame_equal(again, events)
    store.close()


def test_a_database_failure_is_told_in_a_few_printable_words_and_nothing_else_is():
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from review_kit.store.database import store_failure
    assert store_failure(ValueError("a bug")) is None  # a bug keeps its traceback
    assert store_failure(sqlite3.OperationalError("database is locked\nSQL: SELECT 1")) == \
        "database is locked"
    assert store_failure(sqlite3.DatabaseError("image \x1b[2Jmalformed")) == "image [2Jmalformed"
    wrapped = OperationalError("SELECT * FROM events", {}, sqlite3.OperationalError("disk I/O error"))
    assert store_failure(wrapped) == "disk I/O error"


def test_a_database_failure_never_prints_the_store_urls_secrets():
    import sqlite3

    from review_kit.store.database import store_failure
    failure = sqlite3.OperationalError("password authentication failed: hunter2secret rejected")
    assert store_failure(failure, "postgresql://rk:hunter2secret@db.example/reviews") == \
        "password authentication failed: *** rejected"
    # A plain path has no secret to cut, and is no URL to parse.
    assert store_failure(failure, "/data/review.db") == str(failure)
