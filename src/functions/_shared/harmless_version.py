"""The version RevertPolicy puts in force of a managed policy whose default version was risky.

ValidatePolicy recognises it as the orchestrator's own change (never an
incident); RestorePolicy removes it by its Sid to make room for what it
restores.
"""

from __future__ import annotations

PLACEHOLDER_SID = "RevertedBySecurityOrchestrator"
# Grants one read-only CloudWatch Logs query action: attached principals lose
# what the risky version gave them and gain nothing that matters.
HARMLESS_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": PLACEHOLDER_SID,
            "Effect": "Allow",
            "Action": "logs:GetLogGroupFields",
            "Resource": "*",
        }
    ],
}


def is_placeholder(document) -> bool:
    """Whether a (parsed) document is one RevertPolicy put in force (its Sid says so)."""
    statements = document.get("Statement") if isinstance(document, dict) else None
    return isinstance(statements, list) and any(
        isinstance(s, dict) and s.get("Sid") == PLACEHOLDER_SID for s in statements)
