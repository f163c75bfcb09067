"""CloudFormation resource types moto's CloudFormation skips, as models it creates.

moto finds its resource models among `CloudFormationModel`'s direct
subclasses (`moto.cloudformation.parsing.get_model_map`), so defining these
classes is what registers them: this module is imported when CloudFormation
is first used (`stacks.install_resource_types`), never at start-up, because
it loads moto's API Gateway, SNS and Secrets Manager models.

* `AWS::SNS::Subscription` (no confirmation needed locally);
* `AWS::ApiGateway::Stage` (SAM makes the stage a resource of its own) with
  its `MethodSettings` and `AccessLogSetting`, and `AWS::ApiGateway::Account`
  with its `CloudWatchRoleArn`: recorded as AWS shows them (GetStage,
  GetAccount) but not enforced, and a logged note says so;
* `AWS::StepFunctions::Activity` (Ref its ARN, GetAtt Name), whose tasks
  workers take with GetActivityTask (services/stepfunctions/activities.py);
* `AWS::Lambda::Url`: the function's URL configuration, `Fn::GetAtt .FunctionUrl`
  the local route that serves it (services/awslambda/function_urls.py);
* `AWS::SecretsManager::Secret` (its `GenerateSecretString` made here),
  `AWS::SecretsManager::ResourcePolicy` and `AWS::SNS::TopicPolicy`: policies
  are stored as AWS shows them (GetResourcePolicy, GetTopicAttributes); like
  moto, the local cloud does not enforce them.
"""

from __future__ import annotations

import json
import logging
import secrets
import string

from moto.apigateway.models import apigateway_backends
from moto.awslambda.models import lambda_backends
from moto.core.common_models import CloudFormationModel
from moto.secretsmanager.models import secretsmanager_backends
from moto.sns.models import sns_backends

log = logging.getLogger("workshop.localcloud.cloudformation")


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


