"""A history for "have we seen this before?": a new incident, three genuinely similar past
ones (two share its service and alert, one shares only a rare phrase in its chat), a dozen
unrelated ones that share only common words ("error", "deploy", "latency"), and an unrelated
new incident. As frames, and written as the CSV exports `review-kit ingest csv` reads."""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from review_kit.model import parse_timestamps

NEW, SAME_A, SAME_B, PHRASE, OTHER = "INC-NEW", "INC-A", "INC-B", "INC-C", "INC-OTHER"
UNRELATED = [f"INC-U{i:02d}" for i in range(1, 13)]

# (id, created, service, severity, title, alerts [(name, fingerprint)], chat lines)
_SERVICES = ["search", "auth", "notifications", "inventory", "web-frontend", "api-gateway",
             "reports", "billing-ui", "catalog", "media", "profile", "shipping"]
_UNRELATED_TITLES = [
    "Search latency high after deploy", "Login error rate elevated", "Push notification error surge",
    "Inventory sync latency", "Frontend error after deploy", "Gateway latency and timeouts",
    "Report generation error", "Billing page latency after deploy", "Catalog error rate",
    "Media upload latency", "Profile save error after deploy", "Shipping quotes latency",
]
_COMMON_CHAT = ["error rate is up", "deploy finished a few minutes ago", "latency looks high",
                "error rate back to normal", "latency recovered after the deploy"]

ROWS = [
    (PHRASE, "2023-11-02T09:00:00Z", "ledger", "SEV3", "Slow ledger writes",
     [], ["writes to the ledger are slow",
          "pgbouncer connection pool exhausted again, raising max_client_conn",
          "error rate is up"]),
    (SAME_A, "2024-01-15T10:00:00Z", "payments-api", "SEV2", "Payments API error spike",
     [("PaymentsHighErrorRate", "fp9a1c")], ["error rate is up", "card processor timeouts"]),
    (SAME_B, "2024-03-20T14:00:00Z", "payments-api", "SEV2", "Payments failing after config push",
     [("PaymentsHighErrorRate", "fp9a1c")], ["config push rolled back", "latency looks high"]),
    *[(uid, f"2024-{2 + i // 3:02d}-{1 + 2 * i:02d}T08:00:00Z", _SERVICES[i], "SEV3",
       _UNRELATED_TITLES[i], [(f"{_SERVICES[i].title().replace('-', '')}Alert{i}", f"fpu{i:02d}")],
       _COMMON_CHAT) for i, uid in enumerate(UNRELATED)],
    (NEW, "2024-06-10T12:00:00Z", "payments-api", "SEV2",
     "Card payments failing: error rate and latency up after deploy",
     [("PaymentsHighErrorRate", "fp9a1c")],
     ["error rate is up since the deploy", "pgbouncer connection pool exhausted on the replica",
      "latency looks high"]),
    (OTHER, "2024-06-11T12:00:00Z", "email", "SEV4", "Email error and latency after deploy",
     [("EmailBounceRate", "fpe001")], ["error rate is up", "deploy finished a few minutes ago"]),
]

# Action items of the past incidents: (incident, title, owner, status, due, created, closed)
ACTION_ITEMS = [
    (SAME_A, "Add retries to the card processor client", "maria", "done", "2024-02-01",
     "2024-01-16T09:00:00Z", "2024-01-30T09:00:00Z"),
    (SAME_A, "Alert on processor timeouts", "sam", "done", "2024-02-15",
     "2024-01-16T09:00:00Z", "2024-02-10T09:00:00Z"),
    (SAME_B, "Validate payment config before push", "lee", "open", "2024-04-15",
     "2024-03-21T09:00:00Z", None),
    (PHRASE, "Raise pgbouncer pool size and alert on saturation", "dana", "done", "2023-12-01",
     "2023-11-03T09:00:00Z", "2023-11-20T09:00:00Z"),
]


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(incidents, events) frames of the history."""
    incidents, events = [], []
    for incident_id, created, service, severity, title, alerts, chat in ROWS:
        incidents.append({"incident_id": incident_id, "title": title, "service": service,
                          "severity": severity, "created_at": created})
        start = pd.Timestamp(created)
        for n, (name, fingerprint) in enumerate(alerts):
            events.append({"event_id": f"alertmanager:{fingerprint}:{created}:firing",
                           "incident_id": incident_id, "at": start.isoformat(), "source": "alertmanager",
                           "kind": "alert_firing", "actor": None,
                           "summary": f"{name}: {title}"})
        for n, line in enumerate(chat):
            events.append({"event_id": f"slack:{incident_id}:{n}", "incident_id": incident_id,
                           "at": (start + pd.Timedelta(minutes=5 + n)).isoformat(),
                           "source": "slack", "kind": "message", "actor": "ana",
                           "summary": line})
    incidents = pd.DataFrame(incidents)
    incidents["created_at"] = parse_timestamps(incidents["created_at"])
    events = pd.DataFrame(events)
    events["at"] = parse_timestamps(events["at"])
    return incidents, events


def write_exports(folder: Path) -> tuple[Path, Path]:
    """The history as a CSV incidents file and a CSV events file."""
    incidents, events = frames()
    folder.mkdir(parents=True, exist_ok=True)
    inc_path, ev_path = folder / "incidents.csv", folder / "events.csv"
    out = incidents.copy()
    out["created_at"] = out["created_at"].map(lambda t: t.isoformat().replace("+00:00", "Z"))
    out.to_csv(inc_path, index=False, quoting=csv.QUOTE_MINIMAL)
    ev = events.copy()
    ev["at"] = ev["at"].map(lambda t: t.isoformat().replace("+00:00", "Z"))
    ev[["event_id", "incident_id", "at", "source", "kind", "actor", "summary"]].to_csv(
        ev_path, index=False)
    return inc_path, ev_path


def add_action_items(store) -> None:
    from review_kit.model import parse_timestamp
    for incident_id, title, owner, status, due, created, closed in ACTION_ITEMS:
        store.add_action_item(incident_id, title, owner=owner, status=status, due=due,
                              type="prevent", created_at=parse_timestamp(created),
                              closed_at=parse_timestamp(closed) if closed else None)


def history_store(folder: Path, location: str | None = None):
    """A store holding the history (ingested from its CSV exports) and its action items: at
    `location` (a file path or a PostgreSQL URL), else in `folder`."""
    from review_kit.store import Store
    from review_kit.store.ingest import ingest_paths
    incidents, events = write_exports(folder / "exports")
    store = Store.open(location or folder / "review.db")
    ingest_paths(store, "csv", [incidents, events], quiet=True)
    add_action_items(store)
    return store
