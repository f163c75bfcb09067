"""Step Functions in the local cloud: the engine's patches, each against a real local cloud, and their seams."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from local_clients import cloud_client
from workshop.localcloud import stepfunctions

ROLE = "arn:aws:iam::123456789012:role/r"


def machine(sfn, name, definition, **kwargs):
    return sfn.create_state_machine(name=name, roleArn=ROLE, definition=json.dumps(definition),
                                    **kwargs)["stateMachineArn"]


def finished(sfn, execution_arn, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_arn} still running after {timeout} s")
        time.sleep(0.05)


def history(sfn, execution_arn):
    return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


# --- one program per definition -------------------------------------------------------------

RETRYING = {"StartAt": "Get", "States": {"Get": {
    "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iam:getRole",
    "Parameters": {"RoleName": "no-such-role"},
    "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1}],
    "End": True}}}


def test_executions_of_one_definition_share_one_program_with_its_heap_keys_made():
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    text = json.dumps(RETRYING)
    program = stepfunctions.shared_program(text)
    assert stepfunctions.shared_program(text) is program
    assert stepfunctions.shared_program(json.dumps(RETRYING, indent=1)) is not program
    made = []

    def visit(item, seen=set()):
        if id(item) in seen:
            return
        seen.add(id(item))
        if isinstance(item, EvalComponent):
            made.append(item.__dict__.get("_EvalComponent__heap_key"))
        if isinstance(item, (list, tuple)):
            for child in item:
                visit(child)
        elif hasattr(item, "__dict__") and type(item).__module__.startswith("moto.stepfunctions"):
            for child in vars(item).values():
                visit(child)

    visit(program)
    # made before sharing: two executions making one lazily could each get another key
    assert made and all(made)


def test_concurrent_executions_of_a_shared_program_keep_their_own_retry_counts(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    arn = machine(sfn, "shared-retries", RETRYING)
    with ThreadPoolExecutor(6) as pool:
        executions = list(pool.map(lambda _: sfn.start_execution(stateMachineArn=arn)["executionArn"], range(6)))
    for execution in executions:
        assert finished(sfn, execution)["status"] == "FAILED"
        attempts = [e for e in history(sfn, execution) if e["type"] == "TaskScheduled"]
        assert len(attempts) == 3  # the first try and two retries, for each execution


# --- aws-sdk results -------------------------------------------------------------------------


def test_an_sdk_result_with_timestamps_is_described_with_aws_text(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    iam = cloud_client(cloud, "iam")
    iam.create_role(RoleName="dated", AssumeRolePolicyDocument="{}")
    arn = machine(sfn, "sdk-dates", {"StartAt": "Get", "States": {"Get": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iam:getRole",
        "Parameters": {"RoleName": "dated"}, "End": True}}})
    described = finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert described["status"] == "SUCCEEDED"
    created = json.loads(described["output"])["Role"]["CreateDate"]
    assert isinstance(created, str) and created.endswith("Z") and created[10] == "T"


def test_sdk_timestamps_read_as_aws_writes_them():
    from datetime import datetime, timedelta, timezone

    plain = datetime(2026, 12, 1, 9, 50, 0, tzinfo=timezone.utc)
    assert stepfunctions.sdk_timestamp(plain) == "2026-12-01T09:50:00Z"
    assert stepfunctions.sdk_timestamp(plain.replace(microsecond=123000)) == "2026-12-01T09:50:00.123Z"
    assert stepfunctions.sdk_timestamp(plain.replace(microsecond=123456)) == "2026-12-01T09:50:00.123456Z"
    assert stepfunctions.sdk_timestamp(plain.astimezone(timezone(timedelta(hours=2)))) == "2026-12-01T09:50:00Z"


# --- the seams ---------------------------------------------------------------------------------


def test_the_engine_seams_are_where_moto_has_them():
    """Fails loudly if moto moves or reshapes a method the kit wraps."""
    import inspect

    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    cls, name = stepfunctions.sdk_result_seam()
    assert list(inspect.signature(cls.__dict__[name]).parameters)[:3] == ["self", "env", "resource_runtime_part"]
    assert "env.stack.append(response)" in inspect.getsource(cls.__dict__[name])
    entry = ExecutionWorker.__dict__["_get_evaluation_entrypoint"]
    assert list(inspect.signature(entry).parameters) == ["self"]
    assert "_get_evaluation_entrypoint()" in inspect.getsource(ExecutionWorker._execution_logic)
