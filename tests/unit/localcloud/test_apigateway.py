"""API Gateway: importing SAM's Body, matching resources, the proxy event's shape."""

import boto3
from moto import mock_aws

from workshop.localcloud.services import apigateway

FN = "arn:aws:lambda:us-east-1:123456789012:function:decide"
SAM_BODY = {
    "swagger": "2.0",
    "info": {"version": "1.0", "title": "stack-api"},
    "paths": {
        "/allow": {"x-amazon-apigateway-any-method": {
            "x-amazon-apigateway-integration": {
                "type": "aws_proxy", "httpMethod": "POST",
                "uri": f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations"},
            "responses": {}}},
        "/items/{id}": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "httpMethod": "POST",
            "uri": f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN}/invocations"}}},
    },
}


def test_a_sam_body_is_imported_with_name_methods_and_integrations():
    from moto.apigateway.models import RestAPI, apigateway_backends

    with mock_aws():
        apigateway.install()
        api = RestAPI.create_from_cloudformation_json("ServerlessRestApi", {"Properties": {"Body": SAM_BODY}},
                                                      "123456789012", "us-east-1")
        assert api.name == "stack-api"
        client = boto3.client("apigateway", region_name="us-east-1")
        resources = {r["path"]: r for r in client.get_resources(restApiId=api.id)["items"]}
        assert {"/", "/allow", "/items", "/items/{id}"} <= set(resources)
        method = client.get_method(restApiId=api.id, resourceId=resources["/allow"]["id"], httpMethod="ANY")
        assert method["methodIntegration"]["type"] == "AWS_PROXY"
        assert FN in method["methodIntegration"]["uri"]
        # the Deployment no longer fails with "The REST API doesn't contain any methods"
        client.create_deployment(restApiId=api.id, stageName="Prod")
        backend = apigateway_backends["123456789012"]["us-east-1"]
        resource, params = apigateway.match_resource(backend.apis[api.id], "/items/42")
        assert resource.get_path() == "/items/{id}" and params == {"id": "42"}
        resource, params = apigateway.match_resource(backend.apis[api.id], "/allow")
        assert resource.get_path() == "/allow" and params is None


def test_the_proxy_event_has_the_shape_lambda_receives():
    event = apigateway.proxy_event(
        api_id="abc123", account_id="123456789012", region="us-east-1", stage="Prod", resource_path="/allow",
        resource_id="r1", path="/allow", method="POST",
        headers=[("Content-Type", "application/x-www-form-urlencoded"), ("User-Agent", "curl")],
        query=[("token", "t1"), ("token", "t2"), ("expires", "5")], body=b"token=abc",
        path_parameters=None, stage_variables=None)
    assert set(event) == {"resource", "path", "httpMethod", "headers", "multiValueHeaders",
                          "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
                          "stageVariables", "requestContext", "body", "isBase64Encoded"}
    assert event["resource"] == "/allow" and event["path"] == "/allow" and event["httpMethod"] == "POST"
    assert event["queryStringParameters"] == {"token": "t2", "expires": "5"}
    assert event["multiValueQueryStringParameters"] == {"token": ["t1", "t2"], "expires": ["5"]}
    assert event["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert event["multiValueHeaders"]["User-Agent"] == ["curl"]
    assert event["pathParameters"] is None and event["stageVariables"] is None
    context = event["requestContext"]
    assert context["path"] == "/Prod/allow" and context["stage"] == "Prod"
    assert context["resourcePath"] == "/allow" and context["httpMethod"] == "POST"
    assert context["requestId"] and context["apiId"] == "abc123"
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["identity"]["userAgent"] == "curl"
    assert event["body"] == "token=abc" and event["isBase64Encoded"] is False


def test_a_binary_body_is_base64_encoded():
    event = apigateway.proxy_event(
        api_id="a", account_id="1", region="us-east-1", stage="Prod", resource_path="/x", resource_id="r",
        path="/x", method="POST", headers=[], query=[], body=b"\xff\xfe", path_parameters=None,
        stage_variables=None)
    assert event["isBase64Encoded"] is True and event["body"] == "//4="
    assert event["headers"] is None and event["queryStringParameters"] is None
