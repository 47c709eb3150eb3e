"""Merge events from every source into one ordered, de-duplicated timeline and derive milestones.

Pure functions of the canonical events frame (``model.EVENT_COLUMNS``); no database.

Order. Events are sorted by ``incident_id``, ``at``, then ``seq`` (the order a loader gave
records of one source that share a timestamp: PagerDuty log entries arrive newest first and
several share one second), then ``source``, then ``event_id``, so the same input always gives
the same timeline whatever order it arrived in.

De-duplication (``build_timeline``), in two steps:

1. the same ``event_id`` is kept once (re-ingesting a file, or overlapping exports);
2. the same *happening* reported by two records is kept once: two events of a lifecycle kind
   (``LIFECYCLE_KINDS``) of the same incident, with the same kind and the same actor (two
   missing actors count as the same), at most ``DUPLICATE_WINDOW_SECONDS`` apart (measured
   from the previous report of that happening, so a chain of reports collapses), are one
   happening: a PagerDuty webhook and a REST log entry for one acknowledgement, say. The
   earliest report is kept. A ``resolved`` / ``reopened`` cycle is never collapsed: two
   resolutions with a reopening between them are two happenings however close together.
   Messages, notes, updates and alerts are never merged this way: two identical chat
   messages a second apart are two messages.

Milestones (``milestones``) follow DESIGN.md, "Milestones and per-incident metrics".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .errors import InputError, TimestampError
from .model import MILESTONE_OVERRIDES, check_columns, parse_timestamp, parse_timestamps

__all__ = [
    "DUPLICATE_WINDOW_SECONDS", "LIFECYCLE_KINDS", "MILESTONE_COLUMNS", "OrderedEvents",
    "build_timeline", "milestones", "milestones_of", "order_events",
]

# Kinds that mark the incident's own lifecycle in an incident tool (PagerDuty, Opsgenie,
# incident.io…). Only these are merged across records, and an incident with none of them
# is "known only from a status page" for the milestone fallbacks.
LIFECYCLE_KINDS: frozenset[str] = frozenset(
    {"triggered", "acknowledged", "mitigated", "resolved", "reopened"})
DUPLICATE_WINDOW_SECONDS: float = 2.0
MILESTONE_COLUMNS: tuple[str, ...] = (
    "incident_id", "started_at", "detected_at", "acknowledged_at", "mitigated_at",
    "resolved_at", "reopened", "is_resolved",
)
TIMELINE_REQUIRED: tuple[str, ...] = ("event_id", "incident_id", "at", "seq", "source", "kind")

_NAT = np.iinfo(np.int64).min  # numpy's NaT as int64 microseconds
_TIME_DTYPE = "datetime64[us, UTC]"


@dataclass(frozen=True)
class OrderedEvents:
    """An events frame in timeline order, de-duplicated, as arrays (for the hot paths).

    ``rows`` indexes the frame's rows (positionally) in timeline order; ``incidents`` holds
    the distinct incident ids, sorted; ``inc`` each row's position in ``incidents``; ``at``
    each row's time as int64 microseconds since the epoch (UTC); ``kind`` each row's kind.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    incidents: pd.Index
    inc: np.ndarray
    at: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        """A column of the frame in timeline order (object array; all None when absent)."""
        return _column(self.frame, name)[self.rows]

    def kind_is(self, *kinds: str) -> np.ndarray:
        return np.isin(self.kind, list(kinds))


