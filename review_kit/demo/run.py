"""`review-kit demo`: sample exports → a new store → one retrospective and the trend report."""
from __future__ import annotations

import sys
from pathlib import Path

from ..automation.runner import run_retro, run_trends
from ..errors import InputError
from ..store import Store
from ..store.ingest import ingest_paths
from .sample import SampleFiles, generate_sample, seed_review_history


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def build_demo_store(folder: Path, *, n_incidents: int = 200, seed: int = 42) -> tuple[Path, SampleFiles]:
    """Sample exports in FOLDER/sample-exports ingested through the real loaders into
    FOLDER/review.db, with the action items earlier reviews would have left."""
    folder = Path(folder)
    sample = generate_sample(folder / "sample-exports", n_incidents=n_incidents, seed=seed)
    store_path = folder / "review.db"
    store = Store.open(store_path)
    for loader_name, path in sample.ingest:
        ingest_paths(store, loader_name, [path], quiet=True)
    seed_review_history(store, seed=seed)
    store.close()
    return store_path, sample


def run_demo(out: Path, *, quiet: bool = False, n_incidents: int = 200, seed: int = 42) -> dict[str, Path]:
    """Build the demo in OUT (which must be new or empty) and return the files it wrote."""
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        raise InputError(out, None, "demo output folder exists and is not empty; choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    _say(f"1/4 generating {n_incidents} sample incidents as PagerDuty and CSV exports", quiet)
    _say("2/4 ingesting them through the real loaders", quiet)
    store_path, sample = build_demo_store(out, n_incidents=n_incidents, seed=seed)
    counts = Store.open(store_path, create=False).counts()
    _say(f"    {counts['incidents']} incidents, {counts['events']} events, "
         f"{counts['action_items']} action items from earlier reviews in {store_path}", quiet)
    incident_id = sample.demo_incident_id
    _say(f"3/4 retrospective of {incident_id} (papermill)", quiet)
    retro = run_retro(str(store_path), incident_id, out / "retros")
    _say("4/4 trend report (papermill)", quiet)
    trends = run_trends(str(store_path), out / "trends")
    files = {"store": store_path, **{f"retro_{k}": v for k, v in retro.files.items()},
             **{f"trends_{k}": v for k, v in trends.files.items()}}
    width = max(len(k) for k in files)
    print(f"demo written to {out}")
    for key, path in files.items():
        print(f"  {key:<{width}}  {path}")
    print(f"open the retrospective: {retro.files['html']}")
    return files
