"""CloudTrail events for IAM write calls: the shape of real ones, the caller's identity, from the IAM model."""

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode

import boto3
import yaml
from moto import mock_aws

from workshop.localcloud.server import authentication, calls, identities
from workshop.localcloud.server.authentication import Caller, learner_caller
from workshop.localcloud.services import cloudtrail

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_CREATE = json.loads((ROOT / "events/create_policy.json").read_text())
SAMPLE_VERSION = json.loads((ROOT / "events/create_policy_version.json").read_text())
DOCUMENT = (ROOT / "policies/badpolicy.json").read_text()
ACCOUNT = "123456789012"
CREATED = datetime(2026, 11, 28, 10, 15, 30, tzinfo=timezone.utc)
# what moto's IAM returns for CreatePolicy / CreatePolicyVersion (the attributes CloudTrail reads)
POLICY = SimpleNamespace(name="my-bad-policy", id="ANPA1234567890EXAMPLE", arn=f"arn:aws:iam::{ACCOUNT}:policy/my-bad-policy",
                         path="/", default_version_id="v1", attachment_count=0, create_date=CREATED,
                         update_date=CREATED)
VERSION = SimpleNamespace(version_id="v2", is_default=True, create_date=datetime(2026, 11, 28, 10, 20, 2))
ALICE = Caller(access_key_id="AKIAALICE", principal_arn=f"arn:aws:iam::{ACCOUNT}:user/alice", account_id=ACCOUNT,
               kind="user", user_id="AIDAALICE")


def _form(**params):
    return parse_qs(urlencode(params))


def _keys(node, prefix=""):
    if isinstance(node, dict):
        keys = set()
        for key, value in node.items():
            keys.add(prefix + key)
            keys |= _keys(value, prefix + key + ".")
        return keys
    return set()


def _event(action, form, result=None, caller=None):
    return cloudtrail.build_event(action=action, request_parameters=cloudtrail.request_parameters(form),
                                  response_elements=cloudtrail.response_elements(action, result),
                                  identity=cloudtrail.user_identity(caller or learner_caller("AKIAIOSFODNN7EXAMPLE")),
                                  account_id=ACCOUNT)


def test_create_policy_event_has_the_shape_of_a_real_one():
    event = _event("CreatePolicy", _form(Action="CreatePolicy", PolicyName="my-bad-policy", PolicyDocument=DOCUMENT,
                                         Version="2010-05-08"), POLICY)
    ignore = {"detail.userIdentity.userName", "detail.userIdentity.sessionContext"}
    missing = {k for k in _keys(SAMPLE_CREATE) - _keys(event) if not any(k.startswith(i) for i in ignore)}
    assert not missing
    detail = event["detail"]
    assert event["source"] == "aws.iam" and event["detail-type"] == "AWS API Call via CloudTrail"
    assert event["region"] == detail["awsRegion"] == "us-east-1"
    assert detail["requestParameters"] == {"policyName": "my-bad-policy", "policyDocument": DOCUMENT}
    policy = detail["responseElements"]["policy"]
    assert policy["arn"] == "arn:aws:iam::123456789012:policy/my-bad-policy"
    assert policy["defaultVersionId"] == "v1" and policy["attachmentCount"] == 0
    assert policy["isAttachable"] is True and policy["createDate"] == "Nov 28, 2026, 10:15:30 AM"
    assert set(policy) == set(SAMPLE_CREATE["detail"]["responseElements"]["policy"])
    assert detail["readOnly"] is False and detail["eventType"] == "AwsApiCall"
    assert detail["managementEvent"] is True and detail["eventCategory"] == "Management"
    assert detail["recipientAccountId"] == "123456789012"
    assert "errorCode" not in detail


