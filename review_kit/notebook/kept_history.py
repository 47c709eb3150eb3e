"""Results derived from the whole history, kept in the store for as long as the history stays
the same (the store's `revision`), so a retrospective on a big store reads them back instead
of reading every incident's events again.

- every incident's severity, creation time and milestones as its events give them
  (`kept_milestones`): what the retrospective ranks this incident's durations against;
- every incident's review metrics without hand-set overrides and without an as-of time,
  with what each responder did in it and how many updates it had (`fleet_metrics`): what
  the trend report reads, recomputing from events only the incidents those two change;
- the similarity terms and index ("Seen before": `similar_history`).

`keep_history` brings all of them up to date after a command that changed the history (the
CLI's ingest, pull and link).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..analysis.kept import frame_from_bytes, frame_to_bytes
from ..analysis.metrics import METRIC_COLUMNS, CadencePolicy, compute_metrics
from ..analysis.retrospective import MILESTONES_VERSION, PastWindow, cadence_policy
from ..analysis.timeline import MILESTONES
from ..analysis.trends import responder_activity
from ..config import load_config
from ..model import COMMS_KINDS
from ..store import Store
from .similar_history import similarity_index

__all__ = ["Fleet", "fleet_from_events", "fleet_metrics", "keep_history", "kept_milestones"]

_MILESTONES = "milestones"
# Incidents per kept part of the milestones: a part reads in a millisecond or two, and a year
# of one severity is a few parts even when the history holds a hundred thousand incidents.
PART_ROWS = 4096
_MILESTONES_LAYOUT = 2  # 2: a directory and parts; 1 (no stamp): one frame of every incident
# Bump when what the fleet's metrics, activity or update counts are made of changes.
FLEET_VERSION = 2  # 2: a target naming several people counts each; names stripped in activity
_FLEET = ("fleet_metrics", "fleet_activity")
# What the metrics and the responder activity read: no message text, no raw records.
FLEET_EVENT_COLUMNS = ("event_id", "incident_id", "at", "seq", "source", "kind", "actor",
                       "actor_type", "target", "status")
# The incident fields a report shows as it reads them now (cut to its text limit, redacted).
_FIELDS = ("title", "severity", "service", "team", "commander")


def kept_milestones(store: Store, *, derive: bool = True,
                    config: Mapping[str, Any] | None = None,
                    among: PastWindow | None = None) -> pd.DataFrame | None:
    """Every incident (incident_id, severity, created_at) with its milestones as its events
    give them (no hand-set overrides; NaT where it has no events): read back when kept for
    the store's current revision, else taken from the fleet's metrics (`fleet_metrics`, kept
    or derived with `config`'s cadence policy: the milestones are the same under any) and
    kept — or, without `derive`, None: a retrospective then reads only the past year it
    needs, which costs less than deriving the whole history when the last ingest did not
    keep it.

    `among`: only the incidents of that window's severity created from its `created_since`
    to its end, read from the kept parts that can hold them (a retrospective's ranks on a
    big history read its year of one severity, not every incident)."""
    stamp = {"version": MILESTONES_VERSION, "layout": _MILESTONES_LAYOUT,
             "revision": store.revision()}
    kept = _read_kept_milestones(store, stamp, among)
    if kept is not None:
        return kept
    if not derive:
        return None
    metrics = _kept_fleet(store, _cadence(config)).metrics
    incidents = store.incidents()[["incident_id", "severity", "created_at"]]
    milestones = incidents.merge(metrics[["incident_id", *MILESTONES]], on="incident_id", how="left")
    milestones = milestones.sort_values("incident_id", kind="stable", ignore_index=True)
    _keep_milestones(store, milestones, stamp)
    return _within(milestones, among)


def _keep_milestones(store: Store, milestones: pd.DataFrame, stamp: Mapping[str, int]) -> None:
    """Kept in parts of `PART_ROWS` incidents in (severity, created_at) order, with a directory
    of the severities and creation times each part holds."""
    rows = milestones.sort_values(["severity", "created_at", "incident_id"], na_position="last",
                                  kind="stable", ignore_index=True)
    part = np.arange(len(rows)) // PART_ROWS
    spans = rows.assign(part=part).groupby(["part", "severity"], sort=False, dropna=False).agg(
        first=("created_at", "min"), last=("created_at", "max")).reset_index()
    parts = [frame_to_bytes(rows.iloc[k * PART_ROWS:(k + 1) * PART_ROWS], {**stamp, "part": k})
             for k in range(int(part[-1]) + 1 if len(rows) else 0)]
    store.keep(_MILESTONES, frame_to_bytes(spans, stamp), parts=parts)


def _read_kept_milestones(store: Store, stamp: Mapping[str, int],
                          among: PastWindow | None) -> pd.DataFrame | None:
    """The kept milestones (those `among` asks for), or None unless the directory and every
    part read are kept with `stamp` (a keep meanwhile makes them look stale, never mixed)."""
    directory = _read_kept(store, (_MILESTONES,), stamp)
    if directory is None:
        return None
    spans = directory[0]
    if among is not None:
        spans = spans[(spans["severity"] == among.severity) & (spans["last"] >= among.created_since)
                      & (spans["first"] < among.end)]
    wanted = sorted(set(spans["part"].tolist()))
    found = store.kept_parts(_MILESTONES, wanted)
    frames = [frame_from_bytes(data, {**stamp, "part": k})
              if (data := found.get(k)) is not None else None for k in wanted]
    if any(frame is None for frame in frames):
        return None
    if not frames:
        return _within(pd.DataFrame(columns=["incident_id", "severity", "created_at", *MILESTONES]),
                       among)
    whole = pd.concat(frames, ignore_index=True)
    return _within(whole.sort_values("incident_id", kind="stable", ignore_index=True), among)


def _within(milestones: pd.DataFrame, among: PastWindow | None) -> pd.DataFrame:
    if among is None:
        return milestones
    chosen = milestones[(milestones["severity"] == among.severity)
                        & (milestones["created_at"] >= among.created_since)
                        & (milestones["created_at"] < among.end)]
    return chosen.reset_index(drop=True)


def _read_kept(store: Store, names: tuple[str, ...],
               stamp: Mapping[str, int]) -> list[pd.DataFrame] | None:
    """The frames kept under `names`, or None unless every one is there with `stamp`. The
    caller takes the store's revision for the stamp before this read: a write meanwhile makes
    what it derives look stale, never current."""
    frames = [frame_from_bytes(data, stamp) if (data := store.kept(name)) is not None else None
              for name in names]
    return frames if all(frame is not None for frame in frames) else None


def _cadence(config: Mapping[str, Any] | None) -> CadencePolicy:
    return cadence_policy(load_config() if config is None else config)


@dataclass
class Fleet:
    """Every incident's metrics (``compute_metrics``), what each responder did in each
    (``responder_activity``) and each incident's number of communication updates."""
    metrics: pd.DataFrame
    activity: pd.DataFrame
    updates: pd.Series  # indexed by incident_id


def fleet_from_events(events: pd.DataFrame, incidents: pd.DataFrame, *,
                      overrides: pd.DataFrame | None = None,
                      cadence: CadencePolicy | None = None, asof: Any = None) -> Fleet:
    """The fleet of `incidents` computed from their events, as a store reads them (one row
    per event id)."""
    metrics = compute_metrics(events, incidents, overrides=overrides, cadence=cadence, asof=asof,
                              unique_ids=True)
    ids = pd.Index(metrics["incident_id"])
    where = ids.get_indexer(events.loc[events["kind"].isin(list(COMMS_KINDS)), "incident_id"])
    updates = pd.Series(np.bincount(where[where >= 0], minlength=len(ids)).astype("int64"),
                        index=ids, name="updates")
    return Fleet(metrics, responder_activity(metrics, events), updates)


def _policy_stamp(policy: CadencePolicy) -> int:
    text = json.dumps(policy.to_dict(), sort_keys=True).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big", signed=True)


def fleet_metrics(store: Store, incidents: pd.DataFrame, *, overrides: pd.DataFrame,
                  cadence: CadencePolicy, asof: Any) -> Fleet:
    """The fleet of every incident in `incidents` (the store's, as the report shows them),
    as `fleet_from_events` computes it from all of the store's events.

    Without hand-set milestones and as-of time, an incident's metrics depend only on the
    history, so they are kept for the store's revision and cadence policy. What is read back
    is recomputed from events only for the incidents the overrides or the as-of time change:
    those with overrides, and the unresolved ones, whose communication window runs to the
    as-of time. Every row then shows the incident's fields from `incidents`."""
    base = _kept_fleet(store, cadence)
    redo = set(overrides["incident_id"]) if len(overrides) else set()
    redo |= set(base.metrics.loc[base.metrics["resolved_at"].isna(), "incident_id"])
    redo &= set(incidents["incident_id"])
    metrics = base.metrics
    if redo:
        # Most of a history unresolved (a source that never says so): one read of all is
        # cheaper than asking for most of them by id.
        events = store.events(columns=FLEET_EVENT_COLUMNS) if 2 * len(redo) > len(incidents) \
            else store.events(incident_ids=sorted(redo), columns=FLEET_EVENT_COLUMNS)
        fresh = compute_metrics(
            events, incidents[incidents["incident_id"].isin(redo)],
            overrides=overrides[overrides["incident_id"].isin(redo)], cadence=cadence, asof=asof,
            unique_ids=True)
        metrics = pd.concat([metrics[~metrics["incident_id"].isin(redo)], fresh],
                            ignore_index=True).sort_values("incident_id", ignore_index=True)
    fields = incidents.set_index("incident_id")
    metrics = metrics[metrics["incident_id"].isin(fields.index)].reset_index(drop=True)
    for name in _FIELDS:
        metrics[name] = pd.Series(fields[name].reindex(metrics["incident_id"]).to_numpy(dtype=object),
                                  index=metrics.index, dtype=object)
    return Fleet(metrics.loc[:, list(METRIC_COLUMNS)], base.activity, base.updates)


def _kept_fleet(store: Store, cadence: CadencePolicy) -> Fleet:
    """The fleet without overrides or as-of time: kept, or derived and kept."""
    # The milestones' rules too: kept_milestones takes them from these metrics.
    stamp = {"version": FLEET_VERSION, "milestones": MILESTONES_VERSION,
             "revision": store.revision(), "policy": _policy_stamp(cadence)}
    kept = _read_kept(store, _FLEET, stamp)
    if kept is not None:
        return _fleet_from_frames(*kept)
    fleet = fleet_from_events(store.events(columns=FLEET_EVENT_COLUMNS), store.incidents(),
                              cadence=cadence)
    for name, frame in zip(_FLEET, _fleet_frames(fleet)):
        store.keep(name, frame_to_bytes(frame, stamp))
    return fleet


def _fleet_frames(fleet: Fleet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fleet as two flat frames, as kept: the metrics without the responders and the
    incident fields, with each incident's update count; and one row per (incident,
    responder) with the responder's place among the incident's responders (`order`, -1: not
    one of them) and their activity (-1: none)."""
    metrics = fleet.metrics.drop(columns=["responders", *_FIELDS])
    metrics["updates"] = fleet.updates.reindex(metrics["incident_id"]).to_numpy()
    named = fleet.metrics[["incident_id", "responders"]].explode("responders").dropna()
    named = named.rename(columns={"responders": "responder"})
    named["order"] = named.groupby("incident_id", sort=False).cumcount()
    activity = fleet.activity.assign(responder=fleet.activity["responder"].astype(object))
    rows = named.merge(activity, on=["incident_id", "responder"], how="outer")
    rows["order"] = rows["order"].fillna(-1).astype("int64")
    for name in ("events", "out_of_hours_events"):
        rows[name] = rows[name].fillna(-1).astype("int64")
    return metrics.reset_index(drop=True), rows.reset_index(drop=True)


def _fleet_from_frames(metrics: pd.DataFrame, rows: pd.DataFrame) -> Fleet:
    ids = pd.Index(metrics["incident_id"])
    updates = pd.Series(metrics.pop("updates").to_numpy(dtype="int64"), index=ids, name="updates")
    # Each incident's responders one slice of the rows in (incident, order) order: a groupby
    # into lists is a Python call per incident (seconds at 100,000).
    named = rows[rows["order"] >= 0]
    position = ids.get_indexer(named["incident_id"])
    by = np.lexsort((named["order"].to_numpy(dtype="int64"), position))
    names = named["responder"].to_numpy(dtype=object)[by].tolist()
    bounds = np.searchsorted(position[by], np.arange(len(ids) + 1)).tolist()
    metrics["responders"] = pd.Series([names[bounds[i]:bounds[i + 1]] for i in range(len(ids))],
                                      index=metrics.index, dtype=object)
    for name in _FIELDS:
        metrics[name] = pd.Series(None, index=metrics.index, dtype=object)
    acted = rows[rows["events"] >= 0]
    activity = acted[["incident_id", "responder", "events", "out_of_hours_events"]]
    return Fleet(metrics.loc[:, list(METRIC_COLUMNS)], activity.reset_index(drop=True), updates)


def keep_history(store: Store, config: Mapping[str, Any] | None = None) -> None:
    """Bring every kept result up to date with the store's history."""
    similarity_index(store)
    _kept_fleet(store, _cadence(config))  # all events read once: the milestones come from it
    kept_milestones(store, config=config)
