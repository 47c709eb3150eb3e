"""Safe to share: sanitised facilitator Markdown, writes that never follow a planted symlink,
one folder per incident id, and a store password that never leaves the process."""
from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import mistune
import pytest

from review_kit.cli import main
from review_kit.paths import incident_folder, replacing, safe_name, write_file
from review_kit.report.markup import markdown_html, safe_markdown
from review_kit.report.postmortem import (
    postmortem_context,
    render_postmortem,
    render_postmortem_html,
)
from review_kit.store.database import hidden_url, url_has_secret

from backends import pg_database, pg_store_location  # noqa: F401  (fixtures)

HOSTILE_NOTES = "\n".join([
    "Root cause: **config** push, see [runbook](javascript:alert(1)).",
    "Also [the dashboard][dash] and [tab][t2] and <JaVaScRiPt:alert(3)>.",
    "<script>alert(4)</script> <img src=x onerror=alert(5)> <a href=\"#\" onclick=\"x()\">c</a>",
    "<iframe src=\"https://evil.example/frame\"></iframe>",
    "![tracker](https://evil.example/pixel.png) ![inline](data:image/png;base64,AAAA)",
    "[data](data:text/html;base64,PHNjcmlwdD4=) [tab](java\tscript:alert(6))",
    "[ok](https://wiki.example.com/runbooks/checkout) and [mail](mailto:oncall@example.com)",
    "",
    "[dash]: javascript:alert(2)",
    "[t2]: VBSCRIPT:msgbox(1)",
])


