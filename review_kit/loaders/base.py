"""What every loader shares: its shape, the batches it yields, and one way to build events."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import orjson
import pandas as pd

from ..errors import InputError, TimestampError
from ..model import (
    EVENT_COLUMNS,
    EVENT_KINDS,
    INCIDENT_COLUMNS,
    SCALAR_PARSE_MAX,
    UTC,
    VISIBILITIES,
    empty_events,
    event_id,
    normalise_severity,
    parse_timestamp,
    parse_timestamps,
)


@dataclass
class LoadContext:
    """What the user said about this ingest.

    incident_id: `--incident`: every record of the file belongs to this incident.
    tz:          `--tz`: the zone of timestamps written without one.
    config:      this source's section of the TOML config (severity maps, patterns…).
    """

    tz: str | None = None
    incident_id: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    quiet: bool = True


@dataclass
class Batch:
    """Canonical rows from part of one input file.

    incidents: dicts keyed by INCIDENT_COLUMNS (missing keys mean unknown).
    events:    a frame with EVENT_COLUMNS, built by `events_frame`.
    aliases:   dicts {incident_id, source, external_id}.
    """

    incidents: list[dict] = field(default_factory=list)
    events: pd.DataFrame | None = None
    aliases: list[dict] = field(default_factory=list)

    @property
    def event_count(self) -> int:
        return 0 if self.events is None else len(self.events)


class RowBatch(Batch):
    """A Batch of a few events kept as canonical columns of Python values (`columns`: one
    list per EVENT_COLUMNS name, `at` as integer microseconds UTC), made by `event_columns`.

    A webhook delivery holds one event: building a DataFrame for it, then checking and
    writing it column by column through pandas, cost several times the store's own work.
    The checks and the store read `columns`; `events`, the same rows as the frame
    `events_frame` would give, is built only when something asks for it."""

    def __init__(self, incidents: list[dict], columns: dict[str, list], aliases: list[dict]) -> None:
        self.incidents, self.columns, self.aliases = incidents, columns, aliases
        self._events: pd.DataFrame | None = None

    @property
    def events(self) -> pd.DataFrame:
        if self._events is None:
            self._events = frame_of_columns(self.columns)
        return self._events

    @events.setter
    def events(self, frame: pd.DataFrame) -> None:
        # The lists are what the checks and the store read: a frame set beside them would
        # be silently ignored. Other rows make another Batch.
        raise AttributeError("a RowBatch's events are its columns; make a Batch for other rows")

    @property
    def event_count(self) -> int:
        return len(self.columns["event_id"])


# Up to this many events, `events_frame` builds its columns in Python (`event_columns`)
# and loaders may hand them over as a RowBatch; timestamps of so few rows are read by the
# scalar parser either way, so both paths read them alike.
SMALL_BATCH_EVENTS = SCALAR_PARSE_MAX


class Loader:
    """A source format. Subclasses set `name` and implement `load` (and `sniff` for auto).

    Loaders parse and return canonical rows; they never write to the store.
    """

    name: str = ""
    description: str = ""

    def sniff(self, path: Path, head: str) -> bool:
        """True when a file whose first bytes are `head` is in this loader's format."""
        return False

    def load(self, path: Path, ctx: LoadContext) -> Iterator[Batch]:
        raise NotImplementedError

    def expand(self, path: Path) -> list[Path]:
        """The input files one PATH argument stands for (a folder may hold many)."""
        return [path]

    def load_many(self, paths: list[Path], ctx: LoadContext) -> Iterator[Batch]:
        """Batches for several input files read as one (the store writes them in one
        transaction). Loaders whose per-file setup is costly share it here; by default,
        each file's batches in turn."""
        for path in paths:
            yield from self.load(path, ctx)


