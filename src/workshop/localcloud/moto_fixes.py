"""Upstream moto bugs, mended here until moto mends them: the one extension point for such fixes.

Each fix is a `Fix`: the moto seam it patches (module, class, attribute), the
extension group that installs it (see extensions.py: "eager" at start, or
"stepfunctions" / "cloudformation" with their first request), and the
function that applies it. `docs/upstream.md` holds the issue text to file
upstream for each, under the fix's name; when moto ships a fix, delete it
here and there. `tests/unit/localcloud/test_moto_fixes.py` pins every seam
(a moto upgrade that moves one fails loudly) and shows each bug mended.

Fixes (the names used in docs/upstream.md):

* `lambda-function-error-unhandled` - Invoke answered `X-Amz-Function-Error:
  Handled` for a function's exception; Lambda answers `Unhandled`.
* `sfn-parser-error-codes` - the Step Functions parser's exceptions
  (`InvalidDefinition`, `TaskDoesNotExist`, ...) reached the client with an
  empty error code: they declare `code`/`status_code`, moto's AWSError reads
  `TYPE`/`STATUS`.
* `sns-topic-getatt-topicarn` - `Fn::GetAtt Topic.TopicArn` was refused (only
  `TopicName` was known).
* `server-presigned-routing` - a request signed in its query string (a
  presigned URL, `X-Amz-Credential=...`) carries no Authorization header, and
  moto's server routed it by guesswork (an IAM call became S3 ListBuckets);
  the credential scope in the query names the service, as the header's does.
* `events-target-event-account` - an event delivered whole to an SQS queue or a
  log group lacked its `account` field (moto's default input template omits it).
* `events-target-input` - a target's `Input` (constant JSON) and `InputPath`
  were ignored for moto's own target types (SQS, logs, buses): the whole
  event was delivered instead.
* `sfn-statemachine-getatt-arn` - `Fn::GetAtt StateMachine.Arn` was refused
  (moto knew Name, DefinitionString, RoleArn, StateMachineName, Tags).
* `events-eventbus-ref` - `Ref` to an `AWS::Events::EventBus` gave the model
  object's repr (the bus had no physical id); AWS gives the bus's name.
* Step Functions (the fixes live beside the Step Functions extension, in
  stepfunctions.py, stepfunctions_integrations.py, stepfunctions_map.py and
  moto_dispatch.py; registered here): `sfn-history-paging`,
  `sfn-task-token-answered-once`, `sfn-sdk-timestamps`,
  `lambda-executed-version`, `sfn-sdk-metadata`, `sfn-apigateway-invoke`,
  `sfn-map-item-batcher`, `sfn-map-tolerated-failures`, `sfn-map-s3-listing`,
  `sfn-map-result-writer`, `server-dispatch-module-listing`,
  `server-dispatch-method-names`, `sfn-jsonpath-reparse`, `server-xml-name-check`,
  `server-serializer-key-lookup`, `ddb-update-expression-reparse`, `sfn-state-input-copy`
  (docs/upstream.md,
  "Step Functions").
* `cfn-changeset-dependson` - a stack created or updated through a change set
  (what `sam deploy` does) made new resources in template order, ignoring
  `DependsOn` (a rule made before the event bus it names); `CreateStack`
  honoured it.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Callable

_lock = threading.Lock()
_applied: set[str] = set()
_added: list[tuple[type, str]] = []  # attributes a fix added to a moto class (forget() takes them away)


@dataclass(frozen=True)
class Fix:
    name: str
    group: str  # "eager" | "stepfunctions" | "cloudformation"
    module: str
    owner: str | None  # a class in `module`, or None for a module attribute
    attribute: str
    apply: Callable[[], None]

    def target(self):
        module = importlib.import_module(self.module)
        return getattr(module, self.owner) if self.owner else module


# --- lambda-function-error-unhandled -------------------------------------------------------


def _function_error_unhandled() -> None:
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.invoke

    def invoke(self, body, request_headers, response_headers):
        payload = original(self, body, request_headers, response_headers)
        if response_headers.get("x-amz-function-error") == "Handled":
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    invoke.__wrapped__ = original
    LambdaFunction.invoke = invoke


# --- sfn-parser-error-codes -------------------------------------------------------------------


def _parser_error_codes() -> None:
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import api

    for value in vars(api).values():
        if isinstance(value, type) and issubclass(value, AWSError) and value is not AWSError:
            code = value.__dict__.get("code")
            if isinstance(code, str) and not value.__dict__.get("TYPE"):
                value.TYPE = code
                value.STATUS = value.__dict__.get("status_code", value.STATUS)
                _added.extend([(value, "TYPE"), (value, "STATUS")])


# --- sns-topic-getatt-topicarn ----------------------------------------------------------------


def add_getatt(cls, name: str, value_of) -> None:
    """Teach a CloudFormation model one more `Fn::GetAtt` attribute."""
    original_has, original_get = cls.has_cfn_attr, cls.get_cfn_attribute

    def has_cfn_attr(klass, attr: str) -> bool:
        return attr == name or original_has(attr)

    def get_cfn_attribute(self, attribute_name: str):
        return value_of(self) if attribute_name == name else original_get(self, attribute_name)

    cls.has_cfn_attr = classmethod(has_cfn_attr)
    cls.get_cfn_attribute = get_cfn_attribute


def _topic_arn_attribute() -> None:
    from moto.sns.models import Topic

    add_getatt(Topic, "TopicArn", lambda topic: topic.arn)


# --- server-presigned-routing -----------------------------------------------------------------


def _presigned_routing() -> None:
    from urllib.parse import parse_qs

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.infer_service_region_host

    def infer_service_region_host(self, environ, path):
        credential = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        if not environ.get("HTTP_AUTHORIZATION") and credential:
            # the scope as a header would carry it: moto reads only the scope from it
            environ = {**environ, "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={credential[0]}, "
                                                        "SignedHeaders=host, Signature=presigned"}
        return original(self, environ, path)

    infer_service_region_host.__wrapped__ = original
    DomainDispatcherApplication.infer_service_region_host = infer_service_region_host


# --- events-target-event-account -------------------------------------------------------------


def _event_account() -> None:
    from moto.events.utils import EventTemplateParser

    template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    if '"account"' not in template:
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace(
            '"version": "0", ', '"version": "0", "account": "<account>", ')


# --- events-target-input ---------------------------------------------------------------------


def as_input_transformer(target: dict) -> dict:
    """A target with Input / InputPath, spelled as the InputTransformer moto does apply."""
    if target.get("InputTransformer") or not (target.get("Input") or target.get("InputPath")):
        return target
    spelled = {k: v for k, v in target.items() if k not in ("Input", "InputPath")}
    if target.get("Input"):  # a paths map of its own: with an empty one moto fills in its default paths
        spelled["InputTransformer"] = {"InputTemplate": target["Input"], "InputPathsMap": {"unused": "$.id"}}
    else:
        spelled["InputTransformer"] = {"InputTemplate": "<selected>",
                                       "InputPathsMap": {"selected": target["InputPath"]}}
    return spelled


def _target_input() -> None:
    import copy

    from moto.events.models import Rule

    original = Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True):
        if any(t.get("Input") or t.get("InputPath") for t in self.targets):
            spelled = copy.copy(self)
            spelled.targets = [as_input_transformer(t) for t in self.targets]
            return original(spelled, original_event, transform_input)
        return original(self, original_event, transform_input)

    send_to_targets.__wrapped__ = original
    Rule.send_to_targets = send_to_targets


# --- sfn-statemachine-getatt-arn ----------------------------------------------------------


def _state_machine_arn_attribute() -> None:
    from moto.stepfunctions.models import StateMachine

    add_getatt(StateMachine, "Arn", lambda machine: machine.arn)


# --- events-eventbus-ref --------------------------------------------------------------------


def _event_bus_ref() -> None:
    from moto.events.models import EventBus

    if "physical_resource_id" not in EventBus.__dict__:
        def physical_resource_id(self) -> str:
            return self.name

        physical_resource_id._localcloud_fix = "events-eventbus-ref"
        EventBus.physical_resource_id = property(physical_resource_id)
        _added.append((EventBus, "physical_resource_id"))


# --- cfn-changeset-dependson ------------------------------------------------------------------


def dependency_order(resources: dict) -> dict:
    """`resources` re-ordered so that every resource comes after what it names in `DependsOn`."""
    ordered: dict = {}
    visiting: set = set()

    def visit(name):
        if name in ordered or name not in resources or name in visiting:
            return  # done, unknown (CloudFormation refuses it elsewhere) or a cycle (left in place)
        visiting.add(name)
        resource = resources[name] if isinstance(resources[name], dict) else {}
        needs = resource.get("DependsOn") or []
        for dependency in [needs] if isinstance(needs, str) else needs:
            visit(dependency)
        visiting.discard(name)
        ordered[name] = resources[name]

    for name in resources:
        visit(name)
    return ordered


def _change_set_depends_on() -> None:
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.update

    def update(self, template, parameters=None):
        if isinstance(template, dict) and isinstance(template.get("Resources"), dict):
            template = {**template, "Resources": dependency_order(template["Resources"])}
        return original(self, template, parameters)

    update.__wrapped__ = original
    ResourceMap.update = update


def _stepfunctions(name: str):
    """The installer `name` of the Step Functions fixes (imported when applied: moto's engine is heavy)."""
    def apply() -> None:
        import importlib

        module, _, function = name.rpartition(".")
        getattr(importlib.import_module(f"workshop.localcloud.{module}"), function)()

    return apply


def _map_item_batcher() -> None:
    from . import stepfunctions_map

    stepfunctions_map.install_definitions()
    stepfunctions_map.install_map_runs()  # the batches are made where the Map Run starts


_SFN = "moto.stepfunctions.parser.asl.component.state."
_MAP = _SFN + "exec.state_map."
_TASK = _SFN + "exec.state_task.service."

FIXES = (
    Fix("lambda-function-error-unhandled", "eager", "moto.awslambda.models", "LambdaFunction", "invoke",
        _function_error_unhandled),
    Fix("sns-topic-getatt-topicarn", "eager", "moto.sns.models", "Topic", "get_cfn_attribute",
        _topic_arn_attribute),
    Fix("server-presigned-routing", "eager", "moto.moto_server.werkzeug_app", "DomainDispatcherApplication",
        "infer_service_region_host", _presigned_routing),
    Fix("events-target-event-account", "eager", "moto.events.utils", "EventTemplateParser",
        "DEFAULT_EVENT_INPUT_TEMPLATE", _event_account),
    Fix("events-target-input", "eager", "moto.events.models", "Rule", "send_to_targets", _target_input),
    Fix("sfn-parser-error-codes", "stepfunctions", "moto.stepfunctions.parser.api", None, "InvalidDefinition",
        _parser_error_codes),
    Fix("sfn-statemachine-getatt-arn", "cloudformation", "moto.stepfunctions.models", "StateMachine",
        "get_cfn_attribute", _state_machine_arn_attribute),
    Fix("events-eventbus-ref", "cloudformation", "moto.events.models", "EventBus", "has_cfn_attr",
        _event_bus_ref),
    Fix("cfn-changeset-dependson", "cloudformation", "moto.cloudformation.parsing", "ResourceMap", "update",
        _change_set_depends_on),
    # Step Functions
    Fix("server-dispatch-module-listing", "eager", "moto.backends", None, "list_of_moto_modules",
        _stepfunctions("moto_dispatch.install")),
    Fix("server-dispatch-method-names", "eager", "moto.core.responses", None, "method_names_from_class",
        _stepfunctions("moto_dispatch.install_method_names")),
    Fix("server-xml-name-check", "eager", "xmltodict", None, "_validate_name",
        _stepfunctions("moto_dispatch.install_xml_name_check")),
    Fix("server-serializer-key-lookup", "eager", "moto.core.serialize", "AttributePicker", "get_possible_keys",
        _stepfunctions("moto_dispatch.install_serializer_key_cache")),
    Fix("ddb-update-expression-reparse", "eager", "moto.dynamodb.parsing.expressions", "UpdateExpressionParser",
        "make", _stepfunctions("moto_dispatch.install_update_expression_cache")),
    Fix("sfn-state-input-copy", "stepfunctions", "moto.stepfunctions.parser.asl.eval.states", None, "copy",
        _stepfunctions("moto_dispatch.install_json_copy")),
    Fix("sfn-jsonpath-reparse", "stepfunctions", "moto.stepfunctions.parser.asl.component.common.path.result_path",
        None, "parse", _stepfunctions("moto_dispatch.install_jsonpath_cache")),
    Fix("lambda-executed-version", "eager", "moto.awslambda.responses", "LambdaResponse", "invoke",
        _stepfunctions("stepfunctions_integrations.install_executed_version")),
    Fix("sfn-history-paging", "stepfunctions", "moto.stepfunctions.responses", "StepFunctionResponse",
        "get_execution_history", _stepfunctions("stepfunctions.install_history_pages")),
    Fix("sfn-task-token-answered-once", "stepfunctions", "moto.stepfunctions.parser.models",
        "StepFunctionsParserBackend", "send_task_success", _stepfunctions("stepfunctions.install_task_token_errors")),
    Fix("sfn-sdk-timestamps", "stepfunctions", _TASK + "state_task_service_aws_sdk", "StateTaskServiceAwsSdk",
        "_eval_service_task", _stepfunctions("stepfunctions.install_sdk_timestamps")),
    Fix("sfn-sdk-metadata", "stepfunctions", _TASK + "state_task_service_lambda", "StateTaskServiceLambda",
        "_eval_service_task", _stepfunctions("stepfunctions_integrations.install_sdk_metadata")),
    Fix("sfn-apigateway-invoke", "stepfunctions", _TASK + "state_task_service_api_gateway",
        "StateTaskServiceApiGateway", "_eval_service_task", _stepfunctions("stepfunctions_integrations.install_api_gateway")),
    Fix("sfn-map-item-batcher", "stepfunctions", "moto.stepfunctions.parser.asl.parse.asl_parser",
        "AmazonStateLanguageParser", "parse", _map_item_batcher),
    Fix("sfn-map-tolerated-failures", "stepfunctions",
        _MAP + "iteration.itemprocessor.distributed_item_processor_worker", "DistributedItemProcessorWorker",
        "_eval_job", _stepfunctions("stepfunctions_map.install_map_runs")),
    Fix("sfn-map-s3-listing", "stepfunctions", _MAP + "item_reader.eval.resource_eval_s3", "ResourceEvalS3",
        "_handle_list_objects_v2", _stepfunctions("stepfunctions_map.install_listing_reader")),
    Fix("sfn-map-result-writer", "stepfunctions", _MAP + "result_writer.resource_eval.resource_eval_s3",
        "ResourceEvalS3", "_handle_put_object", _stepfunctions("stepfunctions_map.install_result_writer")),
)


def install(group: str) -> None:
    """Apply the fixes of one extension group, once per process."""
    for fix in FIXES:
        if fix.group != group:
            continue
        with _lock:
            if fix.name in _applied:
                continue
            if not hasattr(fix.target(), fix.attribute):
                raise RuntimeError(f"moto moved {fix.module}.{fix.owner or ''}.{fix.attribute}: the local "
                                   f"cloud's fix {fix.name} needs a new seam (see docs/upstream.md)")
            fix.apply()
            _applied.add(fix.name)


def forget() -> None:
    """Tests: after moto's seams are restored, take away what fixes added and let them apply again."""
    with _lock:
        _applied.clear()
        while _added:
            owner, name = _added.pop()
            if name in owner.__dict__:
                delattr(owner, name)