class StepFunctionsActivity(CloudFormationModel):
    """AWS::StepFunctions::Activity: Ref is its ARN, Fn::GetAtt Name its name."""

    def __init__(self, arn: str, name: str):
        self.arn, self.name = arn, name

    @property
    def physical_resource_id(self):
        return self.arn

    @staticmethod
    def cloudformation_type():
        return "AWS::StepFunctions::Activity"

    @staticmethod
    def cloudformation_name_type():
        return "Name"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "Name")

    def get_cfn_attribute(self, attribute_name: str):
        return self.name if attribute_name == "Name" else self.arn

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        from moto.stepfunctions.responses import get_backend

        p = cloudformation_json.get("Properties") or {}
        name = p.get("Name") or resource_name
        tags = [{"key": tag["Key"], "value": tag["Value"]} for tag in p.get("Tags") or []]
        activity = get_backend(account_id, region_name).create_activity(name, tags=tags or None)
        return cls(activity.arn, activity.name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        return original_resource  # Name replaces the resource on AWS; tags alone change nothing here

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.stepfunctions.responses import get_backend

        get_backend(account_id, region_name).delete_activity(resource_name)


class LambdaUrl(CloudFormationModel):
    """AWS::Lambda::Url: Fn::GetAtt FunctionUrl and FunctionArn, as CloudFormation answers them."""

    def __init__(self, function_arn: str, url: str):
        self.function_arn, self.url = function_arn, url

    @property
    def physical_resource_id(self):
        return self.function_arn

    @staticmethod
    def cloudformation_type():
        return "AWS::Lambda::Url"

    @staticmethod
    def cloudformation_name_type():
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionUrl", "FunctionArn")

    def get_cfn_attribute(self, attribute_name: str):
        return self.url if attribute_name == "FunctionUrl" else self.function_arn

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        p = cloudformation_json["Properties"]
        target = getattr(p["TargetFunctionArn"], "function_arn", p["TargetFunctionArn"])
        config = {key: p[key] for key in ("AuthType", "Cors", "InvokeMode") if key in p}
        made = lambda_backends[account_id][region_name].create_function_url_config(target, config)
        return cls(made.function.function_arn, made.url)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        p = cloudformation_json["Properties"]
        config = {key: p[key] for key in ("AuthType", "Cors", "InvokeMode") if key in p}
        made = lambda_backends[account_id][region_name].update_function_url_config(original_resource.function_arn,
                                                                                   config)
        return cls(original_resource.function_arn, made.url)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        try:
            lambda_backends[account_id][region_name].delete_function_url_config(resource_name)
        except Exception:  # the function went first (a stack delete): its URL went with it
            log.info("the URL of %s went with its function", resource_name)


def _document(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class SecretsManagerSecret(CloudFormationModel):
    """A secret; GenerateSecretString makes its value at creation, as CloudFormation does."""

    def __init__(self, arn):
        self.arn = arn

    @property
    def physical_resource_id(self):
        return self.arn

    @staticmethod
    def cloudformation_type():
        return "AWS::SecretsManager::Secret"

    @staticmethod
    def cloudformation_name_type():
        return "Name"

    @staticmethod
    def unnamed(generated_name: str) -> str:
        """The name CloudFormation gives a secret without a Name: <LogicalId>-<random>, without the stack's
        name (learner policies scope secrets by it). moto's generic <stack>-<LogicalId>-<random> carries the
        same parts, and a logical id has no dash."""
        return "-".join(generated_name.rsplit("-", 2)[-2:])

    @staticmethod
    def generated(spec: dict) -> str:
        alphabet = "".join(
            chars for chars, excluded in (
                (string.ascii_lowercase, spec.get("ExcludeLowercase")),
                (string.ascii_uppercase, spec.get("ExcludeUppercase")),
                (string.digits, spec.get("ExcludeNumbers")),
                (string.punctuation, spec.get("ExcludePunctuation")),
                (" ", not spec.get("IncludeSpace"))) if not excluded)
        alphabet = "".join(c for c in alphabet if c not in str(spec.get("ExcludeCharacters", "")))
        value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
        template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
        if template and key:
            return json.dumps({**json.loads(template), key: value})
        return value

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        p = cloudformation_json.get("Properties", {})
        value = p.get("SecretString")
        if value is None and "GenerateSecretString" in p:
            value = cls.generated(p["GenerateSecretString"])
        name = p.get("Name") or cls.unnamed(resource_name)
        created = secretsmanager_backends[account_id][region_name].create_secret(
            name=name, secret_string=value, secret_binary=None, description=p.get("Description"),
            tags=p.get("Tags"), kms_key_id=p.get("KmsKeyId"), client_request_token=None,
            replica_regions=[], force_overwrite=False)
        return cls(json.loads(created)["ARN"] if isinstance(created, str) else created["ARN"])

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        return original_resource  # the generated value stays, as on AWS

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        secretsmanager_backends[account_id][region_name].delete_secret(
            resource_name, recovery_window_in_days=None, force_delete_without_recovery=True)


class SecretsManagerResourcePolicy(ReplacedOnUpdate, CloudFormationModel):
    def __init__(self, secret_id):
        self.secret_id = secret_id

    @property
    def physical_resource_id(self):
        return self.secret_id

    @staticmethod
    def cloudformation_type():
        return "AWS::SecretsManager::ResourcePolicy"

    @staticmethod
    def cloudformation_name_type():
        return ""

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        p = cloudformation_json["Properties"]
        secret_id = getattr(p["SecretId"], "arn", p["SecretId"])
        secretsmanager_backends[account_id][region_name].put_resource_policy(
            secret_id, _document(p["ResourcePolicy"]))
        return cls(secret_id)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        try:
            secretsmanager_backends[account_id][region_name].delete_resource_policy(resource_name)
        except Exception:  # the secret went first (a stack delete): nothing left to detach
            log.info("the resource policy of %s went with its secret", resource_name)


class SnsTopicPolicy(ReplacedOnUpdate, CloudFormationModel):
    def __init__(self, topics):
        self.topics = topics

    @property
    def physical_resource_id(self):
        return ",".join(self.topics)

    @staticmethod
    def cloudformation_type():
        return "AWS::SNS::TopicPolicy"

    @staticmethod
    def cloudformation_name_type():
        return ""

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        p = cloudformation_json["Properties"]
        topics = [getattr(topic, "arn", topic) for topic in p["Topics"]]
        backend = sns_backends[account_id][region_name]
        for topic in topics:
            backend.set_topic_attribute(topic, "policy", _document(p["PolicyDocument"]))
        log.warning("SNS topic policy on %s recorded (GetTopicAttributes shows it) but not enforced: moto "
                    "does not evaluate resource policies", ", ".join(topics))
        return cls(topics)  # a delete leaves the policy: the topic keeps it until it is deleted with the stack


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
