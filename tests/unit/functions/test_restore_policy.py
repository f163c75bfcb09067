"""RestorePolicy: an approved change comes back exactly as written."""

import json

import boto3
import pytest
from moto import mock_aws

from lambda_loader import ROOT, load_function

app = load_function("restore_policy")
revert = load_function("revert_policy")
BAD = (ROOT / "policies" / "badpolicy.json").read_text()
GOOD = (ROOT / "policies" / "goodpolicy.json").read_text()


@pytest.fixture
def iam(aws_env):
    with mock_aws():
        yield boto3.client("iam")


def state(arn, version_id, document=BAD):
    return {"policy": document, "eventName": "CreatePolicy", "policyMeta": {"arn": arn, "versionId": version_id},
            "decision": {"action": "allow"}}


def default_document(iam, arn):
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    default = next(v for v in versions if v["IsDefaultVersion"])
    return iam.get_policy_version(PolicyArn=arn, VersionId=default["VersionId"])["PolicyVersion"]["Document"]


def test_revert_then_restore_brings_back_the_original(iam):
    arn = iam.create_policy(PolicyName="p", PolicyDocument=BAD)["Policy"]["Arn"]
    revert.handler(state(arn, "v1"), None)
    assert default_document(iam, arn) == revert.HARMLESS_DOCUMENT
    result = app.handler(state(arn, "v1"), None)
    assert default_document(iam, arn) == json.loads(BAD)
    # The placeholder is gone: only the restored version remains.
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == [
        result["restoredVersionId"]]
    assert "approved" in result["message"]


def test_restore_twice_is_safe(iam):
    arn = iam.create_policy(PolicyName="p", PolicyDocument=BAD)["Policy"]["Arn"]
    revert.handler(state(arn, "v1"), None)
    first = app.handler(state(arn, "v1"), None)
    second = app.handler(state(arn, "v1"), None)
    assert second["alreadyRestored"] is True
    assert second["restoredVersionId"] == first["restoredVersionId"]


def test_restore_with_five_versions_makes_room(iam):
    arn = iam.create_policy(PolicyName="full", PolicyDocument=GOOD)["Policy"]["Arn"]
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=GOOD, SetAsDefault=True)
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)  # v5
    revert.handler(state(arn, "v5"), None)
    # Five versions again: v1..v4 and the harmless one.
    assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 5
    app.handler(state(arn, "v5"), None)
    assert default_document(iam, arn) == json.loads(BAD)
    ids = sorted(v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"])
    # The placeholder made room; every earlier version of the policy is kept.
    assert len(ids) == 5 and {"v1", "v2", "v3", "v4"} <= set(ids)


def test_missing_input_is_an_error(iam):
    with pytest.raises(app.InvalidEvent):
        app.handler({"policyMeta": {"arn": "x"}}, None)


def test_malformed_original_fails_loudly_and_keeps_the_revert(iam):
    from botocore.exceptions import ClientError

    arn = iam.create_policy(PolicyName="p", PolicyDocument=BAD)["Policy"]["Arn"]
    revert.handler(state(arn, "v1"), None)
    with pytest.raises(ClientError):
        app.handler(state(arn, "v1", document="{not json"), None)
    assert default_document(iam, arn) == revert.HARMLESS_DOCUMENT
