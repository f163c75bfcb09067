"""The local cloud's WSGI app: moto's, behind the kit's guard and beside the kit's own routes.

Every request first passes `access.Guard` (its own host names, no foreign
`Origin`; moto's global CORS is off), then the body limit of its route
(`bodies.py`: refused before the body is read), then, unless the route is
public, the check of its signature (`authentication.py`): it names the
`Caller`, which the call is served as (`calls.serving`). Then a request goes
where the route tables below send it, as moto's `urls.py` maps each
service's paths to its handlers:

`KIT_ROUTES`, the kit's own paths (`address.KIT_PREFIX`):

    GET    /_localcloud/health                          {"status": "ready", ...} (public)
    GET    /_localcloud/mailbox, DELETE clears it       (services/mailbox.py; signed with the per-start key)
    GET    /_localcloud/sns/confirmation                 (AWS-like mode: the SNS confirmation link; public)
    ANY    /_localcloud/execute-api/<api>/<stage>/<path> (services/apigateway.py; public, as on AWS; an
                                                          IAM-authorised method takes only signed requests)
    ANY    /_localcloud/lambda-url/<url id>/<path>       (services/awslambda/function_urls.py; AuthType decides)

AWS API requests: first the extension groups their service needs are
installed (`wiring.ensure_for_scope`, by the credential scope they are
signed for); then the request is evaluated against IAM's policies as AWS
evaluates it (authorization.py: every principal but the learner's per-start
key, unless the server runs with `--no-iam`), and a denial answers in the
service's protocol; then

* IAM calls (signed for `iam`; POST, or GET with the query API) are served
  by moto; the AWS-like mode sees them first and after. Each change of the IAM
  model, whatever asked for it, emits its CloudTrail event
  (services/cloudtrail.py), sent when the request is answered;
  iam:SimulatePrincipalPolicy and iam:SimulateCustomPolicy are answered by
  the same engine as every request (simulation.py);
* a JSON-protocol request (`X-Amz-Target`) with a malformed body gets AWS's
  SerializationException (protocols.py);
* `TARGET_ROUTES`: Step Functions operations moto lacks, by `X-Amz-Target`
  (TestState, ValidateStateMachineDefinition: services/stepfunctions/api.py);
* everything else goes to moto.

Each is served in the account of its caller (accounts.py), as moto's
backends and the kit's own routes both read it.

With the AWS-like mode (`aws_like.AwsLikeMode`) the IAM handler, the
TestState route, CloudTrail's CreateTrail / UpdateTrail and the
confirmation route ask the mode first.
"""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import re
import threading
import time

from ..services.stepfunctions import api as stepfunctions_api
from . import accounts, bodies, calls, protocols
from . import credentials as credentials_module
from .access import KIT, PUBLIC, Guard, Refused, refusal
from .authentication import LEARNER_ADMIN, AuthenticationFailed, Authenticator
from .address import (ACCOUNT_ID, EXECUTE_API_PREFIX, HEALTH_PATH, HOST, KIT_PREFIX, LAMBDA_URL_PREFIX,
                      MAILBOX_PATH, REGION, SNS_CONFIRMATION_PATH, endpoint_for)

log = logging.getLogger("workshop.localcloud")

# the kit's own routes: path pattern -> handler method
KIT_ROUTES = (
    (re.compile("^" + re.escape(HEALTH_PATH) + "$"), "_health"),
    (re.compile("^" + re.escape(MAILBOX_PATH) + "$"), "_mailbox"),
    (re.compile("^" + re.escape(SNS_CONFIRMATION_PATH) + "$"), "_sns_confirmation"),
    (re.compile("^" + re.escape(EXECUTE_API_PREFIX)), "_execute_api"),
    (re.compile("^" + re.escape(LAMBDA_URL_PREFIX)), "_lambda_url"),
)
# AWS operations served by the kit instead of moto: X-Amz-Target -> handler method
TARGET_ROUTES = {stepfunctions_api.TARGET_PREFIX + operation: "_stepfunctions_api"
                 for operation in stepfunctions_api.OPERATIONS}
