"""CloudFormation: the SAM transform, and what the unmodified `sam deploy` needs.

Mends, each at one moto seam (`install()` applies them all):

* `Transform: AWS::Serverless-2016-10-31` - templates are translated with
  aws-sam-translator when moto parses them (`Stack.parse_template`,
  `ChangeSet._parse_template`); `GetTemplate` still returns the original.
* API URLs - `https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/...`
  (or `.amazonaws.com/...`, SAM hello-world's form; or the same spelled as a
  `Fn::Join` of `Ref`s) in the stack's outputs or a function's environment becomes
  `http://127.0.0.1:PORT/_localcloud/execute-api/${Api}/...`, which the local
  cloud serves (see apigateway.py). This is the only change to the template.
* `TemplateURL` - moto read templates from S3 only for a `localhost` host;
  any path-style URL on the local cloud's host works now.
* `Rules` - assertions are evaluated when a stack or change set is created:
  a failing one is refused with its AssertDescription, as AWS does.
* `AWS::ApiGateway::RestApi` with an OpenAPI `Body` (what SAM generates):
  named from `Body.info.title` and the Body imported, so the Deployment finds
  its methods (see apigateway.py).
* `AWS::StepFunctions::StateMachine` with `DefinitionS3Location` and
  `DefinitionSubstitutions` (what `sam deploy` makes of `DefinitionUri`): the
  definition is read from S3 and the substitutions applied; the machine goes to
  the backend that executes it (moto put it in the non-executing one).
* `AWS::SNS::Subscription`, `AWS::ApiGateway::Stage` and
  `AWS::ApiGateway::Account` - resource types moto's CloudFormation skipped -
  are created. A stage's `MethodSettings` (throttling) and `AccessLogSetting`,
  and the account's `CloudWatchRoleArn`, are recorded as AWS shows them
  (GetStage, GetAccount) but not enforced: the local cloud neither throttles
  nor writes access logs, and a logged note says so. (Any other type moto
  cannot create is skipped with moto's own logged "No Moto CloudFormation
  support for ..." note.)
* Change sets: a stack created through a change set (what `sam deploy` does)
  kept the outputs of its empty review stage; they are computed on execution.
  A resource moto cannot update in place keeps its old model (moto stored None).
* A resource that fails during ExecuteChangeSet no longer turns into an
  unparseable 500 / JSON-on-XML error: the stack ends ROLLBACK_COMPLETE (or
  UPDATE_ROLLBACK_COMPLETE) with a `CREATE_FAILED` event naming the resource
  and its reason, which `sam deploy` prints and `workshop deploy` reports. The
  resource blamed is the one that raised, not one made on its way (a Ref or
  GetAtt target created while resolving the failing resource's properties).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from urllib.parse import urlparse

log = logging.getLogger("workshop.localcloud.cloudformation")

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# `${AWS::URLSuffix}` or SAM hello-world's literal `amazonaws.com`, as a Fn::Sub writes it
_EXECUTE_API = re.compile(
    r"https://\$\{([A-Za-z0-9]+)\}\.execute-api\.\$\{AWS::Region\}\.(?:\$\{AWS::URLSuffix\}|amazonaws\.com)"
)
_endpoint = "http://127.0.0.1:4566"


# --- SAM transform -----------------------------------------------------------------


class _NoManagedPolicies:
    """Managed policy names resolve to AWS's ARN pattern (moto has no list of them to load)."""

    def load(self) -> dict:
        return _ManagedPolicyMap()


class _ManagedPolicyMap(dict):
    def get(self, name, default=None):
        return f"arn:aws:iam::aws:policy/{name}"

    def __contains__(self, name):
        return True

    def __getitem__(self, name):
        return self.get(name)


def uses_sam(template: dict) -> bool:
    transform = template.get("Transform") if isinstance(template, dict) else None
    names = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in names


