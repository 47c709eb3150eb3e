"""The durable run queue in the store's `runs` table, and the worker that executes it.

A run moves queued → running → done, or back to queued (a retry after an exponential
backoff, `queued_at` being the time it may start again) until `max_attempts`, then failed.
Claiming is atomic: on SQLite inside a `BEGIN IMMEDIATE` transaction (one writer at a time),
on PostgreSQL with `SELECT … FOR UPDATE SKIP LOCKED`. A running run holds a lease the
worker renews while the notebook executes; a worker that dies stops renewing, and once the
lease has expired any worker takes the run again. `attempts` is the fencing token: a worker
that lost its lease cannot complete or fail a run that someone else has taken since.

One run per (incident, resolution time): the dedup key `retro:<incident>:<resolved_at>` is
unique, so a resolution delivered twice is queued once and a reopen plus a new resolution
is queued again.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.engine import Connection

from ..errors import StoreError
from ..model import to_iso
from ..store.database import Store, _dialect_insert, _now, runs
from .outputs import rebuild_index
from .runs import list_runs, resolution_time, resolved_incidents

log = logging.getLogger(__name__)

NOTEBOOKS = ("retrospective", "trends")
TRIGGERS = ("manual", "webhook", "schedule")
DEFAULT_LEASE_SECONDS = 120.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 3600.0


# --- keys and resolutions ----------------------------------------------------------------------
def retro_dedup_key(incident_id: str, resolved_at: Any) -> str:
    """`retro:<incident>:<resolved_at ISO>`: one retrospective per resolution."""
    return f"retro:{incident_id}:{to_iso(resolved_at)}"


# --- the queue operations ----------------------------------------------------------------------
def enqueue(store: Store, incident_id: str | None, notebook: str = "retrospective", *,
            trigger: str = "manual", dedup_key: str | None = None) -> int | None:
    """Queue a run; the new run's id, or None when a run with this dedup key already exists."""
    with store.engine.begin() as conn:
        return enqueue_on(conn, incident_id, notebook, trigger=trigger, dedup_key=dedup_key)


def enqueue_on(conn: Connection, incident_id: str | None, notebook: str = "retrospective", *,
               trigger: str = "manual", dedup_key: str | None = None) -> int | None:
    """`enqueue` inside a transaction of the caller's (the receiver queues a resolution in
    the transaction that stores it)."""
    if notebook not in NOTEBOOKS:
        raise StoreError(f"unknown notebook {notebook!r}; expected one of {', '.join(NOTEBOOKS)}")
    if trigger not in TRIGGERS:
        raise StoreError(f"unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}")
    values = dict(incident_id=incident_id, notebook=notebook, trigger=trigger, dedup_key=dedup_key,
                  status="queued", attempts=0, queued_at=_now())
    run_id = conn.execute(_enqueue_statement(conn.dialect.name), values).scalar()
    return None if run_id is None else int(run_id)


@lru_cache(maxsize=None)
def _enqueue_statement(dialect: str) -> Any:
    # Built once per dialect, values bound per call: building it cost more than the insert.
    columns = ("incident_id", "notebook", "trigger", "dedup_key", "status", "attempts", "queued_at")
    return (_dialect_insert(dialect)(runs).values({c: bindparam(c, type_=runs.c[c].type) for c in columns})
            .on_conflict_do_nothing(index_elements=["dedup_key"]).returning(runs.c.id))


def enqueue_resolution(store: Store, incident_id: str, *, trigger: str = "webhook",
                       resolved_at: Any = None) -> int | None:
    """Queue the retrospective of a resolved incident once per resolution time; None when it
    is not resolved or this resolution is queued already."""
    resolved_at = resolved_at if resolved_at is not None else resolution_time(store, incident_id)
    if resolved_at is None:
        return None
    with store.engine.begin() as conn:
        return enqueue_resolution_on(conn, incident_id, resolved_at, trigger=trigger)


def enqueue_resolution_on(conn: Connection, incident_id: str, resolved_at: Any, *,
                          trigger: str = "webhook") -> int | None:
    """`enqueue_resolution` of a known resolution time, inside a transaction of the caller's."""
    return enqueue_on(conn, incident_id, "retrospective", trigger=trigger,
                      dedup_key=retro_dedup_key(incident_id, resolved_at))


