"""An execution's history, shown: the graph coloured by status, the state and event tables, a timeline.

    from workshop.display.history import execution_graph, event_table, state_table, timeline
    execution_graph(run)    # the state machine coloured by each state's status, with its legend
    state_table(run)        # one row per state run, input and output to expand
    event_table(run)        # every event, with input/output you can expand
    timeline(run)           # one bar per state, as SVG
    side_by_side(a, b)      # executions next to each other

`run` is a `workshop.aws.executions.ExecutionHistory` (`load_history`, `find_latest`).
"""

from __future__ import annotations

import html
import json
from datetime import datetime

from workshop.aws.executions import (CAUGHT, FAILED, IN_PROGRESS, NOT_RUN, SUCCEEDED, ExecutionHistory, event_details,
                                     parse_json)
from workshop.aws.guardrails import HeldByGuardrails
from workshop.display.html import STATUS_COLOURS, Bundle, Html

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


def execution_graph(history: ExecutionHistory | HeldByGuardrails, definition: dict | None = None) -> Bundle | Html:
    """The state machine drawn with each state coloured by its status (Mermaid + SVG), with its legend. A run
    the account's guardrails refused: why, and the graph of the stack's own run shown instead, if any."""
    if isinstance(history, HeldByGuardrails):
        note = Html(f"<p>⛔ {html.escape(history.summary())}</p>", plain=history.summary())
        if history.shown is None:
            return note
        graph = execution_graph(history.shown, definition)  # the cell's summary already says why
        caption = f"Shown instead (the guardrails refused {history.action}): {history.shown.name}"
        return Bundle({**graph.data, "text/plain": f"{caption}\n{graph.data.get('text/plain', '')}",
                       "text/html": f"<p>{html.escape(caption)}</p>" + graph.data.get("text/html", "")})
    definition = definition or history.definition
    statuses = history.statuses(definition)
    plain = f"{history.name} ({history.status}): " + ", ".join(f"{k}={v}" for k, v in statuses.items())
    try:
        from workshop.asl.graph import graph_bundle
    except ImportError:
        return Bundle({"text/plain": plain + "\n(the graph renderer workshop.asl.graph is not installed)"})
    from workshop.asl.graph import full_picture_html

    bundle = dict(graph_bundle(definition, statuses=statuses))
    bundle.setdefault("text/plain", plain)
    bundle["text/html"] = (legend_html(statuses) + f"<div>{bundle.get('image/svg+xml', '')}</div>"
                           + full_picture_html(definition, statuses))
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
        details = dict(event_details(event))
        payload = {k: parse_json(v) for k, v in details.items() if k not in ("name",)}
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
            f"<td>{_expandable('{…}', run.input)}</td><td>{_expandable('{…}', run.output)}</td></tr>"
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
    """Executions next to each other: status, path and the graph of the states each one ran (the whole
    machine twice would be too small to read side by side; each has its own full graph)."""
    from workshop.asl.graph import to_svg

    columns = []
    for i, history in enumerate(histories):
        svg = to_svg(history.definition, history.statuses(history.definition), path_only=True)
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
