"""Where each policy a request is evaluated against lives in moto's state, and the names an ARN needs.

The authorizer (authorization.py) asks, for one request:

* the caller's identity-based policies (a user's inline and attached policies
  and those of its groups; a role's), its permissions boundary, its tags
  (`principal_policies`);
* the resource-based policy of the resource (a topic, secret, function,
  bucket, queue, key or REST API policy, a role's trust policy for sts:AssumeRole), and
  whether it must allow (a key policy, a trust policy) (`resource_policy`);
* the service control policies on the caller's account, level by level
  (`service_control_policies`): none for an account outside an organization,
  for the organization's management account ("SCPs don't affect users or
  roles in the management account", Organizations user guide) or while the
  root has not enabled the SERVICE_CONTROL_POLICY type;
* names a request leaves out but its ARN holds: an IAM entity's path, a
  secret's ARN suffix, the key an alias points to, a stack's id (the
  `lookup_*` functions; None when the resource does not exist).

Everything here reads moto's backends directly (no request), so it runs in
the server process only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from urllib.parse import unquote

from workshop.iam import InvalidPolicyDocument, PolicyDocument, Principal, compile_policy

log = logging.getLogger("workshop.localcloud.authorization")
PARTITION = "aws"


def _iam(account: str):
    from moto.iam.models import iam_backends

    return iam_backends[account][PARTITION]


def _text(document) -> str:
    if isinstance(document, (dict, list)):
        return json.dumps(document)
    text = document.decode() if isinstance(document, bytes) else str(document or "")
    stripped = text.strip()
    if stripped[:3].lower() == "%7b":  # IAM keeps documents URL-encoded as they were sent
        text = unquote(text)
    return text


def _compiled(document, kind, policy_id, policy_type) -> PolicyDocument:
    return compile_policy(_text(document), kind=kind, policy_id=policy_id, policy_type=policy_type)


def managed_document(policy) -> str:
    """The default version's document of a moto ManagedPolicy."""
    for version in policy.versions:
        if version.version_id == policy.default_version_id:
            return version.document
    return policy.versions[0].document if policy.versions else "{}"


def _managed(policy) -> PolicyDocument:
    kind = "aws-managed" if policy.arn.startswith("arn:aws:iam::aws:") else "user-managed"
    return _compiled(managed_document(policy), "identity", policy.name, kind)


def managed_policy_by_arn(account: str, arn: str):
    backend = _iam(account)
    found = backend.managed_policies.get(arn)
    if found is None:
        found = next((p for p in backend.managed_policies.values() if p.arn == arn), None)
    return found


@dataclass
class PrincipalPolicies:
    """What the caller's own identity carries into an evaluation."""

    identity: tuple = ()
    boundary: PolicyDocument | None = None
    tags: dict = field(default_factory=dict)
    user_id: str | None = None
    exists: bool = True  # False: the user or role is gone (its key or session grants nothing)


def _tag_dict(tags) -> dict:
    if isinstance(tags, dict):
        return {v.get("Key", k) if isinstance(v, dict) else k: v.get("Value") if isinstance(v, dict) else v
                for k, v in tags.items()}
    return {t.get("Key"): t.get("Value") for t in tags or () if isinstance(t, dict)}


def _boundary(account: str, arn: str | None) -> PolicyDocument | None:
    if not arn:
        return None
    policy = managed_policy_by_arn(account, arn)
    if policy is None:  # a boundary that no longer exists allows nothing
        return compile_policy('{"Version": "2012-10-17", "Statement": []}', policy_id=arn,
                              policy_type="permissions-boundary")
    return _compiled(managed_document(policy), "identity", policy.name, "permissions-boundary")


