"""Draw a state machine offline: Mermaid text and a self-contained SVG.

JupyterLab 4 renders `text/vnd.mermaid` natively, but nbconvert's HTML export
loads Mermaid from a CDN, so an offline export would show only the source.
`graph_bundle` therefore returns both, plus plain text, in one MIME bundle:
every front end picks the richest one it can show.

The SVG is laid out here with a small layered (Sugiyama-style) layout: states
are layered by their longest path from the start, every edge label is a box of
its own in the row just below its source, long edges run through their own
corridor between the states they pass, and each terminal state (End, Succeed,
Fail) ends in a small end marker just below it. Several edges between the same
two states are drawn as one edge with one combined label. Parallel and Map
states are boxes that hold their branches side by side.

Passing `statuses={"StateName": "succeeded" | "failed" | "caught_error" |
"in_progress" | "not_run"}` colours the states the way the Step Functions
console does.
"""

from __future__ import annotations

import json
import re

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
_LABEL_FONT = 11
_LINE_H = 14  # line height of edge labels
_NODE_H = 40
_PAD = 16
_NODE_GAP = 36  # between two boxes side by side
_EDGE_GAP = 14  # between an edge running past and a box or another edge
_ROW_GAP = 20  # vertical room between two rows, where edges curve
_HEADER = 26
_LABEL_MAX = 40  # Mermaid shows a condition in full up to this length
_WRAP = 230.0  # edge labels wrap at this width (pixels)
_LABEL_LINES = 4
_END_R = 6.0  # radius of a terminal state's end marker
_FONTS = "Helvetica, Arial, 'Liberation Sans', sans-serif"

# Helvetica/Arial advance widths (1/1000 em) to size boxes to their text.
_WIDTHS = {}
for _chars, _w in (("iljI'|", 222), (" .,:;!/\\[]()ftr-`", 300), ('"*', 355), ("^", 469),
                   ("abcdeghknopqsuvxyz0123456789$_#?L", 556), ("=+<>~", 584), ("FTZJ", 611),
                   ("ABEKPSVXYw&", 667), ("CDHNRU", 722), ("GOQ", 778), ("mM%", 833), ("W@", 944)):
    for _c in _chars:
        _WIDTHS[_c] = _w


def _text_width(text: str, size: float = _FONT) -> float:
    """Width of text in Helvetica/Arial, with a little slack for other sans-serif fonts."""
    return sum(_WIDTHS.get(c, 600) for c in str(text)) * size / 1000 * 1.06


# ---------------------------------------------------------------- model


class _Node:
    __slots__ = ("id", "name", "kind", "children", "w", "h", "x", "y", "layer", "loop", "members")

    def __init__(self, node_id: str, name: str, kind: str):
        self.id = node_id
        self.name = name
        self.kind = kind  # a state Type, or "missing", "start", "end"
        self.children: list[_Machine] = []
        self.members: list[str] = []  # a folded group: the states it stands for
        self.w = self.h = self.x = self.y = 0.0
        self.layer = 0
        self.loop = None  # an edge from this state to itself, drawn as a loop on its right


class _Edge:
    """One drawn edge: every transition between the same two states, merged."""

    __slots__ = ("src", "dst", "parts", "path", "box", "lines")

    def __init__(self, src: _Node, dst: _Node):
        self.src, self.dst = src, dst
        self.parts: list[tuple[str, str, str]] = []  # (kind: next|rule|default|catch, full text, short text)
        self.path = ""
        self.box = None  # (x, y, w, h) of the label, relative to the machine
        self.lines: list[str] = []

    @property
    def dashed(self) -> bool:
        return bool(self.parts) and all(kind == "catch" for kind, _, _ in self.parts)

    @property
    def label(self) -> str:
        """The full text of every labelled transition, for tooltips and text output."""
        return " | ".join(_unique(full for kind, full, _ in self.parts if kind != "next"))

    @property
    def short(self) -> list[str]:
        """One readable line per transition; catches of one edge share a line."""
        lines, errors = [], []
        for kind, _, short in self.parts:
            if kind == "catch":
                errors.extend(short.split(", "))
            elif kind != "next":
                lines.append(short)
        if errors:
            lines.append("catch: " + ", ".join(_unique(errors)))
        return _unique(lines)


class _Machine:
    __slots__ = ("title", "nodes", "edges", "w", "h")

    def __init__(self, title: str):
        self.title = title
        self.nodes: list[_Node] = []
        self.edges: list[_Edge] = []
        self.w = self.h = 0.0


def _unique(items) -> list:
    seen: list = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _short(text: str, limit: int = _LABEL_MAX) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_OPERATORS = {
    "Equals": "==", "LessThan": "<", "GreaterThan": ">", "LessThanEquals": "<=", "GreaterThanEquals": ">=",
}
_TESTS = {"IsNull": "null", "IsPresent": "present", "IsNumeric": "numeric", "IsString": "a string",
          "IsBoolean": "a boolean", "IsTimestamp": "a timestamp"}


def describe_rule(rule) -> str:
    """A readable form of a choice rule with its full paths, e.g. `$.taskresult.action == "remedy"`."""
    return _describe(rule, lambda path: path)


