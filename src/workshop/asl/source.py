"""Reading a definition's JSON text the way a strict validator must.

`json.loads` silently keeps the last of two equal keys; Step Functions does
not accept that, and it is a classic copy-paste bug (two states with the same
name, the first one silently lost). We read with an `object_pairs_hook` that
remembers every repeated key, then find each repeat's JSON-pointer location.
NaN and Infinity, which Python's json accepts, are not JSON and are refused.
"""

from __future__ import annotations

import json


def escape_pointer(token: str) -> str:
    """Escape one JSON-pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


class JsonTextError(ValueError):
    """The text is not JSON; `line` and `column` point at the problem (1-based)."""

    def __init__(self, message: str, line: int = 0, column: int = 0):
        super().__init__(message)
        self.line = line
        self.column = column


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def load_json(text: str) -> tuple[object, list[tuple[str, str]]]:
    """Parse `text`; return (value, [(location, repeated_key), ...]).

    Raise JsonTextError when the text is not JSON.
    """
    repeats: list[tuple[dict, str]] = []

    def remember_repeats(pairs):
        obj = {}
        for key, value in pairs:
            if key in obj:
                repeats.append((obj, key))
            obj[key] = value
        return obj

    try:
        value = json.loads(text, object_pairs_hook=remember_repeats, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise JsonTextError(exc.msg, exc.lineno, exc.colno) from None
    except ValueError as exc:
        raise JsonTextError(str(exc)) from None
    if not repeats:
        return value, []
    where = _locate_objects(value, {id(obj) for obj, _ in repeats})
    return value, [(where.get(id(obj), ""), key) for obj, key in repeats]


def _locate_objects(value, wanted: set[int]) -> dict[int, str]:
    """Map id(obj) -> JSON pointer for the wanted objects inside `value`."""
    found: dict[int, str] = {}
    stack = [(value, "")]
    while stack and len(found) < len(wanted):
        node, pointer = stack.pop()
        if isinstance(node, dict):
            if id(node) in wanted:
                found[id(node)] = pointer
            for key, child in node.items():
                if isinstance(child, (dict, list)):
                    stack.append((child, f"{pointer}/{escape_pointer(key)}"))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                if isinstance(child, (dict, list)):
                    stack.append((child, f"{pointer}/{index}"))
    return found
