"""Which AWS operation a request is, and its parameters, read with botocore's own model of the service.

The authorizer (authorization.py) needs, for every request, the API
operation (`ListObjectsV2`, `Invoke`, `PutUserPolicy`) and the parameters
that name its resources (`Bucket`, `FunctionName`, `UserName`). botocore
ships the model every SDK builds its requests from, so the request is read
back with it, protocol by protocol:

* `json` (DynamoDB, Step Functions, EventBridge, Logs, Secrets Manager, KMS,
  Organizations, SQS, CloudTrail): `X-Amz-Target` names the operation, the
  JSON body holds the parameters;
* `query` (IAM, STS, SNS, CloudFormation): `Action` and the flattened form
  fields, in the body or (GET) the query string;
* `rest-json` / `rest-xml` (Lambda, API Gateway, S3): the method and path are
  matched against each operation's `requestUri` template, the labels
  (`{Bucket}`, `{Key+}`) and the query-string and header members of the
  input shape give the parameters, and for rest-json the JSON body the rest.
  Where several operations share a path (S3's `PUT /{Bucket}/{Key+}` is
  PutObject, CopyObject, UploadPart or UploadPartCopy), the one whose query
  markers (`?acl`) and required query and header members the request carries
  wins.

`identify(environ, body, service, region)` -> `Operation`; its `name` is None
when the request matches no operation of the model (the authorizer refuses
such a request for every principal it evaluates: fail closed).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

# credential-scope service -> botocore service name, where they differ
BOTOCORE_NAMES = {"states": "stepfunctions", "monitoring": "cloudwatch", "email": "ses"}
# credential-scope service -> IAM action prefix, where they differ
IAM_PREFIXES = {"monitoring": "cloudwatch", "email": "ses"}


@dataclass(frozen=True)
class Operation:
    service: str  # the credential scope's service: "iam", "states", "s3", ...
    prefix: str  # the IAM action prefix: "iam", "states", "s3", ...
    name: str | None  # the API operation: "PutUserPolicy"; None when the model knows no such request
    protocol: str  # "json", "query", "rest-json", "rest-xml"
    region: str
    params: dict = field(default_factory=dict)  # top-level members by their model names (query: flattened too)
    headers: dict = field(default_factory=dict)  # lower-case header -> value
    path: str = ""
    method: str = ""


@functools.lru_cache(maxsize=64)
def service_model(service: str):
    """botocore's model of a credential-scope service, or None when botocore has none."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        return _session().get_service_model(BOTOCORE_NAMES.get(service, service))
    except UnknownServiceError:
        return None


@functools.lru_cache(maxsize=1)
def _session():
    import botocore.session

    return botocore.session.get_session()


def protocol_of(service: str) -> str | None:
    model = service_model(service)
    return model.protocol if model is not None else None


# --- REST: method + path -> operation ------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    name: str
    method: str
    path: re.Pattern
    literal: int  # literal characters of the path template
    markers: tuple  # (query key, value or None) the requestUri names after "?"
    required_query: tuple  # query-string names of required members
    required_headers: tuple  # lower-case header names of required members
    labels: dict  # label -> member name
    query_members: dict  # query-string name -> member name
    header_members: dict  # lower-case header -> member name
    body_members: tuple  # members without a location (rest-json body)


