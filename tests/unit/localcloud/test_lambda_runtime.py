"""The Lambda runtime's seam pin (its workers run in tests/functional/localcloud/test_lambda_runtime.py)."""

from workshop.localcloud.services.awslambda import workers


def test_the_seam_is_where_moto_runs_docker():
    """Fails loudly if moto moves or renames the method the runtime replaces."""
    from moto.awslambda.models import LambdaFunction

    cls, name = workers.seam()
    assert cls is LambdaFunction and name == "_invoke_lambda"
    original = LambdaFunction.__dict__["_invoke_lambda"]
    assert "docker" in original.__code__.co_names or "docker" in str(original.__code__.co_consts)
    import inspect

    assert list(inspect.signature(original).parameters) == ["self", "event"]
    # LambdaFunction.invoke must still call it and read (payload, errored, logs)
    assert "_invoke_lambda" in inspect.getsource(LambdaFunction.invoke)


def test_a_handlers_error_is_reported_even_when_formatting_its_traceback_fails(monkeypatch):
    """Python 3.13.0's traceback can raise SystemError ("AST constructor recursion depth mismatch") while it
    places carets; the function's own error must still be what Lambda reports, with its frames."""
    import traceback

    from workshop.localcloud.services.awslambda import worker

    def handler(event, context):
        raise KeyError("detail")

    try:
        handler({}, None)
    except KeyError as exc:
        error = exc

    def broken(frames):
        raise SystemError("AST constructor recursion depth mismatch (before=33, after=52)")

    monkeypatch.setattr(traceback, "format_list", broken)
    reported = worker._error(error)
    assert reported["errorType"] == "KeyError" and reported["errorMessage"] == "'detail'"
    assert any("in handler" in line and 'raise KeyError("detail")' in line for line in reported["stackTrace"])
