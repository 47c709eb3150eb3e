"""What the retrospective notebook shows: one call per cell, each returning something to display."""
from __future__ import annotations

import functools
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis.retrospective import IncidentData, load_incident, not_chosen_line
from ..errors import StoreError, UnknownIncidentError
from ..config import load_config
from ..model import parse_timestamp
from .. import human
from ..paths import incident_folder, output_folder, write_file
from ..report.labels import DURATION_LABELS, MILESTONE_LABELS, kind_label
from ..store import Store

# 110 dpi: 1,320 px across, sharp on a screen and in the report; 150 took half as long again.
TIMELINE_DPI = 110
RESPONDERS_DPI = 100
# Where a retro writes when no output_dir is named: a folder per incident under it.
DEFAULT_OUTPUT_ROOT = Path("out") / "retro"


def _table(frame: pd.DataFrame, *, numeric: tuple[str, ...] = (), lead: str = "",
           max_rows: int | None = None, more: str | None = None):
    """A table as the report shows it (``report.tables``): words for headers, no index,
    numbers right, "—" for unknown, every cell escaped once; ``lead`` is HTML before it."""
    from IPython.display import HTML

    from ..report.tables import html_table
    return HTML(lead + html_table(frame, numeric=numeric, max_rows=max_rows, more=more))


def _cell(method):
    """A notebook cell's call: shown at once when an incident is loaded; before that (the
    picker is waiting) an empty output the chosen incident's review fills in; headless with
    no incident, nothing (the first cell said why, in one line)."""
    @functools.wraps(method)
    def cell(self, *args: Any, **kwargs: Any):
        if self.data is not None:
            return method(self, *args, **kwargs)
        if self.picker is None:
            return None
        import ipywidgets as widgets
        output = widgets.Output()
        self._waiting.append((output, method, args, kwargs))
        return output
    return cell


