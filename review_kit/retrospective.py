"""One incident's review, gathered from the store: what the retrospective notebook shows."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .config import load_config
from .metrics import CadencePolicy, communication_gaps, compute_metrics
from .model import MILESTONE_OVERRIDES, parse_timestamp
from .store import Store
from .timeline import build_timeline, milestones

KEY_EVENT_PREFIX = "key_event:"


@dataclass
class IncidentData:
    """Everything known about one incident, with the facilitator's decisions applied."""

    incident: dict
    timeline: pd.DataFrame
    annotations: dict[str, str]
    action_items: pd.DataFrame
    metrics: dict
    gaps: pd.DataFrame
    cadence: CadencePolicy
    key_events: list[str] = field(default_factory=list)

    @property
    def incident_id(self) -> str:
        return self.incident["incident_id"]


def milestone_overrides(annotations: dict[str, str]) -> dict[str, pd.Timestamp]:
    """Milestones the room set by hand (annotation fields named after the milestone)."""
    found = {}
    for name in MILESTONE_OVERRIDES:
        value = annotations.get(name)
        if value:
            stamp = parse_timestamp(value)
            if stamp is not None:
                found[name] = stamp
    return found


def key_event_ids(annotations: dict[str, str]) -> list[str]:
    return [f[len(KEY_EVENT_PREFIX):] for f, v in annotations.items()
            if f.startswith(KEY_EVENT_PREFIX) and str(v).lower() == "true"]


def cadence_policy(config: dict[str, Any] | None) -> CadencePolicy:
    section = (config or {}).get("cadence")
    return CadencePolicy.from_dict(section) if section else CadencePolicy()


def load_incident(store: Store, incident_id: str, *, config: dict[str, Any] | None = None) -> IncidentData:
    """Read one incident (an alias works too) and compute its metrics and comms gaps."""
    config = load_config() if config is None else config
    incident = store.incident(incident_id)
    incident_id = incident["incident_id"]
    events = store.events(incident_id)
    timeline = build_timeline(events)
    annotations = store.annotations(incident_id)
    overrides = {incident_id: {k: v.isoformat() for k, v in milestone_overrides(annotations).items()}}
    policy = cadence_policy(config)
    incidents = pd.DataFrame([incident])
    metrics_frame = compute_metrics(timeline, incidents, overrides=overrides, cadence=policy)
    if metrics_frame.empty:
        metrics = {"incident_id": incident_id}
        gaps = pd.DataFrame()
    else:
        metrics = metrics_frame.iloc[0].to_dict()
        gaps = communication_gaps(timeline, milestones(timeline, overrides), incidents, cadence=policy)
    return IncidentData(
        incident=incident, timeline=timeline, annotations=annotations,
        action_items=store.action_items(incident_id), metrics=metrics, gaps=gaps,
        cadence=policy, key_events=key_event_ids(annotations),
    )


def output_folder(output_dir: str | Path | None) -> Path:
    folder = Path(output_dir or ".").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
