"""Atlassian Statuspage incidents and their updates as external status_update events.

Input: the public API's `incidents.json`, `incidents/unresolved.json`, `summary.json` and
`scheduled-maintenances*.json` responses, subscriber webhook payloads (`{meta, page,
incident}`; component-only webhooks carry no incident and are passed over), and bare
incident objects (the manage API); one per file, an array, or JSON lines.

Mapping:

- Each incident is an incident row: incident_id = the Statuspage id (unless `--incident`),
  title = `name`, status, severity from `impact` (critical → SEV1, major → SEV2, minor → SEV3,
  none → SEV4; config `severity_map` overrides; `severity_raw` keeps the impact), url =
  `shortlink`, service = the names of its `components`, created_at; alias (statuspage, id).
  When one file holds the same incident more than once (a webhook log), the copy with the
  latest `updated_at` wins.
- Each `incident_updates[]` entry is a `status_update`: visibility external, status = the
  update's status, summary = its body, no actor, source id = the update id, raw = the
  update (with `affected_components`, which may be null). Time = `display_at` (the time the
  page shows, which authors set when backfilling), else `created_at`, in whatever offset the
  page wrote. Updates arrive newest first; `seq` numbers them oldest first, so ties keep
  their true order.
- Scheduled maintenances are loaded the same way, their updates included, but their
  incident status is prefixed `maintenance:` (`maintenance:completed`) so reviews and trends
  can tell them from incidents.
- The incident's own `started_at` (impact start; older pages lack it) is an `impact_started`
  event and its `monitoring_at` a `mitigated` event (source ids `<id>:started_at`,
  `<id>:monitoring_at`). No other lifecycle events (triggered, resolved) are made up from the
  page: when it is the only source, the milestone rules fall back to the status updates
  themselves, milestone by milestone.
"""
from __future__ import annotations

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
from .base import Batch, LoadContext, Loader, incident_row

SOURCE = "statuspage"
DEFAULT_SEVERITY_MAP: dict[str, str] = {
    "critical": "SEV1", "major": "SEV2", "minor": "SEV3", "none": "SEV4",
}
MAINTENANCE_STATUSES = frozenset({"scheduled", "in_progress", "verifying", "completed"})
EXPECTED = ("a Statuspage incidents.json / summary.json response, a webhook payload "
            "({meta, page, incident}) or an incident with incident_updates")


class StatuspageLoader(Loader):
    name = SOURCE
    description = "Atlassian Statuspage incidents.json, summary.json and webhook payloads"

    def sniff(self, path: Path, head: str) -> bool:
        if not looks_like_json(head):
            return False
        if has_key(head, "incident_updates") or has_key(head, "scheduled_maintenances"):
            return True
        return has_key(head, "page") and any(
            has_key(head, key) for key in ("time_zone", "status_indicator", "status_description",
                                           "shortlink", "postmortem_body"))

    def load(self, path: Path, ctx: LoadContext) -> Iterator[Batch]:
        return self.load_many([path], ctx)

    def load_many(self, paths: list[Path], ctx: LoadContext) -> Iterator[Batch]:
        # One collector for every file: a history kept as a thousand one-incident files
        # builds its events frame once, not once per file.
        severities = severity_map(DEFAULT_SEVERITY_MAP, ctx.config or {}, SOURCE)
        out = BatchCollector(source=SOURCE, path=paths[0], tz=ctx.tz)
        for path in paths:
            out.start_file(path)
            versions: dict[str, Any] = {}
            for place, document in iter_documents(path):
                for where, incident, maintenance in _incidents(path, place, document):
                    _load_incident(path, ctx, out, severities, versions, incident, where,
                                   maintenance)
                if out.full:
                    yield out.flush()
        final = out.flush(final=True)
        if final is not None:
            yield final


def _incidents(path: Path, place: str, document: Any) -> Iterator[tuple[str, Mapping, bool]]:
    """(place, incident, is_maintenance) for every incident a document holds."""
    if not isinstance(document, Mapping):
        raise wrong_format(path, place, document, EXPECTED)
    found = False
    for key, maintenance in (("incidents", False), ("scheduled_maintenances", True)):
        items = document.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise InputError(path, join_place(place, f".{key}"), "expected an array")
        if key == "incidents" and "page" not in document and not any(
                isinstance(i, Mapping) and "incident_updates" in i for i in items):
            # {"incidents": [...]} alone is PagerDuty's (or incident.io's) shape, not ours.
            raise wrong_format(path, place, document, EXPECTED)
        found = True
        for i, incident in enumerate(items):
            yield join_place(place, f".{key}[{i}]"), incident, maintenance
    if isinstance(document.get("incident"), Mapping) and "page" in document:
        found = True
        yield join_place(place, ".incident"), document["incident"], False
    elif "incident_updates" in document:
        found = True
        yield place, document, False
    elif not found and "page" in document and ("component_update" in document or "component" in document):
        return  # a component webhook: the page's state changed, no incident to tell
    if not found:
        raise wrong_format(path, place, document, EXPECTED)


