"""The incidentio loader against hand-written API v2 responses (tests/fixtures/incidentio)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.loaders import get_loader
from review_kit.loaders.base import LoadContext
from review_kit.loaders.incidentio import IncidentIoLoader
from review_kit.model import EVENT_COLUMNS

LOADER = get_loader("incidentio")
INC42 = "01HR8Z3K5V2D9QW7M4XN6B1C42"
INC43 = "01HR9A7T0Q4F3JX8P2RZ5K9D43"
INC45 = "01HRB1RETRORETRORETRORET45"
CUSTOM = {"timestamps": {"Customer impact began": "impact_started"}}


@pytest.fixture
def data(fixtures: Path) -> Path:
    return fixtures / "incidentio"


def load(path: Path, **ctx) -> tuple[list[dict], pd.DataFrame, list[dict]]:
    batches = list(LOADER.load(path, LoadContext(**ctx)))
    assert len(batches) == 1
    return batches[0].incidents, batches[0].events, batches[0].aliases


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def timeline(events: pd.DataFrame, incident: str) -> list[tuple]:
    one = events[events["incident_id"] == incident].sort_values(["at", "seq"])
    return [(at.isoformat(), kind, summary) for at, kind, summary
            in zip(one["at"], one["kind"], one["summary"])]


def test_registered_under_its_name() -> None:
    assert isinstance(LOADER, IncidentIoLoader) and LOADER.name == "incidentio"


def test_incidents_from_two_pages(data: Path) -> None:
    incidents, _, _ = load(data / "incidents_pages.json", config=CUSTOM)
    by_id = {i["incident_id"]: i for i in incidents}
    # INC-44 is a test-mode incident: left out by default.
    assert list(by_id) == [INC42, INC43, INC45]
    assert by_id[INC42] == {
        "incident_id": INC42, "title": "Card payments failing at checkout", "severity": "SEV1", "severity_raw": "Critical",
        "status": "Closed", "service": None, "team": None, "commander": "Priya Shah",
        "source": "incidentio", "source_id": INC42, "url": "https://app.incident.io/acme/incidents/42",
        "created_at": utc("2024-03-12T09:10:35.720Z")}
    # The lead role is unassigned; the communications lead is not the commander.
    one = by_id[INC43]
    assert one["commander"] is None
    assert (one["severity"], one["severity_raw"], one["status"]) == ("SEV2", "Major", "Monitoring")
    one = by_id[INC45]
    assert (one["severity"], one["severity_raw"], one["commander"]) == ("SEV2", "SEV2", "Marco Rossi")
    assert one["created_at"] == utc("2024-03-16T08:00:00.000001Z")


def test_aliases_keep_reference_and_slack_channel(data: Path) -> None:
    _, _, aliases = load(data / "incidents_pages.json")
    mine = [(a["source"], a["external_id"]) for a in aliases if a["incident_id"] == INC42]
    assert mine == [("incidentio", INC42), ("incidentio", "INC-42"), ("slack", "C06INC0042"),
                    ("slack", "inc-42-card-payments-failing")]
    assert [(a["source"], a["external_id"]) for a in aliases if a["incident_id"] == INC45] == [
        ("incidentio", INC45), ("incidentio", "INC-45")]
    assert not any(a["external_id"] == "INC-44" for a in aliases)


def test_timestamps_by_name(data: Path) -> None:
    _, events, _ = load(data / "incidents_pages.json", config=CUSTOM)
    assert timeline(events, INC42) == [
        ("2024-03-12T09:02:00+00:00", "impact_started", "Impact started at"),
        ("2024-03-12T09:10:35.720000+00:00", "triggered",
         "Reported at: INC-42 Card payments failing at checkout: Payment provider timeouts made "
         "30% of card payments fail."),
        ("2024-03-12T09:12:00.411000+00:00", "acknowledged", "Accepted at"),
        ("2024-03-12T09:30:00.500000+00:00", "note", "Identified at"),
        ("2024-03-12T10:05:00+00:00", "mitigated", "Fixed at"),
        ("2024-03-12T10:40:00+00:00", "resolved", "Resolved at"),
        # Closed after the post-incident work; "Resolved at" already says when it ended.
        ("2024-03-13T16:00:00+00:00", "note", "Closed at"),
    ]
    # Custom name mapped by config; "Reported at" is null, so created_at is the trigger;
    # "Closed at" is the resolution when there is no "Resolved at".
    assert timeline(events, INC43) == [
        ("2024-03-14T11:41:00+00:00", "impact_started", "Customer impact began"),
        ("2024-03-14T13:00:05.100000+00:00", "triggered", "Created: INC-43 Search latency over 2 s"),
        ("2024-03-14T14:20:00+00:00", "mitigated", "Mitigated at"),
        ("2024-03-14T15:00:00+00:00", "resolved", "Closed at"),
    ]
    assert timeline(events, INC45) == [
        ("2024-03-16T04:00:00+00:00", "impact_started", "Impact started at"),
        ("2024-03-16T06:30:00+00:00", "resolved", "Resolved at"),
        ("2024-03-16T08:00:00.000001+00:00", "triggered",
         "Reported at: INC-45 Nightly export delayed: Declared after the fact."),
    ]
    trigger = events[(events["incident_id"] == INC43) & (events["kind"] == "triggered")].iloc[0]
    assert (trigger["actor"], trigger["actor_type"]) == ("Alertmanager bridge", "service")
    assert trigger["event_id"] == f"incidentio:{INC43}:created"
    raw = json.loads(events[(events["incident_id"] == INC42) & (events["kind"] == "triggered")]["raw"].iloc[0])
    assert raw["summary"] == "Payment provider timeouts made 30% of card payments fail."
    assert raw["incident_status"] == {"name": "Closed", "category": "closed"}
    assert raw["roles"] == {"Incident Lead": "Priya Shah", "Communications Lead": "Marco Rossi",
                            "Reporter": "Priya Shah"}
    assert raw["custom_fields"] == {"Impact": ["Partial production outage"]}


def test_timestamp_mapping_defaults_and_overrides(data: Path) -> None:
    _, events, _ = load(data / "incidents_pages.json")
    began = events[(events["incident_id"] == INC43) & (events["summary"] == "Customer impact began")]
    assert began["kind"].tolist() == ["note"]          # unknown names are kept, as notes
    config = {"timestamps": {"IDENTIFIED AT": "", "closed at": "note", "Customer impact began": "impact_started"}}
    _, events, _ = load(data / "incidents_pages.json", config=config)
    assert "Identified at" not in events["summary"].tolist()
    assert events[(events["incident_id"] == INC43) & (events["summary"] == "Closed at")]["kind"].tolist() == ["note"]


def test_updates_become_comms_status_and_severity_events(data: Path) -> None:
    incidents, events, aliases = load(data / "incident_updates.json")
    assert incidents == [{"incident_id": INC42, "source": "incidentio"}]
    assert aliases == [{"incident_id": INC42, "source": "incidentio", "external_id": INC42}]
    got = list(zip(events["at"].map(pd.Timestamp.isoformat), events["kind"], events["actor"],
                   events["actor_type"], events["status"], events["summary"]))
    assert got == [
        ("2024-03-12T09:20:00.200000+00:00", "note", "Marco Rossi", "person", "Fixing",
         "Status Investigating → Fixing"),
        ("2024-03-12T09:20:00.200000+00:00", "severity_changed", "Marco Rossi", "person", "Fixing",
         "SEV2 (Major) → SEV1 (Critical)"),
        ("2024-03-12T09:20:00.200000+00:00", "stakeholder_update", "Marco Rossi", "person", "Fixing",
         "Cause identified: the payment provider is timing out. Failing over."),
        ("2024-03-12T10:06:00+00:00", "note", "Status bot", "service", "Monitoring",
         "Status Fixing → Monitoring"),
        ("2024-03-12T10:06:00+00:00", "stakeholder_update", "Status bot", "service", "Monitoring",
         "A fix is deployed (failover to the secondary provider); we're monitoring."),
        # No explicit "Resolved at" in this input: moving into `learning` is the resolution.
        ("2024-03-12T10:41:10.500000+00:00", "resolved", "Marco Rossi", "person", "Documenting",
         "Status Monitoring → Documenting"),
        ("2024-03-12T10:41:10.500000+00:00", "stakeholder_update", "Marco Rossi", "person",
         "Documenting", "Resolved: card payments are back to normal since 10:05. We'll follow up "
         "with a postmortem."),
    ]
    assert events["seq"].tolist() == list(range(7))
    assert events["event_id"].tolist()[:3] == [
        "incidentio:01HR8Z9U4UPDATE00000000002:status",
        "incidentio:01HR8Z9U4UPDATE00000000002:severity",
        "incidentio:01HR8Z9U4UPDATE00000000002:message"]


def test_updates_with_their_incident_do_not_resolve_twice(data: Path, tmp_path: Path) -> None:
    pages = json.loads((data / "incidents_pages.json").read_text())
    updates = json.loads((data / "incident_updates.json").read_text())
    combined = tmp_path / "incident-42.jsonl"
    combined.write_text("\n".join(json.dumps(d) for d in (*pages, updates)) + "\n")
    _, events, _ = load(combined)
    mine = events[events["incident_id"] == INC42]
    assert mine[mine["kind"] == "resolved"]["at"].tolist() == [utc("2024-03-12T10:40:00Z")]
    assert mine[mine["summary"] == "Status Monitoring → Documenting"]["kind"].tolist() == ["note"]
    assert len(mine) == 7 + 7


def test_reopening_after_learning(data: Path, tmp_path: Path) -> None:
    updates = json.loads((data / "incident_updates.json").read_text())
    live = dict(updates["incident_updates"][1]["new_incident_status"])
    later = dict(updates["incident_updates"][0], id="01HR8Z9U4UPDATE00000000005",
                 created_at="2024-03-12T11:00:00Z", message=None, new_incident_status=live)
    updates["incident_updates"].insert(0, later)
    path = tmp_path / "updates.json"
    path.write_text(json.dumps(updates))
    _, events, _ = load(path)
    assert events["kind"].tolist()[-1] == "reopened"
    assert events["summary"].tolist()[-1] == "Status Documenting → Monitoring"


def test_embedded_updates_are_read_once(data: Path, tmp_path: Path) -> None:
    pages = json.loads((data / "incidents_pages.json").read_text())
    updates = json.loads((data / "incident_updates.json").read_text())["incident_updates"]
    incident = pages[0]["incidents"][0]
    incident["updates"] = updates
    path = tmp_path / "tap.json"
    # The singer tap's shape: a bare list of incidents, here with the updates also listed.
    path.write_text(json.dumps([incident, {"incident_updates": updates}]))
    _, events, _ = load(path)
    assert events["event_id"].is_unique
    assert events["kind"].value_counts().to_dict() == {
        "note": 5, "stakeholder_update": 3, "impact_started": 1, "triggered": 1,
        "acknowledged": 1, "mitigated": 1, "resolved": 1, "severity_changed": 1}


def test_show_response_and_incident_option(data: Path) -> None:
    incidents, events, aliases = load(data / "incident_show.json", incident_id="INC-9")
    assert [i["incident_id"] for i in incidents] == ["INC-9"]
    assert incidents[0]["source_id"] == INC43
    assert set(events["incident_id"]) == {"INC-9"}
    assert {a["incident_id"] for a in aliases} == {"INC-9"}
    assert ("incidentio", "INC-43") in {(a["source"], a["external_id"]) for a in aliases}
    with pytest.raises(InputError, match="--incident INC-9 given, but the file holds 3 incidents"):
        load(data / "incidents_pages.json", incident_id="INC-9")


def test_modes_and_categories_to_skip_are_configurable(data: Path) -> None:
    incidents, events, _ = load(data / "incidents_pages.json", config={"skip_modes": []})
    assert [i["title"] for i in incidents] == [
        "Card payments failing at checkout", "Search latency over 2 s",
        "Testing our incident process", "Nightly export delayed"]
    assert events[events["incident_id"] == "01HRA0TESTTESTTESTTESTTE44"]["kind"].tolist() == [
        "triggered", "resolved"]
    incidents, _, _ = load(data / "incidents_pages.json",
                           config={"skip_modes": ["retrospective"], "skip_categories": ["closed"]})
    assert [i["incident_id"] for i in incidents] == [INC43]
    # Nothing left is not an error: a page of drills is a valid response with nothing to review.
    incidents, events, aliases = load(data / "incidents_pages.json",
                                      config={"skip_modes": ["standard", "test", "retrospective"]})
    assert incidents == [] and aliases == [] and events.empty
    assert list(events.columns) == list(EVENT_COLUMNS)


def test_severity_map_from_config(data: Path) -> None:
    incidents, _, _ = load(data / "incidents_pages.json",
                           config={"severity_map": {"major": "SEV3", "Critical": "SEV2"}})
    assert [(i["severity"], i["severity_raw"]) for i in incidents] == [
        ("SEV2", "Critical"), ("SEV3", "Major"), ("SEV2", "SEV2")]


def test_json_lines_pages_equal_an_array_of_pages(data: Path, tmp_path: Path) -> None:
    pages = json.loads((data / "incidents_pages.json").read_text())
    lines = tmp_path / "pages.jsonl"
    lines.write_text("\n".join(json.dumps(p) for p in pages) + "\n")
    first = load(data / "incidents_pages.json")
    second = load(lines)
    assert first[0] == second[0] and first[2] == second[2]
    pd.testing.assert_frame_equal(first[1], second[1])


def test_reloading_gives_the_same_ids(data: Path) -> None:
    _, first, _ = load(data / "incidents_pages.json")
    _, second, _ = load(data / "incidents_pages.json")
    assert first["event_id"].is_unique
    assert first["event_id"].tolist() == second["event_id"].tolist()
    assert f"incidentio:{INC42}:timestamp:01HQ00TIMESTAMP00000000008" in first["event_id"].tolist()


def test_broken_and_foreign_files_are_refused(tmp_path: Path, fixtures: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"incidents": [{"id": "01HR8Z3K5V2D9QW7M4XN6B1C42", ')
    with pytest.raises(InputError) as caught:
        load(broken)
    assert str(caught.value).startswith(f"{broken}: line 1 column ")
    assert "invalid JSON" in str(caught.value)

    statuspage = tmp_path / "incidents.json"
    statuspage.write_text(json.dumps({"page": {"id": "kctbh9vrtdwd"}, "incidents": []}))
    with pytest.raises(InputError) as caught:
        load(statuspage)
    assert str(caught.value).startswith(f"{statuspage}: $: looks like a Statuspage document")

    day = fixtures / "slack" / "export" / "general" / "2024-03-12.json"
    with pytest.raises(InputError, match=r"\$\[0\]: looks like a Slack message"):
        load(day)

    catalogue = tmp_path / "statuses.json"
    catalogue.write_text(json.dumps({"incident_statuses": [{"id": "1", "name": "Fixing"}]}))
    with pytest.raises(InputError, match="status catalogue"):
        load(catalogue)


def test_missing_fields_name_their_json_path(data: Path, tmp_path: Path) -> None:
    pages = json.loads((data / "incidents_pages.json").read_text())
    del pages[1]["incidents"][1]["id"]
    path = tmp_path / "pages.json"
    path.write_text(json.dumps(pages))
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value) == f"{path}: $[1].incidents[1].id: missing"

    pages = json.loads((data / "incidents_pages.json").read_text())
    pages[0]["incidents"][0]["incident_timestamp_values"][3]["value"]["value"] = "2024-03-12 10:40"
    path.write_text(json.dumps(pages))
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value).startswith(
        f"{path}: $[0].incidents[0].incident_timestamp_values[3].value.value: timestamp "
        "'2024-03-12 10:40' has no time zone")
    # --tz names the zone such a timestamp was written in.
    _, events, _ = load(path, tz="Europe/London")
    assert utc("2024-03-12T10:40:00Z") in events["at"].tolist()

    updates = json.loads((data / "incident_updates.json").read_text())
    updates["incident_updates"][2]["created_at"] = "yesterday"
    path.write_text(json.dumps(updates))
    with pytest.raises(InputError, match=r"\$\.incident_updates\[2\]\.created_at: not a timestamp"):
        load(path)


def test_sniff(data: Path, fixtures: Path, tmp_path: Path) -> None:
    for name in ("incidents_pages.json", "incident_updates.json", "incident_show.json"):
        assert LOADER.sniff(data / name, (data / name).read_text()[:512])
    statuspage = tmp_path / "sp.json"
    statuspage.write_text(json.dumps({"page": {"id": "x"}, "incidents": [{
        "id": "p1", "shortlink": "https://stspg.io/x", "page_id": "x",
        "incident_updates": [{"id": "u1", "body": "b", "display_at": "2024-01-01T00:00:00Z"}]}]}))
    assert not LOADER.sniff(statuspage, statuspage.read_text())
    day = fixtures / "slack" / "export" / "general" / "2024-03-12.json"
    assert not LOADER.sniff(day, day.read_text())
    catalogue = tmp_path / "statuses.json"
    catalogue.write_text(json.dumps([{"category": "live", "id": "1", "name": "Fixing", "rank": 2}]))
    assert not LOADER.sniff(catalogue, catalogue.read_text())
