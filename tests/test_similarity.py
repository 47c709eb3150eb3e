"""Similarity: which past incidents resemble one, and why (analysis/similarity.py)."""
from __future__ import annotations

import pandas as pd
import pytest

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


# --- look-alike histories: pairs worked on profiles, as if every pair were ranked -----------------
def look_alikes(n: int = 240, seed: int = 7) -> SimilarityIndex:
    """A history of a few recurring titles (some with a rare chat line), rows out of time
    order, several incidents at the same second, and some without a time."""
    import numpy as np
    rng = np.random.default_rng(seed)
    nouns = ["checkout", "search", "login", "inventory", "webhook"]
    faults = ["latency", "timeouts", "backlog", "crashloop"]
    titles = [f"{a} {b} alarm" for a in nouns for b in faults]  # 20 titles, words in a few
    services = [a for a in nouns for _ in faults]
    chats = ["", *[f"{w} pool exhausted again" for w in ("pgbouncer", "redis", "hikari", "grpc",
                                                         "thread", "disk", "inode", "socket")]]
    pick = rng.integers(0, len(titles), n)
    chat = np.where(rng.random(n) < 0.25, rng.integers(1, len(chats), n), 0)
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 200, n) * 3600 * 6 + rng.integers(0, 3, n) * 2, unit="s")
    created = pd.Series(created).where(rng.random(n) > 0.05)
    incidents = pd.DataFrame({
        "incident_id": [f"I{i:04d}" for i in range(n)],
        "title": [titles[p] for p in pick], "service": [services[p] for p in pick],
        "created_at": created})
    events = pd.DataFrame({"incident_id": incidents["incident_id"], "kind": "message",
                           "summary": [chats[c] for c in chat]})
    return SimilarityIndex.build(incidents, event_terms(events[events["summary"] != ""]))


def every_pair(index: SimilarityIndex):
    import numpy as np
    parts = list(index.linked_blocks())
    return tuple(np.concatenate([p[c] for p in parts]) for c in range(3))


def test_look_alikes_share_a_few_profiles():
    index = look_alikes()
    profile, rows = index._profiles()
    assert len(rows) < len(index) // 2
    # Rows of a profile store the same weighted terms.
    for p, first in enumerate(rows):
        for block in ("alert", "word"):
            same = index.weighted[block][profile == p]
            assert (same != index.weighted[block][[first] * same.shape[0]]).nnz == 0


@pytest.mark.parametrize("blocks", ["one block", "many blocks"])
def test_neighbours_are_those_of_ranking_every_pair(blocks, monkeypatch):
    import numpy as np
    from review_kit.analysis import similarity
    if blocks == "many blocks":  # profile pairs come a few profiles at a time
        monkeypatch.setattr(similarity, "BLOCK_PRODUCTS", 200)
    from review_kit.analysis.similarity import _time_ties
    index = look_alikes()
    i, j, score = every_pair(index)
    stamps = index.times.map(lambda t: float(pd.Timestamp(t).value) if pd.notna(t)
                             else float("-inf")).to_numpy(dtype=float)
    closeness = (2**22 - 1) - np.minimum(np.round(score * 1e6), 2**22 - 1)
    for k in (1, 3, 5, 12):
        order = np.lexsort((j, j < i, _time_ties(stamps[i], stamps[j]), closeness, i))
        ranked = pd.DataFrame({"i": i[order], "j": j[order], "score": score[order]})
        top = ranked[ranked.groupby("i").cumcount() < k]
        chosen = set(zip(top["i"], top["j"]))
        want = top[[(b, a) in chosen and a < b for a, b in zip(top["i"], top["j"])]]
        want = want.sort_values(["i", "j"]).reset_index(drop=True)
        got = index.neighbour_pairs(k)
        assert len(got) > 0
        assert got["left"].tolist() == want["i"].tolist()
        assert got["right"].tolist() == want["j"].tolist()
        assert got["score"].tolist() == want["score"].tolist()


@pytest.mark.parametrize("blocks", ["one block", "many blocks"])
def test_latest_linked_is_the_most_recent_ready_similar_row(blocks, monkeypatch):
    import numpy as np
    from review_kit.analysis import similarity
    if blocks == "many blocks":
        monkeypatch.setattr(similarity, "BLOCK_PRODUCTS", 200)
    index = look_alikes()
    n = len(index)
    rng = np.random.default_rng(3)
    unknown = np.iinfo(np.int64).min
    at = np.array(
        [pd.Timestamp(t).value if pd.notna(t) else unknown for t in index.times], dtype=np.int64)
    ready = np.where(rng.random(n) < 0.3, np.iinfo(np.int64).max,
                     at + rng.integers(0, 5 * 86_400, n) * 10**9)
    i, j, _ = every_pair(index)
    ok = (at[i] != unknown) & (at[j] != unknown) & (at[j] < at[i]) & (ready[j] < at[i])
    i, j = i[ok], j[ok]
    order = np.lexsort((-j, -at[j], i))
    first = np.r_[True, i[order][1:] != i[order][:-1]]
    want = np.full(n, -1)
    want[i[order][first]] = j[order][first]
    got = index.latest_linked(at, ready)
    assert got.tolist() == want.tolist()
    assert (got >= 0).sum() > n // 4
