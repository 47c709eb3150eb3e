"""The incident's story as figures: a swimlane timeline and a responder activity chart.

Figures are built on ``matplotlib.figure.Figure`` directly (never pyplot), so they work under
Agg in papermill, leave no global state behind and are shown by Jupyter like any figure.
Every artist a reader (or a test) may look for carries a ``gid`` (also the element id in SVG):

- ``events-<group>``: the event markers of one kind group (one collection per group);
- ``comms-external`` / ``comms-internal``: update markers on the communication lane;
- ``density-<lane>-<group>``: the count strip of a lane too dense for markers;
- ``milestone-<name>`` (started, detected, acknowledged, mitigated, resolved);
- ``phase-<name>`` (detect, respond, mitigate, recover); ``reopen-<n>``; ``breach-<audience>``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib import transforms
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, StepPatch

from ...model import UTC, check_columns, parse_timestamp
from ...paths import replacing
from . import DisplayFigure

__all__ = [
    "COMMS_LANE", "DisplayFigure", "KIND_GROUPS", "KIND_GROUP_COLOURS", "KIND_GROUP_MARKERS",
    "MILESTONES", "PHASES",
    "kind_group", "responder_activity_chart", "save_figure", "timeline_chart",
]

# Kinds grouped the way a facilitator reads a timeline; the order is the lane order.
KIND_GROUPS: dict[str, tuple[str, ...]] = {
    "alerts": ("alert_firing", "alert_resolved"),
    "paging": ("triggered", "notified", "escalated", "reassigned", "acknowledged"),
    "response": ("responder_joined", "note"),
    "chat": ("message",),
    "comms": ("status_update", "stakeholder_update"),
    "lifecycle": ("impact_started", "severity_changed", "mitigated", "resolved", "reopened"),
    "changes": ("deploy",),
}
_GROUP_OF_KIND: dict[str, str] = {k: g for g, kinds in KIND_GROUPS.items() for k in kinds}
OTHER_GROUP = "other"
# Okabe and Ito's palette (told apart by the common colour blindnesses), and a marker shape
# per group so that the groups stay apart in greyscale too.
KIND_GROUP_COLOURS: dict[str, str] = {
    "alerts": "#D55E00", "paging": "#CC79A7", "response": "#009E73", "chat": "#56B4E9",
    "comms": "#0072B2", "lifecycle": "#000000", "changes": "#E69F00", OTHER_GROUP: "#999999",
}
KIND_GROUP_MARKERS: dict[str, str] = {
    "alerts": "D", "paging": "s", "response": "o", "chat": ">", "comms": "p",
    "lifecycle": "X", "changes": "P", OTHER_GROUP: "*",
}
MILESTONES: tuple[tuple[str, str], ...] = (
    ("started_at", "started"), ("detected_at", "detected"),
    ("acknowledged_at", "acknowledged"), ("mitigated_at", "mitigated"),
    ("resolved_at", "resolved"),
)
PHASES: tuple[tuple[str, str, str], ...] = (
    ("detect", "started_at", "detected_at"),
    ("respond", "detected_at", "acknowledged_at"),
    ("mitigate", "acknowledged_at", "mitigated_at"),
    ("recover", "mitigated_at", "resolved_at"),
)
PHASE_COLOURS: dict[str, str] = {
    "detect": "#fdae6b", "respond": "#fee08b", "mitigate": "#a1d99b", "recover": "#9ecae1",
}
# The lane that gathers every update, whatever its source, so silences can be seen at once.
COMMS_LANE = "communication"
# Which half of the communication lane an audience's updates and breaches use.
_AUDIENCE_OF_KIND = {"status_update": "external", "stakeholder_update": "internal"}
_AUDIENCE_OFFSET = {"external": 0.2, "internal": -0.2}
_AUDIENCE_MARKER = {"external": "^", "internal": "v"}
BREACH_COLOUR = "#d62728"
REOPEN_COLOUR = "#b30000"
# Candidate widths of a count-strip bin, in seconds: the first that keeps the strip under
# _MAX_BINS bins wins, so bins fall on round clock times a reader can name.
_BIN_SECONDS = (1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                43200, 86400, 172800, 604800)
_MAX_BINS = 150
# Width of one character of an 8 pt label, as a fraction of the 12-inch chart's axes.
_LABEL_CHAR_WIDTH = 0.0068
_DAY = 86400.0


# --- helpers ---------------------------------------------------------------------------------

def kind_group(kinds: pd.Series) -> pd.Series:
    """Each kind's group: alerts, paging, response, chat, comms, lifecycle, changes or other."""
    return kinds.astype(object).map(_GROUP_OF_KIND).fillna(OTHER_GROUP).astype(object)


