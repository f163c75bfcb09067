"""The stack's approve/deny endpoint, called as a browser's form calls it.

    from workshop.aws.decision_endpoint import post_decision
    result = post_decision(outputs["ApproveUrl"], {"token": token}, "allow")
    result.status, result.title, result.message      # the page the endpoint answered, read

`post_decision` sends form fields to a decision URL as the confirmation
page's button does (notebook 07 uses it to show what the endpoint refuses).
`DecisionResult` is also what the approval panel reports for a decision it
recorded itself (`via="panel"`).
"""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


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
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310: http(s), checked above
            status, page = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, page = exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return DecisionResult(decision, url, 0, "Could not reach the approval endpoint",
                              f"{url} did not answer ({getattr(exc, 'reason', exc)}). "
                              "Is the stack deployed and the local cloud running? (notebooks 00 and 01)")
    title, message = _page_text(page)
    return DecisionResult(decision, url, status, title or f"HTTP {status}", message or page[:300])
