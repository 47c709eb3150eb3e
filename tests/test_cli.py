"""The command-line contract of DESIGN.md: outputs, exit codes, one-line errors."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from review_kit.cli import main

EVENTS = """incident_id,at,kind,actor,actor_type,target,status,summary,visibility
INC-7,2024-05-02T10:00:00Z,impact_started,Ann Park,,,,Checkout errors begin,
INC-7,2024-05-02T10:05:00Z,alert_firing,Alertmanager,service,,,CheckoutErrors firing,
INC-7,2024-05-02T10:06:00Z,triggered,,,,,Paged payments on-call,
INC-7,2024-05-02T12:09:00+02:00,acknowledged,Bob Lee,person,,,Bob acknowledges,
INC-7,2024-05-02T10:10:00Z,status_update,,,,investigating,We are investigating checkout errors,external
INC-7,2024-05-02T10:15:00Z,escalated,Bob Lee,person,Cy Diaz,,Escalated to database on-call,
INC-7,2024-05-02T10:20:00Z,message,Cy Diaz,person,,,Looking at the primary,
INC-7,2024-05-02T10:25:00Z,stakeholder_update,Dee Moss,person,,,Exec update: checkout degraded,internal
INC-7,2024-05-02T10:40:00Z,status_update,,,,monitoring,A fix is in place,external
INC-7,2024-05-02T10:45:00Z,mitigated,Bob Lee,person,,,Failover complete,
INC-7,2024-05-02T10:50:00Z,reassigned,Bob Lee,person,Cy Diaz,,Handing over to Cy,
INC-7,2024-05-02T11:30:00Z,resolved,Cy Diaz,person,,,Resolved,
INC-7,2024-05-02T11:31:00Z,status_update,,,,resolved,Resolved,external
"""
INCIDENTS = """incident_id,title,severity,status,service,team,commander,url,created_at
INC-7,Checkout errors,SEV2,resolved,checkout-api,Payments,Eve Ng,https://wiki.example/inc-7,2024-05-02T10:05:00Z
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "events.csv").write_text(EVENTS)
    (tmp_path / "incidents.csv").write_text(INCIDENTS)
    path = tmp_path / "review.db"
    assert main(["--store", str(path), "ingest", "csv", "incidents.csv", "events.csv", "--quiet"]) == 0
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_metrics_json_matches_hand_computed_values(store, capsys):
    code, out, _ = run(capsys, "--store", str(store), "metrics", "INC-7", "--json")
    assert code == 0
    m = json.loads(out)
    assert m["started_at"] == "2024-05-02T10:00:00Z"
    assert m["detected_at"] == "2024-05-02T10:05:00Z"
    assert m["acknowledged_at"] == "2024-05-02T10:09:00Z"  # written as 12:09+02:00
    assert m["mitigated_at"] == "2024-05-02T10:45:00Z"
    assert m["resolved_at"] == "2024-05-02T11:30:00Z"
    assert (m["time_to_detect"], m["time_to_acknowledge"], m["time_to_mitigate"],
            m["time_to_resolve"], m["impact_duration"]) == (300, 240, 2400, 5100, 2700)
    # comms points 10:10 (ext), 10:25 (int), 10:40 (ext); the 11:31 update is after resolution
    assert m["time_to_first_update"] == 300
    assert m["longest_silence"] == 3000          # 10:40 → 11:30
    # SEV2: external every 20 min (gaps 5, 30, 50 min → 2 breaches), internal every 30 (20, 65 → 1)
    assert m["cadence_breaches"] == 3
    assert m["responders"] == ["Bob Lee", "Cy Diaz"]
    assert (m["responder_count"], m["escalations"], m["handoffs"]) == (2, 1, 1)
    assert m["commander"] == "Eve Ng"
    for field in ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at",
                  "time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_resolve",
                  "impact_duration", "time_to_first_update", "longest_silence", "responders",
                  "responder_count", "escalations", "handoffs", "commander"):
        assert field in m


def test_metrics_json_lists_out_of_order_milestones_and_leaves_their_durations_unknown(
        store, tmp_path, capsys):
    # The tracker says the failover came at 10:45, a quarter of an hour after the resolution.
    (tmp_path / "late.csv").write_text(
        "incident_id,at,kind,actor,summary,source\n"
        "INC-8,2024-05-03T10:00:00Z,triggered,,Paged,pagerduty\n"
        "INC-8,2024-05-03T10:04:00Z,acknowledged,Bob Lee,Ack,pagerduty\n"
        "INC-8,2024-05-03T10:30:00Z,resolved,Bob Lee,Resolved,pagerduty\n"
        "INC-8,2024-05-03T10:45:00Z,mitigated,Cy Diaz,Failover done,tracker\n")
    assert main(["--store", str(store), "ingest", "csv", str(tmp_path / "late.csv"), "--quiet"]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, "--store", str(store), "metrics", "INC-8", "--json")
    assert code == 0
    m = json.loads(out)
    assert m["mitigated_at"] == "2024-05-03T10:45:00Z"  # kept as the data says
    assert m["data_quality"] == [{
        "incident_id": "INC-8", "earlier": "mitigated_at", "later": "resolved_at",
        "earlier_at": "2024-05-03T10:45:00Z", "later_at": "2024-05-03T10:30:00Z",
        "seconds": 900.0,
        "problem": "INC-8: Resolved (2024-05-03 10:30:00 UTC) comes 15 min before Mitigated "
                   "(2024-05-03 10:45:00 UTC)"}]
    assert m["time_to_mitigate"] is None and m["time_to_resolve"] is None
    assert m["impact_duration"] is None and m["time_to_detect"] is None  # start = the trigger
    assert m["time_to_acknowledge"] == 240
    code, out, _ = run(capsys, "--store", str(store), "metrics", "INC-7", "--json")
    assert json.loads(out)["data_quality"] == []


