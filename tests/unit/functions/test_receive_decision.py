"""ReceiveDecision: a fetched link decides nothing; only a POST with a live token does."""

import base64
import json
import time
from urllib.parse import urlencode

import boto3
import pytest
from moto import mock_aws

from lambda_loader import load_function

app = load_function("receive_decision")

WAITING_MACHINE = {
    "StartAt": "Wait",
    "States": {"Wait": {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
        "Parameters": {"TopicArn": "TOPIC", "Message.$": "$$.Task.Token"},
        "End": True}},
}


def api_event(path, method="GET", query=None, body=None, content_type="application/x-www-form-urlencoded",
              b64=False):
    if b64 and body is not None:
        body = base64.b64encode(body.encode()).decode()
    return {
        "resource": path, "path": path, "httpMethod": method,
        "headers": {"Content-Type": content_type}, "queryStringParameters": query,
        "requestContext": {"path": f"/Prod{path}", "stage": "Prod", "resourcePath": path, "httpMethod": method},
        "body": body, "isBase64Encoded": b64,
    }


@pytest.fixture
def waiting(aws_env):
    """A real execution waiting on a real task token (moto runs the ASL)."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sns, sqs, sfn = boto3.client("sns"), boto3.client("sqs"), boto3.client("stepfunctions")
        topic = sns.create_topic(Name="t")["TopicArn"]
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        definition = json.dumps(WAITING_MACHINE).replace("TOPIC", topic)
        machine = sfn.create_state_machine(name="wait", definition=definition,
                                           roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]

        def start():
            execution = sfn.start_execution(stateMachineArn=machine, name=f"e{time.monotonic_ns()}")["executionArn"]
            for _ in range(100):
                got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages")
                if got:
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=got[0]["ReceiptHandle"])
                    return execution, got[0]["Body"]
                time.sleep(0.05)
            raise AssertionError("the task token never arrived")

        def status(execution):
            for _ in range(100):
                described = sfn.describe_execution(executionArn=execution)
                if described["status"] != "RUNNING":
                    return described
                time.sleep(0.05)
            return described

        yield start, status, sfn


def post(path, token, **extra):
    return app.handler(api_event(path, "POST", body=urlencode({"token": token, **extra})), None)


def test_get_shows_a_form_and_decides_nothing(waiting):
    start, status, sfn = waiting
    execution, token = start()
    page = app.handler(api_event("/allow", query={"token": token}), None)
    assert page["statusCode"] == 200
    assert '<form method="post" action="allow">' in page["body"]
    assert 'name="token"' in page["body"]
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"


def test_post_allow_resumes_with_allow(waiting):
    start, status, _ = waiting
    execution, token = start()
    page = post("/allow", token)
    assert page["statusCode"] == 200 and "Approved" in page["body"]
    described = status(execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["action"] == "allow"


def test_post_deny_sends_delete(waiting):
    start, status, _ = waiting
    execution, token = start()
    assert post("/deny", token)["statusCode"] == 200
    assert json.loads(status(execution)["output"])["action"] == "delete"


def test_json_and_base64_bodies_are_read(waiting):
    start, status, _ = waiting
    execution, token = start()
    event = api_event("/allow", "POST", body=json.dumps({"token": token}), content_type="application/json", b64=True)
    assert app.handler(event, None)["statusCode"] == 200
    assert status(execution)["status"] == "SUCCEEDED"


def test_a_token_whose_plus_signs_became_spaces_still_works(waiting):
    start, status, _ = waiting
    execution, token = start()
    mangled = token.replace("+", " ")
    assert post("/allow", mangled)["statusCode"] == 200
    assert status(execution)["status"] == "SUCCEEDED"


class Finished:
    """Step Functions' answer for a token whose task is over (used or timed out).

    moto answers InvalidToken there; AWS answers TaskTimedOut ("Provided task
    does not exist anymore"), which the local cloud reproduces and its e2e
    tests check. Here the client is stubbed: real AWS cannot be reached.
    """

    def send_task_success(self, **kwargs):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "Provided task does not exist anymore"}},
                          "SendTaskSuccess")


def test_a_used_token_is_already_decided(monkeypatch):
    monkeypatch.setattr(app.boto3, "client", lambda *a, **k: Finished())
    again = post("/deny", "AQBBAAAAKgAAAAMAAAAA", expires=str(int(time.time()) + 3600))
    assert again["statusCode"] == 409
    assert "already" in again["body"].lower()


def test_an_expired_request_says_expired(monkeypatch):
    monkeypatch.setattr(app.boto3, "client", lambda *a, **k: Finished())
    page = post("/allow", "AQBBAAAAKgAAAAMAAAAA", expires=str(int(time.time()) - 10))
    assert page["statusCode"] == 410 and "expired" in page["body"]


def test_a_token_step_functions_does_not_know_is_refused(waiting):
    start, status, sfn = waiting
    execution, token = start()
    page = post("/allow", "forged-token-ABC")
    assert page["statusCode"] == 400 and "not valid" in page["body"]
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"


@pytest.mark.parametrize("token", [
    "A" * 20_000,
    "\x00\x01binary\xff",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "",
])
def test_bad_tokens_get_a_4xx_page_never_a_5xx(waiting, token):
    for method in ("GET", "POST"):
        if method == "GET":
            page = app.handler(api_event("/allow", query={"token": token}), None)
        else:
            page = post("/allow", token)
        assert 400 <= page["statusCode"] < 500, (method, page)
        assert "<script>" not in page["body"]
        assert "Traceback" not in page["body"]


def test_get_page_escapes_what_it_echoes():
    token = 'abc"><img src=x onerror=alert(1)>'
    page = app.handler(api_event("/allow", query={"token": token.replace(" ", "")}), None)
    assert "<img" not in page["body"]


def test_security_headers():
    page = app.handler(api_event("/deny", query={"token": "abc"}), None)
    headers = page["headers"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_unknown_path_and_method():
    assert app.handler(api_event("/maybe", query={"token": "abc"}), None)["statusCode"] == 404
    assert app.handler(api_event("/allow", "DELETE", query={"token": "abc"}), None)["statusCode"] == 405
    assert app.handler("garbage", None)["statusCode"] == 400


def test_step_functions_outage_is_not_reported_as_success(monkeypatch):
    from botocore.exceptions import ClientError

    class Down:
        def send_task_success(self, **kwargs):
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendTaskSuccess")

    monkeypatch.setattr(app.boto3, "client", lambda *a, **k: Down())
    page = post("/allow", "AQBBAAAAKgAAAAMAAAAA")
    assert page["statusCode"] == 502 and "not recorded" in page["body"]


# --- property-based: whatever arrives, the page is an answer, never a crash or a 5xx ---

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


class Refuses:
    """Step Functions refusing every token it is shown (a forged one)."""

    def send_task_success(self, **kwargs):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "InvalidToken", "Message": "Invalid token"}}, "SendTaskSuccess")


text = st.text(max_size=300)
events = st.fixed_dictionaries(
    {
        "path": st.sampled_from(["/allow", "/deny", "/", "/allow/", "/x", ""]),
        "httpMethod": st.sampled_from(["GET", "POST", "HEAD", "PUT", "get", "post", ""]),
        "queryStringParameters": st.one_of(st.none(), st.dictionaries(st.sampled_from(["token", "expires", "x"]),
                                                                      text, max_size=3)),
        "headers": st.one_of(st.none(), st.dictionaries(st.sampled_from(["Content-Type", "content-type", "X"]),
                                                        st.sampled_from(["application/json", "text/plain",
                                                                         "application/x-www-form-urlencoded"]))),
        "body": st.one_of(st.none(), text, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
        "isBase64Encoded": st.booleans(),
    }
)


# Every page the handler can answer without calling Step Functions.
_PAGE_MARKUP = "".join(app.handler(api_event(p, m, query={"token": t}, body=f"token={t}"), None)["body"]
                       for p in ("/allow", "/deny", "/x") for m, t in (("GET", "abc"), ("PUT", "abc"),
                                                                       ("POST", ""), ("GET", "<")))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=events)
def test_any_request_gets_a_page_never_an_exception_or_5xx(monkeypatch, event):
    monkeypatch.setattr(app.boto3, "client", lambda *a, **k: Refuses())
    event["resource"] = event["path"]
    page = app.handler(event, None)
    assert 200 <= page["statusCode"] < 500
    assert page["headers"]["Content-Type"].startswith("text/html")
    if page["statusCode"] == 200:
        # Only GET shows a page with 200: it decides nothing (the stub would refuse).
        assert event["httpMethod"].upper() in ("GET", "HEAD", "")
    lowered = page["body"].lower()
    assert "traceback" not in lowered
    for value in (event["queryStringParameters"] or {}).values():
        # Markup in the input must not reach the page unescaped (text that the
        # page's own markup happens to contain, like "<p>", proves nothing).
        if "<" in value and value not in _PAGE_MARKUP:
            assert value not in page["body"], "echoed input must be escaped"
