"""Draw a state machine offline: Mermaid text and a self-contained SVG.

JupyterLab 4 renders `text/vnd.mermaid` natively, but nbconvert's HTML export
loads Mermaid from a CDN, so an offline export would show only the source.
`graph_bundle` therefore returns both, plus plain text, in one MIME bundle:
every front end picks the richest one it can show.

The SVG is laid out here with a simple layered layout (longest path from the
start, back edges routed round the right-hand side); Parallel and Map states
are boxes that hold their branches side by side.

Passing `statuses={"StateName": "succeeded" | "failed" | "caught_error" |
"in_progress" | "not_run"}` colours the states the way the Step Functions
console does.
"""

from __future__ import annotations

import json

# Step Functions console colours: (fill, stroke) per execution status.
STATUS_COLOURS = {
    "succeeded": ("#e9f7e6", "#1d8102"),
    "failed": ("#fde8e6", "#d13212"),
    "caught_error": ("#fff1e0", "#ec7211"),
    "in_progress": ("#e6f2fb", "#0073bb"),
    "not_run": ("#f2f3f3", "#879596"),
}
DEFAULT_COLOURS = ("#ffffff", "#545b64")
MISSING_COLOURS = ("#ffffff", "#d13212")

_FONT = 13
_CHAR_W = 7.4  # average glyph width at 13px sans-serif, for sizing boxes
_NODE_H = 40
_PAD = 16
_LAYER_GAP = 56
_NODE_GAP = 36
_HEADER = 26
_LABEL_MAX = 40
_LANE_GAP = 14  # distance between side lanes used by long and backward edges
_TURN = 14  # how far below/above a node a routed edge turns


# ---------------------------------------------------------------- model


class _Node:
    __slots__ = ("id", "name", "kind", "children", "w", "h", "x", "y", "layer")

    def __init__(self, node_id: str, name: str, kind: str):
        self.id = node_id
        self.name = name
        self.kind = kind  # a state Type, or "missing", "start", "end"
        self.children: list[_Machine] = []
        self.w = self.h = self.x = self.y = 0.0
        self.layer = 0


class _Edge:
    __slots__ = ("src", "dst", "label", "dashed", "lane", "label_y", "shown")

    def __init__(self, src: _Node, dst: _Node, label: str = "", dashed: bool = False):
        self.src, self.dst, self.label, self.dashed = src, dst, label, dashed
        self.lane = None  # x of the side lane for a routed edge, else None (a direct curve)
        self.label_y = 0.0  # where the label sits, just above the target
        self.shown = label  # the label cut to the room above the target (full text in a tooltip)


class _Machine:
    __slots__ = ("title", "nodes", "edges", "w", "h")

    def __init__(self, title: str):
        self.title = title
        self.nodes: list[_Node] = []
        self.edges: list[_Edge] = []
        self.w = self.h = 0.0


def _short(text: str, limit: int = _LABEL_MAX) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_OPERATORS = {
    "Equals": "==", "LessThan": "<", "GreaterThan": ">", "LessThanEquals": "<=", "GreaterThanEquals": ">=",
}
_TESTS = {"IsNull": "null", "IsPresent": "present", "IsNumeric": "numeric", "IsString": "a string",
          "IsBoolean": "a boolean", "IsTimestamp": "a timestamp"}


