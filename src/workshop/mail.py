"""The approval e-mail as the learner receives it, and whether the subscription is confirmed.

On the local cloud, SNS e-mail lands in a mailbox the kit can read; on AWS
it goes to the address given at deploy time ("check your inbox"), and only
once the recipient confirmed the subscription: SNS sends nothing to a
subscription that is `PendingConfirmation`
(https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html).

    from workshop.mail import latest_email, subscription_status
    subscription_status(cloud, outputs)   # "confirm it now" while it is pending

`approval_email(cloud, panel)` shows the e-mail of the request the panel is
waiting on, with a line saying whether it is still open; a decision made in
the panel updates that line, so the e-mail never looks undecided once it is
decided (its links then lead to a page that says so when used).
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


PENDING = "PendingConfirmation"


class SubscriptionStatus:
    """The e-mail subscriptions of the stack's alert topic: confirmed, pending, or none."""

    def __init__(self, target: str, addresses: dict, error: str = ""):
        self.target = target
        self.addresses = addresses  # address -> "confirmed" | "pending"
        self.error = error

    @property
    def pending(self) -> list:
        return sorted(a for a, state in self.addresses.items() if state == "pending")

    @property
    def confirmed(self) -> list:
        return sorted(a for a, state in self.addresses.items() if state == "confirmed")

    @property
    def ok(self) -> bool:
        return bool(self.confirmed) and not self.pending

    def message(self) -> str:
        if self.error:
            return f"Could not read the topic's subscriptions ({self.error})."
        if self.pending:
            return (f"Confirm the SNS subscription now: {', '.join(self.pending)} has not confirmed it yet, and SNS "
                    "delivers nothing until then. Open \"AWS Notification - Subscription Confirmation\" in that "
                    "inbox and click \"Confirm subscription\" (check the spam folder). The approval panel in "
                    "notebook 04 works either way.")
        if self.confirmed:
            where = "the local mailbox" if self.target == "local" else ", ".join(self.confirmed)
            return f"The approval e-mails go to {where}: the subscription is confirmed."
        return "The alert topic has no e-mail subscription: redeploy with an EmailAddress (notebook 01)."

    def __repr__(self) -> str:
        return self.message()

    def _repr_html_(self) -> str:
        colour = "#1d8102" if self.ok else "#d13212"
        mark = "✅" if self.ok else "⚠️"
        return f"<p style='color:{colour}'>{mark} {html.escape(self.message())}</p>"


def subscription_status(cloud, outputs: dict) -> SubscriptionStatus:
    """Is the stack's e-mail subscription confirmed? (`outputs` from `cloud.stack_outputs(stack_name)`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    addresses = {}
    try:
        pages = cloud.client("sns").get_paginator("list_subscriptions_by_topic").paginate(
            TopicArn=outputs["AlertTopicArn"])
        for page in pages:
            for subscription in page["Subscriptions"]:
                if subscription.get("Protocol") in ("email", "email-json"):
                    state = "pending" if subscription["SubscriptionArn"] == PENDING else "confirmed"
                    addresses[subscription["Endpoint"]] = state
    except (BotoCoreError, ClientError, KeyError) as exc:
        return SubscriptionStatus(cloud.target, {}, error=f"{type(exc).__name__}: {exc}")
    return SubscriptionStatus(cloud.target, addresses)


def read_messages(cloud) -> list:
    from workshop.localcloud import read_mailbox

    return read_mailbox(cloud.endpoint)


def latest_email(cloud, contains: str = "", timeout: float = 15.0) -> Email:
    """The newest e-mail whose subject or body contains `contains` (waits for it a little)."""
    if not cloud.is_local:
        return Email(None, "On AWS the e-mail goes to the address you deployed with (EmailAddress): check your "
                           "inbox. SNS delivers it only once you confirmed the subscription (notebook 01 and 03 "
                           "say whether you did).")

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
        return (f"Already decided: {verdict} from the panel. Its links still open the confirmation page, but its "
                "button now answers \"Already decided\" and changes nothing.")

    if email.message is not None:
        email.status = status
        panel.views.append(email)
    return email
