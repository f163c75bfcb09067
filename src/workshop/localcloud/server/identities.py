"""Keys the server hands out, and whom each one stands for.

Beside the learner's per-start key (credentials.py), the local cloud makes a
key for each Lambda function it runs: the function's calls come back signed
with it, the guard lets them in (`access.Guard` asks `identity_for_access_key`)
and CloudTrail records them as the function's assumed role, as AWS does
(services/cloudtrail.py). A key is an HMAC of the function and its role under
a secret made when the server starts, so no other local user can compute one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading

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


def identity_for_access_key(access_key: str) -> dict | None:
    """{"role_arn", "session_name", "function_arn"} for a key a Lambda worker uses, else None."""
    with _identities_lock:
        return _identities.get(access_key)
