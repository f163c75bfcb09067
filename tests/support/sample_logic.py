"""The original AWS sample's decision logic, ported line by line from its
Node.js ValidatePolicy, so each defect test can show the old answer was wrong.
Used only by the tests."""

import json


def sample_verdict(policy_text: str, restricted: list[str]) -> str:
    """"remedy", "alert", or "crash" where the Node.js code threw (the sample's
    state machine had no Catch, so a crash left the policy in force)."""
    policy = json.loads(policy_text)
    try:
        actions = policy["Statement"][0].get("Action")  # only the first statement, only Action
    except (KeyError, IndexError, AttributeError):
        return "crash"
    if not isinstance(actions, (list, str)):
        return "crash"  # undefined.indexOf
    for item in restricted:
        # JS `indexOf`: exact membership on an array, substring on a string.
        if item in actions:
            return "remedy"
    return "alert"
