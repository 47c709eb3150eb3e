"""Store backends for the tests: a SQLite file always, PostgreSQL when REVIEW_KIT_TEST_PG names
a server (`postgresql+psycopg://user@127.0.0.1:PORT/postgres`; .ci/run starts one).

The session gets its own database on that server (made with an ICU en-US collation where
the server has ICU, so a sort that depends on the locale shows up) and each test its own
schema in it, so runs and tests never see each other's rows.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

PG_VARIABLE = "REVIEW_KIT_TEST_PG"
BACKENDS = ("sqlite", "postgresql")


def pg_admin_url() -> str | None:
    return os.environ.get(PG_VARIABLE) or None


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a database made for this test session (dropped at the end)."""
    admin = pg_admin_url()
    if admin is None:
        pytest.skip(f"{PG_VARIABLE} is not set: no PostgreSQL server for the PostgreSQL tests")
    from sqlalchemy import create_engine, text
    name = f"review_kit_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(_with_database(admin, make_url_database(admin)), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        try:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\' '
                              "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"))
        except Exception:  # a server without ICU (or older than 15): its default collation
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\''))
    try:
        yield _with_database(admin, name)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def make_url_database(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).database or "postgres"


def pg_schema_url(database_url: str, schema: str) -> str:
    """The database URL with its search_path set to `schema` (libpq's `options`), so every
    process that opens it, notebook kernels included, works inside that schema."""
    return f"{database_url}?options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_store_location(request) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty PostgreSQL schemas (as store URLs), dropped after the test."""
    database = request.getfixturevalue("pg_database")
    from sqlalchemy import create_engine, text
    engine = create_engine(database, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        return pg_schema_url(database, schema)

    try:
        yield make
    finally:
        with engine.connect() as conn:
            for schema in made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store_location(backend: str, request, tmp_path: Path) -> Callable[[], str]:
    """A factory of fresh, empty store locations on the test's backend: a SQLite file path or
    a PostgreSQL URL (skipped without REVIEW_KIT_TEST_PG)."""
    if backend == "postgresql":
        return request.getfixturevalue("pg_store_location")
    counter = iter(range(1_000_000))
    return lambda: str(tmp_path / f"store-{next(counter)}" / "review.db")


def assert_events_tied_to_incidents(location: str, incident_id: str) -> None:
    """The rules of a foreign key from events to incidents (SQLite's is one; PostgreSQL keeps
    them by triggers, `event_links`), tried with plain SQL as any other writer would: an event
    of an unknown incident is refused, on insert and on update; renaming the incident moves
    its events; deleting it deletes them. Leaves `incident_id` deleted."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from review_kit.store import Store

    store = Store.open(location)  # its connections: SQLite's enforce foreign keys by pragma
    try:
        count = store.event_counts().get(incident_id, 0)
        assert count > 0, f"{incident_id} has no events to try the rules on"
        for statement in (
                "INSERT INTO events (event_id, incident_id, at, seq, source, kind, visibility) "
                "VALUES ('orphan:1', 'no-such-incident', 0, 0, 'csv', 'message', 'internal')",
                f"UPDATE events SET incident_id = 'no-such-incident' WHERE incident_id = '{incident_id}'"):
            with pytest.raises(IntegrityError):
                with store.engine.begin() as conn:
                    conn.execute(text(statement))
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE incidents SET incident_id = 'renamed' WHERE incident_id = :i"),
                         {"i": incident_id})
        assert store.event_counts().get("renamed", 0) == count
        assert store.event_counts().get(incident_id, 0) == 0
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM incidents WHERE incident_id = 'renamed'"))
        assert store.event_counts().get("renamed", 0) == 0
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM events WHERE incident_id NOT IN "
                                     "(SELECT incident_id FROM incidents)")).scalar() == 0
    finally:
        store.close()
