"""EventBridge -> Step Functions: a rule target that is a state machine starts an execution.

moto's `Rule.send_to_targets` delivers to logs, SQS, archives, other buses
and API destinations, and silently skips a state machine ARN. The wrapper
here hands moto's original the other targets (it raises on types it does
not know) and starts an execution (UUID name; input: the whole event,
or the target's Input / InputTransformer result) for
each `arn:aws:states:...:stateMachine:...` target.

Patch point: `moto.events.models.Rule.send_to_targets`.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from datetime import datetime, timezone

log = logging.getLogger("workshop.localcloud.events")


def seam():
    from moto.events.models import Rule

    return Rule, "send_to_targets"


def start_execution_for(target_arn: str, event) -> str | None:
    from moto.utilities.arns import parse_arn

    from .extensions import ensure
    from .stepfunctions import backend

    ensure("stepfunctions")  # executions get their names and their engine
    arn = parse_arn(target_arn)
    payload = event if isinstance(event, str) else json.dumps(event)
    try:
        execution = backend(arn.account, arn.region).start_execution(target_arn, str(uuid.uuid4()), payload)
    except Exception:
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
            start_execution_for(target["Arn"], event)

    send_to_targets._localcloud = True
    setattr(cls, name, send_to_targets)
