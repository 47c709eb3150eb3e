"""One incident's review, gathered from the store: what the retrospective notebook shows.

The store is read through the `IncidentReader` it is handed (a `review_kit.store.Store`), so
this wing stays free of the database.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple, Protocol

import pandas as pd

from ..config import load_config
from ..model import (KEY_EVENT_PREFIX, MILESTONE_OVERRIDES, RESPONDER_ACTOR_KINDS, parse_timestamp,
                     person_name, target_people)
from .durations import measured_durations, order_findings
from .metrics import CadencePolicy, communication_gaps, compute_metrics
from .timeline import MILESTONE_EVENT_COLUMNS, MILESTONES, build_timeline, milestones


class IncidentReader(Protocol):
    """What the gathering reads: the part of `review_kit.store.Store` it uses."""

    def incident(self, incident_id: str) -> dict: ...

    def incidents(self, incident_ids: Iterable[str] | None = None, *, severity: str | None = None,
                  since: Any = None, until: Any = None) -> pd.DataFrame: ...

    def events(self, incident_id: str | None = None, *, incident_ids: Iterable[str] | None = None,
               with_raw: bool = True, kinds: Iterable[str] | None = None,
               columns: Iterable[str] | None = None) -> pd.DataFrame: ...

    def annotations(self, incident_id: str) -> dict[str, str]: ...

    def annotation_rows(self, incident_ids: Iterable[str] | None = None, *,
                        fields: Iterable[str] | None = None) -> pd.DataFrame: ...

    def action_items(self, incident_id: str | None = None) -> pd.DataFrame: ...


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
    # Milestones out of order (durations.order_findings): the data-quality list.
    findings: pd.DataFrame = field(default_factory=lambda: order_findings(
        pd.DataFrame(columns=["incident_id", *MILESTONES])))
    # The as-of time an unresolved incident's silence runs to (None: its last event).
    asof: Any = None

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


def load_incident(store: IncidentReader, incident_id: str, *, config: dict[str, Any] | None = None,
                  asof: Any = None) -> IncidentData:
    """Read one incident (an alias works too) and compute its metrics and comms gaps; an
    unresolved incident's silence runs up to ``asof`` (the report's as-of time)."""
    config = load_config() if config is None else config
    incident = store.incident(incident_id)
    incident_id = incident["incident_id"]
    events = store.events(incident_id)
    timeline = build_timeline(events)
    annotations = store.annotations(incident_id)
    overrides = {incident_id: {k: v.isoformat() for k, v in milestone_overrides(annotations).items()}}
    policy = cadence_policy(config)
    incidents = pd.DataFrame([incident])
    metrics_frame = compute_metrics(timeline, incidents, overrides=overrides, cadence=policy,
                                    asof=asof)
    findings = order_findings(metrics_frame)
    if metrics_frame.empty:
        metrics = {"incident_id": incident_id}
        gaps = pd.DataFrame()
    else:
        metrics = metrics_frame.iloc[0].to_dict()
        # The metrics row carries the milestones (overrides applied): no second derivation.
        gaps = communication_gaps(timeline, metrics_frame, incidents, cadence=policy, asof=asof)
    return IncidentData(
        incident=incident, timeline=timeline, annotations=annotations,
        action_items=store.action_items(incident_id), metrics=metrics, gaps=gaps,
        cadence=policy, key_events=key_event_ids(annotations), findings=findings,
        asof=None if asof is None else parse_timestamp(asof),
    )


# Kinds the milestones and durations are made of: enough to rank an incident against history.
MILESTONE_KINDS = ("impact_started", "alert_firing", "triggered", "acknowledged", "mitigated",
                   "status_update", "resolved", "reopened")
# Bump when the rules deriving milestones from events change (analysis.timeline), so
# milestones kept from an earlier run are derived again.
MILESTONES_VERSION = 1
DURATIONS = ("time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve",
             "impact_duration")


def percentile_rank(value: float, history: pd.Series) -> float | None:
    """Share (0–100) of past values strictly below `value`: "slower than N% of them"."""
    history = pd.to_numeric(history, errors="coerce").dropna()
    if value is None or pd.isna(value) or history.empty:
        return None
    return float((history < value).mean() * 100)


class PastWindow(NamedTuple):
    """The past incidents an incident's durations are ranked among: those of its `severity`
    detected in [`start`, `end`) (the months before its own detection)."""
    severity: str
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def created_since(self) -> pd.Timestamp:
        # One created the day before the window may be detected inside it.
        return self.start - pd.Timedelta(days=1)


def past_window(data: IncidentData, *, months: int = 12) -> PastWindow | None:
    """The window `past_incident_metrics` ranks `data`'s incident in; None when the incident
    has no severity or detection time (nothing to rank it among)."""
    severity = data.incident.get("severity")
    detected = data.metrics.get("detected_at")
    if not severity or detected is None or pd.isna(detected):
        return None
    end = pd.Timestamp(detected)
    return PastWindow(severity, end - pd.DateOffset(months=months), end)


def past_incident_metrics(store: IncidentReader, data: IncidentData, *, months: int = 12,
                          kept: pd.DataFrame | None = None) -> pd.DataFrame:
    """The durations (and detection time) of the other incidents of this one's severity
    detected in the `months` before it (empty when this incident has no severity or detection
    time). Only the milestones are worked out: on a big store this is thousands of incidents,
    and their communication and responders would cost more than the rest of the retrospective.

    `kept`: the incidents of the store (incident_id, severity, created_at), all or at least
    those of the `past_window`, with their milestones as their events alone give them (no
    hand-set overrides; ``MILESTONES_VERSION``), kept from an earlier run: then only the
    incidents someone set a milestone of by hand are read again."""
    window = past_window(data, months=months)
    if window is None:
        return pd.DataFrame()
    severity, since, until = window.severity, window.created_since, window.end
    window_start, detected = window.start, window.end
    if kept is None:
        past = store.incidents(severity=severity, since=since, until=until)
    else:
        past = kept[(kept["severity"] == severity) & (kept["created_at"] >= since)
                    & (kept["created_at"] < until)]
    ids = past["incident_id"][past["incident_id"] != data.incident_id]
    if ids.empty:
        return pd.DataFrame()
    overrides = store.annotation_rows(fields=MILESTONE_OVERRIDES)
    overrides = overrides[overrides["incident_id"].isin(ids)][["incident_id", "field", "value"]]
    if kept is None:
        marks = _milestones_read(store, ids.tolist(), overrides)
    else:
        by_hand = pd.unique(overrides["incident_id"])
        derived = past[past["incident_id"].isin(ids) & ~past["incident_id"].isin(by_hand)]
        marks = pd.concat([derived, _milestones_read(store, list(by_hand), overrides)],
                          ignore_index=True) if len(by_hand) else derived
    history = pd.concat([marks[["incident_id", "detected_at"]].reset_index(drop=True),
                         measured_durations(marks).reset_index(drop=True)], axis=1)
    history = history[(history["detected_at"] >= window_start) & (history["detected_at"] < detected)]
    return history.sort_values("incident_id", kind="stable").reset_index(drop=True)


def _milestones_read(store: IncidentReader, incident_ids: list[str],
                     overrides: pd.DataFrame | None = None) -> pd.DataFrame:
    events = store.events(incident_ids=incident_ids, kinds=MILESTONE_KINDS,
                          columns=MILESTONE_EVENT_COLUMNS)
    return milestones(events, overrides)


def ranks_among(history: pd.DataFrame, data: IncidentData, *, months: int = 12) -> dict[str, dict]:
    """Each duration of this incident placed among `history` (``past_incident_metrics``):
    {metric: {percentile, n, severity, window}}."""
    if history.empty:
        return {}
    severity = data.incident.get("severity")
    ranks = {}
    for metric in DURATIONS:
        values = pd.to_numeric(history[metric], errors="coerce").dropna()
        rank = percentile_rank(data.metrics.get(metric), values)
        if rank is not None:
            ranks[metric] = {"percentile": rank, "n": int(len(values)), "severity": severity,
                             "window": f"last {months} months"}
    return ranks


ACTION_COLUMNS = ["responder", "at", "kind", "escalation"]


def responder_actions(timeline: pd.DataFrame) -> pd.DataFrame:
    """Every act of a responder, one row each: (responder, at, kind, escalation).

    People are the actors of the responder kinds (bots and services left out) and the
    assignees of escalations (``escalation`` = 1: being escalated to is not an action of
    theirs), as in the `responders` metric. The responder table and chart both read this.
    """
    if timeline.empty:
        return pd.DataFrame(columns=ACTION_COLUMNS)
    people = timeline["actor_type"].isin(["bot", "service"]) == False  # noqa: E712 (NaN counts as a person)
    acting = timeline[timeline["kind"].isin(RESPONDER_ACTOR_KINDS) & people & timeline["actor"].notna()]
    acting = acting.assign(responder=acting["actor"].map(person_name), escalation=0)
    escalated = timeline[(timeline["kind"] == "escalated") & timeline["target"].notna()]
    targets = escalated.assign(responder=escalated["target"].map(target_people)) \
        .explode("responder").assign(escalation=1)
    rows = pd.concat([acting[ACTION_COLUMNS], targets[ACTION_COLUMNS]])
    rows = rows[rows["responder"].notna() & (rows["responder"] != "")]
    return rows.sort_values("at", kind="stable").reset_index(drop=True)


def responder_activity(timeline: pd.DataFrame, actions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Who acted, when first and last, and how often: one row per person, first active first
    (from `responder_actions`, given or computed)."""
    columns = ["responder", "first_activity", "last_activity", "actions", "escalated_to"]
    rows = responder_actions(timeline) if actions is None else actions
    if rows.empty:
        return pd.DataFrame(columns=columns)
    table = rows.groupby("responder", sort=False).agg(
        first_activity=("at", "min"), last_activity=("at", "max"),
        actions=("escalation", lambda s: int((s == 0).sum())), escalated_to=("escalation", "sum"))
    return table.sort_values("first_activity", kind="stable").reset_index()[columns]


