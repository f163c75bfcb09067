"""What IAM authorizes for one request: its action(s), the resource ARN(s) and the service's condition keys.

From data first: the IAM action of an API operation is the action of the same
name, or the one AWS's Service Authorization Reference links to the
operation's API page (`workshop.iam.IamDatabase.for_operation`: ListObjectsV2
-> s3:ListBucket, Invoke -> lambda:InvokeFunction); the resource ARNs follow
the ARN formats of the action's resource types in that reference
(`arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}`),
filled from the request. Where the reference is silent the rules are written
here, small and table-like, each with its source:

* `OPERATION_ACTIONS`: operations no action links to (S3's "Required
  permissions for Amazon S3 API operations"; batch forms that need the single
  action per entry);
* `VERSIONED`: S3 operations that need the ...Version action when they name a
  VersionId (same S3 page);
* `NAMES`: per service, which request parameter fills which ARN placeholder
  (`Bucket` -> `${BucketName}`), and the few that need a look-up (an IAM
  entity's path, a secret's ARN suffix, the key behind an alias);
* `PASSED_ROLES`: parameters that pass a role to a service, so the request
  also needs iam:PassRole on it, with `iam:PassedToService` ("Granting a user
  permissions to pass a role to an AWS service", IAM user guide);
* `service_keys`: the service condition keys the kit and the usual apps test
  (iam:PolicyARN, iam:PermissionsBoundary, sns:Protocol / sns:Endpoint,
  s3:prefix, dynamodb:LeadingKeys / dynamodb:Attributes, sts:RoleSessionName,
  ...), and aws:RequestTag / aws:TagKeys from a request's tags.

Among an action's resource types, those whose every placeholder the request
fills are candidates, and the most specific of them are evaluated (a Query
with an IndexName is evaluated on the index, one without on the table; a
CreateAlias on both its alias and its key). An ARN the request passes whole
(`TopicArn`, `stateMachineArn`) is used where it fits a format. An action
without resource types, or a request that fills none, is evaluated against
"*", as AWS does. API Gateway's actions are HTTP methods on the request's
path (`apigateway:GET` on `arn:aws:apigateway:us-east-1::/restapis/abc`).

`checks(operation, account) -> list[Check]`: one Check per (action, resource).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlparse

from workshop.iam import default_database

from . import policy_sources
from .operations import Operation


@dataclass(frozen=True)
class Check:
    """One authorization a request needs."""

    action: str  # "s3:GetObject"
    resource: str  # an ARN, or "*"
    context: dict = field(default_factory=dict)  # service condition keys for this check
    known: bool = True  # the action is in AWS's reference


# Operations AWS's reference links no action to. S3: "Required permissions for Amazon S3 API operations"
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html, each
# operation's "Permissions" section); the batch forms need the single action for each entry (SNS PublishBatch,
# SQS ...Batch: "the permissions are the same as for the single action").
OPERATION_ACTIONS = {
    ("s3", "CompleteMultipartUpload"): "s3:PutObject", ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject", ("s3", "UploadPartCopy"): "s3:PutObject",
    ("s3", "CopyObject"): "s3:PutObject", ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "SelectObjectContent"): "s3:GetObject", ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket", ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "DeleteBucketAnalyticsConfiguration"): "s3:PutAnalyticsConfiguration",
    ("s3", "DeleteBucketCors"): "s3:PutBucketCORS", ("s3", "DeleteBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "DeleteBucketIntelligentTieringConfiguration"): "s3:PutIntelligentTieringConfiguration",
    ("s3", "DeleteBucketInventoryConfiguration"): "s3:PutInventoryConfiguration",
    ("s3", "DeleteBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketMetricsConfiguration"): "s3:PutMetricsConfiguration",
    ("s3", "DeleteBucketOwnershipControls"): "s3:PutBucketOwnershipControls",
    ("s3", "DeleteBucketReplication"): "s3:PutReplicationConfiguration",
    ("s3", "DeleteBucketTagging"): "s3:PutBucketTagging",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetBucketLifecycle"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "s3:GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "s3:PutBucketNotification",
    ("s3", "ListBucketAnalyticsConfigurations"): "s3:GetAnalyticsConfiguration",
    ("s3", "ListBucketIntelligentTieringConfigurations"): "s3:GetIntelligentTieringConfiguration",
    ("s3", "ListBucketInventoryConfigurations"): "s3:GetInventoryConfiguration",
    ("s3", "ListBucketMetricsConfigurations"): "s3:GetMetricsConfiguration",
    ("sns", "PublishBatch"): "sns:Publish",
    ("sqs", "SendMessageBatch"): "sqs:SendMessage", ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("lambda", "InvokeWithResponseStream"): "lambda:InvokeFunction",
    ("lambda", "GetLayerVersionByArn"): "lambda:GetLayerVersion",
    ("dynamodb", "TransactGetItems"): "dynamodb:GetItem",
}
# S3 operations that need another action when they name a version (the same S3 pages)
VERSIONED = {"GetObject": "s3:GetObjectVersion", "HeadObject": "s3:GetObjectVersion",
             "DeleteObject": "s3:DeleteObjectVersion", "GetObjectAcl": "s3:GetObjectVersionAcl",
             "PutObjectAcl": "s3:PutObjectVersionAcl", "GetObjectTagging": "s3:GetObjectVersionTagging",
             "PutObjectTagging": "s3:PutObjectVersionTagging",
             "DeleteObjectTagging": "s3:DeleteObjectVersionTagging"}
# Calls that need no permission (STS API reference: GetCallerIdentity "No permissions are required";
# GetSessionToken "No permissions are required for users to perform this operation")
UNAUTHORIZED_OPERATIONS = {("sts", "GetCallerIdentity"), ("sts", "GetSessionToken")}

# parameter that passes a role -> the service principal it is passed to
PASSED_ROLES = {
    ("lambda", "CreateFunction"): ("Role", "lambda.amazonaws.com"),
    ("lambda", "UpdateFunctionConfiguration"): ("Role", "lambda.amazonaws.com"),
    ("states", "CreateStateMachine"): ("roleArn", "states.amazonaws.com"),
    ("states", "UpdateStateMachine"): ("roleArn", "states.amazonaws.com"),
    ("states", "TestState"): ("roleArn", "states.amazonaws.com"),
    ("events", "PutRule"): ("RoleArn", "events.amazonaws.com"),
    ("events", "PutTargets"): ("Targets[].RoleArn", "events.amazonaws.com"),
    ("cloudformation", "CreateStack"): ("RoleARN", "cloudformation.amazonaws.com"),
    ("cloudformation", "UpdateStack"): ("RoleARN", "cloudformation.amazonaws.com"),
    ("cloudformation", "CreateChangeSet"): ("RoleARN", "cloudformation.amazonaws.com"),
    ("cloudformation", "DeleteStack"): ("RoleARN", "cloudformation.amazonaws.com"),
    ("logs", "PutSubscriptionFilter"): ("roleArn", "logs.amazonaws.com"),
    ("logs", "PutDestination"): ("roleArn", "logs.amazonaws.com"),
    ("scheduler", "CreateSchedule"): ("Target.RoleArn", "scheduler.amazonaws.com"),
    ("scheduler", "UpdateSchedule"): ("Target.RoleArn", "scheduler.amazonaws.com"),
}

PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


# --- per service: request parameters -> ARN placeholders -----------------------------------------------


def _iam_names(op: Operation, account: str) -> dict:
    p, names = op.params, {}
    creating = op.name.startswith("Create")
    for param, kind, placeholder in (("UserName", "user", "UserNameWithPath"),
                                     ("RoleName", "role", "RoleNameWithPath"),
                                     ("GroupName", "group", "GroupNameWithPath"),
                                     ("InstanceProfileName", "instance-profile", "InstanceProfileNameWithPath")):
        name = p.get(param)
        if not name:
            continue
        path = p.get("Path") if creating and op.name[6:].lower().startswith(kind.replace("-", "")) else None
        path = path or policy_sources.lookup_path(account, kind, name) or "/"
        names[placeholder] = path.lstrip("/") + name
    if op.name == "CreatePolicy" and p.get("PolicyName"):
        names["PolicyNameWithPath"] = (p.get("Path") or "/").lstrip("/") + p["PolicyName"]
    if op.name == "CreateServiceLinkedRole" and p.get("AWSServiceName"):
        names["RoleNameWithPath"] = f"aws-service-role/{p['AWSServiceName']}/AWSServiceRole"
    return names


def _s3_names(op, account):
    names = {}
    if op.params.get("Bucket"):
        names["BucketName"] = op.params["Bucket"]
    if op.params.get("Key"):
        names["ObjectName"] = op.params["Key"]
    return names


def _sqs_names(op, account):
    url = op.params.get("QueueUrl")
    if url:
        parts = [p for p in urlparse(url).path.split("/") if p]
        if len(parts) >= 2:
            return {"Account": parts[-2], "QueueName": parts[-1]}
    if op.params.get("QueueName"):
        return {"QueueName": op.params["QueueName"]}
    return {}


def _sns_names(op, account):
    if op.name == "CreateTopic" and op.params.get("Name"):
        return {"TopicName": op.params["Name"]}
    subscription = op.params.get("SubscriptionArn")
    if subscription and subscription.count(":") >= 6:  # arn:aws:sns:region:account:topic:id
        return {"TopicName": subscription.split(":")[5]}
    return {}


def _dynamodb_names(op, account):
    names = {}
    table = op.params.get("TableName")
    if isinstance(table, str) and not table.startswith("arn:"):
        names["TableName"] = table
    if isinstance(op.params.get("IndexName"), str):
        names["IndexName"] = op.params["IndexName"]
    if isinstance(op.params.get("BackupArn"), str):
        pass  # a whole ARN
    return names


def _events_names(op, account):
    names = {}
    bus = op.params.get("EventBusName")
    if isinstance(bus, str) and bus:
        bus = bus.rsplit("/", 1)[-1] if bus.startswith("arn:") else bus
        if bus != "default":
            names["EventBusName"] = bus
        else:
            names["DefaultBus"] = "default"
    rule = op.params.get("Rule") if op.name in ("PutTargets", "RemoveTargets", "ListTargetsByRule") \
        else op.params.get("Name") if "Rule" in op.name else None
    if isinstance(rule, str) and rule:
        names["RuleName"] = rule
    if op.name in ("CreateEventBus", "DeleteEventBus", "DescribeEventBus", "UpdateEventBus") and op.params.get("Name"):
        names["EventBusName"] = op.params["Name"]
    return names


def _states_names(op, account):
    if op.name == "CreateStateMachine" and op.params.get("name"):
        return {"StateMachineName": op.params["name"]}
    if op.name == "CreateActivity" and op.params.get("name"):
        return {"ActivityName": op.params["name"]}
    return {}


def _lambda_names(op, account):
    name = op.params.get("FunctionName")
    if not isinstance(name, str) or not name:
        return {}
    names = {}
    parts = name.split(":")
    if name.startswith("arn:") and len(parts) >= 7:
        names["Account"] = parts[4]
        names["FunctionName"] = parts[6]
        qualifier = parts[7] if len(parts) > 7 else None
    elif len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
        names["Account"] = parts[0]
        names["FunctionName"] = parts[2]
        qualifier = parts[3] if len(parts) > 3 else None
    else:
        names["FunctionName"] = parts[0]
        qualifier = parts[1] if len(parts) > 1 else None
    qualifier = op.params.get("Qualifier") or qualifier
    if qualifier:
        names["Version"] = names["Alias"] = names["Qualifier"] = qualifier
    return names


def _logs_names(op, account):
    names = {}
    group = op.params.get("logGroupName") or op.params.get("logGroupIdentifier")
    if isinstance(group, str) and group:
        names["LogGroupName"] = group.split(":log-group:", 1)[-1].removesuffix(":*")
    if isinstance(op.params.get("logStreamName"), str):
        names["LogStreamName"] = op.params["logStreamName"]
    return names


def _secretsmanager_names(op, account):
    secret = op.params.get("SecretId") or (op.params.get("Name") if op.name == "CreateSecret" else None)
    if not isinstance(secret, str) or not secret:
        return {}
    if op.name == "CreateSecret":
        return {"SecretId": f"{secret}-{uuid.uuid4().hex[:6]}"}  # the suffix AWS adds is not known yet
    found = policy_sources.lookup_secret_arn(account, op.region, secret)
    if found:
        return {"SecretArn": found}
    return {"SecretId": secret if secret.startswith("arn:") is False else secret.split(":secret:", 1)[-1]}


def _kms_names(op, account):
    names = {}
    key = op.params.get("KeyId") or op.params.get("TargetKeyId") or op.params.get("SourceKeyId")
    if isinstance(key, str) and key:
        names["KeyId"] = policy_sources.lookup_key_id(account, op.region, key) or key.rsplit("/", 1)[-1]
    alias = op.params.get("AliasName")
    if isinstance(alias, str) and alias:
        names["Alias"] = alias.split("alias/", 1)[-1]
    return names


def _cloudformation_names(op, account):
    name = op.params.get("StackName")
    if not isinstance(name, str) or not name:
        return {}
    found = policy_sources.lookup_stack_arn(account, op.region, name)
    if found:
        return {"StackArn": found}
    if name.startswith("arn:"):
        return {"StackArn": name}
    return {"StackName": name, "Id": str(uuid.uuid4())}  # a stack to be made: its id is not known yet


def _cloudtrail_names(op, account):
    name = op.params.get("Name") or op.params.get("TrailName")
    if isinstance(name, str) and name:
        return {"TrailName": name.rsplit("/", 1)[-1]}
    return {}


def _organizations_names(op, account):
    names = {}
    org = policy_sources.organization_id(account)
    if org:
        names["OrganizationId"] = org.removeprefix("o-")
    for param, placeholder, prefix in (("PolicyId", "PolicyId", "p-"), ("AccountId", "AccountId", ""),
                                       ("OrganizationalUnitId", "OrganizationalUnitId", "ou-")):
        value = op.params.get(param)
        if isinstance(value, str):
            names[placeholder] = value.removeprefix(prefix)
    target = op.params.get("TargetId")
    if isinstance(target, str):
        if target.startswith("r-"):
            names["RootId"] = target[2:]
        elif target.startswith("ou-"):
            names["OrganizationalUnitId"] = target[3:]
        else:
            names["AccountId"] = target
    return names


NAMES = {"iam": _iam_names, "s3": _s3_names, "sqs": _sqs_names, "sns": _sns_names, "dynamodb": _dynamodb_names,
         "events": _events_names, "states": _states_names, "lambda": _lambda_names, "logs": _logs_names,
         "secretsmanager": _secretsmanager_names, "kms": _kms_names, "cloudformation": _cloudformation_names,
         "cloudtrail": _cloudtrail_names, "organizations": _organizations_names}


# --- service condition keys --------------------------------------------------------------------------------


def _tags(params: dict) -> dict:
    """aws:RequestTag/<key> values of a request's tags, in any of the shapes AWS APIs use."""
    found = {}
    for name in ("Tags", "tags", "TagList"):
        value = params.get(name)
        if isinstance(value, dict):
            found.update({str(k): str(v) for k, v in value.items()})
        elif isinstance(value, list):
            for tag in value:
                if isinstance(tag, dict):
                    key = tag.get("Key", tag.get("key"))
                    if key is not None:
                        found[str(key)] = str(tag.get("Value", tag.get("value", "")))
    for key, value in params.items():  # the query protocol: Tags.member.1.Key / Tags.member.1.Value
        found_key = re.fullmatch(r"Tags\.member\.(\d+)\.Key", key)
        if found_key:
            found[value] = params.get(f"Tags.member.{found_key.group(1)}.Value", "")
    return found


