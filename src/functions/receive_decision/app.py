"""ReceiveDecision: the page behind the signed approve / deny links (API Gateway proxy).

A link names an incident, a decision (its path: /allow or /deny) and an
expiry, signed with HMAC-SHA256 under a secret only AskUser and this function
read (Secrets Manager). The task token is never in a link: it stays in the
incidents table, where AskUser put it.

* GET checks the signature and shows a confirmation page whose
  `<form method="post">` carries the link's fields: e-mail scanners and link
  previews fetch links, and a fetch must never decide anything.
* Only POST decides: signature and expiry checked (constant-time), then the
  decision is recorded with a conditional update (decision, how, who, when),
  so an incident is decided at most once: a second decision (allow after
  allow, deny a millisecond after allow) gets 409 and the page says which
  decision stood. Then the token is looked up in the item and SendTaskSuccess
  resumes the execution. An answer the execution can no longer take (timed
  out) is taken back and said to be expired.
* Anything else (an edited link, a bare task token as the old links carried,
  a body over MAX_BODY_BYTES, a nesting that would exhaust the parser) gets a
  4xx page that says what happened, never a 5xx or a trace. Everything echoed
  is HTML-escaped, and the page asks browsers not to cache it, frame it or
  send the URL as a referrer.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import os
import time
from urllib.parse import parse_qs

import boto3
from botocore.exceptions import ClientError

from _shared import incident_item as attr
from _shared.decisions import ALLOW, DENY, WIRE_VALUES
from _shared.incident_item import item_key, text, timestamp
from _shared.link_signature import FIELDS, decision_secret, is_signed, well_formed
from _shared.transient import error_code

# A decision POST carries three short fields; anything much larger is not one.
MAX_BODY_BYTES = 4096
# decision (the link's path) -> (button label, what it does, title once done)
PAGES = {ALLOW: ("Approve", "restore exactly what was taken out of force", "Approved"),
         DENY: ("Deny", "keep the change reverted", "Denied")}
STOOD = {ALLOW: "approved", DENY: "denied"}
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
}


class BadRequest(Exception):
    """The request cannot be read: (status, title, text) for the page."""

    def __init__(self, status: int, title: str, text: str):
        super().__init__(text)
        self.status, self.title, self.text = status, title, text


def _page(status: int, title: str, body_html: str) -> dict:
    page = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}"
        "button{font-size:1.1em;padding:.5em 1.5em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    return {"statusCode": status, "headers": dict(HEADERS), "body": page}


def _problem(status: int, title: str, text: str) -> dict:
    return _page(status, title, f"<p>{html.escape(text)}</p>")


INVALID_LINK = ("This link is not valid",
                "The link is not one this orchestrator signed, or it was changed. Use the approve or deny "
                "link from the e-mail exactly as it arrived.")


def _decision_from_path(event: dict) -> str | None:
    context = event.get("requestContext") if isinstance(event.get("requestContext"), dict) else {}
    path = str(event.get("resource") or event.get("path") or context.get("resourcePath") or "").rstrip("/")
    name = path.rsplit("/", 1)[-1].lower()
    return name if name in PAGES else None


def _form(event: dict) -> dict:
    """The POST body's fields (form-encoded or JSON); BadRequest when it is not readable."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise BadRequest(400, "Bad request", "The request body could not be read.")
    if len(body) > MAX_BODY_BYTES * 2:  # before decoding: base64 grows by a third
        raise BadRequest(413, "Request too large", "A decision is a few short fields; this request is far larger.")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadRequest(400, "Bad request", "The request body could not be read.") from None
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise BadRequest(413, "Request too large", "A decision is a few short fields; this request is far larger.")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(k, str)}
    if "json" in str(headers.get("content-type", "")):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # 100,000 "[" exhaust the parser's recursion
            raise BadRequest(400, "Bad request", "The request body is not the JSON of a decision.") from None
        if not isinstance(data, dict):
            raise BadRequest(400, "Bad request", "The request body is not the JSON of a decision.")
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
    try:
        return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True, max_num_fields=20).items()}
    except ValueError:
        raise BadRequest(400, "Bad request", "The request body has too many fields for a decision.") from None


def signing_key() -> bytes:
    return decision_secret(lambda: boto3.client("secretsmanager"))


def check_link(fields: dict, decision: str, secret: bytes) -> tuple[str, int]:
    """(incident id, expiry) of a link signed for exactly this decision, else BadRequest."""
    if not any(fields.get(name) for name in FIELDS):
        if fields.get("token"):
            raise BadRequest(403, "This link is not valid",
                             "A task token on its own decides nothing here: use the signed link from the e-mail.")
        raise BadRequest(400, "This link is not valid",
                         "The link carries no incident. Use the link from the e-mail exactly as it arrived.")
    if not well_formed(fields):
        raise BadRequest(400, *INVALID_LINK)
    if not is_signed(secret, fields, decision):
        raise BadRequest(403, *INVALID_LINK)
    return fields["incident"], int(fields["expires"])


def _expired_page() -> dict:
    return _problem(410, "This approval request has expired",
                    "Nobody decided in time, so the change stays reverted. Change the policy again to start a "
                    "new request.")


