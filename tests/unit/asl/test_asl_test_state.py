"""The offline TestState and ValidateStateMachineDefinition APIs, on the workshop's own states."""

import json
from pathlib import Path

import botocore.loaders
import pytest

from workshop.asl import test_state as ts
from workshop.asl.substitution import substitute
from workshop.teaching.reference import DEFAULT_SUBSTITUTIONS

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = json.loads((ROOT / "statemachine" / "security_orchestrator.asl.json").read_text())
MACHINE = substitute(TEMPLATE, DEFAULT_SUBSTITUTIONS)
DEFINITION = json.dumps(MACHINE)
CREATE_POLICY = (ROOT / "events" / "create_policy.json").read_text()
EVENT = json.loads(CREATE_POLICY)
SERVICE = botocore.loaders.Loader().load_service_model("stepfunctions", "service-2")
POLICY_ARN = "arn:aws:iam::123456789012:policy/my-bad-policy"
TARGET = {"kind": "managed", "policyArn": POLICY_ARN, "versionId": "v1", "label": f"policy {POLICY_ARN} version v1"}
TARGETED = {**EVENT, "target": TARGET}  # the event after CreatePolicyTarget
INCIDENT = {"eventId": EVENT["detail"]["eventID"], "eventName": "CreatePolicy", "eventTime": EVENT["detail"]["eventTime"],
            "changedBy": EVENT["detail"]["userIdentity"], "target": TARGET, "approvalTimeoutSeconds": 86400}


def run(state_name, input_value=None, **request):
    """TestState on one state of the (substituted) workshop machine."""
    request.setdefault("inspectionLevel", "DEBUG")
    if input_value is not None:
        request["input"] = input_value if isinstance(input_value, str) else json.dumps(input_value)
    return ts.test_state({"definition": DEFINITION, "stateName": state_name, **request})


def one(state, input_value=None, **request):
    """TestState on a single state's definition."""
    if input_value is not None:
        request["input"] = json.dumps(input_value)
    return ts.test_state({"definition": json.dumps(state), **request})


def inspected(response, key):
    return json.loads(response["inspectionData"][key])


def members(shape):
    return set(SERVICE["shapes"][shape]["members"])


# --- the response shape is the API's ----------------------------------------------------


def test_responses_use_only_members_of_the_api():
    responses = [
        run("CreatePolicyTarget", EVENT, inspectionLevel="TRACE"),
        run("CheckEvent", {}),
        run("ValidatePolicy", INCIDENT, mock={"errorOutput": {"error": "InvalidPolicyDocument", "cause": "x"}}),
        run("ValidatePolicy", INCIDENT, mock={"errorOutput": {"error": "TransientError", "cause": "x"}}),
        run("InvalidEvent", {}),
    ]
    statuses = set(SERVICE["shapes"]["TestExecutionStatus"]["enum"])
    for response in responses:
        assert set(response) <= members("TestStateOutput")
        assert set(response.get("inspectionData", {})) <= members("InspectionData")
        assert set(response["inspectionData"].get("errorDetails", {})) <= members("InspectionErrorDetails")
        assert response["status"] in statuses


def test_request_members_we_read_exist_in_botocore():
    assert {"definition", "roleArn", "input", "inspectionLevel", "revealSecrets", "variables", "stateName", "mock",
            "context", "stateConfiguration"} <= members("TestStateInput")
    assert {"result", "errorOutput", "fieldValidationMode"} <= members("MockInput")
    assert {"definition", "type", "severity", "maxResults"} == members("ValidateStateMachineDefinitionInput")
    assert {"result", "diagnostics", "truncated"} == members("ValidateStateMachineDefinitionOutput")


# --- Pass: the target states and ModifyState -------------------------------------------------


def test_create_policy_target_names_the_version_the_event_points_at():
    response = run("CreatePolicyTarget", CREATE_POLICY)
    assert response["status"] == "SUCCEEDED" and response["nextState"] == "ModifyState"
    assert json.loads(response["output"]) == TARGETED  # ResultPath $.target: added, the event kept


