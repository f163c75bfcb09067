"""The local cloud under bad input: AWS-shaped errors, a server that stays up, no stray processes.

* Replay: an event delivered twice starts one execution (executions are named
  after the CloudTrail eventID, see targets.execution_name).
* Every extension (mailbox, execute-api route, CloudTrail emitter, TestState /
  ValidateStateMachineDefinition, unknown /_localcloud routes, the JSON
  protocol, Lambda Invoke) answers garbage with an error a client can read,
  and the health check still answers afterwards.
* Stopping the local cloud leaves no process behind, warm Lambda workers included.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile

import boto3
import psutil
import pytest
import requests
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from local_clients import cloud_client
from signing import signed_headers
from workshop.localcloud.server import process
from workshop.localcloud.services import cloudtrail
from workshop.localcloud.services.awslambda import workers
from workshop.localcloud.services.events import targets
from workshop.localcloud.services.stepfunctions import engine

# Step Functions' rules for a name: 1-80 characters; no whitespace, brackets,
# wildcards, special characters or control characters.
VALID_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}")
TARGET = "AWSStepFunctions.{}"
def signed(cloud, method, path, body=b"", service="iam", headers=None):
    """The headers of a raw request signed with the cloud's key (its signature checks out: the body is what is tried)."""
    return {**(headers or {}), **signed_headers(cloud.credentials, method, cloud.endpoint + path, body, service,
                                                headers)}


def mailbox_key(cloud, method="GET", path="/_localcloud/mailbox", body=b""):
    return signed(cloud, method, path, body, "localcloud")


@pytest.fixture(autouse=True)
def _restore_lambda_invoke():
    """workers.install() also wraps LambdaFunction.invoke (the payload check): put it back."""
    from moto.awslambda.models import LambdaFunction

    saved = LambdaFunction.__dict__["invoke"]
    yield
    LambdaFunction.invoke = saved


# --- execution names from events ------------------------------------------------------


def test_an_execution_is_named_after_the_cloudtrail_event_id():
    event = {"id": "envelope-id", "detail": {"eventID": "6c0d1f0e-93b2-4e51-9c5c-0a8f5cbb8f00"}}
    assert targets.execution_name(event) == "6c0d1f0e-93b2-4e51-9c5c-0a8f5cbb8f00"


def test_without_an_event_id_the_eventbridge_id_names_it():
    assert targets.execution_name({"id": "abc-123", "detail": {}}) == "abc-123"
    assert targets.execution_name({"id": "abc-123", "detail": "not an object"}) == "abc-123"


def test_without_any_id_a_fresh_uuid_names_it():
    first, second = (targets.execution_name({"detail": {}}) for _ in range(2))
    assert first != second and VALID_NAME.fullmatch(first)


@pytest.mark.parametrize("raw", [
    "with space", "wild*card?", "a/b:c;d", "[x]{y}<z>", "tab\tnew\nline", "ctl\x00\x1f\x7f\x9f",
    "é-ünïcode", "x" * 200, "'; DROP TABLE executions; --", "${jndi:ldap://x}",
])
def test_an_unusual_event_id_becomes_a_valid_distinct_name(raw):
    name = targets.execution_name({"detail": {"eventID": raw}})
    assert VALID_NAME.fullmatch(name), name
    # a changed id keeps a digest of the original: a near-twin does not share the name
    twin = targets.execution_name({"detail": {"eventID": raw + "!"}})
    assert twin != name


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.integers(), st.none()), st.one_of(st.text(max_size=100), st.none()))
def test_any_event_id_gives_a_valid_name(event_id, envelope_id):
    name = targets.execution_name({"id": envelope_id, "detail": {"eventID": event_id}})
    assert VALID_NAME.fullmatch(name), repr(name)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=120), st.text(min_size=1, max_size=120))
def test_different_event_ids_give_different_names(a, b):
    if a == b:
        return
    # (ids with no usable character at all fall back to fresh UUIDs: distinct anyway)
    assert targets.execution_name({"detail": {"eventID": a}}) != \
        targets.execution_name({"detail": {"eventID": b}})


# --- replay: the same event twice, one execution -----------------------------------------


def _machine(sfn, name="m"):
    return sfn.create_state_machine(
        name=name, roleArn="arn:aws:iam::123456789012:role/r",
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 2, "End": True}}}),
    )["stateMachineArn"]


