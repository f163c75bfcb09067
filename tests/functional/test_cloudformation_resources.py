"""CloudFormation resources and template features SAM applications use, created as AWS documents them."""

import json
import re

import pytest
from stacks import deploy

ROLE = "arn:aws:iam::123456789012:role/state-machine-role"
YAML_DEFINITION = """\
Comment: a definition file in YAML
StartAt: Greet
States:
  Greet:
    Type: Pass
    Result:
      greeting: ${Greeting}
    End: true
"""


@pytest.fixture(scope="module")
def clients(shared_cloud):
    return {name: shared_cloud.client(name) for name in ("cloudformation", "stepfunctions", "s3", "lambda",
                                                         "events", "apigateway")}


def test_a_yaml_definition_file_is_deployed_and_an_unnamed_machine_is_named_after_its_logical_id(clients):
    """AWS (aws-resource-stepfunctions-statemachine.html): DefinitionS3Location names a definition file in
    JSON or YAML; without StateMachineName, CloudFormation names the machine LogicalId-<random suffix>."""
    clients["s3"].create_bucket(Bucket="definitions")
    clients["s3"].put_object(Bucket="definitions", Key="greet.asl.yaml", Body=YAML_DEFINITION.encode())
    stack = deploy(clients["cloudformation"], {"Resources": {"Greeter": {
        "Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "RoleArn": ROLE, "DefinitionS3Location": {"Bucket": "definitions", "Key": "greet.asl.yaml"},
            "DefinitionSubstitutions": {"Greeting": "hello"}}}},
        "Outputs": {"Arn": {"Value": {"Ref": "Greeter"}}}}, prefix="yaml-definition")
    arn = stack["Outputs"]["Arn"]
    assert re.fullmatch(r"Greeter-[A-Za-z0-9]{12}", arn.rsplit(":", 1)[1]), arn
    described = clients["stepfunctions"].describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"])["States"]["Greet"]["Result"] == {"greeting": "hello"}