# a body this large is collected as soon as its answer is sent (LocalCloudApp._answered)
_LARGE_BODY = 1024 * 1024


class LocalCloudApp:
    """Routes /_localcloud/* to the kit, everything else to moto; watches IAM writes."""

    def __init__(self, port: int, credentials: credentials_module.Credentials, aws_like=None, iam: bool = True):
        from . import authorization

        self.port = port
        self.credentials = credentials
        self.aws_like = aws_like  # aws_like.AwsLikeMode, or None for the plain local cloud
        self.guard = Guard(port)
        self.authenticator = Authenticator(credentials.access_key_id, credentials.secret_access_key, ACCOUNT_ID)
        self.authorizer = authorization.Authorizer(enabled=iam)
        authorization.install(self.authorizer)
        self.started = time.time()
        self.moto_app = None
        self.lambda_runtime = None  # the warm Lambda workers (services/awslambda), once loaded
        self.loaded = threading.Event()
        self.heap = None  # heap.Settler, in the server process only (process.serve)
        self.load_error: BaseException | None = None

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
                    server.RequestHandlerClass = request_handler()
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
            return self._answered(environ, self._dispatch(environ, start_response))
        heap.request_started()
        try:
            return self._answered(environ, self._dispatch(environ, start_response))
        finally:
            heap.request_ended()

    @staticmethod
    def _answered(environ, answer):
        """The answer; once it is sent, a large body collected rather than left to wait.

        A request's body ends in reference cycles (werkzeug's `Request` and its
        environ, moto's response object and its decoded copies of the body) that
        only a full collection frees, and the heap settler holds those back
        while requests keep coming (heap.py): twenty accepted 12 MB requests in a
        row held over 400 MB. Collecting after each body over `_LARGE_BODY`
        (rare: a template, a package) keeps the server flat for the price of
        one collection of what is not frozen yet.
        """
        from werkzeug.wsgi import ClosingIterator

        def let_go():
            environ.pop("werkzeug.request", None)
            body = environ.pop("localcloud.body", None)
            environ["wsgi.input"] = io.BytesIO()
            if body is not None and len(body) > _LARGE_BODY:
                del body
                gc.collect()

        return ClosingIterator(answer, let_go)

    def _dispatch(self, environ, start_response):
        try:
            route = self.guard.check(environ)
        except Refused as refused:
            log.warning("%s %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), refused)
            headers, body = refusal(environ, refused)
            start_response("403 FORBIDDEN", headers)
            return [body]
        limit = bodies.limit_for(environ)
        try:
            bodies.check_declared(environ, limit)
        except bodies.TooLarge as too_large:
            return self._too_large(environ, start_response, too_large)
        path = environ.get("PATH_INFO", "")
        if path != HEALTH_PATH:
            self.loaded.wait()
            if self.load_error is not None:
                start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")])
                return [f"the local cloud failed to start: {self.load_error!r}".encode()]
        try:
            if route == PUBLIC:
                bodies.read(environ, limit)
                return self._kit(environ, start_response)
            caller = self.authenticator.authenticate(environ, lambda: bodies.read(environ, limit))
            bodies.read(environ, limit)
        except bodies.TooLarge as too_large:
            return self._too_large(environ, start_response, too_large)
        except AuthenticationFailed as failed:
            log.warning("%s %s refused: %s", environ.get("REQUEST_METHOD"), path, failed.message.split("\n", 1)[0])
            status, headers, body = failed.answer(environ)
            start_response(status, headers)
            return [body]
        if route == KIT:
            if caller.kind != LEARNER_ADMIN:
                refused = Refused("refused: the local cloud's own routes (the mailbox) answer only requests signed "
                                  "with its per-start key (see `workshop local env`).")
                headers, body = refusal(environ, refused)
                start_response("403 FORBIDDEN", headers)
                return [body]
            return self._kit(environ, start_response)
        return self._aws(environ, start_response, caller)  # the guard's third kind of route: AWS

    @staticmethod
    def _too_large(environ, start_response, too_large):
        log.warning("%s %s refused: %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), too_large)
        status, headers, body = too_large.answer(environ)
        start_response(status, headers)
        return [body]

    # AWS API requests ----------------------------------------------------------------------------
    def _aws(self, environ, start_response, caller):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        service = protocols.request_service(environ)
        if service:
            from .wiring import ensure_for_scope

            ensure_for_scope(service)
        denied, acting = self._authorize(environ, caller, service)
        if denied is not None:
            status, headers, body = denied
            start_response(status, headers)
            return [body]
        call = self._call(environ, caller, service)
        with calls.serving(call):
            if acting is None:
                return self._serve_aws(environ, start_response, auth, service, call)
            from .authorization import acting_for

            with acting_for(*acting):  # CloudFormation acts for its caller while it serves this request
                return self._serve_aws(environ, start_response, auth, service, call)

    def _serve_aws(self, environ, start_response, auth, service, call):
        if protocols.is_iam_call(environ, auth):
            return self._iam(environ, start_response, call)
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target and "amz-json" in environ.get("CONTENT_TYPE", "") and service:
            rejected = self._check_json_request(environ, target, service, start_response)
            if rejected is not None:
                return rejected
        if self.aws_like and target and target.endswith("Trail"):
            refused = self.aws_like.trail_refusal(target, _read_body(environ), accounts.current(),
                                                  protocols.request_region(environ) or REGION)
            if refused:
                return _json_error(start_response, *refused)
        handler = TARGET_ROUTES.get(target) if target else None
        if handler is not None:
            return getattr(self, handler)(environ, start_response, protocols.request_region(environ) or REGION)
        return self._served(self.moto_app, environ, start_response, call)

    @staticmethod
    def _call(environ, caller, service) -> calls.Call:
        """What is known of the call before it is served (CloudTrail and STS read it)."""
        parameters = None
        if service in ("iam", "cloudformation"):  # the query API's form: CloudTrail's requestParameters, a stack's role
            from urllib.parse import parse_qs

            text = environ.get("localcloud.body", b"").decode("utf-8", "replace") \
                if environ.get("REQUEST_METHOD") == "POST" else environ.get("QUERY_STRING", "")
            parameters = {name: values for name, values in parse_qs(text, keep_blank_values=True).items()
                          if not name.startswith("X-Amz-")}
        service_call = caller.source == "states.amazonaws.com"
        return calls.Call(
            caller=caller, service=service, parameters=parameters,
            action=(parameters or {}).get("Action", [None])[0] if parameters else None,
            source_ip="states.amazonaws.com" if service_call else environ.get("REMOTE_ADDR", HOST),
            user_agent="states.amazonaws.com" if service_call else environ.get("HTTP_USER_AGENT", ""),
            via="cloudformation.amazonaws.com" if service == "cloudformation" else None, pending=[])

    @staticmethod
    def _served(app, environ, start_response, call):
        """`app`'s answer, then the CloudTrail events of what the call changed (services/cloudtrail.py)."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: captured.setdefault("written", []).append(data)

        result = app(environ, capture)
        try:
            chunks = captured.pop("written", []) + list(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if call.pending:
            from ..services import cloudtrail

            headers = dict(captured.get("headers", []))
            request_id = headers.get("x-amzn-RequestId") or headers.get("x-amz-request-id")
            cloudtrail.send_pending(call, request_id if call.service == "iam" else None)
        start_response(captured.get("status", "500 INTERNAL SERVER ERROR"), captured.get("headers", []))
        return chunks

    def _authorize(self, environ, caller, service: str | None):
        """(denial, acting): AWS's AccessDenied as (status, headers, body) when IAM's policies refuse the
        request, else None; and (caller, parameters, region) when the request makes CloudFormation act for
        its caller."""
        if not self.authorizer.enabled or caller.kind == LEARNER_ADMIN or not service:
            return None, None
        from .authorization import denial_response
        from .operations import identify

        region = protocols.request_region(environ) or REGION
        body = b""  # an S3 object's bytes say nothing IAM decides on; a multi-object delete's list does
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
        found = protocols.check(target, body, service)
        if found is None:
            return None
        code, reason = found
        start_response("400 BAD REQUEST", [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)])
        return [protocols.error_body(reason, code)]

    # TestState / ValidateStateMachineDefinition: served by the kit (services/stepfunctions/api.py)
    def _stepfunctions_api(self, environ, start_response, region):
        body = _read_body(environ)
        account = accounts.current()
        refused = self.aws_like and self.aws_like.test_state_refusal(environ["HTTP_X_AMZ_TARGET"], body, account)
        status, document = refused or stepfunctions_api.handle(environ["HTTP_X_AMZ_TARGET"], body, account, region)
        headers = [("Content-Type", "application/x-amz-json-1.0")]
        if status >= 400:
            headers.append(("x-amzn-ErrorType", document.get("__type", "InternalFailure")))
        reason = {200: "OK", 400: "BAD REQUEST"}.get(status, "INTERNAL SERVER ERROR")
        start_response(f"{status} {reason}", headers)
        return [json.dumps(document).encode("utf-8")]

    # IAM: the AWS-like mode's lag before, its record of writes after; Simulate* answered by the engine
    def _iam(self, environ, start_response, call):
        body = environ.get("localcloud.body", b"")
        if call.action in ("SimulatePrincipalPolicy", "SimulateCustomPolicy"):
            import urllib.parse

            from . import simulation

            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace") or environ.get("QUERY_STRING", ""),
                                               keep_blank_values=True))
            status, headers, answer = simulation.respond(form, accounts.current())
            start_response(status, headers)
            return [answer]
        lagging = self.aws_like and self.aws_like.iam_read_refused(body or environ.get("QUERY_STRING", "").encode())
        if lagging:
            start_response("404 NOT FOUND", [("Content-Type", "text/xml")])
            return [lagging]
        answered = {}

        def remember(status, headers, exc_info=None):
            answered["status"] = status
            return start_response(status, headers, exc_info)

        chunks = self._served(self.moto_app, environ, remember, call)
        if self.aws_like and answered.get("status", "").startswith("200") and call.parameters:
            from urllib.parse import urlencode

            self.aws_like.iam_written(urlencode(call.parameters, doseq=True).encode(), b"".join(chunks))
        return chunks

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
                "lambda_sandbox": rt.sandbox if rt else None,
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
        return apigateway.handle(request, identify=self.signer_of)

    def signer_of(self, request):
        """Who signed `request` (an `authentication.Caller`), proven by its signature; None when it is not signed
        or its signature does not check out. IAM-authorised API methods and AWS_IAM function URLs ask."""
        try:
            return self.authenticator.authenticate(request.environ, lambda: request.get_data(cache=True))
        except AuthenticationFailed:
            return None

    def _lambda_url(self, request):
        from ..services.awslambda import function_urls

        return function_urls.handle(request, self.signer_of)

    @staticmethod
    def _no_route(request):
        from werkzeug.wrappers import Response

        return Response(json.dumps({"message": f"no such local cloud route: {request.path}"}),
                        status=404, content_type="application/json")


def _json_error(start_response, status: int, document: dict):
    """An AWS JSON-protocol error answer."""
    start_response(f"{status} BAD REQUEST", [("Content-Type", "application/x-amz-json-1.1"),
                                            ("x-amzn-ErrorType", document["__type"])])
    return [json.dumps(document).encode("utf-8")]


def _read_body(environ) -> bytes:
    """The request body (read once by `bodies.read` before the request got here)."""
    body = environ.get("localcloud.body")
    if body is None:
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


def request_handler():
    """moto's request handler (it keeps S3's underscored header names), logging only when asked.

    werkzeug builds each request's log line (the path decoded to an IRI, its
    colours) before its logger drops it; unless `--verbose` set the logger to
    INFO, nothing is built.
    """
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class RequestHandler(MotoRequestHandler):
        def log_request(self, code="-", size="-"):
            if logging.getLogger("werkzeug").isEnabledFor(logging.INFO):
                super().log_request(code, size)

    return RequestHandler
