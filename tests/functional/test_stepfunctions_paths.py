"""Paths, Choice rules and task-token failures as AWS's documentation describes them."""

import json

import pytest
from lambda_packages import zip_package
from state_machines import create, finished, history, run


@pytest.fixture(scope="module")
def sfn(shared_cloud):
    return shared_cloud.client("stepfunctions")


def test_an_index_then_a_key_selects_one_value(sfn):
    """AWS (amazon-states-language-paths.html): a path that selects one node gives that node's value;
    only paths that can select several (wildcards, slices, filters) give an array."""
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {
        "label.$": "$[1].Labels", "nested.$": "$[0].Tags[1].Key", "all.$": "$[*].Labels",
        "text.$": "States.Format('label {}', $[1].Labels)"}, "End": True}}}
    given = [{"Labels": "a", "Tags": [{"Key": "x"}, {"Key": "y"}]}, {"Labels": "b"}]
    output = json.loads(run(sfn, definition, given)["output"])
    assert output == {"label": "b", "nested": "y", "all": ["a", "b"], "text": "label b"}


def _choice(rule: dict) -> dict:
    return {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{**rule, "Next": "Matched"}], "Default": "Other"},
        "Matched": {"Type": "Pass", "Result": {"went": "matched"}, "End": True},
        "Other": {"Type": "Pass", "Result": {"went": "other"}, "End": True}}}


def test_a_choice_rule_on_a_missing_path_fails_the_execution(sfn):
    """AWS (state-choice.html): a rule's Variable path missing from the input is a States.Runtime error
    ("Invalid path ..."), not a non-match; only IsPresent tests for a path that may be missing."""
    for rule in ({"Variable": "$.missing", "StringEquals": "x"},
                 {"Not": {"Variable": "$.missing", "StringEquals": "x"}},
                 {"And": [{"Variable": "$.here", "BooleanEquals": True},
                          {"Variable": "$.missing", "NumericGreaterThan": 1}]}):
        described = run(sfn, _choice(rule), {"here": True})
        assert described["status"] == "FAILED", (rule, described)
        assert described["error"] == "States.Runtime" and "$.missing" in described["cause"]
    present = run(sfn, _choice({"Variable": "$.missing", "IsPresent": False}), {"here": True})
    assert json.loads(present["output"]) == {"went": "matched"}
    guarded = run(sfn, _choice({"And": [{"Variable": "$.here", "IsPresent": True},
                                        {"Variable": "$.here", "BooleanEquals": True}]}), {"here": True})
    assert json.loads(guarded["output"]) == {"went": "matched"}


def test_send_task_failure_keeps_its_cause(shared_cloud, sfn):
    """AWS (API_SendTaskFailure.html): the error and the cause reach the TaskFailed event and the execution."""
    sqs = shared_cloud.client("sqs")
    queue = sqs.create_queue(QueueName="task-failure-cause")["QueueUrl"]
    arn = create(sfn, {"StartAt": "Wait", "States": {"Wait": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}}, "End": True}}})
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    messages = []
    while not messages:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    token = json.loads(messages[0]["Body"])["token"]
    sfn.send_task_failure(taskToken=token, error="Rejected", cause="the reviewer said no")
    described = finished(sfn, execution)
    assert (described["error"], described["cause"]) == ("Rejected", "the reviewer said no")
    failed = [e["taskFailedEventDetails"] for e in history(sfn, execution) if e["type"] == "TaskFailed"]
    assert failed[0]["cause"] == "the reviewer said no"


