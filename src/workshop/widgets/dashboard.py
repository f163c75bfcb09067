"""The approvals dashboard: the approval panel on a workshop leader's screen.

    from workshop.widgets.dashboard import approvals_dashboard
    dashboard = approvals_dashboard(cloud, outputs, stack_name="security-orchestrator")
    dashboard            # header, pending approvals, recent decisions, recent executions
    dashboard.stop()     # stop refreshing (a kernel shutdown stops it too)

It is the notebook panel (`workshop.widgets.approvals`: the same cards, the same
Approve / Deny buttons, deciding through the stack's decision endpoint with
the leader's own AWS credentials, recorded "decided via panel"), refreshed every few
seconds from a background thread so that new incidents appear by themselves. A refresh updates the cards in place: a card stays the
same widget while its execution waits, so a click is never lost to a refresh,
and decisions and refreshes never run at the same time (one lock). Decided
incidents leave the list; "Recent decisions" lists the decided incidents of
the incidents table (by the panel or by an e-mail link).

`notebooks/dashboard/approvals.ipynb` shows it; `scripts/run_approvals.py`
serves that notebook with Voilà (`make approvals`).
"""

from __future__ import annotations

import html
import threading
from datetime import datetime, timezone

from workshop.aws.decision_endpoint import panel_decider
from workshop.aws.executions import execution_status, list_executions, load_history
from workshop.aws.incidents import PendingApproval, caller_arn, list_incidents, table_name
from workshop.aws.session import StackNotFound, connect
from workshop.display.html import Html
from workshop.widgets.approvals import ApprovalPanel, approval_card_html

# ipywidgets' HTML widget sets a 28 px line height (one widget row): fine for a label, not for a
# card's wrapped text or the diff. Scoped to the dashboard, so nothing else on the page changes.
DASHBOARD_CSS = """<style>
.workshop-approvals-dashboard .widget-html-content { line-height: 1.45; }
.workshop-approvals-dashboard .widget-html-content p { margin: 4px 0; }
.workshop-approvals-dashboard pre { font-family: var(--jp-code-font-family, monospace); font-size: 12px;
  line-height: 1.35; background: #f6f8fa; padding: 6px 8px; max-height: 16em; overflow: auto; margin: 4px 0; }
.workshop-approvals-dashboard table.workshop-executions td,
.workshop-approvals-dashboard table.workshop-executions th { padding: 2px 12px 2px 0; border-bottom: 1px solid #eee; }
.workshop-approvals-dashboard h3 { margin: 14px 0 4px; }
</style>"""

STATUS_COLOURS = {"RUNNING": "#1565c0", "SUCCEEDED": "#2e7d32", "FAILED": "#c62828",
                  "TIMED_OUT": "#ef6c00", "ABORTED": "#6d4c41"}


def _clock(ts: datetime | None) -> str:
    return ts.astimezone(timezone.utc).strftime("%H:%M:%S UTC") if ts else "—"


