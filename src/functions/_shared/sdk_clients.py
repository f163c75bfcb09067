"""SDK clients made once per sandbox and kept for its warm invocations.

AWS's advice is to initialise clients outside the handler: a warm sandbox then
reuses the client and its connections. A client is made again only when the
region, the endpoint or the key in the environment changes (tests do; a
Lambda sandbox never does).
"""

from __future__ import annotations

import functools
import os

import boto3

SANDBOX_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID")


def per_sandbox(make):
    """Decorate a function that makes a client: it is called once per sandbox environment.

        @per_sandbox
        def dynamodb():
            return boto3.client("dynamodb")
    """
    @functools.lru_cache(maxsize=4)
    def made_for(_environment: tuple):
        return make()

    @functools.wraps(make)
    def client():
        return made_for(tuple(os.environ.get(name) for name in SANDBOX_ENV))

    client.cache_clear = made_for.cache_clear
    return client


@per_sandbox
def dynamodb_client():
    """The incidents table's client."""
    return boto3.client("dynamodb")


@per_sandbox
def kms_client():
    """The seal key's client (KMS)."""
    return boto3.client("kms")


@per_sandbox
def s3_client():
    """Bucket policies' client (S3)."""
    return boto3.client("s3")
