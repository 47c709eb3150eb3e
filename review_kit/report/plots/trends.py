"""Figures for the trend report: counts, duration distributions, medians with intervals, XmR
charts, action-item follow-through and communication cadence.

Like the timeline figures, these are built on ``matplotlib.figure.Figure`` directly (never
pyplot): safe under Agg in papermill, no global state. Each takes the frame a
`review_kit.analysis.trends` function returns (or the metrics frame) and returns the Figure. Artists
a reader or test may look for carry a ``gid`` (bars: each bar's patch): ``counts-<group>``, ``ecdf-<group>``,
``box-<group>``, ``box-median-<group>``, ``median-<group>``, ``median-ci-<group>``, ``xmr-values``, ``xmr-centre``,
``xmr-ucl``, ``xmr-lcl``, ``xmr-out-of-control``, ``mr-values``, ``mr-limit``,
``items-opened``, ``items-closed``, ``items-open``, ``breach-<group>``, ``first-update-<group>``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator, PercentFormatter

from ...analysis.trends import ALL, UNKNOWN, group_order, human_duration, metric_label
from ...model import check_columns
from ...human import period as period_name
from . import DisplayFigure

__all__ = [
    "SEVERITY_COLOURS", "action_items_chart", "box_chart", "communication_chart",
    "counts_chart", "duration_tick", "ecdf_chart", "median_chart", "xmr_chart",
]

# Severities on one ramp of falling darkness (cividis: readable by colour-blind readers and
# in greyscale, where SEV1 stays darkest); other groups from Okabe and Ito's palette, with
# a marker each so lines differ without colour too.
SEVERITY_COLOURS: dict[str, str] = {
    "SEV1": "#00224e", "SEV2": "#4a536c", "SEV3": "#817f78", "SEV4": "#beaf6b",
    "SEV5": "#f3db42", UNKNOWN: "#d9d9d9", ALL: "#000000",
}
_OTHER_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00",
                  "#f0e442", "#000000")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
PARTIAL_NOTE = "partial"
# Round durations people think in: the ticks of every log-duration axis. The coarse set
# serves wide ranges, the fine set narrow ones.
_MIN, _HOUR, _DAY = 60.0, 3600.0, 86400.0
_COARSE_TICKS = np.array([1, 10, _MIN, 10 * _MIN, _HOUR, 6 * _HOUR, _DAY, 7 * _DAY,
                          30 * _DAY])
_FINE_TICKS = np.array([1, 2, 5, 10, 20, 30, _MIN, 2 * _MIN, 5 * _MIN, 10 * _MIN, 15 * _MIN,
                        20 * _MIN, 30 * _MIN, _HOUR, 2 * _HOUR, 3 * _HOUR, 6 * _HOUR,
                        12 * _HOUR, _DAY, 2 * _DAY, 3 * _DAY, 7 * _DAY, 14 * _DAY, 30 * _DAY])
_TICK_UNITS = (("d", _DAY), ("h", _HOUR), ("min", _MIN), ("s", 1.0))


def duration_tick(seconds: float) -> str:
    """A tick label in the largest whole unit: 3600 → "1 h", 5400 → "90 min"."""
    if not np.isfinite(seconds) or seconds <= 0:
        return ""
    for name, size in _TICK_UNITS:
        if seconds >= size and abs(seconds / size - round(seconds / size)) < 1e-9:
            return f"{round(seconds / size)} {name}"
    return human_duration(seconds)


def _colour(group: str, position: int) -> str:
    return SEVERITY_COLOURS.get(group, _OTHER_COLOURS[position % len(_OTHER_COLOURS)])


def _marker(position: int) -> str:
    return _MARKERS[position % len(_MARKERS)]


def _legend_outside(ax: Axes, title: str | None = None, handles: list | None = None,
                    labels: list | None = None) -> None:
    """The legend right of the plot, never over the data."""
    args = (handles, labels) if handles is not None else ()
    if handles is None and not ax.get_legend_handles_labels()[0]:
        return
    ax.legend(*args, title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", frameon=False, borderaxespad=0)


def _period_text(labels: Sequence[str], partial: object) -> list[str]:
    """Period labels as people name them ("Mar 2024", "Q1 2024"), the partial one marked so."""
    mark = str(partial) if partial is not None else None
    return [f"{period_name(label)}\n({PARTIAL_NOTE})" if label == mark else period_name(label)
            for label in labels]


def _duration_axis(ax: Axes, axis: str, values: np.ndarray) -> None:
    """A log axis in seconds, ticked at round durations and labelled "5 min", "1 h"…"""
    positive = values[np.isfinite(values) & (values > 0)]
    getattr(ax, f"set_{axis}scale")("log")
    target = getattr(ax, f"{axis}axis")
    if positive.size:
        low, high = positive.min(), positive.max()
        ticks = _COARSE_TICKS[(_COARSE_TICKS >= low) & (_COARSE_TICKS <= high)]
        if ticks.size < 3:
            ticks = _FINE_TICKS[(_FINE_TICKS >= low) & (_FINE_TICKS <= high)]
        if ticks.size < 2:  # a very narrow range: widen it to the round values around it
            below = _FINE_TICKS[_FINE_TICKS <= low]
            above = _FINE_TICKS[_FINE_TICKS >= high]
            ticks = np.concatenate([below[-1:], ticks, above[:1]])
            getattr(ax, f"set_{axis}lim")(ticks.min() / 1.1, ticks.max() * 1.1)
        target.set_major_locator(FixedLocator(np.unique(ticks)))
        target.set_minor_locator(NullLocator())
        target.set_minor_formatter(NullFormatter())
    target.set_major_formatter(FuncFormatter(lambda v, _: duration_tick(v)))


def _period_labels(ax: Axes, labels: Sequence[str]) -> None:
    """Period names under the bars: upright while a few fit, else turned on end and thinned
    to what the axis width holds (a turned label needs about one line's height), so no two
    ever touch; the last period (the one a partial mark goes on) is always named."""
    positions = np.arange(len(labels))
    upright = len(labels) <= 6
    if upright:
        ax.set_xticks(positions, list(labels))
        return
    width_pt = ax.get_figure().get_size_inches()[0] * 72 * 0.75
    lines = max(str(label).count("\n") + 1 for label in labels) if labels else 1
    fit = max(1, int(width_pt // (14 * lines + 4)))
    step = max(1, int(np.ceil(len(labels) / fit)))
    chosen = positions[::-1][::step][::-1]  # counted back from the last period
    ax.set_xticks(chosen, [str(labels[i]).replace("\n", " ") for i in chosen], rotation=90,
                  ha="center")


def _groups(frame: pd.DataFrame, by: str | None) -> pd.Series:
    if by is None:
        return pd.Series(ALL, index=frame.index, dtype="string")
    check_columns(frame, [by], "frame")
    return frame[by].astype("string").fillna(UNKNOWN)


def _values(metrics: pd.DataFrame, metric: str) -> pd.Series:
    check_columns(metrics, [metric], "metrics frame")
    return pd.to_numeric(metrics[metric], errors="coerce").astype(float)


def counts_chart(counts: pd.DataFrame, title: str = "Incidents per period",
                 partial: object = None) -> Figure:
    """Stacked bars of `trends.incident_counts` (pivoted): one bar segment per group.
    ``partial``: the period the data ends inside, hatched and labelled partial."""
    fig = DisplayFigure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot()
    labels = [str(p) for p in counts.index]
    positions = np.arange(len(labels))
    bottom = np.zeros(len(labels))
    for i, group in enumerate(counts.columns):
        heights = counts[group].to_numpy(dtype=float)
        bars = ax.bar(positions, heights, bottom=bottom, label=str(group),
                      color=_colour(str(group), i), width=0.8, edgecolor="white", linewidth=0.5)
        for label, patch in zip(labels, bars):
            patch.set_gid(f"counts-{group}")
            if partial is not None and label == str(partial):
                patch.set_hatch("///")
                patch.set_alpha(0.6)
        bottom += heights
    _period_labels(ax, _period_text(labels, partial))
    ax.set_ylabel("incidents")
    ax.set_title(title)
    if len(counts.columns):
        _legend_outside(ax, title=str(counts.columns.name))
    return fig


def ecdf_chart(metrics: pd.DataFrame, metric: str, by: str | None = "severity") -> Figure:
    """Empirical CDF of one duration per group, on a log time axis.

    Each curve reads: "this share of incidents took at most this long"; the median is where
    a curve crosses 0.5, the p90 where it crosses 0.9.
    """
    values = _values(metrics, metric)
    groups = _groups(metrics, by)
    fig = DisplayFigure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for i, group in enumerate(group_order(groups[values.notna()])):
        chosen = np.sort(values[(groups == group) & values.notna()].to_numpy())
        shares = np.arange(1, chosen.size + 1) / chosen.size
        (line,) = ax.step(chosen, shares, where="post", color=_colour(group, i),
                          linestyle=("-", "--", "-.", ":")[i % 4],
                          label=f"{group} (n={chosen.size})")
        line.set_gid(f"ecdf-{group}")
    for share in (0.5, 0.9):
        ax.axhline(share, color="#969696", linewidth=0.6, linestyle=":")
    _duration_axis(ax, "x", values.to_numpy())
    ax.set_ylim(0, 1.01)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(metric_label(metric))
    ax.set_ylabel("share of incidents")
    ax.set_title(f"{metric_label(metric)}: distribution")
    _legend_outside(ax)
    return fig


def box_chart(metrics: pd.DataFrame, metric: str, by: str | None = "severity") -> Figure:
    """Box plots of one duration per group on a log axis (whiskers at the 5th and 95th
    percentiles, the rest as points), with n under each box."""
    values = _values(metrics, metric)
    groups = _groups(metrics, by)
    # Zero and negative durations have no place on a log axis.
    keep = values.notna() & (values > 0)
    names = group_order(groups[keep])
    data = [values[keep & (groups == g)].to_numpy() for g in names]
    fig = DisplayFigure(figsize=(max(5, 1.3 * len(names) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    if names:
        positions = np.arange(1, len(names) + 1)
        parts = ax.boxplot(data, positions=positions, whis=(5, 95), patch_artist=True,
                           widths=0.6)
        ax.set_xticks(positions, [f"{g}\nn={len(d)}" for g, d in zip(names, data)])
        for i, (box, median, group) in enumerate(zip(parts["boxes"], parts["medians"], names)):
            box.set_facecolor(_colour(group, i))
            box.set_alpha(0.55)
            box.set_gid(f"box-{group}")
            # The median in black, thick and wider than the box, with its value beside it:
            # visible on a dark box and in greyscale.
            median.set_color("#000000")
            median.set_linewidth(2.5)
            median.set_gid(f"box-median-{group}")
            value = float(np.median(data[i]))
            ax.annotate(human_duration(value),
                        (positions[i] + 0.32, value), textcoords="offset points", xytext=(3, 0),
                        va="center", ha="left", fontsize="x-small", color="#000000",
                        gid=f"box-median-label-{group}")
    _duration_axis(ax, "y", values[keep].to_numpy())
    ax.set_ylabel(metric_label(metric))
    ax.set_title(f"{metric_label(metric)} by {by or 'group'}")
    return fig


def median_chart(over_time: pd.DataFrame, metric: str | None = None,
                 partial: object = None) -> Figure:
    """Median per period with its bootstrap interval (from `trends.median_over_time`).

    Periods without incidents leave a gap rather than a guess; a group with no value at all
    is left out; the ``partial`` period is labelled so and drawn with a hollow marker.
    """
    check_columns(over_time, ["period", "group", "n", "median", "low", "high"],
                  "median_over_time frame")
    fig = DisplayFigure(figsize=(10, 4.5), layout="constrained")
    ax = fig.add_subplot()
    labels = [str(p) for p in pd.unique(over_time["period"])]
    position = {label: i for i, label in enumerate(labels)}
    for i, group in enumerate(group_order(over_time["group"].astype(str))):
        rows = over_time[over_time["group"].astype(str) == group]
        if not (rows["n"] > 0).any():
            continue
        xs = np.array([position[str(p)] for p in rows["period"]], dtype=float)
        colour = _colour(group, i)
        medians = rows["median"].to_numpy(dtype=float)
        (line,) = ax.plot(xs, np.where(rows["n"].to_numpy() > 0, medians, np.nan),
                          marker=_marker(i), color=colour, label=group)
        if partial is not None and str(partial) in position:
            at = position[str(partial)]
            ax.plot([at], medians[xs == at] if (xs == at).any() else [np.nan], marker=_marker(i),
                    markerfacecolor="white", color=colour, linestyle="")
        line.set_gid(f"median-{group}")
        band = ax.fill_between(xs, rows["low"].to_numpy(dtype=float),
                               rows["high"].to_numpy(dtype=float), color=colour, alpha=0.2,
                               linewidth=0)
        band.set_gid(f"median-ci-{group}")
    _period_labels(ax, _period_text(labels, partial))
    _duration_axis(ax, "y", over_time[["median", "low", "high"]].to_numpy(dtype=float).ravel())
    name = metric_label(metric) if metric else "Duration"
    ax.set_ylabel(f"median {name.lower()}")
    ax.set_title(f"{name}: median per period with 95% interval")
    _legend_outside(ax)
    return fig


MR_CONSTANT = 3.267  # upper limit of the moving-range chart: D4 × mean moving range


MAX_POINT_LABELS = 8


def _date_axis(ax: Axes) -> None:
    """Dates on the x axis, as many ticks as fit (the locator thins them), in UTC."""
    from matplotlib import dates as mdates
    locator = mdates.AutoDateLocator(tz="UTC", minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz="UTC"))


def xmr_chart(chart: pd.DataFrame, metric: str | None = None) -> Figure:
    """The XmR chart of `trends.xmr` / `trends.control_chart`: individuals above (log
    seconds, limits dashed, out-of-control incidents ringed) and moving ranges below, over
    the incidents' dates (``at``; in time order by position when the frame has none)."""
    check_columns(chart, ["value", "log_value", "moving_range", "centre_value", "ucl_value",
                          "lcl_value", "out_of_control"], "xmr frame")
    fig = DisplayFigure(figsize=(10, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    dated = "at" in chart and chart["at"].notna().all() and len(chart) > 0
    if dated:
        from matplotlib import dates as mdates
        xs = mdates.date2num(pd.to_datetime(chart["at"], utc=True).dt.tz_localize(None)
                             .to_numpy("datetime64[us]"))
    else:
        xs = np.arange(len(chart), dtype=float)
    values = np.exp(chart["log_value"].to_numpy(dtype=float))
    (line,) = top.plot(xs, values, marker=".", color="#0072b2", linewidth=0.8,
                       label="incident")
    line.set_gid("xmr-values")
    for column, style, gid, label in (("centre_value", "-", "xmr-centre", "centre line"),
                                      ("ucl_value", "--", "xmr-ucl", "control limits"),
                                      ("lcl_value", "--", "xmr-lcl", None)):
        (limit,) = top.plot(xs, chart[column].to_numpy(dtype=float), linestyle=style,
                            color="#555555", linewidth=1, label=label)
        limit.set_gid(gid)
    out = chart["out_of_control"].to_numpy(dtype=bool)
    marks = top.scatter(xs[out], values[out], s=70, facecolors="none", edgecolors="#d55e00",
                        linewidths=1.8, zorder=3, label=f"outside the limits ({out.sum()})")
    marks.set_gid("xmr-out-of-control")
    if "incident_id" in chart:
        # The most extreme few are named; alternating above and below keeps neighbours apart.
        chosen = np.flatnonzero(out)
        if chosen.size > MAX_POINT_LABELS:
            centre = chart["centre_value"].to_numpy(dtype=float)
            distance = np.abs(np.log(values[chosen]) - np.log(np.where(centre[chosen] > 0,
                                                                         centre[chosen], 1)))
            chosen = np.sort(chosen[np.argsort(-distance)[:MAX_POINT_LABELS]])
        names = chart["incident_id"].to_numpy()
        for k, index in enumerate(chosen):
            # Above the point, inside the plot; neighbours alternate left and right of it.
            right = k % 2 == 0
            top.annotate(str(names[index]), (xs[index], values[index]), textcoords="offset points",
                         xytext=(5 if right else -5, 5), ha="left" if right else "right",
                         fontsize="x-small", color="#d55e00")
    _duration_axis(top, "y", np.concatenate([values, chart["ucl_value"].to_numpy(dtype=float),
                                             chart["lcl_value"].to_numpy(dtype=float)]))
    name = metric_label(metric) if metric else "Duration"
    top.set_ylabel(name)
    top.set_title(f"{name}: individuals and moving range (log scale)")
    _legend_outside(top)
    moving = chart["moving_range"].to_numpy(dtype=float)
    (mr_line,) = bottom.plot(xs, moving, marker=".", color="#cc79a7", linewidth=0.8)
    mr_line.set_gid("mr-values")
    mean_mr = np.nanmean(moving) if np.isfinite(moving).any() else np.nan
    mr_limit = bottom.axhline(MR_CONSTANT * mean_mr, linestyle="--", color="#555555", linewidth=1)
    mr_limit.set_gid("mr-limit")
    bottom.set_ylabel("moving range (log)")
    if dated:
        _date_axis(bottom)
        bottom.set_xlabel("incident date (UTC)")
        pad = max((xs.max() - xs.min()) * 0.02, 0.5)
        bottom.set_xlim(xs.min() - pad, xs.max() + pad)
    else:
        bottom.set_xlabel("incidents in time order")
    return fig


def action_items_chart(per_period: pd.DataFrame, partial: object = None) -> Figure:
    """Action items opened and closed per period (bars) and still open at each period's
    end (line, right axis), from `trends.action_item_follow_through(...).per_period`.
    ``partial``: the period the data ends inside, hatched and labelled partial."""
    check_columns(per_period, ["opened", "closed", "open_at_end"], "per-period frame")
    fig = DisplayFigure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot()
    labels = [str(p) for p in per_period.index]
    xs = np.arange(len(labels))
    opened = ax.bar(xs - 0.2, per_period["opened"].to_numpy(), width=0.4, color="#e69f00",
                    label="opened")
    closed = ax.bar(xs + 0.2, per_period["closed"].to_numpy(), width=0.4, color="#0072b2",
                    hatch="..", edgecolor="white", label="closed")
    for bars, gid in ((opened, "items-opened"), (closed, "items-closed")):
        for label, patch in zip(labels, bars):
            patch.set_gid(gid)
            if partial is not None and label == str(partial):
                patch.set_alpha(0.5)
    _period_labels(ax, _period_text(labels, partial))
    ax.set_ylabel("action items per period")
    backlog = ax.twinx()
    (line,) = backlog.plot(xs, per_period["open_at_end"].to_numpy(), color="#000000",
                           marker="o", label="open at period end")
    line.set_gid("items-open")
    backlog.set_ylabel("open at period end")
    backlog.set_ylim(bottom=0)
    handles = [opened, closed, line]
    backlog.legend(handles, [h.get_label() for h in handles], loc="upper left",
                   bbox_to_anchor=(1.08, 1.0), fontsize="small", frameon=False, borderaxespad=0)
    ax.set_title("Action items: opened, closed and still open")
    return fig


def communication_chart(trends_frame: pd.DataFrame, with_policy: Sequence[str] | None = None,
                        partial: object = None) -> Figure:
    """Cadence breach rate (top) and median time to first update (bottom) per period and
    group, from `trends.communication_trends`.

    Every period from the first to the last is on the axis; a group's line breaks over the
    periods it has no incident in rather than joining across them. ``with_policy``: the
    groups with a cadence policy; the others have no breach rate to draw (not 0%) and are
    left out of the top panel. A group without any first update is left out of the bottom.
    """
    check_columns(trends_frame, ["period", "group", "incidents", "breach_rate",
                                 "median_time_to_first_update"], "communication frame")
    fig = DisplayFigure(figsize=(10, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    present = pd.unique(trends_frame["period"])
    periods = (pd.period_range(min(present), max(present), freq=min(present).freq)
               if len(present) and isinstance(present[0], pd.Period) else sorted(present))
    labels = [str(p) for p in periods]
    xs = np.arange(len(labels), dtype=float)
    for i, group in enumerate(group_order(trends_frame["group"].astype(str))):
        rows = trends_frame[trends_frame["group"].astype(str) == group].copy()
        rows.index = rows["period"].astype(str)
        rows = rows.reindex(labels)
        colour, marker = _colour(group, i), _marker(i)
        if with_policy is None or group in with_policy:
            (breach,) = top.plot(xs, rows["breach_rate"].to_numpy(dtype=float), marker=marker,
                                 color=colour, label=group)
            breach.set_gid(f"breach-{group}")
        first_update = rows["median_time_to_first_update"].to_numpy(dtype=float)
        if np.isfinite(first_update).any():
            (first,) = bottom.plot(xs, first_update, marker=marker, color=colour, label=group)
            first.set_gid(f"first-update-{group}")
    top.set_ylim(0, 1.02)
    top.yaxis.set_major_formatter(PercentFormatter(1.0))
    top.set_ylabel("incidents with a cadence breach")
    top.set_title("Communication: cadence breaches and time to first update")
    _legend_outside(top, title="breach rate")
    if not top.get_lines():
        top.text(0.5, 0.5, "No severity here has a cadence policy", transform=top.transAxes,
                 ha="center", va="center", color="#666666")
    _legend_outside(bottom, title="first update")
    _duration_axis(bottom, "y", trends_frame["median_time_to_first_update"].to_numpy(dtype=float))
    bottom.set_ylabel("median time to first update")
    _period_labels(bottom, _period_text(labels, partial))
    return fig
