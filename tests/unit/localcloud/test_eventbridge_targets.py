"""EventBridge -> Step Functions: a state machine target starts an execution with the event."""

import json
import time

import boto3
from moto import mock_aws
from waiting_executions import waiting_machine

from workshop.localcloud.services.events import targets
from workshop.localcloud.services.stepfunctions import engine


def _wait_for_executions(sfn, arn, count, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        if len(executions) >= count:
            return executions
        time.sleep(0.05)
    return sfn.list_executions(stateMachineArn=arn)["executions"]


def test_a_matching_event_starts_the_state_machine_with_the_event_as_input():
    with mock_aws():
        engine.install(port=5000)
        targets.install()
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="m", roleArn="arn:aws:iam::123456789012:role/r",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        )["stateMachineArn"]
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["aws.iam"],
                                                           "detail": {"errorCode": [{"exists": False}]}}))
        events.put_targets(Rule="r", Targets=[{"Id": "sm", "Arn": machine}, {"Id": "q", "Arn": queue_arn}])

        events.put_events(Entries=[{"Source": "aws.iam", "DetailType": "AWS API Call via CloudTrail",
                                    "Detail": json.dumps({"eventName": "CreatePolicy"})}])
        events.put_events(Entries=[{"Source": "aws.iam", "DetailType": "AWS API Call via CloudTrail",
                                    "Detail": json.dumps({"eventName": "CreatePolicy", "errorCode": "X"})}])
        events.put_events(Entries=[{"Source": "aws.s3", "DetailType": "x", "Detail": "{}"}])

        executions = _wait_for_executions(sfn, machine, 1)
        assert len(executions) == 1
        given = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
        assert given["detail"] == {"eventName": "CreatePolicy"}
        assert given["source"] == "aws.iam" and given["account"] == "123456789012"
        assert isinstance(given["time"], str) and given["time"].endswith("Z")
        # moto's own targets still get theirs
        assert sqs.receive_message(QueueUrl=queue).get("Messages")


def test_executions_started_without_a_name_get_distinct_uuid_names():
    with mock_aws():
        engine.install(port=5000)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="m", roleArn="arn:aws:iam::123456789012:role/r",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        )["stateMachineArn"]
        first = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        second = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        assert first != second
        assert not first.endswith(":None")


def test_answering_a_timed_out_task_says_task_timed_out():
    import pytest
    from botocore.exceptions import ClientError

    from workshop.localcloud import seams

    with mock_aws():
        engine.install(port=5000)
        seams.install("stepfunctions")  # sfn-task-token-answered-once
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = waiting_machine(sfn, boto3.client("sqs", region_name="us-east-1"),
                                  sns=boto3.client("sns", region_name="us-east-1"), name="asks", state="Ask",
                                  timeout_seconds=1)
        execution, token = machine.start()
        deadline = time.time() + 15
        while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING" and time.time() < deadline:
            time.sleep(0.1)
        assert sfn.describe_execution(executionArn=execution)["status"] != "RUNNING"
        with pytest.raises(ClientError) as caught:
            sfn.send_task_success(taskToken=token, output="{}")
        assert caught.value.response["Error"]["Code"] == "TaskTimedOut", caught.value.response
        with pytest.raises(ClientError) as caught:
            sfn.send_task_success(taskToken="never-issued", output="{}")
        assert caught.value.response["Error"]["Code"] == "InvalidToken"
