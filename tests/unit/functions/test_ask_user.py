"""AskUser: the task token stays in the incidents table; the e-mail carries signed links without it."""

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from incident_steps import API_BASE_URL, BAD, EXECUTION, item, link_fields, managed, receive_decision, record, \
    revert_change

from lambda_loader import load_function

app = load_function("ask_user")
# Real task tokens are long and base64-like.
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAd+9Jz/abc+def/ghi==" * 8


def soon(seconds=3600) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds - 3600)).isoformat()


def payload(incident_id, **extra):
    """AskUser's Payload in the state machine."""
    return {"token": TOKEN, "executionArn": EXECUTION, "enteredTime": soon(), "approvalTimeoutSeconds": 3600,
            "incidentId": incident_id, **extra}


@pytest.fixture
def incident(stack):
    arn = stack.iam.create_policy(PolicyName="my-bad-policy", PolicyDocument=BAD)["Policy"]["Arn"]
    return arn, revert_change(managed(arn, "v1"))["incidentId"]


@pytest.fixture
def inbox(stack):
    queue = stack.sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = stack.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.sns.subscribe(TopicArn=stack.topic, Protocol="sqs", Endpoint=queue_arn)

    def mails():
        got = stack.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    return mails


def test_the_token_goes_to_the_incident_and_the_mail_has_signed_links_without_it(stack, incident, inbox, capsys):
    arn, incident_id = incident
    assert app.handler(payload(incident_id), None)["status"] == "sent"
    stored = item(stack, incident_id)
    assert stored["taskToken"] == TOKEN and stored["status"] == "awaiting"
    deadline = int(stored["deadline"])

    mail, = inbox()
    body = mail["Message"]
    assert TOKEN not in body and "token=" not in body
    assert mail["Subject"] == "Approval needed: IAM policy my-bad-policy was reverted"
    links = {name: next(line.strip() for line in body.splitlines() if f"/Prod/{name}?" in line)
             for name in ("allow", "deny")}
    other = {"allow": "deny", "deny": "allow"}
    for name, link in links.items():
        fields = link_fields(link)
        assert set(fields) == {"incident", "expires", "signature"}
        assert fields["incident"] == incident_id and fields["expires"] == str(deadline)
        # ReceiveDecision's own code accepts it for this decision, and only for this one.
        assert receive_decision.check_link(fields, name, stack.secret) == (incident_id, deadline)
        with pytest.raises(receive_decision.BadRequest):
            receive_decision.check_link(fields, other[name], stack.secret)
    # One decision's signature is not the other's: a deny link cannot be edited into an allow link.
    assert parse_qs(urlsplit(links["allow"]).query)["signature"] != parse_qs(urlsplit(links["deny"]).query)["signature"]
    assert TOKEN not in capsys.readouterr().out


def test_the_mail_is_written_from_the_table(stack, incident, inbox):
    arn, incident_id = incident
    app.handler(payload(incident_id), None)
    body = inbox()[0]["Message"]
    assert f"Policy: {arn}" in body and "Offending version: v1" in body
    assert "arn:aws:iam::123456789012:user/alice" in body  # who changed it (CloudTrail's userIdentity)
    assert "s3:DeleteBucket" in body and '"s3:DeleteObject"' in body  # the matches and the document itself
    assert "opening a link decides nothing" in body and f"Incident: {incident_id}" in body


def test_an_unreadable_policys_mail_says_why_it_was_reverted(stack, inbox):
    arn = stack.iam.create_policy(PolicyName="odd", PolicyDocument=BAD)["Policy"]["Arn"]
    incident_id = revert_change(managed(arn, "v1"), verdict={
        "Error": "InvalidPolicyDocument", "Cause": "the policy document has a duplicate key"})["incidentId"]
    app.handler(payload(incident_id), None)
    body = inbox()[0]["Message"]
    assert "InvalidPolicyDocument" in body and "reverted to be safe" in body


def test_another_execution_cannot_put_its_token_in_the_incident(stack, incident):
    _, incident_id = incident
    with pytest.raises(app.InvalidEvent, match="not this execution"):
        app.handler(payload(incident_id, executionArn=EXECUTION + "-forged", token="another"), None)
    assert "taskToken" not in item(stack, incident_id)


def test_a_decided_incident_is_not_asked_again(stack, incident):
    _, incident_id = incident
    record(stack, incident_id, "deny")
    with pytest.raises(app.InvalidEvent, match="already decided"):
        app.handler(payload(incident_id), None)


def test_a_retry_replaces_the_token_of_the_same_execution(stack, incident, inbox):
    _, incident_id = incident
    app.handler(payload(incident_id, token="first-attempt"), None)
    app.handler(payload(incident_id), None)
    assert item(stack, incident_id)["taskToken"] == TOKEN


@pytest.mark.parametrize("missing", ["token", "incidentId", "executionArn"])
def test_a_payload_without_what_it_needs_fails(stack, incident, missing):
    given = payload(incident[1])
    given[missing] = ""
    with pytest.raises(app.InvalidEvent):
        app.handler(given, None)


def test_links_expire_with_the_approval_wait():
    deadline = app.deadline("2026-11-28T10:15:31.123Z", 3600)
    assert deadline == datetime(2026, 11, 28, 11, 15, 31, 123000, tzinfo=timezone.utc)
    links = app.decision_links(API_BASE_URL, b"k" * 64, "a" * 32, int(deadline.timestamp()))
    assert urlsplit(links["allow"]).path == "/Prod/allow" and urlsplit(links["deny"]).path == "/Prod/deny"
