"""EventBridge schedules on a clock the test moves: the `events` fixture, shared by the unit and the
functional tests of the scheduler (the functional ones add a Lambda target, whose worker is a process)."""

import json
from datetime import datetime, timezone

import boto3
import pytest
from moto import mock_aws

from workshop.localcloud import seams
from workshop.localcloud.services.events import schedules, targets

T0 = datetime(2026, 12, 1, 12, 7, 30, tzinfo=timezone.utc)


class MovedClock(schedules.Clock):
    def __init__(self, start):
        super().__init__()
        self.moment = start

    def now(self):
        return self.moment


@pytest.fixture
def events(monkeypatch):
    """In-process moto with the scheduler on a clock the test moves (no thread): an EventBridge client
    with `queue_arn` (an SQS target), `received()` (what reached it) and `at(moment)` (move the clock, tick)."""
    with mock_aws():
        clock = MovedClock(T0)
        monkeypatch.setattr(schedules, "_scheduler", schedules.Scheduler(clock=clock))
        monkeypatch.setattr(schedules.Scheduler, "start", lambda self: None)
        schedules.install()
        targets.install()
        seams.install("eager")
        client = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="ticks")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

        def received():
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(m["Body"]) for m in messages]

        def at(moment):
            clock.moment = moment
            return schedules.scheduler().tick()

        client.queue_arn, client.received, client.at = arn, received, at
        yield client
