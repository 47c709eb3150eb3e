"""Seen before, in every retrospective: the store-backed similar past incidents with their
action items, the empty state, dismissals that stay, and the kept terms (issue 16)."""
from __future__ import annotations

import pandas as pd
import pytest

from review_kit.analysis.similarity import TermMatrix
from review_kit.model import NOT_RELATED_PREFIX
from review_kit.notebook.retrospective import RetrospectiveView
from review_kit.notebook.similar_history import kept_terms
from review_kit.report.postmortem import postmortem_context, render_postmortem, render_postmortem_html
from review_kit.store import Store
from review_kit.store.ingest import ingest_paths

from seen_before import NEW, OTHER, PHRASE, SAME_A, SAME_B, history_store


@pytest.fixture()
def history(tmp_path) -> Store:
    store = history_store(tmp_path)
    yield store
    store.close()


def view(store: Store, incident_id: str, out) -> RetrospectiveView:
    return RetrospectiveView(store, incident_id, out / incident_id, interactive=False, config={})


def test_the_three_similar_past_incidents_with_their_action_items(history, tmp_path):
    out = tmp_path / "out"
    (out / SAME_A).mkdir(parents=True)
    (out / SAME_A / "retrospective.html").write_text("<html></html>")
    seen = view(history, NEW, out).seen_before_context()
    cards = {c["incident_id"]: c for c in seen["matches"]}
    ids = [c["incident_id"] for c in seen["matches"]]
    assert set(ids[:2]) == {SAME_A, SAME_B} and ids[2] == PHRASE and len(ids) == 3
    assert seen["empty"] is None and seen["considered"] == 15  # the incidents before NEW
    a, b, c = cards[SAME_A], cards[SAME_B], cards[PHRASE]
    assert (a["date"], a["severity"], a["title"]) == ("2024-01-15", "SEV2", "Payments API error spike")
    assert "same service payments-api" in a["why"] and "PaymentsHighErrorRate" in a["why"]
    assert c["why"] == "rare words: pgbouncer connection pool exhausted"
    assert a["retrospective"] == f"../{SAME_A}/retrospective.html" and b["retrospective"] is None
    assert [(i["title"], i["owner"], i["state"], i["closed"]) for i in a["action_items"]] == [
        ("Add retries to the card processor client", "maria", "done", "2024-01-30"),
        ("Alert on processor timeouts", "sam", "done", "2024-02-10")]
    # B's item is open and its due date has passed.
    assert [(i["state"], i["due"], i["closed"]) for i in b["action_items"]] == [
        ("overdue", "2024-04-15", "")]
    assert [i["state"] for i in c["action_items"]] == ["done"]


def test_an_unrelated_incident_says_nothing_is_similar_everywhere(history, tmp_path):
    retro = view(history, OTHER, tmp_path / "out")
    seen = retro.seen_before_context()
    assert seen["matches"] == []
    assert seen["empty"] == "No similar incident among 16 since 2023."
    assert "No similar incident among 16 since 2023." in retro.seen_before().data
    retro.postmortem()
    markdown = (tmp_path / "out" / OTHER / "postmortem.md").read_text()
    assert "## Seen before" in markdown and "_No similar incident among 16 since 2023._" in markdown


def test_postmortem_markdown_and_html_list_them(history, tmp_path):
    retro = view(history, NEW, tmp_path / "out")
    retro.postmortem()
    markdown = (tmp_path / "out" / NEW / "postmortem.md").read_text()
    section = markdown.split("## Seen before", 1)[1]
    assert section.index(PHRASE) > max(section.index(SAME_A), section.index(SAME_B))
    assert "| Validate payment config before push | lee | overdue | 2024-04-15 | — |" in section
    data = retro.data
    context = postmortem_context(data.incident, data.metrics, data.timeline, data.annotations,
                                 data.action_items, seen_before=retro.seen_before_context())
    html = render_postmortem_html(context)
    assert "<h2>Seen before</h2>" in html and "Raise pgbouncer pool size" in html
    # Without a lookup the section is still there, saying so.
    bare = render_postmortem(postmortem_context(data.incident, data.metrics, data.timeline,
                                                data.annotations, data.action_items))
    assert "## Seen before" in bare and "not looked up" in bare


