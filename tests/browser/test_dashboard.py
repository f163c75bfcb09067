"""The approvals dashboard (`make approvals`: scripts/run_approvals.py, Voilà) in a real browser.

Started as the workshop leader starts it, against the session's local cloud
and stack; an incident fired after the page is open must appear by itself
(the periodic refresh), Deny must keep the policy reverted, and stopping the
script must leave no Voilà or kernel process behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def _descendants(pid: int) -> set:
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        children = {child for child, parent in parents.items() if parent == current}
        todo.extend(children - found)
        found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def dashboard(tmp_path, deployed_stack, local_cloud):
    """scripts/run_approvals.py on a free port; yields (url, process); stopped with SIGTERM after."""
    from cloud_fixtures import MAIN_STACK

    log = (tmp_path / "voila.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "run_approvals.py"), "--endpoint", local_cloud,
         "--stack-name", MAIN_STACK, "--port", "0", "--refresh", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    url, lines = None, []
    for line in process.stdout:  # ends if the script exits
        lines.append(line)
        if line.startswith("Approvals dashboard for stack"):
            url = line.rsplit(": ", 1)[1].strip()
            break
    try:
        assert url, "run_approvals.py printed no URL:\n" + "".join(lines) + (tmp_path / "voila.log").read_text()
        assert url.startswith("http://127.0.0.1:")
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def test_dashboard_shows_a_new_incident_and_denies_it(dashboard, page, new_incident, screenshots):
    url, process = dashboard
    page.goto(url)
    board = page.locator(".workshop-approvals-dashboard")
    page.get_by_role("heading", name="Security orchestrator · approvals").wait_for()
    board.get_by_text("Recent executions").wait_for()

    incident = new_incident("dashboard-deny")  # after the page is open: the refresh must bring it
    card = board.locator(".workshop-approval-card").filter(has_text=f"Policy {incident.policy_name}")
    card.wait_for()
    assert "s3:DeleteBucket" in card.inner_text()
    page.screenshot(path=str(screenshots / "dashboard_before.png"))

    card.get_by_role("button", name="Deny").click()
    decision = board.locator(".workshop-decision").filter(has_text=incident.policy_name)
    decision.get_by_text("The execution is now SUCCEEDED").wait_for()
    assert decision.inner_text().startswith("Denied")
    # the incident's execution (the orchestrator's own revert has a row of its own: IgnoreOwnChange)
    row = board.locator("table.workshop-executions tr").filter(has_text=incident.policy_name) \
        .filter(has_text="usersChoice → denied")
    row.filter(has_text="SUCCEEDED").wait_for()
    card.wait_for(state="detached")  # decided: it left the waiting list at the next refresh
    page.screenshot(path=str(screenshots / "dashboard.png"))

    assert incident.status() == "SUCCEEDED"
    assert incident.is_reverted(), incident.document()
    assert not incident.is_restored()

    # Stopping the script stops Voilà and its kernel.
    spawned = _descendants(process.pid)
    assert spawned, "Voilà was not a child of run_approvals.py"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert "Approvals dashboard stopped." in process.stdout.read()
    left = {pid for pid in spawned if _alive(pid)}
    assert not left, f"still running after the dashboard stopped: {left}"
