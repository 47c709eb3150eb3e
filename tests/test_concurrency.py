"""Several processes on one store at once, on SQLite and on a real PostgreSQL server.

Queue soak: worker processes drain 200 queued runs (a fast stand-in for papermill that
records each execution with an O_EXCL marker file, so a second execution of a run cannot
go unnoticed) while two ingest processes ingest the same sample files over and over and
re-deliver already-queued resolutions. One run starts out claimed by a worker that "died":
its lease expires and a live worker takes it. Afterwards every run was executed exactly once
and recorded by the worker that executed it, the store holds exactly the events of a
single ingest, and the ingests between them reported each event as new exactly once.

Annotation edits: two writers save different fields of one incident (and different fields
of one action item) over and over while an ingest rewrites that incident: no edit is lost
and no reader ever sees a field go back to an older value.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from pathlib import Path

import pandas as pd
import pytest

from review_kit.store.ingest import ingest_paths
from review_kit.automation.queue import claim, enqueue, list_runs, pending_count
from review_kit.demo.sample import generate_sample
from review_kit.store import Store

from backends import backend, pg_database, pg_store_location, store_location  # noqa: F401  (fixtures)

RUNS = 200
# Per backend: worker processes, seconds per fake run. PostgreSQL: 4 workers, ~30 s in all.
SOAK = {"postgresql": (4, 0.45), "sqlite": (2, 0.05)}
# Between ingest rounds: flat-out ingest loops would take both of CI's two cores from the
# workers; paced, they still overlap every claim and completion many times over.
INGEST_PAUSE = 0.2
LEASE_SECONDS = 10.0       # renewed every lease/3 by the worker: never expires while running
DEAD_LEASE_SECONDS = 2.0   # the dead worker's claim
TIMEOUT = 120.0            # a hung process fails the test instead of hanging CI

SPAWN = multiprocessing.get_context("spawn")


# --- child processes (module level: spawned processes import them) --------------------------
def _guard(function, result_path: str, *args) -> None:
    try:
        result = function(*args)
    except BaseException:
        result = {"error": traceback.format_exc()}
    Path(result_path).write_text(json.dumps(result))


def _worker(location: str, marks: str, worker_id: str, job_seconds: float, out_dir: str) -> dict:
    import threading

    from review_kit.automation.queue import Worker

    def fake_notebook(settings, job):
        try:  # O_EXCL: the run's second execution, if any, cannot create its marker again
            fd = os.open(os.path.join(marks, str(job.id)), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            Path(marks, f"DUPLICATE-{job.id}-{worker_id}").write_text(worker_id)
            raise
        os.write(fd, worker_id.encode())
        os.close(fd)
        time.sleep(job_seconds)
        return {"worker": worker_id}

    worker = Worker(location, out_dir, jobs=1, lease_seconds=LEASE_SECONDS, poll_seconds=0.05,
                    worker_id=worker_id, runner=fake_notebook, rebuild_index=False)
    summary = {}
    thread = threading.Thread(target=lambda: summary.update(vars(worker.run())))
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while pending_count(worker.store) and time.monotonic() < deadline:
        time.sleep(0.2)
    worker.stop()
    thread.join(30)
    return summary


def _ingester(location: str, plan: list[tuple[str, str]], stop_file: str) -> dict:
    store = Store.open(location)
    added, rounds, requeued = 0, 0, 0
    deadline = time.monotonic() + TIMEOUT
    while (rounds < 2 or not os.path.exists(stop_file)) and time.monotonic() < deadline:
        for name, path in plan:
            added += ingest_paths(store, name, [path], quiet=True).events_added
        # The same resolutions delivered again: queued once, never twice.
        for k in range(rounds % 5, RUNS, 5):
            requeued += enqueue(store, f"INC-{k}", trigger="webhook", dedup_key=f"retro:INC-{k}") is not None
        rounds += 1
        time.sleep(INGEST_PAUSE)
    return {"added": added, "rounds": rounds, "requeued": requeued}


def _annotator(location: str, incident_id: str, item_id: int, name: str, field: str,
               item_field: str, writes: int) -> dict:
    store = Store.open(location)
    problems = []
    other_seen = -1
    other = "impact" if field == "summary" else "summary"
    for i in range(writes):
        store.set_annotation(incident_id, field, f"{name}-{i}", author=name)
        store.update_action_item(item_id, **{item_field: f"{name}-{i}"})
        notes = store.annotations(incident_id)
        if notes.get(field) != f"{name}-{i}":
            problems.append(f"{field} read back {notes.get(field)!r} after writing {name}-{i}")
        if other in notes:
            seen = int(notes[other].rsplit("-", 1)[1])
            if seen < other_seen:
                problems.append(f"{other} went back from {other_seen} to {seen}")
            other_seen = seen
    return {"problems": problems}


def _run_all(jobs: list[tuple], folder: Path) -> list:
    """Start every (function, *args) in its own spawned process; `_join` collects results."""
    folder.mkdir(parents=True, exist_ok=True)
    processes = []
    for index, (function, *args) in enumerate(jobs):
        result_path = folder / f"result-{index}.json"
        process = SPAWN.Process(target=_guard, args=(function, str(result_path), *args))
        process.start()
        processes.append((process, result_path))
    return processes


def _join(processes, timeout: float = TIMEOUT + 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    results = []
    for process, result_path in processes:
        process.join(max(1.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            pytest.fail(f"{process.name} did not finish in {timeout:.0f} s (deadlock?)")
        assert process.exitcode == 0, f"{process.name} exited with {process.exitcode}"
        result = json.loads(result_path.read_text())
        assert "error" not in result, result.get("error")
        results.append(result)
    return results


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    """Events in one order whatever order the store returned them in."""
    return frame.sort_values("event_id", ignore_index=True)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A small history in the real PagerDuty and CSV formats, and what one ingest of it stores."""
    folder = tmp_path_factory.mktemp("concurrency-sample")
    files = generate_sample(folder / "files", n_incidents=12, seed=11)
    reference = Store.open(folder / "reference.db")
    for name, path in files.ingest:
        ingest_paths(reference, name, [path], quiet=True)
    expected = {"events": by_id(reference.events()), "incidents": reference.incidents(),
                "aliases": reference.aliases()}
    reference.close()
    return files, expected


