"""Tables people read: every report table is rendered here, the same way.

Headers in words (a field name such as ``time_to_acknowledge`` becomes "Time to
acknowledge"), no index column, text left and numbers right, unknown values as "—", lists
as text, line breaks in messages kept as line breaks, every value escaped exactly once, and
a long table cut after ``max_rows`` with the rest behind a ``<details>`` element.
"""
from __future__ import annotations

import re
from html import escape
from typing import Any, Iterable, Sequence

import jinja2
import pandas as pd

from .. import human

__all__ = ["TABLE_CSS", "html_table", "sentences_html", "table_cells"]

# One style for every table (outputs in JupyterLab and in the exported HTML).
TABLE_CSS = (
    "<style>"
    "table.rk-table{border-collapse:collapse;margin:0.4em 0 1em;font-size:0.92em}"
    # !important: JupyterLab's own table style right-aligns every cell.
    "table.rk-table th,table.rk-table td{border-bottom:1px solid #d0d7de;padding:0.25em 0.7em;"
    "vertical-align:top;text-align:left!important}"
    "table.rk-table thead th{border-bottom:2px solid #57606a;background:#f6f8fa}"
    "table.rk-table .num{text-align:right!important;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "table.rk-table caption{caption-side:top;text-align:left;font-weight:600;padding:0.2em 0}"
    "details.rk-more>summary{cursor:pointer;color:#0550ae}"
    "</style>"
)

_TEMPLATE = jinja2.Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True).from_string(
    """{% macro body(rows) %}
<tbody>
{% for row in rows %}
<tr>{% for value, numeric in row %}<td{% if numeric %} class="num"{% endif %}>{{ value }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
{% endmacro %}
{% macro head() %}
<thead><tr>{% for name, numeric in headers %}<th scope="col"{% if numeric %} class="num"{% endif %}>{{ name }}</th>{% endfor %}</tr></thead>
{% endmacro %}
{{ css }}<table class="rk-table">{% if caption %}<caption>{{ caption }}</caption>{% endif %}
{{ head() }}
{{ body(shown) }}
</table>
{% if rest %}
<details class="rk-more"><summary>{{ more }}</summary>
<table class="rk-table">
{{ head() }}
{{ body(rest) }}
</table>
</details>
{% endif %}
""")


def _is_numeric_column(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values.dtype):
        return False
    return bool(pd.api.types.is_numeric_dtype(values.dtype))


def _text(value: Any) -> str:
    """One cell as escaped HTML, line breaks kept as line breaks."""
    text = human.cell(value)
    escaped = escape(text, quote=False)
    return escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def table_cells(frame: pd.DataFrame) -> list[list[str]]:
    """The text of every cell as the table shows it (before escaping): for tests and
    for other renderings of the same table."""
    return [[human.cell(v) for v in row] for row in frame.astype(object).itertuples(index=False)]


def html_table(frame: pd.DataFrame, *, numeric: Iterable[str] = (), max_rows: int | None = None,
               caption: str | None = None, more: str | None = None,
               css: bool = True) -> str:
    """``frame`` as an HTML table in the house style (see the module docstring).

    ``numeric``: columns of formatted numbers (durations as text, "3 of 7 (43%)"…) that are
    right-aligned like numeric columns are. ``max_rows``: rows shown before the rest go
    behind a ``<details>`` element whose summary says how many there are (``more``
    overrides its words).
    """
    wanted = set(numeric)
    columns = [str(c) for c in frame.columns]
    numeric_flags = [c in wanted or _is_numeric_column(frame.iloc[:, i])
                     for i, c in enumerate(columns)]
    # A field name (``time_to_acknowledge``, ``responders``) becomes words; a header
    # already written for people is kept as written.
    headers = [(escape(human.words(c) if re.fullmatch(r"[a-z][a-z0-9_]*", c) else c,
                       quote=False), flag)
               for c, flag in zip(columns, numeric_flags)]
    rows = [[(_text(v), flag) for v, flag in zip(row, numeric_flags)]
            for row in frame.astype(object).itertuples(index=False)]
    shown, rest = rows, []
    if max_rows is not None and len(rows) > max_rows:
        shown, rest = rows[:max_rows], rows[max_rows:]
    return _TEMPLATE.render(
        css=TABLE_CSS if css else "", caption=escape(caption, quote=False) if caption else "",
        headers=headers, shown=shown, rest=rest,
        more=escape(more or f"{len(rest):,} more rows", quote=False))


def sentences_html(sentences: Sequence[str]) -> str:
    """Sentences as one escaped paragraph."""
    return "<p>" + " ".join(escape(s, quote=False) for s in sentences) + "</p>"

