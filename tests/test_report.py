"""Tests for review_kit.report.postmortem: the postmortem context, its Markdown and HTML, and escaping."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import mistune
import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.analysis.metrics import communication_gaps, incident_metrics
from review_kit.model import EVENT_COLUMNS, parse_timestamps
from review_kit.report.postmortem import (PLACEHOLDER, format_duration, md_block, md_escape, md_link,
                               postmortem_context, render_postmortem, render_postmortem_html,
                               safe_table_html)
from frames import literal_events, utc

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def events(*rows: dict) -> pd.DataFrame:
    return literal_events(*rows, incident_id='INC-9', id_format=None)


ts = utc


EVENTS = events(
    {"event_id": "csv:d1", "at": "2024-03-01T09:55:00Z", "source": "csv", "kind": "deploy",
     "summary": "checkout v2.3 rollout"},
    {"event_id": "am:1", "at": "2024-03-01T10:02:00Z", "source": "alertmanager",
     "kind": "alert_firing", "summary": "HighErrorRate checkout 5xx > 5%"},
    {"event_id": "pd:1", "at": "2024-03-01T10:03:00Z", "kind": "triggered",
     "summary": "Checkout errors"},
    {"event_id": "pd:2", "at": "2024-03-01T10:07:00Z", "kind": "acknowledged",
     "actor": "Ana Lima"},
    {"event_id": "sl:1", "at": "2024-03-01T10:09:00Z", "source": "slack", "kind": "message",
     "actor": "Bo | Ops", "summary": f"{SCRIPT} rolling back `v2.3` | # now"},
    {"event_id": "sl:2", "at": "2024-03-01T10:10:00Z", "source": "slack", "kind": "message",
     "actor": "Cy", "summary": f"{IMG} mail me cy@example.com or +1 415-555-0132"},
    {"event_id": "sp:1", "at": "2024-03-01T10:15:00Z", "source": "statuspage",
     "kind": "status_update", "status": "investigating", "summary": "We are investigating"},
    {"event_id": "pd:3", "at": "2024-03-01T10:40:00Z", "kind": "mitigated"},
    {"event_id": "pd:4", "at": "2024-03-01T11:00:00Z", "kind": "resolved"},
)
METRICS = {
    "incident_id": "INC-9", "title": "Checkout errors", "severity": "SEV2",
    "started_at": ts("2024-03-01T10:00:00Z"), "detected_at": ts("2024-03-01T10:02:00Z"),
    "acknowledged_at": ts("2024-03-01T10:07:00Z"), "mitigated_at": ts("2024-03-01T10:40:00Z"),
    "resolved_at": ts("2024-03-01T11:00:00Z"),
    "time_to_detect": 120.0, "time_to_acknowledge": 300.0, "time_to_mitigate": 2280.0,
    "time_to_resolve": 3480.0, "impact_duration": 2400.0, "time_to_first_update": 780.0,
    "longest_silence": 2700.0, "cadence_breaches": 1,
    "responders": ["Ana Lima", "Bo | Ops", "Cy"], "responder_count": 3, "escalations": 0,
    "handoffs": 1, "commander": "Ana Lima", "reopened": 0, "is_resolved": True,
}
INCIDENT = {
    "incident_id": "INC-9", "title": "Checkout errors", "severity": "SEV2",
    "severity_raw": "P2", "status": "resolved", "service": "checkout", "team": "payments",
    "commander": "Ana Lima", "source": "pagerduty", "source_id": "PT4KHLK",
    "url": "https://acme.pagerduty.com/incidents/PT4KHLK", "created_at": ts("2024-03-01T10:03:00Z"),
}
ANNOTATIONS = {
    "summary": "Checkout failed for 40 minutes after a bad deploy.",
    "root_causes": "- config flag defaulted on\n- canary skipped",
    "went_well": "Rollback was quick.",
    "started_at": "2024-03-01T10:00:00Z",
    "key_event:sl:1": "true",
    "key_event:pd:3": "true",
    "key_event:pd:1": "false",
}
ACTION_ITEMS = [
    {"id": 1, "title": "Add canary | gate", "owner": "Ana", "type": "prevent", "priority": "P1",
     "status": "open", "due": "2024-03-15", "url": "https://jira.example.com/browse/OPS-42"},
    {"id": 2, "title": "Runbook for rollbacks", "owner": "Bo", "type": "process",
     "priority": "P2", "status": "done", "due": pd.Timestamp("2024-03-20"),
     "url": "javascript:alert(1)"},
]
GAPS = pd.DataFrame({
    "incident_id": ["INC-9", "INC-9", "INC-9"], "audience": ["external", "external", "internal"],
    "gap_start": [ts("2024-03-01T10:02:00Z"), ts("2024-03-01T10:15:00Z"),
                  ts("2024-03-01T10:02:00Z")],
    "gap_end": [ts("2024-03-01T10:15:00Z"), ts("2024-03-01T11:00:00Z"),
                ts("2024-03-01T11:00:00Z")],
    "seconds": [780.0, 2700.0, 3480.0], "limit_seconds": [1200.0, 1200.0, 1800.0],
    "breach": [False, True, True],
})
SECTION_HEADINGS = [
    "# Postmortem: Checkout errors", "## Summary", "## Impact",
    "## Root causes and contributing factors", "## Trigger", "## Resolution", "## Detection",
    "## Action items", "## Lessons learned", "### What went well", "### What went wrong",
    "### Where we got lucky", "## Timeline", "## Metrics", "### Milestones", "### Durations",
    "### Communication", "### Coordination", "## Supporting information",
]


def context(**changes) -> dict:
    arguments = dict(incident=INCIDENT, metrics_row=METRICS, events=EVENTS,
                     annotations=ANNOTATIONS, action_items=ACTION_ITEMS, gaps=GAPS)
    arguments.update(changes)
    return postmortem_context(**arguments)


class Elements(HTMLParser):
    """Every element and attribute of an HTML text, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):  # noqa: ANN001
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):  # noqa: ANN001
        self.text.append(data)

    def names(self) -> set[str]:
        return {tag for tag, _ in self.tags}

    def handlers(self) -> list[str]:
        return [name for _, attrs in self.tags for name in attrs if name.lower().startswith("on")]

    def hrefs(self) -> list[str]:
        return [attrs.get("href") or attrs.get("src") for _, attrs in self.tags
                if "href" in attrs or "src" in attrs]


