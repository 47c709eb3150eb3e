"""Trend benchmark (issue 5): the trend computations on 10,000 incidents with 2,000
resamples per interval, and the whole trends notebook (papermill + HTML) on that store,
each beside the papermill floor measured in the same run. Not part of the test suite.

    .venv/bin/python benchmarks/bench_trends.py [--incidents 10000] [--store PATH]
    .venv/bin/python benchmarks/bench_trends.py --curve STORE [STORE ...]

`--curve` times `review-kit trends` end to end (a process of its own: imports, reading the
store, metrics, the notebook and its HTML) on each store, beside the papermill floor measured
in the same run (issue 17: 10,000 incidents and 1M events under 6 s, 100,000 under 30 s).
Each store's kept results are first brought up to date, as `review-kit ingest` leaves them
(that time is printed, not counted): a report on a store changed since (a receiver's
deliveries) derives them once, at the cost of a report before issue 17.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from review_kit.analysis import trends as tr
from review_kit.demo.run import build_demo_store
from review_kit.automation.runner import run_trends
from review_kit.store import Store
from review_kit.notebook.kept_history import keep_history
from review_kit.notebook.trends import TrendsView

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import papermill_floor, timed  # noqa: E402  (benchmarks share their floors)


def computations(view: TrendsView) -> None:
    """Every statistic the trend report shows, as the notebook's cells compute them."""
    metrics, incidents = view.metrics, view.incidents
    tr.summary_sentences(metrics, (view.before, view.after), n_boot=2000)
    tr.incident_counts(view._with_created(), freq="M")
    tr.rate_comparison(view._with_created(), view.before, view.after)
    tr.duration_table(metrics, n_boot=2000)
    tr.median_over_time(metrics, "time_to_mitigate", freq="Q", n_boot=2000)
    tr.control_chart(metrics, "time_to_resolve")
    groups = tr.recurring_groups(incidents)
    tr.top_recurring(incidents, groups)
    tr.repeat_rate(incidents, groups)
    tr.action_item_follow_through(view.action_items, incidents, view.asof)
    tr.overdue(view.action_items, view.asof)
    tr.communication_trends(metrics)
    tr.responder_load(metrics, view.activity)


def cli_trends(store: Path, out: Path) -> None:
    """`review-kit trends` as a person runs it."""
    subprocess.run([sys.executable, "-c", "from review_kit.cli import main; main()",
                    "--store", str(store), "trends", "--out", str(out)],
                   check=True, capture_output=True)


def curve(stores: list[Path], runs: int) -> int:
    work = Path(tempfile.mkdtemp(prefix="review-kit-trends-curve-"))
    try:
        floor = min(papermill_floor(work) for _ in range(runs))
        rows = []
        for path in stores:
            store = Store.open(path, create=False)
            counts = store.counts()
            timed(f"kept results of {counts['incidents']:,} incidents brought up to date",
                  keep_history, store)
            store.close()
            seconds = min(timed(f"review-kit trends on {counts['incidents']:,} incidents (run {i + 1})",
                                cli_trends, path, work / f"out-{i}")[1] for i in range(runs))
            rows.append((counts["incidents"], counts["events"], seconds))
        print("\nresults (best of each; review-kit trends end to end)")
        for incidents, events, seconds in rows:
            goal = "  [goal < 6 s at 10,000 incidents]" if incidents == 10_000 else \
                "  [goal < 30 s at 100,000 incidents]" if incidents == 100_000 else ""
            print(f"  {incidents:>9,} incidents, {events:>11,} events: {seconds:6.2f} s "
                  f"= {seconds / floor:.2f}x the papermill floor ({floor:.2f} s){goal}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curve", type=Path, nargs="+", default=None,
                        help="time `review-kit trends` on these stores instead")
    parser.add_argument("--runs", type=int, default=1, help="runs of each for --curve; the best counts")
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--events-per-incident", type=int, default=None,
                        help="default: the sample's own (about 22)")
    parser.add_argument("--store", type=Path, default=None, help="use this store instead")
    args = parser.parse_args()
    if args.curve:
        return curve(args.curve, args.runs)
    work = Path(tempfile.mkdtemp(prefix="review-kit-trends-"))
    if args.store is None:
        store_path, _ = timed(f"build a store of {args.incidents} incidents", build_demo_store,
                              work, n_incidents=args.incidents)
        store_path = store_path[0]
    else:
        store_path = args.store
    store = Store.open(store_path, create=False)
    counts = store.counts()
    print(f"store: {counts['incidents']:,} incidents, {counts['events']:,} events, "
          f"{counts['action_items']:,} action items")
    view, load_seconds = timed("read the store and compute metrics", TrendsView, store,
                               output_dir=work / "view")
    _, compute_seconds = timed("trend computations (2,000 resamples)", computations, view)
    floor = papermill_floor(work)
    _, notebook_seconds = timed("trends notebook (papermill + HTML)", run_trends, str(store_path),
                                work / "report")
    print("\nresults")
    print(f"  trend computations: {compute_seconds:.2f} s (+ {load_seconds:.2f} s reading the store "
          f"and computing per-incident metrics)  [goal < 5 s]")
    print(f"  trends notebook: {notebook_seconds:.2f} s; papermill floor {floor:.2f} s "
          f"(ratio {notebook_seconds / floor:.2f}x)  [goal < 20 s]")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
