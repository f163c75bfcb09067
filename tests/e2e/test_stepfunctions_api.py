"""TestState and ValidateStateMachineDefinition against the local cloud: plain boto3."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cloud_fixtures import local_client

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = json.loads((ROOT / "statemachine/security_orchestrator.asl.json").read_text())
EVENT = (ROOT / "events/create_policy.json").read_text()
BAD = (ROOT / "policies/badpolicy.json").read_text()


@pytest.fixture
def sfn(local_cloud):
    # botocore sends TestState to "sync-<host>": a local endpoint needs the prefix off.
    return local_client(local_cloud, "stepfunctions", config=Config(inject_host_prefix=False))


def test_validate_state_machine_definition(sfn):
    ok = sfn.validate_state_machine_definition(definition=json.dumps(DEFINITION))
    assert ok["result"] == "OK" and ok["diagnostics"] == []
    broken = json.loads(json.dumps(DEFINITION))
    broken["States"]["AskUser"]["Next"] = "nowhere"
    failed = sfn.validate_state_machine_definition(definition=json.dumps(broken))
    assert failed["result"] == "FAIL"
    assert any(d["location"].startswith("/States/AskUser") for d in failed["diagnostics"])


def test_test_state_of_a_pass_state(sfn):
    result = sfn.test_state(definition=json.dumps(DEFINITION["States"]["ModifyState"]).replace(
        "${ApprovalTimeoutSeconds}", "60"), input=EVENT, inspectionLevel="DEBUG")
    assert result["status"] == "SUCCEEDED" and result["nextState"] == "ValidatePolicy"
    output = json.loads(result["output"])
    assert output["policyMeta"]["arn"].endswith(":policy/my-bad-policy")
    assert output["approvalTimeoutSeconds"] == 60
    assert "afterParameters" in result["inspectionData"]


def test_test_state_calls_the_deployed_lambda_without_a_mock(sfn, deployed_stack):
    functions = local_client(sfn.meta.endpoint_url, "lambda")
    arn = next(f["FunctionArn"] for f in functions.list_functions()["Functions"]
               if "ValidatePolicy" in f["FunctionName"])
    state = dict(DEFINITION["States"]["ValidatePolicy"], Resource=arn)
    payload = {"policy": BAD, "eventName": "CreatePolicy",
               "policyMeta": {"arn": "arn:aws:iam::123456789012:policy/p", "versionId": "v1"}}
    result = sfn.test_state(definition=json.dumps(state), input=json.dumps(payload))
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["taskresult"]["action"] == "remedy"

    unreadable = dict(payload, policy="{not json")
    caught = sfn.test_state(definition=json.dumps(state), input=json.dumps(unreadable))
    assert caught["status"] == "CAUGHT_ERROR" and caught["nextState"] == "TempRemove"
    assert caught["error"] == "InvalidPolicyDocument"


def test_bad_requests_get_aws_shaped_errors(sfn):
    with pytest.raises(ClientError) as info:
        sfn.test_state(definition="{not json", input="{}")
    assert info.value.response["Error"]["Code"] == "InvalidDefinition"
    with pytest.raises(ClientError) as info:
        sfn.test_state(definition=json.dumps({"Type": "Pass", "End": True}), input="[not json")
    assert info.value.response["Error"]["Code"] == "InvalidExecutionInput"
    # The server is still there.
    assert sfn.validate_state_machine_definition(definition=json.dumps(DEFINITION))["result"] == "OK"
