"""The durable run queue: dedup per resolution, atomic claims, backoff, leases, SIGKILL recovery."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from review_kit.automation import queue as q
from review_kit.store.database import Store, runs

CSV_HEADER = "incident_id,at,kind,actor,summary\n"


@pytest.fixture
def store(tmp_path) -> Store:
    return Store.open(tmp_path / "review.db")


def ingest_csv(store: Store, tmp_path: Path, name: str, rows: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_text(CSV_HEADER + rows, encoding="utf-8")
    store.ingest("csv", path)


def force(store: Store, run_id: int, **values) -> None:
    """Move a run's clock by hand (lease and backoff times) instead of sleeping."""
    from sqlalchemy import update
    with store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


def test_dedup_key_runs_once_per_resolution_and_again_after_a_reopen(store, tmp_path):
    ingest_csv(store, tmp_path, "first", "INC-1,2024-03-01T10:00:00Z,triggered,pd,Paged\n"
                                         "INC-1,2024-03-01T11:00:00Z,resolved,Ana,Fixed\n")
    assert q.resolution_time(store, "INC-1") == pd.Timestamp("2024-03-01T11:00:00Z")
    first = q.enqueue_resolution(store, "INC-1")
    assert first == 1
    assert q.enqueue_resolution(store, "INC-1") is None           # same resolution delivered twice
    ingest_csv(store, tmp_path, "reopen", "INC-1,2024-03-01T12:00:00Z,reopened,Ana,Back\n")
    assert q.resolution_time(store, "INC-1") is None              # open again: nothing to queue
    assert q.enqueue_resolution(store, "INC-1") is None
    ingest_csv(store, tmp_path, "again", "INC-1,2024-03-01T13:30:00Z,resolved,Ana,Fixed again\n")
    second = q.enqueue_resolution(store, "INC-1")
    assert second == 2
    keys = q.list_runs(store)["dedup_key"].tolist()
    assert keys == ["retro:INC-1:2024-03-01T13:30:00Z", "retro:INC-1:2024-03-01T11:00:00Z"]


def test_claim_is_fifo_and_fail_backs_off_then_gives_up(store):
    a = q.enqueue(store, "A", dedup_key="a")
    b = q.enqueue(store, "B", dedup_key="b")
    job = q.claim(store, "w1", 60, max_attempts=3)
    assert (job.id, job.attempt) == (a, 1)
    assert q.fail(store, job, "kernel died", max_attempts=3, backoff_seconds=100) == "queued"
    row = q.list_runs(store).set_index("id").loc[a]
    # Backoff 100 s · 2^0 from the failure: queued_at is when it may start again.
    assert (row["queued_at"] - row["finished_at"]).total_seconds() == pytest.approx(100, abs=0.01)
    assert row["error"] == "attempt 1: kernel died"
    assert q.claim(store, "w1", 60).id == b                       # A is still backing off
    assert q.claim(store, "w1", 60) is None
    force(store, a, queued_at=row["finished_at"])
    job = q.claim(store, "w1", 60, max_attempts=3)
    assert (job.id, job.attempt) == (a, 2)
    assert q.fail(store, job, "again", max_attempts=3, backoff_seconds=100) == "queued"
    row = q.list_runs(store).set_index("id").loc[a]
    assert (row["queued_at"] - row["finished_at"]).total_seconds() == pytest.approx(200, abs=0.01)
    force(store, a, queued_at=row["finished_at"])
    job = q.claim(store, "w1", 60, max_attempts=3)
    assert q.fail(store, job, "third time", max_attempts=3) == "failed"
    row = q.list_runs(store).set_index("id").loc[a]
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 3, "attempt 3: third time")
    assert q.claim(store, "w1", 60) is None


