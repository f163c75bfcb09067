"""RestorePolicy (the sample's PolicyChangerApprove): a human approved the change.

Takes only the incident's id and the execution's own id (`$$.Execution.Id`,
which only Step Functions writes into the task's input). Everything else comes
from the incidents table, where RevertPolicy recorded what it took out of
force (read from IAM) and sealed it (`_shared.seal`), and ReceiveDecision
recorded the decision (the signed e-mail link, or the panel through the
IAM-authorised endpoint). Nothing is restored unless

* the incident's seal verifies (KMS VerifyMac): its target, document, policy
  and execution are exactly what RevertPolicy recorded, not a forged item nor
  one whose target someone changed afterwards (TamperedIncident);
* its sealed execution is the execution that invokes this function
  (NotThisExecution): an incident restores only in the execution that holds it;
* the table records "allow" for it (NotApproved).

Only the state machine's role may invoke it (no human's policy grants
`lambda:InvokeFunction` on it); invoked directly anyway, it restores nothing
those checks refuse.

* managed policy: the stored document becomes a new version, the default if
  the reverted one was (IAM's five-version limit handled by removing the
  orchestrator's own harmless placeholder first);
* inline policy: put back under its name, exactly the stored text;
* attachment: attached again;
* membership: the user added to the group again;
* trust: the role's trust policy put back, exactly the stored text; the role's trust baseline then
  points at this incident (`_shared.trust_baseline`): the next change is judged against it too;
* bucket: the bucket policy put back, exactly the stored text.

Before it writes IAM it records an approval marker (the exact state it is about
to restore, and this incident) in the table: its own CloudTrail event is then
recognised as an approved restore (ValidatePolicy's IgnoreOwnChange, which
spends the marker: it lets one change through, once) instead of a new
incident. Safe to run twice: what is already in force is not written again.
"""

from __future__ import annotations

import json
import os

from botocore.exceptions import ClientError

from _shared import incident_item as attr
from _shared import seal, trust_baseline
from _shared.decisions import ALLOW
from _shared.harmless_version import is_placeholder
from _shared.iam_reader import document_json, document_text, iam_client, is_attached, is_member
from _shared.incident_item import item_key, outcome, string, text, timestamp
from _shared.incident_keys import approval_marker_id, document_digest, state_key
from _shared.sdk_clients import dynamodb_client, kms_client, s3_client
from _shared.targets import principal_kwargs
from _shared.transient import TransientError, aws_call, error_code

# The handler, and the errors Step Functions sees by name (TransientError is retried).
__all__ = ["handler", "TransientError", "InvalidEvent", "NotApproved", "TamperedIncident", "NotThisExecution"]
MAX_VERSIONS = 5


class InvalidEvent(Exception):
    """The input does not name an incident of the table."""


class NotApproved(Exception):
    """The incidents table holds no "allow" decision for this incident: nothing is restored."""


class TamperedIncident(Exception):
    """The incident's seal does not verify: it was forged, or changed after RevertPolicy sealed it."""


class NotThisExecution(Exception):
    """The incident is sealed to another execution than the one restoring it."""


def restore_managed(iam, arn: str, document: str, as_default: bool = True) -> dict:
    """The stored document as a new version of `arn` (the default when `as_default`)."""
    versions = aws_call(iam.list_policy_versions, PolicyArn=arn)["Versions"]
    documents = {
        v["VersionId"]: document_json(aws_call(iam.get_policy_version, PolicyArn=arn, VersionId=v["VersionId"])
                                      ["PolicyVersion"]["Document"])
        for v in versions
    }
    default = next(v["VersionId"] for v in versions if v["IsDefaultVersion"])
    wanted = document_json(document)
    same = [v["VersionId"] for v in versions if documents[v["VersionId"]] == wanted]
    if (as_default and documents[default] == wanted) or (not as_default and same):
        return {"restoredVersionId": default if as_default else same[0], "alreadyRestored": True}

    placeholder_in_force = as_default and is_placeholder(documents.get(default))
    if len(versions) >= MAX_VERSIONS:
        others = [v for v in versions if not v["IsDefaultVersion"]]
        spare = [v for v in others if is_placeholder(documents[v["VersionId"]])]
        if spare:
            aws_call(iam.delete_policy_version, PolicyArn=arn, VersionId=spare[0]["VersionId"])
        elif placeholder_in_force and others:
            # The placeholder is the default and IAM will not delete a default:
            # put the newest earlier (already accepted) version in force for the
            # moment it takes, so no version of the policy is lost.
            newest = max(others, key=lambda v: v["CreateDate"])
            aws_call(iam.set_default_policy_version, PolicyArn=arn, VersionId=newest["VersionId"])
            aws_call(iam.delete_policy_version, PolicyArn=arn, VersionId=default)
            placeholder_in_force = False
        else:
            oldest = min(others, key=lambda v: v["CreateDate"])
            aws_call(iam.delete_policy_version, PolicyArn=arn, VersionId=oldest["VersionId"])
    created = aws_call(iam.create_policy_version, PolicyArn=arn, PolicyDocument=document, SetAsDefault=as_default)
    restored = created["PolicyVersion"]["VersionId"]
    if placeholder_in_force:
        aws_call(iam.delete_policy_version, PolicyArn=arn, VersionId=default)
    return {"restoredVersionId": restored, "alreadyRestored": False}