# Path segments that say little on their own: `policy.arn` reads better than `arn`.
_GENERIC = {"arn", "id", "name", "value", "values", "type", "status", "state", "key", "code", "message",
            "error", "cause", "length", "count", "result", "results", "output", "input", "body", "data",
            "items", "item", "payload", "detail", "response", "request", "version", "versionid", "text"}
_SEGMENT = re.compile(r"\[[^\]]*\]|[^.\[\]]+")


def short_path(path) -> str:
    """The last meaningful segments of a JSONPath: `$.taskresult.action` -> `action`.

    `$.detail.responseElements.policy.arn` -> `policy.arn` (a bare `arn` says too
    little); variables (`$count`), JSONata and the whole input (`$`) stay as they are.
    """
    if not isinstance(path, str):
        return json.dumps(path)
    if path.startswith("$$."):
        prefix, rest = "$$.", path[3:]
    elif path.startswith("$."):
        prefix, rest = "", path[2:]
    else:
        return path
    segments = []  # each a name with its [index] suffixes
    for token in _SEGMENT.findall(rest):
        if token.startswith("[") and segments:
            segments[-1] += token
        else:
            segments.append(token)
    if not segments:
        return path
    keep = 1
    bare = segments[-1].split("[")[0]
    if len(segments) > 1 and (bare.lower() in _GENERIC or len(bare) <= 2 or not bare):
        keep = 2
    return prefix + ".".join(segments[-keep:])


def summarize_rule(rule) -> str:
    """A short readable form of a choice rule: short paths, `has a, b` for presence checks."""
    if not isinstance(rule, dict):
        return "?"
    for joiner in ("And", "Or"):
        parts = rule.get(joiner)
        if not isinstance(parts, list):
            continue
        rules = [r for r in parts if isinstance(r, dict)]
        present = [r for r in rules if r.get("IsPresent") is True and "Variable" in r]
        if joiner == "And" and rules and len(present) == len(rules):
            return "has " + ", ".join(_unique(short_path(r["Variable"]) for r in present))
        if joiner == "And":  # `has x and x == 1` says `x == 1` already
            tested = [r.get("Variable") for r in rules if r not in present] + [
                v for r in rules if r not in present for v in _variables(r)]
            kept = [r for r in rules if r not in present or r["Variable"] not in tested]
            if len(kept) == 1:
                return summarize_rule(kept[0])
            rules = kept
        if joiner == "Or" and len(rules) > 1:
            same = {r.get("Variable") for r in rules}
            ops = {k for r in rules for k in r if k not in ("Variable", "Next", "Comment", "Assign", "Output")}
            if len(same) == 1 and len(ops) == 1 and next(iter(ops)).endswith("Equals") \
                    and not next(iter(ops)).endswith("PathEquals") and not next(iter(ops)).endswith("Path"):
                op = next(iter(ops))
                values = ", ".join(json.dumps(r[op]) for r in rules)
                return f"{short_path(next(iter(same)))} in ({values})"
        texts = [summarize_rule(r) for r in rules] + ["?"] * (len(parts) - len(rules))
        texts = [f"({t})" if (" and " in t or " or " in t) else t for t in texts]
        return f" {joiner.lower()} ".join(texts)
    if isinstance(rule.get("Not"), dict):
        inner = rule["Not"]
        if inner.get("IsPresent") is True and "Variable" in inner:
            return f"no {short_path(inner['Variable'])}"
        return f"not ({summarize_rule(inner)})"
    if "Variable" in rule and "IsPresent" in rule:
        return f"{'has' if rule['IsPresent'] else 'no'} {short_path(rule['Variable'])}"
    return _describe(rule, short_path)


def _variables(rule) -> list:
    found = []
    if isinstance(rule, dict):
        if "Variable" in rule:
            found.append(rule["Variable"])
        for key in ("And", "Or"):
            for part in _as_list(rule.get(key)):
                found.extend(_variables(part))
        found.extend(_variables(rule.get("Not")))
    return found


def _describe(rule, path) -> str:
    if not isinstance(rule, dict):
        return "?"
    if "Condition" in rule:
        condition = rule["Condition"]
        if isinstance(condition, str) and condition.startswith("{%") and condition.endswith("%}"):
            return " ".join(condition[2:-2].split())
        return json.dumps(condition)
    for joiner in ("And", "Or"):
        if isinstance(rule.get(joiner), list):
            parts = [_describe(r, path) for r in rule[joiner]]
            parts = [f"({p})" if (" and " in p or " or " in p) else p for p in parts]
            return f" {joiner.lower()} ".join(parts)
    if "Not" in rule:
        return f"not ({_describe(rule['Not'], path)})"
    variable = path(rule.get("Variable", "?"))
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
                    shown = path(value) if is_path else json.dumps(value)
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

    merged: dict[tuple[str, str], _Edge] = {}

    def connect(src: _Node, dst: _Node, kind: str = "next", full: str = "", short: str = ""):
        edge = merged.get((src.id, dst.id))
        if edge is None:
            edge = merged[(src.id, dst.id)] = _Edge(src, dst)
            machine.edges.append(edge)
        edge.parts.append((kind, full, short))

    if top:
        start = new_node("Start", "start")
        if "StartAt" in node:
            connect(start, target(node["StartAt"]))
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        src = by_name[name]
        if "Next" in state:
            connect(src, target(state["Next"]))
        for rule in _as_list(state.get("Choices")):
            if isinstance(rule, dict) and "Next" in rule:
                connect(src, target(rule["Next"]), "rule", describe_rule(rule), summarize_rule(rule))
        if "Default" in state:
            connect(src, target(state["Default"]), "default", "Default", "Default")
        for catcher in _as_list(state.get("Catch")):
            if isinstance(catcher, dict) and "Next" in catcher:
                errors = catcher.get("ErrorEquals")
                errors = ", ".join(map(str, errors)) if isinstance(errors, list) else "?"
                connect(src, target(catcher["Next"]), "catch", "catch: " + errors, errors)
        if top and (state.get("End") is True or state.get("Type") in ("Succeed", "Fail")):
            connect(src, new_node("End", "end"))  # each terminal state gets an end marker of its own
    return machine


