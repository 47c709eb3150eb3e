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

Milestones (``milestones``) follow DESIGN.md, "Milestones and per-incident metrics". A
status page stands in for an incident whose lifecycle no other source tells (no event of
``LIFECYCLE_KINDS`` from a source outside ``STATUS_PAGE_SOURCES``), milestone by milestone:
its first update that does not already say the incident is over (``PAGE_CLOSED_STATUSES``)
is the detection when there is no ``alert_firing`` or ``triggered`` event,
its first ``resolved`` update the resolution when there is no ``resolved`` or ``reopened``
event. The page's own lifecycle events (Statuspage's ``started_at`` as ``impact_started``,
``monitoring_at`` as ``mitigated``) count for such an incident and leave the fallbacks for
the other milestones in place; where another source tells the lifecycle they are what the
page told customers, and do not count. Hand-set milestones (annotations) replace derived ones. When a duration between
milestones is unknown is ``durations``' business.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import InputError, TimestampError
from ..model import MILESTONE_OVERRIDES, check_columns, parse_timestamp, parse_timestamps

__all__ = [
    "DUPLICATE_WINDOW_SECONDS", "LIFECYCLE_KINDS", "MILESTONES", "MILESTONE_COLUMNS",
    "MILESTONE_EVENT_COLUMNS",
    "OrderedEvents",
    "build_timeline", "member", "milestones", "milestones_of", "normalised", "order_events",
]

# Kinds that mark the incident's own lifecycle in an incident tool (PagerDuty, Opsgenie,
# incident.io…). Only these are merged across records.
LIFECYCLE_KINDS: frozenset[str] = frozenset(
    {"triggered", "acknowledged", "mitigated", "resolved", "reopened"})
# Sources that are a public status page: their updates may stand in for milestones.
STATUS_PAGE_SOURCES: frozenset[str] = frozenset({"statuspage"})
# Status-page statuses that say the incident is over (Statuspage's; maintenances' too).
PAGE_CLOSED_STATUSES: tuple[str, ...] = ("resolved", "postmortem", "completed")
DUPLICATE_WINDOW_SECONDS: float = 2.0
MILESTONES: tuple[str, ...] = (
    "started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")
MILESTONE_COLUMNS: tuple[str, ...] = (
    "incident_id", "started_at", "detected_at", "acknowledged_at", "mitigated_at",
    "resolved_at", "reopened", "is_resolved",
)
TIMELINE_REQUIRED: tuple[str, ...] = ("event_id", "incident_id", "at", "seq", "source", "kind")
# What `milestones` reads of each event: the order, plus who reported a lifecycle change
# (repeated reports are merged per actor) and a status page's status.
MILESTONE_EVENT_COLUMNS: tuple[str, ...] = (*TIMELINE_REQUIRED, "actor", "status")

_NAT = np.iinfo(np.int64).min  # numpy's NaT as int64 microseconds


@dataclass(frozen=True)
class OrderedEvents:
    """An events frame in timeline order, de-duplicated, as arrays (for the hot paths).

    ``rows`` indexes the frame's rows (positionally) in timeline order; ``incidents`` holds
    the distinct incident ids, sorted; ``inc`` each row's position in ``incidents``; ``at``
    each row's time as int64 microseconds since the epoch (UTC); ``kind`` each row's
    position in ``kinds``, the distinct kinds.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    incidents: pd.Index
    inc: np.ndarray
    at: np.ndarray
    kind: np.ndarray
    kinds: pd.Index
    _codes: dict = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str, where: np.ndarray | None = None) -> np.ndarray:
        """A column in timeline order, or at timeline positions ``where``, as an object
        array (all None when the frame lacks the column)."""
        rows = self.rows if where is None else self.rows[where]
        if name not in self.frame.columns:
            return np.full(len(rows), None, dtype=object)
        return np.asarray(self.frame[name].array.take(rows), dtype=object)

    def kind_is(self, *kinds: str) -> np.ndarray:
        """Mask of the rows whose kind is one of ``kinds``."""
        codes = self.kinds.get_indexer(list(kinds))
        return member(self.kind, codes[codes >= 0], len(self.kinds))

    def codes(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A column as (codes in timeline order, distinct values); -1 marks a missing value.

        Factorised in the frame's own order, where the values usually sit together in memory:
        on big frames that is much faster than hashing them in timeline order.
        """
        if name not in self._codes:
            codes, uniques = _frame_codes(self.frame, name)
            self._codes[name] = (codes[self.rows], uniques)
        return self._codes[name]


