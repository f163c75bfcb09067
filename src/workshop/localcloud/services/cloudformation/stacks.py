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
  and `PointInTimeRecoverySpecification`, and `AWS::S3::Bucket`'s
  `VersioningConfiguration` (SAM's artifact bucket is versioned), which moto
  ignored, are applied.
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
import re
import threading
from urllib.parse import urlparse

from ...server.address import DEFAULT_PORT, endpoint_for
from .templates import IncludeFailed, RuleFailed, check_rules, process

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
        try:
            return process(_original_parse(template), _endpoint, read_location)
        except IncludeFailed as exc:  # what CloudFormation answers for a snippet it cannot read
            raise ValidationError(message=f"Transform AWS::Include failed with: {exc}") from None

    parse_template._localcloud = True
    models.Stack.parse_template = staticmethod(parse_template)

    def change_set_parse(self):
        try:
            self.template_dict = process(_original_parse(self.template), _endpoint, read_location)
        except IncludeFailed as exc:
            raise ValidationError(message=f"Transform AWS::Include failed with: {exc}") from None

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
        made = original_create_change_set(self, stack_name, change_set_name, template, parameters, *args, **kwargs)
        _fail_when_empty(self.change_sets.get(made[0]))
        return made

    backend_cls.create_stack = create_stack
    backend_cls.create_change_set = create_change_set
    install_failure_handling()
    install_resource_types()
    from . import acting

    acting.install()  # after the failure handling: a refused resource fails the stack as any failure does


def read_location(location: str) -> str:
    """The text of an S3 object named as `s3://bucket/key` or an S3 HTTPS URL (AWS::Include's Location)."""
    from moto.s3.models import s3_backends

    from ...server.address import ACCOUNT_ID

    parts = urlparse(location)
    if parts.scheme == "s3":
        bucket, key = parts.netloc, parts.path.lstrip("/")
    elif ".s3" in (parts.hostname or "") and not (parts.hostname or "").startswith("s3"):
        bucket, key = (parts.hostname or "").split(".s3", 1)[0], parts.path.lstrip("/")
    else:
        bucket, _, key = parts.path.lstrip("/").partition("/")
    try:
        return s3_backends[ACCOUNT_ID]["aws"].get_object(bucket, key).value.decode("utf-8")
    except Exception:  # moto's MissingBucket / MissingKey
        raise IncludeFailed(f"S3 object {location} does not exist or cannot be read") from None


# --- an update that changes nothing: FAILED, as CloudFormation answers (`sam deploy`: "No changes to deploy") --

NO_CHANGES = ("The submitted information didn't contain changes. Submit different information to create a "
              "change set.")


def _parameter_values(parameters) -> dict:
    return {key: ",".join(map(str, value)) if isinstance(value, list) else str(value)
            for key, value in (parameters or {}).items()}


def _fail_when_empty(change_set) -> None:
    """An UPDATE change set with no resource change and the stack's parameters is FAILED with CloudFormation's
    reason. moto means to do the same, but compares the raw template and parameters, which the SAM transform and
    sam's UsePreviousValue make differ; the change set then went to CREATE_COMPLETE with nothing in it."""
    if change_set is None or change_set.change_set_type != "UPDATE" or change_set.status == "FAILED":
        return
    if change_set.changes:
        return
    resource_map = getattr(change_set.stack, "resource_map", None)
    in_force = _parameter_values(getattr(resource_map, "resolved_parameters", None) or change_set.stack.parameters)
    asked = _parameter_values(change_set.parameters)
    if any(in_force.get(key) != value for key, value in asked.items()):
        return
    change_set.status, change_set.execution_status, change_set.status_reason = "FAILED", "UNAVAILABLE", NO_CHANGES


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
        from . import acting

        named = [s for s in self.stacks.values() if name_or_stack_id in (s.stack_id, s.name)]
        outer = acting.deleting(named)
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
        finally:
            acting.done_deleting(outer)

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
    return definition_as_json(definition)


def _random_suffix() -> str:
    import secrets
    import string

    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))


