"""The Lambda runtime: warm workers, environment, timeout, error shape, logs, identity; the seam pin."""

import json

import boto3
import pytest
from moto import mock_aws

from lambda_packages import zip_package
from workshop.localcloud.server import authentication
from workshop.localcloud.services.awslambda import workers

HANDLER = '''
import os, time, uuid

# One per sandbox: process ids say nothing inside a sandbox's own pid namespace.
SANDBOX = uuid.uuid4().hex

class TransientError(Exception):
    """IAM was busy."""

def handler(event, context):
    print("got", event.get("say", ""))
    if event.get("fail"):
        raise TransientError("IAM said: slow down")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"pid": SANDBOX, "greeting": os.environ.get("GREETING"),
            "region": os.environ["AWS_REGION"], "default_region": os.environ["AWS_DEFAULT_REGION"],
            "endpoint": os.environ["AWS_ENDPOINT_URL"], "key": os.environ["AWS_ACCESS_KEY_ID"],
            "name": context.function_name, "remaining": context.get_remaining_time_in_millis()}
'''


@pytest.fixture
def function():
    with mock_aws():
        runtime = workers.install("http://127.0.0.1:9")
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        client.create_function(FunctionName="fn", Runtime="python3.13", Role=role, Handler="app.handler",
                               Code={"ZipFile": zip_package({"app.py": HANDLER})}, Timeout=2,
                               Environment={"Variables": {"GREETING": "hello"}})
        yield client, runtime, role


def _invoke(client, event):
    response = client.invoke(FunctionName="fn", Payload=json.dumps(event))
    return response, json.loads(response["Payload"].read())


def test_a_function_runs_warm_after_one_cold_start(function):
    client, runtime, _ = function
    _, first = _invoke(client, {})
    _, second = _invoke(client, {})
    assert first["pid"] == second["pid"]
    assert runtime.cold_starts == 1


def test_a_worker_outlives_the_request_thread_that_started_it(function):
    """The server starts workers from request threads; a worker must stay warm after that thread ends."""
    import threading
    import time

    client, runtime, _ = function
    seen = []
    starter = threading.Thread(target=lambda: seen.append(_invoke(client, {})[1]))
    starter.start()
    starter.join()
    time.sleep(0.5)  # a signal tied to the thread's end would have killed the worker by now
    seen.append(_invoke(client, {})[1])
    assert seen[0]["pid"] == seen[1]["pid"] and runtime.cold_starts == 1


def test_the_handler_sees_the_functions_environment(function):
    client, _, _ = function
    _, result = _invoke(client, {})
    assert result["greeting"] == "hello"
    assert result["region"] == result["default_region"] == "us-east-1"
    assert result["endpoint"] == "http://127.0.0.1:9"
    assert result["name"] == "fn"
    assert 0 < result["remaining"] <= 2000


def test_the_credentials_identify_the_execution_role(function):
    client, _, role = function
    _, result = _invoke(client, {})
    known = authentication.worker_secret(result["key"])
    assert known.caller.principal_arn == role and known.caller.session_name == "fn"
    assert known.caller.kind == "assumed-role" and known.session_token
    assert authentication.worker_secret("AKIAOTHER") is None


def test_an_exception_comes_back_as_lambda_returns_it(function):
    client, _, _ = function
    response, error = _invoke(client, {"fail": True})
    assert response.get("FunctionError")
    assert error["errorType"] == "TransientError"
    assert error["errorMessage"] == "IAM said: slow down"
    assert any("app.py" in frame for frame in error["stackTrace"])
    assert not any("awslambda/worker.py" in frame for frame in error["stackTrace"])


def test_a_timeout_kills_the_worker_and_the_next_call_gets_a_fresh_one(function):
    client, runtime, _ = function
    _, before = _invoke(client, {})
    response, error = _invoke(client, {"sleep": 10})
    assert response.get("FunctionError")
    assert "Task timed out after 2.00 seconds" in error["errorMessage"]
    _, after = _invoke(client, {})
    assert after["pid"] != before["pid"]
    assert runtime.cold_starts == 2


def test_logs_go_to_cloudwatch_with_start_end_report(function):
    client, _, _ = function
    _invoke(client, {"say": "ping"})
    logs = boto3.client("logs", region_name="us-east-1")
    stream = logs.describe_log_streams(logGroupName="/aws/lambda/fn")["logStreams"][0]["logStreamName"]
    messages = [e["message"] for e in logs.get_log_events(logGroupName="/aws/lambda/fn",
                                                          logStreamName=stream)["events"]]
    assert any(m.startswith("START RequestId: ") for m in messages)
    assert "got ping" in messages
    assert any(m.startswith("END RequestId: ") for m in messages)
    report = next(m for m in messages if m.startswith("REPORT RequestId: "))
    assert "Duration:" in report and "Init Duration:" in report
    used = int(report.split("Max Memory Used: ", 1)[1].split(" MB", 1)[0])
    assert 5 <= used <= 512, report  # the worker's peak resident memory, read from /proc as Lambda reports it


def test_log_tail_is_returned_on_request(function):
    import base64

    client, _, _ = function
    response = client.invoke(FunctionName="fn", Payload=b"{}", LogType="Tail")
    assert "START RequestId" in base64.b64decode(response["LogResult"]).decode()


def test_updating_the_configuration_starts_a_new_worker(function):
    client, runtime, _ = function
    _, before = _invoke(client, {})
    client.update_function_configuration(FunctionName="fn", Environment={"Variables": {"GREETING": "bye"}})
    _, after = _invoke(client, {})
    assert after["greeting"] == "bye" and after["pid"] != before["pid"]


def test_shutdown_stops_every_worker(function):
    import os

    client, runtime, _ = function
    _invoke(client, {})
    pids = runtime.worker_pids()
    assert pids
    runtime.shutdown()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_duration_is_the_handlers_time_not_the_wait_for_a_free_sandbox(function):
    """Lambda bills from the handler's start: a call queued behind a busy sandbox reports the handler only."""
    import base64
    import re
    import time
    from concurrent.futures import ThreadPoolExecutor

    client, runtime, _ = function
    _invoke(client, {})  # the cold start is not what this is about
    runtime.max_workers = 1

    def call(_):
        started = time.perf_counter()
        response = boto3.client("lambda", region_name="us-east-1").invoke(
            FunctionName="fn", Payload=json.dumps({"sleep": 0.8}), LogType="Tail")
        report = base64.b64decode(response["LogResult"]).decode()
        return time.perf_counter() - started, float(re.search(r"\tDuration: ([\d.]+) ms", report).group(1)) / 1000

    with ThreadPoolExecutor(2) as pool:
        (wall_a, billed_a), (wall_b, billed_b) = pool.map(call, range(2))
    waited = max((wall_a, billed_a), (wall_b, billed_b))  # the call that queued took the longer
    assert waited[0] >= 1.6  # it did wait for the other call's 0.8 s, then ran its own
    assert 0.8 <= waited[1] < 1.5, waited
