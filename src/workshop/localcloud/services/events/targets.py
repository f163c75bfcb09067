"""EventBridge -> Step Functions and Lambda: rule targets moto does not deliver to.

moto's `Rule.send_to_targets` delivers to logs, SQS, archives, other buses
and API destinations, and raises on a state machine or Lambda ARN. The
wrapper here hands moto's original the other targets and, with the target's
input (the whole event, or its Input / InputTransformer result), starts an
execution for each `arn:aws:states:...:stateMachine:...` target and invokes
each `arn:aws:lambda:...:function:...` target asynchronously (as EventBridge
invokes Lambda: InvocationType Event, in the background).

Events arrive at least once: the execution is named after the CloudTrail
event's `detail.eventID` (else the EventBridge event `id`), made a valid
Step Functions name (`execution_name`). A second delivery of the same event
then finds that name taken: Step Functions refuses it (ExecutionAlreadyExists;
or, while the first run is still going with the same input, hands back that
run) and the duplicate is logged and dropped, so a replay never starts a
second incident.

A DISABLED rule delivers nothing, as on AWS (moto delivered to it anyway).

Delivery is authorized as AWS authorizes it (with the server's authorizer,
server/authorization.py; moto used in-process without the server checks
nothing): a state machine target starts its execution as a session of the
target's `RoleArn`, which must trust events.amazonaws.com and allow
states:StartExecution; a function target is invoked by events.amazonaws.com,
which the function's resource-based policy must allow for the rule
(aws:SourceArn). A target that may not be delivered to is logged and skipped,
as EventBridge counts a failed invocation
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-identity-based.html).

Patch point: `moto.events.models.Rule.send_to_targets`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import threading
import uuid
from datetime import datetime, timezone

log = logging.getLogger("workshop.localcloud.events")


def seam():
    from moto.events.models import Rule

    return Rule, "send_to_targets"


# Step Functions execution names: 1-80 characters, none of whitespace,
# brackets, wildcards, any of " # % \ ^ | ~ ` $ & , ; : / or control characters.
# Keeping to [A-Za-z0-9_.-] is always safe.
MAX_NAME_LENGTH = 80
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def execution_name(event) -> str:
    """The execution name for a delivered event: its CloudTrail eventID, else its EventBridge id.

    Valid as a Step Functions name. An id that had to be changed to fit (unsafe
    characters, too long) gets a digest of the original appended, so two
    different ids never share a name. Without any id: a fresh UUID.
    """
    ids = []
    if isinstance(event, dict):
        detail = event.get("detail")
        if isinstance(detail, dict):
            ids.append(detail.get("eventID"))
        ids.append(event.get("id"))
    for raw in ids:
        if raw is None or isinstance(raw, (dict, list, bool)):
            continue
        raw = str(raw)
        safe = _NAME_UNSAFE.sub("-", raw).strip("-")
        if not safe.strip("-._"):
            continue
        if safe == raw and len(safe) <= MAX_NAME_LENGTH:
            return safe
        digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        return f"{safe[:MAX_NAME_LENGTH - len(digest) - 1]}-{digest}"
    return str(uuid.uuid4())


def _engine_installed() -> None:
    """Without the server's wiring (moto used in-process): the caller installed the engine."""


_engine_ready = _engine_installed


def _already_exists(exc: Exception) -> bool:
    return type(exc).__name__ == "ExecutionAlreadyExists" or getattr(exc, "code", None) == "ExecutionAlreadyExists"


