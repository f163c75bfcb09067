"""Step Functions executions as data: an execution's history read into state runs, and waiting on executions.

    from workshop.aws.executions import load_history, find_latest, wait_for_end
    run = load_history(sfn, execution_arn)
    run.statuses()          # {"CheckEvent": "succeeded", "AskUser": "in_progress", ...}
    run.path(), run.summary(), run.task_parameters("AskUser")

Statuses are the ones the execution graph understands: "succeeded", "failed",
"caught_error" (the state failed and a Catch sent the execution on),
"in_progress" and "not_run". Step Functions hands inputs, outputs and task
parameters over as JSON text; `parse_json` reads them. The views of a
history (graph, event table, timeline) are `workshop.display.history`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from botocore.exceptions import BotoCoreError, ClientError

from workshop.aws.guardrails import HeldByGuardrails, refused_by_guardrails
from workshop.waiting import poll_intervals, wait_for

SUCCEEDED, FAILED, CAUGHT, IN_PROGRESS, NOT_RUN = "succeeded", "failed", "caught_error", "in_progress", "not_run"
_RESULT_SUCCESS = {"TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded"}
_ENDED_BADLY = {"FAILED", "TIMED_OUT", "ABORTED"}


def timestamp(value) -> datetime:
    """A timestamp as Step Functions gives it (datetime, epoch seconds or ISO text), as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def event_details(event: dict) -> dict:
    """The `...EventDetails` of a history event (whatever its type), or {}."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def parse_json(text):
    """JSON text parsed; anything else (not text, or text that is not JSON) as it is."""
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _is_failure(event_type: str) -> bool:
    return event_type != "ExecutionFailed" and (
        event_type.endswith("Failed") or event_type.endswith("TimedOut")) and not event_type.startswith("Execution")


@dataclass
class StateRun:
    """One pass through one state (a state entered twice has two runs)."""

    name: str
    type: str
    entered: datetime
    input: object = None
    exited: datetime | None = None
    output: object = None
    events: list = field(default_factory=list)
    last_result: str | None = None  # "success" | "failure"
    error: dict | None = None
    status: str = IN_PROGRESS

    @property
    def duration_s(self) -> float | None:
        return None if self.exited is None else (self.exited - self.entered).total_seconds()


@dataclass
class ExecutionHistory:
    """describe_execution + get_execution_history of one execution."""

    execution: dict
    events: list
    definition: dict | None = None

    def __post_init__(self):
        self.events = sorted(self.events, key=lambda e: e.get("id", 0))
        for event in self.events:
            event["timestamp"] = timestamp(event["timestamp"])

    @property
    def arn(self) -> str:
        return self.execution.get("executionArn", "")

    @property
    def name(self) -> str:
        return self.execution.get("name") or self.arn.rsplit(":", 1)[-1]

    @property
    def status(self) -> str:
        return self.execution.get("status", "RUNNING")

    @property
    def started(self) -> datetime | None:
        return self.events[0]["timestamp"] if self.events else None

    def input(self):
        return parse_json(self.execution.get("input"))

    def output(self):
        return parse_json(self.execution.get("output"))

    def runs(self) -> list:
        """The state runs in order, each with its status."""
        runs, current = [], None

        def close_open(next_entered: bool):
            if current is None or current.exited is not None:
                return
            if current.type == "Fail":
                current.status = FAILED
            elif next_entered:
                # Left without an exit event (a Catch on some engines): judge by the last result.
                current.status = CAUGHT if current.last_result == "failure" else SUCCEEDED

        for event in self.events:
            kind = event["type"]
            details = event_details(event)
            if kind.endswith("StateEntered"):
                close_open(True)
                current = StateRun(name=details.get("name", "?"), type=kind[: -len("StateEntered")],
                                   entered=event["timestamp"], input=parse_json(details.get("input")))
                current.events.append(event)
                runs.append(current)
                continue
            if current is None:
                continue
            if kind.endswith("StateExited") and details.get("name") == current.name:
                current.events.append(event)
                current.exited = event["timestamp"]
                current.output = parse_json(details.get("output"))
                if current.type == "Fail":
                    current.status = FAILED
                else:
                    current.status = CAUGHT if current.last_result == "failure" else SUCCEEDED
                current = None
                continue
            if kind.startswith("Execution"):
                continue
            current.events.append(event)
            if kind in _RESULT_SUCCESS:
                current.last_result = "success"
                current.error = None
            elif _is_failure(kind):
                current.last_result = "failure"
                current.error = {"error": details.get("error"), "cause": details.get("cause")}
        if current is not None and current.exited is None:
            if current.type == "Fail":
                current.status = FAILED
            elif self.status in _ENDED_BADLY:
                current.status = FAILED
            else:
                current.status = IN_PROGRESS
        return runs

    def path(self) -> list:
        """The names of the states the execution went through, in order."""
        return [run.name for run in self.runs()]

    def statuses(self, definition: dict | None = None) -> dict:
        """{state name: status}; with a definition, states never entered are "not_run"."""
        definition = definition or self.definition
        statuses = {}
        if definition:
            statuses = {name: NOT_RUN for name in (definition.get("States") or {})}
        for run in self.runs():
            statuses[run.name] = run.status
        return statuses

    def task_parameters(self, state_name: str):
        """What the latest run of `state_name` sent to its task (parsed JSON), or None."""
        for run in reversed(self.runs()):
            if run.name != state_name:
                continue
            for event in run.events:
                details = event_details(event)
                if event["type"] == "TaskScheduled":
                    return parse_json(details.get("parameters"))
                if event["type"] == "LambdaFunctionScheduled":
                    return parse_json(details.get("input"))
            return None
        return None

    def failure(self) -> dict | None:
        for event in reversed(self.events):
            if event["type"] in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
                details = event_details(event)
                return {"error": details.get("error", event["type"]), "cause": details.get("cause", "")}
        return None

    def summary(self) -> str:
        text = f"{self.name}: {self.status}, path " + " → ".join(self.path())
        failure = self.failure()
        if failure:
            text += f" ({failure['error']}: {failure['cause']})"
        return text


def load_history(sfn, execution_arn: str, definition: dict | str | None = None) -> ExecutionHistory:
    """Read an execution and all its events (paginated) with a Step Functions client."""
    execution = sfn.describe_execution(executionArn=execution_arn)
    events = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    if definition is None:
        definition = definition_for(sfn, execution)
    if isinstance(definition, str):
        definition = json.loads(definition)
    return ExecutionHistory(execution=execution, events=events, definition=definition)


def definition_for(sfn, execution: dict) -> dict | None:
    """The definition the execution ran (or the state machine's current one)."""
    try:
        return json.loads(sfn.describe_state_machine_for_execution(
            executionArn=execution["executionArn"])["definition"])
    except (BotoCoreError, ClientError, KeyError, ValueError):
        pass  # an endpoint without this call: the machine's current definition will do
    try:
        return json.loads(sfn.describe_state_machine(
            stateMachineArn=execution["stateMachineArn"])["definition"])
    except Exception:
        return None


def list_executions(sfn, state_machine_arn: str, status: str | None = None) -> list:
    """Executions of a state machine, newest first."""
    kwargs = {"stateMachineArn": state_machine_arn}
    if status:
        kwargs["statusFilter"] = status
    found = []
    for page in sfn.get_paginator("list_executions").paginate(**kwargs):
        found.extend(page["executions"])
    return sorted(found, key=lambda e: timestamp(e["startDate"]), reverse=True)


def find_latest(sfn, state_machine_arn: str, through, limit: int = 20) -> ExecutionHistory | None:
    """The newest execution whose path went through one of the states in `through`."""
    through = {through} if isinstance(through, str) else set(through)
    page = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=limit)["executions"]  # one page
    for execution in sorted(page, key=lambda e: timestamp(e["startDate"]), reverse=True):
        history = load_history(sfn, execution["executionArn"])
        if through & set(history.path()):
            return history
    return None


