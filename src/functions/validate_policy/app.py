"""ValidatePolicy: does a change to IAM put a restricted action in force?

The event only points (`target`: a policy version, an inline policy, an
attachment); the document judged is the one IAM holds now, read here
(`_shared.iam_reader`), never one the event carries. The decision is the IAM
policy evaluation engine's (`iam.evaluate_policy`, the kit's `workshop.iam`,
copied into this function's package): IAM's semantics, every doubt leaning to
"remedy".

The orchestrator's own changes are not incidents: the harmless version
RevertPolicy puts in force, and a restore a human approved (RestorePolicy
writes an approval marker for exactly that state and that incident before it
writes IAM; the first own change that puts the state in force spends it, so a
marker lets one change through, once). Any other change by the orchestrator's
roles is judged like anyone's.
"""

from __future__ import annotations

import fnmatch
import json
import os

from botocore.exceptions import ClientError

from _shared import incident_item as attr
from _shared import resource_policies, seal, trust_baseline
from _shared.decisions import ALLOW
from _shared.harmless_version import HARMLESS_DOCUMENT
from _shared.iam_reader import (Gone, gone_message, groups_of, iam_client, policy_id, principal_policies, read_held,
                                 settled)
from _shared.incident_item import item_key, json_value, string, text, timestamp
from _shared.incident_keys import approval_marker_id, document_digest, incident_id, incident_key, state_key
from _shared.sdk_clients import dynamodb_client, kms_client, s3_client
from _shared.targets import checked_target, target_problem
from _shared.transient import TransientError, aws_call, error_code
from iam import ConfigurationError, InvalidPolicyDocument, evaluate_policy, parse_restricted_actions, partition_from_arn

# The handler, and the errors Step Functions sees by name: TransientError is retried; any
# other error (InvalidPolicyDocument caught by name) sends the change to the revert path.
__all__ = ["handler", "TransientError", "InvalidPolicyDocument", "InvalidTarget", "ConfigurationError"]


class InvalidTarget(Exception):
    """The input does not name a policy version, an inline policy or an attachment."""


def _get(dynamodb, table: str, item_id: str) -> dict:
    return aws_call(dynamodb.get_item, TableName=table, Key=item_key(item_id), ConsistentRead=True).get("Item") or {}


def approved_restore(iam, table: str, target: dict, held, event_id: str) -> bool:
    """Whether the incidents table holds an unspent approval marker for exactly what IAM holds, whose
    incident was approved for that state; spent here, by this event (a retry of the same event finds
    it spent by itself)."""
    if not event_id:
        return False
    # The policy's id is read only for the one verdict that needs it (an own change that is
    # not the harmless version): one IAM call fewer for every other change.
    known = policy_id(iam, target["policyArn"]) if target["kind"] == "managed" else held.policy_id
    state = state_key(target, known, held.document)
    marker_id = approval_marker_id(state)
    dynamodb = dynamodb_client()
    marker = _get(dynamodb, table, marker_id)
    incident_id = text(marker, attr.APPROVED_INCIDENT)
    if text(marker, attr.KIND) != attr.APPROVAL_KIND or not incident_id:
        return False
    incident = _get(dynamodb, table, incident_id)
    approved_target = json_value(incident, attr.TARGET, None)
    if text(incident, attr.DECISION) != ALLOW or target_problem(approved_target) or state_key(
            approved_target, text(incident, attr.POLICY_ID) or None, text(incident, attr.DOCUMENT)) != state:
        return False
    try:
        aws_call(dynamodb.update_item, TableName=table, Key=item_key(marker_id),
                 UpdateExpression=f"SET {attr.USED_BY} = :event, {attr.USED_AT} = :now",
                 ConditionExpression=f"{attr.APPROVED_INCIDENT} = :incident AND "
                                     f"(attribute_not_exists({attr.USED_BY}) OR {attr.USED_BY} = :event)",
                 ExpressionAttributeValues={":event": string(event_id), ":now": string(timestamp()),
                                            ":incident": string(incident_id)})
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def handled_by_another(iam, table: str, target: dict, event_id: str, execution_arn) -> str | None:
    """The execution of this state machine that recorded this very change, when IAM no longer holds it
    because that execution reverted it (a second delivery of the event); None otherwise. Only an item
    whose seal verifies counts: a planted one silences nothing."""
    key_id = os.environ.get(seal.KEY_VARIABLE)
    if not event_id or not key_id or seal.state_machine_of(execution_arn) is None or target["kind"] == "principal":
        return None  # (a principal is never an incident of its own: nothing to find)
    try:
        known = policy_id(iam, target["policyArn"]) if target["kind"] == "managed" else None
    except Gone:  # the policy itself is gone: no incident of this stack can be told from its key
        return None
    found = _get(dynamodb_client(), table, incident_id(incident_key(target, known, event_id)))
    if not found:
        return None
    holder, _ = seal.whose(kms_client(), key_id, found, execution_arn)
    return text(found, attr.EXECUTION_ARN) if holder == seal.DUPLICATE else None


