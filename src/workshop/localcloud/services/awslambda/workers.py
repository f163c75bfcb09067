"""Lambda: run a deployed function's Python or Node.js handler in warm worker processes.

moto stores a function's code zip and, to invoke it, would start a Docker
container in `LambdaFunction._invoke_lambda(event) -> (payload, errored, logs)`.
That method is the single patch point (`install()`); `LambdaRuntime.invoke`
takes its place:

* the package is unzipped once per code version; a worker process
  (`worker.py`, or `worker.js` for Node.js; the same JSON-lines
  protocol) imports the handler once (the cold start) and then
  serves invocation after invocation (warm). Concurrent invocations of one
  function get more workers, as Lambda scales out sandboxes;
* the worker's environment is built from scratch, as Lambda's is: the
  function's Environment variables, the ones Lambda defines (AWS_REGION,
  AWS_LAMBDA_FUNCTION_NAME, ...), a temporary HOME, `AWS_ENDPOINT_URL`
  pointing back at the local cloud and credentials that identify the
  function's execution role (`server/identities.py` maps them back;
  CloudTrail records such calls as the assumed role, as AWS does). Nothing
  of the server's environment (the learner's shell) reaches it, and where
  bubblewrap (else Landlock) works the worker runs in a sandbox (`sandbox.py`);
* a worker's credentials (key, secret, session token) are HMACs of its
  function and role under a secret made at server start, so no other local
  user can compute them; they are in its environment only;
* the timeout is enforced: a worker that overruns is killed (a new one starts
  on the next call) and the call returns "Task timed out after N seconds";
* a worker left idle for `LOCALCLOUD_LAMBDA_IDLE_SECONDS` (default 60; 0 keeps
  them) is stopped, as Lambda retires quiet sandboxes, and the next call
  starts a new one (a cold start of tens of milliseconds): a local cloud at
  rest holds no worker processes, which halves its memory;
* an exception comes back as Lambda returns it: `{"errorType", "errorMessage",
  "stackTrace", "requestId"}` from Python, `{"errorType", "errorMessage",
  "trace"}` from Node.js, with the function-error header, so Step Functions
  Retry / Catch see the exception's class (Node.js: its name) as the error;
* START / END / REPORT lines and the handler's output go to CloudWatch Logs
  `/aws/lambda/<name>`;
* a payload that is not JSON is refused before anything runs, as Lambda
  does: 400 `InvalidRequestContentException` (moto answered a 500 page).
  Patch point: `LambdaFunction.invoke`, wrapped (`install_payload_check`).

Which interpreter, and which libraries beside the function's package (boto3
for Python, the AWS SDK for JavaScript v3 for Node.js, as Lambda ships them,
never the kit's site-packages), is `runtimes.launch_for`'s decision; a runtime
this machine cannot run is refused at CreateFunction (`runtimes.install`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import select
import shutil
import subprocess  # nosec B404: Lambda workers run as argument lists, never through a shell
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass

from ...server.identities import credentials_for
from . import layers, runtimes, sandbox

log = logging.getLogger("workshop.localcloud.lambda")

# Lambda keeps a quiet sandbox for minutes; a laptop's memory is better spent elsewhere after one.
DEFAULT_IDLE_SECONDS = 60.0


class LambdaTimeout(Exception):
    pass


# --- one worker -----------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """What decides whether a warm worker can serve a call: any change means a cold start."""

    function_arn: str
    function_name: str
    role_arn: str
    handler: str
    runtime: str
    timeout: float
    memory_size: int
    code_sha: str
    environment: tuple  # sorted (name, value) pairs
    region: str
    log_group: str
    version: str = "$LATEST"
    layers: tuple = ()  # layer version ARNs, in the function's order

    @classmethod
    def of(cls, fn) -> "FunctionSpec":
        return cls(
            function_arn=fn.function_arn, function_name=fn.function_name, role_arn=fn.role,
            handler=fn.handler or "app.handler", runtime=fn.run_time or "",
            timeout=float(fn.timeout or 3), memory_size=int(fn.memory_size or 128),
            code_sha=getattr(fn, "code_sha_256", "") or "",
            environment=tuple(sorted((fn.environment_vars or {}).items())),
            region=fn.region, log_group=fn.logs_group_name, version=str(fn.version),
            layers=tuple(layer["Arn"] if isinstance(layer, dict) else str(layer)
                         for layer in getattr(fn, "layers", None) or []),
        )


class Worker:
    """A process that imported the handler once (cold start) and serves calls (warm)."""

    def __init__(self, spec: FunctionSpec, code_dir: str, endpoint: str, launch: runtimes.Launch,
                 layer_folders: list[str] | None = None):
        self.spec = spec
        self.language = launch.language
        self.id = uuid.uuid4().hex
        date = time.strftime("%Y/%m/%d", time.gmtime())
        self.log_stream = f"{date}/[{spec.version}]{self.id}"
        self.interpreter = launch.executable
        self.note = launch.note
        layer_folders = layer_folders or []
        # Without bubblewrap HOME is a fresh folder of its own (the one a Landlock fence lets it write);
        # inside bubblewrap, the private /tmp.
        sandboxed = sandbox.mode() == sandbox.BUBBLEWRAP
        self.home = None if sandboxed else tempfile.mkdtemp(prefix="localcloud-home-")
        command, task_root = sandbox.wrap(list(launch.command), code_dir,
                                          read_only=list(launch.read_only) + layer_folders,
                                          writable=[self.home] if self.home else [])
        # Built from scratch: nothing of the learner's shell (AWS keys, tokens, HOME) reaches the code.
        inside = "/tmp"  # nosec B108: the sandbox's own private tmpfs, as Lambda's /tmp
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC",
               "HOME": inside if sandboxed else self.home, "TMPDIR": inside if sandboxed else self.home}
        env.update({str(k): str(v) for k, v in spec.environment})
        env.update(launch.environment)
        version = spec.runtime[len("python"):] if spec.runtime.startswith("python") else ""
        layer_paths = layers.search_paths(layer_folders, launch.language, version)
        if layer_paths and launch.language == "nodejs":  # after the function's own node_modules, before the SDK
            env["NODE_PATH"] = os.pathsep.join(layer_paths + [env.get("NODE_PATH", "")]).rstrip(os.pathsep)
        env.update({
            "_HANDLER": spec.handler,
            "_LOCALCLOUD_LAYER_PATHS": os.pathsep.join(layer_paths) if launch.language == "python" else "",
            "LAMBDA_TASK_ROOT": task_root,
            "_LOCALCLOUD_EXTRA_PATH": launch.libraries,
            "_LOCALCLOUD_FUNCTION_ARN": spec.function_arn,
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout)),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_ENDPOINT_URL": endpoint,
            **credentials_for(spec.function_arn, spec.role_arn, spec.function_name).environment(),
        })
        started = time.perf_counter()
        self.proc = subprocess.Popen(  # nosec B603: the kit's worker script under the function's python, no shell
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, cwd=code_dir,
        )
        self._buffer = b""
        ready = self._read_line(timeout=max(10.0, spec.timeout))
        self.init_ms = ready.get("init_ms", (time.perf_counter() - started) * 1000)
        self.cold_start_ms = (time.perf_counter() - started) * 1000
        self.init_logs = ready.get("logs", "")
        self.init_error = None if ready.get("ready") else ready.get("error")
        self.first_call = True
        self.memory_pid: int | None = None  # the process whose peak is the function's (_peak_memory_mb)
        self.last_used = time.monotonic()
        log.info("cold start of %s with %s (%.0f ms)", spec.function_name, self.interpreter, self.cold_start_ms)

    def _read_line(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LambdaTimeout()
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return {"ready": False, "ok": False, "error": {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: ? Error: Runtime exited with error: exit status {self.proc.poll()}"}}
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def call(self, event, request_id: str) -> dict:
        deadline = time.time() + self.spec.timeout
        request = json.dumps({"event": event, "request_id": request_id, "deadline": deadline}) + "\n"
        self.proc.stdin.write(request.encode())
        self.proc.stdin.flush()
        return self._read_line(timeout=self.spec.timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stdin):
            try:
                stream.close()
            except OSError:
                pass
        if self.home:
            shutil.rmtree(self.home, ignore_errors=True)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stop()


# --- the runtime ------------------------------------------------------------------


class LambdaRuntime:
    """Warm worker pools, one per function configuration."""

    def __init__(self, endpoint: str, spawn_per_invoke: bool = False, max_workers: int | None = None):
        self.endpoint = endpoint
        self.spawn_per_invoke = spawn_per_invoke  # benchmarks: a fresh process per call
        # Lambda scales out a sandbox per concurrent call; on a laptop each one is a
        # Python process, so past this many per function a call waits for a warm one.
        self.max_workers = max_workers or int(os.environ.get("LOCALCLOUD_LAMBDA_MAX_WORKERS", 0)) \
            or max(2, os.cpu_count() or 2)
        self._idle: dict[FunctionSpec, list[Worker]] = {}
        self._busy: set[Worker] = set()
        self._starting: dict[FunctionSpec, int] = {}
        self._lock = threading.Lock()
        # One queue per function configuration: a freed sandbox wakes one caller of that
        # function, not every waiting caller of every function (a burst's GIL churn).
        self._turns: dict[FunctionSpec, threading.Condition] = {}
        self._code_root = tempfile.mkdtemp(prefix="localcloud-lambda-")
        self._setup_lock = threading.Lock()
        self._notes_said: set[str] = set()
        self.cold_starts = 0
        self._isolation_said = False
        idle = os.environ.get("LOCALCLOUD_LAMBDA_IDLE_SECONDS")
        self.idle_seconds = DEFAULT_IDLE_SECONDS if idle in (None, "") else float(idle)
        self.idle_stops = 0
        self._closing = threading.Event()
        self._reaper: threading.Thread | None = None

    # code -------------------------------------------------------------------------
    def _code_dir(self, fn, spec: FunctionSpec) -> str:
        code = getattr(fn, "code_bytes", b"") or b""
        key = spec.code_sha or hashlib.sha256(code).hexdigest()
        target = os.path.join(self._code_root,
                              hashlib.sha1(f"{spec.function_arn}|{key}".encode(), usedforsecurity=False).hexdigest())
        if not os.path.isdir(target):
            staging = tempfile.mkdtemp(dir=self._code_root)
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                archive.extractall(staging)
            try:
                os.rename(staging, target)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)  # another thread won the race
        return target

    # workers ----------------------------------------------------------------------
    def _turn(self, spec: FunctionSpec) -> threading.Condition:
        turn = self._turns.get(spec)  # under self._lock
        if turn is None:
            turn = self._turns[spec] = threading.Condition(self._lock)
        return turn

    def _acquire(self, fn, spec: FunctionSpec) -> Worker:
        with self._lock:
            stale = [s for s in self._idle if s.function_arn == spec.function_arn and s != spec]
            for old in stale:  # the function was updated: its old sandboxes are gone
                for worker in self._idle.pop(old):
                    worker.stop()
            while True:
                pool = self._idle.setdefault(spec, [])
                while pool:
                    worker = pool.pop()
                    if worker.alive():
                        self._busy.add(worker)
                        return worker
                running = sum(1 for w in self._busy if w.spec == spec) + self._starting.get(spec, 0)
                if self.spawn_per_invoke or running < self.max_workers:
                    self._starting[spec] = self._starting.get(spec, 0) + 1
                    break
                self._turn(spec).wait(timeout=1)
        try:
            with self._setup_lock:  # once per runtime, whichever call comes first
                if not self._isolation_said:
                    self._isolation_said = True
                    log.warning("Lambda isolation: %s", self.isolation)
                launch = runtimes.launch_for(spec.runtime, getattr(fn, "package_type", None),
                                             kit_links=os.path.join(self._code_root, "kit-libraries"))
                if launch.note and launch.note not in self._notes_said:
                    self._notes_said.add(launch.note)
                    log.warning("%s", launch.note)
            folders = layers.contents(fn, self._code_root)
            worker = Worker(spec, self._code_dir(fn, spec), self.endpoint, launch, folders)
        except BaseException:
            with self._lock:
                self._starting[spec] -= 1
                self._turn(spec).notify()  # the place it held is free again
            raise
        with self._lock:  # one step: a waiter never sees it neither starting nor busy
            self._starting[spec] -= 1
            self.cold_starts += 1
            self._busy.add(worker)
        return worker

    def _release(self, worker: Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            if self.spawn_per_invoke or not worker.alive():
                worker.stop()
            else:
                worker.last_used = time.monotonic()
                self._idle.setdefault(worker.spec, []).append(worker)
                self._start_reaper()
            self._turn(worker.spec).notify()

    @property
    def sandbox(self) -> str:
        """bubblewrap, landlock or environment (the health answer says which); probed at first use, not at
        start: the probe runs bwrap once."""
        return sandbox.mode()

    @property
    def isolation(self) -> str:
        """In the health answer; said in the log at the first cold start."""
        return sandbox.isolation()

    def _start_reaper(self) -> None:
        if self.idle_seconds > 0 and self._reaper is None:  # under self._lock
            self._reaper = threading.Thread(target=self._reap, name="lambda-idle-workers", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        every = min(10.0, max(0.05, self.idle_seconds / 4))
        while not self._closing.wait(every):
            self.stop_idle_workers()

    def stop_idle_workers(self, older_than: float | None = None) -> int:
        """Stop the warm workers unused for `older_than` seconds (default: the idle setting); how many."""
        limit = self.idle_seconds if older_than is None else older_than
        now = time.monotonic()
        quiet = []
        with self._lock:
            for spec, pool in list(self._idle.items()):
                keep = [w for w in pool if now - w.last_used < limit]
                quiet += [w for w in pool if now - w.last_used >= limit]
                self._idle[spec] = keep
            self.idle_stops += len(quiet)
        for worker in quiet:  # outside the lock: a call that comes meanwhile starts a fresh worker
            worker.stop()
        if quiet:
            log.info("stopped %d idle Lambda worker(s)", len(quiet))
        return len(quiet)

    def _discard(self, worker: Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            self._turn(worker.spec).notify()
        worker.kill()

    def shutdown(self) -> None:
        """Stop every worker (warm and busy) and remove the unpacked code."""
        self._closing.set()
        with self._lock:
            workers = [w for pool in self._idle.values() for w in pool] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.kill()
        shutil.rmtree(self._code_root, ignore_errors=True)

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for pool in self._idle.values() for w in pool] + [w.proc.pid for w in self._busy]

    # invoke -----------------------------------------------------------------------
    def invoke(self, fn, event) -> tuple[str, bool, str]:
        """What moto's `_invoke_lambda` returns: (payload text, errored, log text)."""
        spec = FunctionSpec.of(fn)
        request_id = str(uuid.uuid4())
        if isinstance(event, (str, bytes)):
            try:
                event = json.loads(event or "{}")
            except ValueError:
                pass
        try:
            worker = self._acquire(fn, spec)
        except (runtimes.UnsupportedRuntime, layers.UnknownLayer) as exc:  # its Python / Node.js or a layer is gone
            raise runtime_unavailable(str(exc)) from None
        started = time.perf_counter()  # Lambda bills the handler, not the wait for a free sandbox
        init_ms = worker.init_ms if worker.first_call else None
        worker.first_call = False
        lines = [f"INIT_START Runtime Version: {spec.runtime} Interpreter: {worker.interpreter}"] if init_ms else []
        if init_ms and worker.note:
            lines.append(f"[WARNING] {worker.note}")
        lines += [line for line in worker.init_logs.splitlines()] if init_ms else []
        lines.append(f"START RequestId: {request_id} Version: {spec.version}")
        if worker.init_error:
            self._discard(worker)
            error = dict(worker.init_error)
            error["errorType"] = "Runtime.ImportModuleError" if "Import" in error.get("errorType", "") \
                or "ModuleNotFound" in error.get("errorType", "") else error.get("errorType")
            reply = {"ok": False, "error": error, "logs": ""}
            timed_out = False
        else:
            try:
                reply = worker.call(event, request_id)
                timed_out = False
                self._release(worker)
            except LambdaTimeout:
                timed_out = True
                self._discard(worker)  # kill the overrunning sandbox; the next call starts a fresh one
                reply = {"ok": False, "logs": "", "error": {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds",
                }}
            except (OSError, ValueError) as exc:
                self._discard(worker)
                timed_out = False
                reply = {"ok": False, "logs": "", "error": {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited: {exc}"}}
        duration_ms = (time.perf_counter() - started) * 1000
        lines += reply.get("logs", "").splitlines()
        if not reply.get("ok"):
            error = reply["error"]
            if timed_out:
                lines.append(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}Z {request_id} "
                             f"Task timed out after {spec.timeout:.2f} seconds")
            elif worker.language == "python":
                lines.append(f"[ERROR] {error.get('errorType')}: {error.get('errorMessage')}")
                lines += [f"  {frame.rstrip()}" for frame in error.get("stackTrace", [])]
            elif worker.init_error:  # a Node.js worker logs its own invoke errors, not a failed init
                lines.append(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}Z\tundefined\tERROR\t"
                             f"Uncaught Exception \t{json.dumps(error)}")
        lines.append(f"END RequestId: {request_id}")
        report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                  f"Billed Duration: {int(duration_ms) + 1} ms\tMemory Size: {spec.memory_size} MB\t"
                  f"Max Memory Used: {_peak_memory_mb(worker)} MB")
        if init_ms:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        lines.append(report)
        self._save_logs(fn, worker.log_stream, lines)
        logs = "\n".join(lines)
        if reply.get("ok"):
            return json.dumps(reply.get("result")), False, logs
        error = dict(reply["error"])
        if worker.language == "python":  # Node.js errors carry no request id
            error["requestId"] = request_id
        return json.dumps(error), True, logs

    @staticmethod
    def _save_logs(fn, stream: str, lines: list[str]) -> None:
        try:
            backend = fn.logs_backend
            backend.ensure_log_group(fn.logs_group_name)
            backend.ensure_log_stream(fn.logs_group_name, stream)
            now = int(time.time() * 1000)
            backend.put_log_events(fn.logs_group_name, stream,
                                   [{"timestamp": now, "message": line} for line in lines if line])
        except Exception:  # logs must never break an invocation
            log.exception("could not write the logs of %s", fn.function_name)


