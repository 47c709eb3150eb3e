"""The facilitator's widgets: explore the timeline, mark key events, set milestones by hand, write
the postmortem sections and the action items, every change saved to the store at once.

Every write goes through the small save path at the top of this module (``save_annotation``,
``save_milestone``, ``mark_key_event``, ``save_action_item``); the widgets only gather values,
call it and show what happened. Text that came from a source is escaped before it reaches an
HTML widget (``safe_table_html``); option labels and ``Label`` values are set as DOM text by
ipywidgets, so they cannot carry markup either.
"""
from __future__ import annotations

import getpass
import io
import os
import re
from datetime import date, datetime, timezone
from html import escape
from typing import Any, Callable, Iterable, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..analysis.durations import refused_override
from ..errors import ReviewKitError, TimestampError
from ..model import (
    ACTION_ITEM_STATUSES,
    ACTION_ITEM_TYPES,
    ANNOTATION_FIELDS,
    KEY_EVENT_PREFIX,
    MILESTONE_OVERRIDES,
    NOT_RELATED_PREFIX,
    parse_timestamp,
    to_iso,
)
from ..report.labels import DURATION_LABELS, MILESTONE_LABELS, SECTION_LABELS, kind_label
from ..report.postmortem import safe_table_html, safe_url
from ..store import Store
from .decisions import front_end_possible, redacted_column, stamp_text, static_summary  # noqa: F401

__all__ = [
    "ActionItemEditor", "AnnotationForm", "FacilitatorPanel", "KeyEventMarker", "MilestoneEditor",
    "SECTION_LABELS", "SaveError", "SeenBeforeList", "TimelineExplorer", "default_author",
    "dismiss_similar", "filter_timeline",
    "front_end_possible", "mark_key_event", "parse_milestone", "save_action_item",
    "save_annotation", "save_milestone", "static_summary", "timeline_explorer",
]

ACTION_ITEM_PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4")
# An HTML table of thousands of rows makes the browser crawl; the count label says how many matched.
MAX_TABLE_ROWS = 200
MAX_KEY_EVENT_OPTIONS = 300
# A milestone must be written as a date and time: bare digits would read as epoch seconds.
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_WIDE = widgets.Layout(width="100%")


class SaveError(ReviewKitError):
    """What was typed cannot be saved (a time that does not parse, an unknown field…)."""


# --- the save path ---------------------------------------------------------------------------

def default_author() -> str | None:
    """Who is typing: $REVIEW_KIT_AUTHOR, else the login name; None when nothing says."""
    for variable in ("REVIEW_KIT_AUTHOR", "USER", "USERNAME"):
        if os.environ.get(variable, "").strip():
            return os.environ[variable].strip()
    try:
        return getpass.getuser() or None
    except (OSError, KeyError):  # no passwd entry (containers with an arbitrary uid)
        return None


def _author(author: str | None) -> str | None:
    author = (author or "").strip()
    return author or None


def save_annotation(store: Store, incident_id: str, field: str, value: str | None,
                    author: str | None = None) -> str | None:
    """Save one postmortem section (``model.ANNOTATION_FIELDS``); blank text deletes it.

    Returns the text saved, or None when the section was cleared.
    """
    if field not in ANNOTATION_FIELDS:
        raise SaveError(f"unknown postmortem section {field!r}; one of {', '.join(ANNOTATION_FIELDS)}")
    text = None if value is None else str(value)
    if text is not None and not text.strip():
        text = None
    store.set_annotation(incident_id, field, text, author=_author(author))
    return text


def parse_milestone(value: Any) -> pd.Timestamp | None:
    """A milestone time as typed: ISO 8601, UTC when no offset is given (the boxes say UTC).

    Blank means "no override". Anything else that does not parse raises SaveError.

    >>> parse_milestone("2024-06-11 16:02+02:00")
    Timestamp('2024-06-11 14:02:00+0000', tz='UTC')
    """
    if isinstance(value, (pd.Timestamp, datetime)):
        return parse_timestamp(value, tz="UTC")
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    problem = f"{text!r} is not a time; write ISO 8601 UTC, e.g. 2024-06-11T14:02:00Z"
    if not _ISO_DATE.match(text):
        raise SaveError(problem)
    try:
        return parse_timestamp(text, tz="UTC")
    except TimestampError:
        raise SaveError(problem) from None


