"""RevertPolicy (the sample's TempRemove): record the incident, take the change out of force at once.

The execution data only points at what changed (`target`); what is taken away
is read from IAM here, and stored in the incidents table (DynamoDB) so that
RestorePolicy can bring back exactly that, and only after a human approved:

* a managed policy version: a harmless version becomes the default and the
  offending version is deleted (IAM's limit of five versions handled without
  deleting any version the incident did not create);
* an inline policy (Put{User,Role,Group}Policy): deleted;
* an attachment (Attach{User,Role,Group}Policy): detached.

The incident is written first, with a conditional put keyed by the change
(the policy's id and version; for inline policies and attachments the
principal, the name and the CloudTrail event id): two deliveries of one event,
or an execution forged to repeat it, find the key taken and end at
AlreadyHandled, so one human is asked once. A retry of the same execution
(whose earlier attempt's answer was lost) finds its own execution ARN on the
item and goes on. Safe to run twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from datetime import datetime, timezone
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.handlers import json_decode_policies

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
PRINCIPAL_TYPES = ("user", "role", "group")
_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ServiceFailure", "ServiceUnavailable",
                    "RequestLimitExceeded", "InternalFailure", "ProvisionedThroughputExceededException",
                    "InternalServerError"}


class TransientError(Exception):
    """IAM or DynamoDB was busy; the state machine retries this error by name."""


class InvalidEvent(Exception):
    """The input does not name what to revert."""


class Gone(Exception):
    """IAM no longer holds what the event named."""


# SDK clients are made once per sandbox and kept for its warm calls (AWS's advice: initialise
# them outside the handler); again only when the region, endpoint or key changes (tests do).
_SANDBOX_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID")


def _sandbox() -> tuple:
    return tuple(os.environ.get(name) for name in _SANDBOX_ENV)


def _iam():
    """An IAM client that returns policy documents as the text IAM holds (restored byte for byte)."""
    return _iam_for(_sandbox())


@functools.lru_cache(maxsize=4)
def _iam_for(_environment: tuple):
    iam = boto3.client("iam", config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    iam.meta.events.unregister("after-call.iam", json_decode_policies)
    return iam


@functools.lru_cache(maxsize=4)
def _dynamodb_for(_environment: tuple):
    return boto3.client("dynamodb")


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


def iam_document_text(raw) -> str:
    """A document as IAM returned it: URL-encoded JSON text (a raw JSON object is kept as it is)."""
    if isinstance(raw, (dict, list)):
        return json.dumps(raw)
    text = str(raw)
    return text if text.lstrip().startswith("{") else unquote(text)


def _parsed(text: str):
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def parse_target(target) -> dict:
    if not isinstance(target, dict) or target.get("kind") not in ("managed", "inline", "attachment"):
        raise InvalidEvent("RevertPolicy needs target (kind managed, inline or attachment; the output of ModifyState)")
    needed = {"managed": ("policyArn", "versionId"), "inline": ("principalType", "principalName", "policyName"),
              "attachment": ("principalType", "principalName", "policyArn")}[target["kind"]]
    for key in needed:
        if not isinstance(target.get(key), str) or not target[key]:
            raise InvalidEvent(f"RevertPolicy: the {target['kind']} target has no {key}")
    if target["kind"] != "managed" and target["principalType"] not in PRINCIPAL_TYPES:
        raise InvalidEvent(f"RevertPolicy: principalType must be one of {', '.join(PRINCIPAL_TYPES)}")
    return target


def incident_key(target: dict, policy_id: str | None, event_id: str) -> str:
    """One key per change. A managed version is immutable, so (policy id, version) names it
    whoever reports it; an inline policy or an attachment can change again under the same
    name, so each CloudTrail event is its own change."""
    if target["kind"] == "managed":
        return f"managed|{policy_id}|{target['versionId']}"
    what = target["policyName"] if target["kind"] == "inline" else target["policyArn"]
    return f"{target['kind']}|{target['principalType']}|{target['principalName']}|{what}|{event_id}"


def incident_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# --- reading what is in force --------------------------------------------------------------


def _principal_kwargs(target) -> dict:
    return {f"{target['principalType'].capitalize()}Name": target["principalName"]}


def _read(iam, target, policy_id: str | None = None) -> dict:
    """What IAM holds for the target now; raises Gone when it holds nothing.
    `policy_id`: the managed policy's id, when the caller has just read it."""
    try:
        if target["kind"] == "managed":
            arn = target["policyArn"]
            if policy_id is None:
                policy_id = _call(iam.get_policy, PolicyArn=arn)["Policy"]["PolicyId"]
            version = _call(iam.get_policy_version, PolicyArn=arn, VersionId=target["versionId"])["PolicyVersion"]
            return {"policyId": policy_id, "document": iam_document_text(version["Document"]),
                    "wasDefault": bool(version["IsDefaultVersion"])}
        if target["kind"] == "inline":
            getter = {"user": iam.get_user_policy, "role": iam.get_role_policy,
                      "group": iam.get_group_policy}[target["principalType"]]
            found = _call(getter, PolicyName=target["policyName"], **_principal_kwargs(target))
            return {"policyId": None, "document": iam_document_text(found["PolicyDocument"])}
        if not _attached(iam, target):
            raise Gone(f"{target['policyArn']} is not attached to {target['principalType']} {target['principalName']}")
        arn = target["policyArn"]
        policy = _call(iam.get_policy, PolicyArn=arn)["Policy"]
        version = _call(iam.get_policy_version, PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
        return {"policyId": policy["PolicyId"], "document": iam_document_text(version["Document"]),
                "attachedVersionId": policy["DefaultVersionId"]}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            raise Gone(exc.response["Error"].get("Message", "NoSuchEntity")) from exc
        raise


def _settled(read, settle_seconds: float):
    """`read()`, again for up to `settle_seconds` while IAM says NoSuchEntity (eventual consistency):
    "already gone" must not be a change IAM merely did not show yet."""
    deadline = time.monotonic() + settle_seconds
    while True:
        try:
            return read()
        except Gone:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def _policy_id(iam, arn: str) -> str:
    try:
        return _call(iam.get_policy, PolicyArn=arn)["Policy"]["PolicyId"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            raise Gone(f"no policy {arn}") from exc
        raise


def _attached(iam, target) -> bool:
    paginator = {"user": lambda: iam.get_paginator("list_attached_user_policies"),
                 "role": lambda: iam.get_paginator("list_attached_role_policies"),
                 "group": lambda: iam.get_paginator("list_attached_group_policies")}[target["principalType"]]()

    def attached_policies(**kwargs):
        return [p["PolicyArn"] for page in paginator.paginate(**kwargs) for p in page["AttachedPolicies"]]

    return target["policyArn"] in _call(attached_policies, **_principal_kwargs(target))


# --- the remedies ---------------------------------------------------------------------------


def _version_document(iam, arn: str, version_id: str):
    version = _call(iam.get_policy_version, PolicyArn=arn, VersionId=version_id)["PolicyVersion"]
    return _parsed(iam_document_text(version["Document"]))


def revert_managed(iam, arn: str, bad_version: str) -> dict:
    """Take `bad_version` out of force: a harmless default, the risky version deleted."""
    versions = _call(iam.list_policy_versions, PolicyArn=arn)["Versions"]
    by_id = {v["VersionId"]: v for v in versions}
    default = next(v["VersionId"] for v in versions if v["IsDefaultVersion"])

    if bad_version not in by_id:  # an earlier attempt of this execution deleted it
        return {"harmlessVersionId": default, "deletedVersionId": bad_version}

    if bad_version != default:
        # Not in force (any more): nothing to swap in, but it is what the incident is about.
        _call(iam.delete_policy_version, PolicyArn=arn, VersionId=bad_version)
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
            _call(iam.set_default_policy_version, PolicyArn=arn, VersionId=older["VersionId"])
            _call(iam.delete_policy_version, PolicyArn=arn, VersionId=bad_version)
            created = _call(iam.create_policy_version, PolicyArn=arn,
                            PolicyDocument=json.dumps(HARMLESS_DOCUMENT), SetAsDefault=True)
            return {"harmlessVersionId": created["PolicyVersion"]["VersionId"], "deletedVersionId": bad_version}
        created = _call(iam.create_policy_version, PolicyArn=arn,
                        PolicyDocument=json.dumps(HARMLESS_DOCUMENT), SetAsDefault=True)
        harmless = created["PolicyVersion"]["VersionId"]
    else:
        _call(iam.set_default_policy_version, PolicyArn=arn, VersionId=harmless)
    _call(iam.delete_policy_version, PolicyArn=arn, VersionId=bad_version)
    return {"harmlessVersionId": harmless, "deletedVersionId": bad_version}


def _remove(call, **kwargs) -> None:
    """Delete or detach; what is already gone (an earlier attempt of this execution) is done."""
    try:
        _call(call, **kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise


def revert_inline(iam, target) -> dict:
    deleter = {"user": iam.delete_user_policy, "role": iam.delete_role_policy,
               "group": iam.delete_group_policy}[target["principalType"]]
    _remove(deleter, PolicyName=target["policyName"], **_principal_kwargs(target))
    return {"deletedPolicyName": target["policyName"]}


def revert_attachment(iam, target) -> dict:
    detacher = {"user": iam.detach_user_policy, "role": iam.detach_role_policy,
                "group": iam.detach_group_policy}[target["principalType"]]
    _remove(detacher, PolicyArn=target["policyArn"], **_principal_kwargs(target))
    return {"detachedPolicyArn": target["policyArn"]}


# --- the incidents table --------------------------------------------------------------------


def _s(value) -> dict:
    return {"S": value if isinstance(value, str) else json.dumps(value, default=str)}


def claim(dynamodb, table: str, item_id: str, execution_arn: str, fields: dict) -> dict | None:
    """Write the incident unless it exists: None when this execution holds it now, else
    the item that was there first."""
    item = {"incidentId": _s(item_id), "executionArn": _s(execution_arn), "status": _s("reverting"),
            "createdAt": _s(_now()), **{k: v for k, v in fields.items() if v is not None}}
    try:
        _call(dynamodb.put_item, TableName=table, Item=item, ConditionExpression="attribute_not_exists(incidentId)")
        return None
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
    return _item(dynamodb, table, item_id)


def _item(dynamodb, table: str, item_id: str) -> dict:
    return _call(dynamodb.get_item, TableName=table, Key={"incidentId": _s(item_id)},
                 ConsistentRead=True).get("Item") or {}


def revert(iam, dynamodb, table: str, event: dict) -> dict:
    target = parse_target(event.get("target"))
    event_id = event.get("eventId")
    execution_arn = event.get("executionArn")
    if not isinstance(event_id, str) or not event_id or not isinstance(execution_arn, str) or not execution_arn:
        raise InvalidEvent("RevertPolicy needs eventId and executionArn ($$.Execution.Id)")

    settle = float(os.environ.get("IAM_SETTLE_SECONDS", "5"))
    policy_id = None
    if target["kind"] == "managed":
        try:  # the policy's id, not its ARN: a policy deleted and created again is another policy
            policy_id = _settled(lambda: _policy_id(iam, target["policyArn"]), settle)
        except Gone as gone:
            return {"alreadyReverted": True, "gone": str(gone), "incidentId": None}
    key = incident_key(target, policy_id, event_id)
    item_id = incident_id(key)

    def read():
        """(what IAM holds, None); or (None, the incident) when IAM holds nothing but the
        incident is recorded: an earlier attempt may have taken the change away itself."""
        try:
            return _read(iam, target, policy_id), None
        except Gone:
            recorded = _item(dynamodb, table, item_id)
            if recorded:
                return None, recorded
            raise

    # IAM first, the table after: the common case (a new change) costs no read of the table,
    # the conditional put below is the check.
    try:
        found, existing = _settled(read, settle)
    except Gone as gone:
        # Taken away already (by hand, or by an execution for another event): nothing
        # is in force, nobody needs asking.
        return {"alreadyReverted": True, "gone": str(gone), "incidentId": None}
    if found is not None:
        verdict = event.get("verdict") if isinstance(event.get("verdict"), dict) else {}
        fields = {
            "incidentKey": _s(key), "kind": _s(target["kind"]), "target": _s(target),
            "label": _s(target.get("label") or key), "document": _s(found["document"]),
            "policyId": _s(found["policyId"]) if found.get("policyId") else None,
            "wasDefault": {"BOOL": found["wasDefault"]} if "wasDefault" in found else None,
            "attachedVersionId": _s(found["attachedVersionId"]) if found.get("attachedVersionId") else None,
            "eventId": _s(event_id), "eventName": _s(str(event.get("eventName") or "")),
            "eventTime": _s(str(event.get("eventTime") or "")), "changedBy": _s(event.get("changedBy") or {}),
            "verdict": _s(str(verdict.get("action") or verdict.get("Error") or "unknown")),
            "why": _s(str(verdict.get("message") or verdict.get("Cause") or "")[:4000]),
            "matches": _s(verdict.get("matches") or []),
        }
        existing = claim(dynamodb, table, item_id, execution_arn, fields) or {}
    if existing and existing.get("executionArn", {}).get("S") != execution_arn:
        # Another delivery of the same change (or an execution forged to repeat it) holds it.
        return {"alreadyReverted": True, "incidentId": item_id,
                "handledBy": existing.get("executionArn", {}).get("S", "")}
    if existing.get("status", {}).get("S") == "reverted":  # this execution's earlier attempt finished
        return {"alreadyReverted": False, "incidentId": item_id, **json.loads(existing["revert"]["S"])}

    if target["kind"] == "managed":
        result = revert_managed(iam, target["policyArn"], target["versionId"])
    elif target["kind"] == "inline":
        result = revert_inline(iam, target)
    else:
        result = revert_attachment(iam, target)
    _call(dynamodb.update_item, TableName=table, Key={"incidentId": _s(item_id)},
          UpdateExpression="SET #status = :reverted, revertedAt = :now, #revert = :result",
          ExpressionAttributeNames={"#status": "status", "#revert": "revert"},
          ExpressionAttributeValues={":reverted": _s("reverted"), ":now": _s(_now()), ":result": _s(result)})
    return {"alreadyReverted": False, "incidentId": item_id, **result}


def handler(event, context):
    if not isinstance(event, dict):
        raise InvalidEvent("RevertPolicy needs the incident's target, eventId and executionArn")
    table = os.environ.get("INCIDENTS_TABLE")
    if not table:
        raise InvalidEvent("INCIDENTS_TABLE is not set: deploy the stack's template")
    result = revert(_iam(), _dynamodb_for(_sandbox()), table, event)
    label = (event.get("target") or {}).get("label", "the change")
    if result["alreadyReverted"]:
        result["message"] = f"{label}: already handled ({result.get('gone') or 'another execution holds it'})."
    else:
        result["message"] = f"{label}: taken out of force; incident {result['incidentId']} waits for a decision."
    result["action"] = "remedy"
    print(json.dumps({k: v for k, v in result.items() if k != "message"}))
    return result