def table_rows(markdown: str, header: str) -> list[str]:
    lines = markdown.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


# --- the context ------------------------------------------------------------------------------

def test_context_values() -> None:
    ctx = context(history_ranks={"time_to_acknowledge": {"percentile": 80, "n": 34,
                                                         "window": "last 12 months"},
                                 "time_to_resolve": 25.0})
    assert ctx["incident_id"] == "INC-9" and ctx["date"] == "2024-03-01"
    assert ctx["sections"]["summary"].startswith("Checkout failed")
    assert ctx["sections"]["impact"] is None
    started = ctx["milestones"][0]
    assert started == {"name": "started_at", "label": "Impact started",
                       "at": "2024-03-01T10:00:00Z", "time": "2024-03-01 10:00:00",
                       "set_by_facilitator": True}
    assert not ctx["milestones"][1]["set_by_facilitator"]
    durations = {d["name"]: d for d in ctx["durations"]}
    assert durations["time_to_mitigate"]["text"] == "38 min"
    assert durations["time_to_acknowledge"]["history"] == \
        "slower than 27 of 34 (80%) past SEV2 incidents (last 12 months)"
    assert durations["time_to_resolve"]["history"] == "faster than 75% of past SEV2 incidents"
    assert durations["time_to_detect"]["history"] is None
    assert ctx["communication"]["time_to_first_update"] == "13 min"
    assert ctx["communication"]["gap_count"] == 3
    assert ctx["communication"]["breaches"] == [  # breaches only, in time order
        {"audience": "internal", "start": "2024-03-01 10:02:00", "end": "2024-03-01 11:00:00",
         "silence": "58 min", "limit": "30 min"},
        {"audience": "external", "start": "2024-03-01 10:15:00", "end": "2024-03-01 11:00:00",
         "silence": "45 min", "limit": "20 min"},
    ]
    items = ctx["action_items"]
    assert items[0]["tracker_href"] == "https://jira.example.com/browse/OPS-42"
    assert items[0]["tracker_label"] == "OPS-42"
    assert items[1]["due"] == "2024-03-20" and items[1]["tracker_href"] is None
    assert ctx["supporting"]["sources"][0] == {"source": "csv", "events": 1}
    assert ctx["facts"]["trigger"] == [
        "Change at 2024-03-01 09:55:00 UTC (csv): checkout v2.3 rollout"]


