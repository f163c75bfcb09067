"""A statement's Condition block against one request's context, as IAM evaluates it.

Every operator family of "IAM JSON policy elements: Condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
String*, Numeric*, Date*, Bool, BinaryEquals, IpAddress / NotIpAddress,
Arn*, Null; each with the `...IfExists` suffix, and the set operators
`ForAllValues:` / `ForAnyValue:` for multivalued keys. The rules:

* several operators in a block, and several keys under one operator, must all
  hold (AND); several values for one key: any of them (OR);
* a negated operator (StringNotEquals, ArnNotLike, NotIpAddress, ...) holds
  when the request value matches none of the values;
* a key the request context does not have: the condition is false, except
  for a negated operator, which is then true ("If the key that you specify in
  a policy condition is not present in the request context, the values do not
  match and the condition is false. If the policy condition requires that the
  key is not matched, such as StringNotLike or ArnNotLike, and the right key
  is not present, the condition is true", Condition element reference);
  `...IfExists` makes any operator true for an absent key; `Null` asks only
  whether the key is there; `ForAllValues:` is true for an absent key or an
  empty set, `ForAnyValue:` false;
* a multivalued request key without a set operator is read as
  `ForAnyValue:` (any request value may satisfy the operator);
* policy variables (`${aws:username}`, with `${key, 'default'}`) are replaced
  in the values of String and Arn operators only, as literal text;
* an operator name IAM does not know raises `UnknownOperator`; the evaluator
  fails closed with it (an Allow does not apply, a Deny does).

Condition key names are case-insensitive: the context is keyed by lower-case
names (`Context`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from datetime import datetime, timezone

from .globs import arn_like, resolve, string_like


class UnknownOperator(Exception):
    """A Condition operator IAM does not have (IAM rejects such a policy when it is written)."""


NEGATED = frozenset({"stringnotequals", "stringnotequalsignorecase", "stringnotlike", "numericnotequals",
                     "datenotequals", "arnnotequals", "arnnotlike", "notipaddress"})
_POSITIVE_OF = {"stringnotequals": "stringequals", "stringnotequalsignorecase": "stringequalsignorecase",
                "stringnotlike": "stringlike", "numericnotequals": "numericequals", "datenotequals": "dateequals",
                "arnnotequals": "arnequals", "arnnotlike": "arnlike", "notipaddress": "ipaddress"}
_VARIABLES_ALLOWED = ("string", "arn")


class Context:
    """A request's condition keys: lower-case name -> a string, or a tuple of strings for a multivalued key.

    Values are kept as given and made text when a policy first reads them: a request carries a score of keys
    and its policies read a few, so most are never converted (a date's text costs more than the lookup)."""

    def __init__(self, values: dict | None = None):
        self._raw: dict[str, object] = {}
        self._text: dict[str, object] = {}
        for key, value in (values or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value) -> None:
        if value is None:
            return
        lower = key.lower()
        self._raw[lower] = value
        self._text.pop(lower, None)

    def _value(self, lower: str):
        found = self._text.get(lower, _ABSENT)
        if found is _ABSENT:
            raw = self._raw.get(lower, _ABSENT)
            if raw is _ABSENT:
                return None
            if isinstance(raw, (list, tuple, set, frozenset)):
                found = tuple(_text(v) for v in raw)
            else:
                found = _text(raw)
            self._text[lower] = found
        return found

    def get(self, key: str):
        return self._value(key.lower())

    def __contains__(self, key: str) -> bool:
        return key.lower() in self._raw

    def single(self, key: str) -> str | None:
        """The key's value for a policy variable: a single value only (a multivalued key gives none)."""
        value = self._value(key.lower())
        return value if isinstance(value, str) else None

    def items(self):
        return [(key, self._value(key)) for key in self._raw]

    def with_values(self, values: dict) -> "Context":
        merged = Context()
        merged._raw = dict(self._raw)
        merged._text = dict(self._text)
        for key, value in values.items():
            merged[key] = value
        return merged


_ABSENT = object()


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _split(operator: str) -> tuple[str | None, str, bool]:
    """"ForAnyValue:StringLikeIfExists" -> ("foranyvalue", "stringlike", True)."""
    qualifier = None
    name = operator
    if ":" in operator:
        qualifier, name = operator.split(":", 1)
        qualifier = qualifier.lower()
        if qualifier not in ("forallvalues", "foranyvalue"):
            raise UnknownOperator(operator)
    lower = name.lower()
    if_exists = lower.endswith("ifexists") and lower != "null"
    if if_exists:
        lower = lower[: -len("ifexists")]
    if lower not in _MATCHERS and lower not in NEGATED and lower != "null":
        raise UnknownOperator(operator)
    return qualifier, lower, if_exists


def condition_holds(condition: tuple, context: Context, missing: set | None = None) -> bool:
    """Does the statement's Condition hold for the request? `missing` collects keys the context lacks."""
    for operator, entries in condition:
        qualifier, name, if_exists = _split(operator)
        for key, values in entries:
            if not _entry_holds(qualifier, name, if_exists, key, values, context, missing):
                return False
    return True


def _entry_holds(qualifier, name, if_exists, key, values, context: Context, missing) -> bool:
    present = key in context
    if name == "null":
        wanted_absent = any(str(v).lower() == "true" for v in values)
        return (not present) == wanted_absent
    if not present:
        if missing is not None:
            missing.add(key)
        if if_exists or qualifier == "forallvalues":
            return True
        if qualifier == "foranyvalue":
            return False
        return name in NEGATED
    actual = context.get(key)
    request_values = actual if isinstance(actual, tuple) else (actual,)
    negated = name in NEGATED
    positive = _POSITIVE_OF.get(name, name)
    family = "string" if positive.startswith("string") else "arn" if positive.startswith("arn") else positive

    def matches_one(value: str) -> bool:
        return any(_MATCHERS[positive](value, str(p) if not isinstance(p, bool) else _text(p), context,
                                       family in _VARIABLES_ALLOWED)
                   for p in values)

    def satisfies(value: str) -> bool:
        return not matches_one(value) if negated else matches_one(value)

    if qualifier == "forallvalues":
        return all(satisfies(v) for v in request_values)
    if qualifier == "foranyvalue" or len(request_values) != 1:
        if negated and qualifier is None:
            return not any(matches_one(v) for v in request_values)
        return any(satisfies(v) for v in request_values)
    return satisfies(request_values[0])


# --- one request value against one policy value ---------------------------------------------------


def _variables(pattern: str, context: Context, allowed: bool) -> str | None:
    """The policy value with its variables replaced (String/Arn operators), as literal text; None if unset."""
    if not allowed or "${" not in pattern:
        return pattern
    tokens = resolve(pattern, context.single)
    if tokens is None:
        return None
    return "".join("*" if t == ("*",) else "?" if t == ("?",) else t[1] for t in tokens)


def _string_equals(value, pattern, context, variables):
    expected = _variables(pattern, context, variables)
    return expected is not None and value == expected


def _string_equals_ignore_case(value, pattern, context, variables):
    expected = _variables(pattern, context, variables)
    return expected is not None and value.lower() == expected.lower()


def _string_like(value, pattern, context, variables):
    return string_like(pattern, value, context.single if variables else None)


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _numeric(compare):
    def match(value, pattern, context, variables):
        left, right = _number(value), _number(pattern)
        return left is not None and right is not None and compare(left, right)
    return match


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$")


def _moment(text) -> float | None:
    """An ISO 8601 date/time or epoch seconds, as epoch seconds (UTC when no zone is given)."""
    text = str(text).strip()
    if re.fullmatch(r"-?\d+(?:\.\d+)?", text):
        return float(text)
    if not _ISO.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _date(compare):
    def match(value, pattern, context, variables):
        left, right = _moment(value), _moment(pattern)
        return left is not None and right is not None and compare(left, right)
    return match


def _bool(value, pattern, context, variables):
    return value.lower() == str(pattern).lower() and value.lower() in ("true", "false")


def _binary(value, pattern, context, variables):
    try:
        return base64.b64decode(value, validate=True) == base64.b64decode(str(pattern), validate=True)
    except (binascii.Error, ValueError):
        return False


def _ip(value, pattern, context, variables):
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(str(pattern), strict=False)
    except ValueError:
        return False


def _arn(value, pattern, context, variables):
    return arn_like(pattern, value, context.single if variables else None)


_MATCHERS = {
    "stringequals": _string_equals,
    "stringequalsignorecase": _string_equals_ignore_case,
    "stringlike": _string_like,
    "numericequals": _numeric(lambda a, b: a == b),
    "numericlessthan": _numeric(lambda a, b: a < b),
    "numericlessthanequals": _numeric(lambda a, b: a <= b),
    "numericgreaterthan": _numeric(lambda a, b: a > b),
    "numericgreaterthanequals": _numeric(lambda a, b: a >= b),
    "dateequals": _date(lambda a, b: a == b),
    "datelessthan": _date(lambda a, b: a < b),
    "datelessthanequals": _date(lambda a, b: a <= b),
    "dategreaterthan": _date(lambda a, b: a > b),
    "dategreaterthanequals": _date(lambda a, b: a >= b),
    "bool": _bool,
    "binaryequals": _binary,
    "ipaddress": _ip,
    "arnequals": _arn,
    "arnlike": _arn,
}