def principal_policies(principal: Principal) -> PrincipalPolicies:
    """The identity-based policies, boundary and tags of a user or a role session, from moto's IAM."""
    if principal.kind not in ("user", "assumed-role") or not principal.account:
        return PrincipalPolicies()
    backend = _iam(principal.account)
    if principal.kind == "user":
        name = principal.arn.rsplit("/", 1)[-1]
        user = backend.users.get(name)
        if user is None:
            return PrincipalPolicies(exists=False)
        documents = [_compiled(doc, "identity", policy_name, "user") for policy_name, doc in user.policies.items()]
        documents += [_managed(p) for p in user.managed_policies.values()]
        for group in backend.get_groups_for_user(name):
            documents += [_compiled(doc, "identity", policy_name, "group") for policy_name, doc in group.policies.items()]
            documents += [_managed(p) for p in group.managed_policies.values()]
        tags = _tag_dict(backend.tagger.list_tags_for_resource(user.arn).get("Tags", []))
        return PrincipalPolicies(tuple(documents), _boundary(principal.account,
                                                             getattr(user, "permissions_boundary_arn", None)),
                                 tags, user.id)
    role = lookup_role(principal.account, principal.role_arn or "")
    if role is None:
        return PrincipalPolicies(exists=False)
    documents = [_compiled(doc, "identity", policy_name, "role") for policy_name, doc in role.policies.items()]
    documents += [_managed(p) for p in role.managed_policies.values()]
    return PrincipalPolicies(tuple(documents), _boundary(principal.account, role.permissions_boundary_arn),
                             _tag_dict(role.tags), role.id)


def lookup_role(account: str, role_arn: str):
    name = role_arn.rsplit("/", 1)[-1]
    # moto's get_role walks its live dict of roles: a role created by another request meanwhile would stop
    # that walk with "dictionary changed size during iteration" and read as "no such role", refusing the
    # role's own calls. A copy of the values is taken at once.
    role = next((r for r in list(_iam(account).roles.values()) if r.name == name), None)
    if role is None:
        return None
    return role if role.arn == role_arn or not role_arn.startswith("arn:") else None


# --- resource-based policies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourcePolicy:
    document: PolicyDocument | None
    account: str | None  # the account that owns the resource
    must_allow: bool = False
    tags: tuple[tuple[str, str], ...] = ()  # the resource's tags where known (aws:ResourceTag/...): KMS keys


NO_POLICY = ResourcePolicy(None, None)


def resource_policy(action: str, resource: str) -> ResourcePolicy:
    """The resource-based policy that applies to `action` on `resource` (an ARN), from moto's state."""
    if not resource.startswith("arn:"):
        return NO_POLICY
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return NO_POLICY
    _, _, service, region, account, rest = parts
    if account == "aws":  # an AWS managed policy: no account's resource, read by any account's own grants
        return NO_POLICY
    try:
        reader = _READERS.get(service)
        return reader(action, resource, region, account, rest) if reader else NO_POLICY
    except InvalidPolicyDocument:
        raise
    except Exception:  # the resource does not exist (yet): no policy of its own
        return ResourcePolicy(None, account or None, service == "kms")


def _sns(action, arn, region, account, rest):
    from moto.sns.models import sns_backends

    topic = sns_backends[account][region].topics.get(arn)
    if topic is None:
        return ResourcePolicy(None, account)
    return ResourcePolicy(_compiled(topic.policy, "resource", "topic-policy", "resource"), account)


def _secretsmanager(action, arn, region, account, rest):
    from moto.secretsmanager.models import secretsmanager_backends

    secrets = secretsmanager_backends[account][region].secrets
    secret = secrets.get(arn) if arn in secrets else None
    if secret is None or not getattr(secret, "policy", None):
        return ResourcePolicy(None, account)
    return ResourcePolicy(_compiled(secret.policy, "resource", "secret-policy", "resource"), account)