def describe_rule(rule) -> str:
    """A short readable form of a choice rule, e.g. `$.action == "remedy"`."""
    if not isinstance(rule, dict):
        return "?"
    if "Condition" in rule:
        condition = rule["Condition"]
        if isinstance(condition, str) and condition.startswith("{%") and condition.endswith("%}"):
            return condition[2:-2].strip()
        return json.dumps(condition)
    for joiner in ("And", "Or"):
        if isinstance(rule.get(joiner), list):
            parts = [describe_rule(r) for r in rule[joiner]]
            parts = [f"({p})" if (" and " in p or " or " in p) else p for p in parts]
            return f" {joiner.lower()} ".join(parts)
    if "Not" in rule:
        return f"not ({describe_rule(rule['Not'])})"
    variable = rule.get("Variable", "?")
    for key, value in rule.items():
        if key in _TESTS:
            return f"{variable} is {'' if value else 'not '}{_TESTS[key]}"
        if key == "StringMatches":
            return f"{variable} matches {json.dumps(value)}"
        for kind in ("String", "Numeric", "Boolean", "Timestamp"):
            if key.startswith(kind):
                rest = key[len(kind):]
                is_path = rest.endswith("Path")
                op = _OPERATORS.get(rest[:-4] if is_path else rest)
                if op:
                    shown = value if is_path else json.dumps(value)
                    return f"{variable} {op} {shown}"
    return "?"


def _as_list(value) -> list:
    """The renderer draws whatever it can of a malformed definition: non-lists count as empty."""
    return value if isinstance(value, list) else []


def _build(node: dict, ids: list, title: str, top: bool) -> _Machine:
    machine = _Machine(title)
    states = node.get("States") if isinstance(node, dict) else None
    states = states if isinstance(states, dict) else {}

    def new_node(name, kind):
        ids[0] += 1
        created = _Node(f"n{ids[0]}", name, kind)
        machine.nodes.append(created)
        return created

    by_name: dict[str, _Node] = {}
    for name, state in states.items():
        state = state if isinstance(state, dict) else {}
        kind = state.get("Type") if isinstance(state.get("Type"), str) else "?"
        created = new_node(name, kind)
        by_name[name] = created
        if kind == "Parallel" and isinstance(state.get("Branches"), list):
            created.children = [_build(b, ids, f"Branch {i + 1}", False) for i, b in enumerate(state["Branches"])]
        elif kind == "Map":
            processor = state.get("ItemProcessor", state.get("Iterator"))
            if isinstance(processor, dict):
                created.children = [_build(processor, ids, "Item processor", False)]
    missing: dict[str, _Node] = {}

    def target(name) -> _Node:
        name = name if isinstance(name, str) else json.dumps(name)
        if name in by_name:
            return by_name[name]
        if name not in missing:
            missing[name] = new_node(name, "missing")
        return missing[name]

    end = None
    if top:
        start = new_node("Start", "start")
        if "StartAt" in node:
            machine.edges.append(_Edge(start, target(node["StartAt"])))
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        src = by_name[name]
        if "Next" in state:
            machine.edges.append(_Edge(src, target(state["Next"])))
        for rule in _as_list(state.get("Choices")):
            if isinstance(rule, dict) and "Next" in rule:
                machine.edges.append(_Edge(src, target(rule["Next"]), _short(describe_rule(rule))))
        if "Default" in state:
            machine.edges.append(_Edge(src, target(state["Default"]), "Default"))
        for catcher in _as_list(state.get("Catch")):
            if isinstance(catcher, dict) and "Next" in catcher:
                errors = catcher.get("ErrorEquals")
                label = ", ".join(map(str, errors)) if isinstance(errors, list) else "?"
                machine.edges.append(_Edge(src, target(catcher["Next"]), _short("catch: " + label), dashed=True))
        if top and (state.get("End") is True or state.get("Type") in ("Succeed", "Fail")):
            if end is None:
                end = new_node("End", "end")
            machine.edges.append(_Edge(src, end))
    return machine


def _model(definition) -> _Machine:
    if isinstance(definition, (str, bytes)):
        definition = json.loads(definition)
    return _build(definition if isinstance(definition, dict) else {}, [0], "", True)


# ---------------------------------------------------------------- mermaid


def _mermaid_text(text: str) -> str:
    """Escape text for a quoted Mermaid label ('#' first: it starts entity codes)."""
    text = " ".join(str(text).split())
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("&", "#amp;"),
                       ("`", "#96;"), ("|", "#124;"), ("{", "#123;"), ("}", "#125;")):
        text = text.replace(char, code)
    return text


