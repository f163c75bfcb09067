"""SNS e-mail deliveries land in the mailbox."""

import boto3
from moto import mock_aws

from workshop.localcloud.services import mailbox


def test_email_subscriptions_receive_published_messages():
    box = mailbox.Mailbox()
    with mock_aws():
        mailbox.install(box)
        sns = boto3.client("sns", region_name="us-east-1")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="admin@example.com")
        sns.publish(TopicArn=topic, Subject="First", Message="one")
        sns.publish(TopicArn=topic, Subject="Second", Message="two")
    messages = box.messages()
    assert [(m["to"], m["subject"], m["body"]) for m in messages] == [
        ("admin@example.com", "First", "one"), ("admin@example.com", "Second", "two")]
    assert all(m["sent_at"] for m in messages)
    assert [m["subject"] for m in box.messages(since=1)] == ["Second"] and box.messages(since=5) == []
    assert box.clear() == 2 and box.messages() == []


def test_read_mailbox_refuses_a_since_that_is_not_a_count():
    import pytest

    for since in (-1, 1.5, "2", True):
        with pytest.raises(ValueError, match="since is a count of messages"):
            mailbox.read_mailbox("http://127.0.0.1:1", since=since)


def test_email_json_gets_the_sns_envelope():
    import json

    box = mailbox.Mailbox()
    with mock_aws():
        mailbox.install(box)
        sns = boto3.client("sns", region_name="us-east-1")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint="ops@example.com")
        sns.publish(TopicArn=topic, Subject="Hi", Message="body")
    envelope = json.loads(box.messages()[0]["body"])
    assert envelope["Message"] == "body" and envelope["Subject"] == "Hi"


def test_a_json_envelope_unsubscribes_the_subscription_it_was_delivered_to():
    """moto's envelope named a made-up subscription in us-east-1, whatever the topic; SNS names the real one."""
    import json

    from workshop.localcloud import seams

    box = mailbox.Mailbox()
    with mock_aws():
        mailbox.install(box)
        seams.install("eager")
        sns = boto3.client("sns", region_name="eu-west-1")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        subscription = sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint="ops@example.com",
                                     ReturnSubscriptionArn=True)["SubscriptionArn"]
        sns.publish(TopicArn=topic, Message="body")
    delivered = box.messages()[0]
    assert delivered["subscription_arn"] == subscription
    assert json.loads(delivered["body"])["UnsubscribeURL"] == (
        f"https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription}")


def test_other_protocols_still_work():
    box = mailbox.Mailbox()
    with mock_aws():
        mailbox.install(box)
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        sns.publish(TopicArn=topic, Message="m")
        assert sqs.receive_message(QueueUrl=queue).get("Messages")
    assert box.messages() == []
