"""Parser and static checks for Step Functions intrinsic functions.

An intrinsic is the value of a `.$` field in a JSONPath state, for example
`States.Format('Hello {}', $.name)`. The grammar is small:

    call   := 'States.' NAME '(' [arg (',' arg)*] ')'
    arg    := string | number | 'true' | 'false' | 'null' | path | call
    string := "'" (char | '\\' any)* "'"      -- \\' \\{ \\} \\\\ are escapes
    path   := '$' ...                         -- checked by workshop.asl.jsonpath

`parse_intrinsic` builds a tiny tree; `check_intrinsic` parses and then checks
the function name, the argument count and, where an argument is a literal or
a nested call whose result type is known, its type. Paths are only known at
run time, so they pass any type check.
"""

from __future__ import annotations

from workshop.asl.jsonpath import check_path


class IntrinsicSyntaxError(ValueError):
    """The text is not a well-formed intrinsic function call."""


# Plain classes, not dataclasses: importing dataclasses pulls in `inspect`,
# which alone costs several milliseconds of the CLI's start-up budget.
class Arg:
    __slots__ = ("kind", "value", "pos")

    def __init__(self, kind: str, value, pos: int):
        self.kind = kind  # "string" | "number" | "boolean" | "null" | "path" | "call"
        self.value = value
        self.pos = pos

    def __repr__(self):
        return f"Arg({self.kind!r}, {self.value!r})"


class Call:
    __slots__ = ("name", "args", "pos")

    def __init__(self, name: str, args: list, pos: int = 0):
        self.name = name
        self.args = args
        self.pos = pos

    def __repr__(self):
        return f"Call({self.name!r}, {self.args!r})"


# name -> (minimum args, maximum args or None, per-position expected types, result type)
# Types: "string", "number", "integer", "array", "object", "boolean", "any".
FUNCTIONS: dict[str, tuple[int, int | None, tuple[str, ...], str]] = {
    "States.Format": (1, None, ("string",), "string"),
    "States.StringToJson": (1, 1, ("string",), "any"),
    "States.JsonToString": (1, 1, ("any",), "string"),
    "States.Array": (0, None, (), "array"),
    "States.ArrayPartition": (2, 2, ("array", "integer"), "array"),
    "States.ArrayContains": (2, 2, ("array", "any"), "boolean"),
    "States.ArrayRange": (3, 3, ("integer", "integer", "integer"), "array"),
    "States.ArrayGetItem": (2, 2, ("array", "integer"), "any"),
    "States.ArrayLength": (1, 1, ("array",), "number"),
    "States.ArrayUnique": (1, 1, ("array",), "array"),
    "States.Base64Encode": (1, 1, ("string",), "string"),
    "States.Base64Decode": (1, 1, ("string",), "string"),
    "States.Hash": (2, 2, ("any", "string"), "string"),
    "States.JsonMerge": (3, 3, ("object", "object", "boolean"), "object"),
    "States.MathRandom": (2, 3, ("integer", "integer", "integer"), "number"),
    "States.MathAdd": (2, 2, ("number", "number"), "number"),
    "States.StringSplit": (2, 2, ("string", "string"), "array"),
    "States.UUID": (0, 0, (), "string"),
}

HASH_ALGORITHMS = ("MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512")
_ESCAPABLE = "'{}\\"