_SHAPES = {
    "Choice": ('{"', '"}'), "Succeed": ('(["', '"])'), "Fail": ('(["', '"])'), "Pass": ('("', '")'),
    "Wait": ('{{"', '"}}'), "missing": ('["', '"]'), "start": ('(("', '"))'), "end": ('(("', '"))'),
}


def _mermaid_machine(machine: _Machine, lines: list, statuses: dict, indent: str):
    for node in machine.nodes:
        if node.children:
            lines.append(f'{indent}subgraph {node.id} ["{_mermaid_text(node.name)} ({node.kind})"]')
            lines.append(f"{indent}  direction TB")
            for index, child in enumerate(node.children):
                lines.append(f'{indent}  subgraph {node.id}_{index} ["{_mermaid_text(child.title)}"]')
                _mermaid_machine(child, lines, statuses, indent + "    ")
                lines.append(f"{indent}  end")
            lines.append(f"{indent}end")
        else:
            label = f"missing: {node.name}" if node.kind == "missing" else node.name
            left, right = _SHAPES.get(node.kind, ('["', '"]'))
            lines.append(f"{indent}{node.id}{left}{_mermaid_text(label)}{right}")
        status = statuses.get(node.name) if node.kind not in ("missing", "start", "end") else None
        if node.kind == "missing":
            lines.append(f"{indent}class {node.id} missing")
        elif status in STATUS_COLOURS:
            fill, stroke = STATUS_COLOURS[status]
            lines.append(f"{indent}style {node.id} fill:{fill},stroke:{stroke},stroke-width:2px")
    for edge in machine.edges:
        arrow = "-.->" if edge.dashed else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"{indent}{edge.src.id} {arrow}{label} {edge.dst.id}")


def to_mermaid(definition, statuses=None) -> str:
    """Mermaid `flowchart TD` text for a definition (dict or JSON text)."""
    lines = ["flowchart TD", "  classDef missing fill:#ffffff,stroke:#d13212,stroke-width:2px,stroke-dasharray:5 5"]
    _mermaid_machine(_model(definition), lines, statuses or {}, "  ")
    return "\n".join(lines)


# ---------------------------------------------------------------- layout


def _text_width(text: str) -> float:
    return len(text) * _CHAR_W


def _order_and_layers(machine: _Machine) -> list[list[_Node]]:
    """Layer nodes by longest forward path from the entry; order each layer."""
    succ: dict[str, list[_Node]] = {n.id: [] for n in machine.nodes}
    has_pred = set()
    for edge in machine.edges:
        succ[edge.src.id].append(edge.dst)
        has_pred.add(edge.dst.id)
    # Depth-first from the entry (and then from anything left) to find back edges.
    order: list[_Node] = []
    state: dict[str, int] = {}  # 1 = on stack, 2 = done
    back: set[tuple[str, str]] = set()
    roots = [n for n in machine.nodes if n.kind == "start"] or machine.nodes[:1]
    roots += [n for n in machine.nodes if n.id not in has_pred] + machine.nodes
    for root in roots:
        if root.id in state:
            continue
        stack = [(root, iter(succ[root.id]))]
        state[root.id] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node.id] = 2
                order.append(node)
                stack.pop()
            elif state.get(child.id) == 1:
                back.add((node.id, child.id))
            elif child.id not in state:
                state[child.id] = 1
                stack.append((child, iter(succ[child.id])))
    order.reverse()  # a topological order of the forward edges
    for node in order:
        node.layer = 0
    for node in order:
        for child in succ[node.id]:
            if (node.id, child.id) not in back:
                child.layer = max(child.layer, node.layer + 1)
    if any(n.kind == "end" for n in machine.nodes):
        end = next(n for n in machine.nodes if n.kind == "end")
        end.layer = max(n.layer for n in machine.nodes if n is not end) + 1
    layers: list[list[_Node]] = [[] for _ in range(max((n.layer for n in machine.nodes), default=-1) + 1)]
    for node in order:
        layers[node.layer].append(node)
    # One barycentre pass: place each node under the mean position of its parents.
    position = {n.id: i for i, n in enumerate(layers[0])} if layers else {}
    preds: dict[str, list[str]] = {}
    for edge in machine.edges:
        if (edge.src.id, edge.dst.id) not in back:
            preds.setdefault(edge.dst.id, []).append(edge.src.id)
    for layer in layers[1:]:
        keyed = []
        for index, node in enumerate(layer):
            parents = [position[p] for p in preds.get(node.id, []) if p in position]
            keyed.append((sum(parents) / len(parents) if parents else index, index, node))
        keyed.sort(key=lambda item: (item[0], item[1]))
        layer[:] = [item[2] for item in keyed]
        for index, node in enumerate(layer):
            position[node.id] = index
    return layers


