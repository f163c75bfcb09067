"""The whole workshop on the AWS target, against the AWS-like local cloud (papermill, every notebook).

`WORKSHOP_TARGET=aws` and `WORKSHOP_AWS_REHEARSAL` (what `make lab-like-aws` sets) send
every notebook through the kit's AWS code paths (the AWS checklist, the region
pin, the required e-mail, no stand-in ARNs, TestState with the machine's role,
AWS waits and hints) to a local cloud that behaves like AWS where AWS is
slower or stricter (workshop/localcloud/aws_like.py, delays compressed to
2-4 s), with the learner an IAM user holding exactly policies/learner-policy*.json
(`--learner-policy`): every call of the kit, the notebooks and `sam` is
evaluated against them, and CloudFormation acts as that user. The environment
is a learner's who once ran `workshop local env` and whose profile names
another region, in a new account (Lambda concurrency 10), where a new state
machine definition is used a few seconds late. The account has a logging trail, as a
facilitator prepares it; the learner confirms the subscription e-mail only
when 04 starts, so 01 and 03 run while it is pending (and SNS drops 03's
approval e-mail, as AWS does).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dataclasses import replace

from cloud_fixtures import (AWS_EMAIL, AWS_LIKE, LEARNER_POLICIES, TRAIL, confirm_subscriptions, create_trail,
                            local_client)
from notebook_outputs import iam_rows, output_text, outputs

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "notebooks-aws-like"
STACK = "security-orchestrator"
NAMES = ["00_setup_check", "01_deploy", "02_build_state_machine", "03_fire_bad_policy", "04_decide",
         "05_execution_history", "06_going_further", "07_attack_and_defence", "08_cleanup"]


@pytest.fixture(scope="module")
def aws_run(tmp_path_factory):
    from workshop.aws.deploy import deployed_parameter
    from workshop.localcloud import LocalCloud, read_mailbox
    from workshop.teaching.notebook_run import run_all
    from workshop.aws.session import AWS_TEST_ENDPOINT, connect

    log = open(tmp_path_factory.mktemp("localcloud-aws-run") / "server.log", "wb")
    like_aws = replace(AWS_LIKE, learner_policies=LEARNER_POLICIES)
    with LocalCloud(like_aws=like_aws, log_file=log) as cloud, pytest.MonkeyPatch.context() as env:
        create_trail(cloud.endpoint)
        env.setenv("SAM_CLI_TELEMETRY", "0")
        env.setenv(AWS_TEST_ENDPOINT, cloud.endpoint)
        env.setenv("WORKSHOP_TARGET", "aws")
        env.setenv("WORKSHOP_EMAIL", AWS_EMAIL)
        env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # left over from `workshop local env`: must not matter
        env.setenv("AWS_REGION", "eu-west-1")  # a profile elsewhere: a warning, never a stop
        for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        target = connect("aws")
        facts = {}

        def learner(message):
            if message.startswith("running 02_"):
                facts["email after 01"] = deployed_parameter(target, STACK, "EmailAddress")
            if message.startswith("running 04_"):  # the learner opens the e-mail from AWS and clicks
                facts["confirmation pages"] = confirm_subscriptions(cloud.endpoint)
                facts["mail before confirming"] = read_mailbox(cloud.endpoint)

        report = run_all(None, out_dir=OUT, decision="allow", target="aws", html=True, announce=learner,
                         wrong_answers=False)  # the AWS code paths, not the exercises: once is enough
        # what is left, seen by the account's administrator (the learner's policies need not let them look)
        admin = {service: local_client(cloud.endpoint, service) for service in ("iam", "cloudformation", "s3", "sts")}
        # the account owner's artifacts bucket (policies/deployer-role.yaml, made at start as an owner would)
        bucket = f"{STACK}-artifacts-{admin['sts'].get_caller_identity()['Account']}"
        s3 = admin["s3"]
        leftovers = {
            "policies": [p["PolicyName"] for p in admin["iam"].list_policies(Scope="Local")["Policies"]
                         if p["PolicyName"].startswith("workshop-")],
            # SAM's managed stack too: the learner makes no bucket
            "stacks": [s["StackName"] for s in admin["cloudformation"].list_stacks()["StackSummaries"]
                       if s["StackStatus"] != "DELETE_COMPLETE"],
            # the owner's to remove: the learner holds no deletion (a restricted action)
            "artifacts": s3.list_objects_v2(Bucket=bucket, Prefix=f"{STACK}/")["KeyCount"],
            "bucket versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        }
        facts["artifacts bucket"] = bucket
        facts["learner"] = target.client("sts").get_caller_identity()["Arn"]
        facts["iam"] = cloud.health()["iam"]
        yield report, leftovers, facts, read_mailbox(cloud.endpoint)
    log.close()


def _outputs(name):
    return outputs(OUT / f"{name}.ipynb")


def _text(name):
    return output_text(OUT / f"{name}.ipynb")


def test_every_notebook_ran_on_the_aws_target(aws_run):
    report, _, facts, _ = aws_run
    assert facts["learner"] == "arn:aws:iam::123456789012:user/learner"  # not the account's administrator
    assert facts["iam"]["enabled"] and facts["iam"]["requests_checked"] > 100
    assert [r.name for r in report.results] == NAMES
    assert report.ok, report.text()
    for name in NAMES:
        errors = [o for o in _outputs(name) if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


def test_00_shows_the_aws_checklist_with_the_trail_and_a_region_warning(aws_run):
    text = _text("00_setup_check")
    assert "AWS checklist" in text and f"{TRAIL} logs management write events" in text
    assert "eu-west-1" in text and "⚠️" in text  # the region: a warning
    assert AWS_EMAIL in text and "All set" in text
    # a new account's concurrency (10): the stack reserves none, and no reservation is offered
    assert "10 concurrent executions in this account" in text and "No reservation is possible here" in text


def test_01_deploys_with_the_learners_address_and_says_confirm_it(aws_run):
    _, _, facts, _ = aws_run
    text = _text("01_deploy")
    assert "Confirm the SNS subscription now" in text and AWS_EMAIL in text
    assert "--region us-east-1" in text and "--s3-prefix security-orchestrator" in text
    # the owner's bucket, said and used (the learner may not make SAM's)
    assert f"Artifacts go to the account owner's bucket s3://{facts['artifacts bucket']}/security-orchestrator/" in text
    assert f"--no-resolve-s3 --s3-bucket {facts['artifacts bucket']}" in text
    assert facts["email after 01"] == AWS_EMAIL


def test_02_uses_the_deployed_values_and_teststate_with_the_machines_role(aws_run):
    text = _text("02_build_state_machine")
    assert "does not offer the TestState API" not in text and "permission problem" not in text
    assert "TestState on" in text and "the built definition is the file's, state for state" in text


def test_03_warns_while_the_subscription_is_pending_and_waits_for_cloudtrail(aws_run):
    text = _text("03_fire_bad_policy")
    assert "Confirm the SNS subscription now" in text
    assert "aws --region us-east-1 iam create-policy" in text and "--endpoint-url" not in text
    assert "reverted; the execution waits at AskUser" in text


def test_sns_delivered_nothing_until_the_learner_confirmed(aws_run):
    _, _, facts, mail = aws_run
    before = [m for m in facts["mail before confirming"] if m["to"] == AWS_EMAIL]
    assert [m["subject"] for m in before] == ["AWS Notification - Subscription Confirmation"]
    assert any("Subscription confirmed" in page for page in facts["confirmation pages"])
    after = [m["subject"] for m in mail[len(facts["mail before confirming"]):] if m["to"] == AWS_EMAIL]
    assert any(s.startswith("Policy change detected") for s in after), after  # 05's alert, once confirmed


def test_04_to_06_on_aws(aws_run):
    text = _text("04_decide")
    assert "Approved (via panel)" in text and "check your" in text
    assert "the original document is in force again" in text  # read again while IAM catches up
    assert "remediation path:" in _text("05_execution_history")
    text = _text("06_going_further")
    assert "NotifyTimeout → ApprovalTimedOut" in text and "TempRemove → NotifyFailure → IncidentFailed" in text


def test_07_attack_and_defence_on_aws(aws_run):
    text = _text("07_attack_and_defence")
    assert "DEFENCE HELD: approve an incident with the task token read from the execution history" in text
    assert "9 of 10 defences held. Not tried here: turn the e-mail's deny link into an approval" in text  # in the inbox
    for attack in ("make a harmless policy admin with a forged execution", "invoke RestorePolicy directly",
                   "forge an approved incident in the table", "plant 'already handled' incidents",
                   "put a risky policy version in force with SetDefaultPolicyVersion",
                   "give a user a risky inline policy with PutUserPolicy",
                   'give a user "Action": "*", then rename the user before the orchestrator acts',
                   "add a user to a group whose risky policy a human approved earlier"):
        assert f"DEFENCE HELD: {attack}" in text
    # IAM asked about the learner's own user; where it denies, the attack above was refused there
    assert "IAM's answers (SimulatePrincipalPolicy) for you (arn:aws:iam::123456789012:user/learner):" in text
    rows = iam_rows(text)
    held_by = {attack: row[3] for attack, row in rows.items()}
    assert held_by == {"token from the history": "the orchestrator", "edited deny link": "not tried here",
                       "forged execution": "the orchestrator", "RestorePolicy invoked": "IAM",
                       "forged incident": "IAM", "planted keys": "IAM", "SetDefaultPolicyVersion": "the orchestrator",
                       "inline policy": "the orchestrator", "rename": "the orchestrator", "group join": "IAM"}, rows
    assert rows["forged execution"][:3] == ("states:StartExecution", "allowed",
                                            "learner-policy RunAndChangeTheOrchestratorsStateMachine")
    assert rows["rename"][:3] == ("iam:UpdateUser", "allowed",
                                  "learner-policy-incidents WorkshopUsersForTheInlinePolicyDemo")
    for attack, refusal in (("RestorePolicy invoked", "Invoke refused"), ("forged incident", "PutItem refused"),
                            ("planted keys", "PutItem refused"), ("group join", "CreateGroup refused")):
        assert rows[attack][1:3] == ("implicitDeny", "no statement allows it") and refusal in text, attack


def test_08_removes_what_is_the_workshops_and_lists_what_is_shared(aws_run):
    _, leftovers, facts, _ = aws_run
    text = _text("08_cleanup")
    assert "is deleted" in text
    bucket = facts["artifacts bucket"]
    assert f"{leftovers['artifacts']} artifact(s) of security-orchestrator in s3://{bucket}/security-orchestrator/" \
        in text and "the account owner's bucket" in text
    assert "aws-sam-cli-managed-default" not in text and f"the CloudTrail trail {TRAIL}" in text
    assert leftovers["artifacts"] > 0
    assert dict(leftovers, artifacts=None) == {"policies": [], "stacks": [], "artifacts": None,
                                               "bucket versioning": "Enabled"}