def test_expired_lease_is_taken_over_and_the_old_holder_is_fenced_off(store):
    run_id = q.enqueue(store, "A", dedup_key="a")
    old = q.claim(store, "w-old", 60)
    assert q.claim(store, "w-new", 60) is None                    # lease still held
    assert q.renew(store, old, 60)
    force(store, run_id, lease_until=pd.Timestamp("2000-01-01T00:00:00Z"))
    new = q.claim(store, "w-new", 60)
    assert (new.id, new.attempt) == (run_id, 2)
    assert not q.renew(store, old, 60)                            # the old worker lost it
    assert not q.complete(store, old, {"folder": "stale"})
    assert q.fail(store, old, "late failure") is None
    assert q.complete(store, new, {"folder": "fresh"})
    row = q.list_runs(store).iloc[0]
    assert (row["status"], row["attempts"], row["outputs"]) == ("done", 2, {"folder": "fresh"})
    assert pd.isna(row["lease_until"])


def test_a_run_interrupted_max_attempts_times_fails_instead_of_looping(store):
    run_id = q.enqueue(store, "A", dedup_key="a")
    for attempt in (1, 2):
        job = q.claim(store, "w", 60, max_attempts=2)
        assert job.attempt == attempt
        force(store, run_id, lease_until=pd.Timestamp("2000-01-01T00:00:00Z"))
    assert q.claim(store, "w", 60, max_attempts=2) is None
    row = q.list_runs(store).iloc[0]
    assert row["status"] == "failed" and row["error"].startswith("interrupted 2 time(s)")


def test_release_returns_a_run_without_counting_the_attempt(store):
    q.enqueue(store, "A", dedup_key="a")
    job = q.claim(store, "w", 60)
    assert q.release(store, job)
    row = q.list_runs(store).iloc[0]
    assert (row["status"], row["attempts"]) == ("queued", 0)


def test_concurrent_claims_take_every_run_exactly_once(store):
    ids = {q.enqueue(store, f"I{i}", dedup_key=f"k{i}") for i in range(40)}
    taken: list[int] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        mine = Store.open(store.engine.url.database)
        while (job := q.claim(mine, name, 60)) is not None:
            with lock:
                taken.append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(taken) == sorted(ids)
    assert (q.list_runs(store)["attempts"] == 1).all()


def test_worker_runs_n_at_a_time_retries_and_records(store, tmp_path):
    for i in range(5):
        q.enqueue(store, f"I{i}", dedup_key=f"k{i}")
    running, peak, calls = 0, 0, []
    lock = threading.Lock()

    def runner(settings, job):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            calls.append((job.incident_id, job.attempt))
        time.sleep(0.15)
        with lock:
            running -= 1
        if job.incident_id == "I2" and job.attempt == 1:
            raise RuntimeError("papermill: kernel died")
        if job.incident_id == "I4":
            raise RuntimeError("cell 3 failed")
        return {"folder": f"{settings.out_dir}/{job.incident_id}"}

    worker = q.Worker(str(tmp_path / "review.db"), tmp_path / "out", jobs=3, runner=runner,
                      backoff_seconds=0, max_attempts=2, poll_seconds=0.05, rebuild_index=False)
    summary = worker.run(once=True)
    assert peak == 3
    assert sorted(summary.done) == [1, 2, 3, 4]
    assert summary.failed == [5]
    assert sorted(summary.retried) == [3, 5]
    frame = q.list_runs(store).set_index("incident_id")
    assert frame.loc["I2", "attempts"] == 2 and frame.loc["I2", "status"] == "done"
    assert frame.loc["I4", "error"] == "attempt 2: cell 3 failed"
    assert frame.loc["I0", "outputs"] == {"folder": f"{(tmp_path / 'out').resolve()}/I0"}
    assert (frame.loc[frame["status"] == "done", "duration"] >= 0.15).all()


