"""What the trend notebook shows: one call per cell over the store's incidents."""
from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis import trends as tr
from ..analysis.metrics import compute_metrics
from ..analysis.retrospective import cadence_policy
from ..config import load_config
from ..model import MILESTONE_OVERRIDES, parse_timestamp
from ..paths import output_folder, replacing
from ..report.plots import trends as trend_plots
from ..store import Store

TREND_EVENT_COLUMNS = ("event_id", "incident_id", "at", "seq", "source", "kind", "actor",
                       "actor_type", "target", "status")
COMPARE_FREQ = {"quarter": "Q", "month": "M", "week": "W"}


def _day(value: str | None) -> pd.Timestamp | None:
    if not value:
        return None
    return parse_timestamp(f"{str(value)[:10]}T00:00:00Z")


class TrendsView:
    """Fleet statistics for the incidents in [since, until)."""

    def __init__(self, store: Store, *, since: str | None = None, until: str | None = None,
                 output_dir: str | Path | None = None, group_by: str = "severity",
                 compare: str = "quarter", config: dict | None = None, n_boot: int = 2000,
                 asof: Any = None) -> None:
        self.store = store
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
        incidents = self.store.incidents()
        # What the metrics and the responder load read: no message text, no raw records.
        events = self.store.events(columns=TREND_EVENT_COLUMNS)
        overrides = self.store.annotation_rows()
        overrides = overrides[overrides["field"].isin(MILESTONE_OVERRIDES)][["incident_id", "field", "value"]]
        metrics = compute_metrics(events, incidents, overrides=overrides,
                                  cadence=cadence_policy(self.config))
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
        self.events = events[events["incident_id"].isin(ids)]
        items = self.store.action_items()
        self.action_items = items[items["incident_id"].isin(ids)].reset_index(drop=True)
        self.before, self.after = tr.last_two_periods(self.asof, self.freq)

    # --- cells -----------------------------------------------------------------------------
    def summary(self):
        from IPython.display import HTML
        if self.metrics.empty:
            return HTML("<p>No incidents in this window.</p>")
        sentences = tr.summary_sentences(self.metrics, (self.before, self.after), by=self.group_by,
                                         n_boot=self.n_boot)
        span = (f"{len(self.metrics)} incidents from {self._first_day()} to {self._last_day()}; "
                f"comparing {self.after} with {self.before}.")
        items = "".join(f"<li>{escape(s)}</li>" for s in sentences)
        return HTML(f"<p>{escape(span)}</p><ul>{items}</ul>")

    def _first_day(self) -> str:
        return str(tr.incident_times(self._with_created()).min())[:10]

    def _last_day(self) -> str:
        return str(tr.incident_times(self._with_created()).max())[:10]

    def _with_created(self) -> pd.DataFrame:
        return self.metrics.merge(self.incidents[["incident_id", "created_at"]], on="incident_id", how="left")

    def counts_table(self, freq: str = "M") -> pd.DataFrame:
        return tr.incident_counts(self._with_created(), freq=freq, by=self.group_by)

    def counts_chart(self, freq: str = "M"):
        figure = trend_plots.counts_chart(self.counts_table(freq), title="Incidents per month")
        with replacing(self.output_dir / "incident_counts.png") as partial:
            figure.savefig(partial, format="png", dpi=110)
        return figure

    def rate_comparison(self) -> pd.DataFrame:
        """Incidents per day in the two compared periods, with the exact (binomial) test."""
        result = tr.rate_comparison(self._with_created(), self.before, self.after)
        return pd.DataFrame([{
            "period": f"{self.before} → {self.after}",
            "incidents": f"{result.count_before} → {result.count_after}",
            "per day": f"{result.rate_before:.2f} → {result.rate_after:.2f}",
            "ratio (95% CI)": f"{result.ratio:.2f} ({result.ratio_low:.2f}–{result.ratio_high:.2f})",
            "p value": round(result.p_value, 3), "verdict": result.verdict}])

    def duration_table(self) -> pd.DataFrame:
        """Median and p90 of each duration with 95% bootstrap intervals, in people's units;
        the mean stands only beside them."""
        table = tr.duration_table(self.metrics, by=self.group_by, n_boot=self.n_boot)

        def with_interval(row: pd.Series, stat: str) -> str:
            if not row["n"] or pd.isna(row[stat]):
                return "n/a"
            unit = tr.human_duration(row[stat]).split()[-1]
            return f"{tr.human_duration(row[stat], unit)} ({tr.human_span(row[stat + '_low'], row[stat + '_high'], unit)})"

        return pd.DataFrame({
            "measure": table["metric"].map(tr.metric_label), "group": table["group"], "n": table["n"],
            "median (95% CI)": table.apply(with_interval, axis=1, stat="median"),
            "p90 (95% CI)": table.apply(with_interval, axis=1, stat="p90"),
            "mean": table["mean"].map(tr.human_duration),
        })

    def duration_distributions(self, metric: str = "time_to_resolve"):
        return trend_plots.ecdf_chart(self.metrics, metric, by=self.group_by)

    def duration_boxes(self, metric: str = "time_to_resolve"):
        return trend_plots.box_chart(self.metrics, metric, by=self.group_by)

    def median_over_time(self, metric: str = "time_to_mitigate"):
        over_time = tr.median_over_time(self.metrics, metric, freq=self.freq, n_boot=self.n_boot)
        return trend_plots.median_chart(over_time, metric)

    def control_chart(self, metric: str = "time_to_resolve"):
        return trend_plots.xmr_chart(tr.control_chart(self.metrics, metric), metric)

    def recurrence(self, threshold: float = 0.5) -> pd.DataFrame:
        groups = tr.recurring_groups(self.incidents, threshold=threshold)
        self._groups = groups
        return tr.top_recurring(self.incidents, groups)

    def repeat_rate(self, threshold: float = 0.5) -> pd.DataFrame:
        groups = getattr(self, "_groups", None)
        if groups is None:
            groups = tr.recurring_groups(self.incidents, threshold=threshold)
        return tr.repeat_rate(self.incidents, groups, freq=self.freq)

    def _follow_through(self) -> "tr.FollowThrough":
        if not hasattr(self, "_follow"):
            self._follow = tr.action_item_follow_through(self.action_items, self.incidents, self.asof)
        return self._follow

    def action_items_chart(self):
        return trend_plots.action_items_chart(self._follow_through().per_period)

    def action_items_open_share(self) -> pd.DataFrame:
        """Share of action items still open 30, 60 and 90 days after they were opened."""
        return self._follow_through().still_open

    def overdue(self) -> pd.DataFrame:
        return tr.overdue(self.action_items, self.asof)

    def communication(self):
        frame = tr.communication_trends(self.metrics, by=self.group_by)
        return trend_plots.communication_chart(frame)

    def responder_load(self) -> pd.DataFrame:
        return tr.responder_load(self.metrics, self.events)
