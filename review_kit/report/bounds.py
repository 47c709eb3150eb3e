"""Long texts cut for display, so a report's cost does not grow with one field's size.

A 1 MB title or a pasted log in a chat message is shown up to a limit, followed by a marker
that says how much was left out; the store keeps the whole text. The limit is
``[limits] text_chars`` in review-kit.toml (default 2,000 characters).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import pandas as pd

__all__ = ["DEFAULT_TEXT_CHARS", "bounded_incident", "cut", "cut_series", "text_limit"]

DEFAULT_TEXT_CHARS = 2000
_INCIDENT_FIELDS = ("title", "severity_raw", "status", "service", "team", "commander", "url",
                    "source_id")


def text_limit(config: Mapping[str, Any] | None) -> int:
    """``[limits] text_chars`` (at least 80), else the default."""
    from ..errors import InputError
    value = ((config or {}).get("limits") or {}).get("text_chars", DEFAULT_TEXT_CHARS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 80:
        raise InputError(None, "[limits] text_chars", f"expected a whole number of at least 80, "
                         f"not {value!r}")
    return value


def _marker(left_out: int) -> str:
    return f" … [{left_out:,} more characters cut]"


def cut(text: Any, limit: int) -> Any:
    """``text`` up to ``limit`` characters and a marker; other values unchanged.

    >>> cut("x" * 100, 80)[-30:]
    'xxx … [20 more characters cut]'
    """
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[:limit] + _marker(len(text) - limit)


def cut_series(values: pd.Series, limit: int) -> pd.Series:
    """A column with each text longer than ``limit`` cut (only those rows are touched)."""
    if values.empty or not (pd.api.types.is_object_dtype(values.dtype)
                            or pd.api.types.is_string_dtype(values.dtype)):
        return values
    lengths = values.astype(object).map(lambda v: len(v) if isinstance(v, str) else 0)
    long = lengths > limit
    if not long.any():
        return values
    out = values.astype(object).copy()
    out[long] = [cut(v, limit) for v in out[long]]
    return out


def bounded_incident(data: Any, limit: int) -> Any:
    """One incident's review (``IncidentData``) with every displayed text cut to ``limit``."""
    incident = {k: cut(v, limit) if k in _INCIDENT_FIELDS else v for k, v in data.incident.items()}
    metrics = {k: cut(v, limit) if isinstance(v, str) else v for k, v in data.metrics.items()}
    if isinstance(metrics.get("responders"), list):
        metrics["responders"] = [cut(p, limit) for p in metrics["responders"]]
    timeline = data.timeline
    columns = [c for c in ("summary", "actor", "target", "status") if c in timeline.columns]
    if columns and any(cut_series(timeline[c], limit) is not timeline[c] for c in columns):
        timeline = timeline.assign(**{c: cut_series(timeline[c], limit) for c in columns})
    annotations = {k: cut(v, limit * 5) for k, v in data.annotations.items()}  # prose is longer
    items = data.action_items
    if len(items):
        items = items.assign(**{c: cut_series(items[c], limit) for c in ("title", "owner", "url")
                                if c in items.columns})
    return replace(data, incident=incident, metrics=metrics, timeline=timeline,
                   annotations=annotations, action_items=items)
