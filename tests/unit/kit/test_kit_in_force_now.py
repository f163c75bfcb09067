"""What the approval panel shows as "in force now" for each kind of incident the orchestrator records: read where
the change was (IAM, or S3 for a bucket policy), the incident's document while it is back, nothing once it is
taken out, and "could not be read" (never "nothing") when the reader may not look."""

import html
import json
from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from workshop.aws.incidents import (Incident, PendingApproval, Unreadable, document_in_force, in_force_now,
                                    is_restored)
from workshop.display.incidents import statement_diff

BAD = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "*"}]})
HARMLESS = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"}, "Action": "sts:AssumeRole"}]})


def incident(kind: str, target: dict, document: str = BAD) -> Incident:
    return Incident(incident_id="i", kind=kind, label=kind, target=target, document=document, changed_by={},
                    event_name="", event_time="", verdict="remedy", why="", matches=[], status="pending",
                    execution_arn="", created_at=datetime.now(timezone.utc))


def bucket_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AnyoneDeletes", "Effect": "Allow", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}]})


@pytest.fixture
def aws(aws_env):
    with mock_aws():
        yield boto3.client("iam"), boto3.client("s3", region_name="us-east-1")


def _in_force_and_taken_out(kind, iam, s3):
    """(the incident, a function putting its change in force, one taking it out) for each kind."""
    if kind == "managed":
        arn = iam.create_policy(PolicyName="p", PolicyDocument=BAD)["Policy"]["Arn"]
        return (incident(kind, {"policyArn": arn, "versionId": "v1"}), lambda: iam.set_default_policy_version(
            PolicyArn=arn, VersionId="v1"), lambda: iam.create_policy_version(
            PolicyArn=arn, PolicyDocument=HARMLESS, SetAsDefault=True))
    if kind == "inline":
        iam.create_user(UserName="u")
        return (incident(kind, {"principalType": "user", "principalName": "u", "policyName": "p"}),
                lambda: iam.put_user_policy(UserName="u", PolicyName="p", PolicyDocument=BAD),
                lambda: iam.delete_user_policy(UserName="u", PolicyName="p"))
    if kind == "attachment":
        iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
        arn = iam.create_policy(PolicyName="a", PolicyDocument=BAD)["Policy"]["Arn"]
        return (incident(kind, {"principalType": "role", "principalName": "r", "policyArn": arn}),
                lambda: iam.attach_role_policy(RoleName="r", PolicyArn=arn),
                lambda: iam.detach_role_policy(RoleName="r", PolicyArn=arn))
    if kind == "membership":
        iam.create_user(UserName="m")
        iam.create_group(GroupName="g")
        iam.put_group_policy(GroupName="g", PolicyName="p", PolicyDocument=BAD)
        return (incident(kind, {"principalType": "user", "principalName": "m", "groupName": "g"}),
                lambda: iam.add_user_to_group(GroupName="g", UserName="m"),
                lambda: iam.remove_user_from_group(GroupName="g", UserName="m"))
    if kind == "trust":
        held = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "HeldBySecurityOrchestrator", "Effect": "Deny", "Principal": {"AWS": "*"},
             "Action": "sts:AssumeRole"}]})
        iam.create_role(RoleName="t", AssumeRolePolicyDocument=held)
        return (incident(kind, {"principalType": "role", "principalName": "t"}, TRUST),
                lambda: iam.update_assume_role_policy(RoleName="t", PolicyDocument=TRUST),
                lambda: iam.update_assume_role_policy(RoleName="t", PolicyDocument=held))
    s3.create_bucket(Bucket="workshop-bucket")
    return (incident(kind, {"bucketName": "workshop-bucket"}, bucket_policy("workshop-bucket")),
            lambda: s3.put_bucket_policy(Bucket="workshop-bucket", Policy=bucket_policy("workshop-bucket")),
            lambda: s3.delete_bucket_policy(Bucket="workshop-bucket"))


@pytest.mark.parametrize("kind", ["managed", "inline", "attachment", "membership", "trust", "bucket"])
def test_in_force_now_for_each_kind_is_what_holds_where_the_change_was(aws, kind):
    iam, s3 = aws
    found, put_in_force, take_out = _in_force_and_taken_out(kind, iam, s3)
    put_in_force()
    assert document_in_force(iam, found, s3=s3) is not None
    assert json.loads(json.dumps(document_in_force(iam, found, s3=s3))) == json.loads(found.document)
    assert is_restored(iam, found, s3=s3)
    assert "(nothing" not in statement_diff(found.document, document_in_force(iam, found, s3=s3))
    take_out()
    now = document_in_force(iam, found, s3=s3)
    assert not is_restored(iam, found, s3=s3)
    if kind in ("managed", "trust"):  # a harmless version, a held trust policy: something else is in force
        assert isinstance(now, dict) and now != json.loads(found.document)
    else:
        assert now is None and "(nothing: taken out of force)" in statement_diff(found.document, now)


def test_a_bucket_policy_without_s3_is_unreadable_not_nothing(aws):
    iam, s3 = aws
    found, put_in_force, _ = _in_force_and_taken_out("bucket", iam, s3)
    put_in_force()
    now = in_force_now(iam, found)
    assert isinstance(now, Unreadable) and "s3:GetBucketPolicy" in str(now)
    assert not is_restored(iam, found)
    assert "(could not be read" in statement_diff(found.document, now)


class _Refusing:
    """A client that answers every call AccessDenied."""

    def __getattr__(self, name):
        def refused(**kwargs):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": f"not authorized to perform {name}"}},
                              name)
        return refused


@pytest.mark.parametrize("kind, target", [
    ("managed", {"policyArn": "arn:aws:iam::123456789012:policy/p"}),
    ("inline", {"principalType": "user", "principalName": "u", "policyName": "p"}),
    ("attachment", {"principalType": "role", "principalName": "r", "policyArn": "arn:aws:iam::aws:policy/X"}),
    ("membership", {"principalType": "user", "principalName": "m", "groupName": "g"}),
    ("trust", {"principalType": "role", "principalName": "t"}),
    ("bucket", {"bucketName": "b"})])
def test_a_refused_read_is_unreadable_for_every_kind(kind, target):
    found = incident(kind, target)
    now = document_in_force(_Refusing(), found, s3=_Refusing())
    assert isinstance(now, Unreadable) and "AccessDenied" in str(now), now
    assert not is_restored(_Refusing(), found, s3=_Refusing())


def test_the_panel_card_shows_a_bucket_policy_in_force(aws):
    from workshop.widgets.approvals import approval_card_html

    iam, s3 = aws
    found, put_in_force, _ = _in_force_and_taken_out("bucket", iam, s3)
    put_in_force()
    card = approval_card_html(PendingApproval(found, document_in_force(iam, found, s3=s3)))
    assert "is in force again" in card and "could not be read" not in card
    s3.put_bucket_policy(Bucket="workshop-bucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "OnlyTheOwner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::workshop-bucket/*"}]}))
    card = approval_card_html(PendingApproval(found, document_in_force(iam, found, s3=s3)))
    assert "-      \"Sid\": \"AnyoneDeletes\"" in html.unescape(card) and "OnlyTheOwner" in card