def find_token(value):
    """The task token in a task's parameters: `Payload.token`, else any `token` key."""
    if isinstance(value, dict):
        payload = value.get("Payload")
        if isinstance(payload, dict) and isinstance(payload.get("token"), str):
            return payload["token"]
        for key, item in value.items():
            if key in ("token", "taskToken", "TaskToken") and isinstance(item, str):
                return item
            found = find_token(item)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = find_token(item)
            if found:
                return found
    elif isinstance(value, str) and value.startswith("{"):
        try:
            return find_token(json.loads(value))
        except ValueError:
            return None
    return None


# --- waiting on an execution -----------------------------------------------------------------


def execution_status(sfn, execution_arn: str) -> str:
    """RUNNING, SUCCEEDED, ...; "unknown" when it cannot be read (deleted with its state machine)."""
    try:
        return sfn.describe_execution(executionArn=execution_arn)["status"]
    except Exception:  # an execution deleted with its state machine: say so, keep going
        return "unknown"


def status_once_ended(sfn, execution_arn: str, timeout: float) -> str:
    """The execution's status once it is no longer RUNNING, or RUNNING after `timeout` seconds (no progress bar)."""
    deadline = time.monotonic() + timeout
    status = "RUNNING"
    while time.monotonic() < deadline:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
        if status != "RUNNING":
            break
        time.sleep(0.3)
    return status


