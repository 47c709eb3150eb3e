"""The webhook receiver: PagerDuty, Alertmanager and canonical events in, stored, runs queued.

Built on Tornado: a maintained, production-grade HTTP/1.1 server that review-kit already
installs (it is Jupyter's server), with streaming request bodies (an oversize body is refused
with 413 from its headers, before it is read), keep-alive and body/idle timeouts. Storing is
blocking SQLAlchemy work, so it runs on a small thread pool beside the event loop.

A delivery is acknowledged (202) only once it is stored: the store write is the
acknowledgement. The payload goes through the same loader as `review-kit ingest`, in one
transaction; a resolution then queues the retrospective under its dedup key. Should the
process die between the two, the sender gets no 202 and delivers again; ingest is idempotent,
and the resolution is queued then.
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
import logging
import os
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import orjson
import pandas as pd
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..config import source_options
from ..errors import InputError, ReviewKitError
from ..loaders import Batch, LoadContext, Loader, get_loader
from ..loaders.base import RowBatch
from ..model import EVENT_COLUMNS
from ..store import Store
from ..store.database import IngestResult

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8089
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
PAGERDUTY_SECRET_ENV = "REVIEW_KIT_PAGERDUTY_SECRET"
TOKEN_ENV = "REVIEW_KIT_TOKEN"
SIGNATURE_HEADER = "X-PagerDuty-Signature"


class Rejected(Exception):
    """A delivery refused: the HTTP status and a one-line reason for the sender."""

    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, " ".join(str(reason).split())
        super().__init__(status, self.reason)


@dataclass
class ServerSettings:
    """The receiver's settings: `[server]` in the TOML config, secrets also from the
    environment (which wins). Secrets are kept out of repr so no log line can carry them."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    pagerduty_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    # Alertmanager has no incident lifecycle: queue a retrospective when a group resolves
    # (every alert of the notification resolved) only where the team asks for it.
    alertmanager_resolves: bool = False
    # None: one for SQLite (a single writer anyway; no lock waits in the tail), four otherwise.
    ingest_threads: int | None = None
    spool_dir: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None,
                    environ: Mapping[str, str] | None = None, **overrides: Any) -> "ServerSettings":
        section = dict((config or {}).get("server") or {})
        environ = os.environ if environ is None else environ
        known = set(cls.__dataclass_fields__)
        unknown = set(section) - known
        if unknown:
            raise InputError("config", "server", f"unknown setting(s): {', '.join(sorted(unknown))}")
        values = {**section}
        if environ.get(PAGERDUTY_SECRET_ENV):
            values["pagerduty_secret"] = environ[PAGERDUTY_SECRET_ENV]
        if environ.get(TOKEN_ENV):
            values["token"] = environ[TOKEN_ENV]
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        if int(settings.max_body_bytes) <= 0:
            raise InputError("config", "server.max_body_bytes", "must be a positive number of bytes")
        return settings


