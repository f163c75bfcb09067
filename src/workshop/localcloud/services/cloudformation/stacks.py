"""CloudFormation: what the unmodified `sam deploy` needs of moto's, each at one moto seam.

`install(endpoint)` (the server's wiring calls it with the first
CloudFormation request) applies them all:

* templates are processed (templates.py: the SAM transform, local API URLs)
  when moto parses them (`Stack.parse_template`, `ChangeSet._parse_template`);
  `GetTemplate` still returns the original.
* `TemplateURL` - moto read templates from S3 only for a `localhost` host;
  any path-style URL on the local cloud's host works now.
* `Rules` - assertions are evaluated when a stack or change set is created:
  a failing one is refused with its AssertDescription, as AWS does.
* `AWS::ApiGateway::RestApi` with an OpenAPI `Body` (what SAM generates):
  named from `Body.info.title` and the Body imported, so the Deployment finds
  its methods (services/apigateway.py, installed with this group by the wiring).
* `AWS::StepFunctions::StateMachine` with `DefinitionS3Location` and
  `DefinitionSubstitutions` (what `sam deploy` makes of `DefinitionUri`): the
  definition is read from S3 and the substitutions applied; the machine goes to
  the backend that executes it (moto put it in the non-executing one).
* resource types moto's CloudFormation skipped are created (models.py,
  imported here on first use); `AWS::DynamoDB::Table`'s `SSESpecification`
  and `PointInTimeRecoverySpecification`, which moto ignored, are applied.
  (Any other type moto cannot create is skipped with moto's own logged "No
  Moto CloudFormation support for ..." note.)
* Change sets: a stack created through a change set (what `sam deploy` does)
  kept the outputs of its empty review stage; they are computed on execution.
  A resource moto cannot update in place keeps its old model (moto stored None).
* CloudFormation acts as its caller or its service role: each resource it
  creates, updates or deletes is authorized as AWS would (acting.py).
* A resource that fails during ExecuteChangeSet no longer turns into an
  unparseable 500 / JSON-on-XML error: the stack ends ROLLBACK_COMPLETE (or
  UPDATE_ROLLBACK_COMPLETE) with a `CREATE_FAILED` event naming the resource
  and its reason, which `sam deploy` prints and `workshop deploy` reports. The
  resource blamed is the one that raised, not one made on its way (a Ref or
  GetAtt target created while resolving the failing resource's properties).

Below them, the mends of moto's CloudFormation bugs registered in seams.py
(`sns-topic-getatt-topicarn`, `sfn-statemachine-getatt-arn`,
`events-eventbus-ref`, `cfn-changeset-dependson`; docs/upstream.md).
"""

from __future__ import annotations

import json
import logging
import threading
from urllib.parse import urlparse

from ...server.address import DEFAULT_PORT, endpoint_for
from .templates import RuleFailed, check_rules, process

log = logging.getLogger("workshop.localcloud.cloudformation")

_endpoint = endpoint_for(DEFAULT_PORT)


# --- patches -------------------------------------------------------------------------------

_original_parse = None


