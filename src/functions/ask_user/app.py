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

import functools
import hashlib
import hmac
import json
import os
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import boto3
from botocore.exceptions import ClientError

ACTIONS = ("allow", "deny")
MAX_DOCUMENT_IN_MAIL = 3000
_secret_cache: dict = {}


class InvalidEvent(Exception):
    """The payload lacks the task token or the incident it is about."""


class TransientError(Exception):
    """DynamoDB, Secrets Manager or SNS was busy; the state machine retries this error by name."""


_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ProvisionedThroughputExceededException",
                    "InternalServerError", "InternalFailure", "ServiceUnavailable", "RequestLimitExceeded"}


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _TRANSIENT_CODES:
            raise TransientError(f"{fn.__name__}: {code}") from exc
        raise


def signature(secret: bytes, incident_id: str, action: str, expires: int) -> str:
    """HMAC-SHA256 over (incident, action, expiry): what makes a link a decision."""
    message = f"{incident_id}\n{action}\n{int(expires)}".encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def decision_links(base_url: str, secret: bytes, incident_id: str, expires: int) -> dict:
    base = base_url.rstrip("/")
    links = {}
    for action in ACTIONS:
        query = urlencode({"incident": incident_id, "expires": str(int(expires)),
                           "signature": signature(secret, incident_id, action, expires)})
        links[action] = f"{base}/{action}?{query}"
    return links


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


def _text(item: dict, name: str, default: str = "") -> str:
    return item.get(name, {}).get("S", default)


def _json(item: dict, name: str, default):
    try:
        return json.loads(_text(item, name)) if name in item else default
    except ValueError:
        return default


def _what_was_done(item: dict, target: dict) -> list:
    revert = _json(item, "revert", {})
    if target.get("kind") == "managed":
        harmless = revert.get("harmlessVersionId")
        return [f"Policy: {target.get('policyArn', '?')}",
                f"Offending version: {target.get('versionId', '?')} (deleted"
                + (f"; the harmless version {harmless} is in force)" if harmless else "; it was not the default)")]
    if target.get("kind") == "inline":
        return [f"The inline policy {target.get('policyName')} of {target.get('principalType')} "
                f"{target.get('principalName')} was deleted; its document is kept in the incidents table."]
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
    return label


def _why(item: dict) -> str:
    matches = _json(item, "matches", [])
    if matches:
        listed = "\n".join(
            f"  - {m.get('action')} (statement {m.get('statement')}"
            + (f", Sid {m['sid']}" if m.get("sid") else "")
            + f", granted by {m.get('grantedBy')})"
            for m in matches if isinstance(m, dict))
        return f"It allows these restricted actions:\n{listed}"
    verdict, why = _text(item, "verdict"), _text(item, "why")
    if verdict and verdict not in ("remedy", "alert", "unknown"):
        return f"Its document could not be checked ({verdict}: {why}), so it was reverted to be safe."
    return f"It was reverted to be safe. {why}".strip()


def compose_email(item: dict, links: dict, expires: datetime, execution_arn: str | None) -> tuple[str, str]:
    target = _json(item, "target", {})
    label = _text(item, "label", "a policy")
    changed_by = _json(item, "changedBy", {})
    who = changed_by.get("arn") or changed_by.get("type") or "unknown"
    document = _text(item, "document")
    if len(document) > MAX_DOCUMENT_IN_MAIL:
        document = document[:MAX_DOCUMENT_IN_MAIL] + "\n[... the whole document is in the incidents table]"
    subject = f"Approval needed: {_short_name(target, label)} was reverted"
    lines = [
        f"A change was detected and taken out of force: {label} ({_text(item, 'eventName', 'change')}).",
        f"Changed by: {who} at {_text(item, 'eventTime', '?')}",
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
        f"Incident: {_text(item, 'incidentId')}",
    ]
    if execution_arn:
        lines.append(f"Execution: {execution_arn}")
    return subject, "\n".join(lines)


def decision_secret() -> bytes:
    arn = os.environ["DECISION_SECRET_ARN"]
    if arn not in _secret_cache:
        value = _call(boto3.client("secretsmanager").get_secret_value, SecretId=arn)["SecretString"]
        if len(value) < 32:
            raise InvalidEvent("the decision secret is shorter than 32 characters: redeploy the stack")
        _secret_cache[arn] = value.encode("utf-8")
    return _secret_cache[arn]


# SDK clients are made once per sandbox and kept for its warm calls (AWS's advice: initialise
# them outside the handler); again only when the region, endpoint or key changes (tests do).
_SANDBOX_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID")


def _sandbox() -> tuple:
    return tuple(os.environ.get(name) for name in _SANDBOX_ENV)


@functools.lru_cache(maxsize=4)
def _dynamodb_for(_environment: tuple):
    return boto3.client("dynamodb")


@functools.lru_cache(maxsize=4)
def _sns_for(_environment: tuple):
    return boto3.client("sns")


def keep_token(dynamodb, table: str, incident_id: str, execution_arn: str, token: str, expires: datetime) -> dict:
    """Store the task token in the incident (only the execution that holds it, only before a decision)."""
    try:
        return _call(
            dynamodb.update_item, TableName=table, Key={"incidentId": {"S": incident_id}},
            UpdateExpression="SET taskToken = :token, #status = :awaiting, askedAt = :now, deadline = :deadline",
            ConditionExpression="attribute_exists(incidentId) AND executionArn = :execution "
                                "AND attribute_not_exists(decision)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":token": {"S": token}, ":awaiting": {"S": "awaiting"},
                ":now": {"S": datetime.now(timezone.utc).isoformat(timespec="milliseconds")},
                ":deadline": {"N": str(int(expires.timestamp()))}, ":execution": {"S": execution_arn}},
            ReturnValues="ALL_NEW")["Attributes"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
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
    item = keep_token(_dynamodb_for(_sandbox()), table, event["incidentId"], event["executionArn"],
                      event["token"], expires)
    links = decision_links(os.environ["API_BASE_URL"], decision_secret(), event["incidentId"],
                           int(expires.timestamp()))
    subject, body = compose_email(item, links, expires, event.get("executionArn"))
    published = _call(_sns_for(_sandbox()).publish, TopicArn=os.environ["TOPIC_ARN"], Subject=subject[:99],
                      Message=body)
    # Neither the token nor the links are logged.
    print(json.dumps({"incidentId": event["incidentId"], "messageId": published["MessageId"]}))
    return {"status": "sent", "messageId": published["MessageId"]}
