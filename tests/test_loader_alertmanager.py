"""The Alertmanager loader: webhook payloads → alert_firing / alert_resolved, streamed."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.loaders import LoadContext, get_loader
from review_kit.loaders import _jsonstream
from review_kit.loaders._jsonstream import iter_documents

LOADER = get_loader("alertmanager")
CHECKOUT = "am-55666f92a860"  # "am-" + sha1('{}/{severity="critical"}:{alertname="CheckoutHighErrorRate"}')[:12]
GROUP_KEY = '{}/{severity="critical"}:{alertname="CheckoutHighErrorRate"}'
A, B = "3f2c9a1b7d4e5f60", "9d0e6b2a41c7f385"


def load(path: Path, **ctx) -> tuple[list[dict], pd.DataFrame, list[dict], int]:
    batches = list(LOADER.load(Path(path), LoadContext(**ctx)))
    incidents: dict[str, dict] = {}
    for batch in batches:
        for row in batch.incidents:
            incidents[row["incident_id"]] = row  # a later batch's row supersedes
    events = pd.concat([b.events for b in batches], ignore_index=True)
    aliases = [a for b in batches for a in b.aliases]
    return list(incidents.values()), events, aliases, len(batches)


@pytest.fixture
def receiver_log(fixtures: Path) -> Path:
    return fixtures / "alertmanager" / "receiver_log.jsonl"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def test_receiver_log_yields_one_event_per_alert_start_and_end(receiver_log: Path) -> None:
    incidents, events, aliases, _ = load(receiver_log)
    assert list(events["kind"]) == ["alert_firing", "alert_firing", "alert_firing",
                                    "alert_resolved", "alert_resolved"]
    assert list(events["incident_id"]) == [CHECKOUT, CHECKOUT, "INC-2041", CHECKOUT, CHECKOUT]
    # nanoseconds truncated (…118204569 → …118204, not rounded to …118205); offsets read
    assert list(events["at"]) == [utc("2024-03-14T09:02:13.118204Z"), utc("2024-03-14T09:03:43.5Z"),
                                  utc("2024-03-15T02:10:39.771023Z"), utc("2024-03-14T09:41:58.40212Z"),
                                  utc("2024-03-14T09:47:28.9Z")]
    assert str(events["at"].dtype) == "datetime64[us, UTC]"
    assert list(events["status"]) == ["firing", "firing", "firing", "resolved", "resolved"]
    assert list(events["event_id"]) == [
        f"alertmanager:{A}:2024-03-14T09:02:13.118204569Z:firing",
        f"alertmanager:{B}:2024-03-14T09:03:43.5Z:firing",
        "alertmanager:b71e0c4d9a2f8e36:2024-03-15T02:10:39.771023118+00:00:firing",
        f"alertmanager:{A}:2024-03-14T09:02:13.118204569Z:resolved",
        f"alertmanager:{B}:2024-03-14T09:03:43.5Z:resolved",
    ]
    assert events["summary"].iloc[0] == ("CheckoutHighErrorRate: Checkout 5xx ratio above 5% — "
                                         "5xx ratio on 10.0.3.17:8080 is 7.2% over 5m")
    assert events["summary"].iloc[2] == ("DiskFillingUp: Disk /var/lib/postgresql on db-replica-2 "
                                         "will fill within 4h")
    raw = json.loads(events["raw"].iloc[1])
    assert raw["labels"]["instance"] == "10.0.3.18:8080"
    assert raw["annotations"]["runbook_url"] == "https://runbooks.example.net/checkout/high-error-rate"
    assert raw["groupKey"] == GROUP_KEY and raw["receiver"] == "payments-pager"
    assert set(events["visibility"]) == {"internal"}
    assert events["actor"].isna().all()

    by_id = {row["incident_id"]: row for row in incidents}
    checkout = by_id[CHECKOUT]
    assert checkout["title"] == "Checkout 5xx ratio above 5%"
    assert (checkout["severity"], checkout["severity_raw"]) == ("SEV1", "critical")
    assert (checkout["service"], checkout["team"]) == ("checkout", "payments")
    assert checkout["status"] == "resolved"  # the last notification's status
    assert checkout["created_at"] == utc("2024-03-14T09:02:13.118204Z")
    assert (checkout["source"], checkout["source_id"]) == ("alertmanager", GROUP_KEY)
    assert checkout["url"] == "http://alertmanager-0.prod.example.net:9093"
    disk = by_id["INC-2041"]  # named by its `incident` label
    assert (disk["severity"], disk["severity_raw"], disk["service"]) == ("SEV3", "warning", "node-exporter")
    assert disk["status"] == "firing"
    assert {(a["incident_id"], a["external_id"]) for a in aliases} == {
        (CHECKOUT, CHECKOUT), (CHECKOUT, GROUP_KEY), ("INC-2041", "INC-2041")}


def test_repeated_notifications_and_reloads_give_the_same_ids(receiver_log: Path, tmp_path: Path) -> None:
    _, first, _, _ = load(receiver_log)
    _, second, _, _ = load(receiver_log)
    assert first["event_id"].is_unique
    assert list(first["event_id"]) == list(second["event_id"])
    # The same payloads as one JSON array, and one payload per file, give the same ids.
    payloads = [json.loads(line) for line in receiver_log.read_text().splitlines() if line.strip()]
    array = tmp_path / "payloads.json"
    array.write_text(json.dumps(payloads, indent=2))
    _, from_array, _, _ = load(array)
    assert list(from_array["event_id"]) == list(first["event_id"])
    ids = set()
    for i, payload in enumerate(payloads):
        single = tmp_path / f"payload_{i}.json"
        single.write_text(json.dumps(payload, indent=4))
        ids |= set(load(single)[1]["event_id"])
    assert ids == set(first["event_id"])


def test_resolved_payload_alone_still_tells_when_each_alert_started(fixtures: Path) -> None:
    _, events, _, _ = load(fixtures / "alertmanager" / "resolved_payload.json")
    assert sorted(zip(events["kind"], events["at"])) == [
        ("alert_firing", utc("2024-03-14T09:02:13.118204Z")),
        ("alert_firing", utc("2024-03-14T09:03:43.5Z")),
        ("alert_resolved", utc("2024-03-14T09:41:58.40212Z")),
        ("alert_resolved", utc("2024-03-14T09:47:28.9Z")),
    ]


def test_go_zero_end_time_on_a_resolved_alert_means_unset(tmp_path: Path, fixtures: Path) -> None:
    payload = json.loads((fixtures / "alertmanager" / "resolved_payload.json").read_text())
    payload["alerts"][0]["endsAt"] = "0001-01-01T00:00:00Z"
    path = tmp_path / "am.json"
    path.write_text(json.dumps(payload))
    _, events, _, _ = load(path)
    assert list(events["kind"]).count("alert_resolved") == 1
    assert events.loc[events["kind"] == "alert_resolved", "event_id"].iloc[0].startswith(f"alertmanager:{B}:")


def test_incident_option_puts_every_alert_in_that_incident(receiver_log: Path) -> None:
    incidents, events, aliases, _ = load(receiver_log, incident_id="INC-77")
    assert set(events["incident_id"]) == {"INC-77"}
    assert [row["incident_id"] for row in incidents] == ["INC-77"]
    assert {(a["incident_id"], a["external_id"]) for a in aliases} == {
        ("INC-77", CHECKOUT), ("INC-77", GROUP_KEY), ("INC-77", "INC-2041")}
    # one incident, so the most severe alert decides its severity
    assert incidents[0]["severity"] == "SEV1"


def test_config_names_the_incident_label_and_overrides_severities(receiver_log: Path) -> None:
    incidents, events, _, _ = load(receiver_log, config={"incident_label": "team",
                                                         "severity_map": {"warning": "sev2"}})
    assert list(events["incident_id"]) == ["payments", "payments", "am-4acc1b238964",
                                           "payments", "payments"]
    by_id = {row["incident_id"]: row for row in incidents}
    assert by_id["payments"]["title"] == "Checkout 5xx ratio above 5%"
    assert (by_id["am-4acc1b238964"]["severity"], by_id["am-4acc1b238964"]["severity_raw"]) == ("SEV2", "warning")


def test_bad_severity_map_in_config_is_refused(receiver_log: Path) -> None:
    with pytest.raises(InputError, match=r"alertmanager\.severity_map\.warning: 'urgent' is not one of"):
        load(receiver_log, config={"severity_map": {"warning": "urgent"}})


def test_big_logs_come_in_bounded_batches(receiver_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, whole, _, whole_batches = load(receiver_log)
    monkeypatch.setattr(_jsonstream, "BATCH_EVENTS", 2)
    incidents, events, _, batches = load(receiver_log)
    assert whole_batches == 1 and batches == 3
    assert list(events["event_id"]) == list(whole["event_id"])
    assert {row["incident_id"]: row["status"] for row in incidents} == {CHECKOUT: "resolved",
                                                                       "INC-2041": "firing"}


def test_json_lines_are_read_one_line_at_a_time(tmp_path: Path, receiver_log: Path) -> None:
    lines = [line for line in receiver_log.read_text().splitlines() if line.strip()]
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines[:2] + ['{"receiver": "payments-pager", "alerts": [}'] + lines[2:]))
    documents = iter_documents(path)
    assert next(documents)[0] == "line 1"
    assert next(documents)[0] == "line 2"  # yielded before the broken line 3 is read
    with pytest.raises(InputError) as error:
        next(documents)
    assert str(error.value) == f"{path}: line 3 column 43: invalid JSON: unexpected character, expected a JSON value"


@pytest.mark.parametrize("content, where", [
    ('{"receiver": "x", "alerts": [\n  {"status": "firing",\n  "labels": }\n]}', "line 3 column 13"),
    ('{"receiver": "x", "alerts": []}\n{"receiver": "x", "alerts": [}\n', "line 2 column 30"),
    ('{"receiver": "x", "alerts": [}\n{"receiver": "x", "alerts": []}\n', "line 1 column 30"),
])
def test_broken_json_is_one_line_naming_the_place(tmp_path: Path, content: str, where: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(InputError) as error:
        load(path)
    message = str(error.value)
    assert message.startswith(f"{path}: {where}: invalid JSON")
    assert "\n" not in message


def test_wrong_format_says_what_the_file_looks_like(fixtures: Path) -> None:
    path = fixtures / "statuspage" / "incidents.json"
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value) == (f"{path}: $: looks like a Statuspage response or webhook; expected an "
                                "Alertmanager webhook payload (version 4: receiver, groupKey, alerts[])")


@pytest.mark.parametrize("document, message", [
    ({"event": {"event_type": "incident.triggered", "data": {}}},
     "$: looks like a PagerDuty webhook (v3) payload; expected an Alertmanager"),
    ([{"type": "message", "ts": "1516454398.000069", "user": "U061A1R2R", "text": "hi"}],
     "$[0]: looks like a Slack message; expected an Alertmanager"),
    ({"incidents": [{"id": "PT4KHLK", "incident_number": 1234, "title": "Checkout 5xx"}], "more": False},
     "$: looks like a PagerDuty incidents response; expected an Alertmanager"),
])
def test_other_sources_are_refused(tmp_path: Path, document, message: str) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value).startswith(f"{path}: {message}")


def test_missing_or_unreadable_alert_times_name_the_alert(tmp_path: Path, fixtures: Path) -> None:
    payload = json.loads((fixtures / "alertmanager" / "resolved_payload.json").read_text())
    lines = [dict(payload), dict(payload, alerts=[dict(payload["alerts"][0], startsAt=None)])]
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value) == f"{path}: line 2 $.alerts[0].startsAt: missing"
    lines[1]["alerts"] = [dict(payload["alerts"][0], startsAt="2024-03-14 09:02:13", fingerprint="ff")]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    with pytest.raises(InputError) as error:
        load(path)
    assert str(error.value).startswith(f"{path}: line 2 $.alerts[0].startsAt: timestamp '2024-03-14 09:02:13' has no time zone")
    _, events, _, _ = load(path, tz="Europe/Berlin")  # named zone: 10:02:13 CET is 09:02:13 UTC
    assert utc("2024-03-14T08:02:13Z") in set(events["at"])


def test_sniff_knows_its_own_payloads_only(receiver_log: Path, fixtures: Path) -> None:
    assert LOADER.sniff(receiver_log, receiver_log.read_text()[:1024])
    assert LOADER.sniff(receiver_log, (fixtures / "alertmanager" / "resolved_payload.json").read_text()[:300])
    for other in [fixtures / "statuspage" / "incidents.json", fixtures / "opsgenie" / "webhooks.jsonl",
                  fixtures / "opsgenie" / "alerts.json"]:
        assert not LOADER.sniff(other, other.read_text()[:4096]), other
    assert not LOADER.sniff(receiver_log, '{"incidents": [{"id": "PT4KHLK", "incident_number": 1}]}')
    assert not LOADER.sniff(receiver_log, "receiver,alerts\nx,y\n")