def install(endpoint: str) -> None:
    global _endpoint, _original_parse
    _endpoint = endpoint
    from moto.cloudformation import models, responses
    from moto.cloudformation.exceptions import ValidationError

    if getattr(models.Stack.parse_template, "_localcloud", False):
        return
    _original_parse = models.Stack.parse_template

    # the transform, when moto parses a stack's or change set's template
    def parse_template(template):
        return process(_original_parse(template), _endpoint)

    parse_template._localcloud = True
    models.Stack.parse_template = staticmethod(parse_template)

    def change_set_parse(self):
        self.template_dict = process(_original_parse(self.template), _endpoint)

    models.ChangeSet._parse_template = change_set_parse

    # TemplateURL on the local cloud's host (127.0.0.1:PORT/bucket/key)
    original_s3 = responses.get_stack_from_s3_url

    def get_stack_from_s3_url(template_url, account_id, partition):
        parts = urlparse(template_url)
        host = parts.hostname or ""
        if host in ("127.0.0.1", "localhost") or host == urlparse(_endpoint).hostname:
            from moto.s3.models import s3_backends

            bucket, key = parts.path.lstrip("/").split("/", 1)
            return s3_backends[account_id][partition].get_object(bucket, key).value.decode("utf-8")
        return original_s3(template_url, account_id, partition)

    responses.get_stack_from_s3_url = get_stack_from_s3_url

    # Rules, before a stack or change set is made
    backend_cls = models.CloudFormationBackend
    original_create_stack = backend_cls.create_stack
    original_create_change_set = backend_cls.create_change_set

    def _rules(self, template, parameters):
        try:
            check_rules(_original_parse(template), parameters, self.region_name, self.account_id)
        except RuleFailed as exc:
            raise ValidationError(message=str(exc)) from None

    def create_stack(self, name, template, parameters, *args, **kwargs):
        _rules(self, template, parameters)
        return original_create_stack(self, name, template, parameters, *args, **kwargs)

    def create_change_set(self, stack_name, change_set_name, template, parameters, *args, **kwargs):
        _rules(self, template, parameters)
        return original_create_change_set(self, stack_name, change_set_name, template, parameters, *args, **kwargs)

    backend_cls.create_stack = create_stack
    backend_cls.create_change_set = create_change_set
    install_failure_handling()
    install_resource_types()
    from . import acting

    acting.install()  # after the failure handling: a refused resource fails the stack as any failure does


# --- failed deployments: a failed stack with the failing resource, not a garbled error ----------

_current = threading.local()


def _error_text(exc: Exception) -> str:
    """The message of any moto error (some services' errors carry JSON bodies)."""
    message = getattr(exc, "message", None) or getattr(exc, "description", None) or str(exc)
    try:
        body = json.loads(message)
        message = body.get("message") or body.get("Message") or message
    except (TypeError, ValueError):
        pass
    code = getattr(exc, "error_type", None) or getattr(exc, "code", None) or type(exc).__name__
    return f"{message} (Service error: {code})" if code and not isinstance(code, int) else str(message)