def service_keys(op: Operation) -> dict:
    """The condition keys this request sets for every check, beside the global ones."""
    p, keys = op.params, {}
    tags = _tags(p)
    if tags:
        keys["aws:TagKeys"] = list(tags)
        keys.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
    if op.prefix == "iam":
        if op.name.startswith(("Attach", "Detach")) and p.get("PolicyArn"):
            keys["iam:PolicyARN"] = p["PolicyArn"]
        if p.get("PermissionsBoundary"):
            keys["iam:PermissionsBoundary"] = p["PermissionsBoundary"]
    elif op.prefix == "sns" and op.name == "Subscribe":
        keys["sns:Protocol"] = p.get("Protocol")
        keys["sns:Endpoint"] = p.get("Endpoint")
    elif op.prefix == "s3":
        for name, key in (("Prefix", "s3:prefix"), ("Delimiter", "s3:delimiter"), ("MaxKeys", "s3:max-keys"),
                          ("VersionId", "s3:VersionId")):
            if p.get(name) is not None:
                keys[key] = p[name]
        if op.name in ("ListObjects", "ListObjectsV2", "ListObjectVersions") and "s3:prefix" not in keys:
            keys["s3:prefix"] = ""
        if op.headers.get("x-amz-acl"):
            keys["s3:x-amz-acl"] = op.headers["x-amz-acl"]
    elif op.prefix == "sts" and op.name.startswith("AssumeRole"):
        keys["sts:RoleSessionName"] = p.get("RoleSessionName")
        keys["sts:ExternalId"] = p.get("ExternalId")
    elif op.prefix == "dynamodb":
        keys.update(_dynamodb_keys(op))
    elif op.prefix == "kms":
        for name, key in (("MacAlgorithm", "kms:MacAlgorithm"), ("SigningAlgorithm", "kms:SigningAlgorithm"),
                          ("EncryptionAlgorithm", "kms:EncryptionAlgorithm")):
            if p.get(name) is not None:
                keys[key] = p[name]
        context = p.get("EncryptionContext")
        if isinstance(context, dict):
            keys.update({f"kms:EncryptionContext:{k}": v for k, v in context.items()})
            keys["kms:EncryptionContextKeys"] = list(context)
    elif op.prefix == "events" and op.name == "PutEvents":
        entries = [e for e in p.get("Entries") or [] if isinstance(e, dict)]
        keys["events:source"] = sorted({str(e.get("Source")) for e in entries if e.get("Source")})
        keys["events:detail-type"] = sorted({str(e.get("DetailType")) for e in entries if e.get("DetailType")})
    elif op.prefix == "events" and op.name == "PutTargets":
        keys["events:TargetArn"] = [t.get("Arn") for t in p.get("Targets") or [] if isinstance(t, dict)]
    elif op.prefix == "lambda" and op.name == "AddPermission":
        keys["lambda:Principal"] = p.get("Principal")
    elif op.prefix == "secretsmanager":
        if p.get("SecretId"):
            keys["secretsmanager:SecretId"] = p["SecretId"]
        if op.name == "CreateSecret" and p.get("Name"):
            keys["secretsmanager:Name"] = p["Name"]
    elif op.prefix == "cloudformation":
        for name, key in (("RoleARN", "cloudformation:RoleArn"), ("TemplateURL", "cloudformation:TemplateUrl"),
                          ("ChangeSetName", "cloudformation:ChangeSetName"),
                          ("StackPolicyURL", "cloudformation:StackPolicyUrl")):
            if p.get(name):
                keys[key] = p[name]
    elif op.prefix == "organizations" and p.get("Type"):
        keys["organizations:PolicyType"] = p["Type"]
    return {k: v for k, v in keys.items() if v is not None and v != []}


