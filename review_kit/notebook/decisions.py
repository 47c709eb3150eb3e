"""What the room decided (postmortem sections, milestones, key events, action items) as
static, escaped HTML: what a headless run shows instead of the facilitator's widgets, without
importing ipywidgets."""
from __future__ import annotations

from typing import Any

import pandas as pd

from .. import human
from ..model import ANNOTATION_FIELDS, MILESTONE_OVERRIDES, to_iso
from ..report.labels import MILESTONE_LABELS, SECTION_LABELS, kind_label
from ..report.tables import html_table


def redacted_column(values: pd.Series, redact: bool) -> pd.Series:
    values = values.astype(object).where(values.notna(), "")
    if not redact:
        return values
    from ..report.redact import redact as redact_text
    return values.map(lambda v: redact_text(str(v)))


def stamp_text(stamps: pd.Series) -> pd.Series:
    return stamps.dt.strftime("%Y-%m-%d %H:%M:%S")


def front_end_possible() -> bool:
    """True when a person's front end runs this cell: the request came from a client that
    can answer input (JupyterLab, Notebook and VS Code send ``allow_stdin``; papermill's
    nbclient and nbval never do). So a plain headless run shows the static summary
    whatever its ``interactive`` parameter says; outside a kernel, False."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None) if shell is not None else None
    return kernel is not None and bool(getattr(kernel, "_allow_stdin", False))


def static_summary(view: Any):
    """What the room decided, as escaped HTML tables: for papermill runs and exported reports."""
    from IPython.display import HTML

    data = view.data
    if view.redact:
        def text(value: Any) -> str:
            return "" if value is None else str(view.redactor.text(str(value)))
    else:
        def text(value: Any) -> str:
            return "" if value is None else str(value)

    rows = view.store.annotation_rows([view.incident_id])
    authors = dict(zip(rows["field"], rows["author"])) if len(rows) else {}
    parts = ["<h3>Decided in the review</h3>"]

    author = (lambda name: text(view.redactor.person(name))) if view.redact else text
    sections = [(SECTION_LABELS.get(f, f), text(data.annotations[f]), author(authors.get(f)))
                for f in ANNOTATION_FIELDS if data.annotations.get(f)]
    parts.append("<h4>Postmortem sections</h4>")
    parts.append(html_table(pd.DataFrame(sections, columns=["Section", "Text", "By"]))
                 if sections else "<p>No section written yet.</p>")

    milestones = pd.DataFrame({
        "Milestone": [MILESTONE_LABELS[m] for m in MILESTONE_OVERRIDES],
        "Time (UTC)": [human.time(data.metrics.get(m)) for m in MILESTONE_OVERRIDES],
        "Set by": ["set by hand" if data.annotations.get(m)
                   else "from the timeline" if to_iso(data.metrics.get(m)) else "not known"
                   for m in MILESTONE_OVERRIDES],
    })
    parts += ["<h4>Milestones</h4>", html_table(milestones, numeric=("Time (UTC)",))]

    timeline = data.timeline
    key = timeline[timeline["event_id"].astype(str).isin(set(data.key_events))]
    parts.append("<h4>Key events</h4>")
    if len(key):
        parts.append(html_table(pd.DataFrame({
            "Time (UTC)": key["at"].map(human.time), "Source": key["source"].astype(object),
            "Event": key["kind"].map(kind_label), "Who": redacted_column(key["actor"], view.redact),
            "What": redacted_column(key["summary"], view.redact)}), numeric=("Time (UTC)",)))
    else:
        parts.append("<p>No key events marked yet.</p>")

    items = data.action_items
    parts.append("<h4>Action items</h4>")
    if len(items):
        shown = items[["title", "owner", "type", "priority", "due", "status", "url"]].astype(object)
        shown = shown.where(shown.notna(), None)
        for column in ("title", "owner", "url"):
            shown[column] = shown[column].map(lambda v: None if v is None else text(v))
        shown["due"] = shown["due"].map(human.date)
        parts.append(html_table(shown.rename(columns={
            "title": "Action item", "owner": "Owner", "type": "Type", "priority": "Priority",
            "due": "Due", "status": "Status", "url": "Tracker"})))
    else:
        parts.append("<p>No action items recorded yet.</p>")
    return HTML("\n".join(parts))
