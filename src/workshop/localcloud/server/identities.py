"""Keys the server hands out, and whom each one stands for.

Beside the learner's per-start key (credentials.py), the local cloud makes a
key for each Lambda function it runs: the function's calls come back signed
with it, the guard lets them in (`access.Guard` asks `identity_for_access_key`)
and CloudTrail records them as the function's assumed role, as AWS does
(services/cloudtrail.py). The server's own calls made for a principal get
keys too: the Step Functions engine's integration calls as a session of the
state machine's role, CloudFormation's as its service role or its caller, an
EventBridge target's as the target's role (`session_key`), and an AWS service
acting by a resource-based policy, such as EventBridge invoking a function
(`service_key`). A key is an HMAC of what it stands for under a secret made
when the server starts, so no other local user can compute one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

ACCESS_KEY_PREFIX = "ASIALOCAL"

_identities: dict[str, dict] = {}
_identities_lock = threading.Lock()
# Made at start: without it anyone who knows a function's ARN could compute its key.
_KEY_SECRET = secrets.token_bytes(32)


def access_key_for(function_arn: str, role_arn: str, function_name: str) -> str:
    """A stable access key id for a function; remembered so CloudTrail can name the role."""
    digest = hmac.new(_KEY_SECRET, f"{function_arn}|{role_arn}".encode(), hashlib.sha256).hexdigest().upper()
    key = ACCESS_KEY_PREFIX + digest[: 20 - len(ACCESS_KEY_PREFIX)]
    with _identities_lock:
        _identities[key] = {"role_arn": role_arn, "session_name": function_name,
                            "function_arn": function_arn}
    return key


def _key(text: str) -> str:
    digest = hmac.new(_KEY_SECRET, text.encode(), hashlib.sha256).hexdigest().upper()
    return ACCESS_KEY_PREFIX + digest[: 20 - len(ACCESS_KEY_PREFIX)]


@dataclass(frozen=True)
class SessionCredentials:
    """What a boto3 client made by the server signs with (inprocess.client takes it)."""

    access_key_id: str
    secret_access_key: str


def secret_for(access_key: str) -> str:
    """The secret of a key this server made (an HMAC of the key id, so it is never stored)."""
    return hmac.new(_KEY_SECRET, f"secret|{access_key}".encode(), hashlib.sha256).hexdigest()


def session_credentials(role_arn: str, session_name: str | None = None, source: dict | None = None) -> SessionCredentials:
    """Credentials of a session of `role_arn` for the server's own calls; the session name defaults to 32
    letters derived from the role, as AWS services name the sessions they open."""
    if session_name is None:
        digest = hmac.new(_KEY_SECRET, f"name|{role_arn}".encode(), hashlib.sha256).digest()
        session_name = "".join(chr(ord("a") + b % 26) if i % 2 else chr(ord("A") + b % 26)
                               for i, b in enumerate(digest[:32]))
    key = session_key(role_arn, session_name, source)
    return SessionCredentials(key, secret_for(key))


def session_key(role_arn: str, session_name: str, source: dict | None = None) -> str:
    """A key for the server's own calls as a session of `role_arn`; `source`: extra request-context values
    (aws:CalledVia, ...) those calls carry."""
    extra = repr(sorted((source or {}).items()))
    key = _key(f"session|{role_arn}|{session_name}|{extra}")
    with _identities_lock:
        _identities[key] = {"role_arn": role_arn, "session_name": session_name, "function_arn": None,
                            "source": dict(source or {})}
    return key


def service_key(service: str, source: dict | None = None) -> str:
    """A key for an AWS service principal (`events.amazonaws.com`) acting with `source` (aws:SourceArn, ...)."""
    extra = repr(sorted((source or {}).items()))
    key = _key(f"service|{service}|{extra}")
    with _identities_lock:
        _identities[key] = {"service": service, "source": dict(source or {})}
    return key


def identity_for_access_key(access_key: str) -> dict | None:
    """{"role_arn", "session_name", "function_arn"[, "source"]} for a key of a Lambda worker or a role session
    the server made; {"service", "source"} for a service principal's key; else None."""
    with _identities_lock:
        return _identities.get(access_key)
