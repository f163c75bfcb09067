"""An identity policy's text, parsed and validated as IAM validates it.

The document follows IAM's identity-policy grammar: top-level `Version`, `Id`,
`Statement`; in a statement `Sid`, `Effect`, `Action`/`NotAction`,
`Resource`/`NotResource`, `Condition`. Anything else (a `Principal`, a
misspelt key, a duplicate key) is rejected as IAM rejects it, with
`InvalidPolicyDocument` saying what to change.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from urllib.parse import unquote

from .globs import action_matches


class InvalidPolicyDocument(Exception):
    """IAM would reject the document, or it is ambiguous.

    The class name is the error name Step Functions sees when ValidatePolicy
    raises it; the state machine routes it to the revert path (fail closed).
    """


POLICY_KEYS = ("Version", "Id", "Statement")
STATEMENT_KEYS = ("Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition")
VERSIONS = ("2012-10-17", "2008-10-17")


def _reject_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise InvalidPolicyDocument(
                f"duplicate key {key!r} in the policy document: IAM keeps only one of them, "
                "so what the policy grants is ambiguous. Write each key once."
            )
        seen[key] = value
    return seen


def parse_policy_document(document) -> dict:
    """Parse the JSON text CloudTrail carries in requestParameters.policyDocument."""
    if isinstance(document, dict):
        return document
    if not isinstance(document, str):
        raise InvalidPolicyDocument(
            f"the policy document must be JSON text, got {type(document).__name__}"
        )
    text = document.strip()
    # CloudTrail sometimes records the document URL-encoded, as it was sent.
    if text.startswith("%7B") or text.startswith("%7b"):
        text = unquote(text)
    try:
        parsed = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except InvalidPolicyDocument:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidPolicyDocument(f"the policy document is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidPolicyDocument(
            f"the policy document must be a JSON object, got {type(parsed).__name__}"
        )
    return parsed


def _unknown_key(key: str, where: str, allowed: tuple) -> InvalidPolicyDocument:
    if key in ("Principal", "NotPrincipal"):
        return InvalidPolicyDocument(
            f"{where} has {key}: an identity policy (attached to a user, group or role) applies to "
            f"whoever holds it, so IAM rejects a {key} in it (\"Policy document should not specify a "
            f"principal\"). Remove {key}; to grant another account or service access, use a "
            "resource-based policy or the role's trust policy instead."
        )
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    close = close or [k for k in allowed if k.lower() == key.lower()]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return InvalidPolicyDocument(
        f"{where} has an unknown key {key!r}: IAM accepts only {', '.join(allowed)} there.{hint}"
    )


def _string_list(value, where: str, what: str = "action") -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list):
        raise InvalidPolicyDocument(f"{where} must be a string or a list of strings")
    if not values:
        raise InvalidPolicyDocument(f"{where} is an empty list: IAM rejects a statement without {what}s")
    for item in values:
        if not isinstance(item, str):
            raise InvalidPolicyDocument(
                f"{where} holds a {type(item).__name__} ({item!r}); every {what} must be a string"
            )
        if not item.strip():
            raise InvalidPolicyDocument(f"{where} holds an empty {what}")
        if any(ord(c) < 0x20 for c in item):
            raise InvalidPolicyDocument(f"{where} holds a control character in {item!r}; "
                                        f"no {what} name has one")
    return values


def action_pattern_problem(pattern: str) -> str | None:
    """Why IAM would refuse this action name or pattern, or None."""
    if pattern == "*":
        return None
    if pattern.count(":") != 1:
        return ("an action is \"*\" or service:action with exactly one colon "
                "(IAM: \"Actions/Conditions must be prefaced by a vendor\")")
    vendor = pattern.split(":", 1)[0]
    if not vendor or any(c in vendor for c in "*?"):
        return "the service prefix must be spelt out (IAM: \"Action vendors must not contain wildcards\")"
    return None


@dataclass(frozen=True)
class Statement:
    index: int
    sid: str | None
    allow: bool
    actions: tuple | None  # Action patterns, or None when the statement has NotAction
    not_actions: tuple | None
    resources: tuple | None  # Resource patterns, or None when the statement has NotResource
    not_resources: tuple | None
    conditional: bool

    def granted_by(self, action: str) -> str:
        if self.actions is None:
            return "NotAction " + json.dumps(list(self.not_actions))
        return next(p for p in self.actions if action_matches(p, action))


def _exactly_one(statement: dict, where: str, key: str) -> tuple[str, tuple, bool]:
    not_key = "Not" + key
    if (key in statement) == (not_key in statement):
        raise InvalidPolicyDocument(f"{where} must have exactly one of {key} and {not_key}")
    used = key if key in statement else not_key
    return used, tuple(_string_list(statement[used], f"{where} {used}", key.lower())), used == key


def parse_statements(policy: dict) -> list[Statement]:
    """The statements of an identity policy, validated as IAM validates them."""
    for key in policy:
        if key not in POLICY_KEYS:
            raise _unknown_key(key, "the policy document", POLICY_KEYS)
    if "Version" in policy and policy["Version"] not in VERSIONS:
        raise InvalidPolicyDocument(
            f"Version {policy['Version']!r} is not one IAM knows: write \"2012-10-17\""
        )
    if "Statement" not in policy:
        raise InvalidPolicyDocument("the policy document has no Statement")
    raw = policy["Statement"]
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise InvalidPolicyDocument("Statement must be an object or a list of objects")
    statements = []
    for index, item in enumerate(items):
        where = f"statement {index}"
        if not isinstance(item, dict):
            raise InvalidPolicyDocument(f"{where} is a {type(item).__name__}, not an object")
        for key in item:
            if key not in STATEMENT_KEYS:
                raise _unknown_key(key, where, STATEMENT_KEYS)
        effect = item.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise InvalidPolicyDocument(
                f"{where} has Effect {effect!r}; it must be exactly \"Allow\" or \"Deny\""
            )
        sid = item.get("Sid")
        if sid is not None and not isinstance(sid, str):
            raise InvalidPolicyDocument(f"{where} has a Sid that is not a string")
        _, actions, positive = _exactly_one(item, where, "Action")
        for pattern in actions:
            problem = action_pattern_problem(pattern)
            if problem:
                raise InvalidPolicyDocument(f"{where} names the action {pattern!r}: {problem}")
        _, resources, positive_resources = _exactly_one(item, where, "Resource")
        condition = item.get("Condition")
        if condition is not None and not isinstance(condition, dict):
            raise InvalidPolicyDocument(f"{where} has a Condition that is not an object")
        statements.append(Statement(
            index=index, sid=sid, allow=effect == "Allow",
            actions=actions if positive else None, not_actions=None if positive else actions,
            resources=resources if positive_resources else None,
            not_resources=None if positive_resources else resources,
            conditional=bool(condition),
        ))
    return statements

