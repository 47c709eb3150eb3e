"""What a retrospective keeps from the whole history between runs (issues 16 and 17): the
store's revision, the bytes results are kept as, the similarity index and every incident's
milestones read back while the history stays the same and made again when it changes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from review_kit.analysis import similarity
from review_kit.analysis.kept import frame_from_bytes, frame_to_bytes, strings_from, strings_parts
from review_kit.analysis.retrospective import (PastWindow, load_incident, past_incident_metrics,
                                               past_window)
from review_kit.analysis.similarity import SimilarityIndex, TermMatrix
from review_kit.notebook import kept_history
from review_kit.notebook.kept_history import keep_history, kept_milestones
from review_kit.notebook.similar_history import similarity_index
from review_kit.notebook.widgets import save_milestone
from review_kit.store import Store
from review_kit.store.ingest import ingest_paths

from backends import backend, pg_database, pg_store_location, store_location  # noqa: F401  (fixtures)
from seen_before import NEW, OTHER, PHRASE, history_store


@pytest.fixture()
def history(tmp_path) -> Store:
    store = history_store(tmp_path)
    yield store
    store.close()


@pytest.fixture()
def any_history(tmp_path, store_location) -> Store:
    """The history on each backend."""
    store = history_store(tmp_path, store_location())
    yield store
    store.close()


def _more_chat(tmp_path, incident_id: str, text: str):
    extra = tmp_path / "more.csv"
    extra.write_text("incident_id,at,kind,actor,summary,source\n"
                     f"{incident_id},2024-06-11T12:30:00Z,message,bo,{text},slack\n")
    return extra


# --- the bytes ----------------------------------------------------------------------------------
def test_strings_with_line_breaks_come_back_whole():
    values = ["a", "alert\nsplit: across lines", "", "naïve ✓", "x\n\ny"]
    assert strings_from("s", strings_parts("s", values)).tolist() == values
    assert strings_from("s", strings_parts("s", [])).tolist() == []


def test_a_frame_comes_back_with_its_unknowns_and_only_for_its_stamp():
    frame = pd.DataFrame({
        "incident_id": pd.Series(["A", "B\nC", None], dtype=object),
        "at": pd.to_datetime(["2024-01-01T10:00:00.000001Z", None, "2024-03-01T00:00:00.000000Z"], utc=True),
        "count": np.array([1, 2, 3], dtype="int64"), "flag": [True, False, True],
        "seconds": [1.5, np.nan, 3.0]})
    data = frame_to_bytes(frame, {"version": 1, "revision": 7})
    back = frame_from_bytes(data, {"version": 1, "revision": 7})
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["incident_id"][2] is None and pd.isna(back["at"][1])
    assert frame_from_bytes(data, {"version": 1, "revision": 8}) is None
    assert frame_from_bytes(data, {"version": 2, "revision": 7}) is None
    assert frame_from_bytes(b"not kept bytes", {"version": 1, "revision": 7}) is None


def test_kept_terms_survive_an_alert_name_with_a_line_break(tmp_path):
    # Before, strings were cut at line breaks: the terms after this one shifted by one.
    terms = pd.DataFrame({"incident_id": ["A", "A", "B"],
                          "term": ["alert:Disk\nFull", "word:pool", "word:pool"], "count": [1, 2, 1]})
    matrix = TermMatrix.from_terms(terms, pd.Series({"A": 3, "B": 1}))
    back = TermMatrix.from_bytes(matrix.to_bytes())
    assert back.terms.tolist() == matrix.terms.tolist() == ["alert:Disk\nFull", "word:pool"]
    assert (back.counts != matrix.counts).nnz == 0


# --- the revision -------------------------------------------------------------------------------
def test_the_revision_moves_with_the_history_only(history, tmp_path):
    start = history.revision()
    assert start > 0  # the fixture's ingests
    ingest_paths(history, "csv", [_more_chat(tmp_path, OTHER, "hello")], quiet=True)
    assert history.revision() == start + 1
    history.link(NEW, "pagerduty", "PX1")
    assert history.revision() == start + 2
    history.set_annotation(NEW, "summary", "text of the room")
    history.add_action_item(NEW, "Add a retry")
    history.keep("terms", b"whatever")
    assert history.revision() == start + 2


def test_an_ingest_that_changes_nothing_leaves_the_revision(history, tmp_path):
    chat = _more_chat(tmp_path, OTHER, "hello")
    ingest_paths(history, "csv", [chat], quiet=True)
    revision = history.revision()
    ingest_paths(history, "csv", [chat], quiet=True)  # the same again: nothing new
    assert history.revision() == revision
    retitled = tmp_path / "incidents.csv"
    retitled.write_text("incident_id,title,severity,created_at\n"
                        f"{OTHER},A new title for it,SEV4,2024-06-11T12:00:00Z\n")
    ingest_paths(history, "csv", [retitled], quiet=True)
    assert history.incident(OTHER)["title"] == "A new title for it"
    assert history.revision() == revision + 1
    ingest_paths(history, "csv", [retitled], quiet=True)
    assert history.revision() == revision + 1


def test_a_new_store_starts_at_revision_zero(tmp_path):
    store = Store.open(tmp_path / "empty.db")
    assert store.revision() == 0
    store.close()


# --- the similarity index -----------------------------------------------------------------------
def test_the_index_is_read_back_until_the_history_changes(history, tmp_path, monkeypatch):
    built = similarity_index(history)
    builds = []
    real = SimilarityIndex.build.__func__
    monkeypatch.setattr(SimilarityIndex, "build",
                        classmethod(lambda cls, *a, **k: builds.append(1) or real(cls, *a, **k)))
    again = similarity_index(history)
    assert builds == []
    assert again.ids.tolist() == built.ids.tolist() and again.times.equals(built.times)
    for block in built.weighted:
        assert (again.weighted[block] != built.weighted[block]).nnz == 0
        # Not kept but taken from the weights' pattern: the same terms as the build's.
        assert (again.present[block] != built.present[block]).nnz == 0
        assert built.present[block].nnz == built.weighted[block].nnz > 0
        assert again.terms[block].tolist() == built.terms[block].tolist()
    # One incident against all (a product per row) agrees with the products for blocks of
    # rows that the trend report's pairs come from.
    for i in range(len(built)):
        parts = built._scores(np.array([i]))
        for block in ("alert", "word"):
            sim, shared = again._against_all(block, i)
            np.testing.assert_allclose(sim, parts[f"{block}_sim"].toarray().ravel(), rtol=1e-12)
            assert np.array_equal(shared, parts[f"{block}_shared"].toarray().ravel())
    pd.testing.assert_frame_equal(again.similar_to(NEW), built.similar_to(NEW))
    # New chat in OTHER shares PHRASE's rare phrase: the index is built again and knows it.
    ingest_paths(history, "csv", [_more_chat(tmp_path, OTHER, "pgbouncer connection pool exhausted")],
                 quiet=True)
    renewed = similarity_index(history)
    assert builds == [1]
    assert PHRASE in renewed.similar_to(OTHER)["incident_id"].tolist()
    assert PHRASE not in built.similar_to(OTHER)["incident_id"].tolist()


def test_an_index_kept_by_other_rules_is_built_again(history, monkeypatch):
    similarity_index(history)
    monkeypatch.setattr(similarity, "INDEX_VERSION", similarity.INDEX_VERSION + 1)
    assert SimilarityIndex.from_bytes(history.kept("index"), history.revision()) is None


# --- every incident's milestones ----------------------------------------------------------------
def test_kept_milestones_give_the_same_past_as_reading_it(history, tmp_path, monkeypatch):
    keep_history(history)
    data = load_incident(history, NEW, config={})
    read = past_incident_metrics(history, data)
    assert len(read) > 0
    reads = []
    real_events = history.events
    monkeypatch.setattr(history, "events", lambda *a, **k: reads.append(k) or real_events(*a, **k))
    kept = kept_milestones(history)
    assert reads == []  # read back, not derived again
    pd.testing.assert_frame_equal(past_incident_metrics(history, data, kept=kept), read)
    assert reads == []


def test_a_window_reads_only_the_kept_parts_that_can_hold_it(any_history, monkeypatch):
    # A retrospective ranks among a year of one severity: on a big history that is a few of
    # the kept parts, not every incident. Parts of three incidents make this history six.
    history = any_history
    monkeypatch.setattr(kept_history, "PART_ROWS", 3)
    whole = kept_milestones(history)
    asked: list[list[int]] = []
    real_parts = history.kept_parts
    monkeypatch.setattr(history, "kept_parts",
                        lambda name, parts: asked.append(list(parts)) or real_parts(name, parts))
    assert len(kept_milestones(history, derive=False)) == len(whole) == 17
    assert sorted(asked.pop()) == list(range(6))
    at = pd.Timestamp
    for window in (PastWindow("SEV2", at("2024-01-01T00:00:00Z"), at("2024-06-10T12:00:00Z")),
                   PastWindow("SEV3", at("2024-02-02T00:00:00Z"), at("2024-03-08T00:00:00Z")),
                   PastWindow("SEV3", at("2025-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z")),
                   PastWindow("SEV9", at("2020-01-01T00:00:00Z"), at("2030-01-01T00:00:00Z"))):
        part = kept_milestones(history, derive=False, among=window)
        chosen = whole[(whole["severity"] == window.severity)
                       & (whole["created_at"] >= window.created_since)
                       & (whole["created_at"] < window.end)].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, chosen, check_dtype=False, check_index_type=False)
        assert len(asked.pop()) < 6
    # Created from the day before the window starts (detected inside it maybe) to its end.
    assert kept_milestones(history, derive=False,
                           among=PastWindow("SEV3", at("2024-02-02T00:00:00Z"),
                                            at("2024-03-08T00:00:00Z")))["incident_id"].tolist() \
        == ["INC-U01", "INC-U02", "INC-U03", "INC-U04"]
    for incident_id in (NEW, OTHER, "INC-U07", "INC-A"):
        data = load_incident(history, incident_id, config={})
        window = past_window(data)
        pd.testing.assert_frame_equal(
            past_incident_metrics(history, data,
                                  kept=kept_milestones(history, derive=False, among=window)),
            past_incident_metrics(history, data))


def test_kept_milestones_with_a_part_missing_or_of_another_layout_are_not_read(history, monkeypatch):
    monkeypatch.setattr(kept_history, "PART_ROWS", 4)
    kept_milestones(history)
    window = PastWindow("SEV3", pd.Timestamp("2024-01-01T00:00:00Z"), pd.Timestamp("2025-01-01T00:00:00Z"))
    assert kept_milestones(history, derive=False, among=window) is not None
    real_parts = history.kept_parts
    monkeypatch.setattr(history, "kept_parts",
                        lambda name, parts: {k: v for k, v in real_parts(name, parts).items()
                                             if k != 1})
    assert kept_milestones(history, derive=False, among=window) is None  # part 1 went missing
    monkeypatch.setattr(history, "kept_parts", real_parts)
    # One frame of every incident, as kept before the parts: derived again, never misread.
    whole = kept_milestones(history)
    history.keep("milestones", frame_to_bytes(whole, {"version": 1, "revision": history.revision()}))
    assert kept_milestones(history, derive=False) is None
    pd.testing.assert_frame_equal(kept_milestones(history), whole)


def test_a_milestone_set_by_hand_is_read_again_and_counts(history, tmp_path):
    data = load_incident(history, NEW, config={})
    kept = kept_milestones(history)
    before = past_incident_metrics(history, data, kept=kept)
    someone = before["incident_id"].iloc[0]
    assert pd.isna(before["time_to_resolve"].iloc[0])  # the events never say it was resolved
    revision = history.revision()
    detected = before["detected_at"].iloc[0]
    save_milestone(history, someone, "resolved_at",
                   (detected + pd.Timedelta(hours=2)).isoformat().replace("+00:00", "Z"))
    assert history.revision() == revision  # an annotation: the kept milestones stay current
    after = past_incident_metrics(history, data, kept=kept_milestones(history))
    pd.testing.assert_frame_equal(after, past_incident_metrics(history, data))
    assert after.set_index("incident_id").loc[someone, "time_to_resolve"] == 2 * 3600
    pd.testing.assert_frame_equal(after.iloc[1:], before.iloc[1:])


def test_kept_milestones_follow_new_events(history, tmp_path):
    first = kept_milestones(history)
    extra = tmp_path / "resolved.csv"
    extra.write_text("incident_id,at,kind,actor,summary,source\n"
                     f"{OTHER},2030-01-01T00:00:00Z,resolved,bo,closed late,csv\n")
    ingest_paths(history, "csv", [extra], quiet=True)
    renewed = kept_milestones(history).set_index("incident_id")
    assert renewed.loc[OTHER, "resolved_at"] == pd.Timestamp("2030-01-01T00:00:00Z")
    assert first.set_index("incident_id").loc[OTHER, "resolved_at"] != renewed.loc[OTHER, "resolved_at"]
    assert kept_history.kept_milestones(history).equals(kept_milestones(history))


def test_the_trend_report_reads_the_kept_index_for_the_whole_store(history, tmp_path, monkeypatch):
    from review_kit.analysis.trends import recurring_groups
    from review_kit.notebook.trends import TrendsView
    built = recurring_groups(history.incidents(), similarity_index(history, history.incidents()))
    similarity_index(history)  # kept for this revision
    builds = []
    real = SimilarityIndex.build.__func__
    monkeypatch.setattr(SimilarityIndex, "build",
                        classmethod(lambda cls, *a, **k: builds.append(1) or real(cls, *a, **k)))
    whole = TrendsView(history, output_dir=tmp_path / "trends", config={}, n_boot=50)
    pd.testing.assert_series_equal(whole._recurring(), built)
    assert builds == []
    # A window of the history, or a redacted report, builds its own index.
    window = TrendsView(history, output_dir=tmp_path / "window", config={}, n_boot=50,
                        since="2024-03-01")
    window._similarity()
    assert builds == [1]
    TrendsView(history, output_dir=tmp_path / "redacted", config={}, n_boot=50, redact=True)._similarity()
    assert builds == [1, 1]


# --- the fleet's metrics (issue 17: the trend report over a big store) -------------------------
def _fleet_inputs(store: Store):
    from review_kit.analysis.retrospective import cadence_policy
    from review_kit.model import MILESTONE_OVERRIDES
    overrides = store.annotation_rows()
    overrides = overrides[overrides["field"].isin(MILESTONE_OVERRIDES)][["incident_id", "field", "value"]]
    return store.incidents(), overrides, cadence_policy({})


def _same_fleet(got, expected) -> None:
    pd.testing.assert_frame_equal(got.metrics, expected.metrics)
    order = ["incident_id", "responder"]
    pd.testing.assert_frame_equal(got.activity.sort_values(order, ignore_index=True),
                                  expected.activity.sort_values(order, ignore_index=True))
    pd.testing.assert_series_equal(got.updates, expected.updates)


def test_the_fleet_read_back_is_the_fleet_computed_from_every_event(sample_store, tmp_path,
                                                                     monkeypatch):
    import shutil
    from review_kit.notebook.kept_history import FLEET_EVENT_COLUMNS, fleet_from_events, fleet_metrics
    shutil.copy(sample_store, tmp_path / "review.db")
    store = Store.open(tmp_path / "review.db", create=False)
    incidents, _, cadence = _fleet_inputs(store)
    everything = compute = fleet_from_events(store.events(columns=FLEET_EVENT_COLUMNS), incidents,
                                             cadence=cadence)
    open_ids = everything.metrics.loc[everything.metrics["resolved_at"].isna(), "incident_id"]
    closed = everything.metrics.dropna(subset=["resolved_at", "detected_at"])["incident_id"]
    assert len(open_ids) and len(closed) > 2 and everything.updates.sum() > 0
    # A hand-set resolution of an open incident, a hand-set mitigation of a closed one.
    save_milestone(store, open_ids.iloc[0], "resolved_at", "2031-01-01T00:00:00Z")
    save_milestone(store, closed.iloc[0], "mitigated_at",
                   everything.metrics.set_index("incident_id").loc[closed.iloc[0], "detected_at"]
                   .isoformat().replace("+00:00", "Z"))
    incidents, overrides, cadence = _fleet_inputs(store)
    assert len(overrides) == 2
    reads = []
    real_events = store.events
    monkeypatch.setattr(store, "events", lambda *a, **k: reads.append(k) or real_events(*a, **k))
    for asof in ("2030-06-01T00:00:00Z", "2030-07-01T00:00:00Z"):
        compute = fleet_from_events(real_events(columns=FLEET_EVENT_COLUMNS), incidents,
                                    overrides=overrides, cadence=cadence, asof=asof)
        reads.clear()
        _same_fleet(fleet_metrics(store, incidents, overrides=overrides, cadence=cadence, asof=asof),
                    compute)
        # Kept after the first: then only the open incidents and the two overridden are read.
        if asof.startswith("2030-07"):
            assert [sorted(r["incident_id" + "s"]) for r in reads] == [
                sorted({*open_ids, closed.iloc[0]})]
    shown = compute.metrics.set_index("incident_id")
    # The overrides count: mitigated at the detection is no measure (unknown, not 0 s), and
    # the open incident is resolved by hand.
    assert pd.isna(shown.loc[closed.iloc[0], "time_to_mitigate"])
    assert shown.loc[open_ids.iloc[0], "resolved_at"] == pd.Timestamp("2031-01-01T00:00:00Z")
    # As the report shows them: the incidents' fields as given, cut or redacted.
    shown = incidents.assign(title="[cut]")
    got = fleet_metrics(store, shown, overrides=overrides, cadence=cadence, asof="2030-07-01T00:00:00Z")
    assert set(got.metrics["title"]) == {"[cut]"}
    # Another cadence policy is another fleet.
    other = cadence_policy_with(SEV1=60)
    reads.clear()
    _same_fleet(fleet_metrics(store, incidents, overrides=overrides, cadence=other, asof=asof),
                fleet_from_events(real_events(columns=FLEET_EVENT_COLUMNS), incidents,
                                  overrides=overrides, cadence=other, asof=asof))
    assert any("incident_ids" not in r for r in reads)  # derived again, from every event
    store.close()


def cadence_policy_with(**limits):
    from review_kit.analysis.retrospective import cadence_policy
    return cadence_policy({"cadence": {sev: {"external": s, "internal": s} for sev, s in limits.items()}})


def test_the_kept_fleet_follows_new_events(history, tmp_path):
    from review_kit.notebook.kept_history import FLEET_EVENT_COLUMNS, fleet_from_events, fleet_metrics
    incidents, overrides, cadence = _fleet_inputs(history)
    first = fleet_metrics(history, incidents, overrides=overrides, cadence=cadence, asof=None)
    ingest_paths(history, "csv", [_more_chat(tmp_path, OTHER, "still looking")], quiet=True)
    incidents, overrides, cadence = _fleet_inputs(history)
    again = fleet_metrics(history, incidents, overrides=overrides, cadence=cadence, asof=None)
    _same_fleet(again, fleet_from_events(history.events(columns=FLEET_EVENT_COLUMNS), incidents,
                                         overrides=overrides, cadence=cadence))
    assert again.activity["events"].sum() == first.activity["events"].sum() + 1
