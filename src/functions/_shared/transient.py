"""The AWS errors that mean "busy, try again", raised as `TransientError`.

The state machine retries each Lambda task on the error name `TransientError`
(with backoff); any other error is a verdict or a failure it routes on. So a
service's momentary trouble must surface under that name in every function,
and the list of such error codes is one list.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

# Throttling as the services spell it, DynamoDB's throughput and its 500, IAM's 500
# (ServiceFailure), and the generic codes of a service that is down for a moment.
TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "RequestLimitExceeded", "ProvisionedThroughputExceededException",
    "InternalServerError", "InternalFailure", "ServiceFailure", "ServiceUnavailable",
})


class TransientError(Exception):
    """An AWS service was busy; the state machine retries this error by name."""


def aws_call(method, **kwargs):
    """`method(**kwargs)`; a busy service's error becomes TransientError, any other ClientError stays."""
    try:
        return method(**kwargs)
    except ClientError as exc:
        code = error_code(exc)
        if code in TRANSIENT_CODES:
            raise TransientError(f"{method.__name__}: {code}") from exc
        raise


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ("" when it carries none)."""
    return exc.response.get("Error", {}).get("Code", "")
