"""The stack's decision endpoint: the e-mail links' pages, and the panel's IAM-authorised method.

    from workshop.aws.decision_endpoint import panel_decider, post_decision
    result = post_decision(outputs["ApproveUrl"], {"token": token}, "allow")
    result.status, result.title, result.message      # the page the endpoint answered, read
    decide = panel_decider(cloud, outputs)           # what the approval panel's buttons call
    decide(incident_id, "deny")                      # -> DecisionResult(via="panel")

`post_decision` sends form fields to a decision URL as the confirmation
page's button does (notebook 07 uses it to show what the endpoint refuses).

`SignedDecider` is how the panel decides: a `POST /decision` to the stack's
`DecisionUrl`, signed with the learner's own AWS credentials (SigV4 for
`execute-api`, as any AWS SDK signs). API Gateway's IAM authorisation checks
the signature and `execute-api:Invoke`, and hands the caller's ARN to
ReceiveDecision, which records the decision once ("decided via panel", by that
ARN) and sends it to the execution. The learner needs no write to the
incidents table and no `states:SendTaskSuccess`.
"""

from __future__ import annotations

import html
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

SIGNING_SERVICE = "execute-api"  # what API Gateway's IAM authorisation verifies a signature for


@dataclass
class DecisionResult:
    decision: str
    url: str
    status: int  # the HTTP status of a POST (a panel decision: 200 done, 409 refused; 0 not sent)
    title: str
    message: str
    via: str = "link"

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __str__(self) -> str:
        how = f"HTTP {self.status}" if self.via == "link" else "via panel"
        return f"{self.title} ({how}): {self.message}"


def _page_text(page: str) -> tuple:
    title = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S | re.I)
    paragraphs = re.findall(r"<p[^>]*>(.*?)</p>", page, re.S | re.I)
    strip = lambda s: html.unescape(re.sub(r"<[^>]+>", "", s)).strip()  # noqa: E731
    return (strip(title.group(1)) if title else "", " ".join(strip(p) for p in paragraphs))


def post_decision(url: str, fields: dict, decision: str = "", timeout: float = 30.0) -> DecisionResult:
    """POST `fields` (form-encoded) to an approve/deny URL, as the confirmation page's button does."""
    if urllib.parse.urlsplit(url or "").scheme not in ("http", "https"):
        return DecisionResult(decision, url, 0, "Not an approval link",
                              f"{url!r} is not an http(s) URL: decisions go only to the stack's "
                              "ApproveUrl or DenyUrl (its outputs). Is the stack deployed? (notebook 01)")
    body = urllib.parse.urlencode(fields).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    answer = _send(request, timeout)
    if isinstance(answer, str):
        return DecisionResult(decision, url, 0, "Could not reach the approval endpoint",
                              f"{url} did not answer ({answer}). "
                              "Is the stack deployed and the local cloud running? (notebooks 00 and 01)")
    status, page = answer
    title, message = _page_text(page)
    return DecisionResult(decision, url, status, title or f"HTTP {status}", message or page[:300])


def _send(request: urllib.request.Request, timeout: float) -> tuple[int, str] | str:
    """(status, body) of the answer, or the reason nothing answered."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310: http(s), checked first
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


@dataclass
class SignedDecider:
    """Decides an incident through the stack's IAM-authorised method, signed with `credentials`
    (botocore credentials: what `boto3.Session().get_credentials()` returns)."""

    url: str
    credentials: object
    region: str = "us-east-1"
    timeout: float = 30.0

    def signed_request(self, incident_id: str, decision: str) -> urllib.request.Request:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        body = json.dumps({"incident": incident_id, "decision": decision}).encode("utf-8")
        request = AWSRequest(method="POST", url=self.url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(self.credentials.get_frozen_credentials(), SIGNING_SERVICE, self.region).add_auth(request)
        return urllib.request.Request(self.url, data=body, method="POST", headers=dict(request.headers.items()))

    def __call__(self, incident_id: str, decision: str) -> DecisionResult:
        if urllib.parse.urlsplit(self.url or "").scheme not in ("http", "https"):
            return DecisionResult(decision, self.url, 0, "No decision endpoint",
                                  f"{self.url!r} is not an http(s) URL: the panel decides through the stack's "
                                  "DecisionUrl output. Redeploy the stack (notebook 01).", via="panel")
        if self.credentials is None:
            return DecisionResult(decision, self.url, 0, "No AWS credentials",
                                  "The panel signs its decisions with your AWS credentials, and none were found: "
                                  "configure them (aws configure, or aws sso login) and run the cell again.",
                                  via="panel")
        answer = _send(self.signed_request(incident_id, decision), self.timeout)
        if isinstance(answer, str):
            return DecisionResult(decision, self.url, 0, "Could not reach the decision endpoint",
                                  f"{self.url} did not answer ({answer}). Is the stack deployed and the local "
                                  "cloud running? (notebooks 00 and 01)", via="panel")
        status, body = answer
        try:
            page = json.loads(body)
        except ValueError:
            page = None
        if not isinstance(page, dict):  # API Gateway's own refusals are {"message": ...} or text
            page = {}
        title = page.get("title") or ("Refused by API Gateway" if status in (401, 403) else f"HTTP {status}")
        message = page.get("message") or page.get("Message") or body[:300]
        if status == 403 and not page.get("title"):
            message += (" (the panel's request is signed with your AWS credentials: they need "
                        "execute-api:Invoke on the stack's decision method)")
        return DecisionResult(decision, self.url, status, title, message, via="panel")


def panel_decider(cloud, outputs: dict) -> SignedDecider:
    """The approval panel's way to decide, for a deployed stack (`outputs`: its outputs)."""
    url = outputs.get("DecisionUrl")
    if not url:
        raise LookupError("The stack has no DecisionUrl output: it predates the panel's signed decision "
                          "endpoint. Redeploy it (notebook 01).")
    return SignedDecider(url, cloud.boto3_session().get_credentials(), cloud.region)
