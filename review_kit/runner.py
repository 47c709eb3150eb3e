"""Papermill orchestration: run the retrospective and trend notebooks, write their reports."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import NotebookRunError
from .paths import NOTEBOOKS_DIR, inside, safe_name

RETRO_NOTEBOOK = NOTEBOOKS_DIR / "retrospective.ipynb"
TRENDS_NOTEBOOK = NOTEBOOKS_DIR / "trends.ipynb"
KERNEL = "python3"


@dataclass
class RunOutputs:
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)

    def __str__(self) -> str:
        return "\n".join(f"{name}: {path}" for name, path in self.files.items())


def _store_parameter(store: str) -> str:
    """The store as a notebook parameter. A URL holding a password travels to the kernel in
    $REVIEW_KIT_STORE instead (the kernel inherits it), so no executed notebook keeps it."""
    from sqlalchemy.engine import make_url
    if "://" in store:
        try:
            if make_url(store).password:
                os.environ["REVIEW_KIT_STORE"] = store
                return ""
        except Exception:  # not a URL SQLAlchemy reads: the store itself will say so
            pass
    return store


def execute_notebook(notebook: Path, output: Path, parameters: dict[str, Any], *,
                     progress: bool = False, cwd: Path | None = None) -> Path:
    """Run a notebook with papermill; a failing cell becomes a NotebookRunError."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if "store" in parameters:
        parameters = {**parameters, "store": _store_parameter(str(parameters["store"]))}

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".partial-{output.name}")
    try:
        papermill.execute_notebook(
            str(notebook), str(partial), parameters=parameters, kernel_name=KERNEL,
            progress_bar=progress, log_output=False, cwd=str(cwd or output.parent),
            # papermill otherwise rewrites the whole notebook (charts and all) before and after
            # every cell; the output is written once, atomically, below
            request_save_on_cell_execute=False,
        )
    except PapermillExecutionError as exc:
        # Keep the failed notebook for reading, under the real name, then fail loudly.
        os.replace(partial, output)
        raise NotebookRunError(str(output), f"{exc.ename}: {exc.evalue}") from None
    os.replace(partial, output)  # atomic: a re-run never leaves half a notebook behind
    return output


_warm: dict[str, Any] = {}


def _html_exporter():
    """The HTML exporter: the one warmed during the run when there is one (its compiled
    templates are most of the first export's cost), else a new one."""
    thread = _warm.pop("thread", None)
    if thread is not None:
        thread.join()
    exporter = _warm.pop("exporter", None)
    if exporter is None:
        from nbconvert import HTMLExporter
        exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                                exclude_output_prompt=True)
    return exporter


def _warm_exporter() -> None:
    """Import nbconvert and compile its templates while the kernel works."""
    def warm() -> None:
        from nbconvert import HTMLExporter
        from nbformat.v4 import new_notebook
        exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                                exclude_output_prompt=True)
        exporter.from_notebook_node(new_notebook())
        _warm["exporter"] = exporter

    _warm["thread"] = threading.Thread(target=warm, daemon=True)
    _warm["thread"].start()


def export_html(notebook: Path, html: Path, *, title: str | None = None) -> Path:
    """The executed notebook as a report: code hidden, outputs as produced."""
    import nbformat

    exporter = _html_exporter()
    nb = nbformat.read(str(notebook), as_version=4)
    if title:
        nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb)
    partial = html.with_name(f".{html.name}.partial")
    partial.write_text(body, encoding="utf-8")
    os.replace(partial, html)
    return html


def run_retro(store: str, incident_id: str, out_dir: str | os.PathLike, *,
              template: str | None = None, redact: bool = False,
              progress: bool = False) -> RunOutputs:
    """Execute the retrospective for one incident into OUT/ID/ and export its HTML report."""
    folder = inside(Path(out_dir), safe_name(incident_id))
    folder.mkdir(parents=True, exist_ok=True)
    _warm_exporter()
    notebook = execute_notebook(
        RETRO_NOTEBOOK, folder / "retrospective.ipynb",
        {"incident_id": incident_id, "store": store, "output_dir": str(folder),
         "template": template or "", "redact": bool(redact), "interactive": False},
        progress=progress,
    )
    html = export_html(notebook, folder / "retrospective.html", title=f"Retrospective {incident_id}")
    outputs = RunOutputs(folder, {"notebook": notebook, "html": html})
    for name, filename in (("postmortem", "postmortem.md"), ("timeline", "timeline.png")):
        if (folder / filename).exists():
            outputs.files[name] = folder / filename
    return outputs


def run_trends(store: str, out_dir: str | os.PathLike, *, since: str | None = None,
               until: str | None = None, progress: bool = False) -> RunOutputs:
    """Execute the trend notebook over the store into OUT/ and export its HTML report."""
    folder = Path(out_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    _warm_exporter()
    notebook = execute_notebook(
        TRENDS_NOTEBOOK, folder / "trends.ipynb",
        {"store": store, "since": since or "", "until": until or "", "output_dir": str(folder)},
        progress=progress,
    )
    html = export_html(notebook, folder / "trends.html", title="Incident trends")
    return RunOutputs(folder, {"notebook": notebook, "html": html})
