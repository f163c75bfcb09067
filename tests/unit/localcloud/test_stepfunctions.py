"""Step Functions in the local cloud, without a server: SDK timestamps as AWS writes them, and the
engine's seams pinned (the engine's patches, each against a real local cloud:
tests/functional/localcloud/test_stepfunctions.py)."""

from workshop.localcloud.services.stepfunctions import integrations


def test_sdk_timestamps_read_as_aws_writes_them():
    from datetime import datetime, timedelta, timezone

    plain = datetime(2026, 12, 1, 9, 50, 0, tzinfo=timezone.utc)
    assert integrations.sdk_timestamp(plain) == "2026-12-01T09:50:00Z"
    assert integrations.sdk_timestamp(plain.replace(microsecond=123000)) == "2026-12-01T09:50:00.123Z"
    assert integrations.sdk_timestamp(plain.replace(microsecond=123456)) == "2026-12-01T09:50:00.123456Z"
    assert integrations.sdk_timestamp(plain.astimezone(timezone(timedelta(hours=2)))) == "2026-12-01T09:50:00Z"


# --- the seams ---------------------------------------------------------------------------------


def test_the_engine_seams_are_where_moto_has_them():
    """Fails loudly if moto moves or reshapes a method the kit wraps."""
    import inspect

    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    cls, name = integrations.sdk_result_seam()
    assert list(inspect.signature(cls.__dict__[name]).parameters)[:3] == ["self", "env", "resource_runtime_part"]
    assert "env.stack.append(response)" in inspect.getsource(cls.__dict__[name])
    entry = ExecutionWorker.__dict__["_get_evaluation_entrypoint"]
    assert list(inspect.signature(entry).parameters) == ["self"]
    assert "_get_evaluation_entrypoint()" in inspect.getsource(ExecutionWorker._execution_logic)


def test_the_map_seams_are_where_moto_has_them():
    """Fails loudly if moto moves a Distributed Map method the kit wraps."""
    import inspect

    from workshop.localcloud.services.awslambda import workers
    from workshop.localcloud.services.stepfunctions import distributed_map as dmap

    cls, name = dmap.parser_seam()
    assert isinstance(cls.__dict__[name], staticmethod)
    cls, name = dmap.map_run_seam()
    assert list(inspect.signature(cls.__dict__[name]).parameters) == ["self", "env", "eval_input"]
    source = inspect.getsource(cls.__dict__[name])  # moto's own: the items come from the stack, outputs go back
    assert "env.stack.pop()" in source and "env.stack.append(outputs)" in source
    cls, name = dmap.worker_seam()
    assert list(inspect.signature(cls.__dict__[name]).parameters) == ["self", "env", "job"]
    assert "job.job_output = job_output" in inspect.getsource(cls.__dict__[name])
    for seam in (dmap.reader_seam, dmap.writer_seam):
        cls, name = seam()
        assert list(inspect.signature(cls.__dict__[name]).parameters) == ["env", "resource_runtime_part",
                                                                          "state_credentials"]
    cls, name = integrations.api_gateway_seam()
    assert "invoke" in cls._SUPPORTED_API_PARAM_BINDINGS
    for cls, name in integrations.metadata_seams():
        assert name in cls.__dict__
    cls, name = workers.executed_version_seam()
    assert name in cls.__dict__
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    assert "select_from_typed_dict" in inspect.getsource(lambda_eval_utils.execute_lambda_function_integration)
