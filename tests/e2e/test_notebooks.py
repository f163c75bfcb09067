"""Every workshop notebook, run in order with papermill against a local cloud.

The notebooks decide by themselves (`decision` set) and take the exercises'
answers as parameters, as in `make workshop`: right answers into
build/notebooks/, and for each notebook with exercises a run with typical
wrong answers into build/notebooks/wrong-answers/. They run once per module,
on a local cloud of their own: the notebooks create IAM policies, and another
stack's EventBridge rule on a shared local cloud would react to them too. Each
test then checks what one notebook must have established, from its executed
copies.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from notebook_outputs import output_text, outputs

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "notebooks"
WRONG = OUT / "wrong-answers"
NAMES = ["00_setup_check", "01_deploy", "02_build_state_machine", "03_fire_bad_policy", "04_decide",
         "05_execution_history", "06_going_further", "07_attack_and_defence", "08_cleanup"]
RUNS = ["00_setup_check", "01_deploy", "02_build_state_machine (wrong answers)", "02_build_state_machine",
        "03_fire_bad_policy", "04_decide (wrong answers)", "03_fire_bad_policy (again, for 04_decide)", "04_decide",
        "05_execution_history (wrong answers)", "05_execution_history", "06_going_further", "07_attack_and_defence",
        "08_cleanup"]


@pytest.fixture(scope="module")
def workshop_run():
    from workshop.localcloud import LocalCloud
    from workshop.teaching.notebook_run import run_all
    from workshop.aws.session import connect

    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    with LocalCloud() as cloud:
        report = run_all(cloud.endpoint, out_dir=OUT, html=True)
        target = connect("local", cloud.endpoint)
        leftovers = {
            "policies": [p["PolicyName"] for p in target.client("iam").list_policies(Scope="Local")["Policies"]
                         if p["PolicyName"].startswith("workshop-")],
            # SAM's own artifact-bucket stack (--resolve-s3) is shared by every SAM deploy: it stays.
            "stacks": [s["StackName"] for s in target.client("cloudformation").list_stacks()["StackSummaries"]
                       if s["StackStatus"] != "DELETE_COMPLETE" and s["StackName"] != "aws-sam-cli-managed-default"],
        }
        yield report, leftovers


def _outputs(name, folder=OUT):
    return outputs(folder / f"{name}.ipynb")


def _mime(name, mime, folder=OUT):
    return [o["data"][mime] for o in _outputs(name, folder) if mime in o.get("data", {})]


def _exercise_text(name, folder=OUT):
    """The verdicts of a notebook's exercise cells (text and HTML)."""
    notebook = nbformat.read(str(folder / f"{name}.ipynb"), as_version=4)
    cells = [c for c in notebook.cells if "exercise" in c.metadata.get("tags", [])]
    return "\n".join(str(o.get("data", {}).get(m, "")) for c in cells for o in c.get("outputs", [])
                     for m in ("text/plain", "text/html"))


def _text(name, folder=OUT):
    return output_text(folder / f"{name}.ipynb")