def events_frame(rows: list[dict] | Mapping[str, list] | pd.DataFrame, *, source: str,
                 path: Path | str, tz: str | None,
                 locate: Callable[[int], str] | None = None,
                 path_of: Callable[[int], Path | str] | None = None) -> pd.DataFrame:
    """Canonical events from loader rows, timestamps parsed once for the whole batch.

    Rows are dicts, lists by column name, or a frame with those columns. Each holds
    `incident_id`, `at` (as the source wrote it, or already parsed to UTC), `kind`, and any of
    `actor`, `actor_type`, `target`, `status`, `summary`, `visibility` (default internal),
    `raw` (the record, JSON-encoded here when not text), `source_id` (the source's own id for
    the record: the stable event id) and `seq` (order among ties; default: row order).
    `locate(i)` names row i's place in the file for error messages; `path_of(i)` its file,
    when the rows come from several (default: `path`).

    The columns are checked and filled as numpy arrays and the frame is built once at the
    end: per-column pandas calls cost more than the work for a batch of a few events (a
    webhook delivery), and no less for a big one.
    """
    listed = _listed(rows) if few_events(_row_count(rows)) else None
    if listed is not None:
        return frame_of_columns(event_columns(rows, source=source, path=path, tz=tz, locate=locate,
                                              path_of=path_of, listed=listed))
    locate = locate or (lambda i: f"record {i + 1}")
    if path_of is not None:
        locate = _FileLocator(locate, path_of)
    columns, n = _columns(rows)
    if n == 0:
        return empty_events()

    def column(name: str) -> np.ndarray:
        values = columns.get(name)
        return np.full(n, None, dtype=object) if values is None else values

    def nulls(name: str) -> np.ndarray:  # a column the rows lack is all None already
        return _nulls(columns[name]) if name in columns else column(name)

    kind = column("kind")
    _refuse_first(~_member(kind, EVENT_KINDS), path, locate, lambda i: f"unknown event kind {kind[i]!r}")
    at_given = columns.get("at")
    try:
        at = parse_timestamps(at_given if isinstance(at_given, pd.Series) else
                              pd.Series(column("at"), dtype=object), tz)
    except TimestampError as exc:
        position = int(str(exc.where).split()[-1]) - 1 if exc.where else 0
        raise _row_error(path, locate, position, exc.problem) from None
    _refuse_first(at.isna().to_numpy(), path, locate, lambda i: "event has no timestamp")
    incident = column("incident_id")
    _refuse_first(pd.isna(incident) | (incident == ""), path, locate,
                  lambda i: "event belongs to no incident")
    sources = _filled(column("source"), source)
    visibility = _filled(column("visibility"), "internal")
    _refuse_first(~_member(visibility, VISIBILITIES), path, locate,
                  lambda i: f"visibility must be internal or external, not {visibility[i]!r}")
    seq = columns.get("seq")
    if seq is None or pd.isna(seq).all():
        seq = np.arange(n, dtype="int64")
    else:
        seq = pd.to_numeric(pd.Series(seq)).fillna(0).to_numpy(dtype="int64")
    raw = nulls("raw")
    # Records not yet text: none from loaders that dump at read time (a C scan tells).
    texts = pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty")
    encode = np.flatnonzero(_needs_dump(raw).astype(bool)) if n and not texts else []
    for i in encode:
        raw[i] = dumps(raw[i])
    out = {
        "event_id": None, "incident_id": incident, "seq": seq, "source": sources, "kind": kind,
    }
    for name in ("actor", "actor_type", "target", "status", "summary"):
        out[name] = nulls(name)
    out["visibility"], out["raw"] = visibility, raw  # incident_id: none missing (refused)
    out["event_id"] = _event_ids(nulls("event_id"), nulls("source_id"), out, at)
    frame = pd.DataFrame({c: out[c] for c in EVENT_COLUMNS if c != "at"}, dtype=object)
    frame["seq"] = seq
    frame.insert(2, "at", at.dt.as_unit("us").array)  # the array: no index to align
    return frame


def few_events(count: int) -> bool:
    """Whether a batch of `count` events is small enough for `event_columns` and a RowBatch."""
    return count <= SMALL_BATCH_EVENTS


def _row_count(rows: Any) -> int:
    """How many rows loader rows hold, without reading them (a frame counts as many: it
    never takes the Python path)."""
    if isinstance(rows, pd.DataFrame):
        return 1 << 62
    if isinstance(rows, Mapping):
        return max((len(values) for values in rows.values()), default=0)
    return len(rows)


