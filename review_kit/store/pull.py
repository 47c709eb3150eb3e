"""Pulls from the sources' REST APIs: pages saved as the loaders read them, then ingested.

Every pull writes what it fetched to a folder first (one JSON document per page, JSON lines),
so a pull is reproducible and `review-kit ingest` reads the same files again. The HTTP client
retries what is worth retrying: 429 after the server's Retry-After, 5xx, timeouts and dropped
connections with exponential backoff; any other 4xx stops the pull with one line.
"""
from __future__ import annotations

import email.utils
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import httpx

from ..errors import ReviewKitError
from ..model import parse_timestamp, to_iso
from ..paths import inside, replacing, safe_name
from .database import IngestResult, Store

log = logging.getLogger(__name__)

USER_AGENT = "review-kit (+https://github.com/review-kit)"


class PullError(ReviewKitError):
    """A pull that cannot go on: no token, a refused request, retries used up."""


@dataclass
class Source:
    name: str
    base_url: str
    token_env: str | None
    auth: Callable[[str], str] | None


SOURCES: dict[str, Source] = {
    "pagerduty": Source("pagerduty", "https://api.pagerduty.com", "PAGERDUTY_TOKEN",
                        lambda token: f"Token token={token}"),
    "opsgenie": Source("opsgenie", "https://api.opsgenie.com", "OPSGENIE_API_KEY",
                       lambda token: f"GenieKey {token}"),
    "incidentio": Source("incidentio", "https://api.incident.io", "INCIDENTIO_API_KEY",
                         lambda token: f"Bearer {token}"),
    # The public status page API needs no token; its base URL is the page's own address.
    "statuspage": Source("statuspage", "", None, None),
}


