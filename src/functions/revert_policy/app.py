"""RevertPolicy (the sample's TempRemove): record the incident, take the change out of force at once.

The execution data only points at what changed (`target`); what is taken away
is read from IAM here, and stored in the incidents table (DynamoDB) so that
RestorePolicy can bring back exactly that, and only after a human approved:

* a managed policy version: a harmless version becomes the default and the
  offending version is deleted (IAM's limit of five versions handled without
  deleting any version the incident did not create);
* an inline policy (Put{User,Role,Group}Policy): deleted;
* an attachment (Attach{User,Role,Group}Policy): detached;
* a membership (AddUserToGroup into a group whose policies allow a restricted action): the user
  removed from the group;
* a role's trust policy (UpdateAssumeRolePolicy letting someone new into a role that holds a
  restricted permission): the grants its sealed baseline and its last approved trust change
  (`_shared.trust_baseline`) lack are taken out, the rest stays; what is then in force becomes the
  baseline. Knowing neither, only the administrators' grants stay (fail closed);
* a bucket policy (PutBucketPolicy letting someone outside the administrators do a restricted
  action): the statements ValidatePolicy judged risky are taken out, the rest stays (the policy is
  deleted when nothing is left).

The incident is written first, sealed (`_shared.seal`: a KMS MAC only this
function's role can make, over the target, the document as IAM held it, the
policy's id and version, this execution's ARN, who changed it and when), with
a conditional put keyed by the change (the policy's id and version; for
inline policies and attachments the principal, the name and the CloudTrail
event id). An item already under that key counts only if its seal verifies:
another execution of this state machine holding it is a second delivery of
the same change (AlreadyHandled, so one human is asked once); this
execution's own is an earlier attempt whose answer was lost (it goes on).
Anything else was planted by someone who can write the table: it decides
nothing. The incident goes on under a fresh key derived with the seal key
(which nobody can plant in advance), the change is reverted and the human
asked, and the planted item is reported. Safe to run twice.
"""

from __future__ import annotations

import json
import os

from botocore.exceptions import ClientError

from _shared import incident_item as attr
from _shared import resource_policies, seal, trust_baseline
from _shared.seal import DUPLICATE, OWN, PLANTED, whose
from _shared.harmless_version import HARMLESS_DOCUMENT
from _shared.iam_reader import Gone, document_json, gone_message, iam_client, policy_id, read_held, settled
from _shared.incident_item import item_key, json_value, outcome, string, text, timestamp
from _shared.incident_keys import document_digest, displaced_key, displacement_message, incident_id, incident_key
from _shared.sdk_clients import dynamodb_client, kms_client, s3_client
from _shared.targets import checked_target, principal_kwargs
from _shared.transient import TransientError, aws_call, error_code

# The handler, and the errors Step Functions sees by name (TransientError is retried).
__all__ = ["handler", "TransientError", "InvalidEvent", "PlantedIncident"]
MAX_VERSIONS = 5


class InvalidEvent(Exception):
    """The input does not name what to revert."""


class PlantedIncident(Exception):
    """Even the incident's fresh key holds an item this execution did not write."""


class Held:
    """The incident this execution holds (or, `duplicate`, the one another execution holds).

    `existing`: the item as found, when it was there before this attempt's write; `planted`: the
    item set aside at the change's key, reported."""

    def __init__(self, item_id: str, existing: dict | None, duplicate: bool = False, planted: dict | None = None):
        self.item_id, self.existing, self.duplicate, self.planted = item_id, existing, duplicate, planted


# --- the remedies ---------------------------------------------------------------------------


def _version_document(iam, arn: str, version_id: str):
    version = aws_call(iam.get_policy_version, PolicyArn=arn, VersionId=version_id)["PolicyVersion"]
    return document_json(version["Document"])


