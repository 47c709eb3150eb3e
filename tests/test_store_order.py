"""The same files ingested in any order give the same incidents: ids, source attribution,
aliases and metrics."""
from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from review_kit.analysis.metrics import compute_metrics, metrics_to_json
from review_kit.store import Store
from review_kit.store.ingest import ingest_paths
from histories import status_page_history, write_json

END = pd.Timestamp("2025-06-30T12:00:00Z")


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "inputs"
    folder.mkdir()
    # A tracker's export: its incidents file, and its events file whose rows name their own
    # source (the tracker, and a chat tool for one message).
    (folder / "incidents.csv").write_text(
        "incident_id,title,severity,service,created_at,source,source_id\n"
        "TR-1,Checkout errors,SEV2,checkout,2025-06-01T10:00:00Z,tracker,TR-1\n"
        "TR-2,Search slow,SEV3,search,2025-06-02T09:00:00Z,tracker,TR-2\n")
    (folder / "events.csv").write_text(
        "incident_id,at,kind,actor,summary,source\n"
        "TR-1,2025-06-01T10:00:00Z,triggered,,Paged,tracker\n"
        "TR-1,2025-06-01T10:04:00Z,acknowledged,Ana,On it,tracker\n"
        "TR-1,2025-06-01T10:10:00Z,message,Ben,Rolling back,chat\n"
        "TR-1,2025-06-01T10:40:00Z,resolved,Ana,Fixed,tracker\n"
        "TR-3,2025-06-03T08:00:00Z,triggered,,Paged,tracker\n"
        "TR-3,2025-06-03T08:30:00Z,resolved,Ana,Fixed,tracker\n")
    # A second events file for TR-2, from chat only.
    (folder / "chat.csv").write_text(
        "incident_id,at,kind,actor,summary,source\n"
        "TR-2,2025-06-02T09:05:00Z,message,Cleo,Looking,chat\n")
    write_json(folder / "page.json", status_page_history(END, n=4))
    return [folder / "incidents.csv", folder / "events.csv", folder / "chat.csv",
            folder / "page.json"]


def state(db: Path, order: list[Path]) -> dict:
    store = Store.open(db)
    try:
        for path in order:  # one command per file, as people do it
            ingest_paths(store, "auto", [path], quiet=True)
        incidents = store.incidents().sort_values("incident_id").reset_index(drop=True)
        events = store.events(with_raw=False)
        aliases = sorted(map(tuple, store.aliases().astype(str).to_numpy().tolist()))
        metrics = compute_metrics(events, incidents)
        return {
            "incidents": [metrics_to_json(r) for r in incidents.to_dict("records")],
            "events": sorted(events["event_id"].tolist()),
            "aliases": aliases,
            "metrics": [metrics_to_json(r) for r in metrics.to_dict("records")],
        }
    finally:
        store.close()


def test_every_order_gives_the_same_store(inputs: list[Path], tmp_path: Path) -> None:
    first = None
    for n, order in enumerate(itertools.permutations(inputs)):
        found = state(tmp_path / f"store-{n}.db", list(order))
        if first is None:
            first = found
            owners = {r["incident_id"]: r["source"] for r in found["incidents"]}
            # The incidents file's rows own their incidents; TR-3, known only from events
            # the tracker wrote, is the tracker's, not "csv"'s.
            assert owners["TR-1"] == owners["TR-2"] == owners["TR-3"] == "tracker"
            assert {r["incident_id"]: r["title"] for r in found["incidents"]}["TR-2"] == \
                "Search slow"
            assert owners["sp000"] == "statuspage"
            continue
        assert found == first, [p.name for p in order]
