"""ReceiveDecision: only a signed link decides, once; a fetched link decides nothing; bad input is a 4xx."""

import base64
import json
import threading
import time
import uuid
from types import SimpleNamespace
from urllib.parse import urlencode

import boto3
import pytest

from incident_steps import item, signed_link
from lambda_loader import load_function
from waiting_executions import waiting_machine

app = load_function("receive_decision")


def api_event(path, method="GET", query=None, body=None, content_type="application/x-www-form-urlencoded",
              b64=False):
    if b64 and body is not None:
        body = base64.b64encode(body.encode()).decode()
    return {
        "resource": path, "path": path, "httpMethod": method,
        "headers": {"Content-Type": content_type}, "queryStringParameters": query,
        "requestContext": {"path": f"/Prod{path}", "stage": "Prod", "resourcePath": path, "httpMethod": method,
                           "identity": {"sourceIp": "198.51.100.7"}},
        "body": body, "isBase64Encoded": b64,
    }


@pytest.fixture
def asked(stack):
    """new() -> an incident waiting for a decision: a real moto execution waiting on a real task
    token, the token kept in the incident as AskUser keeps it, and the link fields AskUser signs."""
    machine = waiting_machine(stack.sfn, stack.sqs, sns=stack.sns, name="tokens")

    def new(expires_in=3600):
        execution, token = machine.start()
        incident = uuid.uuid4().hex
        expires = int(time.time()) + expires_in
        stack.dynamodb.put_item(TableName=stack.table, Item={
            "incidentId": {"S": incident}, "taskToken": {"S": token}, "status": {"S": "awaiting"},
            "executionArn": {"S": execution}, "deadline": {"N": str(expires)}})

        def link(action, signed_for=None):
            """The link AskUser e-mails (its own code signs it); `signed_for`: another decision's link."""
            return signed_link(stack.secret, incident, signed_for or action, expires)

        return SimpleNamespace(id=incident, execution=execution, token=token, link=link,
                               status=lambda: finished(stack.sfn, execution))

    return new


def finished(sfn, execution):
    for _ in range(100):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    return described


def post(path, fields, **kwargs):
    return app.handler(api_event(path, "POST", body=urlencode(fields), **kwargs), None)


def running(stack, incident) -> bool:
    return stack.sfn.describe_execution(executionArn=incident.execution)["status"] == "RUNNING"


# --- a signed link decides, once --------------------------------------------------------------


def test_get_shows_a_form_and_decides_nothing(stack, asked):
    incident = asked()
    page = app.handler(api_event("/allow", query=incident.link("allow")), None)
    assert page["statusCode"] == 200 and '<form method="post" action="allow">' in page["body"]
    for name in ("incident", "expires", "signature"):
        assert f'name="{name}"' in page["body"]
    assert "token" not in page["body"].lower() and incident.token not in page["body"]
    assert running(stack, incident) and "decision" not in item(stack, incident.id)


def test_post_allow_records_the_decision_and_resumes_with_allow(stack, asked):
    incident = asked()
    page = post("/allow", incident.link("allow"))
    assert page["statusCode"] == 200 and "Approved" in page["body"]
    described = incident.status()
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["action"] == "allow" and output["incidentId"] == incident.id and output["decidedVia"] == "link"
    recorded = item(stack, incident.id)
    assert recorded["decision"] == "allow" and recorded["decidedVia"] == "link"
    assert "198.51.100.7" in recorded["decidedBy"] and recorded["decidedAt"]


def test_post_deny_sends_delete(stack, asked):
    incident = asked()
    assert post("/deny", incident.link("deny"))["statusCode"] == 200
    assert json.loads(incident.status()["output"])["action"] == "delete"
    assert item(stack, incident.id)["decision"] == "deny"


