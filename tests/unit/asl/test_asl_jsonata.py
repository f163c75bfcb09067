"""JSONata `{% %}` expressions: parsing, and where JSONata is (not) allowed."""

import pytest

from workshop.asl import validate
from workshop.asl.jsonata_check import check_expression, expression_body


@pytest.mark.parametrize(
    "text",
    ["{% $states.input.x %}", "{% $states.input.a + 1 > 2 and $v %}", "{% $count($states.input.items) %}",
     "{% {'a': [1, 2, $x]} %}", "{% $states.input.items[price > 10].name %}", "{%$x%}"],
)
def test_valid_expressions(text):
    assert check_expression(text) is None


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{% $states.input.x + %}", "JSONata syntax error"),
        ("{% [1, 2 %}", "JSONata syntax error"),
        ("{% $f( %}", "JSONata syntax error"),
        ("{%  %}", "empty"),
        ("{% $x", "must end with '%}'"),
    ],
)
def test_invalid_expressions(text, fragment):
    reason = check_expression(text)
    assert reason is not None and fragment in reason, reason


def test_expression_body():
    assert expression_body("{% 1 + 1 %}") == " 1 + 1 "
    assert expression_body("{% 1") is None


def test_jsonata_error_location_points_at_the_field():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Output": {"deep": ["{% ok %}", "{% 1 + %}"]}, "End": True}},
    }
    outcome = validate(definition)
    assert [(d["code"], d["location"]) for d in outcome["diagnostics"]] == [
        ("INVALID_JSONATA", "/States/A/Output/deep/1")
    ]


def test_jsonpath_state_leaves_jsonata_looking_strings_alone():
    # In a JSONPath state a "{% ... %}" string is just a string.
    outcome = validate({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"x": "{% 1 + %}"}, "End": True}}})
    assert outcome == {"result": "OK", "diagnostics": []}