def _listed(rows: Any) -> tuple[dict[str, list], range] | None:
    """Loader rows as lists by column, with their row numbers; None for a frame, or for
    columns the frame path reads differently (a parsed `at` Series, unequal lengths)."""
    if isinstance(rows, pd.DataFrame):
        return None
    wanted = (*EVENT_COLUMNS, "source_id")
    if not isinstance(rows, Mapping):
        present = {key for row in rows for key in row}
        lists = {c: [row.get(c) for row in rows] for c in wanted if c in present}
        return lists, range(len(rows))
    if isinstance(rows.get("at"), pd.Series):
        return None
    lists = {c: list(rows[c]) for c in wanted if c in rows}
    lengths = {len(v) for v in lists.values()}
    if len(lengths) > 1:
        return None
    return lists, range(lengths.pop() if lengths else 0)


def _missing(value: Any) -> bool:
    """pd.isna for one value of an object column, without pandas' call overhead."""
    if value is None:
        return True
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is list or kind is dict:
        return False
    if kind is float:
        return math.isnan(value)
    return bool(pd.api.types.is_scalar(value) and pd.isna(value))


def event_columns(rows: list[dict] | Mapping[str, list], *, source: str, path: Path | str,
                  tz: str | None, locate: Callable[[int], str] | None = None,
                  path_of: Callable[[int], Path | str] | None = None,
                  listed: tuple[dict[str, list], range] | None = None) -> dict[str, list]:
    """`events_frame` for a few rows, in Python: the canonical columns as lists (`at` in
    integer microseconds UTC), checked and filled by the same rules in the same order, so
    that a batch refused here is refused with the same line. For at most
    SMALL_BATCH_EVENTS rows given as dicts or lists (`few_events`)."""
    locate = locate or (lambda i: f"record {i + 1}")
    if path_of is not None:
        locate = _FileLocator(locate, path_of)
    listed = listed or _listed(rows)
    if listed is None or not few_events(len(listed[1])):
        raise ValueError("event_columns takes a few rows as dicts or lists (few_events)")
    given, positions = listed
    n = len(positions)
    if n == 0:
        return {c: [] for c in EVENT_COLUMNS}

    def column(name: str) -> list:
        values = given.get(name)
        return [None] * n if values is None else values

    def refuse_first(bad: Iterable[bool], problem: Callable[[int], str]) -> None:
        for i, flag in enumerate(bad):
            if flag:
                raise _row_error(path, locate, i, problem(i))

    kind = column("kind")
    refuse_first((k not in EVENT_KINDS for k in kind), lambda i: f"unknown event kind {kind[i]!r}")
    stamps = []
    for i, value in enumerate(column("at")):
        try:
            stamps.append(parse_timestamp(value, tz))
        except TimestampError as exc:
            raise _row_error(path, locate, i, exc.problem) from None
    refuse_first((s is None for s in stamps), lambda i: "event has no timestamp")
    at = [s.value // 1000 for s in stamps]  # as_unit("us") already: whole microseconds
    incident = column("incident_id")
    refuse_first((_missing(v) or (isinstance(v, str) and v == "") for v in incident),
                 lambda i: "event belongs to no incident")
    sources = [source if _missing(v) else v for v in column("source")]
    visibility = ["internal" if _missing(v) else v for v in column("visibility")]
    refuse_first((v not in VISIBILITIES for v in visibility),
                 lambda i: f"visibility must be internal or external, not {visibility[i]!r}")
    seq = given.get("seq")
    if seq is None or all(_missing(v) for v in seq):
        seq = list(range(n))
    elif not all(type(v) is int for v in seq):  # text or floats: pandas' reading of numbers
        seq = pd.to_numeric(pd.Series(seq)).fillna(0).to_numpy(dtype="int64").tolist()
    out: dict[str, list] = {"incident_id": [None if _missing(v) else v for v in incident],
                            "source": sources, "kind": kind}
    for name in ("actor", "actor_type", "target", "status", "summary"):
        out[name] = [None if _missing(v) else v for v in column(name)]
    raw = [None if _missing(v) else v for v in column("raw")]
    out["raw"] = [dumps(v) if v is not None and type(v) is not str else v for v in raw]
    out["visibility"] = visibility
    ids = [None if _missing(v) else v for v in column("event_id")]
    own_ids = [None if _missing(v) else v for v in column("source_id")]
    for i in range(n):
        own = None
        if ids[i] is None and own_ids[i] is not None:
            text = str(own_ids[i])
            if text != "":
                own = own_ids[i]
                ids[i] = sources[i] + ":" + text
        if ids[i] is None or (own is not None and len(ids[i]) > 160):
            ids[i] = event_id(sources[i], own, out["incident_id"][i], stamps[i], kind[i],
                              out["actor"][i], out["summary"][i])
    out["event_id"], out["at"], out["seq"] = ids, at, seq
    return {c: out[c] for c in EVENT_COLUMNS}


def frame_of_columns(columns: Mapping[str, list]) -> pd.DataFrame:
    """The events frame of `event_columns`' lists: the frame `events_frame` gives."""
    if not columns["event_id"]:
        return empty_events()

    def objects(values: list) -> np.ndarray:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array

    frame = pd.DataFrame({c: objects(columns[c]) for c in EVENT_COLUMNS if c not in ("at", "seq")},
                         dtype=object)
    frame.insert(EVENT_COLUMNS.index("seq") - 1, "seq", np.asarray(columns["seq"], dtype="int64"))
    at = pd.Series(np.asarray(columns["at"], dtype="int64").view("datetime64[us]")).dt.tz_localize(UTC)
    frame.insert(EVENT_COLUMNS.index("at"), "at", at.array)
    return frame


def _columns(rows: list[dict] | Mapping[str, list] | pd.DataFrame) -> tuple[dict[str, Any], int]:
    """Each event column the rows give (plus `source_id`) as an object array; `at` of a frame
    stays a Series (it may be parsed already)."""
    wanted = (*EVENT_COLUMNS, "source_id")
    if isinstance(rows, pd.DataFrame):
        found = {c: (rows[c] if c == "at" else rows[c].to_numpy(dtype=object))
                 for c in wanted if c in rows.columns}
        return found, len(rows)
    if not isinstance(rows, Mapping):
        if not rows:
            return {}, 0
        present = {key for row in rows for key in row}
        rows = {c: [row.get(c) for row in rows] for c in wanted if c in present}
    # fromiter, not a slice assignment: that converts the list to an array first, looking
    # into every value for nested sequences (2x slower for texts, 5x for records).
    found = {c: np.fromiter(rows[c], dtype=object, count=len(rows[c])) for c in wanted if c in rows}
    n = len(next(iter(found.values()))) if found else 0
    return found, n


_needs_dump = np.frompyfunc(lambda value: value is not None and type(value) is not str, 1, 1)
_text = np.frompyfunc(str, 1, 1)
_length = np.frompyfunc(len, 1, 1)


def _member(values: np.ndarray, allowed: frozenset[str]) -> np.ndarray:
    """Element-wise `value in allowed` (a ufunc: C loop, no pandas call overhead)."""
    return np.frompyfunc(allowed.__contains__, 1, 1)(values).astype(bool) if len(values) else \
        np.zeros(0, dtype=bool)


def _nulls(values: np.ndarray) -> np.ndarray:
    """Missing values (None, NaN, NaT) as None."""
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = None
    return values


def _filled(values: np.ndarray, default: str) -> np.ndarray:
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = default
    return values


def _refuse_first(bad: np.ndarray, path: Path | str, locate: Callable[[int], str],
                  problem: Callable[[int], str]) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _row_error(path, locate, i, problem(i))


def dumps(record: Any) -> str:
    """A source record as compact JSON text (orjson: ingest dumps one per event)."""
    try:
        return orjson.dumps(record, default=str).decode()
    except TypeError:  # keys that are not strings, integers beyond 64 bits
        return json.dumps(record, separators=(",", ":"), default=str, ensure_ascii=False)


def _event_ids(given: np.ndarray, source_ids: np.ndarray, out: dict[str, np.ndarray],
               at: pd.Series) -> np.ndarray:
    """Given ids as they are; `source:source_id` where the source has its own id (vectorised);
    a hash of the row where it has none."""
    ids = given.copy()
    has_own = (ids == None) & (source_ids != None)  # noqa: E711  (element-wise on object arrays)
    if has_own.any():
        own = _text(source_ids[has_own])
        has_own[has_own] = own != ""
        own = own[own != ""]
    too_long = np.zeros(len(ids), dtype=bool)
    if has_own.any():
        ids[has_own] = out["source"][has_own] + ":" + own
        too_long[has_own] = _length(ids[has_own]).astype("int64") > 160
    for i in np.flatnonzero((ids == None) | too_long):  # noqa: E711
        own_id = source_ids[i] if has_own[i] else None
        ids[i] = event_id(out["source"][i], own_id, out["incident_id"][i], at.iloc[i],
                          out["kind"][i], out["actor"][i], out["summary"][i])
    return ids


def incident_row(*, incident_id: str, source: str, severity_raw: Any = None,
                 severity_map: Mapping[str, str] | None = None, created_at: Any = None,
                 tz: str | None = None, **fields: Any) -> dict:
    """One incidents row, with severity normalised and the raw value kept."""
    unknown = set(fields) - set(INCIDENT_COLUMNS)
    if unknown:
        raise ValueError(f"not incident columns: {sorted(unknown)}")
    row = {c: None for c in INCIDENT_COLUMNS}
    row.update(fields)
    row["incident_id"] = str(incident_id)
    row["source"] = source
    row["severity_raw"] = None if severity_raw is None else str(severity_raw)
    if row.get("severity") is None:
        row["severity"] = normalise_severity(severity_raw, severity_map)
    row["created_at"] = parse_timestamp(created_at, tz) if created_at is not None else None
    return row


class _FileLocator:
    """`locate` for rows read from several files: also knows each row's file."""

    def __init__(self, locate: Callable[[int], str], path_of: Callable[[int], Path | str]) -> None:
        self.locate, self.path_of = locate, path_of

    def __call__(self, i: int) -> str:
        return self.locate(i)


def _row_error(path: Path | str, locate: Callable[[int], str], i: int, problem: str) -> InputError:
    """The one-line error for row i, naming the file it came from."""
    if isinstance(locate, _FileLocator):
        path = locate.path_of(i)
    return InputError(path, locate(i), problem)


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"byte {exc.start}", "not UTF-8 text") from None
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None