def _stood_page(item: dict) -> dict:
    decision = text(item, attr.DECISION)
    if not decision:
        return _problem(409, "Not waiting for a decision",
                        "This incident is not waiting for a decision (it was not asked yet, or it ended).")
    via = text(item, attr.DECIDED_VIA, "?")
    when = text(item, attr.DECIDED_AT, "?")
    return _problem(409, "Already decided",
                    f"This change was already {STOOD.get(decision, decision)} (via {via}, at {when}); that "
                    "decision stands and nothing was changed now.")


def record_decision(dynamodb, table: str, incident_id: str, decision: str, who: str) -> dict | None:
    """Record the decision once: the item (with its task token), or None when one was there first."""
    try:
        return dynamodb.update_item(
            TableName=table, Key=item_key(incident_id),
            UpdateExpression=f"SET {attr.DECISION} = :decision, {attr.DECIDED_VIA} = :via, {attr.DECIDED_BY} = :who, "
                             f"{attr.DECIDED_AT} = :now, #status = :decided",
            ConditionExpression=f"attribute_exists({attr.TASK_TOKEN}) AND attribute_not_exists({attr.DECISION})",
            ExpressionAttributeNames={"#status": attr.STATUS},
            ExpressionAttributeValues={":decision": {"S": decision}, ":via": {"S": "link"}, ":who": {"S": who},
                                       ":now": {"S": timestamp()}, ":decided": {"S": attr.DECIDED}},
            ReturnValues="ALL_NEW")["Attributes"]
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise


def take_back(dynamodb, table: str, item: dict) -> None:
    """Undo a decision the execution could not take (it timed out), so the table tells the truth."""
    try:
        dynamodb.update_item(
            TableName=table, Key={attr.INCIDENT_ID: item[attr.INCIDENT_ID]},
            UpdateExpression=f"REMOVE {attr.DECISION}, {attr.DECIDED_VIA}, {attr.DECIDED_BY}, {attr.DECIDED_AT} "
                             "SET #status = :expired",
            ConditionExpression=f"{attr.DECIDED_AT} = :mine",
            ExpressionAttributeNames={"#status": attr.STATUS},
            ExpressionAttributeValues={":mine": item[attr.DECIDED_AT], ":expired": {"S": attr.EXPIRED}})
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise


def _who(event: dict) -> str:
    identity = (event.get("requestContext") or {}).get("identity") or {}
    ip = identity.get("sourceIp") if isinstance(identity, dict) else None
    return f"e-mail link (signed) from {ip}" if ip else "e-mail link (signed)"


def _confirm_page(decision: str, fields: dict) -> dict:
    verb, effect, _ = PAGES[decision]
    hidden = "".join(f'<input type="hidden" name="{name}" value="{html.escape(fields[name], quote=True)}">'
                     for name in FIELDS)
    body = (
        f"<p>You are about to <strong>{html.escape(verb.lower())}</strong> this policy change: "
        f"{html.escape(effect)}.</p>"
        f'<form method="post" action="{decision}">{hidden}'
        f'<button type="submit" name="decision" value="{decision}">{html.escape(verb)}</button></form>'
        "<p>Nothing has been decided yet: only the button does that.</p>"
    )
    return _page(200, f"{verb} the policy change?", body)


def decide(event: dict, decision: str, fields: dict) -> dict:
    incident, expires = check_link(fields, decision, signing_key())
    if time.time() > expires:
        return _expired_page()
    table = os.environ["INCIDENTS_TABLE"]
    dynamodb = boto3.client("dynamodb")
    item = record_decision(dynamodb, table, incident, decision, _who(event))
    if item is None:
        found = dynamodb.get_item(TableName=table, Key=item_key(incident), ConsistentRead=True).get("Item") or {}
        return _stood_page(found)
    action = WIRE_VALUES[decision]
    _, effect, done = PAGES[decision]
    output = {"action": action, "incidentId": incident, "decidedVia": "link", "decidedAt": text(item, attr.DECIDED_AT)}
    try:
        boto3.client("stepfunctions").send_task_success(taskToken=text(item, attr.TASK_TOKEN),
                                                        output=json.dumps(output))
    except ClientError as exc:
        code = error_code(exc)
        if code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            take_back(dynamodb, table, item)
            return _expired_page()
        take_back(dynamodb, table, item)
        print(json.dumps({"error": code, "decision": action, "incidentId": incident}))
        return _problem(502, "Your decision was not recorded",
                        "Step Functions did not accept the decision just now. Try the link again in a minute.")
    print(json.dumps({"incidentId": incident, "decision": action, "via": "link"}))
    return _page(200, done, f"<p>Your decision was recorded: {html.escape(effect)}.</p>")


def handler(event, context):
    if not isinstance(event, dict):
        return _problem(400, "Bad request", "The request could not be read.")
    decision = _decision_from_path(event)
    if decision is None:
        return _problem(404, "Not found", "Use the approve or deny link from the e-mail.")
    method = str(event.get("httpMethod") or "GET").upper()
    query = event.get("queryStringParameters") or {}
    query = {k: v for k, v in query.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(query, dict) else {}
    try:
        if method in ("GET", "HEAD"):
            check_link(query, decision, signing_key())
            return _confirm_page(decision, query)
        if method != "POST":
            response = _problem(405, "Method not allowed", "Open the link in a browser and use the button.")
            response["headers"]["Allow"] = "GET, POST"
            return response
        fields = _form(event)
        for name in (*FIELDS, "token"):
            fields.setdefault(name, query.get(name))
        return decide(event, decision, {k: v for k, v in fields.items() if v is not None})
    except BadRequest as bad:
        return _problem(bad.status, bad.title, bad.text)