def revert_managed(iam, arn: str, bad_version: str) -> dict:
    """Take `bad_version` out of force: a harmless default, the risky version deleted."""
    versions = aws_call(iam.list_policy_versions, PolicyArn=arn)["Versions"]
    by_id = {v["VersionId"]: v for v in versions}
    default = next(v["VersionId"] for v in versions if v["IsDefaultVersion"])

    if bad_version not in by_id:  # an earlier attempt of this execution deleted it
        return {"harmlessVersionId": default, "deletedVersionId": bad_version}

    if bad_version != default:
        # Not in force (any more): nothing to swap in, but it is what the incident is about.
        aws_call(iam.delete_policy_version, PolicyArn=arn, VersionId=bad_version)
        return {"harmlessVersionId": None, "deletedVersionId": bad_version}

    harmless = next((v["VersionId"] for v in versions  # the risky one is not harmless: not read again
                     if v["VersionId"] != bad_version
                     and _version_document(iam, arn, v["VersionId"]) == HARMLESS_DOCUMENT), None)
    if harmless is None:
        if len(versions) >= MAX_VERSIONS:
            # No room for the harmless version. The risky one must go first; IAM
            # refuses to delete the default, so make an older (already accepted)
            # version the default for the moment it takes.
            older = next(v for v in versions if v["VersionId"] != bad_version)
            aws_call(iam.set_default_policy_version, PolicyArn=arn, VersionId=older["VersionId"])
            aws_call(iam.delete_policy_version, PolicyArn=arn, VersionId=bad_version)
            created = aws_call(iam.create_policy_version, PolicyArn=arn,
                               PolicyDocument=json.dumps(HARMLESS_DOCUMENT), SetAsDefault=True)
            return {"harmlessVersionId": created["PolicyVersion"]["VersionId"], "deletedVersionId": bad_version}
        created = aws_call(iam.create_policy_version, PolicyArn=arn,
                           PolicyDocument=json.dumps(HARMLESS_DOCUMENT), SetAsDefault=True)
        harmless = created["PolicyVersion"]["VersionId"]
    else:
        aws_call(iam.set_default_policy_version, PolicyArn=arn, VersionId=harmless)
    aws_call(iam.delete_policy_version, PolicyArn=arn, VersionId=bad_version)
    return {"harmlessVersionId": harmless, "deletedVersionId": bad_version}


def _remove(call, **kwargs) -> None:
    """Delete or detach; what is already gone (an earlier attempt of this execution) is done."""
    try:
        aws_call(call, **kwargs)
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise


def revert_inline(iam, target) -> dict:
    deleter = {"user": iam.delete_user_policy, "role": iam.delete_role_policy,
               "group": iam.delete_group_policy}[target["principalType"]]
    _remove(deleter, PolicyName=target["policyName"], **principal_kwargs(target))
    return {"deletedPolicyName": target["policyName"]}


def revert_attachment(iam, target) -> dict:
    detacher = {"user": iam.detach_user_policy, "role": iam.detach_role_policy,
                "group": iam.detach_group_policy}[target["principalType"]]
    _remove(detacher, PolicyArn=target["policyArn"], **principal_kwargs(target))
    return {"detachedPolicyArn": target["policyArn"]}


def revert_membership(iam, target) -> dict:
    _remove(iam.remove_user_from_group, GroupName=target["groupName"], UserName=target["principalName"])
    return {"removedFromGroup": target["groupName"]}


def _held_now(iam, target: dict):
    """What IAM (or S3) holds for the target now, or None when it holds nothing."""
    try:
        return read_held(iam, target)
    except Gone:
        return None


def revert_trust(iam, dynamodb, kms, key_id: str, table: str, target: dict, found, execution_arn: str) -> dict:
    """Take out of the role's trust policy every grant its baseline lacks (all but the administrators'
    when it has none, or when the policy cannot be read), record what is then in force as the baseline
    (sealed), and put it in force. The grants are worked out here again from IAM and the sealed baseline:
    nothing the execution's input says decides what stays."""
    own_role = trust_baseline.is_orchestrator_role(target["principalName"],
                                                   trust_baseline.orchestrator_role_arns(os.environ))
    known, why = trust_baseline.read(dynamodb, kms, key_id, table, found.policy_id, own_role=own_role)
    try:
        taken = set(resource_policies.new_grants(found.document, known, resource_policies.admin_patterns()))
        confined = resource_policies.without_grants(found.document, taken)
    except resource_policies.Unreadable:
        taken, confined = {("(unreadable)", "")}, resource_policies.HELD_TRUST
    document = trust_baseline.document_of(confined)
    trust_baseline.record(dynamodb, kms, key_id, table, target, found.policy_id, document, execution_arn,
                          "taken out of force")
    if document_digest(document) != document_digest(found.document):
        aws_call(iam.update_assume_role_policy, RoleName=target["principalName"], PolicyDocument=document)
    return {"takenOutPrincipals": sorted({p for p, _ in taken}), "baseline": why, "baselineKnown": bool(known),
            "trustPolicyInForce": document}


