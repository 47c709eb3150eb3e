"""The webhook receiver: signatures, tokens, limits, storage through the loaders, runs queued once."""
from __future__ import annotations

import json
import logging
import socket
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from review_kit.automation import queue as q
from review_kit.automation.server import (Receiver, RunningServer, ServerSettings, pagerduty_signature,
                               verify_bearer, verify_pagerduty_signature)
from review_kit.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_server import SECRET, make_burst, pagerduty_event, run as run_burst  # noqa: E402
from backends import backend, pg_database, pg_store_location, store_location  # noqa: E402,F401

TOKEN = "tok-7d1e9b2a"


@pytest.fixture
def store(tmp_path) -> Store:
    return Store.open(tmp_path / "review.db")


@pytest.fixture
def server(store):
    settings = ServerSettings(pagerduty_secret=SECRET, token=TOKEN, port=0, max_body_bytes=64 * 1024)
    with RunningServer(Receiver(store, settings)) as running:
        with httpx.Client(base_url=running.url, timeout=10) as client:
            yield client


def signed(body: bytes, secret: str = SECRET) -> dict:
    return {"X-PagerDuty-Signature": pagerduty_signature(secret, body), "Content-Type": "application/json"}


def resolved_body(occurred_at: str = "2024-05-02T14:31:07.114Z", event_id: str = "01HX2RESOLVED000000000000001") -> bytes:
    return json.dumps(pagerduty_event(event_id, "incident.resolved", 42, occurred_at)).encode()


def test_signature_checks():
    body = b'{"event": {}}'
    good = pagerduty_signature("s1", body)
    # Hand-computed: HMAC-SHA256("s1", body) hex.
    import hashlib, hmac
    assert good == "v1=" + hmac.new(b"s1", body, hashlib.sha256).hexdigest()
    assert verify_pagerduty_signature("s1", body, good)
    # During a secret rotation PagerDuty lists one signature per active secret.
    assert verify_pagerduty_signature("s1", body, f"{pagerduty_signature('old', body)}, {good}")
    assert not verify_pagerduty_signature("s1", body, pagerduty_signature("s2", body))
    assert not verify_pagerduty_signature("s1", body + b" ", good)
    assert not verify_pagerduty_signature("s1", body, None)
    assert not verify_pagerduty_signature("s1", body, good.removeprefix("v1="))
    assert verify_bearer("t", "Bearer t") and verify_bearer("t", "bearer t")
    assert not verify_bearer("t", "Bearer u") and not verify_bearer("t", None) and not verify_bearer(None, "Bearer ")


def test_settings_from_environment_win_and_never_show_in_repr():
    settings = ServerSettings.from_config({"server": {"port": 9000, "pagerduty_secret": "from-file"}},
                                          {"REVIEW_KIT_PAGERDUTY_SECRET": "from-env", "REVIEW_KIT_TOKEN": "tk"})
    assert (settings.port, settings.pagerduty_secret, settings.token, settings.host) == (9000, "from-env", "tk", "127.0.0.1")
    assert "from-env" not in repr(settings) and "tk" not in repr(settings)


def test_signed_resolution_is_stored_and_queued_once(server, store):
    body = resolved_body()
    response = server.post("/webhooks/pagerduty", content=body, headers=signed(body))
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "incidents": ["PBENCH00042"], "events_added": 1,
                               "runs_queued": [1]}
    again = server.post("/webhooks/pagerduty", content=body, headers=signed(body))
    assert again.json() == {"status": "accepted", "incidents": ["PBENCH00042"], "events_added": 0,
                            "runs_queued": []}
    runs = q.list_runs(store)
    assert runs[["incident_id", "trigger", "status", "dedup_key"]].values.tolist() == [
        ["PBENCH00042", "webhook", "queued", "retro:PBENCH00042:2024-05-02T14:31:07.114000Z"]]
    incident = store.incident("PBENCH00042")
    assert (incident["title"], incident["severity"], incident["status"]) == \
        ("Checkout latency above SLO (42)", "SEV2", "resolved")
    # A reopen and a new resolution is another resolution: it runs again.
    reopen = json.dumps(pagerduty_event("01HX2REOPEN", "incident.reopened", 42, "2024-05-02T15:00:00.000Z")).encode()
    assert server.post("/webhooks/pagerduty", content=reopen, headers=signed(reopen)).json()["runs_queued"] == []
    second = resolved_body("2024-05-02T16:45:00.000Z", "01HX2RESOLVED2")
    assert server.post("/webhooks/pagerduty", content=second, headers=signed(second)).json()["runs_queued"] == [2]
    assert server.get("/healthz").json() == {"status": "ok", "queued": 2, "running": 0}


