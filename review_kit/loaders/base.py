"""What every loader shares: its shape, the batches it yields, and one way to build events."""
from __future__ import annotations

import json
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
    VISIBILITIES,
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


def events_frame(rows: list[dict] | pd.DataFrame, *, source: str, path: Path | str, tz: str | None,
                 locate: Callable[[int], str] | None = None) -> pd.DataFrame:
    """Canonical events from loader rows, timestamps parsed once for the whole batch.

    Rows are dicts, or a frame with those columns. Each holds `incident_id`, `at` (as the
    source wrote it, or already parsed to UTC), `kind`, and any of `actor`,
    `actor_type`, `target`, `status`, `summary`, `visibility` (default internal), `raw`
    (the record, JSON-encoded here when not text), `source_id` (the source's own id for the
    record: the stable event id) and `seq` (order among ties; default: row order).
    `locate(i)` names row i's place in the file for error messages.
    """
    locate = locate or (lambda i: f"record {i + 1}")
    if isinstance(rows, pd.DataFrame):
        frame = rows.reset_index(drop=True)  # a loader that already works in columns
    else:
        frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=["at"])
    for column in EVENT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    if frame.empty:
        return _typed(frame)
    bad_kind = ~frame["kind"].isin(EVENT_KINDS)
    if bad_kind.any():
        i = int(bad_kind.to_numpy().nonzero()[0][0])
        raise InputError(path, locate(i), f"unknown event kind {frame['kind'].iloc[i]!r}")
    try:
        frame["at"] = parse_timestamps(frame["at"], tz)
    except TimestampError as exc:
        position = int(str(exc.where).split()[-1]) - 1 if exc.where else 0
        raise InputError(path, locate(position), exc.problem) from None
    missing_at = frame["at"].isna()
    if missing_at.any():
        i = int(missing_at.to_numpy().nonzero()[0][0])
        raise InputError(path, locate(i), "event has no timestamp")
    missing_incident = frame["incident_id"].isna() | (frame["incident_id"].astype(str) == "")
    if missing_incident.any():
        i = int(missing_incident.to_numpy().nonzero()[0][0])
        raise InputError(path, locate(i), "event belongs to no incident")
    frame["source"] = frame["source"].fillna(source)
    frame["visibility"] = frame["visibility"].fillna("internal")
    bad_visibility = ~frame["visibility"].isin(VISIBILITIES)
    if bad_visibility.any():
        i = int(bad_visibility.to_numpy().nonzero()[0][0])
        raise InputError(path, locate(i),
                         f"visibility must be internal or external, not {frame['visibility'].iloc[i]!r}")
    if frame["seq"].isna().all():
        frame["seq"] = range(len(frame))
    frame["raw"] = [r if r is None or isinstance(r, str) else dumps(r) for r in frame["raw"].tolist()]
    frame["event_id"] = _event_ids(frame)
    return _typed(frame)


def dumps(record: Any) -> str:
    """A source record as compact JSON text (orjson: ingest dumps one per event)."""
    try:
        return orjson.dumps(record, default=str).decode()
    except TypeError:  # keys that are not strings, integers beyond 64 bits
        return json.dumps(record, separators=(",", ":"), default=str, ensure_ascii=False)


def _event_ids(frame: pd.DataFrame) -> list:
    """Given ids as they are; `source:source_id` where the source has its own id (vectorised);
    a hash of the row where it has none."""
    ids = frame["event_id"].astype(object)
    source_ids = frame["source_id"] if "source_id" in frame.columns else pd.Series(None, index=frame.index)
    has_own = ids.isna() & source_ids.notna() & (source_ids.astype(str) != "")
    if has_own.any():
        ids = ids.where(~has_own, frame["source"].astype(str) + ":" + source_ids.astype(str))
    too_long = has_own & (ids.astype(str).str.len() > 160)
    for i in np.flatnonzero((ids.isna() | too_long).to_numpy()):
        row = frame.iloc[i]
        own = row["source_id"] if has_own.iloc[i] else None
        ids.iloc[i] = event_id(row["source"], own, row["incident_id"], row["at"], row["kind"],
                               row["actor"], row["summary"])
    return ids.tolist()


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.loc[:, list(EVENT_COLUMNS)].copy()
    out["at"] = pd.to_datetime(out["at"], utc=True).dt.as_unit("us") if len(out) else \
        pd.Series([], dtype="datetime64[us, UTC]")
    out["seq"] = pd.to_numeric(out["seq"]).fillna(0).astype("int64")
    for column in EVENT_COLUMNS:
        if column not in ("at", "seq"):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


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


def first_of(items: Iterable[Any]) -> Any:
    for item in items:
        return item
    return None