def revert_bucket(target: dict, found, verdict: dict, account_id: str | None) -> dict:
    """Take the risky statements out of the bucket policy: those ValidatePolicy named, when it judged exactly
    this document; otherwise (it changed since, or could not be judged) every Allow statement for anyone
    outside the administrators and the account (fail closed). Nothing left: the policy is deleted."""
    s3 = s3_client()
    bucket = target["bucketName"]
    try:
        if verdict.get("documentDigest") == document_digest(found.document) and verdict.get("riskyStatements"):
            digests = set(verdict["riskyStatements"])
        else:
            digests = {resource_policies.statement_digest(st) for st in resource_policies.outside_statements(
                found.document, resource_policies.admin_patterns(), account_id)}
        kept = resource_policies.without_statements(found.document, digests)
    except resource_policies.Unreadable:
        digests, kept = {"(unreadable)"}, None
    if kept is None:
        _remove_bucket_policy(s3, bucket)
        return {"removedStatements": len(digests), "bucketPolicy": "deleted (nothing else was left)"}
    aws_call(s3.put_bucket_policy, Bucket=bucket, Policy=json.dumps(kept))
    return {"removedStatements": len(digests), "bucketPolicy": f"kept {len(kept['Statement'])} statements"}


def _remove_bucket_policy(s3, bucket: str) -> None:
    try:
        aws_call(s3.delete_bucket_policy, Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) not in ("NoSuchBucket", "NoSuchBucketPolicy"):
            raise


# --- the incidents table --------------------------------------------------------------------


def _item(dynamodb, table: str, item_id: str) -> dict:
    return aws_call(dynamodb.get_item, TableName=table, Key=item_key(item_id), ConsistentRead=True).get("Item") or {}


def _put_sealed(dynamodb, kms, table: str, key_id: str, item: dict) -> dict | None:
    """Seal `item` and write it unless its key is taken: None when written, else the item there first."""
    sealed = {**item, attr.SEAL: seal.seal(kms, key_id, item)}
    try:
        aws_call(dynamodb.put_item, TableName=table, Item=sealed,
                 ConditionExpression=f"attribute_not_exists({attr.INCIDENT_ID})")
        return None
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
    return _item(dynamodb, table, item[attr.INCIDENT_ID]["S"])


def _displaced_id(kms, key_id: str, key: str, execution_arn: str) -> tuple[str, str]:
    displaced = displaced_key(key, execution_arn, seal.mac_of(kms, key_id, displacement_message(key, execution_arn)))
    return displaced, incident_id(displaced)


def record(dynamodb, kms, table: str, key_id: str, key: str, execution_arn: str, fields: dict) -> Held:
    """Record the incident (sealed) under its key; under a fresh key when an item was planted there."""
    item_id = incident_id(key)
    item = {**item_key(item_id), attr.EXECUTION_ARN: string(execution_arn), attr.STATUS: string(attr.REVERTING),
            attr.CREATED_AT: string(timestamp()), **{k: v for k, v in fields.items() if v is not None}}
    found = _put_sealed(dynamodb, kms, table, key_id, item)
    if not found:
        return Held(item_id, None)
    holder, why = whose(kms, key_id, found, execution_arn)
    if holder != PLANTED:
        return Held(item_id, found, duplicate=holder == DUPLICATE)
    planted = {"incidentId": item_id, "why": why,
               "executionArn": found.get(attr.EXECUTION_ARN, {}).get("S", "")}
    displaced, displaced_id = _displaced_id(kms, key_id, key, execution_arn)
    item = {**item, **item_key(displaced_id), attr.INCIDENT_KEY: string(displaced), attr.PLANTED: string(planted)}
    found = _put_sealed(dynamodb, kms, table, key_id, item)
    if found and whose(kms, key_id, found, execution_arn)[0] != OWN:
        raise PlantedIncident(f"incident {displaced_id} (the fresh key after a planted item at {item_id}) holds an "
                              "item this execution did not write: someone can make the seal key's MACs")
    return Held(displaced_id, found or None, planted=planted)


