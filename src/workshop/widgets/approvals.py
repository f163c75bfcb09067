"""The approval panel: incidents waiting for a decision, as cards with Approve and Deny buttons.

An approval is pending while its incident in the incidents table (DynamoDB)
waits for a decision: AskUser put the execution's task token there and
e-mailed signed links. The panel lists those incidents with what the
learner needs to decide (the change, who made it, the restricted actions it
allows, the document as IAM held it and what is in force now, and whether the
incident is still as RevertPolicy sealed it) and decides them through the
stack's IAM-authorised decision method, signed with the learner's own AWS
credentials (`workshop.aws.decision_endpoint.panel_decider`): ReceiveDecision
records the decision once ("decided via panel", by the caller's ARN, when)
and hands it to the waiting execution. The panel writes nothing itself.

    from workshop.widgets import approval_panel, approval_email, decision_outcome
    panel = approval_panel(cloud, outputs)   # outputs: the stack's outputs
    panel                                    # cards with Approve / Deny buttons
    panel.press("allow")                     # what a click does, for CI
    approval_email(cloud, panel)             # the request's e-mail, kept up to date with the panel
    decision_outcome(cloud, panel)           # once decided: what it did to the execution and the policy
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from workshop.aws import incidents
from workshop.aws.decision_endpoint import DecisionResult, panel_decider
from workshop.aws.executions import status_once_ended, wait_for_end
from workshop.aws.incidents import Incident, PendingApproval, caller_arn, is_restored, pending_approvals
from workshop.aws.mail import latest_email
from workshop.display.incidents import statement_diff
from workshop.display.records import EmailView
from workshop import progress
from workshop.failures import WorkshopError

DECISIONS = {"allow": "Approve", "deny": "Deny"}  # the decision -> its button
# What a learner may type for each decision: the buttons' labels, in any case, and the wire values.
_SPELLINGS = {"approve": "allow", "allow": "allow", "deny": "deny"}


class NotADecision(WorkshopError, ValueError):
    """A typed decision that is neither button."""


class NothingWaiting(WorkshopError, LookupError):
    """No approval waits for the decision a notebook would click."""


def decision_from(value) -> str:
    """"allow" or "deny" from what a learner typed: "Approve", "deny", "DENY", "allow"; anything else is refused
    with the spellings that work."""
    word = value.strip().lower() if isinstance(value, str) else None
    if word in _SPELLINGS:
        return _SPELLINGS[word]
    raise NotADecision(f"decision = {value!r} is not a decision: write \"approve\" or \"deny\" (the buttons' "
                       "labels, in any case), or None to click in the panel yourself.")


# --- the panel ------------------------------------------------------------------------


def _when(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "—"


def _left(delta: timedelta | None) -> str:
    if delta is None:
        return "no time limit"
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "timed out (the policy stays reverted)"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s") + " left"


def _heading(incident: Incident) -> str:
    target = incident.target
    if incident.kind == "managed":
        return f"Policy {incident.name}"
    if incident.kind == "inline":
        return f"Inline policy {incident.name} of {target.get('principalType')} {target.get('principalName')}"
    if incident.kind == "membership":
        return f"User {target.get('principalName')} added to group {incident.name}"
    if incident.kind == "trust":
        return f"Trust policy of role {incident.name}"
    if incident.kind == "bucket":
        return f"Bucket policy of {incident.name}"
    return f"Policy {incident.name} attached to {target.get('principalType')} {target.get('principalName')}"


SEAL_LINES = {
    "sealed": ("#1d8102", "Sealed: the incident is as RevertPolicy recorded it."),
    "unsealed": ("#d13212", "NOT SEALED: RevertPolicy never wrote this item; approving restores nothing."),
    "altered": ("#d13212", "ALTERED since RevertPolicy sealed it (someone wrote the table); approving restores "
                           "nothing."),
}


def _seal_line(approval: PendingApproval) -> str:
    if not approval.seal:
        return ""
    colour, text = SEAL_LINES.get(approval.seal, ("#555", f"Seal not checked ({approval.seal})."))
    return f"<span style='color:{colour}'>{html.escape(text)}</span><br>"


def _planted_line(incident: Incident) -> str:
    if not incident.planted:
        return ""
    return ("<span style='color:#d13212'>An item planted under this change's key was set aside "
            f"({html.escape(str(incident.planted.get('why', '')))}).</span><br>")


def approval_card_html(approval: PendingApproval, decided: bool = False) -> str:
    """One approval's card; `decided`: a decision was sent from this panel, so no time is left to count."""
    incident = approval.incident
    actions = ", ".join(f"<code>{html.escape(str(a))}</code>" for a in incident.matched_actions()) or "—"
    version = f", version {html.escape(incident.version_id)}" if incident.version_id else ""
    diff = statement_diff(incident.document, approval.in_force_document)
    return (
        f"<div style=\"line-height:1.4\"><strong>{html.escape(_heading(incident))}</strong> "
        f"({html.escape(incident.event_name)}{version})<br>"
        f"Changed by <code>{html.escape(incident.who_changed)}</code> at {html.escape(incident.event_time)}<br>"
        f"Restricted actions allowed: {actions}<br>"
        f"Arrived: {_when(incident.created_at)}{'' if decided else ' — ' + _left(incident.time_left())}<br>"
        f"{_seal_line(approval)}{_planted_line(incident)}"
        f"<details><summary>ValidatePolicy's verdict, statement by statement</summary>"
        f"<small>{html.escape(incident.label)}: {html.escape(incident.reason)}</small></details>"
        f"<details open><summary>What changed: the document as IAM held it vs what is in force now</summary>"
        f"<pre>{html.escape(diff)}</pre></details>"
        f"<small>Incident {html.escape(incident.incident_id)} · execution {html.escape(incident.execution_name)}"
        "<br>Approve / Deny here send a request signed with your own AWS credentials to the stack's decision "
        "endpoint, which records it as decided via panel by your ARN.</small></div>"
    )


