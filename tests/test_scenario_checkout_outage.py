"""Acceptance scenario of issue 3: one incident told by PagerDuty, Slack, Statuspage and
Alertmanager becomes one timeline whose metrics match the hand-computed values of
tests/scenarios/checkout-outage/EXPECTED.md."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from review_kit.cli import main
from review_kit.loaders.alertmanager import group_incident_id
from review_kit.analysis.metrics import incident_metrics
from review_kit.store import Store
from review_kit.analysis.timeline import build_timeline

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "checkout-outage"
INCIDENT = "Q3CHKOUT7XR2PL"
GROUP_KEY = '{}/{team="payments"}:{service="checkout"}'
INPUTS: dict[str, list[str]] = {
    "pagerduty": ["pagerduty/incidents.json", "pagerduty/log_entries_Q3CHKOUT7XR2PL.json"],
    "slack": ["slack-export"],
    "statuspage": ["statuspage/incidents.json"],
    "alertmanager": ["alertmanager/webhook-receiver.jsonl"],
}
LINKS: list[tuple[str, str]] = [
    ("statuspage", "k2x9w7c4v1np"),
    ("alertmanager", "am-441400c5d3dc"),
    ("slack", "C07CHK4711"),
]
RESPONDERS = ["Marco Bianchi", "Priya Raman", "Lena Fischer", "Tomás Herrera", "Sam Okoye"]
# EXPECTED.md, "Milestones" to "Coordination".
EXPECTED: dict[str, object] = {
    "incident_id": INCIDENT,
    "title": "Checkout API 5xx rate above 10%",
    "severity": "SEV1",
    "service": "Checkout API",
    "team": "Payments Platform",
    "started_at": "2024-05-21T13:58:41.500000Z",
    "detected_at": "2024-05-21T13:58:41.500000Z",
    "acknowledged_at": "2024-05-21T14:07:30Z",
    "mitigated_at": "2024-05-21T14:49:55Z",
    "resolved_at": "2024-05-21T15:18:20Z",
    "reopened": 0,
    "is_resolved": True,
    "time_to_detect": None,  # the start falls back to the very alert that detected it
    "time_to_acknowledge": 528.5,
    "time_to_mitigate": 3073.5,
    "time_to_resolve": 4778.5,
    "impact_duration": 3073.5,
    "time_to_first_update": 828.5,
    "longest_silence": 1705.0,
    "cadence_breaches": 3,
    "responders": RESPONDERS,
    "responder_count": 5,
    "escalations": 1,
    "handoffs": 1,
    "commander": None,
    "data_quality": [],
}
# Fields of the incident row rather than of the timeline: the first source to ingest into a
# linked-but-empty incident owns them (see test_link_first_then_ingest_gives_the_same_metrics).
INCIDENT_ROW_FIELDS = ("title", "service", "team")


def cli(capsys, folder: Path, *argv: str) -> str:
    """Run `review-kit --store review.db --config review-kit.toml …`; its stdout."""
    code = main(["--store", str(folder / "review.db"), "--config", str(folder / "review-kit.toml"),
                 "--quiet", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def ingest(capsys, folder: Path, source: str) -> str:
    return cli(capsys, folder, "ingest", source, *[str(folder / p) for p in INPUTS[source]])


def link(capsys, folder: Path, source: str, external_id: str) -> str:
    return cli(capsys, folder, "link", INCIDENT, source, external_id)


def metrics(capsys, folder: Path) -> dict:
    found = json.loads(cli(capsys, folder, "metrics", INCIDENT, "--json"))
    assert found.pop("as_of")  # now: a resolved incident's figures do not depend on it
    return found


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in a fixed order."""
    with sqlite3.connect(db) as connection:
        tables = [r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(connection.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in tables}


@pytest.fixture
def scenario(tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the scenario folder, as the working directory."""
    folder = tmp_path / "checkout-outage"
    shutil.copytree(SCENARIO, folder)
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def merged(scenario: Path, capsys) -> Path:
    """The scenario ingested source by source, then linked into one incident."""
    for source in INPUTS:
        ingest(capsys, scenario, source)
    for source, external_id in LINKS:
        link(capsys, scenario, source, external_id)
    return scenario


def timeline_of(folder: Path) -> pd.DataFrame:
    store = Store.open(folder / "review.db", create=False)
    try:
        return build_timeline(store.events(INCIDENT))
    finally:
        store.close()


# --- the acceptance criterion ----------------------------------------------------------------

def test_metrics_match_the_hand_computed_values(merged, capsys):
    assert metrics(capsys, merged) == EXPECTED


def test_the_alertmanager_link_names_the_group_the_loader_derives():
    # EXPECTED.md writes the id out by hand; it must be the one the loader derives.
    assert group_incident_id(GROUP_KEY) == "am-441400c5d3dc"


def test_one_timeline_from_four_sources(merged):
    timeline = timeline_of(merged)
    assert len(timeline) == 43
    assert timeline.groupby("source").size().to_dict() == {
        "pagerduty": 10, "slack": 22, "statuspage": 7, "alertmanager": 4}
    kinds = timeline.groupby(["source", "kind"]).size().to_dict()
    assert kinds == {
        ("alertmanager", "alert_firing"): 2, ("alertmanager", "alert_resolved"): 2,
        ("pagerduty", "acknowledged"): 1, ("pagerduty", "escalated"): 1,
        ("pagerduty", "note"): 1, ("pagerduty", "notified"): 4,
        ("pagerduty", "reassigned"): 1, ("pagerduty", "resolved"): 1,
        ("pagerduty", "triggered"): 1,
        ("slack", "message"): 15, ("slack", "note"): 2, ("slack", "responder_joined"): 5,
        ("statuspage", "status_update"): 5,
        # The page's started_at and monitoring_at: kept, but PagerDuty tells the lifecycle.
        ("statuspage", "impact_started"): 1, ("statuspage", "mitigated"): 1,
    }
    assert timeline["at"].is_monotonic_increasing
    assert timeline["at"].iloc[0] == pd.Timestamp("2024-05-21T13:58:41.500000Z")
    assert timeline["at"].iloc[-1] == pd.Timestamp("2024-05-22T09:45:00.000300Z")  # Slack ts "….000300"


def test_no_event_is_duplicated(merged):
    store = Store.open(merged / "review.db", create=False)
    try:
        everything = store.events()
        counts = store.counts()
        incidents = set(store.incidents()["incident_id"])
    finally:
        store.close()
    # 43 of this incident + 3 of inc-4650 + 4 of the older status page incident (3 updates
    # and its started_at) + 2 infra alerts
    assert counts["events"] == len(everything) == 52
    assert everything["event_id"].is_unique
    # The same happening told twice would show as the same (source, kind, time, text).
    assert not everything.duplicated(["source", "kind", "at", "summary"]).any()
    # The byte-for-byte retried Alertmanager payloads added nothing.
    alerts = everything[everything["source"] == "alertmanager"]
    assert sorted(alerts["event_id"]) == sorted([
        "alertmanager:8d1e4c2a9b7f3e51:2024-05-21T13:58:41.500000999Z:firing",
        "alertmanager:8d1e4c2a9b7f3e51:2024-05-21T13:58:41.500000999Z:resolved",
        "alertmanager:c04b7e19d2a3f866:2024-05-21T14:00:11.25Z:firing",
        "alertmanager:c04b7e19d2a3f866:2024-05-21T14:00:11.25Z:resolved",
        "alertmanager:f1a9d3c5e7b20486:2024-05-21T14:03:00.019284113Z:firing",
        "alertmanager:f1a9d3c5e7b20486:2024-05-21T14:03:00.019284113Z:resolved",
    ])
    # Linked records were folded in; unrelated ones kept apart.
    assert incidents == {INCIDENT, "INC-4650", "w8e2r4t6y1ui", "am-0edf334b031d"}


def test_times_from_every_source_are_utc(merged):
    timeline = timeline_of(merged).set_index("summary")
    at = timeline["at"]
    assert str(at.dtype) == "datetime64[us, UTC]"
    # PagerDuty, fetched with time_zone=Europe/Berlin: 16:07:30+02:00
    assert at["Acknowledged by Marco Bianchi."] == pd.Timestamp("2024-05-21T14:07:30Z")
    # Alertmanager nanoseconds are truncated (…41.500000999 → .500000, never rounded up)
    firing = timeline_of(merged).query("kind == 'alert_firing'")["at"].tolist()
    assert firing == [pd.Timestamp("2024-05-21T13:58:41.500000Z"),
                      pd.Timestamp("2024-05-21T14:00:11.250000Z")]
    # Slack ts strings keep their microsecond sequence
    joined = timeline_of(merged).query("kind == 'responder_joined'")["at"].iloc[0]
    assert joined == pd.Timestamp("2024-05-21T14:07:40.000100Z")
    # Statuspage -07:00, and display_at (the back-dated time) rather than created_at
    assert at[timeline.index.str.startswith("We are investigating")].tolist() == [
        pd.Timestamp("2024-05-21T14:12:30Z")]


def test_statuspage_updates_in_true_time_order(merged):
    updates = timeline_of(merged).query("kind == 'status_update'")
    ids = [json.loads(raw)["id"] for raw in updates["raw"]]
    # The file lists them newest first; u2 and u3 share 14:27:45 and u2 is the older.
    assert ids == ["u1inv9x2k4m7", "u2idn4r8t1q3", "u3idn6y5u2w8", "u4mon3e7z9c1", "u5res1a4s8d2"]
    assert updates["status"].tolist() == [
        "investigating", "identified", "identified", "monitoring", "resolved"]
    assert updates["at"].dt.strftime("%H:%M:%S").tolist() == [
        "14:12:30", "14:27:45", "14:27:45", "14:49:55", "15:21:00"]
    assert set(updates["visibility"]) == {"external"}


def test_slack_channel_joins_count_as_responders(merged):
    timeline = timeline_of(merged)
    joins = timeline[timeline["kind"] == "responder_joined"]
    assert joins["actor"].tolist() == [
        "Marco Bianchi", "Priya Raman", "Lena Fischer", "Tomás Herrera", "Sam Okoye"]
    assert incident_metrics(timeline, INCIDENT)["responders"] == RESPONDERS
    # Tomás only ever joined: without the joins he is no responder, and the others keep
    # their order (each also wrote, was escalated to or acted in PagerDuty).
    without_joins = incident_metrics(timeline[timeline["kind"] != "responder_joined"], INCIDENT)
    assert without_joins["responders"] == [p for p in RESPONDERS if p != "Tomás Herrera"]
    # Bots talk in the channel but are not people responding.
    bots = set(timeline.loc[timeline["actor_type"] == "bot", "actor"])
    assert bots == {"PagerDuty", "Alertmanager"}
    assert not bots & set(RESPONDERS)


def test_slack_text_is_readable_and_threads_are_marked(merged):
    summaries = timeline_of(merged).query("source == 'slack'")["summary"].tolist()
    assert ("@here checkout 5xx at 12%. Suspect deploy 2024.05.21-3, see checkout dashboard "
            "(https://grafana.acmeshop.example/d/chk?from=now-1h&to=now)") in summaries
    assert ("↳ here now, sorry, was on the train. Deploy went out 13:57 & the error rate "
            "jumped right after") in summaries
    assert "I have the pager now. @Marco Bianchi keep driving the rollback, I'll coordinate." \
        in summaries
    assert "graph for the doc [file: checkout-5xx-2024-05-21.png]" in summaries


def test_the_incident_row_is_pagerdutys(merged):
    store = Store.open(merged / "review.db", create=False)
    try:
        incident = store.incident(INCIDENT)
        aliases = store.aliases(INCIDENT)
    finally:
        store.close()
    assert {k: incident[k] for k in ("title", "severity", "severity_raw", "status", "service",
                                      "team", "source")} == {
        "title": "Checkout API 5xx rate above 10%", "severity": "SEV1", "severity_raw": "P1",
        "status": "resolved", "service": "Checkout API", "team": "Payments Platform",
        "source": "pagerduty"}
    assert incident["created_at"] == pd.Timestamp("2024-05-21T14:01:05Z")
    known = set(map(tuple, aliases[["source", "external_id"]].to_numpy().tolist()))
    assert {("pagerduty", "4711"), ("statuspage", "k2x9w7c4v1np"),
            ("alertmanager", "am-441400c5d3dc"), ("alertmanager", GROUP_KEY),
            ("slack", "C07CHK4711"), ("slack", "inc-4711-checkout-errors")} <= known


# --- idempotence and order ---------------------------------------------------------------------

def test_reingesting_every_source_changes_nothing(merged, capsys):
    before = snapshot(merged / "review.db")
    for source in INPUTS:
        out = ingest(capsys, merged, source)
        assert " 0 new event(s)" in out and "0 new alias(es)" in out, out
    assert snapshot(merged / "review.db") == before
    assert metrics(capsys, merged) == EXPECTED


def test_link_first_then_ingest_gives_the_same_metrics(merged, capsys, tmp_path):
    other = tmp_path / "link-first"
    shutil.copytree(SCENARIO, other)
    # Links before any data (the Alertmanager group by its key this time), then the sources
    # in the reverse order.
    for source, external_id in [("statuspage", "k2x9w7c4v1np"), ("alertmanager", GROUP_KEY),
                                ("slack", "C07CHK4711")]:
        link(capsys, other, source, external_id)
    for source in reversed(list(INPUTS)):
        ingest(capsys, other, source)

    def events(folder: Path) -> list[tuple]:
        return snapshot(folder / "review.db")["events"]
    assert events(other) == events(merged)
    first, second = metrics(capsys, merged), metrics(capsys, other)
    assert {k: v for k, v in second.items() if k not in INCIDENT_ROW_FIELDS} == \
        {k: v for k, v in first.items() if k not in INCIDENT_ROW_FIELDS}
    assert second["severity"] == "SEV1"


def test_the_channel_named_with_incident_option_joins_the_same_way(merged, capsys, tmp_path):
    other = tmp_path / "incident-option"
    shutil.copytree(SCENARIO, other)
    for source in ("pagerduty", "statuspage", "alertmanager"):
        ingest(capsys, other, source)
    for source, external_id in LINKS[:2]:
        link(capsys, other, source, external_id)
    # The channel folder, not the whole export: --incident takes every channel it is given.
    out = cli(capsys, other, "ingest", "slack", str(other / "slack-export" / "inc-4711-checkout-errors"),
              "--incident", INCIDENT)
    assert "22 new event(s)" in out
    assert metrics(capsys, other) == EXPECTED
    assert timeline_of(other)["event_id"].tolist() == timeline_of(merged)["event_id"].tolist()


def test_a_facilitators_start_override_moves_detection_and_impact(merged, capsys):
    store = Store.open(merged / "review.db", create=False)
    try:
        # Priya names the release time in the channel: 13:57 UTC.
        store.set_annotation(INCIDENT, "started_at", "2024-05-21T13:57:00Z", author="facilitator")
    finally:
        store.close()
    ingest(capsys, merged, "pagerduty")  # an ingest never touches annotations
    changed = metrics(capsys, merged)
    assert changed["started_at"] == "2024-05-21T13:57:00Z"
    assert changed["time_to_detect"] == 101.5
    assert changed["impact_duration"] == 3175.0
    assert {k: v for k, v in changed.items()
            if k not in ("started_at", "time_to_detect", "impact_duration")} == \
        {k: v for k, v in EXPECTED.items()
         if k not in ("started_at", "time_to_detect", "impact_duration")}
