"""Tests for review_kit.notebook.widgets: the explorer's filter, the save path, widget-driven saves, and
what the room enters surviving papermill re-runs into postmortem.md."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import importlib.util

from review_kit.notebook import widgets as rkw
from review_kit.errors import TimestampError
from review_kit.model import parse_timestamps
from review_kit.store import Store
from review_kit.notebook.retrospective import RetrospectiveView
from review_kit.notebook.widgets import (FacilitatorPanel, SaveError, TimelineExplorer, filter_timeline,
                                mark_key_event, parse_milestone, save_action_item, save_annotation,
                                save_milestone, static_summary, timeline_explorer)

PAYLOAD = "<img src=x onerror=alert(1)>"
ROOT = Path(__file__).resolve().parents[1]


def build_sample_store(folder: Path, **options) -> Path:
    """The root conftest's sample store (tests/conftest.py shadows the name `conftest`)."""
    spec = importlib.util.spec_from_file_location("review_kit_root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_sample_store(folder, **options)

# --- filter_timeline on a small literal frame ---------------------------------------------------

TIMELINE = pd.DataFrame({
    "event_id": ["a", "b", "c", "d", "e", "f"],
    "at": parse_timestamps(["2024-06-11T14:02:00Z", "2024-06-11T14:03:00Z", "2024-06-11T14:07:00Z",
                            "2024-06-11T14:09:00Z", "2024-06-11T14:12:00Z", "2024-06-11T14:40:00Z"]).array,
    "source": ["alertmanager", "pagerduty", "pagerduty", "slack", "slack", "pagerduty"],
    "kind": ["alert_firing", "triggered", "acknowledged", "message", "message", "mitigated"],
    "actor": ["Alertmanager", None, "Ana Lima", "Bo Chen", "Ana Lima", "Ana Lima"],
    "summary": ["CheckoutHighErrorRate firing", "Checkout errors", "Acknowledged by Ana Lima",
                "Rolling BACK v2.3", "Rollback started; watching errors", None],
}, index=[10, 11, 12, 13, 14, 15])


def ids(frame: pd.DataFrame) -> list[str]:
    return frame["event_id"].tolist()


def test_no_filter_and_empty_selections_keep_every_event() -> None:
    assert_frame_equal(filter_timeline(TIMELINE), TIMELINE)
    assert ids(filter_timeline(TIMELINE, sources=(), kinds=[], actors=(), text="  ")) == list("abcdef")


def test_source_kind_and_actor_filters_combine() -> None:
    assert ids(filter_timeline(TIMELINE, sources=["pagerduty"])) == ["b", "c", "f"]
    assert ids(filter_timeline(TIMELINE, sources=["pagerduty", "slack"], kinds=["message", "mitigated"])) \
        == ["d", "e", "f"]
    assert ids(filter_timeline(TIMELINE, actors=["Ana Lima"], kinds=["message"])) == ["e"]
    # An event without an actor is left out once an actor is chosen.
    assert "b" not in ids(filter_timeline(TIMELINE, actors=["Ana Lima", "Bo Chen", "Alertmanager"]))
    assert ids(filter_timeline(TIMELINE, kinds="message")) == ["d", "e"]


def test_time_window_is_inclusive_and_reads_offsets_and_plain_text_as_utc() -> None:
    assert ids(filter_timeline(TIMELINE, start="2024-06-11T14:03:00Z", end="2024-06-11T14:09:00Z")) \
        == ["b", "c", "d"]
    # 16:07+02:00 is 14:07Z; a time written without an offset is UTC.
    assert ids(filter_timeline(TIMELINE, start="2024-06-11T16:07:00+02:00", end="2024-06-11 14:12")) \
        == ["c", "d", "e"]
    assert ids(filter_timeline(TIMELINE, start=pd.Timestamp("2024-06-11T14:12:00Z"))) == ["e", "f"]
    assert filter_timeline(TIMELINE, start="2024-06-11T15:00:00Z", end="2024-06-11T14:00:00Z").empty
    with pytest.raises(TimestampError):
        filter_timeline(TIMELINE, start="yesterday")


def test_text_search_every_word_in_summary_or_actor_ignoring_case() -> None:
    assert ids(filter_timeline(TIMELINE, text="rollback")) == ["e"]
    assert ids(filter_timeline(TIMELINE, text="roll")) == ["d", "e"]
    assert ids(filter_timeline(TIMELINE, text="LIMA")) == ["c", "e", "f"]      # actor or summary
    assert ids(filter_timeline(TIMELINE, text="lima errors")) == ["e"]         # both words
    assert ids(filter_timeline(TIMELINE, text="v2.3 (")) == []                 # not a regex
    assert ids(filter_timeline(TIMELINE, text="checkout", kinds=["triggered"])) == ["b"]


def test_filter_keeps_the_index_of_the_timeline() -> None:
    assert filter_timeline(TIMELINE, kinds=["message"]).index.tolist() == [13, 14]


# --- a store holding one incident told by several sources (CSV fixture) -------------------------

@pytest.fixture
def store(inc7_store: Store) -> Store:
    return inc7_store


@pytest.fixture
def view(store: Store, tmp_path: Path) -> RetrospectiveView:
    return RetrospectiveView(store, "INC-7", tmp_path / "out", config={})


def event_id(store: Store, kind: str) -> str:
    events = store.events("INC-7")
    return events.loc[events["kind"] == kind, "event_id"].iloc[0]


# --- the save path ------------------------------------------------------------------------------

def test_save_annotation_writes_deletes_and_refuses_unknown_fields(store: Store) -> None:
    assert save_annotation(store, "INC-7", "root_causes", "Bad config\n- no canary", "ana") \
        == "Bad config\n- no canary"
    rows = store.annotation_rows(["INC-7"])
    assert rows[["field", "value", "author"]].values.tolist() == \
        [["root_causes", "Bad config\n- no canary", "ana"]]
    assert save_annotation(store, "INC-7", "root_causes", "   \n") is None
    assert store.annotations("INC-7") == {}
    with pytest.raises(SaveError, match="unknown postmortem section 'started_at'"):
        save_annotation(store, "INC-7", "started_at", "2024-06-11T14:00:00Z")
    assert store.annotations("INC-7") == {}


@pytest.mark.parametrize("typed, saved", [
    ("2024-06-11T13:55:00Z", "2024-06-11T13:55:00Z"),
    ("2024-06-11 14:55+01:00", "2024-06-11T13:55:00Z"),
    ("2024-06-11T13:55:30.250", "2024-06-11T13:55:30.250000Z"),   # no offset: the box says UTC
])
def test_save_milestone_stores_iso_utc(store: Store, typed: str, saved: str) -> None:
    save_milestone(store, "INC-7", "started_at", typed, "ana")
    assert store.annotations("INC-7") == {"started_at": saved}


@pytest.mark.parametrize("bad", ["13:55", "1718114100", "2024-06-11", "2024-06-11T25:00:00Z",
                                 "soon", "2024-13-01T10:00:00Z"])
def test_a_bad_milestone_saves_nothing(store: Store, bad: str) -> None:
    save_milestone(store, "INC-7", "started_at", "2024-06-11T13:55:00Z")
    with pytest.raises(SaveError, match="not a time"):
        save_milestone(store, "INC-7", "started_at", bad)
    assert store.annotations("INC-7") == {"started_at": "2024-06-11T13:55:00Z"}


def test_a_milestone_out_of_order_is_refused_with_the_conflict_named(store: Store) -> None:
    # INC-7: detected 14:02, acknowledged 14:07, mitigated 14:40, resolved 15:00.
    with pytest.raises(SaveError) as refused:
        save_milestone(store, "INC-7", "resolved_at", "2024-06-11T14:30:00Z")
    assert str(refused.value) == (
        "Resolved at 2024-06-11 14:30:00 UTC would come before Mitigated "
        "(2024-06-11 14:40:00 UTC); milestones must stay in order")
    with pytest.raises(SaveError, match=r"^Impact started at 2024-06-11 14:10:00 UTC would come "
                       r"after Detected \(2024-06-11 14:02:00 UTC\) and Acknowledged "
                       r"\(2024-06-11 14:07:00 UTC\); milestones must stay in order$"):
        save_milestone(store, "INC-7", "started_at", "2024-06-11T14:10:00Z")
    assert store.annotations("INC-7") == {}
    # Weighed against the other hand-set milestones too: a mitigation moved to 14:20 makes
    # a resolution at 14:30 fine.
    save_milestone(store, "INC-7", "mitigated_at", "2024-06-11T14:20:00Z")
    save_milestone(store, "INC-7", "resolved_at", "2024-06-11T14:30:00Z")
    assert store.annotations("INC-7") == {"mitigated_at": "2024-06-11T14:20:00Z",
                                          "resolved_at": "2024-06-11T14:30:00Z"}


def test_clearing_a_milestone_and_unknown_milestones(store: Store) -> None:
    save_milestone(store, "INC-7", "mitigated_at", "2024-06-11T14:35:00Z")
    assert save_milestone(store, "INC-7", "mitigated_at", "  ") is None
    assert store.annotations("INC-7") == {}
    with pytest.raises(SaveError, match="unknown milestone"):
        save_milestone(store, "INC-7", "fixed_at", "2024-06-11T14:35:00Z")
    assert parse_milestone(None) is None


def test_mark_key_event_marks_unmarks_and_refuses_foreign_ids(store: Store) -> None:
    ack, mitigated = event_id(store, "acknowledged"), event_id(store, "mitigated")
    assert mark_key_event(store, "INC-7", [ack, mitigated, ack], True, "ana") == [ack, mitigated]
    assert store.annotations("INC-7") == {f"key_event:{ack}": "true", f"key_event:{mitigated}": "true"}
    mark_key_event(store, "INC-7", [ack], False)
    assert store.annotations("INC-7") == {f"key_event:{mitigated}": "true"}
    with pytest.raises(SaveError, match="not an event of INC-7: pagerduty:nope"):
        mark_key_event(store, "INC-7", [ack, "pagerduty:nope"])
    assert store.annotations("INC-7") == {f"key_event:{mitigated}": "true"}


def test_save_action_item_adds_updates_and_validates(store: Store) -> None:
    item = save_action_item(store, "INC-7", title=" Canary checkout deploys ", owner="Ana Lima",
                            type="prevent", priority="P2", due=date(2024, 7, 1),
                            url="https://tracker.example.com/OPS-12", status="open")
    row = store.action_items("INC-7").iloc[0]
    assert (row["id"], row["title"], row["owner"], row["type"], row["priority"], row["due"], row["url"],
            row["status"]) == (item, "Canary checkout deploys", "Ana Lima", "prevent", "P2",
                               "2024-07-01", "https://tracker.example.com/OPS-12", "open")
    assert pd.isna(row["closed_at"])
    save_action_item(store, "INC-7", item, status="done", owner="")
    row = store.action_items("INC-7").iloc[0]
    assert (row["status"], row["owner"]) == ("done", None)
    assert not pd.isna(row["closed_at"])
    for fields, problem in (({"title": "  "}, "needs a title"),
                            ({"title": "x", "url": "javascript:alert(1)"}, "must start with http"),
                            ({"title": "x", "colour": "red"}, "unknown action item field")):
        with pytest.raises(SaveError, match=problem):
            save_action_item(store, "INC-7", **fields)
    with pytest.raises(SaveError, match="no action item 999 in INC-7"):
        save_action_item(store, "INC-7", 999, status="done")
    assert len(store.action_items("INC-7")) == 1


# --- the widgets, driven as the browser would ----------------------------------------------------

def table_rows(html: str) -> int:
    return len(re.findall(r"<tr>", html.split("<tbody>", 1)[1])) if "<tbody>" in html else 0


def test_explorer_filters_update_count_table_and_chart(view: RetrospectiveView) -> None:
    explorer = timeline_explorer(view.data.timeline)
    assert isinstance(explorer, TimelineExplorer)
    assert explorer.count.value == "9 of 9 events"
    assert table_rows(explorer.table.value) == 9
    # Kinds are offered in words and filter by the stored kind.
    assert [value for _, value in explorer.kinds.options] == [
        "acknowledged", "alert_firing", "deploy", "message", "mitigated", "resolved",
        "status_update", "triggered"]
    assert dict(explorer.kinds.options)["Chat message"] == "message"
    assert "<th>Event</th>" in explorer.table.value and "<th>kind</th>" not in explorer.table.value
    assert "Chat message" in explorer.table.value
    chart_all = explorer.chart.value
    assert chart_all[:8] == b"\x89PNG\r\n\x1a\n"
    seen = []
    explorer.on_filter(lambda frame: seen.append(len(frame)))

    explorer.kinds.value = ("message",)
    assert explorer.count.value == "2 of 9 events"
    assert table_rows(explorer.table.value) == 2
    assert explorer.chart.value != chart_all
    explorer.actors.value = ("Ana Lima",)
    assert explorer.count.value == "1 of 9 events"
    explorer.kinds.value = ()
    assert explorer.count.value == "4 of 9 events"
    explorer.search.value = "error"
    assert explorer.count.value == "2 of 9 events"          # "…watching the error rate", "Error rate back…"
    explorer.start.value = "2024-06-11T14:45:00Z"
    assert explorer.count.value == "0 of 9 events"
    assert seen == [2, 1, 4, 2, 0]

    explorer.end.value = "after lunch"
    assert "ISO 8601" in explorer.error.value
    assert explorer.count.value == "0 of 9 events"          # the last good result stays
    explorer.reset.click()
    assert (explorer.count.value, explorer.error.value) == ("9 of 9 events", "")
    assert explorer.end.value == "2024-06-11T15:00:00Z"


def test_explorer_shows_source_markup_as_text(view: RetrospectiveView) -> None:
    explorer = timeline_explorer(view.data.timeline)
    html = explorer.table.value
    assert "&lt;img src=x onerror=alert(1)&gt; rolling back v2.3" in html
    assert "<img" not in html


def test_explorer_redacts_when_asked(store: Store, tmp_path: Path) -> None:
    save_annotation(store, "INC-7", "summary", "x")
    frame = store.events("INC-7")
    frame.loc[frame["kind"] == "deploy", "summary"] = "mail ops@example.com"
    explorer = TimelineExplorer(frame, redact=True)
    assert "ops@example.com" not in explorer.table.value
    assert "ops@example.com" in TimelineExplorer(frame).table.value


def test_panel_saves_reach_the_store(view: RetrospectiveView, store: Store) -> None:
    panel = FacilitatorPanel(view)
    assert panel.tabs.titles == ("Timeline", "Milestones", "Postmortem", "Action items", "Seen before")
    panel.author.value = "Ana Lima"

    # Postmortem sections: every change is saved at once, with the author.
    area = panel.annotations.areas["root_causes"]
    area.value = "A config push without a canary"
    area.value = "A config push without a canary.\nNo alert on card declines."
    assert store.annotations("INC-7") == {"root_causes": "A config push without a canary.\nNo alert on card declines."}
    assert store.annotation_rows(["INC-7"])["author"].tolist() == ["Ana Lima"]
    area.value = ""
    assert store.annotations("INC-7") == {}

    # Key events: chosen among the events the explorer shows.
    panel.explorer.kinds.value = ("acknowledged", "mitigated")
    assert [label.split(" · ")[1] for label, _ in panel.key_events.events.options] == \
        ["acknowledged", "mitigated"]
    panel.key_events.events.value = tuple(v for _, v in panel.key_events.events.options)
    panel.key_events.mark.click()
    ack, mitigated = event_id(store, "acknowledged"), event_id(store, "mitigated")
    assert store.annotations("INC-7") == {f"key_event:{ack}": "true", f"key_event:{mitigated}": "true"}
    assert panel.key_events.events.options[0][0].startswith("★ ")
    assert panel.explorer.table.value.count("★") == 2
    panel.key_events.events.value = (ack,)
    panel.key_events.unmark.click()
    assert store.annotations("INC-7") == {f"key_event:{mitigated}": "true"}

    # Action items: the form adds, the status menu of a row changes it at once.
    editor = panel.action_items
    editor.title.value = "Canary every checkout config push"
    editor.owner.value = "Bo Chen"
    editor.type.value = "prevent"
    editor.priority.value = "P2"
    editor.due.value = date(2024, 7, 1)
    editor.url.value = "https://tracker.example.com/OPS-12"
    editor.submit.click()
    items = store.action_items("INC-7")
    assert items[["title", "owner", "type", "priority", "due", "url", "status"]].values.tolist() == [
        ["Canary every checkout config push", "Bo Chen", "prevent", "P2", "2024-07-01",
         "https://tracker.example.com/OPS-12", "open"]]
    assert editor.title.value == "" and editor.message.value.startswith("Added action item")
    item_id = int(items["id"].iloc[0])
    editor.rows[item_id].value = "done"
    assert store.action_items("INC-7")["status"].tolist() == ["done"]
    # Edit loads the item into the form; the button then saves to the same item.
    editor.edit(store.action_items("INC-7").iloc[0].to_dict())
    assert (editor.title.value, editor.due.value, editor.status.value) == \
        ("Canary every checkout config push", date(2024, 7, 1), "done")
    editor.owner.value = "Ana Lima"
    editor.submit.click()
    assert store.action_items("INC-7")[["id", "owner"]].values.tolist() == [[item_id, "Ana Lima"]]
    editor.title.value = "No title link"
    editor.url.value = "javascript:alert(1)"
    editor.submit.click()
    assert "nothing saved" in editor.message.value
    assert len(store.action_items("INC-7")) == 1


def test_milestone_override_changes_the_metrics_and_a_bad_value_saves_nothing(
        view: RetrospectiveView, store: Store) -> None:
    panel = FacilitatorPanel(view)
    editor = panel.milestones
    assert editor.boxes["started_at"].value == "2024-06-11T14:02:00Z"   # earliest alert
    assert editor.origin["started_at"].value == "from the timeline"
    assert "38 min" in editor.metrics.value                            # impact 14:02 → 14:40
    before = editor.metrics.value

    editor.boxes["started_at"].value = "11 June, 13:55"
    editor.save_buttons["started_at"].click()
    assert "nothing saved" in editor.error.value
    assert store.annotations("INC-7") == {}
    assert editor.metrics.value == before

    editor.boxes["started_at"].value = "2024-06-11T13:55:00Z"
    editor.save_buttons["started_at"].click()
    assert store.annotations("INC-7") == {"started_at": "2024-06-11T13:55:00Z"}
    assert view.data.metrics["time_to_detect"] == 420.0                # 13:55 → 14:02
    assert view.data.metrics["impact_duration"] == 2700.0              # 13:55 → 14:40
    assert "45 min" in editor.metrics.value and "7 min" in editor.metrics.value
    assert editor.origin["started_at"].value == "set by hand"

    editor.clear_buttons["started_at"].click()
    assert store.annotations("INC-7") == {}
    assert editor.boxes["started_at"].value == "2024-06-11T14:02:00Z"
    assert view.data.metrics["impact_duration"] == 2280.0


def test_facilitator_is_static_outside_a_kernel(view: RetrospectiveView, monkeypatch) -> None:
    summary = view.facilitator()
    assert "Decided in the review" in summary.data
    monkeypatch.setattr("review_kit.notebook.decisions.front_end_possible", lambda: True)
    assert isinstance(view.facilitator(), FacilitatorPanel)
    view.interactive = False   # papermill's parameter: never a widget, nothing waits
    assert not isinstance(view.facilitator(), FacilitatorPanel)


def test_static_summary_lists_decisions_escaped_and_redacted(view: RetrospectiveView, store: Store) -> None:
    save_annotation(store, "INC-7", "went_wrong", f"{PAYLOAD} paged ops@example.com", "Bo")
    save_milestone(store, "INC-7", "started_at", "2024-06-11T13:55:00Z")
    mark_key_event(store, "INC-7", [event_id(store, "message")])
    save_action_item(store, "INC-7", title="<script>x</script> alert on declines", type="mitigate")
    view.reload()
    html = static_summary(view).data
    assert "<img" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; paged ops@example.com" in html
    assert "&lt;script&gt;x&lt;/script&gt; alert on declines" in html
    assert re.search(r'<td>Impact started</td><td class="num">2024-06-11 13:55:00</td><td>set by hand</td>', html)
    assert re.search(r'<td>Detected</td><td class="num">2024-06-11 14:02:00</td><td>from the timeline</td>', html)
    assert "&lt;img src=x onerror=alert(1)&gt; rolling back v2.3" in html      # the key event
    view.redact = True
    assert "ops@example.com" not in static_summary(view).data


# --- acceptance: what the widgets saved survives papermill re-runs ------------------------------

@pytest.mark.slow
def test_widget_saves_survive_papermill_reruns_and_reach_the_postmortem(tmp_path: Path) -> None:
    from review_kit.automation.runner import run_retro

    path = build_sample_store(tmp_path, n_incidents=12)
    store = Store.open(path)
    incident_id = str(store.incidents().iloc[-1]["incident_id"])
    panel = FacilitatorPanel(RetrospectiveView(store, incident_id, tmp_path / "live", config={}))
    panel.author.value = "Ana Lima"
    summary = "Card authorisations failed for 38 minutes after a config push."
    panel.annotations.areas["summary"].value = summary
    panel.action_items.title.value = "Canary every payments config push"
    panel.action_items.owner.value = "Bo Chen"
    panel.action_items.type.value = "prevent"
    panel.action_items.submit.click()
    store.close()

    for run in range(2):
        out = run_retro(str(path), incident_id, tmp_path / "runs")
        postmortem = out.files["postmortem"].read_text(encoding="utf-8")
        assert summary in postmortem, f"run {run + 1}"
        assert re.search(r"\| Canary every payments config push \| Bo Chen \| prevent \|", postmortem)
        nb = nbformat.read(out.files["notebook"], as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert errors == []
        facilitator = [c for c in nb.cells if c.source == "retro.facilitator()"]
        shown = facilitator[0].outputs[0]["data"]
        assert "application/vnd.jupyter.widget-view+json" not in shown   # headless: static tables
        assert summary in shown["text/html"]

    store = Store.open(path)
    assert store.annotations(incident_id)["summary"] == summary
    assert store.action_items(incident_id)["title"].tolist().count("Canary every payments config push") == 1
    store.close()
