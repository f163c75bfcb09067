"""Pending approvals and the approval panel.

An approval is pending while an execution is RUNNING and waits in the
AskUser state (the callback pattern: `lambda:invoke.waitForTaskToken`). The
task token is in AskUser's scheduled task parameters (`Payload.token`) in the
execution history, together with everything the learner needs to decide: the
policy, the restricted actions it allows, the original document.

    from workshop.approvals import approval_panel
    panel = approval_panel(cloud, outputs)   # outputs: the stack's outputs
    panel                                    # cards with Approve / Deny buttons
    panel.press("allow")                     # what a click does, for CI

A click POSTs the token, form-encoded, to the stack's ApproveUrl or DenyUrl:
the same endpoint as the e-mail link's confirmation button.
"""

from __future__ import annotations

import difflib
import html
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from workshop.history import ExecutionHistory, IN_PROGRESS, list_executions, load_history

APPROVAL_STATE = "AskUser"
DECISIONS = {"allow": ("ApproveUrl", "Approve"), "deny": ("DenyUrl", "Deny")}


# --- the model --------------------------------------------------------------------


def find_token(value):
    """The task token in a task's parameters: `Payload.token`, else any `token` key."""
    if isinstance(value, dict):
        payload = value.get("Payload")
        if isinstance(payload, dict) and isinstance(payload.get("token"), str):
            return payload["token"]
        for key, item in value.items():
            if key in ("token", "taskToken", "TaskToken") and isinstance(item, str):
                return item
            found = find_token(item)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = find_token(item)
            if found:
                return found
    elif isinstance(value, str) and value.startswith("{"):
        try:
            return find_token(json.loads(value))
        except ValueError:
            return None
    return None


def _payload(parameters) -> dict:
    if isinstance(parameters, dict):
        for key in ("Payload", "Message"):
            inner = parameters.get(key)
            if isinstance(inner, str) and inner.startswith("{"):
                try:
                    inner = json.loads(inner)
                except ValueError:
                    inner = None
            if isinstance(inner, dict):
                return inner
        return parameters
    return {}


def pretty_document(document) -> str:
    """A policy document as indented JSON (CloudTrail gives text, IAM may give URL-encoded text)."""
    if isinstance(document, str):
        text = document.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = urllib.parse.unquote(text)
        try:
            document = json.loads(text)
        except ValueError:
            return document
    return json.dumps(document, indent=2, sort_keys=False)


def statement_diff(original, in_force) -> str:
    """A unified diff from the document as written to the version in force."""
    before = pretty_document(original).splitlines()
    after = pretty_document(in_force).splitlines() if in_force is not None else ["(unknown)"]
    return "\n".join(difflib.unified_diff(before, after, "as written (reverted)", "in force now", lineterm=""))


@dataclass
class PendingApproval:
    """One execution waiting for a human at AskUser."""

    execution_arn: str
    execution_name: str
    token: str
    policy_arn: str
    event_name: str
    version_id: str
    matches: list
    reason: str
    original_document: object
    arrived: datetime
    deadline: datetime | None
    in_force_document: object = None

    @property
    def policy_name(self) -> str:
        return self.policy_arn.rsplit("/", 1)[-1]

    def time_left(self, now: datetime | None = None) -> timedelta | None:
        if self.deadline is None:
            return None
        return self.deadline - (now or datetime.now(timezone.utc))

    def matched_actions(self) -> list:
        return [m.get("action") for m in self.matches]

    def diff(self) -> str:
        return statement_diff(self.original_document, self.in_force_document)


def _deadline(entered: datetime, payload: dict, scheduled: dict | None):
    seconds = payload.get("approvalTimeoutSeconds")
    if seconds is None and scheduled:
        seconds = scheduled.get("timeoutInSeconds")
    start = entered
    if payload.get("enteredTime"):
        try:
            start = datetime.fromisoformat(str(payload["enteredTime"]).replace("Z", "+00:00"))
        except ValueError:
            pass
    try:
        return start + timedelta(seconds=int(seconds))
    except (TypeError, ValueError):
        return None


