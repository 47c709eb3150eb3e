"""CSV: events (and optionally incidents) written by hand or by another tool, one row each.

Two shapes, told apart by their header (line 1):

- an **events** file: `incident_id, at, kind, actor, summary` and optionally `source`,
  `visibility` (default internal, external for a `status_update`), `actor_type`, `target`,
  `status`, `event_id`, `seq`, `raw` (so the output of `review-kit timeline --csv` reads back
  unchanged). `incident_id` may be left out when
  `--incident` names the incident. The incidents it names are created with what is known.
- an **incidents** file: `incident_id` and any of `title, severity, status, service, team,
  commander, url, created_at, source, source_id` (DESIGN.md's incident columns).

Column names are matched without regard to case, surrounding space, or `-`/space for `_`;
columns the loader does not know are kept in `raw` and otherwise ignored. The delimiter may
be a comma, a semicolon or a tab (spreadsheets in some locales write semicolons). Errors name
the line of the file (the header is line 1; a quoted field spanning lines counts them all).
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from ..errors import InputError, TimestampError
from ..model import ACTOR_TYPES, EVENT_KINDS, INCIDENT_COLUMNS, normalise_severity, parse_timestamps
from . import _jsonstream
from .base import (MAX_FIELD_CHARS, Batch, LoadContext, Loader, dumps, events_frame,
                   events_source, incident_row)

SOURCE = "csv"

EVENT_REQUIRED: tuple[str, ...] = ("incident_id", "at", "kind", "actor", "summary")
INCIDENT_OPTIONAL: tuple[str, ...] = tuple(c for c in INCIDENT_COLUMNS if c != "incident_id")
_DELIMITERS = (",", ";", "\t")
_NAME_SEPARATORS = re.compile(r"[\s\-]+")


def _column_name(name: str) -> str:
    return _NAME_SEPARATORS.sub("_", name.strip().lstrip("\ufeff").lower())


class CsvLoader(Loader):
    name = SOURCE
    description = "CSV events (incident_id, at, kind, actor, summary…) or incidents"

    def sniff(self, path: Path, head: str) -> bool:
        first = head.lstrip("\ufeff").splitlines()[0] if head.strip() else ""
        if first.lstrip()[:1] in ("{", "["):
            return False
        columns = {_column_name(c) for c in next(csv.reader([first], delimiter=_delimiter(first)), [])}
        return ({"at", "kind"} <= columns and ("incident_id" in columns or "summary" in columns)) \
            or ("incident_id" in columns and bool(columns & {"title", "severity", "created_at"}))

    def load(self, path: Path, ctx: LoadContext) -> Iterator[Batch]:
        path = Path(path)
        header, chunks = _read_records(path)
        columns = set(header)
        if columns & {"at", "kind"}:
            # An events file streams: a batch per chunk of rows, so memory stays one chunk deep.
            offset = 0
            for records, lines in chunks:
                yield _events(path, header, records, lines, ctx, offset)
                offset += len(records)
                del records, lines  # before the next chunk is read (why: base._checked)
            if offset == 0:  # a header alone: still checked, an empty batch
                yield _events(path, header, [], [], ctx)
        elif "incident_id" in columns:
            records, lines = _gathered(chunks)  # checked whole: an id may not repeat
            yield _incidents(path, header, records, lines, ctx)
        else:
            raise InputError(path, "line 1", "not a review-kit CSV: an events file needs the "
                             f"columns {', '.join(EVENT_REQUIRED)}; an incidents file needs "
                             "incident_id and any of title, severity, status, service, created_at…")


def _delimiter(header_line: str) -> str:
    return max(_DELIMITERS, key=header_line.count) if header_line else ","


def _read_records(path: Path) -> tuple[list[str], Iterator[tuple[list[list[str]], list[int]]]]:
    """Header (normalised names), and the data records in chunks of at most BATCH_EVENTS,
    each with the line every record starts on. The file is read as it goes, never whole."""
    # The csv module's own cap (128 KiB) would refuse a long pasted log; ours is the limit.
    if csv.field_size_limit() < MAX_FIELD_CHARS:
        csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        # Universal newlines, as the whole-file read had: a CRLF inside a quoted cell is "\n".
        handle = open(path, encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    try:
        try:
            first = handle.readline()
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        reader = csv.reader(itertools.chain([first], handle), delimiter=_delimiter(first), strict=True)
        previous_end = 0
        header: list[str] | None = None
        try:
            for record in reader:
                start, previous_end = previous_end + 1, reader.line_num
                if "".join(record).strip():
                    header = [_column_name(c) for c in record]
                    break
        except csv.Error as exc:
            raise _malformed(path, reader, exc) from None
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        if header is None:
            handle.seek(0)
            raise InputError(path, None, "file has no header line" if handle.read().strip() else "file is empty")
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if duplicated or "" in header:
            problem = (f"column {duplicated[0]!r} appears twice" if duplicated
                       else f"column {header.index('') + 1} has no name")
            raise InputError(path, f"line {start}", problem)
    except BaseException:
        handle.close()
        raise

    def chunks() -> Iterator[tuple[list[list[str]], list[int]]]:
        nonlocal previous_end
        with handle:
            records: list[list[str]] = []
            starts: list[int] = []
            width = len(header)
            try:
                for record in reader:
                    start, previous_end = previous_end + 1, reader.line_num
                    if not "".join(record).strip():
                        continue
                    if len(record) != width:
                        raise InputError(path, f"line {start}", f"{len(record)} fields where the "
                                         f"header has {width}")
                    records.append(record)
                    starts.append(start)
                    if len(records) >= _jsonstream.BATCH_EVENTS:
                        yield records, starts
                        records, starts = [], []
            except csv.Error as exc:
                raise _malformed(path, reader, exc) from None
            except UnicodeDecodeError:
                raise _not_utf8(path) from None
            if records:
                yield records, starts

    return header, chunks()


def _not_utf8(path: Path) -> InputError:
    """Where the first byte that is not UTF-8 is (read again: only on this error path)."""
    try:
        Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return InputError(path, f"byte {exc.start}", "not UTF-8 text")
    return InputError(path, None, "not UTF-8 text")


def _gathered(chunks: Iterator[tuple[list[list[str]], list[int]]]) -> tuple[list[list[str]], list[int]]:
    """Every chunk's records and lines as one list each (files checked whole)."""
    records: list[list[str]] = []
    lines: list[int] = []
    for chunk_records, chunk_lines in chunks:
        records += chunk_records
        lines += chunk_lines
    return records, lines