def test_timeline_has_every_milestone_and_the_key_events_in_time_order() -> None:
    ctx = context()
    timeline = ctx["timeline"]
    assert timeline["basis"] == "milestones_and_key_events"
    rows = timeline["rows"]
    # The marked events (pd:1 is "false"), flagged; never the whole timeline.
    assert [row["event_id"] for row in rows if row["is_key"]] == ["sl:1", "pd:3"]
    assert timeline["key_event_count"] == 2
    milestones = [row["event"] for row in rows if row["milestone"]]
    assert milestones == ["Milestone: Impact started", "Milestone: Detected",
                          "Milestone: Acknowledged", "Milestone: Mitigated", "Milestone: Resolved"]
    assert [row["kind"] for row in rows if not row["milestone"] and not row["is_key"]] == [
        "deploy", "triggered", "acknowledged", "status_update", "resolved"]
    times = [row["time"] for row in rows]
    assert times == sorted(times)


def test_timeline_without_marks_keeps_milestones_lifecycle_and_comms_events() -> None:
    ctx = context(annotations={})
    rows = ctx["timeline"]["rows"]
    assert not any(row["is_key"] for row in rows)
    assert sum(row["milestone"] for row in rows) == 5
    assert [row["kind"] for row in rows if not row["milestone"]] == [
        "deploy", "triggered", "acknowledged", "status_update", "mitigated", "resolved"]
    assert [row["event"] for row in rows if not row["milestone"]][3] == "Status page update"


# --- Markdown -----------------------------------------------------------------------------------

def test_markdown_has_every_section_in_order() -> None:
    markdown = render_postmortem(context())
    lines = markdown.splitlines()
    positions = [lines.index(heading) for heading in SECTION_HEADINGS]
    assert positions == sorted(positions)
    assert "- **Date:** 2024-03-01 (2024-03-01 10:00 to 2024-03-01 11:00 UTC)" in lines
    assert "- **Status:** Draft; incident resolved" in lines
    assert "- **Severity:** SEV2 · **Service:** checkout · **Team:** payments" in lines
    # Facilitator prose keeps its list.
    assert "- config flag defaulted on\n- canary skipped" in markdown
    assert "| Time to acknowledge | 5 min |  |" in lines
    assert "| Impact started | 2024-03-01 10:00:00 | set in the review |" in lines


def test_placeholders_for_sections_nobody_wrote() -> None:
    placeholder = f"_{PLACEHOLDER}_"
    written = render_postmortem(context())
    # impact, trigger, resolution, detection, went wrong, got lucky, and the authors
    assert written.count(placeholder) == 7
    empty = render_postmortem(context(annotations={}, action_items=[]))
    # 6 top sections + 3 lessons + authors
    assert empty.count(placeholder) == 10
    assert "_No action items recorded yet._" in empty
    assert "_No key events marked yet._" in empty
    summary = empty.split("## Summary\n\n", 1)[1].split("\n## ", 1)[0]
    assert summary.strip() == placeholder
    # What the timeline knows is offered under an unwritten section.
    detection = empty.split("## Detection\n\n", 1)[1].split("\n## ", 1)[0]
    assert "- First signal at 2024-03-01 10:02:00 UTC from alertmanager: HighErrorRate " \
           "checkout 5xx &gt; 5%." in detection
    assert "- Detected 2 min after impact started." in detection


def test_action_item_table() -> None:
    rows = table_rows(render_postmortem(context()),
                      "| Action item | Owner | Type | Priority | Due | Status | Tracker |")
    assert rows == [
        "| Add canary \\| gate | Ana | prevent | P1 | 2024-03-15 | open | "
        "[OPS-42](https://jira.example.com/browse/OPS-42) |",
        "| Runbook for rollbacks | Bo | process | P2 | 2024-03-20 | done | javascript:alert(1) |",
    ]


