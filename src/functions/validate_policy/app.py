"""ValidatePolicy: does a new IAM policy document allow any restricted action?

The handler is thin; `evaluate_policy` is the pure decision and is where the
tests go deep. The semantics are IAM's, not string equality:

* `Statement` is an object or a list; `Action`/`NotAction` a string or a list.
* Action names are case-insensitive and both sides may use `*` and `?`
  wildcards: a restricted `iam:*` is hit by a policy's `iam:CreateUser`, and
  `iam:Create*` overlaps `iam:*`.
* `Allow` + `NotAction` grants every action it does not list.
* `Deny` grants nothing, and an explicit Deny wins over an Allow - but only
  where it covers every request: unconditional and on all resources
  (`Resource: "*"`). A conditional or narrower Deny leaves the Allow standing
  for some request, so the verdict stays `remedy`.
* A conditional Allow still counts: some request satisfies the condition.

Wildcard patterns are compared as regular languages (small automata over the
characters that occur in the patterns), so overlap, NotAction complements and
Deny subtraction are decided exactly, not approximated.
"""

from __future__ import annotations

import json
import os
from collections import deque
from urllib.parse import unquote

# Any character that occurs in no pattern behaves the same in all of them.
_OTHER = "\x00"


class InvalidPolicyDocument(Exception):
    """IAM would reject the document, or it is ambiguous.

    The class name is the error name Step Functions sees; the state machine
    routes it to the revert path (fail closed).
    """


class ConfigurationError(Exception):
    """The function is deployed without what it needs (RESTRICTED_ACTIONS)."""


# --- parsing -----------------------------------------------------------------


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
    except ValueError as exc:
        raise InvalidPolicyDocument(f"the policy document is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidPolicyDocument(
            f"the policy document must be a JSON object, got {type(parsed).__name__}"
        )
    return parsed


def _string_list(value, where: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list):
        raise InvalidPolicyDocument(f"{where} must be a string or a list of strings")
    if not values:
        raise InvalidPolicyDocument(f"{where} is an empty list: IAM rejects a statement without actions")
    for item in values:
        if not isinstance(item, str):
            raise InvalidPolicyDocument(
                f"{where} holds a {type(item).__name__} ({item!r}); every action must be a string"
            )
        if not item.strip():
            raise InvalidPolicyDocument(f"{where} holds an empty action name")
    return values


def _statements(policy: dict) -> list[dict]:
    if "Statement" not in policy:
        raise InvalidPolicyDocument("the policy document has no Statement")
    raw = policy["Statement"]
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list):
        raise InvalidPolicyDocument("Statement must be an object or a list of objects")
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            raise InvalidPolicyDocument(
                f"statement {index} is a {type(statement).__name__}, not an object"
            )
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise InvalidPolicyDocument(
                f"statement {index} has Effect {effect!r}; it must be exactly \"Allow\" or \"Deny\""
            )
        has_action, has_not_action = "Action" in statement, "NotAction" in statement
        if has_action == has_not_action:
            raise InvalidPolicyDocument(
                f"statement {index} must have exactly one of Action and NotAction"
            )
        key = "Action" if has_action else "NotAction"
        _string_list(statement[key], f"statement {index} {key}")
    return statements


# --- wildcard patterns as automata --------------------------------------------


def _closure(pattern: str, positions) -> frozenset:
    """Positions reachable without reading a character (a `*` may match nothing)."""
    out, stack = set(), list(positions)
    while stack:
        pos = stack.pop()
        if pos in out:
            continue
        out.add(pos)
        if pos < len(pattern) and pattern[pos] == "*":
            stack.append(pos + 1)
    return frozenset(out)


def _step(pattern: str, positions: frozenset, char: str) -> frozenset:
    nxt = set()
    for pos in positions:
        if pos >= len(pattern):
            continue
        symbol = pattern[pos]
        if symbol == "*":
            nxt.add(pos)
        elif symbol == "?" or symbol == char:
            nxt.add(pos + 1)
    return _closure(pattern, nxt)


def find_action(include: list[list[str]], exclude: list[str]) -> str | None:
    """An action matched by at least one pattern of every group in `include`
    and by no pattern in `exclude`, or None when there is none.

    Patterns are IAM action globs; matching is case-insensitive.
    """
    groups = [[p.lower() for p in group] for group in include]
    excl = [p.lower() for p in exclude]
    patterns = [p for group in groups for p in group] + excl
    alphabet = sorted({c for p in patterns for c in p if c not in "*?"}) + [_OTHER]
    start = tuple(_closure(p, {0}) for p in patterns)

    def accepted(state) -> bool:
        flags = [len(p) in pos for p, pos in zip(patterns, state)]
        index = 0
        for group in groups:
            if not any(flags[index : index + len(group)]):
                return False
            index += len(group)
        return not any(flags[index:])

    def alive(state) -> bool:
        # Every include group still has a pattern that can match.
        index = 0
        for group in groups:
            if not any(state[index : index + len(group)]):
                return False
            index += len(group)
        return True

    seen = {start: ""}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if accepted(state):
            found = seen[state]
            return found.replace(_OTHER, "x")
        for char in alphabet:
            nxt = tuple(_step(p, pos, char) for p, pos in zip(patterns, state))
            if nxt not in seen and alive(nxt):
                seen[nxt] = seen[state] + char
                queue.append(nxt)
    return None