def recorded_by_this_execution(dynamodb, kms, table: str, key_id: str, key: str, execution_arn: str) -> Held | None:
    """The incident an earlier attempt of this execution recorded (under its key, or its fresh key), if any."""
    item_id = incident_id(key)
    found = _item(dynamodb, table, item_id)
    if not found:
        return None
    if whose(kms, key_id, found, execution_arn)[0] == OWN:
        return Held(item_id, found)
    _, displaced_id = _displaced_id(kms, key_id, key, execution_arn)
    displaced = _item(dynamodb, table, displaced_id)
    if displaced and whose(kms, key_id, displaced, execution_arn)[0] == OWN:
        return Held(displaced_id, displaced, planted=json_value(displaced, attr.PLANTED, None))
    return None


def _incident_fields(target: dict, key: str, found, event: dict, event_id: str) -> dict:
    """What the incident records: what IAM held (the evidence), the event that pointed at it, the verdict."""
    verdict = event.get("verdict") if isinstance(event.get("verdict"), dict) else {}
    return {
        attr.INCIDENT_KEY: string(key), attr.KIND: string(target["kind"]), attr.TARGET: string(target),
        attr.LABEL: string(target.get("label") or key), attr.DOCUMENT: string(found.document),
        attr.POLICY_ID: string(found.policy_id) if found.policy_id else None,
        attr.WAS_DEFAULT: {"BOOL": found.in_force} if target["kind"] == "managed" else None,
        attr.ATTACHED_VERSION_ID: string(found.attached_version_id) if found.attached_version_id else None,
        attr.EVENT_ID: string(event_id), attr.EVENT_NAME: string(str(event.get("eventName") or "")),
        attr.EVENT_TIME: string(str(event.get("eventTime") or "")),
        attr.CHANGED_BY: string(event.get("changedBy") or {}),
        attr.VERDICT: string(str(verdict.get("action") or verdict.get("Error") or "unknown")),
        attr.WHY: string(str(verdict.get("message") or verdict.get("Cause") or "")[:4000]),
        attr.MATCHES: string(verdict.get("matches") or []),
    }


