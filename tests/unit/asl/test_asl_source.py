"""Reading definition text: duplicate keys, JSON errors, substitutions, input types."""

from workshop.asl import validate
from workshop.asl.source import escape_pointer, load_json


def test_load_json_reports_each_repeated_key_with_its_location():
    value, repeats = load_json('{"a": {"b": 1, "b": 2}, "c": [{"d": 1, "d": 2}], "e": 1, "e": 2}')
    assert value["a"]["b"] == 2  # json keeps the last one, which is why repeats matter
    assert sorted(repeats) == [("", "e"), ("/a", "b"), ("/c/0", "d")]


def test_pointer_escaping():
    assert escape_pointer("a/b~c") == "a~1b~0c"
    outcome = validate({"StartAt": "a/b", "States": {"a/b": {"Type": "Pass", "Next": "x"}}})
    assert "/States/a~1b/Next" in {d["location"] for d in outcome["diagnostics"]}


def test_invalid_json_says_where():
    outcome = validate('{"StartAt": "A",\n "States": {\n  "A": {"Type": "Pass" "End": true}}}')
    assert outcome["result"] == "FAIL"
    (item,) = outcome["diagnostics"]
    assert item["code"] == "INVALID_JSON_DESCRIPTION"
    assert "line 3" in item["message"]


def test_bytes_and_non_utf8_input():
    assert validate(b'{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}')["result"] == "OK"
    outcome = validate(b"\xff\xfe{}")
    assert outcome["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"


def test_none_and_empty_are_missing_description():
    for empty in (None, "", "   "):
        assert [d["code"] for d in validate(empty)["diagnostics"]] == ["MISSING_DESCRIPTION"]


def test_substitution_placeholders_are_accepted_where_strings_are_expected():
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Resource": "${ValidatePolicyArn}", "InputPath": "${InputPath}",
                  "Parameters": {"Topic": "${AlertTopic}", "Key.$": "${KeyPath}"}, "Next": "W"},
            "W": {"Type": "Wait", "Timestamp": "${Until}", "End": True},
        },
    }
    assert validate(definition) == {"result": "OK", "diagnostics": []}


def test_placeholders_do_not_hide_real_errors():
    # A placeholder Resource is fine, but the state still needs Next or End.
    outcome = validate({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${Fn}"}}})
    assert "MISSING_NEXT_OR_END" in {d["code"] for d in outcome["diagnostics"]}


def test_duplicate_state_name_in_text_is_reported_as_such():
    text = '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {"Type": "Succeed"}}}'
    assert [d["code"] for d in validate(text)["diagnostics"]] == ["DUPLICATE_STATE_NAME"]