@dataclass(frozen=True)
class Claim:
    """A run this worker holds: `attempt` fences every later write about it."""

    id: int
    incident_id: str | None
    notebook: str
    attempt: int
    trigger: str = "manual"
    dedup_key: str | None = None


def _claimable(now: pd.Timestamp, run_id: int | None):
    condition = or_(and_(runs.c.status == "queued", runs.c.queued_at <= now),
                    and_(runs.c.status == "running", runs.c.lease_until < now))
    return condition if run_id is None else and_(condition, runs.c.id == run_id)


def claim(store: Store, worker_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS, *,
          max_attempts: int = DEFAULT_MAX_ATTEMPTS, run_id: int | None = None) -> Claim | None:
    """Take ONE queued run (or a running one whose lease expired), atomically; None if none.

    An interrupted run that has used up its attempts is marked failed instead of retried,
    so a notebook that kills its worker every time cannot loop forever."""
    while True:
        now = _now()
        if store.engine.dialect.name == "postgresql":
            outcome = _claim_postgresql(store, now, worker_id, lease_seconds, max_attempts, run_id)
        else:
            outcome = _claim_sqlite(store, now, worker_id, lease_seconds, max_attempts, run_id)
        if outcome != "again":
            return outcome


def _take(conn, row, now: pd.Timestamp, worker_id: str, lease_seconds: float,
          max_attempts: int) -> Claim | str:
    if row.status == "running" and row.attempts >= max_attempts:
        conn.execute(update(runs).where(and_(runs.c.id == row.id, runs.c.attempts == row.attempts))
                     .values(status="failed", finished_at=now, lease_until=None,
                             error=f"interrupted {row.attempts} time(s) (worker died or lost "
                                   f"its lease); last error: {row.error or 'none'}"))
        return "again"
    lease = now + pd.Timedelta(seconds=float(lease_seconds))
    # The attempts condition makes the update a compare-and-set even without the locks.
    done = conn.execute(update(runs).where(and_(runs.c.id == row.id, runs.c.attempts == row.attempts))
                        .values(status="running", attempts=row.attempts + 1, started_at=now,
                                finished_at=None, lease_until=lease)).rowcount
    if done != 1:
        return "again"
    if row.status == "running":
        log.warning("run %s: lease expired, taken over by %s (attempt %s)", row.id, worker_id,
                    row.attempts + 1)
    return Claim(int(row.id), row.incident_id, row.notebook, int(row.attempts) + 1,
                 row.trigger, row.dedup_key)


def _candidate(now: pd.Timestamp, run_id: int | None):
    return (select(runs.c.id, runs.c.incident_id, runs.c.notebook, runs.c.trigger, runs.c.dedup_key,
                   runs.c.status, runs.c.attempts, runs.c.error)
            .where(_claimable(now, run_id)).order_by(runs.c.id).limit(1))


def _claim_sqlite(store: Store, now, worker_id, lease_seconds, max_attempts, run_id):
    # BEGIN IMMEDIATE takes SQLite's write lock before reading, so two workers can never
    # read the same queued row and both take it.
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            row = conn.execute(_candidate(now, run_id)).first()
            outcome = None if row is None else _take(conn, row, now, worker_id, lease_seconds, max_attempts)
            conn.exec_driver_sql("COMMIT")
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
    return outcome


def _claim_postgresql(store: Store, now, worker_id, lease_seconds, max_attempts, run_id):
    # SKIP LOCKED: concurrent workers each lock a different row instead of queueing behind one.
    with store.engine.begin() as conn:
        row = conn.execute(_candidate(now, run_id).with_for_update(skip_locked=True)).first()
        return None if row is None else _take(conn, row, now, worker_id, lease_seconds, max_attempts)


def _held(job: Claim):
    return and_(runs.c.id == job.id, runs.c.status == "running", runs.c.attempts == job.attempt)


