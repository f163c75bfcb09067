"""Every workshop notebook, run in order with papermill against a local cloud.

The notebooks decide by themselves (`decision` set), as in `make workshop`.
They run once per module, on a local cloud of their own: the notebooks create
IAM policies, and another stack's EventBridge rule on a shared local cloud
would react to them too. Each test then checks what one notebook must have
established, from its executed copy in build/notebooks/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from notebook_outputs import output_text, outputs

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "notebooks"
NAMES = ["00_setup_check", "01_deploy", "02_build_state_machine", "03_fire_bad_policy", "04_decide",
         "05_execution_history", "06_going_further", "07_cleanup"]


@pytest.fixture(scope="module")
def workshop_run():
    from workshop.localcloud.server import LocalCloud
    from workshop.notebook_run import run_all
    from workshop.session import connect

    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    with LocalCloud() as cloud:
        report = run_all(cloud.endpoint, out_dir=OUT, decision="allow", html=True)
        target = connect("local", cloud.endpoint)
        leftovers = {
            "policies": [p["PolicyName"] for p in target.client("iam").list_policies(Scope="Local")["Policies"]
                         if p["PolicyName"].startswith("workshop-")],
            # SAM's own artifact-bucket stack (--resolve-s3) is shared by every SAM deploy: it stays.
            "stacks": [s["StackName"] for s in target.client("cloudformation").list_stacks()["StackSummaries"]
                       if s["StackStatus"] != "DELETE_COMPLETE" and s["StackName"] != "aws-sam-cli-managed-default"],
        }
        yield report, leftovers


def _outputs(name):
    return outputs(OUT / f"{name}.ipynb")


def _mime(name, mime):
    return [o["data"][mime] for o in _outputs(name) if mime in o.get("data", {})]


def _text(name):
    return output_text(OUT / f"{name}.ipynb")


def test_every_notebook_ran_without_an_error(workshop_run):
    report, _ = workshop_run
    assert [r.name for r in report.results] == NAMES
    assert report.ok, report.text()
    for name in NAMES:
        errors = [o for o in _outputs(name) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        assert (OUT / f"{name}.html").exists()


def test_setup_check_passes(workshop_run):
    assert "All set" in _text("00_setup_check")


def test_deploy_shows_resources_outputs_and_the_architecture(workshop_run):
    text = _text("01_deploy")
    assert "AWS::StepFunctions::StateMachine" in text and "ApproveUrl" in text
    assert any(svg.lstrip().startswith("<svg") for svg in _mime("01_deploy", "image/svg+xml"))
    assert _mime("01_deploy", "text/vnd.mermaid")


def test_build_validates_every_state_and_matches_the_file(workshop_run):
    assert len(_mime("02_build_state_machine", "image/svg+xml")) >= 17
    text = _text("02_build_state_machine")
    assert "still to build" in text.lower()
    assert "identical to the file: True" in text


def test_bad_policy_is_reverted_and_waits_for_a_human(workshop_run):
    text = _text("03_fire_bad_policy")
    assert "reverted; the execution waits at AskUser" in text
    assert "aws --endpoint-url" in text and "iam create-policy" in text
    assert "RevertedBySecurityOrchestrator" not in text or "logs:GetLogGroupFields" in text
    assert _mime("03_fire_bad_policy", "image/svg+xml")


def test_decision_panel_email_and_outcome(workshop_run):
    assert _mime("04_decide", "application/vnd.jupyter.widget-view+json"), "the panel widget is missing"
    text = _text("04_decide")
    assert "approval(s) waiting" in text and "s3:DeleteBucket" in text
    assert "Approval needed: IAM policy workshop-bad-policy-" in text
    assert "Approved (HTTP 200)" in text
    assert "SUCCEEDED via AskUser → usersChoice → approved" in text
    assert "the original document is in force again" in text


def test_history_graph_table_timeline_and_side_by_side(workshop_run):
    svgs = _mime("05_execution_history", "image/svg+xml")
    assert len(svgs) >= 2  # the coloured graph and the timeline
    text = _text("05_execution_history")
    assert "<details>" in text and "TaskStateEntered" in text
    assert "alert path: CheckEvent → ModifyState → ValidatePolicy → ChooseAction → AllowWithNotification" in text
    assert "remediation path:" in text and "TempRemove → CheckDuplicate → AskUser" in text


def test_going_further_covers_edit_timeout_and_catch(workshop_run):
    text = _text("06_going_further")
    assert "ModifyVersionState" in text
    assert "NotifyTimeout → ApprovalTimedOut" in text
    assert "TempRemove → NotifyFailure → IncidentFailed" in text


def test_cleanup_leaves_nothing_behind(workshop_run):
    _, leftovers = workshop_run
    assert "is deleted" in _text("07_cleanup")
    assert leftovers == {"policies": [], "stacks": []}
