"""The incident store: SQLAlchemy Core tables, one transaction per ingested file, frames out.

The same behaviour on SQLite (a file, the default) and PostgreSQL (a team's shared server):
every writer is one transaction that takes its locks up front (`BEGIN IMMEDIATE` on SQLite;
row locks, ON CONFLICT and an advisory lock on PostgreSQL) and is retried whole when
PostgreSQL breaks a deadlock or a serialization conflict.
"""
from __future__ import annotations

import os
import queue
import random
import sqlite3
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.types import TypeDecorator

from ..errors import SchemaVersionError, StoreError, UnknownIncidentError
from ..loaders import Batch, LoadContext, Loader, get_loader
from ..loaders.base import (RowBatch, checked_load_many, dumps, events_source, events_source_of,
                            frame_of_columns)
from ..model import (
    ACTION_ITEM_STATUSES,
    ACTION_ITEM_TYPES,
    EVENT_COLUMNS,
    INCIDENT_COLUMNS,
    empty_events,
    parse_timestamp,
)
from .event_links import holding_incidents, link_events_to_incidents

# 1: the first release. 2: runs.lease_until (the queue's leases); on PostgreSQL, ids
# compare and sort byte-wise (COLLATE "C") as on SQLite. 3: action_items.tracker and
# tracker_key (the issue an item was pushed to), similarity_cache (kept similarity terms).
# 4: on PostgreSQL, events are tied to their incident by triggers, not a foreign key
# (event_links). review_kit.store.migrations upgrades.
SCHEMA_VERSION = 4
DEFAULT_STORE = Path("review-data") / "review.db"
_EPOCH = pd.Timestamp(0, tz="UTC")
# PostgreSQL advisory lock keys (any two fixed 64-bit numbers of ours). LINK: link/fold
# takes it exclusively, ingest and annotation writers shared, so nobody writes under an id
# that a concurrent fold is removing. SCHEMA: creating or migrating the tables.
LINK_LOCK = 0x7265766B_00000001
SCHEMA_LOCK = 0x7265766B_00000002
# SQLSTATEs that mean "run the transaction again": serialization failure, deadlock detected.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})
# The history's revision (meta "revision"), one more; SQLite and PostgreSQL both take this
# upsert. Absent until the first write: a store made before it existed starts at 0.
_NEXT_REVISION = ("INSERT INTO meta (key, value) VALUES ('revision', '1') ON CONFLICT (key) "
                  "DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)")
WRITE_ATTEMPTS = 8
T = TypeVar("T")


class UtcMicros(TypeDecorator):
    """A timezone-aware UTC datetime kept as integer microseconds: portable and ordered."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None or value is pd.NaT:
            return None
        return value if isinstance(value, int) else _micros(value)

    def process_result_value(self, value: Any, dialect: Any) -> pd.Timestamp | None:
        return None if value is None else pd.Timestamp(int(value), unit="us", tz="UTC")


def _key(length: int = 255) -> String:
    """An id column: on PostgreSQL byte-wise (COLLATE "C"), so ids sort exactly as on SQLite
    whatever the database's locale (en-US would put "INC-10" before "inc-2" before "INC1")."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


metadata = MetaData()

meta = Table("meta", metadata,
             Column("key", String(64), primary_key=True),
             Column("value", Text))

incidents = Table(
    "incidents", metadata,
    Column("incident_id", _key(), primary_key=True),
    Column("title", Text), Column("severity", String(16)), Column("severity_raw", Text),
    Column("status", String(64)), Column("service", Text), Column("team", Text),
    Column("commander", Text), Column("source", String(64)), Column("source_id", Text),
    Column("url", Text), Column("created_at", UtcMicros),
)
Index("ix_incidents_created_at", incidents.c.created_at)

events = Table(
    "events", metadata,
    Column("event_id", _key(), primary_key=True),
    Column("incident_id", _key(), nullable=False),
    Column("at", BigInteger, nullable=False),  # microseconds since the epoch, UTC
    Column("seq", BigInteger, nullable=False, default=0),
    Column("source", String(64), nullable=False), Column("kind", String(32), nullable=False),
    Column("actor", Text), Column("actor_type", String(16)), Column("target", Text),
    Column("status", String(64)), Column("summary", Text),
    Column("visibility", String(16), nullable=False), Column("raw", Text),
    # On SQLite only: PostgreSQL keeps the same rules with triggers its ingest can skip
    # (event_links), since a foreign key checks every row of a big COPY on its own.
    ForeignKeyConstraint(["incident_id"], ["incidents.incident_id"], ondelete="CASCADE",
                         onupdate="CASCADE").ddl_if(dialect="sqlite"),
)
Index("ix_events_incident_at", events.c.incident_id, events.c.at)

aliases = Table(
    "aliases", metadata,
    Column("source", _key(64), primary_key=True),
    Column("external_id", _key(), primary_key=True),
    Column("incident_id", _key(),
           ForeignKey("incidents.incident_id", ondelete="CASCADE", onupdate="CASCADE"), nullable=False),
)
Index("ix_aliases_incident", aliases.c.incident_id)