def test_timeline_outputs(store, capsys):
    code, out, _ = run(capsys, "--store", str(store), "timeline", "INC-7", "--json")
    records = json.loads(out)
    assert code == 0 and len(records) == 13
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)
    assert records[0]["kind"] == "impact_started" and records[-1]["status"] == "resolved"
    code, out, _ = run(capsys, "--store", str(store), "timeline", "INC-7", "--csv")
    assert code == 0 and out.splitlines()[0].startswith("event_id,incident_id,at")
    assert len(out.strip().splitlines()) == 14
    code, out, _ = run(capsys, "--store", str(store), "timeline", "INC-7")
    assert code == 0 and "Failover complete" in out


@pytest.mark.parametrize("column", ["actor", "summary"])
def test_a_store_holding_text_that_is_not_utf8_is_one_line_not_a_traceback(store, capsys, column):
    """Another tool wrote bytes that are not UTF-8 into a text column (the shared-text
    converter reads `actor`, SQLite itself `summary`): the store is named, the text is not
    printed (it may hold anything, terminal escapes included), and the exit code is 2."""
    with sqlite3.connect(store) as conn:
        conn.execute(f"UPDATE events SET {column} = CAST(x'1b5d3bff41' AS TEXT) "
                     "WHERE kind = 'message'")
    code, out, err = run(capsys, "--store", str(store), "timeline", "INC-7")
    assert code == 2 and out == ""
    assert err == (f"review-kit: {store}: cannot use the store: a text in the store is not "
                   "valid UTF-8 (was it written by another tool?)\n")


def test_incidents_listing(store, capsys):
    code, out, _ = run(capsys, "--store", str(store), "incidents", "--json")
    listed = json.loads(out)
    assert code == 0 and listed[0]["incident_id"] == "INC-7" and listed[0]["severity"] == "SEV2"
    assert listed[0]["created_at"] == "2024-05-02T10:05:00Z"


def test_reingest_changes_nothing(store, capsys):
    before = sqlite3.connect(store).execute("SELECT * FROM events ORDER BY event_id").fetchall()
    code, out, _ = run(capsys, "--store", str(store), "ingest", "csv", "events.csv", "--quiet")
    assert code == 0 and "0 new event(s) of 13 read" in out
    assert sqlite3.connect(store).execute("SELECT * FROM events ORDER BY event_id").fetchall() == before


@pytest.mark.parametrize("name, content, where", [
    ("bad_kind.csv", EVENTS.replace("mitigated,Bob", "fixed,Bob"), "line 11"),
    ("no_zone.csv", EVENTS.replace("10:20:00Z", "10:20:00"), "line 8"),
    ("truncated.csv", EVENTS.splitlines()[0] + "\nINC-8,2024-05-02T10:00:00Z", None),
])
def test_bad_csv_exits_2_with_one_line_and_writes_nothing(store, tmp_path, capsys, name, content, where):
    bad = tmp_path / name
    bad.write_text(content)
    before = sqlite3.connect(store).execute("SELECT count(*) FROM events").fetchone()
    code, out, err = run(capsys, "--store", str(store), "ingest", "csv", str(bad), "--incident", "INC-99")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and str(bad) in err
    if where:
        assert where in err
    assert sqlite3.connect(store).execute("SELECT count(*) FROM events").fetchone() == before
    assert sqlite3.connect(store).execute(
        "SELECT count(*) FROM incidents WHERE incident_id = 'INC-99'").fetchone() == (0,)


