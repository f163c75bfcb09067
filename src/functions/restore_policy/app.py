"""RestorePolicy (the sample's PolicyChangerApprove): a human approved the change.

Brings the original document back as the default version. The document comes
from the execution data ($.policy), exactly as CloudTrail recorded it. Handles
IAM's five-version limit by removing the orchestrator's own harmless
placeholder (and, only if still needed, the oldest non-default version), and
is safe to run twice.
"""

from __future__ import annotations

import json

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

MAX_VERSIONS = 5
PLACEHOLDER_SID = "RevertedBySecurityOrchestrator"
_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ServiceFailure", "ServiceUnavailable",
                    "RequestLimitExceeded", "InternalFailure"}


class TransientError(Exception):
    """IAM was busy; the state machine retries this error by name."""


class InvalidEvent(Exception):
    """The input does not carry the policy ARN and the original document."""


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _TRANSIENT_CODES:
            raise TransientError(f"IAM {fn.__name__}: {code}") from exc
        raise


def _parsed(document):
    if isinstance(document, str):
        try:
            return json.loads(document)
        except ValueError:
            return document
    return document


def _is_placeholder(document) -> bool:
    statements = (document or {}).get("Statement") if isinstance(document, dict) else None
    return isinstance(statements, list) and any(
        isinstance(s, dict) and s.get("Sid") == PLACEHOLDER_SID for s in statements
    )


def restore_policy(iam, arn: str, original_document: str) -> dict:
    versions = _call(iam.list_policy_versions, PolicyArn=arn)["Versions"]
    documents = {
        v["VersionId"]: _parsed(_call(iam.get_policy_version, PolicyArn=arn, VersionId=v["VersionId"])
                                ["PolicyVersion"]["Document"])
        for v in versions
    }
    default = next(v["VersionId"] for v in versions if v["IsDefaultVersion"])
    wanted = _parsed(original_document)
    if documents[default] == wanted:
        return {"restoredVersionId": default, "alreadyRestored": True}

    placeholder_in_force = _is_placeholder(documents.get(default))
    if len(versions) >= MAX_VERSIONS:
        others = [v for v in versions if not v["IsDefaultVersion"]]
        spare = [v for v in others if _is_placeholder(documents[v["VersionId"]])]
        if spare:
            _call(iam.delete_policy_version, PolicyArn=arn, VersionId=spare[0]["VersionId"])
        elif placeholder_in_force and others:
            # The placeholder is the default and IAM will not delete a default:
            # put the newest earlier (already accepted) version in force for the
            # moment it takes, so no version of the policy is lost.
            newest = max(others, key=lambda v: v["CreateDate"])
            _call(iam.set_default_policy_version, PolicyArn=arn, VersionId=newest["VersionId"])
            _call(iam.delete_policy_version, PolicyArn=arn, VersionId=default)
            placeholder_in_force = False
        else:
            oldest = min(others, key=lambda v: v["CreateDate"])
            _call(iam.delete_policy_version, PolicyArn=arn, VersionId=oldest["VersionId"])
    text = original_document if isinstance(original_document, str) else json.dumps(original_document)
    created = _call(iam.create_policy_version, PolicyArn=arn, PolicyDocument=text, SetAsDefault=True)
    restored = created["PolicyVersion"]["VersionId"]
    if placeholder_in_force:
        _call(iam.delete_policy_version, PolicyArn=arn, VersionId=default)
    return {"restoredVersionId": restored, "alreadyRestored": False}


def handler(event, context):
    meta = event.get("policyMeta") if isinstance(event, dict) else None
    if not isinstance(meta, dict) or not meta.get("arn") or "policy" not in event:
        raise InvalidEvent("RestorePolicy needs policyMeta.arn and policy (the original document)")
    iam = boto3.client("iam", config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    result = restore_policy(iam, meta["arn"], event["policy"])
    name = meta["arn"].rsplit("/", 1)[-1]
    result["message"] = (
        f"Policy {name}: approved; the original document is the default again "
        f"(version {result['restoredVersionId']})."
    )
    print(json.dumps({"policy": meta["arn"], **{k: v for k, v in result.items() if k != "message"}}))
    return result
