"""Tests for review_kit.analysis.timeline: merge order, de-duplication and milestones."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.model import EVENT_COLUMNS, parse_timestamps
from review_kit.analysis.timeline import (MILESTONE_COLUMNS, build_timeline, factorize_runs,
                                          index_runs, member, milestones, order_events)
from frames import literal_events, utc


def events(*rows: dict) -> pd.DataFrame:
    return literal_events(*rows, incident_id='INC-1', id_format='{source}:e{i}')


ts = utc


# --- order ------------------------------------------------------------------------------------

def test_newest_first_entries_sharing_a_second_come_out_in_true_order():
    # PagerDuty log entries arrive newest first; the loader numbered them in true order.
    frame = events(
        {"event_id": "pd:R", "at": "2024-03-01T10:00:05Z", "kind": "resolved", "seq": 3},
        {"event_id": "pd:A", "at": "2024-03-01T10:00:05Z", "kind": "acknowledged", "seq": 2},
        {"event_id": "pd:N", "at": "2024-03-01T10:00:05Z", "kind": "notified", "seq": 1},
        {"event_id": "pd:T", "at": "2024-03-01T10:00:05Z", "kind": "triggered", "seq": 0},
    )
    timeline = build_timeline(frame)
    assert timeline["event_id"].tolist() == ["pd:T", "pd:N", "pd:A", "pd:R"]
    assert timeline.index.tolist() == [0, 1, 2, 3]
    assert list(timeline.columns) == list(EVENT_COLUMNS)
    assert str(timeline["at"].dtype) == "datetime64[us, UTC]"


def test_ties_across_sources_break_on_seq_then_source_then_event_id():
    frame = events(
        {"event_id": "slack:b", "source": "slack", "at": "2024-03-01T10:00:00Z",
         "kind": "message", "seq": 0, "actor": "Ben"},
        {"event_id": "slack:a", "source": "slack", "at": "2024-03-01T10:00:00Z",
         "kind": "message", "seq": 0, "actor": "Ana"},
        {"event_id": "pd:x", "source": "pagerduty", "at": "2024-03-01T10:00:00Z",
         "kind": "note", "seq": 0},
        {"event_id": "pd:y", "source": "pagerduty", "at": "2024-03-01T10:00:00Z",
         "kind": "note", "seq": 1},
        {"event_id": "pd:w", "source": "pagerduty", "at": "2024-03-01T09:59:59.999999Z",
         "kind": "note", "seq": 9},
    )
    assert build_timeline(frame)["event_id"].tolist() == [
        "pd:w", "pd:x", "slack:a", "slack:b", "pd:y"]
    # The same rows in any input order give the same timeline.
    shuffled = frame.iloc[[3, 0, 4, 2, 1]]
    pd.testing.assert_frame_equal(build_timeline(shuffled), build_timeline(frame))


def test_mixed_utc_offsets_are_ordered_by_the_instant():
    frame = events(
        {"event_id": "a", "at": "2024-03-01T11:05:00+01:00", "kind": "acknowledged"},  # 10:05Z
        {"event_id": "b", "at": "2024-03-01T10:00:00Z", "kind": "triggered"},
        {"event_id": "c", "at": "2024-03-01T05:10:00-0500", "kind": "resolved"},  # 10:10Z
    )
    timeline = build_timeline(frame)
    assert timeline["event_id"].tolist() == ["b", "a", "c"]
    assert timeline["at"].tolist() == [ts("2024-03-01T10:00:00Z"), ts("2024-03-01T10:05:00Z"),
                                       ts("2024-03-01T10:10:00Z")]


def test_at_holding_aware_timestamps_of_different_zones_is_normalised_to_utc():
    frame = events({"event_id": "a", "at": "2024-03-01T10:00:00Z", "kind": "triggered"},
                   {"event_id": "b", "at": "2024-03-01T10:00:00Z", "kind": "acknowledged"})
    frame["at"] = pd.Series([pd.Timestamp("2024-03-01T12:30:00+02:00"),
                             pd.Timestamp("2024-03-01T05:00:00-05:00")], dtype=object)
    timeline = build_timeline(frame)
    assert timeline["event_id"].tolist() == ["b", "a"]
    assert timeline["at"].tolist() == [ts("2024-03-01T10:00:00Z"), ts("2024-03-01T10:30:00Z")]


def test_time_without_a_zone_is_refused():
    frame = events({"event_id": "a", "at": "2024-03-01T10:00:00Z", "kind": "triggered"})
    frame["at"] = pd.Series(["2024-03-01 10:00:00"], dtype=object)
    with pytest.raises(InputError, match="no time zone"):
        build_timeline(frame)


def test_incidents_are_kept_apart_and_sorted_by_id():
    frame = events(
        {"incident_id": "INC-2", "at": "2024-03-01T09:00:00Z", "kind": "triggered"},
        {"incident_id": "INC-1", "at": "2024-03-01T11:00:00Z", "kind": "triggered"},
        {"incident_id": "INC-1", "at": "2024-03-01T10:00:00Z", "kind": "note"},
    )
    timeline = build_timeline(frame)
    assert timeline[["incident_id", "kind"]].values.tolist() == [
        ["INC-1", "note"], ["INC-1", "triggered"], ["INC-2", "triggered"]]


def test_input_frame_is_left_untouched():
    frame = events({"at": "2024-03-01T10:00:01Z", "kind": "resolved"},
                   {"at": "2024-03-01T10:00:00Z", "kind": "triggered"})
    before = frame.copy()
    build_timeline(frame)
    pd.testing.assert_frame_equal(frame, before)


# --- de-duplication -------------------------------------------------------------------------

def test_same_event_id_is_kept_once():
    frame = events(
        {"event_id": "slack:1", "at": "2024-03-01T10:00:00Z", "kind": "message", "actor": "Ana",
         "source": "slack", "seq": 4},
        {"event_id": "pd:Q2", "at": "2024-03-01T10:01:00Z", "kind": "note", "actor": "Ana"},
        # the same export read twice (another seq), and a record edited at its source later
        {"event_id": "slack:1", "at": "2024-03-01T10:00:00Z", "kind": "message", "actor": "Ana",
         "source": "slack", "seq": 0},
        {"event_id": "pd:Q2", "at": "2024-03-01T10:00:30Z", "kind": "note", "actor": "Ana",
         "summary": "first version"},
    )
    timeline = build_timeline(frame)
    assert timeline["event_id"].tolist() == ["slack:1", "pd:Q2"]
    # The first in timeline order is kept.
    assert timeline["seq"].tolist() == [0, 3]
    assert timeline["summary"].iloc[1] == "first version"


def test_repeated_ids_are_found_among_many_and_blank_ids_never_repeat():
    """Hashes find the candidates, values decide: ids whose text is alike but whose values
    differ (1 and "1") are two events; rows without an id are all kept."""
    rows = [{"event_id": f"pd:{i}", "at": f"2024-03-01T10:{i % 60:02d}:00Z", "kind": "note"}
            for i in range(500)]
    rows += [{"event_id": "pd:7", "at": "2024-03-01T11:00:00Z", "kind": "note"},
             {"event_id": None, "at": "2024-03-01T12:00:00Z", "kind": "note"},
             {"event_id": None, "at": "2024-03-01T12:00:00Z", "kind": "message"},
             {"event_id": 1, "at": "2024-03-01T12:01:00Z", "kind": "note"},
             {"event_id": "1", "at": "2024-03-01T12:02:00Z", "kind": "note"}]
    timeline = build_timeline(literal_events(*rows, id_format=None))
    assert len(timeline) == 504
    assert timeline["event_id"].tolist().count("pd:7") == 1
    assert timeline["at"][timeline["event_id"] == "pd:7"].tolist() == [utc("2024-03-01T10:07:00Z")]


def test_missing_ids_of_every_kind_never_repeat_even_as_one_object():
    # np.nan is one object: its hash collides with itself, so it reaches the value check,
    # which must still see a missing id, not a repeated one.
    rows = [{"event_id": "pd:1", "at": "2024-03-01T10:00:00Z", "kind": "note"},
            {"event_id": "pd:2", "at": "2024-03-01T10:01:00Z", "kind": "note"},
            {"event_id": "pd:3", "at": "2024-03-01T10:02:00Z", "kind": "note"}]
    frame = literal_events(*rows, id_format=None)
    frame["event_id"] = pd.Series([np.nan, np.nan, None], dtype=object)
    assert len(build_timeline(frame)) == 3


def test_a_store_frame_vouched_unique_keeps_every_row_and_orders_as_usual():
    rows = [{"event_id": f"pd:{i}", "at": f"2024-03-01T10:{(7 * i) % 60:02d}:00Z", "kind": "note",
             "incident_id": f"INC-{i % 3}"} for i in range(60)]
    frame = literal_events(*rows, id_format=None)
    plain, vouched = order_events(frame), order_events(frame, unique_ids=True)
    assert plain.rows.tolist() == vouched.rows.tolist()
    assert plain.inc.tolist() == vouched.inc.tolist() and plain.at.tolist() == vouched.at.tolist()
    # Unvouched, a repeated id is still dropped.
    twice = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)
    assert len(order_events(twice)) == 60


@pytest.mark.parametrize("values", [
    ["INC-2", "INC-2", "INC-1", "INC-1", "INC-2", "INC-3"],   # long runs
    ["a", "b", "a", "c", "b", "a", "c"],                    # no runs: coded as a whole
    ["x", None, None, "x", np.nan, np.nan, "y", "y"],        # missing values, in runs too
    ["x", pd.NA, pd.NA, "x", "x", "x"],                      # pd.NA cannot be compared
    [1, 1.0, True, "1", "1", "1"],                           # equal across types, as a hash
    ["only"], [],
])
def test_run_coding_gives_what_pandas_gives(values):
    array = np.array(values, dtype=object)
    for sort in (False, True):
        codes, uniques = factorize_runs(array, sort=sort)
        want_codes, want_uniques = pd.factorize(array, sort=sort)
        assert codes.dtype == np.int64
        assert codes.tolist() == want_codes.tolist()
        assert list(uniques) == list(want_uniques)
    index = pd.Index(["INC-1", "x", "INC-3"], dtype=object)
    assert index_runs(index, array).tolist() == index.get_indexer(array).tolist()


def test_run_coding_refuses_what_pandas_refuses():
    with pytest.raises(TypeError):
        factorize_runs(np.array([["a"], ["a"], ["b"]] + [None], dtype=object)[:3])


def test_member_reads_codes_through_a_table():
    codes = np.array([0, 2, -1, 1, 2, 0])
    assert member(codes, [2, 7, -1], 3).tolist() == [False, True, False, False, True, False]
    assert member(codes, [], 3).tolist() == [False] * 6


def test_webhook_and_rest_report_of_one_acknowledgement_is_one_event():
    frame = events(
        {"event_id": "pd:rest-ack", "at": "2024-03-01T10:05:00Z", "kind": "acknowledged",
         "actor": "Ana Lima"},
        {"event_id": "pd:webhook-ack", "at": "2024-03-01T10:05:01.732Z", "kind": "acknowledged",
         "actor": "Ana Lima"},
        # Another person acknowledging in the same second is another happening.
        {"event_id": "pd:other", "at": "2024-03-01T10:05:01Z", "kind": "acknowledged",
         "actor": "Ben Ode"},
        # More than two seconds apart: two acknowledgements.
        {"event_id": "pd:later", "at": "2024-03-01T10:05:04Z", "kind": "acknowledged",
         "actor": "Ana Lima"},
        # Chat is never merged: the same words twice are two messages.
        {"event_id": "slack:1", "source": "slack", "at": "2024-03-01T10:06:00Z",
         "kind": "message", "actor": "Ana Lima", "summary": "on it"},
        {"event_id": "slack:2", "source": "slack", "at": "2024-03-01T10:06:01Z",
         "kind": "message", "actor": "Ana Lima", "summary": "on it"},
    )
    assert build_timeline(frame)["event_id"].tolist() == [
        "pd:rest-ack", "pd:other", "pd:later", "slack:1", "slack:2"]
    assert build_timeline(frame, duplicate_window=0)["event_id"].tolist() == [
        "pd:rest-ack", "pd:other", "pd:webhook-ack", "pd:later", "slack:1", "slack:2"]


def test_duplicate_reopening_counts_once_but_a_quick_resolve_reopen_resolve_is_kept():
    duplicated = events(
        {"event_id": "pd:trig", "at": "2024-03-01T10:00:00Z", "kind": "triggered"},
        {"event_id": "pd:res", "at": "2024-03-01T10:30:00Z", "kind": "resolved", "actor": "Ana"},
        {"event_id": "pd:reo-rest", "at": "2024-03-01T10:40:00Z", "kind": "reopened",
         "actor": "Ana"},
        {"event_id": "pd:reo-hook", "at": "2024-03-01T10:40:00.900Z", "kind": "reopened",
         "actor": "Ana"},
    )
    assert build_timeline(duplicated)["event_id"].tolist() == ["pd:trig", "pd:res", "pd:reo-rest"]
    assert milestones(duplicated)["reopened"].tolist() == [1]

    flapping = events(
        {"event_id": "r1", "at": "2024-03-01T10:30:00Z", "kind": "resolved", "actor": "Ana"},
        {"event_id": "o1", "at": "2024-03-01T10:30:01Z", "kind": "reopened", "actor": "Ana"},
        {"event_id": "r2", "at": "2024-03-01T10:30:02Z", "kind": "resolved", "actor": "Ana"},
    )
    assert build_timeline(flapping)["event_id"].tolist() == ["r1", "o1", "r2"]
    marks = milestones(flapping).iloc[0]
    assert marks["resolved_at"] == ts("2024-03-01T10:30:02Z")
    assert marks["reopened"] == 1


# --- milestones -----------------------------------------------------------------------------

def test_milestones_of_a_full_incident():
    frame = events(
        {"at": "2024-03-01T10:00:00Z", "kind": "alert_firing", "source": "alertmanager"},
        {"at": "2024-03-01T09:50:00Z", "kind": "impact_started", "source": "incidentio"},
        {"at": "2024-03-01T10:02:00Z", "kind": "triggered"},
        {"at": "2024-03-01T10:05:00Z", "kind": "acknowledged", "actor": "Ana"},
        {"at": "2024-03-01T10:07:00Z", "kind": "acknowledged", "actor": "Ben"},
        {"at": "2024-03-01T11:00:00Z", "kind": "mitigated", "actor": "Ben"},
        {"at": "2024-03-01T11:05:00Z", "kind": "status_update", "status": "monitoring",
         "source": "statuspage"},
        {"at": "2024-03-01T11:30:00Z", "kind": "resolved", "actor": "Ana"},
    )
    expected = pd.DataFrame({
        "incident_id": pd.Series(["INC-1"], dtype=object),
        "started_at": [ts("2024-03-01T09:50:00Z")],
        "detected_at": [ts("2024-03-01T10:00:00Z")],
        "acknowledged_at": [ts("2024-03-01T10:05:00Z")],
        "mitigated_at": [ts("2024-03-01T11:00:00Z")],
        "resolved_at": [ts("2024-03-01T11:30:00Z")],
        "reopened": np.array([0], dtype="int64"),
        "is_resolved": [True],
    })
    result = milestones(frame)
    assert list(result.columns) == list(MILESTONE_COLUMNS)
    pd.testing.assert_frame_equal(result, expected)


def test_started_at_prefers_impact_started_then_alert_then_trigger():
    frame = events(
        # impact_started wins even when a person set it after the alert fired
        {"incident_id": "A", "at": "2024-03-01T10:01:00Z", "kind": "impact_started"},
        {"incident_id": "A", "at": "2024-03-01T10:00:00Z", "kind": "alert_firing"},
        {"incident_id": "A", "at": "2024-03-01T09:59:00Z", "kind": "triggered"},
        {"incident_id": "B", "at": "2024-03-01T10:03:00Z", "kind": "triggered"},
        {"incident_id": "B", "at": "2024-03-01T10:04:00Z", "kind": "alert_firing"},
        {"incident_id": "C", "at": "2024-03-01T10:05:00Z", "kind": "triggered"},
    )
    marks = milestones(frame).set_index("incident_id")
    assert marks.loc["A", "started_at"] == ts("2024-03-01T10:01:00Z")
    assert marks.loc["A", "detected_at"] == ts("2024-03-01T09:59:00Z")
    assert marks.loc["B", "started_at"] == ts("2024-03-01T10:04:00Z")
    assert marks.loc["B", "detected_at"] == ts("2024-03-01T10:03:00Z")
    assert marks.loc["C", "started_at"] == ts("2024-03-01T10:05:00Z")


def test_reopened_and_resolved_again_takes_the_last_resolution():
    frame = events(
        {"at": "2024-03-01T10:00:00Z", "kind": "triggered"},
        {"at": "2024-03-01T10:30:00Z", "kind": "resolved", "actor": "Ana"},
        {"at": "2024-03-01T10:45:00Z", "kind": "reopened", "actor": "Ana"},
        {"at": "2024-03-01T11:20:00Z", "kind": "resolved", "actor": "Ana"},
    )
    marks = milestones(frame).iloc[0]
    assert marks["resolved_at"] == ts("2024-03-01T11:20:00Z")
    assert marks["reopened"] == 1
    assert marks["is_resolved"]
    # No mitigated event and no status page: mitigation falls back to the resolution.
    assert marks["mitigated_at"] == ts("2024-03-01T11:20:00Z")


def test_reopened_and_not_resolved_again_is_unresolved():
    frame = events(
        {"at": "2024-03-01T10:00:00Z", "kind": "triggered"},
        {"at": "2024-03-01T10:30:00Z", "kind": "resolved", "actor": "Ana"},
        {"at": "2024-03-01T10:45:00Z", "kind": "reopened", "actor": "Ana"},
    )
    marks = milestones(frame).iloc[0]
    assert pd.isna(marks["resolved_at"])
    assert pd.isna(marks["mitigated_at"])
    assert marks["reopened"] == 1
    assert not marks["is_resolved"]


def test_reopening_in_the_same_second_as_the_resolution_follows_seq():
    # Newest first, as PagerDuty lists them: the reopening came after the resolution.
    reopened_last = events(
        {"event_id": "o", "at": "2024-03-01T10:30:00Z", "kind": "reopened", "seq": 1,
         "actor": "Ben"},
        {"event_id": "r", "at": "2024-03-01T10:30:00Z", "kind": "resolved", "seq": 0,
         "actor": "Ana"},
    )
    assert not milestones(reopened_last)["is_resolved"].iloc[0]
    resolved_last = reopened_last.assign(seq=[0, 1])
    assert milestones(resolved_last)["resolved_at"].iloc[0] == ts("2024-03-01T10:30:00Z")


def test_missing_acknowledgement_leaves_acknowledged_at_unset():
    frame = events({"at": "2024-03-01T10:00:00Z", "kind": "triggered"},
                   {"at": "2024-03-01T10:20:00Z", "kind": "resolved"})
    marks = milestones(frame).iloc[0]
    assert pd.isna(marks["acknowledged_at"])
    assert marks["resolved_at"] == ts("2024-03-01T10:20:00Z")


def test_status_page_only_incident_falls_back_to_its_updates():
    frame = events(
        # Statuspage lists updates newest first; times rendered in the page's zone.
        {"at": "2024-03-01T03:10:00-08:00", "kind": "status_update", "status": "resolved",
         "source": "statuspage"},
        {"at": "2024-03-01T02:50:00-08:00", "kind": "status_update", "status": "Monitoring",
         "source": "statuspage"},
        {"at": "2024-03-01T02:20:00-08:00", "kind": "status_update", "status": "identified",
         "source": "statuspage"},
        {"at": "2024-03-01T02:00:00-08:00", "kind": "status_update", "status": "investigating",
         "source": "statuspage"},
        {"at": "2024-03-01T10:30:00Z", "kind": "message", "source": "slack", "actor": "Ana"},
    )
    marks = milestones(frame).iloc[0]
    assert pd.isna(marks["started_at"])
    assert marks["detected_at"] == ts("2024-03-01T10:00:00Z")
    assert pd.isna(marks["acknowledged_at"])
    assert marks["mitigated_at"] == ts("2024-03-01T10:50:00Z")
    assert marks["resolved_at"] == ts("2024-03-01T11:10:00Z")
    assert marks["is_resolved"]


def test_status_page_never_stands_in_for_lifecycle_another_source_provides():
    frame = events(
        {"at": "2024-03-01T09:55:00Z", "kind": "status_update", "status": "investigating",
         "source": "statuspage"},
        {"at": "2024-03-01T10:00:00Z", "kind": "triggered"},
        {"at": "2024-03-01T10:40:00Z", "kind": "status_update", "status": "resolved",
         "source": "statuspage"},
    )
    marks = milestones(frame).iloc[0]
    assert marks["detected_at"] == ts("2024-03-01T10:00:00Z")
    # PagerDuty has not resolved it: the page saying "resolved" does not close the incident.
    assert pd.isna(marks["resolved_at"])
    assert not marks["is_resolved"]
    # An acknowledgement alone is lifecycle too: detection is not taken from the page.
    acked = events(
        {"at": "2024-03-01T09:55:00Z", "kind": "status_update", "status": "investigating",
         "source": "statuspage"},
        {"at": "2024-03-01T10:00:00Z", "kind": "acknowledged", "actor": "Ana"},
    )
    assert pd.isna(milestones(acked)["detected_at"].iloc[0])


def test_mitigation_falls_back_to_first_monitoring_update_even_with_lifecycle():
    frame = events(
        {"at": "2024-03-01T10:00:00Z", "kind": "triggered"},
        {"at": "2024-03-01T10:25:00Z", "kind": "status_update", "status": "monitoring",
         "source": "statuspage"},
        {"at": "2024-03-01T10:35:00Z", "kind": "status_update", "status": "monitoring",
         "source": "statuspage"},
        {"at": "2024-03-01T10:50:00Z", "kind": "resolved"},
    )
    assert milestones(frame)["mitigated_at"].iloc[0] == ts("2024-03-01T10:25:00Z")


# --- overrides ------------------------------------------------------------------------------

def _incident_for_overrides() -> pd.DataFrame:
    return events(
        {"incident_id": "INC-1", "at": "2024-03-01T10:00:00Z", "kind": "alert_firing"},
        {"incident_id": "INC-1", "at": "2024-03-01T10:05:00Z", "kind": "acknowledged"},
        {"incident_id": "INC-1", "at": "2024-03-01T11:00:00Z", "kind": "resolved"},
        {"incident_id": "INC-2", "at": "2024-03-01T12:00:00Z", "kind": "triggered"},
    )


def test_overrides_as_a_dict_replace_the_derived_milestones():
    marks = milestones(_incident_for_overrides(), {
        "INC-1": {"started_at": "2024-03-01T10:30:00+01:00", "resolved_at": "2024-03-01T10:50:00Z"},
        "INC-9": {"started_at": "2024-03-01T08:00:00Z"},  # no such incident: ignored
    }).set_index("incident_id")
    assert marks.loc["INC-1", "started_at"] == ts("2024-03-01T09:30:00Z")
    assert marks.loc["INC-1", "detected_at"] == ts("2024-03-01T10:00:00Z")
    assert marks.loc["INC-1", "resolved_at"] == ts("2024-03-01T10:50:00Z")
    # mitigated_at falls back to the (corrected) resolution
    assert marks.loc["INC-1", "mitigated_at"] == ts("2024-03-01T10:50:00Z")
    assert marks.loc["INC-2", "started_at"] == ts("2024-03-01T12:00:00Z")
    assert list(marks.index) == ["INC-1", "INC-2"]


def test_overrides_from_the_annotations_table_mark_an_open_incident_resolved():
    annotations = pd.DataFrame({
        "incident_id": ["INC-2", "INC-2", "INC-2", "INC-1", "INC-2"],
        "field": ["summary", "resolved_at", "key_event:pd:1", "acknowledged_at", "mitigated_at"],
        "value": ["Checkout was down", "2024-03-01T12:45:00Z", "true", "", "2024-03-01T12:30:00Z"],
        "author": ["ana", "ana", "ben", "ben", "ana"],
    })
    marks = milestones(_incident_for_overrides(), annotations).set_index("incident_id")
    assert marks.loc["INC-2", "resolved_at"] == ts("2024-03-01T12:45:00Z")
    assert marks.loc["INC-2", "mitigated_at"] == ts("2024-03-01T12:30:00Z")
    assert marks.loc["INC-2", "is_resolved"]
    # An empty value is no override.
    assert marks.loc["INC-1", "acknowledged_at"] == ts("2024-03-01T10:05:00Z")


def test_bad_overrides_are_reported_with_their_place():
    with pytest.raises(InputError, match=r"override INC-1\.started_at: .*no time zone"):
        milestones(_incident_for_overrides(), {"INC-1": {"started_at": "2024-03-01 10:00"}})
    with pytest.raises(InputError, match="'began_at' is not a milestone"):
        milestones(_incident_for_overrides(), {"INC-1": {"began_at": "2024-03-01T10:00:00Z"}})


def test_order_events_limited_to_named_incidents_keeps_those_without_events():
    ordered = order_events(_incident_for_overrides(), incident_ids=["INC-2", "INC-7"])
    assert list(ordered.incidents) == ["INC-2", "INC-7"]
    assert len(ordered) == 1
    marks = milestones(_incident_for_overrides())
    assert marks["incident_id"].tolist() == ["INC-1", "INC-2"]
