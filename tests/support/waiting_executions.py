"""The incidents table, and executions waiting on a real task token, made with boto3 (moto or a local cloud).

    table = create_incidents_table(dynamodb)                 # the template's key schema and billing mode
    machine = waiting_machine(sfn, sqs, sns=sns, state="AskUser", result_path="$.decision", then={...})
    execution_arn, token = machine.start()                   # the execution waits at AskUser on `token`

The waiting state publishes its task token as AskUser's does (SNS, delivered raw to an SQS queue the test
reads), or, without `sns`, sends it to the queue itself (`sqs:sendMessage.waitForTaskToken`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from cfn_template import resource_properties
from polling import wait_for

TABLE = "incidents"
ROLE = "arn:aws:iam::123456789012:role/waiting"


def create_incidents_table(dynamodb, name: str = TABLE) -> str:
    """The stack's incidents table, keyed and billed as template.yaml makes it."""
    properties = resource_properties("IncidentsTable")
    dynamodb.create_table(TableName=name, BillingMode=properties["BillingMode"],
                          KeySchema=properties["KeySchema"], AttributeDefinitions=properties["AttributeDefinitions"])
    return name


def wait_for_token(sqs, queue_url: str, timeout: float = 20) -> str:
    """The next message of the queue (a task token), taken off it."""
    def received():
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages")
        return messages[0] if messages else None

    message = wait_for(received, timeout=timeout, interval=0.05, what="a task token in the queue")
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return message["Body"]


@dataclass
class WaitingMachine:
    sfn: object
    sqs: object
    arn: str
    queue_url: str

    def start(self, name: str | None = None, timeout: float = 20) -> tuple[str, str]:
        """A new execution, once it waits: (its ARN, the task token it waits on)."""
        execution = self.sfn.start_execution(stateMachineArn=self.arn, name=name or uuid.uuid4().hex)["executionArn"]
        return execution, wait_for_token(self.sqs, self.queue_url, timeout)


def waiting_machine(sfn, sqs, *, sns=None, name: str = "waiting", state: str = "Wait", result_path: str | None = None,
                    timeout_seconds: int | None = None, then: dict | None = None,
                    role_arn: str = ROLE) -> WaitingMachine:
    """A state machine whose first state, `state`, waits on a task token; `then` holds the states after it
    (the first one is its Next), else it ends there. On a local cloud, which authorizes the machine's calls,
    `role_arn` must be a role granted them."""
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    if sns is not None:
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic = sns.create_topic(Name=name)["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        waiting = {"Type": "Task", "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
                   "Parameters": {"TopicArn": topic, "Message.$": "$$.Task.Token"}}
    else:
        waiting = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                   "Parameters": {"QueueUrl": queue_url, "MessageBody.$": "$$.Task.Token"}}
    if result_path is not None:
        waiting["ResultPath"] = result_path
    if timeout_seconds is not None:
        waiting["TimeoutSeconds"] = timeout_seconds
    if then:
        waiting["Next"] = next(iter(then))
    else:
        waiting["End"] = True
    definition = {"StartAt": state, "States": {state: waiting, **(then or {})}}
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role_arn)["stateMachineArn"]
    return WaitingMachine(sfn, sqs, arn, queue_url)
