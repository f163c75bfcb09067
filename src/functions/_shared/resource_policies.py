"""Who a resource-based policy lets in: a role's trust policy and a bucket policy, read by principal.

An identity policy grants to whoever holds it; a trust policy or a bucket
policy names its grantees in each statement's `Principal`. ValidatePolicy
judges such a document by who it lets in, RevertPolicy takes out exactly the
grants it judged, and both must read principals the same way: this is that
one way.

A *grant* is one principal of one Allow statement together with everything
else the statement says (actions, resources, conditions): the same principal
with a condition dropped is another grant, so widening a statement is seen as
a new grant, not as a principal already known. An Allow statement with
`NotPrincipal` lets in everyone but a few: its grant is the whole statement,
principal `NotPrincipal:...`. Deny statements only narrow: they always stay.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os

VERSION = "2012-10-17"
# What a trust policy becomes when nothing of it may stay: nobody may assume the role until a human decides.
HELD_TRUST = {"Version": VERSION, "Statement": [{
    "Sid": "HeldBySecurityOrchestrator", "Effect": "Deny", "Principal": {"AWS": "*"},
    "Action": ["sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity"]}]}


class Unreadable(ValueError):
    """The document is not a policy whose statements and principals can be read (judged: fail closed)."""


def statements(text: str) -> list[dict]:
    """The statements of a policy document's text; Unreadable when it has none that can be read."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError, TypeError) as exc:
        raise Unreadable(f"not JSON: {exc}") from exc
    found = document.get("Statement") if isinstance(document, dict) else None
    found = [found] if isinstance(found, dict) else found
    if not isinstance(found, list) or not all(isinstance(s, dict) for s in found):
        raise Unreadable("no list of statements")
    return found


def is_allow(statement: dict) -> bool:
    return statement.get("Effect") != "Deny"  # anything but an explicit Deny may let someone in


def principals(statement: dict) -> list[str]:
    """The statement's principals as "TYPE:value" ("AWS:arn:aws:iam::111122223333:user/x", "AWS:*", "Service:...");
    an Allow with NotPrincipal is one principal "NotPrincipal:<its JSON>" (everyone but those)."""
    if "NotPrincipal" in statement:
        return ["NotPrincipal:" + json.dumps(statement["NotPrincipal"], sort_keys=True)]
    given = statement.get("Principal")
    if given == "*":
        return ["AWS:*"]
    if not isinstance(given, dict):
        raise Unreadable(f"a statement's Principal is neither \"*\" nor a map: {json.dumps(given)[:200]}")
    found = []
    for kind, values in given.items():
        for value in values if isinstance(values, list) else [values]:
            found.append(f"{kind}:{value}")
    return found


def _rest(statement: dict) -> str:
    """Everything a statement says but its Sid and principals, canonical."""
    rest = {k: v for k, v in statement.items() if k not in ("Sid", "Principal", "NotPrincipal")}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"))


def grants(text: str) -> set[tuple[str, str]]:
    """(principal, the rest of its statement) of every Allow statement of the document."""
    return {(p, _rest(s)) for s in statements(text) if is_allow(s) for p in principals(s)}


def admin_patterns() -> list[str]:
    """AdminPrincipalArns (wildcards allowed), as the template puts them in a function's environment."""
    return [a.strip() for a in (os.environ.get("ADMIN_PRINCIPAL_ARNS") or "").split(",") if a.strip()]


def is_admin(principal: str, admins: list[str]) -> bool:
    """An AWS principal the account's administrators (AdminPrincipalArns, wildcards allowed) name."""
    kind, _, value = principal.partition(":")
    return kind == "AWS" and value != "*" and any(fnmatch.fnmatchcase(value, pattern) for pattern in admins)


def is_own_account(principal: str, account_id: str | None) -> bool:
    """The account itself ("AWS:111122223333" or its root ARN): in a bucket policy of the same account
    that hands the decision to the account's IAM policies, which the kit watches."""
    kind, _, value = principal.partition(":")
    if not account_id or kind != "AWS":
        return False
    return value == account_id or (value.startswith("arn:") and value.endswith(f":iam::{account_id}:root"))


def new_grants(current: str, known_documents: list[str], admins: list[str]) -> list[tuple[str, str]]:
    """The grants of `current` that none of the known documents holds and that are not the administrators'
    (sorted). An unreadable known document is skipped (knowing less fails closed)."""
    known: set[tuple[str, str]] = set()
    for document in known_documents:
        try:
            known |= grants(document)
        except Unreadable:
            continue
    return sorted(g for g in grants(current) if g not in known and not is_admin(g[0], admins))


def without_grants(current: str, taken: set[tuple[str, str]]) -> dict:
    """`current` with the grants `taken` out: a statement keeps the principals not taken, a statement left
    with none goes; when no statement is left, HELD_TRUST (a trust policy must hold one)."""
    kept = []
    for statement in statements(current):
        if not is_allow(statement):
            kept.append(statement)
            continue
        rest = _rest(statement)
        mine = principals(statement)
        left = [p for p in mine if (p, rest) not in taken]
        if len(left) == len(mine):
            kept.append(statement)
        elif left:
            kept.append(_with_principals(statement, left))
    document = json.loads(current)
    if not kept:
        return HELD_TRUST
    return {**(document if isinstance(document, dict) else {}), "Statement": kept}


def _with_principals(statement: dict, left: list[str]) -> dict:
    by_kind: dict[str, list[str]] = {}
    for principal in left:
        kind, _, value = principal.partition(":")
        by_kind.setdefault(kind, []).append(value)
    principal = {k: v[0] if len(v) == 1 else v for k, v in by_kind.items()}
    return {**{k: v for k, v in statement.items() if k != "Principal"}, "Principal": principal}


def statement_digest(statement: dict) -> str:
    """A statement's SHA-256 over its canonical JSON: how RevertPolicy finds the statements judged risky."""
    return hashlib.sha256(json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def outside_statements(text: str, admins: list[str], account_id: str | None) -> list[dict]:
    """The Allow statements of a bucket policy that let in anyone but the administrators and the account
    itself (its IAM policies decide for its own principals)."""
    return [s for s in statements(text) if is_allow(s)
            and any(not is_admin(p, admins) and not is_own_account(p, account_id) for p in principals(s))]


def as_identity_statement(statement: dict) -> dict:
    """A resource policy's statement as the identity-policy statement the IAM engine judges (what it allows,
    whoever it is for)."""
    return {k: v for k, v in statement.items() if k not in ("Principal", "NotPrincipal")}


def without_statements(text: str, digests: set[str]) -> dict | None:
    """The bucket policy without the statements whose digest is in `digests`; None when nothing is left
    (a bucket policy must hold a statement: it is deleted instead)."""
    kept = [s for s in statements(text) if statement_digest(s) not in digests]
    if not kept:
        return None
    document = json.loads(text)
    return {**document, "Statement": kept}
