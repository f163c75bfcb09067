"""EventBridge -> Step Functions: a rule target that is a state machine starts an execution.

moto's `Rule.send_to_targets` delivers to logs, SQS, archives, other buses
and API destinations, and silently skips a state machine ARN. The wrapper
here hands moto's original the other targets (it raises on types it does
not know) and starts an execution (input: the whole event, or the target's
Input / InputTransformer result) for each `arn:aws:states:...:stateMachine:...`
target.

Events arrive at least once: the execution is named after the CloudTrail
event's `detail.eventID` (else the EventBridge event `id`), made a valid
Step Functions name (`execution_name`). A second delivery of the same event
then finds that name taken: Step Functions refuses it (ExecutionAlreadyExists;
or, while the first run is still going with the same input, hands back that
run) and the duplicate is logged and dropped, so a replay never starts a
second incident.

A DISABLED rule delivers nothing, as on AWS (moto delivered to it anyway).

Patch point: `moto.events.models.Rule.send_to_targets`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
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


def _already_exists(exc: Exception) -> bool:
    return type(exc).__name__ == "ExecutionAlreadyExists" or getattr(exc, "code", None) == "ExecutionAlreadyExists"


def start_execution_for(target_arn: str, event, name: str | None = None) -> str | None:
    """Start one execution of `target_arn` with `event` as input; its ARN, or None.

    `name` defaults to a fresh UUID. A name that is taken (the same event
    delivered again) is not an error: the duplicate is logged and dropped.
    """
    from moto.utilities.arns import parse_arn

    from .extensions import ensure
    from .stepfunctions import backend

    ensure("stepfunctions")  # executions get their names and their engine
    arn = parse_arn(target_arn)
    payload = event if isinstance(event, str) else json.dumps(event)
    name = name or str(uuid.uuid4())
    try:
        execution = backend(arn.account, arn.region).start_execution(target_arn, name, payload)
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


def install() -> None:
    from moto.events.utils import EventTemplateParser
    from moto.utilities.arns import parse_arn

    cls, name = seam()
    original = getattr(cls, name)
    if getattr(original, "_localcloud", False):
        return

    def send_to_targets(self, original_event, transform_input=True):
        if getattr(self, "state", "ENABLED") != "ENABLED":  # as on AWS (moto delivered anyway)
            return
        states = [t for t in self.targets if parse_arn(t["Arn"]).service == "states"]
        if len(states) < len(self.targets):
            # moto raises on target types it does not know: hand it only its own
            others = copy.copy(self)
            others.targets = [t for t in self.targets if t not in states]
            original(others, original_event, transform_input)
        if not states or not self.event_pattern.matches_event(original_event):
            return
        for target in states:
            if target.get("Input"):
                event = target["Input"]
            elif transform_input and target.get("InputTransformer"):
                transformer = target["InputTransformer"]
                event = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event,
                )
            else:  # as AWS delivers it: the whole event, `account` included
                event = as_delivered(original_event)
            # named after the event (not the target input): a repeat delivery is refused
            start_execution_for(target["Arn"], event, execution_name(original_event))

    send_to_targets._localcloud = True
    setattr(cls, name, send_to_targets)
