"""API Gateway: the deployed stage's URLs invoke Lambda proxy integrations.

Two gaps in moto, mended here:

* A REST API created by CloudFormation from an OpenAPI / Swagger `Body` (what
  SAM generates for `Events: Type: Api`) had no name and no methods, so its
  Deployment failed ("The REST API doesn't contain any methods").
  `import_body` reads the Body's paths, methods (`x-amazon-apigateway-any-method`
  is ANY) and `x-amazon-apigateway-integration`s into moto's model; the
  name comes from `Body.info.title` when `Name` is absent, the resource policy
  from `Policy` or the Body's `x-amazon-apigateway-policy`.
  Patch point: `moto.apigateway.models.RestAPI.create_from_cloudformation_json`.

* Nothing served the stage. `ANY /_localcloud/execute-api/<api-id>/<stage>/<path>`
  does: it finds the resource (path parameters and `{proxy+}` included) and the
  method (or ANY), builds the REST API proxy-integration event Lambda receives
  on AWS (resource, path, httpMethod, headers, multiValueHeaders,
  queryStringParameters, multiValueQueryStringParameters, pathParameters,
  stageVariables, requestContext, body, isBase64Encoded), invokes the function
  and returns its statusCode / headers / body. A function error is a 502
  `{"message": "Internal server error"}`, as on AWS.

* A method with IAM authorisation (`AuthorizationType: AWS_IAM`; in a Body, a
  `security` requirement on a scheme whose `x-amazon-apigateway-authtype` is
  `awsSigv4`, as SAM writes `Auth: Authorizer: AWS_IAM`) takes only requests
  signed for `execute-api`, as API Gateway does: unsigned, 403 "Missing
  Authentication Token"; a key the local cloud does not know, 403 "The
  security token included in the request is invalid." The caller goes into
  the proxy event's `requestContext.identity` as AWS puts it (`accessKey`,
  `accountId`, `caller`, `user`, `userArn`). The caller is the one the
  signature proves (`server/authentication.py`, as for every AWS request):
  a key id alone, or a wrong secret, is refused like an unknown key. Then,
  as API Gateway does ("Control access to an API with IAM permissions"),
  that caller must be allowed `execute-api:Invoke` on the method's ARN,
  `arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/VERB/PATH` (the request's
  verb and path), by the same evaluation as every AWS request
  (server/authorization.py: identity policies, boundary, session policy,
  SCPs, and the API's resource policy, `execute-api:/...` shorthand
  expanded); else 403 `{"Message": "User: ... is not authorized to perform:
  execute-api:Invoke on resource: ..."}`. The per-start key is the account's
  administrator, and `--no-iam` turns the evaluation off, as everywhere.

Stack outputs and environment variables built as
`https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/Stage` are
rewritten at deploy time to this route (see cloudformation/templates.py), so the links
in the e-mails work locally.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import unquote

from ..server.address import EXECUTE_API_PREFIX
from ..server.protocols import key_of, scope_service

ROUTE_PREFIX = EXECUTE_API_PREFIX
IAM_AUTHORISATION = "AWS_IAM"
INVOKE = "execute-api:Invoke"
SIGV4_AUTHTYPE = "awsSigv4"  # x-amazon-apigateway-authtype of an IAM-authorised security scheme
ANY_METHOD = "x-amazon-apigateway-any-method"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", ANY_METHOD}
_LAMBDA_URI = re.compile(r"functions/(arn:[^/]+)/invocations")
_SERVICE_ACTION = re.compile(r"^arn:aws[a-z-]*:apigateway:([a-z0-9-]+):([a-z0-9-]+):action/([A-Za-z0-9]+)$")
_endpoint = "http://127.0.0.1:4566"


def local_url(endpoint: str, api_id: str, stage: str) -> str:
    return f"{endpoint.rstrip('/')}{ROUTE_PREFIX}{api_id}/{stage}"


# --- importing a Body -------------------------------------------------------------------


def _ensure_resource(backend, api, path: str):
    resource = api.get_resource_for_path(path) if path != "/" else api.get_resource_for_path("/")
    if resource is not None:
        return resource
    parent_path = path.rsplit("/", 1)[0] or "/"
    parent = _ensure_resource(backend, api, parent_path)
    return backend.create_resource(function_id=api.id, parent_resource_id=parent.id,
                                   path_part=path.rsplit("/", 1)[1])


def _sigv4_schemes(body: dict) -> set:
    """The names of the Body's security schemes that are IAM authorisation (Swagger 2 or OpenAPI 3)."""
    schemes = dict(body.get("securityDefinitions") or {})
    schemes.update(((body.get("components") or {}).get("securitySchemes")) or {})
    return {name for name, scheme in schemes.items()
            if isinstance(scheme, dict) and str(scheme.get("x-amazon-apigateway-authtype", "")).lower()
            == SIGV4_AUTHTYPE.lower()}


