"""A member account's resources act in the member account, as on AWS.

The calls the local cloud makes on behalf of a resource are the resource's account's: a state machine's
execution in a member account invokes that account's function and publishes to its topic (as its
role there), the function's own calls (signed with its execution role's session) reach that account's
table, and the IAM change a state machine makes there is that account's CloudTrail event, delivered
to that account's rules. The management account holds a table of the same name, empty at the end:
nothing went there. A caller cannot choose another account than its own (moto's `x-moto-account-id`
header), and what the local cloud serves itself (StartSyncExecution) is in the caller's account too.
One member account of the shared local cloud's organization; nothing is deployed.
"""

from __future__ import annotations

import json
import uuid

import pytest

from iam_principals import ACCOUNT, admin, document, unique
from lambda_packages import zip_package
from member_accounts import member_account
from state_machines import finished
from workshop.localcloud.services.mailbox import read_mailbox

WRITER = '''
import os
import boto3

def handler(event, context):
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE"], Item={"id": {"S": event["id"]}})
    me = boto3.client("sts").get_caller_identity()
    return {"account": me["Account"], "arn": me["Arn"]}
'''


def _trusting(service: str) -> str:
    return document({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def _table(client, name: str) -> None:
    client.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")


@pytest.fixture(scope="module")
def member(shared_cloud) -> dict:
    """A member account holding a table, a function writing to it, a topic with an e-mail subscriber, a
    rule sending its CloudTrail IAM events to a queue, and a state machine using them, each role allowed only
    what it needs; the management account holds a table of the same name."""
    endpoint = shared_cloud.endpoint
    account, owner = member_account(endpoint)
    name = unique("routed")
    region = "us-east-1"
    iam = owner.client("iam")
    _table(owner.client("dynamodb"), name)
    _table(admin(endpoint, "dynamodb"), name)
    table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    function_role = iam.create_role(RoleName=f"{name}-function", AssumeRolePolicyDocument=_trusting(
        "lambda.amazonaws.com"))["Role"]["Arn"]
    iam.put_role_policy(RoleName=f"{name}-function", PolicyName="table", PolicyDocument=document(
        {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": table_arn}))
    function = owner.client("lambda").create_function(
        FunctionName=name, Runtime="python3.13", Role=function_role, Handler="app.handler", Timeout=20,
        Code={"ZipFile": zip_package({"app.py": WRITER})}, Environment={"Variables": {"TABLE": name}})["FunctionArn"]
    topic = owner.client("sns").create_topic(Name=name)["TopicArn"]
    mail_to = f"{name}@example.com"
    owner.client("sns").subscribe(TopicArn=topic, Protocol="email-json", Endpoint=mail_to)
    queue = owner.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    owner.client("events").put_rule(Name=name, EventPattern=json.dumps({
        "source": ["aws.iam"], "detail": {"eventName": ["CreatePolicy"],
                                          "requestParameters": {"policyName": [{"prefix": name}]}}}))
    owner.client("events").put_targets(Rule=name, Targets=[
        {"Id": "queue", "Arn": f"arn:aws:sqs:{region}:{account}:{name}"}])
    machine_role = iam.create_role(RoleName=f"{name}-machine", AssumeRolePolicyDocument=_trusting(
        "states.amazonaws.com"))["Role"]["Arn"]
    iam.put_role_policy(RoleName=f"{name}-machine", PolicyName="steps", PolicyDocument=document(
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
        {"Effect": "Allow", "Action": "iam:CreatePolicy", "Resource": f"arn:aws:iam::{account}:policy/{name}*"}))
    definition = {"StartAt": "Write", "States": {
        "Write": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": function, "Payload.$": "$"}, "ResultSelector": {
                      "account.$": "$.Payload.account", "arn.$": "$.Payload.arn"}, "ResultPath": "$.function",
                  "Next": "Change"},
        "Change": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iam:createPolicy",
                   "Parameters": {"PolicyName.$": "$.policy", "PolicyDocument": document(
                       {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})},
                   "ResultSelector": {"arn.$": "$.Policy.Arn"}, "ResultPath": "$.created", "Next": "Tell"},
        "Tell": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                 "Parameters": {"TopicArn": topic, "Message.$": "$.id"}, "ResultPath": None, "End": True}}}
    machine = owner.client("stepfunctions").create_state_machine(
        name=name, roleArn=machine_role, definition=json.dumps(definition))["stateMachineArn"]
    return {"endpoint": endpoint, "account": account, "owner": owner, "name": name, "machine": machine,
            "function_role": function_role, "machine_role": machine_role, "topic": topic, "mail_to": mail_to,
            "queue": queue}


@pytest.fixture(scope="module")
def execution(member) -> dict:
    """One execution of the member account's state machine, finished."""
    sfn = member["owner"].client("stepfunctions")
    given = {"id": uuid.uuid4().hex, "policy": f"{member['name']}-made"}
    started = sfn.start_execution(stateMachineArn=member["machine"], input=json.dumps(given))["executionArn"]
    return {"given": given, "described": finished(sfn, started)}


def _succeeded(execution: dict) -> None:
    described = execution["described"]
    assert described["status"] == "SUCCEEDED", {k: described.get(k) for k in ("status", "error", "cause")}


def test_an_execution_in_a_member_account_invokes_its_function_whose_calls_land_in_its_table(member, execution):
    _succeeded(execution)
    described = execution["described"]
    output = json.loads(described["output"])
    account, name = member["account"], member["name"]
    assert output["function"] == {"account": account, "arn": f"arn:aws:sts::{account}:assumed-role/"
                                                             f"{name}-function/{name}"}
    key = {"id": {"S": execution["given"]["id"]}}
    assert member["owner"].client("dynamodb").get_item(TableName=name, Key=key).get("Item") == key
    assert "Item" not in admin(member["endpoint"], "dynamodb").get_item(TableName=name, Key=key)


def test_a_member_accounts_state_machine_changes_iam_there_and_the_event_is_that_accounts(member, execution):
    """The state machine's IAM call is made in its account, by its role's session there; CloudTrail records
    it as that account's (recipientAccountId) and EventBridge delivers it to that account's rule."""
    _succeeded(execution)
    account, policy = member["account"], execution["given"]["policy"]
    assert json.loads(execution["described"]["output"])["created"]["arn"] == \
        f"arn:aws:iam::{account}:policy/{policy}"
    member["owner"].client("iam").get_policy(PolicyArn=f"arn:aws:iam::{account}:policy/{policy}")
    sqs = member["owner"].client("sqs")
    messages = sqs.receive_message(QueueUrl=member["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=5).get(
        "Messages", [])
    events = [json.loads(m["Body"]) for m in messages]
    assert [e["detail"]["requestParameters"]["policyName"] for e in events] == [policy], events
    event = events[0]
    assert event["account"] == event["detail"]["recipientAccountId"] == account
    identity = event["detail"]["userIdentity"]
    assert identity["accountId"] == account and identity["sessionContext"]["sessionIssuer"]["arn"] == \
        member["machine_role"]


def test_a_member_accounts_topic_mails_its_subscriber_and_the_mail_names_that_account(member, execution):
    _succeeded(execution)
    mails = [m for m in read_mailbox(member["endpoint"]) if m["to"] == member["mail_to"]]
    assert len(mails) == 1, mails
    mail = mails[0]
    body = json.loads(mail["body"])
    assert mail["topic_arn"] == body["TopicArn"] == member["topic"]
    assert body["Message"] == execution["given"]["id"]
    subscriptions = member["owner"].client("sns").list_subscriptions_by_topic(TopicArn=member["topic"])
    subscription = subscriptions["Subscriptions"][0]["SubscriptionArn"]
    assert body["UnsubscribeURL"].endswith(f"SubscriptionArn={subscription}"), body["UnsubscribeURL"]


def test_a_caller_cannot_serve_its_call_in_another_account_by_naming_it_in_a_header(member):
    """moto serves a request in the account its `x-moto-account-id` header names: a member account's
    administrator could act in the management account. The signature decides, as on AWS."""
    dynamodb = member["owner"].client("dynamodb")

    def elsewhere(request, **_):
        request.headers["x-moto-account-id"] = ACCOUNT

    dynamodb.meta.events.register("before-sign.dynamodb.*", elsewhere)
    arn = dynamodb.describe_table(TableName=member["name"])["Table"]["TableArn"]
    assert arn.split(":")[4] == member["account"] != ACCOUNT


def test_a_member_accounts_state_machine_calls_as_its_role_there_under_that_accounts_scps(member):
    """The role allows the call; an SCP attached to the member account denies it, so the task fails as the
    role's session in that account, as Step Functions reports AWS's denial."""
    endpoint, account, name = member["endpoint"], member["account"], member["name"]
    organizations = admin(endpoint, "organizations")
    scp = organizations.create_policy(
        Name=unique("no-denied-policies"), Type="SERVICE_CONTROL_POLICY", Description="denies one name",
        Content=document({"Effect": "Deny", "Action": "iam:CreatePolicy",
                          "Resource": f"arn:aws:iam::*:policy/{name}-denied*"}))["Policy"]["PolicySummary"]["Id"]
    organizations.attach_policy(PolicyId=scp, TargetId=account)
    sfn = member["owner"].client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=member["machine"], input=json.dumps(
        {"id": uuid.uuid4().hex, "policy": f"{name}-denied"}))["executionArn"]
    described = finished(sfn, started)
    assert described["status"] == "FAILED", described
    assert f"arn:aws:sts::{account}:assumed-role/{name}-machine/" in described["cause"], described["cause"]
    assert "with an explicit deny in a service control policy" in described["cause"], described["cause"]


def test_what_the_local_cloud_serves_itself_is_served_in_the_callers_account(member):
    """StartSyncExecution is the kit's own route (moto has none): a member account's express machine runs."""
    sfn = member["owner"].client("stepfunctions")
    express = sfn.create_state_machine(name=unique("express"), roleArn=member["machine_role"], type="EXPRESS",
                                       definition=json.dumps({"StartAt": "Echo", "States": {
                                           "Echo": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    answered = sfn.start_sync_execution(stateMachineArn=express, input='{"echo": 1}')
    assert (answered["status"], json.loads(answered["output"])) == ("SUCCEEDED", {"echo": 1}), answered
    assert answered["executionArn"].split(":")[4] == member["account"]
