"""Building the state machine cell by cell: diagnostics, substitutions, comparison, exercises, deploying."""

import copy
import json

import pytest

from workshop.asl.diagnostics import split_diagnostics
from workshop.asl.substitution import substitute, substitutions_from
from workshop.teaching.builder import DefinitionNotValid, StateMachineBuilder, try_state
from workshop.teaching.reference import DEFAULT_SUBSTITUTIONS, reference_definition
from workshop.teaching.exercises import STATE_EXERCISES, exercise_answers


def test_a_next_to_a_state_not_written_yet_is_still_to_build_not_an_error():
    sm = StateMachineBuilder(start_at="First")
    step = sm.add("First", {"Type": "Pass", "Next": "Second"})
    assert step.errors == []
    codes = {d["code"] for d in step.parts["still_to_build"]}
    assert "MISSING_TRANSITION_TARGET" in codes and codes <= {"MISSING_TRANSITION_TARGET", "MISSING_END_STATE"}
    done = sm.add("Second", {"Type": "Succeed"})
    assert done.parts == {"errors": [], "still_to_build": [], "warnings": []}
    assert "No errors." in done._repr_mimebundle_()["text/html"]


def test_a_real_mistake_is_an_error():
    sm = StateMachineBuilder(start_at="First")
    step = sm.add("First", {"Type": "Pass", "Next": "Second", "End": True})
    assert step.errors and "Errors (1)" in step._repr_mimebundle_()["text/html"]


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
    count = len(reference["States"])
    assert f"the built definition is the file&#x27;s, state for state ({count} states)" in sm.compare()._repr_html_()


def test_a_difference_from_the_file_is_shown_as_a_diff():
    reference = reference_definition()
    sm = StateMachineBuilder(start_at=reference["StartAt"], comment=reference["Comment"])
    for name, state in reference["States"].items():
        sm.add(name, state)
    sm.definition["States"]["denied"]["Comment"] = "changed"
    comparison = sm.compare()
    assert not comparison.identical and '+      "Comment": "changed"' in comparison.diff()
    assert "1 different from the file's, unchecked (denied)" in repr(comparison)
    assert '"WhichChange"' not in comparison.diff()  # only what differs is shown


def test_states_written_differently_but_checked_by_running_them_compare_as_the_same():
    sm = _planned()
    sm.add_remaining()
    reversed_choices = copy.deepcopy(reference_definition()["States"]["ChooseAction"])
    reversed_choices["Choices"].reverse()
    assert sm.exercise("ChooseAction", reversed_choices).ok
    comparison = sm.compare()
    assert not comparison.identical and comparison.behaves_the_same
    assert repr(comparison) == ("Compared with statemachine/security_orchestrator.asl.json, the built definition "
                                "behaves as the file's: 1 written by you (ChooseAction), each checked with TestState "
                                f"to behave as the file's; {len(reference_definition()['States']) - 1} as in the "
                                "file. Not yours yet: the file's ValidatePolicy, TempRemove and AskUser stand in for your answers "
                                "until their exercises pass.")


def test_a_comparison_does_not_credit_the_learner_with_the_files_states_standing_in_for_failed_answers():
    sm = _planned()
    sm.add_remaining()
    for name in ("ValidatePolicy", "TempRemove", "AskUser"):
        assert sm.exercise(name, sm.reference_state(name)).ok
    wrong = {**reference_definition()["States"]["ChooseAction"], "Default": "AllowWithNotification"}
    assert not sm.exercise("ChooseAction", wrong).ok
    comparison = sm.compare()
    assert comparison.identical  # the file's ChooseAction stands in for the wrong one
    page = comparison._repr_html_()
    assert "Not yours yet: the file&#x27;s ChooseAction stands in for your answer until its exercise passes." in page
    assert "#1d8102" not in page  # not the green of a finished machine


