"""CSV: a team's history of action items, one row each (`review-kit actions import FILE`).

Columns (header on line 1, matched without regard to case, surrounding space, `-`/space for
`_`): `incident` (or `incident_id`) and `title` are required; `owner`, `type` (mitigate |
prevent | process | other), `priority`, `status`, `due`, `created` (or `created_at`),
`closed` (or `closed_at`) and `url` are optional. Status words from trackers are read as
review-kit's three: done (done, closed, resolved, completed, fixed), open (open, to do,
todo, in progress, overdue, blocked, new) and wontfix (wontfix, won't fix, cancelled,
canceled, declined, duplicate). `due` is a date (a time's date part is taken); `created`
and `closed` are times with a zone (or `--tz`). Parse only: the store writes, in one
transaction, and names any incident it does not know with the line that mentions it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError, TimestampError
from ..model import ACTION_ITEM_TYPES, parse_timestamps
from .csv_events import _first_bad, _frame, _gathered, _locate, _read_records

__all__ = ["ACTION_ITEM_CSV_COLUMNS", "read_action_items"]

ACTION_ITEM_CSV_COLUMNS: tuple[str, ...] = (
    "incident", "title", "owner", "type", "priority", "status", "due", "created", "closed", "url")
_ALIASES = {"incident_id": "incident", "created_at": "created", "closed_at": "closed"}
_STATUS = {
    **dict.fromkeys(("done", "closed", "resolved", "completed", "complete", "fixed"), "done"),
    **dict.fromkeys(("open", "to do", "todo", "to_do", "in progress", "in_progress", "overdue",
                     "blocked", "new", "reopened"), "open"),
    **dict.fromkeys(("wontfix", "won't fix", "wont fix", "won't_fix", "cancelled", "canceled",
                     "declined", "duplicate"), "wontfix"),
}


def read_action_items(path: str | Path, tz: str | None = None) -> pd.DataFrame:
    """The file's action items as a frame (incident_id, title, owner, type, priority, status,
    due, url, created_at, closed_at, line), checked; a bad cell raises InputError naming the
    file, the line and the problem."""
    path = Path(path)
    header, chunks = _read_records(path)
    records, lines = _gathered(chunks)
    header = [_ALIASES.get(c, c) for c in header]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise InputError(path, "line 1", f"column {duplicated[0]!r} appears twice")
    missing = [c for c in ("incident", "title") if c not in header]
    if missing:
        raise InputError(path, "line 1", f"action items file is missing column(s) "
                         f"{', '.join(missing)}; it needs incident and title and may have "
                         f"{', '.join(ACTION_ITEM_CSV_COLUMNS[2:])}")
    frame = _frame(header, records)
    locate = _locate(lines)
    for column in ACTION_ITEM_CSV_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    for column in ("incident", "title"):
        empty = frame[column].isna()
        if empty.any():
            raise InputError(path, locate(_first_bad(empty)), f"{column} is empty")
    status_text = frame["status"].str.lower().str.replace(r"\s+", " ", regex=True)
    status = status_text.map(_STATUS)
    bad = status_text.notna() & status.isna()
    if bad.any():
        i = _first_bad(bad)
        raise InputError(path, f"{locate(i)}: status", f"unknown status {frame['status'].iloc[i]!r}; "
                         "expected done, open or wontfix (or a tracker's word for them)")
    kind = frame["type"].str.lower()
    bad = kind.notna() & ~kind.isin(ACTION_ITEM_TYPES)
    if bad.any():
        i = _first_bad(bad)
        raise InputError(path, f"{locate(i)}: type", f"unknown type {frame['type'].iloc[i]!r}; "
                         f"expected one of {', '.join(ACTION_ITEM_TYPES)}")
    times = {}
    for column in ("created", "closed"):
        try:
            times[column] = parse_timestamps(frame[column].fillna(""), tz, where="row")
        except TimestampError as exc:
            position = int(str(exc.where).split()[-1]) - 1
            raise InputError(path, f"{locate(position)}: {column}", exc.problem) from None
    due = pd.to_datetime(frame["due"].str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    bad = frame["due"].notna() & due.isna()
    if bad.any():
        i = _first_bad(bad)
        raise InputError(path, f"{locate(i)}: due", f"due date {frame['due'].iloc[i]!r} is not "
                         "YYYY-MM-DD")
    backwards = times["closed"].notna() & times["created"].notna() & (times["closed"] < times["created"])
    if backwards.any():
        raise InputError(path, f"{locate(_first_bad(backwards))}: closed",
                         "closed before it was created")
    url = frame["url"]
    bad = url.notna() & ~url.str.match(r"^https?://", case=False, na=False)
    if bad.any():
        i = _first_bad(bad)
        raise InputError(path, f"{locate(i)}: url", f"{url.iloc[i]!r} is not an http(s) link")
    # A status missing means open, unless the row says when it was closed.
    status = status.fillna(pd.Series(["done" if c else "open" for c in times["closed"].notna()],
                                     index=frame.index))
    return pd.DataFrame({
        "incident_id": frame["incident"], "title": frame["title"], "owner": frame["owner"],
        "type": kind, "priority": frame["priority"], "status": status,
        "due": due.dt.strftime("%Y-%m-%d").astype(object).where(due.notna(), None),
        "url": url, "created_at": times["created"], "closed_at": times["closed"],
        "line": [lines[i] for i in range(len(frame))],
    })