def sam_transform(template: dict, parameters: dict | None = None) -> dict:
    """The plain CloudFormation template aws-sam-translator makes of a SAM template."""
    from samtranslator.translator.transform import transform

    translated = transform(template, dict(parameters or {}), _NoManagedPolicies())
    return json.loads(json.dumps(translated))  # plain dicts / lists only


def _localize_join(parts: list, endpoint: str):
    """["https://", {"Ref": Api}, ".execute-api.", {"Ref": "AWS::Region"}, ".amazonaws.com/Prod"] -> local."""
    out, i = [], 0
    while i < len(parts):
        window = parts[i:i + 5]
        if (len(window) == 5 and window[0] == "https://" and isinstance(window[1], dict) and "Ref" in window[1]
                and window[2] == ".execute-api." and window[3] == {"Ref": "AWS::Region"}
                and isinstance(window[4], str) and window[4].startswith(".amazonaws.com")):
            out += [endpoint.rstrip("/") + "/_localcloud/execute-api/", window[1],
                    window[4][len(".amazonaws.com"):]]
            i += 5
        else:
            out.append(localize_api_urls(parts[i], endpoint))
            i += 1
    return out


def localize_api_urls(node, endpoint: str | None = None):
    """Point execute-api URLs in `Fn::Sub` strings (and the plain `Fn::Join` form) at the local API route."""
    endpoint = endpoint or _endpoint
    base = endpoint.rstrip("/") + "/_localcloud/execute-api/${\\1}"
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if (key == "Fn::Join" and isinstance(value, list) and len(value) == 2 and value[0] == ""
                    and isinstance(value[1], list)):
                out[key] = ["", _localize_join(value[1], endpoint)]
            elif key == "Fn::Sub" and isinstance(value, str):
                out[key] = _EXECUTE_API.sub(base, value)
            elif key == "Fn::Sub" and isinstance(value, list) and value and isinstance(value[0], str):
                out[key] = [_EXECUTE_API.sub(base, value[0])] + [localize_api_urls(v, endpoint) for v in value[1:]]
            else:
                out[key] = localize_api_urls(value, endpoint)
        return out
    if isinstance(node, list):
        return [localize_api_urls(v, endpoint) for v in node]
    return node


def process(template):
    """What the local cloud deploys for a parsed template."""
    if isinstance(template, dict) and uses_sam(template):
        template = sam_transform(template)
    if isinstance(template, dict):
        template = localize_api_urls(template)
    return template


# --- Rules --------------------------------------------------------------------------------


class RuleFailed(Exception):
    pass


def _rule_value(node, context: dict):
    if isinstance(node, dict) and len(node) == 1:
        (key, value), = node.items()
        if key == "Ref":
            return context.get(value)
        if key == "Fn::Equals":
            a, b = (_rule_value(v, context) for v in value)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not _rule_value(value[0], context)
        if key == "Fn::And":
            return all(_rule_value(v, context) for v in value)
        if key == "Fn::Or":
            return any(_rule_value(v, context) for v in value)
        if key == "Fn::Contains":
            haystack, needle = (_rule_value(v, context) for v in value)
            return needle in (haystack or [])
        if key == "Fn::EachMemberEquals":
            items, wanted = (_rule_value(v, context) for v in value)
            return all(str(i) == str(wanted) for i in items or [])
        if key == "Fn::EachMemberIn":
            items, allowed = (_rule_value(v, context) for v in value)
            return all(i in (allowed or []) for i in items or [])
        if key == "Fn::Split":
            return str(_rule_value(value[1], context)).split(value[0])
        return {key: _rule_value(value, context)}
    if isinstance(node, list):
        return [_rule_value(v, context) for v in node]
    return node


def check_rules(template: dict, parameters: dict, region: str, account_id: str) -> None:
    """Raise RuleFailed with the AssertDescription of the first failing assertion."""
    rules = template.get("Rules") if isinstance(template, dict) else None
    if not isinstance(rules, dict):
        return
    context = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::Partition": "aws",
               "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "", "AWS::NoValue": None}
    for name, spec in (template.get("Parameters") or {}).items():
        if isinstance(spec, dict) and "Default" in spec:
            context[name] = spec["Default"]
    context.update(parameters or {})
    for name, rule in rules.items():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], context):
            continue
        for assertion in rule.get("Assertions", []):
            if not _rule_value(assertion.get("Assert"), context):
                raise RuleFailed(assertion.get("AssertDescription")
                                 or f"Template error: rule {name} failed")


