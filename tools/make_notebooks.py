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
    ("md", "# Incident retrospective\n\nRun all cells. With `incident_id` empty, JupyterLab shows a "
           "picker: choosing an incident fills every cell below, no re-run needed. Under papermill the "
           "same notebook runs headless; in JupyterLab the facilitator panel below saves to the "
           "store as you type."),
    ("code", '# Parameters (papermill overrides these)\n'
             'incident_id = ""  # empty: a picker in JupyterLab; headless, one line naming the newest ids\n'
             'store = ""  # empty: $REVIEW_KIT_STORE, else review-data/review.db\n'
             'output_dir = ""  # empty: out/retro/<incident id>, a folder per incident\n'
             'template = ""  # empty: templates/postmortem.md.j2\n'
             'redact = False  # True: emails, phone numbers and secrets replaced in every output\n'
             'interactive = True  # False: the static summary even in JupyterLab\n'
             'figure_formats = "png"  # "png,svg" writes timeline.svg too', "parameters"),
    ("code", "from review_kit.notebook.retrospective import RetrospectiveView\n\n"
             "retro = RetrospectiveView.open(store, incident_id, output_dir=output_dir, template=template,\n"
             "                               redact=redact, interactive=interactive,\n"
             "                               figure_formats=figure_formats)\n"
             "retro.header()"),
    ("md", "## Milestones"),
    ("code", "retro.milestones_table()"),
    ("md", "## Timeline"),
    ("code", "retro.timeline_chart()"),
    ("md", "## Durations against history"),
    ("code", "retro.against_history()"),
    ("code", "retro.metrics_table()"),
    ("md", "## Communication audit"),
    ("code", "retro.communication_audit()"),
    ("md", "## Coordination"),
    ("code", "retro.coordination()"),
    ("code", "retro.responder_chart()"),
    ("md", "## Seen before\n\nThe most similar past incidents (a shared alert, the same service with rare "
           "words in common, or rare words and phrases alone), with their action items. Dismiss a "
           "suggestion in the facilitator panel (\"not related\") and it stays dismissed."),
    ("code", "retro.seen_before()"),
    ("md", "## Every event, in order"),
    ("code", "retro.timeline_table()"),
    ("md", "## Facilitator\n\nFilter the timeline, mark key events, set milestones by hand, write the "
           "postmortem sections and the action items: each change is saved to the store at once. "
           "Headless runs show what has been decided so far."),
    ("code", "retro.facilitator()"),
    ("md", "## Postmortem draft\n\nWritten to `postmortem.md` beside this notebook, from the store as it "
           "is now (re-run this cell after the review to include what the room entered)."),
    ("code", "retro.reload()\nretro.postmortem()"),
]

TRENDS = [
    ("md", "# Incident trends\n\nThe answer first: each headline figure this period against the one "
           "before, with a 95% interval and a verdict. Incident durations are heavy-tailed, so "
           "durations are medians with bootstrap intervals, compared with a rank test; a change "
           "that cannot be told apart from noise is called so."),
    ("code", '# Parameters (papermill overrides these)\n'
             'store = ""  # empty: $REVIEW_KIT_STORE, else review-data/review.db\n'
             'since = ""  # YYYY-MM-DD, empty: from the first incident\n'
             'until = ""  # YYYY-MM-DD (exclusive), empty: up to now\n'
             'output_dir = "out"\n'
             'group_by = "severity"  # severity, service or team\n'
             'compare = "quarter"  # last full quarter (or month, week) against the one before\n'
             'redact = False  # True: emails, phones, secrets and people\'s names replaced\n'
             'figure_formats = "png"  # "png,svg" writes incident_counts.svg too', "parameters"),
    ("code", "from review_kit.notebook.trends import TrendsView\n\n"
             "trends = TrendsView.open(store, since=since, until=until, output_dir=output_dir,\n"
             "                         group_by=group_by, compare=compare, redact=redact,\n"
             "                         figure_formats=figure_formats)\n"
             "trends.summary()"),
    ("md", "## Each duration by group"),
    ("code", "trends.comparisons_by_group()"),
    ("md", "## How many incidents"),
    ("code", "trends.counts_chart()"),
    ("code", "trends.rate_comparison()"),
    ("md", "## How long they took\n\nMedian and p90 with 95% bootstrap intervals; the mean only beside them."),
    ("code", "trends.duration_table()"),
    ("code", "trends.duration_distributions(\"time_to_resolve\")"),
    ("code", "trends.duration_boxes(\"time_to_acknowledge\")"),
    ("code", "trends.median_over_time(\"time_to_mitigate\")"),
    ("md", "## Control chart\n\nAn XmR chart on log durations: points outside the limits are worth a look; "
           "the rest is routine variation."),
    ("code", "trends.control_chart(\"time_to_resolve\")"),
    ("md", "## What keeps coming back\n\nIncidents alike (a shared alert, the same service with rare "
           "words in common, or rare words and phrases alone), grouped, with what they share."),
    ("code", "trends.recurrence()"),
    ("code", "trends.repeat_rate()"),
    ("md", "## Fixes that did not hold\n\nIncidents that repeat an earlier similar one after all of "
           "its action items were marked done."),
    ("code", "trends.fixes_that_did_not_hold()"),
    ("md", "## Action items: are they closed?"),
    ("code", "trends.action_items_chart()"),
    ("code", "trends.action_items_open_share()"),
    ("code", "trends.overdue()"),
    ("md", "## Communication"),
    ("code", "trends.communication()"),
    ("md", "## Responder load"),
    ("code", "trends.responder_load()"),
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
