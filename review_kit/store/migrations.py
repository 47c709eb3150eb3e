"""Schema migrations: upgrade an older store in place, one version at a time, each step in
its own transaction.

The store records its version in `meta` (key `schema_version`). Version 1 is the first
released schema; `SCHEMA_VERSION` in review_kit.store.database is the one this code writes. A step
`MIGRATIONS[n]` turns version n into n + 1 and commits together with the new version
number, so an interrupted `review-kit migrate` leaves the store at a version it can resume
from (both SQLite and PostgreSQL roll back DDL with the transaction). A store newer than
this code is never touched.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from sqlalchemy import (BigInteger, Column, LargeBinary, MetaData, String, Table, Text, delete,
                        select, update)
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateColumn

from ..errors import SchemaVersionError, StoreError
from .database import SCHEMA_LOCK, SCHEMA_VERSION, Store, meta
from .event_links import link_events_to_incidents


def _add_column(conn: Connection, table: str, column: Column) -> None:
    # Compiled per dialect (BIGINT on both today); written out here, not taken from the
    # current tables, so this step stays what it was when later versions change them.
    ddl = CreateColumn(column).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {ddl}")


# Version 2 sorts and compares ids byte-wise on PostgreSQL, as SQLite always did.
_BYTEWISE_COLUMNS: dict[str, tuple[tuple[str, int], ...]] = {
    "incidents": (("incident_id", 255),),
    "events": (("event_id", 255), ("incident_id", 255)),
    "aliases": (("source", 64), ("external_id", 255), ("incident_id", 255)),
    "annotations": (("incident_id", 255), ("field", 255)),
    "action_items": (("incident_id", 255),),
}


def _v1_to_v2(conn: Connection) -> None:
    """runs.lease_until (a worker's claim on a running job expires, so a dead worker's run is
    taken again); on PostgreSQL, COLLATE "C" on the id columns."""
    _add_column(conn, "runs", Column("lease_until", BigInteger))
    if conn.dialect.name == "postgresql":
        # Referenced key first; PostgreSQL rebuilds the indexes and foreign keys it touches.
        for table, columns in _BYTEWISE_COLUMNS.items():
            changes = ", ".join(f'ALTER COLUMN {name} TYPE VARCHAR({length}) COLLATE "C"'
                                for name, length in columns)
            conn.exec_driver_sql(f"ALTER TABLE {table} {changes}")


def _v2_to_v3(conn: Connection) -> None:
    """action_items.tracker and tracker_key (an item pushed to GitHub or Jira knows its issue);
    the similarity_cache table (kept similarity terms for "seen before")."""
    _add_column(conn, "action_items", Column("tracker", String(16)))
    _add_column(conn, "action_items", Column("tracker_key", Text))
    Table("similarity_cache", MetaData(),
          Column("name", String(64), primary_key=True), Column("data", LargeBinary),
          Column("updated_at", BigInteger)).create(conn)


def _v3_to_v4(conn: Connection) -> None:
    """On PostgreSQL, the events' foreign key becomes the triggers of `event_links` (same
    rules; a big ingest's COPY no longer checks each row). SQLite: nothing changes."""
    if conn.dialect.name != "postgresql":
        return
    names = conn.exec_driver_sql(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'f'").scalars().all()
    for name in names:
        conn.exec_driver_sql(f'ALTER TABLE events DROP CONSTRAINT "{name}"')
    link_events_to_incidents(conn)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
}
assert set(MIGRATIONS) == set(range(1, SCHEMA_VERSION)), "a migration step is missing"


@dataclass
class MigrationResult:
    before: int
    after: int
    steps: list[int] = field(default_factory=list)  # versions reached, in order
    backup: Path | None = None

    def describe(self) -> str:
        if not self.steps:
            return f"store schema is at version {self.after}, the current one: nothing to do"
        path = " → ".join(str(v) for v in [self.before, *self.steps])
        saved = f" (the version {self.before} file is kept at {self.backup})" if self.backup else ""
        return f"migrated the store schema {path}{saved}"


def _version(conn: Connection, url: str) -> int:
    if not conn.dialect.has_table(conn, "meta"):
        raise StoreError(f"{url}: not a review-kit store (no meta table): nothing to migrate")
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    if value is None:
        raise StoreError(f"{url}: not a review-kit store (no schema version): nothing to migrate")
    return int(value)


def _sqlite_backup(store: Store, version: int) -> Path | None:
    """A copy of a SQLite store before it is changed (SQLite's online backup: consistent even
    while other processes read it). PostgreSQL has its own tools (pg_dump) for that."""
    database = store.engine.url.database
    if not database or database == ":memory:":
        return None
    source = Path(database)
    target = source.with_name(f"{source.name}.v{version}.bak")
    counter = 1
    while target.exists():
        counter += 1
        target = source.with_name(f"{source.name}.v{version}.{counter}.bak")
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return target


def migrate(store: Store, *, backup: bool = True) -> MigrationResult:
    """Upgrade `store` to SCHEMA_VERSION in place, step by step; refuse a newer store.

    Safe to run while other processes use the store (and twice at once: the second waits
    for the schema lock and finds nothing to do). A SQLite file is copied first to
    `<file>.v<N>.bak` unless `backup` is False."""
    with store.engine.connect() as conn:
        before = _version(conn, store.url)
    if before > SCHEMA_VERSION:
        raise SchemaVersionError(before, SCHEMA_VERSION, store.url)
    result = MigrationResult(before=before, after=before)
    if before == SCHEMA_VERSION:
        return result
    if backup and store.dialect == "sqlite":
        result.backup = _sqlite_backup(store, before)
    while True:
        with store.transaction(SCHEMA_LOCK, exclusive=True) as conn:
            # Read again under the lock: another `migrate` may have done this step meanwhile.
            version = _version(conn, store.url)
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(version, SCHEMA_VERSION, store.url)
            if version == SCHEMA_VERSION:
                break
            MIGRATIONS[version](conn)
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(version + 1)))
            conn.execute(delete(meta).where(meta.c.key == f"migrated_to_{version + 1}"))
            conn.execute(meta.insert().values(key=f"migrated_to_{version + 1}", value=stamp))
        result.steps.append(version + 1)
        result.after = version + 1
    return result


__all__ = ["MIGRATIONS", "MigrationResult", "migrate"]