def test_workers_and_ingests_share_one_store(store_location, backend, sample, tmp_path):
    files, expected = sample
    n_workers, job_seconds = SOAK[backend]
    location = store_location()
    store = Store.open(location)
    for k in range(RUNS):
        assert enqueue(store, f"INC-{k}", trigger="webhook", dedup_key=f"retro:INC-{k}") is not None
    dead = claim(store, "dead-worker", DEAD_LEASE_SECONDS)  # claims run 1, then "dies"
    assert dead is not None and dead.id == 1
    marks, out = tmp_path / "marks", tmp_path / "out"
    marks.mkdir()
    stop_file = tmp_path / "stop"
    plan = [(name, str(path)) for name, path in files.ingest]

    started = time.monotonic()
    ingesters = _run_all([(_ingester, location, plan, str(stop_file)) for _ in range(2)], tmp_path / "i")
    workers = _run_all([(_worker, location, str(marks), f"worker-{n}", job_seconds, str(out))
                        for n in range(n_workers)], tmp_path / "w")
    worker_results = _join(workers)
    drained = time.monotonic() - started
    stop_file.touch()
    ingest_results = _join(ingesters)
    print(f"\n{backend}: {n_workers} workers drained {RUNS} runs in {drained:.1f} s; "
          f"ingest rounds {[r['rounds'] for r in ingest_results]}")

    # Every run executed exactly once, and recorded by the worker that executed it.
    assert sorted(p.name for p in marks.iterdir() if p.name.startswith("DUPLICATE")) == []
    executed = {int(p.name): p.read_text() for p in marks.iterdir()}
    assert sorted(executed) == list(range(1, RUNS + 1))
    runs = list_runs(store).set_index("id").sort_index()
    assert len(runs) == RUNS  # the re-deliveries queued nothing
    assert runs["status"].eq("done").all(), runs["status"].value_counts().to_dict()
    assert {i: o["worker"] for i, o in runs["outputs"].items()} == executed
    assert runs["lease_until"].isna().all()
    # Run 1 was taken from the dead worker once its lease expired: its second attempt.
    assert runs.loc[1, "attempts"] == 2 and runs.drop(index=1)["attempts"].eq(1).all()
    done = sorted(i for r in worker_results for i in r["done"])
    assert done == list(range(1, RUNS + 1))
    assert [r["lost"] for r in worker_results] == [[]] * n_workers
    assert all(r["done"] for r in worker_results), "a worker never got a run"

    # Repeated concurrent ingests: the events of one ingest, each reported new exactly once.
    assert all(r["rounds"] >= 2 for r in ingest_results)
    assert sum(r["requeued"] for r in ingest_results) == 0
    assert sum(r["added"] for r in ingest_results) == len(expected["events"])
    pd.testing.assert_frame_equal(by_id(store.events()), expected["events"])
    pd.testing.assert_frame_equal(store.incidents(), expected["incidents"])
    pd.testing.assert_frame_equal(store.aliases(), expected["aliases"])
    store.close()


def test_annotation_edits_survive_concurrent_writers_and_ingest(store_location, backend, sample, tmp_path):
    files, _ = sample
    location = store_location()
    store = Store.open(location)
    for name, path in files.ingest:
        ingest_paths(store, name, [path], quiet=True)
    incident = files.demo_incident_id
    item = store.add_action_item(incident, "Alert on pool saturation")
    writes = 60
    stop_file = tmp_path / "stop"
    plan = [(name, str(path)) for name, path in files.ingest]
    ingester = _run_all([(_ingester, location, plan, str(stop_file))], tmp_path / "i")
    writers = _run_all([(_annotator, location, incident, item, "ann", "summary", "owner", writes),
                        (_annotator, location, incident, item, "bob", "impact", "priority", writes)],
                       tmp_path / "a")
    results = _join(writers)
    stop_file.touch()
    (ingest_result,) = _join(ingester)
    assert [r["problems"] for r in results] == [[], []]
    assert ingest_result["rounds"] >= 2 and ingest_result["added"] == 0
    assert store.annotations(incident) == {"summary": f"ann-{writes - 1}", "impact": f"bob-{writes - 1}"}
    row = store.action_items(incident).iloc[0]
    assert (row["owner"], row["priority"], row["title"]) == \
        (f"ann-{writes - 1}", f"bob-{writes - 1}", "Alert on pool saturation")
    authors = store.annotation_rows([incident]).set_index("field")["author"].to_dict()
    assert authors == {"summary": "ann", "impact": "bob"}
    store.close()
