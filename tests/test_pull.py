"""`pull pagerduty` against a loopback server serving recorded-format pages, 429 and 500 included."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from review_kit.cli import main
from review_kit.store.pull import PullError, pull
from review_kit.store import Store

TOKEN = "u+pd-token-3b9"


class FakePagerDuty:
    """Serves tests/fixtures/pull/pagerduty by path and offset; scripted failures by request."""

    def __init__(self, folder: Path, failures: dict[tuple[str, int], list[int]] | None = None) -> None:
        self.folder = folder
        self.failures = {k: list(v) for k, v in (failures or {}).items()}
        self.requests: list[tuple[str, dict, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                fake.requests.append((url.path, query, dict(self.headers)))
                offset = int(query.get("offset", 0))
                scripted = fake.failures.get((url.path, offset))
                if scripted:
                    status = scripted.pop(0)
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "1")
                    body = json.dumps({"error": {"message": "Rate Limit Exceeded", "code": 2020}}).encode()
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.headers.get("Authorization") != f"Token token={TOKEN}":
                    return self.reply(401, {"error": {"message": "Unauthorized", "code": 2006}})
                parts = url.path.strip("/").split("/")
                if parts == ["incidents"]:
                    name = f"incidents_{offset}.json"
                elif len(parts) == 3 and parts[2] == "log_entries":
                    name = f"log_entries_{parts[1]}_{offset}.json"
                elif len(parts) == 3 and parts[2] == "notes":
                    name = f"notes_{parts[1]}.json"
                else:
                    return self.reply(404, {"error": {"message": "Not Found", "code": 2100}})
                self.reply(200, json.loads((fake.folder / name).read_text(encoding="utf-8")))

            def reply(self, status: int, document: dict) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakePagerDuty":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def pages(fixtures) -> Path:
    return fixtures / "pull" / "pagerduty"


def test_pull_fetches_every_page_through_a_429_and_a_500(pages, tmp_path):
    store = Store.open(tmp_path / "review.db")
    failures = {("/incidents", 2): [429], ("/incidents/PABC123/log_entries", 2): [500]}
    with FakePagerDuty(pages, failures) as api:
        result = pull(store, "pagerduty", dest=tmp_path / "pulls", base_url=api.url,
                      since="2024-06-01", until="2024-06-08", environ={"PAGERDUTY_TOKEN": TOKEN},
                      backoff_seconds=0.01)
    paths = [(p, q.get("offset")) for p, q, _ in api.requests]
    assert paths == [
        ("/incidents", "0"), ("/incidents", "2"), ("/incidents", "2"),       # 429, then again
        ("/incidents/PABC123/log_entries", "0"), ("/incidents/PABC123/log_entries", "2"),
        ("/incidents/PABC123/log_entries", "2"),                             # 500, then again
        ("/incidents/PABC123/notes", None),
        ("/incidents/PDEF456/log_entries", "0"), ("/incidents/PDEF456/notes", None),
        ("/incidents/PGHI789/log_entries", "0"), ("/incidents/PGHI789/notes", None)]
    first_query, first_headers = api.requests[0][1], api.requests[0][2]
    assert first_query["since"] == "2024-06-01T00:00:00Z" and first_query["until"] == "2024-06-08T00:00:00Z"
    assert first_query["limit"] == "100"
    assert first_headers["Authorization"] == f"Token token={TOKEN}"
    assert first_headers["Accept"] == "application/vnd.pagerduty+json;version=2"
    assert (result.incidents, result.requests, result.retries) == (3, 11, 2)
    # Saved as the loader reads them: 2 incident pages, 4 log pages, 1 notes document.
    assert result.pages == 7
    saved = sorted(p.relative_to(result.folder).as_posix() for p in result.files)
    assert saved == ["incidents.jsonl", "log_entries/PABC123.jsonl", "log_entries/PDEF456.jsonl",
                     "log_entries/PGHI789.jsonl", "notes/PABC123.jsonl"]
    assert store.incidents()["incident_id"].tolist() == ["PABC123", "PDEF456", "PGHI789"]
    events = store.events(with_raw=False)
    assert len(events) == 4 + 2 + 2 + 1 == result.ingested.events_added
    abc = store.events("PABC123", with_raw=False)
    assert abc["kind"].tolist() == ["triggered", "notified", "acknowledged", "note", "resolved"]
    assert store.incident("PABC123")["severity"] == "SEV1"
    assert store.resolve_alias("1202", "pagerduty") == "PDEF456"


def test_pull_gives_up_after_its_retries_and_on_a_refusal(pages, tmp_path):
    with FakePagerDuty(pages, {("/incidents", 0): [503, 503, 503]}) as api:
        with pytest.raises(PullError, match=r"GET /incidents: gave up after 3 attempts \(503 server error\)"):
            pull(None, "pagerduty", dest=tmp_path, base_url=api.url, environ={"PAGERDUTY_TOKEN": TOKEN},
                 max_retries=2, backoff_seconds=0.01)
    with FakePagerDuty(pages) as api:
        with pytest.raises(PullError, match="GET /incidents: 401 Unauthorized"):
            pull(None, "pagerduty", dest=tmp_path, base_url=api.url, environ={"PAGERDUTY_TOKEN": "wrong"})
    with pytest.raises(PullError, match="set PAGERDUTY_TOKEN"):
        pull(None, "pagerduty", dest=tmp_path, environ={})


def test_cli_pull_then_reingest_changes_nothing(pages, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PAGERDUTY_TOKEN", TOKEN)
    store = tmp_path / "review.db"
    with FakePagerDuty(pages) as api:
        assert main(["--store", str(store), "pull", "pagerduty", "--base-url", api.url,
                     "--dest", str(tmp_path / "pulls"), "-q"]) == 0
        assert main(["--store", str(store), "pull", "pagerduty", "--base-url", api.url,
                     "--dest", str(tmp_path / "pulls"), "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("pulled pagerduty: 3 incident(s), 7 page(s) in 9 request(s) (0 retried)")
    assert out[0].endswith("ingested 9 new event(s) of 9 read")
    assert out[1].endswith("ingested 0 new event(s) of 9 read")
    assert len(list((tmp_path / "pulls" / "pagerduty").iterdir())) == 2


def test_incidentio_follows_the_cursor_for_incidents_and_each_ones_updates(tmp_path):
    from review_kit.store.pull import _Pages, fetch_incidentio

    class Client:  # the two pages of incidents, then two of updates for the first
        def __init__(self) -> None:
            self.asked: list[tuple[str, dict]] = []

        def get(self, path, params):
            query = dict(params)
            self.asked.append((path, query))
            if path == "/v2/incidents":
                if "after" not in query:
                    return {"incidents": [{"id": "01A"}], "pagination_meta": {"after": "01A"}}
                return {"incidents": [{"id": "01B"}], "pagination_meta": {}}
            if query["incident_id"] == "01A" and "after" not in query:
                return {"incident_updates": [{"id": "u1"}], "pagination_meta": {"after": "u1"}}
            return {"incident_updates": [], "pagination_meta": {"after": "ignored"}}

    client, pages = Client(), _Pages(tmp_path)
    assert fetch_incidentio(client, pages, since="2024-01-01") == 2
    assert [(p, q.get("after")) for p, q in client.asked] == [
        ("/v2/incidents", None), ("/v2/incidents", "01A"),
        ("/v2/incident_updates", None), ("/v2/incident_updates", "u1"),
        ("/v2/incident_updates", None)]
    assert client.asked[0][1]["created_at[gte]"] == "2024-01-01T00:00:00Z"
    lines = (tmp_path / "incidents.jsonl").read_text().splitlines()
    assert [json.loads(line)["incidents"][0]["id"] for line in lines] == ["01A", "01B"]
    assert len((tmp_path / "incident_updates" / "01A.jsonl").read_text().splitlines()) == 2