def _malformed(path: Path, reader: Any, exc: csv.Error) -> InputError:
    return InputError(path, f"line {reader.line_num}", f"malformed CSV: {exc}")


_strip = np.frompyfunc(str.strip, 1, 1)


def _frame(header: list[str], records: list[list[str]]) -> pd.DataFrame:
    """The records as text columns, blanks as None (an empty cell means unknown)."""
    cells = np.empty((len(records), len(header)), dtype=object)
    if records:
        cells[:] = records
    cells = _strip(cells)
    cells[cells == ""] = None
    return pd.DataFrame(cells, columns=header, dtype=object)


def _locate(lines: list[int]) -> Callable[[int], str]:
    return lambda i: f"line {lines[i]}"


def _first_bad(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def _times(text: pd.Series, tz: str | None, path: Path, locate: Callable[[int], str]) -> pd.Series:
    """The `at` column as UTC, every cell required; errors name the line."""
    try:
        at = parse_timestamps(text, tz, where="row")
    except TimestampError as exc:
        raise InputError(path, locate(int(str(exc.where).split()[-1]) - 1), exc.problem) from None
    if at.isna().any():
        raise InputError(path, locate(_first_bad(at.isna())), "event has no timestamp")
    return at


def _row_ids(rows: pd.DataFrame, at: pd.Series) -> pd.Series:
    """Stable ids for rows that bring none: a hash of everything the row says, so re-ingesting
    the file is a no-op. The instant (not its spelling) is hashed, and target and status too:
    two `notified` rows in one second that differ only in whom they notified are two events.

    The key is built here, not by pandas: its text conversions decide the ids every store
    keeps, so they must not move with a pandas release. A missing cell is "" (an empty cell
    is already missing: `_frame`), as pandas 3's `fillna("\\x00").astype(str)` made it."""
    n = len(rows)
    parts = [[str(v) for v in at.astype("int64").tolist()], _key_texts(rows["incident_id"].tolist())]
    parts += [_key_texts(rows[c].tolist()) if c in rows else [""] * n
              for c in ("kind", "actor", "summary", "target", "status")]
    sha1 = hashlib.sha1
    return pd.Series([f"{source}:h{sha1(key.encode()).hexdigest()[:24]}"
                      for source, key in zip(rows["source"].tolist(), map("\x1f".join, zip(*parts)))],
                     index=rows.index, dtype=object)


def _key_texts(values: list) -> list[str]:
    return [v if type(v) is str else "" if v is None or v != v else str(v) for v in values]


def _events(path: Path, header: list[str], records: list[list[str]], lines: list[int],
            ctx: LoadContext, offset: int = 0) -> Batch:
    required = [c for c in EVENT_REQUIRED if not (c == "incident_id" and ctx.incident_id)]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(path, "line 1", f"events file is missing column(s) {', '.join(missing)}; "
                         f"an events file needs {', '.join(EVENT_REQUIRED)}")
    frame = _frame(header, records)
    locate = _locate(lines)
    if ctx.incident_id:
        frame["incident_id"] = str(ctx.incident_id)
    kind = frame["kind"].str.lower()
    bad_kind = ~kind.isin(EVENT_KINDS)
    if bad_kind.any():
        i = _first_bad(bad_kind)
        raise InputError(path, locate(i), f"unknown event kind {frame['kind'].iloc[i]!r}; "
                         f"expected one of {', '.join(sorted(EVENT_KINDS))}")
    rows = pd.DataFrame({"incident_id": frame["incident_id"], "at": frame["at"], "kind": kind,
                         "actor": frame["actor"], "summary": frame["summary"]})
    for column in ("target", "status", "source", "event_id"):
        if column in frame.columns:
            rows[column] = frame[column]
    # A status page update is external communication by definition (DESIGN.md); everything
    # else a CSV says is internal unless its visibility cell says otherwise.
    default_visibility = pd.Series(np.where(kind == "status_update", "external", "internal"),
                                   index=frame.index, dtype=object)
    rows["visibility"] = (frame["visibility"].str.lower().fillna(default_visibility)
                          if "visibility" in frame.columns else default_visibility)
    if "actor_type" in frame.columns:
        actor_type = frame["actor_type"].str.lower()
        bad = actor_type.notna() & ~actor_type.isin(ACTOR_TYPES)
        if bad.any():
            i = _first_bad(bad)
            raise InputError(path, locate(i), f"actor_type must be one of "
                             f"{', '.join(sorted(ACTOR_TYPES))}, not {frame['actor_type'].iloc[i]!r}")
        rows["actor_type"] = actor_type
    place = pd.Series(range(offset, offset + len(frame)), index=frame.index)  # in the whole file
    if "seq" in frame.columns:
        seq = pd.to_numeric(frame["seq"], errors="coerce")
        bad = frame["seq"].notna() & (seq.isna() | (seq != seq.round()))
        if bad.any():
            i = _first_bad(bad)
            raise InputError(path, locate(i), f"seq must be a whole number, not {frame['seq'].iloc[i]!r}")
        # Rows without a seq keep their place in the file.
        rows["seq"] = seq.fillna(place).astype("int64")
    else:
        rows["seq"] = place
    if "raw" in frame.columns:
        rows["raw"] = frame["raw"]
    else:
        # The record as the file has it, each cell under its column name (orjson, per row:
        # nothing to split, so a U+2028 inside a value stays text).
        rows["raw"] = [dumps(dict(zip(header, record))) for record in records]
    rows["source"] = rows["source"].fillna(SOURCE) if "source" in rows else SOURCE
    missing_incident = rows["incident_id"].isna()
    if missing_incident.any():
        raise InputError(path, locate(_first_bad(missing_incident)), "event belongs to no incident")
    times = _times(frame["at"], ctx.tz, path, locate)
    hashed = _row_ids(rows, times)
    rows["event_id"] = rows["event_id"].fillna(hashed) if "event_id" in rows else hashed
    rows["at"] = times  # parsed once; events_frame takes the frame as it is
    events = events_frame(rows, source=SOURCE, path=path, tz=ctx.tz, locate=locate)
    # The incidents an events file names exist, with nothing known about them but their id
    # and the source their events come from (the most frequent; on a tie, the first by name).
    incidents = [{"incident_id": incident_id, "source": source}
                 for incident_id, source in events_source(events).items()]
    return Batch(incidents=incidents, events=events, aliases=[])


def _incidents(path: Path, header: list[str], records: list[list[str]], lines: list[int],
               ctx: LoadContext) -> Batch:
    frame = _frame(header, records)
    locate = _locate(lines)
    if ctx.incident_id:
        if len(frame) > 1:
            raise InputError(path, None, f"--incident names one incident, but the file holds "
                             f"{len(frame)}")
        frame["incident_id"] = str(ctx.incident_id)
    missing_id = frame["incident_id"].isna()
    if missing_id.any():
        raise InputError(path, locate(_first_bad(missing_id)), "incident_id is empty")
    repeated = frame["incident_id"].duplicated()
    if repeated.any():
        i = _first_bad(repeated)
        first = _first_bad(frame["incident_id"] == frame["incident_id"].iloc[i])
        raise InputError(path, locate(i), f"incident {frame['incident_id'].iloc[i]!r} already "
                         f"appears on {locate(first)}")
    if "created_at" in frame.columns:
        try:
            created = parse_timestamps(frame["created_at"], ctx.tz, where="row")
        except TimestampError as exc:
            position = int(str(exc.where).split()[-1]) - 1
            raise InputError(path, f"{locate(position)}: created_at", exc.problem) from None
    else:
        created = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    severity_map: Mapping[str, str] | None = ctx.config.get("severity_map") or None
    known = [c for c in INCIDENT_OPTIONAL if c in frame.columns and c not in ("created_at",)]
    incidents = []
    for record, stamp in zip(frame.to_dict("records"), created.tolist()):
        fields = {c: record[c] for c in known if c not in ("severity", "severity_raw", "source")}
        raw = record.get("severity_raw") or record.get("severity")
        severity = normalise_severity(record.get("severity"), severity_map) if record.get("severity") \
            else normalise_severity(raw, severity_map)
        row = incident_row(incident_id=record["incident_id"], source=record.get("source") or SOURCE,
                           severity_raw=raw, severity=severity,
                           created_at=None if pd.isna(stamp) else stamp, **fields)
        incidents.append(row)
    return Batch(incidents=incidents, events=events_frame([], source=SOURCE, path=path, tz=ctx.tz),
                 aliases=[])


LOADER = CsvLoader()
