"""The validator never crashes, whatever JSON it is given (property-based)."""

import copy
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from workshop.asl import to_mermaid, to_svg, validate

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["$", "$.a", "$$.x", "States.Format('{}', $.a)", "{% 1 + %}", "{% $x %}", "${P}", "Pass",
                       "Task", "Choice", "Map", "Parallel", "A", "B", "JSONata", "DISTRIBUTED", "States.ALL"])
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["Type", "Next", "End", "StartAt", "States", "Branches", "ItemProcessor",
                                       "Choices", "Variable", "And", "Not", "Parameters", "x.$", "Retry", "Catch",
                                       "ErrorEquals", "Resource", "Assign", "QueryLanguage", "Output", "A", "B",
                                       "ProcessorConfig", "Mode", "Seconds", "ResultPath", "Condition"]),
                      children, max_size=5),
    max_leaves=30,
)

VALID = sorted((Path(__file__).parent / "cases" / "valid").glob("*.asl.json"))


def _check_shape(outcome):
    assert outcome["result"] in ("OK", "FAIL")
    failed = any(d["severity"] == "ERROR" for d in outcome["diagnostics"])
    assert (outcome["result"] == "FAIL") == failed


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_never_crashes(value):
    _check_shape(validate(value))
    _check_shape(validate(json.dumps(value)))
    to_mermaid(value if isinstance(value, dict) else {})
    to_svg(value if isinstance(value, dict) else {})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_definitions_never_crash(path, data):
    definition = json.loads(path.read_text(encoding="utf-8"))
    mutated = copy.deepcopy(definition)
    # Walk to a random object and overwrite one of its fields with a random value.
    node = mutated
    for _ in range(data.draw(st.integers(0, 5))):
        children = [v for v in (node.values() if isinstance(node, dict) else node) if isinstance(v, (dict, list))]
        if not children:
            break
        node = data.draw(st.sampled_from(children))
    if isinstance(node, dict) and node:
        node[data.draw(st.sampled_from(sorted(node)))] = data.draw(json_values)
    _check_shape(validate(mutated))
    to_svg(mutated)