def is_own_change(changed_by, orchestrator_roles) -> bool:
    """Made by one of the orchestrator's roles (CloudTrail's userIdentity of an assumed role)?"""
    if not isinstance(changed_by, dict):
        return False
    issuer = (changed_by.get("sessionContext") or {}).get("sessionIssuer") or {}
    arn = issuer.get("arn") if isinstance(issuer, dict) else None
    return isinstance(arn, str) and arn in (orchestrator_roles or [])


class Scope:
    """What judging needs beyond the document: the account's administrators and id, the table, the
    restricted actions, IAM. A trust policy is judged by who it lets into a role holding a restricted
    permission, a bucket policy by what it lets anyone outside the administrators do."""

    def __init__(self, iam, table: str, restricted: list, partition, admins=None, account_id=None,
                 orchestrator_roles=None):
        self.iam, self.table, self.restricted, self.partition = iam, table, restricted, partition
        self.admins = list(admins or [])
        self.account_id = account_id
        self.orchestrator_roles = [r for r in (orchestrator_roles or []) if isinstance(r, str)]

    def is_orchestrator_role(self, target: dict) -> bool:
        return target.get("principalType") == "role" and trust_baseline.is_orchestrator_role(
            target.get("principalName"), self.orchestrator_roles)


def judge(target: dict, held, restricted: list, partition, own_change: bool, approved, scope: Scope | None = None) -> dict:
    """The verdict for what IAM holds (`held`); `approved()` says whether the incidents table holds
    a human-approved restore of exactly this state (only asked for the orchestrator's own changes)."""
    label = target.get("label") or target["kind"]
    if own_change:
        try:
            harmless = json.loads(held.document) == HARMLESS_DOCUMENT
        except (ValueError, RecursionError):
            harmless = False
        if harmless or approved():
            why = "its harmless version" if harmless else "a change a human approved (incidents table)"
            return {"action": "ignore", "message": f"{label}: the orchestrator's own change; in force is {why}.",
                    "matches": [], "notes": [], "policyName": label}
    if target["kind"] in ("trust", "bucket"):
        scope = scope or Scope(None, "", restricted, partition)
        verdict = (judge_trust if target["kind"] == "trust" else judge_bucket)(scope, target, held)
        if own_change and verdict["action"] != "remedy":  # RevertPolicy's taking out: nothing new let in
            return {"action": "ignore", "message": f"{label}: the orchestrator's own change; it lets nobody in "
                    "that was not let in before.", "matches": [], "notes": [], "policyName": label}
    else:
        verdict = evaluate_policy(held.document, restricted, partition=partition)
        if verdict["action"] == "remedy" and scope is not None and scope.is_orchestrator_role(target):
            verdict = dict(verdict, action="alert", message=(
                verdict["message"] + " It is a policy of one of the orchestrator's own roles, which take bucket "
                "policies' risky statements out and put them back (s3:PutBucketPolicy) by design: reported, "
                "not reverted, as reverting it would disarm the orchestrator. Who may assume the role stays "
                "guarded."))
    if verdict["action"] == "remedy" and not held.in_force:
        verdict = dict(verdict, action="alert", message=(
            verdict["message"] + " It is not the default version, so none of it is in force: nothing was "
            "reverted. Making it the default (SetDefaultPolicyVersion) is watched and will be reverted."))
    verdict["policyName"] = label
    verdict["inForce"] = held.in_force
    verdict["documentSource"] = held.source
    verdict["message"] = f"{label}: {verdict['message']}"
    return verdict


