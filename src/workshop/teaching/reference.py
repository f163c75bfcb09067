"""The orchestrator's state machine as the repository holds it: what every exercise is judged against.

    from workshop.teaching.reference import reference_definition, DEFAULT_SUBSTITUTIONS
    reference_definition()["States"]["ChooseAction"]

`statemachine/security_orchestrator.asl.json` is the single source of truth
of the state machine: the builder's plan, the exercises' expected behaviour
and their starting texts all come from it, so a change there flows through.
Its `${Name}` placeholders (the template's DefinitionSubstitutions) get
`DEFAULT_SUBSTITUTIONS`, stand-ins with the real values' shapes, until the
deployed stack's own values are known.
"""

from __future__ import annotations

import json
from pathlib import Path

ACCOUNT = "123456789012"
# Stand-ins used before the stack is deployed (same shapes as the real values).
DEFAULT_SUBSTITUTIONS = {
    "ValidatePolicyArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:ValidatePolicy",
    "RevertPolicyArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:RevertPolicy",
    "AskUserArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:AskUser",
    "RestorePolicyArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:RestorePolicy",
    "RevertPolicyRoleArn": f"arn:aws:iam::{ACCOUNT}:role/RevertPolicyRole",
    "RestorePolicyRoleArn": f"arn:aws:iam::{ACCOUNT}:role/RestorePolicyRole",
    "AlertTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:AlertTopic",
    "ApprovalTimeoutSeconds": "86400",
}
REFERENCE = Path(__file__).resolve().parents[3] / "statemachine" / "security_orchestrator.asl.json"
REFERENCE_NAME = "statemachine/security_orchestrator.asl.json"


def reference_definition(path: str | Path = REFERENCE) -> dict:
    return json.loads(Path(path).read_text())