FOLD_AT = 4  # this many alike states side by side fold into one box (the full picture keeps them)


def _fold(machine: _Machine) -> None:
    """Fold a fan of alike states into one box: a state whose transitions lead to FOLD_AT or more states
    that nothing else leads to, of one type, each with only a `Next` to the same state (the nine
    `...Target` states of the orchestrator), or each still to be written (a machine half built names
    them before it has them). Side by side they make the picture several screens wide."""
    incoming: dict[str, list[_Edge]] = {}
    outgoing: dict[str, list[_Edge]] = {}
    for edge in machine.edges:
        incoming.setdefault(edge.dst.id, []).append(edge)
        outgoing.setdefault(edge.src.id, []).append(edge)
    for source in list(machine.nodes):
        fans: dict[tuple, list[_Edge]] = {}
        for edge in outgoing.get(source.id, []):
            node = edge.dst
            out = outgoing.get(node.id, [])
            if node.kind == "missing" and not out and len(incoming.get(node.id, [])) == 1:
                fans.setdefault(("missing", None), []).append(edge)
                continue
            if (node.children or node.kind in ("missing", "start", "end") or node.loop is not None
                    or len(incoming.get(node.id, [])) != 1 or len(out) != 1
                    or any(kind != "next" for kind, _, _ in out[0].parts) or out[0].dst is node):
                continue
            fans.setdefault((node.kind, out[0].dst.id), []).append(edge)
        for (kind, _), edges in fans.items():
            if len(edges) < FOLD_AT:
                continue
            members = [edge.dst for edge in edges]
            group = _Node(members[0].id, _group_name([m.name for m in members]), kind)
            group.members = [m.name for m in members]
            into = _Edge(source, group)
            into.parts = [_fan_label([part for edge in edges for part in edge.parts], len(members))]
            added = [into]
            dropped = {id(e) for e in edges}
            if kind != "missing":  # states still to write lead nowhere yet
                onward = _Edge(group, outgoing[members[0].id][0].dst)
                onward.parts = [("next", "", "")]
                added.append(onward)
                dropped |= {id(outgoing[m.id][0]) for m in members}
            gone = {id(m) for m in members}
            position = machine.nodes.index(members[0])
            machine.nodes = [n for n in machine.nodes if id(n) not in gone]
            machine.nodes.insert(position, group)
            machine.edges = [e for e in machine.edges if id(e) not in dropped] + added


def _fan_label(parts: list, count: int) -> tuple:
    """One label for the transitions into a folded group: "eventName == one of 9 values"."""
    fulls = _unique(full for kind, full, _ in parts if kind != "next")
    shorts = [short for kind, _, short in parts if kind == "rule"]
    variables = {short.split(" == ", 1)[0] for short in shorts if " == " in short}
    if len(variables) == 1 and len(shorts) == len(parts):
        short = f"{variables.pop()} == one of {count} values"
    else:
        short = f"{count} transitions, one to each"
    return ("rule", " | ".join(fulls) or short, short)


def _group_name(names: list[str]) -> str:
    """"9 ...Target states": the count, and the ending the names share (if any). A name or two that do
    not share it are named beside the count ("16 ...Target states + PathChangeOnly")."""
    ending = names[0]
    for name in names[1:]:
        while ending and not name.endswith(ending):
            ending = ending[1:]
    if len(ending) >= 3:
        return f"{len(names)} …{ending} states"
    words = [re.findall(r"[A-Z][a-z0-9]*", name)[-1:] for name in names]
    last = [w[0] for w in words if w]
    common = max(set(last), key=last.count) if last else ""
    others = [name for name in names if not name.endswith(common)] if common else names
    if common and len(names) - len(others) >= FOLD_AT and len(others) <= 2:
        return f"{len(names) - len(others)} …{common} states + {', '.join(others)}"
    return f"{len(names)} states"


def _model(definition, fold: bool = True, ran: set | None = None) -> _Machine:
    if isinstance(definition, (str, bytes)):
        definition = json.loads(definition)
    machine = _build(definition if isinstance(definition, dict) else {}, [0], "", True)
    if ran is not None:
        _keep_only(machine, ran)
    if fold:
        pending = [machine]
        while pending:
            current = pending.pop()
            _fold(current)
            pending.extend(child for node in current.nodes for child in node.children)
    return machine


