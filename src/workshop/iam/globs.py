"""IAM's `*` and `?`: in action names, resource ARNs and condition values; matched, and compared as sets.

Matching one name or ARN (the request evaluator, decision.py):

* `action_matches(pattern, action)`: Action / NotAction, case-insensitive, linear time.
* `arn_matches(pattern, arn, lookup)`: Resource / NotResource, case-sensitive. As
  IAM's Resource element documents, a `*` matches within one colon-separated
  segment, except a `*` that ends a segment, which runs on beyond the colons.
  Policy variables (`${aws:username}`, `${aws:PrincipalTag/team, 'none'}`,
  `${*}`) are replaced by their values as literal text first (`lookup`).
* `string_like(pattern, value, lookup)`: the StringLike condition operator
  (`*` any run, colons included); `arn_like`: ArnLike, each of the six ARN
  parts on its own.

Comparing patterns as sets (ValidatePolicy's matcher, evaluation.py, which
has no request to evaluate): does some resource match both (`globs_intersect`),
and does every resource one matches also match the other (`glob_includes`).
Both run as bit-parallel automata over the pattern, so each is O(l^2 / 64)
machine words for patterns of length l. They are deliberately looser than
`arn_matches` (letter case ignored, every `*` crosses colons): the
conservative side for a verdict that must never miss a grant.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


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



# --- matching one request: policy variables, ARNs, condition values ---------------------------------

_SPECIAL_VARIABLES = {"*": "*", "?": "?", "$": "$"}
_VARIABLE_BODY = re.compile(r"^\s*([^,'\s][^,]*?)\s*(?:,\s*'([^']*)'\s*)?$")
MISSING = object()  # a policy variable with no value and no default: the pattern matches nothing


@functools.lru_cache(maxsize=8192)
def _tokens(pattern: str) -> tuple:
    """A pattern as (("c", text) | ("*",) | ("?",) | ("var", key, default or None), ...)."""
    out = []
    position = 0
    for found in _VARIABLE.finditer(pattern):
        out.extend(_wild_tokens(pattern[position:found.start()]))
        body = found.group(0)[2:-1]
        if body in _SPECIAL_VARIABLES:  # ${*} is a literal "*", not a wildcard
            out.append(("c", _SPECIAL_VARIABLES[body]))
        else:
            parsed = _VARIABLE_BODY.match(body)
            key, default = (parsed.group(1), parsed.group(2)) if parsed else (body, None)
            out.append(("var", key.lower(), default))
        position = found.end()
    out.extend(_wild_tokens(pattern[position:]))
    return tuple(out)


def _wild_tokens(text: str) -> list:
    out = []
    for piece in re.split(r"(\*+|\?)", text):
        if not piece:
            continue
        out.append(("*",) if piece[0] == "*" else ("?",) if piece == "?" else ("c", piece))
    return out


def resolve(pattern: str, lookup) -> tuple | None:
    """The pattern's tokens with each policy variable replaced by its value as literal text.

    `lookup(key)` -> str, or None when the request context has no such (single)
    value; then the variable's default is used, and without one the pattern
    matches nothing (None is returned).
    """
    tokens = _tokens(pattern)
    if not any(t[0] == "var" for t in tokens):
        return tokens
    out = []
    for token in tokens:
        if token[0] != "var":
            out.append(token)
            continue
        value = lookup(token[1]) if lookup is not None else None
        if value is None:
            value = token[2]
        if value is None:
            return None
        out.append(("c", value))
    return tuple(out)


@functools.lru_cache(maxsize=16384)
def _arn_regex(tokens: tuple) -> re.Pattern:
    chars = []  # one item per pattern symbol: a literal character, "*" or "?"
    for token in tokens:
        if token[0] == "c":
            chars.extend(("c", c) for c in token[1])
        elif not chars or chars[-1] != ("*",) or token != ("*",):
            chars.append(token)
    out = []
    for i, item in enumerate(chars):
        if item == ("*",):
            ends_segment = i + 1 == len(chars) or chars[i + 1] == ("c", ":")
            out.append(".*" if ends_segment else "[^:]*")
        elif item == ("?",):
            out.append("[^:]")
        else:
            out.append(re.escape(item[1]))
    return re.compile("".join(out), re.DOTALL)


@functools.lru_cache(maxsize=16384)
def _glob_regex(tokens: tuple, ignore_case: bool = False) -> re.Pattern:
    """Any-run `*` (colons included) and one-character `?`, in linear time (see _action_regex)."""
    parts, current = [], []
    for token in tokens:
        if token == ("*",):
            parts.append("".join(current))
            current = []
        elif token == ("?",):
            current.append("\x00?")  # marks a one-character wildcard inside a literal run
        else:
            current.append(token[1].replace("\x00", ""))
    parts.append("".join(current))

    def segment(text):
        return "".join("." if piece == "?" else re.escape(piece) for piece in re.split(r"\x00(\?)", text) if piece)

    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    if len(parts) == 1:
        return re.compile(segment(parts[0]), flags)
    middle = "".join(f"(?>.*?{segment(p)})" for p in parts[1:-1])
    return re.compile(f"{segment(parts[0])}{middle}.*{segment(parts[-1])}", flags)


def arn_matches(pattern: str, arn: str, lookup=None) -> bool:
    """Does a Resource / NotResource pattern match this ARN (or "*")? Case-sensitive."""
    if pattern == "*":
        return True
    tokens = resolve(pattern, lookup)
    if tokens is None:
        return False
    return _arn_match(tokens, arn)


@functools.lru_cache(maxsize=65536)
def _arn_match(tokens: tuple, arn: str) -> bool:
    if sum(1 for t in tokens if t == ("*",)) <= 4:
        return _arn_regex(tokens).fullmatch(arn) is not None
    return _arn_automaton(tokens, arn)


def _arn_automaton(tokens: tuple, arn: str) -> bool:
    """The same language as _arn_regex, as a bit-parallel automaton: linear in the ARN for any number of `*`
    (a regex with many stars can backtrack for a long time)."""
    chars = []
    for token in tokens:
        if token[0] == "c":
            chars.extend(token[1])
        elif not chars or chars[-1] != "*" or token != ("*",):
            chars.append("*" if token == ("*",) else "?")
    crossing = within = anys = 0
    by_char: dict[str, int] = {}
    for j, symbol in enumerate(chars):
        bit = 1 << j
        if symbol == "*":
            if j + 1 == len(chars) or chars[j + 1] == ":":
                crossing |= bit
            else:
                within |= bit
        elif symbol == "?":
            anys |= bit
        else:
            by_char[symbol] = by_char.get(symbol, 0) | bit
    stars = crossing | within
    accept = 1 << len(chars)

    def closure(states):
        return states | ((states & stars) << 1)

    states = closure(1)
    for symbol in arn:
        stay = states & (crossing if symbol == ":" else stars)
        step = (anys if symbol != ":" else 0) | by_char.get(symbol, 0)
        states = closure(stay | ((states & step) << 1))
        if not states:
            return False
    return bool(states & accept)


def string_like(pattern: str, value: str, lookup=None, ignore_case: bool = False) -> bool:
    """The StringLike operator: `*` any run of characters, `?` any one; variables as literal text."""
    tokens = resolve(pattern, lookup)
    if tokens is None:
        return False
    return _glob_regex(tokens, ignore_case).fullmatch(value) is not None


def arn_like(pattern: str, value: str, lookup=None) -> bool:
    """ArnLike / ArnEquals: the six colon-separated parts of the ARN compared one by one, each a glob."""
    tokens = resolve(pattern, lookup)
    if tokens is None:
        return False
    text = "".join("\x00*" if t == ("*",) else "\x00?" if t == ("?",) else t[1] for t in tokens)
    wanted, got = text.split(":", 5), value.split(":", 5)
    if len(wanted) != 6 or len(got) != 6:
        return False
    return all(_glob_regex(_part_tokens(part)).fullmatch(actual) is not None for part, actual in zip(wanted, got))


def _part_tokens(part: str) -> tuple:
    out = []
    for piece in re.split(r"(\x00[*?])", part):
        if piece == "\x00*":
            out.append(("*",))
        elif piece == "\x00?":
            out.append(("?",))
        elif piece:
            out.append(("c", piece))
    return tuple(out)
