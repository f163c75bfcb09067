"""A Lambda worker's files fenced with Linux Landlock, where bubblewrap cannot run.

Bubblewrap (sandbox.py) needs its package and user namespaces. Where either is
missing, a function would otherwise run as the learner with every file of
theirs in reach: their home, and every local cloud's key file in the state
dir. Landlock (Linux 5.13+, no privilege needed) lets a process give up file
access for itself and whatever it executes, so the worker is started through
this module:

    python -I -S landlock.py RULES_JSON -- COMMAND...

which restricts itself to RULES_JSON (`{"read": [...], "write": [...]}`: the
system's `/usr`, a few files of `/etc`, the interpreter, the function's code
and libraries read-only; the worker's own temporary HOME writable; its own
`/proc/self`) and then executes COMMAND. Everything else (the learner's home,
the state dir, `/proc` of other processes, `/tmp`) cannot be opened. On
Landlock ABI 6+ the worker also cannot signal processes outside its domain,
nor reach abstract Unix sockets. The network is left open: the worker must
reach the local cloud on 127.0.0.1.

`available()` says whether this kernel has it; the module runs as a script
with nothing but the standard library (it is what executes before the worker).
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import sys

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on every Linux architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
# LANDLOCK_ACCESS_FS_* by the ABI that added them
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8
_ABI1_ALL = (1 << 13) - 1
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1, 2


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def abi() -> int:
    """The kernel's Landlock ABI version, 0 when it has none (or this is not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        version = _libc().syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def available() -> bool:
    return abi() >= 1


def _handled(version: int) -> int:
    rights = _ABI1_ALL
    if version >= 2:
        rights |= _REFER
    if version >= 3:
        rights |= _TRUNCATE
    if version >= 5:
        rights |= _IOCTL_DEV
    return rights


def restrict(read: list[str], write: list[str]) -> None:
    """Give up every file access but `read` (read, list, execute) and `write` (everything) beneath those paths."""
    version = abi()
    if version < 1:
        raise OSError("this kernel has no Landlock")
    libc = _libc()
    handled = _handled(version)
    if version >= 6:
        attr = struct.pack("QQQ", handled, 0, _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL)
    else:
        attr = struct.pack("Q", handled)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        reading = _EXECUTE | _READ_FILE | _READ_DIR
        for rights, paths in ((reading, read), (handled, write)):
            for path in paths:
                _allow(libc, ruleset, path, rights & handled)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _allow(libc, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:  # not on this machine: nothing to allow
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        if libc.syscall(_ADD_RULE, ruleset, ctypes.c_uint32(_RULE_PATH_BENEATH), rule, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
    finally:
        os.close(fd)


def command(rules: dict, worker: list[str]) -> list[str]:
    """The argument list that starts `worker` fenced by `rules` ({"read": [...], "write": [...]})."""
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), json.dumps(rules), "--", *worker]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: landlock.py RULES_JSON -- COMMAND...", file=sys.stderr)
        return 2
    rules = json.loads(argv[0])
    # /proc/self is this process's directory, and stays the worker's: exec keeps the pid
    restrict(list(rules.get("read", [])) + [f"/proc/{os.getpid()}"], list(rules.get("write", [])))
    os.execvp(argv[2], argv[2:])  # nosec B606: the worker's own command, an argument list, now fenced
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
