"""Keys the server hands its Lambda workers, and whom each one stands for.

Beside the learner's per-start key (credentials.py), the local cloud gives
each Lambda function credentials of its own, as Lambda gives a function its
execution role's session: an access key id, its secret and a session token,
in the worker's environment only. The function's calls come back signed with
them; `authentication.Authenticator` checks the signature with their secret
and knows the caller as a session of the function's role named after the
function, as AWS does (CloudTrail records it so, services/cloudtrail.py):
`worker_for` tells it whose key it is.

All three are HMACs of the function and its role under a secret made when the
server starts: stable for a function while the server runs (every warm worker
of a function shares them), and no other local user can compute them. The key
id may be seen by anyone (CloudTrail events carry it, as on AWS); the secret
and the token never leave the worker's environment.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

ACCESS_KEY_PREFIX = "ASIALOCAL"

_workers: dict[str, tuple[str, str, str]] = {}  # key id -> (function ARN, role ARN, function name)
_lock = threading.Lock()
# Made at start: without it anyone who knows a function's ARN could compute its credentials.
_KEY_SECRET = secrets.token_bytes(32)


@dataclass(frozen=True)
class WorkerCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
                "AWS_SESSION_TOKEN": self.session_token}

    def __repr__(self) -> str:  # the secret and the token never reach a log or a traceback
        return f"WorkerCredentials(access_key_id={self.access_key_id!r})"


def _mac(label: str, text: str) -> bytes:
    return hmac.new(_KEY_SECRET, f"{label}|{text}".encode(), hashlib.sha256).digest()


@functools.lru_cache(maxsize=4096)
def _derived(function_arn: str, role_arn: str) -> WorkerCredentials:
    # Four HMACs of values that never change while the server runs: every signed call of a function
    # asks for them again (worker_for), so they are made once per function and role.
    identity = f"{function_arn}|{role_arn}"
    key = ACCESS_KEY_PREFIX + _mac("key", identity).hex().upper()[: 20 - len(ACCESS_KEY_PREFIX)]
    secret = base64.b64encode(_mac("secret", identity)).decode()[:40]
    token = base64.b64encode(_mac("token", identity) + _mac("token-2", identity)).decode()
    return WorkerCredentials(key, secret, token)


def credentials_for(function_arn: str, role_arn: str, function_name: str) -> WorkerCredentials:
    """A function's credentials; remembered so the server knows whose they are."""
    made = _derived(function_arn, role_arn)
    with _lock:
        _workers[made.access_key_id] = (function_arn, role_arn, function_name)
    return made


@dataclass(frozen=True)
class Worker:
    function_arn: str
    role_arn: str
    function_name: str
    credentials: WorkerCredentials


def worker_for(access_key_id: str) -> Worker | None:
    """Whose credentials a worker key is (the function, its role, the secret and token that go with it), else None."""
    with _lock:
        found = _workers.get(access_key_id)
    if found is None:
        return None
    function_arn, role_arn, _ = found
    return Worker(*found, _derived(function_arn, role_arn))
