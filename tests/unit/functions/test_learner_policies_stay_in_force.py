"""The learner's own policies, judged by the orchestrator, are not risky: they stay in force.

The stack's reconciliation scan (every 15 minutes) and its EventBridge rule judge every customer managed
policy of the account with the stack's RestrictedActions; a learner policy that allowed one of them
(s3:DeleteObject on an artifacts bucket, s3:PutBucketPolicy to make SAM's managed bucket...) would be taken
out of force and the learner locked out mid-workshop. So each policies/learner-policy*.json file is judged
here with the template's default RestrictedActions by the orchestrator's own code: the evaluation
ValidatePolicy runs on a policy document (workshop.iam, which the function packages as `iam`), and then
ValidatePolicy's handler itself, scanning an account where a learner holds exactly those policies.
"""

from __future__ import annotations

import json

import pytest

from cfn_template import load_template
from incident_steps import judge
from lambda_loader import ROOT
from workshop.aws.iam_simulation import learner_policy_files
from workshop.iam import evaluate_policy, parse_restricted_actions

DEFAULT_RESTRICTED = load_template()["Parameters"]["RestrictedActions"]["Default"]
LEARNER_POLICIES = learner_policy_files(ROOT)


def test_the_learner_policies_are_found():
    assert {path.name for path in LEARNER_POLICIES} >= {"learner-policy.json", "learner-policy-incidents.json"}


@pytest.mark.parametrize("path", LEARNER_POLICIES, ids=lambda path: path.name)
def test_no_learner_policy_allows_a_default_restricted_action(path):
    verdict = evaluate_policy(path.read_text(), parse_restricted_actions(DEFAULT_RESTRICTED), partition="aws")
    found = [(m.get("sid") or m.get("statement"), m["action"]) for m in verdict["matches"]]
    assert verdict["action"] != "remedy" and not found, f"{path.name}: {verdict['message']}"


def test_the_scan_leaves_a_learner_holding_exactly_them_alone(stack, monkeypatch):
    monkeypatch.setenv("RESTRICTED_ACTIONS", DEFAULT_RESTRICTED)
    stack.iam.create_user(UserName="learner")
    for path in LEARNER_POLICIES:
        arn = stack.iam.create_policy(PolicyName=path.stem, PolicyDocument=path.read_text())["Policy"]["Arn"]
        stack.iam.attach_user_policy(UserName="learner", PolicyArn=arn)
    verdict = judge({"kind": "account", "label": "the reconciliation scan"}, event_name="ReconciliationScan",
                    event_id="reconciliation-scan")
    assert verdict["action"] == "clean", verdict["message"]
    # the control: the same scan finds the grant the learner's artifacts statement used to make
    deletes = ('{"Version": "2012-10-17", "Statement": [{"Sid": "ArtifactsCleanUp", "Effect": "Allow", "Action": '
               '"s3:DeleteObjectVersion", "Resource": "arn:aws:s3:::aws-sam-cli-managed-default-samclisourcebucket-*/*"}]}')
    arn = stack.iam.create_policy(PolicyName="learner-policy-old", PolicyDocument=deletes)["Policy"]["Arn"]
    stack.iam.attach_user_policy(UserName="learner", PolicyArn=arn)
    verdict = judge({"kind": "account", "label": "the reconciliation scan"}, event_name="ReconciliationScan",
                    event_id="reconciliation-scan-2")
    assert verdict["action"] != "clean" and "learner-policy-old" in json.dumps(verdict["findings"]), verdict
