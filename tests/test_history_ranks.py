"""Durations against history: which past incidents count, and the percentile ranks, against
values worked out by hand; the room's overrides on both sides; reloading re-ranks without
reading the past again."""
from __future__ import annotations

from pathlib import Path

import pytest

from review_kit.analysis import retrospective
from review_kit.store.ingest import ingest_paths
from review_kit.analysis.retrospective import load_incident, past_incident_metrics, ranks_among
from review_kit.store import Store
from review_kit.notebook.kept_history import keep_history, kept_milestones
from review_kit.notebook.retrospective import RetrospectiveView
from review_kit.notebook.widgets import save_milestone

# Detected (paged) at 10:00 each; acknowledged after the minutes given.
PAST = {  # incident: (severity, day, minutes to acknowledge)
    "P1": ("SEV2", "2024-02-10", 5),
    "P2": ("SEV2", "2024-05-03", 10),
    "P3": ("SEV2", "2024-09-20", 20),
    "P4": ("SEV2", "2024-12-01", 40),   # the room set its acknowledgement to 10:02 by hand
    "OLD": ("SEV2", "2023-11-30", 1),   # 13 months before: outside the window
    "S1": ("SEV1", "2024-08-08", 1),    # another severity
    "LATER": ("SEV2", "2025-02-01", 1),  # after the incident under review
}
CURRENT = ("C", "SEV2", "2025-01-15", 15)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    incidents = ["incident_id,title,severity,created_at"]
    events = ["incident_id,at,kind,actor,summary"]
    for incident_id, (severity, day, minutes) in [*PAST.items(), (CURRENT[0], CURRENT[1:])]:
        incidents.append(f"{incident_id},{incident_id},{severity},{day}T10:00:00Z")
        events += [f"{incident_id},{day}T10:00:00Z,triggered,PagerDuty,paged",
                   f"{incident_id},{day}T10:{minutes:02d}:00Z,acknowledged,Ana,on it",
                   f"{incident_id},{day}T11:00:00Z,resolved,Ana,fixed"]
    (tmp_path / "incidents.csv").write_text("\n".join(incidents) + "\n")
    (tmp_path / "events.csv").write_text("\n".join(events) + "\n")
    store = Store.open(tmp_path / "review.db")
    ingest_paths(store, "csv", [tmp_path / "incidents.csv", tmp_path / "events.csv"], quiet=True)
    save_milestone(store, "P4", "acknowledged_at", "2024-12-01T10:02:00Z")
    yield store
    store.close()


def test_the_past_is_this_severity_in_the_twelve_months_before(store: Store) -> None:
    data = load_incident(store, "C", config={})
    past = past_incident_metrics(store, data)
    assert sorted(past["incident_id"]) == ["P1", "P2", "P3", "P4"]
    minutes = dict(zip(past["incident_id"], past["time_to_acknowledge"] / 60))
    assert minutes == {"P1": 5, "P2": 10, "P3": 20, "P4": 2}  # P4 as the room set it


def test_ranks_by_hand(store: Store) -> None:
    data = load_incident(store, "C", config={})
    ranks = ranks_among(past_incident_metrics(store, data), data)
    # 15 minutes: slower than P1 (5), P2 (10) and P4 (2), not P3 (20): 3 of 4.
    assert ranks["time_to_acknowledge"] == {"percentile": 75.0, "n": 4, "severity": "SEV2",
                                            "window": "last 12 months"}
    # Resolved at 11:00 after detection at 10:00, like every past one: slower than none.
    assert ranks["time_to_resolve"]["percentile"] == 0.0
    # No one recorded a mitigation, so each incident's resolution stands for it (DESIGN.md).
    assert ranks["time_to_mitigate"]["percentile"] == 0.0 and ranks["time_to_mitigate"]["n"] == 4


def test_reload_reranks_an_override_without_reading_the_past_again(store, tmp_path,
                                                                   monkeypatch) -> None:
    reads = []
    real = retrospective.past_incident_metrics
    monkeypatch.setattr(retrospective, "past_incident_metrics",
                        lambda *a, **k: reads.append(1) or real(*a, **k))
    view = RetrospectiveView(store, "C", tmp_path / "out", config={}, interactive=False)
    assert view._ranks()["time_to_acknowledge"]["percentile"] == 75.0
    save_milestone(store, "C", "acknowledged_at", "2025-01-15T10:30:00Z")
    view.reload()
    assert view._ranks()["time_to_acknowledge"]["percentile"] == 100.0  # 30 min: slowest
    assert len(reads) == 1
    save_milestone(store, "C", "detected_at", "2025-01-15T10:05:00Z")  # a new window
    view.reload()
    view._ranks()
    assert len(reads) == 2


def test_ranks_are_the_same_whether_the_history_was_kept_or_read(store, tmp_path) -> None:
    # Deriving the whole history is the runner's and the ingest's work: a notebook opened on
    # a store where it was not kept reads only the past year it ranks against.
    assert kept_milestones(store, derive=False) is None
    read = RetrospectiveView(store, "C", tmp_path / "out", config={}, interactive=False)._ranks()
    assert read["time_to_acknowledge"]["percentile"] == 75.0
    assert store.kept("milestones") is None
    keep_history(store)
    assert kept_milestones(store, derive=False) is not None
    kept = RetrospectiveView(store, "C", tmp_path / "out", config={}, interactive=False)._ranks()
    assert kept == read
