"""API Gateway: importing SAM's Body, matching resources, the proxy event's shape."""

import json

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


# --- IAM authorisation (AWS_IAM methods) -----------------------------------------------------------

IAM_BODY = {
    "swagger": "2.0",
    "info": {"version": "1.0", "title": "decisions"},
    "paths": {
        "/allow": SAM_BODY["paths"]["/allow"],
        "/decision": {"post": {
            "x-amazon-apigateway-integration": SAM_BODY["paths"]["/allow"]["x-amazon-apigateway-any-method"][
                "x-amazon-apigateway-integration"],
            "security": [{"AWS_IAM": []}], "responses": {}}},
    },
    # what SAM writes for `Auth: Authorizer: AWS_IAM`
    "securityDefinitions": {"AWS_IAM": {"x-amazon-apigateway-authtype": "awsSigv4", "type": "apiKey",
                                        "name": "Authorization", "in": "header"}},
}


def _deployed_iam_api():
    from moto.apigateway.models import RestAPI

    apigateway.install()
    api = RestAPI.create_from_cloudformation_json("ServerlessRestApi", {"Properties": {"Body": IAM_BODY}},
                                                  "123456789012", "us-east-1")
    client = boto3.client("apigateway", region_name="us-east-1")
    client.create_deployment(restApiId=api.id, stageName="Prod")
    return api, client