def _parse_text(text):
    from moto.cloudformation.models import Stack

    return _original_parse(text) if _original_parse else Stack.parse_template(text)


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
        return process(_original_parse(template))

    parse_template._localcloud = True
    models.Stack.parse_template = staticmethod(parse_template)

    def change_set_parse(self):
        self.template_dict = process(_original_parse(self.template))

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


def _define_models():
    from moto.apigateway.models import apigateway_backends
    from moto.core.common_models import CloudFormationModel
    from moto.sns.models import sns_backends

    class SnsSubscription(CloudFormationModel):
        """AWS::SNS::Subscription (no confirmation needed locally)."""

        def __init__(self, subscription):
            self.subscription = subscription

        @property
        def physical_resource_id(self):
            return self.subscription.arn

        @staticmethod
        def cloudformation_type():
            return "AWS::SNS::Subscription"

        @staticmethod
        def cloudformation_name_type():
            return ""

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            p = cloudformation_json["Properties"]
            backend = sns_backends[account_id][region_name]
            subscription = backend.subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
            for attribute in ("FilterPolicy", "RawMessageDelivery", "FilterPolicyScope"):
                if attribute in p:
                    value = p[attribute]
                    value = json.dumps(value) if isinstance(value, dict) else str(value).lower() \
                        if isinstance(value, bool) else str(value)
                    backend.set_subscription_attributes(subscription.arn, attribute, value)
            return cls(subscription)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                            account_id, region_name):
            sns_backends[account_id][region_name].unsubscribe(original_resource.subscription.arn)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                       region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            sns_backends[account_id][region_name].unsubscribe(resource_name)

    class ReplacedOnUpdate:
        """An update makes the resource anew; a delete leaves the service's state as it is.

        (A mixin: moto finds models among CloudFormationModel's direct subclasses.)"""

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                            account_id, region_name):
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                       region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            pass

    class ApiGatewayStage(ReplacedOnUpdate, CloudFormationModel):
        """AWS::ApiGateway::Stage (SAM makes the stage a resource of its own)."""

        def __init__(self, stage, api_id):
            self.stage, self.api_id = stage, api_id

        @property
        def physical_resource_id(self):
            return self.stage.name

        @staticmethod
        def cloudformation_type():
            return "AWS::ApiGateway::Stage"

        @staticmethod
        def cloudformation_name_type():
            return "StageName"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            p = cloudformation_json["Properties"]
            backend = apigateway_backends[account_id][region_name]
            api = backend.get_rest_api(p["RestApiId"])
            name = p.get("StageName") or resource_name
            api.stages.pop(name, None)  # an update replaces the stage
            # moto's Deployment has no physical id: a Ref to it is the model itself
            deployment = p.get("DeploymentId")
            stage = backend.create_stage(p["RestApiId"], name, getattr(deployment, "id", deployment),
                                         variables=p.get("Variables") or {},
                                         description=p.get("Description", ""))
            operations = _stage_operations(p)
            if operations:
                stage.apply_operations(operations)
                log.warning("stage %s of API %s: throttling and access logging recorded as deployed (GetStage "
                            "shows them) but not enforced: the local cloud neither throttles nor writes access logs",
                            name, p["RestApiId"])
            return cls(stage, p["RestApiId"])

    class ApiGatewayAccount(ReplacedOnUpdate, CloudFormationModel):
        """AWS::ApiGateway::Account: the region's CloudWatch role for API logs (GetAccount shows it).

        As on AWS, deleting the resource leaves the account's setting as it is."""

        def __init__(self, resource_name):
            self.resource_name = resource_name

        @property
        def physical_resource_id(self):
            return self.resource_name

        @staticmethod
        def cloudformation_type():
            return "AWS::ApiGateway::Account"

        @staticmethod
        def cloudformation_name_type():
            return ""

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            role_arn = cloudformation_json["Properties"].get("CloudWatchRoleArn")
            if role_arn:
                apigateway_backends[account_id][region_name].update_account(
                    [{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}])
                log.warning("API Gateway account setting: CloudWatch role %s recorded; the local cloud writes "
                            "no API Gateway logs", role_arn)
            return cls(resource_name)

    return SnsSubscription, ApiGatewayStage, ApiGatewayAccount


