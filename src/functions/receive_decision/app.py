"""ReceiveDecision: the page behind the approve / deny links (API Gateway proxy).

* GET shows a confirmation page whose `<form method="post">` carries the
  token: e-mail scanners and link previews fetch links, and a fetch must never
  decide anything.
* Only POST calls SendTaskSuccess, with {"action": "allow" | "delete"}.
* Bad input (no token, a forged, oversized or used token, an expired one) gets
  a 4xx page that says what happened, never a 5xx or a trace. Everything
  echoed is HTML-escaped, and the page asks browsers not to cache it, frame it
  or send the URL (which holds the token) as a referrer.
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs

import boto3
from botocore.exceptions import ClientError

# Step Functions task tokens are at most 2048 characters (API limit), in a
# base64-like alphabet; anything else is rejected before it reaches the API.
MAX_TOKEN_LENGTH = 2048
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9+/=_.:-]+")
# path -> (action sent to the execution, button label, what it does, title once done)
DECISIONS = {"allow": ("allow", "Approve", "restore the policy as it was written", "Approved"),
             "deny": ("delete", "Deny", "keep the policy reverted", "Denied")}
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
}


def _page(status: int, title: str, body_html: str) -> dict:
    page = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}"
        "button{font-size:1.1em;padding:.5em 1.5em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    return {"statusCode": status, "headers": dict(HEADERS), "body": page}


def _decision_from_path(event: dict) -> str | None:
    context = event.get("requestContext") if isinstance(event.get("requestContext"), dict) else {}
    path = str(event.get("resource") or event.get("path") or context.get("resourcePath") or "").rstrip("/")
    name = path.rsplit("/", 1)[-1].lower()
    return name if name in DECISIONS else None


def _form(event: dict) -> dict:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return {}
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(k, str)}
    if "json" in str(headers.get("content-type", "")):
        try:
            data = json.loads(body)
        except ValueError:
            return {}
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _clean_token(token):
    # Tokens are base64-like; a link that was not URL-encoded (as the original
    # sample sent them) turns "+" into " ". Real tokens never hold spaces.
    return token.strip().replace(" ", "+") if isinstance(token, str) else token


def _check_token(token) -> str | None:
    """Why a token is unusable, or None. Only shape is checked: Step Functions judges the rest."""
    if not token:
        return "The link carries no approval token. Use the link from the e-mail exactly as it arrived."
    if len(token) > MAX_TOKEN_LENGTH:
        return "The approval token is too long to be one Step Functions issued."
    if not _TOKEN_SHAPE.fullmatch(token):
        return "The approval token holds characters a Step Functions token never has."
    return None


def _confirm_page(decision: str, token: str, expires: str | None) -> dict:
    _, verb, effect, _ = DECISIONS[decision]
    hidden = f'<input type="hidden" name="token" value="{html.escape(token, quote=True)}">'
    if expires:
        hidden += f'<input type="hidden" name="expires" value="{html.escape(expires, quote=True)}">'
    body = (
        f"<p>You are about to <strong>{html.escape(verb.lower())}</strong> this policy change: "
        f"{html.escape(effect)}.</p>"
        f'<form method="post" action="{decision}">{hidden}'
        f'<button type="submit" name="decision" value="{decision}">{html.escape(verb)}</button></form>'
        "<p>Nothing has been decided yet: only the button does that.</p>"
    )
    return _page(200, f"{verb} the policy change?", body)


def _expired(expires) -> bool:
    try:
        return time.time() > int(expires)
    except (TypeError, ValueError):
        return False


def handler(event, context):
    if not isinstance(event, dict):
        return _page(400, "Bad request", "<p>The request could not be read.</p>")
    decision = _decision_from_path(event)
    if decision is None:
        return _page(404, "Not found", "<p>Use the approve or deny link from the e-mail.</p>")
    method = str(event.get("httpMethod") or "GET").upper()
    query = event.get("queryStringParameters") or {}

    if method in ("GET", "HEAD"):
        token = _clean_token(query.get("token"))
        problem = _check_token(token)
        if problem:
            return _page(400, "This link is not valid", f"<p>{html.escape(problem)}</p>")
        return _confirm_page(decision, token, query.get("expires"))

    if method != "POST":
        response = _page(405, "Method not allowed", "<p>Open the link in a browser and use the button.</p>")
        response["headers"]["Allow"] = "GET, POST"
        return response

    form = _form(event)
    token = _clean_token(form.get("token") or query.get("token"))
    expires = form.get("expires") or query.get("expires")
    problem = _check_token(token)
    if problem:
        return _page(400, "This link is not valid", f"<p>{html.escape(problem)}</p>")

    action, verb, effect, done = DECISIONS[decision]
    output = {"action": action, "decidedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "via": form.get("via", "link")[:40]}
    try:
        boto3.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("InvalidToken", "ValidationException"):
            return _page(400, "This link is not valid",
                         "<p>Step Functions does not recognise this approval token. "
                         "Use the link from the e-mail exactly as it arrived.</p>")
        if code in ("TaskTimedOut", "TaskDoesNotExist"):
            if _expired(expires):
                return _page(410, "This approval request has expired",
                             "<p>Nobody decided in time, so the policy stays reverted. "
                             "Change the policy again to start a new request.</p>")
            return _page(409, "Already decided",
                         "<p>This policy change was already approved or denied; "
                         "nothing was changed now.</p>")
        print(json.dumps({"error": code, "decision": action}))
        return _page(502, "Your decision was not recorded",
                     "<p>Step Functions did not accept the decision just now. "
                     "Try the link again in a minute.</p>")
    return _page(200, done,
                 f"<p>Your decision was recorded: {html.escape(effect)}.</p>")
