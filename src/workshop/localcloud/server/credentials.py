"""The local cloud's per-start credentials: the key that lets a client in.

A server on 127.0.0.1 is reachable by every local user and, through the
browser, by every web page the learner opens. So the local cloud, like
Jupyter with its token, only serves requests signed with a key it made when
it started:

* `new()` makes a random access key id (`LCAK` + 16 characters, AWS's
  shape) and secret at start, unless the process that starts the server
  hands it one (`LOCALCLOUD_ACCESS_KEY_ID` / `LOCALCLOUD_SECRET_ACCESS_KEY`,
  e.g. `make lab` keeps one key across a restart of the local cloud, so a
  running notebook keeps working);
* `write()` puts it, with the endpoint and the server's pid, in
  `<state dir>/localcloud-<port>.json`, created with mode 0600 in a folder of
  mode 0700 that only this user can read;
* `read(endpoint)` is how the kit (`workshop.aws.session.connect`, `workshop
  deploy`, the tests) and `workshop local env` find it again.

The state dir is `$WORKSHOP_STATE_DIR`, else `$XDG_RUNTIME_DIR/workshop`
(a per-user tmpfs on Linux desktops), else `~/.cache/workshop`.

The server checks each request's SigV4 signature with the secret of the key
it names (authentication.py). As on AWS, the access key id is not a secret
(CloudTrail events carry it); the secret access key is: it is only in this
file and in the environment of the processes the kit starts, never logged,
never in an event, an error or a repr.

That key is the account's administrator, as a learner with their own account
is. In the AWS-like mode with `--learner-policy` the learner is, in
addition, an IAM user holding those policies (aws_like.py): the file then
also holds that user's key (`learner_*`), and it is the key the kit, `sam`
and `workshop local env` use (`environment()`, `boto3_kwargs()`,
`for_learner()`); `administrator()` is the per-start key, for what only the
account's administrator does (a facilitator preparing the account).
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

KEY_PREFIX = "LCAK"
# The alphabet of AWS access key ids: upper-case letters and digits.
_KEY_ALPHABET = string.ascii_uppercase + "234567"
ENV_KEY = "LOCALCLOUD_ACCESS_KEY_ID"
ENV_SECRET = "LOCALCLOUD_SECRET_ACCESS_KEY"  # nosec B105: the name of a variable, not its value


class CredentialsNotFound(Exception):
    """No credentials file for the local cloud at that endpoint: it is not running (or not ours)."""


@dataclass(frozen=True)
class Credentials:
    endpoint: str
    access_key_id: str  # the per-start key: the account's administrator
    secret_access_key: str
    pid: int = 0
    region: str = "us-east-1"
    # AWS-like mode with --learner-policy: the IAM user the learner is ("" otherwise)
    learner_access_key_id: str = ""
    learner_secret_access_key: str = ""
    learner_arn: str = ""

    def administrator(self) -> "Credentials":
        """The per-start key alone (the account's administrator), whatever the learner is."""
        return replace(self, learner_access_key_id="", learner_secret_access_key="",  # nosec B106: clears a key
                       learner_arn="")

    def for_learner(self) -> "Credentials":
        """The key the learner works with: their IAM user's when there is one, else the per-start key."""
        if not self.learner_access_key_id:
            return self
        return replace(self, access_key_id=self.learner_access_key_id,
                       secret_access_key=self.learner_secret_access_key)

    def boto3_kwargs(self) -> dict:
        """What `boto3.client(...)` needs to talk to this local cloud, as the learner."""
        key = self.for_learner()
        return {"endpoint_url": self.endpoint, "region_name": self.region,
                "aws_access_key_id": key.access_key_id, "aws_secret_access_key": key.secret_access_key}

    def environment(self) -> dict:
        """The variables plain boto3, the AWS CLI and `sam` read, as the learner."""
        key = self.for_learner()
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": key.access_key_id,
                "AWS_SECRET_ACCESS_KEY": key.secret_access_key, "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region}

    def __repr__(self) -> str:  # never print the secret in a traceback or a notebook
        learner = f", learner={self.learner_arn!r}" if self.learner_arn else ""
        return (f"Credentials(endpoint={self.endpoint!r}, access_key_id='{self.access_key_id[:6]}…', "
                f"pid={self.pid}{learner})")


def new(endpoint: str, pid: int | None = None, environ=None) -> Credentials:
    """The server's key: handed over by the starting process, else random."""
    environ = os.environ if environ is None else environ
    key, secret = environ.get(ENV_KEY), environ.get(ENV_SECRET)
    if not (key and secret):
        key = KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
        secret = secrets.token_urlsafe(30)
    return Credentials(endpoint=endpoint, access_key_id=key, secret_access_key=secret,
                       pid=os.getpid() if pid is None else pid)


def with_learner(credentials: Credentials, user_arn: str) -> Credentials:
    """The same key file with a fresh key for the learner's IAM user (AWS's shape: AKIA + 16)."""
    return replace(credentials, learner_access_key_id="AKIA" + "".join(secrets.choice(_KEY_ALPHABET)
                                                                       for _ in range(16)),
                   learner_secret_access_key=secrets.token_urlsafe(30), learner_arn=user_arn)


def state_dir() -> Path:
    explicit = os.environ.get("WORKSHOP_STATE_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
        return Path(runtime) / "workshop"
    return Path.home() / ".cache" / "workshop"


def port_of(endpoint: str | int) -> int:
    if isinstance(endpoint, int):
        return endpoint
    port = urlparse(endpoint).port
    if port is None:
        raise ValueError(f"the local cloud endpoint {endpoint!r} names no port")
    return port


def path_for(endpoint: str | int) -> Path:
    return state_dir() / f"localcloud-{port_of(endpoint)}.json"


def kit_command(name: str = "workshop") -> str:
    """A kit command by its full path (the venv's bin/, beside this Python): it works pasted into any terminal,
    the venv on PATH or not."""
    import shlex
    import sys

    beside = Path(sys.executable).parent / name
    return shlex.quote(str(beside)) if beside.exists() else name


def env_line(port: int) -> str:
    """`eval "$(.../workshop local env --port N)"`: what puts the local cloud's endpoint and key in a shell
    (with this kernel's WORKSHOP_STATE_DIR, where the key file is, when it is not the default)."""
    import shlex

    state = os.environ.get("WORKSHOP_STATE_DIR")
    prefix = f"WORKSHOP_STATE_DIR={shlex.quote(state)} " if state else ""
    return f'eval "$({prefix}{kit_command()} local env --port {port})"'


def _private_dir(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if not folder.is_dir() or folder.is_symlink() or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise PermissionError(f"{folder} is not a private folder of this user: refusing to keep the "
                              "local cloud's key there (set WORKSHOP_STATE_DIR to a folder of your own)")
    os.chmod(folder, 0o700)


def write(credentials: Credentials) -> Path:
    """Write the credentials file (0600); replaces one a stopped server left behind."""
    path = path_for(credentials.endpoint)
    _private_dir(path.parent)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(credentials), handle)
    os.replace(staging, path)
    return path


def read(endpoint: str | int) -> Credentials:
    """The credentials of the local cloud at `endpoint`; CredentialsNotFound when there are none."""
    path = path_for(endpoint)
    try:
        with open(path) as handle:
            data = json.load(handle)
        return Credentials(**data)
    except FileNotFoundError:
        raise CredentialsNotFound(
            f"no local cloud key for {endpoint} ({path} does not exist): the local cloud is not running "
            "there. Start it with `make local` (or `workshop local up`)."
        ) from None
    except (ValueError, TypeError) as exc:
        raise CredentialsNotFound(f"the local cloud key file {path} is unreadable ({exc}): restart the "
                                  "local cloud (`make local`) to write a new one.") from None


def remove(credentials: Credentials) -> None:
    """Remove the file, if it is still this server's (another may have started on the port since)."""
    path = path_for(credentials.endpoint)
    try:
        with open(path) as handle:
            if json.load(handle).get("pid") != credentials.pid:
                return
        path.unlink()
    except (OSError, ValueError):
        pass
