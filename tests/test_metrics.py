"""Tests for review_kit.analysis.metrics: durations, communication cadence and coordination."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.analysis.metrics import (METRIC_COLUMNS, CadencePolicy, communication_gaps,
                                compute_metrics, incident_metrics, metrics_to_json)
from review_kit.model import EVENT_COLUMNS, INCIDENT_COLUMNS, parse_timestamps
from review_kit.analysis.timeline import milestones
from frames import literal_events, utc


def events(*rows: dict) -> pd.DataFrame:
    return literal_events(*rows, incident_id='INC-1', id_format='{source}:{incident_id}:{i}')


def incidents(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame.from_records([{c: row.get(c) for c in INCIDENT_COLUMNS} for row in rows],
                                     columns=list(INCIDENT_COLUMNS))


ts = utc


def assert_same_row(left: dict, right: dict) -> None:
    """Equal keys in the same order and equal values, a missing value equal to another."""
    assert list(left) == list(right)
    for key in left:
        a, b = left[key], right[key]
        if not isinstance(a, list) and pd.isna(a):
            assert not isinstance(b, list) and pd.isna(b) and type(a) is type(b), key
        else:
            assert a == b, key


def checkout_outage(incident_id: str = "INC-1") -> pd.DataFrame:
    """One incident told by five sources (times 2024-03-01, UTC unless an offset is given)."""
    rows = [
        {"at": "2024-03-01T09:50:00Z", "kind": "impact_started", "source": "incidentio",
         "actor": "Ana"},
        {"at": "2024-03-01T10:00:00Z", "kind": "alert_firing", "source": "alertmanager",
         "actor_type": "service"},
        {"at": "2024-03-01T11:02:00+01:00", "kind": "triggered", "actor": "Datadog",
         "actor_type": "service"},
        {"at": "2024-03-01T10:03:00Z", "kind": "notified", "target": "Ana"},
        {"at": "2024-03-01T10:05:00Z", "kind": "acknowledged", "actor": "Ana"},
        {"at": "2024-03-01T10:06:00Z", "kind": "message", "source": "slack",
         "actor": "deploy-bot", "actor_type": "bot"},
        {"at": "2024-03-01T10:07:00Z", "kind": "message", "source": "slack", "actor": "Ben"},
        {"at": "2024-03-01T10:10:00Z", "kind": "status_update", "source": "statuspage",
         "status": "investigating", "visibility": "external"},
        {"at": "2024-03-01T10:12:00Z", "kind": "escalated", "actor": "PagerDuty",
         "actor_type": "service", "target": "Cleo"},
        {"at": "2024-03-01T05:15:00-05:00", "kind": "stakeholder_update", "source": "incidentio",
         "actor": "Ana"},
        {"at": "2024-03-01T10:20:00Z", "kind": "reassigned", "actor": "Ana", "target": "Dev"},
        {"at": "2024-03-01T10:40:00Z", "kind": "status_update", "source": "statuspage",
         "status": "identified", "visibility": "external"},
        {"at": "2024-03-01T10:45:00Z", "kind": "note", "actor": "Cleo"},
        {"at": "2024-03-01T11:00:00Z", "kind": "mitigated", "source": "incidentio", "actor": "Ben"},
        {"at": "2024-03-01T11:10:00Z", "kind": "status_update", "source": "statuspage",
         "status": "monitoring", "visibility": "external"},
        {"at": "2024-03-01T11:30:00Z", "kind": "resolved", "actor": "Ana"},
        {"at": "2024-03-01T11:31:00Z", "kind": "status_update", "source": "statuspage",
         "status": "resolved", "visibility": "external"},
    ]
    return events(*({**row, "incident_id": incident_id} for row in rows))


# --- one incident, every field ----------------------------------------------------------------

def test_every_metric_of_a_sev1_incident_told_by_five_sources():
    table = incidents({"incident_id": "INC-1", "title": "Checkout returns 500s",
                       "severity": "SEV1", "service": "checkout", "team": "payments",
                       "commander": "Ana"})
    row = compute_metrics(checkout_outage(), table).iloc[0].to_dict()
    expected = {
        "incident_id": "INC-1", "title": "Checkout returns 500s", "severity": "SEV1",
        "service": "checkout", "team": "payments",
        "started_at": ts("2024-03-01T09:50:00Z"),
        "detected_at": ts("2024-03-01T10:00:00Z"),
        "acknowledged_at": ts("2024-03-01T10:05:00Z"),
        "mitigated_at": ts("2024-03-01T11:00:00Z"),
        "resolved_at": ts("2024-03-01T11:30:00Z"),
        "reopened": 0, "is_resolved": True,
        "time_to_detect": 600.0, "time_to_acknowledge": 300.0, "time_to_mitigate": 3600.0,
        "time_to_resolve": 5400.0, "impact_duration": 4200.0,
        # comms points 10:10, 10:15, 10:40, 11:10 (the 11:31 update is after resolution)
        "time_to_first_update": 600.0,
        # 10:00 → 10:10 → 10:15 → 10:40 → 11:10 → 11:30: gaps 600, 300, 1500, 1800, 1200
        "longest_silence": 1800.0,
        # external 600, 1800*, 1800*, 1200 (limit 1200); internal 900, 4500* (limit 1800)
        "cadence_breaches": 3,
        # Ana acknowledged, the bot is left out, Ben wrote, Cleo was escalated to; neither
        # a notification's target (Ana again) nor a reassignment's (Dev) is a responder.
        "responders": ["Ana", "Ben", "Cleo"], "responder_count": 3,
        "escalations": 1, "handoffs": 1, "commander": "Ana",
    }
    assert list(row) == list(METRIC_COLUMNS)
    assert row == expected


def test_communication_gaps_for_sev1_and_sev3():
    frame = pd.concat([checkout_outage("INC-1"), checkout_outage("INC-3")], ignore_index=True)
    table = incidents({"incident_id": "INC-1", "severity": "SEV1"},
                      {"incident_id": "INC-3", "severity": "SEV3"})
    gaps = communication_gaps(frame, milestones(frame), table)
    ext = ["10:00", "10:10", "10:40", "11:10", "11:30"]
    internal = ["10:00", "10:15", "11:30"]

    def rows(incident, audience, points, limit):
        starts = [ts(f"2024-03-01T{p}:00Z") for p in points[:-1]]
        ends = [ts(f"2024-03-01T{p}:00Z") for p in points[1:]]
        seconds = [(e - s).total_seconds() for s, e in zip(starts, ends)]
        return pd.DataFrame({
            "incident_id": incident, "audience": audience, "gap_start": starts, "gap_end": ends,
            "seconds": seconds, "limit_seconds": limit,
            "breach": [s > limit for s in seconds]})

    expected = pd.concat([
        rows("INC-1", "external", ext, 1200.0), rows("INC-1", "internal", internal, 1800.0),
        rows("INC-3", "external", ext, np.nan), rows("INC-3", "internal", internal, np.nan),
    ], ignore_index=True).astype({"incident_id": object, "audience": object})
    pd.testing.assert_frame_equal(gaps, expected)
    assert gaps["breach"].tolist() == [False, True, True, False, False, True] + [False] * 6

    metrics = compute_metrics(frame, table).set_index("incident_id")
    assert metrics.loc["INC-1", "cadence_breaches"] == 3
    assert metrics.loc["INC-3", "cadence_breaches"] == 0
    assert metrics.loc["INC-3", "longest_silence"] == 1800.0


def test_custom_cadence_changes_the_breaches():
    table = incidents({"incident_id": "INC-1", "severity": "SEV1"})
    strict = {"SEV1": {"external": "10m", "internal": "none"}}
    row = compute_metrics(checkout_outage(), table, cadence=strict).iloc[0]
    # external gaps 600, 1800, 1800, 1200 against 600 s: three breaches; no internal cadence
    assert row["cadence_breaches"] == 3
    without_severity = compute_metrics(checkout_outage()).iloc[0]
    assert without_severity["cadence_breaches"] == 0
    assert without_severity["severity"] is None and without_severity["commander"] is None


def test_unresolved_incident_is_measured_up_to_its_last_event():
    frame = events(
        {"at": "2024-03-01T10:00:00Z", "kind": "triggered"},
        {"at": "2024-03-01T10:01:00Z", "kind": "acknowledged", "actor": "Ana"},
        {"at": "2024-03-01T10:30:00Z", "kind": "status_update", "status": "investigating",
         "source": "statuspage"},
        {"at": "2024-03-01T11:15:00Z", "kind": "message", "source": "slack", "actor": "Ben"},
    )
    row = compute_metrics(frame, incidents({"incident_id": "INC-1", "severity": "SEV2"})).iloc[0]
    assert not row["is_resolved"]
    assert pd.isna(row["resolved_at"]) and pd.isna(row["mitigated_at"])
    assert np.isnan(row["time_to_resolve"]) and np.isnan(row["time_to_mitigate"])
    assert row["time_to_acknowledge"] == 60.0
    assert row["time_to_first_update"] == 1800.0
    assert row["longest_silence"] == 2700.0  # 10:30 → 11:15, the last event
    # external 1800*, 2700* (limit 1200); internal 4500* (limit 1800)
    assert row["cadence_breaches"] == 3
    assert row["responders"] == ["Ana", "Ben"]


def test_missing_acknowledgement_gives_nan_time_to_acknowledge():
    frame = events({"at": "2024-03-01T10:00:00Z", "kind": "triggered"},
                   {"at": "2024-03-01T10:20:00Z", "kind": "resolved"})
    row = compute_metrics(frame).iloc[0]
    assert np.isnan(row["time_to_acknowledge"])
    assert row["time_to_resolve"] == 1200.0
    assert np.isnan(row["time_to_first_update"])
    assert row["longest_silence"] == 1200.0
    assert row["responders"] == [] and row["responder_count"] == 0


def test_reopened_incident_durations_use_the_last_resolution():
    frame = events(
        {"at": "2024-03-01T10:00:00Z", "kind": "triggered"},
        {"at": "2024-03-01T10:30:00Z", "kind": "resolved"},
        {"at": "2024-03-01T10:45:00Z", "kind": "reopened"},
        {"at": "2024-03-01T11:20:00Z", "kind": "resolved"},
    )
    row = compute_metrics(frame).iloc[0]
    assert row["reopened"] == 1
    assert row["time_to_resolve"] == 4800.0
    reopened_only = compute_metrics(frame.iloc[:3]).iloc[0]
    assert not reopened_only["is_resolved"] and np.isnan(reopened_only["time_to_resolve"])


def test_status_page_only_incident():
    frame = events(
        {"at": "2024-03-01T03:10:00-08:00", "kind": "status_update", "status": "resolved"},
        {"at": "2024-03-01T02:50:00-08:00", "kind": "status_update", "status": "monitoring"},
        {"at": "2024-03-01T02:20:00-08:00", "kind": "status_update", "status": "identified"},
        {"at": "2024-03-01T02:00:00-08:00", "kind": "status_update", "status": "investigating"},
    ).assign(source="statuspage")
    row = compute_metrics(frame).iloc[0]
    assert row["detected_at"] == ts("2024-03-01T10:00:00Z")
    assert row["time_to_mitigate"] == 3000.0
    assert row["time_to_resolve"] == 4200.0
    assert np.isnan(row["time_to_detect"]) and np.isnan(row["impact_duration"])
    # The first update is the detection itself: no time to first update to measure.
    assert np.isnan(row["time_to_first_update"])
    assert row["longest_silence"] == 1800.0  # 10:20 → 10:50
    # The first update is the detection itself: no zero-length gap is listed.
    gaps = communication_gaps(frame, milestones(frame))
    assert gaps[["audience", "seconds"]].values.tolist() == [
        ["external", 1200.0], ["external", 1800.0], ["external", 1200.0], ["internal", 4200.0]]
    assert gaps["limit_seconds"].isna().all() and not gaps["breach"].any()


def test_ties_within_a_second_given_newest_first():
    frame = events(
        {"event_id": "pd:4", "at": "2024-03-01T10:00:07Z", "kind": "resolved", "seq": 4},
        {"event_id": "pd:3", "at": "2024-03-01T10:00:07Z", "kind": "reopened", "seq": 3},
        {"event_id": "pd:2", "at": "2024-03-01T10:00:07Z", "kind": "resolved", "seq": 2},
        {"event_id": "pd:1", "at": "2024-03-01T10:00:03Z", "kind": "acknowledged", "seq": 1,
         "actor": "Ana"},
        {"event_id": "pd:0", "at": "2024-03-01T10:00:03Z", "kind": "triggered", "seq": 0},
    )
    row = compute_metrics(frame).iloc[0]
    assert row["is_resolved"] and row["reopened"] == 1
    # Acknowledged in the second it was triggered: no measurable time, so unknown, not 0.
    assert pd.isna(row["time_to_acknowledge"]) and row["time_to_resolve"] == 4.0


def test_mixed_offsets_give_the_same_durations_as_utc():
    frame = events(
        {"at": "2024-03-01T11:00:00+01:00", "kind": "triggered"},
        {"at": "2024-03-01T05:05:00-05:00", "kind": "acknowledged", "actor": "Ana"},
        {"at": "2024-03-01T15:40:00+0530", "kind": "resolved"},
    )
    row = compute_metrics(frame).iloc[0]
    assert row["detected_at"] == ts("2024-03-01T10:00:00Z")
    assert (row["time_to_acknowledge"], row["time_to_resolve"]) == (300.0, 600.0)


def test_impact_started_and_overrides_feed_the_durations():
    frame = checkout_outage()
    overrides = {"INC-1": {"started_at": "2024-03-01T09:40:00Z",
                           "mitigated_at": "2024-03-01T10:50:00Z"}}
    row = compute_metrics(frame, overrides=overrides).iloc[0]
    assert row["started_at"] == ts("2024-03-01T09:40:00Z")
    assert row["time_to_detect"] == 1200.0
    assert row["time_to_mitigate"] == 3000.0
    assert row["impact_duration"] == 4200.0  # 09:40 → 10:50
    no_impact_event = compute_metrics(frame[frame["kind"] != "impact_started"]).iloc[0]
    assert no_impact_event["started_at"] == ts("2024-03-01T10:00:00Z")
    # The start falls back to the very trigger that detected it: nothing measured.
    assert pd.isna(no_impact_event["time_to_detect"])


def test_responders_in_order_of_first_activity_without_bots_and_services():
    frame = events(
        {"at": "2024-03-01T10:00:00Z", "kind": "triggered", "actor": "Grafana",
         "actor_type": "service"},
        {"at": "2024-03-01T10:01:00Z", "kind": "escalated", "actor": "PagerDuty",
         "actor_type": "service", "target": "Zoe"},
        {"at": "2024-03-01T10:02:00Z", "kind": "message", "actor": "incident-bot",
         "actor_type": "bot", "source": "slack"},
        {"at": "2024-03-01T10:03:00Z", "kind": "responder_joined", "actor": "Yan ",
         "source": "slack"},
        {"at": "2024-03-01T10:04:00Z", "kind": "note", "actor": "Xia", "actor_type": None},
        {"at": "2024-03-01T10:05:00Z", "kind": "acknowledged", "actor": "Zoe"},
        {"at": "2024-03-01T10:06:00Z", "kind": "message", "actor": "Yan", "source": "slack"},
        {"at": "2024-03-01T10:07:00Z", "kind": "message", "actor": "Statuspage",
         "actor_type": "Service", "source": "slack"},
        {"at": "2024-03-01T10:08:00Z", "kind": "deploy", "actor": "Will"},
        {"at": "2024-03-01T10:09:00Z", "kind": "escalated", "actor": "Xia", "target": "Vic"},
        {"at": "2024-03-01T10:10:00Z", "kind": "reassigned", "actor": "Vic", "target": "Uma"},
        {"at": "2024-03-01T10:11:00Z", "kind": "escalated", "actor": "Xia", "target": None},
    )
    row = compute_metrics(frame).iloc[0]
    # Will only deployed; Uma was handed the incident but has not acted yet.
    assert row["responders"] == ["Zoe", "Yan", "Xia", "Vic"]
    assert row["responder_count"] == 4
    assert row["escalations"] == 3
    assert row["handoffs"] == 1


def test_an_escalation_to_several_people_counts_each_as_the_responder_table_does():
    """PagerDuty escalates to every assignee of a level at once; the loader joins their names
    in `target`. The headline count and the retrospective's table must name the same people."""
    from review_kit.analysis.retrospective import responder_activity
    frame = events(
        {"at": "2024-03-01T10:00:00Z", "kind": "triggered", "actor": "PagerDuty",
         "actor_type": "service"},
        {"at": "2024-03-01T10:01:00Z", "kind": "escalated", "actor": "PagerDuty",
         "actor_type": "service", "target": "Uma Rao, Vic Lo,  , Wen"},
        {"at": "2024-03-01T10:02:00Z", "kind": "escalated", "actor": "PagerDuty",
         "actor_type": "service", "target": "Zoe, Uma Rao"},
        {"at": "2024-03-01T10:03:00Z", "kind": "acknowledged", "actor": " Vic Lo "},
        {"at": "2024-03-01T10:04:00Z", "kind": "escalated", "actor": "Vic Lo", "target": "Xia"},
        {"at": "2024-03-01T10:05:00Z", "kind": "message", "actor": "   ", "source": "slack"},
    )
    row = compute_metrics(frame).iloc[0]
    # In order of first activity; names in a target in the order it gives them; a blank
    # name is nobody, and a name met again (padded or not) is the same person.
    assert row["responders"] == ["Uma Rao", "Vic Lo", "Wen", "Zoe", "Xia"]
    assert row["responder_count"] == 5
    assert row["escalations"] == 3
    table = responder_activity(frame)
    assert table["responder"].tolist() == row["responders"]
    # Many incidents at once, each with several-name escalations, as one pass computes them.
    many = pd.concat([frame.assign(incident_id=f"INC-{i}", event_id=frame["event_id"] + f"-{i}")
                      for i in range(3)], ignore_index=True).sample(frac=1.0, random_state=3)
    assert compute_metrics(many)["responders"].tolist() == [row["responders"]] * 3


