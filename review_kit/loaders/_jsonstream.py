"""Streaming JSON input for loaders: one document, an array, or JSON lines read line by line.

`iter_documents` yields (place, document) with places `$`, `$[i]` or `line N` for error
messages; a JSON-lines file (a receiver's webhook log can be 1 GB) is never held whole. `BatchCollector` gathers a loader's rows and hands out a `Batch` every
`BATCH_EVENTS` events, dropping records already seen in the file (webhook logs repeat them).
"""
from __future__ import annotations

import bisect
import json
import re
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping

import orjson
import pandas as pd

from ..errors import InputError
from ..model import SEVERITIES, empty_events
from .base import Batch, events_frame

#: Events per Batch: big enough to keep pandas busy, small enough to bound memory.
BATCH_EVENTS = 20_000
_READ_BUFFER = 1024 * 1024


def iter_documents(path: Path | str, *, skip_repeated_lines: bool = False) -> Iterator[tuple[str, Any]]:
    """(place, document) for every JSON document in a file, streaming JSON lines.

    A file whose first non-blank line is a complete JSON value and that has more lines is
    JSON lines: each line is parsed on its own as it is read. Otherwise the file is one
    document (pretty-printed, say), read whole; a top-level array yields its items.
    `skip_repeated_lines` passes over a JSON line identical to an earlier one without
    parsing it (for sources whose repeats can tell nothing new); it keeps one 64-bit hash
    per distinct line.
    """
    path = Path(path)
    try:
        # A buffer bigger than a page of API results (a line of a paged export is ~55 KB):
        # with the default 8 KB each line is pieced together from several reads. Reading a
        # 550 MB export's lines took 0.45 s with 8 KB and 0.13 s with 1 MB.
        handle = open(path, "rb", buffering=_READ_BUFFER)
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    with handle:
        first_number, first_line = _next_content_line(handle, 0)
        if first_line is None:
            raise InputError(path, None, "file is empty")
        first_text = _decode(path, first_line, first_number)
        try:
            first_document = orjson.loads(first_text)
        except json.JSONDecodeError as exc:
            # Valid JSON never splits a token across lines, so a document that merely
            # continues on the next line fails exactly at the end of this one.
            if exc.pos < len(first_text.rstrip()):
                raise InputError(path, f"line {first_number} column {exc.colno}",
                                 f"invalid JSON: {exc.msg}") from None
            handle.seek(0)
            yield from _whole_document(path, handle.read())
            return
        second_number, second_line = _next_content_line(handle, first_number)
        if second_line is None:
            yield from _items(first_document)
            return
        yield f"line {first_number}", first_document
        seen: set[int] | None = {hash(first_line.rstrip())} if skip_repeated_lines else None
        number, line = second_number, second_line
        while line is not None:
            if seen is not None:
                key = hash(line.rstrip())
                if key in seen:
                    number, line = _next_content_line(handle, number)
                    continue
                seen.add(key)
            yield f"line {number}", _parse_line(path, line, number)
            number, line = _next_content_line(handle, number)


def _next_content_line(handle: BinaryIO, number: int) -> tuple[int, bytes | None]:
    for line in handle:
        number += 1
        if line.strip():
            return number, line
    return number, None


def _decode(path: Path, line: bytes, number: int) -> str:
    try:
        return line.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"line {number} byte {exc.start + 1}", "not UTF-8 text") from None


def _parse_line(path: Path, line: bytes, number: int) -> Any:
    try:
        return orjson.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"line {number} column {exc.colno}",
                         f"invalid JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, f"line {number} byte {exc.start + 1}", "not UTF-8 text") from None


def _whole_document(path: Path, data: bytes) -> Iterator[tuple[str, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"byte {exc.start}", "not UTF-8 text") from None
    try:
        document = orjson.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"line {exc.lineno} column {exc.colno}",
                         f"invalid JSON: {exc.msg}") from None
    yield from _items(document)