def _dynamodb_keys(op) -> dict:
    """dynamodb:Attributes (the attributes a request reads or writes) and dynamodb:Select / ReturnValues."""
    p, keys = op.params, {}
    attributes = set()
    for container in ("Item", "Key"):
        if isinstance(p.get(container), dict):
            attributes.update(p[container])
    if isinstance(p.get("AttributesToGet"), list):
        attributes.update(str(a) for a in p["AttributesToGet"])
    aliases = p.get("ExpressionAttributeNames") if isinstance(p.get("ExpressionAttributeNames"), dict) else {}
    if isinstance(p.get("ProjectionExpression"), str):
        for token in re.split(r"[,\s]+", p["ProjectionExpression"]):
            name = token.split(".")[0].split("[")[0]
            if name:
                attributes.add(aliases.get(name, name))
    if isinstance(p.get("UpdateExpression"), str):
        attributes.update(aliases.get(n, n) for n in re.findall(r"(#\w+)", p["UpdateExpression"]))
    if attributes:
        keys["dynamodb:Attributes"] = sorted(attributes)
    if isinstance(p.get("Key"), dict) and p["Key"]:
        first = next(iter(p["Key"].values()))  # the partition key comes first in the request's Key
        if isinstance(first, dict) and first:
            keys["dynamodb:LeadingKeys"] = [str(next(iter(first.values())))]
    for name, key in (("Select", "dynamodb:Select"), ("ReturnValues", "dynamodb:ReturnValues")):
        if p.get(name):
            keys[key] = p[name]
    return keys