def require(record: Mapping[str, Any], key: str, path: Path | str, where: str) -> Any:
    """record[key], or a one-line error naming the JSON path when it is missing."""
    if not isinstance(record, dict):  # JSON objects are dicts; abc checks cost 1 µs a call
        raise InputError(path, where, f"expected an object, found {type(record).__name__}")
    if key not in record or record[key] is None:
        raise InputError(path, f"{where}.{key}", "missing")
    return record[key]


def require_id(record: Mapping[str, Any], key: str, path: Path | str, where: str) -> str:
    """record[key] as an id: text or a whole number, never a list or an object."""
    value = require(record, key, path, where)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(path, f"{where}.{key}", f"expected an id, found {type(value).__name__}")
    return str(value)


def require_text(record: Mapping[str, Any], key: str, path: Path | str, where: str) -> str:
    """record[key] as text (a type name, an action): never a number, a list or an object."""
    value = require(record, key, path, where)
    if not isinstance(value, str):
        raise InputError(path, f"{where}.{key}", f"expected text, found {type(value).__name__}")
    return value


def first_of(items: Iterable[Any]) -> Any:
    for item in items:
        return item
    return None


# --- the boundary: every batch checked before the store sees it --------------------------------

# Texts longer than this (characters) are refused: no field of a real export comes near it,
# and a report cuts long texts for display anyway (report.bounds). `[limits] field_chars`.
MAX_FIELD_CHARS = 8 * 1024 * 1024
_EVENT_TEXT = ("incident_id", "source", "kind", "actor", "actor_type", "target", "status",
               "summary", "visibility", "raw")
