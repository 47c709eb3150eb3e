"""PagerDuty: REST API v2 responses (incidents, log entries, notes) and Webhooks v3 payloads.

A file holds one response, an array of pages, or JSON lines, and may mix response kinds:

- `GET /incidents` (and `GET /incidents/{id}`) give the incident rows and their aliases
  (PagerDuty id, incident number, incident key).
- `GET /incidents/{id}/log_entries` and `GET /log_entries` give the lifecycle events. Pages
  come newest first and entries often share one second, so `seq` numbers each incident's
  entries in true (oldest-first) order, counting across pages by the page `offset`.
- `GET /incidents/{id}/notes` gives `note` events; the response does not name its incident,
  so it needs `--incident` (or a wrapper object with `incident_id`).
- Webhooks v3 (`{"event": {...}}`) give one event per payload.

Log entry types (FORMATS.md) map to canonical kinds as follows; any type PagerDuty adds
later becomes a `note` and is never dropped:

=================================================  ====================================
trigger                                            triggered
acknowledge, acknowledgement                       acknowledged
annotate                                           note (the note text from channel.summary)
assign by a person                                 reassigned (target: the new assignees)
assign by no one / a service (the routing of a     notified (target: the assignees), so the
new incident to its first on-call)                 first page is not counted as a hand-off
delegate                                           reassigned (to another escalation policy)
escalate                                           escalated (target: the new assignees)
repeat_escalation_path                             escalated (the policy pages level 1 again)
exhaust_escalation_path, reach_ack_limit,          note, actor_type service: machine events
reach_trigger_limit                                that page nobody new
notify                                             notified (target: the user; no actor)
resolve                                            resolved
snooze, unsnooze                                   note
unacknowledge                                      note: the incident goes back to triggered,
                                                   it was never resolved, so it is no reopen
urgency_change, priority_change                    severity_changed
field_value_change, custom_field_value_change      note
=================================================  ====================================
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import pandas as pd

from ..errors import InputError, TimestampError
from ..model import EVENT_COLUMNS, TARGET_SEPARATOR
from . import _jsonstream
from ._jsonstream import iter_documents
from .base import (Batch, LoadContext, Loader, RowBatch, dumps, event_columns, events_frame, few_events,
                   incident_row, require, require_id, require_text, type_name)

SOURCE = "pagerduty"

LOG_ENTRY_KINDS: dict[str, str] = {
    "trigger_log_entry": "triggered",
    "acknowledge_log_entry": "acknowledged",
    "acknowledgement_log_entry": "acknowledged",
    "annotate_log_entry": "note",
    "assign_log_entry": "reassigned",
    "reassign_log_entry": "reassigned",
    "delegate_log_entry": "reassigned",
    "escalate_log_entry": "escalated",
    "repeat_escalation_path_log_entry": "escalated",
    "exhaust_escalation_path_log_entry": "note",
    "reach_ack_limit_log_entry": "note",
    "reach_trigger_limit_log_entry": "note",
    "notify_log_entry": "notified",
    "resolve_log_entry": "resolved",
    "snooze_log_entry": "note",
    "unsnooze_log_entry": "note",
    "unacknowledge_log_entry": "note",
    "urgency_change_log_entry": "severity_changed",
    "priority_change_log_entry": "severity_changed",
    "field_value_change_log_entry": "note",
    "custom_field_value_change_log_entry": "note",
}
# Entries PagerDuty writes by itself: nobody acted, so their actor is a service.
MACHINE_LOG_ENTRIES: frozenset[str] = frozenset({
    "exhaust_escalation_path_log_entry", "reach_ack_limit_log_entry",
    "reach_trigger_limit_log_entry", "repeat_escalation_path_log_entry",
})

WEBHOOK_KINDS: dict[str, str] = {
    "incident.triggered": "triggered",
    "incident.acknowledged": "acknowledged",
    "incident.unacknowledged": "note",
    "incident.escalated": "escalated",
    "incident.reassigned": "reassigned",
    "incident.delegated": "reassigned",
    "incident.annotated": "note",
    "incident.status_update_published": "stakeholder_update",
    "incident.priority_updated": "severity_changed",
    "incident.responder.added": "responder_joined",
    "incident.responder.replied": "note",
    "incident.resolved": "resolved",
    "incident.reopened": "reopened",
    "incident.service_updated": "note",
    "incident.custom_field_values.updated": "note",
}
_WEBHOOK_VERBS: dict[str, str] = {
    "incident.triggered": "Triggered",
    "incident.acknowledged": "Acknowledged",
    "incident.unacknowledged": "Unacknowledged",
    "incident.escalated": "Escalated",
    "incident.reassigned": "Reassigned",
    "incident.delegated": "Delegated",
    "incident.priority_updated": "Priority changed",
    "incident.resolved": "Resolved",
    "incident.reopened": "Reopened",
    "incident.service_updated": "Moved to another service",
    "incident.custom_field_values.updated": "Custom fields updated",
}

ACTOR_TYPES: dict[str, str] = {
    "user_reference": "person", "user": "person",
    "service_reference": "service", "service": "service",
    "integration_reference": "service", "inbound_integration_reference": "service",
    "generic_email_inbound_integration_reference": "service",
    "escalation_policy_reference": "service",
}

# Without a priority PagerDuty only has urgency; these are the defaults a user's
# `severity_map` (keys "P1", "urgency:high", …) can override.
DEFAULT_SEVERITY_MAP: dict[str, str] = {"urgency:high": "SEV2", "urgency:low": "SEV4"}

# Incident references read "[#1234] The title": the number is an alias, the rest the title.
_NUMBERED_SUMMARY = re.compile(r"^\[#(\d+)\]\s*(.*)$", re.DOTALL)
# Log entry seq: newest-first position g (page offset + index) becomes BASE - g, so seq
# grows with age reversed, consistently across pages saved in separate files.
LOG_SEQ_BASE = 1_000_000
# Structure, not the domain name: a Slack export quoting a PagerDuty link is no PagerDuty file.
_SNIFF = re.compile(r'"incident_number"|_log_entry"|"event_type"\s*:\s*"(?:incident|pagey)\.'
                    r'|"type"\s*:\s*"(?:incident|service|escalation_policy|user|priority)_reference"')

# Incident rows are merged per incident, the most complete source last (it wins field by field).
_RANK_REFERENCE, _RANK_WEBHOOK, _RANK_INCIDENT = 0, 1, 2


class PagerDutyLoader(Loader):
    name = SOURCE
    description = "PagerDuty REST API v2 (incidents, log entries, notes) and Webhooks v3"

    def sniff(self, path: Path, head: str) -> bool:
        return head.lstrip("\ufeff \t\r\n")[:1] in ("{", "[") and bool(_SNIFF.search(head))

    def load(self, path: Path, ctx: LoadContext) -> Iterator[Batch]:
        reader = _Reader(Path(path), ctx)
        for place, document in iter_documents(path):
            reader.document(place, document)
            if reader.pending >= _jsonstream.BATCH_EVENTS:
                # Between documents: a page is never split, and memory stays one batch deep.
                yield reader.batch()
        if reader.batches == 0 or reader.pending or reader.touched or reader.pending_aliases:
            yield reader.batch()


def _join(base: str, suffix: str) -> str:
    """A JSON path inside one document: `$[1].log_entries[3]`, `line 4: $.event`."""
    return f"{base}{suffix}" if base.startswith("$") else f"{base}: ${suffix}"


def _check_shapes(record: Mapping, path: Any, where: str, objects: tuple[str, ...] = (),
                  lists: tuple[str, ...] = ()) -> None:
    """Refuse a reference of the wrong type (a text where PagerDuty puts an object, an object
    where it puts a list of them): read leniently it would silently lose who acted or
    which service broke. Absent and null values are fine."""
    for key in objects:
        value = record.get(key)
        if value is not None and type(value) is not dict:
            raise InputError(path, _join(where, f".{key}"),
                             f"expected an object, found {type_name(value)}")
    for key in lists:
        value = record.get(key)
        if value is None:
            continue
        if type(value) is not list:
            raise InputError(path, _join(where, f".{key}"),
                             f"expected a list of objects, found {type_name(value)}")
        for i, item in enumerate(value):
            if type(item) is not dict:
                raise InputError(path, _join(where, f".{key}[{i}]"),
                                 f"expected an object, found {type_name(item)}")


def _summary(ref: Any) -> str | None:
    return ref.get("summary") if isinstance(ref, dict) and ref.get("summary") else None


def _names(refs: Any) -> str | None:
    """Who a list of user references names, as one text (escalation / reassignment target)."""
    if not isinstance(refs, list):
        return None
    names = [_summary(r) for r in refs]
    names = [n for n in names if n]
    return TARGET_SEPARATOR.join(dict.fromkeys(names)) or None


def _readable(event_type: str) -> str:
    """`incident.conference_bridge.updated` → `Conference bridge updated` (types added later)."""
    words = event_type.removeprefix("incident.").replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _actor(agent: Any) -> tuple[str | None, str | None]:
    if not isinstance(agent, dict):
        return None, None
    return _summary(agent), ACTOR_TYPES.get(str(agent.get("type")))


class _Rows:
    """Event rows of one kind, kept column by column (no dict per row) until the next batch."""

    COLUMNS = ("incident_id", "at", "kind", "actor", "actor_type", "target", "summary", "raw",
               "source_id", "seq")

    def __init__(self) -> None:
        self.columns: dict[str, list] = {c: [] for c in self.COLUMNS}
        self.places: list[str] = []

    def add(self, place: str, *values: Any) -> None:
        for column, value in zip(self.columns.values(), values):
            column.append(value)
        self.places.append(place)

    def __len__(self) -> int:
        return len(self.places)

    def frame(self, path: Path, tz: str | None) -> pd.DataFrame:
        return events_frame(self.columns, source=SOURCE, path=path, tz=tz, locate=self.places.__getitem__)

    def rows(self, path: Path, tz: str | None) -> dict[str, list]:
        return event_columns(self.columns, source=SOURCE, path=path, tz=tz,
                             locate=self.places.__getitem__)


class _Reader:
    """Collects rows from the documents of one file and hands them out as Batches.

    Events leave with each batch. What is kept for the whole file is one entry per
    incident: every field's value with the rank that set it, so that however the file is
    cut into batches the incident row written last is the one a single pass would merge
    (references first, then webhook snapshots oldest first, then API incident objects,
    each filling or overriding the fields it knows)."""

    def __init__(self, path: Path, ctx: LoadContext) -> None:
        self.path = path
        self.ctx = ctx
        self.severity_map = {**DEFAULT_SEVERITY_MAP, **dict(ctx.config.get("severity_map") or {})}
        self.fields: dict[str, dict[str, tuple[tuple, Any]]] = {}  # incident -> field -> (rank key, value)
        self.touched: dict[str, None] = {}                          # incidents changed since the last batch
        self.order = 0                                              # file order, the last tie-breaker
        self.referenced: set[tuple[str, str]] = set()
        self.webhook_snapshots: list[tuple[int, int, dict]] = []    # (webhook row, file order, row)
        self.aliases: set[tuple[str, str]] = set()
        self.pending_aliases: list[dict] = []
        self.log = _Rows()
        self.log_count = 0
        self.webhooks = _Rows()
        self.webhook_count = 0
        self.notes_rows = _Rows()
        self.batches = 0

    @property
    def pending(self) -> int:
        return len(self.log) + len(self.webhooks) + len(self.notes_rows)

    def merge(self, row: dict, key: tuple) -> None:
        fields = self.fields.setdefault(row["incident_id"], {})
        for name, value in row.items():
            if value is not None:
                held = fields.get(name)
                if held is None or key > held[0]:
                    fields[name] = (key, value)
        self.touched[row["incident_id"]] = None

    def ranked(self, rank: int, at: int = 0) -> tuple:
        self.order += 1
        return (rank, at, self.order)

    # --- documents -----------------------------------------------------------------------------
    def document(self, place: str, doc: Any) -> None:
        if not isinstance(doc, dict):
            raise InputError(self.path, place, f"expected a PagerDuty response object, "
                             f"found {type(doc).__name__}")
        if isinstance(doc.get("incidents"), list):
            for j, item in enumerate(doc["incidents"]):
                self.incident(item, _join(place, f".incidents[{j}]"))
        elif isinstance(doc.get("log_entries"), list):
            self.log_page(doc["log_entries"], doc.get("offset"), _join(place, ".log_entries"))
        elif isinstance(doc.get("notes"), list):
            self.notes(doc, place)
        elif isinstance(doc.get("event"), dict):
            self.webhook(doc["event"], _join(place, ".event"))
        elif isinstance(doc.get("incident"), dict) and doc["incident"].get("type") == "incident":
            self.incident(doc["incident"], _join(place, ".incident"))
        elif isinstance(doc.get("log_entry"), dict):
            self.log_page([doc["log_entry"]], None, _join(place, ".log_entry"), single=True)
        elif str(doc.get("type", "")).endswith("_log_entry"):
            self.log_page([doc], None, _join(place, ""), single=True)
        elif doc.get("type") == "incident":
            self.incident(doc, _join(place, ""))
        elif isinstance(doc.get("error"), dict):
            raise InputError(self.path, _join(place, ".error"), "the file holds a PagerDuty API "
                             f"error, not data: {doc['error'].get('message', doc['error'])}")
        elif isinstance(doc.get("messages"), list):
            raise InputError(self.path, place, "PagerDuty v2 webhook payloads are not supported "
                             "(PagerDuty retired them); subscribe with Webhooks v3")
        else:
            raise InputError(self.path, place, "not a PagerDuty API response or webhook: "
                             "expected incidents, log_entries, notes or event")

    def incident_id(self, pd_id: Any) -> str:
        return str(self.ctx.incident_id or pd_id)

    def alias(self, incident_id: str, external_id: Any, *, merge: bool = True) -> None:
        """`merge=False`: a name that may be shared by another incident (an incident_key is
        reused by every later incident of the same alert), which never folds two into one."""
        if external_id is None or str(external_id) == "":
            return
        if isinstance(external_id, (dict, list, bool)):  # the safety net names the file
            raise TypeError(f"expected an id or number, found {type(external_id).__name__}")
        key = (incident_id, str(external_id))
        if key not in self.aliases:
            self.aliases.add(key)
            self.pending_aliases.append({"incident_id": incident_id, "source": SOURCE,
                                         "external_id": key[1], "merge": merge})

    def incident(self, obj: Any, where: str, rank: int = _RANK_INCIDENT) -> str:
        """One incident object (REST API or webhook data): its row and aliases."""
        pd_id = require_id(obj, "id", self.path, where)
        _check_shapes(obj, self.path, where, ("priority", "service", "escalation_policy"),
                      ("teams", "assignees"))
        incident_id = self.incident_id(pd_id)
        priority = obj.get("priority")
        severity_raw = _summary(priority)
        if severity_raw is None and obj.get("urgency"):
            severity_raw = f"urgency:{obj['urgency']}"
        teams = obj.get("teams")
        try:
            row = incident_row(
                incident_id=incident_id, source=SOURCE, severity_raw=severity_raw,
                severity_map=self.severity_map, created_at=obj.get("created_at"), tz=self.ctx.tz,
                title=obj.get("title") or obj.get("summary"), status=obj.get("status"),
                service=_summary(obj.get("service")),
                team=_summary(teams[0]) if isinstance(teams, list) and teams else None,
                url=obj.get("html_url"), source_id=pd_id)
        except TimestampError as exc:
            raise exc.at(self.path, f"{where}.created_at") from None
        number = obj.get("incident_number", obj.get("number"))
        if rank == _RANK_WEBHOOK:
            # Ordered by the event's time once parsed: the latest snapshot is the truest.
            self.order += 1
            self.webhook_snapshots.append((len(self.webhooks), self.order, row))
        else:
            self.merge(row, self.ranked(rank))
        for external in (pd_id, number):
            self.alias(incident_id, external)
        self.alias(incident_id, obj.get("incident_key"), merge=False)
        return incident_id

    def reference(self, ref: Any, where: str, service: Any = None, teams: Any = None) -> str:
        """An incident known only from a reference (log entry, note, webhook sub-object)."""
        if self.ctx.incident_id and not isinstance(ref, dict):
            return str(self.ctx.incident_id)
        pd_id = require_id(ref, "id", self.path, where)
        _check_shapes(ref, self.path, where, ("escalation_policy",), ("assignees",))
        incident_id = self.incident_id(pd_id)
        if (pd_id, incident_id) in self.referenced:
            return incident_id  # every log entry repeats the reference: read it once
        self.referenced.add((pd_id, incident_id))
        title = _summary(ref)
        match = _NUMBERED_SUMMARY.match(title or "")
        if match:
            self.alias(incident_id, match.group(1))
            title = match.group(2) or None
        row = {"incident_id": incident_id, "source": SOURCE, "source_id": pd_id, "title": title,
               "url": ref.get("html_url"), "service": _summary(service),
               "team": _summary(teams[0]) if isinstance(teams, list) and teams else None}
        self.merge(row, self.ranked(_RANK_REFERENCE))
        self.alias(incident_id, pd_id)
        return incident_id

    # --- log entries ---------------------------------------------------------------------------
    def log_page(self, entries: list, offset: Any, where: str, single: bool = False) -> None:
        # The page offset places entries in the incident's whole newest-first log, so pages
        # saved in separate files still number consistently; without one, count on in the file.
        start = offset if isinstance(offset, int) and not isinstance(offset, bool) else self.log_count
        for j, entry in enumerate(entries):
            entry_where = where if single else f"{where}[{j}]"
            self.log_entry(entry, entry_where, start + j)
        self.log_count = max(self.log_count, start + len(entries))

    def log_entry(self, entry: Any, where: str, position: int) -> None:
        entry_type = require_text(entry, "type", self.path, where)
        _check_shapes(entry, self.path, where, ("agent", "user", "channel", "assigned_user",
                                                "escalation_policy", "service"),
                      ("assignees", "teams"))
        embedded = entry.get("incident")
        if self.ctx.incident_id and not isinstance(embedded, dict):
            incident_id = str(self.ctx.incident_id)
        elif isinstance(embedded, dict) and embedded.get("type") == "incident":
            # Fetched with include[]=incidents: the whole incident, not a reference.
            incident_id = self.incident(embedded, f"{where}.incident")
        else:
            incident_id = self.reference(require(entry, "incident", self.path, where),
                                         f"{where}.incident", entry.get("service"), entry.get("teams"))
        actor, actor_type = _actor(entry.get("agent"))
        kind = LOG_ENTRY_KINDS.get(entry_type, "note")
        summary = entry.get("summary")
        target = None
        channel = entry.get("channel") if isinstance(entry.get("channel"), dict) else {}
        if entry_type == "annotate_log_entry":
            summary = channel.get("summary") or entry.get("note") or summary
        elif entry_type == "notify_log_entry":
            target = _summary(entry.get("user"))
            actor, actor_type = None, None
        elif entry_type in ("assign_log_entry", "reassign_log_entry", "escalate_log_entry",
                            "repeat_escalation_path_log_entry"):
            assigned = list(entry.get("assignees") or [])
            if isinstance(entry.get("assigned_user"), dict):
                assigned.append(entry["assigned_user"])
            target = _names(assigned)
            if entry_type == "assign_log_entry" and actor_type != "person":
                # PagerDuty routing a new incident to its first on-call, not a hand-off.
                kind = "notified"
        elif entry_type == "delegate_log_entry":
            target = _names(entry.get("assignees")) or _summary(entry.get("escalation_policy"))
        if entry_type in MACHINE_LOG_ENTRIES:
            actor_type = "service"
        self.log.add(f"{where}.created_at", incident_id, entry.get("created_at"), kind, actor,
                     actor_type, target, summary, dumps(entry), entry.get("id"), position)

    # --- notes ---------------------------------------------------------------------------------
    def notes(self, doc: Mapping, place: str) -> None:
        wrapper = doc.get("incident")
        named = doc.get("incident_id") or (wrapper.get("id") if isinstance(wrapper, dict) else None)
        if self.ctx.incident_id:
            incident_id = str(self.ctx.incident_id)
            if named:
                self.alias(incident_id, named)
        elif named:
            incident_id = self.reference(wrapper if isinstance(wrapper, dict) else {"id": named},
                                         _join(place, ".incident"))
        else:
            raise InputError(self.path, _join(place, ".notes"), "a notes response does not say "
                             "which incident it belongs to; ingest it with --incident ID")
        for j, note in enumerate(doc["notes"]):
            where = _join(place, f".notes[{j}]")
            if not isinstance(note, dict):
                raise InputError(self.path, where, f"expected a note object, found {type(note).__name__}")
            _check_shapes(note, self.path, where, ("user",))
            actor, actor_type = _actor(note.get("user"))
            note_id = note.get("id")
            self.notes_rows.add(f"{where}.created_at", incident_id, note.get("created_at"), "note",
                                actor, actor_type, None, note.get("content"), dumps(note),
                                f"note:{note_id}" if note_id else None, None)

    # --- webhooks ------------------------------------------------------------------------------
    def webhook(self, event: Mapping, where: str) -> None:
        event_type = require_text(event, "event_type", self.path, where)
        if event.get("resource_type", "incident") != "incident" or not event_type.startswith("incident."):
            return  # service.* and pagey.ping deliveries say nothing about an incident
        data = require(event, "data", self.path, where)
        if not isinstance(data, dict):
            raise InputError(self.path, f"{where}.data", "expected an object")
        _check_shapes(event, self.path, where, ("agent",))
        _check_shapes(data, self.path, f"{where}.data", ("user", "escalation_policy"),
                      ("custom_fields",))
        if data.get("type") == "incident" or (data.get("type") is None and "incident" not in data):
            incident = data
            incident_id = self.incident(data, f"{where}.data", rank=_RANK_WEBHOOK)
        else:
            incident = require(data, "incident", self.path, f"{where}.data")
            incident_id = self.reference(incident, f"{where}.data.incident")
        actor, actor_type = _actor(event.get("agent"))
        kind = WEBHOOK_KINDS.get(event_type, "note")
        target = None
        source_id = event.get("id")
        if event_type in ("incident.escalated", "incident.reassigned"):
            target = _names(incident.get("assignees"))
        elif event_type == "incident.delegated":
            target = _names(incident.get("assignees")) or _summary(incident.get("escalation_policy"))
        if event_type == "incident.annotated":
            summary = data.get("content")
            if data.get("type") == "incident_note" and data.get("id"):
                # The note's own id, as `GET /incidents/{id}/notes` gives it: the same note
                # arriving by webhook and by API export is one event.
                source_id = f"note:{data['id']}"
        elif event_type == "incident.status_update_published":
            summary = data.get("message")
        elif event_type in ("incident.responder.added", "incident.responder.replied"):
            responder = _summary(data.get("user")) or _summary(data.get("escalation_policy"))
            if event_type == "incident.responder.added":
                requester = actor
                actor, target = responder, responder
                actor_type = "person" if _summary(data.get("user")) else "service"
                summary = f"{responder} added as a responder" + (f" by {requester}" if requester else "")
            else:
                summary = f"{responder} replied to the responder request: {data.get('state')}"
            if data.get("message"):
                summary += f": {data['message']}"
        elif event_type == "incident.custom_field_values.updated":
            fields = [f"{f.get('name')}={f.get('value')}" for f in data.get("custom_fields") or []
                      if isinstance(f, dict)]
            summary = "Custom fields updated" + (f": {', '.join(fields)}" if fields else "")
            if actor:
                summary += f" by {actor}"
        else:
            summary = _WEBHOOK_VERBS.get(event_type) or _readable(event_type)
            if not isinstance(incident.get("title"), (str, type(None))):
                raise InputError(self.path, f"{where}.data.title", "expected text, found "
                                 f"{type(incident.get('title')).__name__}")
            if event_type == "incident.triggered" and incident.get("title"):
                summary = f"Triggered: {incident['title']}"
            elif event_type == "incident.priority_updated":
                summary += f" to {_summary(incident.get('priority')) or 'none'}"
            elif event_type == "incident.service_updated" and _summary(incident.get("service")):
                summary = f"Moved to service {_summary(incident.get('service'))}"
            elif target:
                summary += f" to {target}"
            if actor and event_type != "incident.triggered":
                summary += f" by {actor}"
        self.webhooks.add(f"{where}.occurred_at", incident_id, event.get("occurred_at"), kind, actor,
                          actor_type, target, summary, dumps({"event": dict(event)}), source_id,
                          self.webhook_count)
        self.webhook_count += 1

    # --- the batch -----------------------------------------------------------------------------
    def batch(self) -> Batch:
        """The rows collected since the last batch: events, the incidents they changed (each
        merged over the whole file so far) and the aliases not handed out yet."""
        tz = self.ctx.tz
        if not len(self.log) and few_events(self.pending):
            return self._row_batch()  # a delivery: its log entries would need _true_order's frame
        frames = []
        if len(self.log):
            frames.append(_true_order(self.log.frame(self.path, tz)))
        if len(self.webhooks):
            hooks = self.webhooks.frame(self.path, tz)
            micros = hooks["at"].astype("int64").tolist()
            # Webhook snapshots in the order of their events' times: the latest is the truest.
            for index, order, row in self.webhook_snapshots:
                self.merge(row, (_RANK_WEBHOOK, micros[index], order))
            frames.append(hooks)
        if len(self.notes_rows):
            frames.append(self.notes_rows.frame(self.path, tz))
        if frames:
            events = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        else:
            events = events_frame([], source=SOURCE, path=self.path, tz=tz)
        return self._handed_out(Batch(incidents=self._touched_rows(), events=events,
                                      aliases=self.pending_aliases))

    def _row_batch(self) -> RowBatch:
        """`batch` for a few webhook events and notes (a delivery): the same rows, as lists."""
        parts = []
        if len(self.webhooks):
            hooks = self.webhooks.rows(self.path, self.ctx.tz)
            for index, order, row in self.webhook_snapshots:
                self.merge(row, (_RANK_WEBHOOK, hooks["at"][index], order))
            parts.append(hooks)
        if len(self.notes_rows):
            parts.append(self.notes_rows.rows(self.path, self.ctx.tz))
        if len(parts) == 1:
            columns = parts[0]
        else:
            columns = {c: [v for part in parts for v in part[c]] for c in EVENT_COLUMNS}
        return self._handed_out(RowBatch(self._touched_rows(), columns, self.pending_aliases))

    def _touched_rows(self) -> list[dict]:
        return [{name: value for name, (_, value) in self.fields[i].items()} for i in self.touched]

    def _handed_out(self, batch: Batch) -> Batch:
        self.touched, self.pending_aliases, self.webhook_snapshots = {}, [], []
        self.log, self.webhooks, self.notes_rows = _Rows(), _Rows(), _Rows()
        self.batches += 1
        return batch


def _true_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Number each incident's log entries oldest first (their `seq` is the newest-first
    position on entry). A file saved oldest first (re-sorted by hand) is recognised by its
    timestamps and keeps its order."""
    position = frame["seq"]
    by_position = frame.assign(_position=position).sort_values(["incident_id", "_position"], kind="stable")
    step = by_position.groupby("incident_id", sort=False)["at"].diff()
    later = (step > pd.Timedelta(0)).groupby(by_position["incident_id"]).sum()
    earlier = (step < pd.Timedelta(0)).groupby(by_position["incident_id"]).sum()
    oldest_first = frame["incident_id"].map((later > earlier).to_dict()).fillna(False).astype(bool)
    out = frame.copy()
    out["seq"] = position.where(oldest_first, LOG_SEQ_BASE - position).astype("int64")
    return out


LOADER = PagerDutyLoader()