def pending_from_history(history: ExecutionHistory, approval_state: str = APPROVAL_STATE):
    """The PendingApproval in this history, or None if it is not waiting at `approval_state`."""
    if history.status != "RUNNING":
        return None
    runs = history.runs()
    if not runs or runs[-1].name != approval_state or runs[-1].status != IN_PROGRESS:
        return None
    run = runs[-1]
    parameters = history.task_parameters(approval_state)
    token = find_token(parameters)
    if not token:
        return None
    scheduled = next((e.get("taskScheduledEventDetails") for e in run.events
                      if e["type"] == "TaskScheduled"), None)
    payload = _payload(parameters)
    state_input = run.input if isinstance(run.input, dict) else {}
    meta = payload.get("policyMeta") or state_input.get("policyMeta") or {}
    verdict = payload.get("taskresult") or state_input.get("taskresult") or {}
    return PendingApproval(
        execution_arn=history.arn,
        execution_name=history.name,
        token=token,
        policy_arn=meta.get("arn", "?"),
        event_name=payload.get("eventName") or state_input.get("eventName", "?"),
        version_id=meta.get("versionId", "?"),
        matches=list(verdict.get("matches") or []),
        reason=verdict.get("message") or verdict.get("Cause") or "",
        original_document=payload.get("policy") or state_input.get("policy"),
        arrived=run.entered,
        deadline=_deadline(run.entered, payload, scheduled),
    )


def document_in_force(iam, policy_arn: str, consistency_timeout: float = 0.0):
    """The default version's document of a policy, or None if the policy is gone.

    `consistency_timeout`: how long to read again while IAM does not show a version written a
    moment ago (eventual consistency; `incident.iam_call`).
    """
    from workshop.incident import iam_call

    try:
        policy = iam_call(iam.get_policy, timeout=consistency_timeout, PolicyArn=policy_arn)["Policy"]
        version = iam_call(iam.get_policy_version, timeout=consistency_timeout, PolicyArn=policy_arn,
                           VersionId=policy["DefaultVersionId"])
    except Exception:
        return None
    document = version["PolicyVersion"]["Document"]
    if isinstance(document, str):
        return json.loads(urllib.parse.unquote(document))
    return document


def pending_approvals(sfn, state_machine_arn: str, iam=None, approval_state: str = APPROVAL_STATE) -> list:
    """Every execution of the state machine waiting at AskUser, newest first."""
    found = []
    for execution in list_executions(sfn, state_machine_arn, status="RUNNING"):
        history = load_history(sfn, execution["executionArn"], definition={})
        approval = pending_from_history(history, approval_state)
        if approval is None:
            continue
        if iam is not None:
            approval.in_force_document = document_in_force(iam, approval.policy_arn)
        found.append(approval)
    return sorted(found, key=lambda a: a.arrived, reverse=True)


# --- deciding -------------------------------------------------------------------------


@dataclass
class DecisionResult:
    decision: str
    url: str
    status: int
    title: str
    message: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __str__(self) -> str:
        return f"{self.title} (HTTP {self.status}): {self.message}"


def _page_text(page: str) -> tuple:
    title = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S | re.I)
    paragraphs = re.findall(r"<p[^>]*>(.*?)</p>", page, re.S | re.I)
    strip = lambda s: html.unescape(re.sub(r"<[^>]+>", "", s)).strip()  # noqa: E731
    return (strip(title.group(1)) if title else "", " ".join(strip(p) for p in paragraphs))


def post_decision(url: str, token: str, decision: str = "", timeout: float = 30.0) -> DecisionResult:
    """POST `token=...` (form-encoded) to an approve/deny URL, as the e-mail page's button does."""
    if urllib.parse.urlsplit(url or "").scheme not in ("http", "https"):
        return DecisionResult(decision, url, 0, "Not an approval link",
                              f"{url!r} is not an http(s) URL: the token is sent only to the stack's "
                              "ApproveUrl or DenyUrl (its outputs). Is the stack deployed? (notebook 01)")
    body = urllib.parse.urlencode({"token": token, "via": "notebook"}).encode("ascii")
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