def start_execution_for(target_arn: str, event, name: str | None = None) -> str | None:
    """Start one execution of `target_arn` with `event` as input; its ARN, or None.

    `name` defaults to a fresh UUID. A name that is taken (the same event
    delivered again) is not an error: the duplicate is logged and dropped.
    """
    from moto.stepfunctions.responses import get_backend
    from moto.utilities.arns import parse_arn

    _engine_ready()  # executions get their names and their engine
    arn = parse_arn(target_arn)
    payload = event if isinstance(event, str) else json.dumps(event)
    name = name or str(uuid.uuid4())
    try:
        execution = get_backend(arn.account, arn.region).start_execution(target_arn, name, payload)
    except Exception as exc:
        if _already_exists(exc):
            log.info("EventBridge delivered event %s again: %s already has an execution of that name; "
                     "the duplicate is dropped", name, target_arn)
            return None
        log.exception("EventBridge could not start %s", target_arn)
        return None
    return execution.exec_arn if hasattr(execution, "exec_arn") else execution.execution_arn


def as_delivered(event: dict) -> dict:
    """moto's internal event -> what AWS hands a target: ISO `time`, no `ingestion-time`."""
    delivered = {k: v for k, v in event.items() if k != "ingestion-time"}
    moment = delivered.get("time")
    if isinstance(moment, (int, float)):
        delivered["time"] = datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return delivered


def target_input(target: dict, original_event: dict, transform_input: bool = True):
    """What a target receives: its Input, its InputTransformer's result, or the whole event as AWS sends it."""
    from moto.events.utils import EventTemplateParser

    if target.get("Input"):
        return target["Input"]
    if transform_input and target.get("InputTransformer"):
        transformer = target["InputTransformer"]
        return EventTemplateParser.parse(input_template=transformer.get("InputTemplate"),
                                         input_paths_map=transformer.get("InputPathsMap", {}),
                                         event=original_event)
    return as_delivered(original_event)  # `account` included


def invoke_function_for(function_arn: str, event) -> threading.Thread | None:
    """Invoke a Lambda target asynchronously (InvocationType Event), as EventBridge does."""
    from moto.awslambda.utils import get_backend
    from moto.utilities.arns import parse_arn

    arn = parse_arn(function_arn)
    try:
        function = get_backend(arn.account, arn.region).get_function(function_arn)
    except Exception:
        log.exception("EventBridge target %s: no such function", function_arn)
        return None
    payload = event if isinstance(event, str) else json.dumps(event)

    def run():
        try:
            function.invoke(payload, {"x-amz-invocation-type": "Event"}, {})
        except Exception:
            log.exception("EventBridge could not invoke %s", function_arn)

    worker = threading.Thread(target=run, name="localcloud-events-lambda", daemon=True)
    worker.start()
    return worker


def delivery_refused(rule, target: dict) -> str | None:
    """Why IAM would stop EventBridge delivering to a state machine or function target, or None."""
    from moto.utilities.arns import parse_arn

    from ...server import authorization

    if authorization.current() is None:
        return None
    rule_arn = rule.arn
    source = {"aws:SourceArn": rule_arn, "aws:SourceAccount": parse_arn(rule_arn).account}
    if parse_arn(target["Arn"]).service == "lambda":
        denial = authorization.current().decide(authorization.service_principal("events.amazonaws.com", source),
                                                "lambda:InvokeFunction", target["Arn"])
        return denial.message if denial else None
    role_arn = target.get("RoleArn")
    if not role_arn:
        return "the target has no RoleArn: EventBridge starts a state machine only as a role it may assume"
    denial = authorization.may_assume("events.amazonaws.com", role_arn, source)
    if denial is None:
        denial = authorization.current().decide(authorization.role_session(role_arn, "events-target"),
                                                "states:StartExecution", target["Arn"])
    return denial.message if denial else None