def authorization_type(operation: dict, body: dict) -> str:
    """AWS_IAM when the operation's security (or the Body's default) requires an IAM scheme, else NONE."""
    requirements = operation.get("security", body.get("security")) or []
    sigv4 = _sigv4_schemes(body)
    named = {name for requirement in requirements if isinstance(requirement, dict) for name in requirement}
    return IAM_AUTHORISATION if named & sigv4 else "NONE"


def import_body(backend, api, body: dict) -> None:
    """Paths, methods (with IAM authorisation where the Body asks for it) and integrations of an
    OpenAPI 3 or Swagger 2 document into `api`."""
    for path, item in sorted((body.get("paths") or {}).items()):
        resource = _ensure_resource(backend, api, path)
        for key, operation in (item or {}).items():
            if key.lower() not in HTTP_METHODS or not isinstance(operation, dict):
                continue
            method = "ANY" if key == ANY_METHOD else key.upper()
            backend.put_method(api.id, resource.id, method, authorization_type(operation, body))
            integration = operation.get("x-amazon-apigateway-integration")
            if integration:
                uri = integration.get("uri")
                if isinstance(uri, dict):  # unresolved intrinsic: leave it to the caller
                    uri = json.dumps(uri)
                backend.put_integration(
                    function_id=api.id, resource_id=resource.id, method_type=method,
                    integration_type=str(integration.get("type", "aws_proxy")).upper(),
                    uri=uri, integration_method=integration.get("httpMethod", "POST"),
                    credentials=integration.get("credentials") if isinstance(integration.get("credentials"), str)
                    else None,
                    request_templates=integration.get("requestTemplates"),
                    passthrough_behavior=integration.get("passthroughBehavior"),
                )
                for selection, answer in (integration.get("responses") or {}).items():
                    if isinstance(answer, dict) and answer.get("statusCode"):
                        backend.put_integration_response(
                            function_id=api.id, resource_id=resource.id, method_type=method,
                            status_code=str(answer["statusCode"]),
                            selection_pattern=None if selection == "default" else selection,
                            response_templates=answer.get("responseTemplates") or {},
                            response_parameters=answer.get("responseParameters"), content_handling=None)


