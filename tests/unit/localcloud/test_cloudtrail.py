"""CloudTrail events for IAM write calls: the shape of real ones, the caller's identity."""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import yaml

from workshop.localcloud.server import identities
from workshop.localcloud.services import cloudtrail

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_CREATE = json.loads((ROOT / "events/create_policy.json").read_text())
SAMPLE_VERSION = json.loads((ROOT / "events/create_policy_version.json").read_text())
DOCUMENT = (ROOT / "policies/badpolicy.json").read_text()

CREATE_POLICY_XML = b"""<CreatePolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
<CreatePolicyResult><Policy><PolicyName>my-bad-policy</PolicyName><DefaultVersionId>v1</DefaultVersionId>
<PolicyId>ANPA1234567890EXAMPLE</PolicyId><Path>/</Path><Arn>arn:aws:iam::123456789012:policy/my-bad-policy</Arn>
<AttachmentCount>0</AttachmentCount><IsAttachable>true</IsAttachable><CreateDate>2026-11-28T10:15:30.123Z</CreateDate>
<UpdateDate>2026-11-28T10:15:30.123Z</UpdateDate></Policy></CreatePolicyResult></CreatePolicyResponse>"""
CREATE_VERSION_XML = b"""<CreatePolicyVersionResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
<CreatePolicyVersionResult><PolicyVersion><VersionId>v2</VersionId><IsDefaultVersion>true</IsDefaultVersion>
<CreateDate>2026-11-28T10:20:02Z</CreateDate></PolicyVersion></CreatePolicyVersionResult></CreatePolicyVersionResponse>"""


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


def test_create_policy_event_has_the_shape_of_a_real_one():
    event = cloudtrail.build_event(action="CreatePolicy",
                                   form=_form(Action="CreatePolicy", PolicyName="my-bad-policy",
                                              PolicyDocument=DOCUMENT, Version="2010-05-08"),
                                   response_xml=CREATE_POLICY_XML, access_key="AKIAIOSFODNN7EXAMPLE",
                                   account_id="123456789012")
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
    assert detail["readOnly"] is False and detail["eventType"] == "AwsApiCall"
    assert detail["managementEvent"] is True and detail["eventCategory"] == "Management"
    assert detail["recipientAccountId"] == "123456789012"
    assert "errorCode" not in detail


def test_create_policy_version_event_carries_the_version():
    event = cloudtrail.build_event(action="CreatePolicyVersion",
                                   form=_form(Action="CreatePolicyVersion", PolicyArn="arn:aws:iam::123456789012:policy/p",
                                              PolicyDocument=DOCUMENT, SetAsDefault="true"),
                                   response_xml=CREATE_VERSION_XML, access_key="x", account_id="123456789012")
    detail = event["detail"]
    assert detail["requestParameters"] == {"policyArn": "arn:aws:iam::123456789012:policy/p",
                                           "policyDocument": DOCUMENT, "setAsDefault": True}
    assert detail["responseElements"]["policyVersion"] == {
        "versionId": "v2", "isDefaultVersion": True, "createDate": "Nov 28, 2026, 10:20:02 AM"}
    assert set(SAMPLE_VERSION["detail"]["responseElements"]["policyVersion"]) == \
        set(detail["responseElements"]["policyVersion"])


def test_every_event_gets_a_fresh_event_id():
    args = dict(action="DeletePolicy", form=_form(Action="DeletePolicy", PolicyArn="a"), response_xml=b"<x/>",
                access_key="k", account_id="123456789012")
    first, second = cloudtrail.build_event(**args), cloudtrail.build_event(**args)
    assert first["detail"]["eventID"] != second["detail"]["eventID"]
    assert first["detail"]["responseElements"] is None


def test_a_lambda_workers_calls_are_recorded_as_its_assumed_role():
    role = "arn:aws:iam::123456789012:role/stack-RevertPolicyRole-ABC"
    key = identities.access_key_for("arn:aws:lambda:us-east-1:123456789012:function:stack-Revert-1", role,
                                        "stack-Revert-1")
    identity = cloudtrail.user_identity(key, "123456789012")
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == "arn:aws:sts::123456789012:assumed-role/stack-RevertPolicyRole-ABC/stack-Revert-1"
    issuer = identity["sessionContext"]["sessionIssuer"]
    assert issuer["type"] == "Role" and issuer["arn"] == role
    assert issuer["userName"] == "stack-RevertPolicyRole-ABC" and issuer["accountId"] == "123456789012"
    assert identity["principalId"].startswith(issuer["principalId"] + ":")


def test_other_credentials_are_the_account_root():
    identity = cloudtrail.user_identity("testing", "123456789012")
    assert identity["type"] == "Root" and identity["arn"] == "arn:aws:iam::123456789012:root"
    assert "sessionContext" not in identity


def test_read_calls_emit_nothing():
    assert cloudtrail.emit_iam_call(body=b"Action=GetPolicy&PolicyArn=x", response_xml=b"<x/>",
                                    access_key="k", account_id="123456789012") is None


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


def test_response_xml_with_a_dtd_or_entities_is_refused_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b"<CreatePolicyResponse><CreatePolicyResult><Policy><PolicyName>&b;</PolicyName>"
            b"</Policy></CreatePolicyResult></CreatePolicyResponse>")
    external = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b"<CreatePolicyResponse><CreatePolicyResult><Policy><PolicyName>&x;</PolicyName>"
                b"</Policy></CreatePolicyResult></CreatePolicyResponse>")
    assert cloudtrail.response_elements("CreatePolicy", bomb) is None
    assert cloudtrail.response_elements("CreatePolicy", external) is None
    assert cloudtrail.response_elements("CreatePolicy", CREATE_POLICY_XML)["policy"]["policyName"] == "my-bad-policy"
