"""Ingest throughput on PostgreSQL against SQLite, on the core benchmark's generated data
(issue 7). Not part of the test suite.

    .venv/bin/python benchmarks/bench_pg.py --pg postgresql://user:pw@127.0.0.1:5432/db \\
        [--incidents 10000] [--events-per-incident 100] [--runs 3]

`--pg` defaults to $REVIEW_KIT_TEST_PG. The benchmark works in a schema of its own in that
database and drops it at the end. Each store gets the same files in the same order: a first
ingest (every event new) and a second one (every event already stored: the idempotent path).

The first line printed says the server's fsync and synchronous_commit: a dev server run with
fsync=off writes no WAL to disk at commit, so quote the ratio with it. Both stores share the
machine with the benchmark itself (the PostgreSQL server's CPU is not this process's): on a
machine busy with other work, the two ingests meet different loads, so run it more than once.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from review_kit.store.ingest import ingest_paths
from review_kit.demo.sample import generate_sample
from review_kit.store import Store, store_url


def ingest_all(store: Store, plan) -> tuple[int, float]:
    start = time.perf_counter()
    added = sum(ingest_paths(store, name, [path], quiet=True).events_added for name, path in plan)
    return added, time.perf_counter() - start


def cpu_ticks() -> tuple[int, int]:
    """The machine's CPU time so far, all of it and the idle part (Linux /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def settle(limit: float = 60.0) -> float:
    """Start each measurement on a quiet machine: write the dirty pages the last ingest left
    (hundreds of MB the kernel would otherwise write back during the next one), then wait
    until the CPUs have been idle for a second (a server's autovacuum of the last store)."""
    start = time.perf_counter()
    os.sync()
    if not Path("/proc/stat").exists():
        return time.perf_counter() - start
    before = cpu_ticks()
    while time.perf_counter() - start < limit:
        time.sleep(1.0)
        after = cpu_ticks()
        total, idle = after[0] - before[0], after[1] - before[1]
        before = after
        if total and idle / total >= 0.9:
            break
    return time.perf_counter() - start


def measure(label: str, location: str, plan) -> dict:
    waited = settle()
    print(f"  ({label}: {waited:.1f} s for the machine to settle, not counted)", flush=True)
    store = Store.open(location)
    first_added, first = ingest_all(store, plan)
    events = store.counts()["events"]
    again_added, again = ingest_all(store, plan)
    store.close()
    assert first_added == events and again_added == 0, (first_added, events, again_added)
    print(f"  {label:<11} first ingest {first:7.2f} s = {events / first:9,.0f} events/s;  "
          f"re-ingest (all known) {again:7.2f} s = {events / again:9,.0f} events/s", flush=True)
    return {"events": events, "first": first, "again": again}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("REVIEW_KIT_TEST_PG"),
                        help="PostgreSQL URL (default $REVIEW_KIT_TEST_PG)")
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--events-per-incident", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="first ingests of each; the best counts")
    args = parser.parse_args()
    if not args.pg:
        parser.error("name a PostgreSQL server with --pg or REVIEW_KIT_TEST_PG")
    work = Path(tempfile.mkdtemp(prefix="review-kit-bench-pg-"))
    admin = create_engine(store_url(args.pg), isolation_level="AUTOCOMMIT")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        start = time.perf_counter()
        sample = generate_sample(work / "data", n_incidents=args.incidents,
                                 events_per_incident=args.events_per_incident)
        print(f"generated {args.incidents:,} incidents x ~{args.events_per_incident} events "
              f"in {time.perf_counter() - start:.1f} s")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            server = conn.execute(text("SHOW server_version")).scalar()
            fsync = conn.execute(text("SHOW fsync")).scalar()
            synchronous_commit = conn.execute(text("SHOW synchronous_commit")).scalar()
        print(f"PostgreSQL {server} (fsync={fsync}, synchronous_commit={synchronous_commit}); "
              f"SQLite in WAL mode, synchronous=NORMAL")
        runs: dict[str, list[dict]] = {"SQLite": [], "PostgreSQL": []}
        # Alternated, each into a new store, the best of each counted: the machine's other
        # work meets both alike.
        for run in range(args.runs):
            runs["SQLite"].append(measure("SQLite", str(work / f"bench-{run}.db"), sample.ingest))
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            runs["PostgreSQL"].append(measure(
                "PostgreSQL", f"{store_url(args.pg)}?options=-csearch_path%3D{schema}", sample.ingest))
            with admin.connect() as conn:  # gone at once: no autovacuum of it in the next run
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        sqlite, pg = ({key: min(r[key] for r in done) for key in ("first", "again")}
                      for done in runs.values())
        events = runs["PostgreSQL"][0]["events"]
        print(f"\nPostgreSQL / SQLite (best of {args.runs} each): first ingest "
              f"{sqlite['first'] / pg['first']:.2f}x the throughput, re-ingest "
              f"{sqlite['again'] / pg['again']:.2f}x ({events:,} events, {len(sample.ingest)} files)"
              "  [goal >= 0.9x]")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