def follow(cloud, execution_arn: str, until: str | None = "AskUser", timeout: float = 60.0,
           on_history=None) -> ExecutionHistory:
    """Poll an execution until it waits at `until` or ends; `on_history(history)` sees every poll (a live view)."""
    sfn = cloud.client("stepfunctions")
    state = {}

    def reached():
        history = load_history(sfn, execution_arn)
        state["history"] = history
        if on_history is not None:
            on_history(history)
        runs = history.runs()
        if history.status != "RUNNING":
            return history
        if until and runs and runs[-1].name == until and runs[-1].status == "in_progress":
            # Waiting at the callback only once the task was handed over (the e-mail went out).
            if any(e["type"] in ("TaskSubmitted",) for e in runs[-1].events) or len(runs[-1].events) > 2:
                return history
        return None

    return wait_for(reached, what=f"the execution to reach {until or 'its end'}", timeout=timeout,
                    describe=lambda _: "at " + (state["history"].path() or ["(start)"])[-1]
                    if state.get("history") else None,
                    hint="Run this cell again to keep waiting, or look at the event table in notebook 05 "
                         "to see where it stopped.", **poll_intervals(cloud))


def schedule_minutes(expression: str | None) -> int | None:
    """The minutes between runs of an EventBridge `rate(...)` schedule; None for a cron expression or none."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", (expression or "").strip())
    if not match:
        return None
    return int(match.group(1)) * {"minute": 1, "hour": 60, "day": 1440}[match.group(2).rstrip("s")]


@dataclass
class ScanSchedule:
    """The stack's schedule rule that starts the reconciliation scan, and the input it starts it with."""

    rule: str
    expression: str
    input: str

    @property
    def every_minutes(self) -> int | None:
        return schedule_minutes(self.expression)

    def cadence(self) -> str:
        every = self.every_minutes
        return f"every {every} minutes" if every else f"on the schedule {self.expression}"


def scan_schedule(cloud, state_machine_arn: str) -> ScanSchedule:
    """The schedule rule of the stack that targets its state machine (ListRuleNamesByTarget, DescribeRule)."""
    events = cloud.client("events")
    for name in events.list_rule_names_by_target(TargetArn=state_machine_arn)["RuleNames"]:
        expression = events.describe_rule(Name=name).get("ScheduleExpression")
        if not expression:
            continue
        for target in events.list_targets_by_rule(Rule=name)["Targets"]:
            if target["Arn"] == state_machine_arn and target.get("Input"):
                return ScanSchedule(name, expression, target["Input"])
    raise LookupError("The stack has no reconciliation schedule: it predates the scan. Redeploy it (notebook 01).")