def test_a_dismissed_suggestion_stays_dismissed(history, tmp_path):
    history.set_annotation(NEW, NOT_RELATED_PREFIX + PHRASE, "true", author="ana")
    retro = view(history, NEW, tmp_path / "out")
    ids = [c["incident_id"] for c in retro.seen_before_context()["matches"]]
    assert PHRASE not in ids and set(ids) == {SAME_A, SAME_B}
    again = view(history, NEW, tmp_path / "out")  # a later run of the notebook
    assert PHRASE not in [c["incident_id"] for c in again.seen_before_context()["matches"]]


def test_kept_terms_are_read_back_and_renewed_when_events_arrive(history, tmp_path):
    first = kept_terms(history)
    assert history.kept("terms") is not None
    kept = TermMatrix.from_bytes(history.kept("terms"))
    assert sorted(kept.ids) == sorted(first.ids) and kept.counts.nnz == first.counts.nnz
    assert kept.stale(history.event_counts()) == []
    # New chat in OTHER: only OTHER is read again, and its new rare phrase links it to C.
    extra = tmp_path / "more.csv"
    extra.write_text("incident_id,at,kind,actor,summary,source\n"
                     f"{OTHER},2024-06-11T12:30:00Z,message,bo,pgbouncer connection pool exhausted here too,slack\n")
    ingest_paths(history, "csv", [extra], quiet=True)
    assert kept.stale(history.event_counts()) == [OTHER]
    renewed = kept_terms(history)
    other = list(renewed.ids).index(OTHER)
    assert "word:pool exhausted" in set(renewed.terms[renewed.counts[other].indices])
    seen = view(history, OTHER, tmp_path / "out").seen_before_context()
    assert {c["incident_id"] for c in seen["matches"]} == {NEW, PHRASE}


def test_not_related_in_the_panel_saves_and_the_list_follows(history, tmp_path):
    from review_kit.notebook.widgets import FacilitatorPanel, SaveError, dismiss_similar
    panel = FacilitatorPanel(view(history, NEW, tmp_path / "out"))
    listing = panel.seen_before
    assert set(listing.buttons) == {SAME_A, SAME_B, PHRASE}
    panel.author.value = "Ana Lima"
    listing.buttons[PHRASE].click()
    assert set(listing.buttons) == {SAME_A, SAME_B}
    assert f"{PHRASE} dismissed as not related." in listing.message.value
    rows = history.annotation_rows([NEW]).set_index("field")
    assert rows.loc[NOT_RELATED_PREFIX + PHRASE, "author"] == "Ana Lima"
    with pytest.raises(SaveError, match="no incident"):
        dismiss_similar(history, NEW, "INC-NOPE")
    # Taken back: it is suggested again.
    dismiss_similar(history, NEW, PHRASE, dismissed=False)
    assert PHRASE in {c["incident_id"] for c in view(history, NEW, tmp_path / "out")
                      .seen_before_context()["matches"]}


def test_the_trend_report_lists_the_fix_that_did_not_hold(history, tmp_path):
    from review_kit.notebook.trends import TrendsView
    trends = TrendsView(history, output_dir=tmp_path / "trends", config={}, n_boot=200,
                        asof="2024-07-01T00:00:00Z")
    html = trends.fixes_that_did_not_hold().data
    assert "<p>1 repeat(s) after fix:" in html
    assert SAME_A in html and SAME_B in html and "Alert on processor timeouts" in html
    # NEW repeats B, whose action item is still open: not listed.
    assert NEW not in html
    rate = trends.repeat_rate_table()
    assert rate["repeats_after_fix"].sum() == 1
    assert rate.loc[pd.Period("2024Q1"), "repeats_after_fix"] == 1
    assert "Repeats after fix" in trends.repeat_rate().data
    groups = trends.recurrence().data
    assert "Why alike" in groups and "PaymentsHighErrorRate" in groups