def _executions(sfn, machine, expected, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        found = sfn.list_executions(stateMachineArn=machine)["executions"]
        if len(found) >= expected or time.monotonic() > deadline:
            time.sleep(0.3)  # and nothing more arrives
            return sfn.list_executions(stateMachineArn=machine)["executions"]
        time.sleep(0.05)


def test_an_event_delivered_twice_starts_one_execution_named_after_it():
    with mock_aws():
        engine.install(port=5000)
        targets.install()
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        events = boto3.client("events", region_name="us-east-1")
        machine = _machine(sfn)
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["aws.iam"]}))
        events.put_targets(Rule="r", Targets=[{"Id": "sm", "Arn": machine}])
        detail = json.dumps({"eventName": "CreatePolicy", "eventID": "11111111-2222-3333-4444-555555555555"})
        entry = {"Source": "aws.iam", "DetailType": "AWS API Call via CloudTrail", "Detail": detail}

        events.put_events(Entries=[entry])
        events.put_events(Entries=[entry])  # the replay: another envelope id, the same CloudTrail event
        other = dict(entry, Detail=json.dumps({"eventName": "CreatePolicy", "eventID": "another-event"}))
        events.put_events(Entries=[other])

        executions = _executions(sfn, machine, 2)
        assert sorted(e["name"] for e in executions) == ["11111111-2222-3333-4444-555555555555", "another-event"]


def test_a_replay_after_the_first_run_ended_is_dropped_too():
    with mock_aws():
        engine.install(port=5000)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="quick", roleArn="arn:aws:iam::123456789012:role/r",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
        event = {"id": "e1", "detail": {"eventID": "ev-1"}}
        first = targets.start_execution_for(machine, event, "ev-1")
        deadline = time.monotonic() + 10
        while sfn.describe_execution(executionArn=first)["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        again = targets.start_execution_for(machine, dict(event, id="e2"), "ev-1")
        assert again is None  # refused (ExecutionAlreadyExists), logged, not raised
        assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]] == [first]


# --- the CloudTrail emitter with garbage ----------------------------------------------------


@pytest.mark.parametrize("form", [
    {}, {"\ufffd\x00garbage": [""]}, {"Action": ["CreatePolicy"]}, {"Action": ["CreatePolicy"], "": ["", "="]},
    {"Action": ["A" * 10000]},
    {"Action": ["CreatePolicy"], "Tags.member.1.Key": ["k"], "Tags.member.1.Value": ["v"],
     "Tags.member.2.Key": ["only-a-key"]},
    {"Action": ["CreatePolicyVersion"], "Tags.member.x": ["1"]},
    {"Action": ["CreatePolicy"], "Tags.member.a.Key": ["k"], "Tags.member.a.Value": ["v"]},
])
@pytest.mark.parametrize("arguments", [{}, {"policy_arn": None, "tags": "not a list"}, {"tags": [1, "x", {}]},
                                       {"policy_document": object()}])
def test_the_cloudtrail_emitter_never_raises_on_garbage(form, arguments, monkeypatch):
    from workshop.localcloud.server import calls
    from workshop.localcloud.server.authentication import learner_caller

    put = []
    monkeypatch.setattr(cloudtrail, "put_event", put.append)
    call = calls.Call(learner_caller("LCAKTEST"), service="iam", parameters=form,
                      action=(form.get("Action") or [None])[0])
    with calls.serving(call):
        cloudtrail._changed("CreatePolicy", arguments, None, "123456789012")
    assert [event["detail"]["eventName"] for event in put] == ["CreatePolicy"]


# --- a real server process with garbage -----------------------------------------------------


def _alive(cloud):
    doc = cloud.health()
    assert doc is not None and doc["status"] == "ready", "the local cloud stopped answering its health check"


