"""Where a Lambda worker runs: a bubblewrap sandbox, else a Landlock fence, else its own environment only.

A function's code is whatever the learner deployed, perhaps a public SAM
application they did not read. On AWS it runs in a micro-VM that sees its
code package, /tmp and its own environment. Here it runs as the learner, so:

* always: the worker's environment is built from scratch (`workers.py`:
  the function's variables, the ones Lambda defines, the endpoint and the
  worker's own credentials) with a temporary HOME, and the server process is
  made non-dumpable (`server/process.py`) so other processes of this user
  cannot read its /proc/<pid>/environ;
* with bubblewrap (`bwrap`, Debian's `bubblewrap` package, which `make setup`
  installs where it can) and Linux user namespaces: the worker runs in new
  user / pid / ipc / uts namespaces, sees the system's `/usr` (read-only), a
  few files of `/etc`, its interpreter, its libraries and its code
  (read-only, at /var/task as on Lambda), and a private writable /tmp. The
  learner's home, the state dir with every local cloud's key file, the
  server's /proc and every other process are out of sight;
* without it, on a kernel with Landlock (`landlock.py`): the worker starts
  fenced to the same files (read-only) and its temporary HOME, its own
  /proc/self, and cannot signal processes outside the fence. It still sees
  the machine's process list by pid, but cannot open another process's files
  or any file of the learner's;
* else (or with `LOCALCLOUD_NO_SANDBOX`): its environment only. The server
  says so loudly at start, in its log and in its health answer.

In every mode the network is shared: the worker must reach the local cloud
on 127.0.0.1. `LOCALCLOUD_SANDBOX=landlock` chooses the Landlock fence even
where bubblewrap works (to try it). `isolation()` says which is in force;
the server reports it at start and in its health answer (`workshop local status`).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess  # nosec B404: bwrap runs as an argument list, never through a shell

from . import landlock

log = logging.getLogger("workshop.localcloud.lambda")

TASK_ROOT = "/var/task"
# What of /etc a Python or Node.js program may read: TLS roots, name lookup, time zone, users.
_ETC = ("ssl", "ca-certificates", "ca-certificates.conf", "hosts", "resolv.conf", "nsswitch.conf",
        "localtime", "passwd", "group", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives",
        "mime.types")
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


BUBBLEWRAP, LANDLOCK, ENVIRONMENT = "bubblewrap", "landlock", "environment"
_DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")


@functools.lru_cache(maxsize=1)
def bwrap() -> str | None:
    """The bwrap command when it works here (user namespaces allowed), else None."""
    if os.environ.get("LOCALCLOUD_NO_SANDBOX") or os.environ.get("LOCALCLOUD_SANDBOX") == LANDLOCK:
        return None
    command = shutil.which("bwrap")
    if command is None:
        return None
    probe = [command, *_system_binds(), "--proc", "/proc", "--dev", "/dev", "--unshare-user",
             "--unshare-pid", "--die-with-parent", "true"]
    try:
        if subprocess.run(probe, capture_output=True, timeout=10).returncode == 0:  # nosec B603: a fixed probe, no shell
            return command
    except (OSError, subprocess.TimeoutExpired):
        pass
    return None


@functools.lru_cache(maxsize=1)
def mode() -> str:
    """BUBBLEWRAP, LANDLOCK or ENVIRONMENT: how workers are isolated on this machine."""
    if os.environ.get("LOCALCLOUD_NO_SANDBOX"):
        return ENVIRONMENT
    if bwrap():
        return BUBBLEWRAP
    return LANDLOCK if landlock.available() else ENVIRONMENT


def isolation() -> str:
    chosen = mode()
    if chosen == BUBBLEWRAP:
        return "sandbox (bubblewrap: own user/pid namespaces, read-only code at /var/task, private /tmp, no home)"
    if chosen == LANDLOCK:
        return ("sandbox (landlock: only its code, interpreter and system files readable, its own temporary "
                f"home writable; no home, no state dir, no other process's files; {_bubblewrap_missing()})")
    reason = "LOCALCLOUD_NO_SANDBOX is set" if os.environ.get("LOCALCLOUD_NO_SANDBOX") else \
        f"{_bubblewrap_missing()}, and this kernel has no Landlock"
    return f"environment only ({reason}): a function can read every file you can"


def _bubblewrap_missing() -> str:
    if os.environ.get("LOCALCLOUD_SANDBOX") == LANDLOCK:
        return "chosen with LOCALCLOUD_SANDBOX=landlock"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed: `make setup` installs it with root or sudo (apt-get install bubblewrap)"
    return "bubblewrap is installed but user namespaces are not allowed here"


def warning() -> str | None:
    """What the server says loudly at start when workers run without bubblewrap's sandbox, else None."""
    if mode() == BUBBLEWRAP:
        return None
    return f"WARNING: Lambda functions run without bubblewrap's sandbox: {isolation()}"


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in _ROOT_LINKS:
        path = "/" + name
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in _ETC:
        path = os.path.join("/etc", name)
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def _fence(code_dir: str, read_only: list[str], writable) -> dict:
    """Landlock's rules: what bubblewrap would bind, read-only, and the worker's own HOME writable."""
    read = ["/usr", *(f"/{name}" for name in _ROOT_LINKS if os.path.exists(f"/{name}")),
            *(os.path.join("/etc", name) for name in _ETC if os.path.exists(os.path.join("/etc", name))),
            code_dir]
    for path in read_only:
        read += [path, os.path.realpath(path)]
    return {"read": list(dict.fromkeys(read)), "write": [*writable, *_DEVICES]}


def _under_usr(path: str) -> bool:
    real = os.path.realpath(path)
    return real == "/usr" or real.startswith("/usr/")


def wrap(command: list[str], code_dir: str, read_only: list[str], writable: list[str] = ()) -> tuple[list[str], str]:
    """(the command to run, the code folder as the worker sees it).

    `read_only`: extra files and folders the worker needs (its interpreter's
    prefix, libraries, the worker script), bound read-only at the same path.
    `writable`: its temporary HOME, outside bubblewrap (which gives it a private /tmp).
    """
    chosen = mode()
    if chosen == LANDLOCK:
        return landlock.command(_fence(code_dir, read_only, writable), command), code_dir
    tool = bwrap() if chosen == BUBBLEWRAP else None
    if tool is None:
        return command, code_dir
    # /tmp first: binds below it (the runtime libraries live in the server's temp folder) go on top
    args = [tool, *_system_binds(), "--tmpfs", "/tmp"]  # nosec B108: a fresh private tmpfs in the sandbox
    bound = set()
    for path in read_only:
        real = os.path.realpath(path)
        if not os.path.exists(real) or _under_usr(real) or real in bound:
            continue
        bound.add(real)
        args += ["--ro-bind", real, real]
        if real != os.path.abspath(path):  # a symlinked path (pyenv, venv) must resolve inside too
            args += ["--symlink", real, os.path.abspath(path)]
    args += ["--ro-bind", code_dir, TASK_ROOT, "--chdir", TASK_ROOT, "--proc", "/proc", "--dev", "/dev",
             "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             # not --die-with-parent: its signal fires when the spawning *thread* ends (a request
             # thread), killing warm workers; a worker ends when the server closes its stdin.
             "--new-session", "--"]
    return args + command, TASK_ROOT
