"""The canonical data model: event kinds, table columns, time parsing and stable ids.

Imports nothing of review_kit's but its errors, so every other module can lean on it.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone, tzinfo
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from .errors import InputError, TimestampError

# --- event kinds (DESIGN.md: the closed set) ---------------------------------------------
EVENT_KINDS: frozenset[str] = frozenset({
    "impact_started",
    "alert_firing", "alert_resolved",
    "triggered",
    "notified", "escalated", "reassigned",
    "acknowledged",
    "responder_joined",
    "message",
    "note",
    "status_update",
    "stakeholder_update",
    "severity_changed",
    "deploy",
    "mitigated",
    "resolved", "reopened",
})
COMMS_KINDS: frozenset[str] = frozenset({"status_update", "stakeholder_update"})
# Kinds whose actor counts as a responder (DESIGN.md, "Coordination"); escalations count
# their assignee (the `target` column) instead of the actor.
RESPONDER_ACTOR_KINDS: frozenset[str] = frozenset(
    {"acknowledged", "responder_joined", "message", "note", "reassigned"})
# A `target` naming several people (PagerDuty's assignees) joins them with ", " (`target_people`).
TARGET_SEPARATOR = ", "
VISIBILITIES: frozenset[str] = frozenset({"internal", "external"})
ACTOR_TYPES: frozenset[str] = frozenset({"person", "bot", "service"})
SEVERITIES: tuple[str, ...] = ("SEV1", "SEV2", "SEV3", "SEV4", "SEV5")

# --- table columns -------------------------------------------------------------------------
# DESIGN.md's columns plus four that the metrics need and a source can tell us:
#   seq         order within one source's record of one incident, for ties within a second
#   actor_type  person | bot | service (bots and services are not responders)
#   target      the person an escalation / reassignment / notification is about
#   status      the status a status_update reports (investigating, monitoring, resolved…)
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id", "incident_id", "at", "seq", "source", "kind", "actor", "actor_type",
    "target", "status", "summary", "visibility", "raw",
)
INCIDENT_COLUMNS: tuple[str, ...] = (
    "incident_id", "title", "severity", "severity_raw", "status", "service", "team",
    "commander", "source", "source_id", "url", "created_at",
)
ALIAS_COLUMNS: tuple[str, ...] = ("incident_id", "source", "external_id")
ANNOTATION_FIELDS: tuple[str, ...] = (
    "summary", "impact", "root_causes", "trigger", "resolution", "detection",
    "went_well", "went_wrong", "got_lucky", "lessons",
)
# Milestones a facilitator may set by hand (annotation field = milestone name).
MILESTONE_OVERRIDES: tuple[str, ...] = (
    "started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at",
)
# An event the facilitator marked as key: annotation field `key_event:<event_id>` = "true".
KEY_EVENT_PREFIX = "key_event:"
# A suggested similar incident the facilitator dismissed: `not_related:<incident_id>` = "true".
NOT_RELATED_PREFIX = "not_related:"
ACTION_ITEM_TYPES: tuple[str, ...] = ("mitigate", "prevent", "process", "other")
ACTION_ITEM_STATUSES: tuple[str, ...] = ("open", "done", "wontfix")


def check_kind(kind: str, where: str | None = None) -> str:
    if kind not in EVENT_KINDS:
        raise InputError(None, where, f"unknown event kind {kind!r}; expected one of "
                         f"{', '.join(sorted(EVENT_KINDS))}")
    return kind


def check_columns(frame: pd.DataFrame, required: Iterable[str], what: str) -> None:
    """Raise a clear error when a frame lacks columns a function needs (pyjanitor style)."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s): {', '.join(missing)}")


# --- time ----------------------------------------------------------------------------------
UTC = timezone.utc
_ZONE_SUFFIX = re.compile(r"(?:[zZ]|[+-]\d{2}:?\d{2}|[+-]\d{2})$")
_ISO_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?")
_SLACK_TS = re.compile(r"^\d{9,11}\.\d{1,9}$")
_INTEGER = re.compile(r"^-?\d+$")
GO_ZERO_TIME_PREFIX = "0001-01-01T00:00:00"