def _request(api_id: str, path: str, signed_for: str | None = "execute-api", key: str = "AKIDKNOWN"):
    """A werkzeug request for the local stage route, signed with botocore's SigV4 as an SDK signs."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    url = f"http://127.0.0.1:4566{apigateway.ROUTE_PREFIX}{api_id}/Prod{path}"
    body = b'{"incident": "x", "decision": "deny"}'
    headers = {"Content-Type": "application/json"}
    if signed_for:
        signed = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(Credentials(key, "secret"), signed_for, "us-east-1").add_auth(signed)
        headers = dict(signed.headers.items())
    return Request(EnvironBuilder(method="POST", base_url="http://127.0.0.1:4566",
                                  path=url.split("4566", 1)[1], data=body, headers=headers).get_environ())


def _served(monkeypatch):
    events = []

    def invoke(function_arn, account_id, region, event):
        events.append(event)
        return 200, {"Content-Type": "application/json"}, {}, b"{}"

    monkeypatch.setattr(apigateway, "invoke_proxy", invoke)
    return events


def _caller(request):
    """The server's signer_of, for a request signed with AKIDKNOWN (what the signature proves is tested in
    test_authentication.py)."""
    from workshop.localcloud.server.authentication import Caller
    from workshop.localcloud.server.protocols import key_of

    if key_of(request.environ) == "AKIDKNOWN":
        return Caller("AKIDKNOWN", "arn:aws:iam::123456789012:user/admin", "123456789012", "user", "AIDAADMIN")
    return None


def test_an_iam_authorised_method_is_imported_as_aws_iam_and_a_plain_one_as_none():
    with mock_aws():
        api, client = _deployed_iam_api()
        resources = {r["path"]: r["id"] for r in client.get_resources(restApiId=api.id)["items"]}
        assert client.get_method(restApiId=api.id, resourceId=resources["/decision"],
                                 httpMethod="POST")["authorizationType"] == "AWS_IAM"
        assert client.get_method(restApiId=api.id, resourceId=resources["/allow"],
                                 httpMethod="ANY")["authorizationType"] == "NONE"


def test_an_iam_authorised_method_names_its_signer_in_the_event_as_api_gateway_does(monkeypatch):
    events = _served(monkeypatch)
    with mock_aws():
        api, _ = _deployed_iam_api()
        response = apigateway.handle(_request(api.id, "/decision"), identify=_caller)
        assert response.status_code == 200
        identity = events[0]["requestContext"]["identity"]
        assert (identity["userArn"], identity["accessKey"], identity["accountId"], identity["caller"],
                identity["user"]) == ("arn:aws:iam::123456789012:user/admin", "AKIDKNOWN", "123456789012",
                                      "AIDAADMIN", "AIDAADMIN")
        apigateway.handle(_request(api.id, "/allow"), identify=_caller)  # a public method: nobody is named
        assert events[1]["requestContext"]["identity"]["userArn"] is None


def test_an_iam_authorised_method_refuses_what_api_gateway_refuses(monkeypatch):
    events = _served(monkeypatch)
    with mock_aws():
        api, _ = _deployed_iam_api()
        refusals = [(_request(api.id, "/decision", signed_for=None), _caller, "Missing Authentication Token"),
                    (_request(api.id, "/decision", signed_for="iam"), _caller, "scoped to correct service"),
                    (_request(api.id, "/decision", key="AKIDUNKNOWN"), _caller, "security token included"),
                    (_request(api.id, "/decision"), None, "security token included")]  # nobody to ask
        for request, identify, message in refusals:
            response = apigateway.handle(request, identify=identify)
            assert response.status_code == 403 and message in response.get_data(as_text=True), message
        assert events == []
        assert apigateway.handle(_request(api.id, "/allow", signed_for=None), identify=None).status_code == 200


def test_an_iam_authorised_method_asks_the_servers_authorizer_unless_iam_is_off(monkeypatch):
    """The signer's policies decide on execute-api:Invoke (the functional tests hold each grant); with
    `--no-iam` the signature alone lets the request through, as for every other request."""
    from workshop.localcloud.server import authorization

    events = _served(monkeypatch)
    with mock_aws():
        api, _ = _deployed_iam_api()
        monkeypatch.setattr(authorization, "_current", authorization.Authorizer(enabled=True))
        refused = apigateway.handle(_request(api.id, "/decision"), identify=_caller)  # no such user: no grant
        assert refused.status_code == 403 and refused.headers["x-amzn-ErrorType"] == "AccessDeniedException"
        assert refused.get_json() == {"Message": (
            "User: arn:aws:iam::123456789012:user/admin is not authorized to perform: execute-api:Invoke on "
            f"resource: arn:aws:execute-api:us-east-1:123456789012:{api.id}/Prod/POST/decision")}
        assert events == []
        monkeypatch.setattr(authorization, "_current", authorization.Authorizer(enabled=False))
        assert apigateway.handle(_request(api.id, "/decision"), identify=_caller).status_code == 200


def test_a_function_urls_signer_is_evaluated_unless_iam_is_off(monkeypatch):
    from types import SimpleNamespace

    from workshop.localcloud.server import authorization
    from workshop.localcloud.services.awslambda import function_urls

    signer = _caller(_request("x", "/decision"))
    function = SimpleNamespace(function_arn=FN, region="us-east-1")
    with mock_aws():
        monkeypatch.setattr(authorization, "_current", authorization.Authorizer(enabled=True))
        assert not function_urls.may_invoke(signer, function, "127.0.0.1")
        monkeypatch.setattr(authorization, "_current", authorization.Authorizer(enabled=False))
        assert function_urls.may_invoke(signer, function, "127.0.0.1")


def test_an_apis_resource_policy_comes_from_cloudformation_with_its_shorthand_expanded():
    from moto.apigateway.models import RestAPI

    from workshop.localcloud.server import policy_sources

    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                      "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]}
    with mock_aws():
        apigateway.install()
        api = RestAPI.create_from_cloudformation_json(
            "Api", {"Properties": {"Body": {**IAM_BODY, "x-amazon-apigateway-policy": policy}}},
            "123456789012", "us-east-1")
        arn = f"arn:aws:execute-api:us-east-1:123456789012:{api.id}/Prod/POST/decision"
        found = policy_sources.resource_policy("execute-api:Invoke", arn)
        assert found.account == "123456789012" and found.document is not None
        assert f"arn:aws:execute-api:us-east-1:123456789012:{api.id}/*" in found.document.text
