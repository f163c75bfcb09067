"""The workshop in a member account guarded by policies/scp-workshop-guardrails.json, as far as a lean test can show.

An organization on a local cloud of its own; a member account made with `organizations create-account`;
its owner (through OrganizationAccountAccessRole) deploys policies/deployer-role.yaml with CloudFormation,
as docs/aws.md tells an account owner to, and makes the learner, an IAM user holding exactly
policies/learner-policy*.json; then the SCP is attached. The learner deploys the stack with the kit's
`workshop deploy` (which finds the deployer role and passes it to `sam deploy --role-arn`): every resource is
created in the member account, under the SCP, as the deployer role. The panel's path is open: the
learner's SigV4-signed request passes IAM and the SCP at the IAM-authorised decision endpoint and runs the
member account's ReceiveDecision.

Not shown here, and why: an incident decided end to end in the member account. The local cloud serves a
member account's AWS calls made from inside it in the management account: its Step Functions engine
invokes the state machine's functions there ("Function not found: arn:aws:lambda:...:123456789012:
function:..."), and a function's own calls reach the management account's tables (ReceiveDecision's
UpdateItem: ResourceNotFoundException, so the request above ends 502 after the function ran). That is a gap
of the local cloud's accounts, not of the SCP.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from workshop.aws.iam_simulation import learner_policy_files
from iam_principals import Principal, admin, document, session_for, user_with

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
        yield {"owner": owner, "account": account, "outputs": outputs, "output": output.getvalue(), "learner": learner,
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
    """IAM and the SCP let the learner's signed request through (a refusal would be API Gateway's 403) and the
    member account's ReceiveDecision runs it (its log group records the invocation)."""
    from workshop.aws.decision_endpoint import SignedDecider

    logs = guarded_member["owner"].client("logs")
    group = next(g["logGroupName"] for g in logs.describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{STACK}-ReceiveDecision")["logGroups"])
    before = len(logs.filter_log_events(logGroupName=group)["events"])
    decide = SignedDecider(guarded_member["outputs"]["DecisionUrl"], guarded_member["credentials"])
    result = decide(uuid.uuid4().hex, "deny")  # an incident id's shape (32 hex digits), of no incident
    assert result.status not in (0, 401, 403), result
    started = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"][before:]]
    assert any(m.startswith("START RequestId") for m in started), started