def test_modify_state_shapes_the_incident():
    response = run("ModifyState", TARGETED)
    assert response["status"] == "SUCCEEDED"
    assert response["nextState"] == "ValidatePolicy"
    assert json.loads(response["output"]) == INCIDENT  # approvalTimeoutSeconds: States.StringToJson('86400')


@pytest.mark.parametrize("event_name, request_parameters, target", [
    ("SetDefaultPolicyVersion", {"policyArn": POLICY_ARN, "versionId": "v3"},
     {"kind": "managed", "policyArn": POLICY_ARN, "versionId": "v3", "label": f"policy {POLICY_ARN} version v3"}),
    ("PutRolePolicy", {"roleName": "app", "policyName": "extra", "policyDocument": "{}"},
     {"kind": "inline", "principalType": "role", "principalName": "app", "policyName": "extra",
      "label": "inline policy extra of role app"}),
    ("AttachGroupPolicy", {"groupName": "ops", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
     {"kind": "attachment", "principalType": "group", "principalName": "ops",
      "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
      "label": "arn:aws:iam::aws:policy/AdministratorAccess attached to group ops"}),
])
def test_each_watched_call_is_routed_to_its_target_state(event_name, request_parameters, target):
    event = json.loads(CREATE_POLICY)
    event["detail"].update(eventName=event_name, requestParameters=request_parameters, responseElements=None)
    assert run("CheckEvent", event)["nextState"] == "WhichChange"
    routed = run("WhichChange", event)
    assert routed["nextState"] == f"{event_name}Target"
    assert json.loads(run(routed["nextState"], event)["output"])["target"] == target


def test_an_event_without_the_document_is_still_routed():
    """CloudTrail leaves out a request field that is too large: the document is read from IAM anyway."""
    event = json.loads(CREATE_POLICY)
    del event["detail"]["requestParameters"]["policyDocument"]
    assert run("WhichChange", event)["nextState"] == "CreatePolicyTarget"


def test_debug_shows_every_data_flow_step_of_a_pass_state():
    response = run("ModifyState", TARGETED)
    data = response["inspectionData"]
    assert inspected(response, "input") == TARGETED
    assert inspected(response, "afterInputPath") == TARGETED
    assert inspected(response, "afterParameters")["eventName"] == "CreatePolicy"
    assert inspected(response, "afterResultPath") == json.loads(response["output"])
    assert "afterResultSelector" not in data  # a Pass state has no ResultSelector


def test_pass_with_paths_result_and_output_path():
    state = {"Type": "Pass", "InputPath": "$.in", "Result": {"r": 1}, "ResultPath": "$.res", "OutputPath": "$.res",
             "End": True}
    response = one(state, {"in": {"x": 1}}, inspectionLevel="DEBUG")
    assert response == {"output": '{"r":1}', "status": "SUCCEEDED", "inspectionData": response["inspectionData"]}
    assert inspected(response, "afterInputPath") == {"x": 1}
    assert inspected(response, "afterResultPath") == {"in": {"x": 1}, "res": {"r": 1}}


def test_result_path_null_keeps_the_input_and_nested_paths_are_created():
    assert one({"Type": "Pass", "Result": 5, "ResultPath": None, "End": True}, {"a": 1})["output"] == '{"a":1}'
    nested = one({"Type": "Pass", "Result": 5, "ResultPath": "$.a.b['c d']", "End": True}, {"a": {"z": 0}})
    assert json.loads(nested["output"]) == {"a": {"z": 0, "b": {"c d": 5}}}


def test_intrinsic_functions_context_and_variables():
    state = {"Type": "Pass", "Next": "After", "Parameters": {
        "greeting.$": "States.Format('Hello {} from {}', $.name, $$.State.Name)",
        "len.$": "States.ArrayLength($.items)",
        "sum.$": "States.MathAdd($.items[1], $limit)",
        "joined.$": "States.JsonToString($.items)",
        "first.$": "$.items[0]",
        "all.$": "$.items[*]",
        "var.$": "$limit",
        "nested": {"name.$": "$.name", "fixed": [1, 2]},
    }}
    response = one(state, {"name": "Ada", "items": [3, 4, 5]}, variables=json.dumps({"limit": 10}),
                   inspectionLevel="DEBUG")
    assert response["nextState"] == "After"
    assert json.loads(response["output"]) == {
        "greeting": "Hello Ada from TestState", "len": 3, "sum": 14, "joined": "[3,4,5]", "first": 3,
        "all": [3, 4, 5], "var": 10, "nested": {"name": "Ada", "fixed": [1, 2]}}
    assert inspected(response, "variables") == {"limit": 10}


def test_assign_sets_variables_shown_in_inspection_data():
    state = {"Type": "Pass", "Result": {"n": 2}, "Assign": {"count.$": "$.n", "label": "two"}, "End": True}
    response = one(state, {}, inspectionLevel="DEBUG")
    assert inspected(response, "variables") == {"count": 2, "label": "two"}


def test_missing_path_fails_with_states_runtime():
    response = one({"Type": "Pass", "Parameters": {"x.$": "$.nope"}, "End": True}, {"a": 1})
    assert response["status"] == "FAILED"
    assert response["error"] == "States.Runtime"
    assert "$.nope" in response["cause"]
    assert "output" not in response


def test_failing_intrinsic_is_an_intrinsic_failure():
    response = one({"Type": "Pass", "Parameters": {"x.$": "States.StringToJson($.s)"}, "End": True}, {"s": "{no"})
    assert response["status"] == "FAILED"
    assert response["error"] == "States.IntrinsicFailure"


# --- Choice: CheckEvent, ChooseAction --------------------------------------------------------


def test_check_event_sends_a_cloudtrail_event_on():
    response = run("CheckEvent", CREATE_POLICY, inspectionLevel="INFO")
    assert response["status"] == "SUCCEEDED"
    assert response["nextState"] == "WhichChange"
    assert json.loads(response["output"]) == EVENT
    assert run("WhichChange", CREATE_POLICY)["nextState"] == "CreatePolicyTarget"


def test_anything_else_is_reported_not_dropped():
    assert run("CheckEvent", {})["nextState"] == "ReportUnrecognisedEvent"
    other = json.loads(CREATE_POLICY)
    other["detail"]["eventName"] = "DeletePolicy"
    assert run("WhichChange", other)["nextState"] == "ReportUnrecognisedEvent"


def test_check_event_sends_a_create_policy_version_event_to_its_target_state():
    event = json.loads((ROOT / "events" / "create_policy_version.json").read_text())
    assert run("WhichChange", event)["nextState"] == "CreatePolicyVersionTarget"


def test_the_orchestrators_own_changes_are_judged_before_they_are_ignored():
    event = json.loads(CREATE_POLICY)
    event["detail"]["userIdentity"]["sessionContext"] = {
        "sessionIssuer": {"arn": DEFAULT_SUBSTITUTIONS["RevertPolicyRoleArn"]}}
    assert run("CheckEvent", event)["nextState"] == "WhichChange"
    judged = {**INCIDENT, "taskresult": {"action": "ignore"}}
    assert run("CheckOwnOrGone", judged)["nextState"] == "IgnoreOwnChange"
    assert run("CheckOwnOrGone", {**INCIDENT, "taskresult": {"action": "gone"}})["nextState"] == "AlreadyHandled"
    assert run("CheckOwnOrGone", {**INCIDENT, "taskresult": {"action": "remedy"}})["nextState"] == "ChooseAction"


@pytest.mark.parametrize("action, expected", [("remedy", "TempRemove"), ("alert", "AllowWithNotification"),
                                              ("other", "TempRemove")])
def test_choose_action(action, expected):
    response = run("ChooseAction", {"taskresult": {"action": action}})
    assert response["nextState"] == expected
    assert response["status"] == "SUCCEEDED"


@pytest.mark.parametrize("rule, value, matches", [
    ({"NumericGreaterThanEquals": 3}, 3, True),
    ({"NumericLessThan": 3}, 3, False),
    ({"NumericEquals": 3}, "3", False),  # a string is never numerically equal
    ({"StringMatches": "arn:*:policy/\\*"}, "arn:aws:iam::1:policy/*", True),
    ({"StringMatches": "log-*.txt"}, "log-2026.csv", False),
    ({"BooleanEquals": True}, True, True),
    ({"TimestampLessThan": "2026-12-01T00:00:00Z"}, "2026-11-28T10:15:30Z", True),
    ({"IsNull": True}, None, True),
    ({"IsNumeric": True}, 1.5, True),
    ({"IsString": False}, 1, True),
    ({"IsBoolean": True}, 0, False),
    ({"IsTimestamp": True}, "2026-11-28T10:15:30Z", True),
    ({"StringEqualsPath": "$.other"}, "same", True),
    ({"NumericGreaterThanPath": "$.limit"}, 10, True),
])
def test_choice_operators(rule, value, matches):
    state = {"Type": "Choice", "Choices": [{"Variable": "$.v", **rule, "Next": "Yes"}], "Default": "No"}
    response = one(state, {"v": value, "other": "same", "limit": 5})
    assert response["nextState"] == ("Yes" if matches else "No")


def test_choice_and_or_not_and_output_path():
    state = {"Type": "Choice", "InputPath": "$.in", "OutputPath": "$.keep", "Choices": [
        {"And": [{"Not": {"Variable": "$.a", "StringEquals": "x"}},
                 {"Or": [{"Variable": "$.b", "IsPresent": True}, {"Variable": "$.c", "IsPresent": True}]}],
         "Next": "Matched"}]}
    response = one(state, {"in": {"a": "y", "c": 1, "keep": {"k": 1}}}, inspectionLevel="DEBUG")
    assert response["nextState"] == "Matched"
    assert json.loads(response["output"]) == {"k": 1}
    assert inspected(response, "afterInputPath") == {"a": "y", "c": 1, "keep": {"k": 1}}


def test_choice_without_a_match_or_default_fails():
    state = {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": True, "Next": "X"}]}
    response = one(state, {})
    assert response["status"] == "FAILED"
    assert response["error"] == "States.NoChoiceMatched"


def test_choice_comparing_a_missing_variable_is_a_runtime_error():
    state = {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x", "Next": "X"}], "Default": "D"}
    assert one(state, {})["error"] == "States.Runtime"


# --- Task with a mock: ValidatePolicy and friends ---------------------------------------------


def test_validate_policy_with_a_mocked_result_adds_taskresult():
    result = {"action": "remedy", "message": "s3:DeleteBucket is restricted"}
    response = run("ValidatePolicy", INCIDENT, mock={"result": json.dumps(result)})
    assert response["status"] == "SUCCEEDED"
    assert response["nextState"] == "CheckOwnOrGone"
    assert json.loads(response["output"]) == {**INCIDENT, "taskresult": result}
    assert inspected(response, "afterParameters")["orchestratorRoleArns"] == [
        DEFAULT_SUBSTITUTIONS["RevertPolicyRoleArn"], DEFAULT_SUBSTITUTIONS["RestorePolicyRoleArn"]]
    assert inspected(response, "result") == result
    assert inspected(response, "afterResultSelector") == result


def test_validate_policy_with_a_mocked_invalid_policy_error_is_caught():
    mock = {"errorOutput": {"error": "InvalidPolicyDocument", "cause": "not JSON"}}
    response = run("ValidatePolicy", INCIDENT, mock=mock)
    assert response["status"] == "CAUGHT_ERROR"
    assert response["nextState"] == "TempRemove"
    assert response["error"] == "InvalidPolicyDocument"
    assert response["cause"] == "not JSON"
    assert json.loads(response["output"]) == {
        **INCIDENT, "taskresult": {"Error": "InvalidPolicyDocument", "Cause": "not JSON"}}
    assert response["inspectionData"]["errorDetails"] == {"catchIndex": 0}


def test_a_retryable_mocked_error_is_retriable_then_caught_when_retries_run_out():
    mock = {"errorOutput": {"error": "Lambda.ServiceException", "cause": "throttled"}}
    first = run("ValidatePolicy", INCIDENT, mock=mock)
    assert first["status"] == "RETRIABLE"
    assert first["nextState"] == "ValidatePolicy"
    assert first["error"] == "Lambda.ServiceException"
    assert first["inspectionData"]["errorDetails"] == {"retryIndex": 0, "retryBackoffIntervalSeconds": 1}
    third = run("ValidatePolicy", INCIDENT, mock=mock, stateConfiguration={"retrierRetryCount": 2})
    assert third["status"] == "RETRIABLE"
    assert third["inspectionData"]["errorDetails"]["retryBackoffIntervalSeconds"] == 4  # 1 * 2 ** 2
    exhausted = run("ValidatePolicy", INCIDENT, mock=mock, stateConfiguration={"retrierRetryCount": 3})
    assert exhausted["status"] == "CAUGHT_ERROR"
    assert exhausted["nextState"] == "TempRemove"
    assert exhausted["inspectionData"]["errorDetails"] == {"catchIndex": 1}  # States.ALL


def test_an_unhandled_mocked_error_fails_the_state():
    state = {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:F", "End": True,
             "Catch": [{"ErrorEquals": ["Other"], "Next": "X"}]}
    response = one(state, {}, mock={"errorOutput": {"error": "Boom", "cause": "bang"}})
    assert response == {"error": "Boom", "cause": "bang", "status": "FAILED"}


def test_states_task_failed_matches_everything_but_timeout():
    state = {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:F", "End": True,
             "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}]}
    assert one(state, {}, mock={"errorOutput": {"error": "Anything"}})["status"] == "CAUGHT_ERROR"
    assert one(state, {}, mock={"errorOutput": {"error": "States.Timeout"}})["status"] == "FAILED"


def test_task_result_selector_and_payload_with_context():
    state = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Next": "N",
             "Parameters": {"FunctionName": "F", "Payload": {"token.$": "$$.Task.Token", "x.$": "$.x"}},
             "ResultSelector": {"decision.$": "$.action"}, "ResultPath": "$.out"}
    response = one(state, {"x": 1}, mock={"result": json.dumps({"action": "allow"})},
                   context=json.dumps({"Task": {"Token": "tok-1"}}), inspectionLevel="DEBUG")
    assert inspected(response, "afterParameters") == {"FunctionName": "F", "Payload": {"token": "tok-1", "x": 1}}
    assert inspected(response, "afterResultSelector") == {"decision": "allow"}
    assert json.loads(response["output"]) == {"x": 1, "out": {"decision": "allow"}}


def test_ask_user_builds_the_callback_payload():
    state_input = {**INCIDENT, "approvalTimeoutSeconds": 60, "reverted": {"incidentId": "abc"}}
    response = run("AskUser", state_input, mock={"result": json.dumps({"action": "allow"})})
    payload = inspected(response, "afterParameters")["Payload"]
    assert payload["token"] and payload["executionArn"].startswith("arn:aws:states:")
    assert payload["incidentId"] == "abc" and set(payload) == {
        "token", "executionArn", "enteredTime", "approvalTimeoutSeconds", "incidentId"}
    assert response["nextState"] == "usersChoice"
    assert json.loads(response["output"])["decision"] == {"action": "allow"}


def test_strict_mock_validation_for_service_integrations():
    bad = {"result": json.dumps({"MessageId": "m", "Unexpected": 1})}
    with pytest.raises(ts.ValidationException, match="Unexpected"):
        run("AllowWithNotification", {"taskresult": {"message": "hi"}}, mock=bad)
    relaxed = run("AllowWithNotification", {"taskresult": {"message": "hi"}}, mock={**bad, "fieldValidationMode": "NONE"})
    assert relaxed["status"] == "SUCCEEDED"
    with pytest.raises(ts.ValidationException, match="MessageId"):
        run("AllowWithNotification", {"taskresult": {"message": "hi"}},
            mock={"result": json.dumps({"MessageId": 5}), "fieldValidationMode": "PRESENT"})


def test_a_task_without_a_mock_says_a_mock_is_needed_offline():
    with pytest.raises(ts.MockRequired, match="mock") as caught:
        run("ValidatePolicy", {})
    assert caught.value.code == "ValidationException"


def test_mock_on_a_pass_state_and_context_without_mock_are_refused():
    with pytest.raises(ts.ValidationException, match="only be given for Task"):
        run("ModifyState", EVENT, mock={"result": "{}"})
    with pytest.raises(ts.ValidationException, match="context"):
        run("ModifyState", EVENT, context="{}")
    with pytest.raises(ts.ValidationException, match="exactly one"):
        run("ValidatePolicy", {}, mock={"result": "{}", "errorOutput": {"error": "E"}})


def test_trace_shows_the_http_request_and_response_of_an_http_task():
    state = {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": True,
             "Parameters": {"ApiEndpoint": "https://example.com/items", "Method": "POST",
                            "QueryParameters": {"q": "1"}, "RequestBody": {"id.$": "$.id"},
                            "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:123456789012:connection/c/x"}}}
    mock = {"result": json.dumps({"StatusCode": 201, "StatusText": "Created", "ResponseBody": {"ok": True}})}
    traced = one(state, {"id": 7}, mock=mock, inspectionLevel="TRACE")["inspectionData"]
    assert traced["request"]["method"] == "POST"
    assert traced["request"]["url"] == "https://example.com/items?q=1"
    assert json.loads(traced["request"]["body"]) == {"id": 7}
    assert traced["response"]["statusCode"] == "201"
    assert "request" not in one(state, {"id": 7}, mock=mock, inspectionLevel="DEBUG")["inspectionData"]


# --- Wait, Succeed, Fail ------------------------------------------------------------------------


def test_wait_does_not_wait_and_checks_its_seconds_path():
    state = {"Type": "Wait", "SecondsPath": "$.s", "Next": "Later"}
    ok = one(state, {"s": 3600})
    assert ok == {"output": '{"s":3600}', "status": "SUCCEEDED", "nextState": "Later"}
    assert one(state, {"s": -1})["error"] == "States.Runtime"


def test_succeed_and_fail():
    assert run("IgnoreOwnChange", {"x": 1}) == {"output": '{"x":1}', "status": "SUCCEEDED",
                                                "inspectionData": {"input": '{"x":1}', "afterInputPath": '{"x":1}'}}
    failed = run("InvalidEvent", {}, inspectionLevel="INFO")
    assert failed["status"] == "FAILED"
    assert failed["error"] == "InvalidEvent"
    assert "CloudTrail" in failed["cause"]
    assert "nextState" not in failed and "output" not in failed
    dynamic = one({"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('code {}', $.c)"}, {"e": "E", "c": 4})
    assert (dynamic["error"], dynamic["cause"]) == ("E", "code 4")


# --- JSONata states -----------------------------------------------------------------------------


def test_jsonata_task_arguments_output_and_assign():
    state = {"Type": "Task", "QueryLanguage": "JSONata", "Resource": "arn:aws:states:::lambda:invoke",
             "Arguments": {"FunctionName": "F", "Payload": {"n": "{% $states.input.n * 2 %}"}},
             "Assign": {"seen": "{% $states.result.Payload.ok %}"},
             "Output": {"answer": "{% $states.result.Payload.ok %}", "n": "{% $states.input.n %}"}, "Next": "N"}
    response = one(state, {"n": 21}, mock={"result": json.dumps({"StatusCode": 200, "Payload": {"ok": True}})},
                   inspectionLevel="DEBUG")
    assert response["status"] == "SUCCEEDED"
    assert inspected(response, "afterArguments") == {"FunctionName": "F", "Payload": {"n": 42}}
    assert json.loads(response["output"]) == {"answer": True, "n": 21}
    assert inspected(response, "variables") == {"seen": True}


def test_jsonata_choice_condition():
    state = {"Type": "Choice", "QueryLanguage": "JSONata",
             "Choices": [{"Condition": "{% $states.input.n > $limit %}", "Next": "Big"}], "Default": "Small"}
    assert one(state, {"n": 5}, variables='{"limit": 3}')["nextState"] == "Big"
    assert one(state, {"n": 1}, variables='{"limit": 3}')["nextState"] == "Small"


# --- inspection levels ----------------------------------------------------------------------------


def test_info_has_no_inspection_data_and_debug_does():
    assert "inspectionData" not in run("ModifyState", TARGETED, inspectionLevel="INFO")
    assert "inspectionData" not in ts.test_state({"definition": DEFINITION, "stateName": "ModifyState",
                                                  "input": json.dumps(TARGETED)})  # INFO is the default
    assert "afterParameters" in run("ModifyState", TARGETED, inspectionLevel="DEBUG")["inspectionData"]
    with pytest.raises(ts.ValidationException, match="inspectionLevel"):
        run("ModifyState", TARGETED, inspectionLevel="VERBOSE")


# --- substitutions, bad requests -----------------------------------------------------------------


def test_placeholders_must_be_substituted_first():
    template = json.dumps(TEMPLATE)
    with pytest.raises(ts.InvalidDefinition, match=r"\$\{ApprovalTimeoutSeconds\}"):
        ts.test_state({"definition": template, "stateName": "ModifyState", "input": json.dumps(TARGETED)})
    response = ts.test_state({"definition": template, "stateName": "ModifyState", "input": json.dumps(TARGETED)},
                             substitutions={**DEFAULT_SUBSTITUTIONS, "ApprovalTimeoutSeconds": "120"})
    assert json.loads(response["output"])["approvalTimeoutSeconds"] == 120
    # States without placeholders run straight from the template.
    assert ts.test_state({"definition": template, "stateName": "ChooseAction",
                          "input": '{"taskresult": {"action": "alert"}}'})["nextState"] == "AllowWithNotification"


def test_bad_input_json_is_a_clear_error():
    with pytest.raises(ts.InvalidExecutionInput, match=r"'input' is not valid JSON: .* line 1, column 8") as caught:
        run("ModifyState", '{"a": 1')
    assert caught.value.code == "InvalidExecutionInput"
    with pytest.raises(ts.ValidationException, match="mock.result"):
        run("ValidatePolicy", {}, mock={"result": "not json"})


def test_invalid_definitions_raise_invalid_definition_with_the_validator_diagnostics():
    with pytest.raises(ts.InvalidDefinition, match="line 1, column") as caught:
        ts.test_state({"definition": '{"Type": "Pass",'})
    assert caught.value.code == "InvalidDefinition"
    with pytest.raises(ts.InvalidDefinition, match="NEXT_AND_END") as caught:
        one({"Type": "Pass", "Next": "A", "End": True}, {})
    assert caught.value.diagnostics[0]["code"] == "NEXT_AND_END"
    with pytest.raises(ts.InvalidDefinition, match="INVALID_JSONPATH"):
        one({"Type": "Pass", "InputPath": "detail", "End": True}, {})
    broken = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}
    with pytest.raises(ts.InvalidDefinition, match="MISSING_TRANSITION_TARGET"):
        ts.test_state({"definition": json.dumps(broken), "stateName": "A"})


def test_state_name_rules():
    with pytest.raises(ts.ValidationException, match="not a state"):
        run("NoSuchState", {})
    with pytest.raises(ts.ValidationException, match="stateName"):
        ts.test_state({"definition": DEFINITION})
    with pytest.raises(ts.InvalidDefinition, match="whole state machine"):
        ts.test_state({"definition": '{"Type": "Pass", "End": true}', "stateName": "X"})


def test_a_single_state_may_point_at_states_that_do_not_exist_yet():
    response = one({"Type": "Pass", "Next": "SomewhereLater"}, {})
    assert response["nextState"] == "SomewhereLater"


# --- ValidateStateMachineDefinition ----------------------------------------------------------------


def test_validate_definition_ok_for_the_workshop_machine():
    response = ts.validate_state_machine_definition({"definition": json.dumps(TEMPLATE)})
    assert response == {"result": "OK", "diagnostics": [], "truncated": False}


def test_validate_definition_severity_and_max_results():
    definition = json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"x": "$.a"}, "Next": "B"},
        "B": {"Type": "Pass", "Next": "Missing1"},
        "C": {"Type": "Pass", "Next": "Missing2"}}})
    errors_only = ts.validate_state_machine_definition({"definition": definition})
    assert errors_only["result"] == "FAIL"
    assert {d["severity"] for d in errors_only["diagnostics"]} == {"ERROR"}
    everything = ts.validate_state_machine_definition({"definition": definition, "severity": "WARNING"})
    assert "WARNING" in {d["severity"] for d in everything["diagnostics"]}
    assert len(everything["diagnostics"]) > len(errors_only["diagnostics"])
    for d in everything["diagnostics"]:
        assert set(d) <= members("ValidateStateMachineDefinitionDiagnostic")
    truncated = ts.validate_state_machine_definition({"definition": definition, "maxResults": 1})
    assert len(truncated["diagnostics"]) == 1 and truncated["truncated"] is True
    with pytest.raises(ts.ValidationException, match="maxResults"):
        ts.validate_state_machine_definition({"definition": definition, "maxResults": 101})


