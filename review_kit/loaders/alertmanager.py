"""Prometheus Alertmanager webhook payloads (version 4) as alert_firing / alert_resolved events.

Input: payloads as Alertmanager POSTs them, one per file, a JSON array of them, or JSON lines
as a webhook receiver logs them (streamed: a 1 GB log is never held whole).

Mapping:

- Every alert gives `alert_firing` at `startsAt` (source id `<fingerprint>:<startsAt>:firing`)
  and, once its status is `resolved` and `endsAt` is set (Go's zero time
  `0001-01-01T00:00:00Z` means unset), `alert_resolved` at `endsAt`. Alertmanager repeats a
  group's alerts in every notification; the ids are stable, so repeats never duplicate (and
  the loader drops them before they cost anything). Nanoseconds are truncated to µs.
- Which incident: `--incident` when given; else the value of the alert label named by the
  config key `incident_label` (default `incident`); else an id derived from the payload's
  `groupKey`: `"am-"` + the first 12 hex digits of its SHA-1. A group has no end in
  Alertmanager, so a group that fires again weeks later lands in the same incident unless
  `--incident` or an incident label tells them apart.
- Incident row: title from `commonAnnotations.summary`, else the alert's `summary`
  annotation, else `alertname`; service from the `service` label, else `job`; team from
  `team`; severity the most severe `labels.severity` seen (critical → SEV1, error/major →
  SEV2, warning → SEV3, info → SEV4; config `severity_map` overrides; raw value kept);
  status the latest notification's status; created_at the earliest `startsAt`.
- Aliases: (alertmanager, incident id the file implies) and (alertmanager, groupKey) for
  group-derived incidents, so later ingests follow `review-kit link`.
- An alert without `fingerprint` (very old Alertmanager) gets one hashed from its labels.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import InputError
from ..model import GO_ZERO_TIME_PREFIX, normalise_severity
from ._jsonstream import (
    BatchCollector,
    has_key,
    iter_documents,
    join_place,
    looks_like_json,
    severity_map,
    wrong_format,
)
from .base import Batch, LoadContext, Loader, dumps, incident_row

SOURCE = "alertmanager"
DEFAULT_SEVERITY_MAP: dict[str, str] = {
    "critical": "SEV1", "error": "SEV2", "major": "SEV2", "warning": "SEV3", "info": "SEV4",
}
EXPECTED = "an Alertmanager webhook payload (version 4: receiver, groupKey, alerts[])"


def group_incident_id(group_key: str) -> str:
    """The incident id a group stands for when nothing else names one."""
    return "am-" + hashlib.sha1(group_key.encode("utf-8")).hexdigest()[:12]


class AlertmanagerLoader(Loader):
    name = SOURCE
    description = "Prometheus Alertmanager webhook payloads (v4): a file, an array or JSON lines"

    def sniff(self, path: Path, head: str) -> bool:
        if not looks_like_json(head):
            return False
        if has_key(head, "groupKey"):
            return True
        if has_key(head, "receiver") and (has_key(head, "alerts") or has_key(head, "commonLabels")):
            return True
        return has_key(head, "fingerprint") and has_key(head, "startsAt") and has_key(head, "alerts")

    def load(self, path: Path, ctx: LoadContext) -> Iterator[Batch]:
        config = ctx.config or {}
        state = _State(path=path, ctx=ctx,
                       severities=severity_map(DEFAULT_SEVERITY_MAP, config, SOURCE),
                       incident_label=str(config.get("incident_label") or "incident"))
        # A repeat notification is byte for byte the payload before it (the payload carries
        # no send time), so whole repeated lines are skipped before they are even parsed.
        for place, document in iter_documents(path, skip_repeated_lines=True):
            if not (type(document) is dict and type(document.get("alerts")) is list
                    and document.keys() & _PAYLOAD_KEYS):
                raise wrong_format(path, place, document, EXPECTED)
            state.payload(document, place)
            if state.out.full:
                yield state.flush()
        final = state.flush(final=True)
        if final is not None:
            yield final


_PAYLOAD_KEYS = frozenset({"groupKey", "receiver", "version"})
_EMPTY: dict = {}


class _State:
    """What one file has told so far: collected events and the incidents they build."""

    def __init__(self, *, path: Path, ctx: LoadContext, severities: dict[str, str],
                 incident_label: str) -> None:
        self.path, self.ctx = path, ctx
        self.severities, self.incident_label = severities, incident_label
        self.out = BatchCollector(source=SOURCE, path=path, tz=ctx.tz)
        self.incidents: dict[str, dict[str, Any]] = {}
        self.changed: set[str] = set()
        self._group_ids: dict[str, str] = {}
        self._severity_of: dict[str, str | None] = {}
        self._aliased: set[tuple[str, str]] = set()

    def payload(self, document: dict[str, Any], place: str) -> None:
        group_key = document.get("groupKey")
        if not group_key:
            # Without a groupKey the receiver and group labels are what Alertmanager keys on.
            group_key = f"{document.get('receiver', '')}:" + json.dumps(
                document.get("groupLabels") or {}, sort_keys=True)
        group_key = str(group_key)
        group_id = self._group_ids.get(group_key)
        if group_id is None:
            group_id = self._group_ids[group_key] = group_incident_id(group_key)
        context = None
        document_status = document.get("status")
        for i, alert in enumerate(document["alerts"]):
            if type(alert) is not dict:
                raise InputError(self.path, join_place(place, f".alerts[{i}]"),
                                 f"expected an alert object, found {type(alert).__name__}")
            starts_at = alert.get("startsAt")
            if not starts_at:
                raise InputError(self.path, join_place(place, f".alerts[{i}].startsAt"), "missing")
            labels = alert.get("labels") or _EMPTY
            fingerprint = alert.get("fingerprint") or "l" + hashlib.sha1(
                json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
            natural_id = labels.get(self.incident_label)
            natural_id = str(natural_id) if natural_id else group_id
            incident_id = self.ctx.incident_id or natural_id
            status = alert.get("status") or document_status
            firing_id = f"{fingerprint}:{starts_at}:firing"
            new_firing = not self.out.seen(firing_id)
            new_resolved = False
            if status == "resolved":
                ends_at = alert.get("endsAt")
                if ends_at and not str(ends_at).startswith(GO_ZERO_TIME_PREFIX):
                    new_resolved = not self.out.seen(f"{fingerprint}:{starts_at}:resolved")
            if new_firing or new_resolved:
                where = join_place(place, f".alerts[{i}]")
                annotations = alert.get("annotations") or _EMPTY
                if context is None:
                    context = {"groupKey": group_key, "receiver": document.get("receiver"),
                               "externalURL": document.get("externalURL")}
                raw = dumps({**alert, **context})
                summary = _summary(labels, annotations)
                if new_firing:
                    self.out.add_event({"incident_id": incident_id, "at": starts_at,
                                        "kind": "alert_firing", "status": "firing",
                                        "summary": summary, "raw": raw, "source_id": firing_id,
                                        "seq": 0}, f"{where}.startsAt")
                if new_resolved:
                    self.out.add_event({"incident_id": incident_id, "at": ends_at,
                                        "kind": "alert_resolved", "status": "resolved",
                                        "summary": summary, "raw": raw,
                                        "source_id": f"{fingerprint}:{starts_at}:resolved",
                                        "seq": 1}, f"{where}.endsAt")
                self._incident(incident_id, natural_id, group_key, group_id, document, labels,
                               annotations)
            # A group's status speaks for a group-derived incident; otherwise the alert's own.
            known = self.incidents.get(incident_id)
            now = (document_status if natural_id == group_id else None) or status
            if known is not None and now and known["status"] != now:
                known["status"] = now
                self.changed.add(incident_id)

    def _incident(self, incident_id: str, natural_id: str, group_key: str, group_id: str,
                  document: dict[str, Any], labels: dict[str, Any],
                  annotations: dict[str, Any]) -> None:
        from_group = natural_id == group_id
        common_labels = document.get("commonLabels") or _EMPTY
        known = self.incidents.get(incident_id)
        if known is None:
            source_labels = {**labels, **common_labels} if from_group else labels
            common_annotations = document.get("commonAnnotations") or _EMPTY
            title = (common_annotations.get("summary") if from_group else None) or \
                annotations.get("summary") or source_labels.get("alertname")
            known = {"title": title, "severity": None, "severity_raw": None,
                     "service": source_labels.get("service") or source_labels.get("job"),
                     "team": source_labels.get("team"), "status": None,
                     "source_id": group_key if from_group else natural_id,
                     "url": document.get("externalURL")}
            self.incidents[incident_id] = known
            self.changed.add(incident_id)
        if (incident_id, natural_id) not in self._aliased:
            # Once per pair: the store keeps aliases for the whole file's transaction.
            self._aliased.add((incident_id, natural_id))
            self.out.add_alias(incident_id, natural_id)
            if from_group:
                self.out.add_alias(incident_id, group_key)
        raw_severity = labels.get("severity") or common_labels.get("severity")
        if raw_severity:
            raw_severity = str(raw_severity)
            if raw_severity not in self._severity_of:
                self._severity_of[raw_severity] = normalise_severity(raw_severity, self.severities)
            severity = self._severity_of[raw_severity]
            if severity is not None and (known["severity"] is None or severity < known["severity"]):
                known["severity"], known["severity_raw"] = severity, raw_severity
                self.changed.add(incident_id)
            elif known["severity_raw"] is None:
                known["severity_raw"] = raw_severity
                self.changed.add(incident_id)

    def flush(self, final: bool = False) -> Batch | None:
        events = self.out.build_events()
        # An incident starts with its earliest alert: read off the parsed times in one go.
        if len(events):
            firing = events[events["kind"] == "alert_firing"]
            for incident_id, first in firing.groupby("incident_id")["at"].min().items():
                known = self.incidents[incident_id]
                if known.get("created_at") is None or first < known["created_at"]:
                    known["created_at"] = first
                    self.changed.add(incident_id)
        for incident_id in sorted(self.changed):
            fields = dict(self.incidents[incident_id])
            created_at = fields.pop("created_at", None)
            severity_raw = fields.pop("severity_raw")
            self.out.add_incident(incident_row(
                incident_id=incident_id, source=SOURCE, severity_raw=severity_raw,
                severity_map=self.severities, created_at=created_at, tz=self.ctx.tz, **fields))
        self.changed.clear()
        return self.out.flush(final=final, events=events)


def _summary(labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> str:
    name = str(labels.get("alertname") or "alert")
    summary = annotations.get("summary")
    description = annotations.get("description")
    for key, value in (("summary", summary), ("description", description)):
        if value is not None and not isinstance(value, str):  # the safety net adds the file
            raise TypeError(f"annotations.{key}: expected text, found {type(value).__name__}")
    parts = [str(p) for p in (summary, description) if p]
    if len(parts) == 2 and parts[0] == parts[1]:
        parts = parts[:1]
    return f"{name}: {' — '.join(parts)}" if parts else name


LOADER = AlertmanagerLoader()
