"""The graph renderer: Mermaid text, SVG, status colours, MIME bundle."""

import xml.etree.ElementTree as ET

from workshop.asl import StateMachineGraph, graph_bundle, to_mermaid, to_svg
from workshop.asl.graph import STATUS_COLOURS, describe_rule

SVG = "{http://www.w3.org/2000/svg}"

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
    assert '$.taskresult.action == "remedy"' in texts
    # A label too wide for the room above its target is cut in the middle (both
    # ends stay readable) and keeps its full text as a tooltip.
    root = ET.fromstring(svg)
    tooltips = {"".join(g.find(f"{SVG}title").itertext()): "".join(g.find(f"{SVG}text").itertext())
                for g in root.iter(f"{SVG}g") if g.get("class") == "edge-label"}
    shown = tooltips["catch: States.TaskFailed, Lambda.Unknown"]
    assert shown.startswith("catch: St") and shown.endswith("Unknown") and "…" in shown


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


def _state_boxes(root):
    for g in root.iter(f"{SVG}g"):
        if g.get("data-state"):
            rect = g.find(f"{SVG}rect")
            yield tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))


def test_long_and_backward_edges_run_round_the_states_in_between():
    loop = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "x", "Next": "B"},
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.again", "BooleanEquals": True, "Next": "A"}],
              "Default": "C"},
        "C": {"Type": "Pass", "Next": "D"},
        "D": {"Type": "Succeed"}}}
    for definition in (DEFINITION, loop):
        root = ET.fromstring(to_svg(definition))
        boxes = list(_state_boxes(root))
        routed = [p.get("d") for p in root.iter(f"{SVG}path") if p.get("class") == "edge" and " L" in p.get("d")]
        assert routed, "expected at least one edge routed along a side lane"
        for d in routed:
            points = [tuple(map(float, part.lstrip("ML").split(","))) for part in d.split()]
            # The lane is the vertical run in the middle of the polyline.
            (lane_x, top), (_, bottom) = points[2], points[3]
            top, bottom = min(top, bottom), max(top, bottom)
            for x, y, w, h in boxes:
                crosses = x < lane_x < x + w and y < bottom and y + h > top
                assert not crosses, (d, (x, y, w, h))


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
    import json

    assert to_mermaid(json.dumps(DEFINITION)) == to_mermaid(DEFINITION)
