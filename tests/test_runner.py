"""The papermill engine of review_kit.automation.runner: work done while the kernel starts, modules the
kernel imports as it boots, and the HTML export (nbconvert's page, with its accessibility pass
done without re-parsing the page)."""
from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from review_kit.report.html_export import _new_exporter, accessible
from review_kit.automation.runner import KERNEL, execute_notebook

KERNELSPEC = {"kernelspec": {"name": KERNEL, "language": "python", "display_name": "Python 3"}}


def children() -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def stream_text(notebook: Path) -> str:
    nb = nbformat.read(str(notebook), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_work_runs_before_the_first_cell_while_the_kernel_imports_the_preload(tmp_path):
    source = tmp_path / "probe.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(
        "import sys, pathlib\n"
        "print(pathlib.Path('drawn.txt').read_text())\n"
        "print('review_kit.report.chart_files' in sys.modules, 'review_kit' in dir())")],
        metadata=KERNELSPEC), source)
    seen: list[str] = []

    def work() -> None:
        seen.append(os.getcwd())
        Path("drawn.txt").write_text("drawn ahead")

    before = children()
    out = execute_notebook(source, tmp_path / "run" / "probe.ipynb", {}, while_kernel_starts=work,
                           preload=("review_kit.report.chart_files",))
    # In the notebook's folder, before the first cell; the preload imported, no name bound.
    assert seen == [str(tmp_path / "run")]
    assert stream_text(out) == "drawn ahead\nTrue False\n"
    assert children() <= before  # the kernel is gone


def test_failing_work_stops_the_kernel_and_fails_the_run(tmp_path):
    source = tmp_path / "probe.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1")], metadata=KERNELSPEC), source)

    def work() -> None:
        raise RuntimeError("drawing failed")

    before = children()
    with pytest.raises(RuntimeError, match="drawing failed"):
        execute_notebook(source, tmp_path / "run" / "probe.ipynb", {}, while_kernel_starts=work)
    assert children() <= before


def test_the_kernel_talks_over_sockets_only_this_user_can_open_and_leaves_none(tmp_path, monkeypatch):
    """ipc sockets in a private folder, not TCP ports any local user can reach (ipykernel
    warned about those on every run); the folder is gone once the kernel is."""
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    source = tmp_path / "probe.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(
        "import os, stat\n"
        "from ipykernel.kernelapp import IPKernelApp\n"
        "app = IPKernelApp.instance()\n"
        "folder = os.path.dirname(app.ip)\n"
        "print(app.transport, stat.S_IMODE(os.stat(folder).st_mode) == 0o700,\n"
        "      any(name.startswith('k-') for name in os.listdir(folder)))")],
        metadata=KERNELSPEC), source)
    out = execute_notebook(source, tmp_path / "run" / "probe.ipynb", {})
    assert stream_text(out) == "ipc True True\n"
    assert list((tmp_path / "tmp").iterdir()) == []
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["probe.ipynb"]


def test_a_kernel_that_dies_is_one_line_and_leaves_no_notebook(tmp_path):
    """A kernel stopped under a cell (the system's out-of-memory killer) ends as the one-line
    NotebookRunError the CLI prints, not papermill's traceback."""
    from review_kit.errors import NotebookRunError
    source = tmp_path / "probe.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("import os, signal\n"
                                                     "os.kill(os.getpid(), signal.SIGKILL)")],
                                metadata=KERNELSPEC), source)
    target = tmp_path / "run" / "probe.ipynb"
    with pytest.raises(NotebookRunError) as error:
        execute_notebook(source, target, {})
    assert "kernel died" in str(error.value) and "\n" not in str(error.value)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_accessible_marks_outputs_focusable_and_images_described():
    page = ('<div class="jp-RenderedImage jp-OutputArea-output ">'
            '<img src="data:image/png;base64,AAAA"></div>'
            '<div id="x1" class="jupyter-widgets jp-OutputArea-output "></div>'
            '<div class="jp-Cell-outputWrapper"><img alt="chart" src="a.png"></div>'
            '<p>&lt;img src=x&gt; &lt;div class="jp-OutputArea-output"&gt;</p>')
    done = accessible(page)
    assert done.count('tabindex="0"') == 2
    assert '<img alt="No description has been provided for this image" src="data:' in done
    assert '<img alt="chart" src="a.png">' in done
    assert done.endswith('<p>&lt;img src=x&gt; &lt;div class="jp-OutputArea-output"&gt;</p>')


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, tuple]] = []

    def handle_starttag(self, tag, attrs):
        # BeautifulSoup rewrites class lists with single spaces: compare them as lists.
        self.tags.append((tag, tuple(sorted(
            (k, " ".join((v or "").split()) if k == "class" else v or "") for k, v in attrs))))

    handle_startendtag = handle_starttag


def tags(html: str) -> list[tuple[str, tuple]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def test_the_report_is_nbconvert_page_element_for_element(tmp_path):
    from nbconvert import HTMLExporter

    nb = new_notebook(cells=[
        new_markdown_cell("# Title\n\nSome *text*"),
        new_code_cell("x", outputs=[
            nbformat.v4.new_output("display_data", data={
                "text/html": "<table><tr><td>&lt;script&gt;</td></tr></table>"}),
            nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}),
            nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="},
                                   metadata={"image/png": {"alt": "timeline"}}),
            nbformat.v4.new_output("stream", name="stdout", text="done\n")])],
        metadata={**KERNELSPEC, "title": "Report"})
    options = dict(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    ours, _ = _new_exporter().from_notebook_node(nb)
    theirs, _ = HTMLExporter(**options).from_notebook_node(nb)

    # The same page but for what it would fetch (require.js, MathJax, Mermaid: their scripts
    # are dropped) and the alt text an image carries (kept, where nbconvert writes a default).
    # (MathJax's and Mermaid's style and markup in the head go with them.)
    def comparable(html: str) -> list[tuple[str, tuple]]:
        found = tags(html)
        body = next(i for i, (tag, _) in enumerate(found) if tag == "body")
        return [(tag, tuple(a for a in attrs if a[0] != "alt")) for tag, attrs in found[body:]
                if tag != "script"]

    assert comparable(ours) == comparable(theirs)
    assert not [t for t in tags(ours) if t[0] == "script"]
    assert [t for t in tags(theirs) if t[0] == "script" and dict(t[1]).get("src", "").startswith("https://")]
    alts = [dict(attrs).get("alt") for tag, attrs in tags(ours) if tag == "img"]
    assert alts == ["No description has been provided for this image", "timeline"]
