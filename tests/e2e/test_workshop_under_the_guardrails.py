"""The workshop in a member account guarded by policies/scp-workshop-guardrails.json, end to end.

An organization on a local cloud of its own; a member account made with `organizations create-account`;
its owner (through OrganizationAccountAccessRole) deploys policies/deployer-role.yaml with CloudFormation,
as docs/aws.md tells an account owner to, and makes the learner, an IAM user holding exactly
policies/learner-policy*.json; then the SCP is attached. The learner deploys the stack with the kit's
`workshop deploy` (which finds the deployer role and passes it to `sam deploy --role-arn`): every resource is
created in the member account, under the SCP, as the deployer role.

Then the workshop's incident, all of it in the member account, with the kit's own calls as the learner
makes them in notebooks 03 and 04: the learner creates a risky workshop policy; CloudTrail records it
as the member account's, its EventBridge rule starts its state machine, whose functions (each as its role
there, under the SCP) revert the policy in its IAM, seal the incident in its table and mail the approval
through its topic; the learner reads the pending incident as the panel does (its seal checked with the
stack's key, which the learner policy names by CloudFormation's stack-name tag) and decides
through the panel's path, a SigV4-signed request to the IAM-authorised decision endpoint; the execution
resumes and IAM shows the outcome: approved, the policy is back; denied, it stays reverted.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from workshop.aws.iam_simulation import learner_policy_files
from iam_principals import Principal, admin, document, session_for, user_with
from polling import wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
STACK = "security-orchestrator"
ANYTHING = {"Effect": "Allow", "Action": "*", "Resource": "*"}


@pytest.fixture(scope="module")
def guarded_member(tmp_path_factory, sam_build):
    from botocore.credentials import Credentials

    from workshop.aws import deploy as deploy_module
    from workshop.localcloud import LocalCloud
    from workshop.localcloud.server import credentials

    log = open(tmp_path_factory.mktemp("localcloud-guarded") / "server.log", "wb")
    with LocalCloud(log_file=log) as cloud:
        endpoint = cloud.endpoint
        organizations = admin(endpoint, "organizations")
        organizations.create_organization(FeatureSet="ALL")
        root = organizations.list_roots()["Roots"][0]["Id"]
        organizations.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
        account = organizations.create_account(AccountName="workshop-lab", Email="lab@example.com")[
            "CreateAccountStatus"]["AccountId"]
        owner_key = user_with(endpoint, document(ANYTHING)).client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="owner")[
            "Credentials"]
        owner = Principal(endpoint, session_for(endpoint, owner_key), "", "")
        # what the account owner does once, before attaching the SCP (docs/aws.md, docs/facilitator.md)
        cfn = owner.client("cloudformation")
        cfn.create_stack(StackName=f"{STACK}-deployer", TemplateBody=(ROOT / "policies/deployer-role.yaml").read_text(),
                         Capabilities=["CAPABILITY_NAMED_IAM"])
        assert cfn.describe_stacks(StackName=f"{STACK}-deployer")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        iam = owner.client("iam")
        iam.create_user(UserName="learner")
        for path in learner_policy_files(ROOT):
            policy = iam.create_policy(PolicyName=path.stem, PolicyDocument=path.read_text())["Policy"]["Arn"]
            iam.attach_user_policy(UserName="learner", PolicyArn=policy)
        key = iam.create_access_key(UserName="learner")["AccessKey"]
        scp = organizations.create_policy(
            Name="workshop-guardrails", Type="SERVICE_CONTROL_POLICY", Description="the orchestrator's guardrails",
            Content=(ROOT / "policies/scp-workshop-guardrails.json").read_text())["Policy"]["PolicySummary"]["Id"]
        organizations.attach_policy(PolicyId=scp, TargetId=account)
        # the kit, sam and boto3 call as the member account's learner (its key in the local cloud's key file)
        credentials.write(replace(credentials.read(endpoint), learner_access_key_id=key["AccessKeyId"],
                                  learner_secret_access_key=key["SecretAccessKey"]))
        output = io.StringIO()
        try:
            outputs = deploy_module.deploy(target="local", endpoint=endpoint, stack_name=STACK,
                                           parameters={"EmailAddress": "learner@security-orchestrator.dev"},
                                           build_dir=sam_build.parent, skip_build=True, stream=output)
        except deploy_module.DeployError as exc:
            pytest.fail(f"{exc}\n{output.getvalue()}")
        learner = Principal(endpoint, session_for(endpoint, key), f"arn:aws:iam::{account}:user/learner", "learner")
        yield {"endpoint": endpoint, "owner": owner, "account": account, "outputs": outputs, "output": output.getvalue(), "learner": learner,
               "credentials": Credentials(key["AccessKeyId"], key["SecretAccessKey"])}
    log.close()


def test_the_learner_deploys_into_the_guarded_account_through_the_deployer_role(guarded_member):
    account = guarded_member["account"]
    assert f"--role-arn arn:aws:iam::{account}:role/{STACK}-deployer" in guarded_member["output"]
    learner = guarded_member["learner"]
    assert learner.client("sts").get_caller_identity()["Account"] == account
    stack = learner.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE" and stack["RoleARN"].endswith(f"role/{STACK}-deployer")
    assert f":{account}:stateMachine:{STACK}-StateMachine" in guarded_member["outputs"]["StateMachineArn"]


def test_the_panels_signed_request_reaches_receive_decision_under_the_scp(guarded_member):
    """IAM and the SCP let the learner's signed request through (a refusal would be API Gateway's 403), the
    member account's ReceiveDecision runs it (its log group records the invocation) and its conditional write
    reaches that account's incidents table, which holds no such incident: nothing waits for that decision."""
    from workshop.aws.decision_endpoint import SignedDecider

    logs = guarded_member["owner"].client("logs")
    group = next(g["logGroupName"] for g in logs.describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{STACK}-ReceiveDecision")["logGroups"])
    before = len(logs.filter_log_events(logGroupName=group)["events"])
    decide = SignedDecider(guarded_member["outputs"]["DecisionUrl"], guarded_member["credentials"])
    result = decide(uuid.uuid4().hex, "deny")  # an incident id's shape (32 hex digits), of no incident
    assert (result.status, result.title) == (409, "Not waiting for a decision"), result
    started = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"][before:]]
    assert any(m.startswith("START RequestId") for m in started), started


HARMLESS_SID = "RevertedBySecurityOrchestrator"


def test_an_incident_in_the_guarded_account_is_reverted_mailed_and_decided_there_from_the_panel(guarded_member):
    from workshop.aws import connect
    from workshop.aws.decision_endpoint import panel_decider
    from workshop.aws.executions import follow, wait_for_end
    from workshop.aws.iam_changes import execution_started_by, fire_policy, policy_versions
    from workshop.aws.incidents import get_incident, pending_approvals, table_name
    from workshop.localcloud import read_mailbox

    account, outputs, endpoint = guarded_member["account"], guarded_member["outputs"], guarded_member["endpoint"]
    cloud = connect("local", endpoint)  # the kit as the learner: the key file holds the member's learner's key
    assert cloud.client("sts").get_caller_identity()["Arn"] == guarded_member["learner"].arn
    machine = outputs["StateMachineArn"]
    bad = ROOT / "policies" / "badpolicy.json"
    fired = {decision: fire_policy(cloud, bad) for decision in ("allow", "deny")}
    runs = {decision: execution_started_by(cloud, machine, change) for decision, change in fired.items()}
    iam = cloud.client("iam")
    for decision, change in fired.items():
        assert f":{account}:policy/" in change.arn
        follow(cloud, runs[decision], until="AskUser")
        event = json.loads(cloud.client("stepfunctions").describe_execution(executionArn=runs[decision])["input"])
        assert event["account"] == event["detail"]["recipientAccountId"] == account
        assert event["detail"]["userIdentity"]["arn"] == guarded_member["learner"].arn
        versions = policy_versions(iam, change.arn)
        assert change.version_id not in versions.ids(), versions
        assert versions.default_document()["Statement"][0]["Sid"] == HARMLESS_SID

    for change in fired.values():  # AskUser's mail, through the member account's topic to its subscriber
        mail = wait_for(lambda: next((m for m in read_mailbox(endpoint) if m["subject"].startswith(
            "Approval needed") and change.arn in m["body"]), None), timeout=30, what=f"the mail about {change.arn}")
        assert mail["topic_arn"].startswith(f"arn:aws:sns:us-east-1:{account}:{STACK}-AlertTopic-")
        assert mail["subscription_arn"].startswith(mail["topic_arn"] + ":")
        assert outputs["ApproveUrl"] in mail["body"] and outputs["DenyUrl"] in mail["body"]

    table = table_name(outputs)
    pending = {approval.incident.target.get("policyArn"): approval for approval in pending_approvals(
        cloud.client("dynamodb"), table, iam=iam, kms=cloud.client("kms"), seal_key=outputs["SealKeyArn"])}
    decide = panel_decider(cloud, outputs)
    for decision, change in fired.items():
        approval = pending[change.arn]
        assert approval.seal == "sealed", approval.seal  # the panel checks it with the stack-tagged key
        result = decide(approval.incident.incident_id, decision)
        assert result.ok, result
        assert wait_for_end(cloud, runs[decision]).status == "SUCCEEDED"
        decided = get_incident(cloud.client("dynamodb"), table, approval.incident.incident_id)
        assert (decided.decision, decided.decided_via, decided.decided_by) == (
            decision, "panel", guarded_member["learner"].arn)

    assert policy_versions(iam, fired["allow"].arn).default_document() == json.loads(bad.read_text())
    assert policy_versions(iam, fired["deny"].arn).default_document()["Statement"][0]["Sid"] == HARMLESS_SID