def approval_card_html(approval: PendingApproval) -> str:
    actions = ", ".join(f"<code>{html.escape(str(a))}</code>" for a in approval.matched_actions()) or "—"
    return (
        f"<div style=\"line-height:1.4\"><strong>Policy {html.escape(approval.policy_name)}</strong> "
        f"({html.escape(approval.event_name)}, version {html.escape(approval.version_id)})<br>"
        f"<small>{html.escape(approval.policy_arn)}</small><br>"
        f"Restricted actions allowed: {actions}<br>"
        f"Arrived: {_when(approval.arrived)} — {_left(approval.time_left())}<br>"
        f"<small>{html.escape(approval.reason)}</small>"
        f"<details open><summary>What changed: the statement as written vs the harmless version in force</summary>"
        f"<pre>{html.escape(approval.diff())}</pre></details>"
        f"<small>Execution {html.escape(approval.execution_name)}</small></div>"
    )


class ApprovalPanel:
    """Cards for the pending approvals, each with Approve and Deny buttons."""

    def __init__(self, sfn, state_machine_arn: str, urls: dict, iam=None,
                 approval_state: str = APPROVAL_STATE, post=post_decision, wait_after_decision: float = 30.0):
        self.sfn, self.iam = sfn, iam
        self.state_machine_arn = state_machine_arn
        self.urls = {"allow": urls.get("ApproveUrl"), "deny": urls.get("DenyUrl")}
        self.approval_state = approval_state
        self._post = post
        self.wait_after_decision = wait_after_decision
        self.pending: list = []
        self.buttons: dict = {}   # execution arn -> {"allow": Button, "deny": Button}
        self.results: dict = {}   # execution arn -> DecisionResult
        self.outcomes: dict = {}  # execution arn -> final execution status
        self._outcome_widgets: dict = {}
        self._header_widget = None
        self._handle = None       # the notebook display of this panel (updated after a decision)
        self.views: list = []     # other views of these approvals to update after a decision (the e-mail)
        self.widget = None
        self.refresh()

    # model
    def refresh(self) -> list:
        self.pending = pending_approvals(self.sfn, self.state_machine_arn, iam=self.iam,
                                         approval_state=self.approval_state)
        self._build_widget()
        return self.pending

    def decide(self, approval: PendingApproval, decision: str) -> DecisionResult:
        """POST the decision for one approval, then wait briefly for the execution to end."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be 'allow' or 'deny', not {decision!r}")
        url = self.urls[decision]
        if not url:
            raise ValueError(f"the stack outputs have no {DECISIONS[decision][0]}: redeploy (notebook 01)")
        result = self._post(url, approval.token, decision)
        self.results[approval.execution_arn] = result
        if result.ok and self.wait_after_decision:
            self.outcomes[approval.execution_arn] = self._wait_for_end(approval.execution_arn)
        return result

    def _wait_for_end(self, execution_arn: str) -> str:
        deadline = time.monotonic() + self.wait_after_decision
        status = "RUNNING"
        while time.monotonic() < deadline:
            status = self.sfn.describe_execution(executionArn=execution_arn)["status"]
            if status != "RUNNING":
                break
            time.sleep(0.3)
        return status

    def press(self, decision: str, index: int = 0, execution_arn: str | None = None) -> DecisionResult:
        """Click a button as a learner would (for CI runs with `decision` set).

        Presses on the newest pending approval, or on the one of `execution_arn`.
        """
        if not self.waiting():
            raise LookupError("No approval is waiting: run notebooks/03_fire_bad_policy.ipynb first, "
                              "then refresh the panel.")
        if execution_arn is not None:
            matching = [a for a in self.waiting() if a.execution_arn == execution_arn]
            if not matching:
                raise LookupError(f"The execution {execution_arn.rsplit(':', 1)[-1]} is not waiting for a "
                                  "decision (any more): refresh the panel to see what is.")
            approval = matching[0]
        else:
            approval = self.waiting()[index]
        button = self.buttons.get(approval.execution_arn, {}).get(decision)
        if button is not None:
            button.click()
        else:  # no ipywidgets: same handler, called directly
            self._on_click(approval, decision)
        return self.results[approval.execution_arn]

    # view
    def _on_click(self, approval: PendingApproval, decision: str):
        buttons = self.buttons.get(approval.execution_arn, {})
        for button in buttons.values():
            button.disabled = True
        out = self._outcome_widgets.get(approval.execution_arn)
        if out is not None:
            out.value = f"<em>Sending {html.escape(DECISIONS[decision][1].lower())}…</em>"
        try:
            result = self.decide(approval, decision)
        except Exception as exc:  # shown in the card: a click must not die silently
            result = DecisionResult(decision, self.urls.get(decision) or "", 0, "Not sent", str(exc))
            self.results[approval.execution_arn] = result
        if out is not None:
            out.value = self.outcome_html(approval)
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
                if not (a.execution_arn in self.results and self.results[a.execution_arn].ok)]

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
        result = self.results.get(approval.execution_arn)
        if result is None:
            return ""
        colour = "#1d8102" if result.ok else "#d13212"
        text = (f"<p style='color:{colour}'><strong>{html.escape(result.title)}</strong> "
                f"(HTTP {result.status}): {html.escape(result.message)}</p>")
        status = self.outcomes.get(approval.execution_arn)
        if status:
            text += f"<p>The execution is now <strong>{html.escape(status)}</strong>.</p>"
        return text

    def _card(self, approval: PendingApproval):
        """One approval's card with its Approve / Deny buttons: (card box, its HTML text widget)."""
        import ipywidgets as widgets

        approve = widgets.Button(description="Approve", button_style="success", icon="check",
                                 tooltip="Restore the policy as it was written")
        deny = widgets.Button(description="Deny", button_style="danger", icon="times",
                              tooltip="Keep the policy reverted")
        approve.on_click(lambda _b, a=approval: self._on_click(a, "allow"))
        deny.on_click(lambda _b, a=approval: self._on_click(a, "deny"))
        outcome = widgets.HTML(self.outcome_html(approval))
        text = widgets.HTML(approval_card_html(approval))
        self.buttons[approval.execution_arn] = {"allow": approve, "deny": deny}
        self._outcome_widgets[approval.execution_arn] = outcome
        card = widgets.VBox([text, widgets.HBox([approve, deny]), outcome],
                            layout=widgets.Layout(border="1px solid #ccc", padding="6px", margin="4px 0"))
        return card, text

    def _build_widget(self):
        try:
            import ipywidgets as widgets
        except ImportError:  # pragma: no cover - ipywidgets is a dependency
            self.widget = None
            return
        self.buttons, self._outcome_widgets = {}, {}
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
                        f"{approval_card_html(a)}{self.outcome_html(a)}</div>" for a in self.pending)
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
            result = self.decision_for(a.execution_arn)
            return f"decided: {DECISIONS[result.decision][1].lower()}" if result else _left(a.time_left())

        return "\n".join(f"{a.policy_name}: {', '.join(map(str, a.matched_actions())) or '—'} ({state(a)})"
                         for a in self.pending)


