"""On each history shaped like a real one: `metrics --json`, the retrospective and the trend
report give the same figures for the same incident; no duration is negative; an unresolved
incident's silence runs to the as-of time."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from review_kit.analysis.metrics import metrics_to_json
from review_kit.cli import main
from review_kit.notebook.retrospective import RetrospectiveView
from review_kit.notebook.trends import TrendsView
from review_kit.store import Store
from histories import bare_export, status_page_history, write_json

ASOF = "2026-12-03T06:00:00Z"
YEAR_AGO = pd.Timestamp("2025-12-03T06:00:00Z")
FIGURES = ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at",
           "time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve",
           "impact_duration", "time_to_first_update", "longest_silence", "cadence_breaches",
           "is_resolved")
DURATIONS = ("time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve",
             "impact_duration", "time_to_first_update", "longest_silence")
OUT_OF_ORDER = """incident_id,at,kind,actor,summary,source,status
OO-1,2025-11-20T10:00:00Z,impact_started,,Errors begin,grafana,
OO-1,2025-11-20T11:00:00Z,triggered,,Declared after the fact,tracker,
OO-1,2025-11-20T10:40:00Z,mitigated,Ana,Fixed,tracker,
OO-1,2025-11-20T10:45:00Z,resolved,Ana,Resolved,tracker,
OPEN-1,2025-11-25T09:00:00Z,triggered,,Paged,tracker,
OPEN-1,2025-11-25T09:10:00Z,stakeholder_update,Ana,Investigating,tracker,
OPEN-1,2025-11-25T09:40:00Z,stakeholder_update,Ana,Still investigating,tracker,
"""


@pytest.fixture(params=["page", "bare", "out_of_order"])
def history(request, tmp_path: Path) -> tuple[Path, list[str]]:
    if request.param == "page":
        files = [write_json(tmp_path / "incidents.json", status_page_history(YEAR_AGO, n=12))]
        ids = ["sp000", "sp001", "sp002"]  # live, backdated start, posted after the fact
    elif request.param == "bare":
        files = list(bare_export(tmp_path, YEAR_AGO, n=4))
        ids = ["EX-0", "EX-3"]
    else:
        (tmp_path / "events.csv").write_text(OUT_OF_ORDER)
        files = [tmp_path / "events.csv"]
        ids = ["OO-1", "OPEN-1"]
    db = tmp_path / "review.db"
    assert main(["--store", str(db), "ingest", "auto", *map(str, files), "-q"]) == 0
    return db, ids


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == pytest.approx(b) if isinstance(a, float) else a == b


def test_metrics_json_retrospective_and_trends_agree(history, capsys, tmp_path) -> None:
    db, ids = history
    store = Store.open(db)
    try:
        trends = TrendsView(store, output_dir=tmp_path / "t", config={}, n_boot=100, asof=ASOF)
        by_trends = {r["incident_id"]: metrics_to_json(r)
                     for r in trends.metrics.to_dict("records")}
        for incident_id in ids:
            capsys.readouterr()
            assert main(["--store", str(db), "metrics", incident_id, "--json", "--asof", ASOF]) == 0
            cli = json.loads(capsys.readouterr().out)
            retro = RetrospectiveView(store, incident_id, tmp_path / "r", config={},
                                      interactive=False, asof=ASOF)
            by_retro = metrics_to_json(retro.data.metrics)
            for name in FIGURES:
                assert same(cli[name], by_retro[name]), (incident_id, name)
                assert same(cli[name], by_trends[incident_id][name]), (incident_id, name)
            for name in DURATIONS:
                assert cli[name] is None or cli[name] >= 1, (incident_id, name)
            page = retro.metrics_table().data + retro.milestones_table().data + \
                retro.communication_audit().data
            assert not re.search(r"\b(nan|NaN|NaT|None)\b", page), page
    finally:
        store.close()


def test_out_of_order_and_still_open_incidents(tmp_path: Path, capsys) -> None:
    (tmp_path / "events.csv").write_text(OUT_OF_ORDER)
    db = tmp_path / "review.db"
    assert main(["--store", str(db), "ingest", "csv", str(tmp_path / "events.csv"), "-q"]) == 0
    capsys.readouterr()
    assert main(["--store", str(db), "metrics", "OO-1", "--json", "--asof", ASOF]) == 0
    declared_late = json.loads(capsys.readouterr().out)
    # Declared (detected) at 11:00, after the fix at 10:40 and the resolution at 10:45: the
    # detection is the one out of order, so only the impact is measured (10:00 → 10:40).
    assert [(f["earlier"], f["later"], f["seconds"]) for f in declared_late["data_quality"]] == [
        ("detected_at", "mitigated_at", 1200.0), ("detected_at", "resolved_at", 900.0)]
    assert declared_late["time_to_mitigate"] is None and declared_late["time_to_resolve"] is None
    assert declared_late["time_to_detect"] is None
    assert declared_late["impact_duration"] == 2400
    assert main(["--store", str(db), "metrics", "OPEN-1", "--json", "--asof", ASOF]) == 0
    still_open = json.loads(capsys.readouterr().out)
    # Open since 2025-11-25 09:00; the last update at 09:40; silence counted up to the as-of.
    assert still_open["is_resolved"] is False and still_open["as_of"] == ASOF
    expected = (pd.Timestamp(ASOF) - pd.Timestamp("2025-11-25T09:40:00Z")).total_seconds()
    assert still_open["longest_silence"] == expected
    store = Store.open(db)
    try:
        retro = RetrospectiveView(store, "OPEN-1", tmp_path / "r", config={}, interactive=False,
                                  asof=ASOF)
        assert "still open: counted up to 2026-12-03 06:00:00 UTC" in \
            retro.communication_audit().data
        assert "Data quality" in RetrospectiveView(
            store, "OO-1", tmp_path / "r", config={}, interactive=False,
            asof=ASOF).milestones_table().data
        trends = TrendsView(store, output_dir=tmp_path / "t", config={}, n_boot=100, asof=ASOF)
        summary = trends.summary().data
        assert "Data quality: 1 incident(s) with milestones out of order" in summary
        assert ("OO-1: Mitigated (2025-11-20 10:40:00 UTC) comes 20 min before Detected "
                "(2025-11-20 11:00:00 UTC)") in summary
    finally:
        store.close()
