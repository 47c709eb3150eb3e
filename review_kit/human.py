"""How every output writes a value for people: durations, times, shares, counts and lists.

One formatter per kind of value, used by every table, sentence and chart label, so a
duration reads "1 h 28 min" wherever it appears. Unknown values are written ``MISSING``
("—"), never "nan", "NaT" or "None". Times are written without their zone: they are UTC
inside, and the table header or the sentence says so once (``TIME_ZONE``).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

__all__ = ["MISSING", "TIME_ZONE", "cell", "count", "date", "duration", "is_missing", "listing",
           "number", "share", "time", "words"]

MISSING = "—"
TIME_ZONE = "UTC"
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def is_missing(value: Any) -> bool:
    """None, NaN, NaT and pandas' NA: a value nobody knows."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return bool(pd.isna(value))
    return False


def duration(seconds: Any) -> str:
    """Seconds as an incident manager says them, to two units at most.

    Under a minute in seconds, under ten minutes in minutes and seconds, under an hour in
    whole minutes, then hours and minutes, then days and hours; "—" when unknown.

    >>> duration(45), duration(252), duration(2700), duration(5280), duration(183600)
    ('45 s', '4 min 12 s', '45 min', '1 h 28 min', '2 d 3 h')
    """
    if is_missing(seconds):
        return MISSING
    value = float(seconds)
    if not math.isfinite(value):
        return MISSING
    sign = "-" if value < 0 else ""
    total = abs(value)
    if total < 600:
        whole = int(round(total))
        minutes, secs = divmod(whole, 60)
        if not minutes:
            return f"{sign}{secs} s"
        return sign + f"{minutes} min" + (f" {secs} s" if secs else "")
    if total < 3600:
        minutes = int(round(total / 60))
        return f"{sign}{minutes} min" if minutes < 60 else f"{sign}1 h"
    if total < 86400:
        whole_minutes = int(round(total / 60))
        hours, minutes = divmod(whole_minutes, 60)
        if hours >= 24:
            return f"{sign}1 d"
        return sign + f"{hours} h" + (f" {minutes} min" if minutes else "")
    whole_hours = int(round(total / 3600))
    days, hours = divmod(whole_hours, 24)
    return sign + f"{days} d" + (f" {hours} h" if hours else "")


def time(value: Any, *, seconds: bool = True) -> str:
    """A moment as ``2024-03-01 10:04:12`` in UTC (the zone is said once, by the caller);
    "—" when unknown. Text is read as ISO 8601; a time without a zone is refused."""
    if is_missing(value):
        return MISSING
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return MISSING
    if stamp.tzinfo is None:
        raise ValueError(f"time without a zone: {value!r}")
    return stamp.tz_convert("UTC").strftime(_TIME_FORMAT if seconds else "%Y-%m-%d %H:%M")


def date(value: Any) -> str:
    """A day as ``2024-03-01``; "—" when unknown."""
    if is_missing(value):
        return MISSING
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d")
    text = str(value).strip()
    return text[:10] if len(text) >= 10 and text[4] == "-" else (text or MISSING)


def period(value: Any) -> str:
    """A reporting period as people name it: ``Mar 2024``, ``Q1 2024``, ``2024``, ``week of
    4 Mar 2024``, ``4 Mar 2024`` (a pandas Period or its text); other text as it is."""
    if is_missing(value):
        return MISSING
    import pandas as pd
    text = str(value)
    if not isinstance(value, pd.Period) and text.count("/") == 1:  # a week's text: first/last day
        try:
            first, last = (pd.Timestamp(part) for part in text.split("/"))
        except ValueError:
            return text
        if (last - first).days == 6:
            return f"week of {first.day} {first:%b %Y}"
        return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"
    try:
        value = value if isinstance(value, pd.Period) else pd.Period(text)
    except (ValueError, TypeError):
        return str(value)
    start = value.start_time
    code = value.freqstr.split("-")[0].upper()
    day = f"{start.day} {start:%b %Y}"
    if code.startswith("Q"):
        return f"Q{value.quarter} {value.year}"
    if code in ("Y", "A", "YE", "AS", "YS"):
        return str(value.year)
    if code.startswith("M"):
        return f"{start:%b %Y}"
    if code.startswith("W"):
        return f"week of {day}"
    if code == "D":
        return day
    return str(value)


def number(value: Any, digits: int = 1) -> str:
    """A number with thousands separators; whole numbers without decimals."""
    if is_missing(value):
        return MISSING
    value = float(value)
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def count(value: Any) -> str:
    """A whole count: ``1,234``; "—" when unknown."""
    if is_missing(value):
        return MISSING
    return f"{int(value):,}"


def share(value: Any, of: Any = None) -> str:
    """A share as a percentage: ``42%``, or ``3 of 7 (43%)`` when the count is given."""
    if is_missing(value):
        return MISSING
    percent = float(value) * 100
    text = f"{percent:.0f}%" if abs(percent) >= 10 or percent == 0 else f"{percent:.1f}%"
    if of is not None and not is_missing(of):
        return f"{round(float(value) * float(of)):,} of {int(of):,} ({text})"
    return text


def listing(items: Any, *, conjunction: str = "and") -> str:
    """Items as text: ``a, b and c``; "—" for none. Never a Python list's repr."""
    if items is None or (not isinstance(items, (list, tuple, set, frozenset, np.ndarray,
                                                 pd.Series, pd.Index)) and is_missing(items)):
        return MISSING
    if isinstance(items, str):
        return items
    values = [str(v) for v in (sorted(items) if isinstance(items, (set, frozenset)) else items)
              if not is_missing(v) and str(v).strip()]
    if not values:
        return MISSING
    if len(values) == 1:
        return values[0]
    return ", ".join(values[:-1]) + f" {conjunction} " + values[-1]


def words(name: str) -> str:
    """A field name as a header: ``time_to_acknowledge`` → ``Time to acknowledge``."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def cell(value: Any) -> str:
    """Any table value as text: lists as lists, times in the one format, "—" for unknown."""
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return listing(value)
    if is_missing(value):
        return MISSING
    if isinstance(value, (pd.Timestamp,)) or (hasattr(value, "tzinfo") and hasattr(value, "hour")):
        return time(value)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return number(value)
    return str(value)

