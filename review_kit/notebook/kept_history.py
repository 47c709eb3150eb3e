"""Results derived from the whole history, kept in the store for as long as the history stays
the same (the store's `revision`), so a retrospective on a big store reads them back instead
of reading every incident's events again.

- every incident's severity, creation time and milestones as its events give them
  (`kept_milestones`): what the retrospective ranks this incident's durations against;
- the similarity terms and index ("Seen before": `similar_history`).

`keep_history` brings all of them up to date after a command that changed the history (the
CLI's ingest, pull and link).
"""
from __future__ import annotations

import pandas as pd

from ..analysis.kept import frame_from_bytes, frame_to_bytes
from ..analysis.retrospective import MILESTONE_KINDS, MILESTONES_VERSION
from ..analysis.timeline import MILESTONE_EVENT_COLUMNS, MILESTONES, milestones
from ..store import Store
from .similar_history import similarity_index

__all__ = ["keep_history", "kept_milestones"]

_MILESTONES = "milestones"


def kept_milestones(store: Store, *, derive: bool = True) -> pd.DataFrame | None:
    """Every incident (incident_id, severity, created_at) with its milestones as its events
    give them (no hand-set overrides; NaT where it has no events): read back when kept for
    the store's current revision, else derived from the events and kept — or, without
    `derive`, None: a retrospective then reads only the past year it needs, which costs less
    than deriving the whole history when the last ingest did not keep it."""
    revision = store.revision()  # before the reads: a write meanwhile makes them look stale
    stamp = {"version": MILESTONES_VERSION, "revision": revision}
    data = store.kept(_MILESTONES)
    kept = frame_from_bytes(data, stamp) if data is not None else None
    if kept is None and derive:
        marks = milestones(store.events(kinds=MILESTONE_KINDS, columns=MILESTONE_EVENT_COLUMNS))
        incidents = store.incidents()[["incident_id", "severity", "created_at"]]
        kept = incidents.merge(marks[["incident_id", *MILESTONES]], on="incident_id", how="left")
        store.keep(_MILESTONES, frame_to_bytes(kept, stamp))
    return kept


def keep_history(store: Store) -> None:
    """Bring every kept result up to date with the store's history."""
    similarity_index(store)
    kept_milestones(store)