def runtime_unavailable(message: str):
    """The 502 Lambda answers when a function's runtime cannot start (InvalidRuntimeException)."""
    from moto.awslambda.exceptions import LambdaClientError

    error = LambdaClientError("InvalidRuntimeException", message)
    error.code = 502
    return error


def _peak_memory_mb(worker: Worker) -> int:
    """The function's peak resident memory (Linux /proc), 0 where unknown.

    The worker's process is bubblewrap's where the sandbox is on: the function runs in a process under
    it, the one with the largest peak of the worker's process and what runs under it. That process is
    found once per worker; each later invocation reads its peak alone.
    """
    peak = _peak_kb(worker.memory_pid) if worker.memory_pid else 0
    if not peak:
        worker.memory_pid, peak = _largest_peak(worker.proc.pid)
    return peak // 1024


def _largest_peak(pid: int) -> tuple[int, int]:
    """(pid, peak in kB) of the process with the largest peak among `pid` and the processes under it."""
    largest, seen, todo = (pid, 0), set(), [pid]
    while todo and len(seen) < 16:  # a sandbox and its interpreter: a few processes
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        peak = _peak_kb(current)
        if peak > largest[1]:
            largest = (current, peak)
        todo += _children(current)
    return largest


def _peak_kb(pid: int) -> int:
    try:  # read whole and searched as bytes: every invocation's REPORT line asks, under the GIL
        with open(f"/proc/{pid}/status", "rb") as status:
            text = status.read()
        start = text.index(b"VmHWM:") + 6
        return int(text[start:text.index(b"kB", start)])
    except (OSError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as children:
            return [int(child) for child in children.read().split()]
    except (OSError, ValueError):
        return []


# --- the patch point -----------------------------------------------------------------

_runtime: LambdaRuntime | None = None


def seam():
    """moto's Lambda invoke seam; a test pins it (fails loudly if moto moves it)."""
    from moto.awslambda.models import LambdaFunction

    return LambdaFunction, "_invoke_lambda"


def install(endpoint: str, spawn_per_invoke: bool = False) -> LambdaRuntime:
    """Route moto's `LambdaFunction._invoke_lambda` (Docker) to warm local workers."""
    global _runtime
    from moto.core.config import default_user_config

    cls, name = seam()
    if not hasattr(cls, name):
        raise RuntimeError(f"moto moved {cls.__name__}.{name}: the local Lambda runtime needs a new seam")
    if _runtime is not None:
        _runtime.shutdown()
    _runtime = LambdaRuntime(endpoint, spawn_per_invoke=spawn_per_invoke)

    def _invoke_lambda(self, event=None):
        return _runtime.invoke(self, event)

    _invoke_lambda.__doc__ = "workshop.localcloud.services.awslambda.workers: run the handler in a warm local worker."
    setattr(cls, name, _invoke_lambda)
    install_payload_check()
    runtimes.install()
    layers.install()
    # moto's "lambda-simple" backend (use_docker=False) never calls the seam: keep the real one.
    default_user_config.setdefault("lambda", {})["use_docker"] = True
    return _runtime


def runtime() -> LambdaRuntime | None:
    return _runtime


def invalid_payload(body) -> str | None:
    """Why Lambda would refuse this Invoke payload (not JSON), or None when it is fine."""
    if body is None or body == "" or body == b"":
        return None
    try:
        json.loads(body)
    except ValueError as exc:  # UnicodeDecodeError included
        return f"Could not parse request body into json: Could not parse payload into json: {exc}"
    return None


def install_payload_check() -> None:
    """A payload that is not JSON: 400 InvalidRequestContentException, as Lambda answers.

    moto's `LambdaFunction.invoke` parses the payload itself and a bad one ended
    in a 500 page; the wrapper refuses it first and leaves every good payload
    to the original.
    """
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.invoke
    if getattr(original, "_localcloud", False):
        return

    def invoke(self, body, request_headers, response_headers):
        problem = invalid_payload(body)
        if problem is not None:
            raise LambdaClientError("InvalidRequestContentException", problem)
        return original(self, body, request_headers, response_headers)

    invoke._localcloud = True
    invoke.__wrapped__ = original
    LambdaFunction.invoke = invoke


# --- Invoke's answer, as Lambda's ------------------------------------------------------------


def install_function_error_unhandled() -> None:
    """A function's exception: `X-Amz-Function-Error: Unhandled`, as Lambda answers (`lambda-function-error-unhandled`).

    moto answered `Handled`. Patch point: `LambdaFunction.invoke`, wrapped.
    """
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.invoke

    def invoke(self, body, request_headers, response_headers):
        payload = original(self, body, request_headers, response_headers)
        if response_headers.get("x-amz-function-error") == "Handled":
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    invoke.__wrapped__ = original
    LambdaFunction.invoke = invoke


def executed_version_seam():
    from moto.awslambda.responses import LambdaResponse

    return LambdaResponse, "invoke"


def install_executed_version() -> None:
    """Invoke answers `X-Amz-Executed-Version` (`lambda-executed-version`): boto3's `ExecutedVersion`,
    and the Step Functions `lambda:invoke` task's. moto sent no such header."""
    from urllib.parse import unquote

    cls, name = executed_version_seam()
    original = getattr(cls, name)
    if getattr(original, "_localcloud", False):
        return

    def invoke(self):
        status, headers, body = original(self)
        if status == 200:  # RequestResponse: AWS names the version that ran ($LATEST, or the alias's)
            function_name = unquote(self.path.rsplit("/", 2)[-2])
            try:
                qualifier = self._get_param("qualifier") or (self.querystring.get("Qualifier") or [None])[0]
                version = self.backend.get_function(function_name, qualifier).version
            except Exception:  # answered already; the header is only missing
                version = None
            if version is not None:
                headers["X-Amz-Executed-Version"] = str(version)
        return status, headers, body

    invoke._localcloud = True
    invoke.__wrapped__ = original
    setattr(cls, name, invoke)
