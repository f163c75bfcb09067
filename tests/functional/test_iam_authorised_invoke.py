"""IAM-authorised API methods and AWS_IAM function URLs: the signer's policies decide, as on AWS.

A signature only says who is calling. API Gateway then evaluates `execute-api:Invoke` on the method's ARN
(apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html;
apigateway-authorization-flow.html for the API's resource policy), and Lambda `lambda:InvokeFunctionUrl` and
`lambda:InvokeFunction` on the function (lambda/latest/dg/urls-auth.html). Each principal here holds exactly
the policy its test names and signs its own requests, as an SDK does.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from iam_principals import ACCOUNT, admin, document, unique, user_with
from lambda_packages import zip_package

pytestmark = pytest.mark.e2e

ECHO = """
import json
def handler(event, context):
    context_ = event.get("requestContext") or {}
    who = (context_.get("identity") or {}).get("userArn") or ((context_.get("authorizer") or {}).get("iam")
                                                             or {}).get("userArn")
    return {"statusCode": 200, "body": json.dumps({"caller": who})}
"""


def allow(action, resource):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def deny(action, resource):
    return {"Effect": "Deny", "Action": action, "Resource": resource}


@pytest.fixture(scope="module")
def echo(shared_cloud) -> str:
    role = admin(shared_cloud.endpoint, "iam").create_role(
        RoleName=unique("invoke-echo"), AssumeRolePolicyDocument=document(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    return admin(shared_cloud.endpoint, "lambda").create_function(
        FunctionName=unique("invoke-echo"), Runtime="python3.11", Handler="app.handler", Timeout=10,
        Role=role["Role"]["Arn"], Code={"ZipFile": zip_package({"app.py": ECHO})})["FunctionArn"]


@pytest.fixture(scope="module")
def api(shared_cloud, echo) -> dict:
    """A REST API with IAM-authorised POST /decision and POST /other, deployed to Prod and Dev; its resource
    policy grants one user (made here, holding no policy of its own) POST /decision on Prod, in the shorthand
    API Gateway expands when it saves a policy."""
    endpoint = shared_cloud.endpoint
    grantee = user_with(endpoint, None)
    client = admin(endpoint, "apigateway")
    api_id = client.create_rest_api(name=unique("decisions"), policy=document(
        {"Effect": "Allow", "Principal": {"AWS": grantee.arn}, "Action": "execute-api:Invoke",
         "Resource": "execute-api:/Prod/POST/decision"}))["id"]
    root = next(r["id"] for r in client.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{echo}/invocations"
    for part in ("decision", "other"):
        resource = client.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        client.put_method(restApiId=api_id, resourceId=resource, httpMethod="POST", authorizationType="AWS_IAM")
        client.put_integration(restApiId=api_id, resourceId=resource, httpMethod="POST", type="AWS_PROXY",
                               integrationHttpMethod="POST", uri=uri)
    for stage in ("Prod", "Dev"):
        client.create_deployment(restApiId=api_id, stageName=stage)
    return {"id": api_id, "grantee": grantee,
            "url": lambda stage, path: f"{endpoint}/_localcloud/execute-api/{api_id}/{stage}/{path}",
            "arn": lambda stage, path: f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/{stage}/POST/{path}"}


def _post(url: str, credentials, service: str) -> tuple[int, dict]:
    """A POST signed by botocore's SigV4 for `service` with `credentials`; (status, JSON answer)."""
    body = b'{"decision": "deny"}'
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    sent = urllib.request.Request(url, data=body, method="POST", headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(sent, timeout=60) as answer:  # noqa: S310 - the local cloud's own URL
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def _invoke(api, principal, stage="Prod", path="decision") -> tuple[int, dict]:
    return _post(api["url"](stage, path), principal.session.get_credentials(), "execute-api")


def _refusal(principal, arn: str, explicit: bool = False) -> dict:
    message = f"User: {principal.arn} is not authorized to perform: execute-api:Invoke on resource: {arn}"
    return {"Message": message + (" with an explicit deny" if explicit else "")}


def test_a_signed_request_from_a_user_without_a_grant_is_refused(shared_cloud, api):
    nobody = user_with(shared_cloud.endpoint, None)
    assert _invoke(api, nobody) == (403, _refusal(nobody, api["arn"]("Prod", "decision")))


def test_a_grant_on_exactly_the_method_invokes_it_and_nothing_else(shared_cloud, api):
    holder = user_with(shared_cloud.endpoint, document(
        allow("execute-api:Invoke", api["arn"]("Prod", "decision"))))
    assert _invoke(api, holder) == (200, {"caller": holder.arn})
    assert _invoke(api, holder, stage="Dev") == (403, _refusal(holder, api["arn"]("Dev", "decision")))
    assert _invoke(api, holder, path="other") == (403, _refusal(holder, api["arn"]("Prod", "other")))


def test_an_explicit_deny_wins_over_a_grant_on_every_method(shared_cloud, api):
    denied = user_with(shared_cloud.endpoint, document(
        allow("execute-api:Invoke", f"arn:aws:execute-api:*:*:{api['id']}/*"),
        deny("execute-api:Invoke", f"arn:aws:execute-api:*:*:{api['id']}/*/POST/decision")))
    assert _invoke(api, denied, path="other") == (200, {"caller": denied.arn})
    assert _invoke(api, denied) == (403, _refusal(denied, api["arn"]("Prod", "decision"), explicit=True))


def test_a_permissions_boundary_without_the_grant_refuses_it(shared_cloud, api):
    iam = admin(shared_cloud.endpoint, "iam")
    boundary = iam.create_policy(PolicyName=unique("no-invoke"),
                                 PolicyDocument=document(allow("s3:ListAllMyBuckets", "*")))["Policy"]["Arn"]
    bounded = user_with(shared_cloud.endpoint, document(allow("execute-api:Invoke", "*")), boundary=boundary)
    assert _invoke(api, bounded) == (403, _refusal(bounded, api["arn"]("Prod", "decision")))


def test_the_apis_resource_policy_grants_in_its_own_account(api):
    """Same account: an allow in the API's resource policy is enough (apigateway-authorization-flow.html,
    "IAM authentication and resource policy"); it names only Prod's POST /decision."""
    grantee = api["grantee"]
    assert _invoke(api, grantee) == (200, {"caller": grantee.arn})
    assert _invoke(api, grantee, stage="Dev") == (403, _refusal(grantee, api["arn"]("Dev", "decision")))


def test_the_per_start_key_is_the_accounts_administrator(shared_cloud, api):
    from botocore.credentials import Credentials

    key = shared_cloud.credentials
    status, answer = _post(api["url"]("Dev", "other"), Credentials(key.access_key_id, key.secret_access_key),
                           "execute-api")
    assert (status, answer) == (200, {"caller": f"arn:aws:iam::{ACCOUNT}:root"})


# --- AWS_IAM function URLs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def function_url(shared_cloud, echo) -> str:
    return admin(shared_cloud.endpoint, "lambda").create_function_url_config(
        FunctionName=echo, AuthType="AWS_IAM")["FunctionUrl"]


def _call_url(url: str, principal) -> tuple[int, dict]:
    return _post(url + "x", principal.session.get_credentials(), "lambda")


def test_a_function_url_refuses_a_signer_without_both_grants(shared_cloud, echo, function_url):
    """Lambda's answer to every refusal is 403 {"Message": "Forbidden"}; since October 2025 a function URL
    needs lambda:InvokeFunctionUrl and lambda:InvokeFunction (urls-auth.html)."""
    forbidden = (403, {"Message": "Forbidden"})
    assert _call_url(function_url, user_with(shared_cloud.endpoint, None)) == forbidden
    assert _call_url(function_url, user_with(shared_cloud.endpoint, document(
        allow("lambda:InvokeFunctionUrl", echo)))) == forbidden
    other = echo.rsplit(":", 1)[0] + ":another-function"
    assert _call_url(function_url, user_with(shared_cloud.endpoint, document(
        allow(["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"], other)))) == forbidden


def test_a_function_url_serves_a_signer_holding_both_grants_unless_a_deny_says_otherwise(shared_cloud, echo,
                                                                                          function_url):
    holder = user_with(shared_cloud.endpoint, document(allow(["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"],
                                                             echo)))
    assert _call_url(function_url, holder) == (200, {"caller": holder.arn})
    denied = user_with(shared_cloud.endpoint, document(
        allow("lambda:*", "*"),
        {"Effect": "Deny", "Action": "lambda:InvokeFunctionUrl", "Resource": "*",
         "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}}))
    assert _call_url(function_url, denied) == (403, {"Message": "Forbidden"})


def test_the_functions_resource_policy_grants_a_function_url_in_its_own_account(shared_cloud, echo, function_url):
    grantee = user_with(shared_cloud.endpoint, None)
    lam = admin(shared_cloud.endpoint, "lambda")
    lam.add_permission(FunctionName=echo, StatementId=unique("url"), Action="lambda:InvokeFunctionUrl",
                       Principal=grantee.arn, FunctionUrlAuthType="AWS_IAM")
    assert _call_url(function_url, grantee) == (403, {"Message": "Forbidden"})  # InvokeFunction still missing
    lam.add_permission(FunctionName=echo, StatementId=unique("via-url"), Action="lambda:InvokeFunction",
                       Principal=grantee.arn, InvokedViaFunctionUrl=True)
    assert _call_url(function_url, grantee) == (200, {"caller": grantee.arn})
