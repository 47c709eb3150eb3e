"""Small incident histories shaped like the real ones people have (built here, never copied).

- ``status_page_history``: a Statuspage incidents.json where most incidents were posted after
  the fact (one update, already resolved), some with a backdated ``started_at``, a few told
  live (investigating → monitoring → resolved), boilerplate titles across many services;
- ``bare_export``: a CSV export with triggered/resolved only: no detection events (alerts),
  no communication updates, and (nothing else ingested) no action items;
- ``out_of_order_events``: a CSV export whose milestones contradict each other.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd

SERVICES = ("Actions", "API Requests", "Codespaces", "Copilot", "Git Operations", "Issues",
            "Packages", "Pages", "Pull Requests", "Webhooks")


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _update(uid: str, status: str, at: pd.Timestamp, body: str) -> dict[str, Any]:
    return {"id": uid, "status": status, "body": body, "created_at": _iso(at),
            "display_at": _iso(at), "affected_components": None}


def status_page_incident(sid: str, name: str, service: str, created: pd.Timestamp, *,
                         updates: list[tuple[str, float]], started: pd.Timestamp | None = None,
                         impact: str = "minor") -> dict[str, Any]:
    """One Statuspage incident; ``updates`` are (status, minutes after ``created``), oldest
    first (the file lists them newest first, as the API does). ``started_at`` defaults to
    the creation time, as Statuspage sets it when the author gives none."""
    ups = [_update(f"{sid}u{i}", status, created + pd.Timedelta(minutes=minutes),
                   f"{status}: {name}")
           for i, (status, minutes) in enumerate(updates)]
    monitoring = next((u["created_at"] for u in ups if u["status"] == "monitoring"), None)
    resolved = next((u["created_at"] for u in ups if u["status"] == "resolved"), None)
    return {"id": sid, "name": name, "status": ups[-1]["status"], "impact": impact,
            "created_at": _iso(created), "updated_at": ups[-1]["created_at"],
            "started_at": _iso(started if started is not None else created),
            "monitoring_at": monitoring, "resolved_at": resolved,
            "shortlink": f"https://stspg.example/{sid}",
            "components": [{"name": service}],
            "incident_updates": list(reversed(ups))}


def status_page_history(end: pd.Timestamp, n: int = 40) -> dict[str, Any]:
    """An incidents.json of ``n`` incidents, the newest on ``end``, one every 3 days back.

    Every 4th incident (i % 4 == 0) is told live: investigating, monitoring after 30 min,
    resolved after 50 min. Every other one was posted after the fact with one resolved
    update; of those, the ones with i % 4 == 1 carry a backdated ``started_at`` 90 minutes
    before the post (the author gave the start), the rest the page's default. Titles are
    the boilerplate a big status page uses ("Incident with <service>", "Disruption with some
    services").
    """
    incidents = []
    for i in range(n):
        created = end - pd.Timedelta(days=3 * i) + pd.Timedelta(milliseconds=120)
        service = SERVICES[i % len(SERVICES)]
        name = f"Incident with {service}" if i % 3 else "Disruption with some services"
        if i % 4 == 0:
            incidents.append(status_page_incident(
                f"sp{i:03d}", name, service, created,
                updates=[("investigating", 0), ("monitoring", 30), ("resolved", 50)],
                impact="major"))
        else:
            started = created - pd.Timedelta(minutes=90) if i % 4 == 1 else None
            incidents.append(status_page_incident(
                f"sp{i:03d}", name, service, created, updates=[("resolved", 0)],
                started=started))
    return {"page": {"id": "pg1", "name": "Example", "url": "https://status.example",
                     "time_zone": "Etc/UTC", "updated_at": _iso(end)},
            "incidents": incidents}


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


EVENT_FIELDS = ("incident_id", "at", "kind", "actor", "summary", "source", "status")
INCIDENT_FIELDS = ("incident_id", "title", "severity", "service", "created_at", "source")


def write_csv(path: Path, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})
    return path


def bare_export(folder: Path, end: pd.Timestamp, n: int = 12) -> tuple[Path, Path]:
    """Incidents known only as triggered, acknowledged and resolved (no alerts, no updates,
    no action items), as an incidents CSV and an events CSV. Incident EX-i is triggered
    ``end`` − 7·i days, acknowledged (2 + i) min later, resolved (i + 1)·10 min after the
    trigger; odd ones are SEV2, even ones SEV3."""
    incidents, events = [], []
    for i in range(n):
        start = end - pd.Timedelta(days=7 * i)
        incidents.append({"incident_id": f"EX-{i}", "title": f"Export incident {i}",
                          "severity": "SEV2" if i % 2 else "SEV3", "service": SERVICES[i % 3],
                          "created_at": _iso(start), "source": "tracker"})
        base = {"incident_id": f"EX-{i}", "source": "tracker", "summary": ""}
        events.append({**base, "at": _iso(start), "kind": "triggered"})
        events.append({**base, "at": _iso(start + pd.Timedelta(minutes=2 + i)),
                       "kind": "acknowledged", "actor": f"oncall-{i % 3}"})
        events.append({**base, "at": _iso(start + pd.Timedelta(minutes=(i + 1) * 10)),
                       "kind": "resolved"})
    return (write_csv(folder / "incidents.csv", incidents, INCIDENT_FIELDS),
            write_csv(folder / "events.csv", events, EVENT_FIELDS))
