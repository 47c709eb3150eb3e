"""Schema migrations: a store of the first released schema (version 1) is refused until
`review-kit migrate` upgrades it in place; the result is the schema a new store gets; a newer
store is never touched; a failing step changes nothing. On SQLite and on PostgreSQL."""
from __future__ import annotations

import threading

import pandas as pd
import pytest
from sqlalchemy import (BigInteger, Column, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint, create_engine, inspect, text)

from review_kit.store import migrations
from review_kit.cli import main
from review_kit.errors import SchemaVersionError, StoreError
from review_kit.store.migrations import migrate
from review_kit.automation.queue import claim, complete, list_runs
from review_kit.store.database import SCHEMA_VERSION, Store, store_url

from backends import assert_events_tied_to_incidents
from backends import backend, pg_database, pg_store_location, store_location  # noqa: F401  (fixtures)


def v1_metadata() -> MetaData:
    """The tables exactly as review-kit 0.1 (schema version 1, git history) created them;
    integer microsecond columns are BIGINT as UtcMicros compiled them."""
    md = MetaData()
    Table("meta", md, Column("key", String(64), primary_key=True), Column("value", Text))
    incidents = Table(
        "incidents", md,
        Column("incident_id", String(255), primary_key=True),
        Column("title", Text), Column("severity", String(16)), Column("severity_raw", Text),
        Column("status", String(64)), Column("service", Text), Column("team", Text),
        Column("commander", Text), Column("source", String(64)), Column("source_id", Text),
        Column("url", Text), Column("created_at", BigInteger))
    Index("ix_incidents_created_at", incidents.c.created_at)
    fk = dict(ondelete="CASCADE", onupdate="CASCADE")
    events = Table(
        "events", md,
        Column("event_id", String(255), primary_key=True),
        Column("incident_id", String(255), ForeignKey("incidents.incident_id", **fk), nullable=False),
        Column("at", BigInteger, nullable=False), Column("seq", BigInteger, nullable=False, default=0),
        Column("source", String(64), nullable=False), Column("kind", String(32), nullable=False),
        Column("actor", Text), Column("actor_type", String(16)), Column("target", Text),
        Column("status", String(64)), Column("summary", Text),
        Column("visibility", String(16), nullable=False), Column("raw", Text))
    Index("ix_events_incident_at", events.c.incident_id, events.c.at)
    aliases = Table(
        "aliases", md,
        Column("source", String(64), primary_key=True),
        Column("external_id", String(255), primary_key=True),
        Column("incident_id", String(255), ForeignKey("incidents.incident_id", **fk), nullable=False))
    Index("ix_aliases_incident", aliases.c.incident_id)
    Table("annotations", md,
          Column("incident_id", String(255), ForeignKey("incidents.incident_id", **fk), primary_key=True),
          Column("field", String(255), primary_key=True),
          Column("value", Text), Column("author", Text), Column("updated_at", BigInteger))
    items = Table(
        "action_items", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("incident_id", String(255), ForeignKey("incidents.incident_id", **fk), nullable=False),
        Column("title", Text, nullable=False), Column("owner", Text), Column("type", String(16)),
        Column("priority", String(16)), Column("status", String(16), nullable=False, default="open"),
        Column("due", String(10)), Column("url", Text),
        Column("created_at", BigInteger), Column("closed_at", BigInteger))
    Index("ix_action_items_incident", items.c.incident_id)
    runs = Table(
        "runs", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("incident_id", String(255)), Column("notebook", Text, nullable=False),
        Column("trigger", String(16), nullable=False, default="manual"),
        Column("dedup_key", String(255)), Column("status", String(16), nullable=False, default="queued"),
        Column("attempts", Integer, nullable=False, default=0),
        Column("queued_at", BigInteger), Column("started_at", BigInteger),
        Column("finished_at", BigInteger), Column("error", Text), Column("outputs", Text),
        UniqueConstraint("dedup_key", name="uq_runs_dedup_key"))
    Index("ix_runs_status", runs.c.status)
    return md