def test_truncated_json_exits_2(store, tmp_path, capsys, fixtures):
    text = (fixtures / "pagerduty" / "incidents.json").read_text()
    bad = tmp_path / "incidents.json"
    bad.write_text(text[: len(text) // 2])
    code, _, err = run(capsys, "--store", str(store), "ingest", "pagerduty", str(bad))
    assert code == 2 and err.count("\n") == 1 and str(bad) in err and "invalid JSON" in err


def test_zone_named_with_tz(store, tmp_path, capsys):
    naive = tmp_path / "naive.csv"
    naive.write_text("incident_id,at,kind,actor,summary\nINC-8,2024-05-02 12:00:00,triggered,,paged\n")
    code, _, err = run(capsys, "--store", str(store), "ingest", "csv", str(naive))
    assert code == 2 and "no time zone" in err and "--tz" in err
    code, _, _ = run(capsys, "--store", str(store), "ingest", "csv", str(naive), "--tz", "Europe/Berlin")
    assert code == 0
    code, out, _ = run(capsys, "--store", str(store), "timeline", "INC-8", "--json")
    assert json.loads(out)[0]["at"] == "2024-05-02T10:00:00Z"


def test_wrong_source_is_refused_with_what_it_looks_like(store, capsys, fixtures):
    code, _, err = run(capsys, "--store", str(store), "ingest", "csv",
                       str(fixtures / "pagerduty" / "incidents.json"))
    assert code == 2 and "looks like a pagerduty export" in err


def test_auto_recognises_formats(store, capsys, fixtures):
    code, out, err = run(capsys, "--store", str(store), "ingest", "auto",
                         str(fixtures / "pagerduty" / "incidents.json"),
                         str(fixtures / "pagerduty" / "log_entries_PT4KHLK.json"), "--quiet")
    assert code == 0, err
    code, out, _ = run(capsys, "--store", str(store), "incidents", "--json")
    assert "PT4KHLK" in {r["incident_id"] for r in json.loads(out)}


def test_unknown_incident_and_unknown_loader(store, capsys):
    code, _, err = run(capsys, "--store", str(store), "metrics", "NOPE")
    assert code == 2 and err.strip() == "review-kit: no incident 'NOPE' in the store"
    code, _, err = run(capsys, "--store", str(store), "ingest", "jira", "events.csv")
    assert code == 2 and "no loader named 'jira'" in err


def test_link_attaches_another_systems_id(store, capsys):
    code, _, _ = run(capsys, "--store", str(store), "link", "INC-7", "statuspage", "sp123")
    assert code == 0
    code, out, _ = run(capsys, "--store", str(store), "metrics", "sp123", "--json")
    assert code == 0 and json.loads(out)["incident_id"] == "INC-7"


@pytest.mark.parametrize("command", ["ingest", "incidents", "timeline", "metrics", "retro", "trends",
                                     "demo", "link", "milestone"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: review-kit" in capsys.readouterr().out


def test_the_command_does_not_pay_for_jsonschemas_iri_grammar():
    """nbformat imports jsonschema, which would compile rfc3987_syntax's Lark grammar (2 s);
    the command keeps it out, and notebooks still read and validate."""
    import subprocess
    import sys
    code = ("import sys\n"
            "from review_kit.cli import _without_iri_format_checker\n"
            "_without_iri_format_checker()\n"
            "import nbformat, jsonschema\n"
            "nb = nbformat.v4.new_notebook()\n"
            "nbformat.validate(nb)\n"
            "print('lark' in sys.modules, 'iri' in jsonschema.FormatChecker.checkers)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_incidents_json_into_a_pipe_closed_early_ends_quietly(tmp_path):
    import subprocess
    import sys
    rows = ["incident_id,title,severity,created_at"] + [
        f"INC-{i},Incident number {i} with a title long enough,SEV3,2024-05-02T10:00:00Z"
        for i in range(2000)]
    (tmp_path / "incidents.csv").write_text("\n".join(rows) + "\n")
    store = str(tmp_path / "review.db")
    assert main(["--store", store, "ingest", "csv", str(tmp_path / "incidents.csv"), "--quiet"]) == 0
    # `review-kit incidents --json | head -c 100`: the reader leaves after 100 bytes.
    process = subprocess.Popen([sys.executable, "-m", "review_kit.cli", "--store", store,
                                "incidents", "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert len(process.stdout.read(100)) == 100
    process.stdout.close()
    error = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert error == ""


def test_a_milestone_set_from_the_command_line_is_refused_out_of_order(store, capsys):
    code, _, err = run(capsys, "--store", str(store), "milestone", "INC-7", "resolved_at",
                       "2024-05-02T10:30:00Z")
    assert code == 2
    assert err == ("review-kit: Resolved at 2024-05-02 10:30:00 UTC would come before Mitigated "
                   "(2024-05-02 10:45:00 UTC); milestones must stay in order\n")
    code, out, _ = run(capsys, "--store", str(store), "milestone", "INC-7", "resolved_at",
                       "2024-05-02T11:40:00Z")
    assert code == 0 and out == "INC-7 resolved_at = 2024-05-02T11:40:00Z\n"
    code, out, _ = run(capsys, "--store", str(store), "metrics", "INC-7", "--json")
    assert json.loads(out)["time_to_resolve"] == 5700  # 10:05 → 11:40
    code, out, _ = run(capsys, "--store", str(store), "milestone", "INC-7", "resolved_at")
    assert code == 0 and "back to the time from the timeline" in out
