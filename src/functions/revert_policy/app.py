"""RevertPolicy (the sample's TempRemove): take a risky policy version out of force at once.

Makes a harmless version the default and deletes the offending one. The
original document stays in the execution data ($.policy), so RestorePolicy
can bring it back if a human approves. Safe to run twice (Step Functions
retries), and copes with IAM's limit of five versions per policy without
deleting any version the incident did not create.
"""

from __future__ import annotations

import json
import os

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

MAX_VERSIONS = 5
# Grants one read-only CloudWatch Logs query action: attached principals lose
# what the risky version gave them and gain nothing that matters.
HARMLESS_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "RevertedBySecurityOrchestrator",
            "Effect": "Allow",
            "Action": "logs:GetLogGroupFields",
            "Resource": "*",
        }
    ],
}
_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ServiceFailure", "ServiceUnavailable",
                    "RequestLimitExceeded", "InternalFailure"}


class TransientError(Exception):
    """IAM was busy; the state machine retries this error by name."""


class InvalidEvent(Exception):
    """The input does not name the policy and the version to revert."""


def _iam():
    return boto3.client("iam", config=Config(retries={"max_attempts": 3, "mode": "standard"}))


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _TRANSIENT_CODES:
            raise TransientError(f"IAM {fn.__name__}: {code}") from exc
        raise


def _document(iam, arn: str, version_id: str):
    version = _call(iam.get_policy_version, PolicyArn=arn, VersionId=version_id)["PolicyVersion"]
    document = version["Document"]
    return json.loads(document) if isinstance(document, str) else document


def revert_policy(iam, arn: str, bad_version: str, retry: int = 0) -> dict:
    """`retry` is the state's retry count: on a retry, a version already gone was
    deleted by this execution's own earlier attempt (whose answer was lost), so
    the incident goes on; on a first attempt it means another execution handled
    the same event (at-least-once delivery), reported as alreadyReverted."""
    versions = _call(iam.list_policy_versions, PolicyArn=arn)["Versions"]
    by_id = {v["VersionId"]: v for v in versions}
    default = next(v["VersionId"] for v in versions if v["IsDefaultVersion"])

    if bad_version not in by_id:
        return {"harmlessVersionId": default, "deletedVersionId": bad_version, "alreadyReverted": retry == 0}

    if bad_version != default:
        # Created with setAsDefault=false: not in force, so nothing to swap in.
        _call(iam.delete_policy_version, PolicyArn=arn, VersionId=bad_version)
        return {"harmlessVersionId": None, "deletedVersionId": bad_version, "alreadyReverted": False}

    harmless = next(
        (v["VersionId"] for v in versions if _document(iam, arn, v["VersionId"]) == HARMLESS_DOCUMENT),
        None,
    )
    if harmless is None:
        if len(versions) >= MAX_VERSIONS:
            # No room for the harmless version. The risky one must go first; IAM
            # refuses to delete the default, so make an older (already accepted)
            # version the default for the moment it takes.
            older = next(v for v in versions if v["VersionId"] != bad_version)
            _call(iam.set_default_policy_version, PolicyArn=arn, VersionId=older["VersionId"])
            _call(iam.delete_policy_version, PolicyArn=arn, VersionId=bad_version)
            created = _call(iam.create_policy_version, PolicyArn=arn,
                            PolicyDocument=json.dumps(HARMLESS_DOCUMENT), SetAsDefault=True)
            return {"harmlessVersionId": created["PolicyVersion"]["VersionId"],
                    "deletedVersionId": bad_version, "alreadyReverted": False}
        created = _call(iam.create_policy_version, PolicyArn=arn,
                        PolicyDocument=json.dumps(HARMLESS_DOCUMENT), SetAsDefault=True)
        harmless = created["PolicyVersion"]["VersionId"]
    else:
        _call(iam.set_default_policy_version, PolicyArn=arn, VersionId=harmless)
    _call(iam.delete_policy_version, PolicyArn=arn, VersionId=bad_version)
    return {"harmlessVersionId": harmless, "deletedVersionId": bad_version, "alreadyReverted": False}


def handler(event, context):
    meta = event.get("policyMeta") if isinstance(event, dict) else None
    # versionId is what ModifyState gives; defaultVersionId is CloudTrail's own
    # name in a CreatePolicy event (as the original sample passed it on).
    version = (meta.get("versionId") or meta.get("defaultVersionId")) if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not meta.get("arn") or not version:
        raise InvalidEvent(
            "RevertPolicy needs policyMeta.arn and policyMeta.versionId (the output of ModifyState)"
        )
    arn, bad_version = meta["arn"], version
    try:
        retry = int(event.get("retryCount") or 0)
    except (TypeError, ValueError):
        retry = 0
    result = revert_policy(_iam(), arn, bad_version, retry)
    name = arn.rsplit("/", 1)[-1]
    result["message"] = (
        f"Policy {name}: version {bad_version} was taken out of force and deleted; "
        f"the harmless version {result['harmlessVersionId']} is the default until someone decides."
    )
    result["action"] = "remedy"
    print(json.dumps({"policy": arn, **{k: v for k, v in result.items() if k != "message"}}))
    return result
