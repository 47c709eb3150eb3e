"""Executed notebooks as HTML reports: code hidden, outputs as produced."""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from ..paths import write_file

# nbconvert's own accessibility pass (alt text on every image, outputs reachable by keyboard)
# re-parses the finished page with BeautifulSoup's pure-Python parser: 0.6 s for the 500-row
# timeline of a 2,000-event incident, more than the rest of the export. The same two edits,
# made on the page as the template wrote it:
_FOCUSABLE_DIV = re.compile(
    r'(<div (?:id="[^"]*" )?class="[^"]*\bjp-(?:OutputArea-output|Cell-inputWrapper)\b[^"]*")')
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")
_NO_ALT_TEXT = ' alt="No description has been provided for this image"'


def accessible(html: str) -> str:
    """Every output (and markdown cell) focusable and every image with alt text, as nbconvert's
    HTMLExporter makes them; its lab template writes each as a div of those classes."""
    html = _FOCUSABLE_DIV.sub(r'\1 tabindex="0"', html)
    return _IMG_WITHOUT_ALT.sub("<img" + _NO_ALT_TEXT, html)


def _exporter_class() -> type:
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class ReportExporter(HTMLExporter):
        """HTMLExporter with its accessibility pass done by `accessible` (same result)."""

        def from_notebook_node(self, nb, resources=None, **kw):  # type: ignore[override]
            # HTMLExporter.from_notebook_node up to its BeautifulSoup pass.
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            self.register_filter("highlight_code", self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return accessible(html), resources

    return ReportExporter


# Our template: JupyterLab's, with nothing fetched when the page opens and images' alt text kept.
TEMPLATE_DIR = Path(__file__).resolve().parent / "nbconvert"
TEMPLATE_FILE = "review_kit.html.j2"


def _new_exporter() -> Any:
    return _exporter_class()(exclude_input=True, exclude_input_prompt=True,
                             exclude_output_prompt=True, template_name="lab",
                             extra_template_basedirs=[str(TEMPLATE_DIR)],
                             extra_template_paths=[str(TEMPLATE_DIR)],
                             template_file=TEMPLATE_FILE)


_warm: dict[str, Any] = {}


def warm_exporter() -> None:
    """Import nbconvert and compile its templates in a thread (while a kernel works): that is
    most of the first export's cost."""
    def warm() -> None:
        from nbformat.v4 import new_notebook
        exporter = _new_exporter()
        exporter.from_notebook_node(new_notebook())
        _warm["exporter"] = exporter

    _warm["thread"] = threading.Thread(target=warm, daemon=True)
    _warm["thread"].start()


def _exporter() -> Any:
    """The exporter warmed by `warm_exporter` when there is one, else a new one."""
    thread = _warm.pop("thread", None)
    if thread is not None:
        thread.join()
    exporter = _warm.pop("exporter", None)
    return _new_exporter() if exporter is None else exporter


def export_html(notebook: Path, html: Path, *, title: str | None = None) -> Path:
    """Write the executed `notebook` as the report `html` (atomically)."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    if title:
        nb.metadata["title"] = title
    body, _ = _exporter().from_notebook_node(nb)
    return write_file(html, body)
