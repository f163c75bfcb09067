"""The AWS-like mode's account limits and delays, each against a real AWS-like local cloud (aws_like.py names
the AWS page of each): Lambda's concurrency quota, a stack that failed to create, a new definition's lag,
confirmation tokens that lapse after two days (on a compressed clock)."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError

from workshop.localcloud import LocalCloud, read_mailbox
from workshop.localcloud.aws_like import CONFIRMATION_PATH, CONFIRMATION_SUBJECT, RESERVATION_REFUSED, Settings

LIMIT = 110  # room for one reservation of at most 10
SETTINGS = Settings(event_delay=(1, 1), iam_lag=0, lambda_concurrency_limit=LIMIT, definition_lag=2,
                    day_length=1)  # two days last 2 s
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {
    "Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]})


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    log = open(tmp_path_factory.mktemp("aws-like-mode") / "server.log", "wb")
    with LocalCloud(like_aws=SETTINGS, log_file=log) as running:
        yield running
    log.close()


@pytest.fixture(scope="module")
def role(cloud):
    return cloud.client("iam").create_role(RoleName="aws-like-mode", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]


def _name(kind):
    return f"{kind}-{uuid.uuid4().hex[:8]}"


def _code() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _failed_stack(cloud, role, reserve: int) -> str:
    """A stack whose only function reserves `reserve` executions, created through a change set (as sam does)."""
    cfn, name = cloud.client("cloudformation"), _name("stack")
    template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": "python3.13", "Handler": "app.handler", "Role": role,
        "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
        "ReservedConcurrentExecutions": reserve}}}}
    change_set = _name("create")  # moto finds a change set by its name alone: one name per stack
    cfn.create_change_set(StackName=name, ChangeSetName=change_set, ChangeSetType="CREATE",
                          TemplateBody=json.dumps(template))
    cfn.get_waiter("change_set_create_complete").wait(StackName=name, ChangeSetName=change_set,
                                                      WaiterConfig={"Delay": 1})
    cfn.execute_change_set(StackName=name, ChangeSetName=change_set)
    return name


def _status(cfn, name):
    deadline = time.monotonic() + 30
    while True:
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_a_reservation_must_leave_100_executions_unreserved(cloud, role):
    lam = cloud.client("lambda")
    limits = lam.get_account_settings()["AccountLimit"]
    assert limits["ConcurrentExecutions"] == limits["UnreservedConcurrentExecutions"] == LIMIT
    name = _name("fn")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler",
                        Code={"ZipFile": _code()})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=10)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == LIMIT - 10
    with pytest.raises(ClientError) as refused:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=11)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert refused.value.response["Error"]["Message"] == RESERVATION_REFUSED
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)  # throttling takes nothing
    lam.delete_function_concurrency(FunctionName=name)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == LIMIT

    cfn = cloud.client("cloudformation")
    stack = _failed_stack(cloud, role, reserve=11)  # as a stack reserving 5 does in an account of 10
    assert _status(cfn, stack) == "ROLLBACK_COMPLETE"
    reasons = [e["ResourceStatusReason"] for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
               if e["ResourceStatus"] == "CREATE_FAILED"]
    assert reasons and RESERVATION_REFUSED in reasons[0]


def test_a_stack_that_failed_to_create_can_only_be_deleted(cloud, role):
    cfn = cloud.client("cloudformation")
    stack = _failed_stack(cloud, role, reserve=LIMIT)
    assert _status(cfn, stack) == "ROLLBACK_COMPLETE"
    stack_id = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackId"]
    expected = f"Stack:{stack_id} is in ROLLBACK_COMPLETE state and can not be updated."
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    for update in (lambda: cfn.create_change_set(StackName=stack, ChangeSetName="again", ChangeSetType="UPDATE",
                                                 TemplateBody=template),
                   lambda: cfn.update_stack(StackName=stack, TemplateBody=template)):
        with pytest.raises(ClientError) as refused:
            update()
        assert refused.value.response["Error"]["Code"] == "ValidationError"
        assert refused.value.response["Error"]["Message"] == expected
    cfn.delete_stack(StackName=stack)
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=stack)


def _result(sfn, execution_arn):
    deadline = time.monotonic() + 30
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return json.loads(described.get("output", "{}")).get("result")
        time.sleep(0.1)


def test_executions_started_right_after_an_update_run_the_previous_definition(cloud, role):
    sfn = cloud.client("stepfunctions")

    def passing(result):
        return json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"result": result}, "End": True}}})

    machine = sfn.create_state_machine(name=_name("lag"), definition=passing("old"), roleArn=role)["stateMachineArn"]
    sfn.update_state_machine(stateMachineArn=machine, definition=passing("new"))
    right_after = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    version = sfn.update_state_machine(stateMachineArn=machine, definition=passing("newer"),
                                       publish=True)["stateMachineVersionArn"]
    on_the_version = sfn.start_execution(stateMachineArn=version)["executionArn"]
    assert _result(sfn, right_after) == "old"
    assert json.loads(sfn.describe_state_machine_for_execution(executionArn=right_after)["definition"])[
        "States"]["A"]["Result"]["result"] == "old"
    assert _result(sfn, on_the_version) == "newer"  # a version does not change: it never lags
    time.sleep(SETTINGS.definition_lag)
    later = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert _result(sfn, later) == "newer"


def _confirmations(cloud, address):
    return [m for m in read_mailbox(cloud.endpoint) if m["to"] == address and m["subject"] == CONFIRMATION_SUBJECT]


def _link(message):
    return next(word for word in message["body"].split() if CONFIRMATION_PATH in word)


def test_a_confirmation_lapses_after_two_days_and_subscribe_asks_again(cloud):
    sns = cloud.client("sns")
    topic = sns.create_topic(Name=_name("topic"))["TopicArn"]
    address = f"{_name('learner')}@security-orchestrator.dev"
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)  # "send it again"
    first, second = _confirmations(cloud, address)
    assert _link(first) != _link(second)
    time.sleep(2 * SETTINGS.day_length + 0.2)  # two days on the mode's clock
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []  # SNS deleted it
    with pytest.raises(urllib.error.HTTPError) as lapsed:
        urllib.request.urlopen(_link(second), timeout=10)
    assert lapsed.value.code == 400
    assert sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)["SubscriptionArn"] == \
        "pending confirmation"
    third = _confirmations(cloud, address)[-1]
    with urllib.request.urlopen(_link(third), timeout=10) as page:
        assert "Subscription confirmed" in page.read().decode()
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["Endpoint"] for s in listed] == [address] and listed[0]["SubscriptionArn"].startswith(topic + ":")
    time.sleep(2 * SETTINGS.day_length + 0.2)
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1  # confirmed ones stay