def test_validate_definition_express_refuses_callbacks():
    response = ts.validate_state_machine_definition({"definition": DEFINITION, "type": "EXPRESS"})
    assert response["result"] == "FAIL"
    assert any("/States/AskUser/Resource" == d["location"] for d in response["diagnostics"])
    assert ts.validate_state_machine_definition({"definition": DEFINITION, "type": "STANDARD"})["result"] == "OK"
    with pytest.raises(ts.ValidationException, match="definition"):
        ts.validate_state_machine_definition({})


def test_ask_user_needs_its_timeout_seconds_path():
    state_input = {"eventName": "CreatePolicy", "policyMeta": {}, "policy": "{}", "taskresult": {}}
    response = run("AskUser", state_input, mock={"result": "{}"})
    assert response["status"] == "FAILED"
    assert response["error"] == "States.Runtime"
    assert "approvalTimeoutSeconds" in response["cause"]


def test_a_single_state_with_a_key_written_twice_is_refused():
    text = '{"Type": "Pass", "Result": {"a": 1}, "Result": {"b": 2}, "End": true}'
    with pytest.raises(ts.InvalidDefinition, match="DUPLICATE_JSON_KEY at /Result"):
        ts.test_state({"definition": text})
    placeholder = '{"Type": "Pass", "Result": "${Value}", "Result": "${Value}", "End": true}'
    with pytest.raises(ts.InvalidDefinition, match="DUPLICATE_JSON_KEY"):
        ts.test_state({"definition": placeholder}, substitutions={"Value": "x"})
