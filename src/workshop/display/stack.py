"""The deployed stack, shown: the architecture, its resources and its outputs (notebook 01).

    from workshop.display.stack import architecture, resources_table, outputs_table
"""

from __future__ import annotations

import html

from workshop.display.html import Bundle, Html, table_html

# name -> (label, x, y, kind)
_NODES = {
    "learner": ("Learner (notebook / e-mail)", 20, 150, "person"),
    "iam": ("IAM", 250, 40, "service"),
    "rule": ("EventBridge rule\n(CloudTrail IAM events)", 470, 40, "service"),
    "sfn": ("Step Functions\nsecurity orchestrator", 470, 150, "core"),
    "validate": ("λ ValidatePolicy", 740, 20, "lambda"),
    "revert": ("λ RevertPolicy", 740, 80, "lambda"),
    "ask": ("λ AskUser", 740, 140, "lambda"),
    "restore": ("λ RestorePolicy", 740, 200, "lambda"),
    "sns": ("SNS AlertTopic\n(e-mail)", 470, 270, "service"),
    "api": ("API Gateway\n/allow /deny", 250, 270, "service"),
    "decide": ("λ ReceiveDecision", 250, 360, "lambda"),
}
_EDGES = [
    ("learner", "iam", "CreatePolicy"), ("iam", "rule", "CloudTrail event"), ("rule", "sfn", "StartExecution"),
    ("sfn", "validate", ""), ("sfn", "revert", ""), ("sfn", "ask", "task token"), ("sfn", "restore", "if approved"),
    ("ask", "sns", "Publish"), ("sns", "learner", "e-mail with links"), ("learner", "api", "Approve / Deny"),
    ("api", "decide", ""), ("decide", "sfn", "SendTaskSuccess"),
]
_W, _H = 180, 44
_FILL = {"person": "#fff8e1", "service": "#e3f2fd", "core": "#ede7f6", "lambda": "#fff3e0"}


def architecture_mermaid() -> str:
    lines = ["flowchart LR"]
    for key, (label, *_rest) in _NODES.items():
        lines.append(f'  {key}["{label.replace(chr(10), "<br>")}"]')
    for a, b, label in _EDGES:
        lines.append(f"  {a} -->|{label}| {b}" if label else f"  {a} --> {b}")
    return "\n".join(lines)


def _centre(key):
    _, x, y, _ = _NODES[key]
    return x + _W / 2, y + _H / 2


def _border_point(key, towards):
    cx, cy = _centre(key)
    tx, ty = towards
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min((_W / 2) / abs(dx) if dx else float("inf"), (_H / 2) / abs(dy) if dy else float("inf"))
    return cx + dx * scale, cy + dy * scale


def architecture_svg() -> str:
    width, height = 940, 420
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' "
           "font-size='12'><defs><marker id='arch-arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' "
           "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='#555'/></marker></defs>"]
    for a, b, label in _EDGES:
        x1, y1 = _border_point(a, _centre(b))
        x2, y2 = _border_point(b, _centre(a))
        out.append(f"<line x1='{x1:.0f}' y1='{y1:.0f}' x2='{x2:.0f}' y2='{y2:.0f}' stroke='#555' "
                   "marker-end='url(#arch-arrow)'/>")
        if label:
            out.append(f"<text x='{(x1 + x2) / 2:.0f}' y='{(y1 + y2) / 2 - 4:.0f}' text-anchor='middle' "
                       f"fill='#333' font-size='11' paint-order='stroke' stroke='white' stroke-width='3'>"
                       f"{html.escape(label)}</text>")
    for key, (label, x, y, kind) in _NODES.items():
        out.append(f"<rect x='{x}' y='{y}' width='{_W}' height='{_H}' rx='8' fill='{_FILL[kind]}' stroke='#555'/>")
        lines = label.split("\n")
        for i, line in enumerate(lines):
            ty = y + _H / 2 + (i - (len(lines) - 1) / 2) * 14 + 4
            out.append(f"<text x='{x + _W / 2}' y='{ty:.0f}' text-anchor='middle'>{html.escape(line)}</text>")
    out.append("</svg>")
    return "".join(out)


def architecture() -> Bundle:
    """The stack's architecture as Mermaid (JupyterLab) and SVG (everywhere, offline)."""
    return Bundle({"text/vnd.mermaid": architecture_mermaid(), "image/svg+xml": architecture_svg(),
                   "text/plain": "IAM -> CloudTrail -> EventBridge -> Step Functions -> Lambdas / SNS -> "
                                 "e-mail -> API Gateway -> SendTaskSuccess"})


def resources_table(cloud, stack_name: str) -> Html:
    rows = sorted((r["LogicalResourceId"], r["ResourceType"], r.get("PhysicalResourceId", ""), r["ResourceStatus"])
                  for r in cloud.stack_resources(stack_name))
    plain = "\n".join(f"{r[0]:<32} {r[1]:<36} {r[3]}" for r in rows)
    return Html(f"<p>{len(rows)} resources in <code>{html.escape(stack_name)}</code>:</p>"
                + table_html(["logical id", "type", "physical id", "status"], rows), plain=plain)


def outputs_table(outputs: dict) -> Html:
    rows = sorted(outputs.items())
    return Html(table_html(["output", "value"], rows), plain="\n".join(f"{k}: {v}" for k, v in rows))