def _route(name: str, operation) -> _Route:
    uri = operation.http.get("requestUri", "/")
    if "authPath" in operation.http and not uri.startswith("/{Bucket}"):
        # botocore strips `/{Bucket}` from S3's model in place the first time a client sends the operation
        # (the endpoint rules put the bucket in the URL), and a loader shared by sessions shares the change
        uri = "/{Bucket}" + uri
    path, _, query = uri.partition("?")
    pattern, literal, labels = "", 0, {}
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{"):
            label = piece[1:-1]
            greedy = label.endswith("+")
            label = label.rstrip("+")
            group = f"g{len(labels)}"
            labels[group] = label
            pattern += f"(?P<{group}>.+)" if greedy else f"(?P<{group}>[^/]+)"
        else:
            pattern += re.escape(piece)
            literal += len(piece)
    markers = tuple((k, v or None) for k, v in (part.partition("=")[::2] for part in query.split("&") if part))
    shape = operation.input_shape
    members = shape.members if shape is not None else {}
    required = set(shape.required_members) if shape is not None else set()
    uri_members, query_members, header_members, body = {}, {}, {}, []
    for member, member_shape in members.items():
        location = member_shape.serialization.get("location")
        wire = member_shape.serialization.get("name", member)
        if location == "uri":
            uri_members[wire] = member
        elif location == "querystring":
            query_members[wire] = member
        elif location == "header":
            header_members[wire.lower()] = member
        elif location is None:
            body.append(member)
    labels = {group: uri_members.get(label, label) for group, label in labels.items()}
    return _Route(
        name=name, method=operation.http.get("method", "POST"), path=re.compile(pattern.rstrip("/") + "/?"),
        literal=literal, markers=markers,
        required_query=tuple(w for w, m in query_members.items() if m in required),
        required_headers=tuple(w for w, m in header_members.items() if m in required),
        labels=labels, query_members=query_members, header_members=header_members, body_members=tuple(body))


@functools.lru_cache(maxsize=32)
def _routes(service: str) -> dict:
    model = service_model(service)
    by_method: dict[str, list[_Route]] = {}
    if model is None:
        return by_method
    for name in model.operation_names:
        route = _route(name, model.operation_model(name))
        by_method.setdefault(route.method, []).append(route)
    return by_method


def _best_route(service: str, method: str, path: str, query: dict, headers: dict):
    best, best_score, best_match = None, -1, None
    for route in _routes(service).get(method, ()):
        found = route.path.fullmatch(path)
        if found is None:
            continue
        if any(k not in query or (v is not None and query[k] != v) for k, v in route.markers):
            continue
        if any(k not in query for k in route.required_query):
            continue
        if any(h not in headers for h in route.required_headers):
            continue
        score = route.literal + 1000 * len(route.markers) + 100 * (len(route.required_query)
                                                                    + len(route.required_headers))
        if score > best_score:
            best, best_score, best_match = route, score, found
    return best, best_match


# --- every protocol -------------------------------------------------------------------------------------


def _headers(environ) -> dict:
    out = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            out[key[5:].replace("_", "-").lower()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            out[key.replace("_", "-").lower()] = value
    return out


def identify(environ, body: bytes, service: str, region: str) -> Operation:
    """The operation and parameters of one signed request for `service` (the credential scope's)."""
    prefix = IAM_PREFIXES.get(service, service)
    model = service_model(service)
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/") or "/"
    headers = _headers(environ)
    protocol = model.protocol if model is not None else "unknown"
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))

    def made(name, params):
        return Operation(service, prefix, name, protocol, region, params, headers, path, method)

    if model is None:
        return made(None, {})
    if protocol == "json":
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        name = target.rsplit(".", 1)[-1] if target else None
        params = _json(body)
        return made(name if name in model.operation_names else None, params)
    if protocol == "query":
        form = dict(query)
        if method == "POST":
            form.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        name = form.get("Action")
        return made(name if name in model.operation_names else None, form)
    route, found = _best_route(service, method, path, query, headers)
    if route is None:
        return made(None, {})
    params = {}
    if protocol == "rest-json" and body and route.body_members:
        document = _json(body)
        params.update({k: v for k, v in document.items() if k in route.body_members})
    for wire, member in route.query_members.items():
        if wire in query:
            params[member] = query[wire]
    for wire, member in route.header_members.items():
        if wire in headers:
            params[member] = headers[wire]
    for group, member in route.labels.items():
        params[member] = found.group(group)  # PATH_INFO is decoded already
    if route.name == "DeleteObjects":
        params["_body"] = body  # the keys it deletes are in its XML body
    return made(route.name, params)


def _json(body: bytes) -> dict:
    if not body:
        return {}
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return document if isinstance(document, dict) else {}
