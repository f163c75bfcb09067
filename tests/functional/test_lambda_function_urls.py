"""Lambda function URLs: made by CloudFormation (AWS::Lambda::Url) and served as Lambda serves them."""

import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from lambda_packages import zip_package
from stacks import deploy

ECHO = """
import json
def handler(event, context):
    if event.get("rawPath") == "/plain":
        return {"plain": True}
    return {"statusCode": 201, "headers": {"x-echo": "yes"}, "cookies": ["seen=1"],
            "body": json.dumps(event)}
"""


@pytest.fixture(scope="module")
def echo(shared_cloud):
    lam = shared_cloud.client("lambda")
    role = shared_cloud.client("iam").create_role(
        RoleName="url-echo-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
             "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    arn = lam.create_function(FunctionName="url-echo", Runtime="python3.11", Handler="app.handler",
                              Role=role, Timeout=10,
                              Code={"ZipFile": zip_package({"app.py": ECHO})})["FunctionArn"]
    return arn


def _url_stack(cloud, function_arn: str, auth: str) -> str:
    stack = deploy(cloud.client("cloudformation"), {"Resources": {"EchoUrl": {
        "Type": "AWS::Lambda::Url", "Properties": {"TargetFunctionArn": function_arn, "AuthType": auth}}},
        "Outputs": {"Url": {"Value": {"Fn::GetAtt": ["EchoUrl", "FunctionUrl"]}},
                    "Function": {"Value": {"Fn::GetAtt": ["EchoUrl", "FunctionArn"]}}}}, prefix="url")
    assert stack["Outputs"]["Function"] == function_arn
    return stack["Outputs"]["Url"]


def _call(url: str, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the local cloud's own URL
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def test_a_function_url_made_by_cloudformation_answers_with_payload_format_2(shared_cloud, echo):
    """AWS (aws-resource-lambda-url.html; lambda-urls.html "Invoking Lambda function URLs"): GetAtt FunctionUrl
    is the URL; the function gets the payload format 2.0 event (rawPath, rawQueryString, cookies, headers,
    queryStringParameters, requestContext.http, body) and its statusCode, headers, cookies and body are
    the answer; a result without statusCode is a 200 JSON body."""
    url = _url_stack(shared_cloud, echo, "NONE")
    assert url.startswith(shared_cloud.endpoint + "/_localcloud/lambda-url/") and url.endswith("/")
    assert shared_cloud.client("lambda").get_function_url_config(FunctionName="url-echo")["FunctionUrl"] == url
    status, headers, body = _call(url + "orders/7?expand=items&expand=notes",
                                  data=b'{"n": 1}', headers={"Cookie": "a=1; b=2", "X-Thing": "t"})
    assert status == 201 and headers["x-echo"] == "yes" and headers["Set-Cookie"] == "seen=1"
    event = json.loads(body)
    assert (event["version"], event["routeKey"], event["rawPath"]) == ("2.0", "$default", "/orders/7")
    assert event["rawQueryString"] == "expand=items&expand=notes"
    assert event["queryStringParameters"] == {"expand": "items,notes"}
    assert event["cookies"] == ["a=1", "b=2"] and event["headers"]["x-thing"] == "t"
    assert event["requestContext"]["http"]["method"] == "POST" and event["body"] == '{"n": 1}'
    assert event["isBase64Encoded"] is False and "authorizer" not in event["requestContext"]
    status, headers, body = _call(url + "plain")
    assert status == 200 and json.loads(body) == {"plain": True}


def test_an_aws_iam_function_url_wants_a_signed_request(shared_cloud, echo):
    """AWS (urls-auth.html): with AuthType AWS_IAM an unsigned request gets 403 Forbidden; a SigV4-signed
    one is served, the caller in requestContext.authorizer.iam."""
    lam = shared_cloud.client("lambda")
    lam.delete_function_url_config(FunctionName="url-echo")
    url = _url_stack(shared_cloud, echo, "AWS_IAM")
    status, _, body = _call(url + "x")
    assert status == 403 and json.loads(body) == {"Message": "Forbidden"}
    key = shared_cloud.credentials
    request = AWSRequest(method="GET", url=url + "x", headers={})
    SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "lambda", "us-east-1").add_auth(request)
    status, _, body = _call(url + "x", headers=dict(request.headers))
    assert status == 201
    assert json.loads(body)["requestContext"]["authorizer"]["iam"]["accessKey"] == key.access_key_id
    assert json.loads(body)["requestContext"]["authorizer"]["iam"]["userArn"] == "arn:aws:iam::123456789012:root"
    # The key id alone is no secret (CloudTrail events carry it): signed with another secret, refused.
    forged = AWSRequest(method="GET", url=url + "x", headers={})
    SigV4Auth(Credentials(key.access_key_id, "not-the-secret"), "lambda", "us-east-1").add_auth(forged)
    status, _, body = _call(url + "x", headers=dict(forged.headers))
    assert status == 403 and json.loads(body) == {"Message": "Forbidden"}
