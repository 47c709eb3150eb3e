"""What the retrospective notebook shows: one call per cell, each returning something to display."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis.retrospective import IncidentData, load_incident
from ..config import load_config
from ..model import to_iso
from ..paths import output_folder, write_file
from ..report.labels import DURATION_LABELS, MILESTONE_LABELS
from ..store import Store

# 110 dpi: 1,320 px across, sharp on a screen and in the report; 150 took half as long again.
TIMELINE_DPI = 110
RESPONDERS_DPI = 100


def _table(frame: pd.DataFrame):
    """A table as the report shows it: every cell escaped, no index, nothing truncated."""
    from IPython.display import HTML

    from ..report.postmortem import safe_table_html
    return HTML(safe_table_html(frame))


def _when(value: Any) -> str:
    text = to_iso(value)
    return "—" if text is None else text.replace("T", " ").replace("Z", " UTC")


class RetrospectiveView:
    """The retrospective of one incident, as the notebook displays it."""

    def __init__(self, store: Store, incident_id: str | None, output_dir: str | Path | None = None, *,
                 template: str | None = None, redact: bool = False, interactive: bool = True,
                 config: dict | None = None, figure_formats: str = "png") -> None:
        self.store = store
        self.config = load_config() if config is None else config
        self.output_dir = output_folder(output_dir)
        self.template = template or None
        self.redact = bool(redact)
        self.interactive = interactive
        # The timeline chart's files: "png", or "png,svg" (SVG costs a second drawing).
        self.figure_formats = tuple(f.strip() for f in (figure_formats or "png").split(",") if f.strip())
        self.incident_id = incident_id or self._default_incident()
        self.data: IncidentData = load_incident(store, self.incident_id, config=self.config)
        self.incident_id = self.data.incident_id

    @classmethod
    def open(cls, store: str | Path | None, incident_id: str | None = None, **options: Any) -> "RetrospectiveView":
        return cls(Store.open(store or None, create=False), incident_id, **options)

    def reload(self) -> IncidentData:
        """Read the store again (after the room edited annotations, milestones or items)."""
        self.data = load_incident(self.store, self.incident_id, config=self.config)
        return self.data

    def _default_incident(self) -> str:
        incidents = self.store.incidents()
        if incidents.empty:
            from ..errors import StoreError
            raise StoreError(f"{self.store.url}: the store holds no incidents; ingest some first")
        return str(incidents.sort_values("created_at").iloc[-1]["incident_id"])

    def _text(self, value: Any) -> Any:
        if not self.redact or value is None:
            return value
        from ..report.redact import redact
        return redact(str(value))

    # --- cells -----------------------------------------------------------------------------
    def header(self):
        from html import escape

        from IPython.display import HTML
        incident, metrics = self.data.incident, self.data.metrics
        title = self._text(incident.get("title")) or self.incident_id
        facts = [
            ("Incident", self.incident_id), ("Severity", incident.get("severity") or "unknown"),
            ("Status", incident.get("status") or "—"), ("Service", incident.get("service") or "—"),
            ("Team", incident.get("team") or "—"), ("Commander", self._text(metrics.get("commander")) or "—"),
            ("Resolved", "yes" if metrics.get("is_resolved") else "no"),
        ]
        rows = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
                       for k, v in facts)
        return HTML(f"<h2>{escape(str(title))}</h2><table>{rows}</table>")

    def milestones_table(self):
        metrics = self.data.metrics
        return _table(pd.DataFrame({"milestone": list(MILESTONE_LABELS.values()),
                                    "at (UTC)": [_when(metrics.get(k)) for k in MILESTONE_LABELS]}))

    def metrics_table(self):
        from ..report.postmortem import format_duration
        metrics = self.data.metrics
        rows = [(label, format_duration(metrics.get(key)), metrics.get(key))
                for key, label in DURATION_LABELS.items()]
        rows += [("Cadence breaches", str(metrics.get("cadence_breaches", 0)), metrics.get("cadence_breaches")),
                 ("Responders", str(metrics.get("responder_count", 0)), metrics.get("responder_count")),
                 ("Escalations", str(metrics.get("escalations", 0)), metrics.get("escalations")),
                 ("Hand-offs", str(metrics.get("handoffs", 0)), metrics.get("handoffs")),
                 ("Reopened", str(metrics.get("reopened", 0)), metrics.get("reopened"))]
        return _table(pd.DataFrame(rows, columns=["measure", "value", "seconds / count"]))

    def _ranks(self) -> dict:
        """This incident's durations ranked among the past ones of its severity. The past is
        read once per (severity, detection time): reloading after the room's edits re-ranks
        the (possibly overridden) durations without reading the history again."""
        from ..analysis.retrospective import past_incident_metrics, ranks_among
        key = (self.data.incident.get("severity"), self.data.metrics.get("detected_at"))
        if getattr(self, "_past", None) is None or self._past[0] != key:
            self._past = (key, past_incident_metrics(self.store, self.data))
        return ranks_among(self._past[1], self.data)

    def against_history(self):
        """Each duration beside its rank among past incidents of the same severity."""
        from ..report.postmortem import format_duration
        metrics, ranks = self.data.metrics, self._ranks()
        severity = self.data.incident.get("severity") or "unknown severity"
        rows = []
        for key in ("time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve",
                    "impact_duration"):
            rank = ranks.get(key)
            if rank is None:
                verdict = "no comparable history"
            else:
                verdict = (f"slower than {rank['percentile']:.0f}% of {rank['n']} {severity} incidents "
                           f"({rank['window']})")
            rows.append((DURATION_LABELS[key], format_duration(metrics.get(key)), verdict))
        return _table(pd.DataFrame(rows, columns=["measure", "this incident", "against history"]))

    def communication_audit(self):
        """Time to first update and every gap between updates against the cadence policy."""
        from IPython.display import HTML

        from ..report.postmortem import format_duration, safe_table_html
        gaps = self.data.gaps
        first = format_duration(self.data.metrics.get("time_to_first_update"))
        if gaps is None or gaps.empty:
            return HTML(f"<p>Time to first update: {first}. No communication window (the incident "
                        "has no detection or no resolution yet).</p>")
        shown = pd.DataFrame({
            "audience": gaps["audience"],
            "from (UTC)": gaps["gap_start"].dt.strftime("%H:%M:%S"),
            "to (UTC)": gaps["gap_end"].dt.strftime("%H:%M:%S"),
            "silence": gaps["seconds"].map(format_duration),
            "policy": gaps["limit_seconds"].map(lambda v: "none" if pd.isna(v) else f"every {format_duration(v)}"),
            "breach": gaps["breach"].map({True: "BREACH", False: ""}),
        })
        breaches = int(gaps["breach"].sum())
        return HTML(f"<p>Time to first update: <b>{first}</b>; longest silence: "
                    f"<b>{format_duration(self.data.metrics.get('longest_silence'))}</b>; "
                    f"<b>{breaches}</b> gap(s) longer than the policy.</p>" + safe_table_html(shown))

    def coordination(self):
        """Responders with first and last activity and their number of actions."""
        from IPython.display import HTML

        from ..analysis.retrospective import responder_activity
        from ..report.postmortem import safe_table_html
        table = responder_activity(self.data.timeline)
        metrics = self.data.metrics
        facts = (f"<p>Commander: <b>{self._html(metrics.get('commander') or 'not named')}</b>; "
                 f"{metrics.get('responder_count', 0)} responders; {metrics.get('escalations', 0)} "
                 f"escalations; {metrics.get('handoffs', 0)} hand-offs.</p>")
        if table.empty:
            return HTML(facts + "<p>No one is recorded acting on this incident.</p>")
        shown = table.assign(responder=table["responder"].map(self._text),
                             first_activity=table["first_activity"].dt.strftime("%H:%M:%S"),
                             last_activity=table["last_activity"].dt.strftime("%H:%M:%S"))
        return HTML(facts + safe_table_html(shown))

    def responder_chart(self):
        """Who acted when, shown from responders.png (drawn when its data changed)."""
        from IPython.display import Image
        return Image(filename=str(self.responder_png()),
                     alt=f"Responder activity over time in incident {self.incident_id}")

    def _html(self, value: Any) -> str:
        from html import escape
        return escape(str(self._text(value)))

    def timeline_chart(self):
        """The swimlane chart, shown from timeline.png (and written as timeline.svg when asked)."""
        from IPython.display import Image
        png = self.timeline_png()
        if "svg" in self.figure_formats:  # SVG costs a drawing of its own: only on request
            from ..report.plots.timeline import save_figure
            save_figure(self._draw_timeline(), self.output_dir / "timeline", formats=("svg",))
        return Image(filename=str(png), alt=f"Timeline of incident {self.incident_id}: events "
                     "by lane, milestones, phases, updates and cadence breaches")

    # --- chart files ---------------------------------------------------------------------------
    # Each chart is drawn from what this view loaded, into a PNG keyed by those inputs: a PNG
    # already there with the same key (drawn by the runner while the kernel started, or by an
    # earlier run) is shown as it is. See chart_files.
    def draw_charts(self) -> list[Path]:
        """Write timeline.png and responders.png for this incident (unless already current)."""
        return [self.timeline_png(), self.responder_png()]

    def _chart_metrics(self) -> dict:
        metrics = self.data.metrics
        return {**metrics, "title": self._text(metrics.get("title"))} if self.redact else metrics

    def _chart_events(self) -> pd.DataFrame:
        events = self.data.timeline.drop(columns=["raw"], errors="ignore")
        return events.assign(actor=events["actor"].map(self._text)) if self.redact else events

    def _chart_responders(self) -> list[str]:
        return [str(self._text(p)) for p in (self.data.metrics.get("responders") or [])]

    def _draw_timeline(self, events=None, metrics=None):
        from ..report.plots.timeline import timeline_chart
        return timeline_chart(self._chart_events() if events is None else events,
                              self._chart_metrics() if metrics is None else metrics,
                              self.data.gaps)

    def timeline_png(self) -> Path:
        from ..report.chart_files import chart_key, chart_png
        events, metrics = self._chart_events(), self._chart_metrics()
        key = chart_key("timeline", TIMELINE_DPI, events, metrics, self.data.gaps)
        return chart_png(self.output_dir / "timeline.png", key,
                         lambda: self._draw_timeline(events, metrics), dpi=TIMELINE_DPI)

    def responder_png(self) -> Path:
        from ..report.chart_files import chart_key, chart_png

        def draw():
            from ..report.plots.timeline import responder_activity_chart
            return responder_activity_chart(events, responders)

        events, responders = self._chart_events(), self._chart_responders()
        key = chart_key("responders", RESPONDERS_DPI, events, responders)
        return chart_png(self.output_dir / "responders.png", key, draw, dpi=RESPONDERS_DPI)

    def timeline_table(self, *, limit: int | None = 500):
        """Every event in order; every source text escaped (and redacted when asked)."""
        from IPython.display import HTML

        from ..report.postmortem import safe_table_html
        frame = self.data.timeline
        shown = pd.DataFrame({
            "at (UTC)": frame["at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "source": frame["source"], "kind": frame["kind"],
            "actor": frame["actor"].map(self._text), "summary": frame["summary"].map(self._text),
        })
        note = ""
        if limit is not None and len(shown) > limit:
            note = f"<p>Showing the first {limit} of {len(shown)} events.</p>"
            shown = shown.head(limit)
        return HTML(note + safe_table_html(shown.fillna("")))

    def facilitator(self):
        """The facilitator's panel (explorer, key events, milestones, postmortem sections,
        action items; every change saved to the store at once) in a live session; under
        papermill (interactive=False) or outside a kernel, the static summary of what was
        decided, so a headless run never waits for input."""
        from .decisions import front_end_possible, static_summary
        if self.interactive and front_end_possible():
            from .widgets import FacilitatorPanel
            return FacilitatorPanel(self)
        return static_summary(self)

    def postmortem(self):
        """The postmortem draft from the template, written as postmortem.md; shown as HTML
        made by the Markdown renderer and the sanitiser (what the report keeps), with the
        Markdown beside it."""
        from ..report.postmortem import postmortem_context, render_postmortem
        data = self.data
        context = postmortem_context(
            data.incident, data.metrics, data.timeline, data.annotations,
            data.action_items.to_dict("records"), data.gaps, history_ranks=self._ranks(),
            redact=self.redact)
        text = render_postmortem(context, self.template)
        write_file(self.output_dir / "postmortem.md", text)
        return SanitisedMarkdown(text)


class SanitisedMarkdown:
    """Markdown shown through ``report.markup``: its HTML rendering is sanitised, so what a
    notebook front end or the HTML export shows is never the Markdown's raw HTML."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        from ..report.markup import markdown_html
        return markdown_html(self.text)
