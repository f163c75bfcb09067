"""The AWS call being served: who makes it, from where, for which service, through which other service.

The app sets it around every AWS API request it serves, over HTTP or
in-process (`serving`); what records or decides something about the caller
reads it where the model changes, whatever the transport: CloudTrail's events
from the IAM model (services/cloudtrail.py), STS's GetSessionToken and
GetCallerIdentity (services/sts.py), the authorizer.

A context variable, so each request thread sees its own call. CloudFormation
creates a stack's resources in the thread of the request that asked for them,
so an IAM role a template makes is written while the CloudFormation call is
current: `via` says so.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Mapping

from .authentication import Caller


@dataclass(frozen=True)
class Call:
    caller: Caller
    service: str | None = None  # the credential scope's service ("iam", "cloudformation", ...)
    action: str | None = None  # the query protocol's Action, or the X-Amz-Target operation
    parameters: Mapping[str, list[str]] | None = None  # a query-protocol call's form, as sent
    source_ip: str = "127.0.0.1"
    user_agent: str = ""
    request_id: str | None = None
    via: str | None = None  # the AWS service making the call for the caller ("cloudformation.amazonaws.com")
    # what the call changed, to be told once it is answered (CloudTrail's events); None: tell at once
    pending: list | None = field(default=None, compare=False)


_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("localcloud_call", default=None)


def current() -> Call | None:
    return _current.get()


@contextlib.contextmanager
def serving(call: Call):
    token = _current.set(call)
    try:
        yield call
    finally:
        _current.reset(token)
