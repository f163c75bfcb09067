"""Lambda layers: a function imports from its account's layers and from AWS's public ones; others are refused."""

import json

import pytest
from botocore.exceptions import ClientError
from lambda_packages import zip_package

POWERTOOLS_V3 = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:27"
USES_LAYERS = """
def handler(event, context):
    import greeting
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.shared.version import VERSION
    return {"greeting": greeting.text(), "logger": Logger.__name__, "powertools": VERSION}
"""


@pytest.fixture(scope="module")
def lam(shared_cloud):
    return shared_cloud.client("lambda")


@pytest.fixture(scope="module")
def role(shared_cloud):
    return shared_cloud.client("iam").create_role(
        RoleName="layers-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    )["Role"]["Arn"]


def test_a_function_imports_from_its_own_layer_and_from_a_public_one(lam, role):
    """AWS (chapter-layers.html, packaging-layers.html): a layer's content is extracted to /opt and a Python
    function imports from /opt/python; Powertools for AWS Lambda's public layer (its ARN in the Powertools
    docs) holds the aws-lambda-powertools package of its line."""
    own = lam.publish_layer_version(LayerName="greeting", CompatibleRuntimes=["python3.11"],
                                    Content={"ZipFile": zip_package({"python/greeting.py":
                                                                     "def text():\n    return 'hello from a layer'\n"})})
    lam.create_function(FunctionName="uses-layers", Runtime="python3.11", Handler="app.handler", Role=role,
                        Timeout=30, Layers=[own["LayerVersionArn"], POWERTOOLS_V3],
                        Code={"ZipFile": zip_package({"app.py": USES_LAYERS})})
    configured = lam.get_function_configuration(FunctionName="uses-layers")
    assert [layer["Arn"] for layer in configured["Layers"]] == [own["LayerVersionArn"], POWERTOOLS_V3]
    answer = lam.invoke(FunctionName="uses-layers", Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    result = json.loads(answer["Payload"].read())
    assert result == {"greeting": "hello from a layer", "logger": "Logger", "powertools": "3.37.0"}


def test_a_layer_the_local_cloud_cannot_provide_is_refused_at_create_function(lam, role):
    """AWS answers InvalidParameterValueException for a layer version it cannot use; the local cloud does
    so for a public layer it has no registry package for, naming the layer and what to do."""
    unknown = "arn:aws:lambda:us-east-1:999999999999:layer:SomeVendorLayer:3"
    with pytest.raises(ClientError) as refused:
        lam.create_function(FunctionName="unknown-layer", Runtime="python3.11", Handler="app.handler", Role=role,
                            Layers=[unknown], Code={"ZipFile": zip_package({"app.py": USES_LAYERS})})
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    message = refused.value.response["Error"]["Message"]
    assert unknown in message and "docs/local-cloud.md" in message