def test_timeline_table_marks_key_events_among_milestones_and_lifecycle() -> None:
    rows = table_rows(render_postmortem(context()), "| Time (UTC) | Key | Event | Source | Who | What |")
    assert "| 2024-03-01 10:09:00 | ★ | Chat message | slack | Bo \\| Ops | " \
           "&lt;script&gt;alert(1)&lt;/script&gt; rolling back \\`v2.3\\` \\| # now |" in rows
    assert "| 2024-03-01 10:40:00 | ★ | Mitigated | pagerduty |  |  |" in rows
    assert "| **2024-03-01 10:00:00** | | **Milestone: Impact started** | set in the review | | |" in rows
    assert len(rows) == 12 and sum("★" in r for r in rows) == 2


def test_markdown_source_text_cannot_inject_html_or_structure() -> None:
    marks = {**ANNOTATIONS, "key_event:sl:2": "true"}
    ctx = context(annotations=marks, incident={**INCIDENT, "title": f"# {IMG}"})
    markdown = render_postmortem(ctx)
    assert "<script" not in markdown and "<img" not in markdown
    assert "&lt;img src=x onerror=alert(1)&gt;" in markdown
    assert markdown.startswith("# Postmortem: \\# &lt;img")
    # A permissive renderer (raw HTML allowed, as many wikis do) still makes only text of it.
    html = mistune.create_markdown(escape=False, plugins=["table"])(markdown)
    parsed = Elements(html)
    assert not {"script", "img", "iframe"} & parsed.names()
    assert parsed.handlers() == []
    assert not any(h and h.lower().startswith("javascript") for h in parsed.hrefs())
    text = "".join(parsed.text)
    assert SCRIPT in text and IMG in text
    # Pipes in cells stayed inside their cells: every timeline row still has five cells.
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    timeline_rows = [r for r in rows if "2024-03-01 10:09:00" in r or "2024-03-01 10:10:00" in r]
    assert len(timeline_rows) == 2
    assert all(r.count("<td") == 6 for r in timeline_rows)


def test_facilitator_prose_cannot_break_the_outline() -> None:
    notes = {"summary": "# Heading\n```\nunclosed fence\n<b>bold</b>\n[x](javascript:alert(1))"}
    markdown = render_postmortem(context(annotations=notes))
    html = mistune.create_markdown(escape=False, plugins=["table"])(markdown)
    parsed = Elements(html)
    # The unclosed fence is a code block that ends with the section (the raw HTML in it is code).
    assert "b" not in parsed.names() and "<pre><code>unclosed fence\n&lt;b&gt;" in html
    assert not any(h and h.lower().startswith("javascript") for h in parsed.hrefs())
    # Later sections are still sections: the fence did not swallow them.
    assert "<h2>Impact</h2>" in html and "<h2>Supporting information</h2>" in html
    assert "<h1>Heading</h1>" not in html


# --- HTML ---------------------------------------------------------------------------------------

