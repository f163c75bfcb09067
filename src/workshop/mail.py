"""The approval e-mail as the learner receives it.

On the local cloud, SNS e-mail lands in a mailbox the kit can read; on AWS
it goes to the address given at deploy time ("check your inbox").

`approval_email(cloud, panel)` shows the e-mail of the request the panel is
waiting on, with a line saying whether it is still open; a decision made in
the panel updates that line, so the e-mail never looks undecided once it is
decided (its links then answer "already decided").
"""

from __future__ import annotations

import html
import re

from workshop.waiting import WaitTimeout, wait_for

_URL = re.compile(r"(https?://[^\s<>\"]+)")


class Email:
    def __init__(self, message: dict | None, note: str = "", status=None):
        self.message, self.note = message, note
        self.status = status  # a function giving the request's state in words, or None
        self._handle = None

    def _status_text(self) -> str:
        return self.status() if self.status is not None else ""

    def _ipython_display_(self):
        from IPython.display import display

        self._handle = display(self._repr_mimebundle_(), raw=True, display_id=True)

    def update_display(self):
        if self._handle is not None:
            self._handle.update(self._repr_mimebundle_(), raw=True)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def __repr__(self) -> str:
        if not self.message:
            return self.note
        m = self.message
        status = f"[{self._status_text()}]\n" if self.status is not None else ""
        return f"{status}To: {m['to']}\nSubject: {m['subject']}\nDate: {m['sent_at']}\n\n{m['body']}"

    def _repr_html_(self) -> str:
        if not self.message:
            return f"<p><em>{html.escape(self.note)}</em></p>"
        m = self.message
        body = _URL.sub(lambda u: f"<a href='{u.group(1)}' target='_blank'>{u.group(1)}</a>", html.escape(m["body"]))
        status = (f"<p><strong>{html.escape(self._status_text())}</strong></p>" if self.status is not None else "")
        return (status + "<div style='border:1px solid #ccc;padding:8px;max-width:60em'>"
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


def approval_email(cloud, panel, timeout: float = 15.0) -> Email:
    """The e-mail of the newest request waiting in `panel`, kept up to date with the panel's decisions."""
    waiting = panel.waiting()
    if not waiting:
        return Email(None, "No approval is waiting, so there is no open e-mail to show: every earlier request was "
                           "decided or timed out, and their links now answer that. Run 03 for a new one.")
    approval = waiting[0]
    email = latest_email(cloud, approval.policy_name, timeout=timeout)

    def status() -> str:
        result = panel.decision_for(approval.execution_arn)
        if result is None:
            return "Open: nothing has been decided yet. Its links lead to a confirmation page; only its button decides."
        verdict = "approved" if result.decision == "allow" else "denied"
        return (f"Already decided: {verdict} from the panel. Its links now answer that it was decided, and "
                "decide nothing.")

    if email.message is not None:
        email.status = status
        panel.views.append(email)
    return email