def _items(document: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(document, list):
        for i, item in enumerate(document):
            yield f"$[{i}]", item
    else:
        yield "$", document


def join_place(place: str, suffix: str) -> str:
    """A JSON path below a document's place: `line 3` + `.alerts[0]` → `line 3 $.alerts[0]`."""
    if place.startswith("$"):
        return place + suffix
    return f"{place} ${suffix}"


# --- telling formats apart ---------------------------------------------------------------------
_COLON = re.compile(r"\s*:")


def has_key(head: str, key: str) -> bool:
    """True when `"key":` appears in raw JSON text (escaped quotes inside strings do not match).

    A plain substring search, then a look at what follows: several times faster than one
    regular expression over the text, which counts when a thousand small files are sniffed.
    """
    needle = f'"{key}"'
    start = head.find(needle)
    while start != -1:
        if (start == 0 or head[start - 1] != "\\") and _COLON.match(head, start + len(needle)):
            return True
        start = head.find(needle, start + 1)
    return False


def looks_like_json(head: str) -> bool:
    return head.lstrip("\ufeff \t\r\n")[:1] in ("{", "[")


def describe(document: Any) -> str:
    """What a JSON document looks like, in words, for wrong-format errors."""
    if isinstance(document, list):
        return f"a JSON array of {describe(document[0])}" if document else "an empty JSON array"
    if not isinstance(document, Mapping):
        return f"a JSON {type(document).__name__}"
    keys = set(document)
    event = document.get("event")
    if isinstance(event, Mapping) and "event_type" in event:
        return "a PagerDuty webhook (v3) payload"
    if "log_entries" in keys:
        return "a PagerDuty log entries response"
    if "messages" in keys and "incident" in keys and "event" in keys:
        return "a PagerDuty webhook (v2) payload"
    if "incident_updates" in keys:
        return "a Statuspage incident"
    if "page" in keys and keys & {"incidents", "incident", "scheduled_maintenances", "components"}:
        return "a Statuspage response or webhook"
    if "incidents" in keys:
        first = next(iter(document["incidents"] or []), None) if isinstance(
            document["incidents"], list) else None
        if isinstance(first, Mapping) and ("reference" in first or "incident_status" in first):
            return "an incident.io incidents response"
        return "a PagerDuty incidents response"
    if "incident" in keys and isinstance(document["incident"], Mapping) and \
            "reference" in document["incident"]:
        return "an incident.io incident"
    if "alerts" in keys and keys & {"groupKey", "receiver", "version"}:
        return "an Alertmanager webhook payload"
    if "fingerprint" in keys and "startsAt" in keys:
        return "an Alertmanager alert"
    if "action" in keys and isinstance(document.get("alert"), Mapping):
        return "an Opsgenie webhook payload"
    if "data" in keys and ("requestId" in keys or "took" in keys or "paging" in keys):
        return "an Opsgenie API response"
    if "ts" in keys and ("type" in keys or "user" in keys):
        return "a Slack message"
    if "real_name" in keys or ("profile" in keys and "team_id" in keys):
        return "a Slack user"
    if "reference" in keys and "incident_status" in keys:
        return "an incident.io incident"
    shown = ", ".join(sorted(str(k) for k in keys)[:6]) or "none"
    return f"a JSON object with keys {shown}{'…' if len(keys) > 6 else ''}"


def wrong_format(path: Path | str, place: str, document: Any, expected: str) -> InputError:
    """The error for valid JSON in another format: what it looks like, what was expected."""
    return InputError(path, place, f"looks like {describe(document)}; expected {expected}")


def severity_map(defaults: Mapping[str, str], config: Mapping[str, Any], source: str) -> dict[str, str]:
    """A source's built-in severity map overlaid with the user's `severity_map` config."""
    merged = dict(defaults)
    overrides = config.get("severity_map") or {}
    if not isinstance(overrides, Mapping):
        raise InputError("config", f"{source}.severity_map", "must be a table of value = \"SEVn\"")
    for key, value in overrides.items():
        if str(value).upper() not in SEVERITIES:
            raise InputError("config", f"{source}.severity_map.{key}",
                             f"{value!r} is not one of {', '.join(SEVERITIES)}")
        merged[str(key)] = str(value).upper()
    return merged


# --- batching ------------------------------------------------------------------------------------
class BatchCollector:
    """Rows of one file on their way to Batches of about `size` events.

    Events whose `source_id` was already collected from this file are dropped (webhook logs
    repeat the same record); the check keeps 64-bit hashes, not the ids, so a file of
    millions of records stays small in memory. Incident rows are handed out again only
    when they change; aliases once.
    """

    def __init__(self, *, source: str, path: Path | str, tz: str | None,
                 size: int | None = None) -> None:
        self.source, self.path, self.tz = source, path, tz
        self.size = size or BATCH_EVENTS
        self.rows: list[dict] = []
        self.places: list[str] = []
        # Rows of several files (load_many): where each file's rows start, and the file.
        self._file_starts: list[int] = []
        self._files: list[Path | str] = []
        self._seen: set[int] = set()
        self._emitted_incidents: dict[str, dict] = {}
        self._pending_incidents: dict[str, dict] = {}
        self._aliases: set[tuple[str, str]] = set()
        self._pending_aliases: list[dict] = []
        self.batches = 0

    def seen(self, source_id: str) -> bool:
        """True when this source id was collected before; records it otherwise."""
        key = hash(source_id)
        if key in self._seen:
            return True
        self._seen.add(key)
        return False

    def start_file(self, path: Path | str) -> None:
        """The rows added from now on come from ``path`` (one collector over many files)."""
        self.path = path
        self._file_starts.append(len(self.rows))
        self._files.append(path)

    def add_event(self, row: dict, place: str) -> None:
        self.rows.append(row)
        self.places.append(place)

    def add_incident(self, row: dict) -> None:
        incident_id = row["incident_id"]
        if self._emitted_incidents.get(incident_id) != row:
            self._pending_incidents[incident_id] = row

    def incident(self, incident_id: str) -> dict | None:
        """The latest row collected for an incident (pending or already handed out)."""
        return self._pending_incidents.get(incident_id) or self._emitted_incidents.get(incident_id)

    def add_alias(self, incident_id: str, external_id: Any) -> None:
        if external_id is None or str(external_id) == "":
            return
        if isinstance(external_id, (dict, list, bool)):  # the safety net names the file
            raise TypeError(f"expected an id, found {type(external_id).__name__}")
        key = (str(incident_id), str(external_id))
        if key not in self._aliases:
            self._aliases.add(key)
            self._pending_aliases.append({"incident_id": key[0], "source": self.source,
                                          "external_id": key[1]})

    @property
    def full(self) -> bool:
        return len(self.rows) >= self.size

    def build_events(self) -> pd.DataFrame:
        """The collected event rows as a canonical frame (times parsed, ids made)."""
        places = self.places
        path_of = None
        if len(self._files) > 1:
            starts, files = list(self._file_starts), list(self._files)
            path_of = lambda i: files[bisect.bisect_right(starts, i) - 1]  # noqa: E731
        return events_frame(self.rows, source=self.source, path=self.path, tz=self.tz,
                            locate=lambda i: places[i], path_of=path_of)

    def flush(self, final: bool = False, events: pd.DataFrame | None = None) -> Batch | None:
        """The collected rows as a Batch; None when there is nothing (a final call on a file
        that yielded nothing yet still returns an empty Batch). `events` is the frame
        `build_events` made from the same rows, when the caller needed it first."""
        if not (self.rows or self._pending_incidents or self._pending_aliases):
            if final and self.batches == 0:
                self.batches += 1
                return Batch(incidents=[], events=empty_events(), aliases=[])
            return None
        if events is None:
            events = self.build_events()
        batch = Batch(incidents=list(self._pending_incidents.values()), events=events,
                      aliases=self._pending_aliases)
        self._emitted_incidents.update(self._pending_incidents)
        self._pending_incidents = {}
        self._pending_aliases = []
        self.rows, self.places = [], []
        if self._files:  # the current file goes on in the next batch
            self._file_starts, self._files = [0], [self._files[-1]]
        self.batches += 1
        return batch
