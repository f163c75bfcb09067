"""An incident's seal: the fields that must never change, with a MAC only RevertPolicy can make.

Whoever may write the incidents table could otherwise rewrite what an
incident restores (its target, its document) or plant items under the keys
of changes still to come. So RevertPolicy seals what it records when it
takes a change out of force: the incident's id and key, the target, the
document as IAM held it, the policy's id and version, the execution that
holds the incident, the event, who changed it and when. The MAC is made by
AWS KMS with an HMAC key (`GenerateMac`, HMAC_SHA_256) whose key policy lets
only RevertPolicy's role make MACs; RestorePolicy, RevertPolicy (telling a
true duplicate from a planted item) and the kit's readers check it with
`VerifyMac`. Nobody sees the key, and a MAC cannot be made without calling
KMS as RevertPolicy's role.

The MAC covers `message(item)`: this module is the one canonical
serialisation of the sealed fields. Each sealed attribute is taken as
DynamoDB holds it (its typed value, e.g. `{"S": "..."}`), as JSON with sorted
keys and no spaces, and represented by its SHA-256, so the message stays
small (KMS MACs at most 4,096 bytes) whatever the document's size. The item's
key is among the sealed fields: a sealed item copied under another key no
longer verifies. What the functions add later (the task token, the decision,
what the revert and the restore did, the status) is not sealed.

    message(item)                                   # the bytes the MAC covers
    seal(kms, key_id, item)                         # {"S": base64 MAC}: store it as item["seal"]
    check(kms, key_id, item)                        # SEALED, UNSEALED or ALTERED
    whose(kms, key_id, item, execution_arn)         # OWN, DUPLICATE or PLANTED, and why
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os

from botocore.exceptions import ClientError

from . import incident_item as attr
from .transient import aws_call, error_code

KEY_VARIABLE = "SEAL_KEY_ID"  # the KMS key's id or ARN, in the environment of the functions that use it
MAC_ALGORITHM = "HMAC_SHA_256"  # the one algorithm of an HMAC_256 key
FORMAT = "incident-seal/1"
SEALED_FIELDS = (
    attr.INCIDENT_ID, attr.INCIDENT_KEY, attr.KIND, attr.TARGET, attr.DOCUMENT, attr.POLICY_ID, attr.WAS_DEFAULT,
    attr.ATTACHED_VERSION_ID, attr.EXECUTION_ARN, attr.EVENT_ID, attr.EVENT_NAME, attr.EVENT_TIME, attr.CHANGED_BY,
    attr.CREATED_AT, attr.PLANTED,
)

# check()'s answers
SEALED = "sealed"
UNSEALED = "unsealed"  # no seal at all: not written by RevertPolicy
ALTERED = "altered"  # a seal that does not match the fields: changed after RevertPolicy sealed it
# whose(): who wrote an item found under an incident's key
OWN, DUPLICATE, PLANTED = "own", "duplicate", "planted"
WHY = {UNSEALED: "it carries no seal, so RevertPolicy never wrote it",
       ALTERED: "its fields do not match its seal, so they were changed after RevertPolicy sealed them"}


def key_id() -> str:
    """The seal key of this stack (the function's environment); KeyError when it is not set."""
    return os.environ[KEY_VARIABLE]


def _digest(value) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def message(item: dict) -> bytes:
    """The canonical serialisation of the item's sealed fields: what the MAC covers."""
    fields = {name: _digest(item.get(name)) for name in SEALED_FIELDS}
    return json.dumps({"format": FORMAT, "fields": fields}, sort_keys=True, separators=(",", ":")).encode("ascii")


def mac_of(kms, key: str, data: bytes) -> bytes:
    """KMS GenerateMac of `data` under the seal key (only RevertPolicy's role may)."""
    return aws_call(kms.generate_mac, KeyId=key, Message=data, MacAlgorithm=MAC_ALGORITHM)["Mac"]


def seal(kms, key: str, item: dict) -> dict:
    """The seal attribute for `item` (every sealed field already in it)."""
    return {"S": base64.b64encode(mac_of(kms, key, message(item))).decode("ascii")}


def check(kms, key: str, item: dict) -> str:
    """SEALED when the item's seal verifies over its sealed fields; UNSEALED or ALTERED otherwise.
    Any other answer of KMS (denied, key disabled, throttled) is raised: nothing is taken on trust."""
    text = item.get(attr.SEAL, {}).get("S")
    if not text:
        return UNSEALED
    try:
        mac = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return ALTERED
    try:
        verified = aws_call(kms.verify_mac, KeyId=key, Message=message(item), Mac=mac, MacAlgorithm=MAC_ALGORITHM)
    except ClientError as exc:
        if error_code(exc) in ("KMSInvalidMacException", "ValidationException"):
            return ALTERED
        raise
    return SEALED if verified.get("MacValid") is True else ALTERED


def state_machine_of(execution_arn: str) -> str | None:
    """The state machine part of an execution's ARN (arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME
    -> ...:MACHINE), or None for anything else."""
    parts = str(execution_arn or "").split(":")
    if len(parts) != 8 or parts[:3] != ["arn", parts[1], "states"] or parts[5] != "execution" or not all(parts[6:]):
        return None
    return ":".join(parts[:5] + ["stateMachine", parts[6]])


def same_state_machine(execution_arn: str, other_execution_arn: str) -> bool:
    """Whether two executions are of one state machine."""
    machine = state_machine_of(execution_arn)
    return machine is not None and machine == state_machine_of(other_execution_arn)


def whose(kms, key: str, found: dict, execution_arn: str) -> tuple[str, str]:
    """(OWN | DUPLICATE | PLANTED, why) of an item found under an incident's key.

    Only a sealed item counts: this execution's own (an earlier attempt), or another execution of
    this state machine's (a second delivery of the same change). Anything else (no seal, a seal
    that does not match, an execution of another state machine) was planted: it decides nothing."""
    verdict = check(kms, key, found)
    holder = found.get(attr.EXECUTION_ARN, {}).get("S", "")
    if verdict != SEALED:
        return PLANTED, WHY[verdict]
    if holder == execution_arn:
        return OWN, "this execution's own"
    if same_state_machine(holder, execution_arn):
        return DUPLICATE, f"execution {holder} holds it"
    return PLANTED, f"its execution {holder or '(none)'} is not one of this state machine's"
