"""STS: temporary credentials that work, and callers told who they are.

Two mends of moto's STS (registered in seams.py, group "eager"), each at one
method of its `TokenResponse`:

* `GetSessionToken` (`install_session_tokens`, `sts-session-tokens`): moto
  answered every caller with AWS's documentation example keys, which no
  signature check can accept. Here it makes a temporary key of the caller's
  (an IAM user, or the account's root: the per-start key), with a secret and a
  session token, valid `DurationSeconds` (default 12 hours), and registers it
  with the server's signature check (`authentication.add_session`): calls
  signed with it are the same principal's, until it expires. A session's own
  credentials cannot ask for another, as AWS answers.
* `GetCallerIdentity` (`install_caller_identity`, `sts-caller-identity`):
  moto answered `arn:aws:sts::ACCOUNT:user/moto` for any key it did not make.
  Here it answers the caller the signature proved (server/calls.py): the root
  for the per-start key, the user, or the role session (its `assumed-role`
  ARN and `ROLEID:SESSION` user id).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from ..server import calls
from ..server.authentication import ASSUMED_ROLE, KeySecret, add_session


def seams():
    from moto.sts.responses import TokenResponse

    return TokenResponse, ("get_session_token", "get_caller_identity")


def install_session_tokens() -> None:
    from moto.core.responses import ActionResult
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.utils import random_session_token

    cls, _ = seams()
    original = cls.get_session_token

    def get_session_token(self) -> ActionResult:
        call = calls.current()
        if call is None:  # not served by the local cloud's app (moto used in-process): who asks is unknown
            raise STSClientError("AccessDenied", "GetSessionToken needs a signed request.")
        caller = call.caller
        if caller.kind == ASSUMED_ROLE or caller.expires is not None:
            raise STSClientError("AccessDenied", "Cannot call GetSessionToken with session credentials")
        duration = self._get_int_param("DurationSeconds", 43200)
        key = iam_backends[caller.account_id]["aws"].create_temp_access_key()
        token = random_session_token()
        expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=duration)
        add_session(KeySecret(key.secret_access_key, token, replace(
            caller, access_key_id=key.access_key_id, expires=expires, source="sts:GetSessionToken")))
        return ActionResult({"Credentials": {
            "AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret_access_key,
            "SessionToken": token, "Expiration": expires}})

    get_session_token._localcloud = True
    get_session_token.__wrapped__ = original
    cls.get_session_token = get_session_token


def install_caller_identity() -> None:
    from moto.core.responses import ActionResult

    cls, _ = seams()
    original = cls.get_caller_identity

    def get_caller_identity(self) -> ActionResult:
        call = calls.current()
        if call is None:
            return original(self)
        caller = call.caller
        return ActionResult({"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn})

    get_caller_identity._localcloud = True
    get_caller_identity.__wrapped__ = original
    cls.get_caller_identity = get_caller_identity