def _keep_only(machine: _Machine, ran: set) -> None:
    """Only the states that ran (and the start, and their end markers): the path an execution took."""
    kept = {n.id for n in machine.nodes if n.kind == "start" or n.name in ran}
    kept |= {e.dst.id for e in machine.edges if e.dst.kind == "end" and e.src.id in kept}
    machine.nodes = [n for n in machine.nodes if n.id in kept]
    machine.edges = [e for e in machine.edges if e.src.id in kept and e.dst.id in kept]
    for node in machine.nodes:
        if node.loop is not None and node.loop.src.id not in kept:
            node.loop = None


def ran_states(statuses: dict) -> set:
    """The states an execution entered (every status but "not_run")."""
    return {name for name, status in (statuses or {}).items() if status and status != "not_run"}


def _status(node: _Node, statuses: dict):
    """A state's status; a folded group's is the one of its states that ran (if one did)."""
    if node.kind in ("missing", "start", "end"):
        return None
    if not node.members:
        return statuses.get(node.name)
    ran = [statuses[m] for m in node.members if statuses.get(m) not in (None, "not_run")]
    return ran[0] if ran else statuses.get(node.members[0])


def _shown_name(node: _Node, statuses: dict) -> str:
    """What a box says: a folded group names the state of it that ran, with how many others it holds."""
    if node.members and statuses:
        ran = [m for m in node.members if statuses.get(m) not in (None, "not_run")]
        if len(ran) == 1:
            return f"{ran[0]} (+{len(node.members) - 1} more)"
    return f"missing: {node.name}" if node.kind == "missing" else node.name


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


def _mermaid_label(edge: _Edge) -> str:
    """The full condition when it is short, its summary when long; one line per transition."""
    lines, errors = [], []
    for kind, full, short in edge.parts:
        if kind == "catch":
            errors.extend(short.split(", "))
        elif kind != "next":
            lines.append(full if len(full) <= _LABEL_MAX else _short(short, 2 * _LABEL_MAX))
    if errors:
        lines.append(_short("catch: " + ", ".join(_unique(errors)), 2 * _LABEL_MAX))
    return "<br>".join(_mermaid_text(line) for line in _unique(lines))


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
        elif node.kind == "end":
            lines.append(f'{indent}{node.id}((" ")):::endmark')
        else:
            left, right = _SHAPES.get(node.kind, ('["', '"]'))
            lines.append(f"{indent}{node.id}{left}{_mermaid_text(_shown_name(node, statuses))}{right}")
        status = _status(node, statuses)
        if node.kind == "missing":
            lines.append(f"{indent}class {node.id} missing")
        elif status in STATUS_COLOURS:
            fill, stroke = STATUS_COLOURS[status]
            lines.append(f"{indent}style {node.id} fill:{fill},stroke:{stroke},stroke-width:2px")
    for edge in machine.edges:
        arrow = "-.->" if edge.dashed else "-->"
        text = _mermaid_label(edge)
        label = f'|"{text}"|' if text else ""
        lines.append(f"{indent}{edge.src.id} {arrow}{label} {edge.dst.id}")


def to_mermaid(definition, statuses=None, fold: bool = True) -> str:
    """Mermaid `flowchart TD` text for a definition (dict or JSON text); `fold`: alike states side by side
    in one box (see _fold)."""
    lines = ["flowchart TD", "  classDef missing fill:#ffffff,stroke:#d13212,stroke-width:2px,stroke-dasharray:5 5",
             "  classDef endmark fill:#545b64,stroke:#545b64"]
    _mermaid_machine(_model(definition, fold), lines, statuses or {}, "  ")
    return "\n".join(lines)


# ---------------------------------------------------------------- layout


class _Item:
    """A box in one row of the layered layout: a state, an edge label, or a point an edge runs through."""

    __slots__ = ("node", "edge", "w", "h", "x", "rank", "up", "down")

    def __init__(self, rank: int, w: float = 0.0, h: float = 0.0, node: _Node | None = None,
                 edge: _Edge | None = None):
        self.node, self.edge, self.rank, self.w, self.h = node, edge, rank, w, h
        self.x = 0.0
        self.up: list[_Item] = []
        self.down: list[_Item] = []

    @property
    def boxed(self) -> bool:
        return self.node is not None and self.node.kind != "end"


def _wrap(lines: list[str]) -> list[str]:
    """Wrap label lines at `_WRAP` pixels; at most `_LABEL_LINES` lines (the tooltip has the rest)."""
    out = []
    for line in lines:
        current = ""
        for word in line.split(" "):
            while _text_width(word, _LABEL_FONT) > _WRAP:  # one very long token: cut it
                cut = len(word) - 1
                while cut > 1 and _text_width(word[:cut] + "…", _LABEL_FONT) > _WRAP:
                    cut -= 1
                word = word[:cut] + "…"
            candidate = f"{current} {word}" if current else word
            if current and _text_width(candidate, _LABEL_FONT) > _WRAP:
                out.append(current)
                current = word
            else:
                current = candidate
        out.append(current)
    if len(out) > _LABEL_LINES:
        out = out[:_LABEL_LINES]
        last = out[-1]
        while last and _text_width(last + " …", _LABEL_FONT) > _WRAP:
            last = last[:-1]
        out[-1] = last.rstrip() + " …"
    return out


