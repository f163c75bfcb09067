"""Node.js functions import any AWS SDK v3 client without packaging it, as on Lambda."""

import json

import boto3
import pytest
from lambda_packages import zip_package
from moto import mock_aws

from workshop.localcloud import seams
from workshop.localcloud.services.awslambda import workers

# Clients SAM applications import that the runtime folder once lacked (KMS stopped one), and a few rarer ones.
CLIENTS = {"@aws-sdk/client-kms": "KMSClient", "@aws-sdk/client-textract": "TextractClient",
           "@aws-sdk/client-comprehend": "ComprehendClient", "@aws-sdk/client-rekognition": "RekognitionClient",
           "@aws-sdk/client-bedrock-runtime": "BedrockRuntimeClient", "@aws-sdk/client-ses": "SESClient"}


@pytest.fixture
def lam():
    with mock_aws():
        workers.install("http://127.0.0.1:9")
        seams.install("eager")
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        client.role = role
        yield client


def test_every_client_of_the_sdk_resolves_without_packaging(lam):
    """AWS (lambda-nodejs.html, "Runtime-included SDK versions"): the Node.js 18+ runtimes include the
    AWS SDK for JavaScript v3, every client; a function that does not package one still imports it."""
    imports = "".join(f"import {{ {name} }} from '{package}';\n" for package, name in CLIENTS.items())
    code = imports + "export const handler = async () => [" + ", ".join(
        f"typeof {name}" for name in CLIENTS.values()) + "];\n"
    lam.create_function(FunctionName="whole-sdk", Runtime="nodejs22.x", Role=lam.role, Handler="index.handler",
                        Code={"ZipFile": zip_package({"index.mjs": code})}, Timeout=10)
    answer = lam.invoke(FunctionName="whole-sdk", Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert json.loads(answer["Payload"].read()) == ["function"] * len(CLIENTS)
