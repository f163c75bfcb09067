"""The exercises are checked by what an answer does: any right answer passes, a wrong one is told why."""

import copy
import json
from html import unescape

import pytest

from workshop.teaching.builder import StateMachineBuilder
from workshop.teaching.reference import reference_definition
from workshop.teaching.exercises import (BUCKET, DEVELOPER_POLICY, STARTER_POLICY, STATE_EXERCISES, TOO_BROAD_POLICY,
                                check_decision,
                                check_policy, check_state, data_before, exercise_answers, starting_text,
                                verdict_table)

REFERENCE = reference_definition()["States"]


@pytest.fixture(scope="module")
def sm():
    return StateMachineBuilder.from_reference()


def _state(name, change=None):
    state = copy.deepcopy(REFERENCE[name])
    if change:
        change(state)
    return state


def _problems(result):
    return " | ".join(result.problems)


# --- every exercise: the right answer passes, the typical wrong one fails, the starter is "no answer yet" -----


@pytest.mark.parametrize("name", list(STATE_EXERCISES))
def test_the_files_state_passes_and_the_typical_wrong_answer_fails(sm, name):
    right = check_state(name, exercise_answers("right")[name], sm)
    assert right.ok, right.message
    assert right.used == REFERENCE[name] and all(c.problem is None for c in right.cases)
    wrong = check_state(name, exercise_answers("wrong")[name], sm)
    assert not wrong.ok and wrong.attempted and wrong.used == REFERENCE[name]
    assert wrong.message.startswith(f"Not yet: your {name} went wrong on")
    assert "The machine keeps the file's" in wrong.message


@pytest.mark.parametrize("name", list(STATE_EXERCISES))
def test_the_editors_starting_text_is_no_answer_yet(sm, name):
    result = check_state(name, starting_text(name, sm), sm)
    assert not result.ok and not result.attempted and result.message.startswith("No answer yet")
    assert check_state(name, None, sm).message.startswith("No answer yet")


def test_the_answers_flow_from_the_reference_file():
    changed = copy.deepcopy(reference_definition())
    changed["States"]["AskUser"]["Parameters"]["Payload"]["incident.$"] = "$.incidentId"
    answers = exercise_answers("right", changed)
    assert answers["AskUser"]["Parameters"]["Payload"]["incident.$"] == "$.incidentId"
    assert "incident.$" in exercise_answers("wrong", changed)["AskUser"]["Parameters"]["Payload"]


# --- ChooseAction ---------------------------------------------------------------------------------------


def test_choose_action_any_order_and_the_minimal_form_pass(sm):
    reversed_choices = _state("ChooseAction", lambda s: s["Choices"].reverse())
    minimal = {"Type": "Choice", "Choices": [
        {"Variable": "$.taskresult.action", "StringEquals": "alert", "Next": "AllowWithNotification"}],
        "Default": "TempRemove"}
    as_text = json.dumps(minimal, indent=4)
    for answer in (reversed_choices, minimal, as_text):
        result = check_state("ChooseAction", answer, sm)
        assert result.ok, result.message


def test_choose_action_reading_the_wrong_path_says_which_input_and_what_happened(sm):
    result = check_state("ChooseAction", exercise_answers("wrong")["ChooseAction"], sm)
    assert ("With action = 'alert', your state fails with States.Runtime (Invalid path '$.action'" in
            _problems(result))
    assert "it should go to AllowWithNotification" in _problems(result)


def test_choose_action_failing_open_is_caught_by_the_unknown_verdict(sm):
    fail_open = _state("ChooseAction", lambda s: s.update(Default="AllowWithNotification"))
    result = check_state("ChooseAction", fail_open, sm)
    assert result.problems == ["With action = 'review' (a verdict it does not know), your state goes to "
                               "AllowWithNotification; it should go to TempRemove. Fail closed: anything but a "
                               "clear 'alert' is reverted."]