def _layers(machine: _Machine, edges: list[_Edge]) -> tuple[list[_Node], set]:
    """Layer states by their longest forward path from the start; return (order, back edges)."""
    succ: dict[str, list[_Edge]] = {n.id: [] for n in machine.nodes}
    has_pred = set()
    for edge in edges:
        succ[edge.src.id].append(edge)
        has_pred.add(edge.dst.id)
    order: list[_Node] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    back: set[int] = set()
    roots = [n for n in machine.nodes if n.kind == "start"]
    roots += [n for n in machine.nodes if n.id not in has_pred] + machine.nodes
    for root in roots:
        if root.id in state:
            continue
        stack = [(root, iter(succ[root.id]))]
        state[root.id] = 1
        while stack:
            node, children = stack[-1]
            edge = next(children, None)
            if edge is None:
                state[node.id] = 2
                order.append(node)
                stack.pop()
            elif state.get(edge.dst.id) == 1:
                back.add(id(edge))
            elif edge.dst.id not in state:
                state[edge.dst.id] = 1
                stack.append((edge.dst, iter(succ[edge.dst.id])))
    order.reverse()  # a topological order of the forward edges
    for node in order:
        node.layer = 0
    for node in order:
        for edge in succ[node.id]:
            if id(edge) not in back:
                edge.dst.layer = max(edge.dst.layer, node.layer + 1)
    return order, back


def _separation(a: _Item, b: _Item) -> float:
    gap = _NODE_GAP if a.boxed and b.boxed else _EDGE_GAP
    return a.w / 2 + gap + b.w / 2