def install(endpoint: str | None = None, credentials=None) -> None:
    """`credentials`: the server's; given, `endpoint` is where a service integration's calls go."""
    global _endpoint
    from moto.apigateway import models

    if credentials is not None:
        _endpoint = endpoint or _endpoint

    cls = models.RestAPI
    if getattr(cls.create_from_cloudformation_json, "_localcloud", False):
        return

    def create_from_cloudformation_json(klass, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        properties = cloudformation_json.get("Properties") or {}
        body = properties.get("Body")
        if isinstance(body, str):
            body = json.loads(body)
        name = properties.get("Name") or ((body or {}).get("info") or {}).get("title") or resource_name
        backend = models.apigateway_backends[account_id][region_name]
        # the API's resource policy: the Policy property, or the Body's (SAM's `Auth: ResourcePolicy`)
        policy = properties.get("Policy") or (body or {}).get("x-amazon-apigateway-policy")
        api = backend.create_rest_api(name=name, description=properties.get("Description", ""),
                                      endpoint_configuration=properties.get("EndpointConfiguration"),
                                      policy=json.dumps(policy) if isinstance(policy, (dict, list)) else policy)
        if body:
            import_body(backend, api, body)
        return api

    create_from_cloudformation_json._localcloud = True
    cls.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    install_method_integrations()


def install_method_integrations() -> None:
    """`AWS::ApiGateway::Method`'s Integration keeps its RequestTemplates, Credentials, PassthroughBehavior
    and IntegrationResponses (moto kept only type, URI and method, so a service integration lost its
    mapping template). Patch point: `Method.create_from_cloudformation_json`."""
    from moto.apigateway import models

    original = models.Method.create_from_cloudformation_json.__func__
    if getattr(original, "_localcloud", False):
        return

    def create(klass, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        method = original(klass, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json["Properties"]
        integration = properties.get("Integration") or {}
        backend = models.apigateway_backends[account_id][region_name]
        api, resource, verb = properties["RestApiId"], properties["ResourceId"], properties["HttpMethod"]
        if integration.get("Type") and integration.get("Type", "").upper() != "MOCK":
            backend.put_integration(
                function_id=api, resource_id=resource, method_type=verb, integration_type=integration["Type"],
                uri=integration.get("Uri"), integration_method=integration.get("IntegrationHttpMethod"),
                credentials=integration.get("Credentials"), request_templates=integration.get("RequestTemplates"),
                passthrough_behavior=integration.get("PassthroughBehavior"))
            for answer in integration.get("IntegrationResponses") or []:
                backend.put_integration_response(
                    function_id=api, resource_id=resource, method_type=verb,
                    status_code=str(answer.get("StatusCode", "200")),
                    selection_pattern=answer.get("SelectionPattern"),
                    response_templates=answer.get("ResponseTemplates") or {},
                    response_parameters=answer.get("ResponseParameters"), content_handling=None)
        return method

    create._localcloud = True
    models.Method.create_from_cloudformation_json = classmethod(create)


# --- serving a stage ------------------------------------------------------------------------


def _find_api(api_id: str):
    from moto.apigateway.models import apigateway_backends

    for account_id, regions in list(apigateway_backends.items()):
        for region, backend in list(regions.items()):
            if api_id in backend.apis:
                return account_id, region, backend, backend.apis[api_id]
    return None


def _template_regex(resource_path: str):
    pattern = re.sub(r"\\\{([^}+]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(resource_path))
    pattern = re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile("^" + pattern + "$")


def match_resource(api, path: str):
    """(resource, pathParameters) for a request path; exact paths win over templates."""
    resources = list(api.resources.values())
    for resource in resources:
        if resource.get_path() == path:
            return resource, None
    best = None
    for resource in resources:
        template = resource.get_path()
        if "{" not in template:
            continue
        match = _template_regex(template).match(path)
        if match and (best is None or len(template) > len(best[0].get_path())):
            best = (resource, match.groupdict())
    return best if best else (None, None)


def proxy_event(*, api_id: str, account_id: str, region: str, stage: str, resource_path: str, resource_id: str,
                path: str, method: str, headers: list[tuple[str, str]], query: list[tuple[str, str]],
                body: bytes, path_parameters: dict | None, stage_variables: dict | None,
                source_ip: str = "127.0.0.1", caller=None) -> dict:
    """The event a REST API Lambda proxy integration receives (`caller`: an IAM-authorised request's
    signer, an `authentication.Caller`)."""
    single_headers, multi_headers = {}, {}
    for name, value in headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    single_query, multi_query = {}, {}
    for name, value in query:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    try:
        text, encoded = (body.decode("utf-8") if body else None), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = datetime.now(timezone.utc)
    user_agent = next((v for k, v in headers if k.lower() == "user-agent"), None)
    return {
        "resource": resource_path,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": stage_variables or None,
        "requestContext": {
            "resourceId": resource_id,
            "resourcePath": resource_path,
            "httpMethod": method,
            "extendedRequestId": uuid.uuid4().hex[:16] + "=",
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": account_id,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": api_id,
            "requestTimeEpoch": int(time.time() * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {"cognitoIdentityPoolId": None, "accountId": caller and caller.account_id,
                         "cognitoIdentityId": None, "caller": caller and caller.user_id, "sourceIp": source_ip,
                         "principalOrgId": None, "accessKey": caller and caller.access_key_id,
                         "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None,
                         "userArn": caller and caller.arn, "userAgent": user_agent,
                         "user": caller and caller.user_id},
            "domainName": f"{api_id}.execute-api.{region}.amazonaws.com",
            "apiId": api_id,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def _json_response(status: int, message: str, error_type: str | None = None):
    from werkzeug.wrappers import Response

    error_type = error_type or ("NotFoundException" if status == 404 else "InternalServerErrorException")
    return Response(json.dumps({"message": message}), status=status, content_type="application/json",
                    headers={"x-amzn-ErrorType": error_type})


def signer(request, identify):
    """The caller of an IAM-authorised method's request, or the 403 API Gateway answers instead."""
    environ = request.environ
    key = key_of(environ)
    signed = environ.get("HTTP_AUTHORIZATION", "").startswith("AWS4-HMAC-SHA256") or \
        "X-Amz-Signature" in environ.get("QUERY_STRING", "")
    if key is None or not signed:
        return None, _json_response(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
    scope = scope_service(environ.get("HTTP_AUTHORIZATION", "") + "&" + unquote(environ.get("QUERY_STRING", "")))
    if scope != "execute-api":
        return None, _json_response(403, "Credential should be scoped to correct service: 'execute-api'. ",
                                    "InvalidSignatureException")
    caller = identify(request) if identify is not None else None
    if caller is None:
        return None, _json_response(403, "The security token included in the request is invalid.",
                                    "UnrecognizedClientException")
    return caller, None


def method_arn(region: str, account_id: str, api_id: str, stage: str, verb: str, path: str) -> str:
    """The ARN `execute-api:Invoke` is evaluated on: the request's own verb and path (not the resource's
    template), as API Gateway builds it."""
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/{verb}/{path.lstrip('/')}"


def invoke_refusal(caller, arn: str, region: str, source_ip: str):
    """API Gateway's 403 when `caller` may not `execute-api:Invoke` the method `arn`, else None (also when the
    server evaluates nothing: `--no-iam`, or moto in-process without the server)."""
    from werkzeug.wrappers import Response

    from ..server import authorization

    authorizer = authorization.current()
    if authorizer is None:
        return None
    denial = authorizer.decide(caller, INVOKE, arn, {"aws:RequestedRegion": region}, source_ip=source_ip)
    if denial is None:
        return None
    # API Gateway's own wording: no "because ..." clause; an explicit deny is named
    message = f"User: {caller.arn} is not authorized to perform: {INVOKE} on resource: {arn}"
    if denial.decision == "explicitDeny":
        message += " with an explicit deny"
    return Response(json.dumps({"Message": message}), status=403, content_type="application/json",
                    headers={"x-amzn-ErrorType": "AccessDeniedException"})


def invoke_proxy(function_arn: str, account_id: str, region: str, event: dict):
    """Invoke the function with the proxy event; (statusCode, headers, multiValueHeaders, body bytes)."""
    from moto.awslambda.utils import get_backend

    fn = get_backend(account_id, region).get_function(function_arn)
    response_headers: dict = {}
    payload = fn.invoke(json.dumps(event), {}, response_headers)
    if response_headers.get("x-amz-function-error"):
        return None
    result = json.loads(payload) if payload else None
    if not isinstance(result, dict):
        return None
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        raw = base64.b64decode(body)
    else:
        raw = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
    return (int(result.get("statusCode", 200)), result.get("headers") or {},
            result.get("multiValueHeaders") or {}, raw)


def handle(request, identify=None):
    """Serve `/_localcloud/execute-api/<api-id>/<stage>/<path>` (werkzeug request -> response).

    `identify(access key id) -> Caller | None`: who a key stands for (the server's), for IAM-authorised
    methods; without it they refuse every request."""
    from werkzeug.wrappers import Response

    rest = request.path[len(ROUTE_PREFIX):]
    parts = rest.split("/", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return _json_response(404, "Use /_localcloud/execute-api/<api-id>/<stage>/<path>")
    api_id, stage = parts[0], parts[1]
    path = "/" + (parts[2] if len(parts) > 2 else "")
    if len(path) > 1:
        path = path.rstrip("/")
    found = _find_api(api_id)
    if found is None:
        return _json_response(404, f"No REST API {api_id} in the local cloud (deploy the stack first)")
    account_id, region, backend, api = found
    stage_obj = api.stages.get(stage)
    if stage_obj is None:
        return _json_response(403, "Forbidden")  # what AWS says for an unknown stage
    resource, path_parameters = match_resource(api, path)
    if resource is None:
        return _json_response(403, "Missing Authentication Token")
    method = request.method.upper()
    method_obj = resource.resource_methods.get(method) or resource.resource_methods.get("ANY")
    if method_obj is None:
        return _json_response(403, "Missing Authentication Token")
    integration = getattr(method_obj, "method_integration", None)
    uri = getattr(integration, "uri", "") or ""
    match = _LAMBDA_URI.search(uri)
    kind = str(getattr(integration, "integration_type", "")).upper()
    caller = None
    if str(getattr(method_obj, "authorization_type", "") or "").upper() == IAM_AUTHORISATION:
        caller, refused = signer(request, identify)
        if refused is None:
            refused = invoke_refusal(caller, method_arn(region, account_id, api_id, stage, method, path), region,
                                     request.remote_addr or "127.0.0.1")
        if refused is not None:
            return refused
    if kind == "AWS" and _SERVICE_ACTION.match(uri):
        return service_integration(request, integration, api_id=api_id, account_id=account_id, stage=stage,
                                   stage_variables=getattr(stage_obj, "variables", None) or {},
                                   path_parameters=path_parameters or {}, resource_path=resource.get_path())
    if integration is None or not match or kind != "AWS_PROXY":
        return _json_response(500, "The local cloud serves Lambda proxy integrations and AWS service integrations "
                                   "of the form arn:aws:apigateway:REGION:SERVICE:action/ACTION")
    event = proxy_event(
        api_id=api_id, account_id=account_id, region=region, stage=stage, resource_path=resource.get_path(),
        resource_id=resource.id, path=path, method=method,
        headers=[(k, v) for k, v in request.headers.items()],
        query=list(request.args.items(multi=True)), body=request.get_data(),
        path_parameters=path_parameters, stage_variables=getattr(stage_obj, "variables", None),
        source_ip=request.remote_addr or "127.0.0.1", caller=caller,
    )
    result = invoke_proxy(match.group(1), account_id, region, event)
    if result is None:
        return _json_response(502, "Internal server error")
    status, headers, multi_headers, body = result
    response = Response(body, status=status)
    response.headers.pop("Content-Type", None)
    for name, value in headers.items():
        response.headers[name] = str(value)
    for name, values in multi_headers.items():
        for value in values:
            response.headers.add(name, str(value))
    if "Content-Type" not in response.headers:
        response.headers["Content-Type"] = "application/json"
    return response


# --- AWS service integrations (type AWS): a mapping template, then the service's action ---------------

_TEMPLATE_CALL = re.compile(
    r"\$util\.escapeJavaScript\(\s*\$input\.json\(\s*'([^']*)'\s*\)\s*\)"
    r"|\$input\.json\(\s*'([^']*)'\s*\)"
    r"|\$input\.params\(\s*'([^']*)'\s*\)"
    r"|\$input\.body"
    r"|\$context\.([A-Za-z.]+)"
    r"|\$stageVariables\.([A-Za-z0-9_]+)")


def _json_at(document, path: str):
    from jsonpath_ng.ext import parse

    if path in ("$", ""):
        return document
    found = [match.value for match in parse(path).find(document)]
    return found[0] if len(found) == 1 else (found or None)


def _escape_javascript(text: str) -> str:
    return json.dumps(text)[1:-1].replace("'", "\\'")


def render_template(template: str, *, body: bytes, params: dict, context: dict, stage_variables: dict) -> str:
    """A mapping template with the references AWS's examples use (apigateway-mapping-template-reference.html):
    `$input.json(path)`, `$util.escapeJavaScript($input.json(path))`, `$input.body`, `$input.params(name)`,
    `$context.*`, `$stageVariables.*`. Anything else of VTL is left as written."""
    text = body.decode("utf-8", "replace")
    try:
        document = json.loads(text) if text.strip() else {}
    except ValueError:
        document = text

    def value(match):
        escaped_path, json_path, param, context_key, stage_key = match.groups()
        if escaped_path is not None:
            return _escape_javascript(json.dumps(_json_at(document, escaped_path)))
        if json_path is not None:
            return json.dumps(_json_at(document, json_path))
        if param is not None:
            return str(params.get(param, ""))
        if context_key is not None:
            found = context
            for part in context_key.split("."):
                found = found.get(part, "") if isinstance(found, dict) else ""
            return str(found)
        if stage_key is not None:
            return str(stage_variables.get(stage_key, ""))
        return text  # $input.body

    return _TEMPLATE_CALL.sub(value, template)


def _json_ready(value):
    from datetime import datetime

    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, datetime):
        return value.timestamp()  # the JSON protocols' epoch seconds
    return value


APIGATEWAY = "apigateway.amazonaws.com"
APIGATEWAY_SESSION = "BackplaneAssumeRoleSession"  # the session name API Gateway gives the roles it assumes


def _integration_caller(role_arn: str | None, account_id: str):
    """Whom an AWS integration calls the service as: a session of its `Credentials` role, which must trust
    API Gateway (None when it does not); without a role, the account's own (the server's) identity."""
    from dataclasses import replace

    from ..server import authorization
    from ..server.authentication import learner_caller, role_session_caller

    if not role_arn:
        return replace(learner_caller("", account_id), access_key_id=None, source=APIGATEWAY)
    if authorization.may_assume(APIGATEWAY, role_arn) is not None:
        return None
    return role_session_caller(role_arn, APIGATEWAY_SESSION, source=APIGATEWAY)


def service_integration(request, integration, *, api_id, account_id, stage, stage_variables, path_parameters,
                        resource_path):
    """An `AWS` integration with an action URI: the request template's output is the action's request,
    the action's answer (through the 200 response template, when there is one) the method's answer."""
    from botocore.exceptions import ClientError
    from werkzeug.wrappers import Response

    from ..server import inprocess

    region, service, action = _SERVICE_ACTION.match(integration.uri).groups()
    content_type = (request.headers.get("Content-Type") or "application/json").split(";")[0].strip()
    templates = getattr(integration, "request_templates", None) or {}
    params = {**dict(request.args.items()), **path_parameters,
              **{name: value for name, value in request.headers.items()}}
    context = {"requestId": str(uuid.uuid4()), "stage": stage, "apiId": api_id, "accountId": account_id,
               "resourcePath": resource_path, "httpMethod": request.method.upper(),
               "identity": {"sourceIp": request.remote_addr or "127.0.0.1"}}
    template = templates.get(content_type) if templates else None
    if templates and template is None and getattr(integration, "passthrough_behaviour", None) == "NEVER":
        return _json_response(415, "Unsupported Media Type")
    body = request.get_data()
    rendered = render_template(template, body=body, params=params, context=context,
                               stage_variables=stage_variables) if template else body.decode("utf-8", "replace")
    try:
        parameters = json.loads(rendered) if rendered.strip() else {}
    except ValueError:
        return _json_response(500, f"the mapping template did not make JSON for {service}:{action}: {rendered[:200]}")
    caller = _integration_caller(getattr(integration, "credentials", None), account_id)
    if caller is None:  # API Gateway logs "API Gateway does not have permission to assume the provided role"
        return _json_response(500, "Internal server error")
    boto_service = {"states": "stepfunctions"}.get(service, service)
    client = inprocess.client(boto_service, region, _endpoint, caller)
    operation = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
    try:
        answer = getattr(client, operation)(**parameters)
        status = 200
    except ClientError as failed:
        answer = {"__type": failed.response["Error"].get("Code"), "message": failed.response["Error"].get("Message")}
        status = failed.response["ResponseMetadata"].get("HTTPStatusCode", 400)
    except Exception as failed:  # a parameter the action does not take: as AWS, a 400 from the service
        answer, status = {"__type": "ValidationException", "message": str(failed)}, 400
    answer = answer if isinstance(answer, dict) else {}
    answer.pop("ResponseMetadata", None)
    output = json.dumps(_json_ready(answer))
    responses = getattr(integration, "integration_responses", None) or {}
    chosen = responses.get(str(status)) or (responses.get("200") if status == 200 else None)
    response_templates = getattr(chosen, "response_templates", None) or {}
    if response_templates.get("application/json"):
        output = render_template(response_templates["application/json"], body=output.encode(), params=params,
                                 context=context, stage_variables=stage_variables)
    return Response(output, status=int(getattr(chosen, "status_code", None) or status),
                    content_type="application/json")
