"""Calls made inside the server (the Step Functions engine's) served in-process, not over HTTP.

moto's ASL engine calls the other services (Lambda, SNS, S3, API Gateway,
any `aws-sdk:*` integration) with a boto3 client of its own, over HTTP, back
to the same server: a new client per call, a socket, a server thread, HTTP
parsing on both sides. Profiling a burst of incidents put about half of the
server's CPU there (`benchmarks/bench_localcloud.py`).

`client(service, region, endpoint, caller)` hands out one boto3 client per
(service, region, caller), made once and shared (botocore clients are
thread-safe once made; making them is not, hence the lock). Its user agent is
the calling service's name (`states.amazonaws.com`), as AWS's own calls say;
botocore then skips building its own agent string twice a call. Its caller is the
state machine's role (`authentication.engine_caller`): when the server has
attached its WSGI app (`attach`), a `before-send` handler gives the request to
that app in this process (werkzeug's test environ builder and `run_wsgi_app`)
with the caller in the environ (`authentication.IN_PROCESS_CALLER`, a key no
HTTP request can set), so it passes the guard's other checks, the kit's routes
and moto, and CloudTrail records it as that role, without a socket and
without a signature to check. The client does not sign (botocore's signer was
about 1% of the server's time in a burst): it sends a placeholder key no
server accepts, with the credential scope moto and the guard read the region
and service from, and a signature of zeros. A request of it that went out
over HTTP would be refused. S3's client still signs: unsigned, botocore
would change how it sends an object's body.
Without an attached app (moto used in-process by unit tests, which intercepts
every boto3 request) nothing goes out at all.

The endpoint is `http://127.0.0.1:PORT`: an IP address makes botocore use S3
path-style URLs, whose Host is the local cloud's own (virtual-hosted
`bucket.localhost` would be refused as a rebinding attempt).
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

_lock = threading.Lock()
_clients: dict[tuple, object] = {}
_session = None
_app = None
_last = threading.local()  # the last response a shared client got, per thread


def attach(app) -> None:
    """Serve the shared clients' calls through `app` (the local cloud's WSGI app) in this process."""
    global _app
    _app = app


def detach() -> None:
    global _app
    _app = None


def reset() -> None:
    """Forget the shared clients (a new key or endpoint)."""
    with _lock:
        _clients.clear()


# What the shared clients sign with: no server knows this key, so only the in-process path serves them.
PLACEHOLDER_KEY, PLACEHOLDER_SECRET = "LOCALCLOUDINPROCESS0", "in-process"  # nosec B105: not a credential


def client(service: str, region: str, endpoint: str, caller):
    """The shared boto3 client of `service` in `region` whose calls are `caller`'s (an `authentication.Caller`)."""
    key = (service, region, endpoint, caller.principal_arn, caller.session_name, caller.source)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = _make(service, region, endpoint, caller)
            _clients[key] = found
    return found


def _make(service: str, region: str, endpoint: str, caller):
    global _session
    import functools

    import boto3
    import botocore
    from botocore.config import Config

    if _session is None:
        _session = boto3.session.Session()
    unsigned = {} if service == "s3" else {"signature_version": botocore.UNSIGNED}
    made = _session.client(
        service, region_name=region, endpoint_url=endpoint,
        aws_access_key_id=PLACEHOLDER_KEY, aws_secret_access_key=PLACEHOLDER_SECRET,
        config=Config(user_agent=caller.source or "localcloud.amazonaws.com", **unsigned,
                      parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1},
                      connect_timeout=60, read_timeout=99999999, max_pool_connections=64,
                      s3={"addressing_style": "path"}, inject_host_prefix=False),
    )
    made.meta.events.register("before-sign", _scope_only)
    made.meta.events.register("before-send", functools.partial(_send_in_process, caller=caller))
    made.meta.events.register("after-call", _remember)
    return made


def _scope_only(request=None, signing_name=None, region_name=None, signature_version=None, **kwargs):
    """botocore `before-sign` of an unsigned client: the placeholder key and the credential scope, no signature."""
    import botocore

    if signature_version is botocore.UNSIGNED and "Authorization" not in request.headers:
        moment = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = moment[:8]
        request.headers["X-Amz-Date"] = moment
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={PLACEHOLDER_KEY}/{day}/{region_name}/{signing_name}/aws4_request, "
            f"SignedHeaders=host, Signature={'0' * 64}")


def _remember(http_response=None, **kwargs):
    # never touch the body: a streaming one (Lambda's Payload) is read after this, and only once
    if http_response is not None:
        headers = dict(http_response.headers.items())
        length = headers.get("Content-Length") or headers.get("content-length")
        _last.response = (http_response.status_code, headers, int(length) if length else None)


def last_response() -> tuple[int, dict, int | None] | None:
    """(status, headers, body length if known) of the last call a shared client made in this thread."""
    return getattr(_last, "response", None)


def forget_last_response() -> None:
    _last.response = None


def call(method: str, path: str, headers: list[tuple[str, str]], body: bytes,
         host: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """An HTTP request to the attached app (a local-cloud route such as execute-api): (status, headers, body)."""
    app = _app
    if app is None:
        raise RuntimeError("the local cloud's app is not attached: this call is served only inside the server")
    path, _, query = path.partition("?")
    return _serve(app, method, path, f"http://{host or _own_host(app)}", query, headers, body)


def _serve(app, method: str, path: str, base_url: str, query: str, headers, body: bytes,
           raw_uri: str | None = None, caller=None) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request through `app` in this thread, as the server would hand it over: (status, headers, body)."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    builder = EnvironBuilder(path=path, base_url=base_url, query_string=query, method=method,
                             headers=headers, data=body)
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    environ["REMOTE_ADDR"] = "127.0.0.1"
    if caller is not None:
        from .authentication import IN_PROCESS_CALLER

        environ[IN_PROCESS_CALLER] = caller
    if raw_uri is not None:
        environ["RAW_URI"] = environ["REQUEST_URI"] = raw_uri
    app_iter, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(app_iter)
    finally:
        if hasattr(app_iter, "close"):
            app_iter.close()
    return int(status.split(" ", 1)[0]), list(response_headers.items()), content


def _own_host(app) -> str:
    port = getattr(app, "port", None)
    return f"127.0.0.1:{port}" if port else "127.0.0.1"


def _send_in_process(request, caller=None, **kwargs):
    """botocore `before-send`: the response of the attached app, or None to send over HTTP."""
    app = _app
    if app is None:
        return None
    from moto.core.botocore_stubber import MockRawResponse
    from botocore.awsrequest import AWSResponse

    url = urlsplit(request.url)
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = [(name, value.decode("latin-1") if isinstance(value, bytes) else value)
               for name, value in request.headers.items()]
    # the path as sent (percent-encoded), as a real server would hand it over
    status, response_headers, content = _serve(
        app, request.method, url.path or "/", f"{url.scheme}://{url.netloc}", url.query, headers, body or b"",
        raw_uri=url.path + ("?" + url.query if url.query else ""), caller=caller)
    return AWSResponse(request.url, status, dict(response_headers), MockRawResponse(content))
