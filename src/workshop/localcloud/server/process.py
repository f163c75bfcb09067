"""The local cloud as a process: start it, find out whether it answers, stop it.

`serve(port)` runs the local cloud in this process: it binds 127.0.0.1:port
at once (the health check answers while moto loads in the background, see
`app.LocalCloudApp.load_in_background`), writes the per-start key file
(credentials.py) and serves until SIGINT / SIGTERM (or until the process
that started it is gone, with `parent_pid`), then stops its Lambda workers.

`LocalCloud(port=None)` starts that server as a separate process
(`python -m workshop.localcloud up`), waits until it answers and stops it on
exit; `.endpoint` is what boto3 / `sam` need as `AWS_ENDPOINT_URL`.

`serve(port, like_aws=Settings(...))` (`workshop local up --like-aws`) adds
the AWS-like mode (aws_like.py): CloudTrail events only through a trail and
late, e-mail subscriptions that wait for confirmation, TestState's role
checked, IAM reads that lag behind writes, Lambda's concurrency quota, failed
stacks that can only be deleted, definitions used a few seconds late.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import subprocess  # nosec B404: starts the local cloud as an argument list, never through a shell
import sys
import threading
import time
import urllib.error
import urllib.request

from . import credentials as credentials_module
from . import heap, speedups
from .address import ACCOUNT_ID, DEFAULT_PORT, HEALTH_PATH, HOST, REGION, endpoint_for
from .app import make_app

log = logging.getLogger("workshop.localcloud")


class PortInUse(Exception):
    def __init__(self, port: int):
        super().__init__(
            f"port {port} on {HOST} is already in use: is a local cloud already running "
            f"(`workshop local up`)? Stop it, or choose another port with --port N."
        )
        self.port = port


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


def serve(port: int = DEFAULT_PORT, parent_pid: int | None = None, announce=print, like_aws=None,
          iam: bool = True) -> int:
    """Run the local cloud in this process until SIGINT / SIGTERM; 0 on a clean stop.

    `iam=False` (`--no-iam`) serves every request without evaluating IAM's policies.
    """
    if not port_is_free(port):
        raise PortInUse(port)
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    _not_dumpable()
    speedups.without_iri_syntax_checker()
    credentials = credentials_module.new(endpoint_for(port))
    if like_aws is not None and like_aws.learner_policies:
        from ..aws_like import LEARNER_USER

        credentials = credentials_module.with_learner(credentials, f"arn:aws:iam::{ACCOUNT_ID}:user/{LEARNER_USER}")
    # A key handed over by the starting process is not left for Lambda workers or children to find.
    os.environ.pop(credentials_module.ENV_KEY, None)
    os.environ.pop(credentials_module.ENV_SECRET, None)
    app = make_app(port, background=True, credentials=credentials, like_aws=like_aws, iam=iam)
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
    _wait_ready(endpoint_for(port), timeout=60)
    announce(f"Local cloud ready at http://{HOST}:{port} (its key: {key_file}; "
             f"for your shell: {credentials_module.env_line(port)})", flush=True)
    _warn_without_sandbox()
    if not iam:
        announce("IAM policies are not evaluated (--no-iam): every signed request is served.", flush=True)
    if like_aws is not None:
        low, high = like_aws.event_delay
        announce(f"AWS-like mode: CloudTrail events only through a logging trail, {low:g}-{high:g} s late; "
                 f"e-mail subscriptions wait for confirmation (tokens last two days of {like_aws.day_length:g} s); "
                 f"TestState checks its role; IAM reads lag {like_aws.iam_lag:g} s behind creations; Lambda "
                 f"concurrency {like_aws.lambda_concurrency_limit}; a failed stack can only be deleted; a new "
                 f"state machine definition is used after {like_aws.definition_lag:g} s.", flush=True)
        if like_aws.learner_policies:
            announce(f"You are the IAM user {credentials.learner_arn}, holding "
                     f"{', '.join(like_aws.learner_policies)}; `workshop local env` gives your key.", flush=True)
    try:
        while not stop.wait(0.5):
            if parent_pid and not _alive(parent_pid):
                log.info("the process that started the local cloud is gone: stopping")
                break
    finally:
        server.shutdown()
        server.server_close()
        app.heap.stop()
        credentials_module.remove(credentials)
        if app.lambda_runtime is not None:
            app.lambda_runtime.shutdown()
        announce("Local cloud stopped.", flush=True)
    return 0


def _warn_without_sandbox() -> None:
    """Say loudly, on stderr and in the log, when Lambda functions run without bubblewrap's sandbox."""
    from ..services.awslambda import sandbox

    warning = sandbox.warning()
    if warning:
        print(warning, file=sys.stderr, flush=True)
        log.warning("%s", warning)


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
    url = endpoint + HEALTH_PATH
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
    url = endpoint.rstrip("/") + HEALTH_PATH
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # nosec B310: the kit's configured endpoint
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def running_local_clouds(exclude: str | None = None, timeout: float = 1) -> list:
    """The endpoints of this user's local clouds that answer now (from their key files), but `exclude`:
    where a learner's typo in a port can be pointed at the local cloud they meant."""
    found = []
    for path in sorted(credentials_module.state_dir().glob("localcloud-*.json")):
        try:
            endpoint = json.loads(path.read_text()).get("endpoint")
        except (OSError, ValueError):
            continue
        if isinstance(endpoint, str) and endpoint.rstrip("/") != (exclude or "").rstrip("/") \
                and health(endpoint, timeout=timeout) is not None:
            found.append(endpoint.rstrip("/"))
    return found