def renew(store: Store, job: Claim, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Extend the lease of a run still held; False when it was lost (taken by another worker)."""
    with store.engine.begin() as conn:
        return conn.execute(update(runs).where(_held(job)).values(
            lease_until=_now() + pd.Timedelta(seconds=float(lease_seconds)))).rowcount == 1


def complete(store: Store, job: Claim, outputs: dict[str, Any] | None = None) -> bool:
    """Mark a held run done with its output paths; False when the lease was lost meanwhile."""
    with store.engine.begin() as conn:
        return conn.execute(update(runs).where(_held(job)).values(
            status="done", finished_at=_now(), lease_until=None, error=None,
            outputs=json.dumps(outputs or {}, default=str))).rowcount == 1


def fail(store: Store, job: Claim, error: str, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
         backoff_seconds: float = DEFAULT_BACKOFF_SECONDS) -> str | None:
    """Record a failed attempt: queued again after backoff·2^(attempt-1) seconds, or `failed`
    once `max_attempts` are used. Returns the new status (None when the lease was lost)."""
    now = _now()
    error = " ".join(str(error).split())[:4000] or "failed"
    values: dict[str, Any] = {"finished_at": now, "lease_until": None,
                              "error": f"attempt {job.attempt}: {error}"}
    if job.attempt >= max_attempts:
        values["status"] = "failed"
    else:
        delay = min(float(backoff_seconds) * 2 ** (job.attempt - 1), MAX_BACKOFF_SECONDS)
        values.update(status="queued", queued_at=now + pd.Timedelta(seconds=delay))
    with store.engine.begin() as conn:
        changed = conn.execute(update(runs).where(_held(job)).values(**values)).rowcount
    return values["status"] if changed == 1 else None


def release(store: Store, job: Claim) -> bool:
    """Give a held run back unharmed (the worker is stopping): queued now, attempt not counted."""
    with store.engine.begin() as conn:
        return conn.execute(update(runs).where(_held(job)).values(
            status="queued", attempts=job.attempt - 1, lease_until=None, started_at=None,
            queued_at=_now())).rowcount == 1


# --- executing a run ---------------------------------------------------------------------------
@dataclass
class RunSettings:
    """What every run of one worker shares (picklable: it crosses into the job processes)."""

    store: str
    out_dir: str
    template: str | None = None
    redact: bool = False
    figure_formats: str = "png"


def execute_run(settings: RunSettings, job: Claim) -> dict[str, Any]:
    """Execute one run's notebook (in a job process) and return its output paths."""
    from .runner import run_retro, run_trends
    if job.notebook == "trends":
        outputs = run_trends(settings.store, settings.out_dir, redact=settings.redact,
                             figure_formats=settings.figure_formats)
    else:
        if not job.incident_id:
            raise StoreError(f"run {job.id} names no incident")
        outputs = run_retro(settings.store, job.incident_id, settings.out_dir,
                            template=settings.template, redact=settings.redact,
                            figure_formats=settings.figure_formats)
    return {"folder": str(outputs.folder), "files": {k: str(v) for k, v in outputs.files.items()}}


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class WorkerSummary:
    done: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)


