"""What the store says about runs and resolutions: the run log and which incidents resolved when.

Both the queue (to decide what to run) and the output index (to list what ran) read these.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from ..analysis.retrospective import MILESTONE_KINDS
from ..analysis.timeline import DUPLICATE_WINDOW_SECONDS, milestones
from ..model import parse_timestamp, to_iso
from ..store.database import Store, events, runs

RUN_COLUMNS = ("id", "incident_id", "notebook", "trigger", "dedup_key", "status", "attempts",
               "queued_at", "started_at", "finished_at", "lease_until", "error", "outputs")


def resolution_time(store: Store, incident_id: str) -> pd.Timestamp | None:
    """When the incident was (last) resolved, from its events (DESIGN.md's resolved_at), or
    None while it is open. Hand-set milestone overrides are left out on purpose: a facilitator
    correcting resolved_at must not start another automated run."""
    quick = _plain_resolution(store, incident_id)
    if quick is not None:
        return quick
    # With resolved events of its own, only resolved/reopened decide: a far smaller read
    # (the receiver asks this on every resolution). Without, a status page may stand in.
    events = store.events(incident_id, with_raw=False, kinds=("resolved", "reopened"))
    if not (events["kind"] == "resolved").any():
        events = store.events(incident_id, with_raw=False, kinds=MILESTONE_KINDS)
    if events.empty:
        return None
    row = milestones(events)
    row = row[row["incident_id"] == incident_id] if "incident_id" in row.columns else row
    if row.empty:
        return None
    value = row["resolved_at"].iloc[0]
    return None if pd.isna(value) else pd.Timestamp(value)


# One statement, compiled once: the receiver asks this on every resolution it stores.
_RESOLUTIONS = (select(events.c.kind, events.c.at)
                .where(events.c.incident_id == bindparam("incident_id"),
                       events.c.kind.in_(("resolved", "reopened"))))


def _plain_resolution(store: Store, incident_id: str) -> pd.Timestamp | None:
    """The resolution time when the answer needs no timeline: the incident was never
    reopened and its latest `resolved` stands alone (the one before it, if any, is further
    back than a repeat report could be), so it is what `milestones` would keep. None when
    the timeline has to decide (reopenings, close repeats, ties, no resolution of its own):
    reading and ordering those costs milliseconds, this read a fraction of one."""
    with store.engine.connect() as conn:
        return plain_resolution_on(conn, incident_id)


def plain_resolution_on(conn: Connection, incident_id: str) -> pd.Timestamp | None:
    """`_plain_resolution` read through the caller's connection: inside the transaction that
    has just written the resolution, which other connections cannot see yet."""
    rows = conn.execute(_RESOLUTIONS, {"incident_id": incident_id}).all()
    if not rows or any(kind != "resolved" for kind, _ in rows):
        return None
    times = sorted(int(at) for _, at in rows)
    window = int(round(DUPLICATE_WINDOW_SECONDS * 1_000_000))
    if len(times) > 1 and times[-1] - times[-2] <= window:
        return None
    return pd.Timestamp(times[-1], unit="us", tz="UTC")


def resolved_incidents(store: Store, since: Any = None, until: Any = None) -> pd.DataFrame:
    """incident_id and resolved_at of every resolved incident, resolved in [since, until)."""
    events = store.events(with_raw=False, kinds=MILESTONE_KINDS)
    if events.empty:
        return pd.DataFrame({"incident_id": pd.Series(dtype=object),
                             "resolved_at": pd.Series(dtype="datetime64[us, UTC]")})
    table = milestones(events)[["incident_id", "resolved_at"]].dropna(subset=["resolved_at"])
    if since is not None:
        table = table[table["resolved_at"] >= parse_timestamp(since, "UTC")]
    if until is not None:
        table = table[table["resolved_at"] < parse_timestamp(until, "UTC")]
    return table.sort_values(["resolved_at", "incident_id"]).reset_index(drop=True)


def list_runs(store: Store, *, status: str | None = None, incident_id: str | None = None,
              limit: int | None = None) -> pd.DataFrame:
    """Runs, newest first, with `duration` in seconds and `outputs` decoded."""
    query = select(*[runs.c[c] for c in RUN_COLUMNS]).order_by(runs.c.id.desc())
    if status is not None:
        query = query.where(runs.c.status == status)
    if incident_id is not None:
        query = query.where(runs.c.incident_id == incident_id)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame.from_records(rows, columns=list(RUN_COLUMNS))
    for column in ("queued_at", "started_at", "finished_at", "lease_until"):
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.as_unit("us")
    frame["duration"] = (frame["finished_at"] - frame["started_at"]).dt.total_seconds()
    frame["outputs"] = pd.Series([json.loads(o) if isinstance(o, str) and o else None
                                  for o in frame["outputs"].tolist()], index=frame.index, dtype=object)
    return frame


def runs_to_json(frame: pd.DataFrame) -> list[dict]:
    records = []
    for row in frame.to_dict("records"):
        record = {k: (to_iso(v) if k in ("queued_at", "started_at", "finished_at", "lease_until") else v)
                  for k, v in row.items()}
        record["duration"] = None if pd.isna(row["duration"]) else round(float(row["duration"]), 3)
        record["id"], record["attempts"] = int(row["id"]), int(row["attempts"])
        records.append(record)
    return records
