"""The real-browser test: JupyterLab on loopback, Debian's chromium driven headless by Playwright,
runs the retrospective notebook, uses the facilitator's widgets and checks the store.

Needs /usr/bin/chromium (apt package `chromium`) and the `playwright` Python package (never
`playwright install`: the system browser is used). Without them the test is skipped, unless
REVIEW_KIT_REQUIRE_BROWSER=1 (CI), where it fails instead.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from review_kit.store.ingest import ingest_paths
from review_kit.store import Store

ROOT = Path(__file__).resolve().parents[1]
# Debian's chromium; another system browser can be named for a local run.
CHROMIUM = Path(os.environ.get("REVIEW_KIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAYLOAD = "<img src=x onerror=\"window.__reviewKitXss=1\"> rollback of checkout v2.3 started"
ANNOTATION = "Card authorisations failed after a config push; the rollback fixed it."
ACTION_ITEM = "Canary every payments config push"
SERVER_START_TIMEOUT = 40
RUN_ALL_TIMEOUT = 60

pytestmark = pytest.mark.slow


def _browser_or_skip():
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        problems.append("the playwright Python package is missing (pip install playwright)")
    if problems:
        reason = "real-browser test needs: " + "; ".join(problems)
        if os.environ.get("REVIEW_KIT_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (REVIEW_KIT_REQUIRE_BROWSER=1)")
        pytest.skip(reason)


def _root_conftest():
    spec = importlib.util.spec_from_file_location("review_kit_root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_settings(folder: Path) -> None:
    """JupyterLab user settings for a quiet, deterministic session."""
    settings = {
        # Every cell stays in the DOM, so prompts and outputs can be read wherever they are.
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        # No news or update checks: the test must not reach the internet.
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, value in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")


def _wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"jupyter lab did not answer within {SERVER_START_TIMEOUT} s:\n"
                         f"{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _wait_for_store(store_path: Path, read, expected, timeout: float = 15.0):
    """Poll the store (the kernel writes it from another process) until read(store) == expected;
    returns the last value read."""
    deadline = time.monotonic() + timeout
    while True:
        store = Store.open(store_path, create=False)
        try:
            value = read(store)
        finally:
            store.close()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _incident_title(store_path: Path, incident_id: str) -> str:
    store = Store.open(store_path, create=False)
    try:
        return str(store.incident(incident_id)["title"])
    finally:
        store.close()


def _items(store: Store, incident_id: str, title: str) -> list[list[str]]:
    items = store.action_items(incident_id)
    return items.loc[items["title"] == title, ["owner", "type", "status"]].values.tolist()


@pytest.fixture
def lab(tmp_path: Path):
    """JupyterLab serving a copy of the retrospective notebook over a sample store that holds
    a chat message with an HTML/JS payload. Yields (base_url, token, store_path, incident_id)."""
    _browser_or_skip()
    store_path = _root_conftest().build_sample_store(tmp_path / "data", n_incidents=8)
    store = Store.open(store_path)
    # The incident the test picks in the picker: the most recent one (the picker's first).
    incident_id = str(store.incidents().sort_values("created_at").iloc[-1]["incident_id"])
    first = store.events(incident_id)["at"].min()
    chat = tmp_path / "data" / "chat.csv"
    chat.write_text("incident_id,at,kind,actor,summary,source\n"
                    f"{incident_id},{(first + pd.Timedelta(minutes=3)).isoformat()},"
                    f"message,Mallory,\"{PAYLOAD.replace(chr(34), chr(34) * 2)}\",slack\n",
                    encoding="utf-8")
    ingest_paths(store, "csv", [chat], quiet=True)
    store.close()

    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "retrospective.ipynb", root / "retrospective.ipynb")
    settings = tmp_path / "settings"
    _write_settings(settings)
    token = secrets.token_hex(16)
    env = dict(os.environ, REVIEW_KIT_STORE=str(store_path), MPLBACKEND="Agg",
               REVIEW_KIT_AUTHOR="browser-test",
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    server, base = _start_lab(root, token, env, tmp_path / "jupyter.log")
    try:
        yield base, token, store_path, incident_id, root
    finally:
        _stop(server)


def _start_lab(root: Path, token: str, env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    """Start JupyterLab on a free loopback port; try another port if the one picked was taken
    between choosing it and binding it (the only start-up race)."""
    for attempt in range(3):
        port = _free_port()
        with log.open("wb") as log_file:
            server = subprocess.Popen(
                [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                 f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                 f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                 "--LabApp.expose_app_in_browser=True",
                 "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                 # CI containers run as root; the server listens on loopback only, with a token.
                 *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
                stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=root)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(f"{base}/api/status?token={token}", server, log)
            return server, base
        except AssertionError:
            _stop(server)
            if attempt == 2 or "already in use" not in log.read_text(errors="replace"):
                raise
    raise AssertionError("unreachable")


def test_facilitator_in_a_real_browser(lab) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, token, store_path, incident_id, root = lab
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.set_default_timeout(20_000)
            page.goto(f"{base}/lab/tree/retrospective.ipynb?reset&token={token}")
            # The app is exposed (expose_app_in_browser): wait for the notebook and its kernel.
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.connectionStatus === 'connected'",
                timeout=30_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # Done when every code cell has an execution count and the kernel is idle.
            page.wait_for_function(
                """() => {
                    const nb = window.jupyterapp.shell.currentWidget;
                    const cells = Array.from(nb.content.model.cells).filter(c => c.type === 'code');
                    const kernel = nb.sessionContext.session.kernel;
                    return cells.length > 0 && cells.every(c => c.executionCount !== null)
                        && kernel.status === 'idle';
                }""", timeout=RUN_ALL_TIMEOUT * 1000)
            # incident_id is empty: the first cell shows the picker, the rest wait for it.
            picker = page.locator(".rk-picker")
            expect(picker).to_be_visible()
            assert page.locator(".rk-facilitator").count() == 0
            title = _incident_title(store_path, incident_id)
            # Search filters as you type: a word of the title, then the id itself.
            page.locator(".rk-picker-search input").press_sequentially(incident_id, delay=20)
            options = page.locator(".rk-picker-list select option")
            expect(options).to_have_count(1)
            # (ipywidgets writes option labels with non-breaking spaces)
            assert options.first.inner_text().replace("\xa0", " ").startswith(f"{incident_id} · ")
            page.locator(".rk-picker-list select").select_option(index=0)
            page.locator(".rk-picker-open").click()
            # The review fills the cells already run: header, tables, charts, the panel.
            expect(page.locator(".rk-facilitator")).to_be_visible(timeout=30_000)
            expect(page.get_by_text(title, exact=True).first).to_be_visible()
            executed = page.evaluate(
                """() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)
                        .filter(c => c.type === 'code').map(c => c.executionCount)""")
            assert len(set(executed)) == len(executed)  # each cell ran once: no re-run

            errors = page.evaluate(
                """() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)
                        .flatMap(c => c.type === 'code' ? Array.from({length: c.outputs.length},
                                 (_, i) => c.outputs.get(i).toJSON()) : [])
                        .filter(o => o.output_type === 'error')
                        .map(o => o.ename + ': ' + o.evalue)""")
            assert errors == []

            # The explorer rendered, with its count label.
            count = page.locator(".rk-explorer-count")
            expect(count).to_have_text(re.compile(r"^\d+ of \d+ events$"))
            before = count.inner_text()
            total = int(before.split(" of ")[1].split()[0])
            assert before == f"{total} of {total} events"
            rows_before = page.locator(".rk-explorer-table tbody tr").count()

            # A filter changes the table: choose one kind (the injected chat message is one).
            page.locator(".rk-filter-kind select").select_option(label="Chat message")
            expect(count).not_to_have_text(before)
            shown = int(count.inner_text().split(" of ")[0])
            assert 0 < shown < total
            expect(page.locator(".rk-explorer-table tbody tr")).to_have_count(shown)
            assert shown < rows_before
            kinds = page.locator(".rk-explorer-table tbody tr td:nth-child(4)").all_inner_texts()
            assert set(kinds) == {"Chat message"}

            # The chat payload shows as text, in the explorer and in the timeline table; it
            # created no element and its handler never ran.
            expect(page.locator(".rk-explorer-table")).to_contain_text(PAYLOAD)
            assert page.get_by_text(PAYLOAD).count() >= 2
            assert page.locator("img[onerror]").count() == 0
            assert page.evaluate("() => window.__reviewKitXss") is None

            # An annotation typed into the form reaches the store (saved as it is typed).
            page.get_by_role("tab", name="Postmortem").click()
            page.locator(".rk-annotation-summary textarea").fill(ANNOTATION)
            assert _wait_for_store(store_path, lambda s: s.annotations(incident_id).get("summary"),
                                   ANNOTATION) == ANNOTATION
            expect(page.locator(".rk-annotation-status")).to_contain_text("Saved Summary")

            # An action item added through the form reaches the store too.
            page.get_by_role("tab", name="Action items").click()
            page.locator(".rk-action-title input").fill(ACTION_ITEM)
            page.locator(".rk-action-owner input").fill("Bo Chen")
            page.locator(".rk-action-type select").select_option("prevent")
            page.locator(".rk-action-add").click()
            found = _wait_for_store(
                store_path, lambda s: _items(s, incident_id, ACTION_ITEM), [["Bo Chen", "prevent", "open"]])
            assert found == [["Bo Chen", "prevent", "open"]]
        except Exception:
            # Leave what the browser showed beside the server log, for the CI artefacts.
            shot = root.parent / "failure.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}; server log: {root.parent / 'jupyter.log'}")
            raise
        finally:
            if os.environ.get("REVIEW_KIT_SCREENSHOTS"):
                folder = Path(os.environ["REVIEW_KIT_SCREENSHOTS"])
                folder.mkdir(parents=True, exist_ok=True)
                page.locator(".rk-facilitator").screenshot(path=str(folder / "facilitator.png"))
            browser.close()


# --- the reports, offline ---------------------------------------------------------------------

ARTEFACTS = ROOT / "out"  # CI keeps this folder (gitignored) as the run's artefacts


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Both reports as a scheduled run writes them (CLI, papermill, HTML export)."""
    _browser_or_skip()
    from review_kit.cli import main
    folder = tmp_path_factory.mktemp("reports")
    store_path = _root_conftest().build_sample_store(folder / "data", n_incidents=80)
    store = Store.open(store_path, create=False)
    incident_id = str(store.incidents().sort_values("created_at").iloc[-1]["incident_id"])
    store.close()
    assert main(["--store", str(store_path), "retro", incident_id, "--out", str(folder), "--quiet"]) == 0
    assert main(["--store", str(store_path), "trends", "--out", str(folder / "trends"), "--quiet"]) == 0
    return {"retrospective": folder / incident_id / "retrospective.html",
            "trends": folder / "trends" / "trends.html"}


def test_both_reports_render_completely_offline(reports) -> None:
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": 900}, offline=True)
        refused: list[str] = []

        def only_local(route):
            url = route.request.url
            if url.startswith(("file:", "data:")):
                return route.continue_()
            refused.append(url)
            return route.abort()

        context.route("**/*", only_local)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            for name, path in reports.items():
                page.goto(path.as_uri())
                page.wait_for_load_state("load")
                # Every chart decoded (an image that failed to load has no natural width) and
                # described.
                images = page.evaluate("""() => Array.from(document.images).map(i =>
                    ({ok: i.complete && i.naturalWidth > 0, alt: i.alt}))""")
                assert images and all(i["ok"] for i in images), (name, images)
                assert all(len(i["alt"]) > 25 for i in images), (name, images)
                assert page.locator("table.rk-table").count() >= 3, name
                page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
            assert refused == [] and errors == []
            trends = reports["trends"]
            page.goto(trends.as_uri())
            first_table = page.locator("table.rk-table").first
            headers = first_table.locator("thead th").all_inner_texts()
            assert headers[:3] == ["Figure", "Previous period", "This period"]
            assert first_table.locator("tbody tr").count() == 7
        finally:
            browser.close()
