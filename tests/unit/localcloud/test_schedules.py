"""EventBridge schedules: rate() and cron() rules fire on time, on a clock the test moves
(a Lambda target and the sped-up server: tests/functional/localcloud/test_schedules.py)."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from schedule_clock import T0

from workshop.localcloud.services.events import schedules


def utc(*fields):
    return datetime(*fields, tzinfo=timezone.utc)


@pytest.mark.parametrize("expression, after, expected", [
    ("rate(1 minute)", T0, T0 + timedelta(minutes=1)),
    ("rate(5 minutes)", T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)),
    ("rate(2 hours)", T0 + timedelta(minutes=1), T0 + timedelta(hours=2)),
    ("rate(1 day)", T0, T0 + timedelta(days=1)),
    ("cron(0/15 12-14 ? * MON-FRI *)", T0, utc(2026, 12, 1, 12, 15)),      # a Tuesday
    ("cron(0/15 12-14 ? * MON-FRI *)", utc(2026, 12, 1, 12, 15), utc(2026, 12, 1, 12, 30)),
    ("cron(0 10 * * ? *)", T0, utc(2026, 12, 2, 10, 0)),                   # every day at 10:00 UTC
    ("cron(0 10 L * ? *)", T0, utc(2026, 12, 31, 10, 0)),                  # the month's last day
    ("cron(0 10 ? * 6#3 *)", T0, utc(2026, 12, 18, 10, 0)),                # third Friday (SUN=1)
    ("cron(15 10 ? * 6L 2027)", T0, utc(2027, 1, 29, 10, 15)),             # last Friday, only in 2027
    ("cron(0 8 1 JAN ? *)", T0, utc(2027, 1, 1, 8, 0)),
])
def test_the_next_run_of_rate_and_six_field_cron_expressions(expression, after, expected):
    assert schedules.next_time(expression, after, created=T0) == expected



def test_a_rate_rule_fires_one_period_after_it_is_put_then_every_period(events):
    rule_arn = events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")["RuleArn"]
    events.put_targets(Rule="every-minute", Targets=[{"Id": "q", "Arn": events.queue_arn}])
    assert events.at(T0 + timedelta(seconds=59)) == 0
    assert events.at(T0 + timedelta(seconds=60)) == 1
    assert events.at(T0 + timedelta(seconds=61)) == 0
    assert events.at(T0 + timedelta(seconds=120)) == 1
    delivered = events.received()
    assert [e["time"] for e in delivered] == ["2026-12-01T12:08:30Z", "2026-12-01T12:09:30Z"]
    first = delivered[0]
    assert first["detail-type"] == "Scheduled Event" and first["source"] == "aws.events"
    assert first["resources"] == [rule_arn] and first["detail"] == {}
    assert first["account"] == "123456789012" and first["region"] == "us-east-1"


def test_a_disabled_changed_or_deleted_rule_stops_firing(events):
    events.put_rule(Name="r", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="r", Targets=[{"Id": "q", "Arn": events.queue_arn}])
    events.disable_rule(Name="r")
    assert events.at(T0 + timedelta(minutes=1)) == 0
    events.enable_rule(Name="r")
    assert events.at(T0 + timedelta(minutes=2)) == 1
    events.put_rule(Name="r", ScheduleExpression="rate(10 minutes)")  # starts afresh from now
    assert events.at(T0 + timedelta(minutes=3)) == 0
    assert events.at(T0 + timedelta(minutes=12)) == 1
    events.remove_targets(Rule="r", Ids=["q"])
    events.delete_rule(Name="r")
    assert events.at(T0 + timedelta(minutes=30)) == 0


def test_a_cron_rule_fires_at_its_minutes_in_utc(events):
    events.put_rule(Name="quarter", ScheduleExpression="cron(0/15 * * * ? *)")
    events.put_targets(Rule="quarter", Targets=[{"Id": "q", "Arn": events.queue_arn,
                                                 "Input": json.dumps({"job": "report"})}])
    assert events.at(utc(2026, 12, 1, 12, 14, 59)) == 0
    assert events.at(utc(2026, 12, 1, 12, 15)) == 1
    assert events.at(utc(2026, 12, 1, 12, 30, 1)) == 1
    assert events.received() == [{"job": "report"}, {"job": "report"}]


def test_an_invalid_expression_is_refused_as_aws_refuses_it(events):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="ScheduleExpression is not valid"):
        events.put_rule(Name="bad", ScheduleExpression="every minute")


def test_the_put_rule_seam_is_where_moto_stores_rules():
    import inspect

    from moto.events.models import EventsBackend

    cls, name = schedules.seam()
    assert cls is EventsBackend and name == "put_rule"
    assert "scheduled_expression" in inspect.signature(EventsBackend.__dict__["put_rule"]).parameters