def test_choose_action_swapped_targets_fail_on_both_verdicts(sm):
    swapped = _state("ChooseAction", lambda s: [s["Choices"][0].update(Next="AllowWithNotification"),
                                                 s["Choices"][1].update(Next="TempRemove")])
    problems = _problems(check_state("ChooseAction", swapped, sm))
    assert "With action = 'remedy', your state goes to AllowWithNotification; it should go to TempRemove" in problems
    assert "With action = 'alert', your state goes to TempRemove; it should go to AllowWithNotification" in problems


def test_a_name_no_planned_state_has_is_an_error_before_anything_runs(sm):
    result = check_state("ChooseAction", _state("ChooseAction", lambda s: s.update(Default="TempRemoval")), sm)
    assert not result.ok and result.cases == []
    assert [e["location"] for e in result.errors] == ["/Default"]
    assert "Did you mean 'TempRemove'?" in result.errors[0]["message"]
    assert all(e["code"] != "MISSING_END_STATE" for e in result.errors)


def test_a_key_written_twice_is_an_error(sm):
    text = json.dumps(REFERENCE["ChooseAction"])[:-1] + ', "Default": "AllowWithNotification"}'
    result = check_state("ChooseAction", text, sm)
    assert [e["code"] for e in result.errors] == ["DUPLICATE_JSON_KEY"]


def test_text_that_is_not_json_says_where(sm):
    result = check_state("ChooseAction", '{"Type": "Choice",\n  "Choices": [],}', sm)
    assert not result.ok and "not valid JSON at line 2" in result.message


# --- ValidatePolicy (fix the broken copy) ---------------------------------------------------------------


def test_the_broken_validate_policy_shows_real_errors_with_a_did_you_mean(sm):
    start = json.loads(starting_text("ValidatePolicy", sm))
    assert len(check_state("ValidatePolicy", dict(start, Comment="mine"), sm).errors) == 3
    fixed_two = dict(start, Retry=REFERENCE["ValidatePolicy"]["Retry"])
    result = check_state("ValidatePolicy", fixed_two, sm)
    codes = sorted(e["code"] for e in result.errors)
    assert codes == ["INVALID_JSONPATH", "MISSING_TRANSITION_TARGET"], result.errors
    assert any("Did you mean 'CheckOwnOrGone'?" in e["message"] for e in result.errors)


def test_validate_policy_replacing_the_data_loses_what_the_next_states_need(sm):
    result = check_state("ValidatePolicy", exercise_answers("wrong")["ValidatePolicy"], sm)
    assert ("With the Lambda's verdict 'remedy', your state goes to CheckOwnOrGone as it should, but its output "
            "differs: eventId, eventName, eventTime and 4 more are missing") in _problems(result)


def test_validate_policy_without_the_catch_all_fails_open_on_an_unexpected_error(sm):
    narrow = _state("ValidatePolicy", lambda s: s["Catch"].pop())
    assert ("With an error nobody expected (States.TaskFailed), your state fails with States.TaskFailed"
            in _problems(check_state("ValidatePolicy", narrow, sm)))


# --- TempRemove (Retry and Catch) -----------------------------------------------------------------------


def test_temp_remove_more_attempts_or_fewer_errors_listed_still_pass_when_they_behave(sm):
    more = _state("TempRemove", lambda s: s["Retry"][0].update(MaxAttempts=6, IntervalSeconds=2))
    assert check_state("TempRemove", more, sm).ok


def test_temp_remove_retrying_everything_delays_the_alert(sm):
    retry_all = _state("TempRemove", lambda s: s["Retry"][0].update(ErrorEquals=["States.ALL"]))
    result = check_state("TempRemove", retry_all, sm)
    assert result.problems == ["With a policy deleted meanwhile (NoSuchEntity) on the first try, your state retries "
                               "NoSuchEntity; it should catch NoSuchEntity and go to NotifyFailure. Not transient: "
                               "retrying only delays the admin's alert."]


def test_the_typical_wrong_temp_remove_is_told_both_of_its_mistakes(sm):
    problems = _problems(check_state("TempRemove", exercise_answers("wrong")["TempRemove"], sm))
    assert "your state retries NoSuchEntity; it should catch NoSuchEntity" in problems
    assert "Your Catch of TransientError has no ResultPath" in problems