def test_a_deny_link_edited_into_an_allow_link_is_refused(stack, asked):
    incident = asked()
    edited = incident.link("allow", signed_for="deny")  # the deny link's fields on the /allow path
    assert app.handler(api_event("/allow", query=edited), None)["statusCode"] == 403
    page = post("/allow", edited)
    assert page["statusCode"] == 403 and "not valid" in page["body"]
    assert running(stack, incident) and "decision" not in item(stack, incident.id)


# ids by field: the expiry is a moment from now, and each test process (pytest-xdist) must name the tests alike
@pytest.mark.parametrize("field,value", [("incident", "0" * 32), ("expires", str(int(time.time()) + 99999)),
                                         ("signature", "0" * 64)], ids=["incident", "expires", "signature"])
def test_any_edited_field_breaks_the_signature(stack, asked, field, value):
    incident = asked()
    assert post("/allow", {**incident.link("allow"), field: value})["statusCode"] == 403
    assert running(stack, incident)


def test_the_task_token_alone_decides_nothing(stack, asked):
    """The old links carried the token; the execution history still shows it to any reader."""
    incident = asked()
    for body in (urlencode({"token": incident.token}), json.dumps({"token": incident.token})):
        page = app.handler(api_event("/allow", "POST", body=body,
                                     content_type="application/json" if body.startswith("{") else
                                     "application/x-www-form-urlencoded"), None)
        assert page["statusCode"] == 403 and "decides nothing" in page["body"]
    assert app.handler(api_event("/allow", query={"token": incident.token}), None)["statusCode"] == 403
    assert running(stack, incident)


def test_a_second_decision_is_refused_and_the_page_says_which_stood(stack, asked):
    incident = asked()
    assert post("/allow", incident.link("allow"))["statusCode"] == 200
    again = post("/allow", incident.link("allow"))
    assert again["statusCode"] == 409 and "already approved" in again["body"]
    late_deny = post("/deny", incident.link("deny"))
    assert late_deny["statusCode"] == 409 and "approved (via link" in late_deny["body"]
    assert item(stack, incident.id)["decision"] == "allow"