def save_milestone(store: Store, incident_id: str, milestone: str, value: Any,
                   author: str | None = None) -> pd.Timestamp | None:
    """Set a milestone by hand (blank clears the override, so the derived time applies again).

    The value is checked before anything is written: a bad one, or one that would put the
    milestones out of order (``durations.refused_override``), raises SaveError and the store
    is unchanged. Saved as ISO 8601 UTC text with a ``Z``.
    """
    if milestone not in MILESTONE_OVERRIDES:
        raise SaveError(f"unknown milestone {milestone!r}; one of {', '.join(MILESTONE_OVERRIDES)}")
    stamp = parse_milestone(value)
    if stamp is not None:
        incident_id = store.incident(incident_id)["incident_id"]
        refused = refused_override(store.events(incident_id, with_raw=False),
                                   store.annotations(incident_id), incident_id, milestone, stamp,
                                   MILESTONE_LABELS)
        if refused:
            raise SaveError(refused)
    store.set_annotation(incident_id, milestone, None if stamp is None else to_iso(stamp),
                         author=_author(author))
    return stamp


def mark_key_event(store: Store, incident_id: str, event_ids: Iterable[str], marked: bool = True,
                   author: str | None = None) -> list[str]:
    """Mark (or unmark) events as key events of the postmortem timeline.

    Every id must be an event of the incident; otherwise SaveError and nothing is written.
    Returns the ids changed, in the order given, without repeats.
    """
    ids = list(dict.fromkeys(str(i) for i in event_ids))
    if not ids:
        return []
    known = set(store.events(incident_id, with_raw=False)["event_id"].astype(str))
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise SaveError(f"not an event of {incident_id}: {', '.join(unknown[:5])}")
    for event_id in ids:
        store.set_annotation(incident_id, KEY_EVENT_PREFIX + event_id, "true" if marked else None,
                             author=_author(author))
    return ids


_ACTION_ITEM_FIELDS = ("title", "owner", "type", "priority", "due", "url", "status")


def save_action_item(store: Store, incident_id: str, item_id: int | None = None,
                     **fields: Any) -> int:
    """Add an action item (``item_id`` None) or change fields of one; returns its id.

    Fields: title, owner, type (mitigate | prevent | process | other), priority, due (a date
    or YYYY-MM-DD), url (http or https only: it becomes a link in the postmortem), status
    (open | done | wontfix). Blank text clears a field; a new item needs a title.
    """
    unknown = set(fields) - set(_ACTION_ITEM_FIELDS)
    if unknown:
        raise SaveError(f"unknown action item field(s): {', '.join(sorted(unknown))}")
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()}
    if values.get("url") and safe_url(values["url"]) is None:
        raise SaveError(f"tracker URL {values['url']!r} must start with http:// or https://")
    if item_id is None:
        title = values.pop("title", "") or ""
        if not title:
            raise SaveError("an action item needs a title")
        return store.add_action_item(incident_id, title, **values)
    current = store.action_items(incident_id)
    if int(item_id) not in set(current["id"].astype(int)):
        raise SaveError(f"no action item {item_id} in {incident_id}")
    if "title" in values and not values["title"]:
        raise SaveError("an action item needs a title")
    store.update_action_item(int(item_id), **values)
    return int(item_id)


def dismiss_similar(store: Store, incident_id: str, other_id: str, dismissed: bool = True,
                    author: str | None = None) -> str:
    """Mark a suggested similar incident "not related" (or take that back). Saved as the
    annotation ``not_related:<other_id>`` of this incident, so it stays dismissed in every
    later run. Returns the other incident's id."""
    other = str(other_id)
    if other == str(incident_id):
        raise SaveError("an incident cannot be dismissed as unrelated to itself")
    if store.incidents([other]).empty:
        raise SaveError(f"no incident {other!r} in the store")
    store.set_annotation(incident_id, NOT_RELATED_PREFIX + other, "true" if dismissed else None,
                         author=_author(author))
    return other


# --- the timeline explorer --------------------------------------------------------------------

def _strings(values: Iterable[Any] | None) -> list[str]:
    if values is None or isinstance(values, str):
        return [] if values is None else [values]
    return [str(v) for v in values]


