"""A shorter approval time limit for a moment, on whatever definition is deployed.

    from workshop.approval_timeout import shortened_approval_timeout
    with shortened_approval_timeout(cloud, state_machine_arn, seconds=3) as change:
        print(change)       # what changed, and that it is put back afterwards
        ...                 # fire a policy, let nobody answer

The stack's ApprovalTimeoutSeconds reaches the state machine as the literal in
`"approvalTimeoutSeconds.$": "States.StringToJson('86400')"` (ModifyState and
ModifyVersionState). Only that literal changes, in the definition that is
deployed now (the learner's own from notebook 02, or the file's): nothing
else of it is replaced, and the exact text is put back on leaving, whatever
happened inside.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager

from workshop.failures import WorkshopError

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
