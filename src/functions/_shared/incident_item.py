"""An incident's item in the incidents table (DynamoDB): attribute names, status values, readers.

RevertPolicy writes the item and seals what must never change (`seal.py`),
AskUser keeps the task token in it, ReceiveDecision records the decision (from
the e-mail's signed link, or from the kit's panel through the IAM-authorised
endpoint), RestorePolicy restores from it and writes an approval marker item
beside it, which ValidatePolicy spends. Each reads what another wrote, so
each attribute is named here once.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

INCIDENT_ID = "incidentId"  # the table's key (incident_keys.incident_id, or an approval marker's id)

# Written by RevertPolicy when it takes the change out of force.
EXECUTION_ARN = "executionArn"  # the execution that holds the incident
STATUS = "status"
CREATED_AT = "createdAt"
INCIDENT_KEY = "incidentKey"  # incident_keys.incident_key, readable
KIND = "kind"  # the target's kind; "approval" on an approval marker, "trust-baseline" on a trust baseline
TARGET = "target"  # JSON: the checked target
LABEL = "label"
DOCUMENT = "document"  # the text IAM held
POLICY_ID = "policyId"
WAS_DEFAULT = "wasDefault"  # BOOL: a managed version was the default
ATTACHED_VERSION_ID = "attachedVersionId"
EVENT_ID = "eventId"
EVENT_NAME = "eventName"
EVENT_TIME = "eventTime"
CHANGED_BY = "changedBy"  # JSON: CloudTrail's userIdentity
VERDICT = "verdict"  # ValidatePolicy's action, or the error that sent the change to the revert
WHY = "why"
MATCHES = "matches"  # JSON: ValidatePolicy's matches
REVERT = "revert"  # JSON: what the revert did
REVERTED_AT = "revertedAt"
PLANTED = "planted"  # JSON: an item that held this change's key without being one of this stack's (reported)
SEAL = "seal"  # base64 KMS MAC over seal.message(item)

# Written by AskUser: the token stays here, never in a link.
TASK_TOKEN = "taskToken"  # nosec B105: the name of an attribute, not a token
ASKED_AT = "askedAt"
DEADLINE = "deadline"  # N: epoch seconds, the links' expiry

# Written once by the decider (decisions.DECISIONS).
DECISION = "decision"
DECIDED_VIA = "decidedVia"
DECIDED_BY = "decidedBy"
DECIDED_AT = "decidedAt"

# Written by RestorePolicy.
RESTORE = "restore"  # JSON: what the restore did
RESTORED_AT = "restoredAt"
APPROVED_INCIDENT = "approvedIncident"  # on an approval marker: the incident it restores
APPROVAL_KIND = "approval"  # KIND of an approval marker
TRUST_BASELINE_KIND = "trust-baseline"  # KIND of a role's trust baseline (RevertPolicy writes and seals it)
TRUST_APPROVED_KIND = "trust-approved"  # KIND of the pointer to a role's last approved trust incident (RestorePolicy)
USED_BY = "usedBy"  # on an approval marker: the CloudTrail event of the restore that spent it
USED_AT = "usedAt"

# STATUS values, in the order an incident goes through them.
REVERTING = "reverting"
REVERTED = "reverted"
AWAITING = "awaiting"
DECIDED = "decided"
EXPIRED = "expired"  # a decision came after the execution stopped waiting
RESTORED = "restored"


def item_key(incident_id: str) -> dict:
    return {INCIDENT_ID: {"S": incident_id}}


def string(value) -> dict:
    """A string attribute; anything else is stored as its JSON."""
    return {"S": value if isinstance(value, str) else json.dumps(value, default=str)}


def text(item: dict, name: str, default: str = "") -> str:
    return item.get(name, {}).get("S", default)


def json_value(item: dict, name: str, default):
    """The attribute's JSON value; `default` when it is missing or not JSON."""
    try:
        return json.loads(text(item, name)) if name in item else default
    except ValueError:
        return default


def timestamp() -> str:
    """Now, as every *At attribute holds it (UTC, ISO 8601, milliseconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def outcome(status: str, at: str, name: str, result: dict) -> dict:
    """update_item's arguments that record what a function did: the status, when (attribute
    `at`), and its result as JSON (attribute `name`)."""
    return {"UpdateExpression": f"SET #status = :status, {at} = :now, #result = :result",
            "ExpressionAttributeNames": {"#status": STATUS, "#result": name},
            "ExpressionAttributeValues": {":status": string(status), ":now": string(timestamp()),
                                          ":result": string(result)}}
