"""The PagerDuty loader against hand-written REST API v2 and Webhooks v3 fixtures."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.loaders import LoadContext, get_loader
from review_kit.loaders.pagerduty import LOADER, LOG_ENTRY_KINDS
from review_kit.model import EVENT_COLUMNS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pagerduty"
INCIDENTS = FIXTURES / "incidents.json"
LOG_PAGES = FIXTURES / "log_entries_PT4KHLK.json"
ACCOUNT_LOG = FIXTURES / "log_entries_account.jsonl"
WEBHOOKS = FIXTURES / "webhooks_v3.jsonl"
NOTES = FIXTURES / "notes_PT4KHLK.json"

# FORMATS.md: every log entry type PagerDuty documents, and the kind each must become.
DOCUMENTED_TYPES = {
    "trigger_log_entry": "triggered",
    "acknowledge_log_entry": "acknowledged",
    "acknowledgement_log_entry": "acknowledged",
    "annotate_log_entry": "note",
    "assign_log_entry": "reassigned",          # by a person; see the routing test below
    "delegate_log_entry": "reassigned",
    "escalate_log_entry": "escalated",
    "exhaust_escalation_path_log_entry": "note",
    "notify_log_entry": "notified",
    "reach_ack_limit_log_entry": "note",
    "reach_trigger_limit_log_entry": "note",
    "repeat_escalation_path_log_entry": "escalated",
    "resolve_log_entry": "resolved",
    "snooze_log_entry": "note",
    "unacknowledge_log_entry": "note",
    "urgency_change_log_entry": "severity_changed",
    "field_value_change_log_entry": "note",
    "custom_field_value_change_log_entry": "note",
}

# The PT4KHLK log in true order, as hand-read from the fixture (UTC, kind, log entry type).
PT4KHLK_TRUE_ORDER = [
    ("2024-06-11T14:02:11Z", "triggered", "trigger_log_entry"),
    ("2024-06-11T14:02:11Z", "notified", "assign_log_entry"),
    ("2024-06-11T14:02:11Z", "notified", "notify_log_entry"),
    ("2024-06-11T14:07:11Z", "escalated", "escalate_log_entry"),
    ("2024-06-11T14:07:11Z", "notified", "notify_log_entry"),
    ("2024-06-11T14:09:40Z", "acknowledged", "acknowledge_log_entry"),
    ("2024-06-11T14:12:03Z", "note", "annotate_log_entry"),
    ("2024-06-11T14:12:03Z", "severity_changed", "urgency_change_log_entry"),
    ("2024-06-11T14:12:03Z", "severity_changed", "priority_change_log_entry"),
    ("2024-06-11T14:15:30Z", "reassigned", "delegate_log_entry"),
    ("2024-06-11T14:15:30Z", "notified", "notify_log_entry"),
    ("2024-06-11T14:18:00Z", "reassigned", "assign_log_entry"),
    ("2024-06-11T14:20:00Z", "note", "snooze_log_entry"),
    ("2024-06-11T14:24:00Z", "note", "field_value_change_log_entry"),
    ("2024-06-11T14:24:00Z", "note", "custom_field_value_change_log_entry"),
    ("2024-06-11T14:30:00Z", "note", "unacknowledge_log_entry"),
    ("2024-06-11T14:30:00Z", "note", "reach_ack_limit_log_entry"),
    ("2024-06-11T14:36:00Z", "escalated", "repeat_escalation_path_log_entry"),
    ("2024-06-11T14:40:00Z", "note", "reach_trigger_limit_log_entry"),
    ("2024-06-11T14:46:00Z", "note", "exhaust_escalation_path_log_entry"),
    ("2024-06-11T14:48:12Z", "acknowledged", "acknowledgement_log_entry"),
    ("2024-06-11T14:48:12Z", "note", "responder_request_log_entry"),
    ("2024-06-11T14:55:00Z", "resolved", "resolve_log_entry"),
]


def load(path: Path, **ctx):
    batches = list(LOADER.load(path, LoadContext(**ctx)))
    assert len(batches) == 1
    return batches[0]


def in_true_order(events: pd.DataFrame) -> pd.DataFrame:
    return events.sort_values(["incident_id", "at", "seq"], kind="stable").reset_index(drop=True)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def raw_types(events: pd.DataFrame) -> list[str]:
    return [json.loads(r)["type"] for r in events["raw"]]


def write(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def entry(entry_type: str, **fields) -> dict:
    base = {"id": f"Q{entry_type[:10].upper()}", "type": entry_type, "summary": entry_type,
            "created_at": "2024-06-11T14:00:00Z",
            "incident": {"id": "PT4KHLK", "type": "incident_reference", "summary": "[#1234] Checkout"}}
    base.update(fields)
    return base


# --- registry and sniffing ----------------------------------------------------------------------
def test_registered_under_pagerduty():
    assert get_loader("pagerduty") is LOADER


@pytest.mark.parametrize("path", [INCIDENTS, LOG_PAGES, ACCOUNT_LOG, WEBHOOKS, NOTES])
def test_sniff_recognises_every_fixture(path):
    assert LOADER.sniff(path, path.read_text()[:2048])


@pytest.mark.parametrize("head", [
    '{"page": {"id": "kctbh9vrtdwd", "name": "GitHub"}, "incidents": [{"id": "x", "name": "Degraded"',
    '{"incidents": [{"id": "01FDAG4SAP5TYPT98WGR2N7W91", "reference": "INC-1", "name": "Test"',
    '[{"type": "message", "text": "see https://acme.pagerduty.com/incidents/PT4KHLK", "ts": "1.2"}]',
    "incident_id,at,kind,actor,summary\nINC-1,2024-06-11T14:00:00Z,note,,\"_log_entry\"",
])
def test_sniff_rejects_other_formats(head):
    assert not LOADER.sniff(Path("x.json"), head)


# --- GET /incidents -----------------------------------------------------------------------------
def test_incidents_response_maps_every_field():
    batch = load(INCIDENTS)
    rows = {row["incident_id"]: row for row in batch.incidents}
    assert list(rows) == ["PT4KHLK", "Q2K8SO0F7FE5NB", "PX8D2KQ"]
    assert rows["PT4KHLK"] == {
        "incident_id": "PT4KHLK", "title": "Checkout API 5xx rate above 5%",
        "severity": "SEV1", "severity_raw": "P1", "status": "resolved",
        "service": "Checkout API", "team": "Payments Platform", "source": "pagerduty",
        "source_id": "PT4KHLK", "url": "https://acme.pagerduty.com/incidents/PT4KHLK",
        # 10:02:11-04:00 (exported with time_zone=America/New_York)
        "created_at": pd.Timestamp("2024-06-11T14:02:11Z"),
    }
    assert str(rows["PT4KHLK"]["created_at"].tz) == "UTC"
    assert batch.events.empty and list(batch.events.columns) == list(EVENT_COLUMNS)


def test_severity_from_priority_else_urgency():
    rows = {row["incident_id"]: row for row in load(INCIDENTS).incidents}
    assert (rows["PT4KHLK"]["severity"], rows["PT4KHLK"]["severity_raw"]) == ("SEV1", "P1")
    assert (rows["Q2K8SO0F7FE5NB"]["severity"], rows["Q2K8SO0F7FE5NB"]["severity_raw"]) == \
        ("SEV2", "urgency:high")
    assert (rows["PX8D2KQ"]["severity"], rows["PX8D2KQ"]["severity_raw"]) == ("SEV4", "urgency:low")
    assert "team" not in rows["Q2K8SO0F7FE5NB"] or rows["Q2K8SO0F7FE5NB"]["team"] is None


def test_severity_map_in_config_overrides_defaults():
    config = {"severity_map": {"P1": "SEV2", "urgency:low": "SEV5"}}
    rows = {row["incident_id"]: row for row in load(INCIDENTS, config=config).incidents}
    assert rows["PT4KHLK"]["severity"] == "SEV2" and rows["PT4KHLK"]["severity_raw"] == "P1"
    assert rows["PX8D2KQ"]["severity"] == "SEV5"
    assert rows["Q2K8SO0F7FE5NB"]["severity"] == "SEV2"   # default kept where not overridden


def test_incident_aliases_are_id_number_and_key():
    aliases = {(a["incident_id"], a["external_id"]) for a in load(INCIDENTS).aliases}
    assert aliases == {
        ("PT4KHLK", "PT4KHLK"), ("PT4KHLK", "1234"), ("PT4KHLK", "checkout-api/5xx-rate"),
        ("Q2K8SO0F7FE5NB", "Q2K8SO0F7FE5NB"), ("Q2K8SO0F7FE5NB", "1240"),
        ("PX8D2KQ", "PX8D2KQ"), ("PX8D2KQ", "1241"), ("PX8D2KQ", "batch/invoice-export"),
    }
    assert all(a["source"] == "pagerduty" for a in load(INCIDENTS).aliases)


# --- GET /incidents/{id}/log_entries ------------------------------------------------------------
def test_log_pages_newest_first_come_out_in_true_order():
    events = in_true_order(load(LOG_PAGES).events)
    assert len(events) == 23
    assert raw_types(events) == [t for _, _, t in PT4KHLK_TRUE_ORDER]
    assert events["kind"].tolist() == [k for _, k, _ in PT4KHLK_TRUE_ORDER]
    # The file is newest first across both pages, so true order is exactly the file reversed.
    file_order = [e["id"] for page in json.loads(LOG_PAGES.read_text()) for e in page["log_entries"]]
    assert events["event_id"].tolist() == [f"pagerduty:{i}" for i in reversed(file_order)]


def test_ties_within_one_second_keep_true_order_across_a_page_boundary():
    events = in_true_order(load(LOG_PAGES).events)
    # 14:12:03 holds three entries: two on page 2 (offset 15), the newest on page 1.
    second = events[events["at"] == utc("2024-06-11T14:12:03Z")]
    assert raw_types(second) == ["annotate_log_entry", "urgency_change_log_entry",
                                 "priority_change_log_entry"]
    first = events[events["at"] == utc("2024-06-11T14:02:11Z")]
    assert first["kind"].tolist() == ["triggered", "notified", "notified"]
    assert events["seq"].is_monotonic_increasing


def test_mixed_offsets_become_utc():
    pages = json.loads(LOG_PAGES.read_text())
    assert pages[0]["log_entries"][0]["created_at"] == "2024-06-11T10:55:00-04:00"
    assert pages[1]["log_entries"][-1]["created_at"] == "2024-06-11T14:02:11Z"
    events = in_true_order(load(LOG_PAGES).events)
    assert str(events["at"].dt.tz) == "UTC"
    assert events["at"].tolist() == [utc(at) for at, _, _ in PT4KHLK_TRUE_ORDER]


def test_pages_saved_in_separate_files_order_like_one_file(tmp_path):
    pages = json.loads(LOG_PAGES.read_text())
    first = write(tmp_path, "page1.json", pages[0])
    second = write(tmp_path, "page2.json", pages[1])
    together = pd.concat([load(first).events, load(second).events], ignore_index=True)
    assert in_true_order(together)["event_id"].tolist() == \
        in_true_order(load(LOG_PAGES).events)["event_id"].tolist()


def test_a_file_sorted_oldest_first_keeps_its_order(tmp_path):
    entries = [e for page in json.loads(LOG_PAGES.read_text()) for e in page["log_entries"]]
    path = write(tmp_path, "ascending.json", {"log_entries": entries[::-1], "limit": 100,
                                              "offset": 0, "more": False})
    assert in_true_order(load(path).events)["event_id"].tolist() == \
        in_true_order(load(LOG_PAGES).events)["event_id"].tolist()


def test_fixture_covers_every_documented_type():
    assert set(DOCUMENTED_TYPES) <= set(raw_types(load(LOG_PAGES).events))


@pytest.mark.parametrize("entry_type,kind", sorted(DOCUMENTED_TYPES.items()))
def test_every_documented_type_is_mapped(tmp_path, entry_type, kind):
    agent = {"id": "PB0BOK4", "type": "user_reference", "summary": "Bob Okafor"}
    path = write(tmp_path, "one.json", {"log_entries": [entry(entry_type, agent=agent)]})
    events = load(path).events
    assert events["kind"].tolist() == [kind]
    assert LOG_ENTRY_KINDS[entry_type] == kind


@pytest.mark.parametrize("entry_type", ["responder_request_log_entry", "incident_workflow_log_entry"])
def test_unknown_types_become_notes_and_are_never_dropped(tmp_path, entry_type):
    path = write(tmp_path, "new.json", {"log_entries": [entry(entry_type, summary="Something new")]})
    events = load(path).events
    assert events[["kind", "summary"]].values.tolist() == [["note", "Something new"]]


def test_log_entry_fields():
    events = in_true_order(load(LOG_PAGES).events)
    # Types that occur once; notify and assign have tests of their own.
    rows = {t: events.iloc[i] for i, t in enumerate(raw_types(events))
            if t not in ("notify_log_entry", "assign_log_entry")}
    trigger = rows["trigger_log_entry"]
    assert (trigger["actor"], trigger["actor_type"], trigger["summary"]) == \
        ("Datadog", "service", "Triggered through the API.")
    assert trigger["event_id"] == "pagerduty:RM3YKW8GAB6N1LDPQUZI7FORE0"
    assert json.loads(trigger["raw"])["channel"]["incident_key"] == "checkout-api/5xx-rate"
    ack = rows["acknowledge_log_entry"]
    assert (ack["actor"], ack["actor_type"], ack["target"]) == ("Bob Okafor", "person", None)
    note = rows["annotate_log_entry"]
    assert note["summary"] == "Rolled back checkout-api to v2.14.2; 5xx rate falling."
    assert rows["escalate_log_entry"][["actor", "target"]].tolist() == [None, "Bob Okafor"]
    assert rows["delegate_log_entry"][["actor", "target"]].tolist() == ["Bob Okafor", "Chen Wei"]
    assert rows["repeat_escalation_path_log_entry"][["actor_type", "target"]].tolist() == \
        ["service", "Alice Moreau"]
    for machine in ("exhaust_escalation_path_log_entry", "reach_ack_limit_log_entry",
                    "reach_trigger_limit_log_entry"):
        assert rows[machine]["actor_type"] == "service"
    assert rows["urgency_change_log_entry"]["summary"] == "Urgency changed from low to high by Bob Okafor."
    assert set(events["visibility"]) == {"internal"} and set(events["source"]) == {"pagerduty"}


def test_notify_has_target_and_no_actor():
    events = in_true_order(load(LOG_PAGES).events)
    notify = events[[t == "notify_log_entry" for t in raw_types(events)]]
    assert notify["target"].tolist() == ["Alice Moreau", "Bob Okafor", "Chen Wei"]
    assert notify["actor"].isna().all() and notify["actor_type"].isna().all()


def test_assign_by_a_person_is_a_handoff_but_routing_a_new_incident_is_not():
    events = in_true_order(load(LOG_PAGES).events)
    assign = events[[t == "assign_log_entry" for t in raw_types(events)]]
    assert assign[["kind", "actor", "actor_type", "target"]].values.tolist() == [
        ["notified", "Checkout API", "service", "Alice Moreau"],
        ["reassigned", "Chen Wei", "person", "Dana Ruiz"],
    ]


def test_log_entries_alone_create_their_incident():
    batch = load(LOG_PAGES)
    assert batch.incidents == [{
        "incident_id": "PT4KHLK", "source": "pagerduty", "source_id": "PT4KHLK",
        "title": "Checkout API 5xx rate above 5%",     # "[#1234] " taken off the reference
        "url": "https://acme.pagerduty.com/incidents/PT4KHLK",
        "service": "Checkout API", "team": "Payments Platform",
    }]
    assert {a["external_id"] for a in batch.aliases} == {"PT4KHLK", "1234"}


def test_account_log_spans_incidents_and_offsets():
    batch = load(ACCOUNT_LOG)
    events = in_true_order(batch.events)
    by_incident = {k: g for k, g in events.groupby("incident_id")}
    backlog = by_incident["Q1R7LC3UBNQ4MV"]
    # Written as +05:30 (time_zone=Asia/Kolkata); 14:00:00+05:30 is 08:30:00Z.
    assert backlog["at"].tolist() == [utc("2024-06-12T08:30:00Z"), utc("2024-06-12T08:30:00Z"),
                                      utc("2024-06-12T08:33:20Z"), utc("2024-06-12T08:51:09Z")]
    assert backlog["kind"].tolist() == ["triggered", "notified", "acknowledged", "resolved"]
    assert by_incident["Q2K8SO0F7FE5NB"]["kind"].tolist() == ["triggered", "notified", "acknowledged"]
    incidents = {row["incident_id"]: row for row in batch.incidents}
    assert incidents["Q1R7LC3UBNQ4MV"]["title"] == "Payments webhook queue backlog"
    assert incidents["Q1R7LC3UBNQ4MV"]["service"] == "Payments Webhooks"
    assert "severity" not in incidents["Q1R7LC3UBNQ4MV"]   # unknown, so not claimed


def test_incident_objects_win_over_what_log_entries_tell(tmp_path):
    lines = [json.dumps(json.loads(LOG_PAGES.read_text())[1]), json.dumps(json.loads(INCIDENTS.read_text()))]
    path = write(tmp_path, "mixed.jsonl", "\n".join(lines) + "\n")
    rows = {row["incident_id"]: row for row in load(path).incidents}
    assert rows["PT4KHLK"]["severity"] == "SEV1" and rows["PT4KHLK"]["status"] == "resolved"
    assert rows["PT4KHLK"]["title"] == "Checkout API 5xx rate above 5%"
    assert len(rows) == 3


def test_one_file_may_mix_responses_and_webhooks(tmp_path):
    notes = {"incident_id": "PT4KHLK", **json.loads(NOTES.read_text())}
    lines = [json.dumps(p) for p in json.loads(LOG_PAGES.read_text())] + \
        WEBHOOKS.read_text().splitlines()[:3] + [json.dumps(notes)]
    batch = load(write(tmp_path, "mixed.jsonl", "\n".join(lines)))
    assert batch.events.groupby("incident_id").size().to_dict() == {"PT4KHLK": 25, "Q0RIJJZL24RC6W": 3}
    assert list(batch.events.columns) == list(EVENT_COLUMNS)
    assert str(batch.events["at"].dtype) == "datetime64[us, UTC]" and batch.events["seq"].dtype == "int64"
    assert {row["incident_id"] for row in batch.incidents} == {"PT4KHLK", "Q0RIJJZL24RC6W"}


def test_log_entries_fetched_with_included_incidents(tmp_path):
    incident = json.loads(INCIDENTS.read_text())["incidents"][1]
    page = {"log_entries": [entry("trigger_log_entry", incident=incident)], "limit": 100, "offset": 0}
    batch = load(write(tmp_path, "included.json", page))
    assert batch.events["incident_id"].tolist() == ["Q2K8SO0F7FE5NB"]
    assert batch.incidents[0]["severity"] == "SEV2" and batch.incidents[0]["status"] == "acknowledged"


def test_event_ids_are_stable_and_unique():
    first, second = load(LOG_PAGES).events, load(LOG_PAGES).events
    assert first["event_id"].tolist() == second["event_id"].tolist()
    assert first["event_id"].is_unique
    pd.testing.assert_frame_equal(first, second)


def test_incident_option_puts_everything_in_that_incident():
    batch = load(LOG_PAGES, incident_id="INC-42")
    assert set(batch.events["incident_id"]) == {"INC-42"}
    assert [row["incident_id"] for row in batch.incidents] == ["INC-42"]
    assert batch.incidents[0]["source_id"] == "PT4KHLK"
    assert {(a["incident_id"], a["external_id"]) for a in batch.aliases} == \
        {("INC-42", "PT4KHLK"), ("INC-42", "1234")}


# --- notes ----------------------------------------------------------------------------------------
def test_notes_need_an_incident():
    with pytest.raises(InputError) as caught:
        load(NOTES)
    assert str(caught.value).startswith(f"{NOTES}: $.notes: ")
    assert "--incident" in str(caught.value)


def test_notes_with_incident_option():
    events = load(NOTES, incident_id="PT4KHLK").events
    assert events[["event_id", "kind", "actor", "actor_type"]].values.tolist() == [
        ["pagerduty:note:PWL7QXS", "note", "Bob Okafor", "person"],
        ["pagerduty:note:PQ8NQ3C", "note", "Dana Ruiz", "person"],
    ]
    assert events["at"].tolist() == [utc("2024-06-11T14:12:03Z"), utc("2024-06-11T14:52:30Z")]
    assert events["summary"].iloc[1] == "Root cause: connection pool exhausted after the 14:00 config push."


def test_notes_wrapped_with_their_incident_id(tmp_path):
    wrapped = {"incident_id": "PT4KHLK", **json.loads(NOTES.read_text())}
    batch = load(write(tmp_path, "notes.json", wrapped))
    assert set(batch.events["incident_id"]) == {"PT4KHLK"}
    assert [row["incident_id"] for row in batch.incidents] == ["PT4KHLK"]


# --- webhooks v3 ----------------------------------------------------------------------------------
WEBHOOK_KINDS_IN_FILE_ORDER = [
    "triggered", "acknowledged", "responder_joined", "note", "stakeholder_update",
    "severity_changed", "escalated", "reassigned", "reassigned", "note", "note", "note", "note",
    "note", "resolved", "resolved", "reopened",
]


def test_webhook_log_kinds_and_skips():
    events = load(WEBHOOKS).events
    # 19 deliveries: service.updated and pagey.ping are about no incident.
    assert events["kind"].tolist() == WEBHOOK_KINDS_IN_FILE_ORDER
    assert set(events["incident_id"]) == {"Q0RIJJZL24RC6W"}
    assert in_true_order(events)["kind"].tolist()[-3:] == ["resolved", "reopened", "resolved"]


def test_webhook_fields():
    events = load(WEBHOOKS).events.set_index("event_id")
    triggered = events.loc["pagerduty:01J1VZ3M5Q0T8F7R2K9C4XN6BD"]
    assert triggered["at"] == pd.Timestamp("2024-07-02T09:14:03.311Z")   # milliseconds kept
    assert triggered["summary"] == "Triggered: Login errors for EU users"
    added = events.loc["pagerduty:01J1VZ4Q2B9D6M3T8W1C5ZK0XF"]
    assert added[["actor", "actor_type", "target"]].tolist() == ["Marco Bianchi", "person", "Marco Bianchi"]
    # The note's own id, so the same note exported by GET /incidents/{id}/notes is one event.
    note = events.loc["pagerduty:note:PNOTE77"]
    assert note[["kind", "actor", "summary"]].tolist() == \
        ["note", "Priya Nair", "Token service returning 503 in eu-west-1."]
    update = events.loc["pagerduty:01J1VZHD3X8K5N2Q7T0W4B9MCE"]
    assert update["summary"] == "We are investigating failed logins for customers in the EU."
    assert events.loc["pagerduty:01J1VZK2P6F9B4W1M8R3X7TNDQ", "summary"] == "Priority changed to P2 by Priya Nair"
    assert events.loc["pagerduty:01J1VZS5G0Y3N8D2V6K9Q1HBWM", "target"] == "Marco Bianchi"
    assert events.loc["pagerduty:01J1W00T4R7C2K9X5B1N8FMQZD", "target"] == "Sven Larsen"
    assert events.loc["pagerduty:01J1W0BE8M1V6Q3Z9T4D7KXRNC", "target"] == "Identity Platform Escalation"
    unack = events.loc["pagerduty:01J1W0JX9B5T2F8M4Q1K7VCZRN"]
    assert unack[["actor", "actor_type"]].tolist() == [None, None]
    assert events.loc["pagerduty:01J1W0Q3T7M2R9C4X1B6KZNWDV", "summary"] == \
        "Custom fields updated: region=eu-west-1 by Sven Larsen"
    assert json.loads(triggered["raw"])["event"]["event_type"] == "incident.triggered"


def test_webhook_incident_row_is_the_latest_state():
    batch = load(WEBHOOKS)
    assert batch.incidents == [{
        "incident_id": "Q0RIJJZL24RC6W", "source": "pagerduty", "source_id": "Q0RIJJZL24RC6W",
        "title": "Login errors for EU users", "url": "https://acme.pagerduty.com/incidents/Q0RIJJZL24RC6W",
        # the reopen was delivered last but happened before the final resolve
        "status": "resolved", "severity": "SEV2", "severity_raw": "P2",
        "service": "Identity Platform", "team": "Identity",
        "created_at": pd.Timestamp("2024-07-02T09:14:03Z"),
    }]
    assert {a["external_id"] for a in batch.aliases} == \
        {"Q0RIJJZL24RC6W", "1311", "identity/login-errors-eu"}


# --- bad input ------------------------------------------------------------------------------------
def test_truncated_json_names_file_and_place(tmp_path):
    text = INCIDENTS.read_text()
    path = write(tmp_path, "truncated.json", text[: len(text) // 2])
    with pytest.raises(InputError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: line ")
    assert "invalid JSON" in message


def test_malformed_json_line_names_its_line(tmp_path):
    lines = WEBHOOKS.read_text().splitlines()
    lines[2] = lines[2][:40]
    path = write(tmp_path, "hooks.jsonl", "\n".join(lines))
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: line 3 column ")


def zone_less(tmp_path: Path) -> Path:
    pages = json.loads(LOG_PAGES.read_text())
    assert pages[1]["log_entries"][2]["type"] == "acknowledge_log_entry"
    pages[1]["log_entries"][2]["created_at"] = "2024-06-11T10:09:40"
    return write(tmp_path, "zoneless.json", pages)


def test_zone_less_timestamp_without_tz_is_an_error(tmp_path):
    path = zone_less(tmp_path)
    with pytest.raises(InputError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: $[1].log_entries[2].created_at: ")
    assert "no time zone" in message and "--tz" in message


def test_zone_less_timestamp_with_tz_is_read_in_that_zone(tmp_path):
    events = load(zone_less(tmp_path), tz="America/New_York").events
    ack = events[events["event_id"] == "pagerduty:RH2HF6ZLD9QWCB4XJRYE0MU7AT"]
    assert ack["kind"].tolist() == ["acknowledged"]
    assert ack["at"].tolist() == [utc("2024-06-11T14:09:40Z")]   # EDT is UTC-4 in June


def test_bad_timestamp_in_a_webhook_line(tmp_path):
    lines = WEBHOOKS.read_text().splitlines()
    event = json.loads(lines[1])
    event["event"]["occurred_at"] = "yesterday"
    lines[1] = json.dumps(event)
    path = write(tmp_path, "hooks.jsonl", "\n".join(lines))
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: line 2: $.event.occurred_at: not a timestamp")


@pytest.mark.parametrize("document,where,problem", [
    ({"log_entries": [{"id": "Q1", "type": "trigger_log_entry", "created_at": "2024-06-11T14:00:00Z"}]},
     "$.log_entries[0].incident", "missing"),
    ({"log_entries": [{"id": "Q1", "created_at": "2024-06-11T14:00:00Z"}]},
     "$.log_entries[0].type", "missing"),
    ({"incidents": [{"title": "no id"}]}, "$.incidents[0].id", "missing"),
    ({"incidents": [{"id": "P1", "created_at": "2024-06-11 14:00"}]}, "$.incidents[0].created_at",
     "no time zone"),
    ({"error": {"message": "Invalid Input Provided", "code": 2001}}, "$.error", "Invalid Input Provided"),
    ({"status": "ok"}, "$", "not a PagerDuty API response"),
    ([1, 2], "$[0]", "expected a PagerDuty response object"),
])
def test_bad_documents_say_where(tmp_path, document, where, problem):
    path = write(tmp_path, "bad.json", document)
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: {where}: ")
    assert problem in str(caught.value)


# --- streaming ------------------------------------------------------------------------------------
def test_a_big_file_comes_in_batches_that_add_up_to_one(tmp_path, monkeypatch):
    """Cut into batches between documents, a file gives the same events, and the incident
    rows written last (each later row filling or overriding fields, as the store's upsert
    does) are the rows one single batch merges, webhook snapshots ordered by time included."""
    from review_kit.loaders import _jsonstream

    lines = [json.dumps(json.loads(INCIDENTS.read_text()))]
    for fixture in (WEBHOOKS, ACCOUNT_LOG):
        lines += [line for line in fixture.read_text().splitlines() if line.strip()]
    # Webhooks delivered newest first: snapshots must still be applied oldest first.
    lines = lines[:1] + lines[1:][::-1]
    path = write(tmp_path, "mixed.jsonl", "\n".join(lines) + "\n")
    whole = load(path)
    monkeypatch.setattr(_jsonstream, "BATCH_EVENTS", 2)
    batches = list(LOADER.load(path, LoadContext()))
    assert len(batches) > 3
    events = pd.concat([b.events for b in batches], ignore_index=True)
    assert sorted(events["event_id"]) == sorted(whole.events["event_id"])
    assert events.set_index("event_id").sort_index().equals(whole.events.set_index("event_id").sort_index())
    written: dict[str, dict] = {}
    for batch in batches:
        for row in batch.incidents:
            written.setdefault(row["incident_id"], {}).update({k: v for k, v in row.items() if v is not None})
    assert written == {row["incident_id"]: row for row in whole.incidents}
    aliases = [a for b in batches for a in b.aliases]
    assert sorted(map(str, aliases)) == sorted(map(str, whole.aliases))
