"""The Statuspage loader: incidents, summaries and webhooks → external status_update events."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.loaders import get_loader
from frames import load_all, utc

LOADER = get_loader("statuspage")
CARD, REPORTS = "h4d7q2w9c8xn", "m1p8z3k6t0va"


def load(path: Path, **ctx) -> tuple[dict[str, dict], pd.DataFrame, list[dict]]:
    return load_all(LOADER, path, **ctx)


def timeline(events: pd.DataFrame, incident_id: str) -> list[tuple]:
    """The incident's updates as a reader sees them: by time, ties by seq."""
    rows = events[(events["incident_id"] == incident_id) & (events["kind"] == "status_update")]
    rows = rows.sort_values(["at", "seq"])
    return list(zip(rows["event_id"].str.removeprefix("statuspage:"), rows["status"], rows["at"]))


def test_incidents_json_maps_incidents_and_their_updates(fixtures: Path) -> None:
    incidents, events, aliases = load(fixtures / "statuspage" / "incidents.json")
    card = incidents[CARD]
    assert card["title"] == "Card payment failures"
    assert (card["severity"], card["severity_raw"], card["status"]) == ("SEV1", "critical", "resolved")
    assert card["created_at"] == utc("2024-02-20T18:14:03.300Z")  # written as 10:14:03.300-08:00
    assert (card["url"], card["service"]) == ("https://stspg.io/h4d7q2", "Card payments")
    assert (card["source"], card["source_id"]) == ("statuspage", CARD)
    reports = incidents[REPORTS]
    assert (reports["severity"], reports["severity_raw"]) == ("SEV3", "minor")
    assert reports["created_at"] == utc("2024-02-20T07:50:11.870Z")
    assert sorted((a["incident_id"], a["external_id"]) for a in aliases) == [(CARD, CARD), (REPORTS, REPORTS)]

    # The file lists updates newest first; the timeline reads oldest first, in UTC.
    assert timeline(events, CARD) == [
        ("tq0k5n2b8j4r", "investigating", utc("2024-02-20T18:14:03.512Z")),
        ("r8v3c6m1x9ds", "identified", utc("2024-02-20T18:41:00Z")),
        ("b2n7w4p0k5yf", "identified", utc("2024-02-20T18:41:00Z")),  # same second: file order kept
        ("z5f1j8q3h6lw", "monitoring", utc("2024-02-20T19:05:27.880Z")),
        ("c9g4t7y2m0ke", "resolved", utc("2024-02-20T20:30:14.001Z")),
    ]
    assert timeline(events, REPORTS) == [
        ("d3w8n5k1p7qa", "investigating", utc("2024-02-20T07:50:12Z")),
        ("f6y1q9m4s2ht", "resolved", utc("2024-02-20T08:20:45.250Z")),
    ]
    card_events = events[(events["incident_id"] == CARD)
                         & (events["kind"] == "status_update")].sort_values("seq")
    assert list(card_events["seq"]) == [0, 1, 2, 3, 4]
    assert card_events["summary"].iloc[1] == ("The issue has been identified as a failed database "
                                              "failover and a fix is being implemented.")
    # The page's own started_at and monitoring_at are the impact start and the mitigation;
    # nothing else of the lifecycle is made up.
    own = events[events["kind"] != "status_update"].sort_values(["incident_id", "at"])
    assert list(zip(own["incident_id"], own["kind"], own["at"], own["event_id"])) == [
        (CARD, "impact_started", utc("2024-02-20T18:14:03.300Z"), f"statuspage:{CARD}:started_at"),
        (CARD, "mitigated", utc("2024-02-20T19:05:27.880Z"), f"statuspage:{CARD}:monitoring_at"),
        (REPORTS, "impact_started", utc("2024-02-20T07:50:11.870Z"),
         f"statuspage:{REPORTS}:started_at"),
    ]  # REPORTS never went to monitoring: monitoring_at is null, so no mitigated event
    # Said in words in the timeline and the postmortem, not as the API's field names.
    assert list(own["summary"]) == ["Impact began (the status page's start time)",
                                    "The status page moved to monitoring",
                                    "Impact began (the status page's start time)"]
    assert set(events["kind"]) == {"status_update", "impact_started", "mitigated"}
    assert set(events["visibility"]) == {"external"}
    assert events["actor"].isna().all() and events["actor_type"].isna().all()
    raws = [json.loads(r) for r in card_events["raw"]]
    assert raws[0]["affected_components"] == [{"code": "9wb3x0mt1r6c", "name": "Card payments",
                                               "old_status": "operational", "new_status": "major_outage"}]
    assert raws[1]["affected_components"] is None  # null kept as null


