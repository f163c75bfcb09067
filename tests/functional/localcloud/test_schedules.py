"""EventBridge schedules with real processes: a Lambda target's worker, and a sped-up server."""

import json
import time
from datetime import datetime, timedelta

import boto3
from lambda_packages import zip_package
from local_clients import cloud_client
from schedule_clock import T0

from workshop.localcloud.server import process
from workshop.localcloud.services.awslambda import workers
from workshop.localcloud.services.events import schedules, targets

def test_a_lambda_target_is_invoked_with_the_scheduled_event(events):
    workers.install("http://127.0.0.1:9")
    role = boto3.client("iam", region_name="us-east-1").create_role(
        RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = boto3.client("lambda", region_name="us-east-1")
    source = "def handler(event, context):\n    print('TICK', event['detail-type'], event['time'])\n"
    arn = lam.create_function(FunctionName="tick", Runtime="python3.13", Role=role, Handler="app.handler",
                              Code={"ZipFile": zip_package({"app.py": source})})["FunctionArn"]
    events.put_rule(Name="to-lambda", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="to-lambda", Targets=[{"Id": "fn", "Arn": arn}])
    started = []
    original = targets.invoke_function_for
    targets.invoke_function_for = lambda *a: started.append(original(*a)) or started[-1]
    try:
        assert events.at(T0 + timedelta(minutes=1)) == 1
    finally:
        targets.invoke_function_for = original
    started[0].join(timeout=30)
    logs = boto3.client("logs", region_name="us-east-1")
    messages = [e["message"] for e in logs.filter_log_events(logGroupName="/aws/lambda/tick")["events"]]
    assert "TICK Scheduled Event 2026-12-01T12:08:30Z" in messages


def test_a_sped_up_local_cloud_fires_rate_1_minute_every_second(tmp_path):
    """The real server: the scheduler thread starts with the first scheduled rule, on a 60x clock."""
    with process.LocalCloud(extra_env={schedules.SPEEDUP_ENV: "60"}) as cloud:
        assert cloud.health()["status"] == "ready"
        sqs, events = cloud_client(cloud, "sqs"), cloud_client(cloud, "events")
        queue = sqs.create_queue(QueueName="ticks")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule="every-minute", Targets=[{"Id": "q", "Arn": arn}])
        delivered, deadline = [], time.monotonic() + 20
        while len(delivered) < 3 and time.monotonic() < deadline:
            delivered += [json.loads(m["Body"]) for m in sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])]
    assert len(delivered) >= 3, delivered
    moments = sorted(datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in delivered[:3])
    assert [b - a for a, b in zip(moments, moments[1:])] == [timedelta(minutes=1)] * 2