def filter_timeline(timeline: pd.DataFrame, sources: Iterable[str] | None = None,
                    kinds: Iterable[str] | None = None, actors: Iterable[str] | None = None,
                    start: Any = None, end: Any = None, text: str | None = None) -> pd.DataFrame:
    """The events of ``timeline`` that pass every filter given; None or empty means "any".

    ``start`` and ``end`` bound ``at`` inclusively (timestamps, or ISO text read as UTC when it
    has no offset). ``text`` is split on white space and every word must occur, ignoring
    case, in the summary or the actor. The index of ``timeline`` is kept.

    >>> from review_kit.model import parse_timestamps
    >>> tl = pd.DataFrame({"at": parse_timestamps(["2024-03-01T10:00:00Z", "2024-03-01T10:05:00Z"]),
    ...                    "source": ["slack", "pagerduty"], "kind": ["message", "acknowledged"],
    ...                    "actor": ["Ana", "Bo"], "summary": ["rolling back", "Acknowledged by Bo"]})
    >>> filter_timeline(tl, text="ROLL").index.tolist()
    [0]
    """
    mask = np.ones(len(timeline), dtype=bool)
    for column, wanted in (("source", sources), ("kind", kinds), ("actor", actors)):
        chosen = _strings(wanted)
        if chosen:
            mask &= timeline[column].astype(object).isin(chosen).to_numpy(dtype=bool)
    if start is not None and str(start).strip():
        mask &= (timeline["at"] >= parse_timestamp(start, tz="UTC")).to_numpy(dtype=bool)
    if end is not None and str(end).strip():
        mask &= (timeline["at"] <= parse_timestamp(end, tz="UTC")).to_numpy(dtype=bool)
    if text and text.strip():
        summary = timeline["summary"].astype("string").fillna("")
        actor = timeline["actor"].astype("string").fillna("")
        for word in text.split():
            hit = (summary.str.contains(word, case=False, regex=False)
                   | actor.str.contains(word, case=False, regex=False))
            mask &= hit.to_numpy(dtype=bool, na_value=False)
    return timeline.loc[mask]


def _options(series: pd.Series) -> list[str]:
    values = series.astype(object).dropna().astype(str)
    return sorted(v for v in values.unique().tolist() if v.strip())


