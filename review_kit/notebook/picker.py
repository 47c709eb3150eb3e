"""Choosing the incident to review in JupyterLab: a searchable list, newest first, that loads
the review into the cells already run (no re-run of the notebook)."""
from __future__ import annotations

from html import escape
from typing import Any, Callable

import ipywidgets as widgets
import pandas as pd

from .. import human

__all__ = ["IncidentPicker", "incident_choices", "matching"]

MAX_OPTIONS = 200


def incident_choices(incidents: pd.DataFrame) -> pd.DataFrame:
    """The incidents as the picker lists them, newest first: incident_id and a label
    "ID · SEV2 · checkout-api · title · 2024-06-11"."""
    if incidents.empty:
        return pd.DataFrame({"incident_id": [], "label": []})
    frame = incidents.sort_values(["created_at", "incident_id"], ascending=[False, True],
                                  kind="stable", na_position="last")
    parts = [frame["incident_id"].astype(str),
             frame["severity"].astype(object).where(frame["severity"].notna(), "no severity"),
             frame["service"].astype(object).where(frame["service"].notna(), "no service"),
             frame["title"].astype(object).where(frame["title"].notna(), ""),
             frame["created_at"].map(human.date)]
    label = parts[0]
    for part in parts[1:]:
        label = label + " · " + part.astype(str)
    return pd.DataFrame({"incident_id": frame["incident_id"].astype(str).to_numpy(),
                         "label": label.to_numpy()})


def matching(choices: pd.DataFrame, text: str) -> pd.DataFrame:
    """The choices whose label holds every word of `text` (any case)."""
    mask = pd.Series(True, index=choices.index)
    labels = choices["label"].astype(str).str.lower()
    for word in (text or "").lower().split():
        mask &= labels.str.contains(word, regex=False)
    return choices[mask]


class IncidentPicker(widgets.VBox):
    """Search box and list of incidents; Open loads the chosen one through ``on_choose``."""

    def __init__(self, incidents: pd.DataFrame, on_choose: Callable[[str], Any],
                 note: str = "") -> None:
        self.choices = incident_choices(incidents)
        self.on_choose = on_choose
        self.search = widgets.Text(description="Search", continuous_update=True,
                                   placeholder="id, title, severity or service",
                                   layout=widgets.Layout(width="60%"))
        self.search.add_class("rk-picker-search")
        self.list = widgets.Select(rows=10, layout=widgets.Layout(width="100%"))
        self.list.add_class("rk-picker-list")
        self.open_button = widgets.Button(description="Open review", icon="folder-open",
                                   button_style="primary")
        self.open_button.add_class("rk-picker-open")
        self.status = widgets.HTML()
        self.status.add_class("rk-picker-status")
        self.search.observe(lambda change: self.filter(change["new"]), names="value")
        self.open_button.on_click(lambda _b: self.choose())
        self.filter("")
        intro = widgets.HTML("<b>Choose the incident to review</b> (newest first; type to "
                             "filter). " + note)
        super().__init__([intro, self.search, self.list, widgets.HBox([self.open_button, self.status])])
        self.add_class("rk-picker")

    def filter(self, text: str) -> int:
        found = matching(self.choices, text)
        shown = found.head(MAX_OPTIONS)
        self.list.options = list(zip(shown["label"], shown["incident_id"]))
        more = len(found) - len(shown)
        self.status.value = (f"{human.count(len(found))} incidents" +
                             (f", the first {MAX_OPTIONS} shown" if more > 0 else ""))
        return len(found)

    def choose(self, incident_id: str | None = None) -> str | None:
        chosen = incident_id or self.list.value
        if not chosen:
            self.status.value = "Choose an incident in the list first."
            return None
        self.status.value = f"Loading {escape(str(chosen))}…"
        self.on_choose(str(chosen))
        self.status.value = f"Showing {escape(str(chosen))}."
        return str(chosen)
