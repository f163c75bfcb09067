"""Lambda function URLs: created with a URL the local cloud serves, and served with payload format 2.0.

moto records a function URL configuration (CreateFunctionUrlConfig) with an
`https://<id>.lambda-url.<region>.on.aws` URL nothing answers. Here:

* the URL is `http://127.0.0.1:PORT/_localcloud/lambda-url/<id>/` (the
  route the local cloud serves, as API Gateway stages are served under
  `/_localcloud/execute-api/`), in GetFunctionUrlConfig and in
  CloudFormation's `Fn::GetAtt <Url>.FunctionUrl` (cloudformation/models.py
  makes `AWS::Lambda::Url`). Patch point: `FunctionUrlConfig.__init__`.
* `ANY /_localcloud/lambda-url/<id>/<path>` invokes the function with the
  event AWS documents for function URLs (payload format version 2.0:
  version, routeKey `$default`, rawPath, rawQueryString, cookies, headers,
  queryStringParameters, requestContext.http, body, isBase64Encoded) and
  answers as Lambda does: a result with `statusCode` gives that status,
  headers, cookies and body; any other JSON result is a 200
  `application/json` body; a function error is a 502.
* AuthType `NONE` is public; `AWS_IAM` answers 403 `{"Message": "Forbidden"}`
  unless the request is SigV4-signed with a key the local cloud knows and its
  signer may invoke the function through its URL, and puts the caller in
  `requestContext.authorizer.iam`. "May invoke" is what Lambda documents
  (urls-auth.html; since October 2025 both actions): `lambda:InvokeFunctionUrl`
  (with `lambda:FunctionUrlAuthType` = AWS_IAM) and `lambda:InvokeFunction`
  (with `lambda:InvokedViaFunctionUrl` = true) on the function, granted by an
  identity policy or the function's resource policy, evaluated as every AWS
  request is (server/authorization.py). The per-start key is the account's
  administrator, and `--no-iam` turns the evaluation off, as everywhere.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import unquote

from ...server.address import LAMBDA_URL_PREFIX

_endpoint = "http://127.0.0.1:4566"


def url_id_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def seam():
    from moto.awslambda.models import FunctionUrlConfig

    return FunctionUrlConfig, "__init__"


def install(endpoint: str) -> None:
    """Give every new function URL the local route (what the server's `endpoint` serves)."""
    global _endpoint
    _endpoint = endpoint.rstrip("/")
    cls, name = seam()
    original = cls.__dict__[name]
    if getattr(original, "_localcloud", False):
        return

    def __init__(self, function, config):
        original(self, function, config)
        self.url = f"{_endpoint}{LAMBDA_URL_PREFIX}{uuid.uuid4().hex}/"

    __init__._localcloud = True
    __init__.__wrapped__ = original
    setattr(cls, name, __init__)


def _find(url_id: str):
    """(function, its URL configuration) whose URL ends in `url_id`, else None."""
    from moto.awslambda.models import lambda_backends

    for regions in list(lambda_backends.values()):
        for backend in list(regions.values()):
            for function in backend.list_functions():
                config = getattr(function, "url_config", None)
                if config is not None and url_id_of(config.url) == url_id:
                    return function, config
    return None


def event(*, url_id: str, region: str, account_id: str, method: str, path: str, query: str,
          headers: list[tuple[str, str]], body: bytes, source_ip: str, authorizer: dict | None) -> dict:
    """The payload format 2.0 event a function URL sends (lambda-urls.html, "Request payload format")."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "cookie":
            cookies += [part.strip() for part in value.split(";") if part.strip()]
            continue
        joined[lowered] = f"{joined[lowered]},{value}" if lowered in joined else value
    parameters: dict[str, str] = {}
    for pair in query.split("&") if query else []:
        key, _, value = pair.partition("=")
        key, value = unquote(key.replace("+", " ")), unquote(value.replace("+", " "))
        parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = datetime.now(timezone.utc)
    context = {
        "accountId": "anonymous" if authorizer is None else account_id, "apiId": url_id,
        "domainName": f"{url_id}.lambda-url.{region}.on.aws", "domainPrefix": url_id,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                 "userAgent": joined.get("user-agent", "")},
        "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(time.time() * 1000)}
    if authorizer is not None:
        context["authorizer"] = {"iam": authorizer}
    document = {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
                "headers": joined, "requestContext": context, "isBase64Encoded": encoded}
    if cookies:
        document["cookies"] = cookies
    if parameters:
        document["queryStringParameters"] = parameters
    if body:
        document["body"] = text
    return document


def _caller(request, signer_of, function) -> dict | None:
    """The IAM caller of a request its signature proves and IAM's policies let invoke `function` through its URL,
    or None (unsigned, a signature that does not check out, or not allowed: Lambda says "Forbidden" to each)."""
    caller = signer_of(request)
    if caller is None or not may_invoke(caller, function, request.remote_addr or "127.0.0.1"):
        return None
    return {"accessKey": caller.access_key_id, "accountId": caller.account_id, "callerId": caller.user_id,
            "userArn": caller.arn, "userId": caller.user_id, "cognitoIdentity": None, "principalOrgId": None}


# what a signer needs to invoke a function through an AWS_IAM URL, with the condition keys Lambda sets
URL_INVOKE = (("lambda:InvokeFunctionUrl", {"lambda:FunctionUrlAuthType": "AWS_IAM"}),
              ("lambda:InvokeFunction", {"lambda:InvokedViaFunctionUrl": True}))


def may_invoke(caller, function, source_ip: str) -> bool:
    """Do IAM's policies let `caller` invoke `function` through its AWS_IAM URL? (True when the server evaluates
    nothing: `--no-iam`, or moto in-process without the server.)"""
    from ...server import authorization

    authorizer = authorization.current()
    if authorizer is None:
        return True
    for action, keys in URL_INVOKE:
        denial = authorizer.decide(caller, action, function.function_arn,
                                   {**keys, "aws:RequestedRegion": function.region}, source_ip=source_ip)
        if denial is not None:
            return False
    return True


def _json(status: int, message: str):
    from werkzeug.wrappers import Response

    return Response(json.dumps({"Message": message}), status=status, content_type="application/json",
                    headers={"x-amzn-ErrorType": "AccessDeniedException" if status == 403 else "NotFoundException"})


def handle(request, signer_of):
    """Serve `/_localcloud/lambda-url/<url id>/<path>` (werkzeug request -> response)."""
    from werkzeug.wrappers import Response

    rest = request.path[len(LAMBDA_URL_PREFIX):]
    url_id, _, path = rest.partition("/")
    found = _find(url_id)
    if found is None:
        return _json(404, f"No function URL {url_id} in the local cloud (deploy it first)")
    function, config = found
    authorizer = None
    if (config.config.get("AuthType") or "NONE") == "AWS_IAM":
        authorizer = _caller(request, signer_of, function)
        if authorizer is None:
            return _json(403, "Forbidden")
    payload = event(url_id=url_id, region=function.region, account_id=function.account_id,
                    method=request.method.upper(), path="/" + path,
                    query=request.environ.get("QUERY_STRING", ""),
                    headers=list(request.headers.items()), body=request.get_data(),
                    source_ip=request.remote_addr or "127.0.0.1", authorizer=authorizer)
    answer_headers: dict = {}
    raw = function.invoke(json.dumps(payload), {}, answer_headers)
    if answer_headers.get("x-amz-function-error"):
        return _json(502, "Internal Server Error")
    try:
        result = json.loads(raw) if raw else None
    except ValueError:
        result = raw
    if not (isinstance(result, dict) and "statusCode" in result):
        # "If your function returns valid JSON and doesn't return a statusCode, Lambda assumes" a 200 JSON answer
        return Response(json.dumps(result) if not isinstance(result, str) else result, status=200,
                        content_type="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else (
        body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
    response = Response(data, status=int(result["statusCode"]))
    response.headers.pop("Content-Type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    if "Content-Type" not in response.headers:
        response.headers["Content-Type"] = "application/json"
    return response
