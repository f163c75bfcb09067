"""A shorter approval time limit, in a version of its own; the time-out seen in seconds.

    from workshop.teaching.approval_timeout import shortened_approval_timeout, approval_timeout_demo
    with shortened_approval_timeout(cloud, state_machine_arn, seconds=3) as short:
        print(short)        # what changed, and that the deployed definition is as it was
        ...                 # start executions on short.version_arn, let nobody answer

The stack's ApprovalTimeoutSeconds reaches the state machine as the literal in
`"approvalTimeoutSeconds.$": "States.StringToJson('86400')"` (ModifyState and
ModifyVersionState). Only that literal changes, in the definition that is
deployed now (the learner's own from notebook 02, or the file's), and only in
a published **version**: `UpdateStateMachine` with `publish=True` makes it,
and the deployed definition is put back, exactly, at once. An execution
started on the version's ARN runs the short limit for certain: AWS says
executions started right after `UpdateStateMachine` on the state machine's
own ARN "may use the previous state machine definition"
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_UpdateStateMachine.html),
and a version never changes
(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-state-machine-version.html).
The version is deleted on leaving; "deleting a state machine version won't
terminate its in-progress executions"
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_DeleteStateMachineVersion.html).
`approval_timeout_demo` (notebook 06) uses it to show an approval timing out
in seconds instead of a day.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass

from botocore.exceptions import ClientError

from workshop.aws.executions import ExecutionHistory, find_latest, wait_for_end
from workshop.aws.guardrails import HeldByGuardrails, refused_action, refused_by_guardrails
from workshop.aws.iam_changes import (account_id, cloudtrail_event, find_execution, fire_policy, iam_call,
                                      start_with_event, unique_policy_name)
from workshop.failures import WorkshopError
from workshop.waiting import poll_intervals, wait_for

KEY = "approvalTimeoutSeconds.$"
_LITERAL = re.compile(r"States\.StringToJson\('(\d+)'\)")


class NoApprovalTimeout(WorkshopError):
    """The deployed definition sets no approval time limit this helper can change."""


def with_timeout(definition: dict, seconds: int) -> tuple[dict, list]:
    """A copy of `definition` whose approval time limit is `seconds`; and where it changed it."""
    changed = []

    def walk(node, where):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == KEY and isinstance(value, str) and _LITERAL.fullmatch(value):
                    out[key] = f"States.StringToJson('{int(seconds)}')"
                    changed.append(where)
                else:
                    out[key] = walk(value, f"{where}/{key}")
            return out
        if isinstance(node, list):
            return [walk(item, f"{where}/{i}") for i, item in enumerate(node)]
        return node

    return walk(definition, ""), changed


@dataclass(frozen=True)
class ShortenedTimeout:
    """The published version with the short limit (start executions on `version_arn`), and what changed."""

    version_arn: str
    seconds: int
    states: tuple
    in_force: bool = False

    def __str__(self) -> str:
        kept = ("the machine runs it too until the demo ends, then is put back exactly as it was" if self.in_force
                else "the machine keeps its definition exactly as it was")
        return (f"Version {self.version_arn.rsplit(':', 1)[-1]}: the deployed definition with at most {self.seconds} s "
                f"to decide (the limit is set in {', '.join(self.states)}); {kept}.")


def time_limits(definition: str) -> list:
    """The approval time limits (seconds) a definition's text sets; [] when it sets none or is not JSON."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                match = _LITERAL.fullmatch(value) if key == KEY and isinstance(value, str) else None
                if match:
                    found.append(int(match.group(1)))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    try:
        walk(json.loads(definition))
    except ValueError:
        return []
    return found