def _spread(desired: list[float], weights: list[float], gaps: list[float]) -> list[float]:
    """Values in this order, each at least its gap after the one before, as near desired as can be
    (weighted least squares, by pooling adjacent violators)."""
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    blocks: list[list[float]] = []  # [sum of w*y, sum of w, count]
    for want, offset, weight in zip(desired, offsets, weights):
        blocks.append([weight * (want - offset), weight, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, weight_sum, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += weight_sum
            blocks[-1][2] += count
    placed = []
    for total, weight_sum, count in blocks:
        placed.extend([total / weight_sum] * int(count))
    return [value + offset for value, offset in zip(placed, offsets)]


def _pack(items: list[_Item], desired: list[float], weights: list[float]):
    """Put items (in this order, kept apart) as near their desired centres as can be."""
    gaps = [_separation(a, b) for a, b in zip(items, items[1:])]
    for item, x in zip(items, _spread(desired, weights, gaps)):
        item.x = x


def _crossings(rows: list[list[_Item]]) -> int:
    count = 0
    for row in rows[:-1]:
        position = {id(item): i for i, item in enumerate(row)}
        below = {id(item): i for i, item in enumerate(rows[row[0].rank + 1])} if row else {}
        links = [(position[id(a)], below[id(b)]) for a in row for b in a.down if id(b) in below]
        for i, (a1, b1) in enumerate(links):
            for a2, b2 in links[i + 1:]:
                if (a1 - a2) * (b1 - b2) < 0:
                    count += 1
    return count


def _order(rows: list[list[_Item]]):
    """Barycentre sweeps down and up; keep the order with the fewest crossings."""
    def sweep(indices, neighbours):
        for r in indices:
            previous = {id(item): i for i, item in enumerate(rows[r - 1 if neighbours == "up" else r + 1])}
            here = rows[r]
            keyed = []
            for index, item in enumerate(here):
                linked = [previous[id(n)] for n in getattr(item, neighbours) if id(n) in previous]
                keyed.append((sum(linked) / len(linked) if linked else index, index, item))
            keyed.sort(key=lambda k: (k[0], k[1]))
            here[:] = [k[2] for k in keyed]

    best, fewest = [list(row) for row in rows], _crossings(rows)
    for turn in range(8):
        if turn % 2 == 0:
            sweep(range(1, len(rows)), "up")
        else:
            sweep(range(len(rows) - 2, -1, -1), "down")
        count = _crossings(rows)
        if count < fewest:
            best, fewest = [list(row) for row in rows], count
    rows[:] = best


def _place(rows: list[list[_Item]]):
    """Centres: each item under (or over) the mean of its neighbours, the rows kept apart."""
    for row in rows:
        x = 0.0
        for index, item in enumerate(row):
            if index:
                x += _separation(row[index - 1], item)
            item.x = x
    for turn in range(16):
        both = turn >= 12
        down = turn % 2 == 0
        indices = range(len(rows)) if down else range(len(rows) - 1, -1, -1)
        for r in indices:
            row = rows[r]
            desired, weights = [], []
            for item in row:
                linked = item.up + item.down if both else (item.up if down else item.down)
                if linked:
                    desired.append(sum(n.x for n in linked) / len(linked))
                    # Keep long edges straight and end markers right under their state.
                    weights.append(len(linked) * (1.0 if item.boxed else 8.0 if item.node else 2.0))
                else:
                    desired.append(item.x)
                    weights.append(0.2)
            _pack(row, desired, weights)


def _curve(points: list[tuple[float, float]]) -> str:
    """Straight where vertical, an S-curve with vertical ends where it changes column."""
    x0, y0 = points[0]
    path = [f"M{x0:.1f},{y0:.1f}"]
    for x1, y1 in points[1:]:
        if abs(x1 - x0) < 0.5:
            path.append(f"L{x1:.1f},{y1:.1f}")
        else:
            mid = (y0 + y1) / 2
            path.append(f"C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(path)


def _ports(node: _Node, neighbours: list[float]) -> list[float]:
    """Where n edges leave (or enter) a box: straight above/below their other end where the box
    allows, kept apart along its side, in the order of their other ends."""
    count = len(neighbours)
    low, high = node.x + min(8.0, node.w / 2), node.x + node.w - min(8.0, node.w / 2)
    step = min(16.0, (high - low) / (count - 1)) if count > 1 else 0.0
    ranked = sorted(range(count), key=lambda i: (neighbours[i], i))
    wanted = [min(max(neighbours[i], low), high) for i in ranked]
    placed = _spread(wanted, [1.0] * count, [step] * (count - 1))
    shift = max(0.0, low - placed[0]) - max(0.0, placed[-1] - high)
    ports = [0.0] * count
    for place, i in enumerate(ranked):
        ports[i] = placed[place] + shift
    return ports


def _straighten(rows: list[list[_Item]], chains: list):
    """Line up the points of each long edge in as few columns as the rows leave room for."""
    where = {}
    for row in rows:
        for index, item in enumerate(row):
            where[id(item)] = (row, index)

    def room(item):
        row, index = where[id(item)]
        low = row[index - 1].x + _separation(row[index - 1], item) if index else -1e9
        high = row[index + 1].x - _separation(item, row[index + 1]) if index + 1 < len(row) else 1e9
        return low, high

    def settle(run, low, high):
        mean = sum(item.x for item in run) / len(run)
        for item in run:
            item.x = min(max(mean, low), high)

    for _, chain, _ in chains:
        run, low, high = [], -1e9, 1e9
        for item in chain[1:-1]:
            item_low, item_high = room(item)
            if run and max(low, item_low) > min(high, item_high):
                settle(run, low, high)
                run, low, high = [], -1e9, 1e9
                item_low, item_high = room(item)
            run.append(item)
            low, high = max(low, item_low), min(high, item_high)
        if run:
            settle(run, low, high)


def _layout(machine: _Machine):
    for node in machine.nodes:
        if node.children:
            for child in node.children:
                _layout(child)
            inner_w = sum(c.w for c in node.children) + _NODE_GAP * (len(node.children) - 1)
            node.w = max(inner_w + 2 * _PAD, _text_width(f"{node.name} ({node.kind})", _FONT) + 2 * _PAD)
            node.h = _HEADER + _PAD + max(c.h for c in node.children) + _PAD
        elif node.kind == "start":
            node.w, node.h = 56.0, 28.0
        elif node.kind == "end":
            node.w = node.h = 2 * _END_R
        else:
            labels = [f"missing: {node.name}" if node.kind == "missing" else node.name]
            if node.kind != "missing":  # a group still to write never names one member as the one that ran
                labels += [f"{m} (+{len(node.members) - 1} more)" for m in node.members]
            node.w = max(96.0, max(_text_width(label) for label in labels) + 2 * _PAD)
            node.h = float(_NODE_H)
    edges = []
    for edge in machine.edges:
        edge.lines = _wrap(edge.short)
        edge.box = None
        if edge.src is edge.dst:
            edge.src.loop = edge
        else:
            edges.append(edge)
    order, back = _layers(machine, edges)

    # Rows: states on even rows, edge labels and end markers on the odd row below.
    rank: dict[str, int] = {}
    for node in order:
        rank[node.id] = 2 * node.layer
    for edge in edges:
        if edge.dst.kind == "end":
            rank[edge.dst.id] = 2 * edge.src.layer + 1
    items: dict[str, _Item] = {}
    rows: list[list[_Item]] = [[] for _ in range(max(rank.values(), default=0) + 1)]
    for node in order:
        reserve = 0.0
        height = node.h
        if node.loop is not None:
            label_w = max((_text_width(t, _LABEL_FONT) for t in node.loop.lines), default=-10) + 10
            reserve = 34 + label_w
            height = max(height, len(node.loop.lines) * _LINE_H + 4)
        item = items[node.id] = _Item(rank[node.id], node.w + 2 * reserve, height, node=node)
        rows[item.rank].append(item)
    chains = []
    for edge in edges:
        upward = id(edge) in back
        top, bottom = (edge.dst, edge.src) if upward else (edge.src, edge.dst)
        first, last = rank[top.id], rank[bottom.id]
        label_rank = (last - 1 if upward else first + 1) if edge.lines else None
        chain = [items[top.id]]
        for r in range(first + 1, last):
            if r == label_rank:
                w = max(_text_width(t, _LABEL_FONT) for t in edge.lines) + 10
                item = _Item(r, w, len(edge.lines) * _LINE_H + 4, edge=edge)
            else:
                item = _Item(r, edge=edge)
            rows[r].append(item)
            chain.append(item)
        chain.append(items[bottom.id])
        for a, b in zip(chain, chain[1:]):
            a.down.append(b)
            b.up.append(a)
        chains.append((edge, chain, upward))
    rows = [row for row in rows if row] if not rows or all(rows) else rows
    _order(rows)
    _place(rows)
    _straighten(rows, chains)
    left = min((item.x - item.w / 2 for row in rows for item in row), default=0.0)
    right = max((item.x + item.w / 2 for row in rows for item in row), default=96.0)
    title_h = 20.0 if machine.title else 0.0
    y = title_h + (8.0 if machine.title else 0.0)
    band: dict[int, tuple[float, float]] = {}
    for r, row in enumerate(rows):
        height = max((item.h for item in row), default=0.0)
        band[r] = (y, y + height)
        for item in row:
            item.x -= left
            if item.node is not None:
                item.node.x = item.x - item.node.w / 2
                item.node.y = y + (height - item.node.h) / 2
            elif item.h:
                item.edge.box = (item.x - item.w / 2, y + (height - item.h) / 2, item.w, item.h)
        y += height + _ROW_GAP
    machine.w = max(right - left, 96.0 if not machine.nodes else 0.0)
    machine.h = max(y - _ROW_GAP, title_h) + 4

    # Edge paths: out of the bottom of the upper box, through the rows between, into the top of the lower.
    outs: dict[str, list] = {}
    ins: dict[str, list] = {}
    for index, (edge, chain, upward) in enumerate(chains):
        outs.setdefault(chain[0].node.id, []).append((index, chain[1].x))
        ins.setdefault(chain[-1].node.id, []).append((index, chain[-2].x))
    start_x, end_x = {}, {}
    for table, found in ((outs, start_x), (ins, end_x)):
        for node_id, ends in table.items():
            node = next(item.node for item in (items[node_id],))
            for (index, _), port in zip(ends, _ports(node, [x for _, x in ends])):
                found[index] = port
    for index, (edge, chain, upward) in enumerate(chains):
        top, bottom = chain[0].node, chain[-1].node
        x = start_x[index]
        points = [(x, top.y + top.h)]
        if band[chain[0].rank][1] > top.y + top.h + 0.5:
            points.append((x, band[chain[0].rank][1]))
        for item in chain[1:-1]:
            upper, lower = band[item.rank]
            points.append((item.x, upper))
            if lower > upper:
                points.append((item.x, lower))
        x = end_x[index]
        if bottom.y > band[chain[-1].rank][0] + 0.5:
            points.append((x, band[chain[-1].rank][0]))
        points.append((x, bottom.y))
        edge.path = _curve(points[::-1] if upward else points)
    for node in machine.nodes:
        if node.loop is not None:
            edge, right_x = node.loop, node.x + node.w
            top_y, low_y = node.y + 10, node.y + node.h - 10
            edge.path = (f"M{right_x:.1f},{top_y:.1f} C{right_x + 30:.1f},{top_y - 6:.1f} "
                         f"{right_x + 30:.1f},{low_y + 6:.1f} {right_x:.1f},{low_y:.1f}")
            if edge.lines:
                w = max(_text_width(t, _LABEL_FONT) for t in edge.lines) + 10
                h = len(edge.lines) * _LINE_H + 4
                edge.box = (right_x + 30, node.y + node.h / 2 - h / 2, w, h)


def layout_boxes(definition, fold: bool = True) -> list[tuple[str, str, float, float, float, float]]:
    """Every box the SVG draws, as (kind, name, x, y, width, height) in drawing coordinates.

    kind is "state", "group" (a Parallel or Map box, which holds other boxes),
    "end" (a terminal state's end marker) or "label" (an edge label, named by
    its full text); used to check that nothing overlaps.
    """
    machine = _model(definition, fold)
    _layout(machine)
    boxes: list = []

    def walk(machine: _Machine, ox: float, oy: float):
        for edge in machine.edges:
            if edge.box:
                x, y, w, h = edge.box
                boxes.append(("label", edge.label, ox + x, oy + y, w, h))
        for node in machine.nodes:
            kind = "group" if node.children else "end" if node.kind == "end" else "state"
            boxes.append((kind, node.name, ox + node.x, oy + node.y, node.w, node.h))
            cx = ox + node.x + _PAD
            for child in node.children:
                walk(child, cx, oy + node.y + _HEADER + _PAD)
                cx += child.w + _NODE_GAP

    walk(machine, _MARGIN, _MARGIN)
    return boxes


# ---------------------------------------------------------------- svg

_MARGIN = 16


def _xml(text) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _shift(path: str, ox: float, oy: float) -> str:
    def move(match):
        return f"{float(match.group(1)) + ox:.1f},{float(match.group(2)) + oy:.1f}"
    return re.sub(r"(-?[\d.]+),(-?[\d.]+)", move, path)


def _svg_edge(edge: _Edge, ox: float, oy: float, out: list):
    path = _shift(edge.path, ox, oy)
    if edge.dst.kind == "end":
        out.append(f'<path class="end-edge" d="{path}" fill="none" stroke="#545b64" stroke-width="1.4" '
                   f'marker-end="url(#arrow-small)"/>')
        return
    dash = ' stroke-dasharray="6 4"' if edge.dashed else ""
    colour = "#ec7211" if edge.dashed else "#545b64"
    marker = "arrow-catch" if edge.dashed else "arrow"
    out.append(f'<path class="edge" d="{path}" fill="none" stroke="{colour}" stroke-width="1.4"{dash} '
               f'stroke-linejoin="round" marker-end="url(#{marker})"/>')


def _svg_label(edge: _Edge, ox: float, oy: float, out: list):
    x, y, w, h = edge.box
    x, y = ox + x, oy + y
    tip = "\n".join(_unique(full for kind, full, _ in edge.parts if kind != "next"))
    out.append(f'<g class="edge-label"><title>{_xml(tip)}</title>')
    out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="3" fill="#ffffff" '
               f'stroke="{"#f5c99b" if edge.dashed else "#d5dbdb"}"/>')
    spans = "".join(f'<tspan x="{x + w / 2:.1f}" y="{y + 2 + _LINE_H * (i + 1) - 3.5:.1f}">{_xml(line)}</tspan>'
                    for i, line in enumerate(edge.lines))
    out.append(f'<text text-anchor="middle" font-size="{_LABEL_FONT}" fill="#16191f">{spans}</text></g>')


def _svg_machine(machine: _Machine, ox: float, oy: float, out: list, statuses: dict):
    if machine.title:
        out.append(f'<text x="{ox + 4:.1f}" y="{oy + 14:.1f}" font-size="{_FONT - 2}" fill="#545b64" '
                   f'font-style="italic">{_xml(machine.title)}</text>')
    for edge in machine.edges:
        _svg_edge(edge, ox, oy, out)
    for edge in machine.edges:
        if edge.box:
            _svg_label(edge, ox, oy, out)
    for node in machine.nodes:
        _svg_node(node, ox, oy, out, statuses)


def _svg_node(node: _Node, ox: float, oy: float, out: list, statuses: dict):
    x, y = ox + node.x, oy + node.y
    if node.kind == "end":
        out.append(f'<g class="end-marker"><title>End</title><circle cx="{x + node.w / 2:.1f}" '
                   f'cy="{y + node.h / 2:.1f}" r="{_END_R:.1f}" fill="#545b64"/></g>')
        return
    status = _status(node, statuses)
    fill, stroke = STATUS_COLOURS.get(status, DEFAULT_COLOURS)
    css = f"state state-{_xml(node.kind.lower())}" + (f" status-{_xml(status)}" if status in STATUS_COLOURS else "")
    tip = f"{node.name} ({node.kind})" + (f": {status}" if status else "")
    if node.members:
        tip += "\n" + "\n".join(f"{m}: {statuses[m]}" if statuses.get(m) else m for m in node.members)
    out.append(f'<g class="{css}" data-state="{_xml(node.name)}"><title>{_xml(tip)}</title>')
    if node.kind == "start":
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{node.w:.1f}" height="{node.h:.1f}" rx="14" '
                   f'fill="#f2f3f3" stroke="#879596"/>')
        out.append(f'<text x="{x + node.w / 2:.1f}" y="{y + node.h / 2 + 4:.1f}" text-anchor="middle" '
                   f'font-size="{_FONT - 1}" fill="#545b64">{_xml(node.name)}</text></g>')
        return
    if node.kind == "missing":
        fill, stroke = MISSING_COLOURS
        dash, label = ' stroke-dasharray="5 4"', f"missing: {node.name}"
    else:
        dash, label = "", _shown_name(node, statuses)

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
    for offset in ((6, -6), (3, -3)) if node.members else ():  # a folded group: a stack of cards
        out.append(f'<rect x="{x + offset[0]:.1f}" y="{y + offset[1]:.1f}" width="{node.w:.1f}" '
                   f'height="{node.h:.1f}" rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="1"/>')
    out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{node.w:.1f}" height="{node.h:.1f}" rx="{rx}" '
               f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dash}/>')
    out.append(f'<text x="{x + node.w / 2:.1f}" y="{y + node.h / 2 + 4.5:.1f}" text-anchor="middle" '
               f'font-size="{_FONT}" fill="#16191f">{_xml(label)}</text></g>')