def restore_inline(iam, target: dict, document: str) -> dict:
    getter = {"user": iam.get_user_policy, "role": iam.get_role_policy,
              "group": iam.get_group_policy}[target["principalType"]]
    try:  # already in force (an earlier attempt): writing it again would be a change to judge again
        held = aws_call(getter, PolicyName=target["policyName"], **principal_kwargs(target))["PolicyDocument"]
        if document_text(held) == document:
            return {"restoredPolicyName": target["policyName"], "alreadyRestored": True}
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
    putter = {"user": iam.put_user_policy, "role": iam.put_role_policy,
              "group": iam.put_group_policy}[target["principalType"]]
    aws_call(putter, PolicyName=target["policyName"], PolicyDocument=document, **principal_kwargs(target))
    return {"restoredPolicyName": target["policyName"]}


def restore_attachment(iam, target: dict) -> dict:
    if is_attached(iam, target):  # an earlier attempt attached it: attaching again is a new event
        return {"reattachedPolicyArn": target["policyArn"], "alreadyRestored": True}
    attacher = {"user": iam.attach_user_policy, "role": iam.attach_role_policy,
                "group": iam.attach_group_policy}[target["principalType"]]
    aws_call(attacher, PolicyArn=target["policyArn"], **principal_kwargs(target))
    return {"reattachedPolicyArn": target["policyArn"]}


def restore_membership(iam, target: dict) -> dict:
    if is_member(iam, target["principalName"], target["groupName"]):  # an earlier attempt added it
        return {"addedToGroup": target["groupName"], "alreadyRestored": True}
    aws_call(iam.add_user_to_group, GroupName=target["groupName"], UserName=target["principalName"])
    return {"addedToGroup": target["groupName"]}


