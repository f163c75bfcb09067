"""The intrinsic-function parser and its static checks."""

import pytest

from workshop.asl.intrinsics import FUNCTIONS, IntrinsicSyntaxError, check_intrinsic, parse_intrinsic


def test_parses_nested_calls_paths_and_literals():
    call = parse_intrinsic("States.Format('a {} b {}', States.ArrayLength($.items), -2.5)")
    assert call.name == "States.Format"
    kinds = [arg.kind for arg in call.args]
    assert kinds == ["string", "call", "number"]
    assert call.args[0].value == "a {} b {}"
    assert call.args[1].value.name == "States.ArrayLength"
    assert call.args[1].value.args[0].kind == "path"
    assert call.args[1].value.args[0].value == "$.items"
    assert call.args[2].value == -2.5


def test_string_escapes_are_decoded():
    call = parse_intrinsic(r"States.Format('it\'s \\ done {}', $.x)")
    assert call.args[0].value == "it's \\ done {}"


def test_path_arguments_may_contain_commas_and_parens_inside_brackets():
    call = parse_intrinsic("States.ArrayContains($['a, b'], $.items[?(@.x == 1)])")
    assert [a.value for a in call.args] == ["$['a, b']", "$.items[?(@.x == 1)]"]


def test_booleans_null_and_variables():
    call = parse_intrinsic("States.Array(true, false, null, $myVar, $$.Execution.Id)")
    assert [a.kind for a in call.args] == ["boolean", "boolean", "null", "path", "path"]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_is_known(name):
    low = FUNCTIONS[name][0]
    # Build a call with the minimum number of plausible arguments.
    samples = {"string": "'x'", "integer": "1", "number": "1", "array": "$.a", "object": "$.o",
               "boolean": "false", "any": "$.v"}
    types = FUNCTIONS[name][2]
    args = [samples[types[i] if i < len(types) else "any"] for i in range(low)]
    text = f"{name}({', '.join(args)})"
    if name == "States.Format":
        text = "States.Format('x')"
    if name == "States.Hash":
        text = "States.Hash($.v, 'MD5')"
    assert check_intrinsic(text) is None, text


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("States.Nope()", "unknown intrinsic function States.Nope"),
        ("States.UUID(1)", "takes exactly 0 argument"),
        ("States.Format()", "at least 1"),
        ("States.MathRandom(1)", "2 to 3"),
        ("States.ArrayLength('abc')", "must be array"),
        ("States.MathAdd(1, 'x')", "must be number"),
        ("States.ArrayGetItem($.a, 'first')", "must be integer"),
        ("States.Format('{} {}', 1)", "2 '{}' placeholder"),
        ("States.Hash($.a, 'SHA-3')", "algorithm"),
        ("States.JsonMerge($.a, $.b, true)", "shallow"),
        ("States.ArrayRange(1, 5, 0)", "step"),
        ("States.Format('x'", "missing ')'"),
        ("States.Format('x) ", "unterminated string"),
        ('States.Format("x")', "single quotes"),
        (r"States.Format('\n')", "invalid escape"),
        ("States.UUID() extra", "unexpected text"),
        ("Format('x')", "expected a function name"),
        ("States.Format('{}', $.a[)", "invalid path"),
        ("States.Format('{}' $.a)", "expected ',' or ')'"),
    ],
)
def test_rejects_with_a_clear_reason(text, fragment):
    reason = check_intrinsic(text)
    assert reason is not None and fragment in reason, reason


def test_escaped_braces_are_not_placeholders():
    assert check_intrinsic(r"States.Format('\{literal\} {}', $.x)") is None
    assert check_intrinsic(r"States.Format('\{\}')") is None


def test_parse_raises_a_value_error_subclass():
    with pytest.raises(IntrinsicSyntaxError):
        parse_intrinsic("States.Format(")
    assert issubclass(IntrinsicSyntaxError, ValueError)
