"""Core benchmark: ingest, metrics and retrospective wall time, each against a floor measured
in the same run (issue 2). Not part of the test suite.

    .venv/bin/python benchmarks/bench_core.py [--incidents 10000] [--events-per-incident 100]

The ingest floor is every input parsed, plus one bare executemany of the rows the store
holds into an unindexed table: raw records included, one per event, since that is what the
store keeps (issue 17 measured keeping them zlib-compressed once per incident instead: the
floor's insert got faster, the ingest's CPU did not, so the store and this floor stay as
they are). The headline floor parses JSON lines into one list per file, which the garbage
collector walks again and again; the stricter floor parses them one at a time, as a streaming
reader does, and is the truer bar. The ingest reads a big input a batch ahead in a second
thread, so its CPU time is printed too: the floor is one thread.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import orjson
import pandas as pd
from nbformat.v4 import new_code_cell, new_notebook

from review_kit.store.ingest import ingest_paths
from review_kit.analysis.metrics import compute_metrics
from review_kit.analysis.retrospective import cadence_policy
from review_kit.notebook.kept_history import fleet_metrics
from review_kit.model import EVENT_COLUMNS
from review_kit.automation.runner import KERNEL, execute_notebook, run_retro
from review_kit.demo.sample import generate_sample
from review_kit.store import Store
from review_kit.store.database import SQLITE_PAGE_SIZE


NO_OVERRIDES = pd.DataFrame({"incident_id": [], "field": [], "value": []}, dtype=object)


def timed(label: str, func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    elapsed = time.perf_counter() - start
    print(f"  {label:<44} {elapsed:8.2f} s", flush=True)
    return result, elapsed


def parse_inputs(plan: list[tuple[str, Path]]) -> int:
    """The parse half of the floor: every input read by the fastest plain parser."""
    records = 0
    for _, path in plan:
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                records += sum(1 for _ in csv.reader(handle))
        else:
            text = path.read_bytes()
            try:
                documents = [orjson.loads(text)]
            except orjson.JSONDecodeError:
                documents = [orjson.loads(line) for line in text.splitlines() if line.strip()]
            records += len(documents)
    return records


def parse_inputs_streaming(plan: list[tuple[str, Path]]) -> int:
    """A stricter parse floor: JSON lines parsed one at a time and dropped, as a streaming
    reader does. `parse_inputs` keeps every document of a file, and the garbage collector
    walks them all again and again: on a 500 MB file that triples its time."""
    records = 0
    for _, path in plan:
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                records += sum(1 for _ in csv.reader(handle))
        elif path.suffix == ".jsonl":
            with path.open("rb") as handle:
                records += sum(1 for line in handle if line.strip() and orjson.loads(line) is not None)
        else:
            records += orjson.loads(path.read_bytes()) is not None
    return records


def bare_insert(rows: list[tuple], folder: Path) -> None:
    """The insert half of the floor: one executemany of the same rows into an unindexed table,
    on the store's own page size (bigger pages write these rows faster, and the floor must
    get every saving the store gets)."""
    connection = sqlite3.connect(folder / "floor.db")
    connection.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(f"CREATE TABLE events ({', '.join(EVENT_COLUMNS)})")
    connection.executemany(f"INSERT INTO events VALUES ({', '.join('?' * len(EVENT_COLUMNS))})", rows)
    connection.commit()
    connection.close()


def ingest_process(store: Path, plan: list[tuple[str, Path]]) -> tuple[float, float, float]:
    """Every input ingested by a fresh process, as `review-kit ingest` would: the seconds it
    took, the CPU seconds it used (all its threads: a big input is read a batch ahead in a
    thread of its own while the last batch is written, so the wall time can be less than
    the CPU time; the floor is one thread) and its peak resident memory (MB), which must
    not grow with the file."""
    code = ("import json, resource, sys, time\n"
            "from review_kit.store import Store\n"
            "from review_kit.store.ingest import ingest_paths\n"
            "store = Store.open(sys.argv[1])\n"
            "start, cpu = time.perf_counter(), time.process_time()\n"
            "for name, path in json.loads(sys.argv[2]):\n"
            "    ingest_paths(store, name, [path], quiet=True)\n"
            "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
            "peak_mb = int(peak[0].split()[1]) / 1024 if peak else \\\n"
            "    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
            "print(json.dumps([time.perf_counter() - start, time.process_time() - cpu, peak_mb]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(store),
                           json.dumps([(name, str(path)) for name, path in plan])],
                          check=True, capture_output=True, text=True, cwd=str(Path(store).parent))
    seconds, cpu_seconds, peak_mb = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, cpu_seconds, peak_mb


def _floor_notebook(folder: Path) -> Path:
    notebook = folder / "floor.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(
        "import pandas as pd\nimport matplotlib\nmatplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2, 3])\n"
        "fig.savefig('floor.png')")], metadata={"kernelspec": {"name": KERNEL, "language": "python",
                                                                "display_name": "Python 3"}}), notebook)
    return notebook


def papermill_floor(folder: Path) -> float:
    """The floor notebook run the way review-kit runs notebooks (the strict floor: it gets every
    runner-level saving too, such as the kernel stopped at once after the last cell)."""
    notebook = _floor_notebook(folder)
    _, elapsed = timed("papermill floor notebook", execute_notebook, notebook, folder / "floor-out.ipynb", {})
    return elapsed


def plain_papermill_floor(folder: Path) -> float:
    """The floor notebook under papermill's own defaults, for reference."""
    import papermill
    notebook = _floor_notebook(folder)
    _, elapsed = timed("plain papermill floor notebook", papermill.execute_notebook, str(notebook),
                       str(folder / "plain-floor-out.ipynb"), kernel_name=KERNEL,
                       progress_bar=False, cwd=str(folder))
    return elapsed


