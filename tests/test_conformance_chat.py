"""Conformance: every Slack and incident.io sample under ../shared/samples loads (or is refused
clearly), with the kinds, counts and UTC times it must yield."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import SHARED_SAMPLES
from review_kit.errors import InputError
from review_kit.loaders import get_loader
from review_kit.loaders.base import LoadContext
from review_kit.model import EVENT_COLUMNS, EVENT_KINDS


def entries(source: str) -> list[str]:
    """Every sample file or export folder of a source, as a path relative to the samples."""
    folder = SHARED_SAMPLES / source
    if not folder.is_dir():
        return []
    return sorted(f"{source}/{p.name}" for p in folder.iterdir() if not p.name.startswith("."))


def load(path: Path, **ctx) -> tuple[list[dict], pd.DataFrame, list[dict]]:
    loader = get_loader(path.relative_to(SHARED_SAMPLES).parts[0])
    batches = list(loader.load(path, LoadContext(**ctx)))
    events = pd.concat([b.events for b in batches], ignore_index=True)
    return ([i for b in batches for i in b.incidents], events,
            [a for b in batches for a in b.aliases])


def check_frame(events: pd.DataFrame) -> None:
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert str(events["at"].dtype) == "datetime64[us, UTC]"
    assert set(events["kind"]) <= EVENT_KINDS
    assert events["event_id"].is_unique


# --- Slack: the zulip importer's export (one channel `random`, users.json, no channels.json) --
ZULIP_RANDOM = [
    # at (UTC), kind, actor, summary
    ("2018-01-20T13:19:58.000069Z", "responder_joined", "Steve Howell", "@Steve Howell has joined the channel"),
    ("2018-01-20T13:22:17.000093Z", "message", "Steve Howell", "This is Steve typing random stuff."),
    ("2018-01-20T13:24:10.000039Z", "responder_joined", "Rhea Parekh", "@Rhea Parekh has joined the channel"),
    ("2018-01-20T14:04:38.000065Z", "message", "Josef K.",
     "@Josef K. uploaded a file: dirac72.md (https://plan8team.slack.com/files/U6006P1CN/"
     "F8VSW87RR/dirac72.md) and commented: test upload attachment"),
    ("2018-01-20T14:06:52.000035Z", "message", "Josef K.",
     "Huh this is very useful being able to see the snippet of text files"),
    ("2018-01-20T14:10:16.000062Z", "responder_joined", "Rishi हिन्दी 汉语",
     "@Rishi हिन्दी 汉语 has joined the channel"),
    ("2018-01-20T17:10:19.000018Z", "message", "Rhea Parekh",
     "The markdown mapping is also lossy, as Zulip doesn't support two types of formatting "
     "together like bold and italic ~*_random_*~ while slack does"),
    ("2018-01-20T17:15:05.000010Z", "message", "Rhea Parekh", "@everyone"),
    ("2018-01-20T17:15:18.000115Z", "message", "Rhea Parekh", "@everyone"),
    ("2018-01-20T17:15:29.000046Z", "message", "Rhea Parekh", "@channel"),
    ("2018-01-20T17:15:30.000036Z", "message", "Rhea Parekh", "@channel"),
]


def check_zulip_slack(path: Path) -> None:
    incidents, events, aliases = load(path, incident_id="INC-7")
    check_frame(events)
    assert incidents == [{"incident_id": "INC-7", "source": "slack"}]
    # No channels.json: the folder name is the channel's name and its key.
    assert aliases == [{"incident_id": "INC-7", "source": "slack", "external_id": "random"}]
    got = list(zip(events["at"], events["kind"], events["actor"], events["summary"]))
    assert got == [(pd.Timestamp(at), kind, actor, summary) for at, kind, actor, summary in ZULIP_RANDOM]
    assert set(events["actor_type"]) == {"person"}
    assert events["event_id"].iloc[0] == "slack:random:1516454398.000069"
    assert events["seq"].tolist() == list(range(11))
    # `random` is named like no incident: the whole export selects nothing, and says so.
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: no incident channel: none of the export's "
                                        "channels (random) matches channel_pattern")
    # Naming the channel folder selects it; it becomes the incident of its own name.
    incidents, alone, _ = load(path / "random")
    assert incidents == [{"incident_id": "random", "source": "slack"}]
    assert alone["event_id"].tolist() == events["event_id"].tolist()
    day = path / "random" / "2018-01-20.json"
    assert get_loader("slack").sniff(path, "")
    assert get_loader("slack").sniff(day, day.read_text(encoding="utf-8")[:4096])


# --- incident.io: the singer tap's recorded sync (one IncidentV2) and its status catalogue -----
SINGER_INCIDENT = "01HDH3SMWK0C2D8TN41PVW61TA"


def check_singer_incidents(path: Path) -> None:
    incidents, events, aliases = load(path)
    check_frame(events)
    assert incidents == [{
        "incident_id": SINGER_INCIDENT, "title": "teal-ostrich", "severity": "SEV3",
        "severity_raw": "Minor", "status": "Investigating", "service": None, "team": None,
        "commander": "Rob", "source": "incidentio", "source_id": SINGER_INCIDENT,
        "url": f"https://app.incident.io/incidentiosin-bhw2778/incidents/{SINGER_INCIDENT}",
        "created_at": pd.Timestamp("2023-10-24T15:10:35.411Z")}]
    assert [(a["source"], a["external_id"]) for a in aliases] == [
        ("incidentio", SINGER_INCIDENT), ("incidentio", "INC-1"), ("slack", "C0624NMCSQ7"),
        ("slack", "inc-2023-10-24-teal-ostrich")]
    # Only "Reported at" has a value; the one embedded update only sets the starting status.
    assert events["kind"].tolist() == ["triggered"]
    assert events["at"].tolist() == [pd.Timestamp("2023-10-24T15:10:35.411Z")]
    assert events["actor"].tolist() == ["Rob"]
    assert events["summary"].tolist() == [
        "Reported at: INC-1 teal-ostrich: This is an incident to make some incident data appear "
        "in our tests."]
    assert events["event_id"].tolist() == [
        f"incidentio:{SINGER_INCIDENT}:timestamp:01HDGG56RYYFSWC0637VQF6GKV"]
    assert get_loader("incidentio").sniff(path, path.read_text(encoding="utf-8")[:4096])


def check_singer_statuses(path: Path) -> None:
    # A catalogue of statuses describes no incident: refused, saying what it is.
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value) == (
        f"{path}: $[0]: looks like an incident.io status catalogue (incident statuses, not "
        "incidents); expected incident.io incidents (`incidents`, `incident`) or incident "
        "updates (`incident_updates`)")
    assert not get_loader("incidentio").sniff(path, path.read_text(encoding="utf-8")[:4096])


KNOWN = {
    "slack/zulip_test_slack_importer": check_zulip_slack,
    "incidentio/singer-tap_sync_incidents.json": check_singer_incidents,
    "incidentio/singer-tap_sync_incident_statuses.json": check_singer_statuses,
}


@pytest.mark.parametrize("sample", entries("slack") + entries("incidentio"))
def test_sample(sample: str, shared_samples: Path) -> None:
    path = shared_samples / sample
    check = KNOWN.get(sample)
    if check is not None:
        check(path)
        return
    # A sample added since these expectations were written must at least load into valid,
    # non-empty frames (with --incident, since an export's channel names are unknown); add its
    # hand-checked expectations to KNOWN.
    _, events, _ = load(path, incident_id="CONFORMANCE")
    check_frame(events)
    assert not events.empty


def test_every_known_sample_is_present(shared_samples: Path) -> None:
    missing = [name for name in KNOWN if not (shared_samples / name).exists()]
    assert not missing, f"samples expected by this test are gone: {missing}"
