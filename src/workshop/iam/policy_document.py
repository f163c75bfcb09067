"""A policy's text, parsed and validated as IAM validates it.

An identity policy (and a permissions boundary, a session policy, a service
control policy) follows IAM's identity-policy grammar: top-level `Version`,
`Id`, `Statement`; in a statement `Sid`, `Effect`, `Action`/`NotAction`,
`Resource`/`NotResource`, `Condition`. Anything else (a `Principal`, a
misspelt key, a duplicate key) is rejected as IAM rejects it, with
`InvalidPolicyDocument` saying what to change.

A resource-based policy (`kind="resource"`: a bucket, topic, secret, queue,
key or function policy, a role's trust policy) names who it applies to:
`Principal` or `NotPrincipal` in each statement, and may leave out
`Resource` (a trust policy's resource is its role).

What a statement means for one request (Action/NotAction, Resource/
NotResource, Principal/NotPrincipal) is decided here, once, for both users of
the engine: `Statement.takes_in` is the Not-element rule, which ValidatePolicy's
matcher (evaluation.py) applies to sets of actions and the request evaluator
(decision.py) to one request's action, resource and principal.
"""

from __future__ import annotations

import difflib
import functools
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
RESOURCE_STATEMENT_KEYS = STATEMENT_KEYS + ("Principal", "NotPrincipal")
VERSIONS = ("2012-10-17", "2008-10-17")
KINDS = ("identity", "resource")


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
    if key in ("Principal", "NotPrincipal") and key not in allowed:
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


@functools.lru_cache(maxsize=4096)
def _split_actions(patterns: tuple) -> tuple[frozenset, tuple]:
    """(the plain ASCII names lower-cased, the other patterns) of an Action or NotAction list."""
    plain = frozenset(p.lower() for p in patterns if p.isascii() and "*" not in p and "?" not in p)
    return plain, tuple(p for p in patterns if p.lower() not in plain or not p.isascii())


@dataclass(frozen=True)
class Statement:
    index: int
    sid: str | None
    allow: bool
    actions: tuple | None  # Action patterns, or None when the statement has NotAction
    not_actions: tuple | None
    resources: tuple | None  # Resource patterns, or None when the statement has NotResource (or neither)
    not_resources: tuple | None
    conditional: bool
    # Resource-based policies: ((principal type, (values, ...)), ...) from Principal or NotPrincipal;
    # None where the statement has the other one (an identity policy has neither).
    principals: tuple | None = None
    not_principals: tuple | None = None
    # ((operator, ((condition key, (values, ...)), ...)), ...) as written; () without a Condition
    condition: tuple = ()

    @staticmethod
    def takes_in(listed: bool, positive: bool) -> bool:
        """The Not-element rule: Action/Resource/Principal take in what they list, NotAction/
        NotResource/NotPrincipal everything they do not list."""
        return listed if positive else not listed

    def names_action(self, action: str) -> bool:
        """Does Action / NotAction take in this action name (IAM's case-insensitive globs)?"""
        patterns = self.actions if self.actions is not None else self.not_actions
        if action.isascii():
            # most listed actions are plain names: one set look-up for them, the globs matched one by one
            plain, globs = _split_actions(patterns)
            listed = action.lower() in plain or any(action_matches(p, action) for p in globs)
        else:  # a regex's case-insensitive match relates more than ASCII letters: leave it every pattern
            listed = any(action_matches(p, action) for p in patterns)
        return self.takes_in(listed, self.actions is not None)

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


def _principal(value, where: str) -> tuple:
    """Principal / NotPrincipal as ((type, (values, ...)), ...); "*" is ("*", ("*",))."""
    if value == "*":
        return (("*", ("*",)),)
    if not isinstance(value, dict) or not value:
        raise InvalidPolicyDocument(f"{where} must be \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::"
                                    "123456789012:root\"}} or {\"Service\": \"lambda.amazonaws.com\"}")
    out = []
    for kind, names in value.items():
        if not isinstance(kind, str):
            raise InvalidPolicyDocument(f"{where} has a principal type that is not a string")
        out.append((kind, tuple(_string_list(names, f"{where} {kind}", "principal"))))
    return tuple(out)


def _condition(value, where: str) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise InvalidPolicyDocument(f"{where} has a Condition that is not an object")
    out = []
    for operator, keys in value.items():
        if not isinstance(keys, dict):
            raise InvalidPolicyDocument(f"{where} Condition {operator} must map condition keys to values")
        entries = []
        for key, values in keys.items():
            values = values if isinstance(values, list) else [values]
            if any(isinstance(v, (dict, list)) or v is None for v in values):
                raise InvalidPolicyDocument(f"{where} Condition {operator} {key} must be a value or a list of values")
            entries.append((key, tuple(values)))
        out.append((operator, tuple(entries)))
    return tuple(out)


def parse_statements(policy: dict, kind: str = "identity") -> list[Statement]:
    """The statements of a policy, validated as IAM validates them.

    `kind` "identity" (identity policies, boundaries, session policies, SCPs) or
    "resource" (a resource-based policy or a trust policy: Principal/NotPrincipal,
    Resource optional).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    allowed_keys = STATEMENT_KEYS if kind == "identity" else RESOURCE_STATEMENT_KEYS
    if not isinstance(policy, dict):
        raise InvalidPolicyDocument(f"the policy document must be a JSON object, got {type(policy).__name__}")
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
            if key not in allowed_keys:
                raise _unknown_key(key, where, allowed_keys)
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
        if kind == "resource" and "Resource" not in item and "NotResource" not in item:
            resources, positive_resources = None, None  # the resource the policy is attached to
        else:
            _, resources, positive_resources = _exactly_one(item, where, "Resource")
        principals = not_principals = None
        if kind == "resource":
            if ("Principal" in item) == ("NotPrincipal" in item):
                raise InvalidPolicyDocument(f"{where} must have exactly one of Principal and NotPrincipal")
            if "Principal" in item:
                principals = _principal(item["Principal"], f"{where} Principal")
            else:
                not_principals = _principal(item["NotPrincipal"], f"{where} NotPrincipal")
        condition = item.get("Condition")
        statements.append(Statement(
            index=index, sid=sid, allow=effect == "Allow",
            actions=actions if positive else None, not_actions=None if positive else actions,
            resources=resources if positive_resources else None,
            not_resources=resources if positive_resources is False else None,
            conditional=bool(condition),
            principals=principals, not_principals=not_principals,
            condition=_condition(condition, where),
        ))
    return statements