# --- authentication ----------------------------------------------------------------------------
def pagerduty_signature(secret: str, body: bytes) -> str:
    """The `v1=<hex>` signature PagerDuty sends for `body` (HMAC-SHA256 with the secret)."""
    return "v1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_pagerduty_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when any `v1=` signature in the header matches; during a secret rotation
    PagerDuty signs with every active secret, comma-separated. Constant-time comparison."""
    if not header or not secret:
        return False
    expected = pagerduty_signature(secret, body).encode("ascii")
    matched = False
    for candidate in header.split(","):
        # Compare every candidate, so the time taken does not say which one matched.
        matched |= hmac.compare_digest(candidate.strip().encode("utf-8", "replace"), expected)
    return matched


def verify_bearer(token: str | None, header: str | None) -> bool:
    if not token or not header:
        return False
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode("utf-8", "replace"),
                                                               token.encode("utf-8"))


# --- storing a delivery ------------------------------------------------------------------------
class _Recording(Loader):
    """The real loader, noting which incidents each batch resolves (and when)."""

    def __init__(self, inner: Loader) -> None:
        self.inner, self.name, self.description = inner, inner.name, inner.description
        self.resolved: dict[str, pd.Timestamp] = {}
        self.alerts_resolved: dict[str, pd.Timestamp] = {}

    def load(self, path: Path, ctx: LoadContext) -> Iterator[Batch]:
        for batch in self.inner.load(path, ctx):
            if isinstance(batch, RowBatch):  # a delivery's few events: read from the lists
                columns = batch.columns
                for kind, target in (("resolved", self.resolved), ("alert_resolved", self.alerts_resolved)):
                    for incident_id, at, found in zip(columns["incident_id"], columns["at"], columns["kind"]):
                        if found == kind:
                            at = pd.Timestamp(at, unit="us", tz="UTC")
                            target[str(incident_id)] = max(at, target.get(str(incident_id), at))
                yield batch
                continue
            events = batch.events
            if events is not None and len(events):
                kinds = events["kind"].to_numpy(dtype=object)
                for kind, target in (("resolved", self.resolved), ("alert_resolved", self.alerts_resolved)):
                    chosen = kinds == kind
                    if not chosen.any():
                        continue
                    latest = events.loc[chosen].groupby("incident_id")["at"].max()
                    for incident_id, at in latest.items():
                        target[str(incident_id)] = max(at, target.get(str(incident_id), at))
            yield batch


def events_to_csv(document: Any) -> str:
    """Canonical events as JSON (what `review-kit timeline --json` prints: an array of
    event objects, or `{"events": [...]}`) turned into the CSV the `csv` loader reads."""
    events = document.get("events") if isinstance(document, dict) else document
    if not isinstance(events, list) or not events:
        raise Rejected(400, "expected a non-empty JSON array of events, or {\"events\": [...]}")
    columns = [c for c in EVENT_COLUMNS]
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise Rejected(400, f"$.events[{i}]: expected an event object, found {type(event).__name__}")
        unknown = set(event) - set(columns)
        if unknown:
            raise Rejected(400, f"$.events[{i}]: unknown field(s) {', '.join(sorted(unknown))}; "
                           f"events have {', '.join(columns)}")
        for required in ("incident_id", "at", "kind"):
            if event.get(required) in (None, ""):
                raise Rejected(400, f"$.events[{i}].{required}: missing")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for event in events:
        row = []
        for column in columns:
            value = event.get(column)
            if isinstance(value, (dict, list)):
                value = json.dumps(value, ensure_ascii=False)
            row.append("" if value is None else str(value))
        writer.writerow(row)
    return buffer.getvalue()


@dataclass
class Accepted:
    incidents: list[str]
    events_added: int
    runs: list[int]

    def to_json(self) -> dict:
        return {"status": "accepted", "incidents": self.incidents, "events_added": self.events_added,
                "runs_queued": self.runs}


class Receiver:
    """What the endpoints do, without HTTP: check a payload, store it, queue resolutions."""

    LOADERS = {"pagerduty": "pagerduty", "alertmanager": "alertmanager", "events": "csv"}

    def __init__(self, store: Store, settings: ServerSettings | None = None,
                 config: Mapping[str, Any] | None = None) -> None:
        self.store = store
        self.settings = settings or ServerSettings()
        self.config = dict(config or {})
        self.spool = Path(self.settings.spool_dir or tempfile.gettempdir())
        # Fill the loader registry here, on one thread: its discovery is not thread-safe,
        # and the ingest threads would otherwise race through it on the first deliveries.
        from ..loaders import loaders
        loaders.names()
        import review_kit.analysis.timeline
        import review_kit.automation.queue  # noqa: F401  (imported once, not per request)

    def accept(self, endpoint: str, body: bytes) -> Accepted:
        """Store one delivery in one transaction; raises Rejected(400) and stores nothing
        when the payload is not what the endpoint takes."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Rejected(400, f"body is not JSON: {exc}") from None
        suffix = ".json"
        if endpoint == "pagerduty":
            if not (isinstance(document, dict) and isinstance(document.get("event"), dict)):
                raise Rejected(400, "not a PagerDuty Webhooks v3 payload: expected {\"event\": {...}}")
            if not isinstance(document["event"].get("event_type"), str):
                raise Rejected(400, "$.event.event_type: missing")
        elif endpoint == "alertmanager":
            if not (isinstance(document, dict) and isinstance(document.get("alerts"), list)):
                raise Rejected(400, "not an Alertmanager webhook payload: expected alerts[]")
        elif endpoint == "events":
            body = events_to_csv(document).encode("utf-8")
            suffix = ".csv"
        else:
            raise Rejected(404, f"no endpoint for {endpoint!r}")
        loader_name = self.LOADERS[endpoint]
        loader = _Recording(get_loader(loader_name))
        ctx = LoadContext(config=source_options(self.config, loader_name))
        queued_with_events: dict[str, int | None] = {}

        def queue_with_events(conn: Connection, result: IngestResult) -> None:
            queued_with_events.clear()  # afresh should the transaction be run again
            queued_with_events.update(self._queue_in_transaction(conn, loader, endpoint, document,
                                                                 result.incident_ids))

        handle, name = tempfile.mkstemp(prefix="review-kit-delivery-", suffix=suffix, dir=self.spool)
        try:
            with os.fdopen(handle, "wb") as spool:
                spool.write(body)
            try:
                result = self.store.ingest(loader, name, ctx, then=queue_with_events)
            except InputError as exc:
                # The spool file's name means nothing to the sender: say where in the body.
                raise Rejected(400, ": ".join(p for p in ("body", exc.where, exc.problem) if p)) from None
        finally:
            os.unlink(name)
        return Accepted(sorted(result.incident_ids), result.events_added,
                        self._queue_resolutions(loader, endpoint, document, result.incident_ids,
                                                queued_with_events))

    def _resolutions(self, loader: _Recording, endpoint: str, document: Any) -> dict[str, Any]:
        """Incident ids (as the loader read them) the delivery resolves, each with the time to
        fall back on when its events tell none (Alertmanager groups)."""
        resolved = dict.fromkeys(loader.resolved)
        if (endpoint == "alertmanager" and self.settings.alertmanager_resolves
                and document.get("status") == "resolved"):
            for incident_id, at in loader.alerts_resolved.items():
                resolved.setdefault(incident_id, at)
        return resolved

    def _queue_in_transaction(self, conn: Connection, loader: _Recording, endpoint: str,
                              document: Any, stored: set[str]) -> dict[str, int | None]:
        """Queue, in the transaction storing the delivery, the resolutions whose time the
        store tells at a glance (`plain_resolution_on`): one commit for both, and no second
        connection. Returns raw id -> run id (None: queued already); the others are left to
        `_queue_resolutions`, after the commit, where the whole timeline is read."""
        from .queue import enqueue_resolution_on
        from .runs import plain_resolution_on
        done: dict[str, int | None] = {}
        for raw_id in self._resolutions(loader, endpoint, document):
            if raw_id not in stored:
                continue  # mapped through an alias: the slow path resolves it
            resolved_at = plain_resolution_on(conn, raw_id)
            if resolved_at is not None:
                done[raw_id] = enqueue_resolution_on(conn, raw_id, resolved_at)
                _log_queued(raw_id, resolved_at, done[raw_id])
        return done

    def _queue_resolutions(self, loader: _Recording, endpoint: str, document: Any,
                           stored: set[str], done: Mapping[str, int | None] | None = None) -> list[int]:
        from .queue import enqueue_resolution
        done = done or {}
        queued = []
        for raw_id, fallback in self._resolutions(loader, endpoint, document).items():
            if raw_id in done:
                if done[raw_id] is not None:
                    queued.append(done[raw_id])
                continue
            # The store may have mapped the loader's id through an alias (`review-kit link`).
            incident_id = raw_id if raw_id in stored else self.store.resolve_alias(raw_id, loader.name)
            if incident_id is None:
                continue
            from .runs import resolution_time
            resolved_at = resolution_time(self.store, incident_id)
            if resolved_at is None:
                resolved_at = fallback  # Alertmanager groups have no `resolved` lifecycle event
            if resolved_at is None:
                continue  # reopened since (the delivery came late): nothing to review yet
            run_id = enqueue_resolution(self.store, incident_id, trigger="webhook", resolved_at=resolved_at)
            _log_queued(incident_id, resolved_at, run_id)
            if run_id is not None:
                queued.append(run_id)
        return queued