# --- the checks ------------------------------------------------------------------------------------------


def _format_regex(arn_format: str) -> re.Pattern:
    pieces = re.split(r"(\$\{[^}]+\})", arn_format)
    out = []
    for piece in pieces:
        if piece.startswith("${"):
            name = piece[2:-1]
            out.append("[^:]*" if name in ("Partition", "Region", "Account") else ".+")
        else:
            out.append(re.escape(piece))
    return re.compile("".join(out))


_FORMATS: dict[str, re.Pattern] = {}
_UNQUALIFIED_FUNCTION = re.compile(r"arn:[^:]+:lambda:[^:]*:[^:]*:function:[^:/]+")


def fits_format(arn: str, arn_format: str) -> bool:
    regex = _FORMATS.get(arn_format)
    if regex is None:
        regex = _FORMATS[arn_format] = _format_regex(arn_format)
    return regex.fullmatch(arn) is not None


def _arn_values(params: dict) -> list[str]:
    found = []
    for value in params.values():
        if isinstance(value, str) and value.startswith("arn:"):
            found.append(value)
    return found


def resources_for(action, op: Operation, account: str, names: dict, explicit: list[str]) -> list[str]:
    """The ARNs `action` is evaluated on for this request (["*"] when it has no resource types or none fills)."""
    if action is None or action.resource_types[0].name is None:
        return ["*"]
    filled: list[tuple[int, str]] = []
    values = {"Partition": "aws", "Region": op.region, "Account": account, **names}
    for kind in action.resource_types:
        arn_format = kind.arn
        whole = next((a for a in explicit if fits_format(a, arn_format)), None)
        if whole is not None:
            filled.append((arn_format.count("${"), whole))
            continue
        wanted = PLACEHOLDER.findall(arn_format)
        if all(w in values for w in wanted):
            filled.append((len(wanted), PLACEHOLDER.sub(lambda m: values[m.group(1)], arn_format)))
    if not filled:
        return ["*"]
    best = max(count for count, _ in filled)
    return list(dict.fromkeys(arn for count, arn in filled if count == best))