def test_temp_remove_a_catch_that_replaces_the_data(sm):
    replaced = _state("TempRemove", lambda s: s["Catch"][0].update(ResultPath="$"))
    assert "catches NoSuchEntity and goes to NotifyFailure as it should, but its output differs" in \
        _problems(check_state("TempRemove", replaced, sm))


def test_a_catch_without_result_path_is_named_as_the_cause(sm):
    no_result_path = _state("TempRemove", lambda s: s["Catch"][0].pop("ResultPath"))
    result = check_state("TempRemove", no_result_path, sm)
    assert not result.ok
    assert ('Your Catch of NoSuchEntity has no ResultPath, so the error replaces the whole data; give it '
            '"ResultPath": "$.failure"') in _problems(result)
    assert "your answer wrote Error, Cause instead" in _problems(result)


def test_temp_remove_without_lambda_errors_retried(sm):
    only = _state("TempRemove", lambda s: s["Retry"][0].update(ErrorEquals=["TransientError"]))
    assert ("With Lambda throttled on the first try (Lambda.TooManyRequestsException), your state catches "
            "Lambda.TooManyRequestsException and goes to NotifyFailure; it should retry") in \
        _problems(check_state("TempRemove", only, sm))


# --- AskUser (the callback) -----------------------------------------------------------------------------


def test_ask_user_without_wait_for_task_token(sm):
    no_wait = _state("AskUser", lambda s: s.update(Resource="arn:aws:states:::lambda:invoke"))
    assert ("a task token exists only in a .waitForTaskToken task" in
            _problems(check_state("AskUser", no_wait, sm)))
    no_wait_no_token = _state("AskUser", lambda s: [s.update(Resource="arn:aws:states:::lambda:invoke"),
                                                    s["Parameters"]["Payload"].pop("token.$")])
    problems = _problems(check_state("AskUser", no_wait_no_token, sm))
    assert "it did not wait for the human: it went on with the Lambda's own reply" in problems
    assert "decision.action is missing" in problems


def test_ask_user_without_the_token_nobody_can_answer(sm):
    problems = _problems(check_state("AskUser", exercise_answers("wrong")["AskUser"], sm))
    assert ("With Approve clicked (the page sends {\"action\": \"allow\"}), your state catches States.Timeout and "
            "goes to NotifyTimeout (the Lambda was sent no task token") in problems


def test_ask_user_without_a_time_limit_waits_for_ever(sm):
    no_limit = _state("AskUser", lambda s: s.pop("TimeoutSecondsPath"))
    assert "your state waits for ever (it has no time limit, and nobody answers); it should catch States.Timeout" \
        in _problems(check_state("AskUser", no_limit, sm))
    fixed = _state("AskUser", lambda s: [s.pop("TimeoutSecondsPath"), s.update(TimeoutSeconds=86400)])
    assert "your state waits 86400 s; it should wait 60 s" in _problems(check_state("AskUser", fixed, sm))


def test_ask_user_token_under_another_key_is_not_what_the_lambda_reads(sm):
    renamed = _state("AskUser", lambda s: s["Parameters"]["Payload"].update(
        {"taskToken.$": s["Parameters"]["Payload"].pop("token.$")}))
    assert "your state's task is sent something else: Payload.token is missing" in \
        _problems(check_state("AskUser", renamed, sm))


def test_the_task_token_read_with_one_dollar_points_at_the_context_object(sm):
    one_dollar = _state("AskUser", lambda s: s["Parameters"]["Payload"].update({"token.$": "$.Task.Token"}))
    problems = _problems(check_state("AskUser", one_dollar, sm))
    assert "Invalid path '$.Task.Token'" in problems
    assert "$.Task.Token reads the state's input; Task belongs to the context object" in problems
    assert "two dollars: $$.Task.Token" in problems