def test_one_pass_over_many_incidents_matches_one_incident_at_a_time():
    frame = pd.concat([checkout_outage("INC-1"), checkout_outage("INC-2").iloc[::2],
                       checkout_outage("INC-3").iloc[5:]], ignore_index=True)
    shuffled = frame.sample(frac=1.0, random_state=7)
    table = incidents({"incident_id": "INC-1", "severity": "SEV1", "commander": "Ana"},
                      {"incident_id": "INC-2", "severity": "SEV2"},
                      {"incident_id": "INC-3", "severity": "SEV3", "title": "Slow search"})
    together = compute_metrics(shuffled, table)
    assert together["incident_id"].tolist() == ["INC-1", "INC-2", "INC-3"]
    for position, incident_id in enumerate(["INC-1", "INC-2", "INC-3"]):
        alone = incident_metrics(frame, incident_id, table[table["incident_id"] == incident_id])
        assert_same_row(alone, together.iloc[position].to_dict())
    # Given as a dict, the incident row gives the same answer.
    as_dict = incident_metrics(frame, "INC-3", {"severity": "SEV3", "title": "Slow search"})
    assert_same_row(as_dict, together.iloc[2].to_dict())


def test_incident_metrics_equals_compute_metrics_row_without_incident_fields():
    frame = pd.concat([checkout_outage("INC-1"), checkout_outage("INC-2")], ignore_index=True)
    row = compute_metrics(frame).iloc[1].to_dict()
    assert_same_row(incident_metrics(frame, "INC-2"), row)


