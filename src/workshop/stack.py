"""The deployed stack, shown: its resources, its outputs, the architecture; and its clean-up.

    from workshop.stack import architecture, resources_table, outputs_table, delete_stack
"""

from __future__ import annotations

import html

from workshop.history import Bundle, Html
from workshop.waiting import wait_for

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


def _table(headers, rows) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def resources_table(cloud, stack_name: str) -> Html:
    rows = sorted((r["LogicalResourceId"], r["ResourceType"], r.get("PhysicalResourceId", ""), r["ResourceStatus"])
                  for r in cloud.stack_resources(stack_name))
    plain = "\n".join(f"{r[0]:<32} {r[1]:<36} {r[3]}" for r in rows)
    return Html(f"<p>{len(rows)} resources in <code>{html.escape(stack_name)}</code>:</p>"
                + _table(["logical id", "type", "physical id", "status"], rows), plain=plain)


def outputs_table(outputs: dict) -> Html:
    rows = sorted(outputs.items())
    return Html(_table(["output", "value"], rows), plain="\n".join(f"{k}: {v}" for k, v in rows))


def delete_stack(cloud, stack_name: str, timeout: float = 120.0) -> str:
    """Delete the stack and wait until it is gone. Returns what happened, in words."""
    cfn = cloud.client("cloudformation")
    try:
        cfn.describe_stacks(StackName=stack_name)
    except Exception:
        return f"The stack {stack_name} is not deployed: nothing to delete."
    cfn.delete_stack(StackName=stack_name)

    def gone():
        try:
            stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        except Exception:
            return "gone"
        if stack["StackStatus"] == "DELETE_COMPLETE":
            return "gone"
        if stack["StackStatus"] == "DELETE_FAILED":
            raise RuntimeError(f"Deleting {stack_name} failed: {stack.get('StackStatusReason', '')}. "
                               "Look at the stack's events, fix what holds it and run this cell again.")
        return None

    wait_for(gone, what=f"the stack {stack_name} to be deleted", timeout=timeout,
             hint="On AWS a deletion can take a few minutes: run this cell again to keep waiting.")
    return f"The stack {stack_name} is deleted."


def lint_template(template: str = "template.yaml", stream=None) -> str:
    """`sam validate --lint`: the template is valid SAM and passes cfn-lint. Prints the command and its output."""
    import os
    import subprocess  # nosec B404: runs sam as an argument list, never through a shell
    import sys

    from workshop.session import project_root
    from workshop.setup_check import find_tool

    stream = stream or sys.stdout
    sam = find_tool("sam")
    if sam is None:
        raise RuntimeError("`sam` is not installed: run `make lab` (it installs aws-sam-cli into the venv).")
    command = ["sam", "validate", "--lint", "--template-file", template, "--region", "us-east-1"]
    stream.write("$ " + " ".join(command) + "\n")
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    # Validation is offline; dummy credentials keep sam from looking for real ones.
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    done = subprocess.run([sam, *command[1:]], cwd=str(project_root()), env=env,  # nosec B603: sam, no shell
                          capture_output=True, text=True)
    output = (done.stdout + done.stderr).strip()
    stream.write(output + "\n")
    if done.returncode != 0:
        raise RuntimeError(f"`sam validate --lint` found problems (exit {done.returncode}): fix template.yaml "
                           "as the lines above say, then run this cell again.")
    return output