@pytest.mark.parametrize("headers", [
    {},
    {"X-PagerDuty-Signature": "v1=" + "0" * 64},
    "wrong-secret",
    "other-body",
])
def test_forged_or_unsigned_delivery_is_refused_and_stores_nothing(server, store, headers):
    body = resolved_body()
    if headers == "wrong-secret":
        headers = signed(body, "not-the-secret")
    elif headers == "other-body":
        headers = signed(body.replace(b"Checkout", b"Checkin"))
    before = store.counts()
    response = server.post("/webhooks/pagerduty", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "missing or wrong X-PagerDuty-Signature"}
    assert store.counts() == before == {"incidents": 0, "events": 0, "aliases": 0, "annotations": 0,
                                        "action_items": 0, "runs": 0}


def test_oversize_body_gets_413_even_without_a_length(server, store):
    big = b'{"event": {"pad": "' + b"x" * (70 * 1024) + b'"}}'
    assert server.post("/webhooks/pagerduty", content=big, headers=signed(big)).status_code == 413

    def chunks():
        for _ in range(70):
            yield b"x" * 1024

    response = server.post("/events", content=chunks(), headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 413
    assert store.counts()["events"] == 0


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "body is not JSON"),
    (b'{"messages": [{"event": "incident.resolve"}]}', "not a PagerDuty Webhooks v3 payload"),
    (b'{"event": {"id": "E1", "event_type": "incident.resolved", "resource_type": "incident", '
     b'"occurred_at": "2024-05-02 14:31", "data": {"id": "PX", "type": "incident"}}}',
     "body: $.event.occurred_at: "),
])
def test_malformed_delivery_gets_400_with_a_reason_and_stores_nothing(server, store, body, reason):
    response = server.post("/webhooks/pagerduty", content=body, headers=signed(body))
    assert response.status_code == 400
    assert response.json()["error"].startswith(reason)
    assert "\n" not in response.json()["error"]
    assert store.counts()["incidents"] == 0 and store.counts()["events"] == 0