def _lambda(action, arn, region, account, rest):
    from moto.awslambda.models import lambda_backends

    name = rest.split(":")[1] if rest.startswith("function:") else None
    if name is None:
        return ResourcePolicy(None, account)
    function = lambda_backends[account][region].get_function(name)
    if not function.policy.statements:
        return ResourcePolicy(None, account)
    policy = {"Version": "2012-10-17", "Id": "default",
              "Statement": [_as_lambda_stores_it(statement) for statement in function.policy.statements]}
    return ResourcePolicy(_compiled(policy, "resource", "function-policy", "resource"), account)


# moto keeps an AWS::Lambda::Permission's every property in its statement (FunctionName, FunctionUrlAuthType,
# InvokedViaFunctionUrl): Lambda stores only the statement's own elements, the URL auth type and "invoked via a
# function URL" as conditions.
_STATEMENT_ELEMENTS = ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
                       "NotResource", "Condition")


def _as_lambda_stores_it(statement: dict) -> dict:
    stored = {key: value for key, value in statement.items() if key in _STATEMENT_ELEMENTS}
    principal = stored.get("Principal")
    if isinstance(principal, str) and principal != "*":  # moto keeps a user's or role's ARN, an account's id, bare
        stored["Principal"] = {"AWS": f"arn:aws:iam::{principal}:root" if principal.isdigit() else principal}
    if statement.get("FunctionUrlAuthType"):
        condition = stored["Condition"] = {key: dict(value) for key, value in (stored.get("Condition") or {}).items()}
        condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = statement["FunctionUrlAuthType"]
    if str(statement.get("InvokedViaFunctionUrl", "")).lower() == "true":
        condition = stored["Condition"] = {key: dict(value) for key, value in (stored.get("Condition") or {}).items()}
        condition.setdefault("Bool", {})["lambda:InvokedViaFunctionUrl"] = "true"
    return stored


def _s3(action, arn, region, account, rest):
    from moto.s3.models import s3_backends

    bucket_name = rest.split("/", 1)[0]
    for owner, backends in list(s3_backends.items()):
        bucket = backends[PARTITION].buckets.get(bucket_name)
        if bucket is not None:
            if not bucket.policy:
                return ResourcePolicy(None, owner)
            return ResourcePolicy(_compiled(bucket.policy, "resource", "bucket-policy", "resource"), owner)
    return NO_POLICY


def _sqs(action, arn, region, account, rest):
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[account][region].queues.get(rest)
    if queue is None or not queue.policy:
        return ResourcePolicy(None, account)
    return ResourcePolicy(_compiled(queue.policy, "resource", "queue-policy", "resource"), account)


def _kms(action, arn, region, account, rest):
    from moto.kms.models import kms_backends

    if not rest.startswith("key/"):
        return ResourcePolicy(None, account)
    backend = kms_backends[account][region]
    key = backend.keys.get(rest[4:])
    if key is None:
        return ResourcePolicy(None, account, True)
    tags = tuple((tag["TagKey"], tag["TagValue"]) for tag in backend.list_resource_tags(key.id).get("Tags", []))
    return ResourcePolicy(_compiled(key.policy, "resource", "key-policy", "resource"), account, True, tags)


def _iam_resource(action, arn, region, account, rest):
    if action.lower() not in ("sts:assumerole", "sts:tagsession", "sts:setsourceidentity") \
            or not rest.startswith("role/"):
        return ResourcePolicy(None, account)
    role = lookup_role(account, arn)
    if role is None:
        return ResourcePolicy(None, account, True)
    return ResourcePolicy(_compiled(role.assume_role_policy_document, "resource", "trust-policy", "resource"),
                          account, True)


def _execute_api(action, arn, region, account, rest):
    """A REST API's resource policy (`execute-api:Invoke` on `API_ID/STAGE/VERB/PATH`). API Gateway expands the
    `execute-api:/...` shorthand to the API's own ARN when it saves a policy; moto keeps it as written, so it is
    expanded here."""
    from moto.apigateway.models import apigateway_backends

    api_id = rest.split("/", 1)[0]
    api = apigateway_backends[account][region].apis.get(api_id)
    if api is None or not api.policy:
        return ResourcePolicy(None, account)
    text = _text(api.policy).replace('"execute-api:/', f'"arn:{PARTITION}:execute-api:{region}:{account}:{api_id}/')
    return ResourcePolicy(_compiled(text, "resource", "api-policy", "resource"), account)