class Elements(HTMLParser):
    """Every element, attribute and text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):  # noqa: ANN001
        self.text.append(data)


def assert_inert(html: str) -> None:
    parsed = Elements(html)
    names = {tag for tag, _ in parsed.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "style", "frame"}, names
    for tag, attrs in parsed.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert "src" not in attrs and "style" not in attrs, (tag, attrs)
        href = "".join((attrs.get("href") or "").split()).lower()
        assert not href or href.startswith(("https://", "http://", "mailto:", "#")), href


def test_sanitised_markdown_keeps_safe_links_and_drops_the_rest() -> None:
    text = safe_markdown(HOSTILE_NOTES)
    assert "[ok](https://wiki.example.com/runbooks/checkout)" in text
    assert "[mail](mailto:oncall@example.com)" in text
    assert "**config**" in text
    for word in ("javascript:alert(1)", "javascript:alert(2)", "VBSCRIPT", "data:text/html",
                 "(data:image", "![", "[dash]:", "[t2]:"):
        assert word not in text, word
    # Whatever renderer later reads the postmortem (wikis allow raw HTML) makes only text of it.
    assert_inert(mistune.create_markdown(escape=False, plugins=["table"])(text))
    assert "<script>alert(4)</script>" in "".join(
        Elements(mistune.create_markdown(escape=False)(text)).text)


def test_sanitised_html_has_no_script_handler_frame_remote_image_or_unsafe_link() -> None:
    html = markdown_html(HOSTILE_NOTES)
    assert_inert(html)
    parsed = Elements(html)
    hrefs = [a.get("href") for tag, a in parsed.tags if tag == "a"]
    assert "https://wiki.example.com/runbooks/checkout" in hrefs
    assert "mailto:oncall@example.com" in hrefs
    # The remote image is a link a reader may follow, never loaded with the page.
    assert "https://evil.example/pixel.png" in hrefs
    text = "".join(parsed.text)
    assert "<script>alert(4)</script>" in text and "runbook" in text and "the dashboard" in text


def test_both_postmortems_sanitise_every_facilitator_section() -> None:
    notes = {field: HOSTILE_NOTES for field in ("summary", "impact", "root_causes", "lessons")}
    ctx = postmortem_context({"incident_id": "INC-1", "title": "Checkout down"}, {}, None, notes,
                             [{"title": "Fix it", "url": "javascript:alert(9)"}])
    markdown = render_postmortem(ctx)
    assert "javascript:alert(2)" not in markdown and "](javascript" not in markdown
    assert "![" not in markdown
    assert_inert(mistune.create_markdown(escape=False, plugins=["table"])(markdown))
    html = render_postmortem_html(ctx)
    prose = re.findall(r'<div class="prose">(.*?)</div>', html, re.S)
    assert len(prose) == 4
    assert_inert("".join(prose))
    assert "<script" not in html.replace("<script>alert", "") and "onerror=" not in \
        html.replace("&lt;img src=x onerror=", "")
    assert html.count('href="https://wiki.example.com/runbooks/checkout"') >= 4


def test_the_retrospective_cell_shows_the_postmortem_as_sanitised_html(inc7_store, tmp_path):
    from review_kit.notebook.retrospective import RetrospectiveView
    inc7_store.set_annotation("INC-7", "summary", HOSTILE_NOTES)
    view = RetrospectiveView(inc7_store, "INC-7", tmp_path / "out", interactive=False, config={})
    shown = view.postmortem()
    assert_inert(shown._repr_html_())
    assert "[ok](https://wiki.example.com/runbooks/checkout)" in shown._repr_markdown_()


# --- writes --------------------------------------------------------------------------------

def test_a_planted_symlink_is_replaced_never_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "postmortem.md").symlink_to(victim)
    write_file(out / "postmortem.md", "# new")
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert not (out / "postmortem.md").is_symlink()
    assert (out / "postmortem.md").read_text(encoding="utf-8") == "# new"
    assert sorted(p.name for p in out.iterdir()) == ["postmortem.md"]


def test_the_postmortem_cell_does_not_follow_a_planted_symlink(inc7_store, tmp_path):
    from review_kit.notebook.retrospective import RetrospectiveView
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "postmortem.md").symlink_to(victim)
    RetrospectiveView(inc7_store, "INC-7", out, interactive=False, config={}).postmortem()
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert "INC-7" in (out / "postmortem.md").read_text(encoding="utf-8")


def test_temporary_files_are_unpredictable_exclusive_and_cleaned_up(tmp_path):
    names = set()
    for _ in range(3):
        with replacing(tmp_path / "report.html") as partial:
            assert partial.parent == tmp_path and partial.exists() and not partial.is_symlink()
            names.add(partial.name)
            partial.write_text("x", encoding="utf-8")
    assert len(names) == 3
    with pytest.raises(RuntimeError):
        with replacing(tmp_path / "other.html") as partial:
            raise RuntimeError("drawing failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_ids_differing_in_unicode_width_or_case_never_share_a_folder(tmp_path):
    ids = ["INC-1", "ＩＮＣ-1", "inc-1", "Inc-1", "INC\u20111", "ｉｎｃ－１"]
    assert len({safe_name(i) for i in ids}) == len(ids)
    # On a filesystem that folds case, names are folded and still distinct.
    folded = {safe_name(i, fold_case=True) for i in ids}
    assert len(folded) == len(ids)
    assert len({f.casefold() for f in folded}) == len(ids)
    assert safe_name("INC-1") == "INC-1" and safe_name("inc-1", fold_case=True) == "inc-1"
    folders = {incident_folder(tmp_path, i) for i in ids}
    assert len(folders) == len(ids) and all(f.parent == tmp_path for f in folders)


def test_retro_all_writes_one_folder_per_unicode_or_case_variant_id(tmp_path):
    from review_kit.automation.outputs import retrospective_rows
    from review_kit.store import Store
    store = Store.open(tmp_path / "review.db")
    ids = ["INC-1", "ＩＮＣ-1", "inc-1"]
    rows = ["incident_id,at,kind,actor,summary"] + [
        f"{i},2024-04-01T08:0{n}:00Z,{kind},pd,{kind} {n}"
        for n, i in enumerate(ids) for kind in ("triggered", "resolved")]
    (tmp_path / "events.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    store.ingest("csv", tmp_path / "events.csv")
    out = tmp_path / "out"
    for incident_id in ids:
        folder = incident_folder(out, incident_id)
        folder.mkdir()
        (folder / "retrospective.html").write_text(incident_id, encoding="utf-8")
    listed = retrospective_rows(store, out)
    assert sorted(listed["incident_id"]) == sorted(ids)
    for row in listed.to_dict("records"):
        assert (out / row["folder"] / "retrospective.html").read_text(encoding="utf-8") == \
            row["incident_id"]


# --- the store's password ----------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "postgresql://app:hunter2secret@db.internal:5432/reviews",
    "postgresql://app@db.internal:5432/reviews?password=hunter2secret",
    "postgresql+psycopg://app@db.internal/reviews?sslmode=require&PASSWORD=hunter2secret",
])
def test_a_store_password_is_hidden_in_messages_and_kept_out_of_notebooks(url, monkeypatch):
    from review_kit.automation.runner import _store_parameter
    assert url_has_secret(url)
    assert "hunter2secret" not in hidden_url(url) and "***" in hidden_url(url)
    monkeypatch.delenv("REVIEW_KIT_STORE", raising=False)
    assert _store_parameter(url) == ""  # the notebook gets no URL; the kernel reads the env
    assert os.environ["REVIEW_KIT_STORE"] == url
    assert _store_parameter("postgresql://app@db.internal/reviews") == \
        "postgresql://app@db.internal/reviews"


@pytest.mark.parametrize("url", [
    "postgresql://app:hunter2secret@127.0.0.1:5x/reviews",      # a mistyped port
    "postgresql://app:hunter2secret@127.0.0.1:99999/reviews",   # a port out of range
    "postgresql://app:hunter2secret@127.0.0.1:1/reviews",       # nothing listening
    "postgresql://app@127.0.0.1:1/reviews?password=hunter2secret",
    "postgresql://app:hunter2secret@[::1/reviews",
    "mysql://app:hunter2secret@127.0.0.1/reviews",
])
def test_a_bad_store_url_is_one_line_without_the_password(url, capsys, monkeypatch):
    monkeypatch.delenv("REVIEW_KIT_DEBUG", raising=False)
    assert main(["--store", url, "incidents"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("review-kit: ")
    assert "hunter2secret" not in captured.err and "Traceback" not in captured.err


@pytest.mark.slow
def test_retro_all_exits_non_zero_when_a_run_failed(tmp_path, capsys):
    from review_kit.store import Store
    store = Store.open(tmp_path / "review.db")
    (tmp_path / "events.csv").write_text(
        "incident_id,at,kind,actor,summary\nINC-1,2024-04-01T08:00:00Z,triggered,pd,Paged\n"
        "INC-1,2024-04-01T09:00:00Z,resolved,Ana,Fixed\n", encoding="utf-8")
    store.ingest("csv", tmp_path / "events.csv")
    store.close()
    broken = tmp_path / "broken.md.j2"
    broken.write_text("{{ no_such_value }}\n", encoding="utf-8")
    code = main(["--store", str(tmp_path / "review.db"), "-q", "retro", "--all",
                 "--template", str(broken), "--out", str(tmp_path / "out")])
    assert code == 1
    assert "0 retrospective(s) done" in capsys.readouterr().out


@pytest.mark.slow
def test_a_store_password_in_the_url_query_reaches_no_output(pg_store_location, tmp_path, capsys,
                                                            monkeypatch):
    """The password given as `?password=` (or in the user part): the retrospective runs, and
    no notebook, report or message holds it."""
    from sqlalchemy.engine import make_url

    from review_kit.store import Store
    location = make_url(pg_store_location())
    password = location.password
    if not password:
        pytest.skip("the test server takes no password")
    in_query = location.set(password=None).update_query_dict({"password": password})
    url = in_query.render_as_string(hide_password=False)
    assert password in url
    monkeypatch.delenv("REVIEW_KIT_STORE", raising=False)
    store = Store.open(url)
    (tmp_path / "events.csv").write_text(
        "incident_id,at,kind,actor,summary\nINC-1,2024-04-01T08:00:00Z,triggered,pd,Paged\n"
        "INC-1,2024-04-01T09:00:00Z,resolved,Ana,Fixed\n", encoding="utf-8")
    store.ingest("csv", tmp_path / "events.csv")
    assert password not in store.url
    store.close()
    out = tmp_path / "out"
    assert main(["--store", url, "-q", "retro", "INC-1", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"retrospective.ipynb", "retrospective.html", "postmortem.md"} <= {p.name for p in files}
    assert not [p.name for p in files if password.encode() in p.read_bytes()]
    assert password not in captured.out + captured.err