def test_a_workflow_raises_and_catches_error_names_that_begin_with_states(sfn):
    """AWS (concepts-error-handling.html, "Error names"): States.Runtime and the other States.* names are
    errors a state may report; a workflow may raise one from a Fail state (inside a Map too) and catch it,
    and Step Functions deploys a Catch naming a States.* error of the workflow's own."""
    inner_map = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Check", "States": {
                "Check": {"Type": "Fail", "Error": "States.Runtime", "Cause": "bad item"}}},
        "Catch": [{"ErrorEquals": ["States.Runtime"], "ResultPath": "$.caught", "Next": "Caught"}],
        "End": True}, "Caught": {"Type": "Pass", "End": True}}}
    described = run(sfn, inner_map, {"items": [1]})
    assert described["status"] == "SUCCEEDED", described
    caught = json.loads(described["output"])["caught"]
    assert caught["Error"] == "States.Runtime" and caught["Cause"].endswith("bad item")
    own = {"StartAt": "Branches", "States": {"Branches": {
        "Type": "Parallel", "Branches": [{"StartAt": "Raise", "States": {"Raise": {
            "Type": "Fail", "Error": "States.QuotaReached", "Cause": "too many"}}}],
        "Catch": [{"ErrorEquals": ["States.QuotaReached"], "Next": "Handled"}], "End": True},
        "Handled": {"Type": "Succeed"}}}
    assert run(sfn, own)["status"] == "SUCCEEDED"
    uncaught = run(sfn, {"StartAt": "Raise", "States": {"Raise": {"Type": "Fail", "Error": "States.Runtime"}}})
    assert (uncaught["status"], uncaught["error"]) == ("FAILED", "States.Runtime")


CALLBACK = '''
import json
import boto3
sfn = boto3.client("stepfunctions")
def handler(event, context):
    sfn.send_task_success(taskToken=event["token"], output=json.dumps({"answered": "early"}))
    return {"sent": True}
'''


def test_an_answer_sent_before_the_task_waits_is_not_lost(shared_cloud, sfn):
    """AWS (connect-to-resource.html#connect-wait-token; API_SendTaskSuccess.html): the task resumes with the
    output of the SendTaskSuccess its token was answered with, however early the answer comes, and
    HeartbeatSeconds only bounds the time between heartbeats of a task still waiting."""
    role = shared_cloud.client("iam").create_role(
        RoleName="early-answer-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    )["Role"]["Arn"]
    shared_cloud.client("iam").put_role_policy(  # the function answers the token as its role
        RoleName="early-answer-role", PolicyName="answer", PolicyDocument=json.dumps({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "states:SendTaskSuccess", "Resource": "*"}]}))
    shared_cloud.client("lambda").create_function(
        FunctionName="answers-early", Runtime="python3.11", Handler="app.handler", Role=role, Timeout=10,
        Code={"ZipFile": zip_package({"app.py": CALLBACK})})
    definition = {"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "answers-early", "Payload": {"token.$": "$$.Task.Token"}},
        "HeartbeatSeconds": 600, "TimeoutSeconds": 900, "End": True}}}
    for _ in range(2):  # the first call starts the function cold, the second answers within milliseconds
        described = run(sfn, definition)
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"]) == {"answered": "early"}


def test_a_distributed_map_child_reads_its_own_execution_in_the_context_object(sfn):
    """AWS (state-map-distributed.html): a Distributed Map runs each item as a child workflow execution whose
    input is the item, so the child's $$.Execution.Input is its item and $$.Execution.Id its own ARN; children
    that succeed leave no failure for ToleratedFailurePercentage to count."""
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "ToleratedFailurePercentage": 5,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Read", "States": {"Read": {"Type": "Pass", "Parameters": {
                              "record.$": "$$.Execution.Input.recordId", "execution.$": "$$.Execution.Id"},
                              "End": True}}},
        "End": True}}}
    described = run(sfn, definition, {"items": [{"recordId": "a"}, {"recordId": "b"}]})
    assert described["status"] == "SUCCEEDED", described
    children = json.loads(described["output"])
    assert [child["record"] for child in children] == ["a", "b"]
    machine = described["stateMachineArn"].rsplit(":", 1)[1]
    assert all(child["execution"].split(":")[5:7][0] == "execution"
               and child["execution"].split(":")[6].startswith(machine + "/") for child in children)
    assert children[0]["execution"] != children[1]["execution"] != described["executionArn"]