def _plain(text: Any) -> str:
    """Text from a source, safe for matplotlib: a `$` would otherwise start mathtext."""
    return str(text).replace("$", r"\$")


def _gid(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _stamp(value: Any) -> pd.Timestamp | None:
    if value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value)):
        return None
    return parse_timestamp(value)


def _num(stamps: pd.Series) -> np.ndarray:
    """Matplotlib date numbers (days since its epoch) of a UTC datetime column, vectorised."""
    values = pd.to_datetime(stamps, utc=True).dt.tz_localize(None).to_numpy("datetime64[us]")
    return mdates.date2num(values)


def _num1(stamp: pd.Timestamp) -> float:
    return float(mdates.date2num(stamp.tz_convert(UTC).tz_localize(None).to_datetime64()))


def _bin_width(span_days: float) -> float:
    span = max(span_days * _DAY, 1.0)
    for seconds in _BIN_SECONDS:
        if span / seconds <= _MAX_BINS:
            return seconds / _DAY
    return _BIN_SECONDS[-1] / _DAY


def _bin_label(width_days: float) -> str:
    seconds = int(round(width_days * _DAY))
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _events_frame(events: pd.DataFrame) -> pd.DataFrame:
    check_columns(events, ("at", "source", "kind"), "events")
    frame = events.loc[events["at"].notna(), ["at", "source", "kind"]]
    out = pd.DataFrame({
        "x": _num(frame["at"]),
        "source": frame["source"].astype(object).fillna("unknown").to_numpy(),
        "kind": frame["kind"].astype(object).to_numpy(),
    })
    out["group"] = kind_group(out["kind"]).to_numpy()
    return out


def _row(metrics_row: Mapping[str, Any] | pd.Series | None) -> dict[str, Any]:
    return {} if metrics_row is None else dict(metrics_row)


def _milestone_numbers(row: Mapping[str, Any]) -> dict[str, float]:
    found: dict[str, float] = {}
    for field, _label in MILESTONES:
        stamp = _stamp(row.get(field))
        if stamp is not None:
            found[field] = _num1(stamp)
    return found


def _reopen_spans(points: pd.DataFrame) -> list[tuple[float, float]]:
    """(resolved, reopened) pairs: each reopen with the resolution it cancelled."""
    life = points.loc[points["kind"].isin(("resolved", "reopened")), ["x", "kind"]]
    if life.empty:
        return []
    life = life.sort_values("x", kind="stable")
    previous_kind = life["kind"].shift()
    previous_x = life["x"].shift()
    mask = (life["kind"] == "reopened") & (previous_kind == "resolved")
    return list(zip(previous_x[mask].to_numpy(float), life["x"][mask].to_numpy(float)))


