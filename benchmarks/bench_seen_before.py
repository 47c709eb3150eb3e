""""Seen before" on a big store: the retrospective (papermill + HTML, with the similar past
incidents section) on a 10,000-incident store against the same on a 20-incident store, one
run each (issue 16: at most 1.3x). Also prints what computing every incident's similarity
terms costs once, when a history is first ingested. Not part of the test suite.

    .venv/bin/python benchmarks/bench_seen_before.py [--incidents 10000] [--events-per-incident 100]
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from bench_core import fresh_retro, timed

from review_kit.demo.sample import generate_sample
from review_kit.notebook.kept_history import keep_history, kept_milestones
from review_kit.notebook.similar_history import kept_terms, similarity_index
from review_kit.store import Store
from review_kit.store.ingest import ingest_paths


def build(folder: Path, n: int, events_per_incident: int) -> tuple[Path, str]:
    sample = generate_sample(folder / "sample", n_incidents=n, events_per_incident=events_per_incident)
    path = folder / "store.db"
    store = Store.open(path)
    for name, source in sample.ingest:
        ingest_paths(store, name, [source], quiet=True)
    store.close()
    return path, sample.demo_incident_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--events-per-incident", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="review-kit-bench-seen-"))
    try:
        print("stores")
        (big, big_id), _ = timed(f"{args.incidents} incidents", build, work / "big", args.incidents,
                                 args.events_per_incident)
        (small, small_id), _ = timed("20 incidents", build, work / "small", 20, args.events_per_incident)
        print("what `review-kit ingest` keeps after an ingest (similarity terms and index, "
              "every incident's milestones, the trend report's metrics)")
        for label, path in (("big", big), ("small", small)):
            store = Store.open(path)
            timed(f"{label}: every incident's terms, first time", kept_terms, store)
            timed(f"{label}: terms read back", kept_terms, store)
            timed(f"{label}: similarity index", similarity_index, store)
            timed(f"{label}: every incident's milestones (from the trend report's metrics)",
                  kept_milestones, store)
            timed(f"{label}: all of it read back (keep_history)", keep_history, store)
            store.close()
        print("retrospective, one run each (after one untimed run: the first kernel of a "
              "process pays for cold caches)")
        fresh_retro(small, small_id, work / "out-warm")
        _, small_seconds = timed("retro on the 20-incident store", fresh_retro, small, small_id,
                                 work / "out-small")
        _, big_seconds = timed(f"retro on the {args.incidents}-incident store", fresh_retro, big,
                               big_id, work / "out-big")
        markdown = (work / "out-big" / big_id / "postmortem.md").read_text()
        assert "## Seen before" in markdown
        # For the record: a store filled through the Python API, where nothing was kept (the
        # runner keeps it while the kernel starts; the notebook builds the index itself and
        # reads the past year's milestones when they are not kept yet).
        with sqlite3.connect(big) as connection:
            connection.execute("DELETE FROM similarity_cache")
        _, cold_seconds = timed("retro on the big store, nothing kept yet", fresh_retro, big,
                                big_id, work / "out-cold")
        print(f"\nresults\n  retro with 'Seen before': {args.incidents:,} incidents {big_seconds:.2f} s vs "
              f"20 incidents {small_seconds:.2f} s: ratio {big_seconds / small_seconds:.2f}x  "
              "[goal <= 1.3x]")
        print(f"  (first retro on a big store where nothing was kept: {cold_seconds:.2f} s, "
              f"{cold_seconds / small_seconds:.2f}x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