_INCIDENT_TEXT = ("incident_id", "title", "severity", "severity_raw", "status", "service", "team",
                  "commander", "source", "source_id", "url")
_CONTENT = ("incident_id", "at", "kind", "actor", "summary")


def _first_non_text(values: pd.Series) -> int | None:
    """Position of the first value that is neither text nor missing (None when all are)."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("string", "empty"):
        return None
    for position, value in enumerate(values.tolist()):
        if value is not None and not isinstance(value, str) and not (
                isinstance(value, float) and np.isnan(value)):
            return position
    return None


def type_name(value: Any) -> str:
    """What a JSON value is, in words, for "expected …, found …" messages."""
    return {str: "text", dict: "an object", list: "a list", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _may_hold_long_texts(path: Path | str) -> bool:
    """A file smaller than MAX_FIELD_CHARS bytes cannot hold a longer text: its fields are
    not measured (a folder, or a file we cannot size, is)."""
    try:
        return not os.path.isfile(path) or os.path.getsize(path) > MAX_FIELD_CHARS
    except OSError:
        return True


class SeenEvents:
    """The event ids met so far in one input, each with (event number, content hash).

    Kept as 128-bit hashes of the ids in sorted numpy arrays, a block per batch, not as a
    dict of a million strings: memory stays a few dozen bytes an event, and a batch is
    looked up vectorised. Two hashes of 64 bits with different keys make a false match
    beyond any input's reach (about 1 in 10^25 for a million ids)."""

    _KEYS = ("0123456789abcdef", "fedcba9876543210")
    _MERGE_AT = 8  # blocks merged into one past this many, so a lookup searches few

    def __init__(self) -> None:
        self._blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._recent: dict[str, tuple[int, int]] = {}  # set one by one (repeated ids)
        # The last batch's ids, hashed only when a later batch looks them up: an input of one
        # batch (a webhook delivery) never pays for it.
        self._pending: tuple[list, np.ndarray, Callable[[], np.ndarray]] | None = None

    def __bool__(self) -> bool:
        return bool(self._blocks or self._recent or self._pending)

    @classmethod
    def _hashes(cls, ids: list, keys: int = 2) -> tuple[np.ndarray, ...]:
        values = np.asarray(ids, dtype=object)
        return tuple(pd.util.hash_array(values, hash_key=key, categorize=False)
                     for key in cls._KEYS[:keys])

    def _find(self, ids: list) -> list[tuple[int, int] | None]:
        """(number, digest) of each id, or None."""
        self._settle()
        found: list[tuple[int, int] | None] = [self._recent.get(i) for i in ids]
        if not self._blocks or not ids:
            return found
        first, = self._hashes(ids, keys=1)  # the second only for the rare first-hash match
        # Looked up in first-hash order: neighbouring queries land on neighbouring entries,
        # which a big block's binary search reads from cache instead of memory.
        order = np.argsort(first, kind="stable")
        queries = first[order]
        for a, b, numbers, digests in self._blocks:
            left = np.searchsorted(a, queries, side="left")
            hits = np.flatnonzero(a[np.minimum(left, len(a) - 1)] == queries)
            if not len(hits):
                continue
            seconds = self._hashes([ids[row] for row in order[hits]])[1]
            for q, second in zip(hits.tolist(), seconds.tolist()):  # first hash known: rare
                row, k = order[q], left[q]
                while k < len(a) and a[k] == queries[q]:
                    if b[k] == second and found[row] is None:
                        found[row] = (int(numbers[k]), int(digests[k]))
                    k += 1
        return found

    def contains(self, ids: list) -> np.ndarray:
        return np.fromiter((f is not None for f in self._find(ids)), dtype=bool, count=len(ids))

    def get(self, event: str) -> tuple[int, int] | None:
        return self._find([event])[0]

    def setdefault(self, event: str, value: tuple[int, int]) -> None:
        if self.get(event) is None:
            self._recent[event] = value

    def add(self, ids: list, numbers: np.ndarray, digests: Callable[[], np.ndarray]) -> None:
        """Ids not met before, with their event numbers and (a function giving) their
        content hashes."""
        self._settle()
        if len(ids):
            self._pending = (ids, np.asarray(numbers, dtype="int64"), digests)
            if self._blocks:
                # An input of several batches: hashed now, so that `digests` lets go of its
                # batch before the next is built (why that matters: `_checked`).
                self._settle()

    def _settle(self) -> None:
        if self._pending is None:
            return
        ids, numbers, digests = self._pending
        self._pending = None
        first, second = self._hashes(ids)
        order = np.argsort(first, kind="stable")
        self._blocks.append((first[order], second[order], np.asarray(numbers, dtype="int64")[order],
                             np.asarray(digests(), dtype="uint64")[order]))
        if len(self._blocks) > self._MERGE_AT:
            # The blocks are sorted runs: a stable sort of them end to end merges them in
            # linear time.
            merged = tuple(np.concatenate(parts) for parts in zip(*self._blocks))
            order = np.argsort(merged[0], kind="stable")
            self._blocks = [tuple(part[order] for part in merged)]


