"""When a duration is measured and when it is unknown; out-of-order milestones (analysis.durations)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from review_kit.analysis.durations import (DURATION_SPANS, describe_finding, measured_durations,
                                           order_conflicts, order_findings)
from review_kit.analysis.metrics import compute_metrics
from review_kit.loaders import get_loader
from frames import literal_events, load_all, utc
from histories import status_page_history, write_json

DURATIONS = list(DURATION_SPANS)
END = pd.Timestamp("2025-06-30T12:00:00Z")


def marks(**times: str | None) -> pd.DataFrame:
    row = {"incident_id": "INC-1"}
    for name in ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at"):
        value = times.get(name)
        row[name] = utc(value) if value else pd.NaT
    frame = pd.DataFrame([row])
    for name in row:
        if name != "incident_id":
            frame[name] = pd.to_datetime(frame[name], utc=True).dt.as_unit("us")
    return frame


def test_durations_in_order_are_measured() -> None:
    found = measured_durations(marks(
        started_at="2024-03-01T09:50:00Z", detected_at="2024-03-01T10:00:00Z",
        acknowledged_at="2024-03-01T10:05:00Z", mitigated_at="2024-03-01T10:50:00Z",
        resolved_at="2024-03-01T11:30:00Z")).iloc[0]
    assert found.to_dict() == {"time_to_detect": 600.0, "time_to_acknowledge": 300.0,
                               "time_to_mitigate": 3000.0, "time_to_resolve": 5400.0,
                               "impact_duration": 3600.0}


def test_missing_or_indistinct_ends_are_unknown_not_zero() -> None:
    found = measured_durations(marks(
        detected_at="2024-03-01T10:00:00Z", acknowledged_at="2024-03-01T10:00:00.400Z",
        mitigated_at="2024-03-01T10:00:00Z", resolved_at="2024-03-01T10:00:00Z")).iloc[0]
    # No start; an acknowledgement 0.4 s after detection and a resolution at the same
    # instant are not measured phases.
    assert found.isna().all()


def test_one_reversed_pair_blames_both_ends() -> None:
    frame = marks(started_at="2024-03-01T09:50:00Z", detected_at="2024-03-01T10:00:00Z",
                  acknowledged_at="2024-03-01T10:20:00Z", mitigated_at="2024-03-01T10:10:00Z",
                  resolved_at="2024-03-01T10:15:00Z")
    found = measured_durations(frame).iloc[0]
    # acknowledged 10:20 after resolved 10:15: either may be wrong, so both lose their
    # durations; mitigated and the start are in order with everything else.
    assert np.isnan(found["time_to_acknowledge"]) and np.isnan(found["time_to_resolve"])
    assert found["time_to_detect"] == 600.0
    assert found["time_to_mitigate"] == 600.0
    assert found["impact_duration"] == 1200.0
    findings = order_findings(frame)
    assert findings[["incident_id", "earlier", "later", "seconds"]].values.tolist() == [
        ["INC-1", "acknowledged_at", "resolved_at", 300.0]]
    assert describe_finding(findings.iloc[0]) == (
        "INC-1: resolved_at (2024-03-01 10:15:00 UTC) comes 5 min before acknowledged_at "
        "(2024-03-01 10:20:00 UTC)")


def test_a_detection_posted_after_mitigation_and_resolution_is_the_one_to_blame() -> None:
    # A cloud provider's incident declared after it ended: started 09:00, fixed 09:40,
    # resolved 09:45, but "detected" (the declaration) at 11:00.
    frame = marks(started_at="2024-03-01T09:00:00Z", detected_at="2024-03-01T11:00:00Z",
                  mitigated_at="2024-03-01T09:40:00Z", resolved_at="2024-03-01T09:45:00Z")
    found = measured_durations(frame).iloc[0]
    for name in ("time_to_detect", "time_to_mitigate", "time_to_resolve"):
        assert np.isnan(found[name]), name
    assert found["impact_duration"] == 2400.0  # 09:00 → 09:40, both ends sound
    findings = order_findings(frame)
    assert findings[["earlier", "later", "seconds"]].values.tolist() == [
        ["detected_at", "mitigated_at", 4800.0], ["detected_at", "resolved_at", 4500.0]]
    assert describe_finding(findings.iloc[0], {"detected_at": "Detected",
                                               "mitigated_at": "Mitigated"}) == (
        "INC-1: Mitigated (2024-03-01 09:40:00 UTC) comes 80 min before Detected "
        "(2024-03-01 11:00:00 UTC)")


def test_no_negative_duration_whatever_the_order() -> None:
    rng = np.random.default_rng(3)
    base = pd.Timestamp("2024-03-01T10:00:00Z")
    rows = []
    for i in range(300):
        offsets = rng.integers(-7200, 7200, size=5)
        row = {"incident_id": f"I{i}"}
        for name, offset, gone in zip(("started_at", "detected_at", "acknowledged_at",
                                       "mitigated_at", "resolved_at"), offsets,
                                      rng.random(5) < 0.2):
            row[name] = pd.NaT if gone else base + pd.Timedelta(seconds=int(offset))
        rows.append(row)
    frame = pd.DataFrame(rows)
    for name in frame.columns[1:]:
        frame[name] = pd.to_datetime(frame[name], utc=True).dt.as_unit("us")
    found = measured_durations(frame)
    values = found.to_numpy().ravel()
    assert (values[~np.isnan(values)] >= 1.0).all()
    findings = order_findings(frame)
    flagged = set(findings["incident_id"])
    # An incident with no reversed pair keeps every duration whose ends are known and apart.
    for i, row in frame.iterrows():
        if row["incident_id"] in flagged:
            continue
        for name, (start, end) in DURATION_SPANS.items():
            if pd.notna(row[start]) and pd.notna(row[end]) and row[end] - row[start] >= pd.Timedelta(seconds=1):
                assert found.loc[i, name] == (row[end] - row[start]).total_seconds()


def test_order_conflicts_name_the_milestones_an_override_would_cross() -> None:
    current = {"started_at": utc("2024-03-01T09:50:00Z"), "detected_at": utc("2024-03-01T10:00:00Z"),
               "acknowledged_at": None, "mitigated_at": utc("2024-03-01T10:40:00Z"),
               "resolved_at": utc("2024-03-01T11:00:00Z")}
    assert order_conflicts(current, "resolved_at", "2024-03-01T10:30:00Z") == ["mitigated_at"]
    assert order_conflicts(current, "detected_at", "2024-03-01T09:00:00Z") == ["started_at"]
    assert order_conflicts(current, "detected_at", "2024-03-01T10:10:00Z") == []


def test_out_of_order_milestones_from_the_data_are_kept_and_flagged() -> None:
    frame = literal_events(
        {"at": "2024-03-01T10:00:00Z", "kind": "triggered"},
        {"at": "2024-03-01T10:05:00Z", "kind": "acknowledged", "actor": "Ana"},
        {"at": "2024-03-01T10:30:00Z", "kind": "resolved"},
        {"at": "2024-03-01T10:45:00Z", "kind": "mitigated", "source": "incidentio"},
    )
    row = compute_metrics(frame).iloc[0]
    assert row["mitigated_at"] == utc("2024-03-01T10:45:00Z")  # kept as the data says
    assert np.isnan(row["time_to_mitigate"]) and np.isnan(row["time_to_resolve"])
    assert np.isnan(row["impact_duration"])
    assert row["time_to_acknowledge"] == 300.0
    assert order_findings(compute_metrics(frame))[["earlier", "later", "seconds"]].values.tolist() \
        == [["mitigated_at", "resolved_at", 900.0]]


@pytest.fixture
def page_history(tmp_path: Path) -> tuple[dict, pd.DataFrame]:
    path = write_json(tmp_path / "incidents.json", status_page_history(END, n=40))
    incidents, events, _ = load_all(get_loader("statuspage"), path)
    return incidents, events


def test_status_page_history_posted_after_the_fact(page_history) -> None:
    incidents, events = page_history
    frame = pd.DataFrame(list(incidents.values()))
    metrics = compute_metrics(events, frame).set_index("incident_id")
    assert len(metrics) == 40 and metrics["is_resolved"].all()
    live = metrics.loc[[f"sp{i:03d}" for i in range(0, 40, 4)]]
    backdated = metrics.loc[[f"sp{i:03d}" for i in range(1, 40, 4)]]
    post_hoc = metrics.drop(live.index).drop(backdated.index)
    assert (len(live), len(backdated), len(post_hoc)) == (10, 10, 20)

    # Told live: investigating at creation, monitoring (Statuspage's monitoring_at) after
    # 30 min, resolved after 50. The page's default started_at is the creation itself.
    assert (live["time_to_mitigate"].round(3) == 1800.0).all()
    assert (live["time_to_resolve"].round(3) == 3000.0).all()
    assert (live["impact_duration"].round(3) == 1800.0).all()
    assert live["time_to_detect"].isna().all()  # the page's default start is no earlier
    # Posted after the fact with the start given: resolution known, the impact measured from
    # the given start; nothing else (the one update is the resolution, not a detection).
    assert backdated["detected_at"].isna().all()
    assert (backdated["impact_duration"].round(3) == 5400.0).all()
    for name in ("time_to_detect", "time_to_mitigate", "time_to_resolve", "time_to_acknowledge"):
        assert backdated[name].isna().all(), name
    # Posted after the fact, nothing more: resolved, and no duration at all.
    assert post_hoc["resolved_at"].notna().all() and post_hoc["detected_at"].isna().all()
    assert post_hoc[DURATIONS].isna().all().all()
    # The fleet's median time to resolve is the live incidents' 50 min, over 10 of 40.
    assert metrics["time_to_resolve"].notna().sum() == 10
    assert metrics["time_to_resolve"].median().round(3) == 3000.0
    assert order_findings(compute_metrics(events, frame)).empty


def test_an_incident_declared_after_it_ended_gets_no_negative_time_to_mitigate(tmp_path) -> None:
    """incident.io, retrospective mode: declared (created, hence triggered) at 15:00, its
    impact began 12:00 and was fixed 13:30, resolved 14:00."""
    def stamp(name: str, value: str | None) -> dict:
        return {"incident_timestamp": {"id": f"ts-{name}", "name": name, "rank": 0},
                "value": {"value": value} if value else None}

    incident = {
        "id": "01HRETRO0000000000000000AA", "reference": "INC-77", "name": "Backfilled outage",
        "mode": "retrospective", "created_at": "2024-03-14T15:00:00Z",
        "updated_at": "2024-03-14T15:05:00Z",
        "incident_status": {"name": "Closed", "category": "closed"},
        "severity": {"name": "Major", "rank": 1}, "visibility": "public",
        "incident_role_assignments": [],
        "incident_timestamp_values": [
            stamp("Reported at", None), stamp("Impact started at", "2024-03-14T12:00:00Z"),
            stamp("Fixed at", "2024-03-14T13:30:00Z"), stamp("Resolved at", "2024-03-14T14:00:00Z")],
    }
    path = write_json(tmp_path / "incidents.json", {"incidents": [incident],
                                                     "pagination_meta": {"page_size": 25}})
    incidents, events, _ = load_all(get_loader("incidentio"), path)
    metrics = compute_metrics(events, pd.DataFrame(list(incidents.values())))
    row = metrics.iloc[0]
    assert row["detected_at"] == utc("2024-03-14T15:00:00Z")  # the declaration
    assert np.isnan(row["time_to_mitigate"]) and np.isnan(row["time_to_resolve"])
    assert row["impact_duration"] == 5400.0  # 12:00 → 13:30, both ends sound
    assert order_findings(metrics)[["earlier", "later", "seconds"]].values.tolist() == [
        ["detected_at", "mitigated_at", 5400.0], ["detected_at", "resolved_at", 3600.0]]


def test_blame_table_is_the_union_of_the_smallest_covers_for_every_pattern() -> None:
    # The table is built in one array operation; here every one of the 512 patterns is
    # checked against the rule written out plainly.
    from itertools import combinations

    from review_kit.analysis.durations import MILESTONE_ORDER, _blame_table
    from review_kit.analysis.timeline import MILESTONES
    index = {name: i for i, name in enumerate(MILESTONES)}
    pairs = [(index[a], index[b]) for a, b in MILESTONE_ORDER]
    table = _blame_table()
    assert table[0] == 0
    for pattern in range(1, 1 << len(pairs)):
        reversed_pairs = [p for k, p in enumerate(pairs) if pattern >> k & 1]
        for size in range(len(MILESTONES) + 1):
            covers = [set(c) for c in combinations(range(len(MILESTONES)), size)
                      if all(a in c or b in c for a, b in reversed_pairs)]
            if covers:
                break
        expected = sum(1 << i for i in set().union(*covers))
        assert table[pattern] == expected, pattern