def _layout(machine: _Machine):
    for node in machine.nodes:
        if node.children:
            for child in node.children:
                _layout(child)
            inner_w = sum(c.w for c in node.children) + _NODE_GAP * (len(node.children) - 1)
            node.w = max(inner_w + 2 * _PAD, _text_width(f"{node.name} ({node.kind})") + 2 * _PAD)
            node.h = _HEADER + _PAD + max(c.h for c in node.children) + _PAD
        elif node.kind in ("start", "end"):
            node.w, node.h = 56.0, 28.0
        else:
            label = f"missing: {node.name}" if node.kind == "missing" else node.name
            node.w = max(96.0, _text_width(label) + 2 * _PAD)
            node.h = float(_NODE_H)
    layers = _order_and_layers(machine)
    title_h = 20.0 if machine.title else 0.0
    widths = [sum(n.w for n in layer) + _NODE_GAP * (len(layer) - 1) for layer in layers]
    width = max(widths, default=96.0)
    y = title_h + (8.0 if machine.title else 0.0)
    for layer, layer_w in zip(layers, widths):
        x = (width - layer_w) / 2
        height = max(n.h for n in layer)
        for node in layer:
            node.x, node.y = x, y + (height - node.h) / 2
            x += node.w + _NODE_GAP
        y += height + _LAYER_GAP
    left, right = _route_edges(machine, width)
    shift = _LANE_GAP * (left + 1) if left else 0.0
    for node in machine.nodes:
        node.x += shift
    for edge in machine.edges:
        if edge.lane is not None:
            edge.lane += shift
    _place_labels(machine)
    machine.w = shift + width + (_LANE_GAP * (right + 1) if right else 0.0)
    machine.h = max(y - _LAYER_GAP, title_h) + 4


def _blocked(edge: _Edge, machine: _Machine) -> bool:
    """Would a direct curve for this forward edge run through a node of a layer in between?"""
    s, d = edge.src, edge.dst
    low = min(s.x + s.w / 2, d.x + d.w / 2) - 6
    high = max(s.x + s.w / 2, d.x + d.w / 2) + 6
    return any(s.layer < n.layer < d.layer and n.x < high and n.x + n.w > low for n in machine.nodes)


def _route_edges(machine: _Machine, width: float) -> tuple[int, int]:
    """Give long blocked edges and backward edges a side lane; return (left lanes, right lanes).

    Backward edges (loops) always take the right side, like the console draws
    them; long forward edges take the side nearer to them, so they run round
    the states in between instead of through them.
    """
    left = right = 0
    for edge in machine.edges:
        s, d = edge.src, edge.dst
        backward = d.layer <= s.layer
        if not backward and (d.layer == s.layer + 1 or not _blocked(edge, machine)):
            continue
        middle = (s.x + s.w / 2 + d.x + d.w / 2) / 2
        if not backward and middle < width / 2:
            edge.lane = -_LANE_GAP * (left + 1)
            left += 1
        else:
            edge.lane = width + _LANE_GAP * (right + 1)
            right += 1
    return left, right


