"""Papermill orchestration: run the retrospective and trend notebooks, write their reports."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import NotebookRunError
from ..paths import NOTEBOOKS_DIR, incident_folder, replacing
from ..report.html_export import export_html, warm_exporter

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
    """The store as a notebook parameter. A URL holding a password (in its user part or its
    query) travels to the kernel in $REVIEW_KIT_STORE instead (the kernel inherits it), so no
    executed notebook keeps it."""
    from ..store.database import url_has_secret
    if "://" in store and url_has_secret(store):
        os.environ["REVIEW_KIT_STORE"] = store
        return ""
    return store


ENGINE = "review-kit"


@cache
def _register_engine() -> None:
    """papermill's nbclient engine, with two changes to a run's wall time.

    The kernel is launched first and ``while_kernel_starts`` runs in this process while it
    boots (about a second in which this process would only wait); the kernel meanwhile
    imports the ``preload`` modules, before it reports ready. And the kernel is stopped at
    once when the last cell is done: every output has arrived and nothing in the kernel is
    left to save, while a graceful shutdown costs another half second.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class PrestartEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None,
                                     while_kernel_starts=None, preload=(), **kwargs):
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            # __import__ binds no name: the notebook's namespace stays as the cells make it.
            imports = [f"--IPKernelApp.exec_lines=__import__({m!r})" for m in preload]
            client = PapermillNotebookClient(nb_man, **merge_kwargs(
                kwargs, timeout=execution_timeout, startup_timeout=start_timeout,
                kernel_name=kernel_name, log=logger, log_output=log_output,
                stdout_file=stdout_file, stderr_file=stderr_file, shutdown_kernel="immediate",
                extra_arguments=imports))
            # Assigned after construction, so the client still owns (and cleans up) the kernel.
            client.km = client.create_kernel_manager()
            sockets = _private_sockets(client.km)
            try:
                client.start_new_kernel(cwd=os.getcwd())
                try:
                    if while_kernel_starts is not None:
                        while_kernel_starts()
                except BaseException:
                    client._cleanup_kernel()  # nbclient's own shutdown of the kernel it owns
                    raise
                return client.execute()
            finally:
                if sockets is not None:
                    shutil.rmtree(sockets, ignore_errors=True)

    papermill_engines.register(ENGINE, PrestartEngine)


def _private_sockets(kernel_manager: Any) -> str | None:
    """The kernel's sockets as files in a new folder only this user can open (ZeroMQ's ipc
    transport), instead of TCP ports on loopback that any local user can reach (and that
    ipykernel warns about on every run). The folder, to remove once the kernel is gone; None
    where ipc is not available (Windows), and the kernel keeps TCP."""
    if os.name == "nt":
        return None
    folder = tempfile.mkdtemp(prefix="review-kit-kernel-")  # mode 0700
    kernel_manager.transport = "ipc"
    # A short absolute path: a socket's path is limited to about a hundred bytes.
    kernel_manager.ip = os.path.join(folder, "k")
    return folder


def execute_notebook(notebook: Path, output: Path, parameters: dict[str, Any], *,
                     progress: bool = False, cwd: Path | None = None,
                     while_kernel_starts: Callable[[], None] | None = None,
                     preload: Sequence[str] = (), keep_failed: bool = True) -> Path:
    """Run a notebook with papermill; a failing cell becomes a NotebookRunError.

    ``while_kernel_starts``: work for this process while the kernel boots (it runs in the
    notebook's folder, before the first cell). ``preload``: modules the kernel imports as it
    boots (what the first cell imports), in parallel with that work."""
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    _register_engine()

    if "store" in parameters:
        parameters = {**parameters, "store": _store_parameter(str(parameters["store"]))}

    output.parent.mkdir(parents=True, exist_ok=True)
    failure = None
    # Written once, beside the target and renamed: a re-run never leaves half a notebook.
    with replacing(output) as partial:
        try:
            papermill.execute_notebook(
                str(notebook), str(partial), parameters=parameters, kernel_name=KERNEL,
                progress_bar=progress, log_output=False, cwd=str(cwd or output.parent),
                # papermill otherwise rewrites the whole notebook (charts and all) before and
                # after every cell; the output is written once, atomically
                request_save_on_cell_execute=False,
                engine_name=ENGINE, while_kernel_starts=while_kernel_starts, preload=tuple(preload),
            )
        except PapermillExecutionError as exc:
            # Keep the failed notebook for reading, under the real name, then fail loudly
            # (unless it must not be kept: a redacted run leaves nothing when it fails).
            failure = NotebookRunError(str(output), f"{exc.ename}: {exc.evalue}")
            if not keep_failed:
                raise failure from None
        except DeadKernelError:
            # The kernel process ended under the cell (the system stopped it, most often for
            # memory): one line for the user, and no half-run notebook left behind.
            raise NotebookRunError(str(output), "the notebook's kernel died while running "
                                   "(out of memory?); the notebook was not written") from None
    if failure is not None:
        raise failure
    return output


