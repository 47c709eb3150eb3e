"""Small literal frames for tests: canonical events from short dicts (pyjanitor style)."""
from __future__ import annotations

import pandas as pd

from review_kit.model import EVENT_COLUMNS, parse_timestamps


def literal_events(*rows: dict, incident_id: str = "INC-1", id_format: str | None = "{source}:{incident_id}:{i}"
                   ) -> pd.DataFrame:
    """A canonical events frame: `at` as text (any offset), the rest defaulted.

    Rows are numbered in order (`seq`); a row without an `event_id` gets one from
    `id_format` (None leaves it empty)."""
    records = []
    for i, row in enumerate(rows):
        record = {c: None for c in EVENT_COLUMNS}
        record.update({"incident_id": incident_id, "source": "pagerduty", "seq": i,
                       "visibility": "internal", "actor_type": "person"})
        record.update(row)
        if record["event_id"] is None and id_format is not None:
            record["event_id"] = id_format.format(source=record["source"],
                                                  incident_id=record["incident_id"], i=i)
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=list(EVENT_COLUMNS))
    frame["at"] = parse_timestamps(frame["at"])
    frame["seq"] = frame["seq"].astype("int64")
    return frame


def utc(text: str) -> pd.Timestamp:
    """A timestamp written with any offset, as the UTC microsecond Timestamp frames hold."""
    return pd.Timestamp(text).tz_convert("UTC").as_unit("us")


def load_all(loader, path, **ctx) -> tuple[dict[str, dict], pd.DataFrame, list[dict]]:
    """Every batch a loader yields for one input, joined: incidents by id, events, aliases."""
    from pathlib import Path

    from review_kit.loaders import LoadContext

    batches = list(loader.load(Path(path), LoadContext(**ctx)))
    incidents = {row["incident_id"]: row for b in batches for row in b.incidents}
    events = pd.concat([b.events for b in batches], ignore_index=True)
    return incidents, events, [a for b in batches for a in b.aliases]