def definition_as_json(definition: str) -> str:
    """A definition file in YAML (`*.asl.yaml`, which CloudFormation and SAM accept) as JSON text; JSON as it is."""
    try:
        json.loads(definition)
        return definition
    except ValueError:
        pass
    import yaml

    try:
        document = yaml.safe_load(definition)
    except yaml.YAMLError:
        return definition  # neither: the definition's own error says what is wrong
    return json.dumps(document) if isinstance(document, dict) else definition


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


def install_s3_bucket_versioning() -> None:
    """AWS::S3::Bucket's VersioningConfiguration (moto ignored it): SAM's own artifact bucket is versioned, as on
    AWS, so a delete without a version id leaves the object behind a delete marker there too."""
    from moto.s3.models import FakeBucket, s3_backends

    original = FakeBucket.create_from_cloudformation_json.__func__
    if getattr(original, "_localcloud_versioning", False):
        return

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        status = ((cloudformation_json.get("Properties") or {}).get("VersioningConfiguration") or {}).get("Status")
        if status in ("Enabled", "Suspended"):
            s3_backends[account_id][bucket.partition].put_bucket_versioning(bucket.name, status)
        return bucket

    create._localcloud_versioning = True  # each patch of this method marks itself: both apply
    FakeBucket.create_from_cloudformation_json = classmethod(create)


def install_resource_types() -> None:
    from moto.cloudformation import parsing
    from moto.stepfunctions import models as sfn_models
    from moto.stepfunctions.responses import get_backend  # the backend that executes them

    if getattr(sfn_models.StateMachine.create_from_cloudformation_json, "_localcloud", False):
        return
    from . import models  # noqa: F401 -- defining its classes registers them with moto

    install_dynamodb_table_properties()
    install_s3_bucket_versioning()
    for cached in (parsing.get_model_list, parsing.get_model_map, getattr(parsing, "get_name_type_map", None)):
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()

    # State machines go to the backend that executes them, with their definition resolved.
    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.stepfunctions.utils import cfn_to_api_tags

        p = cloudformation_json["Properties"]
        backend = get_backend(account_id, region_name)
        # CloudFormation names an unnamed state machine {LogicalId}-{12 random characters}
        name = p.get("StateMachineName") or (f"{kwargs['LogicalId']}-{_random_suffix()}" if kwargs.get("LogicalId")
                                             else resource_name)
        return backend.create_state_machine(
            name, _state_machine_definition(p, account_id),
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


def install_role_managed_policies() -> None:
    """`AWS::IAM::Role`'s managed policies attached through IAM (`iam-role-managed-policy-arns`).

    moto created the role with its inline `Policies` and dropped the managed
    ones, so a SAM function's role lacked `AWSLambdaBasicExecutionRole` (and
    whatever its `Policies` named by ARN). Each is attached through IAM, as
    CloudFormation does (and so recorded by CloudTrail as its AttachRolePolicy);
    one IAM does not hold fails the resource, as on AWS. Deleting the role
    detaches them first, as CloudFormation does.

    Its inline policies' documents become JSON text in `put_policy`
    (`iam-cfn-inline-policy-json`), for users and groups too.
    """
    from moto.iam.models import Role, iam_backends
    from moto.utilities.utils import get_partition

    original = Role.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        role = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        backend = iam_backends[account_id][get_partition(region_name)]
        for policy_arn in (cloudformation_json.get("Properties") or {}).get("ManagedPolicyArns") or []:
            backend.attach_role_policy(policy_arn=policy_arn, role_name=role.name)
        return role

    create_from_cloudformation_json.__wrapped__ = original
    Role.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)

    deleting = Role.delete_from_cloudformation_json.__func__

    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        # moto deletes the role with its managed policies still attached, which IAM refuses (DeleteConflict):
        # CloudFormation detaches them first
        backend = iam_backends[account_id][get_partition(region_name)]
        role = next((r for r in backend.roles.values() if r.name == resource_name), None)
        for policy_arn in list(role.managed_policies) if role is not None else []:
            backend.detach_role_policy(policy_arn=policy_arn, role_name=resource_name)
        return deleting(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    delete_from_cloudformation_json.__wrapped__ = deleting
    Role.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)


