"""EventBridge schedules: rules with `rate(...)` or `cron(...)` fire on time.

moto stores a rule's ScheduleExpression and never fires it. Here a scheduler
thread does, started when the first scheduled rule is put (PutRule, or
CloudFormation / SAM's `Type: Schedule` events), so a local cloud without
schedules runs no extra thread. Each tick it looks at every ENABLED rule with
a schedule on the default buses and, when one is due, hands its targets (the
kit's `targets` delivery: state machines, Lambda functions, and
moto's own SQS / logs / buses) the event AWS sends:

    {"version": "0", "id": ..., "detail-type": "Scheduled Event", "source": "aws.events",
     "account": ..., "time": <the scheduled time>, "region": ..., "resources": [<rule ARN>], "detail": {}}

As on AWS: `rate(N minute|minutes|hour|hours|day|days)` first fires one period
after the rule is put, then every period; `cron(Minutes Hours Day-of-month
Month Day-of-week Year)` in UTC, with AWS's six-field syntax (`?`, `L`, `W`,
`#`, names; read by the pyawscron library). A rule that is disabled, changed
or deleted stops (a changed expression starts afresh). The local cloud does
not catch up on runs it missed while stopped.

Time compression for tests and demonstrations: `LOCALCLOUD_SCHEDULE_SPEEDUP=60`
makes the scheduler's clock run 60 times faster than the wall clock (a
`rate(1 minute)` rule fires every second); events carry that clock's times.

Patch point: `moto.events.models.EventsBackend.put_rule` (wrapped: starts
the scheduler).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

log = logging.getLogger("workshop.localcloud.schedules")

SPEEDUP_ENV = "LOCALCLOUD_SCHEDULE_SPEEDUP"
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def seam():
    from moto.events.models import EventsBackend

    return EventsBackend, "put_rule"


class Clock:
    """The scheduler's time: the wall clock, or the wall clock sped up `speedup` times from its start."""

    def __init__(self, speedup: float = 1.0, wall=time.time):
        self.speedup = speedup
        self._wall = wall
        self._started = wall()

    def now(self) -> datetime:
        wall = self._wall()
        return datetime.fromtimestamp(self._started + (wall - self._started) * self.speedup, timezone.utc)

    def wall_seconds(self, schedule_seconds: float) -> float:
        return schedule_seconds / self.speedup


def next_time(expression: str, after: datetime, created: datetime) -> datetime | None:
    """The first time after `after` that `expression` fires (a rate counts from `created`)."""
    rate = _RATE.match(expression.strip())
    if rate:
        period = timedelta(seconds=int(rate.group(1)) * _UNITS[rate.group(2)])
        if period.total_seconds() <= 0:
            return None
        periods = max(1, int((after - created) / period) + 1)
        return created + periods * period
    cron = _CRON.match(expression.strip())
    if cron:
        from pyawscron import AWSCron

        try:
            found = AWSCron(cron.group(1)).occurrence(after.replace(second=0, microsecond=0)).next()
        except Exception:  # pyawscron raises plain exceptions on expressions it cannot read
            log.warning("schedule expression %r cannot be read: the rule never fires", expression)
            return None
        if found is not None and found <= after:  # pyawscron may answer the minute it started from
            found = AWSCron(cron.group(1)).occurrence(after + timedelta(minutes=1)).next()
        return found
    return None


def scheduled_event(rule, moment: datetime) -> dict:
    """The event a scheduled rule's targets receive, in moto's internal form (epoch seconds, ingestion-time)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": rule.account_id, "time": moment.timestamp(), "region": rule.region_name,
            "resources": [rule.arn], "detail": {}, "ingestion-time": time.time()}


class Scheduler:
    """Finds due scheduled rules and fires them; `tick(now)` is one look (the thread calls it)."""

    def __init__(self, clock: Clock | None = None, interval: float = 1.0):
        self.clock = clock or Clock(float(os.environ.get(SPEEDUP_ENV) or 1))
        self.interval = interval  # seconds of schedule time between looks
        # rule ARN -> (its expression, when the scheduler first saw it, its next run or None)
        self._due: dict[str, tuple[str, datetime, datetime | None]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.fired = 0

    def _rules(self):
        from moto.events.models import events_backends

        for _account, regions in list(events_backends.items()):
            for _region, backend in list(regions.items()):
                bus = backend.event_buses.get("default")
                for rule in list(bus.rules.values()) if bus else []:
                    if rule.scheduled_expression:
                        yield rule

    def tick(self, now: datetime | None = None) -> int:
        """Fire every rule due at `now`; how many fired."""
        now = now or self.clock.now()
        fired = 0
        with self._lock:
            seen = set()
            for rule in self._rules():
                seen.add(rule.arn)
                expression = rule.scheduled_expression
                known = self._due.get(rule.arn)
                if known is None or known[0] != expression:  # new, or its schedule changed
                    self._due[rule.arn] = (expression, now, next_time(expression, now, now))
                    continue
                _, created, due = known
                if due is None or due > now:
                    continue
                self._due[rule.arn] = (expression, created, next_time(expression, due, created))
                if rule.state != "ENABLED":
                    continue
                self._fire(rule, due)
                fired += 1
            for gone in set(self._due) - seen:
                del self._due[gone]
        self.fired += fired
        return fired

    @staticmethod
    def _fire(rule, moment: datetime) -> None:
        try:
            rule.send_to_targets(scheduled_event(rule, moment))
        except Exception:  # one rule's broken target must not stop the others
            log.exception("scheduled rule %s could not deliver its event", rule.arn)

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="localcloud-schedules", daemon=True)
            self._thread.start()
        log.info("EventBridge schedules: the scheduler runs (clock speed-up %sx)", self.clock.speedup)

    def _run(self) -> None:
        while not self._stop.wait(self.clock.wall_seconds(self.interval)):
            try:
                self.tick()
            except Exception:
                log.exception("the EventBridge scheduler failed a tick")

    def stop(self) -> None:
        self._stop.set()


_scheduler: Scheduler | None = None
_scheduler_lock = threading.Lock()


def scheduler() -> Scheduler:
    """The process's scheduler (made on first use; its thread starts with the first scheduled rule)."""
    global _scheduler
    with _scheduler_lock:
        if _scheduler is None:
            _scheduler = Scheduler()
        return _scheduler


def install() -> None:
    """Start the scheduler when the first rule with a ScheduleExpression is put."""
    cls, name = seam()
    original = getattr(cls, name)
    if getattr(original, "_localcloud", False):
        return

    def put_rule(self, name, *args, **kwargs):
        rule = original(self, name, *args, **kwargs)
        if rule.scheduled_expression:
            running = scheduler()
            running.tick()  # learn the rule now: a rate counts from when it was put
            running.start()
        return rule

    put_rule._localcloud = True
    put_rule.__wrapped__ = original
    setattr(cls, name, put_rule)
