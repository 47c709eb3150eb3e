"""Conformance: every real PagerDuty payload in ../shared/samples/pagerduty loads as it must.

Parametrised over the files found, so a new sample is checked for the general promises (UTC
times, known kinds, stable ids, one event per incident webhook) as soon as it is dropped in;
the samples we know are checked field by field.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import SHARED_SAMPLES
from review_kit.loaders import LoadContext, get_loader
from review_kit.model import EVENT_COLUMNS, EVENT_KINDS

FOUND = sorted(p.name for p in (SHARED_SAMPLES / "pagerduty").glob("*") if p.is_file()) \
    if (SHARED_SAMPLES / "pagerduty").is_dir() else []

KNOWN = {
    "zulip_resolved_v3.json": {
        "events": [{
            "event_id": "pagerduty:01BZYH1JJY09P9LEIST8HG2PMN", "incident_id": "PCPZE64",
            "at": pd.Timestamp("2021-06-04T13:16:53.816Z"), "kind": "resolved",
            "actor": "PIG 208", "actor_type": "person", "summary": "Resolved by PIG 208",
        }],
        "incident": {
            "incident_id": "PCPZE64", "title": "Test Incident", "status": "resolved",
            "severity": "SEV2", "severity_raw": "urgency:high",     # priority null, urgency high
            "service": "pig208", "url": "https://pig208.pagerduty.com/incidents/PCPZE64",
            "source": "pagerduty", "source_id": "PCPZE64",
        },
        "aliases": {"PCPZE64", "6"},                                 # data.number, not incident_number
    },
    "zulip_annotated_v3.json": {
        "events": [{
            "event_id": "pagerduty:note:PEMJB6G", "incident_id": "Q3B15VLMF3ASBD",
            "at": pd.Timestamp("2026-04-01T02:18:59.674Z"), "kind": "note",
            "actor": "Harsh Santwani", "actor_type": "person",
            "summary": "Running KILL on long-running queries from the reporting-service.",
        }],
        "incident": {
            "incident_id": "Q3B15VLMF3ASBD", "title": "Critical: Checkout API High Latency",
            "url": "https://harsh0303.pagerduty.com/incidents/Q3B15VLMF3ASBD",
            "source": "pagerduty", "source_id": "Q3B15VLMF3ASBD",
        },
        "aliases": {"Q3B15VLMF3ASBD"},
    },
}


def load(path: Path):
    return list(get_loader("pagerduty").load(path, LoadContext()))


def incident_webhooks(path: Path) -> int:
    """How many incident events the file holds, counted without the loader."""
    text = path.read_text(encoding="utf-8-sig")
    try:
        documents = json.loads(text)
        documents = documents if isinstance(documents, list) else [documents]
    except json.JSONDecodeError:
        documents = [json.loads(line) for line in text.splitlines() if line.strip()]
    return sum(1 for d in documents
               if isinstance(d, dict) and str(d.get("event", {}).get("event_type", "")).startswith("incident."))


def test_the_known_samples_are_there(shared_samples):
    assert set(KNOWN) <= set(FOUND), "a known PagerDuty sample is missing from shared/samples"


@pytest.mark.parametrize("name", FOUND)
def test_sample_loads_as_it_must(shared_samples, name):
    path = shared_samples / "pagerduty" / name
    assert get_loader("pagerduty").sniff(path, path.read_text(encoding="utf-8-sig")[:4096])
    batches = load(path)
    events = pd.concat([b.events for b in batches], ignore_index=True)
    incidents = [row for b in batches for row in b.incidents]
    aliases = [a for b in batches for a in b.aliases]

    assert list(events.columns) == list(EVENT_COLUMNS)
    assert str(events["at"].dt.tz) == "UTC" and events["at"].notna().all()
    assert set(events["kind"]) <= EVENT_KINDS
    assert set(events["incident_id"]) <= {row["incident_id"] for row in incidents}
    assert events["event_id"].is_unique
    assert all(json.loads(raw) for raw in events["raw"])
    assert len(events) == incident_webhooks(path)
    again = pd.concat([b.events for b in load(path)], ignore_index=True)
    assert again["event_id"].tolist() == events["event_id"].tolist()

    expected = KNOWN.get(name)
    if expected is None:
        return
    got = events[list(expected["events"][0])].to_dict("records")
    assert got == expected["events"]
    assert len(incidents) == 1
    assert {k: incidents[0].get(k) for k in expected["incident"]} == expected["incident"]
    assert {a["external_id"] for a in aliases} == expected["aliases"]
    assert {a["incident_id"] for a in aliases} == {expected["incident"]["incident_id"]}
