"""A shorter approval time limit for a moment, on whatever definition is deployed; the time-out seen in seconds.

    from workshop.teaching.approval_timeout import shortened_approval_timeout, approval_timeout_demo
    with shortened_approval_timeout(cloud, state_machine_arn, seconds=3) as change:
        print(change)       # what changed, and that it is put back afterwards
        ...                 # fire a policy, let nobody answer

The stack's ApprovalTimeoutSeconds reaches the state machine as the literal in
`"approvalTimeoutSeconds.$": "States.StringToJson('86400')"` (ModifyState and
ModifyVersionState). Only that literal changes, in the definition that is
deployed now (the learner's own from notebook 02, or the file's): nothing
else of it is replaced, and the exact text is put back on leaving, whatever
happened inside. `approval_timeout_demo` (notebook 06) uses it to show an
approval timing out in seconds instead of a day.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager

from workshop.aws.executions import ExecutionHistory, wait_for_end
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


@contextmanager
def shortened_approval_timeout(cloud, state_machine_arn: str, seconds: int = 3):
    sfn = cloud.client("stepfunctions")
    original = sfn.describe_state_machine(stateMachineArn=state_machine_arn)["definition"]
    shorter, changed = with_timeout(json.loads(original), seconds)
    if not changed:
        raise NoApprovalTimeout(
            f"The deployed definition has no \"{KEY}\": \"States.StringToJson('...')\" to shorten, so the time "
            "limit cannot be changed here. Run 02 again (its last cell deploys a complete definition).")
    states = sorted({where.split("/")[2] for where in changed if where.startswith("/States/")})
    sfn.update_state_machine(stateMachineArn=state_machine_arn, definition=json.dumps(shorter))
    try:
        yield (f"The deployed definition now waits at most {seconds} s for a decision (changed in "
               f"{', '.join(states)} only); the rest of it, yours or the file's, is untouched, and it is "
               "put back as it was once the execution has started.")
    finally:
        sfn.update_state_machine(stateMachineArn=state_machine_arn, definition=original)


def approval_timeout_demo(cloud, state_machine_arn: str, document, seconds: int = 3,
                          timeout: float = 60.0) -> ExecutionHistory:
    """The approval timeout, seen in `seconds` instead of a day, whatever CloudTrail's timing.

    Shortens the approval time limit to `seconds` in the definition deployed now (the learner's own
    from notebook 02, or the file's: only the limit changes, `shortened_approval_timeout`), creates
    the policy (a real one, in your account), at once starts an execution with its CloudTrail-shaped
    event (so it runs the short definition), and puts the deployed definition back, exactly, as soon
    as that execution has started. Nobody answers, so AskUser times out and the
    execution ends at ApprovalTimedOut with the policy still reverted. The execution CloudTrail
    starts for the same change (later, on AWS) finds the version already reverted and ends at
    AlreadyHandled; if it was quicker (the local cloud), that one shows the time-out instead.
    """
    sfn = cloud.client("stepfunctions")
    with shortened_approval_timeout(cloud, state_machine_arn, seconds) as change:  # put back whatever happens
        print(change)
        fired = fire_policy(cloud, document, name=unique_policy_name("timeout"))
        # RevertPolicy reads the version at once: wait until IAM shows it (eventual consistency)
        iam_call(cloud.client("iam").get_policy_version, what="IAM to show the new policy",
                 PolicyArn=fired.arn, VersionId=fired.version_id)
        event = cloudtrail_event(account_id(cloud), fired.name, fired.document, fired.version_id)
        direct = start_with_event(cloud, state_machine_arn, event, prefix="timeout-demo")
    history = wait_for_end(cloud, direct, timeout=timeout)
    if "AlreadyHandled" not in history.path():
        return history
    # CloudTrail's own execution reverted first (it ran the short definition too): follow that one.
    others = {direct}
    print(f"This execution found the change already reverted (AlreadyHandled) by the one CloudTrail's event "
          f"started for {fired.name}: that one waits, and times out.")
    other = wait_for(lambda: find_execution(sfn, state_machine_arn, fired, others),
                     what=f"the execution CloudTrail's event started for {fired.name}",
                     timeout=30, **poll_intervals(cloud))
    return wait_for_end(cloud, other, timeout=timeout)
