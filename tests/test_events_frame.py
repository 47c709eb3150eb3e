"""`events_frame`: one canonical frame whatever shape the loader's rows come in."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.loaders import events_frame
from review_kit.model import EVENT_COLUMNS, SCALAR_PARSE_MAX, event_id, parse_timestamp

ROWS = [
    dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="triggered", source_id="e1"),
    dict(incident_id="P1", at="2024-01-01T11:02:00.123456789+01:00", kind="acknowledged",
         actor="Ann Lee", source_id="e2", raw={"id": "e2"}),
    dict(incident_id="P1", at="2024-01-01T10:30:00-0200", kind="message", summary="on it"),
]


def test_rows_columns_and_frames_give_the_same_frame():
    by_rows = events_frame(ROWS, source="fake", path="x", tz=None)
    columns = {c: [row.get(c) for row in ROWS] for c in ("incident_id", "at", "kind", "actor",
                                                          "summary", "raw", "source_id")}
    by_columns = events_frame(columns, source="fake", path="x", tz=None)
    by_frame = events_frame(pd.DataFrame(columns, index=[7, 3, 5]), source="fake", path="x", tz=None)
    assert list(by_rows.columns) == list(EVENT_COLUMNS)
    assert str(by_rows["at"].dtype) == "datetime64[us, UTC]" and by_rows["seq"].dtype == "int64"
    assert all(by_rows[c].dtype == object for c in EVENT_COLUMNS if c not in ("at", "seq"))
    pd.testing.assert_frame_equal(by_rows, by_columns)
    pd.testing.assert_frame_equal(by_rows, by_frame)
    assert by_rows["event_id"].tolist()[:2] == ["fake:e1", "fake:e2"]
    assert by_rows["raw"].tolist() == [None, '{"id":"e2"}', None]
    assert by_rows["actor"].tolist() == [None, "Ann Lee", None]
    assert by_rows["seq"].tolist() == [0, 1, 2]


def test_a_hashed_id_does_not_depend_on_how_a_blank_was_spelled():
    """Without an id of its own an event is named by a hash of what it says; a blank is a
    blank whether it came as None or as pandas' NaN (its string columns give NaN)."""
    frame = pd.DataFrame({"incident_id": ["P1", "P1"], "at": ["2024-01-01T10:30:00Z"] * 2,
                          "kind": ["message", "note"], "actor": ["Ann", np.nan], "summary": [np.nan, "x"]})
    ids = events_frame(frame, source="chat", path="x", tz=None)["event_id"].tolist()
    at = parse_timestamp("2024-01-01T10:30:00Z")
    assert ids == [event_id("chat", None, "P1", at, "message", "Ann", None),
                   event_id("chat", None, "P1", at, "note", None, "x")]


def test_few_rows_and_many_rows_read_times_alike():
    stamps = ["2024-01-01T10:00:00Z", "2024-01-01T11:02:00.123456789+01:00", "2024-03-10T01:59:59-0800"]
    few = events_frame([dict(incident_id="P1", at=s, kind="note") for s in stamps],
                       source="fake", path="x", tz=None)["at"]
    many = events_frame([dict(incident_id="P1", at=stamps[i % 3], kind="note")
                         for i in range(3 * SCALAR_PARSE_MAX)], source="fake", path="x", tz=None)["at"]
    assert few.tolist() == many.tolist()[:3]
    assert few.dtype == many.dtype


@pytest.mark.parametrize("row, problem", [
    (dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="paged"), "unknown event kind 'paged'"),
    (dict(incident_id="P1", at=None, kind="note"), "event has no timestamp"),
    (dict(incident_id="", at="2024-01-01T10:00:00Z", kind="note"), "event belongs to no incident"),
    (dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="note", visibility="public"),
     "visibility must be internal or external, not 'public'"),
])
def test_the_first_bad_row_is_named(row, problem):
    good = dict(incident_id="P1", at="2024-01-01T09:00:00Z", kind="note")
    with pytest.raises(InputError) as error:
        events_frame([good, row], source="fake", path="f.json", tz=None, locate=lambda i: f"line {i + 1}")
    assert str(error.value) == f"f.json: line 2: {problem}"


def test_the_source_an_incident_belongs_to_is_the_same_counted_either_way():
    """A delivery's few events are counted in Python, a file's many with pandas: one answer."""
    import pandas as pd

    from review_kit.loaders.base import events_source
    few = pd.DataFrame({"incident_id": ["B", "A", "B", "A", "B", "C", "C"],
                        "source": ["slack", "pagerduty", "pagerduty", "slack", "slack",
                                   "statuspage", "opsgenie"]})
    many = pd.concat([few] * 40, ignore_index=True)  # over the Python path's 256 rows
    expected = {"B": "slack", "A": "pagerduty", "C": "opsgenie"}  # ties: first by name
    assert events_source(few) == expected
    assert events_source(many) == expected
    assert list(events_source(few)) == list(events_source(many)) == ["B", "A", "C"]