AUDIENCE_COLUMNS = ["audience", "gaps", "longest_silence", "limit_seconds", "breaches",
                    "longest_breach_over"]


def silences_by_audience(gaps: pd.DataFrame) -> pd.DataFrame:
    """Per audience (external, internal): the number of gaps, the longest silence, the
    policy, the breaches and the longest time past the policy, all from the gap table the
    communication audit lists, so its headline and its rows cannot disagree."""
    if gaps is None or gaps.empty:
        return pd.DataFrame(columns=AUDIENCE_COLUMNS)
    frame = gaps.assign(over=(gaps["seconds"] - gaps["limit_seconds"]).where(
        gaps["breach"].fillna(False).astype(bool)))
    table = frame.groupby("audience", sort=False).agg(
        gaps=("seconds", "size"), longest_silence=("seconds", "max"),
        limit_seconds=("limit_seconds", "max"),
        breaches=("breach", lambda s: int(s.fillna(False).astype(bool).sum())),
        longest_breach_over=("over", "max")).reset_index()
    order = {"external": 0, "internal": 1}
    return table.sort_values("audience", key=lambda s: s.map(order).fillna(2),
                             kind="stable").reset_index(drop=True)[AUDIENCE_COLUMNS]


def closest_incident_ids(wanted: str, incidents: pd.DataFrame, n: int = 5) -> list[str]:
    """The ids most like `wanted` (difflib, ignoring case); the newest ids when none is
    alike or nothing was asked for."""
    ids = incidents["incident_id"].astype(str).tolist()
    if wanted:
        lowered = {i.lower(): i for i in ids}
        close = difflib.get_close_matches(wanted.lower(), list(lowered), n=n, cutoff=0.5)
        if close:
            return [lowered[c] for c in close]
    newest = incidents.sort_values(["created_at", "incident_id"], ascending=[False, True],
                                   kind="stable", na_position="last")
    return newest["incident_id"].astype(str).head(n).tolist()


def not_chosen_line(wanted: str, incidents: pd.DataFrame) -> str:
    """One line for an empty or unknown incident id, naming the ids to try."""
    ids = ", ".join(closest_incident_ids(wanted, incidents))
    if not wanted:
        return f"No incident chosen (incident_id is empty); the newest: {ids}."
    return f"No incident {wanted!r} in the store; the closest ids: {ids}."
