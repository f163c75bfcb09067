"""Step Functions starting Step Functions: the optimized integration and the AWS SDK integration."""

import json

import pytest
from state_machines import create, finished, run

CHILD = {"StartAt": "Greet", "States": {"Greet": {
    "Type": "Pass", "Parameters": {"greeting.$": "States.Format('hello {}', $.name)"}, "End": True}}}


def _parent(resource: str, child_arn: str) -> dict:
    return {"StartAt": "Child", "States": {"Child": {
        "Type": "Task", "Resource": resource,
        "Parameters": {"StateMachineArn": child_arn, "Input": {"name.$": "$.name"}}, "End": True}}}


@pytest.fixture(scope="module")
def sfn(shared_cloud):
    return shared_cloud.client("stepfunctions")


@pytest.fixture(scope="module")
def child(sfn):
    return create(sfn, CHILD, prefix="child")


def test_a_parent_starts_a_child_with_the_documented_parameter_names(sfn, child):
    """AWS (connect-stepfunctions.html): `arn:aws:states:::states:startExecution` takes StateMachineArn,
    Input (JSON, or a string) and Name, and its result is {ExecutionArn, StartDate}."""
    described = run(sfn, _parent("arn:aws:states:::states:startExecution", child), {"name": "plain"})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert sorted(output) == ["ExecutionArn", "StartDate"]
    assert output["ExecutionArn"].startswith(child.replace(":stateMachine:", ":execution:") + ":")
    assert isinstance(output["StartDate"], int)  # the Java SDK's epoch milliseconds
    assert finished(sfn, output["ExecutionArn"])["status"] == "SUCCEEDED"


def test_sync_waits_for_the_child_and_gives_its_output_as_a_json_string(sfn, child):
    """AWS (connect-stepfunctions.html): `.sync` answers DescribeExecution's fields in PascalCase with
    Output as a JSON string; `.sync:2` gives Output (and Input) as JSON."""
    sync = json.loads(run(sfn, _parent("arn:aws:states:::states:startExecution.sync", child),
                          {"name": "sync"})["output"])
    assert sync["Status"] == "SUCCEEDED" and sync["StateMachineArn"] == child
    assert json.loads(sync["Output"]) == {"greeting": "hello sync"}
    assert isinstance(sync["StartDate"], int) and isinstance(sync["StopDate"], int)
    sync2 = json.loads(run(sfn, _parent("arn:aws:states:::states:startExecution.sync:2", child),
                           {"name": "two"})["output"])
    assert sync2["Output"] == {"greeting": "hello two"} and sync2["Input"] == {"name": "two"}
    assert sync2["Status"] == "SUCCEEDED"


def test_a_failed_child_fails_the_sync_task_with_states_task_failed(sfn):
    failing = create(sfn, {"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Nope", "Cause": "no"}}},
                     prefix="failing-child")
    described = run(sfn, _parent("arn:aws:states:::states:startExecution.sync:2", failing), {"name": "x"})
    assert described["status"] == "FAILED" and described["error"] == "States.TaskFailed"


def test_an_aws_sdk_result_of_a_camel_case_service_is_pascal_case_and_pages_follow_next_token(sfn, child):
    """AWS (supported-services-awssdk.html): parameters and results are PascalCase, "even if the native
    service API is in camelCase": ListExecutions answers Executions and NextToken, which a loop follows."""
    for name in ("a", "b", "c"):
        finished(sfn, sfn.start_execution(stateMachineArn=child, input=json.dumps({"name": name}))["executionArn"])
    pager = {"StartAt": "Page", "States": {
        "Page": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:listExecutions",
                 "Parameters": {"StateMachineArn": child, "MaxResults": 1, "NextToken.$": "$.next"},
                 "ResultSelector": {"count.$": "States.ArrayLength($.Executions)", "next.$": "$.NextToken",
                                    "first.$": "$.Executions[0].ExecutionArn"},
                 "ResultPath": "$.page", "Next": "Count"},
        "Count": {"Type": "Pass", "Parameters": {"next.$": "$.page.next", "pages.$": "States.MathAdd($.pages, 1)"},
                  "Next": "More"},
        "More": {"Type": "Choice", "Choices": [{"Variable": "$.pages", "NumericLessThan": 3, "Next": "Page"}],
                 "Default": "Done"},
        "Done": {"Type": "Succeed"}}}
    first = sfn.list_executions(stateMachineArn=child, maxResults=1)
    described = run(sfn, pager, {"next": first["nextToken"], "pages": 1})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["pages"] == 3


def test_an_aws_sdk_task_on_eventbridge_reaches_eventbridge(sfn, shared_cloud):
    """AWS (supported-services-awssdk.html) names EventBridge `eventbridge` in the aws-sdk integration
    (boto3 calls it `events`): a task enabling a disabled rule enables it."""
    events = shared_cloud.client("events")
    events.put_rule(Name="sdk-named-rule", ScheduleExpression="rate(1 day)", State="DISABLED")
    enabler = {"StartAt": "Enable", "States": {"Enable": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:eventbridge:enableRule",
        "Parameters": {"Name": "sdk-named-rule"}, "End": True}}}
    described = run(sfn, enabler, {})
    assert described["status"] == "SUCCEEDED", described
    assert events.describe_rule(Name="sdk-named-rule")["State"] == "ENABLED"
