"""The postmortem draft: a context built from the review's frames, rendered to Markdown or HTML.

Escaping is on by default in both renderings. The Markdown environment passes every
``{{ … }}`` value through ``md_escape`` (a template opts out only by building a ``Markdown``
value with ``md_block``/``md_link``), and the HTML environment autoescapes, so a chat message
holding ``<script>`` or ``<img onerror=…>`` reaches the reader as text whatever the template.
"""
from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote, urlsplit

import jinja2
import markupsafe
import numpy as np
import pandas as pd

from .. import human
from ..errors import InputError
from ..model import (
    ANNOTATION_FIELDS,
    COMMS_KINDS,
    KEY_EVENT_PREFIX,
    MILESTONE_OVERRIDES,
    UTC,
    parse_timestamp,
)
from ..paths import TEMPLATES_DIR
from ..analysis.retrospective import silences_by_audience
from .labels import LIFECYCLE_DURATION_LABELS, MILESTONE_LABELS, kind_label
from .markup import markdown_html, safe_markdown
from .redact import redact_value

__all__ = [
    "DEFAULT_HTML_TEMPLATE", "DEFAULT_TEMPLATE", "Markdown", "PLACEHOLDER", "format_duration",
    "format_time", "md_block", "md_escape", "md_link", "postmortem_context",
    "render_postmortem", "render_postmortem_html", "safe_table_html", "seen_before_html",
]

DEFAULT_TEMPLATE = "postmortem.md.j2"
DEFAULT_HTML_TEMPLATE = "postmortem.html.j2"
PLACEHOLDER = "To be written in the review."
# The timeline a postmortem shows when nobody has marked key events yet.
FALLBACK_TIMELINE_KINDS: tuple[str, ...] = (
    "impact_started", "triggered", "acknowledged", "escalated", "severity_changed", "deploy",
    "mitigated", "resolved", "reopened", *sorted(COMMS_KINDS),
)
MAX_TIMELINE_ROWS = 200
MAX_SUMMARY_CHARS = 300
# Changes that went out this long before impact started are offered as trigger candidates.
TRIGGER_LOOKBACK = pd.Timedelta(hours=6)
_TRUE = frozenset({"true", "1", "yes", "y", "on"})


# --- escaping --------------------------------------------------------------------------------

class Markdown(str):
    """Text already safe to place in the Markdown postmortem as it is."""


_MD_INLINE_SPECIAL = re.compile(r"([\\`*|\[\]])")
_MD_LEADING = re.compile(r"^(\s*)([#+=-])")
_MD_ORDERED = re.compile(r"^(\s*\d+)([.)])")
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_escape(text: Any) -> str:
    """Source text as one line of inert Markdown, safe in a paragraph, a list or a table cell.

    HTML is neutralised (``&``, ``<``, ``>`` become entities), so are code spans, emphasis,
    links and images (`` ` ``, ``*``, ``[``, ``]`` and ``\\`` are backslash-escaped), table
    cells (``|``), and a leading ``#``, ``-``, ``+``, ``=`` or ``1.`` cannot start a heading
    or a list. Line breaks become spaces. None gives "".

    >>> md_escape("# <script>alert(1)</script> | `rm -rf` [x](javascript:y)")
    '\\\\# &lt;script&gt;alert(1)&lt;/script&gt; \\\\| \\\\`rm -rf\\\\` \\\\[x\\\\](javascript:y)'
    """
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA:
        return ""
    one_line = _WHITESPACE.sub(" ", _CONTROL.sub("", str(text)))
    escaped = _MD_INLINE_SPECIAL.sub(r"\\\1", _entities(one_line))
    return _MD_ORDERED.sub(r"\1\\\2", _MD_LEADING.sub(r"\1\\\2", escaped))


def md_block(text: Any) -> Markdown:
    """A facilitator's multi-line prose for a postmortem section.

    Read with a real Markdown parser and written back (``markup.safe_markdown``): lists,
    emphasis, code and http(s)/mailto links keep working; raw HTML becomes text, links to
    other schemes (inline or reference style) keep only their text, images are not loaded
    and headings cannot break the document's outline.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA:
        return Markdown("")
    body = _CONTROL.sub("", str(text).replace("\r\n", "\n").replace("\r", "\n")).strip("\n")
    return Markdown(safe_markdown(body))


def md_html(text: Any) -> markupsafe.Markup:
    """A facilitator's prose as sanitised HTML for the HTML postmortem (``markup.markdown_html``)."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA:
        return markupsafe.Markup("")
    return markupsafe.Markup(markdown_html(_CONTROL.sub("", str(text))))