def _explorer_chart(events: pd.DataFrame, kinds: Sequence[str], window: tuple[Any, Any]) -> bytes:
    """PNG of the events as markers over time, one row per kind, coloured by kind group."""
    import matplotlib.dates as mdates

    from ..report.plots.timeline import (KIND_GROUP_COLOURS, KIND_GROUP_MARKERS, KIND_GROUPS,
                                         DisplayFigure, kind_group)
    lane_order = [k for group in KIND_GROUPS.values() for k in group]
    # Kinds in the swimlane chart's order (alerts, paging, … changes), top to bottom.
    rows = sorted(kinds, key=lambda k: (lane_order.index(k) if k in lane_order else len(lane_order), k))
    rows = rows or ["(none)"]
    fig = DisplayFigure(figsize=(9.5, 0.9 + 0.28 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_yticks(range(len(rows)), labels=rows, fontsize=8)
    ax.set_ylim(len(rows) - 0.3, -0.7)
    ax.grid(axis="x", alpha=0.3)
    if len(events):
        x = mdates.date2num(events["at"].dt.tz_localize(None).to_numpy())
        kind = events["kind"].astype(object)
        y = kind.map({k: i for i, k in enumerate(rows)}).to_numpy(dtype=float)
        group = kind_group(kind)
        for name in group.unique().tolist():
            chosen = (group == name).to_numpy()
            ax.scatter(x[chosen], y[chosen], s=28, alpha=0.75,
                       marker=KIND_GROUP_MARKERS.get(name, KIND_GROUP_MARKERS["other"]),
                       color=KIND_GROUP_COLOURS.get(name, KIND_GROUP_COLOURS["other"]), label=name)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    else:
        ax.text(0.5, 0.5, "No events match the filters", transform=ax.transAxes,
                ha="center", va="center", color="#666666")
    low, high = (parse_timestamp(v) for v in window)
    if low is not None and high is not None and high > low:
        pad = (high - low) * 0.02
        ax.set_xlim(mdates.date2num((low - pad).tz_localize(None)),
                    mdates.date2num((high + pad).tz_localize(None)))
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("UTC", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, facecolor="white")
    return buffer.getvalue()


class TimelineExplorer(widgets.VBox):
    """Filters over one incident's timeline, with the matching events as a table and a chart."""

    def __init__(self, timeline: pd.DataFrame, *, redact: bool = False,
                 marked: Iterable[str] = (), max_rows: int = MAX_TABLE_ROWS) -> None:
        self.timeline = timeline.reset_index(drop=True)
        self.redact = bool(redact)
        self.max_rows = max_rows
        self.marked: set[str] = {str(i) for i in marked}
        self._listeners: list[Callable[[pd.DataFrame], None]] = []
        self._quiet = False
        self._kinds = _options(self.timeline["kind"])
        first = self.timeline["at"].min() if len(self.timeline) else None
        last = self.timeline["at"].max() if len(self.timeline) else None
        self.span = (first, last)

        def select(label: str, column: str, css: str, words: Callable[[Any], str] | None = None
                   ) -> widgets.SelectMultiple:
            options = _options(self.timeline[column])
            if words is not None:   # shown in words, filtered by the stored value
                options = [(words(o), o) for o in options]
            box = widgets.SelectMultiple(options=options, rows=min(max(len(options), 2), 6),
                                         description=label, layout=widgets.Layout(width="32%"))
            box.add_class(css)
            return box

        self.sources = select("Source", "source", "rk-filter-source")
        self.kinds = select("Kind", "kind", "rk-filter-kind", kind_label)
        self.actors = select("Actor", "actor", "rk-filter-actor")
        self.start = widgets.Text(value=to_iso(first) or "", description="From (UTC)",
                                  placeholder="2024-06-11T14:00:00Z", continuous_update=False)
        self.end = widgets.Text(value=to_iso(last) or "", description="To (UTC)",
                                placeholder="2024-06-11T18:00:00Z", continuous_update=False)
        # Filters as the facilitator types (a keystroke re-filters the frame and redraws).
        self.search = widgets.Text(description="Search", placeholder="words in summary or actor",
                                   continuous_update=True)
        self.start.add_class("rk-filter-start")
        self.end.add_class("rk-filter-end")
        self.search.add_class("rk-filter-search")
        self.reset = widgets.Button(description="Show all", icon="undo")
        self.count = widgets.Label()
        self.count.add_class("rk-explorer-count")
        self.error = widgets.Label()
        self.error.add_class("rk-explorer-error")
        self.table = widgets.HTML(layout=widgets.Layout(max_height="420px", overflow="auto"))
        self.table.add_class("rk-explorer-table")
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.chart.add_class("rk-explorer-chart")
        self.filtered = self.timeline
        for control in (self.sources, self.kinds, self.actors, self.start, self.end, self.search):
            control.observe(lambda _change: self._quiet or self.refresh(), names="value")
        self.reset.on_click(lambda _button: self.show_all())
        super().__init__([
            widgets.HBox([self.sources, self.kinds, self.actors]),
            widgets.HBox([self.start, self.end, self.search, self.reset]),
            widgets.HBox([self.count, self.error]), self.chart, self.table,
        ])
        self.add_class("rk-explorer")
        self.refresh()

    def on_filter(self, callback: Callable[[pd.DataFrame], None]) -> None:
        """Call ``callback(filtered_events)`` after every change of the filters."""
        self._listeners.append(callback)

    def show_all(self) -> None:
        # One refresh for the whole reset, not one per control.
        self._quiet = True
        try:
            self.sources.value = self.kinds.value = self.actors.value = ()
            self.start.value = to_iso(self.span[0]) or ""
            self.end.value = to_iso(self.span[1]) or ""
            self.search.value = ""
        finally:
            self._quiet = False
        self.refresh()

    def set_marked(self, event_ids: Iterable[str]) -> None:
        self.marked = {str(i) for i in event_ids}
        self._render_table()

    def refresh(self) -> pd.DataFrame:
        try:
            self.filtered = filter_timeline(
                self.timeline, sources=self.sources.value, kinds=self.kinds.value,
                actors=self.actors.value, start=self.start.value or None,
                end=self.end.value or None, text=self.search.value)
            self.error.value = ""
        except TimestampError:
            # Keep showing the last good result; say which box is wrong.
            self.error.value = "The time window must be ISO 8601, e.g. 2024-06-11T14:00:00Z"
            return self.filtered
        self.count.value = f"{len(self.filtered)} of {len(self.timeline)} events"
        self._render_table()
        window = (self.start.value or self.span[0], self.end.value or self.span[1])
        try:
            window = tuple(parse_timestamp(w, tz="UTC") for w in window)
        except TimestampError:
            window = self.span
        self.chart.value = _explorer_chart(self.filtered, self._kinds, window)
        for listener in self._listeners:
            listener(self.filtered)
        return self.filtered

    def _render_table(self) -> None:
        shown = self.filtered.head(self.max_rows)
        table = pd.DataFrame({
            "Key": np.where(shown["event_id"].astype(str).isin(self.marked), "★", ""),
            "When (UTC)": stamp_text(shown["at"]), "Source": shown["source"].astype(object),
            "Event": shown["kind"].map(kind_label), "Who": redacted_column(shown["actor"], self.redact),
            "What": redacted_column(shown["summary"], self.redact),
        })
        note = ""
        if len(self.filtered) > len(shown):
            note = (f"<p>Showing the first {len(shown)} of {len(self.filtered)} matching events; "
                    "narrow the filters to see the rest.</p>")
        self.table.value = note + safe_table_html(table)


def timeline_explorer(timeline: pd.DataFrame, *, redact: bool = False) -> TimelineExplorer:
    """The timeline explorer widget for one incident's events (filters, count, chart, table)."""
    return TimelineExplorer(timeline, redact=redact)


# --- the facilitator's editors -----------------------------------------------------------------

def _error_html(message: str) -> str:
    return f"<span style='color:#b00020'>{escape(message)}</span>"


def _saved_text(what: str) -> str:
    return f"Saved {what} at {datetime.now(timezone.utc):%H:%M:%S} UTC"


class KeyEventMarker(widgets.VBox):
    """Pick events among those the explorer shows and mark them as key events."""

    def __init__(self, view: Any, explorer: TimelineExplorer, author: Callable[[], str | None]) -> None:
        self.view, self.explorer, self.author = view, explorer, author
        self.marked: set[str] = set(view.data.key_events)
        self.events = widgets.SelectMultiple(options=[], rows=8, layout=_WIDE)
        self.events.add_class("rk-key-event-choice")
        self.mark = widgets.Button(description="Mark as key event", icon="star", button_style="primary")
        self.unmark = widgets.Button(description="Unmark", icon="star-o")
        self.status = widgets.HTML()
        self.status.add_class("rk-key-event-status")
        self.mark.on_click(lambda _b: self.apply(True))
        self.unmark.on_click(lambda _b: self.apply(False))
        explorer.on_filter(self._offer)
        super().__init__([widgets.HTML("<b>Key events</b> (they form the postmortem's timeline): "
                                       "choose among the events shown above"),
                          self.events, widgets.HBox([self.mark, self.unmark, self.status])])
        self._offer(explorer.filtered)

    def _offer(self, events: pd.DataFrame) -> None:
        shown = events.head(MAX_KEY_EVENT_OPTIONS)
        ids = shown["event_id"].astype(str)
        # Option labels become DOM text (textContent) in the browser: no markup can get through.
        labels = (np.where(ids.isin(self.marked), "★ ", "   ")
                  + stamp_text(shown["at"]) + " · " + shown["kind"].astype(str) + " · "
                  + redacted_column(shown["actor"], self.explorer.redact).astype(str) + " · "
                  + redacted_column(shown["summary"], self.explorer.redact).astype(str).str.slice(0, 100))
        keep = [v for v in self.events.value if v in set(ids)]
        self.events.options = list(zip(labels.tolist(), ids.tolist()))
        self.events.value = tuple(keep)

    def apply(self, marked: bool) -> list[str]:
        chosen = list(self.events.value)
        if not chosen:
            self.status.value = _error_html("Choose one or more events first.")
            return []
        try:
            changed = mark_key_event(self.view.store, self.view.incident_id, chosen, marked, self.author())
        except ReviewKitError as exc:
            self.status.value = _error_html(str(exc))
            return []
        self.marked = (self.marked | set(changed)) if marked else (self.marked - set(changed))
        self.explorer.set_marked(self.marked)
        self._offer(self.explorer.filtered)
        verb = "Marked" if marked else "Unmarked"
        self.status.value = escape(f"{verb} {len(changed)} event(s); {len(self.marked)} key event(s) in all.")
        return changed


def _metrics_html(metrics: Mapping[str, Any]) -> str:
    from ..report.postmortem import format_duration as human_duration
    rows = "".join(f"<tr><th style='text-align:left'>{escape(label)}</th>"
                   f"<td>{escape(human_duration(metrics.get(key)))}</td></tr>"
                   for key, label in DURATION_LABELS.items())
    return f"<table class='rk-metrics'>{rows}</table>"


class MilestoneEditor(widgets.VBox):
    """One box per milestone, prefilled with the time in use; Save sets it by hand, Clear
    returns to the time derived from the timeline. The durations below follow."""

    def __init__(self, view: Any, author: Callable[[], str | None],
                 on_change: Callable[[], None] | None = None) -> None:
        self.view, self.author, self.on_change = view, author, on_change
        self.boxes: dict[str, widgets.Text] = {}
        self.save_buttons: dict[str, widgets.Button] = {}
        self.clear_buttons: dict[str, widgets.Button] = {}
        self.origin: dict[str, widgets.Label] = {}
        rows = []
        for name in MILESTONE_OVERRIDES:
            box = widgets.Text(description=MILESTONE_LABELS[name], placeholder="YYYY-MM-DDTHH:MM:SSZ",
                               style={"description_width": "120px"}, layout=widgets.Layout(width="380px"))
            box.add_class(f"rk-milestone-{name}")
            save = widgets.Button(description="Save", icon="check")
            clear = widgets.Button(description="Clear", icon="times")
            save.on_click(lambda _b, name=name: self.save(name))
            clear.on_click(lambda _b, name=name: self.clear(name))
            self.boxes[name], self.save_buttons[name], self.clear_buttons[name] = box, save, clear
            self.origin[name] = widgets.Label()
            rows.append(widgets.HBox([box, save, clear, self.origin[name]]))
        self.error = widgets.HTML()
        self.error.add_class("rk-milestone-error")
        self.metrics = widgets.HTML()
        self.metrics.add_class("rk-milestone-metrics")
        super().__init__([widgets.HTML("Times are UTC. A time saved here replaces the one derived "
                                       "from the timeline, in the metrics and the postmortem."),
                          *rows, self.error, self.metrics])
        self.refresh()

    def refresh(self) -> None:
        metrics, annotations = self.view.data.metrics, self.view.data.annotations
        for name, box in self.boxes.items():
            box.value = to_iso(metrics.get(name)) or ""
            self.origin[name].value = ("set by hand" if annotations.get(name)
                                       else "from the timeline" if box.value else "unknown")
        self.metrics.value = _metrics_html(metrics)

    def _write(self, name: str, value: Any) -> bool:
        try:
            stamp = save_milestone(self.view.store, self.view.incident_id, name, value, self.author())
        except ReviewKitError as exc:
            self.error.value = _error_html(f"{MILESTONE_LABELS[name]}: {exc} (nothing saved)")
            return False
        self.view.reload()
        self.refresh()
        self.error.value = escape(_saved_text(f"{MILESTONE_LABELS[name]} = {to_iso(stamp)}")
                                  if stamp is not None else
                                  f"{MILESTONE_LABELS[name]}: back to the time from the timeline")
        if self.on_change is not None:
            self.on_change()
        return True

    def save(self, name: str) -> bool:
        return self._write(name, self.boxes[name].value)

    def clear(self, name: str) -> bool:
        return self._write(name, None)


class AnnotationForm(widgets.VBox):
    """The postmortem sections in the Google SRE shape; each keystroke is saved to the store."""

    def __init__(self, view: Any, author: Callable[[], str | None]) -> None:
        self.view, self.author = view, author
        self.status = widgets.HTML()
        self.status.add_class("rk-annotation-status")
        self.areas: dict[str, widgets.Textarea] = {}
        children: list[widgets.Widget] = [widgets.HTML(
            "What the room agrees, section by section. Saved as you type; the postmortem draft "
            "below (and every later run of this notebook) shows it.")]
        annotations = view.data.annotations
        for field in ANNOTATION_FIELDS:
            area = widgets.Textarea(value=annotations.get(field) or "", rows=3, layout=_WIDE,
                                    continuous_update=True)
            area.add_class(f"rk-annotation-{field}")
            area.observe(lambda change, field=field: self.save(field, change["new"]), names="value")
            self.areas[field] = area
            children += [widgets.HTML(f"<b>{escape(SECTION_LABELS.get(field, field))}</b>"), area]
        super().__init__([*children, self.status])

    def save(self, field: str, value: str | None) -> bool:
        # Saving on every change (no timer) means nothing typed is ever waiting to be flushed.
        try:
            save_annotation(self.view.store, self.view.incident_id, field, value, self.author())
        except ReviewKitError as exc:
            self.status.value = _error_html(str(exc))
            return False
        self.status.value = escape(_saved_text(SECTION_LABELS.get(field, field)))
        return True


class ActionItemEditor(widgets.VBox):
    """The action items of the incident: a form to add (or edit) one, and the list with a
    status menu per item. Every change is saved at once."""

    def __init__(self, view: Any, author: Callable[[], str | None]) -> None:
        self.view, self.author = view, author
        self.editing: int | None = None
        narrow = widgets.Layout(width="260px")
        self.title = widgets.Text(description="Title", layout=widgets.Layout(width="520px"))
        self.owner = widgets.Text(description="Owner", layout=narrow)
        self.type = widgets.Dropdown(options=ACTION_ITEM_TYPES, value="mitigate", description="Type",
                                     layout=narrow)
        self.priority = widgets.Dropdown(options=[("—", ""), *[(p, p) for p in ACTION_ITEM_PRIORITIES]],
                                         value="", description="Priority", layout=narrow)
        self.due = widgets.DatePicker(description="Due", layout=narrow)
        self.url = widgets.Text(description="Tracker", placeholder="https://…",
                                layout=widgets.Layout(width="520px"))
        self.status = widgets.Dropdown(options=ACTION_ITEM_STATUSES, value="open", description="Status",
                                       layout=narrow)
        for css, control in (("title", self.title), ("owner", self.owner), ("type", self.type),
                             ("priority", self.priority), ("due", self.due), ("url", self.url),
                             ("status", self.status)):
            control.add_class(f"rk-action-{css}")
        self.submit = widgets.Button(description="Add", icon="plus", button_style="primary")
        self.submit.add_class("rk-action-add")
        self.cancel = widgets.Button(description="Cancel edit", layout=widgets.Layout(display="none"))
        self.message = widgets.HTML()
        self.message.add_class("rk-action-message")
        self.list = widgets.VBox()
        self.list.add_class("rk-action-list")
        self.rows: dict[int, widgets.Dropdown] = {}
        self.submit.on_click(lambda _b: self.add_or_update())
        self.cancel.on_click(lambda _b: self.reset_form())
        super().__init__([
            widgets.HBox([self.title, self.owner]),
            widgets.HBox([self.type, self.priority, self.due]),
            widgets.HBox([self.url, self.status]),
            widgets.HBox([self.submit, self.cancel, self.message]),
            widgets.HTML("<b>Action items of this incident</b>"), self.list,
        ])
        self.refresh()

    def form_values(self) -> dict[str, Any]:
        return {"title": self.title.value, "owner": self.owner.value, "type": self.type.value,
                "priority": self.priority.value, "due": self.due.value, "url": self.url.value,
                "status": self.status.value}

    def add_or_update(self) -> int | None:
        values = self.form_values()
        try:
            item_id = save_action_item(self.view.store, self.view.incident_id, self.editing, **values)
        except ReviewKitError as exc:
            self.message.value = _error_html(f"{exc} (nothing saved)")
            return None
        verb = "Added" if self.editing is None else "Saved"
        self.reset_form()
        self.refresh()
        self.message.value = escape(f"{verb} action item {item_id}.")
        return item_id

    def reset_form(self) -> None:
        self.editing = None
        self.title.value = self.owner.value = self.url.value = ""
        self.type.value, self.priority.value, self.status.value = "mitigate", "", "open"
        self.due.value = None
        self.submit.description, self.submit.icon = "Add", "plus"
        self.cancel.layout.display = "none"
        self.message.value = ""

    def edit(self, item: Mapping[str, Any]) -> None:
        """Load an existing item into the form; the button then saves the changes to it."""
        def text(value: Any) -> str:
            return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
        self.editing = int(item["id"])
        self.title.value, self.owner.value, self.url.value = (text(item["title"]), text(item["owner"]),
                                                              text(item["url"]))
        self.type.value = item["type"] if item["type"] in ACTION_ITEM_TYPES else "other"
        self.priority.value = item["priority"] if item["priority"] in ACTION_ITEM_PRIORITIES else ""
        self.status.value = item["status"] if item["status"] in ACTION_ITEM_STATUSES else "open"
        self.due.value = date.fromisoformat(text(item["due"])[:10]) if text(item["due"]) else None
        self.submit.description, self.submit.icon = f"Save item {self.editing}", "check"
        self.cancel.layout.display = ""

    def set_status(self, item_id: int, status: str) -> bool:
        try:
            save_action_item(self.view.store, self.view.incident_id, item_id, status=status)
        except ReviewKitError as exc:
            self.message.value = _error_html(str(exc))
            return False
        self.message.value = escape(f"Action item {item_id} is now {status}.")
        return True

    def refresh(self) -> None:
        items = self.view.store.action_items(self.view.incident_id)
        self.rows = {}
        rows: list[widgets.Widget] = []
        for item in items.to_dict("records"):
            item_id = int(item["id"])
            facts = [item.get("owner"), item.get("type"), item.get("priority"),
                     f"due {item['due']}" if item.get("due") else None, item.get("url")]
            detail = " · ".join(str(f) for f in facts if f is not None and str(f) not in ("", "nan"))
            label = widgets.HTML(f"<b>{escape(str(item['title']))}</b> "
                                 f"<span style='color:#555'>{escape(detail)}</span>",
                                 layout=widgets.Layout(width="70%"))
            status = widgets.Dropdown(options=ACTION_ITEM_STATUSES, value=item["status"] or "open",
                                      layout=widgets.Layout(width="110px"))
            status.add_class(f"rk-action-status-{item_id}")
            status.observe(lambda change, item_id=item_id: self.set_status(item_id, change["new"]),
                           names="value")
            edit = widgets.Button(description="Edit", layout=widgets.Layout(width="70px"))
            edit.on_click(lambda _b, item=item: self.edit(item))
            self.rows[item_id] = status
            rows.append(widgets.HBox([label, status, edit]))
        self.list.children = rows or [widgets.Label("No action items yet.")]


class SeenBeforeList(widgets.VBox):
    """The similar past incidents the retrospective suggests, each with a "Not related" button:
    a dismissed one leaves the list (and the postmortem) and stays dismissed."""

    def __init__(self, view: Any, author: Callable[[], str | None]) -> None:
        self.view, self.author = view, author
        self.message = widgets.HTML()
        self.message.add_class("rk-seen-before-message")
        self.list = widgets.VBox()
        self.list.add_class("rk-seen-before-list")
        self.buttons: dict[str, widgets.Button] = {}
        super().__init__([widgets.HTML("Past incidents like this one, most similar first. Dismiss a "
                                       "suggestion that is not related: it will not be shown again."),
                          self.list, self.message])
        self.refresh()

    def refresh(self) -> None:
        from ..report.postmortem import seen_before_html
        seen = self.view.seen_before_context()
        self.buttons = {}
        rows: list[widgets.Widget] = []
        for card in seen["matches"]:
            button = widgets.Button(description="Not related", icon="times",
                                    layout=widgets.Layout(width="130px"))
            button.add_class(f"rk-not-related-{card['incident_id']}")
            button.on_click(lambda _b, other=card["incident_id"]: self.dismiss(other))
            self.buttons[card["incident_id"]] = button
            rows.append(widgets.HBox([widgets.HTML(seen_before_html({"matches": [card]}),
                                                   layout=widgets.Layout(width="80%")), button]))
        self.list.children = rows or [widgets.HTML(seen_before_html(seen))]

    def dismiss(self, other_id: str) -> bool:
        try:
            dismiss_similar(self.view.store, self.view.incident_id, other_id, author=self.author())
        except ReviewKitError as exc:
            self.message.value = _error_html(str(exc))
            return False
        self.view.reload()
        self.refresh()
        self.message.value = escape(f"{other_id} dismissed as not related.")
        return True


class FacilitatorPanel(widgets.VBox):
    """Everything the facilitator edits, in tabs: timeline and key events, milestones, the
    postmortem sections and the action items. Built from a RetrospectiveView."""

    TAB_TITLES = ("Timeline", "Milestones", "Postmortem", "Action items", "Seen before")

    def __init__(self, view: Any) -> None:
        self.view = view
        self.author = widgets.Text(value=default_author() or "", description="Your name",
                                   placeholder="saved with each change")
        self.author.add_class("rk-author")
        self.explorer = TimelineExplorer(view.data.timeline, redact=view.redact,
                                         marked=view.data.key_events)
        self.key_events = KeyEventMarker(view, self.explorer, self.current_author)
        self.milestones = MilestoneEditor(view, self.current_author)
        self.annotations = AnnotationForm(view, self.current_author)
        self.action_items = ActionItemEditor(view, self.current_author)
        self.seen_before = SeenBeforeList(view, self.current_author)
        self.tabs = widgets.Tab(children=[widgets.VBox([self.explorer, self.key_events]),
                                          self.milestones, self.annotations, self.action_items,
                                          self.seen_before],
                                titles=self.TAB_TITLES)
        self.export_button = widgets.Button(description="Export postmortem", icon="download",
                                            tooltip="Write postmortem.md and postmortem.html")
        self.export_button.add_class("rk-export")
        self.export_status = widgets.HTML()
        self.export_status.add_class("rk-export-status")
        self.export_button.on_click(lambda _b: self.export())
        super().__init__([widgets.HTML(f"<h3>Facilitator: {escape(str(view.incident_id))}</h3>"),
                          self.author, self.tabs,
                          widgets.HBox([self.export_button, self.export_status])])
        self.add_class("rk-facilitator")

    def current_author(self) -> str | None:
        return _author(self.author.value)

    def export(self) -> dict[str, Any]:
        """The postmortem as Markdown and as a standalone HTML page, from the store as it is
        now, written beside the notebook's other outputs; links to both below the button."""
        try:
            written = self.view.export_postmortem()
        except (ReviewKitError, OSError) as exc:
            self.export_status.value = _error_html(f"{exc} (nothing exported)")
            return {}
        links = []
        for name, path in written.items():
            try:
                href = os.path.relpath(path, os.getcwd())
            except ValueError:  # another drive (Windows)
                href = str(path)
            label = "Markdown" if name == "markdown" else "HTML"
            links.append(f'<a href="{escape(href.replace(os.sep, "/"))}" target="_blank" '
                         f'rel="noopener">{label}: {escape(path.name)}</a>')
        self.export_status.value = "Exported " + " · ".join(links) + escape(
            f" in {written['markdown'].parent}")
        return written


# --- headless ----------------------------------------------------------------------------------