def _log_queued(incident_id: str, resolved_at: Any, run_id: int | None) -> None:
    if run_id is not None:  # None: this resolution was queued already
        log.info("incident %s resolved at %s: run %s queued", loggable(incident_id),
                 resolved_at, run_id)


# --- HTTP ----------------------------------------------------------------------------------------
def loggable(text: Any, limit: int = 300) -> str:
    """Text from a delivery as it may appear in a log line: control characters and line
    separators escaped (an id holding a newline cannot forge a line), and cut short."""
    text = str(text)
    escaped = text[:limit].encode("unicode_escape").decode("ascii")
    return escaped + ("…" if len(text) > limit else "")


def make_app(receiver: Receiver, executor: ThreadPoolExecutor):
    """The Tornado application: the endpoints and their authentication."""
    from tornado.web import Application, RequestHandler, stream_request_body

    settings = receiver.settings
    limit = int(settings.max_body_bytes)

    class Base(RequestHandler):
        def refuse(self, status: int, reason: str) -> None:
            if self._finished:
                return
            self.clear()
            self.set_status(status)
            self.finish({"error": reason})

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            self.finish({"error": self._reason})

    @stream_request_body
    class Delivery(Base):
        def initialize(self, endpoint: str) -> None:
            self.endpoint = endpoint
            self.chunks: list[bytes] = []
            self.size = 0
            # A refusal decided from the headers is sent once the body is read: closing on a
            # sender still writing can reset the connection before it reads the answer.
            self.refusal: tuple[int, str] | None = None

        def prepare(self) -> None:
            if self.request.method != "POST":
                return
            length = self.request.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > limit:
                if int(length) > 2 * limit:
                    # Tornado will not read this much: answer now, then it drops the connection.
                    return self.refuse(413, f"body larger than {limit} bytes")
                self.refusal = (413, f"body larger than {limit} bytes")
            elif self.endpoint != "pagerduty":
                # Bearer endpoints are refused on their headers; the body is only drained.
                if not settings.token:
                    self.refusal = (503, f"no token configured ({TOKEN_ENV} or [server] token)")
                elif not verify_bearer(settings.token, self.request.headers.get("Authorization")):
                    self.refusal = (401, "missing or wrong bearer token")

        def data_received(self, chunk: bytes) -> None:
            if self._finished or self.refusal is not None:
                return
            self.size += len(chunk)
            if self.size > limit:  # chunked bodies say no length up front
                self.refusal = (413, f"body larger than {limit} bytes")
                self.chunks.clear()
                return
            self.chunks.append(chunk)

        async def post(self) -> None:
            if self._finished:
                return
            if self.refusal is not None:
                return self.refuse(*self.refusal)
            body = b"".join(self.chunks)
            if self.endpoint == "pagerduty":
                if not settings.pagerduty_secret:
                    return self.refuse(503, f"no PagerDuty secret configured ({PAGERDUTY_SECRET_ENV} "
                                            "or [server] pagerduty_secret)")
                if not verify_pagerduty_signature(settings.pagerduty_secret, body,
                                                  self.request.headers.get(SIGNATURE_HEADER)):
                    return self.refuse(401, f"missing or wrong {SIGNATURE_HEADER}")
            loop = asyncio.get_running_loop()
            try:
                accepted = await loop.run_in_executor(executor, receiver.accept, self.endpoint, body)
            except Rejected as exc:
                log.info("%s delivery refused (%s): %s", self.endpoint, exc.status,
                         loggable(exc.reason))
                return self.refuse(exc.status, exc.reason)
            except (ReviewKitError, DBAPIError) as exc:
                # The store could not take it (locked, unreachable): the sender retries. The
                # message may quote the delivery, so only the kind of failure is logged.
                log.error("%s delivery not stored: %s", self.endpoint, type(exc).__name__)
                return self.refuse(500, "not stored; deliver again")
            except Exception as exc:  # noqa: BLE001 - anything else is a body we cannot use
                log.warning("%s delivery refused (400): %s", self.endpoint, type(exc).__name__)
                return self.refuse(400, "body cannot be used")
            self.set_status(202)
            self.finish(accepted.to_json())

    class Health(Base):
        async def get(self) -> None:
            from .queue import pending_count
            loop = asyncio.get_running_loop()
            queued = await loop.run_in_executor(executor, pending_count, receiver.store, ("queued",))
            running = await loop.run_in_executor(executor, pending_count, receiver.store, ("running",))
            self.finish({"status": "ok", "queued": queued, "running": running})

    def log_request(handler: RequestHandler) -> None:
        # Method, path, status and time only: headers (signatures, tokens) are never logged.
        status = handler.get_status()
        level = logging.DEBUG if status < 400 else logging.INFO
        log.log(level, "%d %s %s %.1fms", status, handler.request.method, handler.request.path,
                1000.0 * handler.request.request_time())

    return Application([
        (r"/webhooks/pagerduty", Delivery, {"endpoint": "pagerduty"}),
        (r"/webhooks/alertmanager", Delivery, {"endpoint": "alertmanager"}),
        (r"/events", Delivery, {"endpoint": "events"}),
        (r"/healthz", Health),
    ], log_function=log_request, compress_response=False)


