"""Write notebooks/*.ipynb from the cell lists below, outputs stripped (run after editing)."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def cells(spec):
    out = []
    for kind, source, *tags in spec:
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        if tags:
            cell.metadata["tags"] = list(tags)
        out.append(cell)
    return out


RETRO = [
    ("md", "# Incident retrospective\n\nRun all cells. Under papermill the same notebook runs headless; "
           "in JupyterLab the facilitator panel below saves to the store as you type."),
    ("code", '# Parameters (papermill overrides these)\n'
             'incident_id = ""  # empty: the most recent incident in the store\n'
             'store = "review-data/review.db"\n'
             'output_dir = "out/retro"\n'
             'template = ""  # empty: templates/postmortem.md.j2\n'
             'redact = False\n'
             'interactive = True', "parameters"),
    ("code", "from review_kit.views import RetrospectiveView\n\n"
             "retro = RetrospectiveView.open(store, incident_id, output_dir=output_dir, template=template,\n"
             "                               redact=redact, interactive=interactive)\n"
             "retro.header()"),
    ("md", "## Milestones"),
    ("code", "retro.milestones_table()"),
    ("md", "## Timeline"),
    ("code", "retro.timeline_chart();"),
    ("md", "## Durations and coordination"),
    ("code", "retro.metrics_table()"),
    ("md", "## Every event, in order"),
    ("code", "retro.timeline_table()"),
    ("md", "## Postmortem draft\n\nWritten to `postmortem.md` beside this notebook."),
    ("code", "retro.postmortem()"),
]

TRENDS = [
    ("md", "# Incident trends\n\nHeavy-tailed durations: medians and percentiles with bootstrap "
           "intervals, never a bare mean."),
    ("code", '# Parameters (papermill overrides these)\n'
             'store = "review-data/review.db"\n'
             'since = ""  # YYYY-MM-DD, empty: from the first incident\n'
             'until = ""  # YYYY-MM-DD (exclusive), empty: up to now\n'
             'output_dir = "out"\n'
             'group_by = "severity"\n'
             'compare = "quarter"  # last full period against the one before: quarter, month or half', "parameters"),
    ("code", "from review_kit.views_trends import TrendsView\n\n"
             "trends = TrendsView.open(store, since=since, until=until, output_dir=output_dir,\n"
             "                         group_by=group_by, compare=compare)\n"
             "trends.summary()"),
    ("md", "## Incidents per month"),
    ("code", "trends.counts_chart();"),
    ("code", "trends.counts_table()"),
    ("md", "## Durations"),
    ("code", "trends.duration_table()"),
    ("code", "trends.duration_distributions();"),
]


def write(name: str, spec) -> None:
    built = cells(spec)
    for number, cell in enumerate(built):
        cell["id"] = f"{Path(name).stem}-{number:02d}"  # stable ids keep diffs quiet
    nb = new_notebook(cells=built, metadata={"kernelspec": KERNELSPEC,
                                                   "language_info": {"name": "python"}})
    path = NOTEBOOKS / name
    nbformat.write(nb, str(path))
    print("wrote", path)


if __name__ == "__main__":
    write("retrospective.ipynb", RETRO)
    write("trends.ipynb", TRENDS)
