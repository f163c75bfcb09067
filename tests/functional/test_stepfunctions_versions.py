"""Step Functions versions in the local cloud (services/stepfunctions/versions.py), against a real local cloud."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from workshop.localcloud import LocalCloud

ROLE = "arn:aws:iam::123456789012:role/r"


def _passing(result):
    return json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"result": result}, "End": True}}})


def _ended(sfn, execution_arn):
    deadline = time.monotonic() + 30
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


def test_an_execution_on_a_version_runs_that_version(tmp_path):
    with LocalCloud(log_file=open(tmp_path / "server.log", "wb")) as cloud:
        sfn = cloud.client("stepfunctions")
        machine = sfn.create_state_machine(name="versioned", definition=_passing("first"),
                                           roleArn=ROLE)["stateMachineArn"]
        version = sfn.update_state_machine(stateMachineArn=machine, definition=_passing("second"), publish=True,
                                           versionDescription="second")["stateMachineVersionArn"]
        assert version == machine + ":1"
        sfn.update_state_machine(stateMachineArn=machine, definition=_passing("third"))

        on_version = sfn.start_execution(stateMachineArn=version)["executionArn"]
        described = _ended(sfn, on_version)
        assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"result": "second"}
        assert described["stateMachineArn"] == machine and described["stateMachineVersionArn"] == version
        ran = sfn.describe_state_machine_for_execution(executionArn=on_version)
        assert json.loads(ran["definition"])["States"]["A"]["Result"]["result"] == "second"
        assert ran["stateMachineArn"] == machine
        assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]] == \
            [on_version]
        assert sfn.get_execution_history(executionArn=on_version)["events"][-1]["type"] == "ExecutionSucceeded"

        unqualified = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        described = _ended(sfn, unqualified)
        assert json.loads(described["output"]) == {"result": "third"} and "stateMachineVersionArn" not in described
        assert json.loads(sfn.describe_state_machine_for_execution(executionArn=unqualified)["definition"])[
            "States"]["A"]["Result"]["result"] == "third"
        sfn.update_state_machine(stateMachineArn=machine, definition=_passing("fourth"))
        # what the execution ran, not what the state machine holds now
        assert json.loads(sfn.describe_state_machine_for_execution(executionArn=unqualified)["definition"])[
            "States"]["A"]["Result"]["result"] == "third"

        sfn.delete_state_machine_version(stateMachineVersionArn=version)
        with pytest.raises(ClientError, match="StateMachineDoesNotExist"):
            sfn.start_execution(stateMachineArn=version)
        assert _ended(sfn, on_version)["status"] == "SUCCEEDED"  # its execution stays
