"""How much a request may send, per route, checked before its body is read.

A server that reads whatever it is sent can be made to hold hundreds of
megabytes per request (an API Gateway stage is public; a signed request is
read before its signature can be checked). Each route has the limit AWS
documents for it, and a request is refused as that service refuses it:

* a declared `Content-Length` over the limit is refused before a byte of the
  body is read (the server discards what the client still sends, in pieces,
  so the client reads the answer instead of a reset connection);
* a chunked body (no `Content-Length`) is read up to the limit and refused
  once it passes it;
* what passes is read once (`read`) and handed on in memory, so the signature
  check, the kit's routes and moto all see the same bytes.

| route | limit | answer |
| --- | --- | --- |
| API Gateway stages | 10 MB, API Gateway's payload limit | 413 `{"message":"Request Too Long"}` |
| Lambda Invoke | 6 MB (6291456 bytes) | 413 `RequestTooLargeException` |
| other Lambda calls | 69905067 bytes: a 50 MB zip as the base64 of `CreateFunction` | 413 `RequestEntityTooLargeException` |
| Step Functions | 1 MB per request (each input or output at most 256 KB: `protocols.check`) | 413 |
| SNS | 1 MB: a 256 KB message (moto checks it) percent-encoded in a form | 413 |
| S3 PutObject, UploadPart | the local cloud's own cap, `S3_OBJECT_LIMIT` (AWS: 5 GB a PUT) | 400 `EntityTooLarge` |
| the kit's own routes | 1 MB | 413 |
| any other AWS call | 16 MB, DynamoDB's largest batch | 413 `RequestEntityTooLargeException` |
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from html import escape

from .address import EXECUTE_API_PREFIX, KIT_PREFIX
from .protocols import protocol_of, scope_service

MB = 1024 * 1024
API_GATEWAY_PAYLOAD = 10 * MB
LAMBDA_INVOKE = 6 * MB
LAMBDA_CODE = 69905067
STEP_FUNCTIONS_REQUEST = 1 * MB
SNS_REQUEST = 1 * MB
S3_OBJECT_LIMIT = 256 * MB
KIT_REQUEST = 1 * MB
DEFAULT_REQUEST = 16 * MB
_CHUNK = 64 * 1024

_INVOKE = re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/[^/]+/(invocations|invoke-async/?)$")


@dataclass(frozen=True)
class Limit:
    """The most a route takes, and how its service says no."""

    bytes: int
    kind: str  # "api-gateway", "lambda-invoke", "lambda", "s3", "kit", "aws"
    service: str | None = None
    operation: str = ""


class TooLarge(Exception):
    def __init__(self, limit: Limit, size: int | None):
        super().__init__(f"request body over {limit.bytes} bytes")
        self.limit = limit
        self.size = size

    def answer(self, environ) -> tuple[str, list[tuple[str, str]], bytes]:
        """(status line, headers, body) as the route's service answers a request too large."""
        limit = self.limit
        common = [("Cache-Control", "no-store")]
        if limit.kind == "api-gateway":
            return "413 REQUEST ENTITY TOO LARGE", [("Content-Type", "application/json"),
                                                    ("x-amzn-ErrorType", "RequestEntityTooLargeException"),
                                                    *common], b'{"message":"Request Too Long"}'
        if limit.kind in ("lambda-invoke", "lambda"):
            code = "RequestTooLargeException" if limit.kind == "lambda-invoke" else "RequestEntityTooLargeException"
            message = f"Request must be smaller than {limit.bytes} bytes for the {limit.operation} operation"
            return "413 REQUEST ENTITY TOO LARGE", [("Content-Type", "application/json"), ("x-amzn-ErrorType", code),
                                                    *common], json.dumps({"Type": "User", "message": message}).encode()
        if limit.kind == "s3":
            size = f"<ProposedSize>{self.size}</ProposedSize>" if self.size is not None else ""
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code><Message>Your proposed '
                    f"upload exceeds the maximum allowed object size.</Message>{size}<MaxSizeAllowed>{limit.bytes}"
                    f"</MaxSizeAllowed><Hint>{escape(_s3_hint())}</Hint><RequestId>localcloud</RequestId></Error>")
            return "400 BAD REQUEST", [("Content-Type", "application/xml"), *common], body.encode()
        message = (f"Request entity too large: this call takes at most {limit.bytes} bytes"
                   + (f", the request has {self.size}" if self.size is not None else "") + ".")
        protocol = protocol_of(limit.service) if limit.service else None
        if protocol in ("json", "rest-json"):
            code = "RequestEntityTooLargeException"
            return "413 REQUEST ENTITY TOO LARGE", [("Content-Type", "application/x-amz-json-1.1"),
                                                    ("x-amzn-ErrorType", code), *common], \
                json.dumps({"__type": code, "message": message}).encode()
        if protocol in ("query", "rest-xml"):
            body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>RequestEntityTooLarge</Code><Message>"
                    f"{escape(message)}</Message></Error><RequestId>localcloud</RequestId></ErrorResponse>")
            return "413 REQUEST ENTITY TOO LARGE", [("Content-Type", "text/xml"), *common], body.encode()
        return "413 REQUEST ENTITY TOO LARGE", [("Content-Type", "text/plain; charset=utf-8"), *common], \
            (message + "\n").encode()