def test_html_report_shows_payloads_as_text() -> None:
    marks = {**ANNOTATIONS, "key_event:sl:2": "true",
             "went_wrong": f"{SCRIPT}\n<a href='javascript:alert(1)'>x</a>"}
    html = render_postmortem_html(context(annotations=marks,
                                          incident={**INCIDENT, "title": IMG}))
    parsed = Elements(html)
    assert not {"script", "img", "iframe", "object"} & parsed.names()
    assert parsed.handlers() == []
    assert not any(h and h.lower().startswith("javascript") for h in parsed.hrefs())
    text = "".join(parsed.text)
    assert SCRIPT in text and IMG in text and "Bo | Ops" in text
    assert "https://jira.example.com/browse/OPS-42" in parsed.hrefs()
    policy = [attrs["content"] for tag, attrs in parsed.tags
              if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy and "default-src 'none'" in policy[0]
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings[:8] == ["Impact in numbers", "Summary", "Impact", "Root causes and contributing factors",
                            "Trigger", "Resolution", "Detection", "Action items"]


def test_safe_table_html_escapes_every_cell() -> None:
    frame = pd.DataFrame({"summary": [SCRIPT, IMG], IMG: ["<b>x</b>", None]},
                         index=pd.Index([SCRIPT, "b"], name=IMG))
    parsed = Elements(safe_table_html(frame, index=True))
    assert parsed.names() <= {"table", "thead", "tbody", "tr", "th", "td"}
    assert parsed.handlers() == []
    assert SCRIPT in "".join(parsed.text) and "<b>x</b>" in "".join(parsed.text)


# --- redaction ---------------------------------------------------------------------------------

def test_redact_true_redacts_every_text_of_the_context() -> None:
    notes = {"summary": "Ana (ana@example.com, +44 20 7946 0958) fixed it",
             "key_event:sl:2": "true"}
    items = [{**ACTION_ITEMS[0], "owner": "ana@example.com",
              "url": "https://ci.example.com/job?token=abc123"}]
    ctx = context(annotations=notes, action_items=items, redact=True)
    assert ctx["redacted"] is True
    assert ctx["sections"]["summary"] == "Ana ([email], [phone]) fixed it"
    marked = [row for row in ctx["timeline"]["rows"] if row["is_key"]]
    assert marked[0]["summary"] == f"{IMG} mail me [email] or [phone]"
    assert ctx["action_items"][0]["owner"] == "[email]"
    assert ctx["action_items"][0]["url"] == "https://ci.example.com/job?token=[secret]"
    assert ctx["milestones"][0]["time"] == "2024-03-01 10:00:00"  # times are untouched
    markdown = render_postmortem(ctx)
    assert "ana@example.com" not in markdown and "cy@example.com" not in markdown
    assert "abc123" not in markdown and "7946" not in markdown
    assert "- Emails, phone numbers and secrets have been redacted from this document." in markdown
    plain = context(annotations=notes, action_items=items)
    assert plain["sections"]["summary"] == notes["summary"] and plain["redacted"] is False


# --- templates ---------------------------------------------------------------------------------

def test_a_user_template_is_escaped_too(tmp_path: Path) -> None:
    (tmp_path / "short.md.j2").write_text(
        "{{ title }}\n{% for e in timeline.rows %}- {{ e.summary }}\n{% endfor %}"
        "{{ sections.summary | md_block }}\n", encoding="utf-8")
    ctx = context(incident={**INCIDENT, "title": f"# {SCRIPT}"})
    out = render_postmortem(ctx, tmp_path / "short.md.j2")
    assert out.splitlines()[0] == "\\# &lt;script&gt;alert(1)&lt;/script&gt;"
    assert "- &lt;script&gt;alert(1)&lt;/script&gt; rolling back" in out
    assert out.endswith("Checkout failed for 40 minutes after a bad deploy.\n")


def test_template_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such template"):
        render_postmortem(context(), tmp_path / "missing.md.j2")
    bad = tmp_path / "bad.md.j2"
    bad.write_text("line one\n{% for x in %}\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        render_postmortem(context(), bad)
    assert str(error.value).startswith(f"{bad}: line 2: ")
    unknown = tmp_path / "unknown.md.j2"
    unknown.write_text("{{ no_such_field }}", encoding="utf-8")
    with pytest.raises(InputError, match="no_such_field"):
        render_postmortem(context(), unknown)


def test_with_the_metrics_modules_own_rows() -> None:
    overrides = {"INC-9": {"started_at": "2024-03-01T10:00:00Z"}}
    row = incident_metrics(EVENTS, "INC-9", INCIDENT, overrides=overrides)
    gaps = communication_gaps(EVENTS, pd.DataFrame([row]), pd.DataFrame([INCIDENT]))
    ctx = postmortem_context(INCIDENT, row, EVENTS, ANNOTATIONS, ACTION_ITEMS, gaps)
    markdown = render_postmortem(ctx)
    assert "| Detected | 2024-03-01 10:02:00 |  |" in markdown
    assert "- **Time to first update:** 13 min" in markdown
    assert "| external | 2024-03-01 10:15:00 | 2024-03-01 11:00:00 | 45 min | 20 min |" in markdown
    assert "Ana Lima" in ctx["coordination"]["responders"]
    render_postmortem_html(ctx)


# --- helpers -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (float("nan"), "—"), (0, "0 s"), (45, "45 s"), (59.6, "1 min"),
    (60, "1 min"), (252, "4 min 12 s"), (3600, "1 h"), (3900, "1 h 5 min"),
    (3959, "1 h 6 min"), (2700, "45 min"), (5280, "1 h 28 min"), (599.6, "10 min"),
    (86400, "1 d"), (183600, "2 d 3 h"), (-90, "-1 min 30 s"),
])
def test_format_duration(seconds, text) -> None:  # noqa: ANN001
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("raw", "escaped"), [
    ("plain words", "plain words"),
    ("a | b", "a \\| b"),
    ("<b>&amp;</b>", "&lt;b&gt;&amp;amp;&lt;/b&gt;"),
    ("# title", "\\# title"),
    ("- item", "\\- item"),
    ("1. first", "1\\. first"),
    ("`code`", "\\`code\\`"),
    ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
    ("**bold**", "\\*\\*bold\\*\\*"),
    ("back\\slash", "back\\\\slash"),
    ("two\nlines\r\n", "two lines "),
    ("checkout_api v2.3 at 10:04", "checkout_api v2.3 at 10:04"),
    (None, ""),
])
def test_md_escape(raw, escaped) -> None:  # noqa: ANN001
    assert md_escape(raw) == escaped


