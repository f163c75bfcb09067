"""The incident's Lambdas called in the order the state machine calls them, for unit tests with moto.

Each step builds the input its state's `Parameters` build (see
statemachine/security_orchestrator.asl.json) and calls the real handler.
"""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from lambda_loader import ROOT, load_function

validate = load_function("validate_policy")
revert = load_function("revert_policy")
restore = load_function("restore_policy")
ask_user = load_function("ask_user")
receive_decision = load_function("receive_decision")

TABLE = "incidents"
SECRET = "s3cr3t" * 11  # 66 characters, as the template's GenerateSecretString makes 64
API_BASE_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/Prod"
BAD = (ROOT / "policies" / "badpolicy.json").read_text()
GOOD = (ROOT / "policies" / "goodpolicy.json").read_text()
ACCOUNT = "123456789012"
REVERT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/stack-RevertPolicyRole-ABC"
RESTORE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/stack-RestorePolicyRole-DEF"
ROLES = [REVERT_ROLE, RESTORE_ROLE]
HUMAN = {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
         "accountId": ACCOUNT, "userName": "alice"}
EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:orchestrator:e1"
CONTEXT = SimpleNamespace(invoked_function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:stack-Validate")


def as_role(role_arn: str) -> dict:
    """CloudTrail's userIdentity of a Lambda function's role."""
    name = role_arn.rsplit("/", 1)[-1]
    return {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/fn",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn, "userName": name}}}


def managed(arn: str, version: str) -> dict:
    return {"kind": "managed", "policyArn": arn, "versionId": version, "label": f"policy {arn} version {version}"}


def inline(principal_type: str, principal: str, policy: str) -> dict:
    return {"kind": "inline", "principalType": principal_type, "principalName": principal, "policyName": policy,
            "label": f"inline policy {policy} of {principal_type} {principal}"}


def attachment(principal_type: str, principal: str, arn: str) -> dict:
    return {"kind": "attachment", "principalType": principal_type, "principalName": principal, "policyArn": arn,
            "label": f"{arn} attached to {principal_type} {principal}"}


def membership(user: str, group: str) -> dict:
    return {"kind": "membership", "principalType": "user", "principalName": user, "groupName": group,
            "label": f"user {user} added to group {group}"}


def principal(principal_type: str, name: str, renamed_from: str = "old") -> dict:
    return {"kind": "principal", "principalType": principal_type, "principalName": name,
            "label": f"{principal_type} {name} (renamed from {renamed_from})"}


def judge(target: dict, changed_by: dict | None = None, event_name: str = "CreatePolicy",
          event_id: str = "event-judged", execution: str = EXECUTION) -> dict:
    """ValidatePolicy's Parameters: target, eventId, eventName, eventTime, changedBy, the execution,
    the orchestrator's roles."""
    return validate.handler({"target": target, "eventId": event_id, "eventName": event_name,
                             "eventTime": "2026-11-28T10:15:30Z", "changedBy": changed_by or HUMAN,
                             "executionArn": execution, "orchestratorRoleArns": ROLES}, CONTEXT)


def revert_change(target: dict, event_id: str = "event-1", execution: str = EXECUTION,
                  verdict: dict | None = None) -> dict:
    """TempRemove's Parameters."""
    return revert.handler({"target": target, "eventId": event_id, "eventName": "CreatePolicy",
                           "eventTime": "2026-11-28T10:15:30Z", "changedBy": HUMAN,
                           "verdict": verdict or {"action": "remedy", "message": "allows s3:DeleteBucket",
                                                  "matches": [{"action": "s3:DeleteBucket", "statement": 0}]},
                           "executionArn": execution}, None)


def link_fields(link: str) -> dict:
    """The query fields of a decision link (incident, expires, signature)."""
    return {name: values[0] for name, values in parse_qs(urlsplit(link).query).items()}


def signed_link(secret: bytes, incident_id: str, decision: str, expires: int) -> dict:
    """The fields of the link AskUser e-mails for `decision`, signed by AskUser's own code."""
    return link_fields(ask_user.decision_links(API_BASE_URL, secret, incident_id, expires)[decision])


def item(stack, incident_id: str) -> dict:
    found = stack.dynamodb.get_item(TableName=stack.table, Key={"incidentId": {"S": incident_id}},
                                    ConsistentRead=True).get("Item") or {}
    return {k: (v.get("S") if "S" in v else v.get("BOOL") if "BOOL" in v else v.get("N")) for k, v in found.items()}


def record(stack, incident_id: str, decision: str, via: str = "panel") -> None:
    """What a decider writes (ReceiveDecision for a signed link, the panel for the learner)."""
    stack.dynamodb.update_item(
        TableName=stack.table, Key={"incidentId": {"S": incident_id}},
        UpdateExpression="SET decision = :d, decidedVia = :v, decidedAt = :t",
        ExpressionAttributeValues={":d": {"S": decision}, ":v": {"S": via}, ":t": {"S": "2026-11-28T10:16:00Z"}})


def restore_incident(incident_id: str, execution: str = EXECUTION) -> dict:
    """approved's Parameters: the incident's id and the execution's own ($$.Execution.Id)."""
    return restore.handler({"incidentId": incident_id, "executionId": execution}, None)