def install_inline_policies_as_json() -> None:
    """An inline policy a stack makes reads back as JSON text (`iam-cfn-inline-policy-json`).

    CloudFormation hands moto a role's, user's or group's `Policies[].PolicyDocument` as a parsed
    object, and moto kept the object: Get{Role,User,Group}Policy then answered its Python repr
    (single quotes), which no JSON reader takes. IAM keeps documents as JSON text. Patch point:
    `put_policy` of moto's `Role`, `User` and `Group`, wrapped: an object becomes its JSON text."""
    import json

    from moto.iam import models

    for owner in ("Role", "User", "Group"):
        cls = getattr(models, owner)
        original = cls.put_policy
        if getattr(original, "_json_text", False):
            continue

        def put_policy(self, policy_name, policy_json, *args, __original=original, **kwargs):
            if isinstance(policy_json, (dict, list)):
                policy_json = json.dumps(policy_json)
            return __original(self, policy_name, policy_json, *args, **kwargs)

        put_policy.__wrapped__ = original
        put_policy._json_text = True
        put_policy._localcloud = getattr(original, "_localcloud", False)
        cls.put_policy = put_policy


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


def references(value) -> set:
    """The logical ids a resource's JSON names: `Ref`, `Fn::GetAtt`, `${Name}` / `${Name.Attr}` in `Fn::Sub`,
    and `DependsOn` (pseudo parameters and parameters included: the caller keeps the resources)."""
    found: set = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(target, str):
                    found.add(target.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(text, str):
                    found.update(m.split(".", 1)[0] for m in re.findall(r"\$\{(?!!)([^}]+)\}", text))
                if isinstance(inner, list) and len(inner) > 1:
                    found |= references(inner[1])
            elif key == "DependsOn":
                found.update([inner] if isinstance(inner, str) else [d for d in inner or [] if isinstance(d, str)])
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


def deletion_order(resources: dict) -> list:
    """The logical ids of `resources` (logical id -> resource JSON) in the order CloudFormation deletes them:
    a resource after every resource that names it ("reverse order of creation")."""
    needs = {name: references(resource) & set(resources) - {name} for name, resource in resources.items()}
    created = dependency_order({name: {"DependsOn": sorted(needed)} for name, needed in needs.items()})
    return list(reversed(list(created)))


def install_delete_dependency_order() -> None:
    """A stack's resources are deleted each after those that name it (`cfn-delete-dependency-order`).
    Patch point: `ResourceMap.delete`, its retry of what failed kept."""
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.delete

    def delete(self) -> None:
        remaining = [name for name in deletion_order(self._resource_json_map)
                     if self._resource_json_map[name].get("DeletionPolicy") != "Retain"]
        last_exception = None
        while remaining:
            failed = []
            for name in remaining:
                parsed = self._parsed_resources.get(name)
                try:
                    if not isinstance(parsed, str) and parsed is not None:
                        self._delete_resource(parsed, self._resource_json_map[parsed.logical_resource_id])
                        self._parsed_resources.pop(parsed.logical_resource_id)
                except Exception as exc:  # moto's own rule: what fails is tried again while others go
                    last_exception = exc
                    failed.append(name)
            if len(failed) == len(remaining):
                raise last_exception
            remaining = failed

    delete.__wrapped__ = original
    ResourceMap.delete = delete


def install_bucket_eventbridge_notifications() -> None:
    """`AWS::S3::Bucket`'s `NotificationConfiguration.EventBridgeConfiguration` is applied
    (`s3-bucket-eventbridge-notifications`): moto's bucket model ignored the whole
    NotificationConfiguration, so "Object Created" events never reached EventBridge (set through
    PutBucketNotificationConfiguration they did). Patch point: `FakeBucket.create_from_cloudformation_json`."""
    from moto.s3.models import FakeBucket

    original = FakeBucket.create_from_cloudformation_json.__func__
    if getattr(original, "_localcloud_eventbridge", False):
        return

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        notifications = (cloudformation_json.get("Properties") or {}).get("NotificationConfiguration") or {}
        bridge = notifications.get("EventBridgeConfiguration") or {}
        if str(bridge.get("EventBridgeEnabled", "true")).lower() == "true" and "EventBridgeConfiguration" in notifications:
            bucket.set_notification_configuration({"EventBridgeConfiguration": {}})
        return bucket

    create._localcloud_eventbridge = True  # each patch of this method marks itself: both apply
    FakeBucket.create_from_cloudformation_json = classmethod(create)