T0 = 1_704_103_200_000_000  # 2024-01-01T10:00:00Z in microseconds


def make_v1_store(location: str) -> None:
    """A version-1 store holding one of everything, written as version 1 wrote it."""
    engine = create_engine(store_url(location))
    with engine.begin() as conn:
        v1_metadata().create_all(conn)
        conn.execute(text("INSERT INTO meta VALUES ('schema_version', '1')"))
        conn.execute(text("INSERT INTO incidents (incident_id, title, severity, source, created_at) "
                          "VALUES ('PABC123', 'Checkout down', 'SEV2', 'pagerduty', :t)"), {"t": T0})
        conn.execute(text(
            "INSERT INTO events (event_id, incident_id, at, seq, source, kind, actor, visibility) VALUES "
            "('pagerduty:R1', 'PABC123', :t, 0, 'pagerduty', 'triggered', NULL, 'internal'), "
            "('pagerduty:R2', 'PABC123', :t2, 1, 'pagerduty', 'acknowledged', 'Ann Lee', 'internal')"),
            {"t": T0, "t2": T0 + 120_000_000})
        conn.execute(text("INSERT INTO aliases VALUES ('pagerduty', '1042', 'PABC123')"))
        conn.execute(text("INSERT INTO annotations VALUES ('PABC123', 'impact', '12% of checkouts failed', "
                          "'ann', :t)"), {"t": T0})
        conn.execute(text("INSERT INTO action_items (incident_id, title, status, due, created_at) "
                          "VALUES ('PABC123', 'Alert on pool saturation', 'open', '2024-02-01', :t)"), {"t": T0})
        conn.execute(text("INSERT INTO runs (incident_id, notebook, trigger, dedup_key, status, attempts, "
                          "queued_at) VALUES ('PABC123', 'retrospective', 'webhook', "
                          "'retro:PABC123:2024-01-01T10:30:00Z', 'queued', 0, :t)"), {"t": T0})
    engine.dispose()


def schema_shape(location: str) -> dict:
    """Everything about the tables that behaviour depends on, in a comparable form."""
    engine = create_engine(store_url(location))
    shape: dict = {}
    with engine.connect() as conn:
        inspector = inspect(conn)
        for table in sorted(inspector.get_table_names()):
            shape[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in inspector.get_indexes(table)),
                "unique": sorted((u["name"], tuple(u["column_names"]))
                                 for u in inspector.get_unique_constraints(table)),
                "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                               tuple(f["referred_columns"]), tuple(sorted(f["options"].items())))
                              for f in inspector.get_foreign_keys(table)),
            }
        if conn.dialect.name == "postgresql":
            shape["collations"] = conn.execute(text(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND collation_name IS NOT NULL "
                "ORDER BY 1, 2")).all()
            # What ties events to incidents there (event_links): a migrated store must have it too.
            shape["triggers"] = conn.execute(text(
                "SELECT event_object_table, trigger_name, action_timing, event_manipulation, "
                "action_condition FROM information_schema.triggers "
                "WHERE trigger_schema = current_schema() ORDER BY 1, 2, 4")).all()
    engine.dispose()
    return shape


def meta_rows(location: str) -> dict[str, str]:
    engine = create_engine(store_url(location))
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT key, value FROM meta")).all())
    engine.dispose()
    return rows