def _ahead(open_view: Callable[[], Any], work: Callable[[Any], None]) -> None:
    """Work for the notebook done ahead in this process on the view `open_view` gives. Any
    failure here is left to the notebook, which meets it again and reports it in the
    executed notebook, where the reader looks."""
    try:
        view = open_view()
    except Exception:  # noqa: BLE001
        return
    try:
        work(view)
    except Exception:  # noqa: BLE001
        pass
    finally:
        view.store.close()


def _draw_charts_ahead(store: str, incident_id: str, folder: Path, redact: bool) -> None:
    """Draw the retrospective's charts here while its kernel starts; the notebook shows them
    if its own data gives the same chart keys, and draws them itself otherwise."""
    from ..notebook.retrospective import RetrospectiveView

    def work(view: RetrospectiveView) -> None:
        view.draw_charts()
        # The similarity index, which "Seen before" needs current, while the kernel starts.
        # Not every incident's milestones: deriving a big history's costs more than the past
        # year the notebook reads when they are stale (the ingest keeps them).
        from ..notebook.similar_history import similarity_index
        similarity_index(view.store)

    _ahead(lambda: RetrospectiveView.open(store, incident_id, output_dir=folder, redact=redact,
                                          interactive=False), work)


def _draw_trend_charts_ahead(store: str, since: str | None, until: str | None, folder: Path,
                             stop: threading.Event) -> None:
    """Draw the trend report's charts in this process, in a thread, while the kernel starts
    and runs the first cells; the notebook shows each one already drawn from the same data
    (chart keys), and draws any it reaches first itself."""
    from ..notebook.trends import TrendsView
    _ahead(lambda: TrendsView.open(store, since=since, until=until, output_dir=folder),
           lambda view: view.draw_charts(stop))


def run_retro(store: str, incident_id: str, out_dir: str | os.PathLike, *,
              template: str | None = None, redact: bool = False,
              progress: bool = False, figure_formats: str = "png") -> RunOutputs:
    """Execute the retrospective for one incident into OUT/ID/ and export its HTML report.

    A redacted run works in a staging folder beside OUT/ID/ and moves its files in only when
    every one is written: a redacted run that fails leaves nothing behind."""
    folder = incident_folder(out_dir, incident_id)
    if not redact:
        folder.mkdir(parents=True, exist_ok=True)
        return _run_retro_in(folder, store, incident_id, template, False, progress, figure_formats)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name[:40]}.", suffix=".staging",
                                    dir=folder.parent))
    try:
        outputs = _run_retro_in(staging, store, incident_id, template, True, progress,
                                figure_formats)
        folder.mkdir(exist_ok=True)
        moved = RunOutputs(folder)
        for entry in sorted(staging.iterdir()):
            os.replace(entry, folder / entry.name)
        moved.files = {name: folder / path.name for name, path in outputs.files.items()}
        return moved
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _run_retro_in(folder: Path, store: str, incident_id: str, template: str | None,
                  redact: bool, progress: bool, figure_formats: str) -> RunOutputs:
    def while_kernel_starts() -> None:
        _draw_charts_ahead(store, incident_id, folder, bool(redact))
        warm_exporter()  # in a thread, while the cells run

    notebook = execute_notebook(
        RETRO_NOTEBOOK, folder / "retrospective.ipynb",
        {"incident_id": incident_id, "store": store, "output_dir": str(folder),
         "template": template or "", "redact": bool(redact), "interactive": False,
         "figure_formats": figure_formats or "png"},
        progress=progress, while_kernel_starts=while_kernel_starts,
        preload=("review_kit.notebook.retrospective",),
    )
    html = export_html(notebook, folder / "retrospective.html", title=f"Retrospective {incident_id}")
    outputs = RunOutputs(folder, {"notebook": notebook, "html": html})
    for name, filename in (("postmortem", "postmortem.md"), ("timeline", "timeline.png"),
                           ("responders", "responders.png"), ("timeline_svg", "timeline.svg")):
        if (folder / filename).exists():
            outputs.files[name] = folder / filename
    return outputs


def run_trends(store: str, out_dir: str | os.PathLike, *, since: str | None = None,
               until: str | None = None, progress: bool = False, redact: bool = False,
               figure_formats: str = "png") -> RunOutputs:
    """Execute the trend notebook over the store into OUT/ and export its HTML report."""
    folder = Path(out_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    ahead = threading.Thread(target=_draw_trend_charts_ahead, name="trend charts ahead",
                             args=(store, since, until, folder, stop), daemon=True)

    def while_kernel_starts() -> None:
        warm_exporter()
        if not redact:  # a redacted run writes nothing it might have to leave half done
            ahead.start()

    try:
        notebook = execute_notebook(
            TRENDS_NOTEBOOK, folder / "trends.ipynb",
            {"store": store, "since": since or "", "until": until or "", "output_dir": str(folder),
             "redact": bool(redact), "figure_formats": figure_formats or "png"},
            progress=progress, while_kernel_starts=while_kernel_starts,
            preload=("review_kit.notebook.trends",), keep_failed=not redact,
        )
    finally:
        stop.set()
        if ahead.is_alive():
            ahead.join()
    html = export_html(notebook, folder / "trends.html", title="Incident trends")
    return RunOutputs(folder, {"notebook": notebook, "html": html})
