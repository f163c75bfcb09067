"""The runtime check's seams, pinned (the runtimes themselves run in tests/functional/localcloud/test_runtimes.py)."""

from workshop.localcloud.services.awslambda import runtimes


def test_the_create_and_update_seams_are_where_moto_creates_and_reconfigures_functions():
    """Fails loudly if moto moves the methods the runtime check wraps."""
    import inspect

    from moto.awslambda.models import LambdaBackend, LambdaFunction

    assert runtimes.seams() == [(LambdaBackend, "create_function"), (LambdaFunction, "update_configuration")]
    assert list(inspect.signature(LambdaBackend.__dict__["create_function"]).parameters) == ["self", "spec"]
    assert list(inspect.signature(LambdaFunction.__dict__["update_configuration"]).parameters) == \
        ["self", "config_updates"]
    # CloudFormation creates functions through the backend and updates them through update_configuration
    assert "create_function(spec)" in inspect.getsource(LambdaFunction.create_from_cloudformation_json)
    assert "update_configuration(" in inspect.getsource(LambdaFunction.update_from_cloudformation_json)