def _breaches(gaps: pd.DataFrame | None, metrics_row: Mapping[str, Any]) -> pd.DataFrame:
    if gaps is None or len(gaps) == 0:
        return pd.DataFrame({"audience": [], "x0": [], "x1": []})
    check_columns(gaps, ("audience", "gap_start", "gap_end", "breach"), "gaps")
    frame = gaps
    incident_id = metrics_row.get("incident_id")
    if incident_id is not None and "incident_id" in frame.columns:
        frame = frame[frame["incident_id"].astype(object) == incident_id]
    frame = frame[frame["breach"].fillna(False).astype(bool)
                  & frame["gap_start"].notna() & frame["gap_end"].notna()]
    # A breach is the time past the policy, not the whole silence: the span starts where the
    # policy's limit ran out.
    start = frame["gap_start"]
    if "limit_seconds" in frame.columns:
        limit = pd.to_timedelta(pd.to_numeric(frame["limit_seconds"], errors="coerce"), unit="s")
        start = (start + limit).where(limit.notna(), start)
    return pd.DataFrame({
        "audience": frame["audience"].astype(object).to_numpy(),
        "x0": _num(start), "x1": _num(frame["gap_end"]),
    })


def _date_axis(ax: Any) -> None:
    locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax.set_xlabel("time (UTC)")


