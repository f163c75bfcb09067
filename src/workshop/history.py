"""An execution's history, read for people: statuses per state, an event table, a timeline.

    from workshop.history import load_history, execution_graph, event_table, timeline
    run = load_history(sfn, execution_arn)
    run.statuses()          # {"CheckEvent": "succeeded", "AskUser": "in_progress", ...}
    execution_graph(run)    # the state machine coloured by those statuses
    event_table(run)        # every event, with input/output you can expand
    timeline(run)           # one bar per state, as SVG

Statuses are the ones the graph understands: "succeeded", "failed",
"caught_error" (the state failed and a Catch sent the execution on),
"in_progress" and "not_run".
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError

SUCCEEDED, FAILED, CAUGHT, IN_PROGRESS, NOT_RUN = "succeeded", "failed", "caught_error", "in_progress", "not_run"
STATUS_COLOURS = {SUCCEEDED: "#2e7d32", FAILED: "#c62828", CAUGHT: "#ef6c00",
                  IN_PROGRESS: "#1565c0", NOT_RUN: "#9e9e9e"}
_RESULT_SUCCESS = {"TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded"}
_ENDED_BADLY = {"FAILED", "TIMED_OUT", "ABORTED"}


# --- display helpers -------------------------------------------------------------


def no_math(fragment: str) -> str:
    """HTML whose `$` signs stay text: JupyterLab and nbconvert's exports typeset `$...$` as LaTeX, which
    turns JSONPath such as `'$.taskresult.action'` in a message into formulas."""
    return f"<div class='mathjax_ignore tex2jax_ignore'>{fragment}</div>"


class Html:
    """An HTML fragment that displays itself in a notebook."""

    def __init__(self, text: str, plain: str = ""):
        self.text, self.plain = text, plain or "(HTML output)"

    def _repr_html_(self) -> str:
        return no_math(self.text)

    def __repr__(self) -> str:
        return self.plain


class Bundle:
    """A Jupyter MIME bundle (e.g. Mermaid + SVG) that displays itself."""

    def __init__(self, data: dict):
        self.data = dict(data)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.data

    def __repr__(self) -> str:
        return self.data.get("text/plain", "(figure)")


# --- reading a history ------------------------------------------------------------


def _ts(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _details(event: dict) -> dict:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _json(text):
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _is_failure(event_type: str) -> bool:
    return event_type != "ExecutionFailed" and (
        event_type.endswith("Failed") or event_type.endswith("TimedOut")) and not event_type.startswith("Execution")


@dataclass
class StateRun:
    """One pass through one state (a state entered twice has two runs)."""

    name: str
    type: str
    entered: datetime
    input: object = None
    exited: datetime | None = None
    output: object = None
    events: list = field(default_factory=list)
    last_result: str | None = None  # "success" | "failure"
    error: dict | None = None
    status: str = IN_PROGRESS

    @property
    def duration_s(self) -> float | None:
        return None if self.exited is None else (self.exited - self.entered).total_seconds()


@dataclass
class ExecutionHistory:
    """describe_execution + get_execution_history of one execution."""

    execution: dict
    events: list
    definition: dict | None = None

    def __post_init__(self):
        self.events = sorted(self.events, key=lambda e: e.get("id", 0))
        for event in self.events:
            event["timestamp"] = _ts(event["timestamp"])

    @property
    def arn(self) -> str:
        return self.execution.get("executionArn", "")

    @property
    def name(self) -> str:
        return self.execution.get("name") or self.arn.rsplit(":", 1)[-1]

    @property
    def status(self) -> str:
        return self.execution.get("status", "RUNNING")

    @property
    def started(self) -> datetime | None:
        return self.events[0]["timestamp"] if self.events else None

    def input(self):
        return _json(self.execution.get("input"))

    def output(self):
        return _json(self.execution.get("output"))

    def runs(self) -> list:
        """The state runs in order, each with its status."""
        runs, current = [], None

        def close_open(next_entered: bool):
            if current is None or current.exited is not None:
                return
            if current.type == "Fail":
                current.status = FAILED
            elif next_entered:
                # Left without an exit event (a Catch on some engines): judge by the last result.
                current.status = CAUGHT if current.last_result == "failure" else SUCCEEDED

        for event in self.events:
            kind = event["type"]
            details = _details(event)
            if kind.endswith("StateEntered"):
                close_open(True)
                current = StateRun(name=details.get("name", "?"), type=kind[: -len("StateEntered")],
                                   entered=event["timestamp"], input=_json(details.get("input")))
                current.events.append(event)
                runs.append(current)
                continue
            if current is None:
                continue
            if kind.endswith("StateExited") and details.get("name") == current.name:
                current.events.append(event)
                current.exited = event["timestamp"]
                current.output = _json(details.get("output"))
                if current.type == "Fail":
                    current.status = FAILED
                else:
                    current.status = CAUGHT if current.last_result == "failure" else SUCCEEDED
                current = None
                continue
            if kind.startswith("Execution"):
                continue
            current.events.append(event)
            if kind in _RESULT_SUCCESS:
                current.last_result = "success"
                current.error = None
            elif _is_failure(kind):
                current.last_result = "failure"
                current.error = {"error": details.get("error"), "cause": details.get("cause")}
        if current is not None and current.exited is None:
            if current.type == "Fail":
                current.status = FAILED
            elif self.status in _ENDED_BADLY:
                current.status = FAILED
            else:
                current.status = IN_PROGRESS
        return runs

    def path(self) -> list:
        """The names of the states the execution went through, in order."""
        return [run.name for run in self.runs()]

    def statuses(self, definition: dict | None = None) -> dict:
        """{state name: status}; with a definition, states never entered are "not_run"."""
        definition = definition or self.definition
        statuses = {}
        if definition:
            statuses = {name: NOT_RUN for name in (definition.get("States") or {})}
        for run in self.runs():
            statuses[run.name] = run.status
        return statuses

    def task_parameters(self, state_name: str):
        """What the latest run of `state_name` sent to its task (parsed JSON), or None."""
        for run in reversed(self.runs()):
            if run.name != state_name:
                continue
            for event in run.events:
                details = _details(event)
                if event["type"] == "TaskScheduled":
                    return _json(details.get("parameters"))
                if event["type"] == "LambdaFunctionScheduled":
                    return _json(details.get("input"))
            return None
        return None

    def failure(self) -> dict | None:
        for event in reversed(self.events):
            if event["type"] in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
                details = _details(event)
                return {"error": details.get("error", event["type"]), "cause": details.get("cause", "")}
        return None

    def summary(self) -> str:
        text = f"{self.name}: {self.status}, path " + " → ".join(self.path())
        failure = self.failure()
        if failure:
            text += f" ({failure['error']}: {failure['cause']})"
        return text


def load_history(sfn, execution_arn: str, definition: dict | str | None = None) -> ExecutionHistory:
    """Read an execution and all its events (paginated) with a Step Functions client."""
    execution = sfn.describe_execution(executionArn=execution_arn)
    events = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    if definition is None:
        definition = definition_for(sfn, execution)
    if isinstance(definition, str):
        definition = json.loads(definition)
    return ExecutionHistory(execution=execution, events=events, definition=definition)


def definition_for(sfn, execution: dict) -> dict | None:
    """The definition the execution ran (or the state machine's current one)."""
    try:
        return json.loads(sfn.describe_state_machine_for_execution(
            executionArn=execution["executionArn"])["definition"])
    except (BotoCoreError, ClientError, KeyError, ValueError):
        pass  # an endpoint without this call: the machine's current definition will do
    try:
        return json.loads(sfn.describe_state_machine(
            stateMachineArn=execution["stateMachineArn"])["definition"])
    except Exception:
        return None


def list_executions(sfn, state_machine_arn: str, status: str | None = None) -> list:
    """Executions of a state machine, newest first."""
    kwargs = {"stateMachineArn": state_machine_arn}
    if status:
        kwargs["statusFilter"] = status
    found = []
    for page in sfn.get_paginator("list_executions").paginate(**kwargs):
        found.extend(page["executions"])
    return sorted(found, key=lambda e: _ts(e["startDate"]), reverse=True)


def find_latest(sfn, state_machine_arn: str, through, limit: int = 20) -> ExecutionHistory | None:
    """The newest execution whose path went through one of the states in `through`."""
    through = {through} if isinstance(through, str) else set(through)
    page = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=limit)["executions"]  # one page
    for execution in sorted(page, key=lambda e: _ts(e["startDate"]), reverse=True):
        history = load_history(sfn, execution["executionArn"])
        if through & set(history.path()):
            return history
    return None


