"""One warm Lambda sandbox: a process that imports a handler once and runs it per request.

Started by `workers.Worker` with the function's environment. It speaks
JSON lines on its original stdout (fd 1 is re-pointed to stderr so nothing the
handler writes can corrupt the protocol); the handler's prints and log records
are captured per invocation and sent back with the result.

Stand-alone on purpose: it may run under another interpreter (python3.13 for
a python3.13 function) and imports nothing from the kit.

    -> {"ready": true, "init_ms": 12.3} | {"ready": false, "error": {...}}
    <- {"event": ..., "request_id": "...", "deadline": epoch_seconds}
    -> {"ok": true, "result": ...} | {"ok": false, "error": {...}}, with "logs"
"""

import importlib
import io
import json
import logging
import os
import sys
import time
import traceback


def _error(exc: BaseException, skip_frames: bool = False) -> dict:
    tb = exc.__traceback__
    if skip_frames and tb is not None and tb.tb_next is not None:
        tb = tb.tb_next  # start at the handler, as Lambda does
    frames = traceback.extract_tb(tb)
    try:
        stack = traceback.format_list(frames)
    except SystemError:
        # Python 3.13.0's traceback parses each line to place its carets, and that parse can fail with
        # "AST constructor recursion depth mismatch" (a CPython bug); it must not hide the handler's own error.
        stack = [f'  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}\n' for f in frames]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": stack,
    }


class _Context:
    """The parts of the Lambda context object handlers use."""

    def __init__(self, request_id: str, deadline: float):
        self.aws_request_id = request_id
        self._deadline = deadline
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("_LOCALCLOUD_FUNCTION_ARN", "")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


class _CurrentStdout(logging.StreamHandler):
    """Writes to whatever sys.stdout is now (the per-invocation capture)."""

    def __init__(self):
        super().__init__(sys.stdout)

    def emit(self, record):
        self.stream = sys.stdout
        super().emit(record)


def main() -> int:
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # stray writes to fd 1 go to stderr, never into the protocol
    requests = sys.stdin

    code_dir, handler_spec = os.environ["LAMBDA_TASK_ROOT"], os.environ["_HANDLER"]
    sys.path.insert(0, code_dir)
    # the layers' folders (what Lambda extracts to /opt): after the package, before the runtime's boto3
    for position, folder in enumerate(filter(None, os.environ.get("_LOCALCLOUD_LAYER_PATHS", "").split(os.pathsep))):
        sys.path.insert(1 + position, folder)
    for extra in filter(None, os.environ.get("_LOCALCLOUD_EXTRA_PATH", "").split(os.pathsep)):
        sys.path.append(extra)  # after the package: a function's own boto3 wins, as on Lambda
    os.chdir(code_dir)

    root = logging.getLogger()
    root.setLevel(logging.WARNING)  # as on Lambda: print() and warnings show, INFO does not
    handler_out = _CurrentStdout()
    handler_out.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(message)s"))
    root.addHandler(handler_out)

    started = time.perf_counter()
    capture = io.StringIO()
    sys.stdout = capture
    try:
        module_name, _, function_name = handler_spec.rpartition(".")
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # the init phase failed: say so once, then exit
        sys.stdout = sys.__stdout__
        protocol.write(json.dumps({"ready": False, "error": _error(exc), "logs": capture.getvalue()}) + "\n")
        return 1
    finally:
        sys.stdout = sys.__stdout__
    protocol.write(json.dumps({"ready": True, "init_ms": (time.perf_counter() - started) * 1000,
                               "logs": capture.getvalue()}) + "\n")

    for line in requests:
        request = json.loads(line)
        capture = io.StringIO()
        sys.stdout = capture
        try:
            result = handler(request["event"], _Context(request["request_id"], request["deadline"]))
            reply = {"ok": True, "result": result}
            json.dumps(reply)
        except Exception as exc:
            reply = {"ok": False, "error": _error(exc, skip_frames=True)}
        finally:
            sys.stdout = sys.__stdout__
        reply["logs"] = capture.getvalue()
        try:
            protocol.write(json.dumps(reply, default=str) + "\n")
        except (TypeError, ValueError) as exc:
            protocol.write(json.dumps({"ok": False, "error": _error(exc), "logs": reply["logs"]}) + "\n")
    return 0


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which closes our stdin
    sys.exit(main())