def _explicit(op: Operation, names: dict) -> list[str]:
    if op.prefix == "iam" and op.name == "SimulatePrincipalPolicy":
        # authorized on the user, group or role whose policies it reads; the ARNs it simulates (ResourceArns,
        # CallerArn, ResourceOwner) are what it asks about, not what it acts on
        source = op.params.get("PolicySourceArn")
        return [source] if isinstance(source, str) else []
    explicit = _arn_values(op.params)
    for key in ("SecretArn", "StackArn"):
        if key in names:
            explicit.insert(0, names.pop(key))
    if op.prefix == "sns" and op.params.get("TargetArn"):
        explicit.append(op.params["TargetArn"])
    return explicit


def _passed_role(op: Operation) -> list[tuple[str, str]]:
    spec = PASSED_ROLES.get((op.prefix, op.name))
    if spec is None:
        return []
    path, service = spec
    values = []
    if path.endswith("[].RoleArn"):
        for item in op.params.get(path.split("[]")[0]) or []:
            if isinstance(item, dict) and item.get("RoleArn"):
                values.append(item["RoleArn"])
    elif "." in path:
        outer, inner = path.split(".", 1)
        value = (op.params.get(outer) or {}).get(inner) if isinstance(op.params.get(outer), dict) else None
        if value:
            values.append(value)
    elif op.params.get(path):
        values.append(op.params[path])
    return [(v, service) for v in values if isinstance(v, str) and ":role/" in v]