def _utc_micros(values: pd.Series) -> np.ndarray:
    """A column of times as int64 microseconds (UTC); zone-less values are an error."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        series = values.dt.tz_convert("UTC").dt.as_unit("us")
    else:
        # Frames built by hand may hold text or mixed-offset Timestamps: parse them the one
        # way the project parses time, which refuses to guess a missing zone.
        try:
            series = parse_timestamps(values.astype(object))
        except TimestampError as exc:
            raise InputError(None, f"events.at ({exc.where})", exc.problem) from None
    micros = series.to_numpy(dtype="datetime64[us]").view("int64")
    if (micros == _NAT).any():
        row = int(np.flatnonzero(micros == _NAT)[0])
        raise InputError(None, f"events row {row}", "event has no timestamp (at)")
    return micros


def order_events(events: pd.DataFrame, *, incident_ids: Any = None,
                 duplicate_window: float = DUPLICATE_WINDOW_SECONDS) -> OrderedEvents:
    """The rows of ``events`` in timeline order with duplicates removed (see module docs).

    The building block of ``build_timeline``, ``milestones`` and the metrics: it touches only
    the columns that decide the order, so million-row frames stay cheap. ``incident_ids``
    names the incidents wanted: events of others are left out, and a named incident without
    events still gets its place in ``incidents``.
    """
    check_columns(events, TIMELINE_REQUIRED, "events")
    ids = events["incident_id"].astype(object)
    if incident_ids is None:
        inc_codes, incidents = pd.factorize(ids, sort=True)
        if len(inc_codes) and (inc_codes < 0).any():
            row = int(np.flatnonzero(inc_codes < 0)[0])
            raise InputError(None, f"events row {row}", "event belongs to no incident")
        selected = np.arange(len(events))
    else:
        incidents = pd.Index(pd.unique(pd.Series(list(incident_ids), dtype=object).dropna()),
                             dtype=object).sort_values()
        inc_codes = incidents.get_indexer(ids)
        selected = np.flatnonzero(inc_codes >= 0)
    inc_codes = np.asarray(inc_codes, dtype="int64")
    n = len(selected)
    at = np.full(len(events), _NAT, dtype="int64")
    if n:
        column = events["at"] if n == len(events) else events["at"].iloc[selected]
        at[selected] = _utc_micros(column)
    seq = pd.to_numeric(events["seq"]).fillna(0).to_numpy(dtype="int64")
    source_codes, _ = pd.factorize(events["source"].astype(object), sort=True,
                                   use_na_sentinel=False)
    order = selected[np.lexsort((source_codes[selected], seq[selected], at[selected],
                                 inc_codes[selected]))]
    event_ids = events["event_id"].to_numpy(dtype=object)

    if n > 1:
        # Rows equal on every sort key so far are broken by event_id; such ties are rare,
        # so only they are sorted on text.
        s_inc, s_at, s_seq, s_src = (inc_codes[order], at[order], seq[order],
                                     source_codes[order])
        same = ((s_inc[1:] == s_inc[:-1]) & (s_at[1:] == s_at[:-1])
                & (s_seq[1:] == s_seq[:-1]) & (s_src[1:] == s_src[:-1]))
        if same.any():
            group = np.concatenate(([0], np.cumsum(~same)))
            tied = np.zeros(n, dtype=bool)
            tied[1:] |= same
            tied[:-1] |= same
            where = np.flatnonzero(tied)
            sub = pd.DataFrame({"group": group[where],
                                "event_id": event_ids[order[where]].astype(str),
                                "row": order[where]})
            sub = sub.sort_values(["group", "event_id"], kind="stable")
            order[where] = sub["row"].to_numpy()

    # 1. one row per event_id; the first in timeline order is kept (rows without an id
    # cannot be told apart, so they all stay).
    sorted_ids = pd.Series(event_ids[order], dtype=object)
    order = order[~(sorted_ids.duplicated() & sorted_ids.notna()).to_numpy()]

    # 2. one row per lifecycle happening.
    kind = events["kind"].to_numpy(dtype=object)[order]
    keep = _merge_reports(_column(events, "actor")[order], inc_codes[order], at[order], kind,
                          duplicate_window)
    order = order[keep]
    return OrderedEvents(frame=events, rows=order, incidents=pd.Index(incidents, dtype=object),
                         inc=inc_codes[order], at=at[order], kind=kind[keep])


def _column(events: pd.DataFrame, name: str) -> np.ndarray:
    """A column as an object array; all None when the frame lacks it (optional columns)."""
    if name not in events.columns:
        return np.full(len(events), None, dtype=object)
    return events[name].to_numpy(dtype=object)


def _merge_reports(actor: np.ndarray, inc: np.ndarray, at: np.ndarray, kind: np.ndarray,
                   window: float) -> np.ndarray:
    """Keep-mask over timeline-ordered rows: False for a repeat report of a lifecycle happening."""
    keep = np.ones(len(kind), dtype=bool)
    lifecycle = np.flatnonzero(np.isin(kind, list(LIFECYCLE_KINDS)))
    if len(lifecycle) < 2 or window < 0:
        return keep
    l_inc, l_at, l_kind = inc[lifecycle], at[lifecycle], kind[lifecycle]
    # A "cycle" number that changes whenever resolved gives way to reopened or back, so a
    # resolution is never merged with one from the other side of a reopening.
    flip_rows = np.flatnonzero(np.isin(l_kind, ["resolved", "reopened"]))
    cycle = np.full(len(lifecycle), -1, dtype="int64")
    if len(flip_rows):
        f_inc, f_kind = l_inc[flip_rows], l_kind[flip_rows]
        changed = np.ones(len(flip_rows), dtype=bool)
        changed[1:] = (f_inc[1:] != f_inc[:-1]) | (f_kind[1:] != f_kind[:-1])
        cycle[flip_rows] = np.cumsum(changed)
    actor_codes, _ = pd.factorize(pd.Series(actor[lifecycle], dtype=object),
                                  use_na_sentinel=False)
    kind_codes, _ = pd.factorize(pd.Series(l_kind, dtype=object))
    # Timeline order is kept within each (incident, kind, actor, cycle) group.
    grouped = np.lexsort((np.arange(len(lifecycle)), cycle, actor_codes, kind_codes, l_inc))
    g_key = np.stack([l_inc, kind_codes, actor_codes, cycle], axis=1)[grouped]
    same_group = (g_key[1:] == g_key[:-1]).all(axis=1)
    close = (l_at[grouped][1:] - l_at[grouped][:-1]) <= int(round(window * 1_000_000))
    repeat = np.zeros(len(lifecycle), dtype=bool)
    repeat[grouped[1:][same_group & close]] = True
    keep[lifecycle[repeat]] = False
    return keep


def build_timeline(events: pd.DataFrame, *,
                   duplicate_window: float = DUPLICATE_WINDOW_SECONDS) -> pd.DataFrame:
    """One ordered timeline from the events of one or many incidents, from every source.

    Sorted by incident, time and a stable tie-break; repeated events and repeated reports
    of one lifecycle happening removed (module docs give the rule); index reset. The
    columns are those of ``events``, ``at`` as datetime64[us, UTC].

    >>> from review_kit.model import parse_timestamps
    >>> events = pd.DataFrame({
    ...     "event_id": ["pd:2", "pd:1"], "incident_id": ["INC-1", "INC-1"],
    ...     "at": parse_timestamps(["2024-03-01T10:00:05Z", "2024-03-01T10:00:05Z"]),
    ...     "seq": [1, 0], "source": ["pagerduty", "pagerduty"],
    ...     "kind": ["acknowledged", "triggered"]})
    >>> build_timeline(events)["kind"].tolist()
    ['triggered', 'acknowledged']
    """
    ordered = order_events(events, duplicate_window=duplicate_window)
    out = events.take(ordered.rows).reset_index(drop=True)
    out["at"] = pd.Series(ordered.at, dtype="int64").astype("datetime64[us]").dt.tz_localize("UTC")
    return out


# --- milestones -----------------------------------------------------------------------------

def _first(ordered: OrderedEvents, mask: np.ndarray, what: str = "at") -> np.ndarray:
    """Per incident, the time (or timeline position) of the first row under ``mask``."""
    out = np.full(len(ordered.incidents), _NAT if what == "at" else -1, dtype="int64")
    rows = np.flatnonzero(mask)
    if len(rows):
        incs = ordered.inc[rows]
        start = np.ones(len(rows), dtype=bool)
        start[1:] = incs[1:] != incs[:-1]
        out[incs[start]] = ordered.at[rows[start]] if what == "at" else rows[start]
    return out


def _last(ordered: OrderedEvents, mask: np.ndarray, what: str = "at") -> np.ndarray:
    out = np.full(len(ordered.incidents), _NAT if what == "at" else -1, dtype="int64")
    rows = np.flatnonzero(mask)
    if len(rows):
        incs = ordered.inc[rows]
        end = np.ones(len(rows), dtype=bool)
        end[:-1] = incs[1:] != incs[:-1]
        out[incs[end]] = ordered.at[rows[end]] if what == "at" else rows[end]
    return out


def _or(*candidates: np.ndarray) -> np.ndarray:
    """The first candidate that is set, element-wise (a coalesce over NaT)."""
    out = candidates[0].copy()
    for candidate in candidates[1:]:
        unset = out == _NAT
        out[unset] = candidate[unset]
    return out


def _status_is(ordered: OrderedEvents, status: str) -> np.ndarray:
    mask = ordered.kind == "status_update"
    if not mask.any():
        return np.zeros(len(ordered), dtype=bool)
    rows = np.flatnonzero(mask)
    values = pd.Series(_column(ordered.frame, "status")[ordered.rows[rows]], dtype=object).astype("string").str.strip().str.lower()
    mask[rows] = (values == status).fillna(False).to_numpy(dtype=bool)
    return mask


def _override_table(overrides: pd.DataFrame | Mapping[str, Mapping[str, Any]] | None
                    ) -> pd.DataFrame:
    """Hand-set milestones as (incident_id, field, at); rows of other fields are dropped."""
    if overrides is None:
        return pd.DataFrame({"incident_id": [], "field": [], "value": []}, dtype=object)
    if isinstance(overrides, pd.DataFrame):
        check_columns(overrides, ("incident_id", "field", "value"), "overrides")
        table = overrides.loc[:, ["incident_id", "field", "value"]].astype(object)
        # An annotations frame carries every postmortem field: only milestones matter here.
        table = table[table["field"].isin(MILESTONE_OVERRIDES)]
    else:
        records = []
        for incident_id, fields in overrides.items():
            for field, value in fields.items():
                if field not in MILESTONE_OVERRIDES:
                    raise InputError(None, f"overrides[{incident_id!r}]",
                                     f"{field!r} is not a milestone; expected one of "
                                     f"{', '.join(MILESTONE_OVERRIDES)}")
                records.append((incident_id, field, value))
        table = pd.DataFrame.from_records(records, columns=["incident_id", "field", "value"])
    # An empty value clears an override: the derived milestone stands.
    table = table[table["value"].notna() & (table["value"].astype(str).str.strip() != "")]
    stamps = []
    for incident_id, field, value in table.itertuples(index=False):  # few rows, hand-made
        try:
            stamp = parse_timestamp(value)
        except TimestampError as exc:
            raise InputError(None, f"override {incident_id}.{field}", exc.problem) from None
        stamps.append(stamp)
    out = table.assign(at=pd.Series(stamps, index=table.index, dtype=object))
    # The last row for a field wins, as the most recent edit does in the annotations table.
    return out.drop_duplicates(["incident_id", "field"], keep="last").reset_index(drop=True)


def _apply_overrides(table: pd.DataFrame, incidents: pd.Index, field: str,
                     values: np.ndarray) -> np.ndarray:
    rows = table[table["field"] == field]
    if rows.empty:
        return values
    positions = incidents.get_indexer(rows["incident_id"].astype(object))
    found = positions >= 0
    stamps = pd.to_datetime(rows["at"][found].tolist(), utc=True).as_unit("us")
    out = values.copy()
    out[positions[found]] = stamps.to_numpy(dtype="datetime64[us]").view("int64")
    return out


def milestones_of(ordered: OrderedEvents, overrides: pd.DataFrame | Mapping | None = None
                  ) -> pd.DataFrame:
    """``milestones`` for events already put in order by ``order_events``."""
    first = lambda *kinds: _first(ordered, ordered.kind_is(*kinds))  # noqa: E731
    started = _or(first("impact_started"), first("alert_firing"), first("triggered"))
    detected = first("alert_firing", "triggered")
    acknowledged = first("acknowledged")

    last_resolved = _last(ordered, ordered.kind == "resolved", "position")
    last_reopened = _last(ordered, ordered.kind == "reopened", "position")
    resolved = _last(ordered, ordered.kind == "resolved")
    # A reopening after the last resolution means the incident is open again.
    resolved[last_reopened > last_resolved] = _NAT
    reopened = np.bincount(ordered.inc[ordered.kind == "reopened"],
                           minlength=len(ordered.incidents))

    updates = ordered.kind == "status_update"
    # A status page stands in only for an incident with no lifecycle of its own.
    own_lifecycle = _first(ordered, ordered.kind_is(*LIFECYCLE_KINDS)) != _NAT
    page_only = ~own_lifecycle
    first_update = _first(ordered, updates)
    first_page_resolved = _first(ordered, _status_is(ordered, "resolved"))
    detected = np.where(page_only & (detected == _NAT), first_update, detected)
    resolved = np.where(page_only & (resolved == _NAT), first_page_resolved, resolved)

    table = _override_table(overrides)
    started = _apply_overrides(table, ordered.incidents, "started_at", started)
    detected = _apply_overrides(table, ordered.incidents, "detected_at", detected)
    acknowledged = _apply_overrides(table, ordered.incidents, "acknowledged_at", acknowledged)
    resolved = _apply_overrides(table, ordered.incidents, "resolved_at", resolved)
    # Mitigation falls back to resolution, so it follows a hand-corrected resolved_at.
    mitigated = _or(first("mitigated"), _first(ordered, _status_is(ordered, "monitoring")),
                    resolved)
    mitigated = _apply_overrides(table, ordered.incidents, "mitigated_at", mitigated)

    def times(values: np.ndarray) -> pd.Series:
        return pd.Series(values.view("datetime64[us]")).dt.tz_localize("UTC")

    return pd.DataFrame({
        "incident_id": pd.Series(ordered.incidents.to_numpy(dtype=object), dtype=object),
        "started_at": times(started),
        "detected_at": times(detected),
        "acknowledged_at": times(acknowledged),
        "mitigated_at": times(mitigated),
        "resolved_at": times(resolved),
        "reopened": reopened.astype("int64"),
        "is_resolved": resolved != _NAT,
    })


def milestones(events: pd.DataFrame,
               overrides: pd.DataFrame | Mapping[str, Mapping[str, Any]] | None = None,
               ) -> pd.DataFrame:
    """One row per incident: started, detected, acknowledged, mitigated and resolved times.

    Columns ``MILESTONE_COLUMNS``: the five milestones as datetime64[us, UTC] (NaT when
    unknown), ``reopened`` (how many times the incident was reopened) and ``is_resolved``.
    Rules (DESIGN.md): ``started_at`` = earliest impact_started, else alert_firing, else
    triggered; ``detected_at`` = earliest alert_firing or triggered; ``acknowledged_at`` =
    earliest acknowledged; ``resolved_at`` = the last resolved, unless a reopened follows
    it (then unresolved); ``mitigated_at`` = earliest mitigated, else the first status
    update whose status is ``monitoring``, else ``resolved_at``. An incident with no
    lifecycle events (``LIFECYCLE_KINDS``) of its own, known only from a status page, takes
    ``detected_at`` from its first status update and ``resolved_at`` from its first
    ``resolved`` status update.

    ``overrides`` are milestones a facilitator set by hand, replacing the derived ones: a
    frame with columns (incident_id, field, value), such as the annotations table (fields
    that are not milestones are ignored), or ``{incident_id: {field: iso_text}}``. An empty
    value means no override. Rows are ordered by incident_id.
    """
    return milestones_of(order_events(events), overrides)
