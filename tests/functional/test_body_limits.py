"""Body limits on every route, before the body is read, and the server's memory flat under oversized requests.

A real local cloud: each route answers a body over its limit as its service does
(server/bodies.py), whether the client declares the size (`Content-Length`) or
streams it (chunked); and many oversized requests, each sent in full, leave the
server's resident memory where one request's worth of it would not reach.
"""

from __future__ import annotations

import http.client
import json
import socket

import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cloud_fixtures import logged_cloud
from lambda_packages import zip_package
from signing import signed_headers
from workshop.localcloud.server import bodies

MB = 1024 * 1024
STAGE = "/_localcloud/execute-api/anyapi/Prod/anything"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with logged_cloud(tmp_path_factory.mktemp("limits")) as (running, _):
        yield running


def _send(cloud, path: str, total: int, headers: dict, chunked: bool = False, method: str = "POST",
          piece: int = MB) -> tuple[int, bytes]:
    """Send `total` bytes of body (declared, or chunked), as fast as the server takes them; (status, answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=120)
    connection.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    if chunked:
        connection.putheader("Transfer-Encoding", "chunked")
    else:
        connection.putheader("Content-Length", str(total))
    connection.endheaders()
    block, sent = b"x" * piece, 0
    try:
        while sent < total:
            part = block[: min(piece, total - sent)]
            connection.send(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            sent += len(part)
        if chunked:
            connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass  # refused before the end: the answer is already there
    response = connection.getresponse()
    answer = response.status, response.read()
    connection.close()
    return answer


def test_an_api_gateway_stage_takes_at_most_10_mb_declared_or_chunked(cloud):
    for chunked in (False, True):
        status, body = _send(cloud, STAGE, 11 * MB, {"Content-Type": "application/json"}, chunked)
        assert status == 413 and json.loads(body) == {"message": "Request Too Long"}, chunked
    # under the limit the stage answers as usual (no such API here: API Gateway's 404/403 shape, not 413)
    status, _ = _send(cloud, STAGE, 1 * MB, {"Content-Type": "application/json"})
    assert status != 413


def test_lambda_invoke_takes_at_most_6_mb_as_lambda_says(cloud):
    iam, lam = cloud.client("iam"), cloud.client("lambda", config=Config(retries={"total_max_attempts": 1}))
    role = iam.create_role(RoleName="echo", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName="echo", Runtime="python3.13", Role=role, Handler="app.handler",
                        Code={"ZipFile": zip_package({"app.py": "def handler(e, c):\n    return len(e['x'])\n"})})
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName="echo", Payload=json.dumps({"x": "y" * (6 * MB + 10)}))
    error = refused.value.response
    assert error["Error"]["Code"] == "RequestTooLargeException" and error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert "6291456 bytes for the InvokeFunction operation" in error["Error"]["Message"]
    assert json.loads(lam.invoke(FunctionName="echo", Payload=json.dumps({"x": "y" * MB}))["Payload"].read()) == MB


def test_step_functions_takes_256_kb_of_input_and_1_mb_per_request(cloud):
    sfn = cloud.client("stepfunctions", config=Config(retries={"total_max_attempts": 1}))
    machine = sfn.create_state_machine(name="limits", roleArn="arn:aws:iam::123456789012:role/r", definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=machine, input=json.dumps({"x": "y" * (256 * 1024)}))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "length less than or equal to 262144" in refused.value.response["Error"]["Message"]
    assert sfn.start_execution(stateMachineArn=machine, input=json.dumps({"x": "y" * (200 * 1024)}))
    with pytest.raises(ClientError) as refused:
        sfn.create_state_machine(name="huge", roleArn="arn:aws:iam::123456789012:role/r",
                                 definition=json.dumps({"StartAt": "P", "Comment": "c" * (2 * MB),
                                                        "States": {"P": {"Type": "Pass", "End": True}}}))
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"


def test_sns_refuses_a_message_over_256_kb(cloud):
    sns = cloud.client("sns")
    topic = sns.create_topic(Name="limits")["TopicArn"]
    with pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=topic, Message="m" * (256 * 1024 + 1))
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    assert sns.publish(TopicArn=topic, Message="m" * (200 * 1024))["MessageId"]


def test_s3_put_object_over_the_local_cap_is_refused_before_it_is_read(cloud):
    cloud.client("s3").create_bucket(Bucket="limits")
    path = "/limits/big"
    size = bodies.S3_OBJECT_LIMIT + MB
    headers = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Length": str(size)}
    signed = signed_headers(cloud.credentials, "PUT", cloud.endpoint + path, service="s3", headers=headers)
    signed.pop("Content-Length")
    status, body = _send(cloud, path, size, signed, method="PUT", piece=4 * MB)
    assert status == 400 and b"<Code>EntityTooLarge</Code>" in body
    assert f"<MaxSizeAllowed>{bodies.S3_OBJECT_LIMIT}</MaxSizeAllowed>".encode() in body
    assert b"The local cloud keeps objects of up to" in body
    assert "Contents" not in cloud.client("s3").list_objects_v2(Bucket="limits")


def test_the_servers_memory_stays_flat_under_repeated_oversized_requests(cloud):
    """Each request sends 64 MB in full; 24 of them (1.5 GB) may not grow the server by one request's size."""
    server = psutil.Process(cloud.proc.pid)
    size, rounds = 64 * MB, 24
    _send(cloud, STAGE, 11 * MB, {}, chunked=True)  # the first refusal's one-off allocations, before measuring
    before = server.memory_info().rss
    for round_ in range(rounds):
        status, _ = _send(cloud, STAGE, size, {"Content-Type": "application/json"}, chunked=bool(round_ % 2))
        assert status == 413
    grown = server.memory_info().rss - before
    assert grown < size / 2, f"the server grew by {grown / MB:.0f} MB over {rounds} requests of {size // MB} MB"
    assert cloud.health()["status"] == "ready"


def test_the_servers_memory_stays_flat_under_repeated_large_requests_it_serves(cloud):
    """Each request is 12 MB, under STS's limit, and served; 20 of them may not hold more than 8 requests' worth."""
    server = psutil.Process(cloud.proc.pid)
    size, rounds = 12 * MB, 20
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = b"Action=GetCallerIdentity&Version=2011-06-15&Padding=" + b"x" * size
    signed = {**form, **signed_headers(cloud.credentials, "POST", cloud.endpoint + "/", body, "sts", form)}

    def send():
        connection = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=120)
        connection.request("POST", "/", body=body, headers=signed)
        response = connection.getresponse()
        answer = response.status, response.read()
        connection.close()
        return answer

    send()  # the first large request's one-off allocations, before measuring
    before = server.memory_info().rss
    for _ in range(rounds):
        status, answer = send()
        assert status == 200 and b"<Arn>arn:aws:iam::123456789012:root</Arn>" in answer
    grown = server.memory_info().rss - before
    assert grown < 8 * size, f"the server grew by {grown / MB:.0f} MB over {rounds} requests of {size // MB} MB"
