"""AskUser: e-mail a human the approve / deny links for a reverted policy.

Invoked with `lambda:invoke.waitForTaskToken`: the execution waits until
someone posts a decision with this task token. The token is a secret (whoever
holds it decides), so it is never logged; in the links it is URL-encoded.
The links open a confirmation page: fetching them (as e-mail scanners do)
decides nothing.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import boto3


class InvalidEvent(Exception):
    """The payload lacks the task token or the policy it is about."""


def _deadline(entered_time: str | None, timeout_seconds) -> datetime | None:
    try:
        start = datetime.fromisoformat(str(entered_time).replace("Z", "+00:00"))
        return start + timedelta(seconds=int(timeout_seconds))
    except (TypeError, ValueError):
        return None


def decision_links(base_url: str, token: str, deadline: datetime | None) -> dict:
    query = {"token": token}
    if deadline is not None:
        # Lets the page say "expired" rather than "already decided"; it grants nothing.
        query["expires"] = str(int(deadline.timestamp()))
    encoded = urlencode(query)
    base = base_url.rstrip("/")
    return {"approve": f"{base}/allow?{encoded}", "deny": f"{base}/deny?{encoded}"}


def compose_email(event: dict, base_url: str) -> tuple[str, str]:
    meta = event.get("policyMeta") or {}
    arn = meta.get("arn", "?")
    name = arn.rsplit("/", 1)[-1]
    verdict = event.get("taskresult") or {}
    deadline = _deadline(event.get("enteredTime"), event.get("approvalTimeoutSeconds"))
    links = decision_links(base_url, event["token"], deadline)

    if verdict.get("matches"):
        matched = "\n".join(
            f"  - {m['action']} (statement {m['statement']}"
            + (f", Sid {m['sid']}" if m.get("sid") else "")
            + f", granted by {m['grantedBy']})"
            for m in verdict["matches"]
        )
        why = f"It allows these restricted actions:\n{matched}"
    elif verdict.get("Error"):
        why = (f"Its document could not be checked ({verdict['Error']}: {verdict.get('Cause', '')}), "
               "so it was reverted to be safe.")
    else:
        why = "It was reverted to be safe."

    subject = f"Approval needed: IAM policy {name} was reverted"
    lines = [
        f"A change to the IAM policy {name} ({event.get('eventName', 'change')}) was detected and reverted.",
        f"Policy: {arn}",
        f"Offending version: {meta.get('versionId', '?')} (deleted; a harmless version is in force)",
        "",
        why,
        "",
        f"Approve (restore the policy as it was written):\n  {links['approve']}",
        "",
        f"Deny (keep it reverted):\n  {links['deny']}",
        "",
        "Each link opens a page where you confirm with a button; opening a link decides nothing.",
    ]
    if deadline is not None:
        lines.append(f"If nobody decides by {deadline.strftime('%Y-%m-%d %H:%M UTC')}, the policy stays reverted.")
    if event.get("executionArn"):
        lines.append(f"Execution: {event['executionArn']}")
    return subject, "\n".join(lines)


def handler(event, context):
    if not isinstance(event, dict) or not event.get("token"):
        raise InvalidEvent("AskUser needs the task token in its payload ($$.Task.Token as 'token')")
    base_url = os.environ["API_BASE_URL"]
    subject, body = compose_email(event, base_url)
    sns = boto3.client("sns")
    published = sns.publish(TopicArn=os.environ["TOPIC_ARN"], Subject=subject[:99], Message=body)
    # The token is deliberately not logged.
    print(json.dumps({"policy": (event.get("policyMeta") or {}).get("arn"),
                      "messageId": published["MessageId"]}))
    return {"status": "sent", "messageId": published["MessageId"]}