def check_batch(batch: Batch, path: Path | str, seen: SeenEvents, offset: int = 0) -> None:
    """Refuse, in one line, a batch the store cannot keep as it is: a text field holding
    something else (a list where a title belongs), a text longer than MAX_FIELD_CHARS, an
    incident id with control characters, or an event id seen before in this input with
    different content (`seen`: event id -> (event number, content hash), across batches)."""
    from ..model import check_incident_id
    for n, row in enumerate(batch.incidents, start=1):
        for column in _INCIDENT_TEXT:
            value = row.get(column)
            if value is not None and not isinstance(value, str):
                raise InputError(path, f"incident {n}: {column}",
                                 f"expected text, found {type_name(value)}")
            if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
                raise InputError(path, f"incident {n}: {column}", f"longer than "
                                 f"{MAX_FIELD_CHARS:,} characters ({len(value):,})")
        check_incident_id(row.get("incident_id"), path, f"incident {n}")
    for n, alias in enumerate(batch.aliases, start=1):
        check_incident_id(alias.get("incident_id"), path, f"alias {n}")
        external = alias.get("external_id")
        if external is not None and not isinstance(external, (str, int)):
            raise InputError(path, f"alias {n}", f"expected an id, found {type_name(external)}")
    if isinstance(batch, RowBatch):
        if not batch.event_count:
            return
        columns = batch.columns
        _check_texts(columns, path, offset)
        ids = columns["event_id"]
        incident_ids = columns["incident_id"]
        counts: dict[Any, int] = {}
        for event in ids:
            counts[event] = counts.get(event, 0) + 1
        repeated = np.fromiter((counts[e] > 1 for e in ids), dtype=bool, count=len(ids))
    else:
        frame = batch.events
        if frame is None or frame.empty:
            return
        _check_frame_texts(frame, path, offset)
        ids = frame["event_id"].tolist()
        incident_ids = frame["incident_id"].unique().tolist()
        repeated = frame["event_id"].duplicated(keep=False).to_numpy()
    for incident_id in dict.fromkeys(incident_ids):
        check_incident_id(incident_id, path, "event")
    contents: list[np.ndarray] = []

    def content() -> np.ndarray:  # hashed when first needed: a lone batch without repeats never is
        if not contents:
            contents.append(pd.util.hash_pandas_object(batch.events[list(_CONTENT)],
                                                       index=False).to_numpy())
        return contents[0]

    if seen:
        repeated = repeated | seen.contains(ids)
    for position in np.flatnonzero(repeated):
        event, digest = ids[position], int(content()[position])
        first = seen.get(event)
        if first is not None and first[1] != digest:
            raise InputError(path, f"event {offset + position + 1}", f"event id {event[:80]!r} "
                             f"appeared before (event {first[0]}) with different content")
        seen.setdefault(event, (offset + position + 1, digest))
    if not repeated.all():
        fresh = np.flatnonzero(~repeated)
        seen.add([ids[p] for p in fresh] if repeated.any() else ids, fresh + offset + 1,
                 lambda: content()[fresh])