def _readable(text: str, read):
    try:
        return read(text)
    except resource_policies.Unreadable as exc:
        raise InvalidPolicyDocument(f"the policy's principals cannot be read: {exc}") from exc


def judge_bucket(scope: Scope, target: dict, held) -> dict:
    """A bucket policy: each Allow statement that lets in anyone but the administrators and the account
    itself is judged as the identity policy it amounts to; the risky ones are named by digest, for
    RevertPolicy to take out (the rest of the bucket policy stays)."""
    outside = _readable(held.document, lambda text: resource_policies.outside_statements(
        text, scope.admins, scope.account_id))
    risky_statements, matches, notes = [], [], []
    for statement in outside:
        single = json.dumps({"Version": "2012-10-17", "Statement": [resource_policies.as_identity_statement(statement)]})
        verdict = evaluate_policy(single, scope.restricted, partition=scope.partition)
        notes += [n for n in verdict["notes"] if n not in notes]
        if verdict["action"] == "remedy":
            risky_statements.append(resource_policies.statement_digest(statement))
            who = ", ".join(resource_policies.principals(statement))
            matches += [dict(m, statement=statement.get("Sid") or m.get("statement"), principals=who)
                        for m in verdict["matches"]]
    if not risky_statements:
        return {"action": "alert", "matches": [], "notes": notes, "message": (
            f"none of its {len(outside)} statements for principals outside the account's administrators allows "
            "a restricted action.")}
    return {"action": "remedy", "matches": matches, "notes": notes, "riskyStatements": risky_statements,
            "documentDigest": document_digest(held.document), "message": (
                f"{len(risky_statements)} of its statements let principals outside the account's administrators "
                f"do a restricted action ({', '.join(sorted({m['action'] for m in matches}))}); those statements "
                "are taken out of force, the rest of the bucket policy stays.")}


def restricted_holdings(scope: Scope, role: str) -> list[str]:
    """The labels of what a role holds that allows a restricted action (approved or not)."""
    parts = holdings(scope.iam, "role", role)
    return [part["label"] for part, _ in risky(scope.iam, parts, scope.restricted, scope.partition)]


def judge_trust(scope: Scope, target: dict, held) -> dict:
    """A role's trust policy: an incident when the role holds a restricted permission and the policy lets in
    a principal its sealed baseline and its last approved trust change (`_shared.trust_baseline`) do not:
    the grants they lack are taken out. Knowing neither, every grant but the administrators' counts as new
    (fail closed)."""
    role = target["principalName"]
    held_parts = restricted_holdings(scope, role)
    if not held_parts:
        return {"action": "alert", "matches": [], "notes": [], "message": (
            "the role holds no restricted permission, so whoever may assume it can do no restricted action: "
            "not an incident.")}
    known, found = trust_baseline.read(dynamodb_client(), kms_client(), os.environ.get(seal.KEY_VARIABLE),
                                       scope.table, held.policy_id, own_role=scope.is_orchestrator_role(target))
    new = _readable(held.document, lambda text: resource_policies.new_grants(text, known, scope.admins))
    principals = sorted({principal for principal, _ in new})
    holding = f"the role holds a restricted permission ({'; '.join(held_parts)})"
    if not new:
        return {"action": "alert", "matches": [], "notes": [], "message": (
            f"{holding}; its trust policy lets in nobody but the account's administrators and those {found} "
            "lets in.")}
    compared = f"compared with {found}" if known else (
        f"{found}: every principal but the account's administrators (AdminPrincipalArns) counts as new")
    return {"action": "remedy", "matches": [], "notes": [], "newPrincipals": principals, "baseline": found,
            "message": (f"{holding}, and its trust policy lets in principals it did not ({compared}): "
                        f"{', '.join(principals)}. Those grants are taken out of force until a human decides; "
                        "the rest of the trust policy stays.")}