def test_allow_and_deny_at_the_same_moment_one_decision_stands(stack, asked):
    incident = asked()
    barrier = threading.Barrier(2)
    pages = {}

    def click(action):
        barrier.wait(timeout=10)
        pages[action] = post(f"/{action}", incident.link(action))

    threads = [threading.Thread(target=click, args=(action,)) for action in ("allow", "deny")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(page["statusCode"] for page in pages.values())
    assert statuses == [200, 409], {a: p["statusCode"] for a, p in pages.items()}
    winner = next(action for action, page in pages.items() if page["statusCode"] == 200)
    assert item(stack, incident.id)["decision"] == winner
    expected = {"allow": "allow", "deny": "delete"}[winner]
    assert json.loads(incident.status()["output"])["action"] == expected


def test_an_expired_link_says_expired_and_decides_nothing(stack, asked):
    incident = asked(expires_in=-10)
    page = post("/allow", incident.link("allow"))
    assert page["statusCode"] == 410 and "expired" in page["body"]
    assert running(stack, incident) and "decision" not in item(stack, incident.id)


class StepFunctions:
    """Step Functions answering SendTaskSuccess with an error (AWS cannot be reached here)."""

    def __init__(self, code):
        self.code = code

    def send_task_success(self, **kwargs):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": self.code, "Message": self.code}}, "SendTaskSuccess")


def with_step_functions(monkeypatch, code):
    real = boto3.client
    monkeypatch.setattr(app.boto3, "client",
                        lambda service, *a, **k: StepFunctions(code) if service == "stepfunctions" else real(service))


def test_a_task_that_timed_out_is_expired_and_the_decision_taken_back(stack, asked, monkeypatch):
    incident = asked()
    with_step_functions(monkeypatch, "TaskTimedOut")
    page = post("/allow", incident.link("allow"))
    assert page["statusCode"] == 410 and "expired" in page["body"]
    recorded = item(stack, incident.id)
    assert "decision" not in recorded and recorded["status"] == "expired"


def test_step_functions_outage_is_not_reported_as_success(stack, asked, monkeypatch):
    incident = asked()
    with_step_functions(monkeypatch, "ServiceUnavailable")
    page = post("/allow", incident.link("allow"))
    assert page["statusCode"] == 502 and "not recorded" in page["body"]
    assert "decision" not in item(stack, incident.id)


def test_json_and_base64_bodies_are_read(stack, asked):
    incident = asked()
    event = api_event("/allow", "POST", body=json.dumps(incident.link("allow")), content_type="application/json",
                      b64=True)
    assert app.handler(event, None)["statusCode"] == 200
    assert incident.status()["status"] == "SUCCEEDED"


# --- bad input: a 4xx page, never a 5xx -----------------------------------------------------------


@pytest.mark.parametrize("body,content_type,status", [
    ("[" * 100_000, "application/json", 413),  # the 502: far past the cap
    ("[" * 3_000, "application/json", 400),  # under the cap, deep enough to exhaust json's recursion
    ('[{"a":' * 480 + "1" + "}]" * 480, "application/json", 400),
    ("x" * 200_000, "application/x-www-form-urlencoded", 413),
    ("&".join(f"f{i}=1" for i in range(100)), "application/x-www-form-urlencoded", 400),
    ("{not json", "application/json", 400),
    ('["incident"]', "application/json", 400),
])
def test_huge_or_nested_bodies_get_a_4xx(stack, body, content_type, status):
    page = app.handler(api_event("/allow", "POST", body=body, content_type=content_type), None)
    assert page["statusCode"] == status, page["body"][:300]
    assert "Traceback" not in page["body"]


@pytest.mark.parametrize("fields", [
    {"incident": "A" * 20_000, "expires": "1", "signature": "0" * 64},
    {"incident": "\x00\x01binary\xff", "expires": "1", "signature": "x"},
    {"incident": "<script>alert(1)</script>", "expires": "1", "signature": "x"},
    {"incident": "' OR 1=1 --", "expires": "1", "signature": "x"},
    {"incident": "0" * 32, "expires": "-1", "signature": "0" * 64},
    {},
])
def test_malformed_links_get_a_4xx_page_never_a_5xx(stack, fields):
    for event in (api_event("/allow", query=fields), api_event("/allow", "POST", body=urlencode(fields))):
        page = app.handler(event, None)
        assert 400 <= page["statusCode"] < 500, page
        assert "<script>" not in page["body"] and "Traceback" not in page["body"]


def test_security_headers(stack):
    headers = app.handler(api_event("/deny", query={"incident": "x"}), None)["headers"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_unknown_path_and_method(stack):
    assert app.handler(api_event("/maybe", query={"incident": "abc"}), None)["statusCode"] == 404
    assert app.handler(api_event("/allow", "DELETE", query={"incident": "abc"}), None)["statusCode"] == 405
    assert app.handler("garbage", None)["statusCode"] == 400


# --- property-based: whatever arrives, the page is an answer, never a crash or a 5xx ---

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


class Refuses:
    """The AWS side for requests that never carry a valid signature: a secret, nothing else."""

    def get_secret_value(self, **kwargs):
        return {"SecretString": "k" * 64}

    def __getattr__(self, name):
        raise AssertionError(f"an unsigned request reached {name}")


text = st.text(max_size=300)
events = st.fixed_dictionaries(
    {
        "path": st.sampled_from(["/allow", "/deny", "/", "/allow/", "/x", ""]),
        "httpMethod": st.sampled_from(["GET", "POST", "HEAD", "PUT", "get", "post", ""]),
        "queryStringParameters": st.one_of(st.none(), st.dictionaries(
            st.sampled_from(["incident", "expires", "signature", "token", "x"]), text, max_size=4)),
        "headers": st.one_of(st.none(), st.dictionaries(st.sampled_from(["Content-Type", "content-type", "X"]),
                                                        st.sampled_from(["application/json", "text/plain",
                                                                         "application/x-www-form-urlencoded"]))),
        "body": st.one_of(st.none(), text, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
        "isBase64Encoded": st.booleans(),
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=events)
def test_any_request_gets_a_page_never_an_exception_or_5xx(monkeypatch, event):
    monkeypatch.setenv("DECISION_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:property")
    monkeypatch.setattr(app.boto3, "client", lambda *a, **k: Refuses())
    event["resource"] = event["path"]
    page = app.handler(event, None)
    assert 200 <= page["statusCode"] < 500
    assert page["headers"]["Content-Type"].startswith("text/html")
    assert page["statusCode"] != 200  # nothing here is signed: not even a confirmation page
    lowered = page["body"].lower()
    assert "traceback" not in lowered
    # The same request without "<": a value echoed unescaped shows more often than in that page
    # (a value such as "<" or "<h1>" is in every page's own markup).
    query = event["queryStringParameters"] or {}
    calm = app.handler({**event, "queryStringParameters": {k: v.replace("<", "_") for k, v in query.items()}}, None)
    for value in query.values():
        if "<" in value:
            assert page["body"].count(value) == calm["body"].count(value), "echoed input must be escaped"


# --- the panel's IAM-authorised method ---------------------------------------------------------------

ADMIN_ARN = "arn:aws:iam::123456789012:user/admin"


def panel_event(incident_id, decision, caller=ADMIN_ARN, method="POST", body=None):
    """What API Gateway's IAM-authorised method hands the function: the signer's ARN in requestContext."""
    event = api_event("/decision", method, body=body if body is not None else json.dumps(
        {"incident": incident_id, "decision": decision}), content_type="application/json")
    event["requestContext"]["identity"]["userArn"] = caller
    return event


def test_the_panel_decides_through_the_function_and_the_signer_is_recorded(stack, asked):
    incident = asked()
    answer = app.handler(panel_event(incident.id, "deny"), None)
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 200 and body["title"] == "Denied" and body["decidedBy"] == ADMIN_ARN
    recorded = item(stack, incident.id)
    assert (recorded["decision"], recorded["decidedVia"], recorded["decidedBy"]) == ("deny", "panel", ADMIN_ARN)
    assert json.loads(incident.status()["output"]) == {"action": "delete", "incidentId": incident.id,
                                                       "decidedVia": "panel", "decidedAt": recorded["decidedAt"]}


def test_a_panel_request_without_a_signer_decides_nothing(stack, asked):
    incident = asked()
    for caller in (None, "", "not-an-arn"):
        answer = app.handler(panel_event(incident.id, "allow", caller=caller), None)
        assert answer["statusCode"] == 403 and "signed with AWS credentials" in json.loads(answer["body"])["message"]
    assert "decision" not in item(stack, incident.id) and running(stack, incident)


@pytest.mark.parametrize("body, status", [("{", 400), ('{"incident": "x", "decision": "allow"}', 400),
                                          ('{"incident": "' + "a" * 32 + '", "decision": "maybe"}', 400),
                                          ("[" * 5000, 413)])
def test_a_malformed_panel_request_is_a_4xx(stack, body, status):
    answer = app.handler(panel_event("", "", body=body), None)
    assert answer["statusCode"] == status and json.loads(answer["body"])["title"]
    assert app.handler(panel_event("a" * 32, "allow", method="GET"), None)["statusCode"] == 405


def test_the_panel_after_a_link_is_told_which_decision_stood(stack, asked):
    incident = asked()
    assert post("/allow", incident.link("allow"))["statusCode"] == 200
    answer = app.handler(panel_event(incident.id, "deny"), None)
    assert answer["statusCode"] == 409 and "already approved (via link" in json.loads(answer["body"])["message"]
    assert item(stack, incident.id)["decision"] == "allow"