def test_a_v1_store_is_refused_then_migrated_in_place(store_location, backend, capsys):
    location = store_location()
    make_v1_store(location)
    with pytest.raises(SchemaVersionError, match=rf"version 1 is older than {SCHEMA_VERSION}; run `review-kit migrate`"):
        Store.open(location)

    assert main(["--store", location, "migrate"]) == 0
    out = capsys.readouterr().out
    assert "migrated the store schema 1 → 2 → 3 → 4" in out
    if backend == "sqlite":
        backup = location + ".v1.bak"
        assert f"kept at {backup}" in out
        assert meta_rows(backup)["schema_version"] == "1"
    assert meta_rows(location)["schema_version"] == str(SCHEMA_VERSION)
    assert {"migrated_to_2", "migrated_to_3", "migrated_to_4"} <= set(meta_rows(location))

    fresh = store_location()
    Store.open(fresh).close()
    assert schema_shape(location) == schema_shape(fresh)

    store = Store.open(location)
    events = store.events("PABC123")
    assert events["event_id"].tolist() == ["pagerduty:R1", "pagerduty:R2"]
    assert events["at"].tolist() == [pd.Timestamp("2024-01-01T10:00:00Z"), pd.Timestamp("2024-01-01T10:02:00Z")]
    assert store.incident("1042")["title"] == "Checkout down"
    assert store.annotations("PABC123") == {"impact": "12% of checkouts failed"}
    assert store.action_items("PABC123")["title"].tolist() == ["Alert on pool saturation"]
    # The queued v1 run is claimed with a lease (the v2 column) and completed.
    job = claim(store, "w1", 60)
    assert job is not None and (job.id, job.incident_id, job.attempt) == (1, "PABC123", 1)
    assert list_runs(store)["lease_until"].notna().all()
    assert complete(store, job, {"folder": "out/PABC123"})
    assert list_runs(store)["status"].tolist() == ["done"]
    # The v3 columns: the v1 action item has no tracker yet; terms can be kept.
    assert store.action_items("PABC123")[["tracker", "tracker_key"]].isna().all(axis=None)
    store.keep("terms", b"kept")
    assert store.kept("terms") == b"kept"
    store.close()
    # v4: the events stay tied to their incident (on PostgreSQL by triggers, no foreign key).
    assert_events_tied_to_incidents(location, "PABC123")

    assert main(["--store", location, "migrate"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_migrate_refuses_a_newer_store(store_location, capsys):
    location = store_location()
    Store.open(location).close()
    engine = create_engine(store_url(location))
    with engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    engine.dispose()
    before = schema_shape(location)
    assert main(["--store", location, "migrate"]) == 2
    assert f"store schema version 99 is newer than this review-kit understands ({SCHEMA_VERSION}); upgrade review-kit" \
        in capsys.readouterr().err
    assert meta_rows(location) == {"schema_version": "99"}
    assert schema_shape(location) == before
    with pytest.raises(SchemaVersionError, match="newer"):
        Store.open(location)


def test_a_failing_step_changes_nothing(store_location, monkeypatch):
    location = store_location()
    make_v1_store(location)
    real_step = migrations.MIGRATIONS[1]

    def broken(conn):
        real_step(conn)  # the DDL runs, then the step fails: all of it must roll back
        raise RuntimeError("disk full")

    monkeypatch.setitem(migrations.MIGRATIONS, 1, broken)
    v1_shape = schema_shape(location)
    store = Store.open(location, create=False, check_version=False)
    with pytest.raises(RuntimeError, match="disk full"):
        migrate(store, backup=False)
    assert meta_rows(location) == {"schema_version": "1"}
    assert schema_shape(location) == v1_shape
    monkeypatch.setitem(migrations.MIGRATIONS, 1, real_step)
    assert migrate(store, backup=False).steps == [2, 3, 4]
    store.close()
    assert Store.open(location).schema_version == SCHEMA_VERSION


def test_two_migrations_at_once_do_the_step_once(store_location):
    location = store_location()
    make_v1_store(location)
    results, errors = [], []

    def run() -> None:
        try:
            store = Store.open(location, create=False, check_version=False)
            results.append(migrate(store, backup=False).steps)
            store.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    # Each step done exactly once, whichever process took it.
    assert sorted(step for steps in results for step in steps) == [2, 3, 4]
    assert Store.open(location).schema_version == SCHEMA_VERSION


def test_migrate_refuses_what_is_not_a_store(store_location, capsys):
    location = store_location()
    engine = create_engine(store_url(location))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (body TEXT)"))
    engine.dispose()
    assert main(["--store", location, "migrate"]) == 2
    assert "not a review-kit store" in capsys.readouterr().err
    with pytest.raises(StoreError, match="not a review-kit store"):
        migrate(Store.open(location, create=False, check_version=False))