def test_substitutions_are_read_back_from_a_deployed_definition():
    reference = reference_definition()
    values = {**DEFAULT_SUBSTITUTIONS, "ApprovalTimeoutSeconds": "42",
              "AskUserArn": "arn:aws:lambda:us-east-1:123456789012:function:stack-AskUser-ABC"}
    deployed = substitute(reference, values)
    assert substitutions_from(reference, deployed) == values
    assert "States.StringToJson('42')" in json.dumps(deployed)


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
    from workshop.teaching.reference import DEFAULT_SUBSTITUTIONS

    class NoTestState:
        def client(self, name):
            class Client:
                def test_state(self, **kwargs):
                    raise RuntimeError("UnknownOperation")
            return Client()

    reference = reference_definition()
    sm = StateMachineBuilder(start_at="ValidatePolicy", substitutions=DEFAULT_SUBSTITUTIONS)
    sm.add("ValidatePolicy", reference["States"]["ValidatePolicy"])
    given = {"target": {"kind": "managed"}, "eventId": "e1", "eventName": "CreatePolicy",
             "eventTime": "2026-11-28T10:15:30Z", "changedBy": {}}
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


# --- a plan: the states the notebook will add -----------------------------------------------------------


def _planned():
    return StateMachineBuilder.from_reference()


def test_a_next_to_a_planned_state_is_still_to_build_and_a_typo_is_an_error_with_a_did_you_mean():
    sm = _planned()
    step = sm.add_given("CheckEvent", "WhichChange", "ReportUnrecognisedEvent", "InvalidEvent", "CreatePolicyTarget",
                        "ModifyState")
    assert step.errors == []
    assert [d["message"] for d in step.parts["still_to_build"] if d["code"] == "MISSING_TRANSITION_TARGET"
            and "ValidatePolicy" in d["message"]] == ["'ValidatePolicy' comes later in this notebook."]
    typo = sm.add("ValidatePolicy", {**sm.reference_state("ValidatePolicy"), "Next": "ChooseActoin"})
    assert [d["code"] for d in typo.errors] == ["MISSING_TRANSITION_TARGET"]
    assert "Did you mean 'ChooseAction'?" in typo.errors[0]["message"]
    assert "Existing states are" not in typo.errors[0]["message"]  # one list of states, at the end of a step
    html = typo._repr_mimebundle_()["text/html"]
    assert "Errors (1)" in html and f"States so far: 7 of {len(reference_definition()['States'])}." in html


def test_no_end_state_and_unreachable_wait_for_the_plan_then_are_errors():
    sm = StateMachineBuilder("A", plan=["A", "B"])
    first = sm.add("A", {"Type": "Pass", "Next": "B"})
    assert {d["code"] for d in first.parts["still_to_build"]} == {"MISSING_TRANSITION_TARGET", "MISSING_END_STATE"}
    done = sm.add("B", {"Type": "Pass", "Next": "A"})
    assert [d["code"] for d in done.errors] == ["MISSING_END_STATE"]


def test_a_single_state_gets_no_whole_machine_diagnostics():
    from workshop.asl.validator import validate_state

    state = {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "b", "Next": "TempRemove"}],
             "Default": "TempRemoval"}
    machine = {"StartAt": "ChooseAction", "States": {"ChooseAction": state}}
    parts = split_diagnostics(validate_state(state, "ChooseAction")["diagnostics"], machine,
                              plan=list(reference_definition()["States"]), single_state="ChooseAction")
    assert [d["code"] for d in parts["errors"]] == ["MISSING_TRANSITION_TARGET"]  # the typo only
    assert parts["still_to_build"] == [] and "TempRemove'?" in parts["errors"][0]["message"]


def test_given_states_come_from_the_file_by_name_shown_folded():
    sm = _planned()
    step = sm.add_given("ModifyState")
    assert sm.definition["States"]["ModifyState"] == reference_definition()["States"]["ModifyState"]
    assert "<details><summary><code>ModifyState</code> · Pass" in step._repr_mimebundle_()["text/html"]
    with pytest.raises(KeyError, match="did you mean 'ModifyState'"):
        sm.add_given("ModifyStat")


