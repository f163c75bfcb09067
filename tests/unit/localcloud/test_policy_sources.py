"""The resource-based policies the authorizer reads from moto's state (server/policy_sources.py)."""

import io
import json
import zipfile

import boto3
from moto import mock_aws

from workshop.localcloud.server import policy_sources

ACCOUNT = "123456789012"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def test_a_stack_made_function_permission_reads_as_lambda_stores_it():
    """CloudFormation's AWS::Lambda::Permission carries FunctionName; the statement Lambda keeps does not."""
    from moto.awslambda.models import Permission

    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        function = boto3.client("lambda", region_name="us-east-1").create_function(
            FunctionName="f", Runtime="python3.12", Role=role, Handler="app.handler",
            Code={"ZipFile": _zip()})["FunctionArn"]
        Permission.create_from_cloudformation_json("p", {"Properties": {
            "FunctionName": function, "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
            "SourceArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc/*"}}, ACCOUNT, "us-east-1")
        found = policy_sources.resource_policy("lambda:InvokeFunction", function)
    assert found.document is not None and found.account == ACCOUNT
    assert "FunctionName" not in json.dumps(policy_sources._as_lambda_stores_it(
        {"Sid": "x", "Effect": "Allow", "FunctionName": "f", "FunctionUrlAuthType": "NONE"}))
    assert policy_sources._as_lambda_stores_it({"Effect": "Allow", "FunctionUrlAuthType": "NONE"})["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}


def test_an_aws_managed_policy_is_no_other_accounts_resource():
    """arn:aws:iam::aws:policy/... belongs to no account: reading it takes the caller's own grant only."""
    found = policy_sources.resource_policy("iam:GetPolicy", "arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert found.document is None and found.account is None and not found.must_allow


def test_a_role_is_found_while_another_request_adds_roles(monkeypatch):
    """moto's get_role walks the live dict of roles, which another request's CreateRole may grow meanwhile
    ("dictionary changed size during iteration"): that must not read as "no such role" and refuse the
    role's own calls (the authorizer treats a missing principal as allowed nothing)."""
    from moto.iam.models import IAMBackend

    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        arn = iam.create_role(RoleName="events-target", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "events.amazonaws.com"}}]}))["Role"]["Arn"]

        def walk_interrupted(self, role_name):
            raise RuntimeError("dictionary changed size during iteration")

        monkeypatch.setattr(IAMBackend, "get_role", walk_interrupted)
        found = policy_sources.lookup_role(ACCOUNT, arn)
        assert found is not None and found.arn == arn
        assert policy_sources.lookup_role(ACCOUNT, arn.replace("events-target", "nobody")) is None
