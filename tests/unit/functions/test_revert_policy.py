"""RevertPolicy: the risky version leaves force at once, safely, twice if need be."""

import json

import boto3
import pytest
from moto import mock_aws

from lambda_loader import ROOT, load_function

app = load_function("revert_policy")
BAD = (ROOT / "policies" / "badpolicy.json").read_text()
GOOD = (ROOT / "policies" / "goodpolicy.json").read_text()


@pytest.fixture
def iam(aws_env):
    with mock_aws():
        yield boto3.client("iam")


def default_document(iam, arn):
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    default = next(v for v in versions if v["IsDefaultVersion"])
    return default["VersionId"], iam.get_policy_version(PolicyArn=arn, VersionId=default["VersionId"])[
        "PolicyVersion"]["Document"]


def event_for(arn, version_id):
    return {"policy": BAD, "eventName": "CreatePolicy", "policyMeta": {"arn": arn, "versionId": version_id}}


def test_new_bad_policy_is_swapped_for_the_harmless_version(iam):
    arn = iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    result = app.handler(event_for(arn, "v1"), None)
    version, document = default_document(iam, arn)
    assert document == app.HARMLESS_DOCUMENT
    assert version == result["harmlessVersionId"] != "v1"
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == [version]
    assert result["deletedVersionId"] == "v1"
    assert "harmless" in result["message"]


def test_running_twice_is_safe(iam):
    arn = iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    first = app.handler(event_for(arn, "v1"), None)
    second = app.handler(event_for(arn, "v1"), None)
    assert second["alreadyReverted"] is True
    assert second["harmlessVersionId"] == first["harmlessVersionId"]
    assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 1


def test_a_retry_whose_first_attempt_finished_goes_on_to_ask(iam):
    # The first attempt reverted, then its answer was lost: the retry must not
    # report a duplicate, or nobody would be asked.
    arn = iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    app.handler(event_for(arn, "v1"), None)
    retried = app.handler(dict(event_for(arn, "v1"), retryCount=1), None)
    assert retried["alreadyReverted"] is False
    again = app.handler(dict(event_for(arn, "v1"), retryCount=0), None)
    assert again["alreadyReverted"] is True  # another execution, same event


def test_retry_after_a_half_done_first_attempt(iam):
    # First attempt created the harmless version, then died before deleting v2.
    arn = iam.create_policy(PolicyName="edited", PolicyDocument=GOOD)["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)  # v2
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(app.HARMLESS_DOCUMENT))  # v3
    result = app.handler(event_for(arn, "v2"), None)
    assert result["harmlessVersionId"] == "v3"
    ids = sorted(v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"])
    assert ids == ["v1", "v3"]


def test_edit_of_a_policy_that_already_has_five_versions(iam):
    arn = iam.create_policy(PolicyName="full", PolicyDocument=GOOD)["Policy"]["Arn"]
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=GOOD, SetAsDefault=True)
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)  # v5
    result = app.handler(event_for(arn, "v5"), None)
    version, document = default_document(iam, arn)
    assert document == app.HARMLESS_DOCUMENT
    ids = sorted(v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"])
    # The four earlier versions are all kept: only the risky one went.
    assert ids == sorted(["v1", "v2", "v3", "v4", version])
    assert "v5" not in ids and result["deletedVersionId"] == "v5"


def test_a_non_default_risky_version_is_just_deleted(iam):
    arn = iam.create_policy(PolicyName="staged", PolicyDocument=GOOD)["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=False)  # v2
    result = app.handler(event_for(arn, "v2"), None)
    version, document = default_document(iam, arn)
    assert version == "v1" and result["harmlessVersionId"] is None
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v1"]


def test_missing_policy_meta_is_an_error_not_a_silent_success(iam):
    with pytest.raises(app.InvalidEvent):
        app.handler({"policy": BAD}, None)


def test_iam_errors_are_raised_not_swallowed(iam):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        app.handler(event_for("arn:aws:iam::123456789012:policy/nope", "v1"), None)
    assert info.value.response["Error"]["Code"] == "NoSuchEntity"


def test_throttling_becomes_transient_error_for_the_retry():
    from botocore.exceptions import ClientError

    def throttled(**kwargs):
        raise ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "ListPolicyVersions")

    with pytest.raises(app.TransientError):
        app._call(throttled)


def test_the_samples_policy_meta_shape_is_understood(iam):
    # CloudTrail's responseElements.policy names the version defaultVersionId.
    arn = iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    event = {"policy": BAD, "policyMeta": {"arn": arn, "policyName": "bad", "defaultVersionId": "v1"}}
    assert app.handler(event, None)["deletedVersionId"] == "v1"
