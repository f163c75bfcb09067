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

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from notebook_outputs import iam_rows, output_text, outputs

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
        report.endpoint = cloud.endpoint
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
    states = len(json.loads((ROOT / "statemachine" / "security_orchestrator.asl.json").read_text())["States"])
    assert f"the definition is the file's, state for state ({states} states)" in text


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
    assert 'Your Catch of TransientError has no ResultPath' in verdicts and '"ResultPath": "$.failure"' in verdicts
    assert "There is no $.action in the input; action is at $.taskresult.action." in verdicts
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
    wrong = _exercise_text("05_execution_history", WRONG)  # NotAction: everything but the restricted actions
    assert "ValidatePolicy says alert, and the developer gets what they need, but not only that" in wrong
    assert "statement 0 (Sid Everything) also grants" in wrong and "Correct" not in wrong
    assert "goodpolicy.json instead" in wrong


def test_going_further_covers_edit_timeout_restricted_actions_and_catch(workshop_run):
    text = _text("06_going_further")
    assert "CreatePolicyVersionTarget" in text
    assert "NotifyTimeout → ApprovalTimedOut" in text
    assert "with at most 3 s to decide" in text and "put back exactly as it was" in text
    assert "wildcardpolicy under iam:*: alert" in text
    assert "wildcardpolicy under s3:DeleteBucket,s3:DeleteObject,s3:DeleteObjectVersion,s3:PutLifecycleConfiguration,s3:PutBucketPolicy: remedy" in text
    assert "TempRemove → NotifyFailure → IncidentFailed" in text
    assert re.search(r"reconciliation scan: \S+: SUCCEEDED, path .* → ScanFoundNothing", text), text[-2000:]  # one run


def test_attack_and_defence_shows_every_defence_holding(workshop_run):
    text = _text("07_attack_and_defence")
    for attack in ("approve an incident with the task token read from the execution history",
                   "turn the e-mail's deny link into an approval by editing its path",
                   "make a harmless policy admin with a forged execution, then approve it",
                   "invoke RestorePolicy directly with a victim policy and an admin document",
                   "forge an approved incident in the table, then have RestorePolicy restore it",
                   "plant 'already handled' incidents at a policy's next keys, then make it admin",
                   "put a risky policy version in force with SetDefaultPolicyVersion",
                   "give a user a risky inline policy with PutUserPolicy",
                   'give a user "Action": "*", then rename the user before the orchestrator acts',
                   "add a user to a group whose risky policy a human approved earlier"):
        assert f"DEFENCE HELD: {attack}" in text
    # the learner's earlier ones are left alone; the group policy the join attack approved is decided already
    assert "Denied 6 incident(s) this notebook made." in text
    assert "10 of 10 defences held." in text
    # IAM asked about a learner holding exactly the learner policies (the administrator ran the attacks)
    rows = iam_rows(text)
    assert "IAM's answers (SimulateCustomPolicy) for a learner holding exactly policies/learner-policy*.json:" in text
    assert rows == {
        "token from the history": ("states:GetExecutionHistory", "allowed",
                                   "learner-policy.json ReadTheStacksStateMachines", "the orchestrator"),
        "edited deny link": ("—", "—", "—", "the orchestrator"),
        "forged execution": ("states:StartExecution", "allowed",
                             "learner-policy.json RunAndChangeTheOrchestratorsStateMachine", "the orchestrator"),
        "RestorePolicy invoked": ("lambda:InvokeFunction", "implicitDeny", "no statement allows it", "IAM"),
        "forged incident": ("dynamodb:PutItem", "implicitDeny", "no statement allows it", "IAM"),
        "planted keys": ("dynamodb:PutItem", "implicitDeny", "no statement allows it", "IAM"),
        "SetDefaultPolicyVersion": ("iam:SetDefaultPolicyVersion", "allowed",
                                    "learner-policy-incidents.json PutAWorkshopVersionInForce", "the orchestrator"),
        "inline policy": ("iam:PutUserPolicy", "allowed",
                          "learner-policy-incidents.json WorkshopUsersForTheInlinePolicyDemo", "the orchestrator"),
        "rename": ("iam:UpdateUser", "allowed", "learner-policy-incidents.json WorkshopUsersForTheInlinePolicyDemo",
                   "the orchestrator"),
        "group join": ("iam:CreateGroup", "implicitDeny", "no statement allows it", "IAM"),
    }, rows


