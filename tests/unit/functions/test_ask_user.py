"""AskUser: the e-mail a human gets, with safe links and the token URL-encoded."""

import json
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws

from lambda_loader import load_function

app = load_function("ask_user")
# Real task tokens are long and base64-like: "+", "/" and "=" must survive a URL.
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAd+9Jz/abc+def/ghi==" * 8
BASE = "https://abc123.execute-api.us-east-1.amazonaws.com/Prod"


def payload(**extra):
    event = {
        "token": TOKEN,
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:e1",
        "enteredTime": "2026-11-28T10:15:31.123Z",
        "approvalTimeoutSeconds": 3600,
        "eventName": "CreatePolicy",
        "policyMeta": {"arn": "arn:aws:iam::123456789012:policy/my-bad-policy", "versionId": "v1"},
        "taskresult": {"action": "remedy", "matches": [
            {"statement": 0, "sid": "VisualEditor0", "action": "s3:DeleteBucket", "grantedBy": "s3:DeleteBucket"}]},
    }
    event.update(extra)
    return event


def test_links_carry_the_token_url_encoded_and_round_trip():
    links = app.decision_links(BASE, TOKEN, None)
    for name, path in (("approve", "/Prod/allow"), ("deny", "/Prod/deny")):
        parts = urlsplit(links[name])
        assert parts.path == path
        assert "+" not in parts.query and "/" not in parts.query  # encoded, not raw
        assert parse_qs(parts.query)["token"] == [TOKEN]


def test_email_names_policy_actions_links_and_deadline():
    subject, body = app.compose_email(payload(), BASE)
    assert "my-bad-policy" in subject
    assert "s3:DeleteBucket" in body and "VisualEditor0" in body
    links = app.decision_links(BASE, TOKEN, app._deadline("2026-11-28T10:15:31.123Z", 3600))
    assert links["approve"] in body and links["deny"] in body
    assert "2026-11-28 11:15 UTC" in body
    assert "opening a link decides nothing" in body


def test_email_for_an_unreadable_policy_says_why_it_was_reverted():
    event = payload(taskresult={"Error": "InvalidPolicyDocument", "Cause": "the policy document is not JSON"})
    _, body = app.compose_email(event, BASE)
    assert "InvalidPolicyDocument" in body and "reverted to be safe" in body


@pytest.fixture
def topic_and_queue(aws_env, monkeypatch):
    with mock_aws():
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("TOPIC_ARN", topic)
        monkeypatch.setenv("API_BASE_URL", BASE)
        yield sqs, queue


def test_handler_publishes_and_never_logs_the_token(topic_and_queue, capsys):
    sqs, queue = topic_and_queue
    result = app.handler(payload(), None)
    assert result["status"] == "sent"
    messages = sqs.receive_message(QueueUrl=queue)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"].startswith("Approval needed: IAM policy my-bad-policy")
    assert "/Prod/allow?token=" in envelope["Message"]
    assert TOKEN not in capsys.readouterr().out


def test_handler_without_token_fails(topic_and_queue):
    with pytest.raises(app.InvalidEvent):
        app.handler(payload(token=""), None)
