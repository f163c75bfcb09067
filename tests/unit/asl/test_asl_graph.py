"""The graph renderer: Mermaid text, SVG, status colours, MIME bundle."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from workshop.asl import StateMachineGraph, graph_bundle, to_mermaid, to_svg
from workshop.asl.graph import STATUS_COLOURS, describe_rule, layout_boxes, short_path, summarize_rule

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[3]
WORKSHOP = ROOT / "statemachine" / "security_orchestrator.asl.json"
CASES = Path(__file__).resolve().parent / "cases" / "valid"

DEFINITION = {
    "StartAt": "ValidatePolicy",
    "States": {
        "ValidatePolicy": {"Type": "Task", "Resource": "${ValidatePolicyArn}", "Next": "ChooseAction",
                           "Catch": [{"ErrorEquals": ["States.TaskFailed", "Lambda.Unknown"], "Next": "Failed"}]},
        "ChooseAction": {"Type": "Choice",
                         "Choices": [{"Variable": "$.taskresult.action", "StringEquals": "remedy", "Next": "Fan out"},
                                     {"Variable": "$.n", "NumericGreaterThanEquals": 3, "Next": "Ghost"}],
                         "Default": "Done"},
        "Fan out": {"Type": "Parallel", "Next": "Each <item>",
                    "Branches": [{"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                                 {"StartAt": "Right", "States": {"Right": {"Type": "Wait", "Seconds": 1, "End": True}}}]},
        "Each <item>": {"Type": "Map", "Next": "Done",
                        "ItemProcessor": {"StartAt": "Work & \"quote\"",
                                          "States": {"Work & \"quote\"": {"Type": "Pass", "End": True}}}},
        "Done": {"Type": "Succeed"},
        "Failed": {"Type": "Fail"},
    },
}


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_describe_rule_short_forms():
    assert describe_rule({"Variable": "$.taskresult.action", "StringEquals": "remedy"}) == '$.taskresult.action == "remedy"'
    assert describe_rule({"Variable": "$.n", "NumericLessThanPath": "$.max"}) == "$.n < $.max"
    assert describe_rule({"Variable": "$.x", "IsPresent": False}) == "$.x is not present"
    assert describe_rule({"Not": {"Variable": "$.b", "BooleanEquals": True}}) == "not ($.b == true)"
    rule = {"And": [{"Variable": "$.a", "IsNull": True},
                    {"Or": [{"Variable": "$.b", "StringMatches": "x*"}, {"Variable": "$.c", "TimestampEquals": "t"}]}]}
    assert describe_rule(rule) == '$.a is null and ($.b matches "x*" or $.c == "t")'
    assert describe_rule({"Condition": "{% $states.input.ok %}", "Next": "X"}) == "$states.input.ok"


def test_mermaid_has_edges_labels_catch_and_missing_node():
    text = to_mermaid(DEFINITION)
    assert text.startswith("flowchart TD")
    assert '$.taskresult.action == #quot;remedy#quot;' in text
    assert '-->|"Default"|' in text
    assert '-.->|"catch: States.TaskFailed, Lambda.Unknown"|' in text
    assert '"missing: Ghost"' in text and "class " in text and "missing" in text
    assert "subgraph" in text and '"Branch 1"' in text and '"Item processor"' in text
    # Special characters are entity-escaped, never raw inside labels.
    assert "Each #lt;item#gt;" in text and "Work #amp; #quot;quote#quot;" in text


def test_mermaid_edges_connect_the_right_nodes():
    lines = to_mermaid({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}).splitlines()
    ids = {}
    for line in lines:
        for name in ("A", "B"):
            if line.strip().endswith(f'"{name}"]') or line.strip().endswith(f'"{name}")') or f'(["{name}"])' in line:
                ids[name] = line.strip().split("[")[0].split("(")[0]
    assert f"{ids['A']} --> {ids['B']}" in "\n".join(lines)


def test_svg_parses_and_contains_every_state_name_escaped():
    svg = to_svg(DEFINITION)
    texts = " ".join(_texts(svg))
    for name in ("ValidatePolicy", "ChooseAction", "Fan out", "Each <item>", 'Work & "quote"', "Left", "Right",
                 "Done", "Failed", "missing: Ghost"):
        assert name in texts, name
    assert "&lt;item&gt;" in svg  # escaped in the source, not raw
    # Conditions show their last meaningful path segments; the full condition is the tooltip.
    assert 'action == "remedy"' in texts and '$.taskresult.action == "remedy"' not in texts
    root = ET.fromstring(svg)
    tooltips = {"".join(g.find(f"{SVG}title").itertext()): " ".join(t.text for t in g.iter(f"{SVG}tspan"))
                for g in root.iter(f"{SVG}g") if g.get("class") == "edge-label"}
    assert tooltips['$.taskresult.action == "remedy"'] == 'action == "remedy"'
    # A label too wide for one line wraps instead of being cut.
    assert tooltips["catch: States.TaskFailed, Lambda.Unknown"].replace(", ", ",") == \
        "catch: States.TaskFailed,Lambda.Unknown"
    assert "…" not in " ".join(tooltips.values())


def test_svg_marks_catch_edges_dashed_and_missing_nodes_distinct():
    root = ET.fromstring(to_svg(DEFINITION))
    dashed_edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge" and p.get("stroke-dasharray")]
    assert len(dashed_edges) == 1
    missing = [g for g in root.iter(f"{SVG}g") if "state-missing" in (g.get("class") or "")]
    assert [g.get("data-state") for g in missing] == ["Ghost"]
    assert missing[0].find(f"{SVG}rect").get("stroke-dasharray")


def test_svg_nodes_do_not_overlap():
    root = ET.fromstring(to_svg(DEFINITION))
    boxes = []
    for g in root.iter(f"{SVG}g"):
        if not g.get("data-state") or g.get("data-state") in ("Fan out", "Each <item>"):
            continue  # edge labels; group boxes contain other nodes by design
        rect = g.find(f"{SVG}rect")
        boxes.append(tuple(float(rect.get(k)) for k in ("x", "y", "width", "height")))
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1:]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1


def _named_boxes(root):
    for g in root.iter(f"{SVG}g"):
        if g.get("data-state"):
            rect = g.find(f"{SVG}rect")
            yield g, tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))


def _path_points(d: str, steps: int = 12):
    """Sample an SVG path made of M, L and C commands."""
    tokens = d.replace("M", " M ").replace("L", " L ").replace("C", " C ").split()
    points, command, args = [], None, []
    for token in tokens + ["M"]:
        if token in ("M", "L", "C"):
            coords = [tuple(map(float, a.split(","))) for a in args]
            if command in ("M", "L") and coords:
                points.append(coords[0])
            elif command == "C" and len(coords) == 3:
                (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points[-1], *coords
                for i in range(1, steps + 1):
                    t = i / steps
                    a, b, c, e = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
                    points.append((a * x0 + b * x1 + c * x2 + e * x3, a * y0 + b * y1 + c * y2 + e * y3))
            command, args = token, []
        else:
            args.append(token)
    return points


def test_long_and_backward_edges_run_round_the_states_in_between():
    loop = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "x", "Next": "B"},
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.again", "BooleanEquals": True, "Next": "A"}],
              "Default": "C"},
        "C": {"Type": "Pass", "Next": "D"},
        "D": {"Type": "Succeed"}}}
    for definition in (DEFINITION, loop, json.loads(WORKSHOP.read_text())):
        root = ET.fromstring(to_svg(definition))
        boxes = [b for g, b in _named_boxes(root) if g.get("data-state") not in ("Fan out", "Each <item>")]
        paths = [p.get("d") for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
        assert paths
        for d in paths:
            points = _path_points(d)
            inner = points[2:-2]  # the ends touch their own states
            for x, y, w, h in boxes:
                inside = [(px, py) for px, py in inner if x + 1 < px < x + w - 1 and y + 1 < py < y + h - 1]
                assert not inside, (d, (x, y, w, h))


def test_statuses_colour_nodes_with_console_colours():
    statuses = {"ValidatePolicy": "succeeded", "ChooseAction": "caught_error", "Failed": "failed",
                "Fan out": "in_progress", "Done": "not_run"}
    root = ET.fromstring(to_svg(DEFINITION, statuses))
    by_state = {g.get("data-state"): g for g in root.iter(f"{SVG}g") if g.get("data-state")}
    for name, status in statuses.items():
        group = by_state[name]
        assert f"status-{status}" in group.get("class")
        fill, stroke = STATUS_COLOURS[status]
        rect = group.find(f"{SVG}rect")
        assert (rect.get("fill"), rect.get("stroke")) == (fill, stroke)
    assert "status-" not in by_state["Left"].get("class")
    text = to_mermaid(DEFINITION, statuses)
    assert f"fill:{STATUS_COLOURS['succeeded'][0]},stroke:{STATUS_COLOURS['succeeded'][1]}" in text
    assert f"stroke:{STATUS_COLOURS['failed'][1]}" in text


def test_console_colour_families():
    # green, red, orange, blue, grey: the stroke's dominant channel tells them apart.
    def rgb(hex_colour):
        return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    r, g, b = rgb(STATUS_COLOURS["succeeded"][1]); assert g > r and g > b
    r, g, b = rgb(STATUS_COLOURS["failed"][1]); assert r > g and r > b
    r, g, b = rgb(STATUS_COLOURS["caught_error"][1]); assert r > g > b
    r, g, b = rgb(STATUS_COLOURS["in_progress"][1]); assert b > r and b > g
    r, g, b = rgb(STATUS_COLOURS["not_run"][1]); assert max(r, g, b) - min(r, g, b) < 30


def test_bundle_and_repr_mimebundle():
    bundle = graph_bundle(DEFINITION, {"Done": "succeeded"})
    assert set(bundle) == {"text/vnd.mermaid", "image/svg+xml", "text/plain"}
    assert "ValidatePolicy -> ChooseAction" in bundle["text/plain"]
    graph = StateMachineGraph(DEFINITION, {"Done": "succeeded"})
    assert graph._repr_mimebundle_() == bundle
    assert set(graph._repr_mimebundle_(include=["image/svg+xml"])) == {"image/svg+xml"}
    assert "text/plain" not in graph._repr_mimebundle_(exclude=["text/plain"])


def test_no_network_references_in_svg():
    svg = to_svg(DEFINITION)
    assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in svg and "<script" not in svg


def test_loops_and_malformed_definitions_still_render():
    loop = {"StartAt": "Poll", "States": {"Poll": {"Type": "Task", "Resource": "x", "Next": "Check"},
                                          "Check": {"Type": "Choice", "Choices": [{"Variable": "$.d", "BooleanEquals": False,
                                                                                   "Next": "Poll"}], "Default": "End it"},
                                          "End it": {"Type": "Succeed"}}}
    assert "Poll" in " ".join(_texts(to_svg(loop)))
    for odd in ({}, {"States": []}, {"StartAt": 3, "States": {"A": "x", "B": {"Type": 5, "Next": ["x"]}}}, []):
        ET.fromstring(to_svg(odd))
        assert to_mermaid(odd).startswith("flowchart TD")


def test_accepts_json_text():
    assert to_mermaid(json.dumps(DEFINITION)) == to_mermaid(DEFINITION)


def test_short_paths_keep_the_last_meaningful_segments():
    assert short_path("$.taskresult.action") == "action"
    assert short_path("$.detail.responseElements.policy.arn") == "policy.arn"
    assert short_path("$.detail.eventID") == "eventID"
    assert short_path("$.items[0].id") == "items[0].id"
    assert short_path("$.n") == "n"
    assert short_path("$$.Execution.Id") == "$$.Execution.Id"
    assert short_path("$myVar") == "$myVar" and short_path("$") == "$"


def test_rule_summaries_are_short_and_readable():
    assert summarize_rule({"Variable": "$.taskresult.action", "StringEquals": "remedy"}) == 'action == "remedy"'
    checks = {"And": [{"Variable": "$.detail.eventID", "IsPresent": True},
                      {"Variable": "$.detail.requestParameters.policyDocument", "IsPresent": True},
                      {"Variable": "$.detail.responseElements.policy.arn", "IsPresent": True}]}
    assert summarize_rule(checks) == "has eventID, policyDocument, policy.arn"
    own = {"And": [{"Variable": "$.a.role.arn", "IsPresent": True},
                   {"Or": [{"Variable": "$.a.role.arn", "StringEquals": "x"},
                           {"Variable": "$.a.role.arn", "StringEquals": "y"}]}]}
    assert summarize_rule(own) == 'role.arn in ("x", "y")'
    assert summarize_rule({"Not": {"Variable": "$.a.flag", "IsPresent": True}}) == "no flag"
    assert summarize_rule({"Variable": "$.x.count", "NumericLessThanPath": "$.limits.max"}) == "x.count < max"


def test_each_terminal_state_has_its_own_end_marker_and_there_is_one_start():
    definition = json.loads(WORKSHOP.read_text())
    terminals = [name for name, st in definition["States"].items()
                 if st.get("End") is True or st["Type"] in ("Succeed", "Fail")]
    root = ET.fromstring(to_svg(definition))
    markers = [g for g in root.iter(f"{SVG}g") if g.get("class") == "end-marker"]
    assert len(markers) == len(terminals) == 12
    assert [g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("data-state") in ("Start", "End")] == ["Start"]
    boxes = {name: (x, y, w, h) for kind, name, x, y, w, h in layout_boxes(definition) if kind == "state"}
    ends = [(x + w / 2, y + h / 2) for kind, _, x, y, w, h in layout_boxes(definition) if kind == "end"]
    # below its state, within its width, nothing drawn between: by at most the tallest box (a Map's
    # group in the same rank makes the rank taller, and the marker goes below the rank)
    reach = 40 + max(bh for kind, _, _, _, _, bh in layout_boxes(definition) if kind in ("state", "group"))
    for name in terminals:
        x, y, w, h = boxes[name]

        def between(ex, ey):
            return any(bx <= ex <= bx + bw and y + h < by < ey for bx, by, bw, _ in boxes.values())

        # the marker is within half the state's width of its column (edges passing through the
        # marker row can push it aside)
        assert any(x - w / 2 <= ex <= x + w * 1.5 and y + h < ey < y + h + reach and not between(ex, ey)
                   for ex, ey in ends), name
    # No frame round the picture: every edge path stays inside the drawing, none runs along its border.
    width = float(root.get("width"))
    for p in root.iter(f"{SVG}path"):
        if p.get("class") in ("edge", "end-edge"):
            xs = [x for x, _ in _path_points(p.get("d"))]
            assert min(xs) > 16 and max(xs) < width - 16
    text = to_mermaid(definition)
    assert text.count(":::endmark") == 12 and text.count('(("Start"))') == 1


def test_parallel_edges_between_two_states_are_merged_with_one_label():
    definition = json.loads(WORKSHOP.read_text())
    root = ET.fromstring(to_svg(definition, fold=False))
    labels = {"".join(g.find(f"{SVG}title").itertext()): [t.text for t in g.iter(f"{SVG}tspan")]
              for g in root.iter(f"{SVG}g") if g.get("class") == "edge-label"}
    # ValidatePolicy -> TempRemove: two catches, one dashed edge, one line.
    assert labels["catch: InvalidPolicyDocument\ncatch: States.ALL"] == ["catch: InvalidPolicyDocument, States.ALL"]
    # ChooseAction -> TempRemove: a rule and Default, one solid edge, one line each.
    assert labels['$.taskresult.action == "remedy"\nDefault'] == ['action == "remedy"', "Default"]
    edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    transitions = sum(1 for _ in _model_edges(definition))
    assert len(edges) == transitions - 4  # ValidatePolicy, ChooseAction, usersChoice and WhichChange (the two
    # path-only changes) each merge a pair
    mermaid = to_mermaid(definition, fold=False)
    assert '-.->|"catch: InvalidPolicyDocument, States.ALL"|' in mermaid
    assert '-->|"$.taskresult.action == #quot;remedy#quot;<br>Default"|' in mermaid


def _model_edges(definition):
    """Every transition of a flat definition, the way the console counts them (Start included)."""
    yield "Start"
    for state in definition["States"].values():
        if "Next" in state:
            yield state["Next"]
        yield from (r["Next"] for r in state.get("Choices", []))
        if "Default" in state:
            yield state["Default"]
        yield from (c["Next"] for c in state.get("Catch", []))


def _overlaps(boxes):
    found = []
    for i, (k1, n1, x1, y1, w1, h1) in enumerate(boxes):
        for k2, n2, x2, y2, w2, h2 in boxes[i + 1:]:
            if "group" in (k1, k2):
                continue  # a Parallel or Map box holds other boxes by design
            if x1 + w1 > x2 + 0.5 and x2 + w2 > x1 + 0.5 and y1 + h1 > y2 + 0.5 and y2 + h2 > y1 + 0.5:
                found.append(((k1, n1), (k2, n2)))
    return found


@pytest.mark.parametrize("path", [WORKSHOP] + sorted(CASES.glob("*.json")), ids=lambda p: p.name)
def test_labels_never_overlap_each_other_or_a_state(path):
    definition = json.loads(path.read_text())
    boxes = layout_boxes(definition)
    assert _overlaps(boxes) == []
    # Group boxes hold their children and do not overlap anything but what they hold.
    groups = [b for b in boxes if b[0] == "group"]
    for _, _, gx, gy, gw, gh in groups:
        for kind, _, x, y, w, h in boxes:
            if kind == "label" and not (x >= gx and x + w <= gx + gw and y >= gy and y + h <= gy + gh):
                assert x + w <= gx or gx + gw <= x or y + h <= gy or gy + gh <= y
    # The drawn SVG has the same label boxes.
    root = ET.fromstring(to_svg(definition))
    drawn = [g.find(f"{SVG}rect") for g in root.iter(f"{SVG}g") if g.get("class") == "edge-label"]
    assert len(drawn) == sum(1 for b in boxes if b[0] == "label")


def test_labels_do_not_overlap_with_many_choices_into_one_state():
    choices = [{"Variable": f"$.detail.check{i}.value", "NumericGreaterThan": i, "Next": "T" if i % 2 else "U"}
               for i in range(6)]
    definition = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": choices, "Default": "U"},
        "T": {"Type": "Task", "Resource": "x", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "Next": "T"},
        "U": {"Type": "Succeed"}}}
    boxes = layout_boxes(definition)
    assert _overlaps(boxes) == []
    labels = [b for b in boxes if b[0] == "label"]
    assert len(labels) == 3  # C->T, C->U, T->C (back); T->T is an unlabelled loop on its right
    ET.fromstring(to_svg(definition))


# --- readable at notebook width -----------------------------------------------------------------------

TARGETS = [name for name in json.loads(WORKSHOP.read_text())["States"] if name.endswith("Target")]


def _smallest_text_at(svg: str, width: float) -> float:
    """The smallest font size, in screen pixels, when the picture is shown `width` pixels wide at most
    (a notebook shrinks a wider picture to fit and never enlarges one)."""
    root = ET.fromstring(svg)
    scale = min(1.0, width / float(root.get("width")))
    sizes = [float(t.get("font-size") or root.get("font-size") or 16) for t in root.iter(f"{SVG}text")]
    return min(sizes) * scale


def test_the_nineteen_target_states_fold_into_one_box_with_a_count():
    definition = json.loads(WORKSHOP.read_text())
    assert len(TARGETS) == 19
    root = ET.fromstring(to_svg(definition))
    states = {g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("data-state")}
    assert "19 …Target states" in states and not states & set(TARGETS)
    tip = next("".join(g.find(f"{SVG}title").itertext()) for g in root.iter(f"{SVG}g")
               if g.get("data-state") == "19 …Target states")
    assert all(name in tip for name in TARGETS)  # the tooltip names every folded state
    assert 'eventName == one of 19 values' in to_svg(definition)
    assert "19 …Target states" in to_mermaid(definition)
    full = ET.fromstring(to_svg(definition, fold=False))
    assert set(TARGETS) <= {g.get("data-state") for g in full.iter(f"{SVG}g")}


def test_the_picture_is_taller_than_wide_and_its_text_readable_at_900_px():
    definition = json.loads(WORKSHOP.read_text())
    root = ET.fromstring(to_svg(definition))
    assert float(root.get("height")) > float(root.get("width"))
    assert _smallest_text_at(to_svg(definition), 900) >= 9
    assert _smallest_text_at(to_svg(definition, fold=False), 900) < 9  # what the folding is for


def test_a_folded_group_shows_the_state_that_ran_in_its_colour():
    definition = json.loads(WORKSHOP.read_text())
    statuses = {name: "not_run" for name in definition["States"]}
    statuses.update(CheckEvent="succeeded", WhichChange="succeeded", CreatePolicyVersionTarget="succeeded")
    root = ET.fromstring(to_svg(definition, statuses))
    group = next(g for g in root.iter(f"{SVG}g") if g.get("data-state") == "19 …Target states")
    assert "status-succeeded" in group.get("class")
    assert [t.text for t in group.iter(f"{SVG}text")] == ["CreatePolicyVersionTarget (+18 more)"]
    assert _smallest_text_at(to_svg(definition, statuses), 900) >= 9


def test_the_path_an_execution_took_alone():
    definition = json.loads(WORKSHOP.read_text())
    ran = ["CheckEvent", "WhichChange", "CreatePolicyTarget", "ModifyState", "ValidatePolicy", "CheckOwnOrGone",
           "ChooseAction", "AllowWithNotification"]
    statuses = {name: ("succeeded" if name in ran else "not_run") for name in definition["States"]}
    root = ET.fromstring(to_svg(definition, statuses, path_only=True))
    drawn = {g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("data-state")} - {"Start"}
    assert drawn == set(ran)
    assert float(root.get("width")) <= 440  # two of them side by side fit a notebook's width


def test_a_half_built_machine_folds_the_targets_still_to_write_and_stays_readable_at_900_px():
    definition = json.loads(WORKSHOP.read_text())
    written = ["CheckEvent", "WhichChange", "ReportUnrecognisedEvent", "InvalidEvent", "CreatePolicyTarget",
               "ModifyState", "ValidatePolicy", "CheckOwnOrGone", "ChooseAction", "AllowWithNotification"]
    half = {"StartAt": definition["StartAt"], "States": {name: definition["States"][name] for name in written}}
    svg = to_svg(half)
    root = ET.fromstring(svg)
    states = {g.get("data-state") for g in root.iter(f"{SVG}g") if g.get("data-state")}
    folded = f"{len(TARGETS) - 1} …Target states + PathChangeOnly"
    assert folded in states and not states & (set(TARGETS) - {"CreatePolicyTarget"})
    assert f"missing: {folded}" in _texts(svg)
    assert "missing: TempRemove" in _texts(svg)  # a lone state still to write keeps its own box
    assert _smallest_text_at(svg, 900) >= 9