def install_failure_handling() -> None:
    from moto.cloudformation import models, parsing

    if getattr(models.CloudFormationBackend.execute_change_set, "_localcloud", False):
        return
    for name in ("parse_and_create_resource", "parse_and_update_resource"):
        original = getattr(parsing, name)

        def tracked(logical_id, resource_json, resources_map, *args, __original=original, __name=name, **kwargs):
            _current.resource = (logical_id, resource_json.get("Type", ""))
            try:
                result = __original(logical_id, resource_json, resources_map, *args, **kwargs)
            except Exception as exc:
                # A resource made on the way (a Ref / GetAtt target) re-raises the same error
                # outwards: the innermost resource is the one that failed.
                failed = getattr(_current, "failed", None)
                if failed is None or failed[0] is not exc:
                    _current.failed = (exc, logical_id, resource_json.get("Type", ""))
                raise
            if result is None and __name == "parse_and_update_resource":
                # moto cannot update this type in place: keep the resource (moto stored None)
                return resources_map._parsed_resources.get(logical_id)
            return result

        setattr(parsing, name, tracked)

    original_execute = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name, stack_name=None):
        _current.resource = _current.failed = None
        try:
            result = original_execute(self, change_set_name, stack_name)
            change_set = self.change_sets.get(change_set_name) or next(
                (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None)
            if change_set is not None:  # moto kept the outputs of the empty review stack
                stack = self.stacks[change_set.stack_id]
                stack._parse_template()
                stack.description = stack.template_dict.get("Description")
                stack.output_map = stack._create_output_map()
            return result
        except Exception as exc:  # as AWS: the call succeeds, the stack fails and says why
            change_set = self.change_sets.get(change_set_name) or next(
                (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None)
            if change_set is None:
                raise
            stack = self.stacks[change_set.stack_id]
            failed = getattr(_current, "failed", None)
            blamed = failed[1:] if failed else getattr(_current, "resource", None)
            logical_id, resource_type = blamed or (stack.name, "AWS::CloudFormation::Stack")
            reason = _error_text(exc)
            log.warning("stack %s: %s (%s) failed: %s", stack.name, logical_id, resource_type, reason)
            creating = change_set.change_set_type == "CREATE"
            stack.events.append(models.Event(
                stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                physical_resource_id="", resource_type=resource_type,
                resource_status="CREATE_FAILED" if creating else "UPDATE_FAILED",
                resource_status_reason=reason, resource_properties=None))
            final = "ROLLBACK_COMPLETE" if creating else "UPDATE_ROLLBACK_COMPLETE"
            stack._add_stack_event("ROLLBACK_IN_PROGRESS" if creating else "UPDATE_ROLLBACK_IN_PROGRESS",
                                   resource_status_reason=f"The following resource(s) failed: [{logical_id}]. {reason}")
            stack._add_stack_event(final)
            stack.status = final
            change_set.execution_status = "EXECUTE_FAILED"
            change_set.status_reason = reason
            return None

    execute_change_set._localcloud = True
    models.CloudFormationBackend.execute_change_set = execute_change_set

    original_delete_stack = models.CloudFormationBackend.delete_stack

    def delete_stack(self, name_or_stack_id):
        named = [s for s in self.stacks.values() if name_or_stack_id in (s.stack_id, s.name)]
        try:
            return original_delete_stack(self, name_or_stack_id)
        except Exception as exc:  # as AWS: the call succeeds, the stack stays DELETE_FAILED and says why
            if not named:
                raise
            reason = _error_text(exc)
            for stack in named:
                if stack.stack_id in self.deleted_stacks:
                    continue
                self.stacks[stack.stack_id] = stack  # moto took it out before deleting its resources
                log.warning("stack %s: delete failed: %s", stack.name, reason)
                stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
                stack.status = "DELETE_FAILED"
            return None

    delete_stack._localcloud = True
    models.CloudFormationBackend.delete_stack = delete_stack


# --- resource types moto's CloudFormation lacks or puts in the wrong place --------------------


def _state_machine_definition(properties: dict, account_id: str) -> str:
    """DefinitionString / Definition / DefinitionS3Location, with DefinitionSubstitutions applied."""
    if properties.get("DefinitionString"):
        definition = properties["DefinitionString"]
    elif properties.get("Definition"):
        definition = json.dumps(properties["Definition"])
    elif properties.get("DefinitionS3Location"):
        from moto.s3.models import s3_backends

        location = properties["DefinitionS3Location"]
        definition = s3_backends[account_id]["aws"].get_object(
            location["Bucket"], location["Key"]).value.decode("utf-8")
    else:
        definition = ""
    for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        definition = definition.replace("${" + name + "}", text)
    return definition


def install_dynamodb_table_properties() -> None:
    """AWS::DynamoDB::Table's SSESpecification (CloudFormation spells it SSEEnabled, the API Enabled: moto
    read only the API's) and PointInTimeRecoverySpecification (moto ignored it): DescribeTable and
    DescribeContinuousBackups show them as on AWS."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.table import Table

    original = Table.create_from_cloudformation_json.__func__
    if getattr(original, "_localcloud", False):
        return

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = dict(cloudformation_json.get("Properties") or {})
        sse = properties.get("SSESpecification")
        if isinstance(sse, dict) and "SSEEnabled" in sse:
            properties["SSESpecification"] = {
                "Enabled": str(sse["SSEEnabled"]).lower() == "true",
                **{k: v for k, v in sse.items() if k in ("SSEType", "KMSMasterKeyId")}}
        table = original(cls, resource_name, {**cloudformation_json, "Properties": properties}, account_id,
                         region_name, **kwargs)
        recovery = properties.get("PointInTimeRecoverySpecification") or {}
        if str(recovery.get("PointInTimeRecoveryEnabled")).lower() == "true":
            dynamodb_backends[account_id][region_name].update_continuous_backups(
                table.name, {"PointInTimeRecoveryEnabled": True, **{
                    k: v for k, v in recovery.items() if k == "RecoveryPeriodInDays"}})
        return table

    create._localcloud = True
    Table.create_from_cloudformation_json = classmethod(create)


def install_resource_types() -> None:
    from moto.cloudformation import parsing
    from moto.stepfunctions import models as sfn_models
    from moto.stepfunctions.responses import get_backend  # the backend that executes them

    if getattr(sfn_models.StateMachine.create_from_cloudformation_json, "_localcloud", False):
        return
    from . import models  # noqa: F401 -- defining its classes registers them with moto

    install_dynamodb_table_properties()
    for cached in (parsing.get_model_list, parsing.get_model_map, getattr(parsing, "get_name_type_map", None)):
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()

    # State machines go to the backend that executes them, with their definition resolved.
    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.stepfunctions.utils import cfn_to_api_tags

        p = cloudformation_json["Properties"]
        backend = get_backend(account_id, region_name)
        return backend.create_state_machine(
            p.get("StateMachineName", resource_name), _state_machine_definition(p, account_id),
            p.get("RoleArn", ""), tags=cfn_to_api_tags(p.get("Tags", [])),
            sm_type=p.get("StateMachineType", "STANDARD"))

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        p = cloudformation_json.get("Properties", {})
        backend = get_backend(account_id, region_name)
        name = p.get("StateMachineName", original_resource.name)
        if name != original_resource.name:
            created = create(cls, name, cloudformation_json, account_id, region_name)
            backend.delete_state_machine(original_resource.arn)
            return created
        return backend.update_state_machine(original_resource.arn,
                                            definition=_state_machine_definition(p, account_id),
                                            role_arn=p.get("RoleArn"))

    def delete(cls, resource_name, cloudformation_json, account_id, region_name):
        get_backend(account_id, region_name).delete_state_machine(resource_name)

    create._localcloud = True
    sfn_models.StateMachine.create_from_cloudformation_json = classmethod(create)
    sfn_models.StateMachine.update_from_cloudformation_json = classmethod(update)
    sfn_models.StateMachine.delete_from_cloudformation_json = classmethod(delete)


# --- mends of moto's CloudFormation bugs ----------------------------------------------


def add_getatt(cls, name: str, value_of) -> None:
    """Teach a CloudFormation model one more `Fn::GetAtt` attribute."""
    original_has, original_get = cls.has_cfn_attr, cls.get_cfn_attribute

    def has_cfn_attr(klass, attr: str) -> bool:
        return attr == name or original_has(attr)

    def get_cfn_attribute(self, attribute_name: str):
        return value_of(self) if attribute_name == name else original_get(self, attribute_name)

    cls.has_cfn_attr = classmethod(has_cfn_attr)
    cls.get_cfn_attribute = get_cfn_attribute


def install_topic_arn_attribute() -> None:
    """`Fn::GetAtt Topic.TopicArn` (`sns-topic-getatt-topicarn`): moto knew only TopicName."""
    from moto.sns.models import Topic

    add_getatt(Topic, "TopicArn", lambda topic: topic.arn)


def install_state_machine_arn_attribute() -> None:
    """`Fn::GetAtt StateMachine.Arn` (`sfn-statemachine-getatt-arn`): moto knew Name, DefinitionString,
    RoleArn, StateMachineName and Tags."""
    from moto.stepfunctions.models import StateMachine

    add_getatt(StateMachine, "Arn", lambda machine: machine.arn)


def install_event_bus_ref() -> list:
    """`Ref` to an `AWS::Events::EventBus` is the bus's name (`events-eventbus-ref`); moto gave the model
    object's repr (the bus had no physical id). Returns the attribute added."""
    from moto.events.models import EventBus

    if "physical_resource_id" not in EventBus.__dict__:
        def physical_resource_id(self) -> str:
            return self.name

        physical_resource_id._localcloud_fix = "events-eventbus-ref"
        EventBus.physical_resource_id = property(physical_resource_id)
        return [(EventBus, "physical_resource_id")]
    return []


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


def install_change_set_depends_on() -> None:
    """A change set creates new resources after what they name in `DependsOn`, as CreateStack does
    (`cfn-changeset-dependson`). Patch point: `ResourceMap.update`."""
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.update

    def update(self, template, parameters=None):
        if isinstance(template, dict) and isinstance(template.get("Resources"), dict):
            template = {**template, "Resources": dependency_order(template["Resources"])}
        return original(self, template, parameters)

    update.__wrapped__ = original
    ResourceMap.update = update
