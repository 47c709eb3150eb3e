"""Retrospective wall time against the papermill floor, for an ordinary incident and a
2,000-event one (issue 4: within 1.3x). Quick: two 10-incident stores, no big store.
Not part of the test suite.

    .venv/bin/python benchmarks/bench_retro.py [--runs 5] [--events 100 2000]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from bench_core import best_of, fresh_retro, papermill_floor, plain_papermill_floor

from review_kit.store.ingest import ingest_paths
from review_kit.demo.sample import generate_sample
from review_kit.store import Store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each; the best counts")
    parser.add_argument("--events", type=int, nargs="+", default=[100, 2000],
                        help="events per incident, one store each")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="review-kit-bench-retro-"))
    try:
        stores = {}
        for n in args.events:
            sample = generate_sample(work / f"sample-{n}", n_incidents=10, events_per_incident=n)
            store = Store.open(work / f"store-{n}.db")
            for name, path in sample.ingest:
                ingest_paths(store, name, [path], quiet=True)
            events = int((store.events(sample.demo_incident_id)["at"].notna()).sum())
            store.close()
            stores[n] = (work / f"store-{n}.db", sample.demo_incident_id, events)

        # Interleaved, so a slow spell of the machine hits floor and retro alike.
        floors, plains, retros = [], [], {n: [] for n in stores}
        for _ in range(args.runs):
            floors.append(papermill_floor(work))
            plains.append(plain_papermill_floor(work))
            for n, (path, incident_id, _) in stores.items():
                retros[n].append(best_of(1, f"retro, {n} events per incident", fresh_retro,
                                         path, incident_id, work / "out"))
        floor, plain = min(floors), min(plains)
        print("\nresults (best of each)")
        print(f"  papermill floor (run by review-kit's runner): {floor:.2f} s; under plain papermill "
              f"defaults: {plain:.2f} s")
        for n, (_, incident_id, events) in stores.items():
            best = min(retros[n])
            print(f"  retro of {incident_id} ({events:,} events): {best:.2f} s = {best / floor:.2f}x "
                  f"the floor ({best / plain:.2f}x the plain-papermill floor)  "
                  f"[goal <= 1.3x at 2,000 events, <= 1.5x for issue 2]")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