def zone(name: str | tzinfo | None) -> tzinfo | None:
    """The zone a user named with --tz, or None."""
    if name is None or isinstance(name, tzinfo):
        return name
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(None, "--tz", f"unknown time zone {name!r}") from exc


# The span a timestamp from a source may fall in; outside it a value is a mistake (year 0,
# 9999, an epoch in the wrong unit). `[limits] earliest`/`latest` in review-kit.toml move it.
TIME_RANGE: list[pd.Timestamp] = [pd.Timestamp("1970-01-01", tz="UTC"),
                                  pd.Timestamp("2100-01-01", tz="UTC")]


def set_time_range(earliest: Any = None, latest: Any = None) -> None:
    """Move the accepted span of timestamps (``[limits]`` of the config)."""
    for position, value in ((0, earliest), (1, latest)):
        if value is not None:
            try:
                stamp = pd.Timestamp(str(value))
            except (ValueError, TypeError) as exc:
                raise InputError(None, "[limits]", f"not a date: {value!r}") from exc
            TIME_RANGE[position] = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


def _in_range(stamp: pd.Timestamp, original: Any) -> pd.Timestamp:
    if not TIME_RANGE[0] <= stamp < TIME_RANGE[1]:
        raise TimestampError(None, None, f"timestamp {str(original)[:40]!r} is outside "
                             f"{TIME_RANGE[0].year}–{TIME_RANGE[1].year - 1}")
    return stamp


def _epoch_to_timestamp(number: float | int, unit: str | None) -> pd.Timestamp:
    try:
        return _in_range(_epoch_timestamp(number, unit), number)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime) as exc:
        if isinstance(exc, TimestampError):
            raise
        raise TimestampError(None, None, f"timestamp {str(number)[:40]!r} is outside "
                             f"{TIME_RANGE[0].year}–{TIME_RANGE[1].year - 1}") from None


def _epoch_timestamp(number: float | int, unit: str | None) -> pd.Timestamp:
    if unit is None:
        # Magnitude tells the unit apart for any date between 1973 and 2286.
        magnitude = abs(number)
        unit = "s" if magnitude < 1e11 else "ms" if magnitude < 1e14 else "us" if magnitude < 1e17 else "ns"
    if unit == "ns":
        micros = int(number) // 1000
    else:
        per_unit = {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]
        micros = int(number) * per_unit if isinstance(number, int) else int(round(number * per_unit))
    return pd.Timestamp(micros, unit="us", tz=UTC)