# --- rendering -----------------------------------------------------------------------


_STATUS_WORDS = {SUCCEEDED: ("green", "succeeded"), FAILED: ("red", "failed"),
                 CAUGHT: ("orange", "failed, and a Catch moved the execution on"),
                 IN_PROGRESS: ("blue", "in progress (waiting)"), NOT_RUN: ("grey", "not run")}


def legend_html(statuses: dict) -> str:
    """The colours this graph uses, and only those, with how many states have each."""
    counts = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    parts = [f"<span style='color:{STATUS_COLOURS[s]}'>&#9632;</span> {_STATUS_WORDS[s][0]}: {_STATUS_WORDS[s][1]} "
             f"({n})" for s, n in counts.items() if s in _STATUS_WORDS]
    return ("<p style='font-size:90%'>" + " · ".join(parts) + " · orange dashed arrows: where a Catch sends an "
            "error</p>")


def execution_graph(history: ExecutionHistory, definition: dict | None = None) -> Bundle:
    """The state machine drawn with each state coloured by its status (Mermaid + SVG), with its legend."""
    definition = definition or history.definition
    statuses = history.statuses(definition)
    plain = f"{history.name} ({history.status}): " + ", ".join(f"{k}={v}" for k, v in statuses.items())
    try:
        from workshop.asl.graph import graph_bundle
    except ImportError:
        return Bundle({"text/plain": plain + "\n(the graph renderer workshop.asl.graph is not installed)"})
    bundle = dict(graph_bundle(definition, statuses=statuses))
    bundle.setdefault("text/plain", plain)
    bundle["text/html"] = legend_html(statuses) + f"<div>{bundle.get('image/svg+xml', '')}</div>"
    return Bundle(bundle)