def _worker(store_path: Path, out: Path, lease: float) -> subprocess.Popen:
    # Its own session: the kill takes the worker and its papermill kernel down together,
    # as a machine losing power would.
    return subprocess.Popen(
        [sys.executable, "-m", "review_kit.cli", "--store", str(store_path), "worker", "--once",
         "--out", str(out), "--lease", str(lease), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_completes_the_run_once(store, tmp_path):
    ingest_csv(store, tmp_path, "inc", "INC-7,2024-03-01T10:00:00Z,triggered,pd,Paged\n"
                                       "INC-7,2024-03-01T10:05:00Z,acknowledged,Ana,On it\n"
                                       "INC-7,2024-03-01T11:00:00Z,resolved,Ana,Fixed\n")
    run_id = q.enqueue_resolution(store, "INC-7", trigger="webhook")
    out = tmp_path / "out"
    folder = out / "INC-7"
    first = _worker(tmp_path / "review.db", out, lease=2)
    try:
        deadline = time.monotonic() + 60
        # In the middle: the run is claimed and its notebook kernel is starting or running
        # (a retrospective takes seconds; papermill writes the notebook only at the end).
        while q.list_runs(store).iloc[0]["status"] != "running":
            assert first.poll() is None, first.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker never started the run"
            time.sleep(0.05)
        time.sleep(0.5)
        assert first.poll() is None, "the run finished before the kill"
        assert not (folder / "retrospective.ipynb").exists()
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    row = q.list_runs(store).iloc[0]
    assert (row["status"], row["attempts"]) == ("running", 1)
    assert not (folder / "retrospective.html").exists()
    # A restarted worker takes the run once the dead one's lease has run out.
    while pd.Timestamp.now(tz="UTC") <= q.list_runs(store).iloc[0]["lease_until"]:
        time.sleep(0.1)
    second = _worker(tmp_path / "review.db", out, lease=2)
    stdout, stderr = second.communicate(timeout=90)

    assert second.returncode == 0, stderr.decode()
    assert "1 run(s) done" in stdout.decode()
    frame = q.list_runs(store)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["id"], row["status"], row["attempts"]) == (run_id, "done", 2)
    assert row["outputs"]["files"]["html"] == str((folder / "retrospective.html").resolve())
    assert sorted(p.name for p in folder.iterdir()) == [
        "postmortem.md", "responders.png", "retrospective.html", "retrospective.ipynb",
        "timeline.png"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.count('href="INC-7/retrospective.html"') == 2    # the id and the report link
    assert q.claim(store, "w-check", 60) is None                  # nothing left to run


@pytest.mark.parametrize("rows, expected", [
    # one resolution: read directly
    ("INC-1,2024-03-01T11:00:00Z,resolved,Ana,Fixed\n", "2024-03-01T11:00:00Z"),
    # two resolutions far apart (a reopen was never recorded): the later one
    ("INC-1,2024-03-01T11:00:00Z,resolved,Ana,Fixed\n"
     "INC-1,2024-03-01T12:00:00Z,resolved,Ana,Fixed again\n", "2024-03-01T12:00:00Z"),
    # a repeat report a second later is the same happening: the earlier one counts
    ("INC-1,2024-03-01T11:00:00Z,resolved,Ana,Fixed\n"
     "INC-1,2024-03-01T11:00:01Z,resolved,Ana,Fixed (bot)\n", "2024-03-01T11:00:00Z"),
    # reopened after the last resolution: open
    ("INC-1,2024-03-01T11:00:00Z,resolved,Ana,Fixed\n"
     "INC-1,2024-03-01T11:30:00Z,reopened,Ana,Back\n", None),
    # reopened, then resolved again
    ("INC-1,2024-03-01T11:00:00Z,resolved,Ana,Fixed\n"
     "INC-1,2024-03-01T11:30:00Z,reopened,Ana,Back\n"
     "INC-1,2024-03-01T11:45:00Z,resolved,Ana,Fixed\n", "2024-03-01T11:45:00Z"),
    # no resolution at all
    ("INC-1,2024-03-01T10:05:00Z,acknowledged,Ana,Ack\n", None),
])
def test_resolution_time_read_directly_agrees_with_the_timeline(store, tmp_path, rows, expected):
    from review_kit.analysis.timeline import milestones
    from review_kit.automation.runs import _plain_resolution
    ingest_csv(store, tmp_path, "history", "INC-1,2024-03-01T10:00:00Z,triggered,pd,Paged\n" + rows)
    found = q.resolution_time(store, "INC-1")
    assert found == (None if expected is None else pd.Timestamp(expected))
    # The direct read answers only where the timeline would say the same.
    timeline = milestones(store.events("INC-1"))["resolved_at"].iloc[0]
    assert (None if pd.isna(timeline) else timeline) == found
    quick = _plain_resolution(store, "INC-1")
    assert quick is None or quick == found
    assert (quick is not None) == (expected is not None and "reopened" not in rows
                                   and "11:00:01" not in rows)
