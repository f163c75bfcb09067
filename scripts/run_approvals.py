#!/usr/bin/env python
"""`make approvals`: the approvals dashboard for a workshop leader's screen, served by Voilà.

Serves notebooks/dashboard/approvals.ipynb (the approval panel, refreshed
every few seconds, with recent decisions and executions) on 127.0.0.1, prints
its URL and runs until Ctrl-C (or SIGTERM), then stops Voilà and its kernel.

    .venv/bin/python scripts/run_approvals.py                       # the local cloud on :4566
    .venv/bin/python scripts/run_approvals.py --endpoint http://127.0.0.1:4567 --stack-name my-stack
    .venv/bin/python scripts/run_approvals.py --target aws          # your account, us-east-1

Defaults come from WORKSHOP_ENDPOINT, WORKSHOP_STACK and WORKSHOP_TARGET.
Only the page's URL (with its token) can press the buttons.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# The same port checks as the local cloud (both bind 127.0.0.1 only).
from workshop.localcloud import free_port, port_is_free

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "dashboard" / "approvals.ipynb"
HOST = "127.0.0.1"
DEFAULT_PORT = 8866


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_approvals.py", description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("local", "aws"), default=os.environ.get("WORKSHOP_TARGET", "local"))
    parser.add_argument("--endpoint", default=os.environ.get("WORKSHOP_ENDPOINT", "http://127.0.0.1:4566"),
                        help="the local cloud's URL (default $WORKSHOP_ENDPOINT or http://127.0.0.1:4566)")
    parser.add_argument("--stack-name", default=os.environ.get("WORKSHOP_STACK", "security-orchestrator"))
    parser.add_argument("--port", type=int, default=None,
                        help=f"the dashboard's port (default {DEFAULT_PORT}, or a free one if taken; 0: a free one)")
    parser.add_argument("--refresh", type=float, default=5.0, help="seconds between refreshes (default 5)")
    return parser.parse_args(argv)


def check_target(args) -> str | None:
    """A warning when the local cloud does not answer (the page then says what to do, and retries)."""
    if args.target != "local":
        return None
    try:
        with urllib.request.urlopen(args.endpoint.rstrip("/") + "/_localcloud/health", timeout=3):
            return None
    except (urllib.error.URLError, OSError):
        return (f"Warning: no local cloud answers at {args.endpoint}: start it with `make local` "
                "(or `make lab`) and deploy the stack (notebook 01); the dashboard shows the incidents once it is up.")


def wait_for_voila(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Voilà exited during start-up (code {process.returncode}); its messages are above.")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"Voilà did not answer at {url} within {timeout:.0f} s.")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM: Voilà stops its loop and shuts its kernels down; kill it if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.port is None:
        port = DEFAULT_PORT if port_is_free(DEFAULT_PORT) else free_port()
    else:
        port = args.port or free_port()
        if not port_is_free(port):
            print(f"run_approvals.py: port {port} on {HOST} is in use: choose another with --port N "
                  "(or --port 0 for a free one).", file=sys.stderr)
            return 1
    warning = check_target(args)
    if warning:
        print(warning, flush=True)
    token = secrets.token_hex(16)
    env = dict(os.environ, WORKSHOP_TARGET=args.target, WORKSHOP_ENDPOINT=args.endpoint,
               WORKSHOP_STACK=args.stack_name, WORKSHOP_REFRESH_SECONDS=str(args.refresh))
    command = [sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}",
               f"--Voila.ip={HOST}", "--Voila.port_retries=0", f"--Voila.token={token}", "--show_tracebacks=True",
               "--theme=light"]
    process = subprocess.Popen(command, cwd=NOTEBOOK.parent, env=env, stdin=subprocess.DEVNULL)

    stopping = []

    def _on_signal(signum, frame):
        stopping.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _on_signal)
    try:
        base = f"http://{HOST}:{port}/"
        wait_for_voila(base + f"api/status?token={token}", process)  # answers before any kernel starts
        print(f"Approvals dashboard for stack {args.stack_name} ({args.target}"
              f"{' ' + args.endpoint if args.target == 'local' else ''}): {base}?token={token}", flush=True)
        print("Open it in a browser; Ctrl-C stops it.", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"run_approvals.py: {exc}", file=sys.stderr)
        return 1
    finally:
        stop(process)
        signal.signal(signal.SIGTERM, previous)
        print("Approvals dashboard stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
