"""Building the state machine cell by cell: diagnostics, substitutions, comparison, the exercise."""

import json

import pytest

from workshop.builder import (DEFAULT_SUBSTITUTIONS, StateMachineBuilder, check_exercise, reference_definition,
                              split_diagnostics, substitute, substitutions_from, try_state)


def test_a_next_to_a_state_not_written_yet_is_still_to_build_not_an_error():
    sm = StateMachineBuilder(start_at="First")
    step = sm.add("First", {"Type": "Pass", "Next": "Second"})
    assert step.errors == []
    codes = {d["code"] for d in step.parts["still_to_build"]}
    assert "MISSING_TRANSITION_TARGET" in codes and codes <= {"MISSING_TRANSITION_TARGET", "MISSING_END_STATE"}
    done = sm.add("Second", {"Type": "Succeed"})
    assert done.parts == {"errors": [], "still_to_build": [], "warnings": []}
    assert "Valid" in done._repr_mimebundle_()["text/html"]


def test_a_real_mistake_is_an_error():
    sm = StateMachineBuilder(start_at="First")
    step = sm.add("First", {"Type": "Pass", "Next": "Second", "End": True})
    assert step.errors and "error(s)" in step._repr_mimebundle_()["text/html"]


def test_each_step_draws_the_graph_as_svg_and_mermaid():
    sm = StateMachineBuilder(start_at="Only")
    bundle = sm.add("Only", {"Type": "Succeed"})._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<svg") and "text/vnd.mermaid" in bundle


def test_building_every_state_of_the_file_gives_the_file_back():
    reference = reference_definition()
    sm = StateMachineBuilder(start_at=reference["StartAt"], comment=reference["Comment"])
    for name, state in reference["States"].items():
        last = sm.add(name, state)
    assert last.parts["errors"] == [] and last.parts["still_to_build"] == []
    assert sm.compare().identical
    assert "Identical" in sm.compare()._repr_html_()


def test_a_difference_from_the_file_is_shown_as_a_diff():
    reference = reference_definition()
    sm = StateMachineBuilder(start_at=reference["StartAt"], comment=reference["Comment"])
    for name, state in reference["States"].items():
        sm.add(name, state)
    sm.definition["States"]["denied"]["Comment"] = "changed"
    comparison = sm.compare()
    assert not comparison.identical and '+      "Comment": "changed"' in comparison.diff()


def test_substitutions_are_read_back_from_a_deployed_definition():
    reference = reference_definition()
    values = {**DEFAULT_SUBSTITUTIONS, "ApprovalTimeoutSeconds": "42",
              "AskUserArn": "arn:aws:lambda:us-east-1:123456789012:function:stack-AskUser-ABC"}
    deployed = substitute(reference, values)
    assert substitutions_from(reference, deployed) == values
    assert "States.StringToJson('42')" in json.dumps(deployed)


def test_exercise_without_answer_uses_the_solution_and_says_so():
    solution = reference_definition()["States"]["ChooseAction"]
    check = check_exercise(None, solution, "ChooseAction")
    assert not check.ok and check.used == solution and "solution was used" in repr(check)


def test_exercise_right_answer_ignores_comments():
    solution = reference_definition()["States"]["ChooseAction"]
    answer = {**json.loads(json.dumps(solution)), "Comment": "mine"}
    assert check_exercise(answer, solution, "ChooseAction").ok


def test_exercise_wrong_answer_says_where_to_look():
    solution = reference_definition()["States"]["ChooseAction"]
    answer = {**solution, "Default": "AllowWithNotification"}
    check = check_exercise(answer, solution, "ChooseAction")
    assert not check.ok and "look again at Default" in check.message


def test_split_diagnostics_by_kind():
    parts = split_diagnostics([
        {"severity": "ERROR", "code": "MISSING_TRANSITION_TARGET", "message": "", "location": "/"},
        {"severity": "ERROR", "code": "NEXT_AND_END", "message": "", "location": "/"},
        {"severity": "WARNING", "code": "NO_DOLLAR", "message": "", "location": "/"}])
    assert [len(parts[k]) for k in ("errors", "still_to_build", "warnings")] == [1, 1, 1]


def test_try_state_falls_back_with_a_clear_note_when_testate_is_missing():
    class NoTestState:
        def client(self, name):
            class Client:
                def test_state(self, **kwargs):
                    raise RuntimeError("UnknownOperation")
            return Client()

    sm = StateMachineBuilder(start_at="P")
    sm.add("P", {"Type": "Pass", "End": True})
    result = try_state(NoTestState(), sm, "P", {"a": 1})
    assert result.source == "offline" and result.response["status"] == "SUCCEEDED"
    assert "does not offer the TestState API yet" in repr(result)


def test_try_state_offline_with_a_mocked_error_shows_the_catch():
    from workshop.builder import DEFAULT_SUBSTITUTIONS

    class NoTestState:
        def client(self, name):
            class Client:
                def test_state(self, **kwargs):
                    raise RuntimeError("UnknownOperation")
            return Client()

    reference = reference_definition()
    sm = StateMachineBuilder(start_at="ValidatePolicy", substitutions=DEFAULT_SUBSTITUTIONS)
    sm.add("ValidatePolicy", reference["States"]["ValidatePolicy"])
    given = {"target": {"kind": "managed"}, "eventName": "CreatePolicy", "changedBy": {}}
    result = try_state(NoTestState(), sm, "ValidatePolicy", given,
                       mock={"errorOutput": {"error": "InvalidPolicyDocument", "cause": "no Statement"}})
    assert result.response["status"] == "CAUGHT_ERROR" and result.response["nextState"] == "TempRemove"


def test_try_state_shows_the_output_when_testate_answers():
    calls = {}

    class WithTestState:
        def client(self, name):
            class Client:
                def test_state(self, **kwargs):
                    calls.update(kwargs)
                    return {"status": "SUCCEEDED", "output": '{"b": 1}', "nextState": "Q", "ResponseMetadata": {}}
            return Client()

    sm = StateMachineBuilder(start_at="P")
    sm.add("P", {"Type": "Pass", "Result": {"b": 1}, "Next": "Q"})
    result = try_state(WithTestState(), sm, "P", {"a": 1})
    assert result.supported and "SUCCEEDED" in result._repr_html_() and '&quot;b&quot;: 1' in result._repr_html_()
    assert json.loads(calls["definition"])["Type"] == "Pass" and json.loads(calls["input"]) == {"a": 1}
