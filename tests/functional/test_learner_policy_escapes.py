"""A principal holding exactly policies/learner-policy*.json cannot leave the lab, checked by the local cloud's IAM.

Each escape path a learner with the earlier policy had (issue: "the learner's own policy is admin-equivalent")
is tried as an IAM user holding exactly the learner's three policies, attached as customer managed policies
as a facilitator attaches them; the local cloud evaluates each call as AWS would and must refuse it. The
names are the stack's (`security-orchestrator-...` as CloudFormation names its resources): IAM decides
before the resource is looked up, so a refusal here is the policy's, never a missing resource's; the
positive controls show the same user still does what the workshop needs. tests/unit/test_learner_policy.py
is the fast static check of the same policies.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iam_principals import ACCOUNT, Principal, admin, denied, learner_user, unique

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
STACK = "security-orchestrator"
FUNCTION = f"{STACK}-RestorePolicy-AbCdEf123456"
ROLE = f"{STACK}-RevertPolicyRole-AbCdEf123456"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-deployer"
STATE_MACHINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-StateMachineRole-AbCdEf123456"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:{STACK}-AlertTopic-AbCdEf123456"
RULE = f"{STACK}-iam-changes"
TABLE = f"{STACK}-IncidentsTable-AbCdEf123456"
WATCH_GUARD = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:{STACK}-WatchGuardStateMachine"
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
TRUST_ANYONE_HERE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
ANYTHING = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
PASS_STATE = json.dumps({"Type": "Pass", "End": True})
# The account owner's artifacts bucket (policies/deployer-role.yaml), and the same name in another account:
# bucket names are global, so anyone may make the one a learner's kit would look for elsewhere.
ARTIFACTS = f"{STACK}-artifacts-{ACCOUNT}"
SOMEONE_ELSES = f"{STACK}-artifacts-999999999999"
KEY = f"{STACK}/template.yaml"


@pytest.fixture(scope="module")
def learner(shared_cloud) -> Principal:
    """An IAM user holding exactly the learner's policies, each a managed policy attached to it; the account
    owner's artifacts bucket exists (policies/deployer-role.yaml), so a refusal on it is the policy's."""
    s3 = admin(shared_cloud.endpoint, "s3")
    try:
        s3.create_bucket(Bucket=ARTIFACTS)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_bucket_versioning(Bucket=ARTIFACTS, VersioningConfiguration={"Status": "Enabled"})
    return learner_user(shared_cloud.endpoint, ROOT)


def _refused(call, *args, **kwargs) -> str:
    error = denied(call, *args, **kwargs)
    assert error["Code"] in ("AccessDenied", "AccessDeniedException", "AuthorizationError"), error
    return error["Message"]


ESCAPES = {
    # roles: a new one, or the stack's roles' policies, trust and boundaries
    "create a role": ("iam", "create_role", {"RoleName": f"{STACK}-Mine", "AssumeRolePolicyDocument": TRUST_ANYONE_HERE}),
    "create a workshop- role": ("iam", "create_role", {"RoleName": "workshop-mine",
                                                       "AssumeRolePolicyDocument": TRUST_ANYONE_HERE}),
    "put a policy on a stack role": ("iam", "put_role_policy", {"RoleName": ROLE, "PolicyName": "more",
                                                                "PolicyDocument": ANYTHING}),
    "attach a policy to a stack role": ("iam", "attach_role_policy", {"RoleName": ROLE,
                                                                      "PolicyArn": ADMINISTRATOR_ACCESS}),
    "open a stack role's trust": ("iam", "update_assume_role_policy", {"RoleName": ROLE,
                                                                       "PolicyDocument": TRUST_ANYONE_HERE}),
    "lift a stack role's boundary": ("iam", "delete_role_permissions_boundary", {"RoleName": ROLE}),
    # the functions
    "replace a function's code": ("lambda", "update_function_code", {"FunctionName": FUNCTION, "ZipFile": b"PK"}),
    "change a function's configuration": ("lambda", "update_function_configuration",
                                          {"FunctionName": FUNCTION, "Role": STATE_MACHINE_ROLE}),
    "invoke RestorePolicy": ("lambda", "invoke", {"FunctionName": FUNCTION, "Payload": b"{}"}),
    "let anyone invoke a function": ("lambda", "add_permission", {"FunctionName": FUNCTION, "StatementId": "x",
                                                                  "Action": "lambda:InvokeFunction",
                                                                  "Principal": "*"}),
    # the topic that carries the links
    "rewrite the topic's policy": ("sns", "set_topic_attributes", {"TopicArn": TOPIC, "AttributeName": "Policy",
                                                                   "AttributeValue": ANYTHING}),
    "unsubscribe the admin": ("sns", "unsubscribe", {"SubscriptionArn": f"{TOPIC}:0b8a4e1c-aaaa-bbbb-cccc-1234"}),
    # the rule that watches IAM
    "rewrite the rule": ("events", "put_rule", {"Name": RULE, "EventPattern": json.dumps({"source": ["nobody"]})}),
    "remove the rule's targets": ("events", "remove_targets", {"Rule": RULE, "Ids": ["StateMachine"]}),
    "delete the rule": ("events", "delete_rule", {"Name": RULE}),
    "disable the rule": ("events", "disable_rule", {"Name": RULE}),
    # the incidents table
    "put an incident": ("dynamodb", "put_item", {"TableName": TABLE, "Item": {"incidentId": {"S": "forged"}}}),
    "edit an incident": ("dynamodb", "update_item", {
        "TableName": TABLE, "Key": {"incidentId": {"S": "real"}}, "UpdateExpression": "SET decision = :d",
        "ExpressionAttributeValues": {":d": {"S": "allow"}}}),
    "delete an incident": ("dynamodb", "delete_item", {"TableName": TABLE, "Key": {"incidentId": {"S": "real"}}}),
    # Step Functions beyond the orchestrator's own state machine, and answering a waiting execution
    "start another state machine": ("stepfunctions", "start_execution", {"stateMachineArn": WATCH_GUARD,
                                                                         "input": "{}"}),
    "answer a waiting execution": ("stepfunctions", "send_task_success", {"taskToken": "t", "output": "{}"}),
    "make a state machine": ("stepfunctions", "create_state_machine", {
        "name": unique("mine"), "roleArn": STATE_MACHINE_ROLE, "definition": json.dumps(
            {"StartAt": "P", "States": {"P": json.loads(PASS_STATE)}})}),
    # the deployer role: to CloudFormation only, and only for this stack
    "pass the deployer role to Step Functions": ("stepfunctions", "test_state", {"definition": PASS_STATE,
                                                                                 "roleArn": DEPLOYER}),
    "deploy another stack as the deployer": ("cloudformation", "create_change_set", {
        "StackName": "not-the-orchestrator", "ChangeSetName": "mine", "ChangeSetType": "CREATE",
        "RoleARN": DEPLOYER, "TemplateBody": json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})}),
    # the artifacts bucket: objects in, nothing out; no bucket of the learner's own (each is a restricted action
    # of the default RestrictedActions, or what making a bucket takes)
    "delete an artifact": ("s3", "delete_object", {"Bucket": ARTIFACTS, "Key": KEY}),
    "delete an artifact's version": ("s3", "delete_object", {"Bucket": ARTIFACTS, "Key": KEY, "VersionId": "v1"}),
    "expire the artifacts": ("s3", "put_bucket_lifecycle_configuration", {
        "Bucket": ARTIFACTS, "LifecycleConfiguration": {"Rules": [
            {"ID": "gone", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]}}),
    "rewrite the artifacts bucket's policy": ("s3", "put_bucket_policy", {"Bucket": ARTIFACTS, "Policy": ANYTHING}),
    "delete the artifacts bucket": ("s3", "delete_bucket", {"Bucket": ARTIFACTS}),
    "make a bucket": ("s3", "create_bucket", {"Bucket": f"{STACK}-artifacts-mine"}),
    "make SAM's managed stack": ("cloudformation", "create_change_set", {
        "StackName": "aws-sam-cli-managed-default", "ChangeSetName": "mine", "ChangeSetType": "CREATE",
        "TemplateBody": json.dumps({"Resources": {"B": {"Type": "AWS::S3::Bucket"}}})}),
    "upload to another account's bucket of the artifacts' name": ("s3", "put_object", {
        "Bucket": SOMEONE_ELSES, "Key": KEY, "Body": b"x"}),
    "upload outside the stack's prefix": ("s3", "put_object", {"Bucket": ARTIFACTS, "Key": "elsewhere/x", "Body": b"x"}),
    # any IAM write outside workshop- names, the learner's own user included
    "make a user": ("iam", "create_user", {"UserName": "someone"}),
    "make a managed policy": ("iam", "create_policy", {"PolicyName": "mine", "PolicyDocument": ANYTHING}),
    "a new version of someone's policy": ("iam", "create_policy_version", {
        "PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/someones", "PolicyDocument": ANYTHING, "SetAsDefault": True}),
    "make a group": ("iam", "create_group", {"GroupName": "mine"}),
    "a key for another user": ("iam", "create_access_key", {"UserName": "workshop-demo"}),
}


@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_the_learner_policy_refuses_each_way_out_of_the_lab(learner, escape):
    service, method, kwargs = ESCAPES[escape]
    message = _refused(getattr(learner.client(service), method), **kwargs)
    assert learner.arn in message, message


def test_the_learner_grants_itself_nothing(learner):
    iam = learner.client("iam")
    _refused(iam.attach_user_policy, UserName=learner.name, PolicyArn=ADMINISTRATOR_ACCESS)
    _refused(iam.put_user_policy, UserName=learner.name, PolicyName="more", PolicyDocument=ANYTHING)
    _refused(iam.add_user_to_group, GroupName="Admins", UserName=learner.name)
    _refused(iam.create_access_key, UserName=learner.name)


def test_the_same_user_still_does_what_the_workshop_needs(learner):
    """Positive controls: the refusals above are the policy's choices, not a user who may do nothing."""
    iam = learner.client("iam")
    name = unique("workshop-policy")
    arn = iam.create_policy(PolicyName=name, PolicyDocument=ANYTHING)["Policy"]["Arn"]
    iam.delete_policy(PolicyArn=arn)
    user = unique("workshop-user")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="demo", PolicyDocument=ANYTHING)
    iam.delete_user_policy(UserName=user, PolicyName="demo")
    iam.delete_user(UserName=user)
    # what `sam deploy --s3-bucket` does with the owner's bucket (HeadBucket, HeadObject, PutObject) and the
    # kit's look-up and clean-up (HeadBucket, ListObjectsV2)
    s3 = learner.client("s3")
    s3.head_bucket(Bucket=ARTIFACTS)
    s3.put_object(Bucket=ARTIFACTS, Key=KEY, Body=b"Resources: {}")
    assert s3.head_object(Bucket=ARTIFACTS, Key=KEY)["ContentLength"] == len(b"Resources: {}")
    assert s3.get_object(Bucket=ARTIFACTS, Key=KEY)["Body"].read() == b"Resources: {}"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=ARTIFACTS, Prefix=f"{STACK}/")["Contents"]] == [KEY]
    # the deployer role is found by its name (an absent role is NoSuchEntity, not a refusal)
    error = denied(iam.get_role, RoleName=f"{STACK}-deployer")
    assert error["Code"] == "NoSuchEntity", error
    # TestState as the state machine's role: IAM lets the role be passed to Step Functions
    from botocore.exceptions import ClientError

    try:
        learner.client("stepfunctions").test_state(definition=PASS_STATE, roleArn=STATE_MACHINE_ROLE)
    except ClientError as exc:
        assert "iam:PassRole" not in str(exc), exc
