"""The slack loader against a small hand-written workspace export (tests/fixtures/slack/export)."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.loaders import get_loader
from review_kit.loaders.base import LoadContext
from review_kit.loaders import slack
from review_kit.loaders.slack import readable_text

LOADER = get_loader("slack")


@pytest.fixture
def export(fixtures: Path) -> Path:
    return fixtures / "slack" / "export"


def load(path: Path, **ctx) -> tuple[list[dict], pd.DataFrame, list[dict], int]:
    batches = list(LOADER.load(path, LoadContext(**ctx)))
    incidents = [i for b in batches for i in b.incidents]
    aliases = [a for b in batches for a in b.aliases]
    events = pd.concat([b.events for b in batches], ignore_index=True)
    return incidents, events, aliases, len(batches)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def test_registered_under_its_name() -> None:
    assert LOADER.name == "slack"
    assert isinstance(LOADER, slack.SlackLoader)


def test_export_folder_maps_every_message(export: Path) -> None:
    incidents, events, aliases, _ = load(export)
    assert incidents == [{"incident_id": "INC-1234", "source": "slack"}, {"incident_id": "INC-2024-03-12-amber-falcon", "source": "slack"}]
    assert aliases == [
        {"incident_id": "INC-1234", "source": "slack", "external_id": "C06INC1234"},
        {"incident_id": "INC-1234", "source": "slack", "external_id": "inc-1234-db-failover"},
        {"incident_id": "INC-2024-03-12-amber-falcon", "source": "slack", "external_id": "C06AMBER01"},
        {"incident_id": "INC-2024-03-12-amber-falcon", "source": "slack",
         "external_id": "inc-2024-03-12-amber-falcon"},
    ]
    db = events[events["incident_id"] == "INC-1234"]
    expected = [
        # at (UTC), kind, actor, actor_type, summary
        ("2024-03-12T09:14:02.000100Z", "responder_joined", "Alice Nguyen", "person",
         "@Alice Nguyen has joined the channel"),
        ("2024-03-12T09:14:05.000200Z", "message", "PagerDuty", "bot",
         "Triggered #1234: Primary DB replication lag > 30s"),
        ("2024-03-12T09:15:40.000300Z", "message", "Alice Nguyen", "person",
         "@here primary db is failing over, see DB dashboard "
         "(https://grafana.example.com/d/db?from=now-1h&to=now) & #general"),
        ("2024-03-12T09:16:10.000400Z", "responder_joined", "Bob Okafor", "person",
         "@Bob Okafor has joined the channel"),
        ("2024-03-12T09:17:00.000500Z", "message", "Bob Okafor", "person",
         "I'm on it. @Alice Nguyen can you check the replicas?"),
        ("2024-03-12T09:18:30.000600Z", "message", "Alice Nguyen", "person",
         "↳ replica-2 is 40s behind, replica-1 is current"),
        ("2024-03-12T09:19:45.000700Z", "message", "Bob Okafor", "person",
         "↳ promoting replica-1 <now>"),
        ("2024-03-12T09:20:00.000800Z", "note", "Alice Nguyen", "person",
         "@Alice Nguyen set the channel topic: SEV1: DB failover"),
        ("2024-03-12T09:25:00.000900Z", "message", "incident.io", "bot",
         "Severity changed from *SEV2* to *SEV1* by @Alice Nguyen"),
        ("2024-03-13T00:05:00.000100Z", "message", "Carol Vendor", "person",
         "vendor confirms the storage fix is deployed https://status.vendor.example"),
        ("2024-03-13T00:10:00.000200Z", "message", "Bob Okafor", "person",
         "timeline so far [file: failover-timeline.png]"),
        ("2024-03-13T00:12:00.000300Z", "note", "Bob Okafor", "person",
         "@Bob Okafor pinned dba@example.com's runbook to this channel."),
        ("2024-03-13T00:20:00.000400Z", "note", "Alice Nguyen", "person",
         "@Alice Nguyen has left the channel"),
        ("2024-03-13T00:21:00.000500Z", "note", "dan.k", "person",
         "@dan.k set up a reminder “write the postmortem” in this channel at 9AM tomorrow."),
    ]
    got = list(zip(db["at"], db["kind"], db["actor"], db["actor_type"], db["summary"]))
    assert got == [(utc(at), *rest) for at, *rest in expected]
    assert db["seq"].tolist() == list(range(14))
    assert set(db["source"]) == {"slack"} and set(db["visibility"]) == {"internal"}
    assert str(events["at"].dtype) == "datetime64[us, UTC]"
    assert db["event_id"].iloc[0] == "slack:C06INC1234:1710234842.000100"


def test_second_channel_keeps_its_own_incident_and_order(export: Path) -> None:
    _, events, _, _ = load(export)
    amber = events[events["incident_id"] == "INC-2024-03-12-amber-falcon"]
    assert amber["kind"].tolist() == ["responder_joined", "message", "message", "message"]
    assert amber["actor"].tolist() == ["Bob Okafor", "Bob Okafor", "dan.k", "incident.io"]
    assert amber["actor_type"].tolist() == ["person", "person", "person", "bot"]
    assert amber["summary"].tolist()[1:3] == [
        "checkout errors at 4% @payments-oncall please look",
        "rolled back #881 (https://github.com/acme/checkout/pull/881); errors back to 0.1%"]
    assert amber["seq"].tolist() == [0, 1, 2, 3]
    assert amber["at"].iloc[-1] == utc("2024-03-13T08:05:00.000040Z")
    # #general matches no incident pattern and nothing selected it.
    assert len(events) == 18


def test_raw_keeps_thread_channel_and_summarised_files(export: Path) -> None:
    _, events, _, _ = load(export)
    raws = [json.loads(r) for r in events["raw"]]
    parent, reply, broadcast = raws[4], raws[5], raws[6]
    assert parent["thread_ts"] == parent["ts"] == "1710235020.000500"
    assert reply["thread_ts"] == broadcast["thread_ts"] == "1710235020.000500"
    assert parent["reactions"] == {"eyes": 1}
    assert "blocks" not in raws[2]
    assert reply["channel"] == "inc-1234-db-failover" and reply["channel_id"] == "C06INC1234"
    assert raws[10]["files"] == [{
        "id": "F06TL01", "name": "failover-timeline.png", "title": "failover timeline",
        "permalink": "https://acme.slack.com/files/U02BOB/F06TL01/failover-timeline.png"}]


@pytest.mark.parametrize("text, expected", [
    ("<@U01ALICE> hi", "@Alice Nguyen hi"),
    ("<@U01ALICE|alice> hi", "@Alice Nguyen hi"),
    ("<@U09NOBODY|ghost> hi", "@ghost hi"),
    ("<@U09NOBODY> hi", "@U09NOBODY hi"),
    ("see <#C06GENERAL|general>", "see #general"),
    ("see <#C06GENERAL>", "see #general"),
    ("see <#C07UNKNOWN>", "see #C07UNKNOWN"),
    ("<!channel> <!here> <!everyone>", "@channel @here @everyone"),
    ("<!here|here> now", "@here now"),
    ("<!subteam^S06PAY|@payments-oncall> ping", "@payments-oncall ping"),
    ("<!date^1392734382^{date_num}|2014-02-18> deadline", "2014-02-18 deadline"),
    ("<https://example.com/a?x=1&amp;y=2|the graph>", "the graph (https://example.com/a?x=1&y=2)"),
    ("<https://example.com>", "https://example.com"),
    ("<https://example.com|https://example.com>", "https://example.com"),
    ("<mailto:ops@example.com|ops@example.com>", "ops@example.com"),
    ("a &lt; b &amp;&amp; c &gt; d", "a < b && c > d"),
    # An escaped tag is text the person typed, not markup: it must stay literal.
    ("&lt;@U01ALICE&gt; &amp;lt;", "<@U01ALICE> &lt;"),
])
def test_markup_becomes_readable_text(text: str, expected: str) -> None:
    people = {"U01ALICE": "Alice Nguyen"}
    channels = {"C06GENERAL": "general"}
    assert readable_text(text, people, channels) == expected


@pytest.mark.parametrize("entry, name", [
    ({"id": "U1", "name": "a", "real_name": "Ann Lee", "profile": {"display_name": "ann"}}, "Ann Lee"),
    ({"id": "U1", "name": "a", "profile": {"real_name": "Ann Lee", "display_name": "ann"}}, "Ann Lee"),
    ({"id": "U1", "name": "a", "real_name": "", "profile": {"real_name": " ", "display_name": "ann"}}, "ann"),
    ({"id": "U1", "name": "a", "profile": {}}, "a"),
    ({"id": "U1"}, "U1"),
])
def test_user_names_resolve_through_users_json(entry: dict, name: str) -> None:
    assert slack._person_name(entry) == name


@pytest.mark.parametrize("channel, incident", [
    ("inc-1234-db-failover", "INC-1234"),
    ("inc-1234", "INC-1234"),
    ("incident-77-payments", "INC-77"),
    ("inc_88_search", "INC-88"),
    ("inc-2023-10-24-teal-ostrich", "INC-2023-10-24-teal-ostrich"),
    ("inc-2024-03-12", "INC-2024-03-12"),
    ("general", None),
    ("incidents", None),
    ("inc-general", None),
    ("princ-12", None),
])
def test_default_channel_pattern(channel: str, incident: str | None, tmp_path: Path) -> None:
    day = tmp_path / "export" / channel / "2024-03-12.json"
    day.parent.mkdir(parents=True)
    day.write_text(json.dumps([{"type": "message", "user": "U1", "text": "hi",
                                "ts": "1710234842.000100"}]))
    (tmp_path / "export" / "users.json").write_text("[]")
    if incident is None:
        with pytest.raises(InputError, match="no incident channel"):
            load(tmp_path / "export")
    else:
        incidents, events, _, _ = load(tmp_path / "export")
        assert incidents == [{"incident_id": incident, "source": "slack"}]
        assert events["incident_id"].tolist() == [incident]


def test_custom_pattern_and_template(export: Path) -> None:
    config = {"channel_pattern": r"^inc-(?P<id>\d+)-(?P<slug>[a-z-]+)$",
              "incident_template": "PD-{id} ({slug}, #{channel})"}
    incidents, events, _, _ = load(export, config=config)
    # The dated incident.io-style name has no numeric id followed by a slug: skipped.
    assert incidents == [{"incident_id": "PD-1234 (db-failover, #inc-1234-db-failover)", "source": "slack"}]
    assert len(events) == 14


def test_bad_pattern_is_refused(export: Path) -> None:
    with pytest.raises(InputError, match="named group"):
        load(export, config={"channel_pattern": r"^inc-(\d+)"})
    with pytest.raises(InputError, match="not a regular expression"):
        load(export, config={"channel_pattern": r"^inc-(?P<id>\d+"})


def test_incident_option_takes_every_channel_given(export: Path) -> None:
    incidents, events, aliases, _ = load(export, incident_id="INC-9")
    assert incidents == [{"incident_id": "INC-9", "source": "slack"}]
    assert set(events["incident_id"]) == {"INC-9"}
    assert len(events) == 20            # 14 + 4 + #general's 2
    assert {a["external_id"] for a in aliases} >= {"C06GENERAL", "general", "C06INC1234"}


def test_config_selects_channels_by_name_or_id(export: Path) -> None:
    incidents, events, _, _ = load(export, config={"channels": ["#general", "C06AMBER01"]})
    # An explicitly chosen channel named like no incident is the incident of its own name.
    assert incidents == [{"incident_id": "general", "source": "slack"}, {"incident_id": "INC-2024-03-12-amber-falcon", "source": "slack"}]
    assert events.groupby("incident_id").size().to_dict() == {
        "general": 2, "INC-2024-03-12-amber-falcon": 4}
    incidents, events, _, _ = load(export, config={"channel": "general"}, incident_id="INC-5")
    assert incidents == [{"incident_id": "INC-5", "source": "slack"}] and len(events) == 2


def test_unknown_channel_in_config_is_an_error(export: Path) -> None:
    with pytest.raises(InputError) as caught:
        load(export, config={"channel": "inc-9999"})
    assert str(caught.value).startswith(str(export))
    assert "no channel 'inc-9999'" in str(caught.value)
    assert "inc-1234-db-failover" in str(caught.value)


def test_links_from_the_alias_table_win_over_the_pattern(export: Path) -> None:
    config = {"links": {"C06INC1234": "01HR8Z3K5V2D9QW7M4XN6B1C42", "general": "INC-1"}}
    incidents, events, _, _ = load(export, config=config)
    assert incidents == [{"incident_id": "INC-1", "source": "slack"}, {"incident_id": "01HR8Z3K5V2D9QW7M4XN6B1C42", "source": "slack"},
                         {"incident_id": "INC-2024-03-12-amber-falcon", "source": "slack"}]
    assert events.groupby("incident_id").size().to_dict() == {
        "INC-1": 2, "INC-2024-03-12-amber-falcon": 4, "01HR8Z3K5V2D9QW7M4XN6B1C42": 14}


def test_channel_folder_and_day_file_load_on_their_own(export: Path) -> None:
    _, whole, _, _ = load(export)
    incidents, channel, aliases, _ = load(export / "inc-1234-db-failover")
    assert incidents == [{"incident_id": "INC-1234", "source": "slack"}]
    assert aliases[0] == {"incident_id": "INC-1234", "source": "slack", "external_id": "C06INC1234"}
    pd.testing.assert_frame_equal(channel, whole[whole["incident_id"] == "INC-1234"]
                                  .reset_index(drop=True))
    _, day, _, _ = load(export / "inc-1234-db-failover" / "2024-03-13.json")
    assert day["event_id"].tolist() == whole["event_id"].tolist()[9:14]
    assert day["actor"].tolist()[0] == "Carol Vendor"
    # An explicitly named channel needs no incident-like name.
    incidents, general, _, _ = load(export / "general")
    assert incidents == [{"incident_id": "general", "source": "slack"}] and len(general) == 2


def zip_export(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, prefix + file.relative_to(folder).as_posix())
    return target


@pytest.mark.parametrize("prefix", ["", "acme Slack export Mar 12 2024/"])
def test_zip_equals_folder(export: Path, tmp_path: Path, prefix: str) -> None:
    archive = zip_export(export, tmp_path / "export.zip", prefix)
    folder_incidents, folder_events, folder_aliases, _ = load(export)
    zip_incidents, zip_events, zip_aliases, _ = load(archive)
    pd.testing.assert_frame_equal(zip_events, folder_events)
    assert zip_incidents == folder_incidents and zip_aliases == folder_aliases
    assert LOADER.sniff(archive, archive.read_bytes()[:64].decode("latin-1"))


def test_reloading_gives_the_same_ids(export: Path, tmp_path: Path) -> None:
    _, first, _, _ = load(export)
    _, second, _, _ = load(export)
    assert first["event_id"].is_unique
    pd.testing.assert_frame_equal(first, second)
    _, zipped, _, _ = load(zip_export(export, tmp_path / "e.zip"))
    assert zipped["event_id"].tolist() == first["event_id"].tolist()


def test_big_exports_stream_in_batches(export: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, whole, _, one = load(export)
    monkeypatch.setattr(slack, "BATCH_MESSAGES", 5)
    batches = list(LOADER.load(export, LoadContext()))
    # Day files of 9, 5, 2 and 2 messages: a batch closes once it holds 5 or more.
    assert one == 1 and [len(b.events) for b in batches] == [9, 5, 4]
    assert batches[0].incidents and not any(b.incidents or b.aliases for b in batches[1:])
    pd.testing.assert_frame_equal(pd.concat([b.events for b in batches], ignore_index=True), whole)


def test_messages_out_of_order_are_put_in_ts_order(export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    day = copy / "inc-1234-db-failover" / "2024-03-12.json"
    messages = json.loads(day.read_text())
    day.write_text(json.dumps(messages[::-1]))
    _, events, _, _ = load(copy / "inc-1234-db-failover")
    assert events["at"].is_monotonic_increasing
    assert events["seq"].tolist() == list(range(14))
    assert events["summary"].iloc[0] == "@Alice Nguyen has joined the channel"


def test_export_without_users_shows_ids(export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    (copy / "users.json").unlink()
    _, events, _, _ = load(copy)
    assert events["actor"].tolist()[:5] == ["U01ALICE", "PagerDuty", "U01ALICE", "U02BOB", "U02BOB"]
    assert events["summary"].iloc[0] == "@U01ALICE has joined the channel"
    # A person from another workspace still has a name in the message's own profile.
    assert events["actor"].iloc[9] == "Carol Vendor"


def test_broken_day_file_names_file_and_place(export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    day = copy / "inc-1234-db-failover" / "2024-03-13.json"
    day.write_text(day.read_text()[:200])
    with pytest.raises(InputError) as caught:
        load(copy)
    message = str(caught.value)
    assert message.startswith(str(day) + ": line ")
    assert "invalid JSON" in message and "\n" not in message


def test_broken_zip_member_names_the_member(export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    (copy / "users.json").write_text('[{"id": "U1",')
    archive = zip_export(copy, tmp_path / "export.zip")
    with pytest.raises(InputError) as caught:
        load(archive)
    assert str(caught.value).startswith(f"{archive}/users.json: line 1 column 14: invalid JSON")


def test_bad_ts_and_bad_shapes(export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    day = copy / "inc-2024-03-12-amber-falcon" / "2024-03-12.json"
    messages = json.loads(day.read_text())
    messages[1]["ts"] = 1710262920.00002            # a number, not Slack's string
    day.write_text(json.dumps(messages))
    with pytest.raises(InputError) as caught:
        load(copy)
    assert str(caught.value) == f"{day}: $[1].ts: not a Slack timestamp: 1710262920.00002"
    day.write_text(json.dumps({"ok": True, "messages": []}))
    with pytest.raises(InputError, match=r"2024-03-12\.json: \$: expected a Slack day file"):
        load(copy)


def test_other_formats_are_refused_with_what_they_look_like(tmp_path: Path) -> None:
    pagerduty = tmp_path / "pd.json"
    pagerduty.write_text(json.dumps({"log_entries": [], "limit": 25, "offset": 0, "more": False}))
    with pytest.raises(InputError) as caught:
        load(pagerduty)
    assert str(caught.value).startswith(f"{pagerduty}: looks like PagerDuty, not a Slack export")
    day = tmp_path / "inc-5" / "2024-01-01.json"
    day.parent.mkdir()
    day.write_text(json.dumps({"version": "4", "status": "firing", "alerts": []}))
    with pytest.raises(InputError, match="looks like an Alertmanager webhook payload"):
        load(day)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a Slack export"):
        load(text)
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "missing.zip")


def test_sniff(export: Path, fixtures: Path, tmp_path: Path) -> None:
    day = export / "inc-1234-db-failover" / "2024-03-12.json"
    assert LOADER.sniff(export, "")
    assert LOADER.sniff(day, day.read_text()[:2000])
    assert not LOADER.sniff(export / "users.json", (export / "users.json").read_text()[:2000])
    pd_like = '{"incidents": [{"id": "PT4KHLK", "incident_number": 1234, "created_at": "2024"}]}'
    assert not LOADER.sniff(tmp_path / "pd.json", pd_like)
    am_like = '[{"version": "4", "status": "firing", "alerts": [{"startsAt": "x"}]}]'
    assert not LOADER.sniff(tmp_path / "am.json", am_like)
    iio = fixtures / "incidentio" / "incident_updates.json"
    assert not LOADER.sniff(iio, iio.read_text()[:2000])


def test_a_channel_follows_the_incident_io_link_in_the_store(export: Path, fixtures: Path,
                                                              tmp_path: Path) -> None:
    from review_kit.store import Store

    # incident.io's INC-42 names its Slack channel; the export holds that channel.
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    (copy / "inc-1234-db-failover").rename(copy / "inc-42-card-payments-failing")
    channels = json.loads((copy / "channels.json").read_text())
    channels[1].update(id="C06INC0042", name="inc-42-card-payments-failing")
    (copy / "channels.json").write_text(json.dumps(channels))
    store = Store.open(tmp_path / "review.db")
    try:
        store.ingest("incidentio", fixtures / "incidentio" / "incidents_pages.json")
        first = store.ingest("slack", copy)
        again = store.ingest("slack", copy)
        incident = "01HR8Z3K5V2D9QW7M4XN6B1C42"
        events = store.events(incident)
        chat = events[events["source"] == "slack"]
        assert len(chat) == 14 and chat["kind"].value_counts()["responder_joined"] == 2
        incidents = store.incidents()
        # No incident was made for the channel's own INC-42 id; incident.io's fields stand.
        assert "INC-42" not in set(incidents["incident_id"])
        row = incidents.set_index("incident_id").loc[incident]
        assert (row["source"], row["title"]) == ("incidentio", "Card payments failing at checkout")
        assert first.events_added == 18 and again.events_added == 0
    finally:
        store.close()