class RunningServer:
    """A receiver serving on its own thread and event loop (tests, benchmarks, `serve`)."""

    def __init__(self, receiver: Receiver, host: str | None = None, port: int | None = None) -> None:
        self.receiver = receiver
        self.host = host or receiver.settings.host
        self.requested_port = receiver.settings.port if port is None else port
        self.port: int | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="review-kit-receiver", daemon=True)
        threads = receiver.settings.ingest_threads or (1 if receiver.store.engine.dialect.name == "sqlite" else 4)
        self.executor = ThreadPoolExecutor(max(1, int(threads)),
                                           thread_name_prefix="review-kit-ingest")

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = HTTPServer(make_app(self.receiver, self.executor),
                            # The handler answers 413 past the limit. A chunked body over
                            # Tornado's own cap would get Tornado's 400: that cap is far above
                            # ours, and past ours chunks are dropped as they arrive
                            # (Delivery.data_received), then answered with 413.
                            max_body_size=max(64 * int(self.receiver.settings.max_body_bytes),
                                              1 << 30),
                            idle_connection_timeout=60, body_timeout=30)
        sockets = bind_sockets(self.requested_port, self.host)
        server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        server.stop()
        await server.close_all_connections()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "RunningServer":
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise ReviewKitError(f"cannot listen on {self.host}:{self.requested_port}: {self._error}")
        log.info("receiving on %s", self.url)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:
                pass  # the loop is gone already
        self._thread.join(10)
        self.executor.shutdown(wait=True)

    def __enter__(self) -> "RunningServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(store_location: str, out_dir: str | os.PathLike, *, settings: ServerSettings,
          config: Mapping[str, Any] | None = None, jobs: int = 1, worker: bool = True,
          lease_seconds: float | None = None) -> None:
    """`review-kit serve`: the receiver, and a worker beside it, until SIGINT or SIGTERM."""
    from .queue import DEFAULT_LEASE_SECONDS, Worker
    store = Store.open(store_location)
    if not settings.pagerduty_secret:
        log.warning("no PagerDuty secret (%s): /webhooks/pagerduty refuses every delivery",
                    PAGERDUTY_SECRET_ENV)
    if not settings.token:
        log.warning("no token (%s): /webhooks/alertmanager and /events refuse every delivery", TOKEN_ENV)
    running = RunningServer(Receiver(store, settings, config)).start()
    print(f"review-kit: receiving on {running.url}", flush=True)
    stop = threading.Event()
    queue_worker = None
    if worker:
        queue_worker = Worker(store_location, out_dir, jobs=jobs,
                              lease_seconds=lease_seconds or DEFAULT_LEASE_SECONDS)
        thread = threading.Thread(target=queue_worker.run, name="review-kit-worker", daemon=True)
        thread.start()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if queue_worker is not None:
            queue_worker.stop()
            thread.join(30)
        running.stop()
        log.info("receiver stopped")


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until something listens on host:port (a receiver started in another process)."""
    import socket
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
