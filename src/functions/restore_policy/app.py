"""RestorePolicy (the sample's PolicyChangerApprove): a human approved the change.

Takes only the incident's id. Everything else comes from the incidents table,
where RevertPolicy stored what it took out of force (read from IAM) and a
decider (the signed e-mail link, or the panel with the learner's own
credentials) recorded the decision. Nothing is restored unless the table
says "allow": an execution forged with a document, or this function invoked
directly, restores nothing that a human did not approve.

* managed policy: the stored document becomes a new version, the default if
  the reverted one was (IAM's five-version limit handled by removing the
  orchestrator's own harmless placeholder first);
* inline policy: put back under its name, exactly the stored text;
* attachment: attached again.

Before it writes IAM it records an approval marker (the exact state it is about
to restore) in the table: its own CloudTrail event is then recognised as an
approved restore (ValidatePolicy's IgnoreOwnChange) instead of a new incident.
Safe to run twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.handlers import json_decode_policies

MAX_VERSIONS = 5
PLACEHOLDER_SID = "RevertedBySecurityOrchestrator"
_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ServiceFailure", "ServiceUnavailable",
                    "RequestLimitExceeded", "InternalFailure", "ProvisionedThroughputExceededException",
                    "InternalServerError"}


class TransientError(Exception):
    """IAM or DynamoDB was busy; the state machine retries this error by name."""


class InvalidEvent(Exception):
    """The input does not name an incident of the table."""


class NotApproved(Exception):
    """The incidents table holds no "allow" decision for this incident: nothing is restored."""


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _TRANSIENT_CODES:
            raise TransientError(f"{fn.__name__}: {code}") from exc
        raise


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _parsed(document):
    if isinstance(document, str):
        text = document if document.lstrip().startswith("{") else unquote(document)
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return document


def document_digest(text: str) -> str:
    """SHA-256 of the document's canonical JSON (ValidatePolicy computes the same)."""
    try:
        canonical = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        canonical = text
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def approval_marker_id(state_key: str) -> str:
    return hashlib.sha256(f"approved|{state_key}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _is_placeholder(document) -> bool:
    statements = (document or {}).get("Statement") if isinstance(document, dict) else None
    return isinstance(statements, list) and any(
        isinstance(s, dict) and s.get("Sid") == PLACEHOLDER_SID for s in statements
    )


def restore_managed(iam, arn: str, text: str, as_default: bool = True) -> dict:
    """The stored document as a new version of `arn` (the default when `as_default`)."""
    versions = _call(iam.list_policy_versions, PolicyArn=arn)["Versions"]
    documents = {
        v["VersionId"]: _parsed(_call(iam.get_policy_version, PolicyArn=arn, VersionId=v["VersionId"])
                                ["PolicyVersion"]["Document"])
        for v in versions
    }
    default = next(v["VersionId"] for v in versions if v["IsDefaultVersion"])
    wanted = _parsed(text)
    same = [v["VersionId"] for v in versions if documents[v["VersionId"]] == wanted]
    if (as_default and documents[default] == wanted) or (not as_default and same):
        return {"restoredVersionId": default if as_default else same[0], "alreadyRestored": True}

    placeholder_in_force = as_default and _is_placeholder(documents.get(default))
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
    created = _call(iam.create_policy_version, PolicyArn=arn, PolicyDocument=text, SetAsDefault=as_default)
    restored = created["PolicyVersion"]["VersionId"]
    if placeholder_in_force:
        _call(iam.delete_policy_version, PolicyArn=arn, VersionId=default)
    return {"restoredVersionId": restored, "alreadyRestored": False}


def _principal_kwargs(target) -> dict:
    return {f"{target['principalType'].capitalize()}Name": target["principalName"]}


def restore_inline(iam, target: dict, text: str) -> dict:
    putter = {"user": iam.put_user_policy, "role": iam.put_role_policy,
              "group": iam.put_group_policy}[target["principalType"]]
    _call(putter, PolicyName=target["policyName"], PolicyDocument=text, **_principal_kwargs(target))
    return {"restoredPolicyName": target["policyName"]}


def restore_attachment(iam, target: dict) -> dict:
    attacher = {"user": iam.attach_user_policy, "role": iam.attach_role_policy,
                "group": iam.attach_group_policy}[target["principalType"]]
    _call(attacher, PolicyArn=target["policyArn"], **_principal_kwargs(target))
    return {"reattachedPolicyArn": target["policyArn"]}


def _text(item: dict, name: str, default: str = "") -> str:
    return item.get(name, {}).get("S", default)


def state_key(item: dict, target: dict) -> str:
    """The state the restore puts in force, as ValidatePolicy names it (`read_target`)."""
    kind = target["kind"]
    if kind == "managed":
        return f"managed|{_text(item, 'policyId')}|{document_digest(_text(item, 'document'))}"
    if kind == "inline":
        return (f"inline|{target['principalType']}|{target['principalName']}|{target['policyName']}|"
                f"{document_digest(_text(item, 'document'))}")
    return f"attachment|{target['principalType']}|{target['principalName']}|{target['policyArn']}"


def restore(iam, dynamodb, table: str, incident_id: str) -> dict:
    key = {"incidentId": {"S": incident_id}}
    item = _call(dynamodb.get_item, TableName=table, Key=key, ConsistentRead=True).get("Item")
    if not item or not item.get("target"):
        raise InvalidEvent(f"the incidents table has no incident {incident_id}")
    if _text(item, "decision") != "allow":
        raise NotApproved(f"incident {incident_id} has no recorded approval (decision: "
                          f"{_text(item, 'decision', 'none')}): nothing was restored")
    if _text(item, "status") == "restored":
        return {**json.loads(_text(item, "restore", "{}")), "alreadyRestored": True}
    target = json.loads(_text(item, "target"))
    text = _text(item, "document")

    marker = approval_marker_id(state_key(item, target))
    _call(dynamodb.put_item, TableName=table, Item={
        "incidentId": {"S": marker}, "kind": {"S": "approval"}, "approvedIncident": {"S": incident_id},
        "createdAt": {"S": _now()}})
    if target["kind"] == "managed":
        wanted_default = item.get("wasDefault", {}).get("BOOL", True)
        result = restore_managed(iam, target["policyArn"], text, as_default=wanted_default)
    elif target["kind"] == "inline":
        result = restore_inline(iam, target, text)
    else:
        result = restore_attachment(iam, target)
    _call(dynamodb.update_item, TableName=table, Key=key,
          UpdateExpression="SET #status = :restored, restoredAt = :now, #restore = :result",
          ExpressionAttributeNames={"#status": "status", "#restore": "restore"},
          ExpressionAttributeValues={":restored": {"S": "restored"}, ":now": {"S": _now()},
                                     ":result": {"S": json.dumps(result)}})
    return result


def handler(event, context):
    incident_id = event.get("incidentId") if isinstance(event, dict) else None
    if not isinstance(incident_id, str) or not incident_id:
        raise InvalidEvent("RestorePolicy takes only incidentId (an incident of the incidents table)")
    table = os.environ.get("INCIDENTS_TABLE")
    if not table:
        raise InvalidEvent("INCIDENTS_TABLE is not set: deploy the stack's template")
    iam = boto3.client("iam", config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    iam.meta.events.unregister("after-call.iam", json_decode_policies)
    result = restore(iam, boto3.client("dynamodb"), table, incident_id)
    result["message"] = f"Incident {incident_id}: approved; what was taken out of force is in force again."
    print(json.dumps({"incidentId": incident_id, **{k: v for k, v in result.items() if k != "message"}}))
    return result
