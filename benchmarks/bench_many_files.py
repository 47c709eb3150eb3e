"""One command over many small files against the same data in one file (issue 13). Not part
of the test suite.

    .venv/bin/python benchmarks/bench_many_files.py [--files 1000] [--repeat 3]

A status-page history of N incidents (most posted after the fact with one update, every
fourth told live with three) is written twice: as one `incidents.json`, and as N files of one
incident each. Each is ingested into a fresh store by one `review-kit ingest auto …` command
(in this process, so interpreter start-up is left out of both), the best of `--repeat` runs
timed; the ratio many/one is printed against the floor of 2.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from review_kit.cli import main

LIMIT = 2.0


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def history(n: int) -> dict:
    end = pd.Timestamp("2025-06-30T12:00:00Z")
    incidents = []
    for i in range(n):
        created = end - pd.Timedelta(hours=7 * i)
        steps = [("investigating", 0), ("monitoring", 30), ("resolved", 50)] if i % 4 == 0 \
            else [("resolved", 0)]
        updates = [{"id": f"u{i}-{k}", "status": status, "body": f"{status} #{i}",
                    "created_at": _iso(created + pd.Timedelta(minutes=m)),
                    "display_at": _iso(created + pd.Timedelta(minutes=m)),
                    "affected_components": None} for k, (status, m) in enumerate(steps)]
        incidents.append({
            "id": f"inc{i:05d}", "name": f"Incident with service {i % 17}",
            "status": "resolved", "impact": "minor", "created_at": _iso(created),
            "updated_at": updates[-1]["created_at"], "started_at": _iso(created),
            "monitoring_at": None, "resolved_at": updates[-1]["created_at"],
            "shortlink": f"https://stspg.example/{i}", "components": [{"name": f"svc{i % 17}"}],
            "incident_updates": list(reversed(updates))})
    return {"page": {"id": "p", "name": "Example", "url": "https://status.example",
                     "time_zone": "Etc/UTC", "updated_at": _iso(end)}, "incidents": incidents}


def timed(store: Path, paths: list[str]) -> float:
    start = time.perf_counter()
    assert main(["--store", str(store), "ingest", "auto", *paths, "--quiet"]) == 0
    return time.perf_counter() - start


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        document = history(args.files)
        one = folder / "one" / "incidents.json"
        one.parent.mkdir()
        one.write_text(json.dumps(document))
        many = folder / "many"
        many.mkdir()
        for incident in document["incidents"]:
            (many / f"{incident['id']}.json").write_text(
                json.dumps({"page": document["page"], "incidents": [incident]}))
        files = sorted(str(p) for p in many.iterdir())
        timed(folder / "warm.db", [str(one)])  # imports and caches warm for both
        best_one = min(timed(folder / f"one-{r}.db", [str(one)]) for r in range(args.repeat))
        best_many = min(timed(folder / f"many-{r}.db", files) for r in range(args.repeat))
    ratio = best_many / best_one
    print(f"{args.files} incidents in one file: {best_one:.2f} s; in {args.files} files: "
          f"{best_many:.2f} s; ratio {ratio:.2f} (limit {LIMIT:.0f}) "
          f"{'OK' if ratio <= LIMIT else 'TOO SLOW'}")


if __name__ == "__main__":
    main_bench()