class RetrospectiveView:
    """The retrospective of one incident, as the notebook displays it.

    Without an incident id, or with one the store does not know: in a live JupyterLab session
    (``interactive``, a front end attached) the first cell shows a picker and every later cell
    an empty output that the chosen incident's review fills in, without re-running the
    notebook; headless, the first cell says so in one line, naming the closest ids, and the
    other cells show nothing.
    """

    def __init__(self, store: Store, incident_id: str | None, output_dir: str | Path | None = None, *,
                 template: str | None = None, redact: bool = False, interactive: bool = True,
                 config: dict | None = None, figure_formats: str = "png", asof: Any = None) -> None:
        self.store = store
        # An unresolved incident's silence counts up to now: the report says when that was.
        self.asof = parse_timestamp(asof, "UTC") if asof else pd.Timestamp.now(tz="UTC").floor("s")
        self.config = load_config() if config is None else config
        self._output_option = output_dir or None
        self.template = template or None
        self._redact = bool(redact)
        self.interactive = interactive
        # The timeline chart's files: "png", or "png,svg" (SVG costs a second drawing).
        self.figure_formats = tuple(f.strip() for f in (figure_formats or "png").split(",") if f.strip())
        self.redactor = None
        self.data: IncidentData | None = None
        self.picker = None
        self.problem: str | None = None
        self._waiting: list[tuple[Any, Any, tuple, dict]] = []
        wanted = str(incident_id or "").strip()
        try:
            if not wanted:
                raise UnknownIncidentError("")
            self._open(wanted)
        except UnknownIncidentError:
            incidents = self.store.incidents()
            if incidents.empty:
                raise StoreError(f"{self.store.url}: the store holds no incidents; ingest some first") from None
            self.problem = not_chosen_line(wanted, incidents)
            from .decisions import front_end_possible
            if self.interactive and front_end_possible():
                from .picker import IncidentPicker
                self.picker = IncidentPicker(incidents, self.choose, note=escape(self.problem))

    def _open(self, incident_id: str) -> None:
        self.incident_id = incident_id
        self.data = self._load()
        self.incident_id = self.data.incident_id
        # Each incident its own folder unless one is named: a retro never overwrites another's.
        self.output_dir = (output_folder(self._output_option) if self._output_option
                           else incident_folder(DEFAULT_OUTPUT_ROOT, self.incident_id))

    def choose(self, incident_id: str) -> None:
        """Load the incident picked in the picker and fill every cell already run with it."""
        self._open(incident_id)
        waiting, self._waiting = self._waiting, []
        for output, method, args, kwargs in waiting:
            output.clear_output()
            shown = method(self, *args, **kwargs)
            if shown is not None:
                output.append_display_data(shown)

    @classmethod
    def open(cls, store: str | Path | None, incident_id: str | None = None, **options: Any) -> "RetrospectiveView":
        return cls(Store.open(store or None, create=False), incident_id, **options)

    @property
    def redact(self) -> bool:
        return self._redact

    @redact.setter
    def redact(self, value: bool) -> None:
        """Turning redaction on (or off) reads the incident again, redacted (or not)."""
        changed = bool(value) != self._redact
        self._redact = bool(value)
        if changed and getattr(self, "data", None) is not None:
            self.reload()

    def reload(self) -> IncidentData | None:
        """Read the store again (after the room edited annotations, milestones or items)."""
        if self.data is None:
            return None
        self.data = self._load()
        return self.data

    def _load(self) -> IncidentData:
        """The incident as every cell shows it: long texts cut for display, and with
        `redact` every text redacted here, once, before anything is drawn or written."""
        from ..report.bounds import bounded_incident, text_limit
        data = bounded_incident(load_incident(self.store, self.incident_id, config=self.config,
                                              asof=self.asof),
                                text_limit(self.config))
        if not self.redact:
            return data
        from ..report.redact import redact_incident, redactor_for
        rows = self.store.annotation_rows([data.incident_id])
        authors = list(rows["author"].dropna().astype(str)) if len(rows) else []
        if self.redactor is None:
            self.redactor = redactor_for(data, self.config, authors)
        else:  # the same placeholders as before; people who appeared since get new ones
            self.redactor.add_people(redactor_for(data, {}, authors).people)
        return redact_incident(data, self.redactor)

    def _text(self, value: Any) -> Any:
        """A text the view adds to what it loaded, redacted like the rest."""
        if not self.redact or value is None:
            return value
        return self.redactor.text(str(value))

    # --- cells -----------------------------------------------------------------------------
    def header(self):
        """The incident's facts; before an incident is chosen, the picker (live) or one line
        naming the closest ids (headless)."""
        if self.data is None:
            from IPython.display import HTML
            if self.picker is None:
                return HTML(f"<p class='rk-not-chosen'>{escape(self.problem or '')}</p>")
            import ipywidgets as widgets
            output = widgets.Output()
            self._waiting.append((output, RetrospectiveView._header, (), {}))
            return widgets.VBox([self.picker, output])
        return self._header()

    def _header(self):
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
        rows = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td style='text-align:left'>{escape(str(v))}</td></tr>"
                       for k, v in facts)
        return HTML(f"<h2>{escape(str(title))}</h2><table>{rows}</table>")

    @_cell
    def milestones_table(self):
        from html import escape

        from ..analysis.durations import describe_finding
        metrics = self.data.metrics
        findings = self.data.findings
        after = ""
        if findings is not None and not findings.empty:
            # Data quality: milestones out of order, kept as the data says; durations unknown.
            lines = "".join(f"<li>{escape(describe_finding(f, MILESTONE_LABELS))}</li>"
                            for f in findings.to_dict("records"))
            after = ("<p>Data quality: milestones out of order; the durations that depend on "
                     f"them are left unknown.</p><ul class='rk-data-quality'>{lines}</ul>")
        return self._with_after(after, _table(pd.DataFrame({
            "Milestone": list(MILESTONE_LABELS.values()),
            "Time (UTC)": [human.time(metrics.get(k)) for k in MILESTONE_LABELS],
            "Set by": ["the review" if self.data.annotations.get(k) else
                       "the timeline" if not human.is_missing(metrics.get(k)) else "—"
                       for k in MILESTONE_LABELS]}), numeric=("Time (UTC)",)))

    @staticmethod
    def _with_after(after: str, table):
        from IPython.display import HTML
        return HTML(table.data + after) if after else table

    @_cell
    def metrics_table(self):
        from ..analysis.retrospective import silences_by_audience
        metrics = self.data.metrics
        rows = [(label, human.duration(metrics.get(key))) for key, label in DURATION_LABELS.items()
                if key != "longest_silence"]
        # Per audience, from the gap table the communication audit lists (one computation).
        audiences = silences_by_audience(self.data.gaps)
        rows += [(f"Longest silence, {a}", human.duration(v))
                 for a, v in zip(audiences["audience"], audiences["longest_silence"])]
        rows += [(label, human.count(metrics.get(key)))
                 for key, label in (("cadence_breaches", "Cadence breaches"),
                                    ("responder_count", "Responders"), ("escalations", "Escalations"),
                                    ("handoffs", "Hand-offs"), ("reopened", "Reopened"))]
        return _table(pd.DataFrame(rows, columns=["Measure", "Value"]), numeric=("Value",))

    def _ranks(self) -> dict:
        """This incident's durations ranked among the past ones of its severity. The past is
        read once per (severity, detection time): reloading after the room's edits re-ranks
        the (possibly overridden) durations without reading the history again."""
        from ..analysis.retrospective import past_incident_metrics, past_window, ranks_among
        from .kept_history import kept_milestones
        window = past_window(self.data)
        if getattr(self, "_past", None) is None or self._past[0] != window:
            kept = kept_milestones(self.store, derive=False, among=window) if window else None
            self._past = (window, past_incident_metrics(self.store, self.data, kept=kept))
        return ranks_among(self._past[1], self.data)

    @_cell
    def against_history(self):
        """Each duration beside its rank among past incidents of the same severity."""
        from ..report.postmortem import history_phrase  # one wording, here and in the postmortem
        metrics, ranks = self.data.metrics, self._ranks()
        severity = self.data.incident.get("severity") or "unknown severity"
        rows = []
        for key in ("time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve",
                    "impact_duration"):
            verdict = history_phrase(ranks.get(key), severity) or "no comparable history"
            rows.append((DURATION_LABELS[key], human.duration(metrics.get(key)), verdict))
        return _table(pd.DataFrame(rows, columns=["Measure", "This incident", "Against history"]),
                      numeric=("This incident",))

    @_cell
    def communication_audit(self):
        """Time to first update, the longest silence per audience and every gap between
        updates against the cadence policy: headline and table from one gap table."""
        from html import escape

        from IPython.display import HTML

        from ..analysis.retrospective import silences_by_audience
        gaps = self.data.gaps
        first = human.duration(self.data.metrics.get("time_to_first_update"))
        if gaps is None or gaps.empty:
            return HTML(f"<p>Time to first update: {escape(first)}. No communication window (the "
                        "incident has no detection or no resolution yet).</p>")
        audiences = silences_by_audience(gaps)
        longest = human.listing([f"{a} {human.duration(v)}" for a, v in
                                 zip(audiences["audience"], audiences["longest_silence"])])
        breaches = int(audiences["breaches"].sum())
        until = "" if self.data.metrics.get("is_resolved") else \
            f" (still open: counted up to {human.time(self.asof)} UTC)"
        lead = (f"<p>Time to first update: <b>{escape(first)}</b>; longest silence{escape(until)}: "
                f"<b>{escape(longest)}</b>; <b>{breaches}</b> gap{'s' if breaches != 1 else ''} "
                "longer than the policy.</p>")
        shown = pd.DataFrame({
            "Audience": gaps["audience"].str.capitalize(),
            "From (UTC)": gaps["gap_start"].map(human.time),
            "To (UTC)": gaps["gap_end"].map(human.time),
            "Silence": gaps["seconds"].map(human.duration),
            "Policy": gaps["limit_seconds"].map(
                lambda v: "none" if human.is_missing(v) else f"every {human.duration(v)}"),
            "Past the policy": [human.duration(sec - lim) if bool(b) else ""
                                for sec, lim, b in zip(gaps["seconds"], gaps["limit_seconds"],
                                                       gaps["breach"].fillna(False))],
        })
        return _table(shown, numeric=("From (UTC)", "To (UTC)", "Silence", "Past the policy"),
                      lead=lead, max_rows=40, more="the other gaps")

    def _responder_actions(self) -> pd.DataFrame:
        from ..analysis.retrospective import responder_actions
        return responder_actions(self.data.timeline)

    @_cell
    def coordination(self):
        """Responders with first and last activity and their number of actions (the same
        rows the responder chart draws)."""
        from ..analysis.retrospective import responder_activity
        table = responder_activity(self.data.timeline, self._responder_actions())
        metrics = self.data.metrics
        facts = (f"<p>Commander: <b>{self._html(metrics.get('commander') or 'not named')}</b>; "
                 f"{human.count(len(table))} responders; {human.count(metrics.get('escalations', 0))} "
                 f"escalations; {human.count(metrics.get('handoffs', 0))} hand-offs.</p>")
        if table.empty:
            from IPython.display import HTML
            return HTML(facts + "<p>No one is recorded acting on this incident.</p>")
        shown = pd.DataFrame({
            "Responder": table["responder"].map(self._text),
            "First activity (UTC)": table["first_activity"].map(human.time),
            "Last activity (UTC)": table["last_activity"].map(human.time),
            "Active for": (table["last_activity"] - table["first_activity"]).dt.total_seconds()
            .map(human.duration),
            "Actions": table["actions"].astype("int64"),
            "Escalated to them": table["escalated_to"].astype("int64"),
        })
        return _table(shown, numeric=("First activity (UTC)", "Last activity (UTC)", "Active for"),
                      lead=facts)

    @_cell
    def responder_chart(self):
        """Who acted when, shown from responders.png (drawn when its data changed)."""
        from IPython.display import Image
        from ..analysis.retrospective import responder_activity
        table = responder_activity(self.data.timeline, self._responder_actions())
        busiest = table.sort_values("actions", ascending=False, kind="stable").head(3)
        alt = (f"Responder activity in incident {self.incident_id}: one row per responder "
               f"({len(table)}), a bar from first to last activity and a mark per action; most "
               f"active: " + human.listing([f"{self._text(r)} ({a} actions)" for r, a in
                                            zip(busiest["responder"], busiest["actions"])]) + ".")
        return Image(filename=str(self.responder_png()), alt=alt)

    def _html(self, value: Any) -> str:
        from html import escape
        return escape(str(self._text(value)))

    @_cell
    def timeline_chart(self):
        """The swimlane chart, shown from timeline.png (and written as timeline.svg when asked)."""
        from IPython.display import Image
        png = self.timeline_png()
        if "svg" in self.figure_formats:  # SVG costs a drawing of its own: only on request
            from ..report.plots.timeline import save_figure
            save_figure(self._draw_timeline(), self.output_dir / "timeline", formats=("svg",))
        return Image(filename=str(png), alt=self._timeline_alt())

    def _timeline_alt(self) -> str:
        """What the timeline chart shows, in a sentence or two."""
        from ..analysis.retrospective import silences_by_audience
        events, metrics = self.data.timeline, self.data.metrics
        sources = human.listing(sorted(events["source"].dropna().astype(str).unique()))
        marks = [f"{MILESTONE_LABELS[k].lower()} {human.time(metrics.get(k), seconds=False)}"
                 for k in MILESTONE_LABELS if not human.is_missing(metrics.get(k))]
        audiences = silences_by_audience(self.data.gaps)
        breaches = int(audiences["breaches"].sum()) if len(audiences) else 0
        return (f"Timeline of incident {self.incident_id}: {human.count(len(events))} events from "
                f"{sources}, one lane per source and a communication lane; milestones (UTC): "
                f"{human.listing(marks)}; {breaches} update cadence "
                f"breach{'es' if breaches != 1 else ''} shown in red.")

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

    def _chart_actions(self) -> pd.DataFrame:
        """What the responder chart draws: the rows the coordination table counts."""
        actions = self._responder_actions().rename(columns={"responder": "actor"})
        return actions.assign(actor=actions["actor"].map(lambda p: str(self._text(p))))

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

        events = self._chart_actions()
        # First active first, as the coordination table lists them.
        responders = list(dict.fromkeys(events["actor"].tolist()))
        key = chart_key("responders", RESPONDERS_DPI, events, responders)
        return chart_png(self.output_dir / "responders.png", key, draw, dpi=RESPONDERS_DPI)

    @_cell
    def timeline_table(self, *, limit: int | None = 500, visible: int = 100):
        """Every event in order (the first ``visible`` shown, the rest up to ``limit`` behind a
        details element); every source text escaped (and redacted when asked)."""
        frame = self.data.timeline
        if limit is not None and len(frame) > limit:
            note = (f"<p>The first {human.count(limit)} of {human.count(len(frame))} events; "
                    "the explorer in the facilitator panel searches them all.</p>")
            frame = frame.head(limit)
        else:
            note = ""
        shown = pd.DataFrame({
            "Time (UTC)": frame["at"].map(human.time), "Source": frame["source"],
            "Event": frame["kind"].map(kind_label),
            "Who": frame["actor"].map(self._text), "What": frame["summary"].map(self._text),
        })
        return _table(shown, numeric=("Time (UTC)",), lead=note, max_rows=visible,
                      more=f"{human.count(len(shown) - visible)} more events")

    @_cell
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

    # --- seen before -------------------------------------------------------------------------
    SEEN_BEFORE_LIMIT = 5

    def dismissed(self) -> set[str]:
        """The suggestions the facilitator marked "not related" (annotations of this incident)."""
        from ..model import NOT_RELATED_PREFIX
        return {f[len(NOT_RELATED_PREFIX):] for f, v in self.data.annotations.items()
                if f.startswith(NOT_RELATED_PREFIX) and str(v).lower() == "true"}

    def _similar(self) -> tuple[pd.DataFrame, int, Any]:
        """The most similar past incidents, how many were compared and since when: asked of
        the index once per set of dismissed suggestions (the notebook's cell and the
        postmortem ask the same question)."""
        dismissed = frozenset(self.dismissed())
        if getattr(self, "_similar_to", None) is None or self._similar_to[0] != dismissed:
            index = self._similarity()
            matches = index.similar_to(self.incident_id, limit=self.SEEN_BEFORE_LIMIT,
                                       exclude=dismissed)
            self._similar_to = (dismissed, matches, *index.considered(self.incident_id))
        _, matches, considered, since = self._similar_to
        return matches.copy(), considered, since

    def _similarity(self):
        # Built once per view: the history does not change while the room talks.
        if getattr(self, "_index", None) is None:
            from .similar_history import similarity_index
            self._index = similarity_index(self.store)
        return self._index

    def seen_before_context(self) -> dict:
        """The most similar past incidents (dismissed ones left out), each with its date,
        severity, why it matched, its retrospective when one exists and its action items;
        or the sentence saying nothing is similar. What the notebook, HTML and postmortem show."""
        from ..analysis.similarity import nothing_similar_text, seen_before
        from ..paths import incident_folder
        matches, considered, since = self._similar()
        ids = matches["incident_id"].tolist()
        incidents = self.store.incidents(ids) if ids else pd.DataFrame(columns=["incident_id"])
        items = self.store.action_items(incident_ids=ids)
        # Overdue is judged today: is that fix still missing?
        cards = seen_before(matches, incidents, items, pd.Timestamp.now(tz="UTC"))
        for card in cards:
            # Reports sit side by side in the output folder: OUT/<id>/retrospective.html.
            folder = incident_folder(self.output_dir.parent, card["incident_id"]).name
            report = self.output_dir.parent / folder / "retrospective.html"
            card["retrospective"] = f"../{folder}/retrospective.html" if report.is_file() else None
            card["title"] = self._text(card["title"])
            if self.redact:
                # The rare words come from titles as stored (a token there is a word here).
                card["why"] = self._text("; ".join(part for part in str(card["why"]).split("; ")
                                                   if not part.startswith("rare words")))
            for item in card["action_items"]:
                item["title"] = self._text(item["title"])
                item["owner"] = self.redactor.person(item["owner"]) if self.redact else item["owner"]
        return {"matches": cards, "considered": considered,
                "empty": nothing_similar_text(considered, since) if not cards else None}

    @_cell
    def seen_before(self):
        """Have we seen this before? The most similar past incidents, most similar first."""
        from IPython.display import HTML

        from ..report.postmortem import seen_before_html
        return HTML(seen_before_html(self.seen_before_context()))

    def authors(self) -> str | None:
        """Who wrote the postmortem: ``[postmortem] authors`` (or ``facilitator``) in the
        configuration, else the people who wrote its sections in the panel."""
        section = self.config.get("postmortem") or {}
        named = section.get("authors") or section.get("facilitator")
        if named:
            people = [str(p) for p in named] if isinstance(named, (list, tuple)) else [str(named)]
        else:
            rows = self.store.annotation_rows([self.incident_id])
            if rows.empty or "author" not in rows:
                return None
            if "updated_at" in rows:
                rows = rows.sort_values("updated_at", kind="stable")
            people = [str(a) for a in rows["author"].dropna() if str(a).strip()]
        # Redacted like every other name in the review (the redactor knows the authors).
        people = [str(self._text(p)) for p in dict.fromkeys(people)]
        return human.listing(list(dict.fromkeys(people))) if people else None

    def _postmortem_context(self) -> dict:
        from ..report.postmortem import postmortem_context
        data = self.data
        return postmortem_context(
            data.incident, data.metrics, data.timeline, data.annotations,
            data.action_items.to_dict("records"), data.gaps, history_ranks=self._ranks(),
            redact=self.redact, seen_before=self.seen_before_context(), authors=self.authors())

    def export_postmortem(self) -> dict[str, Path]:
        """Write postmortem.md and postmortem.html (a standalone page) from the store as it is."""
        from ..report.postmortem import render_postmortem, render_postmortem_html
        self.reload()
        context = self._postmortem_context()
        return {"markdown": write_file(self.output_dir / "postmortem.md",
                                       render_postmortem(context, self.template)),
                "html": write_file(self.output_dir / "postmortem.html",
                                   render_postmortem_html(context))}

    @_cell
    def postmortem(self):
        """The postmortem draft from the template, written as postmortem.md; shown as HTML
        made by the Markdown renderer and the sanitiser (what the report keeps), with the
        Markdown beside it."""
        from ..report.postmortem import render_postmortem
        text = render_postmortem(self._postmortem_context(), self.template)
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