def test_alertmanager_and_events_need_the_bearer_token(server, store, fixtures):
    payload = (fixtures / "alertmanager" / "resolved_payload.json").read_bytes()
    assert server.post("/webhooks/alertmanager", content=payload).status_code == 401
    assert server.post("/webhooks/alertmanager", content=payload,
                       headers={"Authorization": "Bearer nope"}).status_code == 401
    response = server.post("/webhooks/alertmanager", content=payload, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 202
    from review_kit.store.ingest import ingest_paths
    fresh = Store.open(Path(store.engine.url.database).with_name("same-file.db"))
    ingest_paths(fresh, "alertmanager", [fixtures / "alertmanager" / "resolved_payload.json"], quiet=True)
    # The same loader as `ingest`: the same events.
    assert store.events(with_raw=False)["event_id"].tolist() == fresh.events(with_raw=False)["event_id"].tolist()
    assert response.json()["runs_queued"] == []       # resolving groups queue runs only when configured

    events = [{"incident_id": "INC-9", "at": "2024-05-03T08:00:00Z", "kind": "triggered", "actor": "pd", "summary": "Paged"},
              {"incident_id": "INC-9", "at": "2024-05-03T08:40:00+02:00", "kind": "resolved", "actor": "Ana", "summary": "Fixed"}]
    response = server.post("/events", json={"events": events}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 202 and response.json()["events_added"] == 2
    assert q.list_runs(store)["dedup_key"].tolist() == ["retro:INC-9:2024-05-03T06:40:00Z"]
    bad = server.post("/events", json=[{"incident_id": "INC-9", "at": "2024-05-03T09:00:00Z", "kind": "exploded"}],
                      headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status_code == 400 and "unknown event kind 'exploded'" in bad.json()["error"]


def test_endpoints_refuse_everything_without_configured_secrets(store):
    with RunningServer(Receiver(store, ServerSettings(port=0))) as running:
        body = resolved_body()
        response = httpx.post(f"{running.url}/webhooks/pagerduty", content=body, headers=signed(body))
        assert response.status_code == 503 and "REVIEW_KIT_PAGERDUTY_SECRET" in response.json()["error"]
        assert httpx.post(f"{running.url}/events", json=[], headers={"Authorization": "Bearer x"}).status_code == 503
    assert store.counts()["events"] == 0


def test_receiver_binds_loopback_by_default(store):
    with RunningServer(Receiver(store, ServerSettings(port=0))) as running:
        assert running.host == "127.0.0.1"
        with pytest.raises(OSError):  # not reachable on another address of this machine
            address = socket.gethostbyname(socket.gethostname())
            if address.startswith("127."):
                raise OSError("no other address to try")
            socket.create_connection((address, running.port), timeout=1).close()


def test_secrets_never_appear_in_logs(store, caplog):
    caplog.set_level(logging.DEBUG)
    settings = ServerSettings(pagerduty_secret=SECRET, token=TOKEN, port=0)
    with RunningServer(Receiver(store, settings)) as running:
        body = resolved_body()
        httpx.post(f"{running.url}/webhooks/pagerduty", content=body, headers=signed(body))
        httpx.post(f"{running.url}/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": f"v1={SECRET}"})
        httpx.post(f"{running.url}/events", content=b"[]", headers={"Authorization": f"Bearer {TOKEN}"})
        httpx.post(f"{running.url}/events", content=b"[]", headers={"Authorization": f"Bearer {TOKEN}x"})
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "202 POST /webhooks/pagerduty" in text and "401 POST /webhooks/pagerduty" in text
    assert SECRET not in text and TOKEN not in text


def test_burst_is_fully_accounted_for(tmp_path):
    result = run_burst(150, duplicates=6, malformed=4, clients=4, folder=tmp_path)
    assert result["deliveries"] == 150 and result["other"] == 0
    assert result["malformed_refused"] == 4 and result["refused_400"] == 4
    assert result["accepted"] == 146
    assert result["events_stored"] == result["good_events"] == 140
    assert result["runs"] == result["distinct_run_keys"] == result["resolutions"] == 46


@pytest.mark.slow
def test_signed_resolution_runs_one_retrospective_and_a_redelivery_none(server, store, tmp_path):
    body = resolved_body()
    for event_id, kind, at in (("01HX2TRIGGER", "incident.triggered", "2024-05-02T13:58:00.000Z"),
                               ("01HX2ACK", "incident.acknowledged", "2024-05-02T14:02:30.000Z")):
        earlier = json.dumps(pagerduty_event(event_id, kind, 42, at)).encode()
        assert server.post("/webhooks/pagerduty", content=earlier, headers=signed(earlier)).status_code == 202
    assert server.post("/webhooks/pagerduty", content=body, headers=signed(body)).status_code == 202
    out = tmp_path / "out"
    worker = q.Worker(str(tmp_path / "review.db"), out, jobs=1)
    summary = worker.run(once=True)
    assert summary.done == [1] and not summary.failed
    run = q.list_runs(store).iloc[0]
    assert (run["status"], run["attempts"], run["trigger"]) == ("done", 1, "webhook")
    html = Path(run["outputs"]["files"]["html"])
    assert html == (out / "PBENCH00042" / "retrospective.html").resolve() and html.is_file()
    assert "Checkout latency above SLO (42)" in (out / "index.html").read_text(encoding="utf-8")
    # The same delivery again: stored already, queued already, nothing more runs.
    assert server.post("/webhooks/pagerduty", content=body, headers=signed(body)).json()["runs_queued"] == []
    assert q.Worker(str(tmp_path / "review.db"), out).run(once=True).done == []
    assert len(q.list_runs(store)) == 1


def test_deliveries_are_stored_and_queued_once_on_both_backends(store_location):
    """The receiver's own path (a delivery's events as lists, its resolution queued in the
    transaction that stores it, a repeat compared with what is stored) on SQLite and
    PostgreSQL alike."""
    store = Store.open(store_location())
    receiver = Receiver(store, ServerSettings(pagerduty_secret=SECRET))
    trigger = json.dumps(pagerduty_event("01TRIGGER", "incident.triggered", 42,
                                         "2024-05-02T14:00:00Z")).encode()
    resolve = resolved_body("2024-05-02T15:00:00.250Z", "01RESOLVE")
    assert receiver.accept("pagerduty", trigger).runs == []
    first = receiver.accept("pagerduty", resolve)
    assert first.events_added == 1 and len(first.runs) == 1
    again = receiver.accept("pagerduty", resolve)
    assert again.events_added == 0 and again.runs == []
    changed = json.loads(resolve)
    changed["event"]["occurred_at"] = "2024-05-02T15:05:00Z"
    receiver.accept("pagerduty", json.dumps(changed).encode())
    runs = q.list_runs(store)
    assert runs["dedup_key"].tolist() == ["retro:PBENCH00042:2024-05-02T15:00:00.250000Z"]
    events = store.events()
    assert sorted(events["kind"]) == ["resolved", "triggered"]
    assert events.set_index("kind").loc["resolved", "at"] == pd.Timestamp("2024-05-02T15:00:00.250Z")
    store.close()