def _pre(value) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
    return f"<pre style='white-space:pre-wrap;max-width:60em'>{html.escape(text)}</pre>"


def _expandable(label: str, value) -> str:
    if value in (None, "", {}):
        return ""
    return f"<details><summary>{html.escape(label)}</summary>{_pre(value)}</details>"


def _clock(ts: datetime) -> str:
    return ts.strftime("%H:%M:%S.") + f"{ts.microsecond // 1000:03d}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def event_table(history: ExecutionHistory, folded: bool = False) -> Html:
    """Every event: id, time, time since start, type, state, duration, expandable details.

    `folded`: behind a "show all events" toggle (the state table says the same, shorter).
    """
    start = history.started
    state_of, duration_of = {}, {}
    for run in history.runs():
        for event in run.events:
            state_of[event["id"]] = run.name
        if run.exited is not None:
            duration_of[run.events[-1]["id"]] = run.duration_s
    rows = []
    for event in history.events:
        details = dict(_details(event))
        payload = {k: _json(v) for k, v in details.items() if k not in ("name",)}
        rows.append(
            "<tr>"
            f"<td>{event['id']}</td><td>{_clock(event['timestamp'])}</td>"
            f"<td>+{_seconds((event['timestamp'] - start).total_seconds())}</td>"
            f"<td><code>{html.escape(event['type'])}</code></td>"
            f"<td>{html.escape(state_of.get(event['id'], ''))}</td>"
            f"<td>{_seconds(duration_of[event['id']]) if event['id'] in duration_of else ''}</td>"
            f"<td>{_expandable('details', payload)}</td>"
            "</tr>"
        )
    head = ("<tr><th>#</th><th>time (UTC)</th><th>since start</th><th>event</th>"
            "<th>state</th><th>state took</th><th>input / output</th></tr>")
    title = f"<p><strong>{html.escape(history.name)}</strong> — {html.escape(history.status)}, {len(history.events)} events</p>"
    table = f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    if folded:
        return Html(f"<details><summary>Show all {len(history.events)} events (the raw history "
                    f"GetExecutionHistory returns)</summary>{table}</details>",
                    plain=f"{history.name}: {len(history.events)} events")
    return Html(f"{title}{table}", plain=f"{history.name}: {len(history.events)} events")