def latest_scheduled_run(sfn, state_machine_arn: str, schedule: ScanSchedule,
                         limit: int = 50) -> ExecutionHistory | None:
    """The newest of the last `limit` executions that ran with the schedule's own input, or None."""
    wanted = parse_json(schedule.input)
    page = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=limit)["executions"]  # one page
    for execution in sorted(page, key=lambda e: timestamp(e["startDate"]), reverse=True):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if parse_json(described.get("input")) == wanted:
            return load_history(sfn, execution["executionArn"])
    return None


def _rule_created(cloud, stack_name: str | None, rule: str) -> datetime | None:
    """When the stack last made or changed its schedule rule (a rate schedule counts from then), if known."""
    if not stack_name:
        return None
    try:
        pages = cloud.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack_name)
        for page in pages:
            for resource in page["StackResourceSummaries"]:
                if resource.get("PhysicalResourceId") == rule:
                    return timestamp(resource["LastUpdatedTimestamp"])
    except (BotoCoreError, ClientError, KeyError):
        return None  # the next run is then only known to be within the interval
    return None


def next_run_due(after: datetime | None, every_minutes: int | None, now: datetime) -> datetime | None:
    """The first moment `after` + k·interval (k ≥ 1) that is not before `now`; None when either is unknown."""
    if after is None or not every_minutes:
        return None
    interval = every_minutes * 60
    steps = max(1, -(-int((now - after).total_seconds()) // interval))
    return after + timedelta(seconds=steps * interval)


def scan_held(cloud, state_machine_arn: str, schedule: ScanSchedule, refusal: str,
              stack_name: str | None = None, now: datetime | None = None) -> HeldByGuardrails:
    """What notebook 06 shows of the scan when the guardrails keep StartExecution for the stack: the
    schedule's latest run, when it ran, and when the next is due."""
    now = now or datetime.now(timezone.utc)
    run = latest_scheduled_run(cloud.client("stepfunctions"), state_machine_arn, schedule)
    note = (f"They keep StartExecution for the stack's own roles; the stack's schedule ({schedule.rule}) "
            f"runs the scan {schedule.cadence()}.")
    if run is not None:
        started = timestamp(run.execution.get("startDate") or run.started)
        due = next_run_due(started, schedule.every_minutes, now)
        note += (f" Its latest run started at {started:%Y-%m-%d %H:%M:%S} UTC "
                 f"({_ago(now - started)} ago) and is {run.status}"
                 + (f"; the next is due by {due:%H:%M:%S} UTC." if due else "."))
    else:
        due = next_run_due(_rule_created(cloud, stack_name, schedule.rule), schedule.every_minutes, now)
        note += (" It has not run yet: the first run is due " +
                 (f"at about {due:%H:%M:%S} UTC." if due else
                  f"within {schedule.every_minutes} minutes of the deployment." if schedule.every_minutes
                  else "when the schedule next fires."))
    return HeldByGuardrails("states:StartExecution", "one run of the reconciliation scan now", refusal, note, run)


def _ago(delta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def reconciliation_scan(cloud, state_machine_arn: str, timeout: float = 120.0, stack_name: str | None = None):
    """One run of the stack's reconciliation scan, now, as its schedule starts it (the deployed schedule
    rule's own input), followed to its end: its ExecutionHistory. Where the account's guardrails refuse
    StartExecution, the schedule's own latest run instead (`scan_held`), with when the next is due."""
    schedule = scan_schedule(cloud, state_machine_arn)
    try:
        started = cloud.client("stepfunctions").start_execution(stateMachineArn=state_machine_arn,
                                                                input=schedule.input)
    except ClientError as exc:
        if not refused_by_guardrails(exc):
            raise
        return scan_held(cloud, state_machine_arn, schedule, str(exc), stack_name)
    return wait_for_end(cloud, started["executionArn"], timeout=timeout)


def wait_for_end(cloud, execution_arn: str, timeout: float = 60.0) -> ExecutionHistory:
    sfn = cloud.client("stepfunctions")

    def ended():
        history = load_history(sfn, execution_arn)
        return history if history.status != "RUNNING" else None

    return wait_for(ended, what="the execution to end", timeout=timeout,
                    hint="If it waits at AskUser, nobody has decided yet: use the panel in notebook 04. "
                         "Otherwise run this cell again to keep waiting.", **poll_intervals(cloud))