def install(engine_ready=None) -> None:
    """Deliver to state machine and Lambda targets; `engine_ready()` is called before an execution starts.

    The server's wiring passes one that installs the Step Functions engine (on
    first use, as a Step Functions request would); without one the engine is
    taken as installed.
    """
    global _engine_ready
    from moto.utilities.arns import parse_arn

    if engine_ready is not None:
        _engine_ready = engine_ready
    cls, name = seam()
    original = getattr(cls, name)
    if getattr(original, "_localcloud", False):
        return

    def send_to_targets(self, original_event, transform_input=True):
        if getattr(self, "state", "ENABLED") != "ENABLED":  # as on AWS (moto delivered anyway)
            return
        ours = [t for t in self.targets if parse_arn(t["Arn"]).service in ("states", "lambda")]
        if len(ours) < len(self.targets):
            # moto raises on target types it does not know: hand it only its own
            others = copy.copy(self)
            others.targets = [t for t in self.targets if t not in ours]
            original(others, original_event, transform_input)
        if not ours or not self.event_pattern.matches_event(original_event):
            return
        for target in ours:
            event = target_input(target, original_event, transform_input)
            refused = delivery_refused(self, target)
            if refused:
                log.warning("EventBridge rule %s did not deliver to %s: %s", self.name, target["Arn"], refused)
                continue
            if parse_arn(target["Arn"]).service == "lambda":
                invoke_function_for(target["Arn"], event)
            else:
                # named after the event (not the target input): a repeat delivery is refused
                start_execution_for(target["Arn"], event, execution_name(original_event))

    send_to_targets._localcloud = True
    setattr(cls, name, send_to_targets)


# --- mends of moto's own delivery -------------------------------------------------------


def install_event_account() -> None:
    """An event delivered whole to moto's own targets (SQS, logs) keeps its `account` (`events-target-event-account`).

    moto's default input template omits it. Patch point: `EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE`.
    """
    from moto.events.utils import EventTemplateParser

    template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    if '"account"' not in template:
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace(
            '"version": "0", ', '"version": "0", "account": "<account>", ')


def as_input_transformer(target: dict) -> dict:
    """A target with Input / InputPath, spelled as the InputTransformer moto does apply."""
    if target.get("InputTransformer") or not (target.get("Input") or target.get("InputPath")):
        return target
    spelled = {k: v for k, v in target.items() if k not in ("Input", "InputPath")}
    if target.get("Input"):  # a paths map of its own: with an empty one moto fills in its default paths
        spelled["InputTransformer"] = {"InputTemplate": target["Input"], "InputPathsMap": {"unused": "$.id"}}
    else:
        spelled["InputTransformer"] = {"InputTemplate": "<selected>",
                                       "InputPathsMap": {"selected": target["InputPath"]}}
    return spelled


def install_target_input() -> None:
    """A target's `Input` and `InputPath` are delivered for moto's own target types (`events-target-input`).

    moto ignored them (the whole event went to SQS, logs, buses). Patch point:
    `Rule.send_to_targets`, wrapped (outside the kit's delivery to state machines and functions).
    """
    from moto.events.models import Rule

    original = Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True):
        if any(t.get("Input") or t.get("InputPath") for t in self.targets):
            spelled = copy.copy(self)
            spelled.targets = [as_input_transformer(t) for t in self.targets]
            return original(spelled, original_event, transform_input)
        return original(self, original_event, transform_input)

    send_to_targets.__wrapped__ = original
    Rule.send_to_targets = send_to_targets


def install_schedule_rules_match_no_event() -> None:
    """A rule with a schedule and no event pattern receives only its own scheduled events
    (`events-schedule-rule-pattern`).

    AWS: a rule has an event pattern or a schedule; a scheduled rule is triggered by its schedule only
    (eb-create-rule-schedule.html). moto keeps an empty pattern for it, and an empty pattern matches
    every event put on the bus: each CloudTrail event started the schedule's targets with its Input.
    Patch point: `Rule.send_to_targets`, wrapped outermost: a scheduled rule's own event names the rule
    in `resources` (`schedules.scheduled_event`)."""
    from moto.events.models import Rule

    original = Rule.send_to_targets
    if getattr(original, "_schedule_only", False):
        return

    def send_to_targets(self, original_event, transform_input=True):
        if getattr(self, "scheduled_expression", None) and not self.event_pattern.get_pattern() and \
                self.arn not in ((original_event or {}).get("resources") or []):
            return None
        return original(self, original_event, transform_input)

    send_to_targets.__wrapped__ = original
    send_to_targets._schedule_only = True
    Rule.send_to_targets = send_to_targets
