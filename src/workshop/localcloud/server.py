"""The local cloud server: moto's WSGI app plus the kit's extensions, one process, one port.

`serve(port)` installs the extensions (each module's `install()` patches one
documented moto seam), binds 127.0.0.1:port and serves until SIGINT / SIGTERM
(or until the process that started it is gone, with `parent_pid`), then stops
its Lambda workers and exits.

`LocalCloud(port=None)` starts that server as a separate process
(`python -m workshop.localcloud up`), waits until it answers and stops it on
exit; `.endpoint` is what boto3 / `sam` need as `AWS_ENDPOINT_URL`.

Every request first passes `access.Guard` (its own host names, no foreign
`Origin`, signed with the per-start key of `credentials.py`); moto's global
CORS is off.

Routes the kit adds next to moto's:

    GET    /_localcloud/health                          {"status": "ready", ...} (public)
    GET    /_localcloud/mailbox, DELETE clears it       (see mailbox.py; needs the key)
    GET    /_localcloud/sns/confirmation                 (AWS-like mode: the SNS confirmation link; public)
    ANY    /_localcloud/execute-api/<api>/<stage>/<path> (see apigateway.py; public, as on AWS)

and two Step Functions operations moto lacks, by X-Amz-Target:
TestState and ValidateStateMachineDefinition (see stepfunctions_api.py).

`serve(port, like_aws=Settings(...))` (`workshop local up --like-aws`) adds
the AWS-like mode (aws_like.py): CloudTrail events only through a trail and
late, e-mail subscriptions that wait for confirmation, TestState's role
checked, IAM reads that lag behind writes.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess  # nosec B404: starts the local cloud as an argument list, never through a shell
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from . import ACCOUNT_ID, DEFAULT_PORT
from . import credentials as credentials_module
from . import heap
from .access import Guard, Refused, refusal

log = logging.getLogger("workshop.localcloud")

HOST = "127.0.0.1"
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_REGION = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/[^/]+/aws4_request")


def _signed_for_iam(environ, auth: str) -> bool:
    """Signed for IAM in the Authorization header or, presigned, in the query string."""
    if "/iam/aws4_request" in auth:
        return True
    query = environ.get("QUERY_STRING", "")
    return "X-Amz-Credential=" in query and "/iam/aws4_request" in urllib.parse.unquote(query)


class PortInUse(Exception):
    def __init__(self, port: int):
        super().__init__(
            f"port {port} on {HOST} is already in use: is a local cloud already running "
            f"(`workshop local up`)? Stop it, or choose another port with --port N."
        )
        self.port = port


# --- the WSGI application ------------------------------------------------------------


class LocalCloudApp:
    """Routes /_localcloud/* to the kit, everything else to moto; watches IAM writes."""

    def __init__(self, moto_app, port: int, credentials: credentials_module.Credentials, aws_like=None):
        self.moto_app = moto_app
        self.aws_like = aws_like  # aws_like.AwsLikeMode, or None for the plain local cloud
        self.port = port
        self.credentials = credentials
        self.guard = Guard(port, self.is_known_key)
        self.started = time.time()
        self.loaded = threading.Event()
        self.heap = None  # heap.Settler, in the server process only (serve)
        self.load_error: BaseException | None = None
        if moto_app is not None:
            self._serve_engine_calls()
            self.loaded.set()

    def _serve_engine_calls(self) -> None:
        """The Step Functions engine's own service calls: through this app, in-process (inprocess.py)."""
        from . import inprocess

        inprocess.attach(self)

    def is_known_key(self, key: str | None) -> bool:
        """The per-start key, or one this server handed a Lambda worker."""
        if not key:
            return False
        if secrets.compare_digest(key, self.credentials.access_key_id):
            return True
        runtime = sys.modules.get("workshop.localcloud.lambda_runtime")
        return runtime is not None and runtime.identity_for_access_key(key) is not None

    def load_in_background(self, server=None) -> None:
        """Import moto and patch its seams off the start-up path (about 1.5 s of imports).

        The server answers at once; any request but the health check waits until
        the extensions are in place, so no request ever sees plain moto.
        """
        def load():
            try:
                self.moto_app = _moto_app(self.port, self.credentials, self.aws_like)
                self._serve_engine_calls()
                if server is not None:  # moto's handler keeps S3's underscored header names
                    from moto.moto_server.werkzeug_app import MotoRequestHandler

                    server.RequestHandlerClass = MotoRequestHandler
            except BaseException as exc:  # reported by every request and the health check
                self.load_error = exc
                log.exception("the local cloud could not load moto")
            finally:
                self.loaded.set()

        threading.Thread(target=load, name="localcloud-load", daemon=True).start()

    def __call__(self, environ, start_response):
        heap = self.heap
        if heap is None or environ.get("PATH_INFO") == "/_localcloud/health":  # a poll that allocates nothing
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
        if path != "/_localcloud/health":
            self.loaded.wait()
            if self.load_error is not None:
                start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")])
                return [f"the local cloud failed to start: {self.load_error!r}".encode()]
        if path.startswith("/_localcloud/"):
            return self._kit(environ, start_response)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scope = _SCOPE.search(auth)
        if scope:
            from .extensions import ensure_for_scope

            ensure_for_scope(scope.group(1))
        if environ.get("REQUEST_METHOD") == "POST" and "/iam/aws4_request" in auth:
            return self._iam(environ, start_response, auth)
        if environ.get("REQUEST_METHOD") == "GET" and _signed_for_iam(environ, auth):
            # the query API sent as GET (Action=... in the query string) writes as well as a POST
            return self._iam(environ, start_response, auth)
        from . import stepfunctions_api

        target = environ.get("HTTP_X_AMZ_TARGET")
        if target and "amz-json" in environ.get("CONTENT_TYPE", "") and scope:
            rejected = self._check_json_request(environ, target, scope.group(1), start_response)
            if rejected is not None:
                return rejected
        if stepfunctions_api.handles(target):
            region = _REGION.search(auth)
            return self._stepfunctions_api(environ, start_response, region.group(1) if region else "us-east-1")
        return self.moto_app(environ, start_response)

    def _check_json_request(self, environ, target, service, start_response):
        from . import json_protocol

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        reason = json_protocol.problem(target, body, service)
        if reason is None:
            return None
        start_response("400 BAD REQUEST", [("Content-Type", "application/x-amz-json-1.1"),
                                           ("x-amzn-ErrorType", "SerializationException")])
        return [json_protocol.error_body(reason)]

    # TestState / ValidateStateMachineDefinition: served by the kit (stepfunctions_api.py)
    def _stepfunctions_api(self, environ, start_response, region):
        from . import stepfunctions_api

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

    # IAM: serve, then emit the CloudTrail event of a successful write --------------
    def _iam(self, environ, start_response, auth):
        from . import cloudtrail

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
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
                self._emit(cloudtrail, body, response, auth, environ, captured)
            except Exception:  # the IAM call succeeded: answer it, and say loudly what went wrong
                log.exception("could not emit the CloudTrail event for an IAM call")
        start_response(status, captured.get("headers", []))
        return [response]

    @staticmethod
    def _emit(cloudtrail, body, response, auth, environ, captured):
        from .access import key_of

        headers = dict(captured.get("headers", []))
        cloudtrail.emit_iam_call(
            body=body, response_xml=response, access_key=key_of(environ) or "",
            account_id=ACCOUNT_ID, source_ip=environ.get("REMOTE_ADDR", HOST),
            user_agent=environ.get("HTTP_USER_AGENT", ""),
            request_id=headers.get("x-amzn-RequestId") or headers.get("x-amz-request-id"),
        )

    # the kit's own routes ------------------------------------------------------------
    def _kit(self, environ, start_response):
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        path = request.path
        if path == "/_localcloud/health":
            # Until loading is done the module may be half-imported by the load thread.
            rt = sys.modules.get("workshop.localcloud.lambda_runtime") if self.loaded.is_set() else None
            rt = rt.runtime() if rt else None
            body = {"status": "failed" if self.load_error else "ready",
                    "endpoint": f"http://{HOST}:{self.port}", "port": self.port,
                    "account": ACCOUNT_ID, "region": "us-east-1", "pid": os.getpid(),
                    "uptime_s": round(time.time() - self.started, 3),
                    # requests are accepted now; until loaded they wait for the extensions
                    "loaded": self.loaded.is_set(),
                    "lambda_workers": len(rt.worker_pids()) if rt else 0,
                    "lambda_isolation": rt.isolation if rt else None,
                    "lambda_cold_starts": rt.cold_starts if rt else 0,
                    "heap": self.heap.describe() if self.heap else None,
                    "like_aws": self.aws_like.describe() if self.aws_like else None}
            response = Response(json.dumps(body), content_type="application/json",
                                status=500 if self.load_error else 200)
        elif path == "/_localcloud/mailbox":
            from . import mailbox

            response = mailbox.handle(request)
        elif path == "/_localcloud/sns/confirmation" and self.aws_like:
            response = self.aws_like.confirmation_page(request)
        elif path.startswith("/_localcloud/execute-api/"):
            from . import apigateway
            from .extensions import ensure

            ensure("apigateway")
            response = apigateway.handle(request)
        else:
            response = Response(json.dumps({"message": f"no such local cloud route: {path}"}),
                                status=404, content_type="application/json")
        return response(environ, start_response)


# --- serving -------------------------------------------------------------------------


def install_extensions(port: int, credentials: credentials_module.Credentials, lazy: bool = True) -> None:
    """Patch moto's seams, once per process (see extensions.py for when). Each module documents its own."""
    from . import extensions

    endpoint = f"http://{HOST}:{port}"
    if lazy:
        extensions.install_eager(port, endpoint, credentials)
    else:
        extensions.install_all(port, endpoint, credentials)


def _moto_app(port: int, credentials: credentials_module.Credentials, aws_like=None):
    # moto answers any Origin with "Access-Control-Allow-Origin: *" unless this is set before it loads.
    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"
    # AWS managed policies (AdministratorAccess, ...) exist in every account: attaching one is
    # a path to a risky permission the orchestrator watches.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    import moto.settings

    moto.settings.DISABLE_GLOBAL_CORS = True
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    install_extensions(port, credentials)
    if aws_like is not None:
        aws_like.install()
    return DomainDispatcherApplication(create_backend_app)


def make_app(port: int, background: bool = False, credentials: credentials_module.Credentials | None = None,
             like_aws=None):
    """The WSGI app, moto loaded; with background=True call `app.load_in_background()` yourself.

    `like_aws`: an `aws_like.Settings` for the AWS-like mode, None for the plain local cloud.
    """
    credentials = credentials or credentials_module.new(f"http://{HOST}:{port}")
    mode = None
    if like_aws is not None:
        from .aws_like import AwsLikeMode

        mode = AwsLikeMode(like_aws, f"http://{HOST}:{port}")
    return LocalCloudApp(None if background else _moto_app(port, credentials, mode), port, credentials, mode)


def _bind(port: int, app):
    from werkzeug.serving import WSGIRequestHandler, make_server

    try:
        return make_server(HOST, port, app, threaded=True, request_handler=WSGIRequestHandler)
    except (OSError, SystemExit) as exc:
        if isinstance(exc, SystemExit) or getattr(exc, "errno", None) == errno.EADDRINUSE:
            raise PortInUse(port) from None
        raise


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # as the server binds: connections of a stopped server in TIME_WAIT do not count
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def serve(port: int = DEFAULT_PORT, parent_pid: int | None = None, announce=print, like_aws=None) -> int:
    """Run the local cloud in this process until SIGINT / SIGTERM; 0 on a clean stop."""
    if not port_is_free(port):
        raise PortInUse(port)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    _not_dumpable()
    credentials = credentials_module.new(f"http://{HOST}:{port}")
    # A key handed over by the starting process is not left for Lambda workers or children to find.
    os.environ.pop(credentials_module.ENV_KEY, None)
    os.environ.pop(credentials_module.ENV_SECRET, None)
    app = make_app(port, background=True, credentials=credentials, like_aws=like_aws)
    app.heap = heap.Settler().start()
    server = _bind(port, app)
    key_file = credentials_module.write(credentials)
    app.load_in_background(server)
    stop = threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="localcloud-http", daemon=True)
    thread.start()

    def _on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    _wait_ready(f"http://{HOST}:{port}", timeout=10)
    announce(f"Local cloud ready at http://{HOST}:{port} (its key: {key_file}; "
             'for your shell: eval "$(workshop local env)")', flush=True)
    if like_aws is not None:
        low, high = like_aws.event_delay
        announce(f"AWS-like mode: CloudTrail events only through a logging trail, {low:g}-{high:g} s late; "
                 f"e-mail subscriptions wait for confirmation; TestState checks its role; IAM reads lag "
                 f"{like_aws.iam_lag:g} s behind creations.", flush=True)
    try:
        while not stop.wait(0.5):
            if parent_pid and not _alive(parent_pid):
                log.info("the process that started the local cloud is gone: stopping")
                break
    finally:
        from .lambda_runtime import runtime

        server.shutdown()
        server.server_close()
        app.heap.stop()
        credentials_module.remove(credentials)
        rt = runtime()
        if rt is not None:
            rt.shutdown()
        announce("Local cloud stopped.", flush=True)
    return 0


def _not_dumpable() -> None:
    """Make /proc/<this pid>/environ (and ptrace) off limits to other processes of this user.

    Lambda workers run as the learner; without a sandbox they could otherwise
    read the server's environment, which holds whatever the learner's shell
    had (real AWS keys included). Linux only; elsewhere nothing happens.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        pr_set_dumpable = 4
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("could not make the local cloud's process non-dumpable")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_ready(endpoint: str, timeout: float, proc: subprocess.Popen | None = None) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    url = endpoint + "/_localcloud/health"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the local cloud exited during start-up (code {proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # nosec B310: the http endpoint it started
                doc = json.loads(response.read())
            if doc.get("loaded", True):
                return doc
            last = "still loading"
            time.sleep(0.05)
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"the local cloud at {endpoint} failed to start: {exc.read()[:500]!r}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
            time.sleep(0.05)
    raise TimeoutError(f"the local cloud at {endpoint} did not answer within {timeout:.0f} s ({last})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def health(endpoint: str, timeout: float = 2) -> dict | None:
    """The health document of the local cloud at `endpoint`, or None when nothing answers."""
    url = endpoint.rstrip("/") + "/_localcloud/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # nosec B310: the kit's configured endpoint
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


class LocalCloud:
    """A local cloud in a separate process, for tests and notebooks.

        with LocalCloud() as cloud:          # a free port unless port= is given
            iam = cloud.client("iam")        # or boto3.client("iam", **cloud.credentials.boto3_kwargs())

    `.credentials` is its per-start key (read from the file the server
    writes, checked to be this process's); `.environment()` the variables
    plain boto3 and `sam` read. `like_aws=aws_like.Settings(...)` starts it
    in the AWS-like mode. `credentials=` hands the server a key to use
    instead of a random one (`make lab` keeps one across restarts). The
    process stops (Lambda workers included) on exit, and by itself if the
    starting process dies.
    """

    def __init__(self, port: int | None = None, start_timeout: float = 30, log_file=None,
                 credentials: credentials_module.Credentials | None = None, extra_env: dict | None = None,
                 like_aws=None):
        self.port = port or free_port()
        self.like_aws = like_aws
        self.endpoint = f"http://{HOST}:{self.port}"
        self.start_timeout = start_timeout
        self.log_file = log_file
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None
        self.credentials: credentials_module.Credentials | None = credentials

    def start(self) -> "LocalCloud":
        if not port_is_free(self.port):
            raise PortInUse(self.port)
        started = time.perf_counter()
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env.update(self.extra_env)
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        if self.credentials is not None:
            env[credentials_module.ENV_KEY] = self.credentials.access_key_id
            env[credentials_module.ENV_SECRET] = self.credentials.secret_access_key
        self.proc = subprocess.Popen(  # nosec B603: this python running the kit's own module, no shell
            [sys.executable, "-m", "workshop.localcloud", "up", "--port", str(self.port),
             "--parent-pid", str(os.getpid()), *(self.like_aws.cli_args() if self.like_aws else [])],
            stdout=self.log_file or subprocess.DEVNULL, stderr=self.log_file or subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, env=env,
        )
        try:
            _wait_ready(self.endpoint, self.start_timeout, self.proc)
            self.credentials = self._read_credentials()
        except Exception:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started
        return self

    def _read_credentials(self) -> credentials_module.Credentials:
        # The server writes its key file just before it answers; the pid proves it is our child's.
        deadline = time.monotonic() + 5
        while True:
            try:
                found = credentials_module.read(self.endpoint)
                if found.pid == self.proc.pid:
                    return found
            except credentials_module.CredentialsNotFound:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local cloud at {self.endpoint} wrote no key file for its process "
                                   f"({credentials_module.path_for(self.endpoint)})")
            time.sleep(0.02)

    def client(self, service: str, **kwargs):
        """A boto3 client of `service` for this local cloud, signed with its key."""
        import boto3

        return boto3.client(service, **{**self.credentials.boto3_kwargs(), **kwargs})

    def environment(self) -> dict:
        """AWS_ENDPOINT_URL, the key and the region, for plain boto3 / sam / the AWS CLI."""
        return self.credentials.environment()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def health(self) -> dict | None:
        return health(self.endpoint)

    def __enter__(self) -> "LocalCloud":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