def _s3_hint() -> str:
    return (f"The local cloud keeps objects of up to {S3_OBJECT_LIMIT // MB} MiB in one PUT (AWS: 5 GB); "
            "upload larger ones in parts (each part up to the same size).")


def limit_for(environ) -> Limit:
    path = environ.get("PATH_INFO", "")
    if path.startswith(EXECUTE_API_PREFIX):
        return Limit(API_GATEWAY_PAYLOAD, "api-gateway")
    if path.startswith(KIT_PREFIX):
        return Limit(KIT_REQUEST, "kit")
    service = _service(environ)
    if service == "lambda":
        if _INVOKE.match(path):
            return Limit(LAMBDA_INVOKE, "lambda-invoke", service, "InvokeFunction")
        operation = "UpdateFunctionCode" if path.endswith("/code") else "CreateFunction"
        return Limit(LAMBDA_CODE, "lambda", service, operation)
    if service == "s3":
        return Limit(S3_OBJECT_LIMIT, "s3", service)
    if service == "states":
        return Limit(STEP_FUNCTIONS_REQUEST, "aws", service)
    if service == "sns":
        return Limit(SNS_REQUEST, "aws", service)
    return Limit(DEFAULT_REQUEST, "aws", service)


def _service(environ) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth.startswith("AWS "):
        return "s3"
    query = environ.get("QUERY_STRING", "")
    found = scope_service(auth) or (scope_service(_unquoted(query)) if "X-Amz-Credential" in query else None)
    if found:
        return found
    return "s3" if "AWSAccessKeyId=" in query else None


def _unquoted(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


def declared(environ) -> int | None:
    value = environ.get("CONTENT_LENGTH")
    if not value:
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return None


def check_declared(environ, limit: Limit) -> None:
    """TooLarge when the request says it sends more than `limit` (nothing is read)."""
    size = declared(environ)
    if size is not None and size > limit.bytes:
        raise TooLarge(limit, size)


def read(environ, limit: Limit) -> bytes:
    """The body, read once (at most `limit` bytes) and put back in memory for whoever reads it next."""
    cached = environ.get("localcloud.body")
    if cached is not None:
        return cached
    stream = environ.get("wsgi.input")
    size = declared(environ)
    if size is not None:
        if size > limit.bytes:
            raise TooLarge(limit, size)
        body = stream.read(size) if size and stream is not None else b""
    elif environ.get("wsgi.input_terminated") and stream is not None:  # chunked: read until the end, or the limit
        parts, total = [], 0
        while True:
            part = stream.read(min(_CHUNK, limit.bytes + 1 - total))
            if not part:
                break
            parts.append(part)
            total += len(part)
            if total > limit.bytes:
                raise TooLarge(limit, None)
        body = b"".join(parts)
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["localcloud.body"] = body
    return body