def test_a_key_written_in_another_case_is_named_as_written(sm):
    camel = _state("ValidatePolicy", lambda s: s.update(ResultPath="$.taskResult"))
    problems = _problems(check_state("ValidatePolicy", camel, sm))
    assert "taskresult is missing: your answer wrote taskResult, and keys are case-sensitive" in problems
    assert "Your ResultPath '$.taskResult' should be '$.taskresult'" in problems


def test_a_path_to_a_key_elsewhere_says_where_it_is(sm):
    problems = _problems(check_state("ChooseAction", exercise_answers("wrong")["ChooseAction"], sm))
    assert "There is no $.action in the input; action is at $.taskresult.action." in problems


def test_a_why_is_said_only_where_it_concerns_what_went_wrong(sm):
    renamed = _state("AskUser", lambda s: s["Parameters"]["Payload"].update(
        {"taskToken.$": s["Parameters"]["Payload"].pop("token.$")}))
    result = check_state("AskUser", renamed, sm)
    waiting = next(c for c in result.cases if c.case.compare_limit)
    assert "Payload.token is missing; your answer wrote Payload.taskToken instead" in waiting.problem
    assert "TimeoutSecondsPath" not in waiting.problem  # the time limit was right: its why is not said


def test_each_row_says_only_what_concerns_it(sm):
    result = check_state("ChooseAction", exercise_answers("wrong")["ChooseAction"], sm)
    for row in result.cases:
        assert not row.row_text.startswith("With "), row.row_text
    html = unescape(result._repr_mimebundle_()["text/html"])
    assert "With action = 'alert'" not in html and "Your state fails with States.Runtime" in html


def test_a_failed_exercise_shows_one_status(sm):
    builder = StateMachineBuilder.from_reference()
    builder.add_given("CheckEvent", "WhichChange", "ReportUnrecognisedEvent", "InvalidEvent", "CreatePolicyTarget",
                      "ModifyState")
    wrong = builder.exercise("ValidatePolicy", exercise_answers("wrong")["ValidatePolicy"])
    html = unescape(wrong._repr_mimebundle_()["text/html"])
    assert "✗ Exercise ValidatePolicy" in html and "No errors." not in html
    assert "The machine so far holds the file's ValidatePolicy in place of yours." in html
    right = builder.exercise("ValidatePolicy", exercise_answers("right")["ValidatePolicy"])
    assert "No errors." in right._repr_mimebundle_()["text/html"]


def test_the_cases_inputs_are_what_the_files_machine_hands_the_state(sm):
    data = data_before(sm, "AskUser")
    assert data["target"]["policyArn"] == "arn:aws:iam::123456789012:policy/my-bad-policy"
    assert data["taskresult"]["action"] == "remedy" and "reverted" in data


# --- the developer's policy -----------------------------------------------------------------------------


