"""A role's trust baseline: the trust policies the orchestrator knows a human decided, sealed.

CloudTrail's UpdateAssumeRolePolicy event carries only the new trust policy,
and IAM keeps no history of it: to tell who a change let in, the kit keeps what
was there before, in the incidents table, keyed by the role's id (a role
deleted and created again under its name starts without one):

* the baseline (`incident_keys.trust_baseline_id`): the trust policy RevertPolicy
  put in force when it took a trust change out of force, sealed like an incident
  (`seal.py`) by RevertPolicy, the only role that may make the seal key's MACs;
* the last approval (`incident_keys.trust_approved_id`): RestorePolicy, once an
  approved trust change is back in force, points at its incident, which
  RevertPolicy sealed; it counts only while that incident's seal verifies, it is
  a trust incident of this role, and the table records "allow" for it.

A principal either lets in is known. An item that does not verify is no
baseline (whoever can write the table could otherwise plant one naming their
own principal): the role is then judged as having none, which fails closed.

The orchestrator's own function roles (RevertPolicy's and RestorePolicy's,
named in ORCHESTRATOR_ROLE_ARNS) also know the trust the template gives them:
only the Lambda service may assume them. Without it, a change to their trust
before any baseline exists would take Lambda out with the new grant, and the
orchestrator could no longer run its own functions. Every other grant is
judged as for any role, so one added by hand is still taken out.
"""

from __future__ import annotations

import json

from . import incident_item as attr
from . import seal
from .decisions import ALLOW
from .incident_item import item_key, string, text, timestamp
from .incident_keys import trust_approved_id, trust_baseline_id
from .transient import aws_call


ORCHESTRATOR_ROLES_VARIABLE = "ORCHESTRATOR_ROLE_ARNS"
# What SAM gives a function's role (the template's RevertPolicy and RestorePolicy): the Lambda service alone.
FUNCTION_ROLE_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}}]})
_TEMPLATE_TRUST = "the trust the stack's template gives its own function roles (the Lambda service only)"


def is_orchestrator_role(role_name, role_arns) -> bool:
    """Whether the role is one of the orchestrator's own (`role_arns`: their ARNs)."""
    return isinstance(role_name, str) and any(
        isinstance(arn, str) and arn.rsplit("/", 1)[-1] == role_name for arn in role_arns or [])


def orchestrator_role_arns(environ) -> list[str]:
    """The orchestrator's own role ARNs, as the template puts them in a function's environment."""
    return [a.strip() for a in (environ.get(ORCHESTRATOR_ROLES_VARIABLE) or "").split(",") if a.strip()]


def _get(dynamodb, table: str, item_id: str) -> dict:
    return aws_call(dynamodb.get_item, TableName=table, Key=item_key(item_id), ConsistentRead=True).get("Item") or {}


def read(dynamodb, kms, key_id: str | None, table: str, role_id: str,
         own_role: bool = False) -> tuple[list[str], str]:
    """(the trust policies known for the role: its sealed baseline, its last approved change and, for one of
    the orchestrator's own roles, the template's; what was found, for the verdict's message)."""
    known, found = ([FUNCTION_ROLE_TRUST], [_TEMPLATE_TRUST]) if own_role else ([], [])
    if not key_id:
        return known, "; ".join(found + ["no seal key is configured, so no trust baseline can be trusted"])
    baseline = _get(dynamodb, table, trust_baseline_id(role_id))
    if baseline:
        verdict = seal.check(kms, key_id, baseline)
        if text(baseline, attr.KIND) == attr.TRUST_BASELINE_KIND and text(baseline, attr.POLICY_ID) == role_id \
                and verdict == seal.SEALED:
            known.append(text(baseline, attr.DOCUMENT))
            found.append(f"the trust baseline recorded at {text(baseline, attr.CREATED_AT, '?')}")
        else:
            found.append("an item under this role's trust baseline key that does not verify (ignored)")
    pointer = _get(dynamodb, table, trust_approved_id(role_id))
    incident = _get(dynamodb, table, text(pointer, attr.APPROVED_INCIDENT)) if \
        text(pointer, attr.KIND) == attr.TRUST_APPROVED_KIND and text(pointer, attr.APPROVED_INCIDENT) else {}
    if incident and text(incident, attr.KIND) == "trust" and text(incident, attr.POLICY_ID) == role_id \
            and text(incident, attr.DECISION) == ALLOW and seal.check(kms, key_id, incident) == seal.SEALED:
        known.append(text(incident, attr.DOCUMENT))
        found.append(f"the trust policy a human approved in incident {text(incident, attr.INCIDENT_ID)}")
    elif pointer:
        found.append("a pointer to an approved trust change that does not verify (ignored)")
    if not known:
        return [], "; ".join(found) or "no trust baseline is recorded for this role"
    if own_role and len(known) == 1:
        return known, f"{_TEMPLATE_TRUST}; no trust baseline is recorded for this role"
    return known, " and ".join(found)


def record(dynamodb, kms, key_id: str, table: str, target: dict, role_id: str, document: str,
           execution_arn: str, why: str) -> str:
    """Seal `document` as the role's trust baseline (replacing the one before); its item id."""
    item_id = trust_baseline_id(role_id)
    item = {**item_key(item_id), attr.INCIDENT_KEY: string(f"trust-baseline|{role_id}"),
            attr.KIND: string(attr.TRUST_BASELINE_KIND), attr.TARGET: string(target),
            attr.LABEL: string(target.get("label") or f"the trust policy of role {target['principalName']}"),
            attr.DOCUMENT: string(document), attr.POLICY_ID: string(role_id),
            attr.EXECUTION_ARN: string(execution_arn), attr.EVENT_NAME: string(why),
            attr.CREATED_AT: string(timestamp())}
    item[attr.SEAL] = seal.seal(kms, key_id, item)
    aws_call(dynamodb.put_item, TableName=table, Item=item)
    return item_id


def point_at_approved(dynamodb, table: str, role_id: str, incident_id: str) -> None:
    """Record that the trust change of `incident_id` (sealed, approved) is back in force for the role."""
    aws_call(dynamodb.update_item, TableName=table, Key=item_key(trust_approved_id(role_id)),
             UpdateExpression=f"SET {attr.KIND} = :kind, {attr.APPROVED_INCIDENT} = :incident, {attr.CREATED_AT} = :now",
             ExpressionAttributeValues={":kind": string(attr.TRUST_APPROVED_KIND), ":incident": string(incident_id),
                                        ":now": string(timestamp())})


def document_of(held: dict) -> str:
    """A trust policy (a dict) as the text the baseline keeps."""
    return json.dumps(held, separators=(",", ":"))
