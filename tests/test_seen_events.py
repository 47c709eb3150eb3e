"""The ingest boundary remembers every event id of an input in little memory."""
from __future__ import annotations

import numpy as np
import pytest

from review_kit.errors import InputError
from review_kit.loaders import Batch, events_frame
from review_kit.loaders.base import SeenEvents, check_batch


def batch(*rows: tuple[str, str]) -> Batch:
    """Events (id, summary) of one incident."""
    return Batch(events=events_frame([dict(event_id=i, incident_id="P1", at="2024-01-01T10:00:00Z",
                                           kind="note", summary=s) for i, s in rows],
                                     source="fake", path="f.json", tz=None))


def test_ids_are_found_again_across_blocks_with_their_number_and_content():
    seen = SeenEvents()
    ids = [f"fake:{i}" for i in range(5000)]
    for start in range(0, 5000, 500):  # more blocks than are kept apart: merged on the way
        seen.add(ids[start:start + 500], np.arange(start, start + 500) + 1,
                 lambda start=start: np.arange(start, start + 500, dtype="uint64") * 7)
    assert seen.contains(["fake:0", "fake:4999", "fake:5000", "other"]).tolist() == [True, True, False, False]
    assert seen.get("fake:1234") == (1235, 1234 * 7)
    assert seen.get("fake:x") is None
    seen.setdefault("fake:x", (9, 9))
    seen.setdefault("fake:1234", (1, 1))  # known: kept as first seen
    assert (seen.get("fake:x"), seen.get("fake:1234")) == ((9, 9), (1235, 1234 * 7))


def test_an_id_repeated_in_a_later_batch_with_other_content_is_refused_naming_both():
    seen = SeenEvents()
    check_batch(batch(("fake:a", "one"), ("fake:b", "two")), "f.json", seen)
    check_batch(batch(("fake:c", "three"), ("fake:a", "one")), "f.json", seen, offset=2)  # same: fine
    with pytest.raises(InputError) as error:
        check_batch(batch(("fake:b", "changed")), "f.json", seen, offset=4)
    assert str(error.value) == ("f.json: event 5: event id 'fake:b' appeared before (event 2) "
                                "with different content")


def test_ids_whose_first_hashes_collide_are_told_apart_by_the_second(monkeypatch):
    """Every id given one first hash: the lookup walks the equal run and the second hash
    decides, across merged and separate blocks."""
    real = SeenEvents._hashes.__func__

    def colliding(cls, ids, keys=2):
        hashes = real(cls, ids, keys)
        return (np.zeros(len(ids), dtype="uint64"), *hashes[1:])

    monkeypatch.setattr(SeenEvents, "_hashes", classmethod(colliding))
    seen = SeenEvents()
    ids = [f"fake:{i}" for i in range(60)]
    for start in range(0, 60, 5):
        seen.add(ids[start:start + 5], np.arange(start, start + 5) + 1,
                 lambda start=start: np.arange(start, start + 5, dtype="uint64") * 3)
    assert seen.contains(["fake:59", "fake:0", "fake:60", "fake:31"]).tolist() == [True, True, False, True]
    assert seen.get("fake:31") == (32, 93)
    assert seen.get("nope") is None