def looks_like_intrinsic(value) -> bool:
    """True for strings a user most likely meant as an intrinsic call."""
    return isinstance(value, str) and value.startswith("States.") and "(" in value


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.i = 0

    def fail(self, message: str):
        raise IntrinsicSyntaxError(f"{message} at position {self.i}")

    def skip_spaces(self):
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def parse(self) -> Call:
        call = self.call()
        self.skip_spaces()
        if self.i != len(self.text):
            self.fail(f"unexpected text {self.text[self.i:]!r} after the closing ')'")
        return call

    def call(self) -> Call:
        start = self.i
        j = start
        while j < len(self.text) and (self.text[j].isalnum() or self.text[j] in "._"):
            j += 1
        name = self.text[start:j]
        if not name.startswith("States."):
            self.fail(f"expected a function name like 'States.Format', found {name or self.text[start:start + 1]!r}")
        self.i = j
        if self.i >= len(self.text) or self.text[self.i] != "(":
            self.fail(f"expected '(' after {name}")
        self.i += 1
        call = Call(name, [], start)
        self.skip_spaces()
        if self.i < len(self.text) and self.text[self.i] == ")":
            self.i += 1
            return call
        while True:
            self.skip_spaces()
            call.args.append(self.arg())
            self.skip_spaces()
            if self.i >= len(self.text):
                self.fail(f"missing ')' to close {name}(")
            ch = self.text[self.i]
            self.i += 1
            if ch == ")":
                return call
            if ch != ",":
                self.i -= 1
                self.fail(f"expected ',' or ')' in the arguments of {name}, found {ch!r}")

    def arg(self) -> Arg:
        if self.i >= len(self.text):
            self.fail("expected an argument")
        ch = self.text[self.i]
        pos = self.i
        if ch == "'":
            return Arg("string", self.string(), pos)
        if ch == "$":
            return Arg("path", self.path(), pos)
        if ch == "-" or ch.isdigit():
            return Arg("number", self.number(), pos)
        for word, kind, value in (("true", "boolean", True), ("false", "boolean", False), ("null", "null", None)):
            if self.text.startswith(word, self.i) and not self.text[self.i + len(word) : self.i + len(word) + 1].isalnum():
                self.i += len(word)
                return Arg(kind, value, pos)
        if self.text.startswith("States.", self.i):
            return Arg("call", self.call(), pos)
        if ch == '"':
            self.fail("string arguments use single quotes: 'text', not \"text\"")
        self.fail(f"unexpected {ch!r}; an argument is a 'string', a number, a path or a States.* call")

    def string(self) -> str:
        self.i += 1
        out = []
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch == "\\":
                nxt = self.text[self.i + 1 : self.i + 2]
                if nxt not in _ESCAPABLE or not nxt:
                    self.fail(f"invalid escape '\\{nxt}' (only \\' \\{{ \\}} and \\\\ are allowed)")
                out.append("\\" + nxt if nxt in "{}" else nxt)
                self.i += 2
                continue
            if ch == "'":
                self.i += 1
                return "".join(out)
            out.append(ch)
            self.i += 1
        self.fail("unterminated string (missing closing ')")

    def number(self) -> float | int:
        start = self.i
        if self.text[self.i] == "-":
            self.i += 1
        while self.i < len(self.text) and (self.text[self.i].isdigit() or self.text[self.i] == "."):
            self.i += 1
        token = self.text[start : self.i]
        try:
            return int(token) if "." not in token else float(token)
        except ValueError:
            self.i = start
            self.fail(f"{token!r} is not a number")

    def path(self) -> str:
        # A path runs up to the next ',' or ')' outside brackets and quotes.
        start = self.i
        depth = 0
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch in "'\"" and depth:
                quote = ch
                self.i += 1
                while self.i < len(self.text) and self.text[self.i] != quote:
                    self.i += 2 if self.text[self.i] == "\\" else 1
            elif ch in "[(":
                depth += 1
            elif ch in "])":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                break
            self.i += 1
        text = self.text[start : self.i].rstrip()
        reason = check_path(text)
        if reason:
            self.i = start
            self.fail(f"invalid path {text!r}: {reason}")
        return text


def parse_intrinsic(text: str) -> Call:
    """Parse an intrinsic function call; raise IntrinsicSyntaxError if malformed."""
    return _Parser(text.strip()).parse()


def _arg_type(arg: Arg) -> str:
    if arg.kind == "call":
        spec = FUNCTIONS.get(arg.value.name)
        return spec[3] if spec else "any"
    if arg.kind == "path":
        return "any"
    if arg.kind == "number":
        return "integer" if isinstance(arg.value, int) else "number"
    return arg.kind


def _compatible(actual: str, expected: str) -> bool:
    if "any" in (actual, expected):
        return True
    if expected == "number":
        return actual in ("number", "integer")
    # A nested call typed "number" may still produce an integer at run time.
    if expected == "integer" and actual == "number":
        return True
    return actual == expected


def _check_call(call: Call) -> str | None:
    spec = FUNCTIONS.get(call.name)
    if spec is None:
        return f"unknown intrinsic function {call.name}; known ones are {', '.join(sorted(FUNCTIONS))}"
    low, high, types, _ = spec
    count = len(call.args)
    if count < low or (high is not None and count > high):
        if low == high:
            wanted = f"exactly {low}"
        elif high is None:
            wanted = f"at least {low}"
        else:
            wanted = f"{low} to {high}"
        return f"{call.name} takes {wanted} argument(s), got {count}"
    for index, arg in enumerate(call.args):
        if arg.kind == "call":
            reason = _check_call(arg.value)
            if reason:
                return reason
        expected = types[index] if index < len(types) else "any"
        actual = _arg_type(arg)
        if not _compatible(actual, expected):
            return f"argument {index + 1} of {call.name} must be {expected}, got {actual} {arg.value!r}"
    return _check_specifics(call)


def _check_specifics(call: Call) -> str | None:
    """Rules beyond count and type that are fixed by the function itself."""
    args = call.args
    if call.name == "States.Format" and args and args[0].kind == "string":
        # Count unescaped {} placeholders; escaped ones were kept as '\{' by the parser.
        template = args[0].value.replace("\\{", "").replace("\\}", "")
        placeholders = template.count("{}")
        if placeholders != len(args) - 1:
            return (
                f"States.Format has {placeholders} '{{}}' placeholder(s) but {len(args) - 1} value(s); "
                "give one value per placeholder"
            )
    if call.name == "States.Hash" and len(args) == 2 and args[1].kind == "string":
        if args[1].value not in HASH_ALGORITHMS:
            return f"States.Hash algorithm must be one of {', '.join(HASH_ALGORITHMS)}, got {args[1].value!r}"
    if call.name == "States.JsonMerge" and len(args) == 3 and args[2].kind == "boolean" and args[2].value:
        return "States.JsonMerge supports only a shallow merge: its third argument must be false"
    if call.name == "States.ArrayRange" and len(args) == 3 and args[2].kind == "number" and args[2].value == 0:
        return "States.ArrayRange step (third argument) must not be 0"
    return None


def check_intrinsic(text: str) -> str | None:
    """Return None if `text` is a valid intrinsic call, else the reason."""
    try:
        call = parse_intrinsic(text)
    except IntrinsicSyntaxError as exc:
        return str(exc)
    return _check_call(call)
