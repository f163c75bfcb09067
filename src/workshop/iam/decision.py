"""Is one request allowed? AWS's policy evaluation logic for a principal, an action, a resource and a context.

The rules, in AWS's order ("How AWS enforcement code logic evaluates requests
to allow or deny access",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html):

1. Deny evaluation: an applicable `Deny` in any policy (service control
   policies, the resource-based policy, identity-based policies, the
   permissions boundary, session policies) is the final answer.
2. Service control policies: where they apply (a member account of an
   organization with SCPs enabled; never its management account), every level
   of the organization (root, each OU, the account) must have an applicable
   `Allow`.
3. Resource-based policy, same account: an `Allow` that names the IAM user, the
   role session, or everyone (`*`) grants the request even where the identity
   policies, the boundary or the session policy implicitly deny it; one that
   names the role (its ARN) is still limited by the boundary and the session
   policy; one that names the account delegates to its identity policies. A
   role's trust policy and a KMS key policy must allow in any case.
4. Identity-based policies (the user's and its groups', or the role's) must
   allow; 5. the permissions boundary, if any, must allow; 6. a session policy,
   if the session has one, must allow.

Cross-account ("Cross-account policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html):
the resource-based policy of the resource's account must allow the principal
(or its account) and the principal's own identity policies must allow as well.

An AWS service principal (`events.amazonaws.com` invoking a function) is
allowed only by a resource-based policy that names it. The account's root user
has every permission its identity could hold; only SCPs and resource policies
that must allow limit it.

`evaluate_request(principal, request, policies)` returns a `Decision`: allowed
or not, "allowed" / "explicitDeny" / "implicitDeny" (the words of IAM's
policy simulator), which policy type decided a denial, the statements that
matched and the condition keys the request lacked; `Decision.message` is
AWS's access-denied text ("User: ... is not authorized to perform: ... on
resource: ... because no identity-based policy allows the ... action",
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field

from .conditions import Context, UnknownOperator, condition_holds
from .globs import arn_matches
from .policy_document import InvalidPolicyDocument, Statement, parse_policy_document, parse_statements

IDENTITY = "identity-based policy"
RESOURCE = "resource-based policy"
BOUNDARY = "permissions boundary"
SESSION = "session policy"
SCP = "service control policy"
_ARTICLE = {IDENTITY: "an"}


@dataclass(frozen=True)
class PolicyDocument:
    """A parsed policy and where it comes from (the policy simulator's SourcePolicyId / SourcePolicyType)."""

    id: str
    type: str  # "user", "group", "role", "aws-managed", "user-managed", "resource", "none", ...
    statements: tuple
    text: str = ""


@functools.lru_cache(maxsize=4096)
def _parsed(text: str, kind: str) -> tuple:
    return tuple(parse_statements(parse_policy_document(text), kind))


def compile_policy(document, *, kind: str = "identity", policy_id: str = "", policy_type: str = "none") -> PolicyDocument:
    """A policy's JSON text (or dict) parsed once per distinct text; InvalidPolicyDocument when IAM would refuse it."""
    text = document if isinstance(document, str) else json.dumps(document, sort_keys=True)
    return PolicyDocument(policy_id, policy_type, _parsed(text, kind), text)


@dataclass(frozen=True)
class Principal:
    """Who makes the request, as the request context names it."""

    arn: str  # user ARN, role session ARN (arn:aws:sts::A:assumed-role/R/S), root ARN, or a service name
    kind: str  # "user", "assumed-role", "root", "federated-user", "service"
    account: str | None = None
    role_arn: str | None = None  # a role session's role, path included

    @property
    def type_word(self) -> str:
        return "User"  # AWS's denial text says "User: <arn>" for every principal type


@dataclass(frozen=True)
class Request:
    action: str
    resource: str = "*"
    context: Context = field(default_factory=Context)


@dataclass(frozen=True)
class Policies:
    """What applies to one request; each policy type empty or None where it does not apply."""

    identity: tuple = ()  # PolicyDocument: the principal's inline and managed policies (a user's groups' too)
    boundary: PolicyDocument | None = None
    session: tuple | None = None  # None: the session has no session policy
    resource: PolicyDocument | None = None
    resource_account: str | None = None  # the account that owns the resource, when it is known
    resource_must_allow: bool = False  # a role trust policy or a KMS key policy
    scps: tuple | None = None  # one tuple of PolicyDocument per level (root, OUs..., account); None: none apply


@dataclass(frozen=True)
class Decision:
    allowed: bool
    decision: str  # "allowed", "explicitDeny", "implicitDeny"
    policy_type: str | None  # the policy type that denied
    matched: tuple = ()  # (PolicyDocument, Statement) pairs whose statement applied
    missing_context: tuple = ()
    scps_allow: bool | None = None  # None: no SCP applies
    boundary_allows: bool | None = None  # None: no boundary

    def message(self, principal: Principal, request: Request) -> str:
        action = request.action
        start = f"User: {principal.arn} is not authorized to perform: {action} on resource: {request.resource}"
        if self.allowed:
            return ""
        kind = self.policy_type
        article = _ARTICLE.get(kind, "a")
        # AWS: "When an SCP denies access, the error message always includes the phrase ... explicit deny
        # in a service control policy, even if the denial is implicit" (troubleshoot_access-denied).
        if self.decision == "explicitDeny" or kind == SCP:
            return f"{start} with an explicit deny in {article} {kind}"
        return f"{start} because no {kind} allows the {action} action"


# --- one statement ------------------------------------------------------------------------------------------


_ACCOUNT = re.compile(r"^\d{12}$")


def _principal_match(entries: tuple, principal: Principal) -> str | None:
    """How a Principal element names the caller: "anyone", "direct", "role", "account", or None."""
    for kind, values in entries:
        if kind == "*":
            return "anyone"
        if kind == "AWS" and principal.kind != "service":
            for value in values:
                if value == "*":
                    return "anyone"
                arn = f"arn:aws:iam::{value}:root" if _ACCOUNT.match(value) else value
                if arn == principal.arn and principal.kind != "root":
                    return "direct"
                if principal.role_arn and arn == principal.role_arn:
                    return "role"
                if arn.endswith(":root") and arn.split(":")[4:5] == [principal.account]:
                    return "account"
        elif kind == "Service" and principal.kind == "service":
            if principal.arn in values:
                return "direct"
    return None


def _exempted(entries: tuple, principal: Principal) -> bool:
    """Does NotPrincipal leave this principal out? A session or user only with its account listed too: AWS
    evaluates the account as well ("you must also specify the account ARN of the not-denied principal",
    AWS JSON policy elements: NotPrincipal)."""
    listed = set()
    for kind, values in entries:
        if kind == "*":
            return True
        if kind == "Service" and principal.kind == "service" and principal.arn in values:
            return True
        if kind == "AWS":
            listed.update(f"arn:aws:iam::{v}:root" if _ACCOUNT.match(v) else v for v in values)
    if "*" in listed:
        return principal.kind != "service"
    account = f"arn:aws:iam::{principal.account}:root"
    if principal.kind == "root":
        return account in listed
    own = principal.arn in listed or (principal.role_arn is not None and principal.role_arn in listed)
    return own and account in listed


class _Evaluation:
    """One request's walk through the policies: which statements apply, which keys were missing."""

    def __init__(self, principal: Principal, request: Request, has_boundary: bool):
        self.principal = principal
        self.request = request
        self.has_boundary = has_boundary
        self.missing: set = set()
        self.matched: list = []

    def applies(self, document: PolicyDocument, statement: Statement, resource_policy: bool = False):
        """None if the statement does not apply; else how its principal matched ("identity" for other kinds)."""
        request = self.request
        if not statement.names_action(request.action):
            return None
        lookup = request.context.single
        if statement.resources is not None:
            if not any(arn_matches(p, request.resource, lookup) for p in statement.resources):
                return None
        elif statement.not_resources is not None:
            if any(arn_matches(p, request.resource, lookup) for p in statement.not_resources):
                return None
        how = "identity"
        if resource_policy:
            if statement.principals is not None:
                how = _principal_match(statement.principals, self.principal)
                if how is None:
                    return None
            elif statement.not_principals is not None:
                # "The NotPrincipal element with a Deny effect will always deny any IAM principal that has a
                # permissions boundary policy attached" (Permissions boundaries for IAM entities)
                if (statement.allow or not self.has_boundary) and _exempted(statement.not_principals,
                                                                            self.principal):
                    return None
                how = "anyone"
            else:
                return None
        if statement.condition:
            try:
                if not condition_holds(statement.condition, request.context, self.missing):
                    return None
            except UnknownOperator:
                # fail closed: an Allow with a condition IAM cannot read grants nothing, a Deny denies
                if statement.allow:
                    return None
        self.matched.append((document, statement))
        return how

    def denies(self, documents, resource_policy: bool = False) -> bool:
        found = False
        for document in documents:
            for statement in document.statements:
                if not statement.allow and self.applies(document, statement, resource_policy) is not None:
                    found = True
        return found

    def allows(self, documents, resource_policy: bool = False) -> set:
        """How the applicable Allow statements of these documents match (an empty set: none applies)."""
        found = set()
        for document in documents:
            for statement in document.statements:
                if statement.allow:
                    how = self.applies(document, statement, resource_policy)
                    if how is not None:
                        found.add(how)
        return found


def evaluate_request(principal: Principal, request: Request, policies: Policies) -> Decision:
    """AWS's decision for one request (see the module docstring for the rules and their source)."""
    walk = _Evaluation(principal, request, policies.boundary is not None)
    service = principal.kind == "service"
    scp_levels = () if service or policies.scps is None else policies.scps
    resource = (policies.resource,) if policies.resource is not None else ()
    boundary = (policies.boundary,) if policies.boundary is not None else ()
    session = policies.session or ()

    def decided(allowed, decision, kind=None, scps_allow=None, boundary_allows=None):
        return Decision(allowed, decision, kind, tuple(walk.matched), tuple(sorted(walk.missing)),
                        scps_allow, boundary_allows)

    # 1. an explicit deny anywhere
    deny = None
    for kind, documents, is_resource in ((SCP, [d for level in scp_levels for d in level], False),
                                         (RESOURCE, resource, True),
                                         (IDENTITY, () if service else policies.identity, False),
                                         (BOUNDARY, () if service else boundary, False),
                                         (SESSION, () if service else session, False)):
        if walk.denies(documents, is_resource) and deny is None:
            deny = kind
    if deny is not None:
        return decided(False, "explicitDeny", deny, False if deny == SCP else None,
                       False if deny == BOUNDARY else None)

    # 2. service control policies: an Allow at every level
    scps_allow = None
    if policies.scps is not None and not service:
        scps_allow = all(walk.allows(level) for level in scp_levels)
        if not scps_allow:
            return decided(False, "implicitDeny", SCP, False)

    granted = walk.allows(resource, True)
    if service:
        if granted & {"direct", "anyone"}:
            return decided(True, "allowed")
        return decided(False, "implicitDeny", RESOURCE)

    identity_allows = principal.kind == "root" or bool(walk.allows(policies.identity))
    boundary_allows = None if policies.boundary is None else bool(walk.allows(boundary))
    session_allows = None if policies.session is None else bool(walk.allows(session))

    def identity_path(resource_required: bool):
        if resource_required and not granted:
            return decided(False, "implicitDeny", RESOURCE, scps_allow, boundary_allows)
        if not identity_allows:
            return decided(False, "implicitDeny", IDENTITY, scps_allow, boundary_allows)
        if boundary_allows is False:
            return decided(False, "implicitDeny", BOUNDARY, scps_allow, False)
        if session_allows is False:
            return decided(False, "implicitDeny", SESSION, scps_allow, boundary_allows)
        return decided(True, "allowed", None, scps_allow, boundary_allows)

    if policies.resource_account and principal.account and policies.resource_account != principal.account:
        return identity_path(resource_required=True)  # cross-account: both sides must allow
    if granted & {"direct", "anyone"}:
        return decided(True, "allowed", None, scps_allow, boundary_allows)
    if "role" in granted:
        if boundary_allows is False:
            return decided(False, "implicitDeny", BOUNDARY, scps_allow, False)
        if session_allows is False:
            return decided(False, "implicitDeny", SESSION, scps_allow, boundary_allows)
        return decided(True, "allowed", None, scps_allow, boundary_allows)
    return identity_path(resource_required=policies.resource_must_allow)


__all__ = ["PolicyDocument", "Principal", "Request", "Policies", "Decision", "compile_policy", "evaluate_request",
           "InvalidPolicyDocument", "IDENTITY", "RESOURCE", "BOUNDARY", "SESSION", "SCP"]
