"""Opsgenie alerts, alert logs, notes and outgoing webhooks as incidents and paging events.

Input (one per file, an array, or JSON lines, streamed):

- `GET /v2/alerts` (`{data: [...], paging}`) and `GET /v2/alerts/{id}` (`{data: {...}}`):
  each alert is an incident (incident_id = alert `id` unless `--incident`; title = message;
  severity from priority P1..P5 → SEV1..SEV5, config `severity_map` overrides; status;
  created_at; team = its teams; commander = its `owner`; service = its `entity`) with aliases
  (opsgenie, id / tinyId / alias). Its `report` implies events: `triggered` at createdAt,
  `acknowledged` at createdAt + `ackTime` ms by `acknowledgedBy`, `resolved` at createdAt +
  `closeTime` ms by `closedBy`.
- `GET /v2/alerts/{id}/logs` (`{data: [{log, type, owner, createdAt, offset}]}`) and
  `GET /v2/alerts/{id}/notes` (`{data: [{note, owner, createdAt, offset}]}`). These do not
  name their alert: it comes from `--incident`, or from a wrapper the exporter adds,
  `{"alertId": "...", "data": [...]}` (also `alert_id`, or `alert: {id}`). The free-text
  `log` is read by `LOG_PATTERNS` (first match wins): unacknowledged → note, note added →
  note, created → triggered, acknowledged → acknowledged, closed → resolved, escalated →
  escalated, assigned / took ownership → reassigned, priority changed → severity_changed,
  notified / notification sent / recipient or team added → notified; any other line is
  kept as a `note`. A `[name]` after "to" becomes the target. `offset`
  (`"<epoch ms>_<epoch ns>"`) gives `seq`, ordering entries that share a millisecond.
- Webhooks (`{action, alert{alertId, createdAt (epoch ms), updatedAt (epoch ns), username,
  note?…}, source}`): Create → triggered, Acknowledge → acknowledged, UnAcknowledge → note,
  AddNote → note, Escalate → escalated (target: escalationNotify.name), AssignOwnership /
  TakeOwnership → reassigned (target: the new owner), AddRecipient / AddTeam → notified
  (target: the recipient or team: adding them pages them; they have not joined until they
  act), UpdatePriority → severity_changed, Close → resolved, Delete and anything else →
  note. Time = updatedAt (ns); source id = alertId:action:updatedAt.

Every event's `seq` is its epoch nanoseconds, so all three representations order alike.
An alert is created and closed once, so those two events have the ids `<alert id>:created`
and `<alert id>:closed` in every representation: loading the alert list, its logs and the
webhooks of one alert gives one `triggered` and one `resolved`. Actors written as e-mail
addresses (how Opsgenie names users) are people; others ("System", integrations) services.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import pandas as pd

from ..errors import InputError, TimestampError
from ..model import parse_timestamp
from ._jsonstream import (
    BatchCollector,
    has_key,
    iter_documents,
    join_place,
    looks_like_json,
    severity_map,
    wrong_format,
)
from .base import Batch, LoadContext, Loader, incident_row, type_name

SOURCE = "opsgenie"
DEFAULT_SEVERITY_MAP: dict[str, str] = {f"P{n}": f"SEV{n}" for n in range(1, 6)}
EXPECTED = ("an Opsgenie alerts, alert logs or notes response ({data: [...]}) or an Opsgenie "
            "webhook payload ({action, alert})")

_I = re.IGNORECASE
#: (kind, pattern) tried in order on a log line; the first match decides. Order matters:
#: "unacknowledged" contains "acknowledged", and a note's text may say anything.
LOG_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("note", re.compile(r"\bun-?acknowledged?\b", _I)),
    ("note", re.compile(r"^\W*(?:\w+\W+){0,3}?(?:added\s+(?:a\s+)?note|note\s+(?:is\s+)?added)\b", _I)),
    ("triggered", re.compile(r"^\W*(?:\[[^\]]*\]\s*)?(?:alert\s+(?:is\s+)?created|created\b)", _I)),
    ("acknowledged", re.compile(r"\backnowledged\b", _I)),
    ("resolved", re.compile(r"^\W*(?:\[[^\]]*\]\s*)?(?:alert\s+(?:is\s+)?closed|closed\b)", _I)),
    ("escalated", re.compile(r"\bescalat(?:ed|ion|ing)\b", _I)),
    ("reassigned", re.compile(r"\b(?:assigned|took\s+ownership|taken\s+ownership|ownership)\b", _I)),
    ("severity_changed", re.compile(r"\bpriority\b.*\b(?:changed|updated|set|raised|lowered)\b|"
                                    r"\b(?:changed|updated)\b.*\bpriority\b", _I)),
    ("notified", re.compile(r"\bnotif(?:ied|ication|ications)\b|\brecipients?\b.*\badded\b|"
                            r"\badded\b.*\b(?:recipients?|team|responders?)\b|"
                            r"\b(?:team|responder)\b.*\badded\b", _I)),
)
_STRICT_CREATED = re.compile(r"^\s*alert\s+(?:is\s+)?created\b", _I)
_STRICT_CLOSED = re.compile(r"^\s*alert\s+(?:is\s+)?closed\b", _I)
_TARGET = re.compile(r"\bto\s+\[([^\]]+)\]", _I)
_BRACKETED = re.compile(r"\[([^\]]+)\](?!\s*notification)", _I)
_OFFSET = re.compile(r"^\s*(\d+)_(\d+)\s*$")

WEBHOOK_KINDS: dict[str, str] = {
    "Create": "triggered", "Acknowledge": "acknowledged", "UnAcknowledge": "note",
    "AddNote": "note", "Escalate": "escalated", "AssignOwnership": "reassigned",
    "TakeOwnership": "reassigned", "AddRecipient": "notified", "AddTeam": "notified",
    "UpdatePriority": "severity_changed", "Close": "resolved", "Delete": "note",
}


def classify_log(text: str) -> tuple[str, str | None]:
    """(kind, target) for a free-text Opsgenie log line; unknown lines are notes."""
    for kind, pattern in LOG_PATTERNS:
        if pattern.search(text):
            if kind not in ("escalated", "reassigned", "notified"):
                return kind, None
            # "… to [name]" names who it is about; else the first bracketed name does
            # ("Team [SRE] added as responder"), and "[voice] notification" is a channel.
            target = _TARGET.search(text) or _BRACKETED.search(text)
            return kind, target.group(1) if target else None
    return "note", None


def actor_type(actor: Any) -> str | None:
    """Opsgenie names users by e-mail; "System", integrations and APIs are services."""
    if not actor:
        return None
    return "person" if "@" in str(actor) else "service"


class OpsgenieLoader(Loader):
    name = SOURCE
    description = "Opsgenie alerts, alert logs and notes (API v2) and outgoing webhooks"

    def sniff(self, path: Path, head: str) -> bool:
        if not looks_like_json(head):
            return False
        if has_key(head, "tinyId") or has_key(head, "alertId"):
            return True
        if has_key(head, "action") and (has_key(head, "integrationName") or has_key(head, "escalationNotify")):
            return True
        return has_key(head, "offset") and has_key(head, "createdAt") and \
            (has_key(head, "log") or has_key(head, "note"))

    def load(self, path: Path, ctx: LoadContext) -> Iterator[Batch]:
        reader = _Reader(path, ctx)
        for place, document in iter_documents(path):
            reader.document(document, place)
            if reader.out.full:
                yield reader.out.flush()
        final = reader.out.flush(final=True)
        if final is not None:
            yield final


class _Reader:
    def __init__(self, path: Path, ctx: LoadContext) -> None:
        self.path, self.ctx = path, ctx
        self.severities = severity_map(DEFAULT_SEVERITY_MAP, ctx.config or {}, SOURCE)
        self.out = BatchCollector(source=SOURCE, path=path, tz=ctx.tz)

    # --- dispatch ----------------------------------------------------------------------
    def document(self, document: Any, place: str) -> None:
        if not isinstance(document, Mapping):
            raise wrong_format(self.path, place, document, EXPECTED)
        if isinstance(document.get("alert"), Mapping) and "action" in document:
            self.webhook(document, place)
            return
        if "data" in document and (isinstance(document["data"], (list, Mapping))):
            data = document["data"]
            owner = _wrapper_alert_id(document)
            items = enumerate(data) if isinstance(data, list) else [(None, data)]
            for i, item in items:
                where = join_place(place, ".data" if i is None else f".data[{i}]")
                self.record(item, where, owner)
            return
        # Bare records: an array of alerts, log entries or notes saved without the wrapper.
        self.record(document, place, None)

    def record(self, item: Any, where: str, owner: str | None) -> None:
        if not isinstance(item, Mapping):
            raise wrong_format(self.path, where, item, EXPECTED)
        if "log" in item and "createdAt" in item:
            self.log_entry(item, where, owner, "log")
        elif "note" in item and "createdAt" in item and "message" not in item:
            self.log_entry(item, where, owner, "note")
        elif "id" in item and "createdAt" in item and ("tinyId" in item or "message" in item):
            self.alert(item, where)
        else:
            raise wrong_format(self.path, where, item, EXPECTED)

    # --- alerts ------------------------------------------------------------------------
    def alert(self, alert: Mapping[str, Any], where: str) -> None:
        alert_id = str(alert["id"])
        # The report holds the acknowledgement and close times: read leniently, a text there
        # would silently drop two milestones.
        for key in ("report", "integration"):
            value = alert.get(key)
            if value is not None and not isinstance(value, Mapping):
                raise InputError(self.path, f"{where}.{key}",
                                 f"expected an object, found {type_name(value)}")
        incident_id = self.ctx.incident_id or alert_id
        created = self._time(alert.get("createdAt"), f"{where}.createdAt")
        if created is None:
            raise InputError(self.path, f"{where}.createdAt", "missing")
        self._incident(incident_id, where, source_id=alert_id, title=alert.get("message"),
                       severity_raw=alert.get("priority"), status=alert.get("status"),
                       created_at=created, team=_teams(alert), commander=alert.get("owner") or None,
                       service=alert.get("entity") or None)
        for external in (alert_id, alert.get("tinyId"), alert.get("alias")):
            self.out.add_alias(incident_id, external)
        integration = alert.get("integration") if isinstance(alert.get("integration"), Mapping) else {}
        creator = alert.get("source") or integration.get("name")
        self._event(incident_id, created, "triggered", f"{where}.createdAt", f"{alert_id}:created",
                    actor=creator, summary=alert.get("message"), raw=alert)
        report = alert.get("report") if isinstance(alert.get("report"), Mapping) else {}
        for key, kind, by, suffix in (("ackTime", "acknowledged", "acknowledgedBy", "report:acknowledged"),
                                      ("closeTime", "resolved", "closedBy", "closed")):
            elapsed = report.get(key)
            if elapsed is None:
                continue
            if not isinstance(elapsed, (int, float)) or isinstance(elapsed, bool) or elapsed < 0:
                raise InputError(self.path, f"{where}.report.{key}",
                                 f"expected milliseconds after createdAt, found {elapsed!r}")
            at = created + pd.Timedelta(milliseconds=elapsed)
            self._event(incident_id, at, kind, f"{where}.report.{key}", f"{alert_id}:{suffix}",
                        actor=report.get(by), summary=f"{kind} (from the alert report)",
                        raw={"report": report, "alertId": alert_id})

    # --- logs and notes ----------------------------------------------------------------
    def log_entry(self, entry: Mapping[str, Any], where: str, owner: str | None, what: str) -> None:
        alert_id = owner or self.ctx.incident_id
        if alert_id is None:
            raise InputError(self.path, where, f"Opsgenie alert {what}s do not name their alert; "
                             "pass --incident ID, or save them as {\"alertId\": ..., \"data\": [...]}")
        incident_id = self.ctx.incident_id or alert_id
        if owner:
            self.out.add_alias(incident_id, owner)
        at = self._time(entry.get("createdAt"), f"{where}.createdAt")
        if at is None:
            raise InputError(self.path, f"{where}.createdAt", "missing")
        offset = entry.get("offset")
        match = _OFFSET.match(str(offset)) if offset is not None else None
        seq = int(match.group(2)) if match else None
        text = str(entry.get(what) or "")
        if what == "note":
            kind, target = "note", None
            source_id = f"{alert_id}:note:{offset}" if offset else None
        else:
            kind, target = classify_log(text)
            source_id = f"{alert_id}:log:{offset}" if offset else None
            if kind == "triggered" and _STRICT_CREATED.search(text):
                source_id = f"{alert_id}:created"
            elif kind == "resolved" and _STRICT_CLOSED.search(text):
                source_id = f"{alert_id}:closed"
        if kind == "reassigned" and target is None:
            target = entry.get("owner")  # "Took ownership of the alert": the owner is the actor
        self._event(incident_id, at, kind, where, source_id, actor=entry.get("owner"),
                    target=target, summary=text, raw=entry, seq=seq)

    # --- webhooks ----------------------------------------------------------------------
    def webhook(self, payload: Mapping[str, Any], place: str) -> None:
        alert = payload["alert"]
        action = payload.get("action") or ""
        if not isinstance(action, str):
            raise InputError(self.path, f"{place}.action", f"expected text, found {type(action).__name__}")
        alert_id = alert.get("alertId")
        if not alert_id:
            raise InputError(self.path, join_place(place, ".alert.alertId"), "missing")
        alert_id = str(alert_id)
        incident_id = self.ctx.incident_id or alert_id
        updated_raw = alert.get("updatedAt")
        field = "updatedAt"
        if updated_raw is None and action == "Create":
            updated_raw, field = alert.get("createdAt"), "createdAt"
        if updated_raw is None:
            raise InputError(self.path, join_place(place, ".alert.updatedAt"),
                             f"missing: the {action or 'webhook'} payload says not when it happened")
        at = self._time(updated_raw, join_place(place, f".alert.{field}"))
        created = self._time(alert.get("createdAt"), join_place(place, ".alert.createdAt"))
        status = {"Create": "open", "Close": "closed", "Delete": "deleted"}.get(action)
        self._incident(incident_id, place, source_id=alert_id, title=alert.get("message"),
                       severity_raw=alert.get("priority"), status=status, created_at=created,
                       team=_teams(alert), commander=alert.get("owner") or None,
                       service=alert.get("entity") or None)
        for external in (alert_id, alert.get("tinyId"), alert.get("alias")):
            self.out.add_alias(incident_id, external)

        kind = WEBHOOK_KINDS.get(action, "note")
        actor = alert.get("username") or None
        target = {
            "AssignOwnership": alert.get("owner"),
            "TakeOwnership": alert.get("owner") or actor,
            "AddRecipient": alert.get("recipient"),
            "AddTeam": alert.get("team"),
            "Escalate": (payload.get("escalationNotify") or {}).get("name")
            if isinstance(payload.get("escalationNotify"), Mapping) else None,
        }.get(action)
        source_id = {"Create": f"{alert_id}:created", "Close": f"{alert_id}:closed"}.get(
            action, f"{alert_id}:{action}:{updated_raw}")
        # updatedAt is epoch ns: keep all its digits for ordering, though `at` holds µs.
        seq = updated_raw if isinstance(updated_raw, int) and updated_raw > 10**17 else None
        self._event(incident_id, at, kind, join_place(place, f".alert.{field}"), source_id,
                    actor=actor, target=target, summary=_webhook_summary(action, alert, target, payload),
                    raw=payload, seq=seq)

    # --- helpers -----------------------------------------------------------------------
    def _event(self, incident_id: str, at: pd.Timestamp, kind: str, where: str,
               source_id: str | None, *, actor: Any = None, target: Any = None,
               summary: Any = None, raw: Any = None, seq: int | None = None) -> None:
        if source_id is not None and self.out.seen(source_id):
            return
        self.out.add_event({"incident_id": incident_id, "at": at, "kind": kind,
                            "actor": actor or None, "actor_type": actor_type(actor),
                            "target": target or None, "summary": summary, "raw": raw,
                            "source_id": source_id,
                            "seq": seq if seq is not None else at.value}, where)

    def _incident(self, incident_id: str, where: str, *, created_at: Any, severity_raw: Any,
                  **fields: Any) -> None:
        row = incident_row(incident_id=incident_id, source=SOURCE, severity_raw=severity_raw,
                           severity_map=self.severities, created_at=created_at, tz=self.ctx.tz,
                           **fields)
        known = self.out.incident(incident_id)
        if known is not None:
            merged = dict(known)
            for key, value in row.items():
                if value is None:
                    continue
                if key == "created_at" and merged.get(key) is not None:
                    value = min(merged[key], value)
                merged[key] = value
            row = merged
        self.out.add_incident(row)

    def _time(self, value: Any, where: str) -> pd.Timestamp | None:
        try:
            return parse_timestamp(value, self.ctx.tz)
        except TimestampError as exc:
            raise exc.at(path=str(self.path), where=where) from None


def _wrapper_alert_id(document: Mapping[str, Any]) -> str | None:
    alert = document.get("alert")
    value = document.get("alertId") or document.get("alert_id") or (
        alert.get("id") if isinstance(alert, Mapping) else None)
    return str(value) if value else None


def _teams(alert: Mapping[str, Any]) -> str | None:
    names = []
    for team in alert.get("teams") or []:
        if isinstance(team, Mapping):
            name = team.get("name") or team.get("id")
        else:
            name = team
        if name and str(name) not in names:
            names.append(str(name))
    return ", ".join(names) or None


def _webhook_summary(action: str, alert: Mapping[str, Any], target: Any,
                     payload: Mapping[str, Any]) -> str:
    message = alert.get("message") or ""
    note = alert.get("note")
    text = {
        "Create": message,
        "AddNote": note or "",
        "Escalate": f"escalated to {target}" + (f" ({payload['escalationName']})"
                                                 if payload.get("escalationName") else ""),
        "AssignOwnership": f"ownership assigned to {target}",
        "TakeOwnership": f"{target} took ownership",
        "AddRecipient": f"recipient {target} added",
        "AddTeam": f"team {target} added",
        "UpdatePriority": f"priority changed to {alert.get('priority')}",
        "Close": f"closed: {message}" if message else "closed",
    }.get(action, f"{action}: {message}" if message else action)
    if note and action != "AddNote":
        text = f"{text} (note: {note})"
    return text


LOADER = OpsgenieLoader()
