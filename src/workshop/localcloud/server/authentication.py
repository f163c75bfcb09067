"""Who is calling: the access key id of a request, mapped to the principal it stands for (a `Caller`).

The keys the local cloud knows:

* its per-start key (credentials.py): the learner, the account's
  administrator (kind "learner-admin"; the authorizer does not evaluate it);
* the keys it hands its own workers (identities.py): a Lambda function's calls
  as an assumed-role session of its execution role, the Step Functions
  engine's integration calls as the state machine's role, CloudFormation's
  calls as its service role or the caller, a rule target's calls as the
  target's role (kind "assumed-role"); a service principal ("service") for an
  AWS service that acts by a resource policy (EventBridge invoking a function);
* keys moto's IAM made: `CreateAccessKey` (an IAM user, "user") and
  `AssumeRole` (a role session with its session policy, "assumed-role"), in
  any account (member accounts of an organization included).

This module maps a key id to its Caller; it does not check signatures (the
signature check lives with the request's authentication, not here): a key id
alone names the caller. Unknown keys map to None.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from . import identities
from .address import ACCOUNT_ID

PARTITION = "aws"


@dataclass(frozen=True)
class Caller:
    access_key_id: str
    principal_arn: str  # user ARN, role session ARN (arn:aws:sts::A:assumed-role/R/S), root ARN, or service name
    account_id: str | None
    kind: str  # "learner-admin", "user", "assumed-role", "root", "service"
    user_id: str | None = None
    session_name: str | None = None
    session_policy: str | None = None
    expires: float | None = None
    tags: dict = field(default_factory=dict)
    # extra request-context values the maker of an in-process call knows: aws:SourceArn / aws:SourceAccount of a
    # service principal, aws:CalledVia / aws:ViaAWSService of a call a service makes for its caller
    source: dict | None = None

    @property
    def role_name(self) -> str | None:
        if self.kind != "assumed-role":
            return None
        return self.principal_arn.split(":assumed-role/", 1)[-1].split("/", 1)[0]


class Callers:
    """Key id -> Caller, for one server (its per-start key)."""

    def __init__(self, admin_key: str | None):
        self.admin_key = admin_key
        self._lock = threading.Lock()

    def for_key(self, key: str | None) -> Caller | None:
        if not key:
            return None
        if self.admin_key and key == self.admin_key:
            return Caller(key, f"arn:aws:iam::{ACCOUNT_ID}:root", ACCOUNT_ID, "learner-admin", ACCOUNT_ID)
        own = identities.identity_for_access_key(key)
        if own is not None:
            return _from_identity(key, own)
        return _from_moto(key)


def _from_identity(key: str, found: dict) -> Caller:
    if found.get("service"):
        return Caller(key, found["service"], None, "service", source=found.get("source"))
    role_arn = found["role_arn"]
    account = role_arn.split(":")[4] or ACCOUNT_ID
    role_name = role_arn.rsplit("/", 1)[-1]
    session = found["session_name"]
    return Caller(key, f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}", account, "assumed-role",
                  session_name=session, source=found.get("source"))


def _from_moto(key: str) -> Caller | None:
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account, backends in list(iam_backends.items()):
        backend = backends[PARTITION]
        access_key = backend.access_keys.get(key)
        if access_key is None:
            continue
        if getattr(access_key, "status", "Active") != "Active":
            return None
        if access_key.user_name:
            user = backend.users.get(access_key.user_name)
            if user is None:
                return None
            return Caller(key, user.arn, account, "user", user.id)
        role_arn = getattr(access_key, "role_arn", None)
        if role_arn:
            session = sts_backends[account][PARTITION].get_assumed_role_from_access_key(key)
            if session is None:
                return None
            return Caller(key, session.arn, account, "assumed-role", session.user_id,
                          session_name=session.session_name, session_policy=session.policy or None,
                          expires=session.expiration.timestamp())
    return None
