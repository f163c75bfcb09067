"""What a human decides about a reverted change, and what the waiting execution reads.

A decision is "allow" or "deny": the path of the e-mail link (/allow, /deny),
what its signature covers, and what the incidents table records. The
execution waiting on the task token reads the decision from the task's output
(`{"action": ...}`) in the state machine's approval Choice state.
"""

from __future__ import annotations

ALLOW = "allow"
DENY = "deny"
DECISIONS = (ALLOW, DENY)

# Deny travels to the execution as "delete": the word the sample this workshop grew from used
# for it. The state machine's usersChoice state and the kit's approval panel test for it, so it
# stays the wire value although the decision is "deny" everywhere else.
DENY_WIRE_VALUE = "delete"
WIRE_VALUES = {ALLOW: "allow", DENY: DENY_WIRE_VALUE}
