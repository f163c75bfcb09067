"""IAM policy evaluation: one engine for ValidatePolicy, the local cloud's authorizer and the kit.

Pure Python, standard library only, relative imports only: the same folder is
the package `workshop.iam` in the kit and the top-level package `iam` inside
ValidatePolicy's deployment package (`src/functions/validate_policy/iam` links
here; `sam build` and `sam deploy` copy it into the function's zip). So it
imports nothing else from `workshop`, and nothing outside this folder.

The public API (everything else is private to the package):

Deciding (`evaluation`)
    evaluate_policy(document, restricted_actions, *, partition=None, database=None) -> dict
        Does an identity-policy document allow any restricted action, with IAM's
        semantics (wildcards on both sides, NotAction/NotResource, resource
        types, explicit Deny)? {"action": "remedy" | "alert", "message",
        "matches", "notes"}; every doubt leans to "remedy".
    partition_from_arn(arn) -> str | None
        "aws" from "arn:aws:lambda:...", None when it is not an ARN.

Deciding one request (`decision`, `conditions`): AWS's policy evaluation logic
    evaluate_request(principal, request, policies) -> Decision
        Explicit deny, SCPs, resource-based policy (same-account and
        cross-account rules), identity policies, permissions boundary, session
        policies; Decision.allowed, .decision ("allowed" / "explicitDeny" /
        "implicitDeny"), .policy_type, .matched, .missing_context, .message(...).
    Principal(arn, kind, account, role_arn), Request(action, resource, context),
    Policies(identity, boundary, session, resource, resource_account,
    resource_must_allow, scps), PolicyDocument
    compile_policy(text_or_dict, kind=, policy_id=, policy_type=) -> PolicyDocument
        Parsed once per distinct text.
    Context(values)
        The request's condition keys (case-insensitive names).
    condition_holds(condition, context, missing) -> bool
        Every Condition operator, IfExists, ForAllValues/ForAnyValue, policy variables.

Reading a document (`policy_document`)
    parse_policy_document(text_or_dict) -> dict
        JSON text (or URL-encoded JSON, as CloudTrail may record it) to a dict;
        a duplicate key is refused, not resolved.
    parse_statements(policy, kind="identity" | "resource") -> list[Statement]
        The statements, validated as IAM validates an identity policy (or a
        resource-based / trust policy: Principal or NotPrincipal).
    Statement
        index, sid, allow, actions | not_actions, resources | not_resources,
        principals | not_principals, condition, conditional; names_action(name);
        takes_in(listed, positive) is the Not-element rule both deciders use;
        granted_by(action) names what in it grants an action.
    action_pattern_problem(pattern) -> str | None
        Why IAM would refuse an action name or pattern.
    InvalidPolicyDocument
        IAM would reject the document, or it is ambiguous (the message says
        what to change).

Matching (`globs`)
    action_matches(pattern, action) -> bool
        IAM's action matching: case-insensitive, `*` and `?`.
    arn_matches(pattern, arn, lookup=None) -> bool
        IAM's Resource matching (case-sensitive; a `*` ending an ARN segment
        crosses colons); policy variables filled from `lookup`.
    string_like(pattern, value, lookup=None), arn_like(pattern, value, lookup=None)
        The StringLike and ArnLike condition operators.
    globs_intersect(first, second) -> bool
        Does some string match both globs (letter case ignored)?
    glob_includes(outer, inner) -> bool
        Does every string `inner` matches also match `outer`? Never "yes" wrongly.
    widest(pattern), narrowest(pattern)
        A pattern with its policy variables (`${aws:username}`) read as any text,
        or as text that matches nothing but itself.
    SEGMENT, SEGMENT_NAMES, UNKNOWN
        The symbols those globs use for an ARN name without "/" and ":" and for
        a policy variable.

The actions AWS publishes (`action_database`)
    default_database() -> IamDatabase
        The Service Authorization Reference extract (`iam_actions.json.gz`,
        DATA_PATH), read once per process.
    IamDatabase(services, source)
        get(name) -> Action | None; matching(pattern) -> tuple[Action, ...];
        for_operation(prefix, operation) -> Action | None (the API operation's IAM action).
    Action, ResourceType, ANY_RESOURCE
        An action, its resource types' ARN formats and its access level;
        ANY_RESOURCE for an action without resource-level permissions.

Restricted actions (`restricted_actions`)
    parse_restricted_actions(text) -> list[str]
        The RestrictedActions setting (comma-separated), checked.
    restricted_entries(entries) -> list[(pattern, risk set or None)]
        Risk sets expanded, each action once.
    RISK_SETS, PRIVILEGE_ESCALATION, DATA_DESTRUCTION
        The named risk sets (`@privilege-escalation`, `@data-destruction`).
    ConfigurationError
        The restricted actions are missing or name no action pattern nor risk set.
"""

from .action_database import ANY_RESOURCE, DATA_PATH, Action, IamDatabase, ResourceType, default_database
from .conditions import Context, UnknownOperator, condition_holds
from .decision import (BOUNDARY, IDENTITY, RESOURCE, SCP, SESSION, Decision, Policies, PolicyDocument, Principal,
                       Request, compile_policy, evaluate_request)
from .evaluation import evaluate_policy, partition_from_arn
from .globs import (SEGMENT, SEGMENT_NAMES, UNKNOWN, action_matches, arn_like, arn_matches, glob_includes,
                    globs_intersect, narrowest, string_like, widest)
from .policy_document import (InvalidPolicyDocument, Statement, action_pattern_problem, parse_policy_document,
                              parse_statements)
from .restricted_actions import (DATA_DESTRUCTION, PRIVILEGE_ESCALATION, RISK_SETS, ConfigurationError,
                                 parse_restricted_actions, restricted_entries)

__all__ = [
    "evaluate_request", "Principal", "Request", "Policies", "PolicyDocument", "Decision", "compile_policy",
    "Context", "condition_holds", "UnknownOperator", "IDENTITY", "RESOURCE", "BOUNDARY", "SESSION", "SCP",
    "arn_matches", "string_like", "arn_like",
    "evaluate_policy", "partition_from_arn",
    "parse_policy_document", "parse_statements", "Statement", "action_pattern_problem", "InvalidPolicyDocument",
    "action_matches", "globs_intersect", "glob_includes", "widest", "narrowest", "SEGMENT", "SEGMENT_NAMES",
    "UNKNOWN",
    "default_database", "IamDatabase", "Action", "ResourceType", "ANY_RESOURCE", "DATA_PATH",
    "parse_restricted_actions", "restricted_entries", "RISK_SETS", "PRIVILEGE_ESCALATION", "DATA_DESTRUCTION",
    "ConfigurationError",
]
