"""The approval e-mail as the learner receives it.

On the local cloud, SNS e-mail lands in a mailbox the kit can read; on AWS
it goes to the address given at deploy time ("check your inbox").
"""

from __future__ import annotations

import html
import re

from workshop.waiting import WaitTimeout, wait_for

_URL = re.compile(r"(https?://[^\s<>\"]+)")


class Email:
    def __init__(self, message: dict | None, note: str = ""):
        self.message, self.note = message, note

    def __repr__(self) -> str:
        if not self.message:
            return self.note
        m = self.message
        return f"To: {m['to']}\nSubject: {m['subject']}\nDate: {m['sent_at']}\n\n{m['body']}"

    def _repr_html_(self) -> str:
        if not self.message:
            return f"<p><em>{html.escape(self.note)}</em></p>"
        m = self.message
        body = _URL.sub(lambda u: f"<a href='{u.group(1)}' target='_blank'>{u.group(1)}</a>", html.escape(m["body"]))
        return ("<div style='border:1px solid #ccc;padding:8px;max-width:60em'>"
                f"<div><strong>To:</strong> {html.escape(m['to'])}</div>"
                f"<div><strong>Subject:</strong> {html.escape(m['subject'])}</div>"
                f"<div><strong>Date:</strong> {html.escape(str(m['sent_at']))}</div><hr>"
                f"<pre style='white-space:pre-wrap'>{body}</pre></div>")


def read_messages(cloud) -> list:
    from workshop.localcloud.mailbox import read_mailbox

    return read_mailbox(cloud.endpoint)


def latest_email(cloud, contains: str = "", timeout: float = 15.0) -> Email:
    """The newest e-mail whose subject or body contains `contains` (waits for it a little)."""
    if not cloud.is_local:
        return Email(None, "On AWS the e-mail goes to the address you deployed with (EmailAddress): check your "
                           "inbox. The first time, confirm the SNS subscription from the e-mail AWS sent.")

    def find():
        for message in reversed(read_messages(cloud)):
            if contains in message.get("subject", "") or contains in message.get("body", ""):
                return message
        return None

    try:
        return Email(wait_for(find, what=f"the e-mail about {contains or 'the policy'}", timeout=timeout,
                              progress=False))
    except WaitTimeout as exc:
        return Email(None, f"{exc} The AskUser Lambda publishes it to the SNS topic; look at its logs.")
