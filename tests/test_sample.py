"""The demo history: deterministic, realistic, in the real formats, and loadable as written."""
from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from review_kit.loaders import LoadContext, get_loader
from review_kit.model import EVENT_KINDS, parse_timestamp
from review_kit.demo.sample import COMMANDERS, SERVICES, TEAMS, SampleFiles, generate_sample

START = datetime(2025, 11, 1, tzinfo=timezone.utc)
END = pd.Timestamp("2026-11-01T00:00:00Z")      # START + 365 days: the export time
PD_ID = re.compile(r"^P[0-9A-Z]{6}$")
LOG_ENTRY_ID = re.compile(r"^R[0-9A-Z]{25}$")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ISO_PLUS2 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+02:00$")
STATUS_ORDER = ["investigating", "identified", "monitoring", "resolved"]
LOG_ENTRY_TYPES = {
    "trigger_log_entry", "notify_log_entry", "acknowledge_log_entry", "escalate_log_entry",
    "assign_log_entry", "annotate_log_entry", "resolve_log_entry", "unacknowledge_log_entry",
    "snooze_log_entry", "urgency_change_log_entry",
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    return generate_sample(tmp_path_factory.mktemp("sample"), n_incidents=200, seed=42)


@pytest.fixture(scope="module")
def pages(sample: SampleFiles) -> list[dict]:
    return json.loads(sample.pagerduty_incidents.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pd_incidents(pages: list[dict]) -> list[dict]:
    return [incident for page in pages for incident in page["incidents"]]


@pytest.fixture(scope="module")
def log_pages(sample: SampleFiles) -> list[dict]:
    with sample.pagerduty_log_entries.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def csv_incidents(sample: SampleFiles) -> dict[str, dict]:
    with sample.csv_incidents.open(encoding="utf-8", newline="") as fh:
        return {row["incident_id"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def comms(sample: SampleFiles) -> list[dict]:
    with sample.csv_events.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def loaded(sample: SampleFiles) -> dict[str, list]:
    """Every file through the real loaders, in the ingest order the demo uses."""
    out: dict[str, list] = {}
    for name, path in sample.ingest:
        out[path.name] = list(get_loader(name).load(path, LoadContext()))
    return out


def _files(files: SampleFiles) -> list[Path]:
    return [files.pagerduty_incidents, files.pagerduty_log_entries, files.csv_incidents,
            files.csv_events]


# --- determinism -------------------------------------------------------------------------------
def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = generate_sample(tmp_path / "a", n_incidents=60, seed=7)
    again = generate_sample(tmp_path / "b", n_incidents=60, seed=7)
    other = generate_sample(tmp_path / "c", n_incidents=60, seed=8)
    for x, y, z in zip(_files(first), _files(again), _files(other)):
        assert x.read_bytes() == y.read_bytes(), x.name
        assert x.read_bytes() != z.read_bytes(), x.name
    assert first.demo_incident_id == again.demo_incident_id
    assert first.counts == again.counts


def test_padded_benchmark_shape_is_deterministic_and_exact(tmp_path: Path) -> None:
    one = generate_sample(tmp_path / "a", n_incidents=300, seed=3, events_per_incident=100)
    two = generate_sample(tmp_path / "b", n_incidents=300, seed=3, events_per_incident=100)
    assert [p.read_bytes() for p in _files(one)] == [p.read_bytes() for p in _files(two)]
    # Every incident is padded to 100 events, except the open ones cut at the export time.
    assert one.counts["events"] <= 300 * 100
    assert one.counts["events"] >= 300 * 100 - one.counts["open"] * 100
    per_incident = Counter(row["incident_id"] for row in _read_csv(one.csv_events))
    for line in one.pagerduty_log_entries.read_text(encoding="utf-8").splitlines():
        page = json.loads(line)
        for entry in page["log_entries"]:
            per_incident[entry["incident"]["id"]] += 1
    statuses = {r["incident_id"]: r["status"] for r in _read_csv(one.csv_incidents)}
    closed = [n for i, n in per_incident.items() if statuses[i] == "resolved"]
    assert len(closed) == 300 - one.counts["open"]
    assert set(closed) == {100}


def test_long_logs_span_several_pages_newest_first(tmp_path: Path) -> None:
    files = generate_sample(tmp_path, n_incidents=12, seed=5, events_per_incident=260)
    pages_by_incident: dict[str, list[dict]] = defaultdict(list)
    for line in files.pagerduty_log_entries.read_text(encoding="utf-8").splitlines():
        page = json.loads(line)
        pages_by_incident[page["log_entries"][0]["incident"]["id"]].append(page)
    long_logs = [p for p in pages_by_incident.values() if len(p) > 1]
    assert long_logs
    for pages in long_logs:
        assert [p["offset"] for p in pages] == [100 * k for k in range(len(pages))]
        assert [p["more"] for p in pages] == [True] * (len(pages) - 1) + [False]
        assert all(len(p["log_entries"]) == 100 for p in pages[:-1])
        stamps = [e["created_at"] for p in pages for e in p["log_entries"]]
        assert stamps == sorted(stamps, reverse=True)
    events = next(iter(get_loader("pagerduty").load(files.pagerduty_log_entries, LoadContext()))).events
    ordered = events.sort_values(["incident_id", "seq"], kind="stable")
    assert ordered.groupby("incident_id")["at"].apply(lambda s: s.is_monotonic_increasing).all()
    assert len(events) == files.counts["log_entries"]


def test_rejects_an_empty_sample(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_incidents"):
        generate_sample(tmp_path, n_incidents=0)


def test_a_tiny_sample_still_has_a_demo_incident(tmp_path: Path) -> None:
    files = generate_sample(tmp_path, n_incidents=5, seed=1)
    rows = {r["incident_id"]: r for r in _read_csv(files.csv_incidents)}
    assert rows[files.demo_incident_id]["severity"] == "SEV1"
    assert rows[files.demo_incident_id]["status"] == "resolved"


# --- realism -----------------------------------------------------------------------------------
def test_severity_mix_is_the_documented_quota(csv_incidents: dict[str, dict]) -> None:
    # 5 / 20 / 45 / 30 % of 200
    assert Counter(r["severity"] for r in csv_incidents.values()) == {
        "SEV1": 10, "SEV2": 40, "SEV3": 90, "SEV4": 60}


def test_services_teams_and_people(csv_incidents: dict[str, dict], comms: list[dict]) -> None:
    services = Counter(r["service"] for r in csv_incidents.values())
    assert set(services) == {s.name for s in SERVICES}          # all 8 services paged
    owner = {s.name: s.team for s in SERVICES}
    assert all(r["team"] == owner[r["service"]] for r in csv_incidents.values())
    assert len({r["team"] for r in csv_incidents.values()}) == 5
    people = {r["actor"] for r in comms if r["actor_type"] == "person"}
    roster = {p for members in TEAMS.values() for p in members} | set(COMMANDERS)
    assert people <= roster
    assert len(people) >= 18
    # Commanders: SRE leads for SEV1/SEV2, the on-call for SEV3, nobody for SEV4.
    for row in csv_incidents.values():
        if row["severity"] in ("SEV1", "SEV2"):
            assert row["commander"] in COMMANDERS
        elif row["severity"] == "SEV3":
            assert row["commander"] in TEAMS[row["team"]]
        else:
            assert row["commander"] == ""


def test_titles_recur_per_service(csv_incidents: dict[str, dict]) -> None:
    groups = Counter((r["service"], re.sub(r"\d+(\.\d+)?", "N", r["title"]))
                     for r in csv_incidents.values())
    recurring = [g for g, n in groups.items() if n >= 5]
    assert len(recurring) >= 5
    assert groups[("checkout-api", "Checkout API pN latency above Ns")] >= 5


def test_durations_are_heavy_tailed_with_realistic_medians(loaded: dict[str, list]) -> None:
    events = loaded["log_entries.jsonl"][0].events
    first = events.groupby(["incident_id", "kind"])["at"].min().unstack()
    last_resolved = events[events.kind == "resolved"].groupby("incident_id")["at"].max()
    ack = (first["acknowledged"] - first["triggered"]).dt.total_seconds().dropna() / 60
    resolve = (last_resolved - first["triggered"]).dt.total_seconds().dropna() / 60
    assert 2.5 <= ack.median() <= 6.5                 # minutes
    assert 60 <= resolve.median() <= 200               # about two hours
    assert resolve.quantile(0.9) > 2.5 * resolve.median()      # a long tail
    assert resolve.mean() > resolve.median()


def test_sev1_is_acknowledged_fastest(loaded: dict[str, list], csv_incidents: dict[str, dict]) -> None:
    events = loaded["log_entries.jsonl"][0].events
    first = events.groupby(["incident_id", "kind"])["at"].min().unstack()
    ack = (first["acknowledged"] - first["triggered"]).dt.total_seconds().dropna()
    severity = pd.Series({i: r["severity"] for i, r in csv_incidents.items()})
    by_severity = ack.groupby(severity.reindex(ack.index)).median()
    assert by_severity["SEV1"] < by_severity["SEV3"] < by_severity["SEV4"]


def test_acknowledgement_improves_over_the_year(loaded: dict[str, list]) -> None:
    events = loaded["log_entries.jsonl"][0].events
    first = events.groupby(["incident_id", "kind"])["at"].min().unstack()
    ack = (first["acknowledged"] - first["triggered"]).dt.total_seconds()
    frame = pd.DataFrame({"ack": ack, "paged": first["triggered"]}).dropna()
    midyear = pd.Timestamp("2026-05-01T00:00:00Z")
    assert frame[frame.paged < midyear].ack.median() > 1.15 * frame[frame.paged >= midyear].ack.median()


def test_escalations_reassignments_and_comms(log_pages: list[dict], comms: list[dict],
                                             csv_incidents: dict[str, dict]) -> None:
    escalated, handed_off = set(), set()
    for page in log_pages:
        for entry in page["log_entries"]:
            if entry["type"] == "escalate_log_entry":
                escalated.add(entry["incident"]["id"])
            if entry["type"] == "assign_log_entry" and entry["agent"]["type"] == "user_reference":
                handed_off.add(entry["incident"]["id"])
    assert 0.12 <= len(escalated) / 200 <= 0.32
    assert 0.05 <= len(handed_off) / 200 <= 0.3

    by_incident: dict[str, list[dict]] = defaultdict(list)
    for row in comms:
        by_incident[row["incident_id"]].append(row)
    for iid, row in csv_incidents.items():
        kinds = Counter(r["kind"] for r in by_incident[iid])
        if row["severity"] in ("SEV1", "SEV2") and row["status"] == "resolved":
            statuses = [r["status"] for r in by_incident[iid] if r["kind"] == "status_update"]
            # The status page moves forward only; a quick fix may skip straight to monitoring.
            rank = [STATUS_ORDER.index(status) for status in statuses]
            assert rank == sorted(rank) and statuses[-1] == "resolved", iid
            assert "monitoring" in statuses and statuses[0] in ("investigating", "monitoring")
            assert kinds["stakeholder_update"] >= 1
        if row["severity"] == "SEV4":
            assert kinds["status_update"] == 0 and kinds["stakeholder_update"] == 0
    # Some SEV3s go on the status page, most do not.
    sev3 = [i for i, r in csv_incidents.items() if r["severity"] == "SEV3"]
    public = sum(any(r["kind"] == "status_update" for r in by_incident[i]) for i in sev3)
    assert 0.1 * len(sev3) < public < 0.5 * len(sev3)


def test_stakeholder_updates_come_every_15_to_45_minutes_until_mitigation(comms: list[dict]) -> None:
    by_incident: dict[str, list[pd.Timestamp]] = defaultdict(list)
    mitigated: dict[str, pd.Timestamp] = {}
    for row in comms:
        if row["kind"] == "stakeholder_update" and "investigating" in row["summary"]:
            by_incident[row["incident_id"]].append(parse_timestamp(row["at"]))
        if row["kind"] == "mitigated":
            mitigated[row["incident_id"]] = parse_timestamp(row["at"])
    gaps = [(b - a).total_seconds() / 60 for times in by_incident.values()
            for a, b in zip(times, times[1:])]
    assert gaps and min(gaps) >= 15 - 1 / 60 and max(gaps) <= 45 + 1 / 60
    assert all(max(by_incident[i]) < m for i, m in mitigated.items() if i in by_incident)


def test_comms_rows_have_the_right_kinds_sources_and_visibility(comms: list[dict]) -> None:
    assert list(comms[0]) == ["incident_id", "at", "kind", "actor", "summary", "source",
                              "visibility", "status", "actor_type", "target"]
    kinds = Counter(r["kind"] for r in comms)
    assert set(kinds) <= EVENT_KINDS
    for kind in ("impact_started", "stakeholder_update", "status_update", "deploy", "mitigated",
                 "message", "responder_joined", "reopened"):
        assert kinds[kind] > 0, kind
    for row in comms:
        assert (row["visibility"] == "external") == (row["kind"] == "status_update")
        assert (row["status"] != "") == (row["kind"] == "status_update")
        if row["kind"] in ("message", "responder_joined"):
            assert row["source"] == "slack"
        if row["kind"] == "status_update":
            assert row["source"] == "statuspage"
            assert row["status"] in ("investigating", "identified", "monitoring", "resolved")
    assert any(r["actor_type"] == "bot" for r in comms)
    # Deploys: some as triggers before the page, some as rollbacks (mitigation).
    assert any(r["summary"].startswith("Rolled back") for r in comms if r["kind"] == "deploy")
    assert any(r["summary"].startswith("Deployed") for r in comms if r["kind"] == "deploy")


def test_timestamps_are_utc_z_with_a_few_plus_two_offsets(comms: list[dict], log_pages: list[dict]) -> None:
    offsets = [r for r in comms if ISO_PLUS2.match(r["at"])]
    assert 1 <= len(offsets) <= 0.05 * len(comms)
    assert all(ISO_Z.match(r["at"]) for r in comms if r not in offsets)
    # Hand-checked: 14:05 at +02:00 is 12:05 UTC; the sample's offsets convert the same way.
    assert parse_timestamp("2026-03-02T14:05:00+02:00") == pd.Timestamp("2026-03-02T12:05:00Z")
    assert all(ISO_Z.match(e["created_at"]) for p in log_pages for e in p["log_entries"])


def test_impact_starts_before_detection(comms: list[dict], pd_incidents: list[dict]) -> None:
    created = {i["id"]: parse_timestamp(i["created_at"]) for i in pd_incidents}
    leads = [(created[r["incident_id"]] - parse_timestamp(r["at"])).total_seconds() / 60
             for r in comms if r["kind"] == "impact_started"]
    assert len(leads) >= 0.6 * 200
    assert min(leads) > 0
    assert 3 <= float(np.median(leads)) <= 12


# --- the PagerDuty files ---------------------------------------------------------------------------
def test_incidents_file_is_paginated_like_the_api(pages: list[dict], pd_incidents: list[dict]) -> None:
    assert [(p["offset"], p["limit"], p["more"], p["total"], len(p["incidents"])) for p in pages] == [
        (0, 100, True, 200, 100), (100, 100, False, 200, 100)]
    ids = [i["id"] for i in pd_incidents]
    assert len(set(ids)) == 200 and all(PD_ID.match(i) for i in ids)
    assert [i["incident_number"] for i in pd_incidents] == list(range(1042, 1242))
    created = [i["created_at"] for i in pd_incidents]
    assert created == sorted(created)
    assert START <= parse_timestamp(created[0]) and parse_timestamp(created[-1]) < END
    for incident in pd_incidents:
        assert incident["type"] == "incident"
        assert incident["summary"] == f"[#{incident['incident_number']}] {incident['title']}"
        assert incident["service"]["type"] == "service_reference"
        assert incident["teams"][0]["type"] == "team_reference"
        assert incident["escalation_policy"]["type"] == "escalation_policy_reference"
        assert incident["html_url"].endswith(f"/incidents/{incident['id']}")
        assert re.fullmatch(r"[0-9a-f]{32}", incident["incident_key"])
        assert incident["status"] in ("triggered", "acknowledged", "resolved")
        assert incident["urgency"] in ("high", "low")
        assert (incident["resolved_at"] is None) == (incident["status"] != "resolved")
        # The API lists acknowledgements only while the incident is acknowledged.
        assert bool(incident["acknowledgements"]) == (incident["status"] == "acknowledged")


def test_priority_or_urgency_gives_the_csv_severity(pd_incidents: list[dict],
                                                    csv_incidents: dict[str, dict]) -> None:
    without = 0
    for incident in pd_incidents:
        severity = csv_incidents[incident["id"]]["severity"]
        if incident["priority"] is None:
            without += 1
            assert severity == {"high": "SEV2", "low": "SEV4"}[incident["urgency"]]
        else:
            assert incident["priority"]["summary"] == "P" + severity[-1]
    assert 10 <= without <= 40


def test_log_entries_are_api_pages_newest_first(log_pages: list[dict], pd_incidents: list[dict]) -> None:
    known = {i["id"] for i in pd_incidents}
    seen: set[str] = set()
    shared_second = 0
    for page in log_pages:
        assert set(page) == {"log_entries", "limit", "offset", "more", "total"}
        assert page["offset"] == 0 and page["more"] is False and page["total"] is None
        entries = page["log_entries"]
        incident_ids = {e["incident"]["id"] for e in entries}
        assert len(incident_ids) == 1 and incident_ids <= known
        seen |= incident_ids
        stamps = [e["created_at"] for e in entries]
        assert stamps == sorted(stamps, reverse=True)
        shared_second += len(stamps) - len(set(stamps))
        assert entries[-1]["type"] == "trigger_log_entry"      # oldest, so last
        for entry in entries:
            assert LOG_ENTRY_ID.match(entry["id"])
            assert entry["type"] in LOG_ENTRY_TYPES
            assert entry["incident"]["type"] == "incident_reference"
            assert entry["service"]["type"] == "service_reference"
            if entry["type"] == "notify_log_entry":
                assert "agent" not in entry and entry["user"]["type"] == "user_reference"
            else:
                assert entry["agent"]["type"] in ("user_reference", "service_reference")
            if entry["type"] in ("assign_log_entry", "escalate_log_entry"):
                assert entry["assignees"] and entry["assignees"][0]["type"] == "user_reference"
            if entry["type"] == "annotate_log_entry":
                assert entry["channel"]["type"] == "note" and entry["channel"]["summary"]
    assert seen == known
    assert shared_second >= 200          # trigger, assignment and first page share a second
    types = Counter(e["type"] for p in log_pages for e in p["log_entries"])
    assert set(types) == LOG_ENTRY_TYPES
    assert types["trigger_log_entry"] == 200
    # Occasional, as in life: unacknowledged by timeout, snoozed, urgency raised.
    assert 1 <= types["unacknowledge_log_entry"] <= 20
    assert 1 <= types["snooze_log_entry"] <= 20
    assert 1 <= types["urgency_change_log_entry"] <= 20


def test_reopened_and_open_incidents(sample: SampleFiles, csv_incidents: dict[str, dict],
                                     comms: list[dict], pd_incidents: list[dict]) -> None:
    open_ids = {i for i, r in csv_incidents.items() if r["status"] != "resolved"}
    assert 3 <= len(open_ids) <= 7
    assert sample.counts["open"] == len(open_ids)
    for incident in pd_incidents:
        if incident["id"] in open_ids:
            # Open at the export time, and recent.
            assert (END - parse_timestamp(incident["created_at"])).days <= 3
            assert incident["status"] in ("triggered", "acknowledged")
    reopened = {r["incident_id"] for r in comms if r["kind"] == "reopened"}
    still_open = reopened & open_ids
    assert 1 <= len(still_open) <= 2
    assert len(reopened - open_ids) >= 2
    assert sample.counts["reopened"] == len(reopened)


def test_demo_incident_has_a_rich_timeline(sample: SampleFiles, csv_incidents: dict[str, dict],
                                           comms: list[dict], log_pages: list[dict]) -> None:
    demo = sample.demo_incident_id
    assert csv_incidents[demo]["severity"] == "SEV1"
    assert csv_incidents[demo]["status"] == "resolved"
    rows = [r for r in comms if r["incident_id"] == demo]
    assert {"investigating", "monitoring", "resolved"} <= {r["status"] for r in rows}
    assert len({r["actor"] for r in rows if r["kind"] == "responder_joined"}) >= 5
    assert {"impact_started", "mitigated", "deploy", "stakeholder_update"} <= {r["kind"] for r in rows}
    types = Counter(e["type"] for p in log_pages for e in p["log_entries"]
                    if e["incident"]["id"] == demo)
    assert types["escalate_log_entry"] >= 2      # by timeout, then a person pulls in an expert
    assert types["resolve_log_entry"] == 1


# --- through the real loaders ------------------------------------------------------------------
def test_every_file_loads_through_its_loader_with_the_expected_counts(
        sample: SampleFiles, loaded: dict[str, list], csv_incidents: dict[str, dict]) -> None:
    assert [name for name, _ in sample.ingest] == ["pagerduty", "pagerduty", "csv", "csv"]
    incidents = loaded["incidents.json"]
    assert sum(len(b.incidents) for b in incidents) == 200
    assert sum(len(b.events) for b in incidents) == 0
    log = loaded["log_entries.jsonl"]
    assert sum(len(b.events) for b in log) == sample.counts["log_entries"]
    assert sum(len(b.incidents) for b in loaded["incidents.csv"]) == 200
    comms = loaded["comms.csv"]
    assert sum(len(b.events) for b in comms) == sample.counts["comms_events"]
    assert sample.counts["events"] == sample.counts["log_entries"] + sample.counts["comms_events"]
    # PagerDuty's priority / urgency and the CSV's severity agree for every incident.
    pd_severity = {r["incident_id"]: r["severity"] for b in incidents for r in b.incidents}
    assert pd_severity == {i: r["severity"] for i, r in csv_incidents.items()}
    # Every event id is distinct: re-ingest is a no-op, and nothing collapses on first ingest.
    all_events = pd.concat([b.events for b in log + comms], ignore_index=True)
    assert all_events["event_id"].is_unique
    assert all_events["at"].max() <= END


def test_loaded_log_entries_restore_the_true_order(loaded: dict[str, list]) -> None:
    events = loaded["log_entries.jsonl"][0].events.sort_values(["incident_id", "seq"], kind="stable")
    assert events.groupby("incident_id")["at"].apply(lambda s: s.is_monotonic_increasing).all()
    assert (events.groupby("incident_id")["kind"].first() == "triggered").all()


def _read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))