def _json_error(response) -> dict:
    """An AWS-shaped JSON error: a 4xx, a JSON object with a message, no HTML page or trace."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text and "<html" not in response.text.lower()
    document = response.json()
    assert isinstance(document, dict) and (document.get("message") or document.get("Message"))
    return document


def test_unknown_local_cloud_routes_answer_404_json(cloud):
    for path in ("/_localcloud/nope", "/_localcloud/", "/_localcloud/health/extra", "/_localcloud/%00%FF",
                 "/_localcloud/../_localcloud/mailbox/x"):
        for method in ("GET", "POST", "DELETE"):
            response = requests.request(method, cloud.endpoint + path, data=b"\xff" * 100,
                                        headers=mailbox_key(cloud, method, path, b"\xff" * 100), timeout=30)
            assert response.status_code == 404, (method, path)
            _json_error(response)
    _alive(cloud)


def test_garbage_to_the_mailbox_changes_nothing(cloud):
    sns = cloud_client(cloud, "sns")
    topic = sns.create_topic(Name="robust")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="r@example.com")
    sns.publish(TopicArn=topic, Subject="kept", Message="kept")
    before = requests.get(cloud.endpoint + "/_localcloud/mailbox", headers=mailbox_key(cloud), timeout=30).json()
    for method, body in (("POST", b"\x00\xff garbage"), ("PUT", b"{"), ("PATCH", b"[]"), ("POST", b"x" * 100_000)):
        response = requests.request(method, cloud.endpoint + "/_localcloud/mailbox?x=%FF", data=body,
                                    headers=mailbox_key(cloud, method, "/_localcloud/mailbox?x=%FF", body), timeout=30)
        assert response.status_code < 500 and "Traceback" not in response.text
    assert requests.get(cloud.endpoint + "/_localcloud/mailbox", headers=mailbox_key(cloud), timeout=30).json() == before
    _alive(cloud)


@pytest.mark.parametrize("path", ["/_localcloud/execute-api/", "/_localcloud/execute-api/x",
                                  "/_localcloud/execute-api/nope/Prod/allow",
                                  "/_localcloud/execute-api/%00%ff/..%2f../x?token=%ff",
                                  "/_localcloud/execute-api/" + "a" * 5000 + "/Prod/allow"])
def test_bad_execute_api_requests_answer_json_errors(cloud, path):
    for method in ("GET", "POST", "OPTIONS"):
        response = requests.request(method, cloud.endpoint + path, data=b"\xff\xfe" * 1000, timeout=30)
        _json_error(response)
    _alive(cloud)


def _post_target(cloud, target, body, service="states", content_type="application/x-amz-json-1.0"):
    return requests.post(cloud.endpoint + "/", data=body, timeout=60, headers=signed(
        cloud, "POST", "/", body, service, {"X-Amz-Target": target, "Content-Type": content_type}))


GARBAGE_BODIES = [b"not json", b"[]", b"\xff\xfe", b"{\"definition\": \"{\"}", b"{\"definition\": \"{}\", \"input\": 7}",
                  b"{\"definition\": \"[1, 2]\"}", b"{\"definition\": \"" + b"{" * 5000 + b"\"}", b"null", b"\"text\""]


@pytest.mark.parametrize("body", GARBAGE_BODIES)
@pytest.mark.parametrize("operation", ["TestState", "ValidateStateMachineDefinition"])
def test_test_state_and_validate_answer_garbage_with_aws_errors(cloud, operation, body):
    response = _post_target(cloud, TARGET.format(operation), body)
    if response.status_code == 200:  # Validate reports a bad definition as a FAIL result
        assert operation == "ValidateStateMachineDefinition" and response.json()["result"] == "FAIL"
    else:
        assert 400 <= response.status_code < 500, response.text[:300]
        assert response.json()["__type"] and response.headers.get("x-amzn-ErrorType")
    _alive(cloud)


@pytest.mark.parametrize("body", [b"{\"definition\": 5}", b"{\"definition\": true}"])
def test_test_state_with_a_definition_that_is_not_text_is_a_client_error(cloud, body):
    response = _post_target(cloud, TARGET.format("TestState"), body)
    assert 400 <= response.status_code < 500, response.text[:300]


@pytest.mark.parametrize("target, service, content_type", [
    ("AWSStepFunctions.ListStateMachines", "states", "application/x-amz-json-1.0"),
    ("AWSEvents.ListRules", "events", "application/x-amz-json-1.1"),
])
def test_invalid_json_to_the_json_protocol_does_not_kill_the_server(cloud, target, service, content_type):
    for body in (b"{not json", b"\xff\xfe", b"[", b"{" * 10000):
        response = _post_target(cloud, target, body, service, content_type)
        assert "Traceback" not in response.text
    _alive(cloud)


@pytest.mark.parametrize("target, service, content_type, body", [
    ("AWSEvents.PutEvents", "events", "application/x-amz-json-1.1", b"{not json"),
    ("AWSStepFunctions.StartExecution", "states", "application/x-amz-json-1.0", b"{\"stateMachineArn\": 5}"),
    ("AWSStepFunctions.ListStateMachines", "states", "application/x-amz-json-1.0", b"\xff\xfe"),
])
def test_invalid_json_to_the_json_protocol_is_a_serialization_error(cloud, target, service, content_type, body):
    _json_error(_post_target(cloud, target, body, service, content_type))


def test_garbage_iam_calls_emit_nothing_and_keep_the_server_up(cloud):
    sqs, events = cloud_client(cloud, "sqs"), cloud_client(cloud, "events")
    queue = sqs.create_queue(QueueName="robust-trail")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="robust-iam", EventPattern=json.dumps({"source": ["aws.iam"]}))
    events.put_targets(Rule="robust-iam", Targets=[{"Id": "q", "Arn": queue_arn}])
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for body in (b"", b"\xff\xfe\x00Action=CreatePolicy&&&==", b"Action=CreatePolicy&Version=2010-05-08&PolicyName=x",
                 b"Action=CreatePolicy&Version=2010-05-08&PolicyName=y&PolicyDocument=%7Bnot",
                 b"Action=CreatePolicyVersion&Version=2010-05-08&PolicyArn=arn:aws:iam::123456789012:policy/none"
                 b"&PolicyDocument=%7B%7D"):
        response = requests.post(cloud.endpoint + "/", data=body, headers=signed(cloud, "POST", "/", body, "iam", form),
                                 timeout=30)
        assert response.status_code not in (200, 403) and "Traceback" not in response.text
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None  # refused: no events
    _alive(cloud)


def _function(cloud, name, code):
    iam, lam = cloud_client(cloud, "iam"), cloud_client(cloud, "lambda")
    try:
        role = iam.create_role(RoleName="robust", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except ClientError:
        role = iam.get_role(RoleName="robust")["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", code)
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler",
                        Code={"ZipFile": package.getvalue()}, Timeout=5)
    return lam


def test_a_lambda_invoke_with_a_broken_payload_is_refused_as_lambda_does(cloud):
    lam = _function(cloud, "robust-echo", "def handler(event, context):\n    return {'type': type(event).__name__}\n")
    for payload in (b"{not json", b"[1, 2", b"\x00", b"{" * 10000):
        with pytest.raises(ClientError) as refused:
            lam.invoke(FunctionName="robust-echo", Payload=payload)
        assert refused.value.response["Error"]["Code"] == "InvalidRequestContentException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # good payloads of every JSON type still reach the handler
    for payload, kind in ((b"{}", "dict"), (b"[1]", "list"), (b"\"s\"", "str"), (b"", "dict")):
        answer = lam.invoke(FunctionName="robust-echo", Payload=payload)
        assert "FunctionError" not in answer and json.loads(answer["Payload"].read()) == {"type": kind}
    _alive(cloud)


def test_a_handler_that_crashes_its_worker_is_an_error_not_a_dead_server(cloud):
    lam = _function(cloud, "robust-crash", "import os\ndef handler(event, context):\n"
                                           "    if event.get('exit'):\n        os._exit(3)\n    return 'ok'\n")
    answer = lam.invoke(FunctionName="robust-crash", Payload=b"{\"exit\": true}")
    assert answer.get("FunctionError") and "Runtime" in json.loads(answer["Payload"].read())["errorType"]
    assert json.loads(lam.invoke(FunctionName="robust-crash", Payload=b"{}")["Payload"].read()) == "ok"
    _alive(cloud)


# --- stopping leaves nothing behind -------------------------------------------------------


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stopping_and_starting_leaves_no_stray_processes():
    for _ in range(2):  # stop, start again, stop again
        cloud = process.LocalCloud().start()
        try:
            lam = _function(cloud, "warm", "def handler(event, context):\n    return 1\n")
            lam.invoke(FunctionName="warm", Payload=b"{}")  # a warm worker now waits for the next call
            parent = psutil.Process(cloud.proc.pid)
            children = parent.children(recursive=True)
            assert children, "the invoke left no warm worker to check"
            assert cloud.health()["lambda_workers"] >= 1
            pids = [parent.pid] + [child.pid for child in children]
        finally:
            cloud.stop()
        deadline = time.monotonic() + 10
        while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        stray = [pid for pid in pids if not _gone(pid)]
        assert not stray, f"still running after stop: {stray}"
        assert process.port_is_free(cloud.port)


def test_which_invoke_payloads_lambda_refuses():
    for good in (None, "", b"", "{}", b"[1]", "\"text\"", "null", "3"):
        assert workers.invalid_payload(good) is None, good
    for bad in ("{not json", b"\xff\xfe", "[1,", "{" * 5000):
        assert "Could not parse request body into json" in workers.invalid_payload(bad)