@contextmanager
def shortened_approval_timeout(cloud, state_machine_arn: str, seconds: int = 3, in_force: bool = False):
    """The version with the short limit. `in_force`: the state machine itself runs the short limit too until
    the block ends (then the deployed definition is back, exactly, whatever happened)."""
    sfn = cloud.client("stepfunctions")
    original = sfn.describe_state_machine(stateMachineArn=state_machine_arn)["definition"]
    shorter, changed = with_timeout(json.loads(original), seconds)
    if not changed:
        raise NoApprovalTimeout(
            f"The deployed definition has no \"{KEY}\": \"States.StringToJson('...')\" to shorten, so the time "
            "limit cannot be changed here. Run 02 again (its last cell deploys a complete definition).")
    states = tuple(sorted({where.split("/")[2] for where in changed if where.startswith("/States/")}))
    restored = False

    def restore():
        nonlocal restored
        if not restored:
            restored = True
            sfn.update_state_machine(stateMachineArn=state_machine_arn, definition=original)

    try:
        version_arn = sfn.update_state_machine(
            stateMachineArn=state_machine_arn, definition=json.dumps(shorter), publish=True,
            versionDescription=f"workshop notebook 06: approval timeout {int(seconds)} s")["stateMachineVersionArn"]
    except BaseException as exc:
        if not refused_by_guardrails(exc):  # refused: nothing changed, and putting it back is refused too
            restore()
        raise
    try:
        if not in_force:
            restore()  # before any execution starts
        yield ShortenedTimeout(version_arn, int(seconds), states, in_force)
    finally:  # the deployed definition back, exactly, whatever happened
        restore()
        sfn.delete_state_machine_version(stateMachineVersionArn=version_arn)


class TimeoutDemoRaced(WorkshopError):
    """CloudTrail's own execution for the demo's policy reverted it first, on the deployed day-long limit."""


def approval_timeout_demo(cloud, state_machine_arn: str, document, seconds: int = 3,
                          timeout: float = 60.0) -> ExecutionHistory | HeldByGuardrails:
    """The approval timeout, seen in `seconds` instead of a day, whatever CloudTrail's timing.

    Publishes a version of the definition deployed now with the approval time limit set to `seconds`
    (the learner's own from notebook 02, or the file's: only the limit changes; the state machine
    keeps its definition, `shortened_approval_timeout`), creates the policy (a real one, in your
    account) and at once starts an execution on that version with its CloudTrail-shaped event.
    Nobody answers, so AskUser times out and the execution ends at ApprovalTimedOut with the
    policy still reverted. The execution CloudTrail starts for the same change (later, on AWS)
    runs the deployed definition, finds the version already reverted and ends at AlreadyHandled.
    If CloudTrail's was quicker (the local cloud), the demo's own ends at AlreadyHandled instead
    and the other one is followed: it started while the short limit was in force on the state
    machine too (`in_force`), as its definition (DescribeStateMachineForExecution) shows.
    Where the account's guardrails keep UpdateStateMachine and StartExecution for the stack, nothing
    changes: the deployed limit and the stack's newest timed-out execution are shown (`timeout_held`).
    """
    try:
        return _timeout_demo(cloud, state_machine_arn, document, seconds, timeout)
    except ClientError as exc:
        if not refused_by_guardrails(exc):
            raise
        return timeout_held(cloud, state_machine_arn, seconds, exc)


def timeout_held(cloud, state_machine_arn: str, seconds: int, exc: ClientError) -> HeldByGuardrails:
    """What the demo shows where the account's guardrails keep changing and starting the stack's state
    machine for the stack: the deployed limit, and the newest of the stack's executions that timed out."""
    sfn = cloud.client("stepfunctions")
    limits = time_limits(sfn.describe_state_machine(stateMachineArn=state_machine_arn)["definition"])
    limit = f"{max(limits)} s" if limits else "the stack's ApprovalTimeoutSeconds"
    shown = find_latest(sfn, state_machine_arn, "ApprovalTimedOut")
    note = (f"They keep UpdateStateMachine and StartExecution for the stack's own roles, so no {int(seconds)}-second "
            f"version can be published and run here. The deployed limit is {limit}: an incident nobody decides "
            "waits at AskUser that long, then ends at ApprovalTimedOut with the change still reverted. "
            + ("The newest execution of the stack that timed out is shown." if shown is not None
               else "None of the stack's recent executions has timed out yet."))
    return HeldByGuardrails(refused_action(exc, "states:UpdateStateMachine"),
                            f"a {int(seconds)}-second approval time limit", str(exc), note, shown)