def revert(iam, dynamodb, table: str, event: dict, kms=None, key_id: str | None = None) -> dict:
    """Record the change's incident (sealed) and take the change out of force; safe to run twice."""
    target = checked_target(event.get("target"), InvalidEvent, "RevertPolicy")
    if target["kind"] in ("principal", "account"):
        raise InvalidEvent("RevertPolicy takes one change (a policy version, an inline policy, an attachment or "
                           "a membership), not a whole principal: ValidatePolicy judges a principal policy by policy")
    event_id = event.get("eventId")
    execution_arn = event.get("executionArn")
    if not isinstance(event_id, str) or not event_id or seal.state_machine_of(execution_arn) is None:
        raise InvalidEvent("RevertPolicy needs eventId and executionArn ($$.Execution.Id, an execution's ARN)")
    kms, key_id = kms or kms_client(), key_id or seal.key_id()

    settle = float(os.environ.get("IAM_SETTLE_SECONDS", "5"))
    known_policy_id = None
    if target["kind"] == "managed":
        try:  # the policy's id, not its ARN: a policy deleted and created again is another policy
            known_policy_id = settled(lambda: policy_id(iam, target["policyArn"]), settle)
        except Gone as gone:
            return {"alreadyReverted": True, "gone": str(gone), "incidentId": None}
    key = incident_key(target, known_policy_id, event_id)

    def read():
        """(what IAM holds, None); or (None, the incident) when IAM holds nothing but this execution
        recorded the incident: an earlier attempt may have taken the change away itself."""
        try:
            return read_held(iam, target, known_policy_id), None
        except Gone:
            recorded = recorded_by_this_execution(dynamodb, kms, table, key_id, key, execution_arn)
            if recorded is not None:
                return None, recorded
            raise

    # IAM first, the table after: the common case (a new change) costs no read of the table,
    # the conditional put below is the check.
    try:
        found, held = settled(read, settle)
    except Gone as gone:
        # Taken away already: by another execution of this state machine for the same change (a
        # second delivery, its seal says so: nobody needs asking twice), or by someone else
        # (reported: nothing is in force, but the change is worth a look).
        existing = _item(dynamodb, table, incident_id(key))
        if existing and whose(kms, key_id, existing, execution_arn)[0] == DUPLICATE:
            return {"alreadyReverted": True, "incidentId": incident_id(key),
                    "handledBy": existing.get(attr.EXECUTION_ARN, {}).get("S", "")}
        return {"alreadyReverted": True, "gone": str(gone), "incidentId": None}
    if found is not None:
        held = record(dynamodb, kms, table, key_id, key, execution_arn,
                      _incident_fields(target, key, found, event, event_id))
    reported = {"planted": held.planted} if held.planted else {}
    if held.duplicate:  # another delivery of the same change, recorded by this state machine, holds it
        return {"alreadyReverted": True, "incidentId": held.item_id,
                "handledBy": held.existing.get(attr.EXECUTION_ARN, {}).get("S", "")}
    existing = held.existing or {}
    if existing.get(attr.STATUS, {}).get("S") == attr.REVERTED:  # this execution's earlier attempt finished
        return {"alreadyReverted": False, "incidentId": held.item_id, **reported,
                **json.loads(existing[attr.REVERT]["S"])}

    if target["kind"] == "managed":
        result = revert_managed(iam, target["policyArn"], target["versionId"])
    elif target["kind"] in ("trust", "bucket") and (found or _held_now(iam, target)) is None:
        result = {"alreadyGone": True}  # an earlier attempt of this execution took the whole policy out
    elif target["kind"] == "trust":
        result = revert_trust(iam, dynamodb, kms, key_id, table, target, found or _held_now(iam, target),
                              execution_arn)
    elif target["kind"] == "bucket":
        verdict = event.get("verdict") if isinstance(event.get("verdict"), dict) else {}
        result = revert_bucket(target, found or _held_now(iam, target), verdict, event.get("accountId"))
    elif target["kind"] == "inline":
        result = revert_inline(iam, target)
    elif target["kind"] == "membership":
        result = revert_membership(iam, target)
    else:
        result = revert_attachment(iam, target)
    aws_call(dynamodb.update_item, TableName=table, Key=item_key(held.item_id),
             **outcome(attr.REVERTED, attr.REVERTED_AT, attr.REVERT, result))
    return {"alreadyReverted": False, "incidentId": held.item_id, **reported, **result}


def handler(event, context):
    if not isinstance(event, dict):
        raise InvalidEvent("RevertPolicy needs the incident's target, eventId and executionArn")
    table = os.environ.get("INCIDENTS_TABLE")
    if not table or not os.environ.get(seal.KEY_VARIABLE):
        raise InvalidEvent(f"INCIDENTS_TABLE or {seal.KEY_VARIABLE} is not set: deploy the stack's template")
    parts = str(getattr(context, "invoked_function_arn", None) or "").split(":")
    event = {**event, "accountId": parts[4] if len(parts) > 4 and parts[4] else None}
    result = revert(iam_client(), dynamodb_client(), table, event)
    label = (event.get("target") or {}).get("label", "the change")
    if result.get("gone"):
        result["message"] = gone_message(label, event.get("eventName"), event.get("changedBy"),
                                         event.get("eventTime"), result["gone"])
    elif result["alreadyReverted"]:
        result["message"] = f"{label}: already handled (execution {result.get('handledBy')} holds it)."
    else:
        result["message"] = f"{label}: taken out of force; incident {result['incidentId']} waits for a decision."
        if result.get("planted"):
            result["message"] += (f" An item planted under its key ({result['planted']['incidentId']}: "
                                  f"{result['planted']['why']}) was set aside and is reported.")
    result["action"] = "remedy"
    print(json.dumps({k: v for k, v in result.items() if k != "message"}))
    return result