_SAFE_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


def safe_url(url: Any) -> str | None:
    """An http(s) URL fit for a link, percent-encoding what would end a Markdown link or a
    table cell; None for anything else (``javascript:``, relative paths, text)."""
    if not isinstance(url, str) or not _SAFE_URL.match(url.strip()):
        return None
    return quote(url.strip(), safe="/:?#@!$&'*+,;=%~.-_")


def md_link(url: Any, label: Any = None) -> Markdown:
    """``[label](url)`` for an http(s) URL; other values are shown as escaped text."""
    href = safe_url(url)
    if href is None:
        return Markdown(md_escape(url))
    return Markdown(f"[{md_escape(label or _url_label(url))}]({href})")


def _url_label(url: str) -> str:
    parts = urlsplit(url.strip())
    tail = [p for p in parts.path.split("/") if p]
    return tail[-1] if tail else parts.netloc


def _md_finalize(value: Any) -> str:
    if isinstance(value, Markdown):
        return value
    if value is None:
        return ""
    return md_escape(value)


def safe_table_html(df: pd.DataFrame, *, index: bool = False, max_rows: int | None = None) -> str:
    """An HTML table of ``df`` with every cell, column name and index label escaped, so a
    chat message holding ``<script>`` shows as text in JupyterLab (wrap in
    ``IPython.display.HTML``). Links are never rendered."""
    return df.to_html(escape=True, index=index, na_rep="", render_links=False, border=0,
                      classes="review-kit-table", max_rows=max_rows)


# --- formatting ------------------------------------------------------------------------------

def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return False


def format_duration(seconds: Any) -> str:
    """Seconds as an incident manager says them (``human.duration``, the one formatter):
    ``45 s``, ``4 min 12 s``, ``1 h 5 min``, ``2 d 3 h``; "—" when unknown.

    >>> format_duration(252), format_duration(3900), format_duration(183600)
    ('4 min 12 s', '1 h 5 min', '2 d 3 h')
    """
    return human.duration(seconds)


def _timestamp(value: Any) -> pd.Timestamp | None:
    if _missing(value):
        return None
    return parse_timestamp(value)


def format_time(value: Any, *, seconds: bool = True) -> str:
    """``2024-03-01 10:04:12`` in UTC; "" when unknown."""
    stamp = _timestamp(value)
    if stamp is None:
        return ""
    return human.time(stamp, seconds=seconds)


def _text(value: Any) -> str | None:
    if _missing(value):
        return None
    text = str(value).strip()
    return text or None


