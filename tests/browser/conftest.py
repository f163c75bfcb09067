"""A real JupyterLab server and headless Chromium, for the browser tests.

Chromium is Debian's (`/usr/bin/chromium`, installed by `make test`); nothing
downloads a browser. A missing browser fails the tests, it never skips them.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from polling import wait_for
from stack_incidents import default_document

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("WORKSHOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
]
SCREENSHOTS = ROOT / "build" / "screenshots"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}\n"
                               + (log.read_text()[-3000:] if log else ""))
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s" + (f"\n{log.read_text()[-3000:]}" if log else ""))


def stop(process: subprocess.Popen):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run `apt-get install chromium` "
                    "(make test does it) or set WORKSHOP_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


# JupyterLab user settings for the tests: every cell attached to the page (so a test can
# wait on any cell's prompt), no autosave, no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def write_lab_settings(folder: Path) -> Path:
    for plugin, values in LAB_SETTINGS.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


def start_jupyter_lab(tmp_path_factory, env_extra: dict, root: Path = ROOT) -> tuple[str, str, subprocess.Popen]:
    port, token = free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    log = runtime / "lab.log"
    settings = write_lab_settings(runtime / "lab-settings")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_CONFIG_DIR=str(runtime / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(runtime / "workspaces"),
               **env_extra)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--ServerApp.open_browser=False", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]  # no PyPI queries
    if os.geteuid() == 0:  # CI containers
        command.append("--allow-root")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/status?token={token}", 90, process, log)
    except Exception:
        stop(process)
        raise
    return url, token, process


# --- the deployed stack, a pending incident (plain boto3) ------------------------------------------

POLICIES = ROOT / "policies"
HARMLESS_SID = "RevertedBySecurityOrchestrator"


def boto3_clients(endpoint: str) -> dict:
    import boto3

    from workshop.localcloud.server import credentials

    kwargs = credentials.read(endpoint).boto3_kwargs()
    return {name: boto3.client(name, **kwargs) for name in ("iam", "stepfunctions")}


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    return wait_for(predicate, timeout=timeout, what=what, interval=interval)


class Incident:
    """A bad policy created with plain boto3, and the execution waiting at AskUser for it."""

    def __init__(self, clients: dict, machine_arn: str, prefix: str):
        import uuid

        self.iam, self.sfn = clients["iam"], clients["stepfunctions"]
        self.machine_arn = machine_arn
        self.bad = json.loads((POLICIES / "badpolicy.json").read_text())
        self.policy_name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.policy_arn = self.iam.create_policy(PolicyName=self.policy_name,
                                                 PolicyDocument=json.dumps(self.bad))["Policy"]["Arn"]
        self.execution_arn = wait_until(self._waiting_at_ask_user, 60,
                                        f"an execution for {self.policy_name} to wait at AskUser")

    def _waiting_at_ask_user(self):
        for execution in self.sfn.list_executions(stateMachineArn=self.machine_arn,
                                                  statusFilter="RUNNING")["executions"]:
            events = self.sfn.get_execution_history(executionArn=execution["executionArn"],
                                                    maxResults=1000)["events"]
            if not events:  # just started: no history yet
                continue
            started = events[0].get("executionStartedEventDetails", {}).get("input", "")
            entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
            scheduled = any(e["type"] == "TaskScheduled" for e in events)
            if self.policy_arn in started and entered and entered[-1] == "AskUser" and scheduled:
                return execution["executionArn"]
        return None

    def status(self) -> str:
        return self.sfn.describe_execution(executionArn=self.execution_arn)["status"]

    def ended(self) -> str | None:
        status = self.status()
        return None if status == "RUNNING" else status

    def document(self) -> dict:
        return default_document(self.policy_arn, self.iam)[1]

    def is_restored(self) -> bool:
        return self.document() == self.bad

    def is_reverted(self) -> bool:
        return any(s.get("Sid") == HARMLESS_SID for s in self.document().get("Statement", []))


@pytest.fixture
def new_incident(deployed_stack, local_cloud):
    """`new_incident(prefix)` -> Incident: a bad policy whose execution waits at AskUser."""
    clients = boto3_clients(local_cloud)
    return lambda prefix: Incident(clients, deployed_stack["StateMachineArn"], prefix)


# --- JupyterLab on the notebooks, driven like a learner does -------------------------------------------


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory, deployed_stack) -> Path:
    """The workshop notebooks, as stored, with the test stack's name injected (as papermill does).

    JupyterLab serves this copy: the learner's notebooks in the checkout are never written to.
    """
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from cloud_fixtures import MAIN_STACK

    root = tmp_path_factory.mktemp("lab-root")
    (root / "notebooks").mkdir()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        notebook = load_notebook_node(str(path))
        notebook = parameterize_notebook(notebook, {"stack_name": MAIN_STACK})
        nbformat.write(notebook, str(root / "notebooks" / path.name))
    return root


class Lab:
    def __init__(self, url: str, token: str, process: subprocess.Popen):
        self.url, self.token, self.process = url, token, process

    def open(self, page, path: str) -> "LabNotebook":
        page.goto(f"{self.url}/lab/tree/{path}?reset&token={self.token}")
        notebook = LabNotebook(page)
        notebook.wait_for_kernel()
        return notebook

    def shut_down_kernels(self):
        headers = {"Authorization": f"token {self.token}"}
        for session in requests.get(f"{self.url}/api/sessions", headers=headers, timeout=10).json():
            requests.delete(f"{self.url}/api/sessions/{session['id']}", headers=headers, timeout=30)


# True once every code cell in [start, stop) shows an execution count; the text of a
# traceback as soon as one appears (Run All stops there, so waiting longer is useless).
CELLS_DONE_JS = """([start, stop]) => {
  const cells = [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')].slice(start, stop);
  for (const out of document.querySelectorAll('.jp-NotebookPanel [data-mime-type="application/vnd.jupyter.stderr"]')) {
    if (out.textContent.includes('Traceback')) return 'ERROR ' + out.textContent.slice(0, 3000);
  }
  if (!cells.length) return false;
  return cells.filter(c => c.classList.contains('jp-CodeCell'))
    .every(c => /\\[\\d+\\]/.test(c.querySelector('.jp-InputPrompt').textContent)) ? 'DONE' : false;
}"""


class LabNotebook:
    """One notebook open in JupyterLab: the menus, the cells and their outputs."""

    def __init__(self, page):
        self.page = page

    def wait_for_kernel(self):
        self.page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
        self.page.locator("#jp-main-statusbar").get_by_text("| Idle").wait_for(timeout=90_000)

    def cells(self):
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")

    def menu(self, menu: str, command: str):
        self.page.locator(".lm-MenuBar-item", has_text=menu).first.click()
        self.page.locator(f'.lm-Menu li.lm-Menu-item[data-command="{command}"]').click()

    def wait_for_cells(self, start: int = 0, stop: int | None = None, timeout: float = 120_000):
        stop = stop if stop is not None else self.cells().count()
        handle = self.page.wait_for_function(CELLS_DONE_JS, arg=[start, stop], timeout=timeout)
        state = handle.json_value()
        assert state == "DONE", f"a cell failed in JupyterLab:\n{state}"

    def run_all(self):
        """Run → Run All Cells, then wait until every code cell has run."""
        self.menu("Run", "runmenu:run-all")
        self.wait_for_cells()

    def run_all_above(self, index: int):
        """Select cell `index`, then Run → Run All Above Selected Cell."""
        self.select(index)
        self.menu("Run", "notebook:run-all-above")
        self.wait_for_cells(0, index)

    def select(self, index: int):
        cell = self.cells().nth(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").click()
        self.page.wait_for_function(
            "(i) => document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')[i]"
            ".classList.contains('jp-mod-active')", arg=index)

    def run_cell(self, index: int):
        """Select a cell and press Shift+Enter, as a learner re-runs one cell."""
        before = self.cells().nth(index).locator(".jp-InputPrompt").inner_text()
        self.select(index)
        self.page.keyboard.press("Shift+Enter")
        self.page.wait_for_function(
            "([i, before]) => { const p = document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')[i]"
            ".querySelector('.jp-InputPrompt').textContent; return /\\[\\d+\\]/.test(p) && p !== before; }",
            arg=[index, before])

    def index_of(self, text: str) -> int:
        """The index of the first cell whose source contains `text`."""
        sources = self.cells().evaluate_all("cells => cells.map(c => c.querySelector('.jp-InputArea').textContent)")
        for index, source in enumerate(sources):
            if text in source:
                return index
        raise AssertionError(f"no cell contains {text!r}")


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory, lab_root, local_cloud):
    """JupyterLab on `lab_root`, its kernels pointed at the session's local cloud."""
    url, token, process = start_jupyter_lab(tmp_path_factory, {"WORKSHOP_ENDPOINT": local_cloud,
                                                               "SAM_CLI_TELEMETRY": "0"}, root=lab_root)
    try:
        yield Lab(url, token, process)
    finally:
        stop(process)


@pytest.fixture
def lab(jupyter_lab):
    """The session's JupyterLab; the kernels a test started are shut down after it."""
    try:
        yield jupyter_lab
    finally:
        jupyter_lab.shut_down_kernels()
