"""Hostile inputs, every loader and the receiver: each ends in one line and exit 2 (or the
right HTTP status), never a traceback, and leaves the store byte for byte as it was."""
from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from review_kit.automation.server import (
    Receiver,
    RunningServer,
    ServerSettings,
    pagerduty_signature,
)
from review_kit.cli import main
from review_kit.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEEP = 20_000


def load(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


def setting(document: Any, path: list, value: Any) -> Any:
    """A copy of `document` with the value at `path` (keys and indexes) replaced."""
    out = copy.deepcopy(document)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def json_case(fixture: str, path: list, value: Any) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        name = Path(fixture).name
        if name.endswith(".jsonl"):  # one document per line: break the first
            lines = (FIXTURES / fixture).read_text(encoding="utf-8").splitlines()
            lines[0] = json.dumps(setting(json.loads(lines[0]), path, value), ensure_ascii=False)
            text = "\n".join(lines) + "\n"
        else:
            text = json.dumps(setting(load(fixture), path, value), ensure_ascii=False)
        target = folder / name
        target.write_text(text, encoding="utf-8")
        return target
    return make


def raw_case(name: str, data: bytes | str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        target = folder / name
        target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return target
    return make


def slack_case(relative: str, change: Callable[[Any], Any] | str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        export = folder / "export"
        shutil.copytree(FIXTURES / "slack" / "export", export)
        target = export / relative
        if isinstance(change, str):
            target.write_text(change, encoding="utf-8")
        else:
            target.write_text(json.dumps(change(json.loads(target.read_text(encoding="utf-8")))),
                              encoding="utf-8")
        return export
    return make


def csv_case(body: str, header: str = "incident_id,at,kind,actor,summary") -> Callable[[Path], Path]:
    return raw_case("events.csv", header + "\n" + body + "\n")


PD, PD_LOG, PD_HOOK = "pagerduty/incidents.json", "pagerduty/log_entries_PT4KHLK.json", \
    "pagerduty/webhooks_v3.jsonl"
OG, OG_LOGS, OG_HOOK = "opsgenie/alerts.json", "opsgenie/alert_logs.json", "opsgenie/webhooks.jsonl"
SP, AM, IO = "statuspage/incidents.json", "alertmanager/resolved_payload.json", \
    "incidentio/incident_show.json"
DEEP_JSON = "[" * DEEP + "]" * DEEP
DEEP_OBJECT = '{"a":' * DEEP + "1" + "}" * DEEP

# (id, source, make(folder) -> input path, extra CLI arguments)
CASES: list[tuple[str, str, Callable[[Path], Path], list[str]]] = [
    # --- PagerDuty REST exports and webhooks
    ("pd-title-list", "pagerduty", json_case(PD, ["incidents", 0, "title"], ["a", "b"]), []),
    ("pd-title-object", "pagerduty", json_case(PD, ["incidents", 0, "title"], {"x": 1}), []),
    ("pd-created-year-0", "pagerduty", json_case(PD, ["incidents", 0, "created_at"], "0000-01-01T00:00:00Z"), []),
    ("pd-created-year-1", "pagerduty", json_case(PD, ["incidents", 0, "created_at"], "0001-06-01T00:00:00Z"), []),
    ("pd-created-year-9999", "pagerduty", json_case(PD, ["incidents", 0, "created_at"], "9999-12-31T23:59:59Z"), []),
    ("pd-created-epoch-huge", "pagerduty", json_case(PD, ["incidents", 0, "created_at"], 10 ** 20), []),
    ("pd-created-negative", "pagerduty", json_case(PD, ["incidents", 0, "created_at"], -(10 ** 15)), []),
    ("pd-incidents-string", "pagerduty", json_case(PD, ["incidents"], "none"), []),
    ("pd-id-newline", "pagerduty", json_case(PD, ["incidents", 0, "id"], "PT4\nKHLK"), []),
    ("pd-id-escape", "pagerduty", json_case(PD, ["incidents", 0, "id"], "PT4\x1b[31mKHLK"), []),
    ("pd-id-list", "pagerduty", json_case(PD, ["incidents", 0, "id"], ["PT4KHLK"]), []),
    ("pd-status-list", "pagerduty", json_case(PD, ["incidents", 0, "status"], ["resolved"]), []),
    ("pd-deep-nesting", "pagerduty", raw_case("incidents.json", DEEP_JSON), []),
    ("pd-deep-object", "pagerduty", raw_case("incidents.json", DEEP_OBJECT), []),
    ("pd-truncated", "pagerduty", raw_case("incidents.json", '{"incidents": [{"id": "P1", "title'), []),
    ("pd-not-utf8", "pagerduty", raw_case("incidents.json", b'{"incidents": [{"id": "\xff\xfe"}]}'), []),
    ("pd-top-number", "pagerduty", raw_case("incidents.json", "42"), []),
    ("pd-empty", "pagerduty", raw_case("incidents.json", ""), []),
    ("pd-log-created-huge", "pagerduty", json_case(PD_LOG, [0, "log_entries", 0, "created_at"], 1e300), []),
    ("pd-log-summary-object", "pagerduty", json_case(PD_LOG, [0, "log_entries", 0, "summary"], {"s": 1}), []),
    ("pd-log-entries-string", "pagerduty", json_case(PD_LOG, [0, "log_entries"], "x"), []),
    ("pd-log-type-number", "pagerduty", json_case(PD_LOG, [0, "log_entries", 0, "type"], 7), []),
    ("pd-number-object", "pagerduty", json_case(PD, ["incidents", 0, "incident_number"], {"n": 1}), []),
    ("pd-log-year-2150", "pagerduty", json_case(PD_LOG, [0, "log_entries", 0, "created_at"], "2150-01-01T00:00:00Z"), []),
    ("pd-hook-time-text", "pagerduty", json_case(PD_HOOK, ["event", "occurred_at"], "yesterday"), []),
    ("pd-hook-data-string", "pagerduty", json_case(PD_HOOK, ["event", "data"], "x"), []),
    ("pd-hook-type-number", "pagerduty", json_case(PD_HOOK, ["event", "event_type"], 12), []),
    ("pd-hook-title-list", "pagerduty", json_case(PD_HOOK, ["event", "data", "title"], [1, 2]), []),
    # A text where PagerDuty puts a reference object (or a list of them): refused, not read
    # as "nobody acted" or "no service".
    ("pd-service-text", "pagerduty", json_case(PD, ["incidents", 0, "service"], "Checkout API"), []),
    ("pd-teams-object", "pagerduty", json_case(PD, ["incidents", 0, "teams"], {"id": "T1"}), []),
    ("pd-log-agent-text", "pagerduty", json_case(PD_LOG, [0, "log_entries", 0, "agent"], "Bob"), []),
    ("pd-log-assignees-texts", "pagerduty", json_case(PD_LOG, [0, "log_entries", 0, "assignees"], ["Bob"]), []),
    ("pd-hook-agent-text", "pagerduty", json_case(PD_HOOK, ["event", "agent"], "Bob"), []),
    # --- Opsgenie
    ("og-created-year-9999", "opsgenie", json_case(OG, ["data", 0, "createdAt"], "9999-01-01T00:00:00Z"), []),
    ("og-message-list", "opsgenie", json_case(OG, ["data", 0, "message"], ["a"]), []),
    ("og-data-object", "opsgenie", json_case(OG, ["data"], {"id": "x"}), []),
    ("og-log-created-year-0", "opsgenie", json_case(OG_LOGS, ["data", 0, "createdAt"], "0000-01-01T00:00:00Z"), []),
    ("og-log-text-object", "opsgenie", json_case(OG_LOGS, ["data", 0, "log"], {"x": 1}), []),
    ("og-hook-created-huge", "opsgenie", json_case(OG_HOOK, ["alert", "createdAt"], 10 ** 25), []),
    ("og-hook-action-number", "opsgenie", json_case(OG_HOOK, ["action"], 3), []),
    ("og-tiny-id-object", "opsgenie", json_case(OG, ["data", 0, "tinyId"], {"a": 1}), []),
    ("og-report-text", "opsgenie", json_case(OG, ["data", 0, "report"], "acked at 10:02"), []),
    ("og-integration-list", "opsgenie", json_case(OG, ["data", 0, "integration"], ["API"]), []),
    ("og-hook-alert-string", "opsgenie", json_case(OG_HOOK, ["alert"], "x"), []),
    # --- Statuspage
    ("sp-updates-string", "statuspage", json_case(SP, ["incidents", 0, "incident_updates"], "x"), []),
    ("sp-created-feb-30", "statuspage", json_case(SP, ["incidents", 0, "created_at"], "2024-02-30T00:00:00Z"), []),
    ("sp-created-year-1", "statuspage", json_case(SP, ["incidents", 0, "created_at"], "0001-06-01T00:00:00Z"), []),
    ("sp-name-list", "statuspage", json_case(SP, ["incidents", 0, "name"], ["outage"]), []),
    ("sp-body-object", "statuspage", json_case(SP, ["incidents", 0, "incident_updates", 0, "body"], {"b": 1}), []),
    ("sp-incidents-object", "statuspage", json_case(SP, ["incidents"], {"id": "x"}), []),
    ("sp-id-u2028", "statuspage", json_case(SP, ["incidents", 0, "id"], "abc\u2028def"), []),
    # --- Slack export folders
    ("slack-ts-text", "slack", slack_case("inc-1234-db-failover/2024-03-12.json",
                                          lambda d: setting(d, [0, "ts"], "abc")), []),
    ("slack-text-list", "slack", slack_case("inc-1234-db-failover/2024-03-12.json",
                                            lambda d: setting(d, [1, "text"], ["x"])), []),
    ("slack-deep-nesting", "slack", slack_case("inc-1234-db-failover/2024-03-12.json", DEEP_JSON), []),
    ("slack-users-string", "slack", slack_case("users.json", '"nobody"'), []),
    ("slack-channels-object", "slack", slack_case("channels.json", '{"id": "C1"}'), []),
    ("slack-day-object", "slack", slack_case("inc-1234-db-failover/2024-03-12.json", '{"a": 1}'), []),
    ("slack-ts-year-9999", "slack", slack_case("inc-1234-db-failover/2024-03-12.json",
                                               lambda d: setting(d, [0, "ts"], "253402300799.000100")), []),
    # --- Alertmanager
    ("am-starts-year-1", "alertmanager", json_case(AM, ["alerts", 0, "startsAt"], "0001-01-01T00:00:00Z"), []),
    ("am-labels-list", "alertmanager", json_case(AM, ["alerts", 0, "labels"], ["a"]), []),
    ("am-alerts-string", "alertmanager", json_case(AM, ["alerts"], "x"), []),
    ("am-status-number", "alertmanager", json_case(AM, ["status"], 5), []),
    ("am-summary-object", "alertmanager", json_case(AM, ["alerts", 0, "annotations"], {"summary": {"x": 1}}), []),
    ("am-starts-epoch-text", "alertmanager", json_case(AM, ["alerts", 0, "startsAt"], "99999999999999999999"), []),
    # --- incident.io
    ("io-created-year-0", "incidentio", json_case(IO, ["incident", "created_at"], "0000-01-01T00:00:00Z"), []),
    ("io-name-list", "incidentio", json_case(IO, ["incident", "name"], ["x"]), []),
    ("io-severity-string", "incidentio", json_case(IO, ["incident", "severity"], "Critical"), []),
    ("io-status-string", "incidentio", json_case(IO, ["incident", "incident_status"], "live"), []),
    ("io-timestamps-object", "incidentio", json_case(IO, ["incident", "incident_timestamp_values"], {"a": 1}), []),
    ("io-incident-list", "incidentio", json_case(IO, ["incident"], [1, 2]), []),
    # --- CSV
    ("csv-u2028-in-field", "csv", csv_case('INC-1,2024-06-11T10:00:00Z,message,Ana,"line\u2028two"\n'
                                           'INC-1\u2028X,2024-06-11T10:01:00Z,message,Ana,x'), []),
    ("csv-year-0", "csv", csv_case("INC-1,0000-00-00T00:00:00Z,message,Ana,x"), []),
    ("csv-epoch-huge", "csv", csv_case("INC-1,99999999999999999999,message,Ana,x"), []),
    ("csv-epoch-float-huge", "csv", csv_case("INC-1,1e400,message,Ana,x"), []),
    ("csv-kind-unknown", "csv", csv_case("INC-1,2024-06-11T10:00:00Z,explosion,Ana,x"), []),
    ("csv-id-newline", "csv", csv_case('"INC-1\nforged",2024-06-11T10:00:00Z,message,Ana,x'), []),
    ("csv-id-nul", "csv", csv_case("INC-1\x00,2024-06-11T10:00:00Z,message,Ana,x"), []),
    ("csv-unterminated-quote", "csv", csv_case('INC-1,2024-06-11T10:00:00Z,message,Ana,"open'), []),
    ("csv-dst-gap", "csv", csv_case("INC-1,2024-03-31T02:30:00,message,Ana,x"), ["--tz", "Europe/Berlin"]),
    ("csv-duplicate-event-id", "csv", csv_case(
        "INC-1,2024-06-11T10:00:00Z,message,Ana,first,e-1\nINC-1,2024-06-11T10:00:00Z,message,Ana,second,e-1",
        header="incident_id,at,kind,actor,summary,event_id"), []),
    ("csv-year-2150", "csv", csv_case("INC-1,2150-06-11T10:00:00Z,message,Ana,x"), []),
    ("csv-year-1969", "csv", csv_case("INC-1,1969-12-31T23:59:59Z,message,Ana,x"), []),
    ("csv-incidents-created-year-1", "csv", raw_case(
        "incidents.csv", "incident_id,title,created_at\nINC-1,x,0001-03-01T00:00:00Z\n"), []),
    ("csv-incident-option-newline", "csv", csv_case("INC-1,2024-06-11T10:00:00Z,message,Ana,x"),
     ["--incident", "INC-1\nforged"]),
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory) -> Path:
    """A store that already holds an incident: a failed ingest must leave it as it was."""
    folder = tmp_path_factory.mktemp("hostile-store")
    store = Store.open(folder / "review.db")
    store.ingest("csv", FIXTURES / "csv" / "events.csv")
    store.close()
    return folder / "review.db"


def test_the_corpus_is_large_and_covers_every_loader():
    assert len(CASES) + len(RECEIVER_CASES) >= 60
    assert {source for _, source, _, _ in CASES} == {
        "pagerduty", "opsgenie", "statuspage", "slack", "alertmanager", "incidentio", "csv"}
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize(("name", "source", "make", "extra"), CASES, ids=[c[0] for c in CASES])
def test_a_hostile_input_is_one_line_exit_2_and_changes_nothing(
        name, source, make, extra, seeded_store, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REVIEW_KIT_DEBUG", raising=False)
    store = tmp_path / "review.db"
    shutil.copy(seeded_store, store)
    before = _digest(store)
    path = make(tmp_path)
    code = main(["--store", str(store), "-q", "ingest", source, str(path), *extra])
    captured = capsys.readouterr()
    assert code == 2, (name, captured.out, captured.err)
    assert captured.err.startswith("review-kit: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err and "\x1b" not in captured.err
    assert "\u2028" not in captured.err
    assert _digest(store) == before
    assert not Path(f"{store}-wal").exists() or Path(f"{store}-wal").stat().st_size == 0


# --- the receiver ---------------------------------------------------------------------------

SECRET, TOKEN, LIMIT = "whsec-hostile", "tok-hostile", 64 * 1024


def pd_body(change: Callable[[dict], Any]) -> bytes:
    first = json.loads((FIXTURES / PD_HOOK).read_text(encoding="utf-8").splitlines()[0])
    return json.dumps(change(first)).encode()


def events_body(event: dict) -> bytes:
    return json.dumps([{"incident_id": "INC-1", "at": "2024-06-11T10:00:00Z", "kind": "message",
                        **event}]).encode()


def chunked(size: int):
    def chunks():
        for _ in range(size // 4096):
            yield b"x" * 4096
    return chunks


# (id, endpoint, body (bytes or a chunk generator), expected status)
RECEIVER_CASES = [
    ("pd-data-string", "/webhooks/pagerduty", pd_body(lambda d: setting(d, ["event", "data"], "x")), 400),
    ("pd-title-list", "/webhooks/pagerduty", pd_body(lambda d: setting(d, ["event", "data", "title"], [1])), 400),
    ("pd-occurred-year-0", "/webhooks/pagerduty",
     pd_body(lambda d: setting(d, ["event", "occurred_at"], "0000-01-01T00:00:00Z")), 400),
    ("pd-occurred-epoch-huge", "/webhooks/pagerduty",
     pd_body(lambda d: setting(d, ["event", "occurred_at"], 10 ** 22)), 400),
    ("pd-id-newline", "/webhooks/pagerduty",
     pd_body(lambda d: setting(d, ["event", "data", "id"], "Q0R\nforged line")), 400),
    ("pd-deep-nesting", "/webhooks/pagerduty", ('{"event": ' + "[" * 5000 + "]" * 5000 + "}").encode(), 400),
    ("pd-array", "/webhooks/pagerduty", b"[1, 2, 3]", 400),
    ("pd-not-json", "/webhooks/pagerduty", b"\xff\xfe not json", 400),
    ("am-labels-list", "/webhooks/alertmanager",
     json.dumps(setting(load(AM), ["alerts", 0, "labels"], ["a"])).encode(), 400),
    ("am-starts-year-9999", "/webhooks/alertmanager",
     json.dumps(setting(load(AM), ["alerts", 0, "startsAt"], "9999-01-01T00:00:00Z")).encode(), 400),
    ("events-id-newline", "/events", events_body({"incident_id": "INC-1\nforged"}), 400),
    ("events-year-0", "/events", events_body({"at": "0000-01-01T00:00:00Z"}), 400),
    ("events-summary-object", "/events", events_body({"summary": {"a": 1}}), 202),
    ("events-chunked-huge", "/events", chunked(8 * LIMIT), 413),
    ("pd-chunked-huge", "/webhooks/pagerduty", chunked(8 * LIMIT), 413),
    ("events-chunked-over", "/events", chunked(LIMIT + 8192), 413),
]


def test_the_receiver_answers_each_hostile_delivery_and_stores_nothing(tmp_path, caplog):
    import logging
    store = Store.open(tmp_path / "review.db")
    store.ingest("csv", FIXTURES / "csv" / "events.csv")
    before = store.counts()
    settings = ServerSettings(pagerduty_secret=SECRET, token=TOKEN, port=0, max_body_bytes=LIMIT)
    answers = {}
    with caplog.at_level(logging.INFO, logger="review_kit"):
        with RunningServer(Receiver(store, settings)) as running:
            with httpx.Client(base_url=running.url, timeout=30) as client:
                for name, endpoint, body, _ in RECEIVER_CASES:
                    if name == "events-summary-object":
                        continue  # stored, on purpose: checked below
                    headers = {"Authorization": f"Bearer {TOKEN}"}
                    if endpoint.endswith("pagerduty") and isinstance(body, bytes):
                        headers = {"X-PagerDuty-Signature": pagerduty_signature(SECRET, body)}
                    try:
                        response = client.post(endpoint, content=body() if callable(body) else body,
                                               headers=headers)
                        answers[name] = response.status_code
                    except httpx.TransportError:  # the server closed on a sender still writing
                        answers[name] = "closed"
    expected = {name: status for name, _, _, status in RECEIVER_CASES if name != "events-summary-object"}
    assert answers == expected
    assert store.counts() == before
    # Ids and reasons from the deliveries are logged escaped: no record spans two lines.
    messages = [r.getMessage() for r in caplog.records]
    assert messages and all("\n" not in m and "\u2028" not in m for m in messages)


def test_a_json_object_where_a_summary_belongs_is_kept_as_its_json_text(tmp_path):
    store = Store.open(tmp_path / "review.db")
    settings = ServerSettings(pagerduty_secret=SECRET, token=TOKEN, port=0, max_body_bytes=LIMIT)
    with RunningServer(Receiver(store, settings)) as running:
        response = httpx.post(f"{running.url}/events", content=events_body({"summary": {"a": 1}}),
                              headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 202
    assert store.events("INC-1")["summary"].tolist() == ['{"a": 1}']


def test_two_pagerduty_incidents_sharing_a_number_stay_two(tmp_path):
    """Two accounts (or a renumbered one) both have a #1234: the number is an alias, never a
    reason to fold one incident into the other."""
    first = load(PD)
    other = setting(first, ["incidents", 0, "id"], "PZZZ999")
    other = setting(other, ["incidents", 0, "html_url"], "https://other.pagerduty.com/incidents/PZZZ999")
    other = setting(other, ["incidents", 0, "title"], "A different outage")
    other = setting(other, ["incidents", 0, "incident_key"], None)
    other["incidents"] = other["incidents"][:1]
    (tmp_path / "a.json").write_text(json.dumps(first), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(other), encoding="utf-8")
    store = Store.open(tmp_path / "review.db")
    store.ingest("pagerduty", tmp_path / "a.json")
    store.ingest("pagerduty", tmp_path / "b.json")
    ids = set(store.incidents()["incident_id"])
    assert {"PT4KHLK", "PZZZ999"} <= ids
    assert store.incident("PZZZ999")["title"] == "A different outage"
    assert store.incident("PT4KHLK")["title"] != "A different outage"


def test_ids_are_logged_escaped():
    from review_kit.automation.server import loggable
    assert loggable("INC-1\n2024-01-01 INFO forged") == "INC-1\\n2024-01-01 INFO forged"
    assert loggable("a\u2028b\x1b[31m") == "a\\u2028b\\x1b[31m"
    assert loggable("x" * 400).endswith("…") and len(loggable("x" * 400)) == 301


def test_a_later_incident_of_the_same_alert_is_not_folded_into_the_first(tmp_path):
    """PagerDuty gives every incident of one alert the same incident_key: a shared key is an
    alias, never a reason to merge."""
    first = load(PD)
    later = setting(first, ["incidents", 0, "id"], "PLATER1")
    later = setting(later, ["incidents", 0, "incident_number"], 1299)
    later = setting(later, ["incidents", 0, "title"], "The same alert, a week later")
    later["incidents"] = later["incidents"][:1]
    (tmp_path / "a.json").write_text(json.dumps(first), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(later), encoding="utf-8")
    store = Store.open(tmp_path / "review.db")
    store.ingest("pagerduty", tmp_path / "a.json")
    store.ingest("pagerduty", tmp_path / "b.json")
    assert store.incident("PLATER1")["title"] == "The same alert, a week later"
    assert store.incident("PT4KHLK")["title"] != "The same alert, a week later"