def test_cleanup_leaves_nothing_behind(workshop_run):
    _, leftovers = workshop_run
    assert "is deleted" in _text("08_cleanup")
    assert leftovers == {"policies": [], "stacks": []}


def test_a_decision_typed_as_the_buttons_label_is_accepted(workshop_run):
    from workshop.teaching.notebook_run import RIGHT_DECISION, WRONG_DECISION

    assert (RIGHT_DECISION, WRONG_DECISION) == ("Deny", "Approve")  # what the runs above typed
    assert "Right: Deny." in _exercise_text("04_decide")
    assert "Approve put workshop-bad-policy-" in _exercise_text("04_decide", WRONG)


def test_the_sam_log_is_kept_in_a_file_and_the_outcome_shown(workshop_run):
    text = _text("01_deploy")
    assert "$ " in text and "sam build" in text and "Build Succeeded" in text
    assert "Successfully created/updated stack - security-orchestrator in us-east-1" in text
    assert "lines of output in" in text and "sam-deploy.log" in text
    assert "Running PythonPipBuilder" not in text  # the log itself is not in the notebook
    import re

    resources = re.search(r"^Resources:\n(.*?)(?=^\S|\Z)", (ROOT / "template.yaml").read_text(), re.M | re.S).group(1)
    named = len(re.findall(r"^  [A-Za-z0-9]+:\s*$", resources, re.M))
    assert f"resources in security-orchestrator: the {named} that template.yaml names" in text  # counted, not written


# --- what a learner types: one screen each, no traceback ----------------------------------------------------


@pytest.mark.parametrize("kind", ["no scheme", "https", "a port nothing answers on"])
def test_a_wrong_endpoint_in_00_is_one_screen_naming_the_value_and_the_fix(workshop_run, kind, tmp_path):
    from workshop.localcloud import free_port
    from workshop.teaching.notebook_run import run_notebook

    report, _ = workshop_run
    address = report.endpoint.split("://", 1)[1]
    typed = {"no scheme": address, "https": f"https://{address}",
             "a port nothing answers on": f"http://127.0.0.1:{free_port()}"}[kind]
    result = run_notebook(ROOT / "notebooks" / "00_setup_check.ipynb", tmp_path,
                          {"target": "local", "endpoint": typed})
    assert not result.ok
    errors = [o for o in outputs(tmp_path / "00_setup_check.ipynb") if o.get("output_type") == "error"]
    assert len(errors) == 1
    screen = "\n".join(errors[0]["traceback"])
    assert "Traceback" not in screen and "File " not in screen and len(screen.splitlines()) <= 8, screen
    assert repr(typed) in screen or typed.rsplit(":", 1)[1] in screen
    expected = {"no scheme": f'write "http://{address}"', "https": f'write "http://{address}"',
                "a port nothing answers on": "your local cloud is on"}[kind]
    assert expected in screen, screen


# --- reading time, counted on what the learner sees --------------------------------------------------------


def test_the_workshop_reads_within_its_budget_counting_what_the_cells_show(workshop_run):
    from workshop.teaching.reading_time import BUDGET_MINUTES, RESERVED, reading_times, summary, total_minutes

    times = reading_times(executed=OUT)
    print("\n" + summary(times))
    assert all(times[name].output_words > 0 for name in NAMES), summary(times)  # the outputs are counted
    assert total_minutes(times) <= BUDGET_MINUTES, summary(times)
    others = {name: t for name, t in times.items() if not any(key in name for key in RESERVED)}
    assert total_minutes(others) <= BUDGET_MINUTES - sum(RESERVED.values()), summary(times)
    assert all(t.minutes <= BUDGET_MINUTES / 3 for t in times.values()), summary(times)
    assert times["02_build_state_machine"].minutes <= 15, summary(times)


def test_the_readme_gives_the_reading_times_measured_here(workshop_run):
    import re

    from workshop.teaching.reading_time import reading_times, total_minutes

    readme = (ROOT / "README.md").read_text()
    times = reading_times(executed=OUT)
    for name, reading in times.items():
        row = re.search(rf"\| `{name}` \|[^\n]*\| ([\d.]+) min \|", readme)
        assert row, f"{name} has no row in the README's workshop table"
        assert abs(float(row.group(1)) - reading.minutes) <= 0.15, f"{name}: README {row.group(1)}, " \
                                                                    f"measured {reading.minutes:.1f}"
    total = re.search(r"Today's total is ([\d.]+) minutes", readme)
    assert total and abs(float(total.group(1)) - total_minutes(times)) <= 0.3