def test_a_policy_that_grants_what_is_needed_and_only_alerts_passes():
    result = check_policy(DEVELOPER_POLICY)
    assert result.ok and result.used == DEVELOPER_POLICY
    assert check_policy(json.dumps(DEVELOPER_POLICY)).ok  # as JSON text too
    one_statement = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{BUCKET}/*"},
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [BUCKET]}]}
    assert check_policy(one_statement).ok  # another form of the same grant


def test_the_exercises_judge_with_the_templates_default_restricted_actions():
    from cfn_template import load_template
    from workshop.teaching.exercises import DEFAULT_RESTRICTED

    assert DEFAULT_RESTRICTED == load_template()["Parameters"]["RestrictedActions"]["Default"]


def test_a_near_admin_policy_with_not_action_is_not_least_privilege():
    near_admin = exercise_answers("wrong")["developer_policy"]
    result = check_policy(near_admin)
    assert result.verdict["action"] == "alert"  # ValidatePolicy alone would let it through
    assert not result.ok and result.used != near_admin
    assert "statement 0 (Sid Everything) also grants" in result.message
    assert "its NotAction allows every action but s3:DeleteBucket, s3:DeleteObject, s3:DeleteObjectVersion" in result.message
    assert "goodpolicy.json instead" in result.message


def test_the_needed_actions_on_every_bucket_are_too_much():
    on_star = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Everywhere", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
         "Resource": "*"}]}
    result = check_policy(on_star)
    assert not result.ok
    assert ("statement 0 (Sid Everywhere) also grants s3:GetObject, s3:PutObject, s3:ListBucket beyond the "
            "reports bucket (its Resource: *)") in result.message


@pytest.mark.parametrize("extra, named", [
    ({"Sid": "Roles", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}, "statement 2 (Sid Roles) also "
                                                                                      "grants iam:PassRole"),
    ({"Effect": "Allow", "Action": "s3:Get*", "Resource": f"{BUCKET}/*"}, "statement 2 also grants"),
])
def test_each_statement_that_grants_more_is_named(extra, named):
    policy = copy.deepcopy(DEVELOPER_POLICY)
    policy["Statement"].append(extra)
    result = check_policy(policy)
    assert not result.ok and named in result.message
    assert "statement 0" not in result.message and "statement 1" not in result.message


def test_a_deny_can_take_back_what_a_broad_allow_grants_too_much():
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{BUCKET}/*"},
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketVersions"], "Resource": BUCKET},
        {"Effect": "Deny", "Action": "s3:ListBucketVersions", "Resource": "*"}]}
    assert check_policy(policy).ok


def test_a_policy_with_s3_star_is_remedy_and_is_not_fired():
    result = check_policy(TOO_BROAD_POLICY)
    assert not result.ok and result.message.startswith("ValidatePolicy says remedy")
    assert "s3:DeleteObject" in result.message and result.used != TOO_BROAD_POLICY
    assert "goodpolicy.json instead" in result.message


def test_a_policy_that_misses_what_the_developer_needs():
    result = check_policy(STARTER_POLICY)
    assert not result.ok
    assert "the developer also needs s3:PutObject on arn:aws:s3:::example-reports/*, s3:ListBucket on " \
           "arn:aws:s3:::example-reports" in result.message
    elsewhere = copy.deepcopy(DEVELOPER_POLICY)
    elsewhere["Statement"][0]["Resource"] = "arn:aws:s3:::other-bucket/*"
    assert "s3:GetObject on arn:aws:s3:::example-reports/*" in check_policy(elsewhere).message


def test_a_deny_takes_back_what_an_allow_grants():
    denied = copy.deepcopy(DEVELOPER_POLICY)
    denied["Statement"].append({"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"})
    assert "also needs s3:PutObject" in check_policy(denied).message


def test_a_document_iam_would_refuse():
    result = check_policy({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]})
    assert not result.ok and result.message.startswith("IAM would refuse this document")


def test_the_restricted_actions_in_force_decide():
    assert not check_policy(DEVELOPER_POLICY, restricted="s3:PutObject").ok


def test_verdict_table_uses_validate_policys_code():
    table = verdict_table({"bad": json.loads(json.dumps(TOO_BROAD_POLICY))}, ["s3:DeleteObject", "iam:*"])
    assert repr(table).splitlines() == ["bad under s3:DeleteObject: remedy: s3:DeleteObject", "bad under iam:*: alert"]


# --- the decision ---------------------------------------------------------------------------------------


class _Incident:
    execution_arn, name = "arn:exec", "workshop-bad-policy-x"

    def matched_actions(self):
        return ["s3:DeleteBucket", "s3:DeleteObject"]


class _Approval:
    incident = _Incident()


class _Result:
    def __init__(self, decision):
        self.decision, self.ok = decision, True


class _Panel:
    def __init__(self, decision=None):
        self.pending = [_Approval()]
        self.results = {"arn:exec": _Result(decision)} if decision else {}


def test_deny_is_the_answer_and_approve_is_explained():
    assert not check_decision(_Panel()).decided
    right = check_decision(_Panel("deny"))
    assert right.ok and "s3:DeleteBucket, s3:DeleteObject" in right.message
    wrong = check_decision(_Panel("allow"))
    assert not wrong.ok and wrong.decided
    assert "back in force as written" in wrong.message and "Deny was the answer" in wrong.message
    assert "<details><summary>Show the answer</summary>" in wrong._repr_html_()