def _check_texts(columns: Mapping[str, list], path: Path | str, offset: int) -> None:
    """`_check_frame_texts` for a RowBatch's lists."""
    measure = _may_hold_long_texts(path)
    for column in _EVENT_TEXT:
        values = columns[column]
        for position, value in enumerate(values):
            if value is not None and not isinstance(value, str) and not (
                    isinstance(value, float) and math.isnan(value)):
                raise InputError(path, f"event {offset + position + 1}: {column}",
                                 f"expected text, found {type_name(value)}")
        if measure:
            _refuse_long_texts(values, column, path, offset)


def _check_frame_texts(frame: pd.DataFrame, path: Path | str, offset: int) -> None:
    """Every text column holds text (or nothing), none longer than MAX_FIELD_CHARS."""
    measure = _may_hold_long_texts(path)
    for column in _EVENT_TEXT:
        if column not in frame.columns:
            continue
        position = _first_non_text(frame[column])
        if position is not None:
            raise InputError(path, f"event {offset + position + 1}: {column}",
                             f"expected text, found {type_name(frame[column].iloc[position])}")
        if measure:
            _refuse_long_texts(frame[column].tolist(), column, path, offset)


def _refuse_long_texts(values: list, column: str, path: Path | str, offset: int) -> None:
    """One pass over a column's values, known by now to be texts or missing."""
    longest = max([len(v) for v in values if isinstance(v, str)], default=0)
    if longest > MAX_FIELD_CHARS:
        position = next(i for i, v in enumerate(values) if isinstance(v, str) and len(v) == longest)
        raise InputError(path, f"event {offset + position + 1}: {column}", f"longer than "
                         f"{MAX_FIELD_CHARS:,} characters ({longest:,})")


