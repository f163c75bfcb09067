"""The signature check on its own (no server): botocore's requests, each protocol's answer, the clock, the logs."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from werkzeug.test import EnvironBuilder

from workshop.localcloud.server import authentication
from workshop.localcloud.server.authentication import AuthenticationFailed, Authenticator

KEY, SECRET = "LCAKUNITTESTKEY00000", "the-secret"


def _environ(request) -> tuple[dict, bytes]:
    """The WSGI environ a server builds for what botocore sent."""
    url = urlsplit(request.url)
    body = request.body.read() if hasattr(request.body, "read") else request.body or b""
    body = body.encode() if isinstance(body, str) else body
    headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()]
    builder = EnvironBuilder(path=url.path, base_url=f"{url.scheme}://{url.netloc}", query_string=url.query,
                             method=request.method, headers=headers, data=body)
    environ = builder.get_environ()
    environ["RAW_URI"] = url.path + ("?" + url.query if url.query else "")
    return environ, body


def _sent(service, call, secret=SECRET, **config):
    """What `call(client)` sends, captured before it leaves: (environ, body)."""
    seen = []

    def capture(request, **kwargs):
        seen.append(_environ(request))
        from moto.core.botocore_stubber import MockRawResponse

        return AWSResponse(request.url, 200, {}, MockRawResponse(b"{}"))

    client = boto3.client(service, endpoint_url="http://127.0.0.1:4566", region_name="us-east-1",
                          aws_access_key_id=KEY, aws_secret_access_key=secret,
                          config=Config(retries={"total_max_attempts": 1}, **config))
    client.meta.events.register("before-send", capture)
    try:
        call(client)
    except Exception:  # the captured answer is not the service's shape: only the request matters here
        pass
    return seen[-1]


CALLS = {
    "iam": lambda c: c.create_policy(PolicyName="p", PolicyDocument='{"a": "b c/d+e"}'),
    "sts": lambda c: c.get_caller_identity(),
    "stepfunctions": lambda c: c.start_execution(stateMachineArn="arn:aws:states:us-east-1:1:stateMachine:m", input="{}"),
    "lambda": lambda c: c.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:f", Payload=b"{}"),
    "dynamodb": lambda c: c.put_item(TableName="t", Item={"k": {"S": "é"}}),
    "s3": lambda c: c.put_object(Bucket="bucket", Key="a b/c+d=é", Body=b"hello"),
}
CODES = {"iam": "SignatureDoesNotMatch", "sts": "SignatureDoesNotMatch", "stepfunctions": "InvalidSignatureException",
         "lambda": "InvalidSignatureException", "dynamodb": "InvalidSignatureException",
         "s3": "SignatureDoesNotMatch"}


@pytest.mark.parametrize("service", list(CALLS))
def test_what_botocore_signs_checks_out_and_a_wrong_secret_gets_the_protocols_code(service):
    config = {"s3": {"addressing_style": "path"}} if service == "s3" else {}
    environ, body = _sent(service, CALLS[service], **config)
    caller = Authenticator(KEY, SECRET).authenticate(environ, lambda: body)
    assert caller.kind == "learner-admin" and caller.principal_arn == "arn:aws:iam::123456789012:root"
    environ, body = _sent(service, CALLS[service], secret="not-the-secret", **config)
    with pytest.raises(AuthenticationFailed) as refused:
        Authenticator(KEY, SECRET).authenticate(environ, lambda: body)
    status, headers, answer = refused.value.answer(environ)
    assert status.startswith("403") and CODES[service] in answer.decode()
    assert SECRET not in answer.decode()


def test_a_body_changed_after_signing_is_refused():
    environ, body = _sent("stepfunctions", CALLS["stepfunctions"])
    with pytest.raises(AuthenticationFailed) as refused:
        Authenticator(KEY, SECRET).authenticate(environ, lambda: body.replace(b"{}", b"[]"))
    assert refused.value.problem == authentication.MISMATCH
    environ, body = _sent("s3", CALLS["s3"], s3={"addressing_style": "path"})
    with pytest.raises(AuthenticationFailed) as refused:  # S3 signs a hash of the body in a header
        Authenticator(KEY, SECRET).authenticate(environ, lambda: b"jello")
    assert "x-amz-content-sha256" in str(refused.value)


def test_the_clock_the_request_is_checked_against_is_its_own_date_within_15_minutes():
    environ, body = _sent("sts", CALLS["sts"])
    now = authentication._aws_time(environ["HTTP_X_AMZ_DATE"]).timestamp()
    Authenticator(KEY, SECRET, clock=lambda: now + 14 * 60).authenticate(environ, lambda: body)
    with pytest.raises(AuthenticationFailed) as late:
        Authenticator(KEY, SECRET, clock=lambda: now + 16 * 60).authenticate(environ, lambda: body)
    assert late.value.problem == authentication.SKEWED and "Signature expired" in late.value.message
    with pytest.raises(AuthenticationFailed) as early:
        Authenticator(KEY, SECRET, clock=lambda: now - 16 * 60).authenticate(environ, lambda: body)
    assert "Signature not yet current" in early.value.message


def test_an_expired_session_is_refused_whatever_its_signature():
    from dataclasses import replace
    from datetime import datetime, timedelta, timezone

    environ, body = _sent("sts", CALLS["sts"])
    authenticator = Authenticator("LCAKSOMEOTHERKEY0000", "x")
    caller = replace(authentication.learner_caller(KEY), expires=datetime.now(timezone.utc) - timedelta(seconds=1))
    authentication.add_session(authentication.KeySecret(SECRET, None, caller))
    try:
        with pytest.raises(AuthenticationFailed) as refused:
            authenticator.authenticate(environ, lambda: body)
        assert refused.value.problem == authentication.EXPIRED_TOKEN
        assert b"<Code>ExpiredToken</Code>" in refused.value.answer(environ)[2]
    finally:
        authentication.forget_sessions()


def test_only_the_servers_own_code_can_name_an_in_process_caller():
    environ, body = _sent("sts", CALLS["sts"], secret="wrong")
    environ[authentication.IN_PROCESS_CALLER] = "arn:aws:iam::123456789012:role/admin"  # not a Caller: ignored
    with pytest.raises(AuthenticationFailed):
        Authenticator(KEY, SECRET).authenticate(environ, lambda: body)
    machine = authentication.engine_caller("arn:aws:iam::123456789012:role/machine")
    environ[authentication.IN_PROCESS_CALLER] = machine
    assert Authenticator(KEY, SECRET).authenticate(environ, lambda: body) is machine


def test_derived_signing_keys_are_made_once_per_secret_day_region_and_service():
    authentication.signing_key.cache_clear()
    for _ in range(3):
        environ, body = _sent("sts", CALLS["sts"])
        Authenticator(KEY, SECRET).authenticate(environ, lambda: body)
    assert authentication.signing_key.cache_info().misses == 1


def test_a_logged_request_line_carries_no_token_or_signature():
    line = ('"GET /b/k?X-Amz-Credential=ASIAX%2F20261207%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Security-Token='
            'IQoJb3JpZ2luX2Vj%2B%3D&X-Amz-Signature=0a1b HTTP/1.1" 200 -')
    shown = authentication.redact(line)
    assert "IQoJb3JpZ2luX2Vj" not in shown and "0a1b" not in shown and "ASIAX" in shown
    assert authentication.redact("GET /b/k?AWSAccessKeyId=LCAK&Signature=abc%2F&Expires=9") == \
        "GET /b/k?AWSAccessKeyId=LCAK&Signature=<redacted>&Expires=9"


def test_a_failure_is_answered_in_the_clients_protocol():
    environ = EnvironBuilder(path="/", method="POST", headers={"X-Amz-Target": "AWSStepFunctions.ListStateMachines",
                                                               "Content-Type": "application/x-amz-json-1.0"}).get_environ()
    with pytest.raises(AuthenticationFailed) as missing:
        Authenticator(KEY, SECRET).authenticate(environ, lambda: b"{}")
    status, headers, body = missing.value.answer(environ)
    assert json.loads(body)["__type"] == "MissingAuthenticationTokenException" and status.startswith("403")
    assert dict(headers)["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
