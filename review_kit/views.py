"""What the retrospective notebook shows: one call per cell, each returning something to display."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .config import load_config
from .model import to_iso
from .retrospective import IncidentData, load_incident, output_folder
from .store import Store

DURATION_LABELS = {
    "time_to_detect": "Time to detect",
    "time_to_acknowledge": "Time to acknowledge",
    "time_to_mitigate": "Time to mitigate",
    "time_to_resolve": "Time to resolve",
    "impact_duration": "Impact duration",
    "time_to_first_update": "Time to first update",
    "longest_silence": "Longest communication silence",
}
MILESTONE_LABELS = {
    "started_at": "Impact started",
    "detected_at": "Detected",
    "acknowledged_at": "Acknowledged",
    "mitigated_at": "Mitigated",
    "resolved_at": "Resolved",
}


def human_duration(seconds: float | None) -> str:
    """`42 min`, `3 h 05 min`, `2 d 4 h`: how people say durations in a review."""
    if seconds is None or pd.isna(seconds):
        return "—"
    seconds = float(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{sign}{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{sign}{minutes:.0f} min"
    hours, minutes = divmod(int(round(minutes)), 60)
    if hours < 48:
        return f"{sign}{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d {hours} h"


def _when(value: Any) -> str:
    text = to_iso(value)
    return "—" if text is None else text.replace("T", " ").replace("Z", " UTC")


class RetrospectiveView:
    """The retrospective of one incident, as the notebook displays it."""

    def __init__(self, store: Store, incident_id: str | None, output_dir: str | Path | None = None, *,
                 template: str | None = None, redact: bool = False, interactive: bool = True,
                 config: dict | None = None) -> None:
        self.store = store
        self.config = load_config() if config is None else config
        self.output_dir = output_folder(output_dir)
        self.template = template or None
        self.redact = bool(redact)
        self.interactive = interactive
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
            from .errors import StoreError
            raise StoreError(f"{self.store.url}: the store holds no incidents; ingest some first")
        return str(incidents.sort_values("created_at").iloc[-1]["incident_id"])

    def _text(self, value: Any) -> Any:
        if not self.redact or value is None:
            return value
        from .redact import redact
        return redact(str(value))

    # --- cells -----------------------------------------------------------------------------
    def header(self):
        from IPython.display import HTML
        from html import escape
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

    def milestones_table(self) -> pd.DataFrame:
        metrics = self.data.metrics
        return pd.DataFrame({"milestone": list(MILESTONE_LABELS.values()),
                             "at (UTC)": [_when(metrics.get(k)) for k in MILESTONE_LABELS]})

    def metrics_table(self) -> pd.DataFrame:
        metrics = self.data.metrics
        rows = [(label, human_duration(metrics.get(key)), metrics.get(key))
                for key, label in DURATION_LABELS.items()]
        rows += [("Cadence breaches", str(metrics.get("cadence_breaches", 0)), metrics.get("cadence_breaches")),
                 ("Responders", str(metrics.get("responder_count", 0)), metrics.get("responder_count")),
                 ("Escalations", str(metrics.get("escalations", 0)), metrics.get("escalations")),
                 ("Hand-offs", str(metrics.get("handoffs", 0)), metrics.get("handoffs")),
                 ("Reopened", str(metrics.get("reopened", 0)), metrics.get("reopened"))]
        return pd.DataFrame(rows, columns=["measure", "value", "seconds / count"])

    def timeline_chart(self):
        """The swimlane chart; also written as timeline.png and timeline.svg."""
        from .plots.timeline import save_figure, timeline_chart
        figure = timeline_chart(self.data.timeline, self.data.metrics, self.data.gaps)
        save_figure(figure, self.output_dir / "timeline")
        return figure

    def timeline_table(self, *, limit: int | None = 500):
        """Every event in order; every source text escaped (and redacted when asked)."""
        from IPython.display import HTML
        from .report import safe_table_html
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

    def postmortem(self):
        """The postmortem draft from the template, written as postmortem.md."""
        from IPython.display import Markdown
        from .report import postmortem_context, render_postmortem
        data = self.data
        context = postmortem_context(
            data.incident, data.metrics, data.timeline, data.annotations,
            data.action_items.to_dict("records"), data.gaps, redact=self.redact)
        text = render_postmortem(context, self.template)
        (self.output_dir / "postmortem.md").write_text(text, encoding="utf-8")
        return Markdown(text)