def test_incidents_frame_decides_the_rows():
    frame = pd.concat([checkout_outage("INC-1"), checkout_outage("INC-2")], ignore_index=True)
    table = incidents({"incident_id": "INC-2", "severity": "SEV2"},
                      {"incident_id": "INC-0", "severity": "SEV4"})
    result = compute_metrics(frame, table)
    assert result["incident_id"].tolist() == ["INC-0", "INC-2"]
    empty = result.iloc[0]
    assert pd.isna(empty["detected_at"]) and np.isnan(empty["longest_silence"])
    # No events, so no communication window: breaches unknown, not 0.
    assert empty["responders"] == [] and pd.isna(empty["cadence_breaches"])
    assert empty["severity"] == "SEV4"


def test_column_types():
    result = compute_metrics(checkout_outage())
    for column in ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at"):
        assert str(result[column].dtype) == "datetime64[us, UTC]"
    for column in ("time_to_detect", "time_to_acknowledge", "time_to_mitigate",
                   "time_to_resolve", "impact_duration", "time_to_first_update",
                   "longest_silence"):
        assert result[column].dtype == np.float64
    for column in ("reopened", "responder_count", "escalations", "handoffs"):
        assert result[column].dtype == np.int64
    assert str(result["cadence_breaches"].dtype) == "Int64"  # a count that may be unknown
    assert result["is_resolved"].dtype == bool