def approval_panel(cloud, outputs: dict, **kwargs) -> ApprovalPanel:
    """The panel for a deployed stack (`outputs` from `cloud.stack_outputs(stack_name)`)."""
    return ApprovalPanel(cloud.client("stepfunctions"), outputs["StateMachineArn"], outputs,
                         iam=cloud.client("iam"), **kwargs)


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
    """Once a decision was sent: wait for the execution to end, then say what it did to the policy.

    Never blocks waiting for a click (a busy kernel would not receive it): without a decision it says so.
    """
    decided = [a for a in panel.pending if panel.results.get(a.execution_arn, None) is not None
               and panel.results[a.execution_arn].ok]
    if not decided:
        return Outcome(False, "No decision yet: click Approve or Deny in the panel above, "
                              "then run this cell again.")
    approval = decided[0]
    from workshop.incident import wait_for_end

    history = wait_for_end(cloud, approval.execution_arn, timeout=timeout)
    in_force = document_in_force(cloud.client("iam"), approval.policy_arn, consistency_timeout=20.0)
    restored = in_force is not None and in_force == json.loads(pretty_document(approval.original_document))
    verdict = panel.results[approval.execution_arn].decision
    what = ("the original document is in force again" if restored
            else "the harmless version stays in force")
    message = (f"{verdict.capitalize()}: execution {history.name} {history.status} via "
               f"{' → '.join(history.path()[-3:])}; for {approval.policy_name} {what}.")
    return Outcome(True, message, history.status, history.path(), restored)
