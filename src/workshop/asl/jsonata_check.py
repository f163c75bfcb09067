"""Syntax checks for JSONata expressions written as `{% ... %}` strings.

The parsing is done by jsonata-python's own parser (the one its evaluator
uses), so we accept exactly what a JSONata engine accepts. The library costs
tens of milliseconds to import, so it is imported only when a definition
actually contains a JSONata expression.
"""

from __future__ import annotations

_parser_class = None


def is_expression(value) -> bool:
    """True for a string written as a JSONata expression (`{% ... %}`)."""
    return isinstance(value, str) and value.startswith("{%")


def expression_body(value: str) -> str | None:
    """The text between `{%` and `%}`, or None if the delimiters are wrong."""
    if not (value.startswith("{%") and value.endswith("%}") and len(value) >= 4):
        return None
    return value[2:-2]


def _parser():
    global _parser_class
    if _parser_class is None:
        from jsonata.parser import Parser  # lazy: see the module docstring

        _parser_class = Parser
    return _parser_class()


def check_expression(value: str) -> str | None:
    """Return None if `value` is a well-formed `{% expr %}` string, else the reason."""
    body = expression_body(value)
    if body is None:
        return "a JSONata expression must be written as '{% expression %}' (it must end with '%}')"
    if not body.strip():
        return "the JSONata expression between '{%' and '%}' is empty"
    try:
        _parser().parse(body)
    except Exception as exc:  # jsonata raises JException, and sometimes plain errors on odd input
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return f"JSONata syntax error: {message}"
    return None