# CloudFormation's MethodSettings fields -> the stage's patch paths (UpdateStage)
_METHOD_SETTINGS = {
    "ThrottlingRateLimit": "throttling/rateLimit", "ThrottlingBurstLimit": "throttling/burstLimit",
    "LoggingLevel": "logging/loglevel", "DataTraceEnabled": "logging/dataTrace",
    "MetricsEnabled": "metrics/enabled", "CachingEnabled": "caching/enabled",
    "CacheTtlInSeconds": "caching/ttlInSeconds", "CacheDataEncrypted": "caching/dataEncrypted",
}


def _patch_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _stage_operations(properties: dict) -> list[dict]:
    """A stage's MethodSettings and AccessLogSetting as UpdateStage patch operations."""
    operations = []
    for setting in properties.get("MethodSettings") or []:
        resource_path = setting.get("ResourcePath", "/*")
        # the patch path names a resource "*" or its path with "/" escaped as "~1"
        resource = "*" if resource_path == "/*" else resource_path.replace("/", "~1")
        for field, path in _METHOD_SETTINGS.items():
            if field in setting:
                operations.append({"op": "replace", "path": f"/{resource}/{setting.get('HttpMethod', '*')}/{path}",
                                   "value": _patch_value(setting[field])})
    access_log = properties.get("AccessLogSetting") or {}
    for field, key in (("DestinationArn", "destinationArn"), ("Format", "format")):
        if access_log.get(field):
            operations.append({"op": "replace", "path": f"/accessLogSettings/{key}", "value": access_log[field]})
    return operations


def install_resource_types() -> None:
    from moto.cloudformation import parsing
    from moto.stepfunctions import models as sfn_models

    from . import stepfunctions

    if getattr(sfn_models.StateMachine.create_from_cloudformation_json, "_localcloud", False):
        return
    _define_models()
    for cached in (parsing.get_model_list, parsing.get_model_map, getattr(parsing, "get_name_type_map", None)):
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()

    # State machines go to the backend that executes them, with their definition resolved.
    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.stepfunctions.utils import cfn_to_api_tags

        p = cloudformation_json["Properties"]
        backend = stepfunctions.backend(account_id, region_name)
        return backend.create_state_machine(
            p.get("StateMachineName", resource_name), _state_machine_definition(p, account_id),
            p.get("RoleArn", ""), tags=cfn_to_api_tags(p.get("Tags", [])),
            sm_type=p.get("StateMachineType", "STANDARD"))

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        p = cloudformation_json.get("Properties", {})
        backend = stepfunctions.backend(account_id, region_name)
        name = p.get("StateMachineName", original_resource.name)
        if name != original_resource.name:
            created = create(cls, name, cloudformation_json, account_id, region_name)
            backend.delete_state_machine(original_resource.arn)
            return created
        return backend.update_state_machine(original_resource.arn,
                                            definition=_state_machine_definition(p, account_id),
                                            role_arn=p.get("RoleArn"))

    def delete(cls, resource_name, cloudformation_json, account_id, region_name):
        stepfunctions.backend(account_id, region_name).delete_state_machine(resource_name)

    create._localcloud = True
    sfn_models.StateMachine.create_from_cloudformation_json = classmethod(create)
    sfn_models.StateMachine.update_from_cloudformation_json = classmethod(update)
    sfn_models.StateMachine.delete_from_cloudformation_json = classmethod(delete)