def test_md_block_and_md_link() -> None:
    assert md_block("- a\n- # b\n```\n<i>x</i>\n---") == "- a\n- **b**\n\n```\n<i>x</i>\n---\n```"
    assert md_block("<i>x</i>\n# b\n---") == "\\<i\\>x\\</i\\>\n\n**b**\n\n***"
    assert md_block("[ok](https://wiki.example.com/x) [no](javascript:x)") == \
        "[ok](https://wiki.example.com/x) no"
    assert md_link("https://jira.example.com/browse/OPS-1?a=(b)|c") == \
        "[OPS-1](https://jira.example.com/browse/OPS-1?a=%28b%29%7Cc)"
    assert md_link("javascript:alert(1)") == "javascript:alert(1)"
    assert md_link("data:text/html,<script>") == "data:text/html,&lt;script&gt;"


@pytest.mark.parametrize("rank, expected", [
    ({"percentile": 0.0, "n": 1}, "not slower than the 1 past SEV3 incident"),
    ({"percentile": 100.0, "n": 1}, "slower than the 1 past SEV3 incident"),
    ({"percentile": 75.0, "n": 4}, "slower than 3 of 4 past SEV3 incidents"),
    ({"percentile": 0.0, "n": 4}, "not slower than any of 4 past SEV3 incidents"),
    ({"percentile": 100.0, "n": 12, "window": "last 12 months"},
     "slower than all 12 past SEV3 incidents (last 12 months)"),
    ({"percentile": 50.0, "n": 20}, "slower than 10 of 20 (50%) past SEV3 incidents"),
])
def test_history_is_said_in_counts_when_there_are_few(rank, expected) -> None:
    from review_kit.report.postmortem import history_phrase
    assert history_phrase(rank, "SEV3") == expected


def test_a_resolution_alone_dates_the_postmortem_and_no_duration_is_shown_as_a_dash() -> None:
    """A webhook that only says "resolved": the day comes from it, and the sentences leave
    out the time since detection rather than print "— after detection"."""
    only = events({"event_id": "pd:9", "at": "2021-06-04T13:16:53Z", "kind": "resolved"})
    metrics = {"incident_id": "INC-9", "severity": "SEV2", "mitigated_at": ts("2021-06-04T13:16:53Z"),
               "resolved_at": ts("2021-06-04T13:16:53Z"), "is_resolved": True}
    ctx = context(metrics_row=metrics, events=only, incident={**INCIDENT, "created_at": None},
                  annotations={}, gaps=None)
    assert ctx["date"] == "2021-06-04"
    assert ctx["facts"]["resolution"] == ["Mitigated at 2021-06-04 13:16:53 UTC.",
                                          "Resolved at 2021-06-04 13:16:53 UTC."]
    assert "—" not in render_postmortem(ctx).split("## Resolution")[1].split("##")[0]


def test_every_communication_fact_is_a_line_of_its_own() -> None:
    """The longest silence ends in a template tag: the next fact once ran on into it
    ("internal 1 h 29 min- **Cadence breaches:** 3")."""
    text = render_postmortem(context())
    lines = text.splitlines()
    assert any(line.startswith("- **Longest silence:**") for line in lines)
    assert any(line.startswith("- **Cadence breaches:**") for line in lines)
    assert not re.search(r"\S- \*\*", text)