def _short(text: str | None, limit: int = MAX_SUMMARY_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def history_phrase(rank: Any, severity: str | None) -> str | None:
    """"slower than 27 of 34 (80%) past SEV2 incidents (last 12 months)" from a rank entry;
    with few past incidents, counts alone ("slower than the 1 past SEV3 incident"), since a
    percentage of one or two incidents says more than it knows.

    A rank is a ready phrase, a percentile (0–100: the share of past incidents that were
    faster), or a mapping with ``percentile`` and optionally ``n``, ``severity``, ``window``
    (or ``text``).
    """
    if _missing(rank):
        return None
    if isinstance(rank, str):
        return rank
    if isinstance(rank, Mapping):
        if rank.get("text"):
            return str(rank["text"])
        percentile, n = rank.get("percentile"), rank.get("n")
        severity = rank.get("severity") or severity
        window = rank.get("window")
    else:
        percentile, n, window = rank, None, None
    if _missing(percentile):
        return None
    p = float(percentile)
    kind = f" {severity}" if severity else ""
    tail = f" ({window})" if window else ""
    if _missing(n) or int(n) <= 0:  # only the share is known
        if p >= 50:
            return f"slower than {p:.0f}% of past{kind} incidents{tail}"
        return f"faster than {100 - p:.0f}% of past{kind} incidents{tail}"
    n = int(n)
    slower = int(round(p * n / 100))
    if n == 1:
        text = (f"slower than the 1 past{kind} incident" if slower else
                f"not slower than the 1 past{kind} incident")
    elif slower == 0:
        text = f"not slower than any of {n} past{kind} incidents"
    elif slower == n:
        text = f"slower than all {n} past{kind} incidents"
    else:
        share = f" ({p:.0f}%)" if n >= 10 else ""
        text = f"slower than {slower} of {n}{share} past{kind} incidents"
    return text + tail


# --- the context -----------------------------------------------------------------------------

def _as_dict(row: Any) -> dict[str, Any]:
    if row is None:
        return {}
    if isinstance(row, pd.DataFrame):
        return row.iloc[0].to_dict() if len(row) else {}
    return dict(row)


def _annotations(annotations: Any) -> dict[str, str]:
    if annotations is None:
        return {}
    if isinstance(annotations, pd.DataFrame):
        if not {"field", "value"} <= set(annotations.columns):
            raise ValueError("annotations frame is missing column(s) field, value")
        annotations = dict(zip(annotations["field"].astype(str), annotations["value"]))
    return {str(k): v for k, v in dict(annotations).items()}


def _action_items(items: Any) -> list[dict[str, Any]]:
    if items is None:
        return []
    records = items.to_dict("records") if isinstance(items, pd.DataFrame) else list(items)
    out = []
    for item in records:
        item = dict(item)
        url = _text(item.get("url"))
        out.append({
            "id": item.get("id"),
            "title": _text(item.get("title")) or "",
            "owner": _text(item.get("owner")) or "",
            "type": _text(item.get("type")) or "",
            "priority": _text(item.get("priority")) or "",
            "status": _text(item.get("status")) or "",
            "due": _date(item.get("due")),
            "url": url or "",
            "tracker_href": safe_url(url),
            "tracker_label": _url_label(url) if safe_url(url) else (url or ""),
        })
    return out


def _date(value: Any) -> str:
    """A due date as YYYY-MM-DD, whatever form the editor or the store gave it."""
    if _missing(value):
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d")
    text = str(value).strip()
    match = re.match(r"^\d{4}-\d{2}-\d{2}", text)
    return match.group(0) if match else text


def _event_rows(frame: pd.DataFrame, key_ids: set[str] | frozenset[str] = frozenset()
                ) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    columns = [c for c in ("event_id", "at", "source", "kind", "actor", "summary", "status")
               if c in frame.columns]
    records = frame.loc[:, columns].astype(object).where(frame.loc[:, columns].notna(), None)
    rows = []
    for record in records.to_dict("records"):
        rows.append({
            "_at": _timestamp(record.get("at")),
            "event_id": record.get("event_id"),
            "event": kind_label(record.get("kind")),
            "at": format_time(record.get("at")),
            "time": format_time(record.get("at")),
            "source": _text(record.get("source")) or "",
            "kind": _text(record.get("kind")) or "",
            "actor": _text(record.get("actor")) or "",
            "summary": _short(_text(record.get("summary"))) or "",
            "status": _text(record.get("status")) or "",
            "is_key": str(record.get("event_id")) in key_ids,
        })
    return rows


def _sorted_events(events: pd.DataFrame | None) -> pd.DataFrame:
    if events is None or len(events) == 0:
        return pd.DataFrame({"at": pd.Series([], dtype="datetime64[us, UTC]"),
                             "kind": pd.Series([], dtype=object)})
    if "at" not in events.columns or "kind" not in events.columns:
        raise ValueError("events is missing column(s) at, kind")
    frame = events[events["at"].notna()]
    order = [c for c in ("at", "seq") if c in frame.columns]
    return frame.sort_values(order, kind="stable")


def _timeline(events: pd.DataFrame, annotations: Mapping[str, Any],
              metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every milestone, the key events the room marked and the lifecycle and communication
    events, in time order. A marked event is never the whole timeline, and when the rows
    must be cut the marked ones are kept first."""
    key_ids = {field[len(KEY_EVENT_PREFIX):] for field, value in annotations.items()
               if field.startswith(KEY_EVENT_PREFIX)
               and str(value).strip().lower() in _TRUE}
    marked = (events["event_id"].astype(object).isin(key_ids) if key_ids and "event_id" in events.columns
              else pd.Series(False, index=events.index))
    lifecycle = events["kind"].astype(object).isin(FALLBACK_TIMELINE_KINDS)
    chosen = events[marked | lifecycle]
    room = MAX_TIMELINE_ROWS
    if len(chosen) > room:
        keep = chosen[marked[chosen.index]]
        rest = chosen[~marked[chosen.index]].head(max(room - len(keep), 0))
        chosen = pd.concat([keep, rest]).sort_values([c for c in ("at", "seq") if c in chosen],
                                                     kind="stable")
    omitted = int((marked | lifecycle).sum()) - len(chosen)
    rows = _event_rows(chosen, key_ids)
    for row in rows:
        row["sort"] = row.pop("_at")
        row["milestone"] = False
    for field in MILESTONE_OVERRIDES:
        stamp = _timestamp((metrics or {}).get(field))
        if stamp is None:
            continue
        by_hand = _text(annotations.get(field)) is not None
        rows.append({"event_id": None, "at": format_time(stamp), "time": format_time(stamp),
                     "source": "set in the review" if by_hand else "from the timeline",
                     "kind": "milestone", "event": f"Milestone: {MILESTONE_LABELS[field]}",
                     "actor": "", "summary": "", "status": "", "is_key": False,
                     "milestone": True, "sort": stamp})
    rows.sort(key=lambda r: (r["sort"], not r["milestone"]))
    for row in rows:
        row.pop("sort")
    return {"basis": "milestones_and_key_events", "rows": rows, "omitted": max(omitted, 0),
            "key_event_count": int(marked.sum())}


def _milestones(metrics: Mapping[str, Any], annotations: Mapping[str, Any]) -> list[dict]:
    out = []
    for field in MILESTONE_OVERRIDES:
        stamp = _timestamp(metrics.get(field))
        out.append({
            "name": field, "label": MILESTONE_LABELS.get(field, field),
            "at": stamp.isoformat().replace("+00:00", "Z") if stamp is not None else None,
            "time": format_time(stamp) if stamp is not None else "",
            "set_by_facilitator": _text(annotations.get(field)) is not None,
        })
    return out


def _durations(metrics: Mapping[str, Any], history_ranks: Mapping[str, Any] | None,
               severity: str | None) -> list[dict]:
    ranks = dict(history_ranks or {})
    out = []
    for name, label in LIFECYCLE_DURATION_LABELS.items():
        seconds = metrics.get(name)
        seconds = None if _missing(seconds) else float(seconds)
        out.append({"name": name, "label": label, "seconds": seconds,
                    "text": format_duration(seconds),
                    "history": history_phrase(ranks.get(name), severity)})
    return out


def _history_ranks(history_ranks: Any) -> dict[str, Any] | None:
    if history_ranks is None:
        return None
    if isinstance(history_ranks, pd.DataFrame):
        if "metric" not in history_ranks.columns:
            raise ValueError("history_ranks frame is missing column metric")
        return {str(r["metric"]): r for r in history_ranks.to_dict("records")}
    return dict(history_ranks)


def _breach_rows(gaps: pd.DataFrame | None, incident_id: Any) -> tuple[list[dict], int]:
    if gaps is None or len(gaps) == 0:
        return [], 0
    frame = gaps
    if incident_id is not None and "incident_id" in frame.columns:
        frame = frame[frame["incident_id"].astype(object) == incident_id]
    breached = frame[frame["breach"].fillna(False).astype(bool)] if "breach" in frame else \
        frame.iloc[0:0]
    rows = [{
        "audience": _text(r.get("audience")) or "",
        "start": format_time(r.get("gap_start")), "end": format_time(r.get("gap_end")),
        "silence": format_duration(r.get("seconds")),
        "limit": format_duration(r.get("limit_seconds")),
    } for r in breached.sort_values("gap_start", kind="stable").to_dict("records")]
    return rows, len(frame)


def _facts(events: pd.DataFrame, metrics: Mapping[str, Any], incident: Mapping[str, Any],
           durations: dict[str, dict]) -> dict[str, list[str]]:
    """What the timeline already says about some sections, offered beside the placeholder."""
    started, detected, mitigated, resolved = (
        _timestamp(metrics.get(f"{name}_at"))
        for name in ("started", "detected", "mitigated", "resolved"))
    impact, detection, resolution, trigger = [], [], [], []
    severity, service = _text(metrics.get("severity") or incident.get("severity")), \
        _text(incident.get("service") or metrics.get("service"))
    if severity or service:
        impact.append(" on ".join(p for p in (severity, service) if p) + ".")
    if started is not None and mitigated is not None:
        impact.append(f"Impact lasted {durations['impact_duration']['text']}, from "
                      f"{format_time(started)} to {format_time(mitigated)} UTC.")
    first_signal = events[events["kind"].astype(object).isin(("alert_firing", "triggered"))]
    if not first_signal.empty:
        first = first_signal.iloc[0]
        what = _short(_text(first.get("summary")), 160) or first["kind"]
        detection.append(f"First signal at {format_time(first['at'])} UTC from "
                         f"{_text(first.get('source')) or 'an unknown source'}: {what}.")
    elif detected is not None:
        detection.append(f"Detected at {format_time(detected)} UTC.")
    def measured(name: str) -> bool:  # a duration the data supports (unknown is not zero)
        return not _missing(metrics.get(name))

    if started is not None and detected is not None:
        detection.append(f"Detected {durations['time_to_detect']['text']} after impact started."
                         if measured("time_to_detect") else
                         "The time from impact to detection is not known.")
    if measured("time_to_acknowledge"):
        detection.append(
            f"Acknowledged {durations['time_to_acknowledge']['text']} after detection.")
    if mitigated is not None:
        resolution.append(f"Mitigated at {format_time(mitigated)} UTC"
                          + (f" ({durations['time_to_mitigate']['text']} after detection)."
                             if measured("time_to_mitigate") else "."))
    if resolved is not None:
        resolution.append(f"Resolved at {format_time(resolved)} UTC"
                          + (f" ({durations['time_to_resolve']['text']} after detection)."
                             if measured("time_to_resolve") else "."))
    elif "resolved_at" in metrics:
        resolution.append("Not resolved in the record.")
    reopened = metrics.get("reopened")
    if not _missing(reopened) and int(reopened) > 0:
        resolution.append(f"Reopened {int(reopened)} time{'s' if int(reopened) != 1 else ''}.")
    anchor = started if started is not None else detected
    if anchor is not None and len(events):
        until = resolved if resolved is not None else events["at"].max()
        deploys = events[(events["kind"].astype(object) == "deploy")
                         & (events["at"] >= anchor - TRIGGER_LOOKBACK) & (events["at"] <= until)]
        for record in deploys.head(10).to_dict("records"):
            trigger.append(f"Change at {format_time(record['at'])} UTC"
                           f" ({_text(record.get('source')) or 'unknown source'}): "
                           f"{_short(_text(record.get('summary')), 160) or 'deploy'}")
    return {"impact": impact, "detection": detection, "resolution": resolution,
            "trigger": trigger}


def _silences(gaps: pd.DataFrame | None, incident_id: Any) -> list[dict[str, str]]:
    """The longest silence per audience, from the gap table the audit lists."""
    if gaps is None or len(gaps) == 0:
        return []
    frame = gaps
    if incident_id is not None and "incident_id" in frame.columns:
        frame = frame[frame["incident_id"].astype(object) == incident_id]
    table = silences_by_audience(frame)
    return [{"audience": str(r["audience"]), "longest": format_duration(r["longest_silence"]),
             "breaches": int(r["breaches"])} for r in table.to_dict("records")]


def _impact_numbers(metrics: Mapping[str, Any], events: pd.DataFrame, breaches: list,
                    silences: list[dict[str, str]]) -> list[str]:
    """The incident in numbers, one short line each; a number nobody knows is left out."""
    lines = []
    started, mitigated = _timestamp(metrics.get("started_at")), _timestamp(metrics.get("mitigated_at"))
    if not _missing(metrics.get("impact_duration")) and started is not None and mitigated is not None:
        lines.append(f"Impact lasted {format_duration(metrics['impact_duration'])}, from "
                     f"{format_time(started, seconds=False)} to {format_time(mitigated, seconds=False)} UTC.")
    phases = [(name, label) for name, label in (("time_to_detect", "detected"),
                                                ("time_to_acknowledge", "acknowledged"),
                                                ("time_to_mitigate", "mitigated"),
                                                ("time_to_resolve", "resolved"))
              if not _missing(metrics.get(name))]
    if phases:
        lines.append("; ".join(f"{label} after {format_duration(metrics[name])}"
                               for name, label in phases).capitalize()
                     + " (detection measured from impact, the rest from detection).")
    kinds = events["kind"].astype(object) if "kind" in events else pd.Series(dtype=object)
    external, internal = int((kinds == "status_update").sum()), int((kinds == "stakeholder_update").sum())
    updates = f"{external} status page update{'s' if external != 1 else ''} and {internal} " \
              f"stakeholder update{'s' if internal != 1 else ''}"
    if silences:
        updates += "; longest silence " + human.listing(
            [f"{s['audience']} {s['longest']}" for s in silences])
    lines.append(updates + f"; {len(breaches)} gap{'s' if len(breaches) != 1 else ''} longer "
                 "than the policy.")
    responders = metrics.get("responder_count")
    if not _missing(responders):
        escalations = _int_or_none(metrics.get("escalations")) or 0
        handoffs = _int_or_none(metrics.get("handoffs")) or 0
        lines.append(f"{int(responders)} responder{'s' if int(responders) != 1 else ''}, "
                     f"{escalations} escalation{'s' if escalations != 1 else ''}, "
                     f"{handoffs} hand-off{'s' if handoffs != 1 else ''}.")
    return lines


def postmortem_context(incident: Mapping[str, Any] | pd.Series | None,
                       metrics_row: Mapping[str, Any] | pd.Series | None,
                       events: pd.DataFrame | None,
                       annotations: Mapping[str, Any] | pd.DataFrame | None,
                       action_items: Sequence[Mapping[str, Any]] | pd.DataFrame | None,
                       gaps: pd.DataFrame | None = None, *,
                       history_ranks: Mapping[str, Any] | pd.DataFrame | None = None,
                       redact: bool = False,
                       figures: Mapping[str, str] | None = None,
                       seen_before: Mapping[str, Any] | None = None,
                       authors: str | None = None) -> dict[str, Any]:
    """Everything the postmortem templates show, as plain values (text unescaped: the
    templates escape).

    ``history_ranks``: per duration name, a phrase, a percentile (0–100, share of past
    incidents that were faster) or a mapping (``percentile``, ``n``, ``severity``,
    ``window``). ``redact``: emails, phone numbers and secrets replaced in every text of
    the context. ``figures``: name → relative path of a saved figure (``timeline`` →
    ``timeline.png``) to embed. ``seen_before``: the similar past incidents (``matches``,
    ``considered``, ``empty``: the sentence when nothing is similar), as
    ``RetrospectiveView.seen_before_context`` gives them. ``authors``: who wrote it (the
    facilitator), when the ``authors`` annotation does not say.

    Keys: ``incident_id, title, severity, service, team, commander, incident_status, url,
    date, authors, document_status, sections`` (annotation field → text or None),
    ``facts`` (hints per section from the timeline), ``milestones, durations,
    communication, coordination, action_items, timeline`` (``basis`` "key_events" or
    "lifecycle", ``rows``, ``omitted``), ``supporting, figures, redacted, placeholder``.
    """
    incident_d, metrics = _as_dict(incident), _as_dict(metrics_row)
    notes = _annotations(annotations)
    frame = _sorted_events(events)
    incident_id = incident_d.get("incident_id") or metrics.get("incident_id")
    severity = _text(incident_d.get("severity") or metrics.get("severity"))
    title = _text(incident_d.get("title") or metrics.get("title")) or str(incident_id or "Incident")

    durations = _durations(metrics, _history_ranks(history_ranks), severity)
    by_name = {d["name"]: d for d in durations}
    breaches, gap_count = _breach_rows(gaps, incident_id)
    silences = _silences(gaps, incident_id)
    started = _timestamp(metrics.get("started_at")) or _timestamp(metrics.get("detected_at")) \
        or _timestamp(incident_d.get("created_at"))
    # The day it happened, even when only its resolution or its events carry a time.
    day = started or _timestamp(metrics.get("resolved_at")) or (
        _timestamp(frame["at"].min()) if "at" in frame.columns and len(frame) else None)
    responders = metrics.get("responders")
    if not isinstance(responders, (list, tuple, np.ndarray)):
        responders = []
    responders = [str(r) for r in responders]
    sources = (frame["source"].astype(object).fillna("unknown").value_counts(sort=False)
               if "source" in frame.columns else pd.Series(dtype=int))
    resolved = metrics.get("is_resolved")
    incident_status = _text(incident_d.get("status")) or (
        "resolved" if resolved is True else "unresolved" if resolved is False else None)

    context: dict[str, Any] = {
        "incident_id": _text(incident_id) or "",
        "title": title,
        "severity": severity or "",
        "service": _text(incident_d.get("service") or metrics.get("service")) or "",
        "team": _text(incident_d.get("team") or metrics.get("team")) or "",
        "commander": _text(metrics.get("commander") or incident_d.get("commander")) or "",
        "incident_status": incident_status or "",
        "url": _text(incident_d.get("url")) or "",
        "url_href": safe_url(_text(incident_d.get("url"))),
        "date": day.strftime("%Y-%m-%d") if day is not None else "",
        "authors": _text(notes.get("authors")) or _text(authors),
        "period": (f"{format_time(started, seconds=False)} to "
                   f"{format_time(metrics.get('resolved_at'), seconds=False) or 'not resolved'}"
                   if started is not None else ""),
        "impact_numbers": _impact_numbers(metrics, frame, breaches, silences),
        "document_status": _text(notes.get("document_status")) or "Draft",
        "sections": {field: _text(notes.get(field)) for field in ANNOTATION_FIELDS},
        "facts": _facts(frame, metrics, incident_d, by_name),
        "milestones": _milestones(metrics, notes),
        "durations": durations,
        "communication": {
            "time_to_first_update": format_duration(metrics.get("time_to_first_update")),
            "longest_silence": format_duration(metrics.get("longest_silence")),
            "silences": silences,
            # Unknown (no communication window) is shown as unknown, never as 0.
            "cadence_breaches": int(metrics["cadence_breaches"])
            if not _missing(metrics.get("cadence_breaches"))
            else (len(breaches) if gap_count else "—"),
            "breaches": breaches,
            "gap_count": gap_count,
        },
        "coordination": {
            "responders": responders,
            "responder_count": int(metrics["responder_count"])
            if not _missing(metrics.get("responder_count")) else len(responders),
            "escalations": _int_or_none(metrics.get("escalations")),
            "handoffs": _int_or_none(metrics.get("handoffs")),
            "reopened": _int_or_none(metrics.get("reopened")),
        },
        "action_items": _action_items(action_items),
        "timeline": _timeline(frame, notes, metrics),
        "supporting": {
            "event_count": int(len(frame)),
            "sources": [{"source": str(s), "events": int(n)} for s, n in sources.items()],
            "first_event": format_time(frame["at"].iloc[0]) if len(frame) else "",
            "last_event": format_time(frame["at"].iloc[-1]) if len(frame) else "",
        },
        "figures": [{"name": str(name), "path": str(path), "href": quote(str(path), safe="/._-")}
                    for name, path in dict(figures or {}).items()],
        "redacted": bool(redact),
        "placeholder": PLACEHOLDER,
        "seen_before": _seen_before(seen_before),
    }
    if redact:
        context = redact_value(context)
        # A link target that changed in redaction is no longer the reviewed link.
        for item in context["action_items"]:
            item["tracker_href"] = safe_url(item["url"])
        context["url_href"] = safe_url(context["url"])
    return context


def _seen_before(seen: Mapping[str, Any] | None) -> dict[str, Any]:
    """The "Seen before" section: never missing; without a search it says it was not run."""
    if seen is None:
        return {"matches": [], "considered": 0,
                "empty": "Similar past incidents were not looked up for this draft."}
    matches = []
    for card in seen.get("matches") or []:
        card = dict(card)
        link = card.get("retrospective")
        card["retrospective_href"] = quote(str(link), safe="/._-") if link else None
        matches.append(card)
    return {"matches": matches, "considered": int(seen.get("considered") or 0),
            "empty": seen.get("empty") or ("" if matches else "No similar past incident.")}


def seen_before_html(seen: Mapping[str, Any]) -> str:
    """The "Seen before" section as escaped HTML for the notebook (the same words as the
    postmortem): one block per similar incident, or the sentence saying none is similar."""
    from html import escape
    section = _seen_before(seen)
    if not section["matches"]:
        return f"<p class='rk-seen-before-empty'>{escape(section['empty'])}</p>"
    parts = []
    for card in section["matches"]:
        head = escape(f"{card['incident_id']} · {card.get('date') or 'date unknown'} · "
                      f"{card.get('severity') or 'severity unknown'}")
        title = escape(str(card.get("title") or ""))
        link = (f" (<a href='{escape(card['retrospective_href'])}'>its retrospective</a>)"
                if card.get("retrospective_href") else "")
        items = card.get("action_items") or []
        if items:
            rows = "".join(
                f"<tr><td>{escape(i['title'])}</td><td>{escape(i['owner'] or '—')}</td>"
                f"<td>{escape(i['state'])}</td><td>{escape(i['due'] or '—')}</td>"
                f"<td>{escape(i['closed'] or '—')}</td></tr>" for i in items)
            table = ("<table class='review-kit-table'><thead><tr><th>Action item</th><th>Owner</th>"
                     "<th>Status</th><th>Due</th><th>Closed</th></tr></thead><tbody>"
                     f"{rows}</tbody></table>")
        else:
            table = "<p>No action items were recorded for it.</p>"
        parts.append(f"<div class='rk-seen-before'><h4>{head}: {title}{link}</h4>"
                     f"<p>Why: {escape(str(card.get('why') or ''))}</p>{table}</div>")
    return "".join(parts)


def _int_or_none(value: Any) -> int | None:
    return None if _missing(value) else int(value)


# --- rendering -------------------------------------------------------------------------------

def _template_source(template: str | Path | None, default: str) -> tuple[list[Path], str, Path]:
    if template is None or str(template) == "":
        return [TEMPLATES_DIR], default, TEMPLATES_DIR / default
    path = Path(template).expanduser()
    if not path.is_file():
        raise InputError(str(path), None, "no such template file")
    # The user's folder first, so their template can include its own partials, then ours.
    return [path.resolve().parent, TEMPLATES_DIR], path.name, path


@functools.lru_cache(maxsize=16)
def _environment(search: tuple[str, ...], *, html: bool) -> jinja2.Environment:
    # Cached so a batch of reports compiles each template once; Jinja reloads a template
    # whose file changed on disk, so an edited --template is still picked up.
    common = dict(loader=jinja2.FileSystemLoader(list(search)),
                  undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                  keep_trailing_newline=True)
    if html:
        env = jinja2.Environment(autoescape=True, **common)
        env.filters.update(md_html=md_html)
    else:
        env = jinja2.Environment(autoescape=False, finalize=_md_finalize, **common)
        env.filters.update(md=lambda v: Markdown(md_escape(v)), md_block=md_block,
                           md_link=md_link)
    env.filters.update(duration=format_duration, utc=format_time)
    env.globals.update(PLACEHOLDER=PLACEHOLDER)
    return env


def _render(context: Mapping[str, Any], template: str | Path | None, default: str,
            html: bool) -> str:
    search, name, path = _template_source(template, default)
    env = _environment(tuple(str(p) for p in search), html=html)
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(exc.filename or str(path), f"line {exc.lineno}", exc.message or
                         "template syntax error") from None
    except jinja2.TemplateNotFound as exc:
        raise InputError(str(path), None, f"template not found: {exc.name}") from None
    except jinja2.UndefinedError as exc:
        raise InputError(str(path), "render", str(exc)) from None


def render_postmortem(context: Mapping[str, Any], template: str | Path | None = None) -> str:
    """The postmortem as Markdown, from ``templates/postmortem.md.j2`` or the given template
    file (``--template``). Every value a template prints is Markdown-escaped unless it was
    made with ``md_block`` or ``md_link``. A bad template raises ``InputError`` naming it.
    """
    return _render(context, template, DEFAULT_TEMPLATE, html=False)


def render_postmortem_html(context: Mapping[str, Any], template: str | Path | None = None) -> str:
    """The postmortem as a standalone HTML page (autoescaped; a Content-Security-Policy
    forbids scripts), from ``templates/postmortem.html.j2`` or the given template file."""
    return _render(context, template, DEFAULT_HTML_TEMPLATE, html=True)