def test_summary_includes_unresolved_incidents_and_marked_maintenances(fixtures: Path) -> None:
    incidents, events, _ = load(fixtures / "statuspage" / "summary.json")
    assert set(incidents) == {"k0s5v8b2n6jd", "w9e4r7t1y5ui"}
    payouts = incidents["k0s5v8b2n6jd"]
    assert (payouts["status"], payouts["severity"], payouts["severity_raw"]) == ("monitoring", "SEV2", "major")
    maintenance = incidents["w9e4r7t1y5ui"]
    assert maintenance["status"] == "maintenance:in_progress"
    assert (maintenance["severity"], maintenance["severity_raw"]) == (None, "maintenance")
    assert timeline(events, "k0s5v8b2n6jd") == [
        ("p1x6c3v9b4nm", "investigating", utc("2024-02-21T07:58:30.125Z")),
        ("g7j2l5q8w3er", "monitoring", utc("2024-02-21T08:47:02.640Z")),
    ]
    assert timeline(events, "w9e4r7t1y5ui") == [
        ("a5s8d2f6g9hj", "scheduled", utc("2024-02-14T16:00:00Z")),
        ("l3k7j1h4g8fd", "in_progress", utc("2024-02-21T09:00:01.311Z")),
    ]


def test_webhook_log_repeats_updates_without_duplicating_them(fixtures: Path) -> None:
    from_hooks, hook_events, _ = load(fixtures / "statuspage" / "webhooks.jsonl")
    from_list, list_events, _ = load(fixtures / "statuspage" / "incidents.json")
    # Four incident webhooks carry 1 + 2 + 4 + 5 updates; the component webhook carries none.
    # Plus the incident's started_at and monitoring_at, once each.
    assert len(hook_events) == 7 and hook_events["event_id"].is_unique
    assert hook_events["kind"].value_counts().to_dict() == {
        "status_update": 5, "impact_started": 1, "mitigated": 1}
    assert timeline(hook_events, CARD) == timeline(list_events, CARD)
    assert from_hooks[CARD]["status"] == "resolved"  # the latest copy of the incident wins


def test_reloading_gives_the_same_ids(fixtures: Path) -> None:
    first = load(fixtures / "statuspage" / "incidents.json")[1]
    second = load(fixtures / "statuspage" / "incidents.json")[1]
    assert list(first["event_id"]) == list(second["event_id"])
    assert first["event_id"].is_unique


def test_incident_option_and_severity_map(fixtures: Path) -> None:
    incidents, events, aliases = load(fixtures / "statuspage" / "incidents.json", incident_id="INC-9",
                                      config={"severity_map": {"critical": "SEV2"}})
    assert set(events["incident_id"]) == {"INC-9"} and len(events) == 10
    assert list(incidents) == ["INC-9"]
    assert sorted((a["incident_id"], a["external_id"]) for a in aliases) == [("INC-9", CARD), ("INC-9", REPORTS)]
    only_card = load(fixtures / "statuspage" / "incidents.json",
                     config={"severity_map": {"critical": "SEV2"}})[0][CARD]
    assert (only_card["severity"], only_card["severity_raw"]) == ("SEV2", "critical")


