"""CloudFormation acts as its caller, or as its service role, on every resource it creates, updates or deletes.

On AWS, CloudFormation calls each service with the permissions of the
principal that made the stack operation (a forward access session, with
`aws:CalledVia` cloudformation.amazonaws.com), or with those of the service
role the operation names (`--role-arn`, `RoleARN`; the role must trust
cloudformation.amazonaws.com), and a resource whose call is refused fails
(CREATE_FAILED "... is not authorized to perform ...", then the rollback)
("AWS CloudFormation service role"; "Forward access sessions", IAM user
guide). moto's CloudFormation creates resources in-process with no check;
`install()` puts one in, where moto creates, updates and deletes a resource.

What is checked, per resource and operation: the permission that makes,
changes or removes the resource, taken from the resource type's handler
permissions in the CloudFormation registry schema (as cfn-lint ships it,
`handler_permission`): the first Write or Permissions-management permission
of the type's own service whose verb fits the operation (create: the first
such; update: Update/Put/Set/PATCH/PUT; delete: Delete/Remove/Unsubscribe/
Detach/DELETE), preferring one that names the type (`lambda:CreateFunction`
for AWS::Lambda::Function, `iam:DeletePolicy` for AWS::IAM::ManagedPolicy);
and iam:PassRole where the handler lists it and the resource names a role.
Reads, tagging and the permissions of optional features a handler lists
(VPC, KMS keys, EFS, Kinesis) are not evaluated: which of them AWS calls
depends on properties the kit's templates do not use.

The resource ARN comes from the action's ARN format, filled with the
resource's physical name (or the property of the placeholder's name, or an
ARN the properties give); API Gateway's actions act on its paths.

Patch points (moto/cloudformation/parsing.py, wrapped after the failure
handling of stacks.py): `parse_and_create_resource`,
`parse_and_update_resource` (to know the operation),
`parse_resource_and_generate_name` (where the properties are resolved and
the name is known), `parse_and_delete_resource`.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from collections import Counter
from pathlib import Path

log = logging.getLogger("workshop.localcloud.cloudformation")

_operation = threading.local()
_deleting = threading.local()
VERBS = {"create": (), "update": ("Update", "Put", "Set", "PATCH", "PUT"),
         "delete": ("Delete", "Remove", "Unsubscribe", "Detach", "DELETE")}
_WRITES = ("Write", "Permissions management")
_SERVICES = {"lambda": "Lambda", "iam": "IAM", "sns": "SNS", "sqs": "SQS", "dynamodb": "DynamoDB", "s3": "S3",
             "states": "SFN", "events": "EventBridge", "logs": "CloudWatchLogs", "apigateway": "ApiGateway",
             "secretsmanager": "SecretsManager", "kms": "KMS"}


def deleting(stacks) -> dict:
    """Mark `stacks` as being deleted on this thread (moto takes a stack out of its backend before deleting
    its resources, so their deletion finds the stack's role here); returns what to restore with `done`."""
    outer = getattr(_deleting, "stacks", {})
    _deleting.stacks = {**outer, **{stack.stack_id: stack for stack in stacks}}
    return outer


def done_deleting(outer: dict) -> None:
    _deleting.stacks = outer


class ResourceAccessDenied(Exception):
    """A resource CloudFormation may not create, change or delete as the principal it acts for."""

    error_type = "AccessDenied"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@functools.lru_cache(maxsize=1)
def _schemas() -> tuple[Path, dict]:
    import cfnlint

    base = Path(cfnlint.__file__).parent / "data" / "schemas"
    return base, json.loads((base / "providers" / "us-east-1.json").read_text())


@functools.lru_cache(maxsize=256)
def handler_permissions(resource_type: str, operation: str) -> tuple[str, ...]:
    base, providers = _schemas()
    name = providers.get(resource_type)
    if name is None:
        return ()
    schema = json.loads((base / "resources" / f"{name}.json").read_text())
    return tuple(schema.get("handlers", {}).get(operation, {}).get("permissions", []))


@functools.lru_cache(maxsize=256)
def own_prefix(resource_type: str) -> str | None:
    """The IAM prefix of the type's service: the one most of its handlers' permissions use."""
    counts = Counter(p.split(":", 1)[0] for op in ("create", "update", "delete", "read")
                     for p in handler_permissions(resource_type, op) if ":" in p)
    return counts.most_common(1)[0][0] if counts else None


@functools.lru_cache(maxsize=256)
def handler_permission(resource_type: str, operation: str) -> str | None:
    """The permission that makes (create), changes (update) or removes (delete) a resource of this type."""
    from workshop.iam import default_database

    prefix = own_prefix(resource_type)
    database = default_database()
    writes = []
    for permission in handler_permissions(resource_type, operation):
        action = database.get(permission)
        if permission.split(":", 1)[0] == prefix and action is not None and action.access in _WRITES:
            writes.append(action.name)
    if not writes:
        return None
    type_name = resource_type.rsplit("::", 1)[-1]
    verbs = VERBS[operation]
    fitting = [a for a in writes if not verbs or a.split(":", 1)[1].startswith(verbs)]

    def names_type(action: str) -> bool:
        rest = action.split(":", 1)[1]
        for verb in verbs or ("Create", "Put", "Add", "Subscribe", "Set", "POST", "PUT", "PATCH"):
            if rest.startswith(verb):
                rest = rest[len(verb):]
                break
        return bool(rest) and (rest == type_name or rest.startswith(type_name) or type_name.endswith(rest))

    for candidates in (fitting, writes):
        named = [a for a in candidates if names_type(a)]
        if named:
            return named[0]
        if candidates and candidates is fitting:
            return candidates[0]
    return writes[0]


def _arns_in(properties) -> list[str]:
    found = []
    for value in (properties or {}).values():
        values = value if isinstance(value, list) else [value]
        found += [v for v in values if isinstance(v, str) and v.startswith("arn:")]
    return found


def _apigateway_path(resource_type: str, operation: str, physical: str, properties: dict) -> str:
    api = properties.get("RestApiId") or ""
    if resource_type == "AWS::ApiGateway::RestApi":
        return "/restapis" if operation == "create" else f"/restapis/{physical}"
    if resource_type == "AWS::ApiGateway::Account":
        return "/account"
    kind = {"AWS::ApiGateway::Deployment": "deployments", "AWS::ApiGateway::Stage": "stages",
            "AWS::ApiGateway::Resource": "resources", "AWS::ApiGateway::Method": "resources"}.get(resource_type)
    if kind and api:
        return f"/restapis/{api}/{kind}" + ("" if operation == "create" else f"/{physical}")
    return "/restapis" + (f"/{api}" if api else "")


def resource_arn(action_name: str, resource_type: str, operation: str, physical: str, properties: dict,
                 account: str, region: str) -> str:
    """The ARN the permission is evaluated on for this resource."""
    from workshop.iam import default_database

    from ...server.iam_requests import PLACEHOLDER, fits_format

    if action_name.startswith("apigateway:"):
        return f"arn:aws:apigateway:{region}::" + _apigateway_path(resource_type, operation, physical, properties)
    action = default_database().get(action_name)
    if action is None or action.resource_types[0].name is None:
        return "*"
    explicit = _arns_in(properties)
    for kind in action.resource_types:
        whole = next((a for a in explicit if fits_format(a, kind.arn)), None)
        if whole:
            return whole
    values = {"Partition": "aws", "Region": region, "Account": account}
    for kind in action.resource_types:
        wanted = [w for w in PLACEHOLDER.findall(kind.arn) if w not in values]
        filled = dict(values)
        for name in wanted:
            bare = name.removesuffix("WithPath")
            value = properties.get(name) or properties.get(bare) or (physical if len(wanted) == 1 else None)
            if isinstance(value, str) and value.startswith("arn:"):
                value = re.split(r"[:/]", value)[-1]
            if not isinstance(value, str) or not value:
                break
            if name.endswith("WithPath"):
                value = str(properties.get("Path") or "/").lstrip("/") + value
            filled[name] = value
        else:
            return PLACEHOLDER.sub(lambda m: filled[m.group(1)], kind.arn)
    return "*"


def _role_in(properties: dict) -> str | None:
    for value in _arns_in(properties):
        if re.match(r"arn:aws[\w-]*:iam::\d{12}:role/", value):
            return value
    return None


def check(resource_type: str, operation: str, physical: str, properties: dict, account: str, region: str,
          stack_role_arn: str | None = None) -> None:
    """Raise ResourceAccessDenied when the principal CloudFormation acts as may not do this to the resource."""
    from ...server import authorization

    principal, cannot = authorization.cloudformation_actor(stack_role_arn)
    if cannot:
        raise ResourceAccessDenied(cannot)
    if principal is None:
        return
    authorizer = authorization.current()
    needed = []
    permission = handler_permission(resource_type, operation)
    if permission:
        needed.append((permission, resource_arn(permission, resource_type, operation, physical, properties or {},
                                                account, region), {}))
    role = _role_in(properties) if operation != "delete" else None
    if role and "iam:PassRole" in handler_permissions(resource_type, operation):
        service = own_prefix(resource_type)
        needed.append(("iam:PassRole", role, {"iam:PassedToService": f"{service}.amazonaws.com"}))
    for action, resource, extra in needed:
        denial = authorizer.decide(principal, action, resource, {**extra, "aws:RequestedRegion": region})
        if denial is not None:
            service = _SERVICES.get(action.split(":", 1)[0], action.split(":", 1)[0])
            raise ResourceAccessDenied(f'Resource handler returned message: "{denial.message} (Service: {service}, '
                                       'Status Code: 403)" (HandlerErrorCode: AccessDenied)')


def _stack_role(account: str, region: str, stack_id: str | None) -> str | None:
    from moto.cloudformation.models import cloudformation_backends

    from ...server import authorization

    backend = cloudformation_backends[account][region]
    # moto takes a stack out of `stacks` before deleting its resources: a deletion finds it by id among the
    # deleted ones, and CloudFormation deletes as the stack's role, as it created it
    stack = (backend.stacks.get(stack_id) or getattr(_deleting, "stacks", {}).get(stack_id)) if stack_id else None
    if stack is None:
        name = authorization.acting_stack_name()
        stack = next((s for s in backend.stacks.values() if name and (s.name == name or s.stack_id == name)), None)
    return getattr(stack, "role_arn", None) if stack is not None else None


def install() -> None:
    """Check each resource as CloudFormation's principal (see the module docstring)."""
    from moto.cloudformation import parsing

    if getattr(parsing.parse_resource_and_generate_name, "_localcloud_acting", False):
        return
    for name, operation in (("parse_and_create_resource", "create"), ("parse_and_update_resource", "update")):
        original = getattr(parsing, name)

        def tracked(logical_id, resource_json, resources_map, account_id, region_name, *args,
                    __original=original, __operation=operation, **kwargs):
            outer = getattr(_operation, "value", None)
            _operation.value = (__operation, account_id, region_name, getattr(resources_map, "stack_id", None))
            try:
                return __original(logical_id, resource_json, resources_map, account_id, region_name, *args, **kwargs)
            finally:
                _operation.value = outer

        tracked.__wrapped__ = original
        setattr(parsing, name, tracked)

    from .models import SecretsManagerSecret

    original_generate = parsing.parse_resource_and_generate_name

    def parse_resource_and_generate_name(logical_id, resource_json, resources_map):
        found = original_generate(logical_id, resource_json, resources_map)
        current = getattr(_operation, "value", None)
        if found and current is not None:
            operation, account, region, stack_id = current
            _, resolved, physical = found
            physical_id = physical
            if operation == "update":
                existing = resources_map._parsed_resources.get(logical_id)
                physical_id = getattr(existing, "physical_resource_id", None) or physical
            resource_type = resolved.get("Type", resource_json.get("Type", ""))
            properties = resolved.get("Properties") or {}
            if operation == "create" and resource_type == SecretsManagerSecret.cloudformation_type() \
                    and not properties.get("Name"):
                physical_id = SecretsManagerSecret.unnamed(str(physical_id))
            check(resource_type, operation, str(physical_id), properties, account, region,
                  _stack_role(account, region, stack_id))
        return found

    parse_resource_and_generate_name._localcloud_acting = True
    parse_resource_and_generate_name.__wrapped__ = original_generate
    parsing.parse_resource_and_generate_name = parse_resource_and_generate_name

    original_delete = parsing.parse_and_delete_resource

    class _AsMade:
        """A stack's resources as they stand: a Ref to one deleted already stays unresolved. (moto's
        ResourceMap makes a resource it does not hold when it is looked up: a role deleted before the
        policy that names it would be made again.)"""

        def __init__(self, resources_map):
            self._map = resources_map

        def __getitem__(self, key):
            return self._map._parsed_resources[key]

        def __contains__(self, key):
            return key in self._map._parsed_resources

        def get(self, key, default=None):
            return self._map._parsed_resources.get(key, default)

        def __getattr__(self, name):
            return getattr(self._map, name)

    def parse_and_delete_resource(resource_name, resource_json, account_id, region_name):
        properties = resource_json.get("Properties") or {}
        resources_map = getattr(_deleting, "resources_map", None)
        if resources_map is not None:  # the template's Refs, resolved as they were when the resource was made
            try:
                properties = parsing.clean_json(properties, _AsMade(resources_map))
            except Exception:  # a Ref to what is gone already: the raw properties name less, never more
                log.debug("unresolved properties of a deleted %s", resource_json.get("Type"), exc_info=True)
        check(resource_json.get("Type", ""), "delete", str(resource_name), properties,
              account_id, region_name, _stack_role(account_id, region_name, getattr(resources_map, "stack_id", None)))
        return original_delete(resource_name, resource_json, account_id, region_name)

    original_delete_resource = parsing.ResourceMap._delete_resource

    def _delete_resource(self, parsed_resource, resource_json):
        outer = getattr(_deleting, "resources_map", None)
        _deleting.resources_map = self
        try:
            return original_delete_resource(self, parsed_resource, resource_json)
        finally:
            _deleting.resources_map = outer

    _delete_resource.__wrapped__ = original_delete_resource
    parsing.ResourceMap._delete_resource = _delete_resource

    parse_and_delete_resource.__wrapped__ = original_delete
    parsing.parse_and_delete_resource = parse_and_delete_resource
