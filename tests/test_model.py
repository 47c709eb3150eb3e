"""The one timestamp parser and the canonical model's small rules."""
from __future__ import annotations

import pandas as pd
import pytest

from review_kit.errors import InputError, TimestampError
from review_kit.model import (EVENT_KINDS, event_id, normalise_severity, parse_timestamp,
                              parse_timestamps, to_iso)

UTC = "UTC"


@pytest.mark.parametrize("text, expected", [
    ("2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z"),
    ("2024-03-01T10:00:00.7Z", "2024-03-01T10:00:00.700000Z"),
    ("2024-03-01T10:00:00.72Z", "2024-03-01T10:00:00.720000Z"),
    ("2024-03-01T10:00:00.411Z", "2024-03-01T10:00:00.411000Z"),
    ("2024-03-01T10:00:00.123456789Z", "2024-03-01T10:00:00.123456Z"),  # ns truncated
    ("2024-03-01T10:00:00-08:00", "2024-03-01T18:00:00Z"),
    ("2024-03-01T10:00:00+05:30", "2024-03-01T04:30:00Z"),
    ("2024-03-01T10:00:00+0000", "2024-03-01T10:00:00Z"),  # Jira style, no colon
    ("2024-03-01T10:00:00.000+0200", "2024-03-01T08:00:00Z"),
    ("2019-01-09T22:10:48.958-08:00", "2019-01-10T06:10:48.958000Z"),
])
def test_iso_forms_become_utc(text, expected):
    assert to_iso(parse_timestamp(text)) == expected


@pytest.mark.parametrize("value, expected", [
    (1709287200, "2024-03-01T10:00:00Z"),                 # epoch seconds
    (1709287200123, "2024-03-01T10:00:00.123000Z"),       # epoch milliseconds
    (1709287200123456, "2024-03-01T10:00:00.123456Z"),    # epoch microseconds
    (1709287200123456789, "2024-03-01T10:00:00.123456Z"), # epoch nanoseconds
    ("1709287200123", "2024-03-01T10:00:00.123000Z"),     # digits in a string
    ("1516454398.000069", "2018-01-20T13:19:58.000069Z"), # Slack ts: kept to the microsecond
    (1709287200.5, "2024-03-01T10:00:00.500000Z"),
])
def test_epoch_forms(value, expected):
    assert to_iso(parse_timestamp(value)) == expected


def test_epoch_unit_can_be_pinned():
    assert to_iso(parse_timestamp(1_000_000, unit="ms")) == "1970-01-01T00:16:40Z"


@pytest.mark.parametrize("unset", [None, "", "0001-01-01T00:00:00Z", "  "])
def test_unset_values_are_none(unset):
    assert parse_timestamp(unset) is None


def test_zone_less_timestamp_is_an_error_unless_a_zone_is_named():
    with pytest.raises(TimestampError, match="no time zone.*--tz"):
        parse_timestamp("2024-03-01T10:00:00")
    assert to_iso(parse_timestamp("2024-03-01T10:00:00", "Europe/Berlin")) == "2024-03-01T09:00:00Z"
    assert to_iso(parse_timestamp("2024-07-01 10:00:00", "America/New_York")) == "2024-07-01T14:00:00Z"


def test_naive_datetime_objects_are_refused_too():
    with pytest.raises(TimestampError):
        parse_timestamp(pd.Timestamp("2024-03-01 10:00"))


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-45T00:00:00Z", "12:00", True, [1]])
def test_garbage_is_an_error(bad):
    with pytest.raises(TimestampError):
        parse_timestamp(bad)


def test_unknown_zone_is_an_input_error():
    with pytest.raises(InputError, match="unknown time zone"):
        parse_timestamp("2024-03-01T10:00:00", "Mars/Olympus")


def test_vectorised_parse_matches_scalar_parse_on_mixed_offsets():
    values = ["2024-03-01T10:00:00Z", "2024-03-01T02:00:00.5-08:00", "2024-03-01T10:00:00+0000",
              "2024-03-01T10:00:00.123456789Z", None, "0001-01-01T00:00:00Z"]
    parsed = parse_timestamps(values)
    assert str(parsed.dtype) == "datetime64[us, UTC]"
    for value, got in zip(values, parsed):
        expected = parse_timestamp(value)
        assert (pd.isna(got) and expected is None) or got == expected


def test_vectorised_parse_names_the_first_bad_row():
    with pytest.raises(TimestampError) as caught:
        parse_timestamps(["2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z", "2024-03-01T10:00:00"],
                         where="line")
    assert caught.value.where == "line 3"


def test_vectorised_parse_with_named_zone_handles_dst():
    parsed = parse_timestamps(["2024-01-15 12:00:00", "2024-07-15 12:00:00"], tz="Europe/Berlin")
    assert [to_iso(v) for v in parsed] == ["2024-01-15T11:00:00Z", "2024-07-15T10:00:00Z"]


def test_mixed_forms_fall_back_to_the_scalar_parser():
    parsed = parse_timestamps(["2024-03-01T10:00:00Z", 1709287200, "1516454398.000069"])
    assert [to_iso(v) for v in parsed] == ["2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z",
                                           "2018-01-20T13:19:58.000069Z"]


def test_event_ids_are_stable_and_distinct():
    assert event_id("pagerduty", "R123") == "pagerduty:R123"
    hashed = event_id("csv", None, "INC-1", "2024-03-01T10:00:00Z", "message", "ann", "hi")
    assert hashed == event_id("csv", None, "INC-1", "2024-03-01T10:00:00Z", "message", "ann", "hi")
    assert hashed != event_id("csv", None, "INC-1", "2024-03-01T10:00:00Z", "message", "ann", "hi!")
    assert len(event_id("x", "y" * 500)) < 60


@pytest.mark.parametrize("raw, expected", [
    ("SEV1", "SEV1"), ("sev-2", "SEV2"), ("P3", "SEV3"), ("p4", "SEV4"), ("S1", "SEV1"),
    ("2", "SEV2"), ("critical", None), ("", None), (None, None),
])
def test_severity_normalisation(raw, expected):
    assert normalise_severity(raw) == expected


def test_severity_mapping_wins():
    assert normalise_severity("Critical", {"critical": "SEV1"}) == "SEV1"


def test_event_kinds_are_the_design_set():
    assert len(EVENT_KINDS) == 18
    assert {"impact_started", "status_update", "stakeholder_update", "reopened"} <= EVENT_KINDS
