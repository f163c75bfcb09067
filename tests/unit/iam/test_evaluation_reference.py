"""The IAM evaluation engine (ValidatePolicy's judge) against slow, obvious references (hypothesis).

The matcher runs on a small made-up IAM database (a few actions, ARN formats
over a small alphabet) and is compared with a brute-force judge that tries
every action and every concrete resource string up to a length. The matcher
must never say "alert" where the reference finds a grant (it may only err
towards remedy), and must agree exactly in the classes where it claims to be
exact. The glob primitives are checked the same way.
"""

import json
import re
from functools import lru_cache
from itertools import product

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workshop import iam

SEGMENT = iam.SEGMENT

# --- a made-up IAM database ----------------------------------------------------------------

SERVICES = {
    "a": {"X": [("thing", "r/${BucketName}")], "Xy": [("path", "s${Path}")], "Y": []},
    "b": {"X": [("thing", "r/${BucketName}"), ("fixed", "rs")], "Z": [("named", "r${Partition}:${Name}")]},
}
DATABASE = iam.IamDatabase(SERVICES, source="made-up")
KNOWN = {f"{prefix}:{name}".lower(): kinds for prefix, actions in SERVICES.items() for name, kinds in actions.items()}

RESOURCE_CHARS = "rs/:"
# Every resource string up to 4 characters, with a character no pattern uses.
RESOURCES = ["".join(t) for n in range(5) for t in product(RESOURCE_CHARS + "z", repeat=n)]


