"""API Gateway AWS service integrations: a mapping template makes the action's request (API Gateway -> Step Functions)."""

import json
import urllib.request

import pytest
from state_machines import create, finished
from stacks import deploy

DOUBLE = {"StartAt": "Double", "States": {"Double": {
    "Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"}, "End": True}}}


def _api(action: str, request_template: dict, response_template: str | None) -> dict:
    integration = {"Type": "AWS", "IntegrationHttpMethod": "POST",
                   "Uri": f"arn:aws:apigateway:us-east-1:states:action/{action}",
                   "Credentials": {"Fn::GetAtt": ["Role", "Arn"]}, "PassthroughBehavior": "NEVER",
                   "RequestTemplates": {"application/json": request_template},
                   "IntegrationResponses": [{"StatusCode": "200", **(
                       {"ResponseTemplates": {"application/json": response_template}} if response_template else {})}]}
    return {"Resources": {
        # the role API Gateway assumes to call Step Functions: IAM evaluates the call as its session
        "Role": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "start", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": f"states:{action}", "Resource": "*"}]}}]}},
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": f"sfn-{action}"}},
        "Run": {"Type": "AWS::ApiGateway::Resource", "Properties": {
            "RestApiId": {"Ref": "Api"}, "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]}, "PathPart": "run"}},
        "Post": {"Type": "AWS::ApiGateway::Method", "Properties": {
            "RestApiId": {"Ref": "Api"}, "ResourceId": {"Ref": "Run"}, "HttpMethod": "POST",
            "AuthorizationType": "NONE", "Integration": integration,
            "MethodResponses": [{"StatusCode": "200"}]}},
        "Deployment": {"Type": "AWS::ApiGateway::Deployment", "DependsOn": "Post",
                       "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "dev"}}},
        "Outputs": {"Api": {"Value": {"Ref": "Api"}}}}


def _post(url: str, document: dict):
    request = urllib.request.Request(url, data=json.dumps(document).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the local cloud's own URL
        return answer.status, json.loads(answer.read())


@pytest.fixture(scope="module")
def sfn(shared_cloud):
    return shared_cloud.client("stepfunctions")


def test_an_express_machine_behind_a_service_integration_answers_through_its_mapping_templates(shared_cloud, sfn):
    """AWS (tutorial-api-gateway.html; api-gateway-mapping-template-reference.html): an AWS integration whose
    URI is arn:aws:apigateway:REGION:states:action/StartSyncExecution sends what the request template makes
    of the body ($util.escapeJavaScript($input.json('$'))), and the response template shapes the answer."""
    machine = create(sfn, DOUBLE, prefix="api-express", type="EXPRESS")
    template = json.dumps({"input": "INPUT", "stateMachineArn": machine}).replace(
        '"INPUT"', "\"$util.escapeJavaScript($input.json('$'))\"")
    stack = deploy(shared_cloud.client("cloudformation"),
                   _api("StartSyncExecution", template, "$input.json('$.output')"), prefix="api-sync")
    url = f"{shared_cloud.endpoint}/_localcloud/execute-api/{stack['Outputs']['Api']}/dev/run"
    status, answer = _post(url, {"n": 21})
    assert status == 200 and json.loads(answer) == {"doubled": 42}


def test_a_standard_machine_is_started_by_start_execution_through_the_api(shared_cloud, sfn):
    machine = create(sfn, DOUBLE, prefix="api-standard")
    template = json.dumps({"input": "INPUT", "stateMachineArn": machine, "name": "NAME"}).replace(
        '"INPUT"', "\"$util.escapeJavaScript($input.json('$.order'))\"").replace("NAME", "$context.requestId")
    stack = deploy(shared_cloud.client("cloudformation"), _api("StartExecution", template, None),
                   prefix="api-start")
    url = f"{shared_cloud.endpoint}/_localcloud/execute-api/{stack['Outputs']['Api']}/dev/run"
    status, answer = _post(url, {"order": {"n": 4}})
    assert status == 200 and sorted(answer) == ["executionArn", "startDate"]
    described = finished(sfn, answer["executionArn"])
    assert json.loads(described["input"]) == {"n": 4} and json.loads(described["output"]) == {"doubled": 8}