def to_svg(definition, statuses=None, fold: bool = True, path_only: bool = False) -> str:
    """A self-contained SVG drawing of a definition (dict or JSON text); `fold`: alike states side by side
    in one box (see _fold); `path_only`: only the states that ran (by `statuses`), the path an execution took."""
    machine = _model(definition, fold, ran_states(statuses) if path_only else None)
    _layout(machine)
    width, height = machine.w + 2 * _MARGIN, machine.h + 2 * _MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{_FONTS}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#545b64"/></marker>'
        '<marker id="arrow-catch" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#ec7211"/></marker>'
        '<marker id="arrow-small" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" markerHeight="5" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#545b64"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    _svg_machine(machine, _MARGIN, _MARGIN, out, statuses or {})
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

    walk(_model(definition, fold=False), "  ")
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


def folds_anything(definition) -> bool:
    """Does the drawing fold states into a group (so the full picture shows more)?"""
    return any(node.members for node in _model(definition).nodes)


def full_picture_html(definition, statuses=None) -> str:
    """The unfolded drawing at its own size in a box that scrolls (pan by scrolling, zoom with the browser),
    folded away under a summary; "" when nothing is folded."""
    if not folds_anything(definition):
        return ""
    svg = to_svg(definition, statuses, fold=False).replace("<svg ", '<svg style="max-width:none" ', 1)
    return ("<details><summary>Every state, unfolded (scroll to pan)</summary>"
            f"<div style='overflow:auto;max-height:70vh;border:1px solid #d5dbdb'>{svg}</div></details>")


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
