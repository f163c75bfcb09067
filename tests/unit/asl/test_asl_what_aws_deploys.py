"""The validator accepts what Step Functions deploys, and still refuses what is broken as published."""

import json

from workshop.asl import validate
from workshop.asl.jsonpath import check_path


def _machine(state: dict) -> str:
    return json.dumps({"StartAt": "S", "States": {"S": {**state, "End": True}}})


def test_a_dot_before_a_bracket_is_a_path_aws_accepts():
    """AWS (amazon-states-language-paths.html) evaluates paths with Jayway's JSONPath, which reads `.[`
    as `[`: `$.[0]` and `$.Snapshots.[0].State` deploy (AWS's workflow collection has both)."""
    for path in ("$.[0]", "$.Snapshots.[0].State", "$.Items.[0]['Key']", "$$.Execution.Input.[1]"):
        assert check_path(path) is None, path
    assert check_path("$.[0]", reference=True) is None
    assert validate(_machine({"Type": "Pass", "Parameters": {"s.$": "$.Snapshots.[0].State"}}))["result"] == "OK"
    for broken in ("$.", "$.[", "$.[0", "$.a.."):
        assert check_path(broken) is not None, broken


def test_a_states_error_name_of_the_workflows_own_is_a_warning_not_a_refusal():
    """AWS (concepts-error-handling.html, "Error names"): the States. names are Step Functions' own, yet
    Step Functions deploys a Retry or Catch naming another (AWS's language service accepts it too, and
    AWS's patterns raise such names from Fail states), so the verdict is OK with a warning."""
    report = validate(json.dumps({"StartAt": "Branches", "States": {
        "Branches": {"Type": "Parallel", "End": True,
                     "Branches": [{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "States.QuotaReached"}}}],
                     "Catch": [{"ErrorEquals": ["States.QuotaReached"], "Next": "Handled"}]},
        "Handled": {"Type": "Succeed"}}}))
    assert report["result"] == "OK"
    assert [d["code"] for d in report["diagnostics"]] == ["RESERVED_ERROR_NAME"]
    misplaced = validate(_machine({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                   "Parameters": {"FunctionName": "f"},
                                   "Retry": [{"ErrorEquals": ["States.ALL", "States.Timeout"]}]}))
    assert misplaced["result"] == "FAIL"  # States.ALL alone, as the States Language says


def test_query_language_among_the_states_is_refused_as_a_misplaced_field():
    """AWS (transforming-data.html): QueryLanguage is a field of the state machine or of a state; a
    definition that puts it inside States is broken as published."""
    report = validate(json.dumps({"StartAt": "Only", "States": {"QueryLanguage": "JSONata",
                                                                "Only": {"Type": "Pass", "End": True}}}))
    assert report["result"] == "FAIL"
    assert [(d["code"], d["location"]) for d in report["diagnostics"]] == [
        ("SCHEMA_VALIDATION_FAILED", "/States/QueryLanguage")]
    assert "move it out of States" in report["diagnostics"][0]["message"]