ATTEMPTS = 2  # a second policy, once the short limit has been in force for the first one's whole run


def _timeout_demo(cloud, state_machine_arn: str, document, seconds: int, timeout: float) -> ExecutionHistory:
    sfn = cloud.client("stepfunctions")
    # The short limit stays in force on the state machine until the demo's execution ends (and, where CloudTrail's
    # execution reverted first, until that one is found): an execution CloudTrail's event starts meanwhile (at once
    # on the local cloud) runs it too, whichever reverts first.
    # On AWS that event comes minutes later, after the deployed definition is back, and finds the change
    # reverted. For those seconds any other incident of the stack would get the short limit too.
    with shortened_approval_timeout(cloud, state_machine_arn, seconds, in_force=True) as short:
        print(short)
        version = short.version_arn.rsplit(":", 1)[-1]
        for attempt in range(1, ATTEMPTS + 1):
            fired = fire_policy(cloud, document, name=unique_policy_name("timeout"))
            # RevertPolicy reads the version at once: wait until IAM shows it (eventual consistency)
            iam_call(cloud.client("iam").get_policy_version, what="IAM to show the new policy",
                     PolicyArn=fired.arn, VersionId=fired.version_id)
            event = cloudtrail_event(account_id(cloud), fired.name, fired.document, fired.version_id)
            direct = start_with_event(cloud, short.version_arn, event, prefix="timeout-demo")
            history = wait_for_end(cloud, direct, timeout=timeout)
            path = history.path()
            # CloudTrail's own execution reverted first: the demo's then found the change handled (AlreadyHandled)
            # or, had the revert come before its ValidatePolicy read IAM, no longer in force (AllowWithNotification).
            ended = next((state for state in ("AlreadyHandled", "AllowWithNotification") if state in path), None)
            if ended is None:
                return history
            # Follow CloudTrail's execution if it runs the short limit too.
            print(f"The execution started on version {version} ended at {ended}: CloudTrail's own execution for "
                  f"{fired.name} had reverted the change first. Followed below: it waits at AskUser and times out.")
            other = wait_for(lambda: find_execution(sfn, state_machine_arn, fired, {direct}),
                             what=f"the execution CloudTrail's event started for {fired.name}",
                             timeout=30, **poll_intervals(cloud))
            limits = time_limits(sfn.describe_state_machine_for_execution(executionArn=other)["definition"])
            if limits and all(limit == int(seconds) for limit in limits):
                break
            # It started before the short limit was used (AWS: executions started right after UpdateStateMachine
            # "may use the previous state machine definition"); the next policy's comes after.
            sfn.stop_execution(executionArn=other, error="WorkshopTimeoutDemo",
                               cause="CloudTrail's execution of the demo's policy ran the deployed time limit")
            if attempt == ATTEMPTS:
                raise TimeoutDemoRaced(
                    f"CloudTrail's own execution for {fired.name} reverted it before the demo's did, and it ran the "
                    f"deployed definition ({max(limits, default=0)} s to decide), so no time-out could be seen in "
                    f"{seconds} s: it was stopped (the policy stays reverted). Run this cell again: it makes a new "
                    "policy.")
            print(f"It ran the deployed definition ({max(limits, default=0)} s to decide): it started before the "
                  f"{seconds}-second limit was in use, so it was stopped (the policy stays reverted). Once more, with "
                  "a new policy.")
    return wait_for_end(cloud, other, timeout=timeout)
