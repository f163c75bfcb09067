"""The deployed stack, shown: the architecture, its resources and its outputs (notebook 01).

    from workshop.display.stack import architecture, resources_table, outputs_table
"""

from __future__ import annotations

import html

from workshop.display.html import Bundle, Html, table_html

# name -> (label, x, y, kind); every box is _W x _H. Laid out so that no label sits on a box or a line.
_NODES = {
    "learner": ("Learner\n(notebook / e-mail)", 20, 170, "person"),
    "iam": ("IAM", 220, 40, "service"),
    "rule": ("EventBridge rule\n(CloudTrail IAM events)", 490, 40, "service"),
    "sfn": ("Step Functions\nsecurity orchestrator", 490, 170, "core"),
    "validate": ("λ ValidatePolicy", 730, 90, "lambda"),
    "revert": ("λ RevertPolicy", 730, 150, "lambda"),
    "restore": ("λ RestorePolicy\n(if approved)", 730, 210, "lambda"),
    "ask": ("λ AskUser\n(keeps the task token)", 730, 290, "lambda"),
    "api": ("API Gateway\n/allow /deny", 220, 290, "service"),
    "decide": ("λ ReceiveDecision", 490, 290, "lambda"),
    "sns": ("SNS AlertTopic\n(e-mail)", 490, 380, "service"),
}
_W, _H = 160, 44
# (from, to, label, the points between the two boxes' borders (none: a straight line), label anchor, text-anchor)
_EDGES = [
    ("learner", "iam", "CreatePolicy", [], (192, 118), "end"),
    ("iam", "rule", "CloudTrail event", [], (435, 55), "middle"),
    ("rule", "sfn", "StartExecution", [], (576, 132), "start"),
    ("sfn", "validate", "", [], None, ""),
    ("sfn", "revert", "", [], None, ""),
    ("sfn", "restore", "", [], None, ""),
    ("sfn", "ask", "", [], None, ""),
    ("ask", "sns", "Publish", [], (712, 380), "start"),
    ("sns", "learner", "e-mail with links", [(100, 402)], (290, 396), "middle"),
    ("learner", "api", "Approve / Deny", [], (214, 254), "start"),
    ("api", "decide", "", [], None, ""),
    ("decide", "sfn", "SendTaskSuccess", [], (576, 256), "start"),
]
_FILL = {"person": "#fff8e1", "service": "#e3f2fd", "core": "#ede7f6", "lambda": "#fff3e0"}
_SIZE = (900, 440)
_LABEL_FONT = 11


def architecture_mermaid() -> str:
    lines = ["flowchart LR"]
    for key, (label, *_rest) in _NODES.items():
        lines.append(f'  {key}["{label.replace(chr(10), "<br>")}"]')
    for a, b, label, *_rest in _EDGES:
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


def _label_width(text: str) -> float:
    return len(text) * _LABEL_FONT * 0.56


def architecture_layout() -> dict:
    """What the picture draws, in its coordinates: boxes {name: (x, y, w, h)}, lines {(from, to): [points]},
    labels {(from, to): (x, y, w, h)} (a label's box, text measured at an average sans-serif width)."""
    boxes = {key: (x, y, _W, _H) for key, (_, x, y, _) in _NODES.items()}
    lines, labels = {}, {}
    for a, b, label, via, anchor, align in _EDGES:
        first = _border_point(a, via[0] if via else _centre(b))
        last = _border_point(b, via[-1] if via else _centre(a))
        lines[(a, b)] = [first, *via, last]
        if label:
            width = _label_width(label)
            left = anchor[0] - {"middle": width / 2, "end": width}.get(align, 0)
            labels[(a, b)] = (left, anchor[1] - _LABEL_FONT, width, _LABEL_FONT + 3)
    return {"size": _SIZE, "boxes": boxes, "lines": lines, "labels": labels}


def architecture_svg() -> str:
    layout = architecture_layout()
    width, height = layout["size"]
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
           "font-family='sans-serif' font-size='12'><defs><marker id='arch-arrow' viewBox='0 0 10 10' refX='9' "
           "refY='5' markerWidth='7' markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
           "fill='#555'/></marker></defs>"]
    for (a, b), points in layout["lines"].items():
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.0f},{y:.0f}" for i, (x, y) in enumerate(points))
        out.append(f"<path d='{path}' fill='none' stroke='#555' marker-end='url(#arch-arrow)'/>")
    for key, (label, x, y, kind) in _NODES.items():
        out.append(f"<rect x='{x}' y='{y}' width='{_W}' height='{_H}' rx='8' fill='{_FILL[kind]}' stroke='#555'/>")
        lines = label.split("\n")
        for i, line in enumerate(lines):
            ty = y + _H / 2 + (i - (len(lines) - 1) / 2) * 14 + 4
            out.append(f"<text x='{x + _W / 2}' y='{ty:.0f}' text-anchor='middle'>{html.escape(line)}</text>")
    for a, b, label, _via, anchor, align in _EDGES:  # labels last: nothing is drawn over them
        if label:
            out.append(f"<text x='{anchor[0]}' y='{anchor[1]}' text-anchor='{align}' fill='#333' "
                       f"font-size='{_LABEL_FONT}' paint-order='stroke' stroke='white' stroke-width='3'>"
                       f"{html.escape(label)}</text>")
    out.append("</svg>")
    return "".join(out)


def architecture() -> Bundle:
    """The stack's architecture as Mermaid (JupyterLab) and SVG (everywhere, offline)."""
    return Bundle({"text/vnd.mermaid": architecture_mermaid(), "image/svg+xml": architecture_svg(),
                   "text/plain": "IAM -> CloudTrail -> EventBridge -> Step Functions -> Lambdas / SNS -> "
                                 "e-mail -> API Gateway -> SendTaskSuccess"})


def resources_table(cloud, stack_name: str, template: str = "template.yaml") -> Html:
    """The deployed stack's resources, with how many the template itself names (SAM's transform adds the rest)."""
    from workshop.aws.stack import template_resources

    rows = sorted((r["LogicalResourceId"], r["ResourceType"], r.get("PhysicalResourceId", ""), r["ResourceStatus"])
                  for r in cloud.stack_resources(stack_name))
    written = template_resources(template)
    serverless = sum(1 for kind in written.values() if kind.startswith("AWS::Serverless::"))
    head = (f"{len(rows)} resources in {stack_name}: the {len(written)} that template.yaml names, after SAM's "
            f"transform made each of its {serverless} AWS::Serverless:: resources into several")
    plain = head + ":\n" + "\n".join(f"{r[0]:<32} {r[1]:<36} {r[3]}" for r in rows)
    kinds: dict = {}
    for _, kind, _, _ in rows:
        kinds[kind] = kinds.get(kind, 0) + 1
    by_kind = ", ".join(f"{count} {kind.split('::', 1)[-1]}" for kind, count in
                        sorted(kinds.items(), key=lambda item: (-item[1], item[0])))
    statuses = sorted({r[3] for r in rows})
    return Html(f"<p>{html.escape(head)}: {html.escape(by_kind)}; all {html.escape(' / '.join(statuses))}.</p>"
                "<details><summary>Every resource (logical id, type, physical id, status)</summary>"
                + table_html(["logical id", "type", "physical id", "status"], rows) + "</details>", plain=plain)


def outputs_table(outputs: dict) -> Html:
    rows = sorted(outputs.items())
    return Html(table_html(["output", "value"], rows), plain="\n".join(f"{k}: {v}" for k, v in rows))