def _close_tree(widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


class LivePanel(ApprovalPanel):
    """The approval panel, refreshed in place (cards are reused while their execution waits)."""

    def __init__(self, *args, on_decision=None, **kwargs):
        self.lock = threading.RLock()
        self.on_decision = on_decision
        self._cards: dict = {}     # execution arn -> (card VBox, card HTML)
        self._container = None
        self._header = None
        super().__init__(*args, **kwargs)

    def refresh(self) -> list:
        with self.lock:
            return super().refresh()

    def _on_click(self, approval: PendingApproval, decision: str):
        with self.lock:
            super()._on_click(approval, decision)
        if self.on_decision is not None:
            self.on_decision()

    def _card(self, approval: PendingApproval):
        card, text = super()._card(approval)
        card.add_class("workshop-approval-card")
        return card, text

    def _build_widget(self):
        try:
            import ipywidgets as widgets
        except ImportError:  # pragma: no cover - ipywidgets is a dependency
            self.widget = None
            return
        if self._container is None:
            self._header = widgets.HTML()
            self._container = widgets.VBox()
        kept = {}
        for approval in self.pending:
            card = self._cards.pop(approval.incident.execution_arn, None)
            if card is None:
                card = self._card(approval)
            else:  # same execution: refresh the text (time left), keep the buttons
                card[1].value = approval_card_html(approval)
            kept[approval.incident.execution_arn] = card
        for arn, (card, _text) in self._cards.items():  # decided, timed out or gone
            self.buttons.pop(arn, None)
            self._outcome_widgets.pop(arn, None)
            self._text_widgets.pop(arn, None)
            _close_tree(card)
        self._cards = kept
        self._header.value = self._header_html()
        self._container.children = [self._header, *(card for card, _text in kept.values())]
        self.widget = self._container

    def _header_html(self) -> str:
        if not self.pending:
            return ("<p><strong>No approval is waiting.</strong> New incidents appear here by themselves "
                    "(a learner fires one with notebook 03).</p>")
        return super()._header_html()


class ApprovalsDashboard:
    """Header, the live approval panel, recent decisions and recent executions."""

    def __init__(self, cloud, outputs: dict, stack_name: str = "", refresh_seconds: float = 5.0,
                 recent: int = 8):
        import ipywidgets as widgets

        self.cloud, self.outputs, self.stack_name = cloud, outputs, stack_name
        self.refresh_seconds, self.recent = refresh_seconds, recent
        self.sfn = cloud.client("stepfunctions")
        self.dynamodb = cloud.client("dynamodb")
        self.table = table_name(outputs)
        self.panel = LivePanel(self.sfn, self.dynamodb, self.table, panel_decider(cloud, outputs),
                               iam=cloud.client("iam"), who=caller_arn(cloud.client("sts")), kms=cloud.client("kms"),
                               seal_key=outputs.get("SealKeyArn"), on_decision=self._after_decision)
        self._ended: dict = {}  # execution arn -> ExecutionHistory (an ended execution never changes)
        self.last_error: Exception | None = None
        self.refreshed_at: datetime | None = None
        self.header = widgets.HTML(self._header_html())
        self.status = widgets.HTML()
        self.decisions = widgets.HTML()
        self.executions = widgets.HTML()
        self.widget = widgets.VBox([
            widgets.HTML(DASHBOARD_CSS), self.header, self.status,
            widgets.HTML("<h3>Waiting for a decision</h3>"), self.panel.widget,
            widgets.HTML("<h3>Recent decisions</h3>"), self.decisions,
            widgets.HTML("<h3>Recent executions</h3>"), self.executions,
        ])
        self.widget.add_class("workshop-approvals-dashboard")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._render_tables()
        self._render_status()
        if refresh_seconds:
            self.start()

    # refreshing ----------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the pending approvals and recent executions again; a failure is shown, not raised."""
        try:
            self.panel.refresh()
            self._render_tables()
            self.last_error = None
        except Exception as exc:  # the page keeps trying; the status line says what is wrong
            self.last_error = exc
        self.refreshed_at = datetime.now(timezone.utc)
        self._render_status()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="approvals-dashboard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.refresh()

    def _after_decision(self) -> None:
        self._render_tables()

    # rendering -----------------------------------------------------------------------
    def _header_html(self) -> str:
        target = self.cloud.endpoint if getattr(self.cloud, "is_local", False) else "AWS (us-east-1)"
        machine = self.outputs.get("StateMachineName") or self.outputs["StateMachineArn"].rsplit(":", 1)[-1]
        stack = f"stack <code>{html.escape(self.stack_name)}</code> · " if self.stack_name else ""
        return (f"<p style='margin:0'>{stack}state machine <code>{html.escape(machine)}</code> · "
                f"target {html.escape(str(target))}</p>")

    def _render_status(self) -> None:
        every = f"refreshing every {self.refresh_seconds:g} s" if self.refresh_seconds else "not refreshing"
        if self.last_error is not None:
            self.status.value = (
                f"<p style='color:#d13212'><strong>Could not refresh at {_clock(self.refreshed_at)}:</strong> "
                f"{html.escape(str(self.last_error))}<br>Is the local cloud running and the stack deployed? "
                f"(<code>make local</code>, then notebook 01). This page keeps trying ({every}).</p>")
        else:
            when = _clock(self.refreshed_at or datetime.now(timezone.utc))
            self.status.value = f"<p style='color:#555;margin:0'><small>Updated {when} · {every}</small></p>"

    def _render_tables(self) -> None:
        with self.panel.lock:  # never while a decision is being sent
            self.decisions.value = self._decisions_html()
            self.executions.value = self._executions_html()

    def _decisions_html(self) -> str:
        decided = [i for i in list_incidents(self.dynamodb, self.table) if i.decision]
        decided.sort(key=lambda i: i.decided_at or datetime.min.replace(tzinfo=timezone.utc), reverse=True)
        if not decided:
            return "<p><em>None yet.</em></p>"
        rows = []
        for incident in decided[:self.recent]:
            verdict = {"allow": "Approved", "deny": "Denied"}.get(incident.decision, incident.decision)
            rows.append(f"<div class='workshop-decision' style='border-left:4px solid "
                        f"{'#1d8102' if incident.decision == 'allow' else '#d13212'};padding:2px 8px;margin:4px 0'>"
                        f"<strong>{html.escape(verdict)}</strong> {html.escape(incident.name)} "
                        f"<small>at {_clock(incident.decided_at)} via {html.escape(incident.decided_via)} by "
                        f"{html.escape(incident.decided_by)}</small><br><small>{html.escape(incident.label)}: "
                        f"{html.escape(incident.outcome)}</small>"
                        f"<p>The execution is now <strong>{html.escape(self._status(incident.execution_arn))}"
                        "</strong>.</p></div>")
        return "".join(rows)

    def _status(self, execution_arn: str) -> str:
        if execution_arn in self._ended:
            return self._ended[execution_arn].status
        return execution_status(self.sfn, execution_arn)

    def _history(self, execution: dict):
        arn = execution["executionArn"]
        if arn in self._ended:
            return self._ended[arn]
        history = load_history(self.sfn, arn, definition={})
        if history.status != "RUNNING":
            self._ended[arn] = history
        return history

    def _executions_html(self) -> str:
        executions = list_executions(self.sfn, self.outputs["StateMachineArn"])[:self.recent]
        if not executions:
            return "<p><em>No executions yet.</em></p>"
        rows = []
        for execution in executions:
            history = self._history(execution)
            status = history.status
            colour = STATUS_COLOURS.get(status, "#333")
            path = history.path()
            where = " → ".join(path[-3:]) if path else "—"
            rows.append(
                "<tr>"
                f"<td><code>{html.escape(history.name[:36])}</code></td>"
                f"<td>{html.escape(_policy_name(history.input()))}</td>"
                f"<td style='color:{colour}'><strong>{html.escape(status)}</strong></td>"
                f"<td>{_clock(history.started)}</td>"
                f"<td>{html.escape(where)}</td>"
                "</tr>")
        head = ("<tr><th>Execution</th><th>Policy</th><th>Status</th><th>Started</th>"
                "<th>Last states</th></tr>")
        return ("<table class='workshop-executions' style='border-collapse:collapse;text-align:left'>"
                f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.widget._repr_mimebundle_(include=include, exclude=exclude)


def _policy_name(event) -> str:
    """The policy an execution is about, from its input (the CloudTrail event)."""
    detail = event.get("detail", {}) if isinstance(event, dict) else {}
    detail = detail if isinstance(detail, dict) else {}
    request = detail.get("requestParameters") if isinstance(detail.get("requestParameters"), dict) else {}
    response = detail.get("responseElements") if isinstance(detail.get("responseElements"), dict) else {}
    arn = (response.get("policy") or {}).get("arn") or request.get("policyArn") or ""
    name = request.get("policyName") if not arn else arn.rsplit("/", 1)[-1]
    return str(name or "—")


def approvals_dashboard(cloud, outputs: dict, stack_name: str = "", refresh_seconds: float = 5.0,
                        recent: int = 8) -> ApprovalsDashboard:
    """The dashboard for a deployed stack (`outputs` from `cloud.stack_outputs(stack_name)`)."""
    return ApprovalsDashboard(cloud, outputs, stack_name=stack_name, refresh_seconds=refresh_seconds,
                              recent=recent)


def open_dashboard(target: str = "local", endpoint: str | None = None, stack_name: str = "security-orchestrator",
                   refresh_seconds: float = 5.0):
    """The dashboard, or a message saying what to do when the target or the stack is not there."""
    cloud = connect(target, endpoint)
    try:
        outputs = cloud.stack_outputs(stack_name)
    except StackNotFound as exc:
        return Html(f"<p style='color:#d13212'><strong>{html.escape(str(exc))}</strong></p>", str(exc))
    except Exception as exc:  # the local cloud is not running, credentials refused, ...
        where = f"the local cloud at {cloud.endpoint}" if cloud.is_local else "AWS"
        hint = ("start it with <code>make local</code> (or <code>make lab</code>), deploy with notebook 01, "
                "then reload this page." if cloud.is_local else "check your credentials, then reload this page.")
        return Html(f"<p style='color:#d13212'><strong>Could not read the stack {html.escape(stack_name)} "
                    f"from {html.escape(where)}</strong> ({html.escape(type(exc).__name__)}: "
                    f"{html.escape(str(exc))}): {hint}</p>", f"Could not read the stack {stack_name}: {exc}")
    return approvals_dashboard(cloud, outputs, stack_name=stack_name, refresh_seconds=refresh_seconds)