def parse_timestamp(value: Any, tz: str | tzinfo | None = None, *,
                    unit: str | None = None) -> pd.Timestamp | None:
    """Any timestamp form a source uses, as a timezone-aware UTC Timestamp (microseconds).

    Accepts ISO 8601 with `Z`, `±HH:MM` or `±HHMM` and 0–9 fraction digits, epoch seconds /
    milliseconds / microseconds / nanoseconds (as numbers or digit strings; `unit` pins the
    unit when the source documents it), Slack `"seconds.seq"` strings and aware datetimes.
    None, "" and Go's zero time mean unset and give None. A value with no zone is an error
    unless `tz` names the zone it was written in.

    >>> parse_timestamp("2024-03-01T10:00:00.123456789-08:00")
    Timestamp('2024-03-01 18:00:00.123456+0000', tz='UTC')
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            return None
        return _aware(value.to_pydatetime(warn=False), value, tz)
    if isinstance(value, datetime):
        return _aware(value, value, tz)
    if isinstance(value, bool):
        raise TimestampError(None, None, f"not a timestamp: {value!r}")
    if isinstance(value, (int, np.integer)):
        return _epoch_to_timestamp(int(value), unit)
    if isinstance(value, (float, np.floating)):
        return _epoch_to_timestamp(float(value), unit or "s")
    if not isinstance(value, str):
        raise TimestampError(None, None, f"not a timestamp: {value!r}")
    text = value.strip()
    if not text or text.startswith(GO_ZERO_TIME_PREFIX):
        return None
    if _INTEGER.match(text):
        return _epoch_to_timestamp(int(text), unit)
    if _SLACK_TS.match(text):
        seconds, _, fraction = text.partition(".")
        micros = int((fraction + "000000")[:6])
        return pd.Timestamp(int(seconds) * 1_000_000 + micros, unit="us", tz=UTC)
    if not _ISO_SHAPE.match(text):
        raise TimestampError(None, None, f"not a timestamp: {value!r}")
    try:
        parsed = datetime.fromisoformat(text.replace(",", "."))
    except ValueError as exc:
        raise TimestampError(None, None, f"not a timestamp: {value!r}") from exc
    return _aware(parsed, value, tz)


def _aware(parsed: datetime, original: Any, tz: str | tzinfo | None) -> pd.Timestamp:
    if parsed.tzinfo is None:
        named = zone(tz)
        if named is None:
            raise TimestampError(None, None, f"timestamp {str(original)[:40]!r} has no time zone; "
                                 "name the zone it was written in with --tz")
        local = parsed
        parsed = parsed.replace(tzinfo=named)
        if parsed.astimezone(UTC).astimezone(named).replace(tzinfo=None) != local:
            raise TimestampError(None, None, f"local time {str(original)[:40]!r} does not exist in "
                                 f"{named} (a daylight-saving gap)")
    try:
        return _in_range(pd.Timestamp(parsed.astimezone(UTC)).as_unit("us"), original)
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise TimestampError(None, None, f"timestamp {str(original)[:40]!r} is outside "
                             f"{TIME_RANGE[0].year}–{TIME_RANGE[1].year - 1}") from None


def _has_zone(text: str) -> bool:
    """Does an ISO 8601 text end in a zone (`Z`, `±HH:MM`, `±HHMM`)? No regex: hot path."""
    text = text.rstrip()
    if text[-1:] in ("Z", "z"):
        return True
    if len(text) > 16 and text[-6:-5] in ("+", "-") and text[-3:-2] == ":":
        return True
    return len(text) > 16 and text[-5:-4] in ("+", "-") and text[-4:].isdigit()


# Up to this many values the scalar parser is the faster one: pandas' vectorised parse costs
# a millisecond and more before its first row (a webhook delivery holds one event).
SCALAR_PARSE_MAX = 8


def parse_timestamps(values: Iterable[Any] | pd.Series, tz: str | tzinfo | None = None, *,
                     where: str = "row") -> pd.Series:
    """Vectorised parse_timestamp for a column (the hot path of big files).

    Returns datetime64[us, UTC]; unset values become NaT. `where` names the rows in errors
    ("line" for CSV, say): the error reports the first bad one, counted from 1.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if len(series) == 0:
        return pd.Series([], dtype="datetime64[us, UTC]", index=series.index)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert(UTC).dt.as_unit("us")
    objects = series.to_numpy(dtype=object)
    if len(objects) > SCALAR_PARSE_MAX and all(type(v) is str for v in objects):
        unset = np.fromiter((not v.strip() or v.startswith(GO_ZERO_TIME_PREFIX) for v in objects),
                            dtype=bool, count=len(objects))
        zoned = np.fromiter((_has_zone(v) if not u else True for v, u in zip(objects, unset)),
                            dtype=bool, count=len(objects))
        named = zone(tz)
        wanted = ~unset
        try:
            if zoned.all():
                parsed = pd.to_datetime(pd.Series(objects[wanted]), utc=True, format="ISO8601")
            elif named is not None and not zoned[wanted].any():
                parsed = pd.to_datetime(pd.Series(objects[wanted]), format="ISO8601").dt.tz_localize(
                    named, ambiguous="raise", nonexistent="raise").dt.tz_convert(UTC)
            else:
                parsed = None
        except (ValueError, TypeError, OverflowError):
            parsed = None
        if parsed is not None and len(parsed) and not (
                TIME_RANGE[0] <= parsed.min() and parsed.max() < TIME_RANGE[1]):
            parsed = None  # the scalar parser names the first value out of range
        if parsed is not None:
            out = np.full(len(objects), np.datetime64("NaT", "us"), dtype="datetime64[us]")
            out[wanted] = parsed.dt.tz_convert(UTC).dt.tz_localize(None).dt.as_unit("us").to_numpy()
            return pd.Series(out, index=series.index).dt.tz_localize(UTC)
    # Other forms, or an error somewhere: the scalar parser reads each and names a bad row.
    results = []
    for position, value in enumerate(objects.tolist(), start=1):
        try:
            results.append(parse_timestamp(value, tz))
        except TimestampError as exc:
            raise exc.at(where=f"{where} {position}") from None
    return pd.Series(pd.to_datetime(results, utc=True), index=series.index).dt.as_unit("us")