def _set_xlim(ax: Any, xs: Iterable[float]) -> None:
    values = np.fromiter(xs, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    pad = max((high - low) * 0.03, 5 * 60 / _DAY)
    ax.set_xlim(low - pad, high + pad)


# Margins are measured, not left to constrained layout: its solver walks every artist's extent
# twice per draw and makes savefig draw twice, which cost more than drawing the chart itself.
_TICK_LABEL_PT = 10.0  # matplotlib's default tick label size
_AXIS_PAD_PT = 8.0     # tick length and its pad, beside the labels


def _text_width_pt(texts: Iterable[str], size: float) -> float:
    """The width of the widest text, in points, from the font's metrics (no drawing)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path
    prop = FontProperties(size=size)
    return max((text_to_path.get_text_width_height_descent(t, prop, ismath=False)[0]
                for t in texts), default=0.0)


def _place_axes(fig: Figure, ax: Any, *, left: float, right: float, top: float,
                bottom: float) -> None:
    """Put the axes inside margins given in points."""
    width, height = fig.get_size_inches() * 72
    ax.set_position([left / width, bottom / height, max(1 - (left + right) / width, 0.1),
                     max(1 - (top + bottom) / height, 0.1)])


def _legend_below(fig: Figure, handles: list[Any], ncol: int) -> float:
    """A legend along the bottom of the figure; returns the points it takes up."""
    if not handles:
        return 0.0
    ncol = min(len(handles), ncol)
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
               fontsize=8, frameon=False)
    rows = -(-len(handles) // ncol)
    return 8.0 + 14.0 * rows


def _nothing_to_show(fig: Figure, ax: Any, message: str) -> Figure:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])
    _place_axes(fig, ax, left=20, right=20, top=30, bottom=20)
    return fig


def _left_margin(labels: Iterable[str]) -> float:
    return max(_text_width_pt(labels, _TICK_LABEL_PT) + _AXIS_PAD_PT + 10.0, 36.0)


# --- the timeline ------------------------------------------------------------------------------

def timeline_chart(events: pd.DataFrame, metrics_row: Mapping[str, Any] | pd.Series | None,
                   gaps: pd.DataFrame | None = None, *,
                   lanes: Literal["source", "kind_group"] = "source",
                   max_points_per_lane: int = 400) -> Figure:
    """One incident as swimlanes: events, milestones, phases, updates, reopen periods, breaches.

    ``events``: the incident's canonical events (needs ``at``, ``source``, ``kind``).
    ``metrics_row``: its metrics (milestones ``started_at`` … ``resolved_at``; ``title``,
    ``severity`` and ``incident_id`` label the chart). ``gaps``: ``metrics.communication_gaps``
    rows; breaches (the time past the policy) are red spans on the communication lane (upper half external,
    lower half internal). ``lanes``: one lane per source (plus a communication lane gathering
    every update) or one per kind group. A lane holding more than ``max_points_per_lane``
    events is drawn as a stacked count strip (events per round time bin, coloured by kind
    group) instead of overprinted markers.

    >>> fig = timeline_chart(events, metrics_row, gaps)   # doctest: +SKIP
    >>> save_figure(fig, out / "timeline")                # doctest: +SKIP
    """
    if lanes not in ("source", "kind_group"):
        raise ValueError(f"lanes must be 'source' or 'kind_group', not {lanes!r}")
    if max_points_per_lane < 1:
        raise ValueError("max_points_per_lane must be at least 1")
    row = _row(metrics_row)
    points = _events_frame(events)
    marks = _milestone_numbers(row)
    breaches = _breaches(gaps, row)
    has_gaps = gaps is not None and len(gaps) > 0

    # Lanes, top to bottom.
    is_comms = points["kind"].isin(tuple(_AUDIENCE_OF_KIND)).to_numpy()
    if lanes == "source":
        first_seen = points.groupby("source", sort=False)["x"].min().sort_values(kind="stable")
        lane_names = list(first_seen.index)
        points["lane"] = points["source"]
        if is_comms.any() or has_gaps:
            comms = points.loc[is_comms].copy()
            comms["lane"] = COMMS_LANE
            lane_names = [COMMS_LANE, *lane_names]
            points = pd.concat([points, comms], ignore_index=True)
    else:
        points["lane"] = points["group"].where(points["group"] != "comms", COMMS_LANE)
        present = set(points["lane"])
        if has_gaps:
            present.add(COMMS_LANE)
        order = [COMMS_LANE if g == "comms" else g for g in (*KIND_GROUPS, OTHER_GROUP)]
        lane_names = [name for name in order if name in present]
    position = {name: len(lane_names) - 1 - i for i, name in enumerate(lane_names)}
    points["y"] = points["lane"].map(position).astype(float)
    in_comms_lane = (points["lane"] == COMMS_LANE).to_numpy()
    audience = points["kind"].map(_AUDIENCE_OF_KIND)
    points["audience"] = audience.where(in_comms_lane, None)
    offsets = points["audience"].map(_AUDIENCE_OFFSET).fillna(0.0).to_numpy(float)
    points["y"] = points["y"].to_numpy(float) + offsets

    n_lanes = max(len(lane_names), 1)
    fig = DisplayFigure(figsize=(12, 2.2 + 0.55 * n_lanes))
    ax = fig.add_subplot()
    heading = " · ".join(str(v) for v in (row.get("incident_id"), row.get("severity"),
                                           row.get("title")) if v is not None and not pd.isna(v))

    all_x = np.concatenate([points["x"].to_numpy(float), np.fromiter(marks.values(), float),
                            breaches["x0"].to_numpy(float), breaches["x1"].to_numpy(float)])
    if all_x.size == 0:
        ax.set_title(_plain(heading or "Incident timeline"), loc="left", fontsize=11)
        return _nothing_to_show(fig, ax, "No events to show")

    lane_counts = points.groupby("lane", sort=False).size()
    dense = [lane for lane, n in lane_counts.items() if n > max_points_per_lane]
    sparse = points[~points["lane"].isin(dense)]
    legend: list[Any] = []
    marker_size = 30 if len(sparse) <= 300 else 12
    drawn_groups: set[str] = set()

    # Markers: one collection per group keeps a 5,000-event chart to a handful of artists.
    plain = sparse[sparse["audience"].isna()]
    for group, rows in plain.groupby("group", sort=False):
        ax.scatter(rows["x"].to_numpy(), rows["y"].to_numpy(), s=marker_size,
                   marker=KIND_GROUP_MARKERS.get(group, KIND_GROUP_MARKERS[OTHER_GROUP]),
                   color=KIND_GROUP_COLOURS.get(group, KIND_GROUP_COLOURS[OTHER_GROUP]),
                   linewidths=0, alpha=0.85, zorder=3, gid=f"events-{group}")
        drawn_groups.add(group)
    for aud, rows in sparse[sparse["audience"].notna()].groupby("audience", sort=False):
        ax.scatter(rows["x"].to_numpy(), rows["y"].to_numpy(), s=max(marker_size, 40),
                   marker=_AUDIENCE_MARKER[aud], color=KIND_GROUP_COLOURS["comms"],
                   edgecolors="white", linewidths=0.5, zorder=4, gid=f"comms-{aud}")

    # Count strips for dense lanes: bins on round clock times shared by every dense lane.
    if dense:
        low, high = float(points["x"].min()), float(points["x"].max())
        width = _bin_width(high - low)
        edges = np.arange(np.floor(low / width) * width, high + width, width)
        if edges.size < 2:
            edges = np.array([low, low + width])
        for lane in dense:
            rows = points[points["lane"] == lane]
            stacked = np.zeros(edges.size - 1)
            layers = []
            for group, group_rows in rows.groupby("group", sort=False):
                counts, _ = np.histogram(group_rows["x"].to_numpy(), bins=edges)
                layers.append((group, stacked.copy(), stacked + counts))
                stacked = stacked + counts
            peak = max(float(stacked.max()), 1.0)
            base = position[lane] - 0.42
            for group, bottom, top in layers:
                # add_artist, not stairs(): the limits are set by hand below, and letting
                # add_patch walk every step to update them costs more than drawing does.
                ax.add_artist(StepPatch(
                    base + 0.7 * top / peak, edges, baseline=base + 0.7 * bottom / peak,
                    fill=True, color=KIND_GROUP_COLOURS.get(group, "#969696"), alpha=0.85,
                    zorder=3, gid=f"density-{_gid(str(lane))}-{group}"))
                drawn_groups.add(group)
            ax.text(0.003, position[lane] + 0.44,
                    f"{len(rows):,} events, counted per {_bin_label(width)} (peak {int(peak)})",
                    transform=transforms.blended_transform_factory(ax.transAxes, ax.transData),
                    fontsize=7, va="top", ha="left", color="#444444", zorder=5)

    for group in (*KIND_GROUPS, OTHER_GROUP):
        if group in drawn_groups:
            legend.append(Line2D([], [], linestyle="", marker=KIND_GROUP_MARKERS[group],
                                 markersize=6, color=KIND_GROUP_COLOURS[group], label=group))
    for aud in ("external", "internal"):
        if (points["audience"] == aud).any():
            legend.append(Line2D([], [], linestyle="", marker=_AUDIENCE_MARKER[aud],
                                 markersize=7, color=KIND_GROUP_COLOURS["comms"],
                                 label=f"{aud} update"))

    # Phases and milestones.
    for name, start, end in PHASES:
        if start in marks and end in marks and marks[end] > marks[start]:
            ax.axvspan(marks[start], marks[end], color=PHASE_COLOURS[name], alpha=0.35,
                       linewidth=0, zorder=0, gid=f"phase-{name}")
            legend.append(Patch(color=PHASE_COLOURS[name], alpha=0.5, label=f"{name} phase"))
    _set_xlim(ax, all_x)
    top_of = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    low, high = ax.get_xlim()
    level_ends: list[float] = []  # where the last label of each row of labels ends (axes x)
    for x, field, label in sorted((marks[f], f, lbl) for f, lbl in MILESTONES if f in marks):
        ax.axvline(x, color="#333333", linestyle="--", linewidth=1, zorder=2,
                   gid=f"milestone-{label}")
        text = f"{label} {mdates.num2date(x, tz=UTC):%H:%M}"
        # Labels of close milestones go on separate rows instead of overprinting.
        centre = (x - low) / (high - low)
        half = len(text) * _LABEL_CHAR_WIDTH / 2
        level = next((i for i, end in enumerate(level_ends) if centre - half > end),
                     len(level_ends))
        if level == len(level_ends):
            level_ends.append(centre + half)
        else:
            level_ends[level] = centre + half
        ax.annotate(text, xy=(x, 1.0), xycoords=top_of, xytext=(0, 3 + 11 * level),
                    textcoords="offset points", fontsize=8, ha="center", va="bottom",
                    color="#333333", annotation_clip=False)
    ax.set_title(_plain(heading or "Incident timeline"), loc="left", fontsize=11,
                 pad=8 + 11 * len(level_ends))

    for i, (x0, x1) in enumerate(_reopen_spans(points)):
        ax.axvspan(x0, x1, facecolor="none", edgecolor=REOPEN_COLOUR, hatch="//",
                   linewidth=0.8, zorder=1, gid=f"reopen-{i}")
        if i == 0:
            legend.append(Patch(facecolor="none", edgecolor=REOPEN_COLOUR, hatch="//",
                                label="resolved, then reopened"))

    if len(breaches) and COMMS_LANE in position:
        y = position[COMMS_LANE]
        for aud, rows in breaches.groupby("audience", sort=False):
            bottom = y if aud == "external" else y - 0.45
            spans = list(zip(rows["x0"].to_numpy(float),
                             (rows["x1"] - rows["x0"]).to_numpy(float)))
            ax.broken_barh(spans, (bottom, 0.45), facecolors=BREACH_COLOUR, alpha=0.3,
                           edgecolor=BREACH_COLOUR, linewidth=0.8, zorder=1,
                           gid=f"breach-{_gid(str(aud))}")
        legend.append(Patch(facecolor=BREACH_COLOUR, alpha=0.3, edgecolor=BREACH_COLOUR,
                            label="update cadence breached"))

    ax.set_yticks(range(len(lane_names)), [_plain(n) for n in reversed(lane_names)])
    ax.set_ylim(-0.6, len(lane_names) - 0.4)
    ax.hlines(np.arange(len(lane_names) - 1) + 0.5, 0, 1, transform=ax.get_yaxis_transform(),
              color="#dddddd", linewidth=0.8, zorder=0)
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _date_axis(ax)
    # Bottom: tick labels, the axis label beside the date offset, then the legend rows.
    legend_pt = _legend_below(fig, legend, 6)
    # Top: the milestone label rows and the title above them. Right: room for half a label.
    _place_axes(fig, ax, left=_left_margin(_plain(n) for n in lane_names), right=30,
                top=26 + 11 * len(level_ends), bottom=38 + legend_pt)
    return fig


# --- responders ------------------------------------------------------------------------------

def responder_activity_chart(events: pd.DataFrame, responders: Sequence[str], *,
                             max_points: int = 400) -> Figure:
    """Who acted when: one row per responder (in the given order, first activity on top).

    Each row shows the span from first to last action and every action, coloured by kind
    group, with the count of actions at the right. Beyond ``max_points`` actions the rows
    become a heat strip (actions per round time bin) so a busy channel stays readable.
    ``events`` may carry an ``escalation`` column (``analysis.retrospective.responder_actions``):
    a row with 1 is someone being escalated to, which widens their span but is not counted
    or marked as an action of theirs, exactly as the responder table counts.
    """
    check_columns(events, ("at", "actor", "kind"), "events")
    people = [str(p) for p in (responders or [])]
    n = len(people)
    fig = DisplayFigure(figsize=(12, 1.6 + 0.4 * max(n, 1)))
    ax = fig.add_subplot()
    ax.set_title("Responder activity", loc="left", fontsize=11)
    actor = events["actor"].astype(object)
    columns = ["at", "actor", "kind", *(["escalation"] if "escalation" in events else [])]
    every = events.loc[actor.isin(people).to_numpy() & events["at"].notna().to_numpy(), columns]
    if n == 0 or every.empty:
        return _nothing_to_show(fig, ax, "No responder activity")
    acted = (every["escalation"].fillna(0).astype(int) == 0).to_numpy() \
        if "escalation" in every else np.ones(len(every), dtype=bool)
    every_y = (n - 1 - pd.Categorical(every["actor"].astype(object), categories=people).codes
               ).astype(float)
    every_x = _num(every["at"])
    chosen = every[acted]
    y, x = every_y[acted], every_x[acted]
    group = kind_group(chosen["kind"]).to_numpy()

    # First-to-last activity bar behind the marks (being escalated to counts for the span).
    cax = None
    spans = pd.DataFrame({"y": every_y, "x": every_x}).groupby("y")["x"].agg(["min", "max"])
    spans["size"] = pd.Series(y).value_counts().reindex(spans.index, fill_value=0)
    ax.hlines(spans.index.to_numpy(), spans["min"].to_numpy(), spans["max"].to_numpy(),
              color="#e0e0e0", linewidth=8, zorder=1, gid="responder-spans")
    if len(x) <= max_points:
        for name in (*KIND_GROUPS, OTHER_GROUP):
            mask = group == name
            if mask.any():
                ax.scatter(x[mask], y[mask], marker=KIND_GROUP_MARKERS[name], s=36, linewidths=0,
                           color=KIND_GROUP_COLOURS[name], zorder=3, label=name,
                           gid=f"actions-{name}")
        legend_pt = _legend_below(fig, ax.get_legend_handles_labels()[0], 8)
    else:
        width = _bin_width(float(x.max() - x.min()))
        x_edges = np.arange(np.floor(x.min() / width) * width, x.max() + width, width)
        if x_edges.size < 2:
            x_edges = np.array([x.min(), x.min() + width])
        y_edges = np.arange(n + 1) - 0.5
        counts, _, _ = np.histogram2d(y, x, bins=[y_edges, x_edges])
        mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_equal(counts, 0), cmap="Blues",
                             vmin=0, zorder=2, gid="actions-heat")
        legend_pt = 0.0
        # The colour bar right of the action counts, in a fixed slot of the right margin.
        cax = fig.add_axes((0, 0, 1, 1))
        fig.colorbar(mesh, cax=cax, label=f"actions per {_bin_label(width)}")
    label_at = transforms.blended_transform_factory(ax.transAxes, ax.transData)
    for row_y, size in zip(spans.index.to_numpy(), spans["size"].to_numpy()):
        ax.text(1.005, row_y, f"{int(size):,}", transform=label_at, fontsize=8, va="center",
                ha="left", color="#444444")
    ax.text(1.005, 1.0, "actions", transform=ax.transAxes, fontsize=8, va="bottom",
            ha="left", color="#444444")
    ax.set_yticks(range(n), [_plain(p) for p in reversed(people)])
    ax.set_ylim(-0.6, n - 0.4)
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
    ax.set_axisbelow(True)
    _date_axis(ax)
    _set_xlim(ax, every_x)
    right = 48.0 if cax is None else 120.0
    _place_axes(fig, ax, left=_left_margin(_plain(p) for p in people), right=right, top=24,
                bottom=38 + legend_pt)
    if cax is not None:
        box = ax.get_position()
        fig_width = fig.get_size_inches()[0] * 72
        cax.set_position([box.x1 + 48 / fig_width, box.y0, 10 / fig_width, box.height])
    return fig


# --- files -----------------------------------------------------------------------------------

def save_figure(fig: Figure, path_without_suffix: str | Path,
                formats: Sequence[str] = ("png", "svg"), *, dpi: int = 150,
                png_text: Mapping[str, str] | None = None) -> list[Path]:
    """Write the figure once per format (``timeline`` → ``timeline.png``, ``timeline.svg``).

    Output is reproducible: no creation date in the files and fixed SVG ids, so a re-run of
    the same review writes the same bytes and diffs stay quiet. Each file appears whole (it
    is written beside and renamed), so a reader never sees half a chart. ``png_text``: text
    chunks for the PNG (a chart's key, see ``chart_files``).
    """
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    supported = fig.canvas.get_supported_filetypes()
    written: list[Path] = []
    for fmt in formats:
        fmt = fmt.lower().lstrip(".")
        if fmt not in supported:
            raise ValueError(f"cannot save a figure as {fmt!r}; supported: "
                             f"{', '.join(sorted(supported))}")
        target = base.with_name(f"{base.name}.{fmt}")
        metadata: dict[str, Any] | None = {
            "svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None},
            "png": {"Software": None, **(png_text or {})},
        }.get(fmt)
        with replacing(target) as partial, \
                matplotlib.rc_context({"svg.hashsalt": "review-kit", "svg.fonttype": "path"}):
            fig.savefig(partial, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")
        written.append(target)
    return written
