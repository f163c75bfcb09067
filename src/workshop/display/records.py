"""How the small records of `workshop.aws` look in a notebook: a fired change, a policy's versions, the e-mail.

    from workshop.display import show
    show(fired)                                   # the change, and the same call as an `aws` command
    show(policy_versions(iam, fired.arn))         # every version, the one in force marked
    show(subscription_status(cloud, outputs))     # confirmed, or "confirm it now"
    show(latest_email(cloud, "my-policy"))        # the e-mail as the learner receives it

The aws layer returns data; `show` picks the view that belongs to the record
(an `Html` whose plain text is the record's own). `EmailView` is an e-mail
that can also say whether its request is still open and update itself in
place when that changes (the approval panel's e-mail).
"""

from __future__ import annotations

import html
import re
from functools import singledispatch

from workshop.aws.iam_changes import FiredPolicy, PolicyVersions, granted_actions
from workshop.aws.mail import Email, SubscriptionStatus
from workshop.display.html import TEXT_CELL, Html

_URL = re.compile(r"(https?://[^\s<>\"]+)")


@singledispatch
def show(record):
    """The notebook view of a record the aws layer returned."""
    raise TypeError(f"workshop.display.show has no view for {type(record).__name__}: display it as it is.")


def fired_policy_html(fired: FiredPolicy) -> str:
    return (f"<p>{fired.event_name} <strong>{html.escape(fired.name)}</strong> → version "
            f"{html.escape(fired.version_id)}<br><small>{html.escape(fired.arn)}</small></p>"
            f"<p>The same call with the AWS CLI:</p><pre>$ {html.escape(fired.cli)}</pre>")


def policy_versions_html(versions: PolicyVersions) -> str:
    rows = "".join(
        f"<tr><td {TEXT_CELL}>{v['VersionId']}</td><td {TEXT_CELL}>{'✅ in force' if v['IsDefaultVersion'] else ''}"
        f"</td><td {TEXT_CELL}>{html.escape(str(v.get('CreateDate', '')))}</td>"
        f"<td {TEXT_CELL}>{html.escape(granted_actions(v['Document']))}</td></tr>" for v in versions.versions)
    head = "".join(f"<th {TEXT_CELL}>{h}</th>" for h in ("version", "default", "created", "grants"))
    return (f"<p>Versions of <code>{html.escape(versions.arn.rsplit('/', 1)[-1])}</code>:</p><table><thead><tr>"
            f"{head}</tr></thead><tbody>{rows}</tbody></table>")


def subscription_html(status: SubscriptionStatus) -> str:
    colour = "#1d8102" if status.ok else "#d13212"
    mark = "✅" if status.ok else "⚠️"
    return f"<p style='color:{colour}'>{mark} {html.escape(status.message())}</p>"


@show.register
def _(fired: FiredPolicy) -> Html:
    return Html(fired_policy_html(fired), plain=repr(fired))


@show.register
def _(versions: PolicyVersions) -> Html:
    return Html(policy_versions_html(versions), plain=repr(versions))


@show.register
def _(status: SubscriptionStatus) -> Html:
    return Html(subscription_html(status), plain=repr(status))


class EmailView(Email):
    """An e-mail in a notebook; with `status` (a function giving the request's state in words), a line above it
    says whether the request is still open, and `update_display()` redraws it where it was shown."""

    def __init__(self, message: dict | None, note: str = "", status=None):
        super().__init__(message, note)
        self.status = status
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
        status = f"[{self._status_text()}]\n" if self.status is not None else ""
        return status + super().__repr__()

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


@show.register
def _(email: Email) -> EmailView:
    return EmailView(email.message, email.note)