class Worker:
    """Runs queued notebooks, `jobs` at a time, each in its own process (papermill starts a
    kernel per run anyway; a process per job keeps one bad run from taking the worker down).

    `runner` replaces `execute_run` (tests); it then runs in threads. `on_finished(job, status)`
    is called after each run is recorded (the index page is rebuilt there)."""

    def __init__(self, store_location: str, out_dir: str | os.PathLike, *, jobs: int = 1,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 backoff_seconds: float = DEFAULT_BACKOFF_SECONDS, poll_seconds: float = 1.0,
                 worker_id: str | None = None, template: str | None = None, redact: bool = False,
                 runner: Callable[[RunSettings, Claim], dict] | None = None,
                 on_finished: Callable[[Claim, str | None], None] | None = None,
                 rebuild_index: bool = True, figure_formats: str = "png") -> None:
        if jobs < 1:
            raise StoreError("--jobs must be at least 1")
        self.store = Store.open(store_location)
        self.settings = RunSettings(str(store_location), str(Path(out_dir).resolve()), template, redact,
                                    figure_formats)
        self.jobs, self.lease_seconds = jobs, float(lease_seconds)
        self.max_attempts, self.backoff_seconds = max_attempts, float(backoff_seconds)
        self.poll_seconds = float(poll_seconds)
        self.worker_id = worker_id or _default_worker_id()
        self.runner = runner
        self.on_finished = on_finished
        self.rebuild_index = rebuild_index
        self.stop_event = threading.Event()

    def _pool(self) -> Executor:
        if self.runner is not None:
            return ThreadPoolExecutor(self.jobs, thread_name_prefix="review-kit-job")
        # spawn, not fork: the worker may run beside the HTTP server's threads.
        return ProcessPoolExecutor(self.jobs, mp_context=get_context("spawn"))

    def stop(self) -> None:
        self.stop_event.set()

    def run(self, *, once: bool = False) -> WorkerSummary:
        """Work until stopped; with `once`, until nothing is left that can start now."""
        summary = WorkerSummary()
        active: dict[Future, Claim] = {}
        runner = self.runner or execute_run
        pool = self._pool()
        last_renewal = time.monotonic()
        log.info("worker %s: %d job(s) at a time, lease %.0f s", self.worker_id, self.jobs,
                 self.lease_seconds)
        try:
            while not self.stop_event.is_set():
                while len(active) < self.jobs and not self.stop_event.is_set():
                    job = claim(self.store, self.worker_id, self.lease_seconds,
                                max_attempts=self.max_attempts)
                    if job is None:
                        break
                    log.info("run %s: %s %s, attempt %s", job.id, job.notebook,
                             job.incident_id or "", job.attempt)
                    active[pool.submit(runner, self.settings, job)] = job
                if not active:
                    if once:
                        break
                    self.stop_event.wait(self.poll_seconds)
                    continue
                # Wake up often enough to renew leases well before they run out.
                done, _ = wait(list(active), timeout=min(self.poll_seconds, self.lease_seconds / 3),
                               return_when=FIRST_COMPLETED)
                for future in done:
                    self._record(active.pop(future), future, summary)
                if time.monotonic() - last_renewal >= self.lease_seconds / 3:
                    last_renewal = time.monotonic()
                    for future, job in list(active.items()):
                        if not renew(self.store, job, self.lease_seconds):
                            log.warning("run %s: lease lost to another worker", job.id)
        finally:
            for future, job in active.items():
                # Stopping: a run that has not finished goes back to the queue untouched.
                if not future.done() and release(self.store, job):
                    log.info("run %s: released back to the queue", job.id)
            pool.shutdown(wait=False, cancel_futures=True)
        return summary

    def _record(self, job: Claim, future: Future, summary: WorkerSummary) -> None:
        try:
            outputs = future.result()
        except BaseException as exc:  # a job process that died raises BrokenProcessPool here
            error = str(exc) or type(exc).__name__
            status = fail(self.store, job, error, max_attempts=self.max_attempts,
                          backoff_seconds=self.backoff_seconds)
            (summary.retried if status == "queued" else summary.failed if status else summary.lost).append(job.id)
            log.warning("run %s: attempt %s failed (%s): %s", job.id, job.attempt, status or "lease lost", error)
        else:
            status = "done" if complete(self.store, job, outputs) else None
            (summary.done if status else summary.lost).append(job.id)
            log.info("run %s: %s", job.id, status or "finished, but its lease was lost: not recorded")
        if self.rebuild_index and status == "done":
            try:
                rebuild_index(self.store, self.settings.out_dir, redact=self.settings.redact)
            except Exception as exc:  # the run is recorded; a broken index must not undo it
                log.error("index.html not rebuilt: %s", exc)
        if self.on_finished is not None:
            self.on_finished(job, status)


# --- backfill and on-resolve -----------------------------------------------------------------
def backfill(store_location: str, out_dir: str | os.PathLike, *, since: Any = None,
             until: Any = None, jobs: int = 1, progress: bool = True,
             template: str | None = None, redact: bool = False,
             figure_formats: str = "png") -> WorkerSummary:
    """Queue the retrospective of every incident resolved since `since` (once per resolution:
    a second backfill skips what already ran) and run them, `jobs` papermill processes at once."""
    store = Store.open(store_location)
    table = resolved_incidents(store, since, until)
    for incident_id, resolved_at in zip(table["incident_id"].tolist(), table["resolved_at"].tolist()):
        enqueue(store, incident_id, "retrospective", trigger="manual",
                dedup_key=retro_dedup_key(incident_id, resolved_at))
    pending = pending_count(store)
    bar = None
    if progress and pending:
        from tqdm import tqdm
        bar = tqdm(total=pending, unit=" run", desc="retrospectives", file=sys.stderr)
    worker = Worker(store_location, out_dir, jobs=jobs, template=template, redact=redact,
                    figure_formats=figure_formats, on_finished=(lambda job, status: bar.update(1) if status != "queued" else None)
                    if bar is not None else None)
    try:
        return worker.run(once=True)
    finally:
        if bar is not None:
            bar.close()


