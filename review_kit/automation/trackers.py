"""Action items in the team's tracker: push them as GitHub or Jira issues, pull their truth back.

`push` creates one issue per open action item that has none yet (title, owner, due date, a
link back to the retrospective) and stores the tracker and the issue's key on the item at
once, so pushing again, or after a crash half-way, creates nothing new; an item that has an
issue gets it updated (title, due date, description) and closed when the item is done.
`pull` reads the issues back (status, assignee, due date, closing time) so follow-through
and "fixes that did not hold" use what the tracker says.

The documented REST APIs, through `store.pull.ApiClient` (timeouts, 429 and rate-limit
answers waited out, 5xx retried for reads; a create is never sent twice):

- GitHub Issues (REST, version 2022-11-28): POST/PATCH /repos/{owner}/{repo}/issues[/{n}],
  GET /repos/{owner}/{repo}/issues?labels=…&state=all with Link-header pagination. Token
  in $GITHUB_TOKEN. GitHub issues have no due date: it is written in the body, and read
  back from the issue's milestone when it has one.
- Jira Cloud REST v3: POST /rest/api/3/issue (description in Atlassian Document Format),
  PUT /rest/api/3/issue/{key}, GET and POST /rest/api/3/issue/{key}/transitions,
  POST /rest/api/3/search/jql with nextPageToken pagination. Basic auth from
  $JIRA_EMAIL and $JIRA_API_TOKEN.

Configuration (review-kit.toml): ``[trackers.github] repo = "owner/name"`` (``base_url``,
``labels``, ``users`` = owner name → login); ``[trackers.jira] base_url = "https://….atlassian.net"``,
``project = "OPS"`` (``issue_type``, ``labels``, ``users`` = owner name → accountId);
``[trackers] report_url = "https://reports.example.com"`` where the retrospectives are
published (OUT/<incident>/retrospective.html).
"""
from __future__ import annotations

import base64
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import pandas as pd

from ..errors import ReviewKitError
from ..model import parse_timestamp
from ..paths import safe_name
from ..store import Store
from ..store.pull import ApiClient, PullError

__all__ = ["TRACKERS", "TrackerError", "TrackerResult", "push_action_items", "pull_action_items"]

TRACKERS = ("github", "jira")
DEFAULT_LABELS = ("review-kit",)


class TrackerError(ReviewKitError):
    """A push or pull that cannot go on: no token, no repository, a refused request."""


@dataclass
class TrackerResult:
    tracker: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)
    skipped: int = 0
    requests: int = 0
    retries: int = 0

    def __str__(self) -> str:
        parts = [f"{self.tracker}: {len(self.created)} created", f"{len(self.updated)} updated",
                 f"{len(self.closed)} closed"]
        if self.pulled:
            parts.append(f"{len(self.pulled)} pulled")
        if self.skipped:
            parts.append(f"{self.skipped} skipped (already linked to another tracker)")
        return ", ".join(parts) + f" in {self.requests} request(s) ({self.retries} retried)"


def _section(config: Mapping[str, Any] | None, tracker: str) -> dict[str, Any]:
    trackers = dict((config or {}).get("trackers") or {})
    return {**{k: v for k, v in trackers.items() if not isinstance(v, dict)},
            **dict(trackers.get(tracker) or {})}


def _report_link(section: Mapping[str, Any], incident_id: str) -> str | None:
    base = section.get("report_url")
    if not base:
        return None
    return f"{str(base).rstrip('/')}/{safe_name(incident_id)}/retrospective.html"


def _text(value: Any) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