def _fit(text: str, room: float) -> str:
    """Cut text to `room` pixels, keeping both ends: a condition's value is at its end."""
    limit = max(10, int(room / (_CHAR_W * 0.85)))
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def _place_labels(machine: _Machine):
    """Labels sit just above their target; several into one target stack upwards."""
    stacked: dict[str, list[str]] = {}
    for edge in machine.edges:
        if not edge.label:
            continue
        edge.shown = _fit(edge.label, edge.dst.w + _NODE_GAP - 8)
        seen = stacked.setdefault(edge.dst.id, [])
        if edge.label in seen:  # e.g. three `catch: States.ALL` into one handler: say it once
            edge.label_y = edge.dst.y - 12 - 17 * seen.index(edge.label)
            continue
        edge.label_y = edge.dst.y - 12 - 17 * len(seen)
        seen.append(edge.label)


# ---------------------------------------------------------------- svg


def _xml(text) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _svg_edge(edge: _Edge, ox: float, oy: float, out: list, labelled: set):
    s, d = edge.src, edge.dst
    dash = ' stroke-dasharray="6 4"' if edge.dashed else ""
    colour = "#ec7211" if edge.dashed else "#545b64"
    x1, y1 = ox + s.x + s.w / 2, oy + s.y + s.h
    x2, y2 = ox + d.x + d.w / 2, oy + d.y
    if edge.lane is None:
        mid = (y1 + y2) / 2
        path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}"
    else:
        # Down out of the source, along the side lane, then down into the target's top.
        lane = ox + edge.lane
        path = (f"M{x1:.1f},{y1:.1f} L{x1:.1f},{y1 + _TURN:.1f} L{lane:.1f},{y1 + _TURN:.1f} "
                f"L{lane:.1f},{y2 - _TURN:.1f} L{x2:.1f},{y2 - _TURN:.1f} L{x2:.1f},{y2:.1f}")
    out.append(f'<path class="edge" d="{path}" fill="none" stroke="{colour}" stroke-width="1.4"{dash} '
               f'stroke-linejoin="round" marker-end="url(#arrow)"/>')
    key = (d.id, edge.label)
    if edge.label and key not in labelled:
        labelled.add(key)
        lx, ly = x2, oy + edge.label_y
        w = _text_width(edge.shown) * 0.85 + 8
        out.append(f'<g class="edge-label"><title>{_xml(edge.label)}</title>')
        out.append(f'<rect x="{lx - w / 2:.1f}" y="{ly - 9:.1f}" width="{w:.1f}" height="17" rx="3" '
                   f'fill="#ffffff" fill-opacity="0.9"/>')
        out.append(f'<text x="{lx:.1f}" y="{ly + 4:.1f}" text-anchor="middle" '
                   f'font-size="{_FONT - 2}" fill="#16191f">{_xml(edge.shown)}</text></g>')


def _svg_machine(machine: _Machine, ox: float, oy: float, out: list, statuses: dict):
    if machine.title:
        out.append(f'<text x="{ox + 4:.1f}" y="{oy + 14:.1f}" font-size="{_FONT - 2}" fill="#545b64" '
                   f'font-style="italic">{_xml(machine.title)}</text>')
    labelled: set = set()
    for edge in machine.edges:
        _svg_edge(edge, ox, oy, out, labelled)
    for node in machine.nodes:
        _svg_node(node, ox, oy, out, statuses)