# --- the decision --------------------------------------------------------------


def _covers_every_request(statement: dict) -> bool:
    """A Deny that applies to every request for its actions."""
    if statement.get("Condition"):
        return False
    if "NotResource" in statement:
        return False
    resource = statement.get("Resource")
    resources = [resource] if isinstance(resource, str) else resource
    return isinstance(resources, list) and "*" in resources


def parse_restricted_actions(value: str | None) -> list[str]:
    if value is None:
        raise ConfigurationError(
            "RESTRICTED_ACTIONS is not set: deploy with the RestrictedActions parameter "
            "(comma-separated IAM actions)"
        )
    return [item.strip() for item in value.split(",") if item.strip()]


def evaluate_policy(document, restricted_actions: list[str]) -> dict:
    """The verdict for one policy document.

    Returns {"action": "remedy" | "alert", "message", "matches"}; each match names
    the statement (index and Sid), the restricted action, what in the statement
    grants it, and an example action that the policy allows.
    Raises InvalidPolicyDocument for a document IAM would reject or that is ambiguous.
    """
    policy = parse_policy_document(document)
    statements = _statements(policy)

    full_denies_actions, full_denies_not_actions = [], []
    for statement in statements:
        if statement["Effect"] == "Deny" and _covers_every_request(statement):
            if "Action" in statement:
                full_denies_actions.extend(_string_list(statement["Action"], "Action"))
            else:
                full_denies_not_actions.append(_string_list(statement["NotAction"], "NotAction"))

    matches = []
    for index, statement in enumerate(statements):
        if statement["Effect"] != "Allow":
            continue
        for restricted in restricted_actions:
            include = [[restricted]]
            # A Deny with NotAction denies everything outside its list: what
            # survives it must be inside the list.
            include.extend(full_denies_not_actions)
            if "Action" in statement:
                for granted in _string_list(statement["Action"], "Action"):
                    example = find_action(include + [[granted]], full_denies_actions)
                    if example is not None:
                        matches.append(_match(index, statement, restricted, granted, example))
            else:
                not_actions = _string_list(statement["NotAction"], "NotAction")
                example = find_action(include, full_denies_actions + not_actions)
                if example is not None:
                    granted = "NotAction " + json.dumps(not_actions)
                    matches.append(_match(index, statement, restricted, granted, example))

    if matches:
        listed = "; ".join(
            f"{m['action']} (statement {m['statement']}{_sid(m)} via {m['grantedBy']})"
            for m in matches
        )
        return {
            "action": "remedy",
            "message": f"The policy allows restricted actions: {listed}.",
            "matches": matches,
        }
    return {
        "action": "alert",
        "message": "The policy allows none of the restricted actions ("
        + ", ".join(restricted_actions)
        + ").",
        "matches": [],
    }


def _sid(match) -> str:
    return f", Sid {match['sid']}" if match.get("sid") else ""


def _match(index, statement, restricted, granted, example) -> dict:
    return {
        "statement": index,
        "sid": statement.get("Sid"),
        "action": restricted,
        "grantedBy": granted,
        # A wildcard-free restricted action is its own best example.
        "example": example if any(c in restricted for c in "*?") else restricted,
        "conditional": bool(statement.get("Condition")),
    }


def policy_name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1] if isinstance(arn, str) else ""


def handler(event, context):
    if not isinstance(event, dict) or "policy" not in event:
        raise InvalidPolicyDocument(
            "the input has no 'policy': ValidatePolicy expects the output of ModifyState "
            "(policy, policyMeta, eventName)"
        )
    restricted = parse_restricted_actions(os.environ.get("RESTRICTED_ACTIONS"))
    verdict = evaluate_policy(event["policy"], restricted)
    meta = event.get("policyMeta") or {}
    name = policy_name_from_arn(meta.get("arn", ""))
    verdict["policyName"] = name
    verdict["message"] = f"Policy {name} ({event.get('eventName', 'change')}): {verdict['message']}"
    print(json.dumps({"policy": meta.get("arn"), "verdict": verdict["action"],
                      "matches": len(verdict["matches"])}))
    return verdict