# --- cadence policy -------------------------------------------------------------------------

def test_default_cadence_policy():
    policy = CadencePolicy()
    assert policy.limit("SEV1", "external") == 1200.0
    assert policy.limit("SEV2", "internal") == 1800.0
    assert policy.limit("SEV3", "external") is None
    assert policy.limit(None, "external") is None
    assert policy.limit("sev-1", "external") == 1200.0


def test_cadence_policy_from_config():
    policy = CadencePolicy.from_dict({
        "SEV1": {"external": 900, "internal": "1h 30m"},
        "P2": "none",
        "sev3": {"external": "45 min"},
    })
    assert policy.to_dict() == {"SEV1": {"external": 900.0, "internal": 5400.0},
                                "SEV3": {"external": 2700.0}}
    replaced = CadencePolicy.from_dict({"SEV3": {"internal": 3600}}, inherit=False)
    assert replaced.to_dict() == {"SEV3": {"internal": 3600.0}}
    assert replaced.limit("SEV1", "external") is None


@pytest.mark.parametrize("config, where", [
    ({"SEV1": {"external": "soon"}}, "cadence.SEV1.external: not a duration"),
    ({"SEV1": {"twitter": 600}}, "cadence.SEV1.twitter: unknown audience"),
    ({"urgent": {"external": 600}}, "cadence.urgent: unknown severity"),
    ({"SEV1": {"external": -5}}, "cadence.SEV1.external: a cadence cannot be -5"),
    ({"SEV1": 600}, "cadence.SEV1: expected a table"),
])
def test_bad_cadence_config_names_the_setting(config, where):
    with pytest.raises(InputError) as caught:
        CadencePolicy.from_dict(config)
    assert str(caught.value).startswith(where)


# --- JSON -----------------------------------------------------------------------------------

def test_metrics_to_json_is_plain_json_with_utc_times():
    frame = events({"at": "2024-03-01T11:00:00+01:00", "kind": "triggered"},
                   {"at": "2024-03-01T10:05:00.25Z", "kind": "acknowledged", "actor": "Ana"})
    row = incident_metrics(frame, "INC-1", {"severity": "SEV2", "commander": "Ana"})
    document = metrics_to_json(row)
    assert json.loads(json.dumps(document)) == document
    assert document["detected_at"] == "2024-03-01T10:00:00Z"
    assert document["acknowledged_at"] == "2024-03-01T10:05:00.250000Z"
    assert document["resolved_at"] is None
    assert document["time_to_acknowledge"] == 300.25
    assert document["time_to_resolve"] is None
    assert document["longest_silence"] == 300.25
    assert document["responders"] == ["Ana"]
    assert document["responder_count"] == 1 and type(document["responder_count"]) is int
    assert document["is_resolved"] is False
    assert document["commander"] == "Ana" and document["title"] is None
    assert set(document) == set(METRIC_COLUMNS)
