"""The names of incidents and of the states they restore, as keys of the incidents table.

* `incident_key` / `incident_id`: one incident per change (RevertPolicy writes
  it with a conditional put, so a second delivery of the same change finds the
  key taken). Keys are predictable, so an item under a key is a duplicate only
  when its seal says this stack wrote it (`seal.py`); an item planted there
  is reported, and the incident goes on under `displaced_key`, which nobody
  can compute without the seal key.
* `state_key` / `approval_marker_id`: the state an approved restore puts in
  force. RestorePolicy writes the marker before it writes IAM; ValidatePolicy,
  judging the orchestrator's own change, looks the marker up to tell an
  approved restore from a misuse of the role. The two must name a state the
  same way: this is that one way.
* `document_digest`: a document's SHA-256 over its canonical JSON, so the same
  policy spelt with other spacing is the same state.
"""

from __future__ import annotations

import hashlib
import json
import re

# incident_id's shape: what a link may name (ReceiveDecision refuses anything else unread).
INCIDENT_ID_SHAPE = re.compile(r"[0-9a-f]{32}")


def incident_key(target: dict, policy_id: str | None, event_id: str) -> str:
    """One key per change. A managed version is immutable, so (policy id, version) names it
    whoever reports it; an inline policy or an attachment can change again under the same
    name, so each CloudTrail event is its own change."""
    if target["kind"] == "managed":
        return f"managed|{policy_id}|{target['versionId']}"
    if target["kind"] == "bucket":
        return f"bucket|{target['bucketName']}|{event_id}"
    if target["kind"] == "trust":
        return f"trust|role|{target['principalName']}|{event_id}"
    what = {"inline": "policyName", "attachment": "policyArn", "membership": "groupName"}[target["kind"]]
    return f"{target['kind']}|{target['principalType']}|{target['principalName']}|{target[what]}|{event_id}"


def displacement_message(key: str, execution_arn: str) -> bytes:
    """What the seal key MACs to name the key an incident takes when an item was planted at `key`."""
    return f"displaced-key\n{key}\n{execution_arn}".encode("utf-8", "surrogatepass")


def displaced_key(key: str, execution_arn: str, mac: bytes) -> str:
    """The key of `key`'s incident in `execution_arn` when another item holds `key`: it carries the
    seal key's MAC of both (`displacement_message`), so it cannot be planted in advance, and a retry
    of the same execution finds it again (an HMAC is deterministic)."""
    return f"{key}|displaced|{execution_arn}|{hashlib.sha256(mac).hexdigest()}"


def incident_id(key: str) -> str:
    """The incidents-table key of the incident named `key` (INCIDENT_ID_SHAPE)."""
    return _hash32(key)


def document_digest(text: str) -> str:
    """SHA-256 of the document's canonical JSON (or of its text when it is not JSON)."""
    try:
        canonical = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        canonical = text
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def state_key(target: dict, policy_id: str | None, document: str) -> str:
    """The state in force once `document` is back for `target` (the managed policy's id for a
    managed version: a policy deleted and created again under its name is another policy)."""
    kind = target["kind"]
    if kind == "managed":
        return f"managed|{policy_id}|{document_digest(document)}"
    if kind == "inline":
        return (f"inline|{target['principalType']}|{target['principalName']}|{target['policyName']}|"
                f"{document_digest(document)}")
    if kind == "trust":  # the role's id: a role deleted and created again under its name is another role
        return f"trust|{policy_id}|{document_digest(document)}"
    if kind == "bucket":
        return f"bucket|{target['bucketName']}|{document_digest(document)}"
    if kind == "membership":  # the group's policies are judged for the member, whatever they are now
        return f"membership|{target['principalType']}|{target['principalName']}|{target['groupName']}"
    return f"attachment|{target['principalType']}|{target['principalName']}|{target['policyArn']}"


def trust_baseline_id(role_id: str) -> str:
    """The incidents-table key of a role's trust baseline: the trust policy last in force that a human
    decided or RevertPolicy put in force (sealed like an incident; keyed by the role's id, so a role
    deleted and created again under its name starts without one)."""
    return _hash32(f"trust-baseline|{role_id}")


def trust_approved_id(role_id: str) -> str:
    """The incidents-table key of the pointer to a role's last approved trust incident (RestorePolicy
    writes it once the approved trust policy is back; only a sealed, approved incident counts)."""
    return _hash32(f"trust-approved|{role_id}")


def approval_marker_id(state: str) -> str:
    """The incidents-table key RestorePolicy writes before it restores the approved `state`."""
    return _hash32(f"approved|{state}")


def _hash32(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