class LocalCloud:
    """A local cloud in a separate process, for tests and notebooks.

        with LocalCloud() as cloud:          # a free port unless port= is given
            iam = cloud.client("iam")        # or boto3.client("iam", **cloud.credentials.boto3_kwargs())

    `.credentials` is its per-start key (read from the file the server
    writes, checked to be this process's); `.environment()` the variables
    plain boto3 and `sam` read. `like_aws=aws_like.Settings(...)` starts it
    in the AWS-like mode, `iam=False` without IAM evaluation (`--no-iam`);
    `verbose=True` logs every request line to `log_file` (`workshop local up
    --verbose`). `credentials=` hands the server a key to use
    instead of a random one (`make lab` keeps one across restarts). The
    process stops (Lambda workers included) on exit, and by itself if the
    starting process dies.
    """

    def __init__(self, port: int | None = None, start_timeout: float = 30, log_file=None,
                 credentials: credentials_module.Credentials | None = None, extra_env: dict | None = None,
                 like_aws=None, verbose: bool = False, iam: bool = True):
        self.port = port or free_port()
        self.verbose = verbose
        self.like_aws = like_aws
        self.iam = iam
        self.endpoint = endpoint_for(self.port)
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
        import workshop

        src = os.path.dirname(os.path.dirname(os.path.abspath(workshop.__file__)))
        env = dict(os.environ)
        env.update(self.extra_env)
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        if self.credentials is not None:
            env[credentials_module.ENV_KEY] = self.credentials.access_key_id
            env[credentials_module.ENV_SECRET] = self.credentials.secret_access_key
        self.proc = subprocess.Popen(  # nosec B603: this python running the kit's own module, no shell
            [sys.executable, "-m", "workshop.localcloud", "up", "--port", str(self.port),
             "--parent-pid", str(os.getpid()), *(self.like_aws.cli_args() if self.like_aws else []),
             *(["--verbose"] if self.verbose else []), *([] if self.iam else ["--no-iam"])],
            stdout=self.log_file or subprocess.DEVNULL, stderr=self.log_file or subprocess.DEVNULL,
            stdin=subprocess.DEVNULL, env=env,
            # Its own session: a Ctrl-C in the starter's terminal reaches the starter, which stops the server
            # (`stop`). Had the server got the signal too, it would be gone before the starter knew it was
            # stopping, and a supervisor (supervisor.py) would take that for a crash and start it again.
            start_new_session=True,
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