def _frame_codes(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A column of `frame` as (int64 codes in the frame's order, distinct values); all -1
    when the frame lacks the column."""
    if name not in frame.columns:
        return np.full(len(frame), -1, dtype="int64"), np.zeros(0, dtype=object)
    codes, uniques = factorize_runs(_objects(frame[name]))
    return codes, np.asarray(uniques, dtype=object)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``values`` as (the first value of each run of equal neighbours, the runs' lengths),
    or (``values``, None) where runs would not pay (most rows differ from the row before,
    or the values cannot be compared, such as ``pd.NA``).

    A store hands back each incident's events together, so its incident ids, sources and
    kinds come in long runs. Comparing a text with its neighbour is cheaper than hashing it
    (most of all where equal texts are one object, as SQLite's reads give them; PostgreSQL
    and hand-built frames give a new object per row, whose hash was never computed): coding
    only the first of each run does a fraction of the work."""
    n = len(values)
    if n < 2:
        return values, None
    change = np.empty(n, dtype=bool)
    change[0] = True
    try:
        np.not_equal(values[1:], values[:-1], out=change[1:])
    except (TypeError, ValueError):
        return values, None
    heads = np.flatnonzero(change)
    if len(heads) > n // 2:
        return values, None
    return values[heads], np.diff(np.append(heads, n))


def factorize_runs(values: np.ndarray, sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values, sort=sort)`` as (int64 codes, distinct values), done once per
    run of equal neighbours (``_runs``)."""
    heads, lengths = _runs(values)
    codes, uniques = pd.factorize(heads, sort=sort)
    codes = np.asarray(codes, dtype="int64")
    return (codes if lengths is None else np.repeat(codes, lengths)), uniques


def index_runs(index: pd.Index, values: np.ndarray) -> np.ndarray:
    """``index.get_indexer(values)`` (−1 where absent), looked up once per run of equal
    neighbours (``_runs``)."""
    heads, lengths = _runs(values)
    positions = np.asarray(index.get_indexer(heads), dtype="int64")
    return positions if lengths is None else np.repeat(positions, lengths)


def member(codes: np.ndarray, wanted: Any, size: int) -> np.ndarray:
    """Mask of ``codes`` (from 0 to ``size`` − 1, or −1 for none) that are in ``wanted``.

    A lookup table of ``size`` entries read once per row: np.isin sorts or compares the
    million codes of a timeline once per wanted value, thirty times the cost."""
    table = np.zeros(size + 1, dtype=bool)  # the extra last entry answers code -1
    wanted = np.asarray(wanted, dtype="int64")
    table[wanted[(wanted >= 0) & (wanted < size)]] = True
    return table[codes]


def member_of(codes: np.ndarray, values: Any, wanted: Iterable[str]) -> np.ndarray:
    """Mask of ``codes`` (positions in the distinct ``values``, −1 for none) whose value,
    stripped and lower-cased (``normalised``), is one of ``wanted``."""
    return member(codes, np.flatnonzero(np.isin(normalised(values), list(wanted))), len(values))


def _objects(column: pd.Series) -> np.ndarray:
    """A text column as an object array (no copy for object or python-backed str columns):
    hashing those is faster than going through the string dtype."""
    return column.to_numpy(dtype=object)


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


def _tied(*keys: np.ndarray) -> np.ndarray:
    """Mask of sorted rows equal on every key to a neighbour."""
    n = len(keys[0])
    same = np.ones(max(n - 1, 0), dtype=bool)
    for key in keys:
        same &= key[1:] == key[:-1]
    tied = np.zeros(n, dtype=bool)
    tied[1:] |= same
    tied[:-1] |= same
    return tied


def _groups(*keys: np.ndarray) -> np.ndarray:
    """Group number of each sorted row: it changes where any key changes."""
    n = len(keys[0])
    change = np.zeros(max(n - 1, 0), dtype=bool)
    for key in keys:
        change |= key[1:] != key[:-1]
    return np.concatenate(([0], np.cumsum(change))) if n else np.zeros(0, dtype="int64")


def _by_incident_and_time(inc: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Argsort by (inc, at)."""
    if not len(inc):
        return np.zeros(0, dtype="int64")
    low, high = int(at.min()), int(at.max())
    span = high - low + 1
    # One int64 key sorts much faster than a lexsort when the two fit in 63 bits.
    if span * (int(inc.max()) + 1) < 2 ** 62:
        # Stable (timsort) for its speed, not its order (every tie is settled afterwards by
        # seq, source and event_id): a store returns each incident's events together, and on
        # such runs of order it is three to four times faster than the default quicksort.
        return np.argsort(inc * span + (at - low), kind="stable")
    return np.lexsort((at, inc))


def order_events(events: pd.DataFrame, *, incident_ids: Any = None,
                 duplicate_window: float = DUPLICATE_WINDOW_SECONDS,
                 number_actors: bool = False, unique_ids: bool = False) -> OrderedEvents:
    """The rows of ``events`` in timeline order with duplicates removed (see module docs).

    The building block of ``build_timeline``, ``milestones`` and the metrics: it touches only
    the columns that decide the order, so million-row frames stay cheap. ``incident_ids``
    names the incidents wanted: events of others are left out, and a named incident without
    events still gets its place in ``incidents``. ``number_actors``: the caller will read
    every row's actor (``codes("actor")``), so they are numbered once, up front.
    ``unique_ids``: the caller vouches that no two rows share an event_id (a store's frame:
    the id is its primary key), so step 1 below has nothing to remove and is skipped.
    """
    check_columns(events, TIMELINE_REQUIRED, "events")
    if incident_ids is None:
        inc_codes, incidents = factorize_runs(_objects(events["incident_id"]), sort=True)
        if len(inc_codes) and (inc_codes < 0).any():
            row = int(np.flatnonzero(inc_codes < 0)[0])
            raise InputError(None, f"events row {row}", "event belongs to no incident")
        selected = np.arange(len(events))
    else:
        incidents = pd.Index(pd.unique(pd.Series(list(incident_ids), dtype=object).dropna()),
                             dtype=object).sort_values()
        inc_codes = index_runs(incidents, _objects(events["incident_id"]))
        selected = np.flatnonzero(inc_codes >= 0)
    incidents = pd.Index(np.asarray(incidents, dtype=object), dtype=object)
    inc_codes = np.asarray(inc_codes, dtype="int64")
    everything = len(selected) == len(events)
    if not everything:
        inc_codes = inc_codes[selected]
    column = events["at"] if everything else events["at"].iloc[selected]
    at = _utc_micros(column) if len(selected) else np.zeros(0, dtype="int64")
    by = _by_incident_and_time(inc_codes, at)
    # `inc` and `at` follow `order` (frame rows in timeline order) through every step below.
    order, inc, at = selected[by], inc_codes[by], at[by]

    # Ties on (incident, at) are broken by seq, then source, then event_id. Only the tied
    # rows are looked at: even with second-precision sources they are a minority. They are
    # reordered only among rows of the same (incident, at), so `inc` and `at` stay true.
    tied = np.flatnonzero(_tied(inc, at))
    event_ids = events["event_id"]
    if len(tied):
        rows = order[tied]
        group = _groups(inc[tied], at[tied])
        seq = pd.to_numeric(events["seq"].iloc[rows]).fillna(0).to_numpy(dtype="int64")
        source, _ = pd.factorize(events["source"].iloc[rows].astype(object), sort=True,
                                 use_na_sentinel=False)
        within = np.lexsort((source, seq, group))
        rows, group, seq, source = rows[within], group[within], seq[within], source[within]
        still = np.flatnonzero(_tied(group, seq, source))
        if len(still):
            sub = pd.DataFrame({"group": group[still], "seq": seq[still], "source": source[still],
                                "event_id": event_ids.iloc[rows[still]].astype(str).to_numpy(),
                                "row": rows[still]})
            rows[still] = sub.sort_values(["group", "seq", "source", "event_id"],
                                          kind="stable")["row"].to_numpy()
        order[tied] = rows

    # 1. one row per event_id, the first in timeline order (rows without an id cannot be
    # told apart, so they all stay). Hashing runs in input order: cheaper than in sorted.
    repeated = None if unique_ids else _repeated(event_ids)
    if repeated is not None and repeated.any():
        position = np.flatnonzero(repeated[order])
        ids = event_ids.iloc[order[position]].astype(object).reset_index(drop=True)
        drop = position[ids.duplicated().to_numpy()]
        order, inc, at = np.delete(order, drop), np.delete(inc, drop), np.delete(at, drop)

    # 2. one row per lifecycle happening.
    kind_codes, kinds = factorize_runs(_objects(events["kind"]))
    kind_codes = kind_codes[order]
    kinds = pd.Index(np.asarray(kinds, dtype=object), dtype=object)
    # The merge below groups lifecycle reports by actor. A caller that reads every actor
    # later (the metrics' responders) has them numbered once, over the whole column in the
    # frame's order, and the merge reuses that; otherwise only the few lifecycle rows are.
    numbered = _frame_codes(events, "actor") if number_actors else None

    def actor_of(positions: np.ndarray) -> np.ndarray:
        if numbered is not None:
            return numbered[0][order[positions]]
        if "actor" not in events.columns:
            return np.full(len(positions), -1, dtype="int64")
        return pd.factorize(events["actor"].iloc[order[positions]].astype(object))[0]
    keep = _merge_reports(inc, at, kind_codes, kinds, actor_of, duplicate_window)
    order = order[keep]
    ordered = OrderedEvents(frame=events, rows=order, incidents=incidents, inc=inc[keep],
                            at=at[keep], kind=kind_codes[keep], kinds=kinds)
    if numbered is not None:
        ordered._codes["actor"] = (numbered[0][order], numbered[1])
    return ordered


def _repeated(ids: pd.Series) -> np.ndarray:
    """Mask of the rows whose event_id another row has too (a missing id never repeats).

    Python's own hash of every id first (a C loop over the text as it is held; pandas'
    ``hash_array`` encodes every string to UTF-8 first and costs three times as much, a hash
    table of a million distinct ids more still). Only rows whose hashes collide are compared
    by value, and only they are checked for missing ids."""
    values = ids.to_numpy(dtype=object)
    repeated = np.zeros(len(values), dtype=bool)
    if len(values) < 2:
        return repeated
    try:
        hashed = np.fromiter(map(hash, values), dtype=np.int64, count=len(values))
    except TypeError:  # unhashable ids (a frame built by hand): hash their text
        hashed = np.fromiter(map(hash, values.astype(str)), dtype=np.int64, count=len(values))
    candidates = np.flatnonzero(pd.Series(hashed).duplicated(keep=False).to_numpy())
    if len(candidates):
        candidates = candidates[~pd.isna(values[candidates])]
        same = pd.Series(values[candidates], dtype=object).duplicated(keep=False).to_numpy()
        repeated[candidates[same]] = True
    return repeated


def _merge_reports(inc: np.ndarray, at: np.ndarray, kind: np.ndarray, kinds: pd.Index,
                   actor_of: Callable[[np.ndarray], np.ndarray], window: float) -> np.ndarray:
    """Keep-mask over timeline-ordered rows: False for a repeat report of a lifecycle happening.

    ``actor_of`` numbers the actors of the timeline positions it is given (−1 for none: two
    missing actors are the same)."""
    keep = np.ones(len(kind), dtype=bool)
    code = {name: i for i, name in enumerate(kinds)}
    lifecycle = np.flatnonzero(member(kind, [code[k] for k in LIFECYCLE_KINDS if k in code],
                                      len(kinds)))
    if len(lifecycle) < 2 or window < 0:
        return keep
    l_inc, l_at, l_kind = inc[lifecycle], at[lifecycle], kind[lifecycle]
    # A "cycle" number that changes whenever resolved gives way to reopened or back, so a
    # resolution is never merged with one from the other side of a reopening.
    flip_rows = np.flatnonzero(member(l_kind, [code.get("resolved", -1),
                                               code.get("reopened", -1)], len(kinds)))
    cycle = np.full(len(lifecycle), -1, dtype="int64")
    if len(flip_rows):
        cycle[flip_rows] = _groups(l_inc[flip_rows], l_kind[flip_rows])
    actor_codes = actor_of(lifecycle)
    # Timeline order is kept within each (incident, kind, actor, cycle) group.
    grouped = np.lexsort((np.arange(len(lifecycle)), cycle, actor_codes, l_kind, l_inc))
    same_group = np.diff(_groups(l_inc[grouped], l_kind[grouped], actor_codes[grouped],
                                 cycle[grouped])) == 0
    close = np.diff(l_at[grouped]) <= int(round(window * 1_000_000))
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

def _edge(ordered: OrderedEvents, mask: np.ndarray, what: str, last: bool) -> np.ndarray:
    """Per incident, the time (or timeline position) of the first or last row under ``mask``."""
    out = np.full(len(ordered.incidents), _NAT if what == "at" else -1, dtype="int64")
    rows = np.flatnonzero(mask)
    if len(rows):
        incs = ordered.inc[rows]
        edge = np.ones(len(rows), dtype=bool)
        if last:
            edge[:-1] = incs[1:] != incs[:-1]
        else:
            edge[1:] = incs[1:] != incs[:-1]
        out[incs[edge]] = ordered.at[rows[edge]] if what == "at" else rows[edge]
    return out


def _first(ordered: OrderedEvents, mask: np.ndarray, what: str = "at") -> np.ndarray:
    return _edge(ordered, mask, what, last=False)


def _last(ordered: OrderedEvents, mask: np.ndarray, what: str = "at") -> np.ndarray:
    return _edge(ordered, mask, what, last=True)


def _or(*candidates: np.ndarray) -> np.ndarray:
    """The first candidate that is set, element-wise (a coalesce over NaT)."""
    out = candidates[0].copy()
    for candidate in candidates[1:]:
        unset = out == _NAT
        out[unset] = candidate[unset]
    return out


def normalised(values: np.ndarray) -> np.ndarray:
    """Distinct values as stripped, lower-case text, to match statuses and actor types."""
    return np.array([str(v).strip().lower() for v in values], dtype=object)


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
    # A status page stands in only where no other source tells the lifecycle (no event of
    # LIFECYCLE_KINDS from outside STATUS_PAGE_SOURCES), and then milestone by milestone.
    # Where another source tells it, the page is communication only: its own impact start
    # and mitigation (Statuspage's started_at, monitoring_at) are what it told customers.
    # Only the rows these rules look at need their source: lifecycle events, impact starts
    # and mitigations are a few percent of a timeline; messages and notes are the rest.
    ruled = np.flatnonzero(ordered.kind_is(*LIFECYCLE_KINDS, "impact_started", "mitigated"))
    source, sources = pd.factorize(pd.Series(ordered.column("source", ruled), dtype=object))
    from_page = np.zeros(len(ordered), dtype=bool)
    from_page[ruled] = member_of(source, sources, STATUS_PAGE_SOURCES)
    page_only = _first(ordered, ordered.kind_is(*LIFECYCLE_KINDS) & ~from_page) == _NAT
    counted = ~from_page | page_only[ordered.inc]
    impact_started = _first(ordered, ordered.kind_is("impact_started") & counted)
    started = _or(impact_started, first("alert_firing"), first("triggered"))
    detected = first("alert_firing", "triggered")
    acknowledged = first("acknowledged")

    last_resolved = _last(ordered, ordered.kind_is("resolved"), "position")
    last_reopened = _last(ordered, ordered.kind_is("reopened"), "position")
    resolved = _last(ordered, ordered.kind_is("resolved"))
    # A reopening after the last resolution means the incident is open again.
    resolved[last_reopened > last_resolved] = _NAT
    reopened = np.bincount(ordered.inc[ordered.kind_is("reopened")],
                           minlength=len(ordered.incidents))

    # Only status updates carry a status: their rows' statuses are numbered once, for the
    # three questions asked of them.
    updates = np.flatnonzero(ordered.kind_is("status_update"))
    status, statuses = pd.factorize(pd.Series(ordered.column("status", updates), dtype=object))

    def status_is(*wanted: str) -> np.ndarray:
        mask = np.zeros(len(ordered), dtype=bool)
        mask[updates] = member_of(status, statuses, wanted)
        return mask

    # An update that already says the incident is over is its resolution, not its detection:
    # an incident posted after the fact has no detection time on the page.
    first_update = _first(ordered, ordered.kind_is("status_update")
                          & ~status_is(*PAGE_CLOSED_STATUSES))
    first_page_resolved = _first(ordered, status_is("resolved"))
    detected = np.where(page_only & (detected == _NAT), first_update, detected)
    own_resolution = (last_resolved >= 0) | (last_reopened >= 0)
    resolved = np.where(page_only & ~own_resolution, first_page_resolved, resolved)

    table = _override_table(overrides)
    started = _apply_overrides(table, ordered.incidents, "started_at", started)
    detected = _apply_overrides(table, ordered.incidents, "detected_at", detected)
    acknowledged = _apply_overrides(table, ordered.incidents, "acknowledged_at", acknowledged)
    resolved = _apply_overrides(table, ordered.incidents, "resolved_at", resolved)
    # Mitigation falls back to resolution, so it follows a hand-corrected resolved_at.
    mitigated = _or(_first(ordered, ordered.kind_is("mitigated") & counted),
                    _first(ordered, status_is("monitoring")), resolved)
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
    update whose status is ``monitoring``, else ``resolved_at``. Status-page fallbacks, for
    an incident whose lifecycle no other source tells, one milestone at a time: with no
    ``alert_firing`` or ``triggered`` event ``detected_at`` is the first status update not
    already resolved (an incident posted after the fact has no detection time); with
    no ``resolved`` or ``reopened`` event ``resolved_at`` is the first ``resolved`` one.

    ``overrides`` are milestones a facilitator set by hand, replacing the derived ones: a
    frame with columns (incident_id, field, value), such as the annotations table (fields
    that are not milestones are ignored), or ``{incident_id: {field: iso_text}}``. An empty
    value means no override. Rows are ordered by incident_id.
    """
    return milestones_of(order_events(events), overrides)