_READERS = {"sns": _sns, "secretsmanager": _secretsmanager, "lambda": _lambda, "s3": _s3, "sqs": _sqs,
            "kms": _kms, "iam": _iam_resource, "execute-api": _execute_api}


# --- service control policies ------------------------------------------------------------------------------


def organization_of(account: str):
    """(the organization's backend, its management account id) for a member account, or (None, None)."""
    from moto.organizations.models import organizations_backends

    found = organizations_backends.master_accounts.get(account)
    if found is None:
        backend = organizations_backends[account][PARTITION]
        if backend.org is not None:
            return backend, account
        return None, None
    master, partition = found
    backend = organizations_backends[master][partition]
    return (backend, master) if backend.org is not None else (None, None)


def service_control_policies(account: str) -> tuple | None:
    """The SCPs on each level above and at the account, as tuples of PolicyDocument; None where none apply."""
    if not account:
        return None
    backend, master = organization_of(account)
    if backend is None or master == account:
        return None
    root = next((ou for ou in backend.ou if ou.id == backend.org.root_id), None)
    if root is None or not any(t.get("Type") == "SERVICE_CONTROL_POLICY" and t.get("Status") == "ENABLED"
                               for t in getattr(root, "policy_types", [])):
        return None
    member = next((a for a in backend.accounts if a.id == account), None)
    if member is None:
        return None
    chain = [member]
    parent = member.parent_id
    while parent:
        node = next((ou for ou in backend.ou if ou.id == parent), None)
        if node is None:
            break
        chain.append(node)
        parent = getattr(node, "parent_id", None) if node.id != backend.org.root_id else None
    levels = []
    for node in reversed(chain):  # root first, the account last
        levels.append(tuple(_compiled(p.content, "identity", p.arn if hasattr(p, "arn") else p.id, "scp")
                            for p in node.attached_policies if p.type == "SERVICE_CONTROL_POLICY"))
    return tuple(levels)


def organization_id(account: str) -> str | None:
    backend, _ = organization_of(account)
    return backend.org.id if backend is not None else None


# --- names an ARN holds that a request leaves out -----------------------------------------------------------


def lookup_path(account: str, kind: str, name: str) -> str | None:
    """An IAM user's, role's, group's or instance profile's path ("/" or "/division/"), or None if it is not there."""
    backend = _iam(account)
    try:
        if kind == "user":
            entity = backend.users.get(name)
        elif kind == "role":
            entity = backend.get_role(name)
        elif kind == "group":
            entity = backend.groups.get(name)
        else:
            entity = backend.instance_profiles.get(name)
    except Exception:
        entity = None
    return getattr(entity, "path", None) if entity is not None else None


def lookup_secret_arn(account: str, region: str, secret_id: str) -> str | None:
    from moto.secretsmanager.models import secretsmanager_backends

    try:
        secrets = secretsmanager_backends[account][region].secrets
        if secret_id in secrets:
            return secrets[secret_id].arn
    except Exception:
        return None
    return None


def lookup_key_id(account: str, region: str, key_id: str) -> str | None:
    """The key id an id, key ARN, alias name or alias ARN stands for."""
    from moto.kms.models import kms_backends

    try:
        return kms_backends[account][region].any_id_to_key_id(key_id)
    except Exception:
        return None


def lookup_stack_arn(account: str, region: str, name: str) -> str | None:
    from moto.cloudformation.models import cloudformation_backends

    try:
        backend = cloudformation_backends[account][region]
    except Exception:
        return None
    for stack in list(backend.stacks.values()):
        if (stack.name == name or stack.stack_id == name) and stack.status != "DELETE_COMPLETE":
            return stack.stack_id
    return None
