"""Syntax checks for JSONata expressions written as `{% ... %}` strings.

Step Functions reads a string as JSONata only when it starts with `{%` and
ends with `%}`, with nothing before or after ("Transforming data with JSONata",
https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html):
`{%expr%}` is fine, but `" {% expr %}"` or `"expr %}"` is an improperly opened
or closed expression, which AWS refuses at validation. `looks_like_expression`
finds such near-misses so they are reported instead of passing as literals.

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


def looks_like_expression(value) -> bool:
    """True for a string meant as JSONata, well delimited or not (`{% x %} `, `x %}`...)."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    return text.startswith("{%") or text.endswith("%}")


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
        text = value.strip()
        if text != value and expression_body(text) is not None:
            return ("a JSONata expression must start with '{%' and end with '%}' with nothing around them; "
                    "remove the spaces before '{%' or after '%}'")
        if not text.startswith("{%"):
            return "a JSONata expression must start with '{%': add '{%' before the expression (or drop '%}')"
        return "a JSONata expression must be written as '{% expression %}' (it must end with '%}')"
    if not body.strip():
        return "the JSONata expression between '{%' and '%}' is empty"
    try:
        _parser().parse(body)
    except Exception as exc:  # jsonata raises JException, and sometimes plain errors on odd input
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return f"JSONata syntax error: {message}"
    return None
