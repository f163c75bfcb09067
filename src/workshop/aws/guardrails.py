"""What a notebook cell shows when the account's guardrails refuse the call it makes.

    from workshop.aws.guardrails import refused_by_guardrails, HeldByGuardrails
    try:
        sfn.start_execution(...)
    except ClientError as exc:
        if not refused_by_guardrails(exc):
            raise
        return HeldByGuardrails("states:StartExecution", "one run of the scan now", str(exc), note, shown=run)

In an account under policies/scp-workshop-guardrails.json only the stack's own
roles and break-glass may start, stop or change the orchestrator's state
machine: a forged execution is a real attack (notebook 07). The few cells that
start or stop executions themselves (notebook 06's scan, time-out demo and
failing Lambda; notebook 08's clean-up) are then refused. That refusal is the
guardrail working, not the learner's mistake, so those cells show what is true
instead: what the stack itself ran (the learner may read executions), and why
the cell could not run it now. AWS says which policy type denied a request in
the message of its AccessDenied error ("... with an explicit deny in a service
control policy"): only that refusal is taken for the guardrails; any other
error stays an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCP_DENIAL = "explicit deny in a service control policy"
_PERFORM = re.compile(r"not authorized to perform: ([a-z0-9-]+:[A-Za-z0-9]+)")


def refused_by_guardrails(exc: BaseException) -> bool:
    """An AccessDenied answer whose message says a service control policy denied the call."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    error = response.get("Error") or {}
    return str(error.get("Code", "")).startswith("AccessDenied") and _SCP_DENIAL in str(error.get("Message", ""))


def refused_action(exc: BaseException, default: str) -> str:
    """The action the refusal names ("states:StartExecution"), or `default` when its message names none."""
    error = (getattr(exc, "response", None) or {}).get("Error") or {}
    found = _PERFORM.search(str(error.get("Message", "")))
    return found.group(1) if found else default


@dataclass
class HeldByGuardrails:
    """A cell's call the guardrails refused (`action`, what the cell meant to do), what they keep for whom
    (`note`), and the run of the stack's own shown instead (`shown`, an ExecutionHistory, or None)."""

    action: str
    what: str
    refusal: str
    note: str
    shown: object = None

    @property
    def status(self) -> str:
        return self.shown.status if self.shown is not None else "NOT_STARTED"

    def path(self) -> list:
        return self.shown.path() if self.shown is not None else []

    def statuses(self, definition: dict | None = None) -> dict:
        return self.shown.statuses(definition) if self.shown is not None else {}

    def summary(self) -> str:
        text = f"Not run here: the account's guardrails refuse {self.action} ({self.what}). {self.note}"
        if self.shown is not None:
            text += f" Shown instead: {self.shown.summary()}"
        return text

    def __repr__(self) -> str:
        return self.summary()


def held_by_guardrails(result) -> bool:
    """Whether a cell's result is a refusal shown as `HeldByGuardrails` (the summary cells ask)."""
    return isinstance(result, HeldByGuardrails)
