"""Requests signed by hand, as a client other than boto3 signs them: botocore's SigV4 signer, any time, any key.

The local cloud checks every signature (server/authentication.py), so a test that
sends a raw request (garbage bodies, odd headers, a signature from the past) signs
it here: `signed_headers` for the `Authorization` form, `presigned` for the query
form. `at=` signs as of another moment (a skewed clock, an expired URL).
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from unittest import mock

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def _clock(at: datetime | None):
    return mock.patch("botocore.auth.get_current_datetime", return_value=at) if at else nullcontext()


def signed_headers(credentials, method: str, url: str, body: bytes = b"", service: str = "iam",
                   headers: dict | None = None, region: str = "us-east-1", at: datetime | None = None,
                   secret: str | None = None, token: str | None = None) -> dict:
    """The headers (Authorization, X-Amz-Date, ...) that sign this request with `credentials`' key."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    keys = Credentials(credentials.access_key_id, secret or credentials.secret_access_key, token)
    signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(keys, service, region)
    with _clock(at):
        signer.add_auth(request)
    return dict(request.headers.items())


def presigned(credentials, method: str, url: str, service: str = "iam", region: str = "us-east-1",
              expires: int = 3600, at: datetime | None = None, secret: str | None = None,
              token: str | None = None) -> str:
    """`url` signed in its query string (SigV4), valid `expires` seconds from `at` (default: now)."""
    request = AWSRequest(method=method, url=url)
    keys = Credentials(credentials.access_key_id, secret or credentials.secret_access_key, token)
    signer = (S3SigV4QueryAuth if service == "s3" else SigV4QueryAuth)(keys, service, region, expires=expires)
    with _clock(at):
        signer.add_auth(request)
    return request.url
