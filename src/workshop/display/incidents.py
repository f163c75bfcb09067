"""Incidents, shown: the incidents table, an incident followed live, and what a change did to a policy.

    from workshop.display.incidents import watch_incident, incidents_view, statement_diff
    run = watch_incident(cloud, outputs["StateMachineArn"], fired, until="AskUser")   # live, in place
    incidents_view(cloud, outputs)            # who changed what, the verdict, who decided: newest first
    statement_diff(incident.document, in_force_now)   # the document as written vs what is in force

`watch_incident` waits for the execution a change started
(`workshop.aws.iam_changes.execution_started_by`), then follows it
(`workshop.aws.executions.follow`) with a line that updates in place in a
notebook: each state it went through, coloured by its status.
"""

from __future__ import annotations

import difflib
import html
import json
import urllib.parse
from datetime import datetime

from workshop.aws.executions import ExecutionHistory, follow
from workshop.aws.iam_changes import FiredPolicy, execution_started_by
from workshop.aws.incidents import Unreadable, list_incidents, seal_status, table_name
from workshop.display.html import STATUS_COLOURS, TEXT_CELL
from workshop import progress


# --- following an incident live ---------------------------------------------------------------


def progress_html(history: ExecutionHistory) -> str:
    marks = {"succeeded": "✓", "failed": "✗", "caught_error": "!", "in_progress": "…"}
    steps = " → ".join(
        f"<span style='color:{STATUS_COLOURS[r.status]}'>{html.escape(r.name)} {marks.get(r.status, '')}</span>"
        for r in history.runs())
    return f"<p>Execution <code>{html.escape(history.name)}</code>: <strong>{history.status}</strong><br>{steps}</p>"


class LiveProgress:
    """A display that updates in place in a notebook (nothing elsewhere): `show(history)` on every poll."""

    def __init__(self):
        self.handle, self.last = None, None
        try:
            from IPython import get_ipython
            from IPython.display import HTML, display

            if get_ipython() is not None:
                self._html = HTML
                self.handle = display(HTML("<p>waiting for the execution to start…</p>"), display_id=True)
        except ImportError:  # pragma: no cover
            pass

    def show(self, history: ExecutionHistory):
        text = progress_html(history)
        if text == self.last:
            return
        self.last = text
        if self.handle is not None:
            self.handle.update(self._html(text))


def watch_incident(cloud, state_machine_arn: str, fired: FiredPolicy, until: str | None = "AskUser",
                   start_timeout: float | None = None, timeout: float = 60.0) -> ExecutionHistory:
    """Wait for the execution the change started, then follow it live until it waits at `until` or ends."""
    try:
        execution_arn = execution_started_by(cloud, state_machine_arn, fired, timeout=start_timeout)
        run = follow(cloud, execution_arn, until=until, timeout=timeout, on_history=LiveProgress().show)
    except Exception as exc:
        progress.record("03_fire_bad_policy", "incident", "failed", f"{type(exc).__name__}: {exc}", fired.name)
        raise
    progress.record("03_fire_bad_policy", "incident", "reverted", f"{fired.name}: {' -> '.join(run.path()[-3:])}",
                    fired.name)
    return run


# --- what a change did to a policy ------------------------------------------------------------------


def pretty_document(document) -> str:
    """A policy document as indented JSON (IAM gives URL-encoded text)."""
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
    """A unified diff from the document as written to what is in force now."""
    before = pretty_document(original).splitlines()
    if isinstance(in_force, Unreadable):
        after = [str(in_force)]
    else:
        after = pretty_document(in_force).splitlines() if in_force is not None else ["(nothing: taken out of force)"]
    diff = "\n".join(difflib.unified_diff(before, after, "as written (reverted)", "in force now", lineterm=""))
    return diff or "(the same: what was taken out of force is in force again)"


# --- the incidents table --------------------------------------------------------------------------------


def _short(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def _clipped(text: str, limit: int = 160) -> str:
    """At most `limit` characters, cut between words, with "…" where it was cut."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(";,:(") + " …"


# An item the table holds that RevertPolicy did not write as it is: what the decision column says instead.
NOT_AN_INCIDENT = {"unsealed": "not an incident: RevertPolicy never sealed it (someone wrote it into the table)",
                   "altered": "changed since RevertPolicy sealed it: nothing restores it"}


class IncidentsView:
    """The incidents as a table (newest first)."""

    def __init__(self, incidents: list, note: str = "", seals: dict | None = None):
        """`seals`: incident id -> `seal_status` (an item the table holds but RevertPolicy never sealed, or
        changed after it did, is said to be one)."""
        self.incidents, self.note = incidents, note
        self.seals = dict(seals or {})

    def _outcome(self, incident) -> str:
        return NOT_AN_INCIDENT.get(self.seals.get(incident.incident_id), incident.outcome)

    def __len__(self) -> int:
        return len(self.incidents)

    def __repr__(self) -> str:
        if not self.incidents:
            return self.note or "No incidents yet."
        return "\n".join(f"{_short(i.created_at)}  {i.label}  ({i.event_name} by {i.who_changed})  -> "
                         f"{self._outcome(i)}" for i in self.incidents)

    def _repr_html_(self) -> str:
        if not self.incidents:
            return f"<p><em>{html.escape(self.note or 'No incidents yet.')}</em></p>"
        rows = "".join(
            "<tr>"
            f"<td style='text-align:left;vertical-align:top;white-space:nowrap'>{_short(i.created_at)}</td>"
            f"<td {TEXT_CELL}>{html.escape(i.label)}</td>"
            f"<td {TEXT_CELL}>{html.escape(i.event_name)}<br><small>{html.escape(i.who_changed)}</small></td>"
            f"<td {TEXT_CELL}>{html.escape(i.verdict)}<br><small>{html.escape(_clipped(i.reason))}</small></td>"
            f"<td {TEXT_CELL}>{html.escape(self._outcome(i))}"
            + (f"<br><small>by {html.escape(i.decided_by)} at {_short(i.decided_at)}</small>" if i.decision else "")
            + "</td></tr>" for i in self.incidents)
        head = "".join(f"<th {TEXT_CELL}>{h}</th>" for h in ("recorded", "change", "call, by", "verdict, why",
                                                              "decision"))
        return (f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
                f"<tbody>{rows}</tbody></table>")


def incidents_view(cloud, outputs: dict, limit: int = 20) -> IncidentsView:
    """The newest `limit` incidents of the deployed stack's table, each checked against its seal when the
    stack names its seal key."""
    incidents = list_incidents(cloud.client("dynamodb"), table_name(outputs))[:limit]
    seals = {}
    if outputs.get("SealKeyArn"):
        kms = cloud.client("kms")
        seals = {i.incident_id: seal_status(kms, outputs["SealKeyArn"], i) for i in incidents}
    return IncidentsView(incidents, "No incidents yet: fire the bad policy (notebook 03).", seals)