def test_times_without_a_zone_need_tz(tmp_path: Path, fixtures: Path) -> None:
    document = json.loads((fixtures / "statuspage" / "incidents.json").read_text())
    document["incidents"][0]["incident_updates"][4]["display_at"] = "2024-02-20T10:14:03.512"
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value).startswith(
        f"{path}: $.incidents[0].incident_updates[4].display_at: timestamp '2024-02-20T10:14:03.512' has no time zone")
    _, events, _ = load(path, tz="America/Los_Angeles")
    assert events.loc[events["event_id"] == "statuspage:tq0k5n2b8j4r", "at"].iloc[0] == utc("2024-02-20T18:14:03.512Z")


def test_update_without_display_at_uses_created_at(tmp_path: Path, fixtures: Path) -> None:
    document = json.loads((fixtures / "statuspage" / "incidents.json").read_text())
    update = document["incidents"][1]["incident_updates"][0]
    del update["display_at"]
    update["created_at"] = "2024-02-20T09:20:45.250+01:00"
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps(document))
    _, events, _ = load(path)
    assert events.loc[events["event_id"] == "statuspage:f6y1q9m4s2ht", "at"].iloc[0] == utc("2024-02-20T08:20:45.250Z")


@pytest.mark.parametrize("document, message", [
    ({"incidents": [{"id": "PT4KHLK", "incident_number": 1234, "title": "x", "status": "resolved"}],
      "limit": 25, "offset": 0, "more": False},
     "$: looks like a PagerDuty incidents response; expected a Statuspage incidents.json"),
    ({"log_entries": [], "limit": 100, "more": False},
     "$: looks like a PagerDuty log entries response; expected a Statuspage"),
    ({"incidents": [{"id": "01FDAG4SAP5TYPT98WGR2N7W91", "reference": "INC-1", "name": "x",
                     "incident_status": {"category": "live"}}], "pagination_meta": {}},
     "$: looks like an incident.io incidents response; expected a Statuspage"),
])
def test_other_formats_are_refused_with_what_they_look_like(tmp_path: Path, document, message: str) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps(document, indent=2))
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value).startswith(f"{path}: {message}")
    assert "\n" not in str(error.value)


def test_alertmanager_file_is_refused(fixtures: Path) -> None:
    path = fixtures / "alertmanager" / "receiver_log.jsonl"
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value).startswith(f"{path}: line 1: looks like an Alertmanager webhook payload; "
                                       "expected a Statuspage")


def test_broken_json_and_missing_ids(tmp_path: Path, fixtures: Path) -> None:
    path = tmp_path / "incidents.json"
    path.write_text('{"page": {"id": "x"},\n "incidents": [\n  {"id": "abc" "name": "x"}\n ]}')
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value) == f"{path}: line 3 column 16: invalid JSON: unexpected character, expected ',' or '}}'"
    document = json.loads((fixtures / "statuspage" / "incidents.json").read_text())
    del document["incidents"][1]["id"]
    path.write_text(json.dumps(document))
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value) == f"{path}: $.incidents[1].id: missing"
    empty = tmp_path / "empty.json"
    empty.write_text("\n  \n")
    with pytest.raises(InputError) as error:
        load(empty)
    assert str(error.value) == f"{empty}: file is empty"


def test_sniff(fixtures: Path) -> None:
    for name in ("incidents.json", "summary.json", "webhooks.jsonl"):
        path = fixtures / "statuspage" / name
        assert LOADER.sniff(path, path.read_text()[:1024]), name
    for other in (fixtures / "alertmanager" / "receiver_log.jsonl", fixtures / "opsgenie" / "alerts.json",
                  fixtures / "opsgenie" / "alert_logs.json"):
        assert not LOADER.sniff(other, other.read_text()[:4096]), other
    assert not LOADER.sniff(fixtures, '{"incidents": [{"id": "PT4KHLK", "incident_number": 1, '
                                      '"html_url": "https://acme.pagerduty.com/incidents/PT4KHLK"}]}')
    assert not LOADER.sniff(fixtures, '{"event": {"event_type": "incident.triggered", "resource_type": "incident"}}')
