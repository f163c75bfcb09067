"""Compiled bytecode of the runtime libraries (boto3 & co.) for each worker interpreter.

A Lambda worker imports boto3 from the runtime-library folder
(`lambda_runtime.runtime_libraries`), whose files live in the kit's own
environment: their `__pycache__` holds bytecode for the kit's Python only.
A python3.13 worker found none, compiled boto3 and botocore from source at
every cold start and threw the result away (workers run with `-B`): about
0.2 s of CPU of a 0.4 s cold start, paid again by each worker a burst of
incidents scales out.

`prefix_for(interpreter, library_dir)` makes, once per interpreter, a
bytecode tree (Python's `pycache_prefix`, keyed by the source's path and by
the interpreter's own cache tag) by importing boto3 and making a client with
that interpreter, outside any sandbox, as the server. Sandboxed workers get
the tree read-only (`-X pycache_prefix=...`, and still `-B`): a function
cannot write bytecode another function would load. (Without a sandbox a
function can write wherever the learner can, this tree included, as it could
the other functions' code before.) Python checks each file's recorded
source size and time, so a changed library is compiled afresh, never run
stale. None when the warm-up fails: workers then compile as before.
"""

from __future__ import annotations

import logging
import os
import subprocess  # nosec B404: runs a worker interpreter on a fixed script, never through a shell
import threading

log = logging.getLogger("workshop.localcloud.lambda")

_WARM_UP = ("import sys; sys.path.insert(0, sys.argv[1]); import boto3; "
            "boto3.session.Session().client('sts', region_name='us-east-1')")
_lock = threading.Lock()
_prefixes: dict[tuple[str, str], str | None] = {}


def prefix_for(interpreter: str, library_dir: str, root: str) -> str | None:
    """The bytecode tree for `interpreter`'s workers (made under `root` on first use), or None."""
    key = (interpreter, library_dir)
    with _lock:
        if key not in _prefixes:
            _prefixes[key] = _make(interpreter, library_dir, root)
        return _prefixes[key]


def _make(interpreter: str, library_dir: str, root: str) -> str | None:
    prefix = os.path.join(root, "bytecode", str(len(_prefixes)))
    os.makedirs(prefix, exist_ok=True)
    try:
        done = subprocess.run(  # nosec B603: the worker interpreter importing boto3, a fixed argument list
            [interpreter, "-I", "-S", "-X", f"pycache_prefix={prefix}", "-c", _WARM_UP, library_dir],
            capture_output=True, timeout=60, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("no bytecode cache for %s: %s", interpreter, exc)
        return None
    if done.returncode != 0:
        log.warning("no bytecode cache for %s: %s", interpreter, done.stderr.decode(errors="replace")[-300:])
        return None
    return prefix


def reset() -> None:
    with _lock:
        _prefixes.clear()