def glob_regex(pattern: str, ignore_case=False) -> re.Pattern:
    parts = [".*" if c == "*" else "." if c == "?" else "[^/:]*" if c == SEGMENT else re.escape(c)
             for c in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


@lru_cache(maxsize=None)
def resources_matching(pattern: str) -> frozenset:
    regex = glob_regex(pattern)
    return frozenset(r for r in RESOURCES if regex.fullmatch(r))


def format_regex(arn: str, partition) -> re.Pattern:
    out = ""
    for token in re.split(r"(\$\{[^}]*\})", arn):
        if token == "${Partition}" and partition:
            out += re.escape(partition)
        elif token in ("${Partition}", "${BucketName}"):
            out += "[^/:]*"  # names that hold no "/" or ":"
        elif token.startswith("${"):
            out += ".*"
        else:
            out += re.escape(token)
    return re.compile(out, re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    return glob_regex(pattern, ignore_case=True).fullmatch(action) is not None


def reference_matches(statements, restricted, partition=None) -> set:
    """{(statement index, restricted entry)} where some action and some concrete
    resource are allowed and no unconditional Deny takes them back."""
    literals = [p for p in restricted] + [p for s in statements if s["Effect"] == "Allow"
                                         for p in s.get("Action", [])]
    universe = dict.fromkeys(KNOWN)
    for name in literals:
        if "*" not in name and "?" not in name:
            universe.setdefault(name.lower())

    def resources_of(action):
        kinds = KNOWN.get(action)
        if not kinds:  # unknown, or no resource types: any resource
            return frozenset(RESOURCES)
        return frozenset(r for _, arn in kinds for r in RESOURCES if format_regex(arn, partition).fullmatch(r))

    def names(statement, action):
        if "Action" in statement:
            return any(action_matches(p, action) for p in statement["Action"])
        return not any(action_matches(p, action) for p in statement["NotAction"])

    def resources_in(statement):
        if "Resource" in statement:
            return frozenset().union(*(resources_matching(p) for p in statement["Resource"]))
        return frozenset(RESOURCES) - frozenset().union(*(resources_matching(p) for p in statement["NotResource"]))

    denies = [s for s in statements if s["Effect"] == "Deny" and not s.get("Condition")]
    found = set()
    for index, statement in enumerate(statements):
        if statement["Effect"] != "Allow":
            continue
        for entry in restricted:
            for action in universe:
                if not (action_matches(entry, action) and names(statement, action)):
                    continue
                left = resources_of(action) & resources_in(statement)
                for deny in denies:
                    if names(deny, action):
                        left -= resources_in(deny)
                if left:
                    found.add((index, entry))
                    break
    return found


def matcher_matches(statements, restricted, partition=None) -> set:
    result = iam.evaluate_policy(json.dumps({"Statement": statements}), restricted,
                                 partition=partition, database=DATABASE)
    assert result["action"] == ("remedy" if result["matches"] else "alert")
    return {(m["statement"], m["action"]) for m in result["matches"]}


# --- strategies ------------------------------------------------------------------------------

action_pattern = st.one_of(
    st.just("*"),
    st.builds(lambda vendor, name: f"{vendor}:{name}",
              st.sampled_from(["a", "b", "c", "A"]), st.text(alphabet="xyXZ*?", max_size=3)),
)
resource_pattern = st.text(alphabet=RESOURCE_CHARS + "*?", min_size=1, max_size=4)
concrete_resource = st.text(alphabet=RESOURCE_CHARS, min_size=1, max_size=4)
condition = st.sampled_from([None, {"Bool": {"aws:SecureTransport": "true"}}])


def statement(effect, resources, not_resources=None):
    def build(effect_value, action_key, actions, resource_key, resource_values, conditional):
        out = {"Effect": effect_value, action_key: actions, resource_key: resource_values}
        if conditional:
            out["Condition"] = conditional
        return out

    resource_keys = st.sampled_from(["Resource", "NotResource"]) if not_resources else st.just("Resource")
    return st.builds(build, effect, st.sampled_from(["Action", "NotAction"]),
                     st.lists(action_pattern, min_size=1, max_size=3), resource_keys,
                     st.lists(resources, min_size=1, max_size=2), condition)


restricted_list = st.lists(action_pattern, min_size=1, max_size=2, unique_by=str.lower)
partition = st.sampled_from([None, "s"])
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(statement(st.sampled_from(["Allow", "Deny"]), resource_pattern, not_resources=True),
                max_size=4),
       restricted_list, partition)
def test_never_alert_where_the_reference_finds_a_grant(statements, restricted, part):
    assert reference_matches(statements, restricted, part) <= matcher_matches(statements, restricted, part)


@SETTINGS
@given(st.lists(statement(st.just("Allow"), concrete_resource), min_size=1, max_size=3),
       st.lists(statement(st.just("Deny"), resource_pattern, not_resources=True), max_size=3),
       restricted_list, partition)
def test_exact_when_the_allows_name_concrete_resources(allows, denies, restricted, part):
    statements = allows + denies
    assert matcher_matches(statements, restricted, part) == reference_matches(statements, restricted, part)


@SETTINGS
@given(st.lists(statement(st.sampled_from(["Allow", "Deny"]), st.just("*")), max_size=4), restricted_list)
def test_exact_on_actions_when_every_resource_is_star(statements, restricted):
    assert matcher_matches(statements, restricted) == reference_matches(statements, restricted)


# --- the glob primitives ------------------------------------------------------------------------

SMALL = ["".join(t) for n in range(7) for t in product("ab/c", repeat=n)]
SMALL_CASED = ["".join(t) for n in range(5) for t in product("aAb/c", repeat=n)]
glob_text = st.text(alphabet="aAb/*?", max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab/*?" + SEGMENT, max_size=3), glob_text)
def test_globs_intersect_agrees_with_brute_force(first, second):
    a, b = glob_regex(first, ignore_case=True), glob_regex(second, ignore_case=True)
    # A shortest common string is no longer than the two patterns together.
    expected = any(a.fullmatch(s) and b.fullmatch(s) for s in SMALL)
    assert iam.globs_intersect(first, second) == expected


@settings(max_examples=300, deadline=None)
@given(glob_text, st.text(alphabet="aAb/*?" + SEGMENT, max_size=3))
def test_glob_includes_is_never_wrong_and_exact_without_question_marks(outer, inner):
    o, i = glob_regex(outer), glob_regex(inner)
    # A counterexample, if any, is no longer than `inner` with each `*` one character.
    counterexample = next((s for s in SMALL_CASED if i.fullmatch(s) and not o.fullmatch(s)), None)
    got = iam.glob_includes(outer, inner)
    if got:
        assert counterexample is None, f"{inner!r} is not inside {outer!r}: {counterexample!r}"
    elif "?" not in outer + inner and SEGMENT not in inner:
        # Without `?`, a `*` of `inner` read as one fresh character is a counterexample.
        assert counterexample is not None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aAb:*?", max_size=5), st.text(alphabet="aAb:", max_size=6))
def test_action_matching_agrees_with_a_plain_regex(pattern, action):
    assert iam.action_matches(pattern, action) == (glob_regex(pattern, ignore_case=True).fullmatch(action) is not None)
