"""Glob languages: IAM's `*` and `?` in action names and resource ARNs, compared as sets.

The evaluation asks two questions of resource patterns: does some resource match
both (`globs_intersect`), and does every resource one matches also match the
other (`glob_includes`). Both run as bit-parallel automata over the pattern, so
each is O(l^2 / 64) machine words for patterns of length l. Action names are
matched with `action_matches` (case-insensitive, linear time).
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