annotations = Table(
    "annotations", metadata,
    Column("incident_id", _key(),
           ForeignKey("incidents.incident_id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True),
    Column("field", _key(), primary_key=True),
    Column("value", Text), Column("author", Text), Column("updated_at", UtcMicros),
)

action_items = Table(
    "action_items", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", _key(),
           ForeignKey("incidents.incident_id", ondelete="CASCADE", onupdate="CASCADE"), nullable=False),
    Column("title", Text, nullable=False), Column("owner", Text), Column("type", String(16)),
    Column("priority", String(16)), Column("status", String(16), nullable=False, default="open"),
    Column("due", String(10)), Column("url", Text),
    Column("created_at", UtcMicros), Column("closed_at", UtcMicros),
    # The team's tracker holding this item (github | jira) and the key there
    # ("owner/repo#12", "OPS-7"): pushing again updates that issue instead of making one.
    Column("tracker", String(16)), Column("tracker_key", Text),
)
Index("ix_action_items_incident", action_items.c.incident_id)

# Results derived from the history, kept so a big store is not read whole for every
# retrospective: one row per kind of kept result (similarity terms and index, every incident's
# milestones), plus its numbered parts ("name:0", "name:1"…) when it is kept in slices, its
# bytes made and read by the analysis wing and stamped there with what it was made from.
# Named for its first use (renaming a table needs a migration).
similarity_cache = Table(
    "similarity_cache", metadata,
    Column("name", String(64), primary_key=True), Column("data", LargeBinary),
    Column("updated_at", UtcMicros),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(255)), Column("notebook", Text, nullable=False),
    Column("trigger", String(16), nullable=False, default="manual"),
    Column("dedup_key", String(255)), Column("status", String(16), nullable=False, default="queued"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("queued_at", UtcMicros), Column("started_at", UtcMicros),
    Column("finished_at", UtcMicros), Column("error", Text), Column("outputs", Text),
    # While running: until when the worker's claim holds (it renews it); after, others may take it.
    Column("lease_until", UtcMicros),
    UniqueConstraint("dedup_key", name="uq_runs_dedup_key"),
)
Index("ix_runs_status", runs.c.status)


@dataclass
class IngestResult:
    files: int = 0
    incidents: int = 0
    events_seen: int = 0
    events_added: int = 0
    aliases: int = 0
    incident_ids: set[str] = field(default_factory=set)
    # Known event ids whose content in this input differs from the stored event (the stored
    # one is kept), and the first of them, for the message that says so.
    events_differing: int = 0
    first_differing: str | None = None
    # Incident rows inserted or changed: with new events and aliases, whether the history moved.
    incidents_changed: int = 0

    def changed(self) -> bool:
        """Did this ingest change the history (so its `revision` moves on)?"""
        return bool(self.events_added or self.aliases or self.incidents_changed)

    def differing(self) -> str | None:
        """The sentence for known events that came back changed, or None when none did."""
        if not self.events_differing:
            return None
        return (f"{self.events_differing} event(s) already in the store came with other "
                f"content, e.g. {self.first_differing}; the stored version is kept")

    def add(self, other: "IngestResult") -> None:
        self.files += other.files
        self.incidents_changed += other.incidents_changed
        self.events_differing += other.events_differing
        self.first_differing = self.first_differing or other.first_differing
        self.incidents += other.incidents
        self.events_seen += other.events_seen
        self.events_added += other.events_added
        self.aliases += other.aliases
        self.incident_ids |= other.incident_ids


def store_location(location: str | os.PathLike | None = None) -> str:
    """--store as given (else $REVIEW_KIT_STORE, else the default), a path made absolute so
    that a notebook kernel running in another folder opens the same store."""
    text = str(location or os.environ.get("REVIEW_KIT_STORE") or DEFAULT_STORE)
    return text if "://" in text else str(Path(text).expanduser().resolve())


def store_url(location: str | os.PathLike | None = None, *, create: bool = True) -> str:
    """The SQLAlchemy URL for --store: a URL as given, a plain path as a SQLite file.

    `postgresql://` (or `postgres://`) without a driver means psycopg 3, the driver
    review-kit installs; SQLAlchemy alone would reach for psycopg2."""
    text = store_location(location)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else text
    path = Path(text)
    if not create and not path.is_file():
        raise StoreError(f"{path}: no store here (ingest something first, or check --store)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(timezone.utc)).as_unit("us")


# Query parameters libpq and the drivers read a credential from (`?password=…`).
_SECRET_QUERY_KEYS = frozenset({"password", "passfile", "sslpassword", "sslkey", "secret",
                                "token", "access_token", "auth_token", "api_key", "apikey"})


def url_has_secret(url: str) -> bool:
    """True when a store URL carries a password, in its user part or its query."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "://" in url
    return bool(parsed.password) or any(k.lower() in _SECRET_QUERY_KEYS for k in parsed.query)


def store_failure(exc: BaseException, location: str = "") -> str | None:
    """What a database failure (a corrupt, locked or foreign store; a server gone) says, in
    a few words fit to print, or None for any other exception. The driver's own message may
    quote the store's texts, so only its first line is kept, and only its printable part;
    and it may quote the secrets of the store's URL (`location`), which are cut out as
    `Store.open` cuts them (`_scrubbed`)."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    if not isinstance(cause, sqlite3.Error) and not _is_psycopg_error(cause):
        return None
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if "decode to UTF-8" in message:
        return "a text in the store is not valid UTF-8 (was it written by another tool?)"
    if "://" in location:
        try:
            message = _scrubbed(message, make_url(location))
        except (ArgumentError, ValueError):
            pass
    return "".join(c for c in message[:200] if c.isprintable())


def _is_psycopg_error(exc: BaseException) -> bool:
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)


def hidden_url(url: str) -> str:
    """A store URL fit for a message or a log line: its password shown as ``***``, in the
    user part and in the query alike; a URL that cannot be read shows only its scheme."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url.split("://", 1)[0] + "://…" if "://" in url else url
    secret = [k for k in parsed.query if k.lower() in _SECRET_QUERY_KEYS]
    if secret:
        parsed = parsed.update_query_dict({k: "***" for k in secret})
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


_hidden = hidden_url


def _scrubbed(message: str, url: Any) -> str:
    """A driver's message with the URL's secrets cut out, should the driver have quoted them."""
    secrets = [url.password] + [v for k, v in url.query.items() if k.lower() in _SECRET_QUERY_KEYS]
    for secret in secrets:
        for value in secret if isinstance(secret, tuple) else (secret,):
            if value and len(str(value)) >= 3:
                message = message.replace(str(value), "***")
    return message


class Store:
    """The incident store. Readers return DataFrames; writers are one transaction each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = hidden_url(engine.url.render_as_string(hide_password=False))
        self.dialect = engine.dialect.name

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | os.PathLike | None = None, *, create: bool = True,
             check_version: bool = True) -> "Store":
        """Open (and with `create`, make) the store. A store of an older schema version is
        refused with "run `review-kit migrate`", a newer one with "upgrade review-kit";
        `check_version=False` is for `migrate` itself."""
        url = store_url(location, create=create)
        try:
            engine = create_engine(url, future=True, **_engine_options(url))
        except (ArgumentError, ImportError, ValueError) as exc:
            # SQLAlchemy's message may quote the URL, password and all: never shown.
            problem = "invalid host or port" if "int()" in str(exc) else type(exc).__name__
            if isinstance(exc, ImportError):
                problem = f"no driver: {exc.name or exc}"
            raise StoreError(f"{_hidden(url)}: cannot open store: not a usable URL ({problem})") \
                from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        elif engine.dialect.name != "postgresql":
            engine.dispose()
            raise StoreError(f"{_hidden(url)}: unsupported database {engine.dialect.name!r}: "
                             "use a SQLite file or a postgresql:// URL")
        store = cls(engine)
        try:
            store._check_schema(create, check_version)
        except BaseException:
            engine.dispose()
            raise
        return store

    def _check_schema(self, create: bool, check_version: bool) -> None:
        try:
            with self.engine.connect() as conn:
                found = self._schema_version(conn)
            if found is None:
                if not create:
                    raise StoreError(f"{self.url}: not a review-kit store")
                found = self._write(self._create_schema, lock=SCHEMA_LOCK)
        except (OperationalError, DBAPIError) as exc:
            raise StoreError(f"{self.url}: cannot open store: "
                             f"{_scrubbed(' '.join(str(exc.orig).split()), self.engine.url)}") from None
        if check_version and found != SCHEMA_VERSION:
            raise SchemaVersionError(found, SCHEMA_VERSION, self.url)

    def _create_schema(self, conn: Connection) -> int:
        # Under the schema lock: a second process that raced us here finds the tables made.
        found = self._schema_version(conn)
        if found is None:
            metadata.create_all(conn)
            if conn.dialect.name == "postgresql":
                link_events_to_incidents(conn)
            conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
            found = SCHEMA_VERSION
        return found

    @staticmethod
    def _schema_version(conn: Connection) -> int | None:
        if not conn.dialect.has_table(conn, "meta"):
            return None
        value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        return None if value is None else int(value)

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return self._schema_version(conn) or 0

    def close(self) -> None:
        self.engine.dispose()

    # --- write transactions ----------------------------------------------------------------
    @contextmanager
    def transaction(self, lock: int | None = LINK_LOCK, *, exclusive: bool = False) -> Iterator[Connection]:
        """One write transaction whose locks are taken before its first read.

        SQLite: `BEGIN IMMEDIATE` takes the one writer lock at once, so nothing a writer read
        can change before it commits (the driver would otherwise begin only at the first
        INSERT, after the reads). PostgreSQL: the advisory `lock` (shared, or `exclusive`);
        rows are locked by the statements themselves."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif lock is not None:
                function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
                conn.execute(text(f"SELECT {function}(:key)"), {"key": lock})
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _write(self, work: Callable[[Connection], T], *, lock: int | None = LINK_LOCK,
               exclusive: bool = False, revises: bool | Callable[[T], bool] = False) -> T:
        """`work(conn)` in one transaction, run again from the start when PostgreSQL aborts it
        to break a deadlock (two ingests locking the same incidents in another order).
        `revises`: the work changes the history (incidents, events, aliases), or a test of
        its result saying whether it did, so the `revision` moves on in the same transaction."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.transaction(lock, exclusive=exclusive or lock == SCHEMA_LOCK) as conn:
                    result = work(conn)
                    if revises(result) if callable(revises) else revises:
                        # Last, so the one row every writer updates is locked only at the end.
                        conn.exec_driver_sql(_NEXT_REVISION)
                    return result
            except DBAPIError as exc:
                if attempt == WRITE_ATTEMPTS or getattr(exc.orig, "sqlstate", None) not in _RETRY_SQLSTATES:
                    raise
                time.sleep(random.uniform(0, min(0.02 * 2 ** attempt, 1.0)))
        raise AssertionError("unreachable")

    def revision(self) -> int:
        """How many times the history (incidents, events, aliases) was written: what a result
        derived from it is stamped with, to know it is still current. Annotations and action
        items do not move it. Read it *before* reading what a result is derived from: a write
        in between then makes the result look older than it is, never newer."""
        with self.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == "revision")).scalar()
        return int(value) if value is not None else 0

    # --- ingest ----------------------------------------------------------------------------
    def ingest(self, loader: Loader | str, path: str | os.PathLike,
               ctx: LoadContext | None = None, *,
               progress: Callable[[int], None] | None = None,
               then: Callable[[Connection, IngestResult], None] | None = None) -> IngestResult:
        """Load one input file (or what one PATH stands for) and write it in ONE transaction.

        Nothing is written when the loader raises: the transaction rolls back. `then(conn,
        result)` runs last in the same transaction (the receiver queues what it stored).
        """
        return self.ingest_many(loader, [path], ctx, progress=progress, then=then)

    def ingest_many(self, loader: Loader | str, paths: Iterable[str | os.PathLike],
                    ctx: LoadContext | None = None, *,
                    progress: Callable[[int], None] | None = None,
                    then: Callable[[Connection, IngestResult], None] | None = None) -> IngestResult:
        """Load several input files of one source and write them in ONE transaction (the
        loader's per-file setup paid once: ``Loader.load_many``). Nothing is written when
        the loader raises on any of them."""
        loader = get_loader(loader) if isinstance(loader, str) else loader
        ctx = ctx or LoadContext()
        paths = [Path(p) for p in paths]

        ahead = self.dialect in READ_AHEAD_DIALECTS and _input_bytes(paths) >= READ_AHEAD_BYTES

        def write(conn: Connection) -> IngestResult:
            result = IngestResult(files=len(paths))  # afresh on a retried transaction
            batches = checked_load_many(loader, paths, ctx)
            reader = _ReadAhead(batches) if ahead else None
            try:
                for batch in reader if reader is not None else batches:
                    self._write_batch(conn, loader.name, batch, ctx, result)
                    if progress is not None and batch.event_count:
                        progress(batch.event_count)
                    del batch  # before the next is built (why: loaders.base._checked)
            finally:
                if reader is not None:
                    reader.close()
            if then is not None:
                then(conn, result)
            return result

        return self._write(write, revises=IngestResult.changed)

    def _write_batch(self, conn: Connection, source: str, batch: Batch, ctx: LoadContext,
                     result: IngestResult) -> None:
        # A RowBatch (a delivery's few events) is written from its lists: no frame is built.
        frame: pd.DataFrame | dict[str, list] = (
            batch.columns if isinstance(batch, RowBatch)
            else batch.events if batch.events is not None else empty_events())
        remap = self._incident_map(conn, source, batch, frame, ctx)

        def mapped(incident_id: str) -> str:
            return remap.get(str(incident_id), str(incident_id))

        incident_rows = {}
        for row in batch.incidents:
            row = dict(row)
            row["incident_id"] = mapped(row["incident_id"])
            # Two rows for one incident in a batch: the later one fills the earlier's gaps.
            previous = incident_rows.get(row["incident_id"])
            incident_rows[row["incident_id"]] = row if previous is None else \
                {k: (row.get(k) if row.get(k) is not None else previous.get(k)) for k in INCIDENT_COLUMNS}
        if isinstance(frame, dict):
            ids = [mapped(i) for i in frame["incident_id"]]
            frame = {**frame, "incident_id": ids}
            for incident_id, owner in events_source_of(ids, frame["source"]).items():
                if incident_id not in incident_rows:
                    incident_rows[incident_id] = {"incident_id": incident_id, "source": owner}
        elif len(frame):
            ids = _as_text(frame["incident_id"].to_numpy(dtype=object))
            if remap:
                ids = pd.Series(ids, dtype=object)
                ids = ids.map(remap).fillna(ids).to_numpy(dtype=object)
            frame = frame.assign(incident_id=ids)
            for incident_id, owner in events_source(frame).items():
                if incident_id not in incident_rows:
                    incident_rows[incident_id] = {"incident_id": incident_id, "source": owner}
        result.incidents_changed += self._upsert_incidents(conn, list(incident_rows.values()))
        result.incidents += len(incident_rows)
        result.incident_ids |= set(incident_rows)

        alias_rows = [{"source": a["source"], "external_id": str(a["external_id"]),
                       "incident_id": mapped(a["incident_id"])}
                      for a in batch.aliases if a.get("external_id") not in (None, "")]
        if alias_rows:
            missing = {a["incident_id"] for a in alias_rows} - set(incident_rows)
            result.incidents_changed += self._upsert_incidents(
                conn, [{"incident_id": i, "source": source} for i in missing])
            result.aliases += self._insert_ignore(conn, aliases, alias_rows, ("source", "external_id"))
        count = batch.event_count
        if count:
            result.events_seen += count
            added = self._insert_events(conn, frame)
            result.events_added += added
            if added < count:  # some ids were known: are they the same events?
                differing, first = (_differing_rows(conn, frame) if isinstance(frame, dict)
                                    else _differing_events(conn, frame))
                result.events_differing += differing
                result.first_differing = result.first_differing or first

    def _incident_map(self, conn: Connection, source: str, batch: Batch,
                      frame: pd.DataFrame | dict[str, list], ctx: LoadContext) -> dict[str, str]:
        """Incident ids of this batch → the incident they are linked to (aliases table)."""
        keys: set[tuple[str, str]] = set()
        for row in batch.incidents:
            keys.add((row.get("source") or source, str(row["incident_id"])))
        for alias in batch.aliases:
            keys.add((alias["source"], str(alias["external_id"])))
            keys.add((alias["source"], str(alias["incident_id"])))
        if batch.event_count:
            # Distinct pairs in C (set of zipped columns): pandas' drop_duplicates costs more
            # than a one-event delivery's whole ingest.
            pairs = set(zip(_listed(frame, "source"), _listed(frame, "incident_id")))
            keys.update((str(src), str(i)) for src, i in pairs)
            keys.update((source, str(i)) for _, i in pairs)
        if not keys:
            return {}
        known: dict[tuple[str, str], str] = {}
        key_list = sorted(keys)
        if conn.dialect.name == "postgresql":
            # The keys as rows of one statement of constant text (`_pg_rows`): psycopg parses a
            # statement of hundreds of placeholders again for every chunk (a third of a big
            # ingest's time).
            packed, params = _pg_rows(("source", "external_id"), key_list)
            rows = conn.execute(_aliases_of_rows(packed), params)
            known.update({(r.source, r.external_id): r.incident_id for r in rows})
        else:
            known.update(_sqlite_aliases_of(conn, key_list))
        remap: dict[str, str] = {}
        for (src, external), target in known.items():
            if external != target:
                remap[external] = target
        # An alias a batch declares follows the id's own link, unless it is a bare number or a
        # name the loader marks as shared (`merge: False`, a dedup key): an incident number is
        # unique only within one account (two PagerDuty accounts both have a #1234), and a
        # dedup key names every later incident of the same alert, so neither alone ever
        # merges two incidents.
        for alias in batch.aliases:
            own = str(alias["incident_id"])
            if str(alias["external_id"]).isdigit() or alias.get("merge") is False:
                continue
            if (alias["source"], str(alias["external_id"])) in known and own not in remap:
                target = known[(alias["source"], str(alias["external_id"]))]
                if target != own:
                    remap[own] = target
        if ctx.incident_id:
            remap = {k: ctx.incident_id for k in {k for k, _ in keys} | set(remap)}
            remap.pop(ctx.incident_id, None)
        return remap

    def _upsert_incidents(self, conn: Connection, rows: list[dict], *, fill_only: bool = False) -> int:
        """Insert or refresh incident rows; how many were inserted or changed."""
        if not rows:
            return 0
        columns = [c for c in INCIDENT_COLUMNS if c != "incident_id"]
        # One order for every writer: two ingests upserting the same incidents cannot deadlock.
        full = sorted(({c: row.get(c) for c in INCIDENT_COLUMNS} for row in rows),
                      key=lambda row: str(row["incident_id"]))
        packed, params = False, {}
        if conn.dialect.name == "postgresql":
            created = incidents.c.created_at.type
            packed, params = _pg_rows(INCIDENT_COLUMNS, [
                [created.process_bind_param(row[c], None) if c == "created_at" else row[c]
                 for c in INCIDENT_COLUMNS] for row in full])
        key = (conn.dialect.name, fill_only, packed)
        if key not in _INCIDENT_UPSERTS:  # built once: the expression costs more than a write
            insert_ = _dialect_insert(conn)(incidents)
            if conn.dialect.name == "postgresql":
                # Every row in one statement of constant text: psycopg parses a statement of
                # thousands of placeholders again for every page of rows.
                insert_ = insert_.from_select(list(INCIDENT_COLUMNS),
                                              _rows_select(incidents, INCIDENT_COLUMNS, packed))
            statement = _incident_upsert(insert_, columns, fill_only)
            if conn.dialect.name == "postgresql":
                # psycopg counts no rows over many statements: the rows written say it.
                statement = statement.returning(incidents.c.incident_id)
            _INCIDENT_UPSERTS[key] = statement
        if conn.dialect.name == "postgresql":
            return len(conn.execute(_INCIDENT_UPSERTS[key], params).fetchall())
        result = conn.execute(_INCIDENT_UPSERTS[key], full)
        # A driver that cannot count the rows of many statements says -1: count it as a change.
        return len(full) if result.rowcount is None or result.rowcount < 0 else result.rowcount

    @staticmethod
    def _insert_ignore(conn: Connection, table: Table, rows: list[dict], keys: tuple[str, ...]) -> int:
        rows = sorted(rows, key=lambda row: tuple(str(row[k]) for k in keys))
        if conn.dialect.name == "postgresql":
            # One statement for all the rows (`_pg_rows`, as for incidents); its executemany
            # would report no row count either: the rows actually inserted are counted instead.
            names = tuple(rows[0])
            packed, params = _pg_rows(names, [[row[name] for name in names] for row in rows])
            return len(conn.execute(_insert_ignoring_rows(table, keys, names, packed), params).all())
        statement = _insert_ignoring(conn.dialect.name, table, keys)
        return max(conn.execute(statement, rows).rowcount, 0)

    @staticmethod
    def _insert_events(conn: Connection, frame: pd.DataFrame | dict[str, list]) -> int:
        """Insert new events, skip known ones; the number inserted. Driver-level SQL: the ORM
        layer's per-row parameter processing would cost more than the insert itself.
        `frame` may be a RowBatch's columns (`at` already in microseconds)."""
        if conn.dialect.name == "postgresql":
            return _insert_events_postgresql(
                conn, frame_of_columns(frame) if isinstance(frame, dict) else frame)
        columns = list(EVENT_COLUMNS)
        if isinstance(frame, dict):
            data = [frame[c] for c in columns]
        else:
            micros = (frame["at"].dt.as_unit("us").astype("int64")).tolist()
            data = [micros if c == "at" else frame[c].astype("int64").tolist() if c == "seq"
                    else frame[c].tolist() for c in columns]
        sql = (f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
               "ON CONFLICT (event_id) DO NOTHING")
        # One executemany for the batch, its rows zipped from the columns as sqlite3 reads them.
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(sql, zip(*data))
            return max(cursor.rowcount, 0)
        finally:
            cursor.close()

    # --- reading ---------------------------------------------------------------------------
    def incidents(self, incident_ids: Iterable[str] | None = None, *, severity: str | None = None,
                  since: Any = None, until: Any = None) -> pd.DataFrame:
        """Incidents, oldest first; `severity` and the created_at window [since, until) filter
        in the database (a retrospective's history needs a few hundred of a big store's rows)."""
        # NULLS FIRST is SQLite's order; PostgreSQL's default would put them last.
        query = select(*[type_coerce(incidents.c[c], BigInteger) if c == "created_at" else incidents.c[c]
                         for c in INCIDENT_COLUMNS]).order_by(
            incidents.c.created_at.asc().nulls_first(), incidents.c.incident_id)
        if incident_ids is not None:
            query = query.where(incidents.c.incident_id.in_(list(incident_ids)))
        if severity is not None:
            query = query.where(incidents.c.severity == severity)
        query = _in_window(query, incidents.c.created_at, since, until)
        with self.engine.connect() as conn:
            rows = conn.execute(query).cursor.fetchall()
        frame = pd.DataFrame(rows, columns=list(INCIDENT_COLUMNS), dtype=object)
        # Read as integer microseconds and converted at once, not a Timestamp per row.
        frame["created_at"] = pd.to_datetime(pd.to_numeric(frame["created_at"]), unit="us", utc=True)
        return frame.astype({c: object for c in INCIDENT_COLUMNS if c != "created_at"})

    def incident(self, incident_id: str) -> dict:
        frame = self.incidents([incident_id])
        if frame.empty:
            resolved = self.resolve_alias(incident_id)
            if resolved is None:
                raise UnknownIncidentError(incident_id)
            frame = self.incidents([resolved])
        row = frame.iloc[0].to_dict()
        return {k: (None if v is pd.NaT or (isinstance(v, float) and pd.isna(v)) else v) for k, v in row.items()}

    def resolve_alias(self, external_id: str, source: str | None = None) -> str | None:
        query = select(aliases.c.incident_id).where(aliases.c.external_id == str(external_id))
        if source:
            query = query.where(aliases.c.source == source)
        with self.engine.connect() as conn:
            found = conn.execute(query).scalars().unique().all()
        return found[0] if len(found) == 1 else None

    def events(self, incident_id: str | None = None, *, incident_ids: Iterable[str] | None = None,
               since: Any = None, until: Any = None, with_raw: bool = True,
               kinds: Iterable[str] | None = None, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """Events as a canonical frame.

        One incident comes ordered by time and seq (its index gives that for free); many
        come in store order, since build_timeline orders them vectorised, far faster than a
        database sort of a million rows. `kinds` keeps only those kinds; `columns` only those
        columns (reading a big store is mostly moving text).
        """
        wanted = list(columns) if columns is not None else list(EVENT_COLUMNS)
        columns = [c for c in EVENT_COLUMNS if c in wanted and (with_raw or c != "raw")]
        query = select(*[_shared(events.c[c]) if self.dialect == "sqlite" and c in SHARED_COLUMNS
                         else events.c[c] for c in columns])
        if kinds is not None:
            query = query.where(events.c.kind.in_(list(kinds)))
        if incident_id is not None:
            query = query.where(events.c.incident_id == incident_id).order_by(
                events.c.at, events.c.seq, events.c.event_id)
        query = _in_window(query, events.c.at, since, until)
        try:
            with self.engine.connect() as conn:
                # The driver's rows as they come: SQLAlchemy's row objects cost more than the read.
                rows = _fetched_in(conn, query, events.c.incident_id, incident_ids)
        finally:
            _shared_texts.clear()
        if not rows:
            return empty_events()[columns]
        frame = pd.DataFrame(rows, columns=columns, dtype=object)
        if "at" in frame:
            frame["at"] = pd.to_datetime(frame["at"].astype("int64"), unit="us", utc=True)
        if "seq" in frame:
            frame["seq"] = frame["seq"].astype("int64")
        return frame

    def aliases(self, incident_id: str | None = None) -> pd.DataFrame:
        query = select(aliases.c.incident_id, aliases.c.source, aliases.c.external_id)
        if incident_id is not None:
            query = query.where(aliases.c.incident_id == incident_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(aliases.c.incident_id, aliases.c.source,
                                               aliases.c.external_id)).all()
        return pd.DataFrame.from_records(rows, columns=["incident_id", "source", "external_id"])

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in (incidents, events, aliases, annotations, action_items, runs)}

    # --- linking ---------------------------------------------------------------------------
    def link(self, incident_id: str, source: str, external_id: str) -> None:
        """Make (source, external_id) name `incident_id`; fold an incident already stored
        under that external id into it, so its events join one timeline without duplicates."""
        external_id = str(external_id)

        def write(conn: Connection) -> None:
            exists = conn.execute(select(incidents.c.incident_id)
                                  .where(incidents.c.incident_id == incident_id)).first()
            if exists is None:
                self._upsert_incidents(conn, [{"incident_id": incident_id, "source": None}])
            folded = {external_id}
            folded |= set(conn.execute(select(aliases.c.incident_id).where(
                and_(aliases.c.source == source, aliases.c.external_id == external_id))).scalars())
            folded.discard(incident_id)
            for old in sorted(folded):
                self._fold(conn, old, incident_id, source)
            statement = _dialect_insert(conn)(aliases).values(
                source=source, external_id=external_id, incident_id=incident_id)
            conn.execute(statement.on_conflict_do_update(
                index_elements=["source", "external_id"], set_={"incident_id": incident_id}))

        # Exclusive: no ingest or annotation may write under an id this fold removes.
        self._write(write, exclusive=True, revises=True)

    def _fold(self, conn: Connection, old: str, new: str, source: str) -> None:
        row = conn.execute(select(incidents).where(incidents.c.incident_id == old)).mappings().first()
        if row is None:
            return
        # Later ingests that name the old id follow the link too.
        statement = _dialect_insert(conn)(aliases).values(
            source=row["source"] or source, external_id=old, incident_id=old)
        conn.execute(statement.on_conflict_do_nothing(index_elements=["source", "external_id"]))
        self._upsert_incidents(conn, [{**dict(row), "incident_id": new}], fill_only=True)
        for table in (events, action_items):
            conn.execute(update(table).where(table.c.incident_id == old).values(incident_id=new))
        conn.execute(update(aliases).where(aliases.c.incident_id == old).values(incident_id=new))
        existing = set(conn.execute(select(annotations.c.field)
                                    .where(annotations.c.incident_id == new)).scalars())
        conn.execute(delete(annotations).where(and_(annotations.c.incident_id == old,
                                                    annotations.c.field.in_(existing))))
        conn.execute(update(annotations).where(annotations.c.incident_id == old).values(incident_id=new))
        conn.execute(delete(incidents).where(incidents.c.incident_id == old))

    # --- annotations -----------------------------------------------------------------------
    def annotations(self, incident_id: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(annotations.c.field, annotations.c.value)
                                .where(annotations.c.incident_id == incident_id)).all()
        return {r.field: r.value for r in rows if r.value is not None}

    def annotation_rows(self, incident_ids: Iterable[str] | None = None, *,
                        fields: Iterable[str] | None = None) -> pd.DataFrame:
        query = select(annotations.c.incident_id, annotations.c.field, annotations.c.value,
                       annotations.c.author, annotations.c.updated_at)
        if fields is not None:
            query = query.where(annotations.c.field.in_(list(fields)))
        with self.engine.connect() as conn:
            rows = _fetched_in(conn, query, annotations.c.incident_id, incident_ids, raw=False)
        return pd.DataFrame.from_records(rows, columns=["incident_id", "field", "value", "author", "updated_at"])

    def set_annotation(self, incident_id: str, field: str, value: str | None,
                       author: str | None = None) -> None:
        """Save one field at once (None or "" deletes it); other fields are untouched: one
        row per field, so two people editing different fields never overwrite each other."""

        def write(conn: Connection) -> None:
            self._require_incident(incident_id, conn)
            if value is None or str(value) == "":
                conn.execute(delete(annotations).where(and_(annotations.c.incident_id == incident_id,
                                                            annotations.c.field == field)))
                return
            statement = _dialect_insert(conn)(annotations).values(
                incident_id=incident_id, field=field, value=str(value), author=author, updated_at=_now())
            conn.execute(statement.on_conflict_do_update(
                index_elements=["incident_id", "field"],
                set_={"value": statement.excluded.value, "author": statement.excluded.author,
                      "updated_at": statement.excluded.updated_at}))

        self._write(write)

    # --- action items ----------------------------------------------------------------------
    ACTION_ITEM_COLUMNS = ("id", "incident_id", "title", "owner", "type", "priority", "status",
                           "due", "url", "created_at", "closed_at", "tracker", "tracker_key")

    def action_items(self, incident_id: str | None = None, *,
                     incident_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Action items in creation order: all, one incident's, or those of ``incident_ids``
        (a retrospective's similar incidents: a few of a big store's hundred thousand)."""
        times = ("created_at", "closed_at")
        query = select(*[type_coerce(action_items.c[c], BigInteger) if c in times
                         else action_items.c[c] for c in self.ACTION_ITEM_COLUMNS]) \
            .order_by(action_items.c.id)
        if incident_id is not None:
            query = query.where(action_items.c.incident_id == incident_id)
        if incident_ids is not None:
            query = query.where(action_items.c.incident_id.in_([str(i) for i in incident_ids]))
        with self.engine.connect() as conn:
            rows = conn.execute(query).cursor.fetchall()
        frame = pd.DataFrame.from_records(rows, columns=list(self.ACTION_ITEM_COLUMNS))
        # Read as integer microseconds (exact in a float64 until the year 2255) and converted
        # at once, not a Timestamp per row.
        for column in times:
            frame[column] = pd.to_datetime(pd.to_numeric(frame[column]), unit="us",
                                           utc=True).dt.as_unit("us")
        return frame

    def add_action_item(self, incident_id: str, title: str, **fields: Any) -> int:
        values = self._action_item_values({"title": title, **fields})
        values.setdefault("status", "open")
        values.setdefault("created_at", _now())
        if values["status"] != "open" and values.get("closed_at") is None:
            values["closed_at"] = _now()

        def write(conn: Connection) -> int:
            self._require_incident(incident_id, conn)
            return int(conn.execute(insert(action_items).values(incident_id=incident_id, **values))
                       .inserted_primary_key[0])

        return self._write(write)

    def update_action_item(self, item_id: int, **fields: Any) -> None:
        values = self._action_item_values(fields)

        def write(conn: Connection) -> None:
            # FOR UPDATE: closed_at is derived from the status read here (SQLite ignores it;
            # BEGIN IMMEDIATE already holds the only write lock).
            current = conn.execute(select(action_items.c.status, action_items.c.closed_at)
                                   .where(action_items.c.id == item_id).with_for_update()).first()
            if current is None:
                raise StoreError(f"no action item {item_id}")
            changes = dict(values)
            if "status" in changes and "closed_at" not in changes:
                changes["closed_at"] = None if changes["status"] == "open" else (current.closed_at or _now())
            conn.execute(update(action_items).where(action_items.c.id == item_id).values(**changes))

        self._write(write)

    def delete_action_item(self, item_id: int) -> None:
        self._write(lambda conn: conn.execute(delete(action_items).where(action_items.c.id == item_id)))

    @staticmethod
    def _action_item_values(fields: Mapping[str, Any]) -> dict:
        allowed = {"title", "owner", "type", "priority", "status", "due", "url", "created_at", "closed_at",
                   "tracker", "tracker_key"}
        unknown = set(fields) - allowed
        if unknown:
            raise StoreError(f"unknown action item field(s): {', '.join(sorted(unknown))}")
        values = {k: (None if v == "" else v) for k, v in fields.items()}
        if values.get("type") is not None and values["type"] not in ACTION_ITEM_TYPES:
            raise StoreError(f"action item type must be one of {', '.join(ACTION_ITEM_TYPES)}")
        if values.get("status") is not None and values["status"] not in ACTION_ITEM_STATUSES:
            raise StoreError(f"action item status must be one of {', '.join(ACTION_ITEM_STATUSES)}")
        if "title" in values and not (values["title"] or "").strip():
            raise StoreError("an action item needs a title")
        if isinstance(values.get("due"), (date, datetime)):
            values["due"] = values["due"].isoformat()[:10]
        elif values.get("due") is not None:
            try:
                values["due"] = date.fromisoformat(str(values["due"])[:10]).isoformat()
            except ValueError:
                raise StoreError(f"due date {values['due']!r} is not YYYY-MM-DD") from None
        return values

    def import_action_items(self, items: pd.DataFrame, path: str | os.PathLike | None = None) -> tuple[int, int]:
        """Write a history of action items (`loaders.action_items.read_action_items`) in one
        transaction: an item already stored for the incident under the same title is updated
        with what the file says, any other is added; a closed or created time the file leaves
        out stays unknown. An incident the store does not know (by id or alias) stops the
        import with the line that names it, and nothing is written. Returns (added, updated)."""
        from ..errors import InputError
        columns = ("title", "owner", "type", "priority", "status", "due", "url", "created_at", "closed_at")

        def value(v: Any) -> Any:
            if v is None or v is pd.NaT or (isinstance(v, float) and pd.isna(v)):
                return None
            return v

        def write(conn: Connection) -> tuple[int, int]:
            ids = sorted(set(items["incident_id"].astype(str)))
            known = set(conn.execute(select(incidents.c.incident_id)
                                     .where(incidents.c.incident_id.in_(ids))).scalars())
            via_alias = dict(conn.execute(select(aliases.c.external_id, aliases.c.incident_id)
                                          .where(aliases.c.external_id.in_(sorted(set(ids) - known)))).all())
            added = updated = 0
            existing: dict[tuple[str, str], int] = {}
            for row in conn.execute(select(action_items.c.id, action_items.c.incident_id,
                                           action_items.c.title)).all():
                existing.setdefault((row.incident_id, row.title), row.id)
            for record in items.to_dict("records"):
                incident_id = str(record["incident_id"])
                incident_id = incident_id if incident_id in known else via_alias.get(incident_id)
                if incident_id is None:
                    raise InputError(str(path) if path else None, f"line {record.get('line')}",
                                     f"no incident {str(record['incident_id'])!r} in the store; "
                                     "ingest it first")
                values = self._action_item_values({c: value(record.get(c)) for c in columns})
                key = (incident_id, values["title"])
                if key in existing:
                    changes = {k: v for k, v in values.items() if v is not None}
                    conn.execute(update(action_items).where(action_items.c.id == existing[key])
                                 .values(**changes))
                    updated += 1
                else:
                    values.setdefault("status", "open")
                    existing[key] = int(conn.execute(insert(action_items).values(
                        incident_id=incident_id, **values)).inserted_primary_key[0])
                    added += 1
            return added, updated

        return self._write(write)

    # --- kept results -------------------------------------------------------------------------
    def event_counts(self) -> pd.Series:
        """Events per incident (incident_id → count), from the index alone."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(events.c.incident_id, func.count())
                                .group_by(events.c.incident_id)).cursor.fetchall()
        return pd.Series({r[0]: int(r[1]) for r in rows}, dtype="int64", name="events")

    def kept(self, name: str) -> bytes | None:
        """What was kept under `name` (None when nothing was)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(similarity_cache.c.data)
                                 .where(similarity_cache.c.name == name)).scalar()
        return None if value is None else bytes(value)

    def kept_parts(self, name: str, parts: Iterable[int]) -> dict[int, bytes]:
        """The parts kept with `name` (`keep`'s `parts`), by number, in one read; a part not
        there is left out."""
        wanted = {f"{name}:{int(k)}": int(k) for k in parts}
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(similarity_cache.c.name, similarity_cache.c.data)
                                .where(similarity_cache.c.name.in_(list(wanted)))).all()
        return {wanted[row[0]]: bytes(row[1]) for row in rows}

    def keep(self, name: str, data: bytes, *, parts: Sequence[bytes] | None = None) -> None:
        """Keep `data` under `name`, replacing what was there (the last writer wins: every
        writer keeps a complete, current result). With `parts`, each is kept too, numbered
        from 0 (`kept_parts`), in the same transaction, and parts left from an earlier, longer
        list go: a result too big to read whole for each question keeps a small directory as
        `data` and its slices as parts."""
        now = _now()
        rows = [{"name": name, "data": data, "updated_at": now}]
        rows += [{"name": f"{name}:{k}", "data": part, "updated_at": now}
                 for k, part in enumerate(parts or ())]

        def write(conn: Connection) -> None:
            statement = _dialect_insert(conn)(similarity_cache)
            conn.execute(statement.on_conflict_do_update(
                index_elements=["name"], set_={"data": statement.excluded.data,
                                               "updated_at": statement.excluded.updated_at}), rows)
            if parts is not None:
                conn.execute(delete(similarity_cache).where(
                    similarity_cache.c.name.startswith(f"{name}:", autoescape=True),
                    similarity_cache.c.name.not_in([row["name"] for row in rows])))

        self._write(write, lock=None)

    @staticmethod
    def _require_incident(incident_id: str, conn: Connection) -> None:
        if conn.execute(select(incidents.c.incident_id)
                        .where(incidents.c.incident_id == incident_id)).first() is None:
            raise UnknownIncidentError(incident_id)


# Inputs of at least this many bytes are read a batch ahead, in a thread of their own. On
# PostgreSQL only: there the writer waits on the server a batch at a time, but SQLite's
# executemany takes the GIL back after every row, so a reader parsing beside it slows the
# writer to a row per switch interval (measured: no gain on SQLite, and 55 MB more).
READ_AHEAD_BYTES = 4 * 1024 * 1024
READ_AHEAD_DIALECTS = frozenset({"postgresql"})


def _input_bytes(paths: list[Path]) -> int:
    """The size of the input files (a folder counts as nothing: read in turn, as before)."""
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:
            pass  # the loader says what is wrong with it, in its one line
    return total


class _ReadAhead:
    """A big input's batches, read by a thread of their own one batch ahead of the writer.

    Parsing is Python that holds the GIL; writing to PostgreSQL is mostly the server's work,
    in its own process. One after the other, each waited for the other; side by side, the
    next batch is parsed while the server writes this one. The reader starts a batch only once the writer has taken the last one, so
    two batches at most are held (one written, one read): memory still does not grow with
    the input. A failure of the reader is raised in the writer, whose transaction then
    rolls back: nothing is half-written."""

    _END = object()

    def __init__(self, batches: Iterator[Batch]) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._taken = threading.Semaphore(1)  # released when the writer takes a batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(batches,), daemon=True,
                                        name="review-kit-read-ahead")
        self._thread.start()

    def _read(self, batches: Iterator[Batch]) -> None:
        try:
            while self._wait(lambda: self._taken.acquire(timeout=0.1)):
                batch = next(batches, self._END)
                if not self._wait(lambda: self._offer((batch, None))) or batch is self._END:
                    return
        except BaseException as exc:  # handed to the writer, which raises it
            self._wait(lambda: self._offer((None, exc)))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def _offer(self, item: tuple[Any, BaseException | None]) -> bool:
        try:
            self._queue.put(item, timeout=0.1)
            return True
        except queue.Full:
            return False

    def _wait(self, attempt: Callable[[], bool]) -> bool:
        """Retry `attempt` until it succeeds (True) or the writer has stopped (False)."""
        while not self._stop.is_set():
            if attempt():
                return True
        return False

    def __iter__(self) -> Iterator[Batch]:
        while True:
            batch, error = self._queue.get()
            self._taken.release()
            if error is not None:
                raise error
            if batch is self._END:
                return
            yield batch

    def close(self) -> None:
        """Stop reading (the writer is done, or failed) and wait for the reader to end."""
        self._stop.set()
        self._thread.join()


# Ids bound per query: SQLite's default limit is 32,766 bound variables (PostgreSQL's
# 65,535), and a big store's severity holds more incidents than that.
IN_CHUNK = 10_000


def _fetched_in(conn: Connection, query: Any, column: Any, ids: Iterable[str] | None, *,
                raw: bool = True) -> list:
    """The rows of `query` restricted to `column` in `ids` (None: no restriction), asked in
    chunks of IN_CHUNK ids; `raw`: the driver's rows as they come (no type processing)."""

    def fetch(q: Any) -> list:
        result = conn.execute(q)
        return result.cursor.fetchall() if raw else result.all()

    if ids is None:
        return fetch(query)
    ids = list(ids)
    rows: list = []
    for start in range(0, max(len(ids), 1), IN_CHUNK):
        rows += fetch(query.where(column.in_(ids[start:start + IN_CHUNK])))
    return rows


def _in_window(query: Any, column: Any, since: Any, until: Any) -> Any:
    """`query` kept to rows whose time `column` is in [since, until) (either end open)."""
    if since is not None:
        query = query.where(column >= _micros(since))
    if until is not None:
        query = query.where(column < _micros(until))
    return query


def _micros(value: Any) -> int:
    # An aware Timestamp (what the loaders hand over) is converted without reparsing it:
    # pandas' scalar arithmetic costs more than the rest of an incident row's upsert.
    stamp = value if isinstance(value, pd.Timestamp) and value.tzinfo is not None else parse_timestamp(value)
    return int(stamp.as_unit("us").asm8.view("int64"))


# What makes two records of one event id the same event. The incident is left out: an alias
# learnt later may file the same event under another incident id, which is a link, not a change.
_EVENT_CONTENT = ("at", "kind", "actor", "summary")


def _differing_events(conn: Connection, frame: pd.DataFrame) -> tuple[int, str | None]:
    """How many events of ``frame`` (just written with ON CONFLICT DO NOTHING) are stored
    with other content under the same id, and a description of the first.

    Sources re-send an event with new text under its old id (an edited chat message, an
    alert's annotation templated on the current value, a status update whose display time
    was moved): the stored version is kept, and the ingest says how many differ."""
    ids = frame["event_id"].astype(str).tolist()
    # One query for the whole batch, at the driver: SQLAlchemy compiling an IN list of 900
    # bound ids, again and again, cost more than the look-ups (a re-ingest of 100,000 events).
    columns = ", ".join(("event_id", "incident_id", *_EVENT_CONTENT))
    cursor = conn.connection.driver_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            cursor.execute(*_ids_query(ids, columns))
        else:
            cursor.execute(f"SELECT {columns} FROM events WHERE event_id IN "
                           "(SELECT value FROM json_each(?))", (dumps(ids),))
        stored = cursor.fetchall()
    finally:
        cursor.close()
    if not stored:
        return 0, None
    old = pd.DataFrame(stored, columns=["event_id", "stored_incident", *_EVENT_CONTENT])
    new = pd.DataFrame({"event_id": ids,
                        "at": frame["at"].dt.as_unit("us").astype("int64").to_numpy(),
                        **{c: frame[c].to_numpy(dtype=object) for c in _EVENT_CONTENT[1:]}})
    both = new.merge(old, on="event_id", suffixes=("", "_stored"))
    differs = np.zeros(len(both), dtype=bool)
    fields: list[np.ndarray] = []
    for column in _EVENT_CONTENT:
        if column == "at":
            here = both["at"].to_numpy() != both["at_stored"].astype("int64").to_numpy()
        else:
            here = (both[column].fillna("").astype(str).to_numpy()
                    != both[f"{column}_stored"].fillna("").astype(str).to_numpy())
        fields.append(here)
        differs |= here
    if not differs.any():
        return 0, None
    position = int(np.flatnonzero(differs)[0])
    what = [c if c != "at" else "time" for c, here in zip(_EVENT_CONTENT, fields) if here[position]]
    row = both.iloc[position]
    first = (f"event id {str(row['event_id'])[:80]!r} (its {' and '.join(what)}) differs from the "
             f"one stored in incident {str(row['stored_incident'])[:80]!r}")
    return int(differs.sum()), first


# The stored content of events by id, built once (its IN list expands per call).
_EVENTS_BY_ID = (select(events.c.event_id, events.c.incident_id, *[events.c[c] for c in _EVENT_CONTENT])
                 .where(events.c.event_id.in_(bindparam("ids", expanding=True))))


def _differing_rows(conn: Connection, columns: dict[str, list]) -> tuple[int, str | None]:
    """`_differing_events` for a RowBatch's few events, compared in Python: a delivery sent
    twice is common, and pandas' merge cost ten times the rest of its ingest."""
    ids = [str(i) for i in columns["event_id"]]
    stored = {r.event_id: r for r in conn.execute(_EVENTS_BY_ID, {"ids": ids})}

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    count, first = 0, None
    for position, event in enumerate(ids):
        old = stored.get(event)
        if old is None:
            continue
        what = ["time"] if columns["at"][position] != int(old.at) else []
        what += [c for c in _EVENT_CONTENT[1:] if text(columns[c][position]) != text(old._mapping[c])]
        if what:
            count += 1
            first = first or (f"event id {event[:80]!r} (its {' and '.join(what)}) differs from the "
                              f"one stored in incident {str(old.incident_id)[:80]!r}")
    return count, first


def _insert_events_postgresql(conn: Connection, frame: pd.DataFrame) -> int:
    """COPY the batch's new events straight into `events`; the number inserted.

    COPY cannot skip known ids, so they are looked up first (one indexed `= ANY` query) and
    left out, as are ids repeated within the batch. Only a writer that stores one of the
    same ids between that look-up and the COPY makes it fail (unique violation): the COPY is
    undone to its savepoint and the batch goes through a temp table and INSERT … ON CONFLICT
    DO NOTHING instead, which waits for that writer. Copying straight into the table halves
    the server's work against always going through the temp table (the rows and their raw
    records are written once, not twice). Rows go in event id order, so that two ingests of
    overlapping files lock the same rows in the same order (no deadlock)."""
    import psycopg

    frame = frame.iloc[np.argsort(frame["event_id"].to_numpy(dtype=object), kind="stable")]
    ids = frame["event_id"].to_numpy(dtype=object)
    fresh = np.ones(len(ids), dtype=bool)
    fresh[1:] = ids[1:] != ids[:-1]  # sorted: a repeated id follows its first
    driver = conn.connection.driver_connection  # psycopg's own: the same transaction
    with driver.cursor() as cursor:
        cursor.execute(*_ids_query(ids[fresh].tolist()))
        known = [row[0] for row in cursor.fetchall()]
        if known:
            fresh &= ~pd.Index(ids).isin(known)
        new = frame[fresh] if not fresh.all() else frame
        if new.empty:
            return 0
        # Every incident these events name was upserted, and so locked, in this transaction
        # (`Store._write_batch`): the per-row check of the events' link is not needed.
        cursor.execute(f"SAVEPOINT review_kit_events; {holding_incidents(True)}")
        try:
            _copy_events(cursor, "events", new)
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT review_kit_events")  # undoes the mark too
            cursor.execute(holding_incidents(True))
            added = _insert_events_through_temp(cursor, new)
            cursor.execute(holding_incidents(False))
            return added
        cursor.execute(f"{holding_incidents(False)}; RELEASE SAVEPOINT review_kit_events")
    return len(new)


def _ids_query(ids: list, columns: str = "event_id") -> tuple[str, tuple]:
    """PostgreSQL: the query for `columns` of the events among `ids`. The ids go as one JSON
    text (orjson writes it in C) the server unpacks, not as a text array: psycopg escapes an
    array's elements one by one in Python, a tenth of a big ingest's time. Ids JSON cannot
    carry (a lone surrogate) go as the array."""
    packed = _json_text(ids)
    if packed is None:
        return f"SELECT {columns} FROM events WHERE event_id = ANY(%s)", (ids,)
    return (f"SELECT {columns} FROM events WHERE event_id = "
            "ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))", (packed,))


# The binary COPY's type of each event column: `at` and `seq` are integers (microseconds,
# order), every other column text (varchar takes text's binary form; its length limit holds).
_COPY_TYPES = ["int8" if column in ("at", "seq") else "text" for column in EVENT_COLUMNS]


def _copy_events(cursor: Any, table: str, frame: pd.DataFrame) -> None:
    """COPY the frame's rows into `table`: psycopg formats COPY rows in C, where query
    parameters (even whole arrays) are escaped in Python, 6x slower. In binary: the server
    reads each text as it is, where the text format has it scan for escapes (200,000 events
    into a bare table: 0.45-0.51 s against 0.79-0.89 s). The checks (`check_batch`) have made
    every text column text or missing."""
    data = []
    for column in EVENT_COLUMNS:
        if column == "at":
            data.append(frame["at"].dt.as_unit("us").astype("int64").tolist())
        elif column == "seq":
            data.append(frame["seq"].astype("int64").tolist())
        else:
            # pandas' missing value may be a float NaN (or its NA): COPY must get NULL, not
            # 'NaN'. Only what is not a text is asked: pandas' notna/where over a whole text
            # column cost 6x as much (0.47 s against 0.08 s for 200,000 events' columns).
            data.append([v if type(v) is str else None if pd.isna(v) else v
                         for v in frame[column].tolist()])
    with cursor.copy(f"COPY {table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_COPY_TYPES)
        write = copy.write_row
        for row in zip(*data):
            write(row)


def _insert_events_through_temp(cursor: Any, frame: pd.DataFrame) -> int:
    """The batch COPYed into a session temp table, then one INSERT … SELECT … ON CONFLICT
    DO NOTHING (waits for a concurrent writer of the same ids, then skips them)."""
    columns = ", ".join(EVENT_COLUMNS)
    # Per connection, emptied at every commit; LIKE copies the columns' types and collations.
    cursor.execute("CREATE TEMP TABLE IF NOT EXISTS incoming_events (LIKE events) "
                   "ON COMMIT DELETE ROWS")
    # The sort by event id holds a whole batch, raw records included (~80 MB at 50,000
    # events): at the default 4 MB of work_mem it spills to disk, a third of the insert.
    cursor.execute("SET LOCAL work_mem = '256MB'")
    _copy_events(cursor, "incoming_events", frame)
    cursor.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM incoming_events "
                   "ORDER BY event_id ON CONFLICT (event_id) DO NOTHING")
    added = max(cursor.rowcount, 0)
    cursor.execute("TRUNCATE incoming_events")  # the next batch of this transaction
    return added


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        # Workers and the receiver run for days: a connection the server dropped is replaced.
        return {"pool_pre_ping": True}
    # Column names may ask for a converter (`_shared`); declared types never do.
    return {"connect_args": {"detect_types": sqlite3.PARSE_COLNAMES}}


# The event columns whose texts repeat row after row: incident ids, sources, kinds, people,
# statuses. SQLite hands back a new string for every cell, a million copies of "message"
# scattered in memory; read through `_SharedTexts`, each distinct text is one object. The
# read gets faster and smaller (1M events read and their metrics computed: 948 MB peak
# instead of 1,314 MB) and so does all that follows, which compares and hashes those columns.
SHARED_COLUMNS: frozenset[str] = frozenset(
    {"incident_id", "source", "kind", "actor", "actor_type", "target", "status", "visibility"})
_SHARED_TEXT = "review_kit_shared_text"
# Distinct texts remembered at most (about 35 MB), and forgotten after each read: a process
# that runs for days holds nothing, and a column of distinct texts cannot grow it unbounded.
_SHARED_LIMIT = 250_000


class _SharedTexts(dict):
    """UTF-8 bytes → one str per distinct value (sqlite3's converter for `_SHARED_TEXT`)."""

    def __missing__(self, key: bytes) -> str:
        if len(self) >= _SHARED_LIMIT:
            self.clear()
        try:
            value = self[key] = key.decode("utf-8")
        except UnicodeDecodeError:
            # What sqlite3 raises for such a text itself (a store another tool wrote).
            raise sqlite3.OperationalError("Could not decode to UTF-8 a text") from None
        return value


_shared_texts = _SharedTexts()
# dict.__getitem__ is called from C, and asks Python (__missing__) only for a text not met yet.
sqlite3.register_converter(_SHARED_TEXT, _shared_texts.__getitem__)


def _shared(column: Any) -> Any:
    """`column` read through the shared-text converter (SQLite: PARSE_COLNAMES names it)."""
    return column.label(f"{column.name} [{_SHARED_TEXT}]")


def _dialect_insert(conn: Connection | str):
    name = conn if isinstance(conn, str) else conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        raise StoreError(f"unsupported database {name!r}: use SQLite or PostgreSQL")
    return dialect_insert


_as_text = np.frompyfunc(str, 1, 1)  # element-wise str(), a C loop


def _listed(events: pd.DataFrame | dict[str, list], column: str) -> list:
    values = events[column]
    return values if isinstance(values, list) else values.tolist()


def _sqlite_aliases_of(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """SQLite: the incident each (source, external id) key is linked to, for the keys linked.
    The keys go as one JSON text that SQLite unpacks (`json_each`), each looked up on the
    aliases' primary key: SQLAlchemy renders a row-value IN of hundreds of pairs in Python
    for every chunk, 10x the time (21 ms against 2 ms for 1,400 keys, a big batch's). A text
    SQLite could not store (a lone surrogate) fails here as it would in the insert. The same
    one-text way as `_differing_events` sends a batch's event ids."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(_SQLITE_ALIASES_OF_JSON, (dumps(keys),))
        return {(src, external): incident for src, external, incident in cursor.fetchall()}
    finally:
        cursor.close()


# CROSS JOIN keeps the keys the outer loop: each is one search of the primary key.
# json_extract, not `->>`: SQLite before 3.38 (still some systems' own) lacks the operator.
_SQLITE_ALIASES_OF_JSON = (
    "SELECT a.source, a.external_id, a.incident_id FROM json_each(?) AS k CROSS JOIN aliases AS a "
    "ON a.source = json_extract(k.value, '$[0]') AND a.external_id = json_extract(k.value, '$[1]')")


# Built once per dialect: building the statement costs more than a one-event delivery's insert.
@lru_cache(maxsize=None)
def _insert_ignoring(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    return _dialect_insert(dialect)(table).on_conflict_do_nothing(index_elements=list(keys))


@lru_cache(maxsize=None)
def _aliases_of_rows(packed: bool) -> Any:
    """PostgreSQL: the aliases of the (source, external_id) rows given (`_pg_rows`)."""
    keys = _rows_select(aliases, ("source", "external_id"), packed).subquery("keys")
    return (select(aliases.c.source, aliases.c.external_id, aliases.c.incident_id)
            .join_from(aliases, keys, and_(aliases.c.source == keys.c.source,
                                           aliases.c.external_id == keys.c.external_id)))


@lru_cache(maxsize=None)
def _insert_ignoring_rows(table: Table, keys: tuple[str, ...], names: tuple[str, ...],
                          packed: bool) -> Any:
    """PostgreSQL: insert the rows given (`_pg_rows`), skip known keys, return the first key
    of each row inserted."""
    return (_dialect_insert("postgresql")(table).from_select(list(names), _rows_select(table, names, packed))
            .on_conflict_do_nothing(index_elements=list(keys)).returning(table.c[keys[0]]))


def _pg_rows(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[bool, dict[str, Any]]:
    """PostgreSQL: the parameters that carry `rows` (values in `names`' order) to a statement
    of one constant text (`_rows_select`), and whether they are packed.

    Packed, the rows are one JSON text orjson writes in C, which the server unpacks; psycopg
    would escape an array's elements one by one in Python (2,000 incidents upserted: a
    tenth of their file's ingest). Rows JSON cannot carry go as one array per column: a lone
    surrogate, or a NUL, which psycopg refuses with its own clear message and jsonb with a
    vaguer one."""
    packed = _json_text(rows)
    if packed is not None and "\\u0000" not in packed:
        return True, {"rows": packed}
    return False, {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _json_text(values: Any) -> str | None:
    """`values` as one JSON text (orjson, in C), or None where JSON cannot carry them (a
    lone surrogate, an integer beyond 64 bits, a value JSON has no form for)."""
    import orjson
    try:
        return orjson.dumps(values).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return None


def _rows_select(table: Table, names: Sequence[str], packed: bool) -> Any:
    """PostgreSQL: the rows `_pg_rows` carries, as a SELECT of columns named as `table`'s."""
    def cast(name: str) -> str:
        kind = table.c[name].type
        return "bigint" if isinstance(kind, (BigInteger, Integer, UtcMicros)) else "text"
    if packed:
        return select(*[literal_column(f"CAST(row_values ->> {i} AS {cast(n)})").label(n)
                        for i, n in enumerate(names)]).select_from(
            text("jsonb_array_elements(CAST(:rows AS jsonb)) AS packed_rows(row_values)"))
    return select(*[sql_column(n) for n in names]).select_from(text(
        "unnest(" + ", ".join(f"CAST(:{n} AS {cast(n)}[])" for n in names)
        + f") AS arrays({', '.join(names)})"))


# A new store's page size. Events carry their raw record (about 700 bytes of JSON on
# average): 1M events inserted and committed (WAL write, then checkpoint) alone took 14-18 s
# on 4 KB pages and 10-12.5 s on 16 KB; in a whole 1M-event ingest the commits took 1.7 s
# instead of 3.0-3.4 s. One event's delivery stays under 0.1 ms and one incident's read is
# unchanged (32 and 64 KB bought little more and cost each small commit more WAL). Only a
# new, empty file takes it: a WAL store keeps the size it was made with, so stores made
# before keep 4 KB and work as before.
SQLITE_PAGE_SIZE = 16384


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")  # before WAL: then it is fixed
    # Turning a rollback-journal file (a store made by an old version) into WAL needs the
    # file to itself, and SQLite answers "locked" at once rather than waiting: several
    # processes opening it together retry until one has switched it (WAL then persists).
    deadline = time.monotonic() + 30
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.01, 0.05))
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Big ingests touch three B-trees per event; a 256 MB page cache keeps them in memory
    # (at 64 MB, inserting the millionth event cost ten times the first).
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.close()


def _takes_over(current: Any, incoming: Any) -> Any:
    """SQL: does an incoming incident row own the incident over the stored one?

    The owner refreshes the row, every other source only fills its gaps; so that the same
    files in any order give the same incidents, ownership is a rule, not an arrival order.
    In turn: the source whose own id the incident carries (``source_id`` = ``incident_id``:
    a PagerDuty incident linked to Alertmanager and Slack stays PagerDuty's); a row that says
    something about the incident (any field beyond its id and source) over one that only
    names it (an events file's incidents); the one created first (no creation time counts
    as last); the source first by name. A row of the owning source refreshes its incident.
    """
    facts = [c for c in INCIDENT_COLUMNS if c not in ("incident_id", "source", "source_id")]

    def native(row: Any) -> Any:
        return and_(row.source_id.isnot(None), row.source_id == row.incident_id)

    def bare(row: Any) -> Any:
        return and_(*(row[c].is_(None) for c in facts))

    def same(flag: Any) -> Any:
        return or_(and_(flag(incoming), flag(current)), and_(~flag(incoming), ~flag(current)))

    source_first = incoming.source < current.source
    same_time = or_(incoming.created_at == current.created_at,
                    and_(incoming.created_at.is_(None), current.created_at.is_(None)))
    earlier = or_(incoming.created_at < current.created_at,
                  and_(current.created_at.is_(None), incoming.created_at.isnot(None)))
    return or_(
        current.source.is_(None),
        current.source == incoming.source,
        and_(native(incoming), ~native(current)),
        and_(same(native), ~bare(incoming), bare(current)),
        and_(same(native), same(bare), or_(earlier, and_(same_time, source_first))),
    )


_INCIDENT_UPSERTS: dict[tuple[str, bool, bool], Any] = {}


def _incident_upsert(statement: Any, columns: list[str], fill_only: bool) -> Any:
    excluded = statement.excluded
    # The source that owns an incident refreshes it; other sources only fill its gaps.
    # Which source owns it does not depend on the order files arrive in (_takes_over).
    same_source = _takes_over(incidents.c, excluded)
    if fill_only:
        same_source = and_(incidents.c.source.is_(None), excluded.source.is_(None))
    updates = {c: case((same_source, func.coalesce(excluded[c], incidents.c[c])),
                       else_=func.coalesce(incidents.c[c], excluded[c]))
               for c in columns if c != "source"}
    updates["source"] = case((same_source, func.coalesce(excluded.source, incidents.c.source)),
                             else_=func.coalesce(incidents.c.source, excluded.source))
    # A row that would stay as it is is not written: its count of changed rows then says
    # whether the history changed (`revision`), and a re-ingest leaves the store as it was.
    changes = or_(*(incidents.c[c].is_distinct_from(value) for c, value in updates.items()))
    return statement.on_conflict_do_update(index_elements=["incident_id"], set_=updates,
                                           where=changes)
