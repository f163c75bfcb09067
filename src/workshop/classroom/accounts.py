"""Who the learners are in a `make class`: generated accounts, and OS users where the hub can make them.

`make class` makes the class's accounts once (`Accounts.create`): learners
`learner1..N` (or the names given) and a facilitator, each with a random
password, kept in `<class dir>/accounts.json` (mode 0600) and printed for
the facilitator to hand out. `ClassAuthenticator` checks logins against that
file; the facilitator's group gets the facilitator's view.

Two ways to run learners' servers:

* **system users** (`mode = "system"`, the hub runs as root): each learner is
  an OS user of their own (`useradd`, home mode 0700), and JupyterHub's
  `LocalProcessSpawner` runs their server as that user. One learner cannot
  read another's notebooks or local cloud key file: the OS says no.
* **demo** (`mode = "demo"`, a laptop, the hub runs as you): every server
  runs as your OS user, each in a home of its own under the class dir
  (`DemoSpawner`). Each learner still has their own local cloud, port and
  key, and the local cloud refuses another's key; but any learner's code can
  read every file you can, other learners' keys included. `make class` says
  so when it starts in this mode. Fine for trying a class on a laptop, not
  for a room of strangers.
"""

from __future__ import annotations

import hmac
import json
import os
import pwd
import re
import secrets
import subprocess  # nosec B404: useradd as an argument list, never through a shell
from dataclasses import dataclass, field
from pathlib import Path

FACILITATOR = "facilitator"
NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
MODES = ("demo", "system")


class AccountsError(Exception):
    """The class's accounts cannot be made or read; the message says what to do."""


def check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise AccountsError(f"learner name {name!r} is not usable as a hub and OS user name: use lower-case "
                            "letters, digits and '-', starting with a letter (at most 31 characters)")
    return name


def new_password() -> str:
    # Words a facilitator can read out: 4 groups of 4 from an alphabet without look-alikes.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


@dataclass
class Accounts:
    mode: str
    learners: dict = field(default_factory=dict)       # name -> password
    facilitators: dict = field(default_factory=dict)   # name -> password

    @classmethod
    def create(cls, mode: str, names: list) -> "Accounts":
        if mode not in MODES:
            raise AccountsError(f"class mode {mode!r} is not one of {', '.join(MODES)}")
        learners = {check_name(n): new_password() for n in names}
        if FACILITATOR in learners:
            raise AccountsError(f"{FACILITATOR!r} is the facilitator's account: give the learner another name")
        return cls(mode, learners, {FACILITATOR: new_password()})

    def passwords(self) -> dict:
        return {**self.learners, **self.facilitators}

    def save(self, path: Path) -> Path:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"mode": self.mode, "learners": self.learners, "facilitators": self.facilitators}, handle,
                      indent=2)
        return path

    @classmethod
    def load(cls, path: Path) -> "Accounts":
        try:
            doc = json.loads(Path(path).read_text())
            return cls(doc["mode"], dict(doc["learners"]), dict(doc["facilitators"]))
        except FileNotFoundError:
            raise AccountsError(f"no class accounts at {path}: start the class with `make class`") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise AccountsError(f"the class accounts file {path} is unreadable ({exc}): delete it and start the "
                                "class again (`make class` makes new accounts)") from None

    def check(self, name: str, password: str) -> bool:
        expected = self.passwords().get(name)
        # compare_digest on equal-length digests: no early exit, whatever the lengths
        return expected is not None and hmac.compare_digest(
            hmac.new(b"class", expected.encode(), "sha256").digest(),
            hmac.new(b"class", (password or "").encode(), "sha256").digest())


# --- OS users -----------------------------------------------------------------------------------------


def system_user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def ensure_system_user(name: str, home_root: str = "/home") -> Path:
    """An OS user for the learner, with a home only they can read (mode 0700). Needs root."""
    check_name(name)
    if not system_user_exists(name):
        if os.geteuid() != 0:
            raise AccountsError(f"creating the OS user {name!r} needs root: run `make class` as root for "
                                "separate users, or `make class CLASS_MODE=demo` on a laptop")
        done = subprocess.run(["useradd", "--create-home", "--base-dir", home_root, "--shell", "/bin/bash",  # nosec B603, B607: a checked name, no shell
                               "--user-group", name], capture_output=True, text=True)
        if done.returncode != 0:
            raise AccountsError(f"useradd {name} failed: {done.stderr.strip() or done.returncode}")
    home = Path(pwd.getpwnam(name).pw_dir)
    home.mkdir(parents=True, exist_ok=True)
    info = pwd.getpwnam(name)
    os.chown(home, info.pw_uid, info.pw_gid)
    os.chmod(home, 0o700)
    return home


# --- JupyterHub classes (imported by class/jupyterhub_config.py, inside the hub) ------------------------


def authenticator_class():
    """JupyterHub's Authenticator over the class's accounts file (`accounts_file` in the config)."""
    from jupyterhub.auth import Authenticator
    from traitlets import Unicode

    class ClassAuthenticator(Authenticator):
        """Logins checked against the accounts `make class` generated (passwords printed at its start)."""

        accounts_file = Unicode(config=True, help="the class's accounts.json (made by `make class`)")

        async def authenticate(self, handler, data):
            name, password = (data or {}).get("username", ""), (data or {}).get("password", "")
            if Accounts.load(Path(self.accounts_file)).check(name, password):
                return name
            return None

    return ClassAuthenticator


def demo_spawner_class():
    """LocalProcessSpawner for the demo mode: every server as the hub's OS user, a home of its own each."""
    from jupyterhub.spawner import LocalProcessSpawner
    from traitlets import Unicode

    class DemoSpawner(LocalProcessSpawner):
        """Demo only: no OS isolation between learners (see workshop.classroom.accounts)."""

        home_root = Unicode(config=True, help="the folder that holds one home per learner")

        def _home(self) -> str:
            return os.path.join(self.home_root, check_name(self.user.name))

        def make_preexec_fn(self, name):
            home = self._home()

            def preexec():
                os.makedirs(home, mode=0o700, exist_ok=True)
                os.chmod(home, 0o700)
                os.chdir(home)

            return preexec

        def user_env(self, env):
            env["USER"] = self.user.name
            env["HOME"] = self._home()
            env["SHELL"] = "/bin/bash"
            return env

        def move_certs(self, paths):
            return paths

    return DemoSpawner
