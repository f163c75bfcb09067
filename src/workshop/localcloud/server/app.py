"""The local cloud's WSGI app: moto's, behind the kit's guard and beside the kit's own routes.

Every request first passes `access.Guard` (its own host names, no foreign
`Origin`, signed with a key the server knows: `credentials.py`,
`identities.py`); moto's global CORS is off. Then a request goes where the
route tables below send it, as moto's `urls.py` maps each service's paths
to its handlers:

`KIT_ROUTES`, the kit's own paths (`address.KIT_PREFIX`):

    GET    /_localcloud/health                          {"status": "ready", ...} (public)
    GET    /_localcloud/mailbox, DELETE clears it       (services/mailbox.py; needs the key)
    GET    /_localcloud/sns/confirmation                 (AWS-like mode: the SNS confirmation link; public)
    ANY    /_localcloud/execute-api/<api>/<stage>/<path> (services/apigateway.py; public, as on AWS)

AWS API requests: first the extension groups their service needs are
installed (`wiring.ensure_for_scope`, by the credential scope they are
signed for); then the request is evaluated against IAM's policies as AWS
evaluates it (authorization.py: every principal but the learner's per-start
key, unless the server runs with `--no-iam`), and a denial answers in the
service's protocol; then

* IAM calls (signed for `iam`; POST, or GET with the query API) are served
  by moto and each successful write emits its CloudTrail event
  (services/cloudtrail.py); iam:SimulatePrincipalPolicy and
  iam:SimulateCustomPolicy are answered by the same engine as every request
  (simulation.py);
* a JSON-protocol request (`X-Amz-Target`) with a malformed body gets AWS's
  SerializationException (protocols.py);
* `TARGET_ROUTES`: Step Functions operations moto lacks, by `X-Amz-Target`
  (TestState, ValidateStateMachineDefinition: services/stepfunctions/api.py);
* everything else goes to moto.

With the AWS-like mode (`aws_like.AwsLikeMode`) the IAM handler, the
TestState route and the confirmation route ask the mode first.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import threading
import time

from ..services.stepfunctions import api as stepfunctions_api
from . import credentials as credentials_module
from . import identities, protocols
from .access import Guard, Refused, refusal
from .authentication import Callers
from .address import (ACCOUNT_ID, EXECUTE_API_PREFIX, HEALTH_PATH, HOST, KIT_PREFIX, MAILBOX_PATH, REGION,
                      SNS_CONFIRMATION_PATH, endpoint_for)

log = logging.getLogger("workshop.localcloud")

# the kit's own routes: path pattern -> handler method
KIT_ROUTES = (
    (re.compile("^" + re.escape(HEALTH_PATH) + "$"), "_health"),
    (re.compile("^" + re.escape(MAILBOX_PATH) + "$"), "_mailbox"),
    (re.compile("^" + re.escape(SNS_CONFIRMATION_PATH) + "$"), "_sns_confirmation"),
    (re.compile("^" + re.escape(EXECUTE_API_PREFIX)), "_execute_api"),
)
# AWS operations served by the kit instead of moto: X-Amz-Target -> handler method
TARGET_ROUTES = {stepfunctions_api.TARGET_PREFIX + operation: "_stepfunctions_api"
                 for operation in stepfunctions_api.OPERATIONS}


class LocalCloudApp:
    """Routes /_localcloud/* to the kit, everything else to moto; watches IAM writes."""

    def __init__(self, port: int, credentials: credentials_module.Credentials, aws_like=None, iam: bool = True):
        from . import authorization

        self.port = port
        self.credentials = credentials
        self.aws_like = aws_like  # aws_like.AwsLikeMode, or None for the plain local cloud
        self.callers = Callers(credentials.access_key_id)
        self.authorizer = authorization.Authorizer(enabled=iam)
        authorization.install(self.authorizer)
        self.guard = Guard(port, self.is_known_key)
        self.started = time.time()
        self.moto_app = None
        self.lambda_runtime = None  # the warm Lambda workers (services/awslambda), once loaded
        self.loaded = threading.Event()
        self.heap = None  # heap.Settler, in the server process only (process.serve)
        self.load_error: BaseException | None = None

    def is_known_key(self, key: str | None) -> bool:
        """The per-start key, one this server handed a worker, or one moto's IAM or STS made."""
        if not key:
            return False
        if secrets.compare_digest(key, self.credentials.access_key_id):
            return True
        if identities.identity_for_access_key(key) is not None:
            return True
        if not self.loaded.wait(timeout=60) or self.load_error is not None:
            return False
        return self.callers.for_key(key) is not None

    # loading moto and the extensions ----------------------------------------------------------
    def load(self) -> None:
        """Import moto, install the extensions every request may need, and serve the engine's calls."""
        self._load()
        self.loaded.set()

    def _load(self) -> None:
        from . import inprocess, wiring

        # moto answers any Origin with "Access-Control-Allow-Origin: *" unless this is set before it loads.
        os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"
        # AWS managed policies (AdministratorAccess, ...) exist in every account: attaching one is
        # a path to a risky permission the orchestrator watches.
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        import moto.settings

        moto.settings.DISABLE_GLOBAL_CORS = True
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.lambda_runtime = wiring.install_eager(self.port, endpoint_for(self.port), self.credentials)
        if self.aws_like is not None:
            self.aws_like.install()
            self.aws_like.install_learner(self.credentials, ACCOUNT_ID)
        self.moto_app = DomainDispatcherApplication(create_backend_app)
        # the Step Functions engine's own service calls: through this app, in-process (inprocess.py)
        inprocess.attach(self)

    def load_in_background(self, server=None) -> None:
        """`load()` off the start-up path (about 1.5 s of imports).

        The server answers at once; any request but the health check waits until
        the extensions are in place, so no request ever sees plain moto.
        """
        def load():
            try:
                self._load()
                if server is not None:  # moto's handler keeps S3's underscored header names
                    from moto.moto_server.werkzeug_app import MotoRequestHandler

                    server.RequestHandlerClass = MotoRequestHandler
            except BaseException as exc:  # reported by every request and the health check
                self.load_error = exc
                log.exception("the local cloud could not load moto")
            finally:
                self.loaded.set()

        threading.Thread(target=load, name="localcloud-load", daemon=True).start()

    # every request -------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        heap = self.heap
        if heap is None or environ.get("PATH_INFO") == HEALTH_PATH:  # a poll that allocates nothing
            return self._dispatch(environ, start_response)
        heap.request_started()
        try:
            return self._dispatch(environ, start_response)
        finally:
            heap.request_ended()

    def _dispatch(self, environ, start_response):
        try:
            self.guard.check(environ)
        except Refused as refused:
            log.warning("%s %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), refused)
            headers, body = refusal(environ, refused)
            start_response("403 FORBIDDEN", headers)
            return [body]
        path = environ.get("PATH_INFO", "")
        if path != HEALTH_PATH:
            self.loaded.wait()
            if self.load_error is not None:
                start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")])
                return [f"the local cloud failed to start: {self.load_error!r}".encode()]
        if path.startswith(KIT_PREFIX):
            return self._kit(environ, start_response)
        return self._aws(environ, start_response)

    # AWS API requests ----------------------------------------------------------------------------
    def _aws(self, environ, start_response):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        service = protocols.scope_service(auth)
        if service:
            from .wiring import ensure_for_scope

            ensure_for_scope(service)
        denied, acting = self._authorize(environ, auth, service)
        if denied is not None:
            status, headers, body = denied
            start_response(status, headers)
            return [body]
        if acting is not None:  # CloudFormation acts for its caller while it serves this request
            from .authorization import acting_for

            with acting_for(*acting):
                return self._serve_aws(environ, start_response, auth, service)
        return self._serve_aws(environ, start_response, auth, service)

    def _serve_aws(self, environ, start_response, auth, service):
        if protocols.is_iam_call(environ, auth):
            return self._iam(environ, start_response, auth)
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target and "amz-json" in environ.get("CONTENT_TYPE", "") and service:
            rejected = self._check_json_request(environ, target, service, start_response)
            if rejected is not None:
                return rejected
        handler = TARGET_ROUTES.get(target) if target else None
        if handler is not None:
            return getattr(self, handler)(environ, start_response, protocols.scope_region(auth) or REGION)
        return self.moto_app(environ, start_response)

    def _authorize(self, environ, auth: str, service: str | None):
        """(denial, acting): AWS's AccessDenied as (status, headers, body) when IAM's policies refuse the
        request, else None; and (caller, parameters) when the request makes CloudFormation act for its caller."""
        if not self.authorizer.enabled:
            return None, None
        caller = self.callers.for_key(protocols.key_of(environ))
        if caller is None or caller.kind == "learner-admin":
            return None, None
        from urllib.parse import unquote

        from .authorization import denial_response
        from .operations import identify

        scope = auth or unquote(environ.get("QUERY_STRING", ""))
        service = service or protocols.scope_service(scope)
        if not service:
            return None, None
        region = protocols.scope_region(scope) or REGION
        body = b""
        if service != "s3" or (environ.get("REQUEST_METHOD") == "POST" and "delete" in environ.get("QUERY_STRING", "")):
            body = _read_body(environ)
        operation = identify(environ, body, service, region)
        denial = self.authorizer.check_request(caller, operation, environ.get("REMOTE_ADDR", HOST))
        if denial is not None:
            return denial_response(service, denial), None
        acting = (caller, operation.params, region) if service == "cloudformation" else None
        return None, acting

    def _check_json_request(self, environ, target, service, start_response):
        body = _read_body(environ)
        reason = protocols.problem(target, body, service)
        if reason is None:
            return None
        start_response("400 BAD REQUEST", [("Content-Type", "application/x-amz-json-1.1"),
                                           ("x-amzn-ErrorType", "SerializationException")])
        return [protocols.error_body(reason)]

    # TestState / ValidateStateMachineDefinition: served by the kit (services/stepfunctions/api.py)
    def _stepfunctions_api(self, environ, start_response, region):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        refused = self.aws_like and self.aws_like.test_state_refusal(environ["HTTP_X_AMZ_TARGET"], body, ACCOUNT_ID)
        status, document = refused or stepfunctions_api.handle(environ["HTTP_X_AMZ_TARGET"], body, ACCOUNT_ID, region)
        headers = [("Content-Type", "application/x-amz-json-1.0")]
        if status >= 400:
            headers.append(("x-amzn-ErrorType", document.get("__type", "InternalFailure")))
        reason = {200: "OK", 400: "BAD REQUEST"}.get(status, "INTERNAL SERVER ERROR")
        start_response(f"{status} {reason}", headers)
        return [json.dumps(document).encode("utf-8")]

    # IAM: serve, then emit the CloudTrail event of a successful write
    def _iam(self, environ, start_response, auth):
        import urllib.parse

        body = _read_body(environ)
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace") or environ.get("QUERY_STRING", ""),
                                           keep_blank_values=True))
        if form.get("Action") in ("SimulatePrincipalPolicy", "SimulateCustomPolicy"):
            from . import simulation

            caller = self.callers.for_key(protocols.key_of(environ))
            status, headers, answer = simulation.respond(form, (caller and caller.account_id) or ACCOUNT_ID)
            start_response(status, headers)
            return [answer]
        lagging = self.aws_like and self.aws_like.iam_read_refused(body or environ.get("QUERY_STRING", "").encode())
        if lagging:
            start_response("404 NOT FOUND", [("Content-Type", "text/xml")])
            return [lagging]
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: captured.setdefault("written", []).append(data)

        result = self.moto_app(environ, capture)
        try:
            chunks = captured.pop("written", []) + list(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        response = b"".join(chunks)
        status = captured.get("status", "500 INTERNAL SERVER ERROR")
        if environ.get("REQUEST_METHOD") == "GET":  # the call's parameters, without a presigned URL's signature
            body = urllib.parse.urlencode([(k, v) for k, v in urllib.parse.parse_qsl(
                environ.get("QUERY_STRING", ""), keep_blank_values=True) if not k.startswith("X-Amz-")]).encode()
        if status.startswith("200") and b"Action=" in body:
            if self.aws_like:
                self.aws_like.iam_written(body, response)
            try:
                self._emit(body, response, environ, captured)
            except Exception:  # the IAM call succeeded: answer it, and say loudly what went wrong
                log.exception("could not emit the CloudTrail event for an IAM call")
        start_response(status, captured.get("headers", []))
        return [response]

    @staticmethod
    def _emit(body, response, environ, captured):
        from ..services import cloudtrail

        headers = dict(captured.get("headers", []))
        cloudtrail.emit_iam_call(
            body=body, response_xml=response, access_key=protocols.key_of(environ) or "",
            account_id=ACCOUNT_ID, source_ip=environ.get("REMOTE_ADDR", HOST),
            user_agent=environ.get("HTTP_USER_AGENT", ""),
            request_id=headers.get("x-amzn-RequestId") or headers.get("x-amz-request-id"),
        )

    # the kit's own routes ------------------------------------------------------------------------
    def _kit(self, environ, start_response):
        from werkzeug.wrappers import Request

        request = Request(environ)
        handler = next((name for pattern, name in KIT_ROUTES if pattern.match(request.path)), "_no_route")
        response = getattr(self, handler)(request)
        return response(environ, start_response)

    def _health(self, request):
        from werkzeug.wrappers import Response

        # until loading is done the runtime is not there (the load thread makes it)
        rt = self.lambda_runtime if self.loaded.is_set() else None
        body = {"status": "failed" if self.load_error else "ready",
                "endpoint": endpoint_for(self.port), "port": self.port,
                "account": ACCOUNT_ID, "region": REGION, "pid": os.getpid(),
                "uptime_s": round(time.time() - self.started, 3),
                # requests are accepted now; until loaded they wait for the extensions
                "loaded": self.loaded.is_set(),
                "lambda_workers": len(rt.worker_pids()) if rt else 0,
                "lambda_isolation": rt.isolation if rt else None,
                "lambda_cold_starts": rt.cold_starts if rt else 0,
                "heap": self.heap.describe() if self.heap else None,
                "iam": self.authorizer.describe(),
                "like_aws": self.aws_like.describe() if self.aws_like else None}
        return Response(json.dumps(body), content_type="application/json", status=500 if self.load_error else 200)

    def _mailbox(self, request):
        from ..services import mailbox

        return mailbox.handle(request)

    def _sns_confirmation(self, request):
        if not self.aws_like:
            return self._no_route(request)
        return self.aws_like.confirmation_page(request)

    def _execute_api(self, request):
        from ..services import apigateway
        from .wiring import ensure

        ensure("apigateway")
        return apigateway.handle(request)

    @staticmethod
    def _no_route(request):
        from werkzeug.wrappers import Response

        return Response(json.dumps({"message": f"no such local cloud route: {request.path}"}),
                        status=404, content_type="application/json")


def _read_body(environ) -> bytes:
    """The request body, read once and put back for whoever reads it next (moto)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def make_app(port: int, background: bool = False, credentials: credentials_module.Credentials | None = None,
             like_aws=None, iam: bool = True) -> LocalCloudApp:
    """The WSGI app, moto loaded; with background=True call `app.load_in_background()` yourself.

    `like_aws`: an `aws_like.Settings` for the AWS-like mode, None for the plain local cloud.
    `iam`: evaluate IAM policies on every request but the per-start key's (False: `--no-iam`).
    """
    credentials = credentials or credentials_module.new(endpoint_for(port))
    mode = None
    if like_aws is not None:
        from ..aws_like import AwsLikeMode

        mode = AwsLikeMode(like_aws, endpoint_for(port))
    app = LocalCloudApp(port, credentials, mode, iam=iam)
    if not background:
        app.load()
    return app