def _load_incident(path: Path, ctx: LoadContext, out: BatchCollector, severities: dict[str, str],
                   versions: dict[str, Any], incident: Any, where: str, maintenance: bool) -> None:
    if not isinstance(incident, Mapping):
        raise InputError(path, where, f"expected an incident object, found {type(incident).__name__}")
    statuspage_id = str(_require(path, incident, "id", where))
    incident_id = ctx.incident_id or statuspage_id
    status = incident.get("status")
    if maintenance or status in MAINTENANCE_STATUSES or incident.get("impact") == "maintenance":
        status = f"maintenance:{status}" if status else "maintenance"
    updated_at = _time(path, incident.get("updated_at"), ctx, f"{where}.updated_at")
    previous = versions.get(statuspage_id)
    if previous is None or updated_at is None or updated_at >= previous:
        versions[statuspage_id] = updated_at if updated_at is not None else previous
        components = [c.get("name") for c in incident.get("components") or []
                      if isinstance(c, Mapping) and c.get("name")]
        try:
            row = incident_row(incident_id=incident_id, source=SOURCE,
                               severity_raw=incident.get("impact"), severity_map=severities,
                               created_at=incident.get("created_at"), tz=ctx.tz,
                               title=incident.get("name"), status=status,
                               service=", ".join(components) or None,
                               source_id=statuspage_id, url=incident.get("shortlink"))
        except TimestampError as exc:
            raise exc.at(path=str(path), where=f"{where}.created_at") from None
        out.add_incident(row)
    out.add_alias(incident_id, statuspage_id)

    updates = incident.get("incident_updates") or []
    if not isinstance(updates, list):
        raise InputError(path, f"{where}.incident_updates", "expected an array")
    timed = []
    for j, update in enumerate(updates):
        update_where = f"{where}.incident_updates[{j}]"
        if not isinstance(update, Mapping):
            raise InputError(path, update_where, "expected an update object")
        field = "display_at" if update.get("display_at") else "created_at"
        at = _time(path, update.get(field), ctx, f"{update_where}.{field}")
        if at is None:
            raise InputError(path, update_where, "update has no display_at or created_at")
        timed.append((at, j, update, update_where))
    # Oldest first; among equal times the later position is older (the list is newest first).
    timed.sort(key=lambda item: (item[0], -item[1]))
    for seq, (at, _, update, update_where) in enumerate(timed):
        update_id = update.get("id")
        if update_id and out.seen(f"{incident_id}:{update_id}"):
            continue
        out.add_event({"incident_id": incident_id, "at": at, "seq": seq, "kind": "status_update",
                       "status": update.get("status"), "summary": update.get("body"),
                       "visibility": "external", "raw": dict(update),
                       "source_id": update_id}, update_where)
    # The page's own milestone fields: an impact start the author may have set apart from
    # the first update (backdated for an incident posted after the fact), and the moment
    # the page went to monitoring. Before the updates at a tie, the start; after, the rest.
    for field, kind, seq, said in (("started_at", "impact_started", -1,
                                    "Impact began (the status page's start time)"),
                                   ("monitoring_at", "mitigated", len(timed),
                                    "The status page moved to monitoring")):
        at = _time(path, incident.get(field), ctx, f"{where}.{field}")
        if at is None or out.seen(f"{incident_id}:{statuspage_id}:{field}"):
            continue
        out.add_event({"incident_id": incident_id, "at": at, "seq": seq, "kind": kind,
                       "summary": said, "visibility": "external",
                       "raw": {"id": statuspage_id, field: incident.get(field)},
                       "source_id": f"{statuspage_id}:{field}"}, f"{where}.{field}")


def _require(path: Path, record: Mapping, key: str, where: str) -> Any:
    value = record.get(key)
    if value is None or value == "":
        raise InputError(path, f"{where}.{key}", "missing")
    return value


def _time(path: Path, value: Any, ctx: LoadContext, where: str) -> pd.Timestamp | None:
    try:
        return parse_timestamp(value, ctx.tz)
    except TimestampError as exc:
        raise exc.at(path=str(path), where=where) from None


LOADER = StatuspageLoader()