@dataclass
class ApiClient:
    """GET JSON with timeouts and retries. `sleep` is injectable so tests need not wait."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 30.0
    max_retries: int = 5
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 300.0
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0
    retries: int = 0

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url.rstrip("/"), timeout=self.timeout,
                                   headers={"User-Agent": USER_AGENT, "Accept": "application/json",
                                            **self.headers}, follow_redirects=True)

    def close(self) -> None:
        self.client.close()

    def get(self, path: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
        return self.request("GET", path, params)

    # Methods a server may have carried out before failing: sent again only when the server
    # said it did not (429, or 403 with a rate-limit answer), never after a 5xx or a dropped
    # connection, so a retry cannot create a second issue.
    _UNSAFE = frozenset({"POST", "PATCH"})

    def request(self, method: str, path: str,
                params: Mapping[str, Any] | list[tuple[str, Any]] | None = None, *,
                json_body: Any = None, with_headers: bool = False) -> Any:
        """One API call with the retries above; the JSON answer (None for 204), with the
        response headers too when `with_headers` (for Link pagination)."""
        attempt = 0
        while True:
            attempt += 1
            self.requests += 1
            try:
                response = self.client.request(method, path, params=params, json=json_body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if method in self._UNSAFE:
                    raise PullError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
                wait, why = self._backoff(attempt), f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    body = None
                    if response.status_code != 204 and response.content:
                        try:
                            body = response.json()
                        except ValueError:
                            raise PullError(f"{method} {path}: the response is not JSON") from None
                    return (body, response.headers) if with_headers else body
                if response.status_code == 429 or _rate_limited(response):
                    wait = self._retry_after(response.headers.get("Retry-After"), attempt,
                                             response.headers.get("X-RateLimit-Reset"))
                    why = f"{response.status_code} rate limited"
                elif response.status_code >= 500 and method not in self._UNSAFE:
                    wait, why = self._backoff(attempt), f"{response.status_code} server error"
                else:
                    raise PullError(f"{method} {path}: {response.status_code} {_api_message(response)}")
            if attempt > self.max_retries:
                raise PullError(f"{method} {path}: gave up after {attempt} attempts ({why})")
            self.retries += 1
            log.warning("%s %s: %s; retrying in %.1f s", method, path, why, wait)
            self.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.max_wait_seconds)

    def _retry_after(self, value: str | None, attempt: int, reset: str | None = None) -> float:
        """Retry-After is seconds or an HTTP date; else GitHub's X-RateLimit-Reset (epoch
        seconds); without either, back off as for a 5xx."""
        if not value and reset and reset.strip().isdigit():
            return min(max(float(reset) - time.time(), 0.0), self.max_wait_seconds)
        if value:
            value = value.strip()
            if value.isdigit():
                return min(float(value), self.max_wait_seconds)
            try:
                when = email.utils.parsedate_to_datetime(value)
                return min(max((when - datetime.now(timezone.utc)).total_seconds(), 0.0),
                           self.max_wait_seconds)
            except (TypeError, ValueError):
                pass
        return self._backoff(attempt)


def _rate_limited(response: httpx.Response) -> bool:
    """GitHub answers an exhausted rate limit with 403 (primary: X-RateLimit-Remaining 0;
    secondary: Retry-After) rather than 429."""
    return response.status_code == 403 and (
        response.headers.get("X-RateLimit-Remaining") == "0" or "Retry-After" in response.headers)


def _api_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict) and body.get("errorMessages"):  # Jira
        return "; ".join(str(m) for m in body["errorMessages"])
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return response.reason_phrase


class _Pages:
    """A folder of saved pages: one JSON document per line, files named after what they hold."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        self.pages = 0

    def path(self, *parts: str) -> Path:
        target = inside(self.folder, *parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write(self, documents: list[Any], *parts: str) -> Path | None:
        if not documents:
            return None
        target = self.path(*parts)
        with replacing(target) as partial, partial.open("w", encoding="utf-8") as handle:
            for document in documents:
                handle.write(json.dumps(document, ensure_ascii=False) + "\n")
        self.files.append(target)
        self.pages += len(documents)
        return target


@dataclass
class PullResult:
    source: str
    folder: Path
    files: list[Path]
    pages: int
    requests: int
    retries: int
    incidents: int
    ingested: IngestResult | None = None

    def __str__(self) -> str:
        line = (f"pulled {self.source}: {self.incidents} incident(s), {self.pages} page(s) in "
                f"{self.requests} request(s) ({self.retries} retried) into {self.folder}")
        if self.ingested is not None:
            line += (f"; ingested {self.ingested.events_added} new event(s) of "
                     f"{self.ingested.events_seen} read")
            if self.ingested.differing():
                line += f"; {self.ingested.differing()}"
        return line


def _iso(value: Any) -> str | None:
    return None if value in (None, "") else to_iso(parse_timestamp(value, "UTC"))  # dates on the command line are UTC


# --- PagerDuty -----------------------------------------------------------------------------------
PAGERDUTY_LIMIT = 100


def _pagerduty_offset_pages(client: ApiClient, path: str, key: str,
                            params: list[tuple[str, Any]]) -> Iterator[dict]:
    """Classic offset pagination: ask again while the page says `more`."""
    offset = 0
    while True:
        page = client.get(path, [*params, ("limit", PAGERDUTY_LIMIT), ("offset", offset)])
        if not isinstance(page, dict) or not isinstance(page.get(key), list):
            raise PullError(f"GET {path}: expected {{{key!r}: [...]}} in the response")
        yield page
        if not page.get("more") or not page[key]:
            return
        offset = int(page.get("offset", offset)) + len(page[key])


def fetch_pagerduty(client: ApiClient, pages: _Pages, *, since: Any = None, until: Any = None,
                    incident_ids: list[str] | None = None) -> int:
    """Incidents (in the window, or the named ones), each with its log entries and notes."""
    if incident_ids:
        incidents = []
        for pd_id in incident_ids:
            document = client.get(f"/incidents/{pd_id}")
            incidents.append(document["incident"])
        pages.write([{"incidents": incidents, "limit": len(incidents), "offset": 0, "more": False}],
                    "incidents.jsonl")
    else:
        params: list[tuple[str, Any]] = [("total", "false"), ("time_zone", "UTC")]
        if since is not None:
            params.append(("since", _iso(since)))
        if until is not None:
            params.append(("until", _iso(until)))
        # Without since/until PagerDuty answers for the last 30 days, as its own UI does.
        listing = list(_pagerduty_offset_pages(client, "/incidents", "incidents", params))
        pages.write(listing, "incidents.jsonl")
        incidents = [i for page in listing for i in page["incidents"]]
    for incident in incidents:
        pd_id = str(incident["id"])
        entries = list(_pagerduty_offset_pages(
            client, f"/incidents/{pd_id}/log_entries", "log_entries",
            [("time_zone", "UTC"), ("is_overview", "false")]))
        pages.write(entries, "log_entries", f"{safe_name(pd_id)}.jsonl")
        notes = client.get(f"/incidents/{pd_id}/notes")
        if isinstance(notes, dict) and notes.get("notes"):
            # The notes response does not name its incident; the loader reads this wrapper.
            pages.write([{"incident_id": pd_id, "notes": notes["notes"]}], "notes",
                        f"{safe_name(pd_id)}.jsonl")
    return len(incidents)


# --- incident.io ---------------------------------------------------------------------------------
def _incidentio_cursor_pages(client: ApiClient, path: str, key: str,
                             params: list[tuple[str, Any]]) -> Iterator[dict]:
    """Cursor pagination: ask again with `pagination_meta.after` while it is given."""
    after = None
    while True:
        page = client.get(path, params + ([("after", after)] if after else []))
        yield page
        after = (page.get("pagination_meta") or {}).get("after")
        if not after or not page.get(key):
            return


def fetch_incidentio(client: ApiClient, pages: _Pages, *, since: Any = None, until: Any = None,
                     incident_ids: list[str] | None = None) -> int:
    """Incidents (cursor pagination on `pagination_meta.after`) and each one's updates."""
    params: list[tuple[str, Any]] = [("page_size", 250)]
    if since is not None:
        params.append(("created_at[gte]", _iso(since)))
    if until is not None:
        params.append(("created_at[lt]", _iso(until)))
    if incident_ids:
        listing = [{"incidents": [client.get(f"/v2/incidents/{i}")["incident"] for i in incident_ids]}]
    else:
        listing = list(_incidentio_cursor_pages(client, "/v2/incidents", "incidents", params))
    pages.write(listing, "incidents.jsonl")
    incidents = [i for page in listing for i in page.get("incidents") or []]
    for incident in incidents:
        updates = list(_incidentio_cursor_pages(
            client, "/v2/incident_updates", "incident_updates",
            [("incident_id", incident["id"]), ("page_size", 250)]))
        pages.write(updates, "incident_updates", f"{safe_name(str(incident['id']))}.jsonl")
    return len(incidents)


# --- Opsgenie ------------------------------------------------------------------------------------
def fetch_opsgenie(client: ApiClient, pages: _Pages, *, since: Any = None, until: Any = None,
                   incident_ids: list[str] | None = None) -> int:
    """Alerts (offset pagination) and each alert's logs, wrapped with the alert id they need."""
    listing = []
    if incident_ids:
        listing = [{"data": [client.get(f"/v2/alerts/{i}")["data"] for i in incident_ids]}]
    else:
        query = []
        if since is not None:
            query.append(f"createdAt>={int(parse_timestamp(since, 'UTC').timestamp() * 1000)}")
        if until is not None:
            query.append(f"createdAt<{int(parse_timestamp(until, 'UTC').timestamp() * 1000)}")
        offset = 0
        while True:
            page = client.get("/v2/alerts", [("limit", 100), ("offset", offset), ("sort", "createdAt"),
                                             ("order", "asc"), ("query", " AND ".join(query))])
            listing.append(page)
            offset += len(page.get("data") or [])
            if not page.get("data") or not (page.get("paging") or {}).get("next"):
                break
    pages.write(listing, "alerts.jsonl")
    alerts = [a for page in listing for a in page.get("data") or []]
    for alert in alerts:
        logs, offset = [], None
        while True:
            params = [("identifierType", "id"), ("limit", 100), ("order", "asc")]
            page = client.get(f"/v2/alerts/{alert['id']}/logs", params + ([("offset", offset)] if offset else []))
            logs.append({"alertId": alert["id"], "data": page.get("data") or []})
            following = (page.get("paging") or {}).get("next")
            data = page.get("data") or []
            if not following or not data:
                break
            offset = data[-1].get("offset")
        pages.write(logs, "alert_logs", f"{safe_name(str(alert['id']))}.jsonl")
    return len(alerts)


# --- Statuspage ----------------------------------------------------------------------------------
def fetch_statuspage(client: ApiClient, pages: _Pages, *, since: Any = None, until: Any = None,
                     incident_ids: list[str] | None = None) -> int:
    """The public page's incidents (the API serves the latest ones, unpaginated)."""
    document = client.get("/api/v2/incidents.json")
    incidents = document.get("incidents") or []
    low = parse_timestamp(since, "UTC") if since is not None else None
    high = parse_timestamp(until, "UTC") if until is not None else None
    kept = [i for i in incidents
            if (incident_ids is None or i.get("id") in incident_ids)
            and (low is None or parse_timestamp(i["created_at"]) >= low)
            and (high is None or parse_timestamp(i["created_at"]) < high)]
    pages.write([{**document, "incidents": kept}], "incidents.json")
    return len(kept)


FETCHERS = {"pagerduty": fetch_pagerduty, "incidentio": fetch_incidentio,
            "opsgenie": fetch_opsgenie, "statuspage": fetch_statuspage}


def pull(store: Store | None, source: str, *, dest: str | os.PathLike, since: Any = None,
         until: Any = None, incident_ids: list[str] | None = None, base_url: str | None = None,
         token: str | None = None, config: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None, timeout: float = 30.0, max_retries: int = 5,
         backoff_seconds: float = 1.0, sleep: Callable[[float], None] = time.sleep,
         quiet: bool = True) -> PullResult:
    """Fetch from SOURCE's API into a new folder under `dest`, then ingest it (unless store
    is None). Token from the source's environment variable; base URL from the argument, the
    config (`[pull.<source>] base_url`) or the public API."""
    if source not in FETCHERS:
        raise PullError(f"cannot pull {source!r}; pull knows {', '.join(sorted(FETCHERS))}")
    spec = SOURCES[source]
    section = dict(((config or {}).get("pull") or {}).get(source) or {})
    environ = os.environ if environ is None else environ
    base_url = base_url or section.get("base_url") or spec.base_url
    if not base_url:
        raise PullError(f"pull {source} needs the page's address: --base-url or [pull.{source}] base_url")
    headers = {}
    if spec.token_env is not None:
        token = token or environ.get(spec.token_env)
        if not token:
            raise PullError(f"pull {source}: set {spec.token_env} to an API token")
        headers["Authorization"] = spec.auth(token)
    if source == "pagerduty":
        headers["Accept"] = "application/vnd.pagerduty+json;version=2"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    pages = _Pages(inside(Path(dest), safe_name(source), stamp))
    pages.folder.mkdir(parents=True, exist_ok=True)
    client = ApiClient(base_url, headers, timeout=timeout, max_retries=max_retries,
                       backoff_seconds=backoff_seconds, sleep=sleep)
    try:
        count = FETCHERS[source](client, pages, since=since, until=until, incident_ids=incident_ids)
    finally:
        client.close()
    result = PullResult(source, pages.folder, pages.files, pages.pages, client.requests,
                        client.retries, count)
    if store is not None and pages.files:
        from .ingest import ingest_paths
        result.ingested = ingest_paths(store, source, pages.files, config=dict(config or {}), quiet=quiet)
    return result


def configured_source(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str | None:
    """The source `on-resolve` pulls from: `[pull] source = "..."` in the config."""
    section = (config or {}).get("pull") or {}
    source = section.get("source") if isinstance(section, dict) else None
    return str(source) if source else None
