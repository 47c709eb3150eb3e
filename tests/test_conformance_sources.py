"""Conformance: every real Opsgenie, Statuspage and Alertmanager payload under ../shared/samples
loads, yields exactly the kinds, counts and UTC times it must, and is recognised by its own
loader's sniff alone."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import SHARED_SAMPLES
from review_kit.loaders import LoadContext, get_loader

SOURCES = ("opsgenie", "statuspage", "alertmanager")
FOREIGN = ("pagerduty", "slack", "incidentio")


def _files(folders: tuple[str, ...]) -> list[str]:
    if not SHARED_SAMPLES.is_dir():
        return []
    return sorted(str(p.relative_to(SHARED_SAMPLES)) for folder in folders
                  for p in (SHARED_SAMPLES / folder).rglob("*.json") if p.is_file())


# (incident_id, kind, status, UTC time) in true order, hand-read from each file.
EXPECTED: dict[str, list[tuple[str, str, str | None, str]]] = {
    "opsgenie/zulip_opsgenie_webhook_close.json": [
        # updatedAt 1420452374669001603 ns → …14.669001 (µs, truncated)
        ("052652ac-5d1c-464a-812a-7dd18bbfba8c", "resolved", None, "2015-01-05T10:06:14.669001Z"),
    ],
    "alertmanager/zulip_alertmanager_alert.json": [
        # startsAt …58.432911368Z, endsAt Go zero time: firing only
        ("am-a538fffbe942", "alert_firing", "firing", "2020-02-06T00:17:58.432911Z"),
        ("am-a538fffbe942", "alert_firing", "firing", "2020-02-06T00:17:58.432911Z"),
    ],
    "statuspage/zulip_statuspage_webhook_incident_update.json": [
        ("z3lct0r596n4", "status_update", "identified", "2017-12-26T07:32:00.548Z"),
        ("z3lct0r596n4", "status_update", "resolved", "2017-12-26T07:37:20.785Z"),
    ],
    "statuspage/cloudflarestatus_incidents_2019-01-10_via_cloudflared.json": [
        ("wqfk9mzs5qt1", "status_update", "investigating", "2018-09-17T18:05:40.033Z"),
        ("q746ybtyb6q0", "status_update", "investigating", "2018-09-17T19:29:21.201Z"),
        ("q746ybtyb6q0", "status_update", "investigating", "2018-09-17T19:30:08.049Z"),
        ("q746ybtyb6q0", "status_update", "monitoring", "2018-09-17T21:35:06.492Z"),
        # the incident's own monitoring_at: Statuspage's mitigation time
        ("q746ybtyb6q0", "mitigated", None, "2018-09-17T21:35:06.492Z"),
        ("wqfk9mzs5qt1", "status_update", "resolved", "2018-09-17T22:53:05.057Z"),
        ("q746ybtyb6q0", "status_update", "resolved", "2018-09-18T07:45:41.290Z"),
    ],
    "statuspage/githubstatus_incidents_2024-09-17_via_slok-stactus.json": [
        # each incident's own started_at: Statuspage's impact start
        ("r3x7x31k7nn1", "impact_started", None, "2024-09-16T13:29:47.155Z"),
        ("r3x7x31k7nn1", "status_update", "investigating", "2024-09-16T13:29:47.204Z"),
        ("r3x7x31k7nn1", "status_update", "investigating", "2024-09-16T13:30:07.571Z"),
        ("r3x7x31k7nn1", "status_update", "investigating", "2024-09-16T13:38:25.023Z"),
        ("r3x7x31k7nn1", "status_update", "investigating", "2024-09-16T14:11:07.786Z"),
        ("r3x7x31k7nn1", "status_update", "investigating", "2024-09-16T14:27:52.696Z"),
        ("r3x7x31k7nn1", "status_update", "resolved", "2024-09-16T14:28:03.812Z"),
        ("69sb0f8lydp4", "impact_started", None, "2024-09-16T21:31:02.713Z"),
        ("69sb0f8lydp4", "status_update", "investigating", "2024-09-16T21:31:02.798Z"),
        ("69sb0f8lydp4", "status_update", "investigating", "2024-09-16T21:37:26.995Z"),
        ("69sb0f8lydp4", "status_update", "investigating", "2024-09-16T21:52:44.092Z"),
        ("69sb0f8lydp4", "status_update", "investigating", "2024-09-16T21:53:48.129Z"),
        ("69sb0f8lydp4", "status_update", "investigating", "2024-09-16T21:55:28.472Z"),
        ("69sb0f8lydp4", "status_update", "resolved", "2024-09-16T22:08:39.333Z"),
    ],
}
# The summary snapshot: one unresolved incident with 21 updates (20 investigating, then monitoring),
# framed by its own started_at (impact start) and monitoring_at (mitigated).
SUMMARY = "statuspage/githubstatus_summary_snapshot_via_outages-github-outages.json"

# incident_id → (severity, severity_raw, status, created_at UTC)
EXPECTED_INCIDENTS: dict[str, dict[str, tuple]] = {
    "opsgenie/zulip_opsgenie_webhook_close.json": {
        "052652ac-5d1c-464a-812a-7dd18bbfba8c": (None, None, "closed", "2015-01-05T10:03:11.104Z")},
    "alertmanager/zulip_alertmanager_alert.json": {
        "am-a538fffbe942": ("SEV1", "critical", "firing", "2020-02-06T00:17:58.432911Z")},
    "statuspage/zulip_statuspage_webhook_incident_update.json": {
        "z3lct0r596n4": ("SEV4", "none", "resolved", "2017-12-26T07:32:00.507Z")},
    "statuspage/cloudflarestatus_incidents_2019-01-10_via_cloudflared.json": {
        "q746ybtyb6q0": ("SEV3", "minor", "resolved", "2018-09-17T19:29:21.132Z"),
        "wqfk9mzs5qt1": ("SEV3", "minor", "resolved", "2018-09-17T18:05:39.907Z")},
    "statuspage/githubstatus_incidents_2024-09-17_via_slok-stactus.json": {
        "69sb0f8lydp4": ("SEV2", "major", "resolved", "2024-09-16T21:31:02.719Z"),
        "r3x7x31k7nn1": ("SEV3", "minor", "resolved", "2024-09-16T13:29:47.163Z")},
    SUMMARY: {"qcvjkzcs7j74": ("SEV1", "critical", "monitoring", "2026-08-06T15:22:49.029Z")},
}


def _load(relative: str):
    path = SHARED_SAMPLES / relative
    loader = get_loader(relative.split("/")[0])
    batches = list(loader.load(path, LoadContext()))
    events = pd.concat([b.events for b in batches], ignore_index=True)
    incidents = {row["incident_id"]: row for b in batches for row in b.incidents}
    return events.sort_values(["at", "seq"], kind="stable", ignore_index=True), incidents


def _head(path: Path, size: int) -> str:
    return path.read_bytes()[:size].decode("utf-8-sig", errors="replace")


def test_every_sample_has_expectations(shared_samples: Path) -> None:
    assert set(_files(SOURCES)) == set(EXPECTED_INCIDENTS), "a new sample needs its expected values here"


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_sample_yields_expected_events(shared_samples: Path, relative: str) -> None:
    events, _ = _load(relative)
    got = [(row.incident_id, row.kind, row.status, row.at) for row in events.itertuples()]
    assert got == [(i, k, s, pd.Timestamp(t)) for i, k, s, t in EXPECTED[relative]]
    assert str(events["at"].dtype) == "datetime64[us, UTC]"


def test_summary_snapshot(shared_samples: Path) -> None:
    events, _ = _load(SUMMARY)
    assert len(events) == 23 and set(events["incident_id"]) == {"qcvjkzcs7j74"}
    assert list(events["kind"]) == ["impact_started"] + ["status_update"] * 21 + ["mitigated"]
    assert set(events["visibility"]) == {"external"}
    updates = events[events["kind"] == "status_update"]
    assert list(updates["status"]) == ["investigating"] * 20 + ["monitoring"]
    assert updates["at"].iloc[0] == pd.Timestamp("2026-08-06T15:22:49.100Z")
    assert updates["at"].iloc[-1] == pd.Timestamp("2026-08-07T00:06:24.906Z")
    assert events["at"].iloc[0] == pd.Timestamp("2026-08-06T15:22:49.021Z")    # started_at
    assert events["at"].iloc[-1] == pd.Timestamp("2026-08-07T00:06:24.906Z")   # monitoring_at
    assert list(updates["seq"]) == list(range(21))   # the updates keep their order
    assert events["at"].is_monotonic_increasing


@pytest.mark.parametrize("relative", sorted(EXPECTED_INCIDENTS))
def test_sample_yields_expected_incidents(shared_samples: Path, relative: str) -> None:
    _, incidents = _load(relative)
    got = {i: (row["severity"], row["severity_raw"], row["status"], row["created_at"])
           for i, row in incidents.items()}
    assert got == {i: (sev, raw, status, pd.Timestamp(created))
                   for i, (sev, raw, status, created) in EXPECTED_INCIDENTS[relative].items()}


@pytest.mark.parametrize("relative", _files(SOURCES))
def test_sample_reloads_with_the_same_ids(shared_samples: Path, relative: str) -> None:
    first, _ = _load(relative)
    second, _ = _load(relative)
    assert first["event_id"].is_unique
    assert list(first["event_id"]) == list(second["event_id"])


@pytest.mark.parametrize("relative", _files(SOURCES))
@pytest.mark.parametrize("head_size", [1024, 64 * 1024])
def test_sample_is_recognised_by_its_own_sniff_only(shared_samples: Path, relative: str, head_size: int) -> None:
    path = SHARED_SAMPLES / relative
    head = _head(path, head_size)
    claimed = [name for name in SOURCES if get_loader(name).sniff(path, head)]
    assert claimed == [relative.split("/")[0]]


@pytest.mark.parametrize("relative", _files(SOURCES))
def test_ingest_auto_picks_the_right_loader(shared_samples: Path, relative: str) -> None:
    from review_kit.store.ingest import recognise
    assert [loader.name for loader in recognise(SHARED_SAMPLES / relative)] == [relative.split("/")[0]]


@pytest.mark.parametrize("relative", _files(FOREIGN))
def test_other_sources_samples_are_not_claimed(shared_samples: Path, relative: str) -> None:
    path = SHARED_SAMPLES / relative
    head = _head(path, 64 * 1024)
    assert [name for name in SOURCES if get_loader(name).sniff(path, head)] == []
