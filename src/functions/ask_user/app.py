"""AskUser: e-mail a human signed approve / deny links for a reverted change.

Invoked with `lambda:invoke.waitForTaskToken`: the execution waits until a
decider calls SendTaskSuccess with this task token. The token is a secret but
it is also in the execution history (the task's parameters), which anyone
with read access to Step Functions sees. So the token never leaves AWS in a
link: it is kept in the incident's item of the incidents table, and the links
carry the incident's id, the decision and an expiry, signed (HMAC-SHA256) with
a secret only this function and ReceiveDecision can read (Secrets Manager).
ReceiveDecision checks the signature, records the decision once, then looks
the token up. An allow link cannot be made from a deny link, and the token
from the history decides nothing at the endpoint.

The e-mail is written from the incidents table (what IAM held, who changed
it, the verdict), not from the execution data. The links open a confirmation
page: fetching them (as e-mail scanners do) decides nothing.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import boto3
from botocore.exceptions import ClientError

from _shared import incident_item as attr
from _shared.decisions import DECISIONS
from _shared.incident_item import item_key, json_value, text, timestamp
from _shared.link_signature import decision_secret, signed_fields
from _shared.sdk_clients import dynamodb_client, per_sandbox
from _shared.transient import TransientError, aws_call, error_code

# The handler, and the errors Step Functions sees by name (TransientError is retried).
__all__ = ["handler", "TransientError", "InvalidEvent"]
MAX_DOCUMENT_IN_MAIL = 3000
MIN_SECRET_BYTES = 32


class InvalidEvent(Exception):
    """The payload lacks the task token or the incident it is about."""


def decision_links(base_url: str, secret: bytes, incident_id: str, expires: int) -> dict:
    base = base_url.rstrip("/")
    return {decision: f"{base}/{decision}?{urlencode(signed_fields(secret, incident_id, decision, expires))}"
            for decision in DECISIONS}


def deadline(entered_time, timeout_seconds) -> datetime:
    try:
        seconds = int(timeout_seconds)
    except (TypeError, ValueError):
        seconds = 86400
    try:
        start = datetime.fromisoformat(str(entered_time).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        start = datetime.now(timezone.utc)
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    return start + timedelta(seconds=seconds)


def _what_was_done(item: dict, target: dict) -> list:
    revert = json_value(item, attr.REVERT, {})
    if target.get("kind") == "managed":
        harmless = revert.get("harmlessVersionId")
        return [f"Policy: {target.get('policyArn', '?')}",
                f"Offending version: {target.get('versionId', '?')} (deleted"
                + (f"; the harmless version {harmless} is in force)" if harmless else "; it was not the default)")]
    if target.get("kind") == "inline":
        return [f"The inline policy {target.get('policyName')} of {target.get('principalType')} "
                f"{target.get('principalName')} was deleted; its document is kept in the incidents table."]
    if target.get("kind") == "trust":
        out = ", ".join(revert.get("takenOutPrincipals") or []) or "none"
        return [f"Role: {target.get('principalName')} (it holds a restricted permission)",
                f"Taken out of its trust policy: {out}.",
                f"Compared with: {revert.get('baseline', '?')}"
                + ("" if revert.get("baselineKnown", True) else
                   ". With no trust policy known to be decided, every principal but the account's administrators "
                   "(AdminPrincipalArns) was taken out until you decide"),
                "Approving puts the trust policy back exactly as it was changed; denying keeps what is in force:",
                f"  {revert.get('trustPolicyInForce', '?')}"]
    if target.get("kind") == "bucket":
        return [f"Bucket: {target.get('bucketName')}",
                f"{revert.get('removedStatements', '?')} statement(s) letting someone outside the account's "
                f"administrators do a restricted action were taken out; the bucket policy "
                f"{revert.get('bucketPolicy', '?')}. Approving puts the whole policy back."]
    if target.get("kind") == "membership":
        return [f"Group: {target.get('groupName')}",
                f"User {target.get('principalName')} was removed from it again: the group's policies (in the "
                "incidents table) allow a restricted action. Approving adds the user back."]
    return [f"Policy: {target.get('policyArn', '?')}",
            f"It was detached from {target.get('principalType')} {target.get('principalName')}; "
            "approving attaches it again."]


def _short_name(target: dict, label: str) -> str:
    """What changed, short enough for a subject line (SNS allows 100 characters)."""
    policy = str(target.get("policyArn", "")).rsplit("/", 1)[-1]
    if target.get("kind") == "managed":
        return f"IAM policy {policy}"
    if target.get("kind") == "inline":
        return f"inline policy {target.get('policyName')} of {target.get('principalType')} {target.get('principalName')}"
    if target.get("kind") == "attachment":
        return f"{policy} attached to {target.get('principalType')} {target.get('principalName')}"
    if target.get("kind") == "membership":
        return f"user {target.get('principalName')} added to group {target.get('groupName')}"
    if target.get("kind") == "trust":
        return f"trust policy of role {target.get('principalName')}"
    if target.get("kind") == "bucket":
        return f"bucket policy of {target.get('bucketName')}"
    return label


def _why(item: dict) -> str:
    matches = json_value(item, attr.MATCHES, [])
    if matches:
        listed = "\n".join(
            f"  - {m.get('action')} (statement {m.get('statement')}"
            + (f", Sid {m['sid']}" if m.get("sid") else "")
            + f", granted by {m.get('grantedBy')})"
            for m in matches if isinstance(m, dict))
        return f"It allows these restricted actions:\n{listed}"
    verdict, why = text(item, attr.VERDICT), text(item, attr.WHY)
    if verdict and verdict not in ("remedy", "alert", "unknown"):
        return f"Its document could not be checked ({verdict}: {why}), so it was reverted to be safe."
    return f"It was reverted to be safe. {why}".strip()


def compose_email(item: dict, links: dict, expires: datetime, execution_arn: str | None) -> tuple[str, str]:
    target = json_value(item, attr.TARGET, {})
    label = text(item, attr.LABEL, "a policy")
    changed_by = json_value(item, attr.CHANGED_BY, {})
    who = changed_by.get("arn") or changed_by.get("type") or "unknown"
    document = text(item, attr.DOCUMENT)
    if len(document) > MAX_DOCUMENT_IN_MAIL:
        document = document[:MAX_DOCUMENT_IN_MAIL] + "\n[... the whole document is in the incidents table]"
    subject = f"Approval needed: {_short_name(target, label)} was reverted"
    planted = json_value(item, attr.PLANTED, None)
    warning = [f"WARNING: the incidents table held a planted item under this change's key (incident "
               f"{planted.get('incidentId', '?')}: {planted.get('why', '?')}). Someone who can write the table "
               "tried to make this change look handled; it was set aside. Check who can write the table.", ""] \
        if isinstance(planted, dict) else []
    lines = [
        *warning,
        f"A change was detected and taken out of force: {label} ({text(item, attr.EVENT_NAME, 'change')}).",
        f"Changed by: {who} at {text(item, attr.EVENT_TIME, '?')}",
        *_what_was_done(item, target),
        "",
        _why(item),
        "",
        "What IAM held (read from IAM, not from the event):",
        document,
        "",
        f"Approve (restore exactly what was taken away):\n  {links['allow']}",
        "",
        f"Deny (keep it reverted):\n  {links['deny']}",
        "",
        "Each link opens a page where you confirm with a button; opening a link decides nothing.",
        "The links are signed for this incident and this decision only, and work once.",
        f"If nobody decides by {expires.strftime('%Y-%m-%d %H:%M UTC')}, the change stays reverted.",
        f"Incident: {text(item, attr.INCIDENT_ID)}",
    ]
    if execution_arn:
        lines.append(f"Execution: {execution_arn}")
    return subject, "\n".join(lines)


def signing_key() -> bytes:
    secret = decision_secret(lambda: boto3.client("secretsmanager"))
    if len(secret) < MIN_SECRET_BYTES:
        raise InvalidEvent(f"the decision secret is shorter than {MIN_SECRET_BYTES} characters: redeploy the stack")
    return secret


@per_sandbox
def _sns():
    return boto3.client("sns")


def keep_token(dynamodb, table: str, incident_id: str, execution_arn: str, token: str, expires: datetime) -> dict:
    """Store the task token in the incident (only the execution that holds it, only before a decision)."""
    try:
        return aws_call(
            dynamodb.update_item, TableName=table, Key=item_key(incident_id),
            UpdateExpression=f"SET {attr.TASK_TOKEN} = :token, #status = :awaiting, {attr.ASKED_AT} = :now, "
                             f"{attr.DEADLINE} = :deadline",
            ConditionExpression=f"attribute_exists({attr.INCIDENT_ID}) AND {attr.EXECUTION_ARN} = :execution "
                                f"AND attribute_not_exists({attr.DECISION})",
            ExpressionAttributeNames={"#status": attr.STATUS},
            ExpressionAttributeValues={
                ":token": {"S": token}, ":awaiting": {"S": attr.AWAITING}, ":now": {"S": timestamp()},
                ":deadline": {"N": str(int(expires.timestamp()))}, ":execution": {"S": execution_arn}},
            ReturnValues="ALL_NEW")["Attributes"]
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise InvalidEvent(f"incident {incident_id} is not this execution's, or was already decided") from exc
        raise


def handler(event, context):
    if not isinstance(event, dict) or not event.get("token") or not event.get("incidentId"):
        raise InvalidEvent("AskUser needs the task token ($$.Task.Token as 'token') and the incidentId "
                           "RevertPolicy recorded")
    if not event.get("executionArn"):
        raise InvalidEvent("AskUser needs executionArn ($$.Execution.Id)")
    table = os.environ["INCIDENTS_TABLE"]
    expires = deadline(event.get("enteredTime"), event.get("approvalTimeoutSeconds"))
    if expires.timestamp() <= time.time():
        raise InvalidEvent("the approval deadline has passed already")
    item = keep_token(dynamodb_client(), table, event["incidentId"], event["executionArn"], event["token"], expires)
    links = decision_links(os.environ["API_BASE_URL"], signing_key(), event["incidentId"], int(expires.timestamp()))
    subject, body = compose_email(item, links, expires, event.get("executionArn"))
    published = aws_call(_sns().publish, TopicArn=os.environ["TOPIC_ARN"], Subject=subject[:99], Message=body)
    # Neither the token nor the links are logged.
    print(json.dumps({"incidentId": event["incidentId"], "messageId": published["MessageId"]}))
    return {"status": "sent", "messageId": published["MessageId"]}
