"""Similarity: which past incidents resemble one, and why (analysis/similarity.py)."""
from __future__ import annotations

import pandas as pd

from review_kit.analysis.similarity import SimilarityIndex, event_terms, text_tokens

from seen_before import NEW, OTHER, PHRASE, SAME_A, SAME_B, UNRELATED, frames


def index() -> SimilarityIndex:
    incidents, events = frames()
    return SimilarityIndex.build(incidents, event_terms(events))


def test_text_tokens_drop_ids_numbers_links_and_stop_words():
    tokens = text_tokens(pd.Series(["[INC-42] Checkout API 5xx errors on eu-west-1",
                                    "see <https://x.example/a|runbook> for db-7 at 10.0.0.1",
                                    "deadbeefcafe01 OOM-killed", None]))
    assert tokens.tolist() == [["checkout", "api", "errors"], [], ["oom", "killed"], []]


def test_event_terms_alerts_fingerprints_words_and_phrases():
    _, events = frames()
    terms = event_terms(events[events["incident_id"] == NEW])
    found = set(terms["term"])
    assert {"alert:PaymentsHighErrorRate", "fingerprint:fp9a1c", "word:pgbouncer",
            "word:pool exhausted", "word:connection pool"} <= found
    assert not any(t.startswith("word:the") for t in found)


def test_the_three_similar_incidents_and_nothing_else_ranked_with_reasons():
    similar = index().similar_to(NEW, limit=None)
    assert set(similar["incident_id"]) == {SAME_A, SAME_B, PHRASE}
    # The two that share service and alert come first, the chat phrase after them.
    assert set(similar["incident_id"][:2]) == {SAME_A, SAME_B}
    assert similar["incident_id"].iloc[2] == PHRASE
    assert similar["score"].is_monotonic_decreasing
    first = similar.set_index("incident_id")
    assert first.loc[SAME_A, "same_service"] and first.loc[SAME_A, "alerts"] == [
        "PaymentsHighErrorRate", "fp9a1c"] or first.loc[SAME_A, "alerts"] == [
        "fp9a1c", "PaymentsHighErrorRate"]
    assert "same service payments-api" in first.loc[SAME_B, "why"]
    assert "PaymentsHighErrorRate" in first.loc[SAME_B, "why"]
    phrase = first.loc[PHRASE]
    assert not phrase["same_service"] and phrase["alerts"] == []
    assert phrase["words"] == ["pgbouncer connection pool exhausted"]
    # Common words never count as a reason.
    for words in similar["words"]:
        assert not {"error", "deploy", "latency", "rate"} & set(words)


def test_unrelated_incident_has_no_similar_past_and_dismissed_ones_go():
    idx = index()
    assert idx.similar_to(OTHER).empty
    considered, since = idx.considered(OTHER)
    assert considered == 16 and since == pd.Timestamp("2023-11-02T09:00:00Z")
    kept = idx.similar_to(NEW, exclude=[PHRASE])
    assert PHRASE not in set(kept["incident_id"])


def test_common_words_link_nothing_among_the_unrelated():
    pairs = index().pairs()
    ids = index().ids
    linked = {frozenset((ids[l], ids[r])) for l, r in zip(pairs["left"], pairs["right"])}
    assert not any(set(p) & set(UNRELATED) for p in linked)
    assert frozenset((NEW, PHRASE)) in linked and frozenset((SAME_A, SAME_B)) in linked