class ApprovalPanel:
    """Cards for the pending approvals, each with Approve and Deny buttons."""

    def __init__(self, sfn, dynamodb, table: str, decide, iam=None, who: str = "", kms=None,
                 seal_key: str | None = None, wait_after_decision: float = 30.0, s3=None):
        """`decide(incident_id, decision) -> DecisionResult`: the stack's signed decision method
        (`panel_decider`); `kms` and `seal_key`: to show whether each incident's seal holds; `iam` and `s3`:
        to show what is in force now (`s3` for a bucket policy)."""
        self.sfn, self.dynamodb, self.table, self.iam, self.s3 = sfn, dynamodb, table, iam, s3
        self.kms, self.seal_key = kms, seal_key
        self.who = who or "the learner (panel)"
        self._decide = decide
        self.wait_after_decision = wait_after_decision
        self.pending: list = []
        self.buttons: dict = {}   # execution arn -> {"allow": Button, "deny": Button}
        self.results: dict = {}   # execution arn -> DecisionResult
        self.outcomes: dict = {}  # execution arn -> final execution status
        self._outcome_widgets: dict = {}
        self._text_widgets: dict = {}  # execution arn -> the card's text (its time left goes once decided)
        self._header_widget = None
        self._handle = None       # the notebook display of this panel (updated after a decision)
        self.views: list = []     # other views of these approvals to update after a decision (the e-mail)
        self.widget = None
        self.refresh()

    # model
    def refresh(self) -> list:
        self.pending = pending_approvals(self.dynamodb, self.table, iam=self.iam, kms=self.kms,
                                         seal_key=self.seal_key, s3=self.s3)
        self._build_widget()
        return self.pending

    def decide(self, approval: PendingApproval, decision: str) -> DecisionResult:
        """Send the decision for one incident through the decision endpoint, then wait briefly for the
        execution to end."""
        decision = decision_from(decision)
        result = self._decide(approval.incident.incident_id, decision)
        self._record(approval, result)
        if result.ok:
            progress.record("04_decide", "decision", decision, f"{approval.incident.name}: {result.title}")
        if result.ok and self.wait_after_decision:
            self.outcomes[approval.incident.execution_arn] = status_once_ended(
                self.sfn, approval.incident.execution_arn, self.wait_after_decision)
        return result

    def _record(self, approval: PendingApproval, result: DecisionResult) -> None:
        # moved to the end: `results` keeps the order of the latest attempts (decision_outcome shows the newest)
        self.results.pop(approval.incident.execution_arn, None)
        self.results[approval.incident.execution_arn] = result

    def press(self, decision: str, index: int = 0, execution_arn: str | None = None) -> DecisionResult:
        """Click a button as a learner would (for CI runs with `decision` set).

        Presses on the newest pending approval, or on the one of `execution_arn`. `decision` is a button's
        label ("Approve", "Deny", any case) or "allow" / "deny".
        """
        decision = decision_from(decision)
        if not self.waiting():
            raise NothingWaiting("No approval is waiting: run notebooks/03_fire_bad_policy.ipynb first, "
                                 "then run this notebook again.")
        if execution_arn is not None:
            matching = [a for a in self.waiting() if a.incident.execution_arn == execution_arn]
            if not matching:
                raise NothingWaiting(f"The execution {execution_arn.rsplit(':', 1)[-1]} is not waiting for a "
                                  "decision (any more): refresh the panel to see what is.")
            approval = matching[0]
        else:
            approval = self.waiting()[index]
        button = self.buttons.get(approval.incident.execution_arn, {}).get(decision)
        if button is not None:
            button.click()
        else:  # no ipywidgets: same handler, called directly
            self._on_click(approval, decision)
        return self.results[approval.incident.execution_arn]

    def decide_all(self, decision: str, arrived_after: datetime) -> "BatchDecision":
        """Decide every waiting approval that arrived after `arrived_after` (what a notebook made since it
        started); the others, the learner's own from earlier notebooks, are listed and left alone."""
        decision = decision_from(decision)
        mine, others = [], []
        for approval in self.waiting():
            created = approval.incident.created_at
            (mine if created is not None and created >= arrived_after else others).append(approval)
        results = [self.decide(approval, decision) for approval in mine]
        self._decided_views()
        return BatchDecision(decision, [a.incident for a in mine], results, [a.incident for a in others])

    # view
    def _on_click(self, approval: PendingApproval, decision: str):
        buttons = self.buttons.get(approval.incident.execution_arn, {})
        for button in buttons.values():
            button.disabled = True
        out = self._outcome_widgets.get(approval.incident.execution_arn)
        if out is not None:
            out.value = f"<em>Sending {html.escape(DECISIONS[decision].lower())}…</em>"
        try:
            result = self.decide(approval, decision)
        except Exception as exc:  # shown in the card: a click must not die silently
            result = DecisionResult(decision, "", 0, "Not sent", str(exc), via="panel")
            self._record(approval, result)
        if out is not None:
            out.value = self.outcome_html(approval)
        text = self._text_widgets.get(approval.incident.execution_arn)
        if text is not None:
            text.value = approval_card_html(approval, self._decided(approval))
        if not result.ok:
            for button in buttons.values():
                button.disabled = False
        self._decided_views()

    def _decided_views(self):
        """After a decision nothing on the page may still say it is waiting: header, snapshot, e-mail."""
        if self._header_widget is not None:
            self._header_widget.value = self._header_html()
        self.update_display()
        for view in list(self.views):
            view.update_display()

    def waiting(self) -> list:
        """The pending approvals nobody decided from this panel yet."""
        return [a for a in self.pending
                if not (a.incident.execution_arn in self.results and self.results[a.incident.execution_arn].ok)]

    def _decided(self, approval: PendingApproval) -> bool:
        return self.decision_for(approval.incident.execution_arn) is not None

    def decision_for(self, execution_arn: str):
        """The DecisionResult sent from this panel for an execution, if one was accepted."""
        result = self.results.get(execution_arn)
        return result if result is not None and result.ok else None

    def _ipython_display_(self):
        from IPython.display import display

        self._handle = display(self._repr_mimebundle_(), raw=True, display_id=True)

    def update_display(self):
        if self._handle is not None:
            self._handle.update(self._repr_mimebundle_(), raw=True)

    def outcome_html(self, approval: PendingApproval) -> str:
        result = self.results.get(approval.incident.execution_arn)
        if result is None:
            return ""
        colour = "#1d8102" if result.ok else "#d13212"
        how = f"HTTP {result.status}" if result.via == "link" else "via panel"
        text = (f"<p style='color:{colour}'><strong>{html.escape(result.title)}</strong> "
                f"({how}): {html.escape(result.message)}</p>")
        status = self.outcomes.get(approval.incident.execution_arn)
        if status:
            text += f"<p>The execution is now <strong>{html.escape(status)}</strong>.</p>"
        return text

    def _card(self, approval: PendingApproval):
        """One approval's card with its Approve / Deny buttons: (card box, its HTML text widget)."""
        import ipywidgets as widgets

        approve = widgets.Button(description="Approve", button_style="success", icon="check",
                                 tooltip="Restore exactly what was taken out of force")
        deny = widgets.Button(description="Deny", button_style="danger", icon="times",
                              tooltip="Keep the change reverted")
        approve.on_click(lambda _b, a=approval: self._on_click(a, "allow"))
        deny.on_click(lambda _b, a=approval: self._on_click(a, "deny"))
        outcome = widgets.HTML(self.outcome_html(approval))
        text = widgets.HTML(approval_card_html(approval, self._decided(approval)))
        self.buttons[approval.incident.execution_arn] = {"allow": approve, "deny": deny}
        self._outcome_widgets[approval.incident.execution_arn] = outcome
        self._text_widgets[approval.incident.execution_arn] = text
        card = widgets.VBox([text, widgets.HBox([approve, deny]), outcome],
                            layout=widgets.Layout(border="1px solid #ccc", padding="6px", margin="4px 0"))
        return card, text

    def _build_widget(self):
        try:
            import ipywidgets as widgets
        except ImportError:  # pragma: no cover - ipywidgets is a dependency
            self.widget = None
            return
        self.buttons, self._outcome_widgets, self._text_widgets = {}, {}, {}
        cards = [self._card(approval)[0] for approval in self.pending]
        self._header_widget = widgets.HTML(self._header_html())
        self.widget = widgets.VBox([self._header_widget, *cards])

    def _header_html(self) -> str:
        if not self.pending:
            return ("<p><strong>No approval is waiting.</strong> Fire the bad policy "
                    "(notebook 03) and run this cell again.</p>")
        waiting, decided = len(self.waiting()), len(self.pending) - len(self.waiting())
        done = f" · {decided} decided here (below)" if decided else ""
        if not waiting:
            return f"<p><strong>No approval is waiting any more</strong>{done}.</p>"
        return f"<p><strong>{waiting} approval(s) waiting</strong> (newest first){done}.</p>"

    def html(self) -> str:
        """A static snapshot (survives HTML export, where widgets do not)."""
        cards = "".join(f"<div style='border:1px solid #ccc;padding:6px;margin:4px 0'>"
                        f"{approval_card_html(a, self._decided(a))}{self.outcome_html(a)}</div>"
                        for a in self.pending)
        return self._header_html() + cards

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"text/plain": self.__repr__(), "text/html": self.html()}
        if self.widget is not None:
            data.update(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
            data["text/html"] = self.html()
            data["text/plain"] = self.__repr__()
        return data

    def __repr__(self) -> str:
        if not self.pending:
            return "No approval is waiting."

        def state(a):
            result = self.decision_for(a.incident.execution_arn)
            return f"decided: {result.decision}" if result else _left(a.incident.time_left())

        return "\n".join(f"{a.incident.name}: {', '.join(map(str, a.incident.matched_actions())) or '—'} "
                         f"({state(a)})" for a in self.pending)


@dataclass
class BatchDecision:
    """What `ApprovalPanel.decide_all` decided, and what it left alone."""

    decision: str
    decided: list
    results: list
    left: list

    @property
    def ok(self) -> int:
        return sum(1 for result in self.results if result.ok)

    def __repr__(self) -> str:
        verb = "Approved" if self.decision == "allow" else "Denied"
        lines = [f"{verb} {self.ok} incident(s) this notebook made."]
        if self.left:
            lines.append(f"Left alone, still waiting for you: {len(self.left)} incident(s) from before this notebook: "
                         + ", ".join(incident.label for incident in self.left) + ".")
        return "\n".join(lines)


def approval_panel(cloud, outputs: dict, **kwargs) -> ApprovalPanel:
    """The panel for a deployed stack (`outputs` from `cloud.stack_outputs(stack_name)`)."""
    return ApprovalPanel(cloud.client("stepfunctions"), cloud.client("dynamodb"), incidents.table_name(outputs),
                         panel_decider(cloud, outputs), iam=cloud.client("iam"), who=caller_arn(cloud.client("sts")),
                         kms=cloud.client("kms"), seal_key=outputs.get("SealKeyArn"), s3=cloud.client("s3"), **kwargs)


# --- after the click ------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a decision led to: the execution's status and the policy in force."""

    decided: bool
    message: str
    execution_status: str = ""
    path: list = field(default_factory=list)
    policy_restored: bool | None = None

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        return "<p>" + html.escape(self.message).replace("\n", "<br>") + "</p>"


def decision_outcome(cloud, panel: ApprovalPanel, timeout: float = 30.0) -> Outcome:
    """Once a decision was sent: wait for the execution to end, then say what it did to the policy (the
    newest decision made in the panel, when there were several).

    Never blocks waiting for a click (a busy kernel would not receive it): without a decision it says so.
    """
    by_execution = {a.incident.execution_arn: a for a in panel.pending}
    decided = [by_execution[arn] for arn, result in panel.results.items()  # in the order they were decided
               if arn in by_execution and result is not None and result.ok]
    if not decided:
        return Outcome(False, "No decision yet: click Approve or Deny in the panel above, "
                              "then run this cell again.")
    approval = decided[-1]
    history = wait_for_end(cloud, approval.incident.execution_arn, timeout=timeout)
    verdict = panel.results[approval.incident.execution_arn].decision
    # IAM is eventually consistent: what was restored a moment ago may not show yet.
    s3 = cloud.client("s3") if approval.incident.kind == "bucket" else None  # a bucket policy is S3's to say
    restored = is_restored(cloud.client("iam"), approval.incident,
                           consistency_timeout=20.0 if verdict == "allow" else 0.0, s3=s3)
    kept = "the harmless version stays in force" if approval.incident.kind == "managed" else "it stays reverted"
    what = "the original document is in force again" if restored else kept
    message = (f"{verdict.capitalize()}: execution {history.name} {history.status} via "
               f"{' → '.join(history.path()[-3:])}; for {approval.incident.name} {what}.")
    return Outcome(True, message, history.status, history.path(), restored)


def approval_email(cloud, panel: ApprovalPanel, timeout: float = 15.0) -> EmailView:
    """The e-mail of the newest request waiting in `panel`, kept up to date with the panel's decisions.

    A line above it says whether the request is still open; a decision made in the panel updates that
    line, so the e-mail never looks undecided once it is decided (its links then lead to a page that
    says so when used).
    """
    waiting = panel.waiting()
    if not waiting:
        return EmailView(None, "No approval is waiting, so there is no open e-mail to show: every earlier request "
                               "was decided or timed out, and their links now answer that. Run 03 for a new one.")
    approval = waiting[0]
    found = latest_email(cloud, approval.incident.name, timeout=timeout)

    def status() -> str:
        result = panel.decision_for(approval.incident.execution_arn)
        if result is None:
            return "Open: nothing has been decided yet. Its links lead to a confirmation page; only its button decides."
        verdict = "approved" if result.decision == "allow" else "denied"
        return (f"Already decided: {verdict} from the panel. Its links still open the confirmation page, but its "
                "button now answers \"Already decided\" and changes nothing.")

    if found.message is None:
        return EmailView(None, found.note)
    email = EmailView(found.message, status=status)
    panel.views.append(email)
    return email
