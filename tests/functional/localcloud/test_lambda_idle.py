"""Idle Lambda workers stop after a quiet period and the next call starts a new one, as Lambda does."""

import json

import boto3
import pytest
from moto import mock_aws

from lambda_packages import zip_package
from polling import wait_for
from workshop.localcloud.services.awslambda import workers

HANDLER = "import uuid\nSANDBOX = uuid.uuid4().hex\ndef handler(event, context):\n    return {'sandbox': SANDBOX}\n"


@pytest.fixture
def quiet_function(monkeypatch):
    monkeypatch.setenv("LOCALCLOUD_LAMBDA_IDLE_SECONDS", "0.3")
    with mock_aws():
        runtime = workers.install("http://127.0.0.1:9")
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        client.create_function(FunctionName="fn", Runtime="python3.11", Role=role, Handler="app.handler",
                               Code={"ZipFile": zip_package({"app.py": HANDLER})})
        yield client, runtime
        runtime.shutdown()


def _sandbox(client) -> str:
    return json.loads(client.invoke(FunctionName="fn", Payload=b"{}")["Payload"].read())["sandbox"]


def test_an_idle_worker_is_stopped_and_the_next_call_starts_a_new_one(quiet_function):
    client, runtime = quiet_function
    first = _sandbox(client)
    [pid] = runtime.worker_pids()
    wait_for(lambda: runtime.worker_pids() == [], timeout=10, what="the idle worker to stop")
    assert runtime.idle_stops == 1
    import psutil

    def gone():  # the reaper takes the worker out of the pool first, then stops it
        return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    wait_for(gone, timeout=10, what="the idle worker's process to end")
    second = _sandbox(client)
    assert second != first and runtime.cold_starts == 2


def test_a_recently_used_worker_is_kept(quiet_function):
    client, runtime = quiet_function
    runtime.idle_seconds = 3600
    first = _sandbox(client)
    assert runtime.stop_idle_workers() == 0 and len(runtime.worker_pids()) == 1
    assert _sandbox(client) == first, "still warm"
    assert runtime.stop_idle_workers(older_than=0) == 1 and runtime.worker_pids() == []


def test_the_idle_period_is_a_setting_and_zero_keeps_workers(monkeypatch):
    monkeypatch.setenv("LOCALCLOUD_LAMBDA_IDLE_SECONDS", "0")
    runtime = workers.LambdaRuntime("http://127.0.0.1:9")
    runtime._start_reaper()
    assert runtime._reaper is None, "0 keeps warm workers for good"
    monkeypatch.delenv("LOCALCLOUD_LAMBDA_IDLE_SECONDS")
    assert workers.LambdaRuntime("http://127.0.0.1:9").idle_seconds == workers.DEFAULT_IDLE_SECONDS
