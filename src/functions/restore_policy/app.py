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

import json
import os

import boto3

from _shared import incident_item as attr
from _shared.decisions import ALLOW
from _shared.harmless_version import is_placeholder
from _shared.iam_reader import document_json, iam_client
from _shared.incident_item import item_key, outcome, string, text, timestamp
from _shared.incident_keys import approval_marker_id, state_key
from _shared.targets import principal_kwargs
from _shared.transient import TransientError, aws_call

# The handler, and the errors Step Functions sees by name (TransientError is retried).
__all__ = ["handler", "TransientError", "InvalidEvent", "NotApproved"]
MAX_VERSIONS = 5


class InvalidEvent(Exception):
    """The input does not name an incident of the table."""


class NotApproved(Exception):
    """The incidents table holds no "allow" decision for this incident: nothing is restored."""


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
    putter = {"user": iam.put_user_policy, "role": iam.put_role_policy,
              "group": iam.put_group_policy}[target["principalType"]]
    aws_call(putter, PolicyName=target["policyName"], PolicyDocument=document, **principal_kwargs(target))
    return {"restoredPolicyName": target["policyName"]}


def restore_attachment(iam, target: dict) -> dict:
    attacher = {"user": iam.attach_user_policy, "role": iam.attach_role_policy,
                "group": iam.attach_group_policy}[target["principalType"]]
    aws_call(attacher, PolicyArn=target["policyArn"], **principal_kwargs(target))
    return {"reattachedPolicyArn": target["policyArn"]}


def restore(iam, dynamodb, table: str, incident_id: str) -> dict:
    item = aws_call(dynamodb.get_item, TableName=table, Key=item_key(incident_id), ConsistentRead=True).get("Item")
    if not item or not item.get(attr.TARGET):
        raise InvalidEvent(f"the incidents table has no incident {incident_id}")
    if text(item, attr.DECISION) != ALLOW:
        raise NotApproved(f"incident {incident_id} has no recorded approval (decision: "
                          f"{text(item, attr.DECISION, 'none')}): nothing was restored")
    if text(item, attr.STATUS) == attr.RESTORED:
        return {**json.loads(text(item, attr.RESTORE, "{}")), "alreadyRestored": True}
    target = json.loads(text(item, attr.TARGET))
    document = text(item, attr.DOCUMENT)

    # The state ValidatePolicy will see once IAM holds the document again: marked as approved first.
    marker = approval_marker_id(state_key(target, text(item, attr.POLICY_ID), document))
    aws_call(dynamodb.put_item, TableName=table, Item={
        **item_key(marker), attr.KIND: string(attr.APPROVAL_KIND), attr.APPROVED_INCIDENT: string(incident_id),
        attr.CREATED_AT: string(timestamp())})
    if target["kind"] == "managed":
        wanted_default = item.get(attr.WAS_DEFAULT, {}).get("BOOL", True)
        result = restore_managed(iam, target["policyArn"], document, as_default=wanted_default)
    elif target["kind"] == "inline":
        result = restore_inline(iam, target, document)
    else:
        result = restore_attachment(iam, target)
    aws_call(dynamodb.update_item, TableName=table, Key=item_key(incident_id),
             **outcome(attr.RESTORED, attr.RESTORED_AT, attr.RESTORE, result))
    return result


def handler(event, context):
    incident_id = event.get("incidentId") if isinstance(event, dict) else None
    if not isinstance(incident_id, str) or not incident_id:
        raise InvalidEvent("RestorePolicy takes only incidentId (an incident of the incidents table)")
    table = os.environ.get("INCIDENTS_TABLE")
    if not table:
        raise InvalidEvent("INCIDENTS_TABLE is not set: deploy the stack's template")
    result = restore(iam_client(), boto3.client("dynamodb"), table, incident_id)
    result["message"] = f"Incident {incident_id}: approved; what was taken out of force is in force again."
    print(json.dumps({"incidentId": incident_id, **{k: v for k, v in result.items() if k != "message"}}))
    return result
