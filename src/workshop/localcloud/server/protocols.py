"""How an AWS request says what it is, and AWS's answer to a malformed one.

Who signed it and for which service and region: SigV4's credential scope
(`Credential=KEY/DATE/REGION/SERVICE/aws4_request`) in the `Authorization`
header or, presigned, in the query string (`X-Amz-Credential`), or S3's
older `AWS KEY:` header and `AWSAccessKeyId` query. The guard reads the key
(access.py), the app the service and region (app.py: which extension group,
which route), and moto's dispatcher the scope of a presigned request
(`server-presigned-routing`, below).

Bad requests on AWS's JSON protocol get AWS's answer, not a crash page.
moto parses the body of an `X-Amz-Target` request without checking it: a
body that is not JSON, or a member of the wrong type, ends in a 500 HTML
page, which boto3 reports as an unparseable response. AWS answers 400
`SerializationException`. Requests are checked here against botocore's own
model of the operation before moto sees them; a valid request passes
untouched.
"""

from __future__ import annotations

import functools
import json
import re
from urllib.parse import unquote

_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_REGION = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/[^/]+/aws4_request")
_HEADER_KEY = re.compile(r"Credential=([^/,\s]+)/")
_QUERY_KEY = re.compile(r"(?:^|&)(?:X-Amz-Credential|AWSAccessKeyId)=([^&]+)", re.IGNORECASE)
_V2_HEADER_KEY = re.compile(r"^AWS ([^:\s]+):")


# --- who signed a request, for which service and region ----------------------------------


def scope_service(text: str) -> str | None:
    """The service a SigV4 credential scope in `text` names (`iam`, `states`, ...), or None."""
    found = _SCOPE.search(text)
    return found.group(1) if found else None


def scope_region(text: str) -> str | None:
    found = _REGION.search(text)
    return found.group(1) if found else None


def _scope_text(environ) -> str:
    """Where a request's credential scope is: its Authorization header, else a presigned URL's query."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query = environ.get("QUERY_STRING", "")
    return auth if auth or "X-Amz-Credential=" not in query else unquote(query)


def request_service(environ) -> str | None:
    """The service a request is signed for: its header's credential scope, or a presigned URL's."""
    return scope_service(_scope_text(environ))


def request_region(environ) -> str | None:
    return scope_region(_scope_text(environ))


def key_of(environ) -> str | None:
    """The access key id a request is signed with, or None for an unsigned one."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = _HEADER_KEY.search(auth) or _V2_HEADER_KEY.match(auth)
    if match:
        return match.group(1)
    match = _QUERY_KEY.search(environ.get("QUERY_STRING", ""))
    if match:
        return unquote(match.group(1)).split("/", 1)[0]
    return None


def signed_for_iam(environ, auth: str) -> bool:
    """Signed for IAM in the Authorization header or, presigned, in the query string."""
    if "/iam/aws4_request" in auth:
        return True
    query = environ.get("QUERY_STRING", "")
    return "X-Amz-Credential=" in query and "/iam/aws4_request" in unquote(query)


def is_iam_call(environ, auth: str) -> bool:
    """An IAM call: a POST signed for IAM, or the query API sent as GET (which writes as well as a POST)."""
    method = environ.get("REQUEST_METHOD")
    if method == "POST":
        return "/iam/aws4_request" in auth
    return method == "GET" and signed_for_iam(environ, auth)


def install_presigned_routing() -> None:
    """moto's dispatcher routes a presigned request by the scope in its query (`server-presigned-routing`).

    A request signed in its query string carries no Authorization header, and
    moto's server routed it by guesswork (an IAM call became S3 ListBuckets).
    Patch point: `DomainDispatcherApplication.infer_service_region_host`.
    """
    from urllib.parse import parse_qs

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.infer_service_region_host

    def infer_service_region_host(self, environ, path):
        credential = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        if not environ.get("HTTP_AUTHORIZATION") and credential:
            # the scope as a header would carry it: moto reads only the scope from it
            environ = {**environ, "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={credential[0]}, "
                                                        "SignedHeaders=host, Signature=presigned"}
        return original(self, environ, path)

    infer_service_region_host.__wrapped__ = original
    DomainDispatcherApplication.infer_service_region_host = infer_service_region_host


# --- which protocol a service speaks ---------------------------------------------------------

# credential-scope service name -> botocore's service name, where they differ
_SERVICES = {"states": "stepfunctions", "monitoring": "cloudwatch", "email": "ses", "execute-api": "apigateway",
             "tagging": "resourcegroupstaggingapi", "elasticmapreduce": "emr", "es": "opensearch"}


@functools.lru_cache(maxsize=128)
def protocol_of(service: str) -> str | None:
    """The wire protocol of the service a credential scope names ("query", "json", "rest-json", "rest-xml", ...).

    Its errors are written in it (a refused signature, a body too large); None for a
    service botocore does not know.
    """
    try:
        model = _session().get_service_model(_SERVICES.get(service, service))
    except Exception:  # botocore knows no such service
        return None
    protocol = model.protocol
    return "query" if protocol == "ec2" else "json" if protocol == "smithy-rpc-v2-cbor" else protocol


@functools.lru_cache(maxsize=1)
def _session():
    import botocore.session

    return botocore.session.get_session()


# --- the JSON protocol ---------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _operations(service: str) -> dict:
    model = _session().get_service_model(_SERVICES.get(service, service))
    if model.protocol not in ("json",):
        return {}
    return {name: model.operation_model(name) for name in model.operation_names}


def problem(target: str, body: bytes, service: str) -> str | None:
    """Why the request is malformed, or None if moto may have it."""
    found = check(target, body, service)
    return found[1] if found else None


SERIALIZATION, VALIDATION = "SerializationException", "ValidationException"


def check(target: str, body: bytes, service: str) -> tuple[str, str] | None:
    """(AWS's error code, why) for a request AWS refuses before acting, or None if moto may have it.

    A body that is not a JSON object or does not fit the operation's model is a
    SerializationException; a text member longer than the model allows (Step
    Functions' 256 KB `input` and `output`, ...) a ValidationException, as AWS
    answers it.
    """
    try:
        document = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError) as exc:
        return SERIALIZATION, f"the request body is not valid JSON: {exc}"
    if not isinstance(document, dict):
        return SERIALIZATION, "the request body must be a JSON object"
    operation = target.rsplit(".", 1)[-1]
    try:
        model = _operations(service).get(operation)
    except Exception:  # an unknown service: leave it to moto
        return None
    if model is None or model.input_shape is None:
        return None
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(document, model.input_shape)
    if report.has_errors():
        return SERIALIZATION, report.generate_report().replace("\n", " ")
    for name, shape in model.input_shape.members.items():
        value, most = document.get(name), shape.metadata.get("max")
        if isinstance(value, str) and most is not None and len(value) > most:
            return VALIDATION, (f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
                                f"Member must have length less than or equal to {most}")
    return None


def error_body(message: str, code: str = SERIALIZATION) -> bytes:
    return json.dumps({"__type": code, "message": message}).encode("utf-8")