def _svg_node(node: _Node, ox: float, oy: float, out: list, statuses: dict):
    x, y = ox + node.x, oy + node.y
    status = statuses.get(node.name) if node.kind not in ("missing", "start", "end") else None
    fill, stroke = STATUS_COLOURS.get(status, DEFAULT_COLOURS)
    css = f"state state-{_xml(node.kind.lower())}" + (f" status-{_xml(status)}" if status in STATUS_COLOURS else "")
    tip = f"{node.name} ({node.kind})" + (f": {status}" if status else "")
    out.append(f'<g class="{css}" data-state="{_xml(node.name)}"><title>{_xml(tip)}</title>')
    if node.kind in ("start", "end"):
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{node.w:.1f}" height="{node.h:.1f}" rx="14" '
                   f'fill="#f2f3f3" stroke="#879596"/>')
        out.append(f'<text x="{x + node.w / 2:.1f}" y="{y + node.h / 2 + 4:.1f}" text-anchor="middle" '
                   f'font-size="{_FONT - 1}" fill="#545b64">{_xml(node.name)}</text></g>')
        return
    if node.kind == "missing":
        fill, stroke = MISSING_COLOURS
        dash, label = ' stroke-dasharray="5 4"', f"missing: {node.name}"
    else:
        dash, label = "", node.name
    rx = 20 if node.kind in ("Succeed", "Fail") else 6 if node.kind in ("Pass", "Choice", "Wait") else 3
    if node.children:
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{node.w:.1f}" height="{node.h:.1f}" rx="6" '
                   f'fill="{fill}" fill-opacity="0.5" stroke="{stroke}" stroke-width="1.6" stroke-dasharray="8 4"/>')
        out.append(f'<text x="{x + _PAD:.1f}" y="{y + 18:.1f}" font-size="{_FONT}" font-weight="bold" '
                   f'fill="#16191f">{_xml(node.name)} <tspan font-weight="normal" fill="#545b64">'
                   f'({_xml(node.kind)})</tspan></text>')
        cx = x + _PAD
        for child in node.children:
            _svg_machine(child, cx, y + _HEADER + _PAD, out, statuses)
            cx += child.w + _NODE_GAP
        out.append("</g>")
        return
    width = 2 if status in STATUS_COLOURS else 1.4
    out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{node.w:.1f}" height="{node.h:.1f}" rx="{rx}" '
               f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dash}/>')
    out.append(f'<text x="{x + node.w / 2:.1f}" y="{y + node.h / 2 + 4.5:.1f}" text-anchor="middle" '
               f'font-size="{_FONT}" fill="#16191f">{_xml(label)}</text></g>')


def to_svg(definition, statuses=None) -> str:
    """A self-contained SVG drawing of a definition (dict or JSON text)."""
    machine = _model(definition)
    _layout(machine)
    margin = 16
    width, height = machine.w + 2 * margin, machine.h + 2 * margin
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#545b64"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    _svg_machine(machine, margin, margin, out, statuses or {})
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------- notebook


def _text_summary(definition, statuses) -> str:
    lines = []

    def walk(machine: _Machine, indent: str):
        for edge in machine.edges:
            label = f" [{edge.label}]" if edge.label else ""
            lines.append(f"{indent}{edge.src.name} -> {edge.dst.name}{label}")
        for node in machine.nodes:
            for child in node.children:
                lines.append(f"{indent}{node.name} / {child.title}:")
                walk(child, indent + "  ")

    walk(_model(definition), "  ")
    if statuses:
        lines.append("statuses: " + ", ".join(f"{k}={v}" for k, v in statuses.items()))
    return "State machine graph:\n" + "\n".join(lines)


def graph_bundle(definition, statuses=None) -> dict:
    """A Jupyter MIME bundle: Mermaid for JupyterLab, SVG for static exports, text for terminals."""
    return {
        "text/vnd.mermaid": to_mermaid(definition, statuses),
        "image/svg+xml": to_svg(definition, statuses),
        "text/plain": _text_summary(definition, statuses),
    }


class StateMachineGraph:
    """Display a definition in a notebook: `StateMachineGraph(definition, statuses)`."""

    def __init__(self, definition, statuses=None):
        self.definition = definition
        self.statuses = dict(statuses or {})

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = graph_bundle(self.definition, self.statuses)
        if include:
            bundle = {k: v for k, v in bundle.items() if k in include}
        if exclude:
            bundle = {k: v for k, v in bundle.items() if k not in exclude}
        return bundle

    def __repr__(self):
        return _text_summary(self.definition, self.statuses)
