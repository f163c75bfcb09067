"""ReceiveDecision: the page behind the signed approve / deny links, and the panel's decision endpoint.

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

The kit's approval panel decides through `POST /decision`, an API Gateway
method with IAM authorisation (`AWS_IAM`): API Gateway lets only requests
signed with AWS credentials that may `execute-api:Invoke` it through, and puts
the caller's ARN in `requestContext.identity.userArn`. The body names the
incident and the decision (JSON); the decision is recorded once in the same
conditional update, "decided via panel" by that ARN, and sent the same way.
So no human needs to write the incidents table or call SendTaskSuccess: the
decision is written by this function, from a signed link or a signed request.
A request without a caller ARN is refused (403): the method must be
IAM-authorised, and a misconfigured one decides nothing.
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
from _shared.decisions import ALLOW, DECISIONS, DENY, WIRE_VALUES
from _shared.incident_item import item_key, text, timestamp
from _shared.incident_keys import INCIDENT_ID_SHAPE
from _shared.link_signature import FIELDS, decision_secret, is_signed, well_formed
from _shared.transient import error_code

# A decision POST carries three short fields; anything much larger is not one.
MAX_BODY_BYTES = 4096
# decision (the link's path) -> (button label, what it does, title once done)
PAGES = {ALLOW: ("Approve", "restore exactly what was taken out of force", "Approved"),
         DENY: ("Deny", "keep the change reverted", "Denied")}
STOOD = {ALLOW: "approved", DENY: "denied"}
PANEL_PATH = "decision"  # the last segment of the IAM-authorised method's path
VIA_LINK, VIA_PANEL = "link", "panel"
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


def record_decision(dynamodb, table: str, incident_id: str, decision: str, who: str,
                    via: str = VIA_LINK) -> dict | None:
    """Record the decision once: the item (with its task token), or None when one was there first."""
    try:
        return dynamodb.update_item(
            TableName=table, Key=item_key(incident_id),
            UpdateExpression=f"SET {attr.DECISION} = :decision, {attr.DECIDED_VIA} = :via, {attr.DECIDED_BY} = :who, "
                             f"{attr.DECIDED_AT} = :now, #status = :decided",
            ConditionExpression=f"attribute_exists({attr.TASK_TOKEN}) AND attribute_not_exists({attr.DECISION})",
            ExpressionAttributeNames={"#status": attr.STATUS},
            ExpressionAttributeValues={":decision": {"S": decision}, ":via": {"S": via}, ":who": {"S": who},
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


class Outcome:
    """What recording and sending a decision came to: done, already decided, expired, or not sent."""

    DONE, STOOD, EXPIRED, NOT_SENT = "done", "stood", "expired", "not sent"

    def __init__(self, kind: str, item: dict):
        self.kind, self.item = kind, item


def record_and_send(dynamodb, table: str, incident: str, decision: str, who: str, via: str) -> Outcome:
    """Record the decision once, then hand it to the waiting execution (SendTaskSuccess)."""
    item = record_decision(dynamodb, table, incident, decision, who, via)
    if item is None:
        found = dynamodb.get_item(TableName=table, Key=item_key(incident), ConsistentRead=True).get("Item") or {}
        return Outcome(Outcome.STOOD, found)
    action = WIRE_VALUES[decision]
    output = {"action": action, "incidentId": incident, "decidedVia": via, "decidedAt": text(item, attr.DECIDED_AT)}
    try:
        boto3.client("stepfunctions").send_task_success(taskToken=text(item, attr.TASK_TOKEN),
                                                        output=json.dumps(output))
    except ClientError as exc:
        code = error_code(exc)
        take_back(dynamodb, table, item)
        if code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            return Outcome(Outcome.EXPIRED, item)
        print(json.dumps({"error": code, "decision": action, "incidentId": incident}))
        return Outcome(Outcome.NOT_SENT, item)
    print(json.dumps({"incidentId": incident, "decision": action, "via": via}))
    return Outcome(Outcome.DONE, item)


def decide(event: dict, decision: str, fields: dict) -> dict:
    incident, expires = check_link(fields, decision, signing_key())
    if time.time() > expires:
        return _expired_page()
    outcome = record_and_send(boto3.client("dynamodb"), os.environ["INCIDENTS_TABLE"], incident, decision,
                              _who(event), VIA_LINK)
    if outcome.kind == Outcome.STOOD:
        return _stood_page(outcome.item)
    if outcome.kind == Outcome.EXPIRED:
        return _expired_page()
    if outcome.kind == Outcome.NOT_SENT:
        return _problem(502, "Your decision was not recorded",
                        "Step Functions did not accept the decision just now. Try the link again in a minute.")
    _, effect, done = PAGES[decision]
    return _page(200, done, f"<p>Your decision was recorded: {html.escape(effect)}.</p>")


# --- the panel's IAM-authorised endpoint -----------------------------------------------------


def _answer(status: int, title: str, message: str, **extra) -> dict:
    """The panel endpoint's JSON answer (what the kit shows in the card)."""
    return {"statusCode": status, "headers": {"Content-Type": "application/json", "Cache-Control": "no-store",
                                              "X-Content-Type-Options": "nosniff"},
            "body": json.dumps({"title": title, "message": message, **extra})}