# Exceptions a loader meets on input it does not expect (a list where a text belongs, a
# nesting too deep, a number too large): they end as one line naming the file.
_INPUT_FAILURES = (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError,
                   RecursionError, UnicodeError, ArithmeticError, pd.errors.OutOfBoundsDatetime)


def checked_load(loader: Loader, path: Path, ctx: LoadContext) -> Iterator[Batch]:
    """`loader.load(path, ctx)` with every batch checked (`check_batch`), and any failure of
    the loader on unexpected input turned into an InputError naming the file (set
    REVIEW_KIT_DEBUG to see the loader's own traceback instead)."""
    yield from _checked(loader, loader.load(path, ctx), path)


def checked_load_many(loader: Loader, paths: list[Path], ctx: LoadContext) -> Iterator[Batch]:
    """`checked_load` for several files of one source read as one (`Loader.load_many`). A
    loader that does not share its per-file setup is read file by file, each checked as
    its own input. When reading them together fails, the files are read again one by one to
    name the one at fault, as a lone ingest of it would."""
    if len(paths) == 1 or type(loader).load_many is Loader.load_many:
        for path in paths:
            yield from checked_load(loader, path, ctx)
        return

    def name_the_file() -> None:
        for path in paths:
            for _ in checked_load(loader, path, ctx):
                pass

    largest = max(paths, key=lambda p: os.path.getsize(p) if os.path.isfile(p) else 0)
    yield from _checked(loader, loader.load_many(paths, ctx), largest, name_the_file)


def _checked(loader: Loader, batches: Iterator[Batch], path: Path,
             name_the_file: Callable[[], None] | None = None) -> Iterator[Batch]:
    """The batches of one read, each checked; a failure of the loader becomes the one-line
    InputError for `path`. ``name_the_file``, for a read of several files: reads them again
    one by one and raises the error of the one at fault, before `path`'s is raised."""
    seen = SeenEvents()
    offset = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except InputError:
            raise
        except _INPUT_FAILURES as exc:
            if os.environ.get("REVIEW_KIT_DEBUG"):
                raise
            if name_the_file is not None:
                name_the_file()
            detail = "nested too deeply" if isinstance(exc, RecursionError) else \
                f"unexpected {type(exc).__name__}" + (f": {str(exc)[:120]}" if str(exc) else "")
            raise InputError(path, None, f"cannot read this {loader.name} input ({detail})") from None
        try:
            check_batch(batch, path, seen, offset)
        except InputError:
            if name_the_file is not None:
                name_the_file()
            raise
        offset += batch.event_count
        yield batch
        # Let go of the batch before the next is built. Its hundreds of thousands of small
        # objects, still alive while the next batch's are made, spread every later batch
        # over scattered memory: over a 530k-row CSV each batch took 0.2 s at first and
        # 0.5 s later on; without the old batch held, 0.2-0.3 s throughout.
        del batch


def events_source(events: pd.DataFrame) -> dict[str, str]:
    """Per incident of an events frame, in order of first appearance, the source most of its
    events come from (on a tie, the first by name): who an incident known only from events
    belongs to."""
    if events.empty:
        return {}
    if len(events) <= 256:  # a delivery's few events: counted in Python, a groupby costs ms
        return events_source_of(events["incident_id"].tolist(), events["source"].tolist())
    counts = (events.groupby(["incident_id", "source"], sort=False).size()
              .rename("n").reset_index())
    counts = counts.sort_values(["n", "source"], ascending=[False, True], kind="stable")
    best = counts.drop_duplicates("incident_id").set_index("incident_id")["source"]
    order = pd.unique(events["incident_id"].astype(object))
    return {str(i): str(best[i]) for i in order}


def events_source_of(incident_ids: list, sources: list) -> dict[str, str]:
    """`events_source` for a few events given as two lists (a RowBatch's columns)."""
    tally: dict[str, dict[str, int]] = {}
    for incident, source in zip(incident_ids, sources):
        per = tally.setdefault(str(incident), {})
        per[str(source)] = per.get(str(source), 0) + 1
    return {incident: min(per, key=lambda s: (-per[s], s)) for incident, per in tally.items()}
