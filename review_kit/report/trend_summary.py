"""The trend report's opening: the headline table in people's units and at most three
sentences on what matters most, both worded from `analysis.trends.headline_figures`."""
from __future__ import annotations

from html import escape
from typing import Any

import numpy as np
import pandas as pd

from .. import human
from .tables import html_table

__all__ = ["MAX_ROWS", "MAX_SENTENCES", "headline_sentences", "headline_table",
           "summary_html"]

MAX_ROWS = 12
MAX_SENTENCES = 3
SUMMARY_COLUMNS = ("Figure", "Previous period", "This period", "Change", "95% interval",
                   "Verdict", "Measured (previous; this)")


def _value(unit: str, value: Any) -> str:
    if human.is_missing(value) or not np.isfinite(float(value)):
        return human.MISSING
    if unit == "duration":
        return human.duration(value)
    if unit == "share":
        return human.share(value)
    return human.count(value)


def _signed(text: str, value: float) -> str:
    return ("+" if value > 0 else "−" if value < 0 else "±") + text.lstrip("-")


def _change(unit: str, value: Any) -> str:
    if human.is_missing(value) or not np.isfinite(float(value)):
        return human.MISSING
    value = float(value)
    if unit == "duration":
        return _signed(human.duration(abs(value)), value)
    if unit == "share":
        points = value * 100
        return _signed(f"{abs(points):.0f} points" if abs(points) >= 1 or points == 0
                       else f"{abs(points):.1f} points", points)
    return _signed(f"{abs(value) * 100:.0f}%", value)


def _interval(unit: str, low: Any, high: Any) -> str:
    if any(human.is_missing(v) or not np.isfinite(float(v)) for v in (low, high)):
        return human.MISSING
    return f"{_change(unit, low)} to {_change(unit, high)}"


def _measured(row: pd.Series) -> str:
    if row["unit"] == "count":
        return f"{human.count(row['n_previous'])} and {human.count(row['n_this'])}"
    return (f"{human.count(row['n_previous'])} of {human.count(row['of_previous'])}; "
            f"{human.count(row['n_this'])} of {human.count(row['of_this'])}")


def headline_table(figures: pd.DataFrame) -> pd.DataFrame:
    """The headline frame as the words a reader sees, one row per figure (at most 12)."""
    rows = []
    for _, row in figures.head(MAX_ROWS).iterrows():
        unit = row["unit"]
        rows.append((row["figure"], _value(unit, row["previous"]), _value(unit, row["this"]),
                     _change(unit, row["change"]),
                     _interval(unit, row["change_low"], row["change_high"]), row["verdict"],
                     _measured(row)))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _phrase(row: pd.Series) -> str:
    unit = row["unit"]
    name = row["figure"].replace(" (median)", "")
    what = "median " if unit == "duration" else ""
    return (f"{name}: {what}{_value(unit, row['this'])} against "
            f"{_value(unit, row['previous'])} the period before")


def headline_sentences(figures: pd.DataFrame, previous: Any, this: Any) -> list[str]:
    """At most three sentences: what got worse, what improved, and what cannot be said."""
    sentences: list[str] = []
    magnitude = figures["change"].abs() / figures["previous"].abs().replace(0, np.nan)
    ranked = figures.assign(_size=magnitude.fillna(0)).sort_values("_size", ascending=False,
                                                                     kind="stable")
    worse = ranked[ranked["verdict"] == "worse"]
    better = ranked[ranked["verdict"] == "improved"]
    if len(worse):
        sentences.append("Worse, beyond noise: " + "; ".join(_phrase(r) for _, r in worse.head(2).iterrows()) + ".")
    if len(better):
        sentences.append("Improved, beyond noise: " + "; ".join(_phrase(r) for _, r in better.head(2).iterrows()) + ".")
    if not len(worse) and not len(better):
        sentences.append(f"No headline figure of {human.period(this)} can be told apart from "
                         f"{human.period(previous)} at "
                         "these volumes; read the changes below as noise until more incidents "
                         "accumulate.")
    thin = figures[(figures["unit"] != "count")
                   & (figures["n_this"] < figures["of_this"] / 2)]
    if len(thin) and len(sentences) < MAX_SENTENCES:
        names = human.listing([r["figure"].replace(" (median)", "").lower()
                               for _, r in thin.iterrows()])
        sentences.append(f"Measured for fewer than half of this period's incidents or items: "
                         f"{names}.")
    return sentences[:MAX_SENTENCES]


def summary_html(figures: pd.DataFrame, previous: Any, this: Any, lead: str = "") -> str:
    """The opening of the trend report: a line on the window, the table, the sentences."""
    sentences = headline_sentences(figures, previous, this)
    table = html_table(headline_table(figures),
                       numeric=("Previous period", "This period", "Change", "95% interval",
                                "Measured (previous; this)"),
                       caption=f"{human.period(this)} against {human.period(previous)}")
    items = "".join(f"<li>{escape(s, quote=False)}</li>" for s in sentences)
    return (f"<p>{escape(lead, quote=False)}</p>" if lead else "") + table + \
        f"<ul class='rk-headline-sentences'>{items}</ul>"
