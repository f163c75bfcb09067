"""Express state machines: their execution ARNs and StartSyncExecution."""

import json

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from state_machines import create

DOUBLE = {"StartAt": "Double", "States": {"Double": {
    "Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"}, "End": True}}}


@pytest.fixture(scope="module")
def sfn(shared_cloud):
    # botocore sends StartSyncExecution to sync-<host>: a local endpoint needs no host prefix
    return shared_cloud.client("stepfunctions", config=Config(inject_host_prefix=False))


def test_an_express_execution_has_the_express_arn_and_runs_synchronously(sfn):
    """AWS (API_StartSyncExecution.html, concepts-standard-vs-express.html): an Express execution's ARN is
    arn:aws:states:REGION:ACCOUNT:express:MACHINE:NAME:ID; StartSyncExecution answers when it ends, with
    its status and output."""
    arn = create(sfn, DOUBLE, prefix="express", type="EXPRESS")
    machine = arn.rsplit(":", 1)[1]
    started = sfn.start_execution(stateMachineArn=arn, name="first", input=json.dumps({"n": 2}))
    parts = started["executionArn"].split(":")
    assert parts[5:8] == ["express", machine, "first"] and len(parts) == 9 and len(parts[8]) == 36
    answer = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps({"n": 21}))
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"doubled": 42}
    assert answer["executionArn"].split(":")[5:7] == ["express", machine]
    assert answer["stopDate"] >= answer["startDate"]


def test_a_failing_express_execution_answers_200_with_its_error(sfn):
    arn = create(sfn, {"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Refused", "Cause": "why"}}},
                 prefix="express-fail", type="EXPRESS")
    answer = sfn.start_sync_execution(stateMachineArn=arn)
    assert (answer["status"], answer["error"], answer["cause"]) == ("FAILED", "Refused", "why")
    assert "output" not in answer


def test_start_sync_execution_refuses_a_standard_machine(sfn):
    arn = create(sfn, DOUBLE, prefix="standard")
    with pytest.raises(ClientError) as refused:
        sfn.start_sync_execution(stateMachineArn=arn, input="{}")
    assert refused.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"
    assert sfn.start_execution(stateMachineArn=arn)["executionArn"].split(":")[5] == "execution"
