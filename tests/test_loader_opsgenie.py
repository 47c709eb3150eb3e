"""The Opsgenie loader: alerts, alert logs, notes and webhooks → incidents and paging events."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.loaders import get_loader
from review_kit.loaders.opsgenie import classify_log
from frames import load_all, utc

LOADER = get_loader("opsgenie")
A1 = "70413a06-38d6-4c85-92b8-5ebc900d42e2"   # closed P1, with a full report
A2 = "c4e5d1b7-0f2e-4a3b-9c61-8f0d2e7a5b13"   # open, acknowledged P3
A3 = "e2b8f4a9-6c1d-4e7f-8a3b-2d5c9f1e0a64"   # open P5, nobody looked yet
A4 = "5b7d2e90-1c3a-4f8e-a6d2-9e0b4c7f1a35"   # told by webhooks
LOG_KINDS = ["triggered", "note", "notified", "note", "acknowledged", "note", "escalated",
             "acknowledged", "note", "severity_changed", "reassigned", "notified", "note",
             "resolved", "note"]


def load(path: Path, **ctx) -> tuple[dict[str, dict], pd.DataFrame, list[dict]]:
    return load_all(LOADER, path, **ctx)


def in_order(events: pd.DataFrame) -> pd.DataFrame:
    return events.sort_values(["at", "seq"], ignore_index=True)


def test_alert_list_gives_incidents_and_the_events_its_report_implies(fixtures: Path) -> None:
    incidents, events, aliases = load(fixtures / "opsgenie" / "alerts.json")
    assert set(incidents) == {A1, A2, A3}
    a1 = incidents[A1]
    assert a1["title"] == "CheckoutHighErrorRate: 5xx ratio 7.2%"
    assert (a1["severity"], a1["severity_raw"], a1["status"]) == ("SEV1", "P1", "closed")
    assert (a1["team"], a1["commander"], a1["service"]) == ("Payments", "dana.ortiz@example.com", "checkout-api")
    assert a1["created_at"] == utc("2024-03-14T09:02:44.120Z")
    assert (incidents[A2]["severity"], incidents[A3]["severity"]) == ("SEV3", "SEV5")
    assert incidents[A3]["commander"] is None  # owner "" means nobody
    assert {(a["incident_id"], a["external_id"]) for a in aliases if a["incident_id"] == A1} == {
        (A1, A1), (A1, "1791"), (A1, "checkout-5xx-rate")}

    a1_events = in_order(events[events["incident_id"] == A1])
    assert list(zip(a1_events["kind"], a1_events["at"], a1_events["actor"], a1_events["actor_type"])) == [
        ("triggered", utc("2024-03-14T09:02:44.120Z"), "Prometheus", "service"),
        ("acknowledged", utc("2024-03-14T09:04:19.432Z"), "dana.ortiz@example.com", "person"),  # +95 312 ms
        ("resolved", utc("2024-03-14T09:47:59.000Z"), "System", "service"),  # +2 714 880 ms
    ]
    assert list(a1_events["event_id"]) == [f"opsgenie:{A1}:created", f"opsgenie:{A1}:report:acknowledged",
                                           f"opsgenie:{A1}:closed"]
    a2_events = in_order(events[events["incident_id"] == A2])
    assert list(zip(a2_events["kind"], a2_events["at"])) == [
        ("triggered", utc("2024-03-14T11:20:00Z")), ("acknowledged", utc("2024-03-14T11:30:00Z"))]
    assert list(events.loc[events["incident_id"] == A3, "kind"]) == ["triggered"]


def test_alert_logs_are_parsed_into_kinds_in_true_order(fixtures: Path) -> None:
    _, events, _ = load(fixtures / "opsgenie" / "alert_logs.json", incident_id="INC-42")
    assert set(events["incident_id"]) == {"INC-42"}
    ordered = in_order(events)
    assert list(ordered["kind"]) == LOG_KINDS
    # Two pairs share a millisecond; the offset's nanoseconds put them in true order.
    assert list(ordered["summary"].iloc[[0, 1]]) == [
        f"Alert created via Prometheus[Prometheus-prod] with id {A1}",
        "Alert routed to team [Payments] via routing rule [Default Routing Rule]"]
    assert ordered["at"].iloc[0] == ordered["at"].iloc[1] == utc("2024-03-14T09:02:44.120Z")
    assert list(ordered["summary"].iloc[[13, 14]]) == [
        "Alert closed by System via Prometheus[Prometheus-prod]",
        "[Jira Software] Issue PAY-4411 transitioned from In Progress to Done"]
    assert list(ordered["seq"].iloc[[13, 14]]) == [1710409679000412993, 1710409679000913004]
    targets = ordered.dropna(subset=["target"])
    assert list(zip(targets["kind"], targets["target"])) == [
        ("notified", "dana.ortiz@example.com"), ("escalated", "lee.chen@example.com"),
        ("reassigned", "dana.ortiz@example.com"), ("notified", "SRE")]
    assert list(ordered["actor_type"].iloc[[0, 4]]) == ["service", "person"]
    assert len(events) == 15 and events["event_id"].is_unique  # nothing dropped


def test_alert_logs_need_to_know_their_alert(fixtures: Path) -> None:
    path = fixtures / "opsgenie" / "alert_logs.json"
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value).startswith(f"{path}: $.data[0]: Opsgenie alert logs do not name their alert; "
                                       "pass --incident ID")


def test_wrapped_log_pages_link_to_the_alert_and_share_its_lifecycle_ids(fixtures: Path) -> None:
    _, logs, aliases = load(fixtures / "opsgenie" / "alert_logs_pages.jsonl")
    assert list(in_order(logs)["kind"]) == LOG_KINDS
    assert set(logs["incident_id"]) == {A1}
    assert aliases == [{"incident_id": A1, "source": "opsgenie", "external_id": A1}]
    _, listed, _ = load(fixtures / "opsgenie" / "alerts.json")
    shared = set(logs["event_id"]) & set(listed["event_id"])
    assert shared == {f"opsgenie:{A1}:created", f"opsgenie:{A1}:closed"}  # one triggered, one resolved


def test_notes_response(fixtures: Path) -> None:
    _, events, _ = load(fixtures / "opsgenie" / "alert_notes.json", incident_id=A1)
    ordered = in_order(events)
    assert list(zip(ordered["kind"], ordered["at"], ordered["actor"])) == [
        ("note", utc("2024-03-14T09:09:40.118Z"), "lee.chen@example.com"),
        ("note", utc("2024-03-14T09:16:41.512Z"), "lee.chen@example.com")]
    assert ordered["summary"].iloc[1].startswith("Error ratio back under 1% after rollback")
    assert ordered["event_id"].iloc[0] == f"opsgenie:{A1}:note:1710407380118_1710407380118000005"


def test_webhook_log_maps_every_action(fixtures: Path) -> None:
    incidents, events, aliases = load(fixtures / "opsgenie" / "webhooks.jsonl")
    assert list(events["kind"]) == ["triggered", "acknowledged", "note", "reassigned", "notified",
                                    "notified", "note", "reassigned", "note", "resolved"]
    # updatedAt is epoch nanoseconds: µs kept, the rest truncated; seq keeps every digit.
    assert events["at"].iloc[0] == utc("2024-03-15T10:00:00.250183Z")
    assert events["at"].iloc[-1] == utc("2024-03-15T10:35:23.416001Z")
    assert events["seq"].iloc[-1] == 1710498923416001603
    assert list(events["target"]) == [None, None, None, "tom.berg@example.com", "payments_secondary",
                                      "SRE", None, "tom.berg@example.com", None, None]
    assert list(events["actor"].iloc[:2]) == ["System", "maria.silva@example.com"]
    assert list(events["actor_type"].iloc[:2]) == ["service", "person"]
    assert events["summary"].iloc[2] == "consumer lag on partition 7 only"
    assert events["summary"].iloc[-1] == "closed: PaymentsQueueBacklog: 12k messages (note: partition 7 rebalanced)"
    assert list(events["event_id"].iloc[[0, 1, -1]]) == [
        f"opsgenie:{A4}:created", f"opsgenie:{A4}:Acknowledge:1710496991002455120", f"opsgenie:{A4}:closed"]
    incident = incidents[A4]
    assert incident["created_at"] == utc("2024-03-15T10:00:00.250Z")  # createdAt is epoch ms
    assert (incident["severity"], incident["status"], incident["commander"]) == ("SEV2", "closed", "tom.berg@example.com")
    assert (incident["team"], incident["service"]) == ("Payments", "payments-worker")
    assert {a["external_id"] for a in aliases} == {A4, "1810", "payments-queue-backlog"}


def test_webhooks_one_per_file_or_as_an_array_give_the_same_ids(fixtures: Path, tmp_path: Path) -> None:
    path = fixtures / "opsgenie" / "webhooks.jsonl"
    _, from_lines, _ = load(path)
    _, again, _ = load(path)
    assert list(from_lines["event_id"]) == list(again["event_id"])
    payloads = [json.loads(line) for line in path.read_text().splitlines()]
    array = tmp_path / "hooks.json"
    array.write_text(json.dumps(payloads, indent=2))
    assert list(load(array)[1]["event_id"]) == list(from_lines["event_id"])
    single = tmp_path / "close.json"
    single.write_text(json.dumps(payloads[-1], indent=4))
    assert list(load(single)[1]["event_id"]) == [f"opsgenie:{A4}:closed"]


def test_escalate_webhook_without_a_time_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "escalate.json"
    path.write_text(json.dumps({"escalationId": "51859f57", "integrationName": "Webhook",
                                "escalationNotify": {"name": "lee.chen@example.com", "entity": "user"},
                                "escalationName": "payments_escalation", "alert": {"alertId": A4},
                                "escalationTime": 0, "action": "Escalate", "repeatCount": 0}, indent=2))
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value) == f"{path}: $.alert.updatedAt: missing: the Escalate payload says not when it happened"


def test_severity_map_from_config(fixtures: Path) -> None:
    incidents, _, _ = load(fixtures / "opsgenie" / "alerts.json", config={"severity_map": {"P3": "SEV2"}})
    assert (incidents[A2]["severity"], incidents[A2]["severity_raw"]) == ("SEV2", "P3")
    assert incidents[A1]["severity"] == "SEV1"


@pytest.mark.parametrize("line, kind, target", [
    ("Alert created via API[Grafana]", "triggered", None),
    ("Alert is created by user bob@example.com", "triggered", None),
    ("Alert acknowledged via Slack", "acknowledged", None),
    ("Alert unacknowledged via web", "note", None),
    ("Alert UnAcknowledged by schedule", "note", None),
    ("Alert closed via web", "resolved", None),
    ("Closed by auto-close policy after 24h", "resolved", None),
    ("Alert escalated to [bob@example.com] via escalation [ops]", "escalated", "bob@example.com"),
    ("Ownership assigned to [carol@example.com]", "reassigned", "carol@example.com"),
    ("Added note: restarting pods", "note", None),
    ("Note added by bob: the alert was created by a bad deploy", "note", None),
    ("Sent [sms] notification to [bob@example.com]", "notified", "bob@example.com"),
    ("User [bob@example.com] notified via [email]", "notified", "bob@example.com"),
    ("Recipient [payments_secondary] added", "notified", "payments_secondary"),
    ("Priority of alert changed from [P3] to [P1]", "severity_changed", None),
    ("Viewed on [iOS]", "note", None),
    ("Something Opsgenie will say next year", "note", None),
])
def test_classify_log(line: str, kind: str, target: str | None) -> None:
    assert classify_log(line) == (kind, target)


@pytest.mark.parametrize("content, where", [
    ('{"data": [\n {"log": "Alert created", "createdAt": "2024-03-14T09:02:44.120Z",}\n]}', "line 2 column 66"),
    ('{"action": "Create", "alert": {"alertId": "x", "createdAt": 1710496800250}}\n'
     '{"action": "Close", "alert": {"alertId": }}\n', "line 2 column 42"),
])
def test_broken_json(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(InputError) as error:
        load(path, incident_id="INC-1")
    assert str(error.value).startswith(f"{path}: {where}: invalid JSON")
    assert "\n" not in str(error.value)


def test_wrong_formats_are_refused(fixtures: Path, tmp_path: Path) -> None:
    path = fixtures / "alertmanager" / "resolved_payload.json"
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value) == (f"{path}: $: looks like an Alertmanager webhook payload; expected an Opsgenie "
                                "alerts, alert logs or notes response ({data: [...]}) or an Opsgenie webhook "
                                "payload ({action, alert})")
    other = tmp_path / "users.json"
    other.write_text(json.dumps({"data": [{"id": "U1", "name": "bob", "real_name": "Bob"}], "took": 0.1}))
    with pytest.raises(InputError) as error:
        load(other)
    assert str(error.value).startswith(f"{other}: $.data[0]: looks like a Slack user; expected an Opsgenie")


def test_bad_times_name_the_field(tmp_path: Path, fixtures: Path) -> None:
    document = json.loads((fixtures / "opsgenie" / "alerts.json").read_text())
    document["data"][2]["report"]["ackTime"] = "95s"
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value) == f"{path}: $.data[2].report.ackTime: expected milliseconds after createdAt, found '95s'"
    document["data"][2]["report"]["ackTime"] = 95312
    document["data"][1]["createdAt"] = "yesterday"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value) == f"{path}: $.data[1].createdAt: not a timestamp: 'yesterday'"


def test_sniff(fixtures: Path) -> None:
    for path in sorted((fixtures / "opsgenie").iterdir()):
        assert LOADER.sniff(path, path.read_text()[:1024]), path
    for other in (fixtures / "alertmanager" / "receiver_log.jsonl", fixtures / "statuspage" / "incidents.json",
                  fixtures / "statuspage" / "summary.json"):
        assert not LOADER.sniff(other, other.read_text()[:4096]), other
    assert not LOADER.sniff(fixtures, '{"log_entries": [{"id": "R1", "type": "trigger_log_entry", '
                                      '"created_at": "2024-03-14T09:00:00Z"}], "offset": 0}')
    assert not LOADER.sniff(fixtures, '[{"type": "message", "user": "U1", "text": "note: created", "ts": "1.2"}]')
