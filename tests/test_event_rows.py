"""A few events in Python (`event_columns`, `RowBatch`) agree with the frame path in every
row and every refusal: the receiver's deliveries take the first, big files the second."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from review_kit.errors import InputError
from review_kit.loaders import base
from review_kit.loaders.base import (
    Batch,
    RowBatch,
    SeenEvents,
    check_batch,
    event_columns,
    events_frame,
    frame_of_columns,
)

GOOD = {
    "ids of their own, a long one hashed": [
        dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="triggered", source_id="e1"),
        dict(incident_id="P1", at="2024-01-01T11:02:00.123456789+01:00", kind="acknowledged",
             actor="Ann Lee", source_id="x" * 200, raw={"id": "e2"}),
    ],
    "hashed ids, blanks spelled as NaN and None": [
        dict(incident_id="P1", at="2024-01-01T10:30:00.5-0200", kind="message", summary="on it",
             actor=float("nan")),
        dict(incident_id="P1", at=1704103200, kind="note", summary=None, actor=None,
             visibility="external", source="slack"),
    ],
    "given ids, seq as text, an empty source id": [
        dict(event_id="given-1", incident_id="P2", at="2024-02-01T09:00:00Z", kind="resolved",
             seq="7"),
        dict(incident_id="P2", at="2024-02-01T09:00:00Z", kind="resolved", seq=None, source_id=""),
    ],
    "a local time with --tz": [
        dict(incident_id="P3", at="2024-07-01 09:00:00", kind="triggered", status="firing",
             target="Bo", actor_type="person"),
    ],
    "nothing": [],
}

BAD = {
    "unknown kind": [dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="exploded")],
    "bad time in row 2": [dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="note"),
                          dict(incident_id="P1", at="yesterday", kind="note")],
    "no time": [dict(incident_id="P1", at="", kind="note")],
    "no incident": [dict(incident_id="", at="2024-01-01T10:00:00Z", kind="note")],
    "bad visibility": [dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="note",
                            visibility="secret")],
    "daylight-saving gap": [dict(incident_id="P1", at="2024-03-31 02:30:00", kind="note")],
}


def frame_path(monkeypatch, rows, **kwargs):
    with monkeypatch.context() as patch:
        patch.setattr(base, "SMALL_BATCH_EVENTS", -1)  # every input through the frame path
        return events_frame(rows, **kwargs)


@pytest.mark.parametrize("case", sorted(GOOD))
@pytest.mark.parametrize("shape", ["dicts", "columns"])
def test_few_rows_in_python_give_the_frame_the_frame_path_gives(monkeypatch, case, shape):
    rows = GOOD[case]
    if shape == "columns":
        keys = sorted({k for row in rows for k in row})
        rows = {k: [row.get(k) for row in rows] for k in keys}
    kwargs = dict(source="fake", path="x.json", tz="Europe/Berlin")
    expected = frame_path(monkeypatch, rows, **kwargs)
    columns = event_columns(rows, **kwargs)
    pd.testing.assert_frame_equal(frame_of_columns(columns), expected)
    pd.testing.assert_frame_equal(events_frame(rows, **kwargs), expected)
    # `at` in whole microseconds, as the store keeps it
    assert columns["at"] == expected["at"].astype("int64").tolist()


@pytest.mark.parametrize("case", sorted(BAD))
def test_few_rows_in_python_are_refused_with_the_frame_paths_line(monkeypatch, case):
    kwargs = dict(source="fake", path="x.json", tz="Europe/Berlin",
                  locate=lambda i: f"$[{i}]")
    with pytest.raises(InputError) as frame_error:
        frame_path(monkeypatch, BAD[case], **kwargs)
    with pytest.raises(InputError) as rows_error:
        event_columns(BAD[case], **kwargs)
    assert str(rows_error.value) == str(frame_error.value)
    assert "Traceback" not in str(rows_error.value) and "\n" not in str(rows_error.value)


def row_batch(rows, incidents=(), aliases=()):
    columns = event_columns(rows, source="fake", path="x.json", tz=None)
    return RowBatch(list(incidents), columns, list(aliases))


def test_a_row_batch_is_checked_as_its_frame_is(monkeypatch, tmp_path):
    good = GOOD["ids of their own, a long one hashed"]
    batch = row_batch(good)
    assert batch.event_count == 2 and len(batch.events) == 2
    pd.testing.assert_frame_equal(batch.events, frame_path(monkeypatch, good, source="fake",
                                                           path="x.json", tz=None))
    # a text field holding a list, an incident id with a control character, a repeated id
    # with other content: the same line from the lists as from the frame
    broken = [
        [dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="note", summary=["a", "b"])],
        [dict(incident_id="P\n1", at="2024-01-01T10:00:00Z", kind="note")],
        [dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="note", source_id="s", summary="a"),
         dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="note", source_id="s", summary="b")],
    ]
    for rows in broken:
        batch = row_batch(rows)
        framed = Batch([], batch.events, [])
        with pytest.raises(InputError) as from_frame:
            check_batch(framed, "x.json", SeenEvents())
        with pytest.raises(InputError) as from_rows:
            check_batch(row_batch(rows), "x.json", SeenEvents())
        assert str(from_rows.value) == str(from_frame.value)
    # a repeat with the same content is fine, and seen across batches
    seen = SeenEvents()
    same = [dict(incident_id="P1", at="2024-01-01T10:00:00Z", kind="note", source_id="s")] * 2
    check_batch(row_batch(same), "x.json", seen)
    with pytest.raises(InputError, match="appeared before"):
        check_batch(row_batch([{**same[0], "summary": "other"}]), "x.json", seen, offset=2)


def test_a_row_batchs_frame_cannot_be_replaced_behind_its_lists():
    batch = row_batch(GOOD["ids of their own, a long one hashed"])
    with pytest.raises(AttributeError, match="its columns"):
        batch.events = batch.events.iloc[:1]
    assert batch.event_count == 2 and len(batch.events) == 2


def test_many_rows_take_the_frame_path(monkeypatch):
    """Rows past SMALL_BATCH_EVENTS are never listed in Python: the frame path reads them."""
    rows = [dict(incident_id="P1", at=f"2024-01-01T10:00:{i:02d}Z", kind="note", source_id=str(i))
            for i in range(base.SMALL_BATCH_EVENTS + 1)]
    listed = []
    monkeypatch.setattr(base, "_listed", lambda r: listed.append(r))
    frame = events_frame(rows, source="fake", path="x.json", tz=None)
    assert listed == [] and len(frame) == len(rows)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="few rows"):
        event_columns(rows, source="fake", path="x.json", tz=None)


def test_a_delivery_is_stored_alike_from_its_lists_and_from_its_frame(tmp_path, monkeypatch):
    """A PagerDuty delivery written as a RowBatch and as a frame: the same rows in the store,
    and a known event that came back changed is told in the same words."""
    import json
    import sys

    from review_kit.store import Store
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_server import pagerduty_event

    first = pagerduty_event("01EVENT", "incident.acknowledged", 7, "2024-05-02T14:31:07.114Z")
    changed = json.loads(json.dumps(first))
    changed["event"]["occurred_at"] = "2024-05-02T14:35:00Z"
    changed["event"]["agent"]["summary"] = "Someone Else"
    seen = {}
    for way in ("rows", "frame"):
        with monkeypatch.context() as patch:
            if way == "frame":
                patch.setattr(base, "SMALL_BATCH_EVENTS", -1)
            store = Store.open(tmp_path / f"{way}.db")
            results = []
            for n, payload in enumerate((first, first, changed)):
                path = tmp_path / f"{way}-{n}.json"
                path.write_text(json.dumps(payload), encoding="utf-8")
                result = store.ingest("pagerduty", path)
                results.append((result.events_added, result.events_differing, result.differing(),
                                sorted(result.incident_ids)))
            seen[way] = (results, store.events().drop(columns=["raw"]).to_dict("list"),
                         store.incidents().to_dict("list"), store.aliases().to_dict("list"))
            store.close()
    assert seen["rows"] == seen["frame"]
    results = seen["rows"][0]
    assert [r[:2] for r in results] == [(1, 0), (0, 0), (0, 1)]
    assert "its time and actor" in results[2][2]