def run_now(store_location: str, incident_id: str, out_dir: str | os.PathLike, *,
            trigger: str = "manual", force: bool = False, template: str | None = None,
            redact: bool = False) -> tuple[int, str, dict | None]:
    """Queue this incident's retrospective and execute it in this process, now.

    Once per resolution like every other trigger: when this resolution has run already the
    recorded run is returned unless `force`. Returns (run id, status, outputs)."""
    store = Store.open(store_location)
    incident_id = store.incident(incident_id)["incident_id"]
    resolved_at = resolution_time(store, incident_id)
    key = None if force or resolved_at is None else retro_dedup_key(incident_id, resolved_at)
    run_id = enqueue(store, incident_id, "retrospective", trigger=trigger, dedup_key=key)
    if run_id is None:
        with store.engine.connect() as conn:
            run_id = conn.execute(select(runs.c.id).where(runs.c.dedup_key == key)).scalar_one()
    worker_id = _default_worker_id()
    job = claim(store, worker_id, DEFAULT_LEASE_SECONDS, run_id=run_id)
    if job is None:  # done already, or another worker holds it right now
        row = list_runs(store).set_index("id").loc[run_id]
        return run_id, str(row["status"]), row["outputs"]
    worker = Worker(store_location, out_dir, worker_id=worker_id, template=template, redact=redact)
    stop = threading.Event()

    def keep_lease() -> None:
        while not stop.wait(DEFAULT_LEASE_SECONDS / 3):
            renew(store, job, DEFAULT_LEASE_SECONDS)

    renewer = threading.Thread(target=keep_lease, daemon=True)
    renewer.start()
    try:
        outputs = execute_run(worker.settings, job)
    except BaseException as exc:
        fail(store, job, str(exc) or type(exc).__name__, max_attempts=1)
        raise
    finally:
        stop.set()
    complete(store, job, outputs)
    rebuild_index(store, out_dir, redact=redact)
    return run_id, "done", outputs


def pending_count(store: Store, statuses: Iterable[str] = ("queued", "running")) -> int:
    from sqlalchemy import func
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(runs)
                                .where(runs.c.status.in_(list(statuses)))).scalar_one())


def on_resolve(store_location: str, incident_id: str, out_dir: str | os.PathLike, *,
               config: dict | None = None, pull_source: str | None = None,
               pull_dest: str | os.PathLike | None = None, fetch: bool = True, force: bool = False,
               template: str | None = None, redact: bool = False,
               **pull_options: Any) -> tuple[int, str, dict | None]:
    """`review-kit on-resolve ID`: pull the incident afresh when a pull source is configured
    (`[pull] source`), ingest it, then run its retrospective now (once per resolution)."""
    from ..errors import UnknownIncidentError
    from ..store.pull import configured_source, pull
    store = Store.open(store_location)
    source = (pull_source or configured_source(config or {})) if fetch else None
    if source:
        try:
            incident = store.incident(incident_id)
        except UnknownIncidentError:
            incident = None
        # The source knows the incident by its own id: the row's source_id, else an alias.
        external = incident_id
        if incident is not None:
            if incident.get("source") == source and incident.get("source_id"):
                external = incident["source_id"]
            else:
                known = store.aliases(incident["incident_id"])
                known = known[known["source"] == source]["external_id"].tolist()
                external = known[0] if known else incident_id
        if pull_dest is None:
            # Beside a SQLite store; ./review-data for a database server.
            pull_dest = (Path(store_location).parent if "://" not in store_location
                         else Path("review-data")) / "pulls"
        dest = pull_dest
        result = pull(store, source, dest=dest, incident_ids=[str(external)], config=config,
                      **pull_options)
        log.info("%s", result)
        if incident is None:
            incident_id = store.resolve_alias(str(external), source) or incident_id
    return run_now(store_location, incident_id, out_dir, trigger="manual", force=force,
                   template=template, redact=redact)
