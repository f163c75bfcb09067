"""The rule of tests/unit, enforced: a unit test starts no process and opens no network socket.

`forbidden()` replaces, for as long as it is active, every way Python starts a
process (subprocess, fork, spawn, exec, system) and every way a socket reaches
or listens on an address (connect, bind), with a call that raises
`NotInUnitTests` naming what was tried and where such a test belongs. A socket
pair (what asyncio's event loop makes to wake itself) is left alone: it reaches
nothing outside the test's own process.

tests/unit/conftest.py holds it around each unit test's setup, call and
teardown, so a module-scoped fixture that starts a local cloud is caught too.
"""

from __future__ import annotations

import os
import socket
import subprocess
from contextlib import ExitStack, contextmanager

WHERE = "tests/unit starts no process and opens no socket: a test that needs one belongs in tests/functional"


class NotInUnitTests(RuntimeError):
    pass


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise NotInUnitTests(f"{what} was called. {WHERE} (tests/README.md).")

    return refuse


# (owner, attribute, what a learner of the rule reads in the error)
_PROCESS_STARTS = [
    (subprocess.Popen, "_execute_child", "subprocess.Popen"),
    (os, "fork", "os.fork"),
    (os, "forkpty", "os.forkpty"),
    (os, "posix_spawn", "os.posix_spawn"),
    (os, "posix_spawnp", "os.posix_spawnp"),
    (os, "system", "os.system"),
    *[(os, name, f"os.{name}") for name in ("execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp",
                                            "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe")],
]
_SOCKET_USES = [
    (socket.socket, "connect", "socket.connect"),
    (socket.socket, "connect_ex", "socket.connect_ex"),
    (socket.socket, "bind", "socket.bind"),
]


@contextmanager
def forbidden():
    """Within the block, starting a process or connecting/binding a socket raises NotInUnitTests."""
    with ExitStack() as undo:
        for owner, attribute, what in (*_PROCESS_STARTS, *_SOCKET_USES):
            if not hasattr(owner, attribute):
                continue
            saved = owner.__dict__.get(attribute)
            setattr(owner, attribute, _refuse(what))
            if saved is None:  # inherited (socket.socket from _socket.socket): remove ours to restore
                undo.callback(delattr, owner, attribute)
            else:
                undo.callback(setattr, owner, attribute, saved)
        yield
