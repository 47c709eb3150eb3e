"""incident.io API v2 incidents and incident updates as canonical incidents and events.

Reads `GET /v2/incidents` responses (`{"incidents": [...], "pagination_meta": {...}}`, one
page or many: an array of pages or JSON lines), a bare array of incidents (as the singer tap
writes them), `GET /v2/incidents/{id}` (`{"incident": {...}}`) and `GET /v2/incident_updates`
responses (`{"incident_updates": [...]}`); incidents may embed their `updates`.

- The incident id is incident.io's `id` (a ULID); `reference` (`INC-1`) and `id` are kept as
  (incidentio, …) aliases, `slack_channel_id` / `slack_channel_name` as (slack, …) aliases so
  a Slack export ingested later follows the link.
- Severity: `severity.name` through `severity_map` (config, merged over
  `DEFAULT_SEVERITY_MAP`: Critical → SEV1, Major → SEV2, Minor → SEV3), else names such as
  `SEV2` or `P2` read as such; `rank` is not used, because it only orders one organisation's
  catalogue. The name is kept as `severity_raw`.
- Commander: the assignee of the role whose `role_type` is `lead` (or named "Incident Lead").
- Modes in `skip_modes` (default test, tutorial) and status categories in `skip_categories`
  (default declined, canceled, merged: triage that never became an incident, or duplicates)
  are left out, with their updates.
- Timestamps by name (case-insensitive) through `timestamps` (config `{name: kind}`, merged
  over `DEFAULT_TIMESTAMPS`; a kind of "" leaves the name out). Unmapped names become `note`
  events. "Closed at" counts as `resolved` only when "Resolved at" has no value, since an
  incident closes after its post-incident work, long after the impact ended. With no
  `triggered` timestamp, `created_at` is the `triggered` event. A null value is no event.
- Updates, in time order per incident; the first one sets the starting status and severity:
  a `message` → `stakeholder_update` (incident.io updates are internal stakeholder
  communication); a severity change → `severity_changed` ("SEV3 (Minor) → SEV2 (Major)");
  a status change into the `learning`/`closed` categories → `resolved` when this input holds
  no explicit resolved timestamp for the incident, out of them back to `live` → `reopened`,
  any other change → `note`.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import InputError
from ..model import normalise_severity, parse_timestamp
from ._jsonstream import iter_documents
from .base import Batch, LoadContext, Loader, events_frame, incident_row

log = logging.getLogger(__name__)

SOURCE = "incidentio"
DEFAULT_SEVERITY_MAP: dict[str, str] = {"critical": "SEV1", "major": "SEV2", "minor": "SEV3"}
DEFAULT_TIMESTAMPS: dict[str, str] = {
    "impact started at": "impact_started", "impact started": "impact_started",
    "reported at": "triggered", "reported": "triggered",
    "accepted at": "acknowledged", "accepted": "acknowledged",
    "identified at": "note",
    "fixed at": "mitigated", "fixed": "mitigated",
    "mitigated at": "mitigated", "mitigated": "mitigated",
    "resolved at": "resolved", "resolved": "resolved",
    "closed at": "resolved", "closed": "resolved",
}
DEFAULT_SKIP_MODES = ("test", "tutorial")
DEFAULT_SKIP_CATEGORIES = ("declined", "canceled", "merged")
RESOLVED_CATEGORIES = frozenset({"learning", "closed"})
_CLOSED_NAMES = frozenset({"closed at", "closed"})
_SNIFF = re.compile(r'"(?:incident_status|new_incident_status|incident_role_assignments|'
                    r'incident_timestamp_values|pagination_meta|incident_updates)"\s*:')
_STATUSPAGE_UPDATE = re.compile(r'"(?:shortlink|page_id|display_at)"\s*:')
# Custom-field catalogues and role instructions repeat on every incident; raw keeps values only.
_RAW_DROP = ("custom_field_entries", "incident_role_assignments", "incident_timestamp_values",
             "updates", "incident_status", "severity", "incident_type", "creator")


class IncidentIoLoader(Loader):
    name = SOURCE
    description = "incident.io API v2: incidents list / show and incident updates responses"

    def sniff(self, path: Path, head: str) -> bool:
        text = head
        if len(text) < 1_000_000:
            try:
                with open(path, "r", encoding="utf-8-sig", errors="replace") as handle:
                    text = handle.read(1_000_000)
            except OSError:
                pass
        return bool(_SNIFF.search(text)) and not _STATUSPAGE_UPDATE.search(text)

    def load(self, path: Path, ctx: LoadContext) -> Iterator[Batch]:
        path = Path(path)
        config = ctx.config or {}
        incidents: dict[str, tuple[str, dict]] = {}
        updates: list[tuple[str, dict]] = []
        for place, document in iter_documents(path):
            _collect(document, place, path, incidents, updates)
        yield _build(path, ctx, config, incidents, updates)


def _collect(document: Any, place: str, path: Path, incidents: dict[str, tuple[str, dict]],
             updates: list[tuple[str, dict]]) -> None:
    """File every incident and update of one JSON document under its JSON path."""
    if isinstance(document, list):
        for i, item in enumerate(document):
            _collect(item, f"{place}[{i}]", path, incidents, updates)
        return
    if not isinstance(document, dict):
        raise InputError(path, place, f"expected an incident.io response object, found "
                         f"{type(document).__name__}")
    if "page" in document or "log_entries" in document:
        raise InputError(path, place, _refusal(document))     # Statuspage / PagerDuty lists
    if "incidents" in document and isinstance(document["incidents"], list):
        for i, item in enumerate(document["incidents"]):
            _incident(item, f"{place}.incidents[{i}]", path, incidents, updates)
    elif "incident" in document and isinstance(document["incident"], dict):
        _incident(document["incident"], f"{place}.incident", path, incidents, updates)
    elif "incident_updates" in document and isinstance(document["incident_updates"], list):
        for i, item in enumerate(document["incident_updates"]):
            updates.append((f"{place}.incident_updates[{i}]", _update(item, f"{place}."
                            f"incident_updates[{i}]", path)))
    elif "incident_status" in document and "reference" in document:
        _incident(document, place, path, incidents, updates)
    elif "new_incident_status" in document and "incident_id" in document:
        updates.append((place, _update(document, place, path)))
    else:
        raise InputError(path, place, _refusal(document))


def _refusal(document: Mapping[str, Any]) -> str:
    expected = ("expected incident.io incidents (`incidents`, `incident`) or incident updates "
                "(`incident_updates`)")
    keys = set(document)
    if "incident_statuses" in keys or {"category", "rank", "name"} <= keys and "reference" not in keys:
        looks = "an incident.io status catalogue (incident statuses, not incidents)"
    elif "severities" in keys or {"rank", "name", "description"} <= keys:
        looks = "an incident.io severity catalogue"
    elif "event" in keys and isinstance(document["event"], dict) and "event_type" in document["event"]:
        looks = "a PagerDuty webhook"
    elif "log_entries" in keys:
        looks = "PagerDuty log entries"
    elif "page" in keys and ("incidents" in keys or "incident" in keys):
        looks = "a Statuspage document"
    elif "alerts" in keys and "version" in keys:
        looks = "an Alertmanager webhook payload"
    elif "alert" in keys and "action" in keys or "requestId" in keys:
        looks = "Opsgenie"
    elif "ts" in keys and "type" in keys:
        looks = "a Slack message"
    else:
        return f"{expected}; found an object with keys {', '.join(sorted(keys)[:8]) or '(none)'}"
    return f"looks like {looks}; {expected}"


def _incident(record: Any, where: str, path: Path, incidents: dict[str, tuple[str, dict]],
              updates: list[tuple[str, dict]]) -> None:
    if not isinstance(record, dict):
        raise InputError(path, where, f"expected an incident object, found {type(record).__name__}")
    if "reference" not in record and "incident_status" not in record:
        raise InputError(path, where, _refusal(record))
    incident_id = _text(record, "id", path, where)
    # A later page wins: lists are re-read while incidents change.
    incidents[incident_id] = (where, record)
    for i, update in enumerate(record.get("updates") or ()):
        updates.append((f"{where}.updates[{i}]", _update(update, f"{where}.updates[{i}]", path)))


def _update(record: Any, where: str, path: Path) -> dict:
    if not isinstance(record, dict):
        raise InputError(path, where, f"expected an incident update object, found "
                         f"{type(record).__name__}")
    for key in ("id", "incident_id", "created_at"):
        _text(record, key, path, where)
    return record


def _text(record: Mapping[str, Any], key: str, path: Path, where: str) -> str:
    value = record.get(key)
    if value is None or value == "":
        raise InputError(path, f"{where}.{key}", "missing")
    if not isinstance(value, str):
        raise InputError(path, f"{where}.{key}", f"expected text, found {type(value).__name__}")
    return value


def _build(path: Path, ctx: LoadContext, config: Mapping[str, Any],
           incidents: dict[str, tuple[str, dict]], updates: list[tuple[str, dict]]) -> Batch:
    severity_map = {**DEFAULT_SEVERITY_MAP,
                    **{str(k).lower(): str(v) for k, v in (config.get("severity_map") or {}).items()}}
    timestamp_kinds = {**DEFAULT_TIMESTAMPS,
                       **{str(k).lower(): str(v) for k, v in (config.get("timestamps") or {}).items()}}
    skip_modes = set(config.get("skip_modes", DEFAULT_SKIP_MODES))
    skip_categories = set(config.get("skip_categories", DEFAULT_SKIP_CATEGORIES))

    skipped: set[str] = set()
    for incident_id, (_, record) in incidents.items():
        category = (record.get("incident_status") or {}).get("category")
        if record.get("mode") in skip_modes or category in skip_categories:
            skipped.add(incident_id)
    if skipped:
        log.info("%s: skipped %d incident(s) by mode or status category: %s", path,
                 len(skipped), ", ".join(incidents[i][1].get("reference") or i for i in sorted(skipped)))
    kept = {k: v for k, v in incidents.items() if k not in skipped}
    updates = [(w, u) for w, u in updates if u["incident_id"] not in skipped]

    known = set(kept) | {u["incident_id"] for _, u in updates}
    if ctx.incident_id and len(known) > 1:
        raise InputError(path, None, f"--incident {ctx.incident_id} given, but the file holds "
                         f"{len(known)} incidents; ingest one incident's file, or leave out --incident")

    def target(incident_id: str) -> str:
        return ctx.incident_id or incident_id

    rows: list[dict] = []
    places: list[str] = []
    incident_rows: list[dict] = []
    aliases: list[dict] = []
    explicit_resolved: set[str] = set()
    for incident_id, (where, record) in kept.items():
        incident_rows.append(_incident_row(record, target(incident_id), severity_map, ctx, path, where))
        for source, external in (("incidentio", incident_id), ("incidentio", record.get("reference")),
                                 ("slack", record.get("slack_channel_id")),
                                 ("slack", record.get("slack_channel_name"))):
            if external:
                aliases.append({"incident_id": target(incident_id), "source": source,
                                "external_id": str(external)})
        new_rows, new_places = _timestamp_rows(record, target(incident_id), timestamp_kinds,
                                               path, where)
        if any(r["kind"] == "resolved" for r in new_rows):
            explicit_resolved.add(incident_id)
        rows.extend(new_rows)
        places.extend(new_places)
    for incident_id in sorted(known - set(kept)):
        # Updates of an incident this file does not describe: a stub, so events have a home.
        incident_rows.append({"incident_id": target(incident_id), "source": SOURCE})
        aliases.append({"incident_id": target(incident_id), "source": "incidentio",
                        "external_id": incident_id})

    new_rows, new_places = _update_rows(updates, target, severity_map, explicit_resolved,
                                        ctx.tz, path)
    rows.extend(new_rows)
    places.extend(new_places)
    events = events_frame(rows, source=SOURCE, path=path, tz=ctx.tz,
                          locate=lambda i: places[i] if i < len(places) else f"record {i + 1}")
    return Batch(incidents=incident_rows, events=events, aliases=aliases)


def _incident_row(record: Mapping[str, Any], incident_id: str, severity_map: Mapping[str, str],
                  ctx: LoadContext, path: Path, where: str) -> dict:
    severity = record.get("severity") or {}
    status = record.get("incident_status") or {}
    try:
        return incident_row(
            incident_id=incident_id, source=SOURCE, source_id=record["id"],
            title=record.get("name"), severity_raw=severity.get("name"),
            severity=_severity(severity.get("name"), severity_map),
            status=status.get("name"), commander=_lead(record), url=record.get("permalink"),
            created_at=record.get("created_at"), tz=ctx.tz)
    except InputError as exc:
        raise exc.at(str(path), f"{where}.created_at") from None


def _severity(name: Any, severity_map: Mapping[str, str]) -> str | None:
    if not name:
        return None
    return severity_map.get(str(name).strip().lower()) or normalise_severity(name)


def _lead(record: Mapping[str, Any]) -> str | None:
    for assignment in record.get("incident_role_assignments") or ():
        role = (assignment or {}).get("role") or {}
        if role.get("role_type") == "lead" or str(role.get("name", "")).lower() == "incident lead":
            assignee = assignment.get("assignee") or {}
            return assignee.get("name") or assignee.get("email")
    return None


def _person(holder: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """(name, actor_type) of an incident.io `creator` / `updater` (a user or an API key)."""
    holder = holder or {}
    if holder.get("user"):
        return holder["user"].get("name") or holder["user"].get("email"), "person"
    if holder.get("api_key"):
        return holder["api_key"].get("name") or "API key", "service"
    if holder.get("workflow"):
        return holder["workflow"].get("name") or "workflow", "service"
    return None, None


def _trimmed(record: Mapping[str, Any]) -> dict:
    raw = {k: v for k, v in record.items() if k not in _RAW_DROP}
    status = record.get("incident_status") or {}
    severity = record.get("severity") or {}
    raw["incident_status"] = {"name": status.get("name"), "category": status.get("category")}
    raw["severity"] = {"name": severity.get("name"), "rank": severity.get("rank")}
    raw["incident_type"] = (record.get("incident_type") or {}).get("name")
    raw["roles"] = {(a.get("role") or {}).get("name"): (a.get("assignee") or {}).get("name")
                    for a in record.get("incident_role_assignments") or () if isinstance(a, dict)}
    raw["custom_fields"] = {
        (e.get("custom_field") or {}).get("name"): [_field_value(v) for v in e.get("values") or ()]
        for e in record.get("custom_field_entries") or () if isinstance(e, dict)}
    return raw


def _field_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    option = value.get("value_option") or value.get("value_catalog_entry") or {}
    return option.get("value") or option.get("name") or value.get("value_text") \
        or value.get("value_numeric") or value.get("value_link") or value


def _timestamp_rows(record: Mapping[str, Any], incident_id: str, kinds: Mapping[str, str],
                    path: Path, where: str) -> tuple[list[dict], list[str]]:
    actor, actor_type = _person(record.get("creator"))
    values: list[tuple[int, str, str, Any, str]] = []
    for i, entry in enumerate(record.get("incident_timestamp_values") or ()):
        place = f"{where}.incident_timestamp_values[{i}]"
        if not isinstance(entry, dict):
            raise InputError(path, place, "expected an object")
        stamp = entry.get("incident_timestamp") or {}
        name = stamp.get("name")
        if not name:
            raise InputError(path, f"{place}.incident_timestamp.name", "missing")
        value = (entry.get("value") or {}).get("value")
        if value:
            values.append((i, str(name), str(stamp.get("id") or name), value, place))
    names_with_value = {name.lower() for _, name, _, _, _ in values}
    has_resolved_at = any(kinds.get(n) == "resolved" for n in names_with_value - _CLOSED_NAMES)
    rows: list[dict] = []
    places: list[str] = []
    for _, name, stamp_id, value, place in values:
        kind = kinds.get(name.lower(), "note")
        if not kind:
            continue
        if kind == "resolved" and name.lower() in _CLOSED_NAMES and has_resolved_at:
            kind = "note"
        rows.append({"incident_id": incident_id, "at": value, "kind": kind,
                     "actor": actor if kind == "triggered" else None,
                     "actor_type": actor_type if kind == "triggered" else None,
                     "summary": _timestamp_summary(kind, name, record),
                     "raw": {"incident_timestamp": name, "value": value, "incident": record["id"]},
                     "source_id": f"{record['id']}:timestamp:{stamp_id}"})
        places.append(f"{place}.value.value")
    if not any(r["kind"] == "triggered" for r in rows) and record.get("created_at"):
        rows.append({"incident_id": incident_id, "at": record["created_at"], "kind": "triggered",
                     "actor": actor, "actor_type": actor_type,
                     "summary": _timestamp_summary("triggered", "Created", record),
                     "raw": _trimmed(record), "source_id": f"{record['id']}:created"})
        places.append(f"{where}.created_at")
    else:
        for row in rows:
            if row["kind"] == "triggered":
                row["raw"] = {**_trimmed(record), "incident_timestamp": row["raw"]["incident_timestamp"]}
                break
    return rows, places


def _timestamp_summary(kind: str, name: str, record: Mapping[str, Any]) -> str:
    if kind == "triggered":
        title = " ".join(x for x in (record.get("reference"), record.get("name")) if x)
        summary = record.get("summary")
        return f"{name}: {title}" + (f": {summary}" if summary else "")
    return name


def _update_rows(updates: list[tuple[str, dict]], target: Any, severity_map: Mapping[str, str],
                 explicit_resolved: set[str], tz: str | None,
                 path: Path) -> tuple[list[dict], list[str]]:
    rows: list[dict] = []
    places: list[str] = []
    seen: set[str] = set()
    def moment(item: tuple[str, dict]) -> tuple[str, Any]:
        # Ordered by true time: fractions vary in length and offsets may differ.
        try:
            return item[1]["incident_id"], parse_timestamp(item[1]["created_at"], tz)
        except InputError as exc:
            raise exc.at(str(path), f"{item[0]}.created_at") from None
    ordered = sorted(updates, key=moment)
    status: dict[str, dict] = {}
    severity: dict[str, dict] = {}
    for where, update in ordered:
        if update["id"] in seen:
            continue                      # the same update embedded and listed, or on two pages
        seen.add(update["id"])
        incident_id = update["incident_id"]
        actor, actor_type = _person(update.get("updater"))
        new_status = update.get("new_incident_status") or {}
        new_severity = update.get("new_severity") or {}
        base = {"incident_id": target(incident_id), "at": update["created_at"], "actor": actor,
                "actor_type": actor_type, "status": new_status.get("name"),
                "raw": {k: v for k, v in update.items()
                        if k not in ("new_incident_status", "new_severity")}
                | {"new_incident_status": {"name": new_status.get("name"),
                                           "category": new_status.get("category")},
                   "new_severity": {"name": new_severity.get("name"), "rank": new_severity.get("rank")}}}
        before = status.get(incident_id)
        if new_status and before is not None and new_status.get("name") != before.get("name"):
            kind = _status_kind(before.get("category"), new_status.get("category"),
                                incident_id in explicit_resolved)
            rows.append({**base, "kind": kind, "source_id": f"{update['id']}:status",
                         "summary": f"Status {before.get('name')} → {new_status.get('name')}"})
            places.append(f"{where}.new_incident_status")
        if new_status:
            status[incident_id] = new_status
        before_severity = severity.get(incident_id)
        if new_severity and before_severity is not None \
                and new_severity.get("name") != before_severity.get("name"):
            rows.append({**base, "kind": "severity_changed", "source_id": f"{update['id']}:severity",
                         "summary": f"{_severity_label(before_severity, severity_map)} → "
                                    f"{_severity_label(new_severity, severity_map)}"})
            places.append(f"{where}.new_severity")
        if new_severity:
            severity[incident_id] = new_severity
        if update.get("message"):
            rows.append({**base, "kind": "stakeholder_update", "summary": update["message"],
                         "source_id": f"{update['id']}:message"})
            places.append(f"{where}.message")
    return rows, places


def _status_kind(before: str | None, after: str | None, has_resolved_timestamp: bool) -> str:
    if after in RESOLVED_CATEGORIES and before not in RESOLVED_CATEGORIES:
        return "note" if has_resolved_timestamp else "resolved"
    if before in RESOLVED_CATEGORIES and after == "live":
        return "reopened"
    return "note"


def _severity_label(severity: Mapping[str, Any], severity_map: Mapping[str, str]) -> str:
    name = severity.get("name")
    normalised = _severity(name, severity_map)
    return f"{normalised} ({name})" if normalised and normalised != name else str(name)


LOADER = IncidentIoLoader()