def caller_arn(event: dict) -> str | None:
    """The ARN of whoever signed the request, as API Gateway's IAM authorisation puts it in the event."""
    context = event.get("requestContext") if isinstance(event.get("requestContext"), dict) else {}
    identity = context.get("identity") if isinstance(context.get("identity"), dict) else {}
    arn = identity.get("userArn")
    return arn if isinstance(arn, str) and arn.startswith("arn:") else None


def panel_decision(event: dict) -> dict:
    """POST /decision {"incident": ..., "decision": "allow" | "deny"}, signed with the decider's credentials."""
    if str(event.get("httpMethod") or "").upper() != "POST":
        response = _answer(405, "Method not allowed", "POST the decision as JSON.")
        response["headers"]["Allow"] = "POST"
        return response
    who = caller_arn(event)
    if who is None:
        return _answer(403, "Not signed", "This endpoint takes only requests signed with AWS credentials (API "
                                          "Gateway's IAM authorisation names the caller); nothing was decided.")
    try:
        fields = _form({**event, "headers": {"content-type": "application/json"}})
    except BadRequest as bad:
        return _answer(bad.status, bad.title, bad.text)
    incident, decision = fields.get("incident"), fields.get("decision")
    if not isinstance(incident, str) or not INCIDENT_ID_SHAPE.fullmatch(incident) or decision not in DECISIONS:
        return _answer(400, "Bad request", 'The body must be {"incident": "<incident id>", "decision": "allow" or '
                                           '"deny"}.')
    outcome = record_and_send(boto3.client("dynamodb"), os.environ["INCIDENTS_TABLE"], incident, decision, who,
                              VIA_PANEL)
    item = outcome.item
    if outcome.kind == Outcome.STOOD:
        stood = text(item, attr.DECISION)
        if not stood:
            return _answer(409, "Not waiting for a decision",
                           "The incident is not waiting for a decision (not asked yet, or it ended).")
        return _answer(409, "Already decided",
                       f"This change was already {STOOD.get(stood, stood)} (via {text(item, attr.DECIDED_VIA, '?')}, "
                       f"at {text(item, attr.DECIDED_AT, '?')}); that decision stands.", decision=stood)
    if outcome.kind == Outcome.EXPIRED:
        return _answer(410, "This approval request has expired", "Nobody decided in time, so the change stays "
                                                                 "reverted.")
    if outcome.kind == Outcome.NOT_SENT:
        return _answer(502, "Your decision was not recorded",
                       "Step Functions did not accept the decision just now. Try again in a minute.")
    _, effect, done = PAGES[decision]
    return _answer(200, done, f"Recorded as decided via panel by {who}: {effect}.", decision=decision,
                   decidedBy=who, decidedAt=text(item, attr.DECIDED_AT))


def _is_panel_path(event: dict) -> bool:
    context = event.get("requestContext") if isinstance(event.get("requestContext"), dict) else {}
    path = str(event.get("resource") or event.get("path") or context.get("resourcePath") or "").rstrip("/")
    return path.rsplit("/", 1)[-1].lower() == PANEL_PATH


def handler(event, context):
    if not isinstance(event, dict):
        return _problem(400, "Bad request", "The request could not be read.")
    if _is_panel_path(event):
        return panel_decision(event)
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
