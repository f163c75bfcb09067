"""Syntax checks for the JSONPath dialect that Step Functions accepts.

Step Functions evaluates paths with a Jayway-style JSONPath: dot and bracket
notation, wildcards, slices, filters `[?(@.x > 1)]`, deep scan `..`, and a
trailing function call such as `.length()`. On top of that ASL adds roots of
its own: `$$` (the context object) and `$name` (a workflow variable).

jsonpath-ng is not used here: it rejects parts of that dialect (the `$$` and
`$name` roots, Jayway functions) and it builds a PLY parser on import, which
alone costs more than the whole per-definition budget of the CLI. The grammar
we need to *check* (not evaluate) is small, so a hand-written scanner is both
stricter about what AWS rejects and much cheaper.

Two flavours are checked:

* a *Path* (InputPath, OutputPath, Choice `Variable`, `.$` values): the full
  dialect;
* a *Reference Path* (ResultPath, ItemsPath, SecondsPath, ...): it must name a
  single node, so only `.field`, `['field']` and `[index]` steps are allowed —
  no wildcards, filters, slices, deep scan or functions.

Each checker returns None when the path is fine, else a short English reason.
"""

from __future__ import annotations

import re

# The `$name` root of a path that reads a workflow variable: a letter or '_',
# then letters, digits or '_' (Unicode ones too, see `is_variable_name`).
VARIABLE_NAME = re.compile(r"[^\W\d]\w*")


def is_variable_name(name: str) -> bool:
    """A name `Assign` may set.

    AWS: "Variable names follow the rules for Unicode Identifiers (Unicode
    Standard Annex #31): the first character must be a Unicode ID_Start
    character, the others ID_Continue characters", so `my-var` is refused and
    `café` is fine (https://docs.aws.amazon.com/step-functions/latest/dg/workflow-variables.html).
    Python's identifiers follow the same annex; like JavaScript, whose rules
    AWS says its own resemble, they also allow a leading '_', and so do we.
    """
    return name.isidentifier()
# Characters that end a dot-notation field name.
_NAME_STOP = set(".[]() \t\r\n'\"")
_INDEX = re.compile(r"-?\d+")
_SLICE = re.compile(r"(-?\d+)?:(-?\d+)?(:(-?\d+)?)?")


def _root_length(text: str, allow_context: bool, allow_variables: bool) -> tuple[int, str | None]:
    """Length of the root token (`$`, `$$` or `$name`) or an error reason."""
    if not text.startswith("$"):
        return 0, "a path must start with '$'"
    if text.startswith("$$"):
        if not allow_context:
            return 0, "the context object '$$' cannot be used here"
        return 2, None
    match = VARIABLE_NAME.match(text, 1)
    if match:
        if not allow_variables:
            return 0, f"the variable '${match.group(0)}' cannot be used here; use a path starting with '$.'"
        return match.end(), None
    return 1, None


def _scan_quoted(text: str, i: int) -> int:
    """Index just past the quoted string starting at text[i], or -1 if unterminated."""
    quote = text[i]
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == quote:
            return i + 1
        i += 1
    return -1


def _scan_balanced(text: str, i: int) -> int:
    """Index just past the parenthesised group opening at text[i], or -1."""
    depth = 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            i = _scan_quoted(text, i)
            if i < 0:
                return -1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _check_bracket(body: str, reference: bool) -> str | None:
    """Check what is between `[` and `]`."""
    body = body.strip()
    if not body:
        return "empty brackets '[]'"
    if body[0] in "'\"":
        # One or more quoted names separated by commas.
        parts = []
        i = 0
        while i < len(body):
            end = _scan_quoted(body, i)
            if end < 0:
                return "unterminated quoted name in brackets"
            parts.append(body[i:end])
            rest = body[end:].lstrip()
            if not rest:
                break
            if rest[0] != ",":
                return f"unexpected {rest[0]!r} after a quoted name in brackets"
            if reference:
                return "a reference path can select only one field"
            i = len(body) - len(rest[1:].lstrip())
            if i >= len(body) or body[i] not in "'\"":
                return "expected a quoted name after ',' in brackets"
        return None
    if _INDEX.fullmatch(body):
        if reference and body.startswith("-"):
            return "a reference path cannot use a negative index"
        return None
    if reference:
        return f"'[{body}]' selects more than one node; a reference path allows only '.field', ['field'] or [index]"
    if body == "*":
        return None
    if body.startswith("?"):
        expr = body[1:].strip()
        if not (expr.startswith("(") and _scan_balanced(expr, 0) == len(expr)):
            return f"a filter must look like '[?(@.field == value)]', got '[{body}]'"
        return None
    if body.startswith("("):
        if _scan_balanced(body, 0) != len(body):
            return f"unbalanced parentheses in '[{body}]'"
        return None
    if _SLICE.fullmatch(body):
        return None
    if all(_INDEX.fullmatch(p.strip()) for p in body.split(",")):
        return None
    return f"'[{body}]' is not an index, slice, wildcard, filter or quoted name"


def check_path(
    text: str,
    *,
    reference: bool = False,
    allow_context: bool = True,
    allow_variables: bool = True,
) -> str | None:
    """Return None if `text` is a valid (reference) path, else the reason."""
    if not isinstance(text, str):
        return "a path must be a string"
    if text != text.strip():
        return "a path must not have leading or trailing spaces"
    i, error = _root_length(text, allow_context, allow_variables)
    if error:
        return error
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == ".":
            if text.startswith("..", i):
                if reference:
                    return "a reference path cannot use the deep scan '..'"
                i += 2
                if i < n and text[i] == "[":
                    continue
            else:
                i += 1
            if i >= n:
                return "the path ends with '.'; name a field after it"
            if text[i] == "[" and not text.startswith("..", i - 2):
                # `$.[0]`, `$.Items.[0].Id`: AWS's JSONPath reads '.[' as '[' (definitions in AWS's own
                # workflow collection use it)
                continue
            if text[i] == "*":
                if reference:
                    return "a reference path cannot use the wildcard '*'"
                i += 1
                continue
            start = i
            while i < n and text[i] not in _NAME_STOP:
                i += 1
            if i == start:
                return f"expected a field name at position {start}, found {text[start]!r}"
            if i < n and text[i] == "(":
                # A Jayway function such as .length(); it must end the path.
                if reference:
                    return "a reference path cannot call a function"
                end = _scan_balanced(text, i)
                if end < 0:
                    return "unbalanced parentheses in a function call"
                if end != n:
                    return "a path function such as .length() must come last"
                return None
            continue
        if ch == "[":
            j = i + 1
            # Find the matching ']' while skipping quoted strings and (...) groups.
            while j < n and text[j] != "]":
                if text[j] in "'\"":
                    j = _scan_quoted(text, j)
                    if j < 0:
                        return "unterminated quoted string in brackets"
                    continue
                if text[j] == "(":
                    j = _scan_balanced(text, j)
                    if j < 0:
                        return "unbalanced parentheses in brackets"
                    continue
                j += 1
            if j >= n:
                return "'[' is never closed with ']'"
            error = _check_bracket(text[i + 1 : j], reference)
            if error:
                return error
            i = j + 1
            continue
        return f"unexpected {ch!r} at position {i}; use '.field' or \"['field name']\" to step into fields"
    return None


def looks_like_path(value) -> bool:
    """True for strings a user most likely meant as a path (for NO_DOLLAR/NO_PATH)."""
    return isinstance(value, str) and (
        value == "$" or value == "$$" or value.startswith("$.") or value.startswith("$$.") or value.startswith("$[")
    )
