"""Rules changed while calibrating against AWS: what a learner sees.

Did-you-mean for unknown transition targets, duplicate keys in a single
state's text, the shape of a bad Resource ARN, JSONata wrappers, Unicode
variable names and `"End": false`.
"""

import json

import pytest

from workshop.asl.validator import closest_state_name, resource_problem, validate, validate_state

REFERENCE_NAMES = ["CheckEvent", "TempRemove", "AskUser", "NotifyFailure", "AllowWithNotification"]


def _machine(states: dict, start: str | None = None, **top) -> dict:
    return {**top, "StartAt": start or next(iter(states)), "States": states}


def _errors(outcome):
    return [(d["code"], d["location"], d["message"]) for d in outcome["diagnostics"] if d["severity"] == "ERROR"]


@pytest.mark.parametrize("typed, meant", [("TempRemoval", "TempRemove"), ("tempremove", "TempRemove"),
                                          ("AskUsr", "AskUser"), ("NotifyFailures", "NotifyFailure")])
def test_closest_state_name(typed, meant):
    assert closest_state_name(typed, REFERENCE_NAMES) == meant


@pytest.mark.parametrize("typed", ["Completely", "", "TempRemove"])
def test_no_suggestion_when_nothing_is_close_or_the_name_exists(typed):
    assert closest_state_name(typed, REFERENCE_NAMES) is None


@pytest.mark.parametrize("field", ["Next", "Default", "StartAt"])
def test_unknown_target_message_suggests_the_closest_state(field):
    states = {"ChooseAction": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x",
                                                              "Next": "TempRemove"}], "Default": "TempRemove"},
              "TempRemove": {"Type": "Pass", "End": True}}
    if field == "Next":
        states["ChooseAction"]["Choices"][0]["Next"] = "TempRemoval"
        where = "/States/ChooseAction/Choices/0/Next"
        definition = _machine(states)
    elif field == "Default":
        states["ChooseAction"]["Default"] = "TempRemoval"
        where = "/States/ChooseAction/Default"
        definition = _machine(states)
    else:
        where = "/StartAt"
        definition = _machine(states, start="ChooseActon")
    errors = _errors(validate(definition))
    missing = [e for e in errors if e[0] == "MISSING_TRANSITION_TARGET"]
    assert [e[1] for e in missing] == [where], errors
    expected = "TempRemove" if field != "StartAt" else "ChooseAction"
    assert f"Did you mean '{expected}'?" in missing[0][2]


def test_unknown_target_without_a_close_name_lists_the_states():
    outcome = validate(_machine({"A": {"Type": "Pass", "Next": "Zzzzzz"}, "B": {"Type": "Succeed"}}))
    message = next(m for c, _, m in _errors(outcome) if c == "MISSING_TRANSITION_TARGET")
    assert "Did you mean" not in message and "Existing states are: A, B" in message


def test_single_state_text_reports_repeated_keys_with_their_path():
    text = '{"Type": "Pass", "Parameters": {"a": 1, "a": 2}, "End": true, "End": true}'
    outcome = validate_state(text, "MyState")
    assert outcome["result"] == "FAIL"
    assert {(c, loc) for c, loc, _ in _errors(outcome)} == {
        ("DUPLICATE_JSON_KEY", "/States/MyState/Parameters/a"), ("DUPLICATE_JSON_KEY", "/States/MyState/End")}


def test_single_state_matches_whole_machine_validation():
    state = {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "Parameters": {"Message.$": "$.m"},
             "End": True}
    assert validate_state(json.dumps(state), "S") == validate(_machine({"S": state}))
    assert validate_state(state, "S") == validate(_machine({"S": state}))
    assert validate_state("{not json", "S")["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"


def test_repeated_key_in_a_whole_definition_names_its_path():
    text = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"x": 1, "x": 2}, "End": true}}}'
    assert ("DUPLICATE_JSON_KEY", "/States/A/Result/x") in {(c, loc) for c, loc, _ in _errors(validate(text))}


@pytest.mark.parametrize("arn, fragments", [
    ("arn:aws:lambda:REGION:ACCOUNT_ID:function:ValidatePolicy",
     ["region 'REGION' is not a region code", "account 'ACCOUNT_ID' is not a 12-digit account ID",
      "arn:aws:lambda:us-east-1:123456789012:function:NAME"]),
    ("arn:aws:lambda:us-east-1:1234:function:f", ["account '1234' is not a 12-digit account ID"]),
    ("arn:aws:states:::sns:publish.later", ["'sns:publish.later' is not SERVICE:ACTION"]),
    ("arn:aws:s3:::my-bucket", ["'s3' service", "arn:aws:states:::aws-sdk:s3:ACTION"]),
    ("ValidatePolicy", ["is not an ARN", "${Placeholder}"]),
    ("arn:aws:states:us-east-1:123456789012:activitee:x", ["':activity:'"]),
])
def test_bad_resource_message_says_what_shape_is_wrong(arn, fragments):
    outcome = validate(_machine({"S": {"Type": "Task", "Resource": arn, "End": True}}))
    [(code, loc, message)] = _errors(outcome)
    assert (code, loc) == ("INVALID_RESOURCE", "/States/S/Resource")
    assert message == resource_problem(arn)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("value, ok", [
    ("{%$states.input%}", True), ("{% $states.input %}", True), ("plain text", True), ("100%", True),
    (" {% $states.input %}", False), ("{% $states.input %} ", False), ("$states.input %}", False),
    ("{% $states.input", False),
])
def test_jsonata_wrappers_follow_aws(value, ok):
    definition = _machine({"A": {"Type": "Pass", "Output": {"v": [value]}, "End": True}}, QueryLanguage="JSONata")
    errors = _errors(validate(definition))
    if ok:
        assert errors == []
    else:
        assert [(c, loc) for c, loc, _ in errors] == [("INVALID_JSONATA", "/States/A/Output/v/0")]


def test_jsonata_wrapper_rule_does_not_touch_jsonpath_states():
    definition = _machine({"A": {"Type": "Pass", "Parameters": {"v": " {% not evaluated %}"}, "End": True}})
    assert validate(definition) == {"result": "OK", "diagnostics": []}


@pytest.mark.parametrize("name, ok", [("café", True), ("größe_2", True), ("_x", True), ("x-y", False),
                                      ("2x", False), ("a.b", False), ("a b", False)])
def test_variable_names_are_unicode_identifiers(name, ok):
    outcome = validate(_machine({"A": {"Type": "Pass", "Assign": {name: 1}, "End": True}}))
    assert (outcome["result"] == "OK") is ok, outcome


def test_hyphenated_variable_name_gets_a_fix():
    outcome = validate(_machine({"A": {"Type": "Pass", "Assign": {"my-var": 1}, "End": True}}))
    assert "'my_var'" in _errors(outcome)[0][2]


def test_unicode_variable_can_be_read_in_a_path():
    definition = _machine({"A": {"Type": "Pass", "Assign": {"größe": 1}, "Next": "B"},
                           "B": {"Type": "Pass", "Parameters": {"v.$": "$größe"}, "End": True}})
    assert validate(definition) == {"result": "OK", "diagnostics": []}


def test_end_false_with_next_is_refused():
    outcome = validate(_machine({"A": {"Type": "Pass", "Next": "B", "End": False}, "B": {"Type": "Succeed"}}))
    assert [(c, loc) for c, loc, _ in _errors(outcome)] == [("SCHEMA_VALIDATION_FAILED", "/States/A/End")]