def _role(iam, name: str) -> dict | None:
    try:
        return aws_call(iam.get_role, RoleName=name)["Role"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise


def restore_trust(iam, target: dict, document: str, role_id: str) -> dict:
    """The approved trust policy back, only on the very role the incident sealed (its id)."""
    role = _role(iam, target["principalName"])
    if role is None or role["RoleId"] != role_id:
        return {"restoredTrustOf": None, "why": f"role {target['principalName']} is gone or another role now "
                "(deleted and created again): nothing was restored"}
    if document_digest(document_text(role["AssumeRolePolicyDocument"])) == document_digest(document):
        return {"restoredTrustOf": target["principalName"], "alreadyRestored": True}
    aws_call(iam.update_assume_role_policy, RoleName=target["principalName"], PolicyDocument=document)
    return {"restoredTrustOf": target["principalName"]}


def restore_trust_and_point(iam, dynamodb, table: str, target: dict, document: str, role_id: str,
                            incident_id: str) -> dict:
    result = restore_trust(iam, target, document, role_id)
    if result.get("restoredTrustOf"):
        trust_baseline.point_at_approved(dynamodb, table, role_id, incident_id)
    return result


def restore_bucket(target: dict, document: str) -> dict:
    s3 = s3_client()
    try:
        held = document_text(aws_call(s3.get_bucket_policy, Bucket=target["bucketName"])["Policy"])
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucketPolicy":
            raise
        held = ""
    if document_digest(held) == document_digest(document):
        return {"restoredBucketPolicyOf": target["bucketName"], "alreadyRestored": True}
    aws_call(s3.put_bucket_policy, Bucket=target["bucketName"], Policy=document)
    return {"restoredBucketPolicyOf": target["bucketName"]}


def mark_approved(dynamodb, table: str, marker: str, incident_id: str) -> None:
    """The approval marker of the state about to be restored, for this incident, unspent.

    ValidatePolicy spends it on the first change of the orchestrator's own that puts the state in
    force. Written again for another incident (a later approval of the same state) it is armed
    afresh; a retry of this incident's restore leaves a marker its own change has spent as it is."""
    try:
        aws_call(dynamodb.update_item, TableName=table, Key=item_key(marker),
                 UpdateExpression=f"SET {attr.KIND} = :kind, {attr.APPROVED_INCIDENT} = :incident, "
                                  f"{attr.CREATED_AT} = :now REMOVE {attr.USED_BY}, {attr.USED_AT}",
                 ConditionExpression=f"attribute_not_exists({attr.INCIDENT_ID}) OR "
                                     f"{attr.APPROVED_INCIDENT} <> :incident OR attribute_not_exists({attr.USED_BY})",
                 ExpressionAttributeValues={":kind": string(attr.APPROVAL_KIND), ":incident": string(incident_id),
                                            ":now": string(timestamp())})
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise


def restore(iam, dynamodb, table: str, incident_id: str, execution_id: str, kms=None, key_id: str | None = None) -> dict:
    item = aws_call(dynamodb.get_item, TableName=table, Key=item_key(incident_id), ConsistentRead=True).get("Item")
    if not item or not item.get(attr.TARGET):
        raise InvalidEvent(f"the incidents table has no incident {incident_id}")
    verdict = seal.check(kms or kms_client(), key_id or seal.key_id(), item)
    if verdict != seal.SEALED:
        raise TamperedIncident(f"incident {incident_id} cannot be trusted: {seal.WHY[verdict]}. Nothing was "
                               "restored; someone with write access to the incidents table forged or edited it")
    if text(item, attr.EXECUTION_ARN) != execution_id:
        raise NotThisExecution(f"incident {incident_id} is sealed to execution {text(item, attr.EXECUTION_ARN)}, "
                               f"not {execution_id}: nothing was restored")
    if text(item, attr.DECISION) != ALLOW:
        raise NotApproved(f"incident {incident_id} has no recorded approval (decision: "
                          f"{text(item, attr.DECISION, 'none')}): nothing was restored")
    if text(item, attr.STATUS) == attr.RESTORED:
        return {**json.loads(text(item, attr.RESTORE, "{}")), "alreadyRestored": True}
    target = json.loads(text(item, attr.TARGET))
    document = text(item, attr.DOCUMENT)

    # The state ValidatePolicy will see once IAM holds the document again: marked as approved first.
    mark_approved(dynamodb, table, approval_marker_id(state_key(target, text(item, attr.POLICY_ID), document)),
                  incident_id)
    if target["kind"] == "managed":
        wanted_default = item.get(attr.WAS_DEFAULT, {}).get("BOOL", True)
        result = restore_managed(iam, target["policyArn"], document, as_default=wanted_default)
    elif target["kind"] == "inline":
        result = restore_inline(iam, target, document)
    elif target["kind"] == "membership":
        result = restore_membership(iam, target)
    elif target["kind"] == "trust":
        result = restore_trust_and_point(iam, dynamodb, table, target, document, text(item, attr.POLICY_ID),
                                         incident_id)
    elif target["kind"] == "bucket":
        result = restore_bucket(target, document)
    else:
        result = restore_attachment(iam, target)
    aws_call(dynamodb.update_item, TableName=table, Key=item_key(incident_id),
             **outcome(attr.RESTORED, attr.RESTORED_AT, attr.RESTORE, result))
    return result


def handler(event, context):
    event = event if isinstance(event, dict) else {}
    incident_id, execution_id = event.get("incidentId"), event.get("executionId")
    if not isinstance(incident_id, str) or not incident_id or not isinstance(execution_id, str) or not execution_id:
        raise InvalidEvent("RestorePolicy takes incidentId (an incident of the incidents table) and executionId "
                           "($$.Execution.Id: the execution that holds it)")
    table = os.environ.get("INCIDENTS_TABLE")
    if not table or not os.environ.get(seal.KEY_VARIABLE):
        raise InvalidEvent(f"INCIDENTS_TABLE or {seal.KEY_VARIABLE} is not set: deploy the stack's template")
    result = restore(iam_client(), dynamodb_client(), table, incident_id, execution_id)
    result["message"] = f"Incident {incident_id}: approved; what was taken out of force is in force again."
    print(json.dumps({"incidentId": incident_id, **{k: v for k, v in result.items() if k != "message"}}))
    return result
