"""Unit tests of the local cloud's extensions, in-process with moto.

The extensions patch moto classes; `restore_moto` puts every seam back after
each test so that other unit tests see plain moto.
"""

import os

import pytest

# (module, class or None, attribute) of every seam an extension patches
SEAMS = [
    ("moto.awslambda.models", "LambdaFunction", "_invoke_lambda"),
    ("moto.events.models", "Rule", "send_to_targets"),
    ("moto.events.models", "EventsBackend", "put_rule"),
    ("moto.sns.models", "Subscription", "publish"),
    ("moto.stepfunctions.parser.models", "StepFunctionsParserBackend", "start_execution"),
    ("moto.stepfunctions.parser.models", "StepFunctionsParserBackend", "send_task_success"),
    ("moto.stepfunctions.parser.models", "StepFunctionsParserBackend", "send_task_failure"),
    ("moto.stepfunctions.parser.backend.execution_worker", "ExecutionWorker", "_get_evaluation_entrypoint"),
    ("moto.stepfunctions.parser.asl.utils.json_path", None, "parse"),
    ("moto.stepfunctions.parser.asl.utils.boto_client", None, "boto_client_for"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
     "StateTaskServiceAwsSdk", "_eval_service_task"),
    ("moto.backends", None, "list_of_moto_modules"),
    ("moto.stepfunctions.responses", "StepFunctionResponse", "get_execution_history"),
    ("moto.awslambda.responses", "LambdaResponse", "invoke"),
    ("moto.stepfunctions.parser.asl.parse.asl_parser", "AmazonStateLanguageParser", "parse"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component",
     "DistributedIterationComponent", "_map_run"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor."
     "distributed_item_processor_worker", "DistributedItemProcessorWorker", "_eval_job"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
     "ResourceEvalS3", "_handle_list_objects_v2"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
     "ResourceEvalS3", "_handle_put_object"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_api_gateway",
     "StateTaskServiceApiGateway", "_eval_service_task"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_api_gateway",
     "StateTaskServiceApiGateway", "_from_error"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_api_gateway",
     "StateTaskServiceApiGateway", "_SUPPORTED_API_PARAM_BINDINGS"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda",
     "StateTaskServiceLambda", "_eval_service_task"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
     "StateTaskServiceSns", "_eval_service_task"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
     "StateTaskServiceSqs", "_eval_service_task"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
     "StateTaskServiceDynamoDB", "_eval_service_task"),
    ("moto.stepfunctions.parser.models", "StepFunctionsParserBackend", "send_task_heartbeat"),
    ("moto.awslambda.models", "LambdaFunction", "invoke"),
    ("moto.awslambda.models", "LambdaBackend", "create_function"),
    ("moto.awslambda.models", "LambdaFunction", "update_configuration"),
    ("moto.apigateway.models", "RestAPI", "create_from_cloudformation_json"),
    ("moto.stepfunctions.models", "StateMachine", "create_from_cloudformation_json"),
    ("moto.stepfunctions.models", "StateMachine", "update_from_cloudformation_json"),
    ("moto.stepfunctions.models", "StateMachine", "delete_from_cloudformation_json"),
    ("moto.cloudformation.models", "Stack", "parse_template"),
    ("moto.cloudformation.models", "ChangeSet", "_parse_template"),
    ("moto.cloudformation.models", "CloudFormationBackend", "create_stack"),
    ("moto.cloudformation.models", "CloudFormationBackend", "create_change_set"),
    ("moto.cloudformation.models", "CloudFormationBackend", "execute_change_set"),
    ("moto.cloudformation.responses", None, "get_stack_from_s3_url"),
    ("moto.cloudformation.parsing", None, "parse_and_create_resource"),
    ("moto.cloudformation.parsing", None, "parse_and_update_resource"),
    # moto_fixes.py
    ("moto.sns.models", "Topic", "has_cfn_attr"),
    ("moto.sns.models", "Topic", "get_cfn_attribute"),
    ("moto.cloudformation.parsing", "ResourceMap", "update"),
    ("moto.stepfunctions.models", "StateMachine", "has_cfn_attr"),
    ("moto.stepfunctions.models", "StateMachine", "get_cfn_attribute"),
    ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication", "infer_service_region_host"),
    ("moto.events.utils", "EventTemplateParser", "DEFAULT_EVENT_INPUT_TEMPLATE"),
]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(autouse=True)
def restore_moto():
    import importlib

    from moto.core.config import default_user_config

    saved = []
    for module_name, class_name, attribute in SEAMS:
        module = importlib.import_module(module_name)
        owner = getattr(module, class_name) if class_name else module
        saved.append((owner, attribute, owner.__dict__[attribute]))
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in default_user_config.items()}
    moto_port = os.environ.get("MOTO_PORT")
    yield
    for owner, attribute, value in saved:
        setattr(owner, attribute, value)
    default_user_config.clear()
    default_user_config.update(config)
    if moto_port is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = moto_port
    from workshop.localcloud import lambda_runtime, moto_fixes

    moto_fixes.forget()
    if lambda_runtime._runtime is not None:
        lambda_runtime._runtime.shutdown()
        lambda_runtime._runtime = None


@pytest.fixture(scope="module")
def cloud():
    """A real local cloud process for the module's tests, stopped after them."""
    from workshop.localcloud import server

    with server.LocalCloud() as running:
        yield running