def state_table(history: ExecutionHistory, events: bool = False) -> Html:
    """One row per state run: status, duration, input and output to expand.

    `events`: the full event table below it, folded ("show all events").
    """
    rows = []
    for run in history.runs():
        colour = STATUS_COLOURS[run.status]
        error = f"<br><small>{html.escape(str(run.error['error']))}</small>" if run.error else ""
        rows.append(
            f"<tr><td>{html.escape(run.name)}</td><td>{html.escape(run.type)}</td>"
            f"<td style='color:{colour};font-weight:bold'>{run.status}{error}</td>"
            f"<td>{_seconds(run.duration_s)}</td>"
            f"<td>{_expandable('input', run.input)}</td><td>{_expandable('output', run.output)}</td></tr>"
        )
    head = "<tr><th>state</th><th>type</th><th>status</th><th>took</th><th>input</th><th>output</th></tr>"
    more = event_table(history, folded=True).text if events else ""
    return Html(f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>{more}",
                plain="\n".join(f"{r.name}: {r.status} ({_seconds(r.duration_s)})" for r in history.runs()))


def timeline_svg(history: ExecutionHistory, width: int = 720) -> str:
    """An SVG Gantt chart: one bar per state run, coloured by status."""
    runs = history.runs()
    start = history.started
    if not runs or start is None:
        return "<svg xmlns='http://www.w3.org/2000/svg' width='300' height='30'><text x='5' y='20'>no states yet</text></svg>"
    end = max([r.exited or r.entered for r in runs] + [history.events[-1]["timestamp"]])
    total = max((end - start).total_seconds(), 0.001)
    label_w, row_h, top = 170, 22, 24
    plot_w = width - label_w - 70
    height = top + row_h * len(runs) + 10
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"font-family='sans-serif' font-size='12'>",
             f"<text x='{label_w}' y='14' fill='#555'>0 s</text>",
             f"<text x='{label_w + plot_w}' y='14' fill='#555' text-anchor='end'>{total:.3g} s</text>"]
    for i, run in enumerate(runs):
        y = top + i * row_h
        t0 = (run.entered - start).total_seconds()
        t1 = ((run.exited or end) - start).total_seconds()
        x = label_w + plot_w * t0 / total
        w = max(plot_w * (t1 - t0) / total, 2)
        colour = STATUS_COLOURS[run.status]
        parts.append(f"<text x='{label_w - 6}' y='{y + 14}' text-anchor='end'>{html.escape(run.name)}</text>")
        parts.append(f"<rect x='{x:.1f}' y='{y + 3}' width='{w:.1f}' height='{row_h - 6}' fill='{colour}' rx='3'>"
                     f"<title>{html.escape(run.name)}: {run.status}, {_seconds(t1 - t0)}</title></rect>")
        parts.append(f"<text x='{x + w + 4:.1f}' y='{y + 14}' fill='#333'>{_seconds(t1 - t0)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def timeline(history: ExecutionHistory) -> Bundle:
    text = "\n".join(f"{r.name:<24} {r.status:<13} {_seconds(r.duration_s)}" for r in history.runs())
    return Bundle({"image/svg+xml": timeline_svg(history), "text/plain": text})


def _svg_img(svg: str | None) -> str:
    if not svg:
        return ""
    import base64

    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f"<img style='max-width:100%' src='data:image/svg+xml;base64,{data}'>"


def side_by_side(*histories: ExecutionHistory, titles=None) -> Bundle:
    """Executions next to each other: status, path and coloured graph of each."""
    columns, svgs = [], []
    for i, history in enumerate(histories):
        graph = execution_graph(history).data
        svg = graph.get("image/svg+xml")
        svgs.append(svg)
        title = (titles[i] if titles else None) or history.name
        columns.append(
            "<div style='flex:1;min-width:18em;border:1px solid #ddd;padding:.5em'>"
            f"<h4 style='margin:.2em 0'>{html.escape(title)}</h4>"
            f"<p><strong>{html.escape(history.status)}</strong> — "
            f"{html.escape(' → '.join(history.path()))}</p>{_svg_img(svg)}</div>"
        )
    page = f"<div style='display:flex;gap:1em;flex-wrap:wrap'>{''.join(columns)}</div>"
    plain = "\n".join(h.summary() for h in histories)
    return Bundle({"text/html": page, "text/plain": plain})
