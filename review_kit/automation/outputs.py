"""The output folder's front page: OUT/index.html listing every retrospective and the trends."""
from __future__ import annotations

import html
import os
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from ..paths import incident_folder, write_file
from ..store import Store
from .runs import list_runs, resolved_incidents

INDEX_NAME = "index.html"
RETRO_HTML = "retrospective.html"
TRENDS_HTML = "trends.html"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Incident retrospectives</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }}
th {{ background: #f4f4f4; }}
td.when {{ white-space: nowrap; }}
.failed {{ color: #b00020; }}
</style>
</head>
<body>
<h1>Incident retrospectives</h1>
<p>{trends}</p>
<p>{count} retrospective(s); page rebuilt {built}.</p>
<table>
<thead><tr><th>Incident</th><th>Title</th><th>Severity</th><th>Resolved at (UTC)</th><th>Reports</th><th>Last run</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def _when(value) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else html.escape(str(value))


def retrospective_rows(store: Store, out_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per incident whose retrospective report exists in OUT: id, folder, title,
    severity, resolved_at, last run status; newest resolution first, open incidents last."""
    out = Path(out_dir).resolve()
    incidents = store.incidents()
    if incidents.empty:
        return incidents.assign(folder=[], resolved_at=[], run_status=[])
    # safe_name is one-way, so reports are found from the store's ids, never from folder names.
    incidents = incidents.assign(
        folder=incidents["incident_id"].map(lambda i: incident_folder(out, str(i)).name))
    present = incidents["folder"].map(lambda f: (out / f / RETRO_HTML).is_file())
    incidents = incidents[present]
    resolved = resolved_incidents(store).set_index("incident_id")["resolved_at"]
    # reindex, not map: with nothing resolved, map of an empty time series fails on pandas 3
    incidents = incidents.assign(resolved_at=resolved.reindex(incidents["incident_id"]).to_numpy())
    runs = list_runs(store)
    last = runs.drop_duplicates("incident_id").set_index("incident_id")["status"] if len(runs) else pd.Series(dtype=object)
    incidents = incidents.assign(run_status=incidents["incident_id"].map(last))
    return incidents.sort_values(["resolved_at", "incident_id"], ascending=[False, True],
                                 na_position="last").reset_index(drop=True)


def render_index(rows: pd.DataFrame, out_dir: str | os.PathLike, *, redact: bool = False,
                 config: dict | None = None) -> str:
    """The index page; with `redact`, every title redacted (and every one cut for display)."""
    from ..config import load_config
    from ..report.bounds import cut_series, text_limit
    config = load_config() if config is None else config
    out = Path(out_dir).resolve()
    lines = []
    if len(rows):
        rows = rows.assign(title=cut_series(rows["title"], text_limit(config)))
        if redact:
            from ..report.redact import Redactor
            rows = Redactor.from_config(config, people=rows["commander"].dropna().astype(str)
                                        ).frame(rows, text=("title",))
    for row in rows.to_dict("records"):
        folder = quote(row["folder"])
        reports = [f'<a href="{folder}/{RETRO_HTML}">retrospective</a>']
        if (out / row["folder"] / "postmortem.md").is_file():
            reports.append(f'<a href="{folder}/postmortem.md">postmortem</a>')
        status = _text(row.get("run_status"))
        status_cell = f'<td class="failed">{status}</td>' if status == "failed" else f"<td>{status}</td>"
        lines.append(
            f'<tr><td><a href="{folder}/{RETRO_HTML}">{_text(row["incident_id"])}</a></td>'
            f'<td>{_text(row.get("title"))}</td><td>{_text(row.get("severity"))}</td>'
            f'<td class="when">{_when(row.get("resolved_at"))}</td><td>{" · ".join(reports)}</td>'
            f"{status_cell}</tr>")
    trends = out / TRENDS_HTML
    if trends.is_file():
        updated = datetime.fromtimestamp(trends.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M")
        trends_line = f'<a href="{TRENDS_HTML}">Latest trend report</a> (updated {updated} UTC)'
    else:
        trends_line = "No trend report yet (<code>review-kit trends --out DIR</code>)."
    return _PAGE.format(trends=trends_line, count=len(lines), rows="\n".join(lines),
                        built=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def rebuild_index(store: Store, out_dir: str | os.PathLike, *, redact: bool = False,
                  config: dict | None = None) -> Path:
    """Write OUT/index.html afresh (atomically: a reader never sees half a page)."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    page = render_index(retrospective_rows(store, out), out, redact=redact, config=config)
    return write_file(out / INDEX_NAME, page)