def as_change(target: dict) -> dict:
    """The IAM call that would have put `target` in force, as the finding the state machine turns into
    an event of its own (eventName, requestParameters: what the rule's CloudTrail events carry)."""
    kind = target["kind"]
    if kind == "managed":  # its default version, as if it had just been made the default
        return {"name": target["label"], "eventName": "SetDefaultPolicyVersion",
                "requestParameters": {"policyArn": target["policyArn"], "versionId": target["versionId"]}}
    if kind == "bucket":
        return {"name": target["label"], "eventName": "PutBucketPolicy",
                "requestParameters": {"bucketName": target["bucketName"]}}
    if kind == "trust":
        return {"name": target["label"], "eventName": "UpdateAssumeRolePolicy",
                "requestParameters": {"roleName": target["principalName"]}}
    principal = {f"{target['principalType']}Name": target["principalName"]}
    if kind == "inline":
        return {"name": target["label"], "eventName": f"Put{target['principalType'].capitalize()}Policy",
                "requestParameters": {**principal, "policyName": target["policyName"]}}
    if kind == "attachment":
        return {"name": target["label"], "eventName": f"Attach{target['principalType'].capitalize()}Policy",
                "requestParameters": {**principal, "policyArn": target["policyArn"]}}
    return {"name": target["label"], "eventName": "AddUserToGroup",
            "requestParameters": {"userName": target["principalName"], "groupName": target["groupName"]}}


def holdings(iam, principal_type: str, name: str) -> list[dict]:
    """Everything a principal holds: its inline policies, its attachments and, for a user, its groups."""
    held = principal_policies(iam, principal_type, name)
    if principal_type == "user":
        held += [{"kind": "membership", "principalType": "user", "principalName": name, "groupName": group,
                  "label": f"user {name}'s membership of group {group}"} for group in groups_of(iam, name)]
    return held


def risky(iam, targets: list[dict], restricted: list, partition, decided=None, scope: Scope | None = None,
          holding: set | None = None) -> list[tuple[dict, object]]:
    """(target, what IAM holds) of the targets whose document allows a restricted action (or cannot be
    read: fail closed), leaving out what `decided(target, held)` says a human already approved. The roles
    of the risky parts, decided or not, are added to `holding` when it is given (whose trust matters)."""
    found = []
    for part in targets:
        try:
            held = read_held(iam, part, part.get("policyId"))
            verdict = judge(part, held, restricted, partition, False, lambda: False, scope)
        except Gone:  # went away while being listed: nothing of it is in force
            continue
        except InvalidPolicyDocument:
            verdict = {"action": "remedy"}
        if verdict["action"] == "alert":
            continue
        if holding is not None and part.get("principalType") == "role" and part["kind"] != "trust":
            holding.add(part["principalName"])
        if not (decided and decided(part, held)):
            found.append((part, held))
    return found