def test_create_policy_version_event_carries_the_version():
    event = _event("CreatePolicyVersion", _form(Action="CreatePolicyVersion", PolicyArn="arn:aws:iam::123456789012:policy/p",
                                                PolicyDocument=DOCUMENT, SetAsDefault="true"), VERSION)
    detail = event["detail"]
    assert detail["requestParameters"] == {"policyArn": "arn:aws:iam::123456789012:policy/p",
                                           "policyDocument": DOCUMENT, "setAsDefault": True}
    assert detail["responseElements"]["policyVersion"] == {
        "versionId": "v2", "isDefaultVersion": True, "createDate": "Nov 28, 2026, 10:20:02 AM"}
    assert set(SAMPLE_VERSION["detail"]["responseElements"]["policyVersion"]) == \
        set(detail["responseElements"]["policyVersion"])


def test_every_event_gets_a_fresh_event_id():
    first, second = (_event("DeletePolicy", _form(Action="DeletePolicy", PolicyArn="a")) for _ in range(2))
    assert first["detail"]["eventID"] != second["detail"]["eventID"]
    assert first["detail"]["responseElements"] is None


def test_a_lambda_workers_calls_are_recorded_as_its_assumed_role():
    role = "arn:aws:iam::123456789012:role/stack-RevertPolicyRole-ABC"
    worker = identities.credentials_for("arn:aws:lambda:us-east-1:123456789012:function:stack-Revert-1", role,
                                        "stack-Revert-1")
    identity = cloudtrail.user_identity(authentication.worker_secret(worker.access_key_id).caller)
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == "arn:aws:sts::123456789012:assumed-role/stack-RevertPolicyRole-ABC/stack-Revert-1"
    issuer = identity["sessionContext"]["sessionIssuer"]
    assert issuer["type"] == "Role" and issuer["arn"] == role
    assert issuer["userName"] == "stack-RevertPolicyRole-ABC" and issuer["accountId"] == "123456789012"
    assert identity["principalId"].startswith(issuer["principalId"] + ":")
    assert identity["accessKeyId"] == worker.access_key_id  # the key id, as on AWS; never the secret or token
    assert worker.secret_access_key not in json.dumps(identity) and worker.session_token not in json.dumps(identity)


def test_the_per_start_key_is_the_account_root_and_an_iam_users_key_the_user():
    identity = cloudtrail.user_identity(learner_caller("LCAKEXAMPLE"))
    assert identity["type"] == "Root" and identity["arn"] == "arn:aws:iam::123456789012:root"
    assert identity["accessKeyId"] == "LCAKEXAMPLE" and "sessionContext" not in identity
    assert cloudtrail.user_identity(ALICE) == {"type": "IAMUser", "principalId": "AIDAALICE", "accessKeyId": "AKIAALICE",
                                               "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "accountId": ACCOUNT,
                                               "userName": "alice"}


def _captured(monkeypatch):
    sent = []
    monkeypatch.setattr(cloudtrail, "deliver", sent.append)
    return sent


def test_each_change_of_the_iam_model_is_one_event_with_its_callers_identity(monkeypatch):
    """From moto's IAM model: one event per call (not per inner write), none for reads or refused calls."""
    sent = _captured(monkeypatch)
    with mock_aws():
        cloudtrail.install()
        iam = boto3.client("iam", region_name="us-east-1")
        with calls.serving(calls.Call(ALICE, service="iam")):
            iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
            iam.put_role_policy(RoleName="r", PolicyName="inline", PolicyDocument=DOCUMENT)  # writes via Role.put_policy
            iam.get_role_policy(RoleName="r", PolicyName="inline")
            try:
                iam.put_role_policy(RoleName="nobody", PolicyName="inline", PolicyDocument=DOCUMENT)
            except iam.exceptions.NoSuchEntityException:
                pass
    assert [event["detail"]["eventName"] for event in sent] == ["CreateRole", "PutRolePolicy"]
    put = sent[1]["detail"]
    assert put["requestParameters"] == {"roleName": "r", "policyName": "inline", "policyDocument": DOCUMENT}
    assert put["userIdentity"]["type"] == "IAMUser" and put["userIdentity"]["userName"] == "alice"
    assert sent[0]["detail"]["responseElements"]["role"]["roleName"] == "r"


