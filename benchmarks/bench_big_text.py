"""A 1 MB title (and a 1 MB chat message) against an ordinary incident: the retrospective's
wall time, plain and redacted, as a ratio measured in the same run (issue 14: at most 3x).
Not part of the test suite.

    .venv/bin/python benchmarks/bench_big_text.py [--runs 3] [--megabytes 1]
"""
from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

from review_kit.automation.runner import run_retro
from review_kit.store import Store

EVENTS = [("triggered", "PagerDuty", "Checkout errors above 5%"),
          ("acknowledged", "Ana Lima", "Acknowledged"),
          ("message", "Ana Lima", "Rolling back checkout v2.3, page ops@example.com if it fails"),
          ("status_update", "Statuspage", "We are investigating elevated checkout errors"),
          ("mitigated", "Ana Lima", "Rollback done"),
          ("resolved", "PagerDuty", "Resolved")]


def build_store(folder: Path, title: str, message: str) -> Path:
    folder.mkdir(parents=True)
    with (folder / "events.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["incident_id", "at", "kind", "actor", "summary"])
        for k, (kind, actor, summary) in enumerate(EVENTS * 20):
            writer.writerow(["INC-1", f"2024-06-11T10:{k // 2:02d}:{(k % 2) * 30:02d}Z", kind, actor,
                             message if k == 2 else summary])
    with (folder / "incidents.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["incident_id", "title", "severity", "service"])
        writer.writerow(["INC-1", title, "SEV2", "checkout"])
    store = Store.open(folder / "review.db")
    store.ingest("csv", folder / "events.csv")
    store.ingest("csv", folder / "incidents.csv")
    store.close()
    return folder / "review.db"


def timed_retro(store: Path, out: Path, redact: bool) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    run_retro(str(store), "INC-1", out, redact=redact)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--megabytes", type=float, default=1.0, help="size of the long title")
    args = parser.parse_args()
    size = int(args.megabytes * 1024 * 1024)
    # Words and a few secrets, not one repeated letter: the redaction has real work to do.
    unit = "checkout outage ana@example.com token=abc123 +1 415-555-0132 "
    long_text = (unit * (size // len(unit) + 1))[:size]
    work = Path(tempfile.mkdtemp(prefix="review-kit-bench-big-text-"))
    try:
        normal = build_store(work / "normal", "Checkout errors after deploy", EVENTS[2][2])
        big = build_store(work / "big", long_text, long_text)
        times: dict[tuple[str, bool], list[float]] = {}
        for _ in range(args.runs):  # interleaved: a slow spell hits both alike
            for name, store in (("normal", normal), ("big", big)):
                for redact in (False, True):
                    seconds = timed_retro(store, work / f"out-{name}-{redact}", redact)
                    times.setdefault((name, redact), []).append(seconds)
                    print(f"  {name:6} redact={redact!s:5} {seconds:.2f} s", flush=True)
        print(f"\nresults (best of {args.runs}; a {size:,}-character title and chat message)")
        for redact in (False, True):
            base, heavy = min(times[("normal", redact)]), min(times[("big", redact)])
            print(f"  retro{' --redact' if redact else '         '}: ordinary {base:.2f} s, "
                  f"1 MB title {heavy:.2f} s = {heavy / base:.2f}x  [goal <= 3x]")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