def judge_principal(iam, target: dict, restricted: list, partition, event_id: str) -> dict:
    """A rename: everything the principal holds under its new name, judged again part by part. Each
    risky part becomes a change of its own (the state machine starts an execution for it), so each
    is reverted, recorded and decided like any other."""
    label = target.get("label") or f"{target['principalType']} {target['principalName']}"
    try:
        parts = holdings(iam, target["principalType"], target["principalName"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise Gone(f"no {target['principalType']} {target['principalName']}") from exc
        raise
    found = [dict(as_change(part), id=f"{event_id}|{part['label']}")
             for part, _ in risky(iam, parts, restricted, partition)]
    return parts_verdict(label, found, ("alert", f"{label}: judged again under this name; none of its {len(parts)} "
                                                 "policies and memberships allows a restricted action."),
                         f"{label}: judged again under this name; {len(found)} of its {len(parts)} policies and "
                         "memberships allow a restricted action")


def parts_verdict(label: str, found: list[dict], nothing: tuple[str, str], risky_found: str) -> dict:
    """The verdict on a principal or the account judged part by part: `nothing` (action, message) when no
    part is risky, else "reconcile" with the findings, each to become an execution of its own."""
    verdict = {"matches": [], "notes": [], "policyName": label, "findings": found}
    if not found:
        return {**verdict, "action": nothing[0], "message": nothing[1]}
    names = "; ".join(f["name"] for f in found)
    return {**verdict, "action": "reconcile", "message": f"{risky_found}, each now an incident of its own: {names}."}


def _every(paginator, key: str, **kwargs) -> list:
    def listed(**arguments):
        return [item for page in paginator.paginate(**arguments) for item in page[key]]

    return aws_call(listed, **kwargs)


def bucket_parts() -> list[dict]:
    """Every bucket of the account, as a bucket target (one without a policy is Gone when read: skipped)."""
    buckets = aws_call(s3_client().list_buckets).get("Buckets") or []
    return [{"kind": "bucket", "bucketName": b["Name"], "label": f"the bucket policy of {b['Name']}"}
            for b in buckets]


def trust_part(role: str) -> dict:
    return {"kind": "trust", "principalType": "role", "principalName": role,
            "label": f"the trust policy of role {role}"}


def is_admin(arn: str, admins: list[str]) -> bool:
    """One of the account's administrators (AdminPrincipalArns, wildcards allowed): left to them."""
    return any(fnmatch.fnmatchcase(arn, pattern) for pattern in admins)


def account_parts(iam, admins: list[str]) -> list[dict]:
    """Everything of the account that can hold a permission: each customer managed policy's default
    version, and every user's, role's and group's inline policies, attachments and (users) groups.
    Service-linked and IAM Identity Center roles (AWS owns them; IAM refuses to change them) and
    administrators are left out, and so is a managed policy attached only to them: it is theirs, as
    their inline policies are. One attached to nobody is judged (what CreatePolicy made)."""
    principals = [("user", u) for u in _every(iam.get_paginator("list_users"), "Users")] + \
        [("role", r) for r in _every(iam.get_paginator("list_roles"), "Roles")
         if not r.get("Path", "/").startswith(("/aws-service-role/", "/aws-reserved/"))] + \
        [("group", g) for g in _every(iam.get_paginator("list_groups"), "Groups")]
    held = []
    for principal_type, found in principals:
        if is_admin(found["Arn"], admins):
            continue
        name = found[f"{principal_type.capitalize()}Name"]
        try:
            held += holdings(iam, principal_type, name)
        except ClientError as exc:  # deleted while the scan ran: nothing of it is in force
            if error_code(exc) != "NoSuchEntity":
                raise
    # the attachments just read name every policy a principal the scan judges holds
    judged_holders = {part["policyArn"] for part in held if part["kind"] == "attachment"}
    managed = [{"kind": "managed", "policyArn": p["Arn"], "versionId": p["DefaultVersionId"], "policyId": p["PolicyId"],
                "label": f"policy {p['Arn']} version {p['DefaultVersionId']}"}
               for p in _every(iam.get_paginator("list_policies"), "Policies", Scope="Local")
               if not (admins and p.get("AttachmentCount") and p["Arn"] not in judged_holders)]
    return managed + held


def approved_and_sealed(iam, table: str, part: dict, held) -> bool:
    """Whether a human approved exactly this state (an approval marker whose incident records "allow"
    and whose seal verifies): a decided incident, which the scan leaves alone."""
    known = held.policy_id or (policy_id(iam, part["policyArn"]) if part["kind"] == "managed" else None)
    dynamodb = dynamodb_client()
    marker = _get(dynamodb, table, approval_marker_id(state_key(part, known, held.document)))
    approved = text(marker, attr.APPROVED_INCIDENT)
    if text(marker, attr.KIND) != attr.APPROVAL_KIND or not approved:
        return False
    incident = _get(dynamodb, table, approved)
    key_id = os.environ.get(seal.KEY_VARIABLE)
    return (text(incident, attr.DECISION) == ALLOW and bool(key_id)
            and seal.check(kms_client(), key_id, incident) == seal.SEALED)


def finding_id(part: dict, held) -> str:
    """The event id of a scan's finding: the same for the same state in every run, so that a state
    found again while its incident runs is that incident's duplicate, not a second one."""
    state = state_key(part, held.policy_id or part.get("policyId"), held.document)
    return f"reconcile|{document_digest(state)[:32]}"


def reconcile(iam, table: str, restricted: list, partition, account_id: str | None = None,
              orchestrator_roles=None) -> dict:
    """The reconciliation scan: everything risky the account holds that no human decided becomes a change
    of its own (the state machine starts an execution for each): what existed before the stack, what a
    missed or late event left, what changed while the rule was disabled. Beside the identity policies:
    every bucket policy, and the trust policy of every role (not an administrator) that holds a restricted
    permission, judged against its sealed baseline."""
    admins = resource_policies.admin_patterns()
    scope = Scope(iam, table, restricted, partition, admins, account_id, orchestrator_roles)

    def decided(part, held):
        return approved_and_sealed(iam, table, part, held)

    # the orchestrator's own roles hold what they need to take a bucket policy's statements out, as the
    # administrators hold restricted actions: theirs by design
    parts, buckets = account_parts(iam, admins + list(scope.orchestrator_roles)), bucket_parts()
    holding: set[str] = set()
    risky_parts = risky(iam, parts + buckets, restricted, partition, decided, scope, holding)
    trusts = [trust_part(role) for role in sorted(holding)]
    risky_parts += risky(iam, trusts, restricted, partition, decided, scope)
    found = [dict(as_change(part), id=finding_id(part, held)) for part, held in risky_parts]
    label = (f"the reconciliation scan: {len(parts)} policies, attachments and memberships judged, with the "
             f"policies of {len(buckets)} buckets and the trust policies of {len(trusts)} roles holding a "
             "restricted permission")
    return parts_verdict("the reconciliation scan", found,
                         ("clean", f"{label}; nothing risky is in force that a human did not approve."),
                         f"{label}; {len(found)} allow a restricted action that no human approved")


def account_of(context) -> str | None:
    """The account's id, from the function's own ARN (the event could be forged)."""
    parts = str(getattr(context, "invoked_function_arn", None) or "").split(":")
    return parts[4] if len(parts) > 4 and parts[4] else None


def handler(event, context):
    if not isinstance(event, dict):
        raise InvalidTarget("ValidatePolicy expects the output of ModifyState (target, eventName, changedBy)")
    target = checked_target(event.get("target"), InvalidTarget, "ValidatePolicy")
    restricted = parse_restricted_actions(os.environ.get("RESTRICTED_ACTIONS"))
    table = os.environ.get("INCIDENTS_TABLE")
    if not table:
        raise ConfigurationError("INCIDENTS_TABLE is not set: deploy the stack's template")
    # The function's own ARN names the account's partition; the event could be forged.
    partition = partition_from_arn(getattr(context, "invoked_function_arn", None))
    own = is_own_change(event.get("changedBy"), event.get("orchestratorRoleArns"))
    iam = iam_client()
    account_id = account_of(context)
    try:
        if target["kind"] == "principal":
            return judge_principal(iam, target, restricted, partition, str(event.get("eventId") or ""))
        if target["kind"] == "account":
            return reconcile(iam, table, restricted, partition, account_id, event.get("orchestratorRoleArns"))
        held = settled(lambda: read_held(iam, target), float(os.environ.get("IAM_SETTLE_SECONDS", "5")))
        # inside the try: the approval marker's key reads the policy's id, which may be gone by now
        verdict = judge(target, held, restricted, partition, own,
                        lambda: approved_restore(iam, table, target, held, str(event.get("eventId") or "")),
                        Scope(iam, table, restricted, partition, resource_policies.admin_patterns(), account_id,
                              event.get("orchestratorRoleArns")))
    except Gone as gone:
        label = target.get("label") or target["kind"]
        event_id = str(event.get("eventId") or "")
        holder = handled_by_another(iam, table, target, event_id, event.get("executionArn"))
        print(json.dumps({"target": label, "verdict": "handled" if holder else "gone"}))
        if holder:
            return {"action": "handled", "message": f"{label}: execution {holder} recorded and reverted this very "
                                                    "change; IAM no longer holds it.",
                    "matches": [], "notes": [], "policyName": label, "handledBy": holder}
        return {"action": "gone", "matches": [], "notes": [], "policyName": label,
                "message": gone_message(label, event.get("eventName"), event.get("changedBy"),
                                        event.get("eventTime"), str(gone))}
    print(json.dumps({"target": target.get("label"), "verdict": verdict["action"],
                      "matches": len(verdict["matches"]), "source": held.source}))
    return verdict