def test_add_remaining_fast_forwards_to_the_whole_file():
    sm = _planned()
    sm.add_given("CheckEvent")
    last = sm.add_remaining()
    assert last.parts == {"errors": [], "still_to_build": [], "warnings": []}
    assert sm.compare().identical


def test_a_failing_exercise_keeps_the_files_state_and_a_passing_one_is_used():
    sm = _planned()
    reference = reference_definition()["States"]["ChooseAction"]
    wrong = sm.exercise("ChooseAction", exercise_answers("wrong")["ChooseAction"])
    assert not wrong.ok and sm.definition["States"]["ChooseAction"] == reference
    assert "The machine keeps the file's ChooseAction" in wrong.message
    mine = {"Type": "Choice", "Choices": [
        {"Variable": "$.taskresult.action", "StringEquals": "alert", "Next": "AllowWithNotification"}],
        "Default": "TempRemove"}
    right = sm.exercise("ChooseAction", mine)
    assert right.ok and sm.definition["States"]["ChooseAction"] == mine


def test_deploy_is_refused_until_every_exercise_passed_unless_asked():
    class Cloud:
        calls = []

        def client(self, name):
            cloud = self

            class Client:
                def update_state_machine(self, **kwargs):
                    cloud.calls.append(kwargs)

                def describe_state_machine(self, **kwargs):
                    return {"name": "SM"}
            return Client()

    cloud = Cloud()
    sm = _planned()
    sm.add_remaining()
    refused = sm.deploy(cloud, "arn:sm")
    assert not refused.deployed and cloud.calls == []
    assert all(name in refused.message for name in STATE_EXERCISES) and "deploy_anyway" in refused.message
    anyway = sm.deploy(cloud, "arn:sm", anyway=True)
    assert anyway.deployed and len(cloud.calls) == 1 and "deployed anyway" in anyway.message
    for name, answer in exercise_answers("right").items():
        if name in STATE_EXERCISES:
            assert sm.exercise(name, answer).ok
    done = sm.deploy(cloud, "arn:sm")
    assert done.deployed and f"the definition is the file's, state for state ({len(reference_definition()['States'])} states)" in repr(done)
    assert json.loads(cloud.calls[-1]["definition"]) == substitute(reference_definition(), sm.substitutions)


def test_a_deploy_the_accounts_guardrails_refuse_says_so_and_keeps_the_deployed_definition():
    from botocore.exceptions import ClientError

    message = ("User: arn:aws:iam::123456789012:user/learner is not authorized to perform: states:UpdateStateMachine "
               "on resource: arn:sm with an explicit deny in a service control policy")

    class Cloud:
        def client(self, name):
            class Client:
                def update_state_machine(self, **kwargs):
                    raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}},
                                      "UpdateStateMachine")
            return Client()

    sm = _planned()
    sm.add_remaining()
    refused = sm.deploy(Cloud(), "arn:sm", anyway=True)
    assert not refused.deployed and "guardrails keep states:UpdateStateMachine" in refused.message


def test_an_incomplete_definition_is_not_deployed():
    sm = _planned()
    sm.add_given("CheckEvent")
    with pytest.raises(DefinitionNotValid, match="not complete and valid") as caught:
        sm.deploy(None, "arn:sm", anyway=True)
    assert "Traceback" not in "".join(caught.value._render_traceback_())


def test_still_to_build_counts_the_states_it_names_not_its_notes():
    sm = _planned()
    sm.add_given("CheckEvent", "WhichChange", "ReportUnrecognisedEvent", "InvalidEvent", "CreatePolicyTarget",
                 "ModifyState", "ValidatePolicy")
    step = sm.add("ChooseAction", sm.reference_state("ChooseAction"))  # nothing leads to it yet
    html = step._repr_mimebundle_()["text/html"]
    summary = html.split("Still to build", 1)[1].split("</details>", 1)[0]
    named = summary.count("<code>")
    assert "nothing leads to ChooseAction yet" in summary
    assert f"<strong>Still to build ({named})</strong>" in html