def _dynamodb_checks(op: Operation, account: str) -> list[tuple[str, str]] | None:
    """(action, table name or ARN) for DynamoDB's multi-table and statement operations; None for the rest."""
    p = op.params
    if op.name in ("BatchWriteItem", "BatchGetItem"):
        return [(f"dynamodb:{op.name}", t) for t in (p.get("RequestItems") or {})]
    if op.name == "TransactWriteItems":
        kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
        return [(f"dynamodb:{kinds[k]}", v.get("TableName")) for item in p.get("TransactItems") or []
                for k, v in (item or {}).items() if k in kinds and isinstance(v, dict)]
    if op.name == "TransactGetItems":
        return [("dynamodb:GetItem", (item.get("Get") or {}).get("TableName")) for item in p.get("TransactItems") or []]
    if op.name in ("ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"):
        statements = [p.get("Statement")] if op.name == "ExecuteStatement" else [
            s.get("Statement") for s in (p.get("Statements") or p.get("TransactStatements") or []) if isinstance(s, dict)]
        out = []
        for text in statements:
            found = _partiql(text or "")
            if found:
                out.append(found)
        return out
    return None


def _partiql(statement: str) -> tuple[str, str] | None:
    """("dynamodb:PartiQLSelect", table) for a PartiQL statement (DynamoDB: "PartiQL ... IAM policies")."""
    match = re.match(r'\s*(SELECT|INSERT|UPDATE|DELETE)\b.*?\b(?:FROM|INTO|UPDATE)?\s*"?([A-Za-z0-9_.-]+)"?',
                     statement, re.IGNORECASE | re.DOTALL)
    verb = match.group(1).upper() if match else None
    table = None
    if verb == "SELECT" or verb == "DELETE":
        found = re.search(r'\bFROM\s+"?([A-Za-z0-9_.-]+)"?', statement, re.IGNORECASE)
        table = found.group(1) if found else None
    elif verb == "INSERT":
        found = re.search(r'\bINTO\s+"?([A-Za-z0-9_.-]+)"?', statement, re.IGNORECASE)
        table = found.group(1) if found else None
    elif verb == "UPDATE":
        found = re.match(r'\s*UPDATE\s+"?([A-Za-z0-9_.-]+)"?', statement, re.IGNORECASE)
        table = found.group(1) if found else None
    if not verb or not table:
        return None
    return f"dynamodb:PartiQL{verb.capitalize()}", table