def test_every_notebook_ran_without_an_error(workshop_run):
    report, _ = workshop_run
    assert [r.name for r in report.results] == RUNS
    assert report.ok, report.text()
    for name in NAMES:
        errors = [o for o in _outputs(name) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        assert (OUT / f"{name}.html").exists()
    for name in ("02_build_state_machine", "04_decide", "05_execution_history"):
        assert (WRONG / f"{name}.html").exists()
        assert not [o for o in _outputs(name, WRONG) if o.get("output_type") == "error"], name


def test_setup_check_passes(workshop_run):
    assert "All set" in _text("00_setup_check")


def test_deploy_shows_resources_outputs_and_the_architecture(workshop_run):
    text = _text("01_deploy")
    assert "AWS::StepFunctions::StateMachine" in text and "ApproveUrl" in text
    assert any(svg.lstrip().startswith("<svg") for svg in _mime("01_deploy", "image/svg+xml"))
    assert _mime("01_deploy", "text/vnd.mermaid")


def test_build_validates_every_state_and_matches_the_file(workshop_run):
    assert len(_mime("02_build_state_machine", "image/svg+xml")) >= 7  # after each step that adds states
    text = _text("02_build_state_machine")
    assert "still to build" in text.lower()
    assert "identical to the file: True" in text


def test_right_answers_pass_by_behaviour_and_are_deployed(workshop_run):
    verdicts = _exercise_text("02_build_state_machine")
    for name in ("ValidatePolicy", "ChooseAction", "TempRemove", "AskUser"):
        assert f"Correct: your {name} behaves as it should on all" in verdicts
    assert verdicts.count("<details><summary>Show the solution") == 4
    assert "Checked by running your state with TestState" in verdicts


def test_wrong_answers_say_which_input_went_wrong_and_are_not_deployed(workshop_run):
    verdicts = _exercise_text("02_build_state_machine", WRONG)
    assert "With action = 'alert', your state fails with States.Runtime (Invalid path '$.action'" in verdicts
    assert "your state retries NoSuchEntity; it should catch NoSuchEntity and go to NotifyFailure" in verdicts
    assert "the Lambda was sent no task token" in verdicts
    assert "eventId, eventName, eventTime and 4 more are missing" in verdicts
    assert verdicts.count("The machine keeps the file's") >= 4
    assert "Not deployed: 4 exercise(s) have not passed yet" in _text("02_build_state_machine", WRONG)


def test_bad_policy_is_reverted_and_waits_for_a_human(workshop_run):
    text = _text("03_fire_bad_policy")
    assert "reverted; the execution waits at AskUser" in text
    assert "aws --endpoint-url" in text and "iam create-policy" in text
    assert "RevertedBySecurityOrchestrator" not in text or "logs:GetLogGroupFields" in text
    assert _mime("03_fire_bad_policy", "image/svg+xml")


def test_decision_panel_email_and_outcome(workshop_run):
    assert _mime("04_decide", "application/vnd.jupyter.widget-view+json"), "the panel widget is missing"
    text = _text("04_decide")
    assert "s3:DeleteBucket" in text
    assert "Approval needed: IAM policy workshop-bad-policy-" in text
    assert "Denied (via panel)" in text and "decided via panel" in text
    assert "SUCCEEDED via AskUser → usersChoice → denied" in text
    assert "the harmless version stays in force" in text
    # nothing on the page still says "waiting" once decided: the panel's snapshot and the e-mail were updated
    assert "No approval is waiting any more" in text and "1 approval(s) waiting" not in text
    assert "Already decided: denied from the panel" in text and "Open: nothing has been decided yet" not in text
    assert "Right: Deny." in _exercise_text("04_decide")


def test_a_wrong_decision_is_explained(workshop_run):
    verdict = _exercise_text("04_decide", WRONG)
    assert "Approve put workshop-bad-policy-" in verdict and "Deny was the answer" in verdict
    assert "the original document is in force again" in _text("04_decide", WRONG)


def test_history_graph_table_timeline_and_side_by_side(workshop_run):
    svgs = _mime("05_execution_history", "image/svg+xml")
    assert len(svgs) >= 2  # the coloured graph and the timeline
    text = _text("05_execution_history")
    assert "<details><summary>Show all" in text and "TaskStateEntered" in text
    assert ("alert path: CheckEvent → WhichChange → CreatePolicyTarget → ModifyState → ValidatePolicy → "
            "CheckOwnOrGone → ChooseAction → AllowWithNotification") in text
    assert "denied via panel" in text and "approved via panel" in text  # the incidents table: 04's two runs
    assert "remediation path:" in text and "TempRemove → CheckDuplicate → AskUser → usersChoice → denied" in text
    assert "orange: failed" not in text  # the legend names only the colours in the graph


def test_the_developers_policy_is_checked_by_validate_policys_code_then_fired(workshop_run):
    assert "Correct: ValidatePolicy says alert" in _exercise_text("05_execution_history")
    assert "the developer's policy" in _text("05_execution_history")
    wrong = _exercise_text("05_execution_history", WRONG)
    assert "ValidatePolicy says remedy" in wrong and "s3:DeleteObject" in wrong
    assert "goodpolicy.json instead" in wrong


def test_going_further_covers_edit_timeout_restricted_actions_and_catch(workshop_run):
    text = _text("06_going_further")
    assert "CreatePolicyVersionTarget" in text
    assert "NotifyTimeout → ApprovalTimedOut" in text
    assert "waits at most 3 s for a decision" in text and "put back as it was" in text
    assert "wildcardpolicy under iam:*: alert" in text
    assert "wildcardpolicy under s3:DeleteBucket,s3:DeleteObject: remedy" in text
    assert "TempRemove → NotifyFailure → IncidentFailed" in text


def test_attack_and_defence_shows_every_defence_holding(workshop_run):
    text = _text("07_attack_and_defence")
    for attack in ("approve an incident with the task token read from the execution history",
                   "turn the e-mail's deny link into an approval by editing its path",
                   "make a harmless policy admin with a forged execution, then approve it",
                   "invoke RestorePolicy directly with a victim policy and an admin document",
                   "forge an approved incident in the table, then have RestorePolicy restore it",
                   "plant 'already handled' incidents at a policy's next keys, then make it admin",
                   "put a risky policy version in force with SetDefaultPolicyVersion",
                   "give a user a risky inline policy with PutUserPolicy"):
        assert f"held: {attack}" in text
    assert "Denied 4 incident(s)." in text


def test_cleanup_leaves_nothing_behind(workshop_run):
    _, leftovers = workshop_run
    assert "is deleted" in _text("08_cleanup")
    assert leftovers == {"policies": [], "stacks": []}
