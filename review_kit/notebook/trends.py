"""What the trend notebook shows: one call per cell over the store's incidents."""
from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import human
from ..analysis import trends as tr
from ..analysis.durations import describe_finding, order_findings
from ..analysis.retrospective import cadence_policy
from ..config import load_config
from ..model import MILESTONE_OVERRIDES, parse_timestamp
from ..paths import output_folder, write_file
from ..report.labels import MILESTONE_LABELS
from ..store import Store
from .kept_history import FLEET_EVENT_COLUMNS, fleet_from_events, fleet_metrics

NO_INCIDENTS = ("No incidents in this window: ingest an export (review-kit ingest auto FILE…) "
                "or widen --since/--until.")
NO_ACTION_ITEMS = ("No action items recorded: add them in each retrospective (the action items "
                   "tab) so that follow-through can be tracked.")
NO_DUE_DATES = ("No action item has a due date: set one on each action item in the "
                "retrospective to see what is overdue.")
NO_UPDATES = ("No communication updates: ingest the status page (Statuspage incidents.json) or "
              "stakeholder updates (incident.io) to measure update cadence.")
NO_RESPONDERS = ("No responders recorded: ingest the paging tool's log (acknowledgements, "
                 "escalations) or the incident channel (Slack export).")


def _missing(sentence: str):
    """What a section shows when its data is absent: one sentence, no empty chart."""
    from IPython.display import HTML
    return HTML(f"<p class='rk-missing'>{escape(sentence)}</p>")


COMPARE_FREQ = {"quarter": "Q", "month": "M", "week": "W"}
CHART_DPI = 100
# The charts of notebooks/trends.ipynb, as its cells ask for them (a test holds the two
# together): what the runner draws ahead while the kernel starts.
CHART_CELLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("counts_chart", ()), ("duration_distributions", ("time_to_resolve",)),
    ("duration_boxes", ("time_to_acknowledge",)), ("median_over_time", ("time_to_mitigate",)),
    ("control_chart", ("time_to_resolve",)), ("action_items_chart", ()), ("communication", ()))
# Overdue action items listed in the page; more go to a CSV file beside it.
OVERDUE_LISTED = 200


def _plots():
    """The trend figures, imported at the first chart: matplotlib takes a second to import
    and the first cells (the summary, the tables) draw nothing."""
    from ..report.plots import trends as trend_plots
    return trend_plots


def _drawn_columns(metrics: pd.DataFrame, metric: str, by: str | None) -> pd.DataFrame:
    """What a distribution chart reads of the metrics: the duration and the group."""
    return metrics[[c for c in dict.fromkeys((metric, by)) if c is not None and c in metrics]]


def _day(value: str | None) -> pd.Timestamp | None:
    if not value:
        return None
    return parse_timestamp(f"{str(value)[:10]}T00:00:00Z")


