"""Action items in the team's tracker: push to / pull from GitHub Issues and Jira Cloud, against
a local server on 127.0.0.1 that answers with the vendors' documented response shapes
(tests/fixtures/trackers, provenance in its README), paginates, and rate-limits in the middle."""
from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from review_kit.automation.trackers import TrackerError, pull_action_items, push_action_items
from review_kit.cli import main
from review_kit.store import Store

from seen_before import NEW, SAME_B, history_store

FIXTURES = Path(__file__).parent / "fixtures" / "trackers"
PAGE = 2  # small pages, so every listing is paginated


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


class FakeTracker:
    """GitHub's and Jira's issue endpoints, in memory. `rate_limit_at`: request numbers that
    are answered with the vendor's rate-limit response instead."""

    def __init__(self, rate_limit_at: set[int] = frozenset()) -> None:
        self.github: dict[int, dict] = {}
        self.jira: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.rate_limit_at = set(rate_limit_at)
        self.limited = 0
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def _body(self):
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length)) if length else None

            def _send(self, status: int, document=None, headers: dict | None = None) -> None:
                data = b"" if document is None else json.dumps(document).encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if document is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                tracker.requests.append((method, self.path))
                body = self._body()
                number = len(tracker.requests)
                if number in tracker.rate_limit_at:
                    tracker.limited += 1
                    if self.path.startswith("/repos/"):
                        return self._send(403, {"message": "API rate limit exceeded",
                                                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"},
                                          {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"})
                    return self._send(429, {"errorMessages": ["Rate limit exceeded."]},
                                      {"Retry-After": "1"})
                if self.headers.get("Authorization") in (None, ""):
                    return self._send(401, {"message": "Requires authentication"})
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if url.path.startswith("/repos/acme/ops/issues"):
                    return self._github(method, url.path, query, body)
                if url.path.startswith("/rest/api/3/"):
                    return self._jira(method, url.path, query, body)
                self._send(404, {"message": "Not Found"})

            def _github(self, method, path, query, body):
                parts = path.rstrip("/").split("/")
                if method == "POST" and len(parts) == 5:
                    issue = copy.deepcopy(fixture("github-issue.json"))
                    n = 1347 + len(tracker.github)
                    issue.update({"number": n, "id": n, "title": body["title"], "body": body["body"],
                                  "html_url": f"https://github.com/acme/ops/issues/{n}",
                                  "url": f"https://api.github.com/repos/acme/ops/issues/{n}",
                                  "labels": [{"name": label} for label in body.get("labels", [])],
                                  "assignee": None, "assignees": [], "milestone": None,
                                  "state": "open", "state_reason": None, "closed_at": None,
                                  "locked": False})
                    tracker.github[n] = issue
                    return self._send(201, issue)
                if len(parts) == 6:
                    issue = tracker.github.get(int(parts[5]))
                    if issue is None:
                        return self._send(404, {"message": "Not Found"})
                    if method == "PATCH":
                        for key in ("title", "body", "state", "state_reason"):
                            if key in body:
                                issue[key] = body[key]
                        if body.get("state") == "closed" and not issue["closed_at"]:
                            issue["closed_at"] = "2024-07-01T10:00:00Z"
                    return self._send(200, issue)
                # The listing: labelled issues, PAGE per page, Link to the next.
                page = int(query.get("page", ["1"])[0])
                wanted = set(query.get("labels", [""])[0].split(","))
                issues = [i for _, i in sorted(tracker.github.items())
                          if wanted <= {label["name"] for label in i["labels"]}]
                chunk = issues[(page - 1) * PAGE: page * PAGE]
                headers = {}
                if page * PAGE < len(issues):
                    headers["Link"] = (f'<http://127.0.0.1:{tracker.port}/repos/acme/ops/issues?state=all&'
                                       f'labels={",".join(sorted(wanted))}&per_page={PAGE}&page={page + 1}>; rel="next"')
                return self._send(200, chunk, headers)

            def _jira(self, method, path, query, body):
                if method == "POST" and path == "/rest/api/3/issue":
                    created = copy.deepcopy(fixture("jira-create-issue.json"))
                    n = 24 + len(tracker.jira)
                    key = f"OPS-{n}"
                    created.update({"id": str(10000 + n), "key": key,
                                    "self": f"http://127.0.0.1:{tracker.port}/rest/api/3/issue/{10000 + n}"})
                    created.pop("transition", None)
                    fields = body["fields"]
                    assert fields["description"]["type"] == "doc"  # ADF, as v3 requires
                    tracker.jira[key] = {"key": key, "id": created["id"], "summary": fields["summary"],
                                         "labels": fields["labels"], "duedate": fields.get("duedate"),
                                         "category": "indeterminate", "assignee": None,
                                         "resolutiondate": None, "description": fields["description"]}
                    return self._send(201, created)
                if path == "/rest/api/3/search/jql" and method == "POST":
                    keys = sorted(k for k, i in tracker.jira.items() if "review-kit" in i["labels"])
                    start = int(body.get("nextPageToken") or 0)
                    page = copy.deepcopy(fixture("jira-search-jql.json"))
                    template = page["issues"][0]
                    page["issues"] = []
                    for key in keys[start:start + PAGE]:
                        issue = tracker.jira[key]
                        item = copy.deepcopy(template)
                        item.update({"key": key, "id": issue["id"]})
                        item["fields"]["status"]["statusCategory"]["key"] = issue["category"]
                        item["fields"]["assignee"] = issue["assignee"]
                        item["fields"]["duedate"] = issue["duedate"]
                        item["fields"]["resolutiondate"] = issue["resolutiondate"]
                        page["issues"].append(item)
                    if start + PAGE < len(keys):
                        page.update({"nextPageToken": str(start + PAGE), "isLast": False})
                    else:  # as Jira does: the last page carries no token at all
                        page.pop("nextPageToken")
                        page["isLast"] = True
                    return self._send(200, page)
                parts = path.rstrip("/").split("/")
                issue = tracker.jira.get(parts[5]) if len(parts) > 5 else None
                if issue is None:
                    return self._send(404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]})
                if len(parts) == 7 and parts[6] == "transitions":
                    if method == "POST":
                        issue["category"] = "done"
                        issue["resolutiondate"] = "2024-07-02T09:30:00.000+0000"
                        return self._send(204)
                    return self._send(200, fixture("jira-transitions.json"))
                if method == "PUT":
                    issue["summary"] = body["fields"]["summary"]
                    issue["duedate"] = body["fields"].get("duedate")
                    return self._send(204)
                document = copy.deepcopy(fixture("jira-issue-status.json"))
                document.update({"key": issue["key"], "id": issue["id"]})
                document["fields"]["status"]["statusCategory"]["key"] = issue["category"]
                return self._send(200, document)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PATCH(self):
                self._handle("PATCH")

            def do_PUT(self):
                self._handle("PUT")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "FakeTracker":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def store(tmp_path) -> Store:
    store = history_store(tmp_path)
    for title, owner, due in (("Cap pgbouncer clients per service", "dana", "2024-07-15"),
                              ("Page on pool saturation", "lee", None)):
        store.add_action_item(NEW, title, owner=owner, due=due, type="prevent")
    yield store
    store.close()


def config(tracker: str, url: str) -> dict:
    section = ({"repo": "acme/ops", "base_url": url, "users": {"lee": "lee-gh"}} if tracker == "github"
               else {"base_url": url, "project": "OPS", "users": {"lee": "acc-lee"}})
    return {"trackers": {"report_url": "https://reports.example.com/retros", tracker: section}}


ENV = {"GITHUB_TOKEN": "ghp_test", "JIRA_EMAIL": "ops@example.com", "JIRA_API_TOKEN": "jira-test"}
NO_WAIT = {"sleep": lambda seconds: None, "backoff_seconds": 0.0}


def open_items(store: Store) -> pd.DataFrame:
    items = store.action_items()
    return items[items["status"] == "open"].set_index("title")


@pytest.mark.parametrize("tracker", ["github", "jira"])
def test_push_pull_round_trip_through_a_rate_limit(store, tracker):
    # The third request is rate-limited: waited out, sent again, nothing created twice.
    with FakeTracker(rate_limit_at={3}) as server:
        cfg = config(tracker, server.url)
        first = push_action_items(store, tracker, config=cfg, environ=ENV, **NO_WAIT)
        assert len(first.created) == 3 and first.retries == 1 and server.limited == 1
        issues = server.github if tracker == "github" else server.jira
        assert len(issues) == 3
        items = open_items(store)
        assert (items["tracker"] == tracker).all() and items["tracker_key"].notna().all()
        validate = items.loc["Validate payment config before push"]
        if tracker == "github":
            issue = server.github[int(validate["tracker_key"].rsplit("#", 1)[1])]
            assert validate["url"] == issue["html_url"]
            assert f"https://reports.example.com/retros/{SAME_B}/retrospective.html" in issue["body"]
            assert "Due: 2024-04-15" in issue["body"] and "Owner: lee" in issue["body"]
        else:
            issue = server.jira[validate["tracker_key"]]
            assert validate["url"] == f"{server.url}/browse/{validate['tracker_key']}"
            assert issue["duedate"] == "2024-04-15"
            links = [m["attrs"]["href"] for p in issue["description"]["content"] for n in p["content"]
                     for m in n.get("marks", [])]
            assert links == [f"https://reports.example.com/retros/{SAME_B}/retrospective.html"]

        # Pushing again creates nothing; a renamed item updates its issue.
        item_id = int(validate["id"])
        store.update_action_item(item_id, title="Validate every payment config before push")
        again = push_action_items(store, tracker, config=cfg, environ=ENV, **NO_WAIT)
        assert again.created == [] and len(again.updated) == 3 and len(issues) == 3
        key = validate["tracker_key"]
        renamed = issues[int(key.rsplit("#", 1)[1])]["title"] if tracker == "github" else issues[key]["summary"]
        assert renamed == "Validate every payment config before push"

        # Done here: the push closes its issue (once).
        store.update_action_item(item_id, status="done")
        closing = push_action_items(store, tracker, config=cfg, environ=ENV, **NO_WAIT)
        assert closing.closed == [key] and closing.created == []
        assert push_action_items(store, tracker, config=cfg, environ=ENV, **NO_WAIT).closed == []

        # Meanwhile, in the tracker: another item is closed and reassigned.
        cap = open_items(store).loc["Cap pgbouncer clients per service"]
        cap_key = cap["tracker_key"]
        if tracker == "github":
            issue = server.github[int(cap_key.rsplit("#", 1)[1])]
            issue.update({"state": "closed", "state_reason": "completed",
                          "closed_at": "2024-07-03T08:00:00Z",
                          "assignee": {"login": "lee-gh", "id": 7, "type": "User", "site_admin": False},
                          "milestone": {**fixture("github-issue.json")["milestone"],
                                        "due_on": "2024-07-20T07:00:00Z"}})
        else:
            server.jira[cap_key].update({"category": "done",
                                         "resolutiondate": "2024-07-03T08:00:00.000+0000",
                                         "assignee": {"accountId": "acc-lee", "displayName": "Lee Park"},
                                         "duedate": "2024-07-20"})
        pulled = pull_action_items(store, tracker, config=cfg, environ=ENV, **NO_WAIT)
        assert len(pulled.pulled) == 3  # every page read
        items = store.action_items().set_index("tracker_key")
        cap = items.loc[cap_key]
        assert (cap["status"], cap["owner"], cap["due"]) == ("done", "lee", "2024-07-20")
        assert cap["closed_at"] == pd.Timestamp("2024-07-03T08:00:00Z")
        closed = items.loc[key]
        assert closed["status"] == "done" and closed["closed_at"] == pd.Timestamp(
            "2024-07-01T10:00:00Z" if tracker == "github" else "2024-07-02T09:30:00Z")
        still = items.loc[open_items(store).loc["Page on pool saturation", "tracker_key"]]
        assert still["status"] == "open" and pd.isna(still["closed_at"])

        # And a last push creates nothing.
        final = push_action_items(store, tracker, config=cfg, environ=ENV, **NO_WAIT)
        assert final.created == [] and len(issues) == 3


def test_push_refuses_without_token_or_repository(store):
    with pytest.raises(TrackerError, match="GITHUB_TOKEN"):
        push_action_items(store, "github", config=config("github", "http://127.0.0.1:9"), environ={})
    with pytest.raises(TrackerError, match="repo"):
        push_action_items(store, "github", config={}, environ=ENV)
    with pytest.raises(TrackerError, match="JIRA_EMAIL"):
        push_action_items(store, "jira", config=config("jira", "http://127.0.0.1:9"), environ={})


def test_cli_push_and_pull(store, tmp_path, monkeypatch, capsys):
    with FakeTracker() as server:
        toml = tmp_path / "review-kit.toml"
        toml.write_text(f'[trackers.github]\nrepo = "acme/ops"\nbase_url = "{server.url}"\n')
        monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")
        location = store.engine.url.database
        assert main(["--store", location, "--config", str(toml), "actions", "push", "--to", "github"]) == 0
        assert "github: 3 created" in capsys.readouterr().out
        assert main(["--store", location, "--config", str(toml), "actions", "push", "--to", "github"]) == 0
        assert "github: 0 created, 3 updated" in capsys.readouterr().out
        assert main(["--store", location, "--config", str(toml), "actions", "pull"]) == 0
        assert "3 pulled" in capsys.readouterr().out
        monkeypatch.delenv("GITHUB_TOKEN")
        assert main(["--store", location, "--config", str(toml), "actions", "push", "--to", "github"]) == 2
        assert "GITHUB_TOKEN" in capsys.readouterr().err
