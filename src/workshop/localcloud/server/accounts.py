"""Which account serves a call: the account of the caller its signature proves, as on AWS.

moto picks the account whose backends serve a request from the request
itself: the `x-moto-account-id` header, else the account whose IAM holds the
access key, else its default account (`BaseResponse.get_current_account`).
That is right for the keys moto makes (an IAM user's, an STS session's) and
wrong for the keys the local cloud makes for the calls it makes on behalf of
a resource: a Lambda function's execution-role session (identities.py) and
the Step Functions engine's role session (served in-process, unsigned) are
unknown to moto's IAM, so every call of a member account's function or state
machine was served in the management (default) account. And the header let
any caller choose the account its call is served in, whoever signed it.

Here the account is the caller's (`authentication.Caller.account_id`: an
assumed role's is its role's account, a function's is its execution role's,
the engine's is the state machine role's), read from the call being served
(calls.py), whatever the transport. Every AWS call the server serves, over
HTTP or in-process, has one; a call served without one (moto used in-process
by unit tests) keeps moto's choice. What the app serves itself in an account
(TestState, StartSyncExecution, GetActivityTask, IAM's Simulate* calls, the
AWS-like mode's trail check) asks `current()`.

Patch point: `moto.core.responses.BaseResponse.get_current_account` (the
`server-caller-account` seam).
"""

from __future__ import annotations

from . import calls
from .address import ACCOUNT_ID


def current() -> str:
    """The account the call being served is made in (the server's own account when none is being served)."""
    call = calls.current()
    account = call.caller.account_id if call is not None else ""
    return account or ACCOUNT_ID


def seam():
    from moto.core.responses import BaseResponse

    return BaseResponse, "get_current_account"


def install() -> None:
    cls, name = seam()
    original = getattr(cls, name)
    if getattr(original, "_localcloud", False):
        return

    def get_current_account(self) -> str:
        call = calls.current()
        if call is None or not call.caller.account_id:  # not served by the local cloud's app: moto's choice
            return original(self)
        return call.caller.account_id

    get_current_account._localcloud = True
    get_current_account.__wrapped__ = original
    setattr(cls, name, get_current_account)