class TrendsView:
    """Fleet statistics for the incidents in [since, until)."""

    def __init__(self, store: Store, *, since: str | None = None, until: str | None = None,
                 output_dir: str | Path | None = None, group_by: str = "severity",
                 compare: str = "quarter", config: dict | None = None, n_boot: int = 2000,
                 asof: Any = None, redact: bool = False, figure_formats: str = "png") -> None:
        self.store = store
        self.redact = bool(redact)
        self.figure_formats = tuple(f.strip() for f in (figure_formats or "png").split(",") if f.strip())
        self.config = load_config() if config is None else config
        self.output_dir = output_folder(output_dir)
        self.group_by = group_by or None
        if compare not in COMPARE_FREQ:
            raise ValueError(f"compare must be one of {', '.join(COMPARE_FREQ)}, not {compare!r}")
        self.freq = COMPARE_FREQ[compare]
        self.n_boot = n_boot
        self.since, self.until = _day(since), _day(until)
        self.asof = parse_timestamp(asof) if asof else (self.until or pd.Timestamp(datetime.now(timezone.utc)))
        self._load()

    @classmethod
    def open(cls, store: str | Path | None, **options: Any) -> "TrendsView":
        options = {k: (v or None) if k in ("since", "until") else v for k, v in options.items()}
        return cls(Store.open(store or None, create=False), **options)

    def _load(self) -> None:
        from ..report.bounds import cut_series, text_limit
        incidents = self.store.incidents()
        limit = text_limit(self.config)
        incidents = incidents.assign(**{c: cut_series(incidents[c], limit) for c in
                                        ("title", "service", "team", "commander")})
        items = self.store.action_items()
        overrides = self.store.annotation_rows()
        overrides = overrides[overrides["field"].isin(MILESTONE_OVERRIDES)][["incident_id", "field", "value"]]
        cadence = cadence_policy(self.config)
        if self.redact:
            # Every text redacted before anything is computed from it: from all the events.
            events = self.store.events(columns=FLEET_EVENT_COLUMNS)
            incidents, events, items = self._redacted(incidents, events, items)
            fleet = fleet_from_events(events, incidents, overrides=overrides, cadence=cadence,
                                      asof=self.asof)
        else:
            fleet = fleet_metrics(self.store, incidents, overrides=overrides, cadence=cadence,
                                  asof=self.asof)
        metrics = fleet.metrics
        when = tr.incident_times(metrics.merge(incidents[["incident_id", "created_at"]],
                                               on="incident_id", how="left"))
        keep = pd.Series(True, index=metrics.index)
        if self.since is not None:
            keep &= when >= self.since
        if self.until is not None:
            keep &= when < self.until
        self.metrics = metrics[keep].reset_index(drop=True)
        ids = set(self.metrics["incident_id"])
        self.incidents = incidents[incidents["incident_id"].isin(ids)].reset_index(drop=True)
        self._whole_store = len(self.incidents) == len(incidents)
        # What each responder did, and each incident's updates: of the incidents reported.
        self.activity = fleet.activity[fleet.activity["incident_id"].isin(ids)].reset_index(drop=True)
        self.updates = fleet.updates[fleet.updates.index.isin(ids)]
        self.action_items = items[items["incident_id"].isin(ids)].reset_index(drop=True)
        # Anchored to the data: the last complete period holding incidents, and the one before.
        self.compared = tr.compared_periods(tr.incident_times(self._with_created()), self.asof,
                                            self.freq)
        self.before, self.after = self.compared.before, self.compared.after
        self.findings = order_findings(self.metrics)

    def _redacted(self, incidents: pd.DataFrame, events: pd.DataFrame, items: pd.DataFrame):
        """Every text of the fleet redacted before anything is computed from it, people as
        placeholders (so the responder load, the commanders and the action items' owners
        name the same person by the same placeholder)."""
        from ..report.redact import Redactor
        person = events["actor_type"].isin(["bot", "service"]) == False  # noqa: E712
        redactor = Redactor.from_config(self.config, people=[
            *incidents["commander"].dropna().astype(str), *events.loc[person, "actor"].dropna().astype(str),
            *events["target"].dropna().astype(str), *items["owner"].dropna().astype(str)])
        incidents = redactor.frame(incidents, text=("title", "severity_raw", "service", "team", "url",
                                                    "source_id"), people=("commander",))
        redacted = redactor.frame(events, people=("target",))
        redacted.loc[person, "actor"] = redactor.series(events.loc[person, "actor"], people=True)
        redacted.loc[~person, "actor"] = redactor.series(events.loc[~person, "actor"])
        items = redactor.frame(items, text=("title", "url", "type", "priority"), people=("owner",))
        self.redactor = redactor
        return incidents, redacted, items

    # --- cells -----------------------------------------------------------------------------
    def headline(self) -> pd.DataFrame:
        """The headline figures of the last period against the one before (one computation:
        the summary table and its sentences are worded from this frame)."""
        if not hasattr(self, "_headline"):
            policy = cadence_policy(self.config)
            has_cadence = None
            if "severity" in self.metrics:
                # The policy asked once per distinct severity, not once per incident.
                severity = self.metrics["severity"]
                cadenced = {sev: any(policy.limit(sev, audience) for audience in ("external", "internal"))
                            for sev in pd.unique(severity.dropna()) if isinstance(sev, str)}
                has_cadence = severity.map(cadenced).eq(True)  # no severity, no policy: False
            self._headline = tr.headline_figures(
                self._with_created(), (self.before, self.after), self.action_items,
                has_cadence=has_cadence, n_boot=self.n_boot)
        return self._headline

    def summary(self):
        """The answer first: the headline table and at most three sentences."""
        from IPython.display import HTML

        from ..report.trend_summary import summary_html
        if self.metrics.empty:
            return _missing(NO_INCIDENTS)
        before, after = self.compared.labels()
        lead = (f"{human.count(len(self.metrics))} incidents from {self._first_day()} to "
                f"{self._last_day()} (as of {self.asof.strftime('%Y-%m-%d %H:%M UTC')}); "
                f"comparing {after} with {before}. Lower is better "
                "for every figure; durations are medians with a 95% bootstrap interval.")
        return HTML(summary_html(self.headline(), self.before, self.after, lead)
                    + self._data_quality_html())

    def _data_quality_html(self) -> str:
        """The incidents whose milestones are out of order: their durations are left out."""
        if self.findings.empty:
            return ""
        lines = [describe_finding(f, MILESTONE_LABELS) for f in self.findings.to_dict("records")]
        shown = "".join(f"<li>{escape(line)}</li>" for line in lines[:20])
        more = f"<li>and {len(lines) - 20} more</li>" if len(lines) > 20 else ""
        count = self.findings["incident_id"].nunique()
        return (f"<p>Data quality: {count} incident(s) with milestones out of order; the "
                f"durations that depend on them are left out.</p>"
                f"<ul class='rk-data-quality'>{shown}{more}</ul>")

    def comparisons_by_group(self):
        """Each duration compared between the two periods, per group, as sentences."""
        from IPython.display import HTML
        if self.metrics.empty:
            return _missing(NO_INCIDENTS)
        sentences = tr.summary_sentences(self.metrics, (self.before, self.after), by=self.group_by,
                                         n_boot=self.n_boot)
        items = "".join(f"<li>{escape(s)}</li>" for s in sentences[1:])
        return HTML(f"<details><summary>{len(sentences) - 1} comparisons by "
                    f"{escape(self.group_by or 'group')}</summary><ul>{items}</ul></details>")

    def _first_day(self) -> str:
        return human.date(tr.incident_times(self._with_created()).min())

    def _last_day(self) -> str:
        return human.date(tr.incident_times(self._with_created()).max())

    def _data_end(self) -> pd.Timestamp | None:
        times = tr.incident_times(self._with_created()).dropna()
        return None if times.empty else times.max()

    def _with_created(self) -> pd.DataFrame:
        # Merged once: the summary, the counts and the rate comparison all read it.
        if getattr(self, "_created", None) is None:
            self._created = self.metrics.merge(self.incidents[["incident_id", "created_at"]],
                                               on="incident_id", how="left")
        return self._created

    def _chart(self, name: str, alt: str, plot: str, *args: Any, **kwargs: Any):
        """A chart as the report shows it, with its alt text: `report.plots.trends.<plot>`
        drawn from `args` and `kwargs` into NAME.png beside the report, keyed by all of them.
        A PNG already there with the same key (drawn by the runner while the kernel started:
        `draw_charts`) is shown as it is, and matplotlib is then not even imported."""
        from IPython.display import Image

        from ..report.chart_files import chart_key, chart_png

        def draw():
            return getattr(_plots(), plot)(*args, **kwargs)

        key = chart_key(f"trends/{name}", CHART_DPI, plot, *args, kwargs)
        path = chart_png(self.output_dir / f"{name}.png", key, draw, dpi=CHART_DPI)
        if "svg" in self.figure_formats:  # drawn again: only on request
            from ..report.plots.timeline import save_figure
            save_figure(draw(), self.output_dir / name, formats=("svg",))
        return Image(data=path.read_bytes(), format="png", alt=alt)

    def draw_charts(self, stop: Any = None) -> None:
        """Draw the charts the trend notebook shows (`CHART_CELLS`), in its order, into the
        output folder, each keyed by what it is drawn from; `stop` (a threading.Event) ends
        the drawing between two charts."""
        for method, args in CHART_CELLS:
            if stop is not None and stop.is_set():
                return
            getattr(self, method)(*args)

    def counts_table(self, freq: str = "M") -> pd.DataFrame:
        return tr.incident_counts(self._with_created(), freq=freq, by=self.group_by)

    def counts_chart(self, freq: str = "M"):
        if self.metrics.empty:
            return _missing(NO_INCIDENTS)
        counts = self.counts_table(freq)
        partial = _partial_period(counts.index, self.asof)
        busiest = counts.sum(axis=1).idxmax() if len(counts) else None
        alt = (f"Stacked bars of incidents per month by {self.group_by or 'group'}, "
               f"{len(counts)} months from {counts.index.min()} to {counts.index.max()}; "
               f"busiest month {busiest} with {int(counts.sum(axis=1).max())} incidents"
               + (f"; {human.period(partial)} is partial (data to {human.date(self.asof)})" if partial is not None else "")
               + ".") if len(counts) else "No incidents to count."
        return self._chart("incident_counts", alt, "counts_chart", counts,
                           title="Incidents per month", partial=partial)

    def rate_comparison(self):
        """Incidents per day in the two compared periods, with the exact (binomial) test."""
        if self.metrics.empty:
            return _missing(NO_INCIDENTS)
        if len(self.metrics) < 2:
            return _missing("1 incident in this window: comparing periods needs at least two; "
                            "ingest a longer history or widen --since/--until.")
        before_window, after_window = self.compared.windows()
        result = tr.rate_comparison(self._with_created(), before_window, after_window)
        before, after = self.compared.labels()
        if result.count_before + result.count_after == 0:
            return _missing(f"No incidents in {before} or {after}: nothing to compare; "
                            "pass --since/--until to choose the periods.")
        return _table(pd.DataFrame([{
            "Periods": f"{before} → {after}",
            "Incidents": f"{human.count(result.count_before)} → {human.count(result.count_after)}",
            "Per week": f"{human.number(result.rate_before * 7)} → {human.number(result.rate_after * 7)}",
            "Rate ratio (95% interval)": (
                f"{human.number(result.ratio, 2)} ({human.number(result.ratio_low, 2)} to "
                f"{human.number(result.ratio_high, 2)})" if np.isfinite(result.ratio) else human.MISSING),
            "p value": human.number(result.p_value, 3), "Verdict": result.verdict}]),
            numeric=("Incidents", "Per week", "Rate ratio (95% interval)", "p value"))

    def duration_table(self):
        """Median and p90 of each duration with 95% bootstrap intervals, in people's units;
        the mean stands only beside them."""
        if self.metrics.empty:
            return _missing(NO_INCIDENTS)
        table = tr.duration_table(self.metrics, by=self.group_by, n_boot=self.n_boot)
        # Each statistic says how many incidents it measured out of how many.
        labels = tr._labels(self.metrics, self.group_by)
        totals = labels.value_counts()
        of = table["group"].map(lambda g: int(totals.sum()) if g == tr.ALL else int(totals.get(g, 0)))

        def with_interval(row: pd.Series, stat: str) -> str:
            if not row["n"] or pd.isna(row[stat]):
                return human.MISSING
            return f"{human.duration(row[stat])} ({tr.human_span(row[stat + '_low'], row[stat + '_high'])})"

        return _table(pd.DataFrame({
            "Measure": table["metric"].map(tr.metric_label), "Group": table["group"],
            "Measured": [f"{n} of {total}" for n, total in zip(table["n"], of)],
            "Median (95% interval)": table.apply(with_interval, axis=1, stat="median"),
            "p90 (95% interval)": table.apply(with_interval, axis=1, stat="p90"),
            "Mean": table["mean"].map(human.duration),
        }), numeric=("Median (95% interval)", "p90 (95% interval)", "Mean"))

    def _measured(self, metric: str, at_least: int = 1):
        """None when enough incidents have ``metric`` measured; else the sentence to show."""
        reason = tr.missing_duration(self.metrics, metric)
        if reason is None and at_least > 1:
            n = int(pd.to_numeric(self.metrics[metric], errors="coerce").notna().sum())
            if n < at_least:
                reason = (f"{tr.metric_label(metric)}: measured for {n} of {len(self.metrics)} "
                          f"incidents; this chart needs at least {at_least}: ingest a longer "
                          "history or widen --since/--until.")
        return None if reason is None else _missing(reason)

    def duration_distributions(self, metric: str = "time_to_resolve"):
        missing = self._measured(metric)
        if missing is not None:
            return missing
        values = pd.to_numeric(self.metrics[metric], errors="coerce")
        alt = (f"{tr.metric_label(metric)}: share of incidents (y) that took at most a given time "
               f"(x, log scale), one curve per {self.group_by or 'group'}; {int(values.notna().sum())} "
               f"incidents measured, overall median {human.duration(values.median())}.")
        return self._chart(f"distribution_{metric}", alt, "ecdf_chart",
                           _drawn_columns(self.metrics, metric, self.group_by), metric,
                           by=self.group_by)

    def duration_boxes(self, metric: str = "time_to_resolve"):
        missing = self._measured(metric)
        if missing is not None:
            return missing
        values = pd.to_numeric(self.metrics[metric], errors="coerce")
        alt = (f"Box plots of {tr.metric_label(metric).lower()} per {self.group_by or 'group'} "
               f"(log scale; median labelled on each box, whiskers at the 5th and 95th "
               f"percentiles); overall median {human.duration(values.median())} over "
               f"{int(values.notna().sum())} incidents.")
        return self._chart(f"boxes_{metric}", alt, "box_chart",
                           _drawn_columns(self.metrics, metric, self.group_by), metric,
                           by=self.group_by)

    def median_over_time(self, metric: str = "time_to_mitigate"):
        missing = self._measured(metric)
        if missing is not None:
            return missing
        over_time = tr.median_over_time(self.metrics, metric, freq=self.freq, n_boot=self.n_boot)
        partial = _partial_period(pd.Index(over_time["period"].unique()), self.asof)
        measured = over_time[over_time["n"] > 0]
        alt = (f"Median {tr.metric_label(metric).lower()} per period with its 95% interval, "
               f"{measured['period'].nunique()} periods with data"
               + (f"; last: {human.period(measured['period'].iloc[-1])}, "
                  f"{human.duration(measured['median'].iloc[-1])}" if len(measured) else "")
               + (f"; {human.period(partial)} is partial" if partial is not None else "")
               + "; periods without incidents are left empty.")
        return self._chart(f"median_{metric}", alt, "median_chart", over_time, metric,
                           partial=partial)

    def control_chart(self, metric: str = "time_to_resolve"):
        missing = self._measured(metric, at_least=3)
        if missing is not None:
            return missing
        chart = tr.control_chart(self.metrics, metric)
        out = int(chart["out_of_control"].sum()) if len(chart) else 0
        alt = (f"XmR control chart of {tr.metric_label(metric).lower()} for {len(chart)} incidents "
               f"by date (log scale) with the centre line and control limits, and the moving "
               f"range below; {out} incident{'s' if out != 1 else ''} outside the limits"
               + (": " + human.listing(chart.loc[chart['out_of_control'], 'incident_id'].astype(str).head(5))
                  if out else "") + ".")
        return self._chart(f"control_{metric}", alt, "xmr_chart", chart, metric)

    def _similarity(self):
        """The similarity of this window's incidents (one index for every recurrence cell)."""
        if getattr(self, "_index", None) is None:
            from .similar_history import similarity_index
            # The store's kept index serves when this window is the whole store, its rows in
            # the same order; never under redaction, whose titles are not the stored ones. Not
            # even read for a window that left incidents out (at 100k it is 17 MB to unpack).
            kept = similarity_index(self.store, derive=False) \
                if self._whole_store and not self.redact else None
            same = kept is not None and np.array_equal(
                kept.ids, self.incidents["incident_id"].astype(str).to_numpy(dtype=object))
            self._index = kept if same else similarity_index(self.store, self.incidents)
        return self._index

    def _recurring(self) -> pd.Series:
        if getattr(self, "_groups", None) is None:
            self._groups = tr.recurring_groups(self.incidents, self._similarity())
        return self._groups

    def recurrence(self):
        """The incidents that keep coming back, in groups, each with what its incidents share."""
        groups = self._recurring()
        table = tr.top_recurring(self.incidents, groups)
        why = tr.recurrence_reasons(self.incidents, groups, self._similarity(),
                                    only=table["group"])
        table["why"] = table["group"].map(why).astype(object)
        if table.empty:
            from IPython.display import HTML
            return HTML("<p>No two incidents are alike: none shares an alert, the service and rare "
                        "words, or rare words alone with another.</p>")
        return _table(pd.DataFrame({
            "Service": table["service"], "Latest title": table["title"],
            "Incidents": table["incidents"], "First seen": table["first_seen"].map(human.date),
            "Last seen": table["last_seen"].map(human.date),
            "Worst severity": table["worst_severity"],
            "Incident ids": table["incident_ids"].map(_short_list),
            "Why alike": table["why"],
        }), numeric=("First seen", "Last seen"))

    def _repeats_after_fix(self) -> pd.DataFrame:
        if getattr(self, "_repeats", None) is None:
            self._repeats = tr.repeats_after_fix(self.incidents, self.action_items,
                                                 self._similarity())
        return self._repeats

    def repeat_rate_table(self) -> pd.DataFrame:
        """Per period: incidents, repeats within 30 days of one of their group, the repeat
        rate, and repeats after fix (an incident similar to an earlier one whose action items
        were all done)."""
        table = tr.repeat_rate(self.incidents, self._recurring(), freq=self.freq)
        after = tr.repeats_after_fix_per_period(self._repeats_after_fix(), self.incidents,
                                                freq=self.freq)
        table["repeats_after_fix"] = after.reindex(table.index, fill_value=0).astype("int64")
        return table

    def repeat_rate(self, visible: int = 8):
        """Newest period first; years of quarters would bury the recent ones, so the older
        periods wait behind a details element."""
        table = self.repeat_rate_table().iloc[::-1]
        return _table(pd.DataFrame({
            "Period": [human.period(p) for p in table.index], "Incidents": table["incidents"],
            "Repeats within 30 days": table["repeats"],
            "Repeat rate": table["repeat_rate"].map(human.share),
            "Repeats after fix": table["repeats_after_fix"]}), numeric=("Repeat rate",),
            max_rows=visible, more=f"{human.count(len(table) - visible)} earlier periods")

    def fixes_that_did_not_hold(self):
        """Each repeat after fix: the pair, the gap, and the action items meant to prevent it."""
        from IPython.display import HTML
        repeats = self._repeats_after_fix()
        if repeats.empty:
            return HTML("<p>No fix that did not hold: no incident repeats an earlier similar one "
                        "after all of that one's action items were done.</p>")
        lead = (f"<p>{human.count(len(repeats))} repeat(s) after fix: an incident like an earlier "
                "one whose action items were all done before it began.</p>")
        return _table(pd.DataFrame({
            "Earlier": repeats["earlier"], "Earlier on": repeats["earlier_at"].map(human.date),
            "Repeated by": repeats["later"], "Repeated on": repeats["later_at"].map(human.date),
            "Gap (days)": repeats["gap_days"],
            "Days after the last fix": repeats["days_after_fix"],
            "Action items that were to prevent it": repeats["fixes"].map("; ".join),
            "Why alike": repeats["why"]}), numeric=("Earlier on", "Repeated on"), lead=lead)

    def _follow_through(self) -> "tr.FollowThrough":
        if not hasattr(self, "_follow"):
            self._follow = tr.action_item_follow_through(self.action_items, self.incidents, self.asof)
        return self._follow

    def action_items_chart(self):
        if self.action_items.empty:
            return _missing(NO_ACTION_ITEMS)
        per_period = self._follow_through().per_period
        # Not past the end of the data: the months after the last incident hold nothing yet.
        last = self._data_end()
        if last is not None and len(per_period):
            per_period = per_period[per_period.index <= last.tz_localize(None).to_period(
                per_period.index.freq)]
        partial = _partial_period(per_period.index, self.asof)
        alt = (f"Action items opened and closed per month (bars) and still open at each month's "
               f"end (line), {len(per_period)} months"
               + (f"; {int(per_period['open_at_end'].iloc[-1])} open at the end" if len(per_period) else "")
               + (f"; {human.period(partial)} is partial" if partial is not None else "") + ".")
        return self._chart("action_items", alt, "action_items_chart", per_period,
                           partial=partial)

    def action_items_open_share(self):
        """Share of action items still open 30, 60 and 90 days after they were opened."""
        if self.action_items.empty:  # how to record them is said once, by the chart above
            return _missing("Still open after 30, 60 and 90 days: no action items to measure.")
        table = self._follow_through().still_open
        return _table(pd.DataFrame({
            "Severity": table["severity"], "After": table["after_days"].map(lambda d: f"{d} days"),
            "Old enough to tell": table["eligible"],
            "Still open": [human.share(s, n) if n else human.MISSING
                           for s, n in zip(table["share"], table["eligible"])]}),
            numeric=("After", "Still open"))

    def overdue(self, visible: int = 10):
        if self.action_items.empty:
            return _missing("Overdue action items: none recorded.")
        if pd.to_datetime(self.action_items["due"], errors="coerce").notna().sum() == 0:
            return _missing(NO_DUE_DATES)
        table = tr.overdue(self.action_items, self.asof)
        if table.empty:
            from IPython.display import HTML
            return HTML(f"<p>No open action item is past its due date on {human.date(self.asof)}.</p>")
        lead = (f"<p>{human.count(len(table))} open action items past their due date on "
                f"{escape(human.date(self.asof))}, most overdue first.</p>")
        shown = pd.DataFrame({
            "Action item": table["title"], "Incident": table["incident_id"], "Owner": table["owner"],
            "Priority": table["priority"], "Due": table["due"].map(human.date),
            "Days overdue": table["days_overdue"]})
        more = f"{human.count(min(len(table), OVERDUE_LISTED) - visible)} more overdue items"
        if len(table) > OVERDUE_LISTED:
            # A big history has tens of thousands: listed in the page they made it megabytes.
            name = "overdue_action_items.csv"
            write_file(self.output_dir / name, shown.to_csv(index=False).encode("utf-8"))
            more += f" (all {human.count(len(table))} in {name}, beside this report)"
            shown = shown.head(OVERDUE_LISTED)
        return _table(shown, numeric=("Due",), lead=lead, max_rows=visible, more=more)

    def communication(self):
        if self.metrics.empty:
            return _missing(NO_INCIDENTS)
        if not self.updates.any():
            return _missing(NO_UPDATES)
        measured = pd.to_numeric(self.metrics["cadence_breaches"], errors="coerce").notna()
        if not measured.any():
            return _missing(f"Communication cadence: measured for 0 of {len(self.metrics)} "
                            "incidents; none has a detection time to measure silences from.")
        frame = tr.communication_trends(self.metrics, by=self.group_by)
        policy = cadence_policy(self.config)
        with_policy = [g for g in frame["group"].astype(str).unique()
                       if any(policy.limit(g, a) for a in ("external", "internal"))] \
            if self.group_by == "severity" else None
        partial = _partial_period(pd.Index(frame["period"].unique()), self.asof)
        alt = ("Share of incidents with a cadence breach (top) and median time to first update "
               f"(bottom) per month and {self.group_by or 'group'}"
               + (f"; breach rates drawn only for severities with a cadence policy "
                  f"({human.listing(with_policy)})" if with_policy is not None else "")
               + (f"; {human.period(partial)} is partial" if partial is not None else "") + ".")
        return self._chart("communication", alt, "communication_chart", frame,
                           with_policy=with_policy, partial=partial)

    def responder_load(self, visible: int = 15):
        table = tr.responder_load(self.metrics, self.activity)
        if table.empty:
            return _missing(NO_RESPONDERS)
        return _table(pd.DataFrame({
            "Responder": table["responder"], "Incidents": table["incidents"],
            "Time in incidents": [
                human.duration(h * 3600) + ("" if m == n else f" ({m} of {n} measured)")
                if m else human.MISSING
                for h, m, n in zip(table["hours"], table["hours_measured"], table["incidents"])],
            "Actions": table["events"],
            "Out of hours": [human.share(s, n) if n else human.MISSING
                             for s, n in zip(table["out_of_hours_share"], table["events"])]}),
            numeric=("Time in incidents", "Out of hours"), max_rows=visible,
            more=f"{human.count(len(table) - visible)} more responders")


def _table(frame: pd.DataFrame, *, numeric: tuple[str, ...] = (), lead: str = "",
           max_rows: int | None = None, more: str | None = None):
    from IPython.display import HTML

    from ..report.tables import html_table
    return HTML(lead + html_table(frame, numeric=numeric, max_rows=max_rows, more=more))


def _short_list(ids: Any, shown: int = 5) -> str:
    ids = [str(i) for i in (ids if isinstance(ids, (list, tuple, np.ndarray)) else [])]
    if len(ids) <= shown:
        return human.listing(ids)
    return ", ".join(ids[:shown]) + f" and {len(ids) - shown} more"


def _partial_period(periods: pd.Index, asof: Any):
    """The last period when the data ends before it does (drawn and labelled partial)."""
    if len(periods) == 0:
        return None
    last = periods.max()
    if not isinstance(last, pd.Period):
        return None
    end = last.end_time.tz_localize("UTC")
    return last if pd.Timestamp(asof) < end else None
