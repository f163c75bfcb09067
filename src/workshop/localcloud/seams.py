"""Every place the local cloud patches moto, in one registry: what, where, when, shown by which test.

A `Seam` is one named change to moto (or a library moto uses):

* kind `fix`     - an upstream moto bug mended until moto mends it;
* kind `speed`   - a per-request or per-state cost of moto's cut, behaviour unchanged;
* kind `service` - the kit's own extension where moto leaves a gap by design
                   (Lambda code without Docker, EventBridge delivering to Step
                   Functions, SNS e-mail, the SAM transform, ...).

Each names its targets (the moto module, class and attribute it replaces,
adds or reads), the group that installs it (`data` and `eager` at start;
`data` is also what the functions' unit tests install in their in-process
moto, so it holds only mends of moto's own behaviour; `stepfunctions`,
`apigateway`, `cloudformation` on their first request; `aws-like` with that
mode; see server/wiring.py), the test that shows it working, and, for fixes
and speed patches, the section of `docs/upstream.md` that holds the issue
text to file upstream. When moto ships a fix, delete the seam, its code, its
test and its section.

Fixes and speed patches are applied here, group by group (`install`); the
service seams by their service's own `install()` (they need the server's
endpoint, port or key), which the wiring calls for the group. The code of
each lives with the service or the server part it concerns; this module only
lists it.

tests/unit/localcloud/test_moto_fixes.py checks every target against the
pinned moto (a moto upgrade that moves one fails loudly), every test and
upstream note named here, and that installing each group changes exactly
its targets and nothing unregistered; the unit tests' fixture that puts moto
back after each test restores `restorable_targets()`.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Callable

from .server import protocols, python_fixes, speedups
from .services import cloudtrail, dynamodb, iam_boundaries, kms, mailbox, organizations, sts
from .services.awslambda import workers
from .services.cloudformation import stacks
from .services.events import targets
from .services.stepfunctions import activities, distributed_map, engine, history, integrations, paths, task_tokens, versions

FIX, SPEED, SERVICE = "fix", "speed", "service"
DATA, EAGER, STEPFUNCTIONS, APIGATEWAY, CLOUDFORMATION, AWS_LIKE = (
    "data", "eager", "stepfunctions", "apigateway", "cloudformation", "aws-like")
REPLACED, ADDED, READ = "replaced", "added", "read"


@dataclass(frozen=True)
class Target:
    """A moto attribute a seam replaces, adds (moto lacks it) or reads (moto finds the kit's code through it)."""

    module: str
    owner: str | None  # a class in `module`, or None for a module attribute
    attribute: str
    change: str = REPLACED

    def owner_object(self):
        module = importlib.import_module(self.module)
        return getattr(module, self.owner) if self.owner else module

    def check(self, seam: str) -> None:
        """Raise RuntimeError when the pinned moto no longer has this seam."""
        try:
            owner = self.owner_object()
        except (ImportError, AttributeError):
            owner = None
        if owner is None or (self.change != ADDED and not hasattr(owner, self.attribute)):
            raise RuntimeError(f"moto moved {self.module}.{self.owner or ''}.{self.attribute}: the local "
                               f"cloud's seam {seam} needs a new place (see docs/upstream.md)")

    def spelled(self) -> tuple[str, str | None, str]:
        return self.module, self.owner, self.attribute


@dataclass(frozen=True)
class Seam:
    name: str
    kind: str
    group: str
    targets: tuple[Target, ...]
    test: str  # the name of the test function that shows it
    apply: Callable[[], list | None] | None = None  # fixes and speed patches; returns what it added to moto
    upstream: str | None = None  # docs/upstream.md section, when another seam's section tells it

    @property
    def upstream_section(self) -> str | None:
        return self.upstream or (self.name if self.kind in (FIX, SPEED) else None)


def _t(module: str, owner: str | None, *attributes: str, change: str = REPLACED) -> tuple[Target, ...]:
    return tuple(Target(module, owner, attribute, change) for attribute in attributes)


_SFN = "moto.stepfunctions.parser."
_STATE = _SFN + "asl.component.state."
_MAP = _STATE + "exec.state_map."
_TASK = _STATE + "exec.state_task.service."

# In installation order within each group (the order matters where two seams wrap one attribute).
SEAMS: tuple[Seam, ...] = (
    # --- data: at start, and in the functions' unit tests ------------------------------------------
    Seam("ddb-conditional-write-lock", FIX, DATA, _t("moto.dynamodb.responses", "DynamoHandler", "call_action"),
         "test_of_two_conditional_writes_at_once_exactly_one_succeeds", dynamodb.install_atomic_requests),
    Seam("iam-managed-policies-reparse", SPEED, DATA, _t("moto.iam.models", "IAMBackend", "_init_aws_policies"),
         "test_the_managed_policies_read_once_are_the_ones_moto_builds", speedups.install_managed_policies_cache),
    Seam("moto-backend-lookup", SPEED, DATA, _t("moto.core.base_backend", "BackendDict", "__getitem__"),
         "test_an_accounts_backend_is_found_without_the_lock_and_made_again_after_a_reset",
         speedups.install_backend_lookup),
    Seam("kms-unused-rsa-key", SPEED, DATA, _t("moto.kms.models", None, "generate_private_key"),
         "test_a_symmetric_or_hmac_key_makes_its_key_pair_only_when_read", speedups.install_private_key_on_use),
    Seam("kms-mac-checks", FIX, DATA, _t("moto.kms.models", "KmsBackend", "generate_mac", "verify_mac"),
         "test_a_mac_is_made_and_verified_only_with_its_keys_algorithm_on_an_enabled_key", kms.install_mac_checks),
    # --- eager: at start --------------------------------------------------------------------------
    Seam("server-caller-account", SERVICE, EAGER, _t("moto.core.responses", "BaseResponse", "get_current_account"),
         "test_an_execution_in_a_member_account_invokes_its_function_whose_calls_land_in_its_table"),
    Seam("lambda-warm-workers", SERVICE, EAGER, _t("moto.awslambda.models", "LambdaFunction", "_invoke_lambda"),
         "test_a_function_runs_warm_after_one_cold_start"),
    Seam("lambda-payload-check", SERVICE, EAGER, _t("moto.awslambda.models", "LambdaFunction", "invoke"),
         "test_a_lambda_invoke_with_a_broken_payload_is_refused_as_lambda_does"),
    Seam("lambda-function-urls", SERVICE, EAGER, _t("moto.awslambda.models", "FunctionUrlConfig", "__init__"),
         "test_a_function_url_made_by_cloudformation_answers_with_payload_format_2"),
    Seam("lambda-layers", SERVICE, EAGER, _t("moto.awslambda.models", "LambdaFunction", "_get_layers_data"),
         "test_a_function_imports_from_its_own_layer_and_from_a_public_one"),
    Seam("lambda-runtimes-check", SERVICE, EAGER,
         _t("moto.awslambda.models", "LambdaBackend", "create_function")
         + _t("moto.awslambda.models", "LambdaFunction", "update_configuration"),
         "test_a_runtime_the_local_cloud_cannot_run_is_refused_at_create_function"),
    Seam("events-states-and-lambda-targets", SERVICE, EAGER, _t("moto.events.models", "Rule", "send_to_targets"),
         "test_a_matching_event_starts_the_state_machine_with_the_event_as_input"),
    Seam("events-schedules", SERVICE, EAGER, _t("moto.events.models", "EventsBackend", "put_rule"),
         "test_a_rate_rule_fires_one_period_after_it_is_put_then_every_period"),
    Seam("sns-email-mailbox", SERVICE, EAGER, _t("moto.sns.models", "Subscription", "publish"),
         "test_email_subscriptions_receive_published_messages"),
    Seam("sns-unsubscribe-url", FIX, EAGER, _t("moto.sns.models", "Subscription", "get_post_data"),
         "test_a_json_envelope_unsubscribes_the_subscription_it_was_delivered_to",
         mailbox.install_unsubscribe_url),
    Seam("lambda-function-error-unhandled", FIX, EAGER, _t("moto.awslambda.models", "LambdaFunction", "invoke"),
         "test_a_functions_exception_is_unhandled_as_lambda_says", workers.install_function_error_unhandled),
    Seam("sns-topic-getatt-topicarn", FIX, EAGER,
         _t("moto.sns.models", "Topic", "has_cfn_attr", "get_cfn_attribute"),
         "test_getatt_topic_arn_and_topic_name", stacks.install_topic_arn_attribute),
    Seam("server-ast-parse-race", FIX, EAGER, _t("ast", None, "parse"),
         "test_parsing_python_in_many_threads_at_once_never_fails", python_fixes.install_ast_parse_lock),
    Seam("server-presigned-routing", FIX, EAGER,
         _t("moto.moto_server.werkzeug_app", "DomainDispatcherApplication", "infer_service_region_host"),
         "test_a_presigned_request_is_routed_by_the_scope_in_its_query", protocols.install_presigned_routing),
    Seam("events-target-event-account", FIX, EAGER,
         _t("moto.events.utils", "EventTemplateParser", "DEFAULT_EVENT_INPUT_TEMPLATE"),
         "test_an_event_delivered_whole_to_sqs_keeps_its_account", targets.install_event_account),
    Seam("events-target-input", FIX, EAGER, _t("moto.events.models", "Rule", "send_to_targets"),
         "test_a_targets_input_and_input_path_are_delivered_instead_of_the_event", targets.install_target_input),
    Seam("events-schedule-rule-pattern", FIX, EAGER, _t("moto.events.models", "Rule", "send_to_targets"),
         "test_a_scheduled_rule_receives_its_schedule_and_no_other_event",
         targets.install_schedule_rules_match_no_event),
    Seam("server-dispatch-module-listing", SPEED, EAGER, _t("moto.backends", None, "list_of_moto_modules"),
         "test_the_list_is_made_once_and_says_the_same", speedups.install),
    Seam("server-dispatch-method-names", SPEED, EAGER, _t("moto.core.responses", None, "method_names_from_class"),
         "test_function_names_answer_as_moto_lists_them", speedups.install_method_names),
    Seam("server-dispatch-host-backend", SPEED, EAGER,
         _t("moto.moto_server.werkzeug_app", "DomainDispatcherApplication", "get_backend_for_host"),
         "test_each_host_gets_the_backend_moto_finds_and_is_matched_once", speedups.install_host_backend_cache),
    Seam("server-form-request-class", SPEED, EAGER,
         _t("moto.moto_server.werkzeug_app", "BackendRequest", "_load_form_data", change=ADDED),
         "test_a_form_request_reads_the_same_without_a_class_made_for_it", speedups.install_form_request),
    Seam("server-xml-name-check", SPEED, EAGER, _t("xmltodict", None, "_validate_name"),
         "test_a_remembered_name_is_still_refused_when_invalid", speedups.install_xml_name_check),
    Seam("server-serializer-key-lookup", SPEED, EAGER,
         _t("moto.core.serialize", "AttributePicker", "get_possible_keys"),
         "test_answers_are_the_same_with_the_candidate_names_kept", speedups.install_serializer_key_cache),
    Seam("ddb-update-expression-reparse", SPEED, EAGER,
         _t("moto.dynamodb.parsing.expressions", "UpdateExpressionParser", "make"),
         "test_an_expression_is_parsed_once_and_runs_the_same", speedups.install_update_expression_cache),
    Seam("lambda-executed-version", FIX, EAGER, _t("moto.awslambda.responses", "LambdaResponse", "invoke"),
         "test_lambda_invoke_names_the_version_that_ran", workers.install_executed_version),
    Seam("iam-cloudtrail-events", SERVICE, EAGER,
         tuple(Target(module, owner, attribute) for module, owner, attribute in cloudtrail.targets()),
         "test_each_change_of_the_iam_model_is_one_event_with_its_callers_identity"),
    Seam("sts-session-tokens", FIX, EAGER, _t("moto.sts.responses", "TokenResponse", "get_session_token"),
         "test_get_session_token_makes_a_session_of_the_caller_that_expires", sts.install_session_tokens),
    Seam("sts-caller-identity", FIX, EAGER, _t("moto.sts.responses", "TokenResponse", "get_caller_identity"),
         "test_get_caller_identity_names_the_caller_the_signature_proves", sts.install_caller_identity),
    Seam("iam-user-permissions-boundary", FIX, EAGER,
         _t("moto.iam.models", "User", "permissions_boundary_arn", "permissions_boundary", change=ADDED)
         + _t("moto.iam.responses", "IamResponse", "put_user_permissions_boundary",
              "delete_user_permissions_boundary", change=ADDED)
         + _t("moto.iam.responses", "IamResponse", "create_user"),
         "test_a_users_permissions_boundary_is_put_kept_at_create_and_deleted",
         iam_boundaries.install_user_permissions_boundary),
    Seam("organizations-access-role-admin", FIX, EAGER, _t("moto.organizations.models", "FakeAccount", "__init__"),
         "test_a_created_accounts_access_role_is_its_administrator", organizations.install_access_role_admin),
    # --- stepfunctions: with the first Step Functions (or CloudFormation) request ---------------------
    Seam("sfn-engine-clients", SERVICE, STEPFUNCTIONS, _t(_SFN + "asl.utils.boto_client", None, "boto_client_for"),
         "test_the_engines_iam_call_passes_the_guard_and_is_in_cloudtrail"),
    Seam("sfn-execution-names", SERVICE, STEPFUNCTIONS,
         _t(_SFN + "models", "StepFunctionsParserBackend", "start_execution"),
         "test_executions_started_without_a_name_get_distinct_uuid_names"),
    Seam("sfn-definition-reparse", SPEED, STEPFUNCTIONS,
         _t(_SFN + "backend.execution_worker", "ExecutionWorker", "_get_evaluation_entrypoint")
         + _t(_SFN + "asl.utils.json_path", None, "parse"),
         "test_executions_of_one_definition_share_one_program_with_its_heap_keys_made",
         engine.install_engine_caches, upstream="server-dispatch-module-listing"),
    Seam("sfn-express-execution-arns", FIX, STEPFUNCTIONS, _t(_SFN + "backend.execution", "Execution", "__init__"),
         "test_an_express_execution_has_the_express_arn_and_runs_synchronously", engine.install_express_execution_arns),
    Seam("sfn-activity-tasks", FIX, STEPFUNCTIONS, _t(_SFN + "backend.execution", "Execution", "__init__"),
         "test_an_activity_made_by_cloudformation_gives_its_task_to_a_polling_worker",
         activities.install_activity_tasks),
    Seam("sfn-parser-error-codes", FIX, STEPFUNCTIONS,
         _t(_SFN + "api", "InvalidDefinition", "TYPE", "STATUS", change=ADDED),
         "test_an_invalid_state_machine_definition_answers_invalid_definition", engine.install_parser_error_codes),
    Seam("sfn-state-input-copy", SPEED, STEPFUNCTIONS,
         _t(_SFN + "asl.eval.states", None, "copy")
         + _t(_SFN + "asl.component.common.string.string_expression", None, "copy"),
         "test_the_engine_modules_copy_json_after_install", speedups.install_json_copy),
    Seam("sfn-jsonpath-reparse", SPEED, STEPFUNCTIONS,
         _t(_SFN + "asl.component.common.path.result_path", None, "parse")
         + _t(_SFN + "asl.utils.json_path", None, "parse"),
         "test_a_path_is_parsed_once_and_finds_what_a_fresh_parse_finds", speedups.install_jsonpath_cache),
    Seam("sfn-jsonpath-definite", FIX, STEPFUNCTIONS,
         _t(_SFN + "asl.utils.json_path", None, "extract_json")
         + _t(_SFN + "asl.eval.states", None, "extract_json")
         + _t(_SFN + "asl.component.intrinsic.argument.argument", None, "extract_json")
         + _t(_SFN + "asl.component.common.string.string_expression", None, "extract_json")
         + tuple(Target(_STATE + "choice.comparison.operator.implementations." + module, None, "extract_json")
                 for module in ("boolean_equals", "numeric", "string_operators", "timestamp_operators")),
         "test_an_index_then_a_key_selects_one_value", paths.install_definite_paths),
    Seam("sfn-choice-missing-path", FIX, STEPFUNCTIONS,
         _t(_STATE + "choice.comparison.comparison_variable", "ComparisonVariable", "_eval_body"),
         "test_a_choice_rule_on_a_missing_path_fails_the_execution", paths.install_choice_missing_path),
    Seam("sfn-task-failure-cause", FIX, STEPFUNCTIONS,
         _t("moto.stepfunctions.responses", "StepFunctionResponse", "send_task_failure"),
         "test_send_task_failure_keeps_its_cause", paths.install_task_failure_cause),
    Seam("sfn-states-error-names", FIX, STEPFUNCTIONS,
         _t(_SFN + "asl.component.common.error_name.custom_error_name", "CustomErrorName", "__init__"),
         "test_a_workflow_raises_and_catches_error_names_that_begin_with_states", paths.install_states_error_names),
    Seam("sfn-history-paging", FIX, STEPFUNCTIONS,
         _t("moto.stepfunctions.responses", "StepFunctionResponse", "get_execution_history"),
         "test_history_pages_with_max_results_and_next_token", history.install_history_pages),
    Seam("sfn-task-token-answered-once", FIX, STEPFUNCTIONS,
         _t(_SFN + "models", "StepFunctionsParserBackend", "send_task_success", "send_task_failure",
            "send_task_heartbeat"),
         "test_a_second_answer_right_after_the_first_is_refused", task_tokens.install_task_token_errors),
    Seam("sfn-task-token-early-answer", FIX, STEPFUNCTIONS,
         _t(_SFN + "asl.eval.callback.callback", "CallbackEndpoint", "setup_heartbeat_endpoint"),
         "test_an_answer_sent_before_the_task_waits_is_not_lost", task_tokens.install_early_answers),
    Seam("sfn-version-executions", FIX, STEPFUNCTIONS,
         _t(_SFN + "models", "StepFunctionsParserBackend", "start_execution")
         + _t("moto.stepfunctions.responses", "StepFunctionResponse", "describe_execution",
              "describe_state_machine_for_execution")
         + _t("moto.stepfunctions.responses", "StepFunctionResponse", "delete_state_machine_version", change=ADDED)
         + _t("moto.stepfunctions.models", "StateMachineVersion", "_handle_name_input_idempotency", change=ADDED),
         "test_an_execution_on_a_version_runs_that_version", versions.install_version_executions),
    Seam("sfn-sdk-timestamps", FIX, STEPFUNCTIONS,
         _t(_TASK + "state_task_service_aws_sdk", "StateTaskServiceAwsSdk", "_eval_service_task"),
         "test_an_sdk_result_with_timestamps_is_described_with_aws_text", integrations.install_sdk_timestamps),
    Seam("sfn-sdk-service-names", FIX, STEPFUNCTIONS,
         _t(_TASK + "state_task_service", "StateTaskService", "_SERVICE_NAME_SFN_TO_BOTO_OVERRIDES"),
         "test_an_aws_sdk_task_on_eventbridge_reaches_eventbridge", integrations.install_sdk_service_names),
    Seam("sfn-sdk-names", FIX, STEPFUNCTIONS,
         _t(_TASK + "state_task_service", "StateTaskService", "_normalise_parameters", "_normalise_response"),
         "test_a_parent_starts_a_child_with_the_documented_parameter_names", integrations.install_sdk_names),
    Seam("sfn-sdk-metadata", FIX, STEPFUNCTIONS,
         _t(_TASK + "state_task_service_lambda", "StateTaskServiceLambda", "_eval_service_task")
         + _t(_TASK + "state_task_service_sns", "StateTaskServiceSns", "_eval_service_task")
         + _t(_TASK + "state_task_service_sqs", "StateTaskServiceSqs", "_eval_service_task")
         + _t(_TASK + "state_task_service_dynamodb", "StateTaskServiceDynamoDB", "_eval_service_task"),
         "test_a_lambda_invoke_task_returns_what_aws_returns", integrations.install_sdk_metadata),
    Seam("sfn-apigateway-invoke", FIX, STEPFUNCTIONS,
         _t(_TASK + "state_task_service_api_gateway", "StateTaskServiceApiGateway", "_eval_service_task",
            "_from_error", "_SUPPORTED_API_PARAM_BINDINGS"),
         "test_apigateway_invoke_calls_the_local_stage", integrations.install_api_gateway),
    Seam("sfn-map-item-batcher", FIX, STEPFUNCTIONS,
         _t(_SFN + "asl.parse.asl_parser", "AmazonStateLanguageParser", "parse")
         + _t(_MAP + "iteration.distributed_iteration_component", "DistributedIterationComponent", "_map_run")
         + _t(_MAP + "iteration.itemprocessor.distributed_item_processor_worker", "DistributedItemProcessorWorker",
              "_eval_job"),
         "test_item_batcher_batches_selected_items_with_the_batch_input", distributed_map.install_item_batcher),
    Seam("sfn-map-tolerated-failures", FIX, STEPFUNCTIONS,
         _t(_MAP + "iteration.distributed_iteration_component", "DistributedIterationComponent", "_map_run")
         + _t(_MAP + "iteration.itemprocessor.distributed_item_processor_worker", "DistributedItemProcessorWorker",
              "_eval_job"),
         "test_failed_children_beyond_the_tolerance_fail_the_map", distributed_map.install_map_runs),
    Seam("sfn-map-s3-listing", FIX, STEPFUNCTIONS,
         _t(_MAP + "item_reader.eval.resource_eval_s3", "ResourceEvalS3", "_handle_list_objects_v2"),
         "test_a_distributed_map_over_an_s3_listing_gets_every_object_as_aws_lists_it",
         distributed_map.install_listing_reader),
    Seam("sfn-map-result-writer", FIX, STEPFUNCTIONS,
         _t(_MAP + "result_writer.resource_eval.resource_eval_s3", "ResourceEvalS3", "_handle_put_object"),
         "test_the_result_writer_writes_each_childs_result", distributed_map.install_result_writer),
    # --- apigateway: with the first API Gateway request or stage call -----------------------------------
    Seam("apigateway-openapi-body", SERVICE, APIGATEWAY,
         _t("moto.apigateway.models", "RestAPI", "create_from_cloudformation_json"),
         "test_a_sam_body_is_imported_with_name_methods_and_integrations"),
    Seam("apigateway-service-integrations", SERVICE, APIGATEWAY,
         _t("moto.apigateway.models", "Method", "create_from_cloudformation_json"),
         "test_an_express_machine_behind_a_service_integration_answers_through_its_mapping_templates"),
    # --- cloudformation: with the first CloudFormation request -------------------------------------------
    Seam("cfn-template-processing", SERVICE, CLOUDFORMATION,
         _t("moto.cloudformation.models", "Stack", "parse_template")
         + _t("moto.cloudformation.models", "ChangeSet", "_parse_template"),
         "test_sam_init_hello_world_answers_on_its_api_url"),
    Seam("cfn-template-url", SERVICE, CLOUDFORMATION,
         _t("moto.cloudformation.responses", None, "get_stack_from_s3_url"),
         "test_sam_init_hello_world_answers_on_its_api_url"),
    Seam("cfn-rules", SERVICE, CLOUDFORMATION,
         _t("moto.cloudformation.models", "CloudFormationBackend", "create_stack", "create_change_set"),
         "test_a_stack_outside_us_east_1_is_refused_with_the_assert_description"),
    Seam("cfn-empty-change-set", SERVICE, CLOUDFORMATION,
         _t("moto.cloudformation.models", "CloudFormationBackend", "create_change_set"),
         "test_a_change_set_that_changes_nothing_fails_as_cloudformation_answers"),
    Seam("cfn-failed-resource", SERVICE, CLOUDFORMATION,
         _t("moto.cloudformation.parsing", None, "parse_and_create_resource", "parse_and_update_resource")
         + _t("moto.cloudformation.models", "CloudFormationBackend", "execute_change_set", "delete_stack"),
         "test_a_failing_resource_fails_the_stack_with_its_reason"),
    Seam("cfn-acts-as-its-caller", SERVICE, CLOUDFORMATION,
         _t("moto.cloudformation.parsing", None, "parse_and_create_resource", "parse_and_update_resource",
            "parse_resource_and_generate_name", "parse_and_delete_resource")
         + _t("moto.cloudformation.parsing", "ResourceMap", "_delete_resource"),
         "test_cloudformation_creates_resources_as_its_caller_or_its_service_role"),
    Seam("cfn-resource-types", SERVICE, CLOUDFORMATION,
         _t("moto.cloudformation.parsing", None, "get_model_map", change=READ),
         "test_the_incidents_table_secret_and_policies_are_created_as_aws_shows_them"),
    Seam("cfn-dynamodb-table-properties", SERVICE, CLOUDFORMATION,
         _t("moto.dynamodb.models.table", "Table", "create_from_cloudformation_json"),
         "test_the_incidents_table_secret_and_policies_are_created_as_aws_shows_them"),
    Seam("cfn-s3-bucket-versioning", SERVICE, CLOUDFORMATION,
         _t("moto.s3.models", "FakeBucket", "create_from_cloudformation_json"),
         "test_a_bucket_made_by_cloudformation_keeps_its_versioning"),
    Seam("cfn-state-machines", SERVICE, CLOUDFORMATION,
         _t("moto.stepfunctions.models", "StateMachine", "create_from_cloudformation_json",
            "update_from_cloudformation_json", "delete_from_cloudformation_json"),
         "test_policy_orchestrator_reverts_a_bad_policy_and_obeys_the_emailed_decision"),
    Seam("sfn-statemachine-getatt-arn", FIX, CLOUDFORMATION,
         _t("moto.stepfunctions.models", "StateMachine", "has_cfn_attr", "get_cfn_attribute"),
         "test_getatt_state_machine_arn", stacks.install_state_machine_arn_attribute),
    Seam("s3-bucket-eventbridge-notifications", FIX, CLOUDFORMATION,
         _t("moto.s3.models", "FakeBucket", "create_from_cloudformation_json"),
         "test_a_buckets_eventbridge_notification_set_in_the_template_sends_object_created",
         stacks.install_bucket_eventbridge_notifications),
    Seam("events-eventbus-ref", FIX, CLOUDFORMATION,
         _t("moto.events.models", "EventBus", "physical_resource_id", change=ADDED),
         "test_ref_to_an_event_bus_is_its_name", stacks.install_event_bus_ref),
    Seam("cfn-kms-key-properties", FIX, CLOUDFORMATION,
         _t("moto.kms.models", "Key", "create_from_cloudformation_json"),
         "test_a_kms_key_in_a_template_is_made_with_its_spec_usage_policy_and_tags",
         kms.install_cloudformation_key_properties),
    Seam("cfn-changeset-dependson", FIX, CLOUDFORMATION, _t("moto.cloudformation.parsing", "ResourceMap", "update"),
         "test_depends_on_orders_a_change_set_as_it_orders_create_stack", stacks.install_change_set_depends_on),
    Seam("cfn-delete-dependency-order", FIX, CLOUDFORMATION, _t("moto.cloudformation.parsing", "ResourceMap", "delete"),
         "test_a_stack_is_deleted_each_resource_after_those_that_name_it", stacks.install_delete_dependency_order),
    Seam("iam-cfn-inline-policy-json", FIX, CLOUDFORMATION,
         _t("moto.iam.models", "Role", "put_policy") + _t("moto.iam.models", "User", "put_policy")
         + _t("moto.iam.models", "Group", "put_policy"),
         "test_an_inline_policy_a_stack_makes_reads_back_as_json_text", stacks.install_inline_policies_as_json),
    Seam("iam-role-managed-policy-arns", FIX, CLOUDFORMATION,
         _t("moto.iam.models", "Role", "create_from_cloudformation_json", "delete_from_cloudformation_json"),
         "test_a_stacks_role_gets_its_managed_policies_and_each_iam_write_is_in_cloudtrail",
         stacks.install_role_managed_policies),
    # --- aws-like: the AWS-like mode (aws_like.py) -----------------------------------------------------------
    Seam("aws-like-email-confirmation", SERVICE, AWS_LIKE,
         _t("moto.sns.models", "SNSBackend", "subscribe") + _t("moto.sns.models", "Subscription", "publish")
         + _t("moto.sns.responses", "SNSResponse", "subscribe", "list_subscriptions", "list_subscriptions_by_topic",
              "confirm_subscription"),
         "test_an_email_subscription_waits_for_its_confirmation_link"),
    Seam("aws-like-lambda-concurrency", SERVICE, AWS_LIKE,
         _t("moto.awslambda.models", "LambdaBackend", "create_function", "put_function_concurrency")
         + _t("moto.awslambda.responses", "LambdaResponse", "get_account_settings", change=ADDED)
         + _t("moto.awslambda.urls", None, "url_paths", change=READ),
         "test_a_reservation_must_leave_100_executions_unreserved"),
    Seam("aws-like-failed-stacks", SERVICE, AWS_LIKE,
         _t("moto.cloudformation.models", "CloudFormationBackend", "create_change_set", "update_stack"),
         "test_a_stack_that_failed_to_create_can_only_be_deleted"),
    Seam("aws-like-definition-lag", SERVICE, AWS_LIKE,
         _t(_SFN + "models", "StepFunctionsParserBackend", "update_state_machine", "start_execution"),
         "test_executions_started_right_after_an_update_run_the_previous_definition"),
)

GROUPS = (DATA, EAGER, STEPFUNCTIONS, APIGATEWAY, CLOUDFORMATION, AWS_LIKE)

_lock = threading.Lock()
_applied: set[str] = set()
_added: list[tuple[object, str]] = []  # attributes a seam added to moto (forget() takes them away)


def install(group: str) -> None:
    """Apply the fixes and speed patches of one group, once per process."""
    for seam in SEAMS:
        if seam.group != group or seam.apply is None:
            continue
        with _lock:
            if seam.name in _applied:
                continue
            for target in seam.targets:
                target.check(seam.name)
            _added.extend(seam.apply() or ())
            _applied.add(seam.name)


def forget(group: str | None = None) -> None:
    """Tests: after moto's seams are restored, take away what seams added and let them apply again
    (those of one group, or all)."""
    with _lock:
        if group is not None:
            _applied.difference_update(seam.name for seam in SEAMS if seam.group == group)
            return
        _applied.clear()
        while _added:
            owner, name = _added.pop()
            if name in owner.__dict__:
                delattr(owner, name)


def restorable_targets() -> list[tuple[str, str | None, str]]:
    """(module, class or None, attribute) of every attribute a seam replaces or adds, each once."""
    found: dict[tuple, None] = {}
    for seam in SEAMS:
        for target in seam.targets:
            if target.change != READ:
                found.setdefault(target.spelled())
    return list(found)
