"""The service control policy docs/security.md shows (policies/scp-workshop-guardrails.json), on the local cloud.

An organization, a member account made with `organizations create-account` and reached through its
OrganizationAccountAccessRole, the SCP attached to it. In the member account a principal whose own
policy allows everything is refused each action the SCP names, "with an explicit deny in a service
control policy"; the stack's own roles (the deployer service role among them) and the break-glass role
are not; and what the panel decides with (reading the incidents table, checking a seal, the signed
request to the decision endpoint) is not denied. IAM decides before a resource is looked up, so the
names are the stack's as CloudFormation makes them and nothing needs to be deployed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from iam_principals import Principal, admin, denied, document, session_for, unique, user_with
from member_accounts import member_account

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCP = ROOT / "policies" / "scp-workshop-guardrails.json"
STACK = "security-orchestrator"
ANYTHING = {"Effect": "Allow", "Action": "*", "Resource": "*"}
TRUST_THE_ACCOUNT = "arn:aws:iam::{account}:root"
SCP_DENIAL = "with an explicit deny in a service control policy"


def _names(account: str) -> dict:
    return {"function": f"{STACK}-RestorePolicy-AbCdEf123456", "role": f"{STACK}-RevertPolicyRole-AbCdEf123456",
            "topic": f"arn:aws:sns:us-east-1:{account}:{STACK}-AlertTopic-AbCdEf123456",
            "state_machine": f"arn:aws:states:us-east-1:{account}:stateMachine:{STACK}-StateMachine",
            "table": f"{STACK}-IncidentsTable-AbCdEf123456", "rule": f"{STACK}-watch-tampered",
            "secret": f"arn:aws:secretsmanager:us-east-1:{account}:secret:DecisionSecret-AbCdEf",
            "deployer": f"arn:aws:iam::{account}:role/{STACK}-deployer"}


def guarded_calls(account: str) -> dict:
    """Every "cannot stop" item of the threat model, as a call: (service, method, kwargs)."""
    n = _names(account)
    return {
        "update a function's code": ("lambda", "update_function_code", {"FunctionName": n["function"],
                                                                        "ZipFile": b"PK"}),
        "change a function's configuration": ("lambda", "update_function_configuration",
                                              {"FunctionName": n["function"], "Timeout": 3}),
        "invoke RestorePolicy or ReceiveDecision": ("lambda", "invoke", {"FunctionName": n["function"]}),
        "write the incidents table": ("dynamodb", "put_item", {"TableName": n["table"],
                                                               "Item": {"incidentId": {"S": "forged"}}}),
        "write a decision into an incident": ("dynamodb", "update_item", {
            "TableName": n["table"], "Key": {"incidentId": {"S": "x"}}, "UpdateExpression": "SET decision = :d",
            "ExpressionAttributeValues": {":d": {"S": "allow"}}}),
        "answer a waiting execution": ("stepfunctions", "send_task_success", {"taskToken": "t", "output": "{}"}),
        "start the state machine with a forged event": ("stepfunctions", "start_execution",
                                                        {"stateMachineArn": n["state_machine"], "input": "{}"}),
        "rewrite the state machine": ("stepfunctions", "update_state_machine", {"stateMachineArn": n["state_machine"],
                                                                                "definition": "{}"}),
        "put a policy on a stack role": ("iam", "put_role_policy", {"RoleName": n["role"], "PolicyName": "x",
                                                                    "PolicyDocument": document(ANYTHING)}),
        "open a stack role's trust": ("iam", "update_assume_role_policy", {"RoleName": n["role"],
                                                                           "PolicyDocument": document(ANYTHING)}),
        "pass a stack role to a service": ("stepfunctions", "test_state", {"definition": json.dumps({"Type": "Pass", "End": True}),
                                                              "roleArn": f"arn:aws:iam::{account}:role/{n['role']}"}),
        "change the link secret": ("secretsmanager", "put_secret_value", {"SecretId": n["secret"],
                                                                          "SecretString": "known"}),
        "open the link secret": ("secretsmanager", "put_resource_policy", {"SecretId": n["secret"],
                                                                           "ResourcePolicy": document(ANYTHING)}),
        "rewrite the topic policy": ("sns", "set_topic_attributes", {"TopicArn": n["topic"], "AttributeName": "Policy",
                                                                     "AttributeValue": document(ANYTHING)}),
        "disable WatchGuard's rule": ("events", "disable_rule", {"Name": n["rule"]}),
        "remove the rule's targets": ("events", "remove_targets", {"Rule": n["rule"], "Ids": ["x"]}),
        "stop the trail": ("cloudtrail", "stop_logging", {"Name": "workshop-trail"}),
        "change what the trail records": ("cloudtrail", "put_event_selectors", {
            "TrailName": "workshop-trail", "EventSelectors": [{"ReadWriteType": "ReadOnly"}]}),
        "delete the stack": ("cloudformation", "delete_stack", {"StackName": STACK}),
        "update the stack as yourself": ("cloudformation", "create_change_set", {
            "StackName": STACK, "ChangeSetName": "mine", "ChangeSetType": "UPDATE", "TemplateBody": "{}"}),
    }


@pytest.fixture(scope="module")
def member(shared_cloud) -> dict:
    """A member account with the SCP attached, and its administrator (through OrganizationAccountAccessRole)."""
    endpoint = shared_cloud.endpoint
    account, owner = member_account(endpoint)
    scp = admin(endpoint, "organizations").create_policy(
        Name=unique("workshop-guardrails"), Type="SERVICE_CONTROL_POLICY",
        Description="the security orchestrator's guardrails", Content=SCP.read_text())["Policy"]["PolicySummary"]["Id"]
    found = {"endpoint": endpoint, "account": account, "owner": owner}
    # the deployer role and the break-glass role are made before the SCP is attached: after, even the account's
    # administrator may not write a policy on a `security-orchestrator-` role (docs/facilitator.md says so)
    found["exempt"] = [_member_role(found, name) for name in (f"{STACK}-deployer", "BreakGlass")]
    admin(endpoint, "organizations").attach_policy(PolicyId=scp, TargetId=account)
    return found


def _member_role(member: dict, name: str) -> Principal:
    """A role of the member account allowed everything by its own policy, and a session of it."""
    iam = member["owner"].client("iam")
    trust = document({"Effect": "Allow", "Principal": {"AWS": TRUST_THE_ACCOUNT.format(account=member["account"])},
                      "Action": "sts:AssumeRole"})
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="everything", PolicyDocument=document(ANYTHING))
    credentials = member["owner"].client("sts").assume_role(RoleArn=arn, RoleSessionName="session")["Credentials"]
    return Principal(member["endpoint"], session_for(member["endpoint"], credentials), arn, name)


def test_the_scp_fits_aws_quota_and_every_statement_denies():
    scp = json.loads(SCP.read_text())
    assert len(json.dumps(scp, separators=(",", ":"))) <= 5120  # Organizations' SCP size quota
    assert {s["Effect"] for s in scp["Statement"]} == {"Deny"}
    assert SCP.name in (ROOT / "docs" / "security.md").read_text(), "the docs show the file the test loads"


def test_the_account_owner_cannot_make_the_deployer_role_once_the_scp_is_attached(member):
    error = denied(member["owner"].client("iam").put_role_policy, RoleName=f"{STACK}-deployer", PolicyName="more",
                   PolicyDocument=document(ANYTHING))
    assert error["Message"].endswith(SCP_DENIAL), error


def test_each_guarded_action_is_denied_by_the_scp_even_to_a_member_accounts_administrator(member):
    anyone = _member_role(member, unique("Operator"))
    for what, (service, method, kwargs) in guarded_calls(member["account"]).items():
        error = denied(getattr(anyone.client(service), method), **kwargs)
        assert error["Message"].endswith(SCP_DENIAL), (what, error)


def test_the_stacks_roles_and_break_glass_are_not_held_by_it(member):
    """The exempt principals reach the service (whose answer is then about the missing resource), and the
    deployer role may update the stack as itself: the SCP denies a stack change made without it."""
    for principal in member["exempt"]:
        name = principal.name
        for what, (service, method, kwargs) in guarded_calls(member["account"]).items():
            if what in ("stop the trail", "change what the trail records") and name != "BreakGlass":
                continue  # only break-glass may touch the trail
            if what == "update the stack as yourself":
                continue  # a stack change names the deployer role: below
            try:
                getattr(principal.client(service), method)(**kwargs)
            except ClientError as exc:
                assert SCP_DENIAL not in exc.response["Error"].get("Message", ""), (name, what, exc)


def test_a_stack_change_through_the_deployer_role_is_not_denied(member):
    """Whoever IAM lets pass the deployer role (the learner policy does) deploys through it: the SCP denies
    passing the stack's roles to anything but CloudFormation, and changing the stack without the role."""
    operator = _member_role(member, unique("Operator"))
    deployer = _names(member["account"])["deployer"]
    try:
        operator.client("cloudformation").create_change_set(
            StackName=STACK, ChangeSetName="through-the-role", ChangeSetType="UPDATE", TemplateBody="{}",
            RoleARN=deployer)
    except ClientError as exc:
        assert SCP_DENIAL not in exc.response["Error"].get("Message", ""), exc


def test_what_the_panel_decides_with_is_not_denied(member):
    """The panel reads the table, checks seals and signs a request to the decision endpoint: none of it is
    denied (a learner-level principal needs no table write and no SendTaskSuccess to decide)."""
    operator = _member_role(member, unique("Learner"))
    names = _names(member["account"])
    calls = [("dynamodb", "get_item", {"TableName": names["table"], "Key": {"incidentId": {"S": "x"}}}),
             ("dynamodb", "scan", {"TableName": names["table"]}),
             ("stepfunctions", "describe_state_machine", {"stateMachineArn": names["state_machine"]})]
    for service, method, kwargs in calls:
        try:
            getattr(operator.client(service), method)(**kwargs)
        except ClientError as exc:
            assert SCP_DENIAL not in exc.response["Error"].get("Message", ""), (method, exc)
    statements = json.loads(SCP.read_text())["Statement"]
    assert not any(a.startswith(("execute-api:", "kms:VerifyMac")) for s in statements
                   for a in s["Action"]), "the panel's signed request and seal check stay allowed"