def test_a_change_cloudformation_makes_is_invoked_by_it_as_the_caller_or_its_service_role(monkeypatch):
    sent = _captured(monkeypatch)
    with mock_aws():
        cloudtrail.install()
        iam = boto3.client("iam", region_name="us-east-1")
        with calls.serving(calls.Call(learner_caller("LCAKDEPLOYER"), service="cloudformation",
                                      via=cloudtrail.CLOUDFORMATION,
                                      parameters={"Action": ["CreateStack"], "StackName": ["s"]})):
            iam.create_role(RoleName="made-by-a-stack", AssumeRolePolicyDocument="{}")
        service_role = f"arn:aws:iam::{ACCOUNT}:role/deployer"
        with calls.serving(calls.Call(learner_caller("LCAKDEPLOYER"), service="cloudformation",
                                      via=cloudtrail.CLOUDFORMATION,
                                      parameters={"Action": ["CreateStack"], "RoleARN": [service_role]})):
            iam.create_role(RoleName="made-with-a-role", AssumeRolePolicyDocument="{}")
    as_caller, as_role = (event["detail"] for event in sent)
    assert as_caller["userIdentity"]["type"] == "Root" and as_caller["userIdentity"]["accessKeyId"] == "LCAKDEPLOYER"
    assert as_caller["userIdentity"]["invokedBy"] == as_caller["sourceIPAddress"] == as_caller["userAgent"] == \
        "cloudformation.amazonaws.com"
    assert as_caller["requestParameters"]["roleName"] == "made-by-a-stack"
    assert as_role["userIdentity"]["type"] == "AssumedRole"
    assert as_role["userIdentity"]["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/AWSCloudFormation"
    assert as_role["userIdentity"]["invokedBy"] == "cloudformation.amazonaws.com"


def test_the_templates_rule_matches_with_moto_and_skips_refused_calls():
    """moto's matcher handles the template's pattern, `errorCode: [{exists: false}]` included."""
    from moto.events.models import EventPattern

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    pattern = template["Resources"]["StateMachine"]["Properties"]["Events"]["PolicyChanged"]["Properties"]["Pattern"]
    matcher = EventPattern.load(json.dumps(pattern))
    assert matcher.matches_event(SAMPLE_CREATE)
    assert matcher.matches_event(SAMPLE_VERSION)
    refused = json.loads(json.dumps(SAMPLE_CREATE))
    refused["detail"]["errorCode"] = "MalformedPolicyDocumentException"
    assert not matcher.matches_event(refused)
    other = json.loads(json.dumps(SAMPLE_CREATE))
    other["detail"]["eventName"] = "DeletePolicy"
    assert not matcher.matches_event(other)



def test_a_bucket_policy_put_is_an_s3_management_event_the_templates_rule_matches(monkeypatch):
    """A bucket policy grants without any IAM policy: PutBucketPolicy is CloudTrail's `aws.s3` management event
    with the bucket and the policy (as an object), and the orchestrator's rule sees it."""
    from moto.events.models import EventPattern

    sent = _captured(monkeypatch)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:DeleteObject",
                                                      "Resource": "arn:aws:s3:::the-bucket/*"}]}
    with mock_aws():
        cloudtrail.install()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="the-bucket")
        with calls.serving(calls.Call(ALICE, service="s3")):
            s3.put_bucket_policy(Bucket="the-bucket", Policy=json.dumps(policy))
            s3.get_bucket_policy(Bucket="the-bucket")
    [event] = sent
    assert event["source"] == "aws.s3" and event["detail"]["eventSource"] == "s3.amazonaws.com"
    assert event["detail"]["eventName"] == "PutBucketPolicy"
    assert event["detail"]["requestParameters"] == {"bucketName": "the-bucket", "bucketPolicy": policy}
    assert event["detail"]["userIdentity"]["userName"] == "alice"

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    pattern = template["Resources"]["StateMachine"]["Properties"]["Events"]["PolicyChanged"]["Properties"]["Pattern"]
    assert EventPattern.load(json.dumps(pattern)).matches_event(event)