def checks(op: Operation, account: str) -> list[Check] | None:
    """Every authorization the request needs; [] when it needs none, None when the operation is not known."""
    if op.name is None and op.prefix != "apigateway":
        return None
    if (op.prefix, op.name) in UNAUTHORIZED_OPERATIONS:
        return []
    keys = service_keys(op)
    database = default_database()
    if op.prefix == "apigateway":  # actions are HTTP methods on the request's path
        action = f"apigateway:{op.method}"
        return [Check(action, f"arn:aws:apigateway:{op.region}::{op.path.rstrip('/') or '/'}", keys,
                      database.get(action) is not None)]
    out: list[Check] = []
    names_of = NAMES.get(op.prefix)
    names = names_of(op, account) if names_of else {}
    explicit = _explicit(op, names)
    account_of_names = names.pop("Account", account)
    names.pop("DefaultBus", None)
    qualifier = names.pop("Qualifier", None)

    def add(action_name: str, names_here: dict, explicit_here: list[str], extra: dict | None = None):
        action = database.get(action_name)
        context = {**keys, **(extra or {})}
        for resource in resources_for(action, op, account_of_names, names_here, explicit_here):
            if qualifier and _UNQUALIFIED_FUNCTION.fullmatch(resource):
                # Lambda evaluates a call made with a version or alias on that qualified ARN, a grant on the
                # bare function ARN does not cover it; the reference lists only the bare format for most actions.
                resource = f"{resource}:{qualifier}"
            out.append(Check(action.name if action else action_name, resource, context, action is not None))

    multi = _dynamodb_checks(op, account) if op.prefix == "dynamodb" else None
    if multi is not None:
        for action_name, table in multi:
            if isinstance(table, str) and table.startswith("arn:"):
                add(action_name, {}, [table])
            elif isinstance(table, str):
                add(action_name, {"TableName": table}, [])
    elif op.prefix == "s3" and op.name == "DeleteObjects":
        for key in _deleted_keys(op):
            add("s3:DeleteObject", {**names, "ObjectName": key}, [])
    elif op.prefix == "kms" and op.name == "ReEncrypt":
        for param, action_name in (("SourceKeyId", "kms:ReEncryptFrom"), ("DestinationKeyId", "kms:ReEncryptTo")):
            if op.params.get(param):
                key = policy_sources.lookup_key_id(account, op.region, op.params[param]) or op.params[param]
                add(action_name, {"KeyId": key}, [])
    else:
        action_name = OPERATION_ACTIONS.get((op.prefix, op.name))
        if op.prefix == "s3" and op.params.get("VersionId") and op.name in VERSIONED:
            action_name = VERSIONED[op.name]
        action = database.get(action_name) if action_name else database.for_operation(op.prefix, op.name)
        add(action.name if action else f"{op.prefix}:{op.name}", names, explicit)
        if op.prefix == "s3" and op.name in ("CopyObject", "UploadPartCopy") and op.params.get("CopySource"):
            source = op.params["CopySource"].lstrip("/").split("?", 1)[0]
            bucket, _, key = source.partition("/")
            add("s3:GetObject", {"BucketName": bucket, "ObjectName": key}, [])
    for role_arn, service in _passed_role(op):
        add("iam:PassRole", {}, [role_arn], {"iam:PassedToService": service})
    return out


def _deleted_keys(op: Operation) -> list[str]:
    body = op.params.get("_body") or b""
    if not body:
        return ["*"]
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(body)
    except (ParseError, ValueError):
        return ["*"]
    return [element.text or "" for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Key"] or ["*"]
