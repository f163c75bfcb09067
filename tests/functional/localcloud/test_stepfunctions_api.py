"""TestState and ValidateStateMachineDefinition against the local cloud: plain boto3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cloud_fixtures import local_client

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
DEFINITION = json.loads((ROOT / "statemachine/security_orchestrator.asl.json").read_text())
EVENT = (ROOT / "events/create_policy.json").read_text()


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
    targeted = sfn.test_state(definition=json.dumps(DEFINITION["States"]["CreatePolicyTarget"]), input=EVENT)
    assert targeted["status"] == "SUCCEEDED" and targeted["nextState"] == "ModifyState"
    result = sfn.test_state(definition=json.dumps(DEFINITION["States"]["ModifyState"]).replace(
        "${ApprovalTimeoutSeconds}", "60"), input=targeted["output"], inspectionLevel="DEBUG")
    assert result["status"] == "SUCCEEDED" and result["nextState"] == "ValidatePolicy"
    output = json.loads(result["output"])
    assert output["target"]["policyArn"].endswith(":policy/my-bad-policy") and output["eventName"] == "CreatePolicy"
    assert output["approvalTimeoutSeconds"] == 60
    assert "afterParameters" in result["inspectionData"]


def test_test_state_calls_the_deployed_lambda_without_a_mock(sfn, deployed_stack):
    functions = local_client(sfn.meta.endpoint_url, "lambda")
    arn = next(f["FunctionArn"] for f in functions.list_functions()["Functions"]
               if "ValidatePolicy" in f["FunctionName"])
    roles = ["arn:aws:iam::123456789012:role/revert", "arn:aws:iam::123456789012:role/restore"]
    state = dict(DEFINITION["States"]["ValidatePolicy"], Resource=arn,
                 Parameters=dict(DEFINITION["States"]["ValidatePolicy"]["Parameters"], orchestratorRoleArns=roles))
    # A policy in force that nobody changes: AWS's AdministratorAccess, judged from IAM.
    admin = {"kind": "managed", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "versionId": "v1"}
    incident = {"target": admin, "eventId": "e1", "eventName": "CreatePolicy", "changedBy": {"type": "Root"}}
    result = sfn.test_state(definition=json.dumps(state), input=json.dumps(incident))
    assert result["status"] == "SUCCEEDED", result
    verdict = json.loads(result["output"])["taskresult"]
    assert verdict["action"] == "remedy" and "GetPolicyVersion" in verdict["documentSource"]

    nothing = dict(incident, target={"kind": "inline", "principalType": "computer"})
    caught = sfn.test_state(definition=json.dumps(state), input=json.dumps(nothing))
    assert caught["status"] == "CAUGHT_ERROR" and caught["nextState"] == "TempRemove"
    assert caught["error"] == "InvalidTarget"


def test_bad_requests_get_aws_shaped_errors(sfn):
    with pytest.raises(ClientError) as info:
        sfn.test_state(definition="{not json", input="{}")
    assert info.value.response["Error"]["Code"] == "InvalidDefinition"
    with pytest.raises(ClientError) as info:
        sfn.test_state(definition=json.dumps({"Type": "Pass", "End": True}), input="[not json")
    assert info.value.response["Error"]["Code"] == "InvalidExecutionInput"
    # The server is still there.
    assert sfn.validate_state_machine_definition(definition=json.dumps(DEFINITION))["result"] == "OK"
