"""Keys the server hands out, and whom each one stands for.

Beside the learner's per-start key (credentials.py), the local cloud makes a
key for each Lambda function it runs: the function's calls come back signed
with it, the guard lets them in (`access.Guard` asks `identity_for_access_key`)
and CloudTrail records them as the function's assumed role, as AWS does
(services/cloudtrail.py). A key is an HMAC of the function and its role under
a secret made when the server starts, so no other local user can compute one.

`caller_for_key` says who a key stands for as a `Caller` (the shape the
server's authentication and IAM evaluation share): the learner's key, a
function's role, or an IAM user's access key made in the local cloud
(`iam create-access-key`). It goes by the key id alone: the signature made
with the key's secret is not verified here (that is the server-wide SigV4
check's job), so it names a caller, it does not prove one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Caller:
    """Who signed a request: the principal an access key stands for."""

    access_key_id: str
    principal_arn: str
    account_id: str
    kind: str  # "learner-admin", "user", "assumed-role", "root" or "service"
    user_id: str  # IAM's unique id (AIDA..., AROA...:session), or the account for the root and the learner
    session_name: str | None = None
    session_policy: str | None = None
    expires: float | None = None
    tags: dict = field(default_factory=dict)
    source: str | None = None


def role_id_of(role_arn: str, account_id: str) -> str:
    """The role's unique id (AROA...): IAM's, or one made from its ARN when IAM does not hold the role."""
    try:
        from moto.iam.models import iam_backends

        return iam_backends[account_id]["aws"].get_role_by_arn(role_arn).id
    except Exception:  # a role IAM does not hold (deleted, or a test's): a stable stand-in
        return "AROA" + hashlib.sha1(role_arn.encode(), usedforsecurity=False).hexdigest().upper()[:17]


def iam_user_for_key(access_key: str, account_id: str):
    """The local cloud's IAM user (moto's model) that holds `access_key`, or None."""
    try:
        from moto.iam.models import iam_backends

        for user in list(iam_backends[account_id]["aws"].users.values()):
            if any(key.access_key_id == access_key for key in user.access_keys):
                return user
    except Exception:  # IAM not loaded, or an account without users: no such user
        return None
    return None


def caller_for_key(access_key: str | None, account_id: str, learner_key: str | None = None) -> Caller | None:
    """Who `access_key` stands for, or None for a key the local cloud does not know."""
    if not access_key:
        return None
    if learner_key and secrets.compare_digest(access_key, learner_key):
        # The per-start key is the account's own: CloudTrail records it as the root.
        return Caller(access_key, f"arn:aws:iam::{account_id}:root", account_id, "learner-admin", account_id)
    worker = identity_for_access_key(access_key)
    if worker:
        role_name = worker["role_arn"].rsplit("/", 1)[-1]
        role_id = role_id_of(worker["role_arn"], account_id)
        return Caller(access_key, f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{worker['session_name']}",
                      account_id, "assumed-role", f"{role_id}:{worker['session_name']}",
                      session_name=worker["session_name"], source=worker["function_arn"])
    user = iam_user_for_key(access_key, account_id)
    if user is not None:
        return Caller(access_key, user.arn, account_id, "user", user.id)
    return None