# --- GitHub ------------------------------------------------------------------------------------
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHub:
    name = "github"

    def __init__(self, section: Mapping[str, Any], environ: Mapping[str, str], **client: Any) -> None:
        self.repo = _text(section.get("repo"))
        if not self.repo or not re.fullmatch(r"[\w.-]+/[\w.-]+", self.repo):
            raise TrackerError("push to github needs the repository: [trackers.github] repo = \"owner/name\"")
        token = environ.get("GITHUB_TOKEN")
        if not token:
            raise TrackerError("github: set GITHUB_TOKEN to a token that may write issues")
        self.labels = list(section.get("labels") or DEFAULT_LABELS)
        self.users = dict(section.get("users") or {})
        self.section = section
        self.client = ApiClient(section.get("base_url") or "https://api.github.com",
                                {"Authorization": f"Bearer {token}",
                                 "Accept": "application/vnd.github+json",
                                 "X-GitHub-Api-Version": "2022-11-28"}, **client)

    def _body(self, item: Mapping[str, Any]) -> str:
        lines = [f"Action item from the review of incident {item['incident_id']}."]
        link = _report_link(self.section, item["incident_id"])
        if link:
            lines.append(f"Retrospective: {link}")
        for label, key in (("Owner", "owner"), ("Due", "due"), ("Type", "type"), ("Priority", "priority")):
            if _text(item.get(key)):
                lines.append(f"{label}: {_text(item.get(key))}")
        return "\n\n".join(lines)

    def _fields(self, item: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"title": item["title"], "body": self._body(item)}
        login = self.users.get(_text(item.get("owner")) or "")
        if login:
            fields["assignees"] = [login]
        return fields

    def create(self, item: Mapping[str, Any]) -> tuple[str, str]:
        issue = self.client.request("POST", f"/repos/{self.repo}/issues",
                                    json_body={**self._fields(item), "labels": self.labels})
        return f"{self.repo}#{issue['number']}", issue["html_url"]

    def _number(self, key: str) -> str:
        return key.rsplit("#", 1)[-1]

    def update(self, key: str, item: Mapping[str, Any]) -> None:
        self.client.request("PATCH", f"/repos/{self.repo}/issues/{self._number(key)}",
                            json_body=self._fields(item))

    def close(self, key: str, item: Mapping[str, Any]) -> bool:
        reason = "not_planned" if item.get("status") == "wontfix" else "completed"
        issue = self.client.get(f"/repos/{self.repo}/issues/{self._number(key)}")
        if issue.get("state") == "closed":
            return False
        self.client.request("PATCH", f"/repos/{self.repo}/issues/{self._number(key)}",
                            json_body={"state": "closed", "state_reason": reason})
        return True

    def issues(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(key, what the item should say) for every labelled issue, page by page."""
        path: str | None = f"/repos/{self.repo}/issues"
        params: Any = [("state", "all"), ("labels", ",".join(self.labels)), ("per_page", 100)]
        logins = {v: k for k, v in self.users.items()}
        while path:
            page, headers = self.client.request("GET", path, params, with_headers=True)
            if not isinstance(page, list):
                raise TrackerError(f"GET {path}: expected a list of issues")
            for issue in page:
                if "pull_request" in issue:  # the issues list holds pull requests too
                    continue
                closed = issue.get("state") == "closed"
                status = ("wontfix" if issue.get("state_reason") == "not_planned" else "done") \
                    if closed else "open"
                assignee = (issue.get("assignee") or {}).get("login")
                due = (issue.get("milestone") or {}).get("due_on")
                yield f"{self.repo}#{issue['number']}", {
                    "status": status,
                    "closed_at": parse_timestamp(issue.get("closed_at")) if closed else None,
                    "owner": logins.get(assignee, assignee) if assignee else None,
                    "due": str(parse_timestamp(due).date()) if due else None,
                    "url": issue.get("html_url")}
            found = _NEXT.search(headers.get("link") or "")
            # The next page's URL carries its own query.
            path, params = (found.group(1), None) if found else (None, None)


# --- Jira ----------------------------------------------------------------------------------------
def adf(paragraphs: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """An Atlassian Document Format document: one paragraph per list of text nodes."""
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": nodes} for nodes in paragraphs if nodes]}


def _adf_text(text: str, href: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if href:
        node["marks"] = [{"type": "link", "attrs": {"href": href}}]
    return node


class Jira:
    name = "jira"

    def __init__(self, section: Mapping[str, Any], environ: Mapping[str, str], **client: Any) -> None:
        self.base_url = _text(section.get("base_url"))
        self.project = _text(section.get("project"))
        if not self.base_url or not self.project:
            raise TrackerError("push to jira needs [trackers.jira] base_url = \"https://<site>.atlassian.net\" "
                               "and project = \"KEY\"")
        email, token = environ.get("JIRA_EMAIL"), environ.get("JIRA_API_TOKEN")
        if not email or not token:
            raise TrackerError("jira: set JIRA_EMAIL and JIRA_API_TOKEN (an Atlassian API token)")
        basic = base64.b64encode(f"{email}:{token}".encode()).decode()
        self.issue_type = section.get("issue_type") or "Task"
        self.labels = list(section.get("labels") or DEFAULT_LABELS)
        self.users = dict(section.get("users") or {})
        self.section = section
        self.client = ApiClient(self.base_url, {"Authorization": f"Basic {basic}"}, **client)

    def _description(self, item: Mapping[str, Any]) -> dict[str, Any]:
        link = _report_link(self.section, item["incident_id"])
        paragraphs = [[_adf_text(f"Action item from the review of incident {item['incident_id']}.")]]
        if link:
            paragraphs.append([_adf_text("Retrospective: "), _adf_text(link, link)])
        facts = [f"{label}: {_text(item.get(key))}" for label, key in
                 (("Owner", "owner"), ("Type", "type"), ("Priority", "priority")) if _text(item.get(key))]
        if facts:
            paragraphs.append([_adf_text(" · ".join(facts))])
        return adf(paragraphs)

    def _fields(self, item: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"summary": item["title"], "description": self._description(item),
                                  "duedate": _text(item.get("due"))}
        account = self.users.get(_text(item.get("owner")) or "")
        if account:
            fields["assignee"] = {"accountId": account}
        return fields

    def create(self, item: Mapping[str, Any]) -> tuple[str, str]:
        fields = {**self._fields(item), "project": {"key": self.project},
                  "issuetype": {"name": self.issue_type}, "labels": self.labels}
        issue = self.client.request("POST", "/rest/api/3/issue", json_body={"fields": fields})
        return issue["key"], self._browse(issue["key"])

    def _browse(self, key: str) -> str:
        return f"{self.base_url.rstrip('/')}/browse/{key}"

    def update(self, key: str, item: Mapping[str, Any]) -> None:
        self.client.request("PUT", f"/rest/api/3/issue/{key}", json_body={"fields": self._fields(item)})

    def close(self, key: str, item: Mapping[str, Any]) -> bool:
        issue = self.client.get(f"/rest/api/3/issue/{key}", [("fields", "status")])
        category = (((issue.get("fields") or {}).get("status") or {}).get("statusCategory") or {}).get("key")
        if category == "done":
            return False
        transitions = self.client.get(f"/rest/api/3/issue/{key}/transitions").get("transitions") or []
        done = [t for t in transitions if ((t.get("to") or {}).get("statusCategory") or {}).get("key") == "done"]
        if not done:
            raise TrackerError(f"jira {key}: no transition leads to a done status from here")
        self.client.request("POST", f"/rest/api/3/issue/{key}/transitions",
                            json_body={"transition": {"id": done[0]["id"]}})
        return True

    def issues(self) -> Iterator[tuple[str, dict[str, Any]]]:
        accounts = {v: k for k, v in self.users.items()}
        labels = ", ".join(f'"{label}"' for label in self.labels)
        query: dict[str, Any] = {"jql": f'project = "{self.project}" AND labels in ({labels}) ORDER BY key',
                                 "fields": ["status", "assignee", "duedate", "resolutiondate",
                                            "resolution"], "maxResults": 100}
        while True:
            page = self.client.request("POST", "/rest/api/3/search/jql", json_body=query)
            for issue in page.get("issues") or []:
                fields = issue.get("fields") or {}
                category = ((fields.get("status") or {}).get("statusCategory") or {}).get("key")
                resolution = ((fields.get("resolution") or {}).get("name") or "").lower()
                status = "open" if category != "done" else (
                    "wontfix" if resolution in ("won't do", "won't fix", "declined", "duplicate") else "done")
                assignee = fields.get("assignee") or {}
                yield issue["key"], {
                    "status": status,
                    "closed_at": parse_timestamp(fields.get("resolutiondate")) if status != "open" else None,
                    "owner": accounts.get(assignee.get("accountId")) or assignee.get("displayName"),
                    "due": fields.get("duedate"), "url": self._browse(issue["key"])}
            # The last page may leave nextPageToken out rather than send null (JRACLOUD-92184).
            token = page.get("nextPageToken")
            if page.get("isLast", not token) or not token:
                return
            query = {**query, "nextPageToken": token}


# --- push and pull -------------------------------------------------------------------------------
def _tracker(tracker: str, config: Mapping[str, Any] | None, environ: Mapping[str, str] | None,
             **client: Any) -> GitHub | Jira:
    if tracker not in TRACKERS:
        raise TrackerError(f"unknown tracker {tracker!r}; one of {', '.join(TRACKERS)}")
    environ = os.environ if environ is None else environ
    cls = GitHub if tracker == "github" else Jira
    return cls(_section(config, tracker), environ, **client)


def _records(items: pd.DataFrame) -> list[dict[str, Any]]:
    frame = items.astype(object).where(items.notna(), None)
    return frame.to_dict("records")


@contextmanager
def _session(tracker: str, config: Mapping[str, Any] | None, environ: Mapping[str, str] | None,
             **client: Any) -> Iterator[tuple[GitHub | Jira, TrackerResult]]:
    """The tracker's client and the result it fills; API failures as one TrackerError line."""
    remote = _tracker(tracker, config, environ, **client)
    result = TrackerResult(tracker)
    try:
        yield remote, result
    except PullError as exc:
        raise TrackerError(f"{tracker}: {exc}") from None
    finally:
        result.requests, result.retries = remote.client.requests, remote.client.retries
        remote.client.close()


def push_action_items(store: Store, tracker: str, *, config: Mapping[str, Any] | None = None,
                      environ: Mapping[str, str] | None = None, incident_id: str | None = None,
                      sleep: Callable[[float], None] = time.sleep, max_retries: int = 5,
                      backoff_seconds: float = 1.0, timeout: float = 30.0) -> TrackerResult:
    """Create an issue for each open action item without one, update the issues of the items
    that have one, and close those whose item is done (or won't fix). The issue's key and
    link are saved on the item right after it is created."""
    with _session(tracker, config, environ, sleep=sleep, max_retries=max_retries,
                  backoff_seconds=backoff_seconds, timeout=timeout) as (client, result):
        for item in _records(store.action_items(incident_id)):
            key = item.get("tracker_key") if item.get("tracker") == tracker else None
            if key is None:
                if item.get("status") != "open":
                    continue
                if item.get("tracker") or _text(item.get("url")):
                    result.skipped += 1
                    continue
                key, url = client.create(item)
                store.update_action_item(int(item["id"]), tracker=tracker, tracker_key=key, url=url)
                result.created.append(key)
                continue
            client.update(key, item)
            result.updated.append(key)
            if item.get("status") in ("done", "wontfix") and client.close(key, item):
                result.closed.append(key)
    return result


def pull_action_items(store: Store, tracker: str, *, config: Mapping[str, Any] | None = None,
                      environ: Mapping[str, str] | None = None,
                      sleep: Callable[[float], None] = time.sleep, max_retries: int = 5,
                      backoff_seconds: float = 1.0, timeout: float = 30.0) -> TrackerResult:
    """Bring status, assignee, due date and closing time back from the tracker's issues onto
    the action items that were pushed there."""
    items = store.action_items()
    ours = items[(items["tracker"] == tracker) & items["tracker_key"].notna()]
    by_key = {str(k): int(i) for k, i in zip(ours["tracker_key"], ours["id"])}
    with _session(tracker, config, environ, sleep=sleep, max_retries=max_retries,
                  backoff_seconds=backoff_seconds, timeout=timeout) as (client, result):
        for key, truth in client.issues():
            item_id = by_key.get(key)
            if item_id is None:
                continue
            changes = {k: v for k, v in truth.items() if k != "url"}
            if changes["status"] == "open":
                changes["closed_at"] = None
            elif changes.get("closed_at") is None:
                changes.pop("closed_at")  # closed, time unknown: keep what the store says
            changes = {k: v for k, v in changes.items() if v is not None or k == "closed_at"}
            store.update_action_item(item_id, **changes)
            result.pulled.append(key)
    return result
