"""The store's history made comparable: every incident's similarity terms, kept in the store.

Reading every chat message of a big store for each retrospective would cost seconds, so the
terms incidents' events give (`analysis.similarity.event_terms`) are kept in the store as one
`TermMatrix` with each incident's event count when its row was made. Events are only ever
added (a fold moves them, which changes both incidents' counts), so an incident whose count
moved is read again and the rest comes back from the kept matrix. The first comparison on a
big store pays for the whole history once; each later one reads only what changed since.
The index built from them and the incidents (`similarity_index`) is kept as well, for as long
as the store's revision stays the same.
"""
from __future__ import annotations

import pandas as pd

from ..analysis.similarity import TEXT_KINDS, SimilarityIndex, TermMatrix, event_terms
from ..store import Store

__all__ = ["kept_terms", "similarity_index"]

_EVENT_COLUMNS = ("event_id", "incident_id", "source", "kind", "summary")
_CHUNK = 500
_TERMS = "terms"
_INDEX = "index"


def _read_terms(store: Store, incident_ids: list[str], everything: bool) -> pd.DataFrame:
    if everything:
        return event_terms(store.events(kinds=TEXT_KINDS, columns=_EVENT_COLUMNS))
    parts = [event_terms(store.events(incident_ids=incident_ids[i:i + _CHUNK], kinds=TEXT_KINDS,
                                      columns=_EVENT_COLUMNS))
             for i in range(0, len(incident_ids), _CHUNK)]
    return pd.concat(parts, ignore_index=True)


def kept_terms(store: Store) -> TermMatrix:
    """The terms of every incident's events, reading only the incidents whose events changed
    since the matrix was kept (and keeping the new one)."""
    counts = store.event_counts()
    data = store.kept(_TERMS)
    kept = TermMatrix.from_bytes(data) if data is not None else None
    kept = kept if kept is not None else TermMatrix.empty()
    stale = kept.stale(counts)
    gone = len(kept.ids) - (len(counts) - len(stale))
    if not stale and gone == 0:
        return kept
    if stale:
        everything = len(stale) > 0.5 * max(len(counts), 1)
        terms = _read_terms(store, stale, everything)
        fresh = TermMatrix.from_terms(terms, counts.reindex(stale).astype("int64"))
    else:
        fresh = TermMatrix.empty()
    updated = kept.updated(fresh, counts)
    store.keep(_TERMS, updated.to_bytes())
    return updated


def similarity_index(store: Store, incidents: pd.DataFrame | None = None, *,
                     derive: bool = True) -> SimilarityIndex | None:
    """The similarity of the store's incidents (or of the given incidents frame), ready to query.

    The whole store's index is kept in the store too, stamped with the store's revision: a
    retrospective on a big history reads it back instead of building it, until an ingest or
    a link changes the history. Without `derive`, only a kept index is given (None when it
    is stale): for a caller that would build another one anyway."""
    if incidents is not None:
        return SimilarityIndex.build(incidents, kept_terms(store))
    revision = store.revision()  # before the reads: a write meanwhile makes the index look stale
    data = store.kept(_INDEX)
    index = SimilarityIndex.from_bytes(data, revision) if data is not None else None
    if index is None and derive:
        index = SimilarityIndex.build(store.incidents(), kept_terms(store))
        store.keep(_INDEX, index.to_bytes(revision))
    return index
