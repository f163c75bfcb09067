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
