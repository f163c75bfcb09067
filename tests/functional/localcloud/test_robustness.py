"""The local cloud under bad input: AWS-shaped errors, a server that stays up, no stray processes.

* Every extension (mailbox, execute-api route, CloudTrail emitter, TestState /
  ValidateStateMachineDefinition, unknown /_localcloud routes, the JSON
  protocol, Lambda Invoke) answers garbage with an error a client can read,
  and the health check still answers afterwards.
* Stopping the local cloud leaves no process behind, warm Lambda workers included.
"""

from __future__ import annotations

import json
import time

import psutil
import pytest
import requests
from botocore.exceptions import ClientError

from lambda_packages import zip_package
from local_clients import cloud_client
from signing import signed_headers
from workshop.localcloud.server import process

TARGET = "AWSStepFunctions.{}"


def signed(cloud, method, path, body=b"", service="iam", headers=None):
    """The headers of a raw request signed with the cloud's key (its signature checks out: the body is what is tried)."""
    return {**(headers or {}), **signed_headers(cloud.credentials, method, cloud.endpoint + path, body, service,
                                                headers)}


def mailbox_key(cloud, method="GET", path="/_localcloud/mailbox", body=b""):
    return signed(cloud, method, path, body, "localcloud")


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
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler",
                        Code={"ZipFile": zip_package({"app.py": code})}, Timeout=5)
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