def to_iso(value: Any) -> str | None:
    """ISO 8601 UTC text with a `Z`, for JSON output; None for missing values."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(UTC)
    return stamp.tz_convert(UTC).isoformat().replace("+00:00", "Z")


# --- ids and normalisation -------------------------------------------------------------------
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: none belongs in an
# id, and each could forge a line in a log or a header.
_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_ID_CHARS = 255


def check_incident_id(value: Any, path: Any = None, where: str | None = "incident id") -> str:
    """An incident id as text, refused in one line when it is empty, too long or holds a
    control character (every entrance: loaders, --incident, the CLI's ID, the receiver)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InputError(path, where, f"incident id must be text, not {type(value).__name__}")
    if not value.strip():
        raise InputError(path, where, "incident id is empty")
    if len(value) > MAX_ID_CHARS:
        raise InputError(path, where, f"incident id longer than {MAX_ID_CHARS} characters")
    bad = _ID_CONTROL.search(value)
    if bad:
        raise InputError(path, where, f"incident id holds a control character "
                         f"(U+{ord(bad.group(0)):04X}): {value[:60].encode('unicode_escape').decode()!r}")
    return value

def event_id(source: str, source_id: str | None = None, *fields: Any) -> str:
    """Stable event id: the source's own id when it has one, else a hash of the row."""
    if source_id is not None and str(source_id) != "":
        key = f"{source}:{source_id}"
        if len(key) <= 160:
            return key
        return f"{source}:h{hashlib.sha1(key.encode()).hexdigest()[:24]}"
    payload = json.dumps([str(f) if f is not None else None for f in fields],
                         ensure_ascii=False, separators=(",", ":"))
    return f"{source}:h{hashlib.sha1(payload.encode()).hexdigest()[:24]}"


def raw_json(record: Any) -> str:
    """The source record kept verbatim-ish as compact JSON text."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


_SEV_DIGIT = re.compile(r"^(?:sev|p|s|priority\s*)?\s*-?([1-5])$", re.IGNORECASE)


def normalise_severity(raw: Any, mapping: Mapping[str, str] | None = None) -> str | None:
    """SEV1..SEV5 from a source's severity or priority; None when it cannot be told.

    A mapping (from the source's loader or the user's config) wins over the built-in rule
    that reads `SEV2`, `sev-2`, `P2`, `S2` or `2` as SEV2.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    if mapping:
        for key, value in mapping.items():
            if key.lower() == text.lower():
                return value
    match = _SEV_DIGIT.match(text.replace(" ", ""))
    return f"SEV{match.group(1)}" if match else None


def empty_events() -> pd.DataFrame:
    """An events frame with the canonical columns and dtypes and no rows."""
    frame = pd.DataFrame({c: pd.Series([], dtype="object") for c in EVENT_COLUMNS})
    frame["at"] = pd.Series([], dtype="datetime64[us, UTC]")
    frame["seq"] = pd.Series([], dtype="int64")
    return frame


def person_name(name: Any) -> str:
    """The name a person is counted by everywhere (responders, their load, the retrospective's
    table): the text without surrounding spaces; "" for a blank one, which names nobody."""
    return str(name).strip()


_TARGET_SPLIT = re.compile(r",\s*")


def target_people(target: Any) -> list[str]:
    """The people an event's `target` names, in order (``TARGET_SEPARATOR`` between them),
    each as ``person_name`` gives it; none for a missing or blank target."""
    if not isinstance(target, str):
        return []
    return [name for name in (person_name(part) for part in _TARGET_SPLIT.split(target)) if name]