def fresh_retro(store: Path, incident_id: str, out: Path) -> None:
    """One retrospective into an empty folder: charts left by an earlier run would be reused."""
    shutil.rmtree(out, ignore_errors=True)
    run_retro(str(store), incident_id, out)


def best_of(runs: int, label: str, func, *args) -> float:
    times = [timed(f"{label} (run {i + 1})", func, *args)[1] for i in range(runs)]
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--events-per-incident", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="notebook runs; the best counts")
    parser.add_argument("--keep", type=Path, default=None, help="keep the work folder here")
    parser.add_argument("--skip-retro", action="store_true", help="ingest and metrics only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="review-kit-bench-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}")

    print("sample")
    sample, _ = timed(f"generate {args.incidents} incidents", generate_sample, work / "big",
                      n_incidents=args.incidents, events_per_incident=args.events_per_incident)
    # The same generator and incident size, so the two retrospectives differ only in the store.
    small, _ = timed("generate 10 incidents", generate_sample, work / "small", n_incidents=10,
                     events_per_incident=args.events_per_incident)

    print("ingest")
    (ingest_seconds, ingest_cpu, peak_mb), _ = timed("review-kit ingest (all files, own process)",
                                                     ingest_process, work / "big.db", sample.ingest)
    store = Store.open(work / "big.db")
    events = store.counts()["events"]
    input_mb = sum(path.stat().st_size for _, path in sample.ingest) / 1e6
    frame = store.events()
    # The same rows as the store holds (times as integer microseconds, as stored).
    rows = list(zip(*[frame[c].astype("int64").tolist() if c in ("at", "seq") else
                      frame[c].tolist() for c in EVENT_COLUMNS]))
    _, parse_seconds = timed("floor: parse every input", parse_inputs, sample.ingest)
    _, insert_seconds = timed("floor: bare executemany", bare_insert, rows, work)
    floor = parse_seconds + insert_seconds
    _, stream_seconds = timed("stricter floor: parse streaming", parse_inputs_streaming, sample.ingest)
    small_store = Store.open(work / "small.db")
    for name, path in small.ingest:
        ingest_paths(small_store, name, [path], quiet=True)

    print("metrics")
    everything, read_seconds = timed("read all events from the store", store.events, with_raw=False)
    incidents = store.incidents()
    # As every caller with a store's frame asks: the store's primary key already keeps one
    # row per event id, so they are not hashed again.
    metrics, metrics_seconds = timed(f"compute_metrics for {len(incidents)} incidents",
                                     compute_metrics, everything, incidents, unique_ids=True)
    # A frame of unknown origin, whose ids must be checked: read again, since a text's hash,
    # once computed, is kept with it and the second run would find them ready.
    del everything
    everything = store.events(with_raw=False)
    _, checked_seconds = timed("the same, event ids checked for repeats", compute_metrics,
                               everything, incidents)
    del everything
    # What the trend report does instead: every incident's metrics kept for the store's
    # revision (made once, as `review-kit ingest` does), read back with the unresolved
    # incidents computed again for the report's as-of time.
    cadence = cadence_policy({})
    _, keep_seconds = timed("derive and keep them (once per revision)", fleet_metrics, store,
                            incidents, overrides=NO_OVERRIDES, cadence=cadence, asof=None)
    fleet, kept_seconds = timed("fleet_metrics read back, as a report asks",
                                fleet_metrics, store, incidents, overrides=NO_OVERRIDES,
                                cadence=cadence, asof=pd.Timestamp.now(tz="UTC"))
    unresolved = int(fleet.metrics["resolved_at"].isna().sum())

    summary = [
        f"  ingest: {events:,} events ({input_mb:,.0f} MB of input) in {ingest_seconds:.2f} s = "
        f"{events / ingest_seconds:,.0f} events/s, {input_mb / ingest_seconds:.1f} MB/s; "
        f"peak memory {peak_mb:,.0f} MB  [goal < 600 MB at 1M events]",
        f"  ingest vs floor {floor:.2f} s (parse {parse_seconds:.2f} + insert {insert_seconds:.2f}): "
        f"ratio {ingest_seconds / floor:.2f}x  [goal <= 1.5x]",
        f"  (stricter: against parse streaming {stream_seconds:.2f} + insert {insert_seconds:.2f}, "
        f"ratio {ingest_seconds / (stream_seconds + insert_seconds):.2f}x)",
        f"  (the ingest's CPU time, all threads: {ingest_cpu:.2f} s, {ingest_cpu / floor:.2f}x the floor, "
        f"{ingest_cpu / (stream_seconds + insert_seconds):.2f}x the stricter one)",
        f"  metrics: {len(metrics):,} incidents in {metrics_seconds:.2f} s "
        f"(+ {read_seconds:.2f} s to read the events)  [goal < 0.5 s]",
        f"  (a frame not from a store, its event ids checked for repeats: {checked_seconds:.2f} s)",
        f"  (as the trend report reads them, kept: {len(fleet.metrics):,} incidents in "
        f"{kept_seconds:.2f} s, {unresolved:,} unresolved computed again from their events; "
        f"deriving and keeping them {keep_seconds:.2f} s once per revision)",
    ]
    if args.skip_retro:
        print("\nresults", *summary, sep="\n")
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    print("retrospective (papermill + HTML)")
    floor_nb = min(papermill_floor(work) for _ in range(args.runs))
    plain_floor = min(plain_papermill_floor(work) for _ in range(args.runs))
    out = work / "out"
    big_retro = best_of(args.runs, "retro on the big store", fresh_retro,
                        work / "big.db", sample.demo_incident_id, out / "big")
    small_retro = best_of(args.runs, "retro on the 10-incident store", fresh_retro,
                          work / "small.db", small.demo_incident_id, out / "small")

    print("\nresults", *summary, sep="\n")
    print(f"  retro: big store {big_retro:.2f} s vs 10-incident store {small_retro:.2f} s: "
          f"ratio {big_retro / small_retro:.2f}x  [goal <= 1.2x]")
    print(f"  retro vs papermill floor {floor_nb:.2f} s: ratio {small_retro / floor_nb:.2f}x "
          f"(big store {big_retro / floor_nb:.2f}x)  [goal <= 1.5x]")
    print(f"  (for reference: the floor under plain papermill defaults {plain_floor:.2f} s; "
          f"retro {small_retro / plain_floor:.2f}x of it)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
