"""CloudTrail -> EventBridge: every change of the IAM model emits its "AWS API Call via CloudTrail" event.

moto keeps no trail. The events come from where the IAM model changes
(`install`: moto's `IAMBackend` write methods, and the inline-policy writes of
its roles, users and groups, wrapped), whatever asked for the change: an IAM
call over HTTP (signed for any scope, sent as POST or GET, presigned or not),
CloudFormation creating a stack's roles and policies, the Step Functions
engine's `aws-sdk:iam` tasks. Only the outermost change of a call is an event
(moto's `PutRolePolicy` writes through the role's own `put_policy`; AWS records
one call). A change that fails emits nothing. The writes of EventBridge's rules and
CloudTrail's trails (`WATCH_WRITES`: what watches IAM) are events too, with the
source `aws.events` / `aws.cloudtrail` and their API's parameter names, so a rule
can watch the watch; so are S3's bucket-policy writes (source `aws.s3`, a
management event on AWS): a bucket policy grants without any IAM policy.

Each event goes on the default bus in us-east-1 (where AWS delivers IAM's
CloudTrail events), shaped like a real one - see `events/create_policy.json`:
`detail.requestParameters` as sent (the query form of an HTTP call; for a
change CloudFormation made, the properties it passed), `detail.responseElements`
for the calls that return something (`policy`, `policyVersion`, `role`,
`user`), null otherwise, a fresh `eventID`, `readOnly`, `eventType: AwsApiCall`,
`managementEvent`, `recipientAccountId`, `eventCategory`. It is sent once the
request that made the change is answered (`send_pending`, from the app), with
that request's id when it was an IAM call; a change made outside any request
(unit tests) is sent at once.

Who called (`user_identity`): the call's `Caller` (server/calls.py), as
CloudTrail's userIdentity reference records each kind: the per-start key as
the account's `Root`; an IAM user's key as `IAMUser`; a Lambda worker, an STS
session or the Step Functions engine as `AssumedRole` with
`sessionContext.sessionIssuer` (the role). A change CloudFormation makes names
it in `invokedBy`, `sourceIPAddress` and `userAgent`
(`cloudformation.amazonaws.com`), made with the caller's identity, or as the
session `AWSCloudFormation` of the stack's service role (`--role-arn`) when it
has one. The access key id is in `accessKeyId`, as on AWS: it is not a
secret. No secret or session token is ever part of an event.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import logging
import uuid
from datetime import datetime, timezone

from ..server import calls
from ..server.address import ACCOUNT_ID
from ..server.authentication import ASSUMED_ROLE, ROOT, USER, Caller, role_session_caller

log = logging.getLogger("workshop.localcloud.cloudtrail")

EVENT_REGION = "us-east-1"
DETAIL_TYPE = "AWS API Call via CloudTrail"
CLOUDFORMATION = "cloudformation.amazonaws.com"
CLOUDFORMATION_SESSION = "AWSCloudFormation"  # the session CloudFormation opens on a stack's service role
# IAMBackend method -> the IAM call it serves (the event's name)
BACKEND_WRITES = {
    "create_policy": "CreatePolicy", "create_policy_version": "CreatePolicyVersion",
    "delete_policy": "DeletePolicy", "delete_policy_version": "DeletePolicyVersion",
    "set_default_policy_version": "SetDefaultPolicyVersion",
    "attach_role_policy": "AttachRolePolicy", "detach_role_policy": "DetachRolePolicy",
    "put_role_policy": "PutRolePolicy", "delete_role_policy": "DeleteRolePolicy",
    "attach_user_policy": "AttachUserPolicy", "detach_user_policy": "DetachUserPolicy",
    "put_user_policy": "PutUserPolicy", "delete_user_policy": "DeleteUserPolicy",
    "attach_group_policy": "AttachGroupPolicy", "detach_group_policy": "DetachGroupPolicy",
    "put_group_policy": "PutGroupPolicy", "create_role": "CreateRole", "delete_role": "DeleteRole",
    "create_user": "CreateUser", "delete_user": "DeleteUser",
    "update_assume_role_policy": "UpdateAssumeRolePolicy",
    "update_user": "UpdateUser", "update_group": "UpdateGroup",
    "add_user_to_group": "AddUserToGroup", "remove_user_from_group": "RemoveUserFromGroup",
    # (moto keeps no user boundaries: only roles')
    "put_role_permissions_boundary": "PutRolePermissionsBoundary",
    "delete_role_permissions_boundary": "DeleteRolePermissionsBoundary",
}
# the inline-policy writes of moto's models, which CloudFormation's roles use directly: class -> (event, owner)
MODEL_WRITES = {"Role": ("PutRolePolicy", "roleName"), "User": ("PutUserPolicy", "userName"),
                "Group": ("PutGroupPolicy", "groupName")}
IAM_WRITE_ACTIONS = frozenset(BACKEND_WRITES.values())
# Other services' writes that change what watches IAM (EventBridge's rules, CloudTrail's trails):
# (module, backend class) -> (service, {method: the call it serves})
WATCH_WRITES = {
    ("moto.events.models", "EventsBackend"): ("events", {
        "put_rule": "PutRule", "enable_rule": "EnableRule", "disable_rule": "DisableRule", "delete_rule": "DeleteRule",
        "put_targets": "PutTargets", "remove_targets": "RemoveTargets"}),
    ("moto.cloudtrail.models", "CloudTrailBackend"): ("cloudtrail", {
        "start_logging": "StartLogging", "stop_logging": "StopLogging", "delete_trail": "DeleteTrail",
        "put_event_selectors": "PutEventSelectors", "update_trail": "UpdateTrail"}),
    ("moto.s3.models", "S3Backend"): ("s3", {
        "put_bucket_policy": "PutBucketPolicy", "delete_bucket_policy": "DeleteBucketPolicy"}),
}
# a backend argument -> the API's parameter, where the two differ (service -> {argument: parameter})
_SERVICE_ARGUMENT_NAMES = {"events": {"name": "name", "event_bus_arn": "eventBusName"}}
_RULE_NAMED_AS_RULE = {"PutTargets", "RemoveTargets"}  # their API names the rule `Rule`, not `Name`
_BOOLEAN_PARAMETERS = {"SetAsDefault"}
# backend argument -> the IAM API's parameter, where its name is not the argument camel-cased
_ARGUMENT_NAMES = {"policy_json": "policyDocument", "region_name": None}


# --- request parameters ------------------------------------------------------------


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def request_parameters(form: dict[str, list[str]]) -> dict:
    """CloudTrail's requestParameters from an IAM query-protocol form (Action/Version dropped)."""
    params: dict = {}
    tags: dict[str, dict] = {}
    for key, values in form.items():
        if key in ("Action", "Version"):
            continue
        value = values[0] if values else ""
        parts = key.split(".", 3)
        if key.startswith("Tags.member.") and len(parts) == 4 and parts[2].isdigit():
            tags.setdefault(parts[2], {})[_camel(parts[3])] = value
            continue
        if key in _BOOLEAN_PARAMETERS:
            params[_camel(key)] = value.lower() == "true"
        else:
            params[_camel(key)] = value
    if tags:
        params["tags"] = [tags[i] for i in sorted(tags, key=int)]
    return params


def parameters_of_arguments(arguments: dict) -> dict:
    """CloudTrail's requestParameters from what a backend method was given (a change nobody sent as a form)."""
    params: dict = {}
    for name, value in arguments.items():
        if name in ("self", "cls") or value is None or value == "" or value == [] or value == {}:
            continue
        api_name = _ARGUMENT_NAMES.get(name, "") if name in _ARGUMENT_NAMES else \
            "".join(part.capitalize() if i else part for i, part in enumerate(name.split("_")))
        if not api_name:
            continue
        if name == "tags" and isinstance(value, list):
            value = [{"key": tag.get("Key"), "value": tag.get("Value")} for tag in value if isinstance(tag, dict)]
        elif isinstance(value, (dict, list)):  # a document CloudFormation passed as an object: its JSON text
            value = json.dumps(value, default=str)
        elif not isinstance(value, (str, bool, int, float)):
            value = str(value)
        params[api_name] = value
    return params


# --- response elements ---------------------------------------------------------------


def cloudtrail_date(value) -> str:
    """IAM's CloudTrail dates read "Nov 28, 2026, 10:15:30 AM"."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            moment = datetime.now(timezone.utc)
    return moment.strftime("%b %-d, %Y, %-I:%M:%S %p")


def response_elements(action: str, result) -> dict | None:
    """What the call answered, as CloudTrail records it, from the model object moto returned."""
    if result is None:
        return None
    if action == "CreatePolicy":
        return {"policy": {
            "policyName": result.name, "policyId": result.id, "arn": result.arn, "path": result.path or "/",
            "defaultVersionId": result.default_version_id, "attachmentCount": int(result.attachment_count or 0),
            "permissionsBoundaryUsageCount": 0, "isAttachable": True,
            "createDate": cloudtrail_date(result.create_date),
            "updateDate": cloudtrail_date(getattr(result, "update_date", None) or result.create_date),
        }}
    if action == "CreatePolicyVersion":
        return {"policyVersion": {"versionId": result.version_id, "isDefaultVersion": bool(result.is_default),
                                  "createDate": cloudtrail_date(result.create_date)}}
    if action == "CreateRole":
        return {"role": {"path": result.path, "roleName": result.name, "roleId": result.id, "arn": result.arn,
                         "createDate": cloudtrail_date(result.create_date),
                         "assumeRolePolicyDocument": result.assume_role_policy_document}}
    if action == "CreateUser":
        return {"user": {"path": result.path, "userName": result.name, "userId": result.id, "arn": result.arn,
                         "createDate": cloudtrail_date(result.create_date)}}
    return None


# --- who called -----------------------------------------------------------------------


def user_identity(caller: Caller, now: datetime | None = None) -> dict:
    """CloudTrail's userIdentity for a caller (the reference's shape for each kind of identity)."""
    now = now or datetime.now(timezone.utc)
    account = caller.account_id
    key = {"accessKeyId": caller.access_key_id} if caller.access_key_id else {}
    attributes = {"creationDate": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "mfaAuthenticated": "false"}
    if caller.kind == ASSUMED_ROLE:
        role_arn = caller.principal_arn
        role_id = caller.user_id.split(":", 1)[0]
        return {
            "type": "AssumedRole", "principalId": caller.user_id, "arn": caller.arn, "accountId": account, **key,
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": role_id, "arn": role_arn, "accountId": account,
                                  "userName": role_arn.rsplit("/", 1)[-1]},
                "attributes": attributes,
            },
        }
    session = {"sessionContext": {"attributes": attributes}} if caller.expires is not None else {}
    if caller.kind == USER:
        return {"type": "IAMUser", "principalId": caller.user_id, "arn": caller.principal_arn, "accountId": account,
                **key, "userName": caller.principal_arn.rsplit("/", 1)[-1], **session}
    # the per-start key (LEARNER_ADMIN): the account's administrator, a learner's own account (its root);
    # and ROOT
    return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account,
            **key, **session}


def _cloudformation_role(call: calls.Call) -> str | None:
    """The stack's service role, when the CloudFormation call has one (`RoleARN`, or the stack's own)."""
    form = call.parameters or {}
    role = (form.get("RoleARN") or [None])[0]
    if role:
        return role
    stack_name = (form.get("StackName") or [None])[0]
    if not stack_name:
        return None
    try:
        from moto.cloudformation.models import cloudformation_backends

        for regions in list(cloudformation_backends.values()):
            for backend in list(regions.values()):
                for stack in list(backend.stacks.values()):
                    if stack_name in (stack.name, stack.stack_id):
                        return getattr(stack, "role_arn", None)
    except Exception:  # no CloudFormation loaded: no stack to ask
        return None
    return None


# --- the event -----------------------------------------------------------------------------


def build_event(*, action: str, request_parameters: dict, response_elements: dict | None, identity: dict,
                account_id: str, source_ip: str = "127.0.0.1", user_agent: str = "",
                request_id: str | None = None, now: datetime | None = None, service: str = "iam") -> dict:
    """The EventBridge event (as a rule target receives it) for one successful call of `service`."""
    now = now or datetime.now(timezone.utc)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    detail = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": stamp,
        "eventSource": f"{service}.amazonaws.com",
        "eventName": action,
        "awsRegion": EVENT_REGION,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": request_parameters,
        "responseElements": response_elements,
        "requestID": request_id or str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{service}.amazonaws.com"},
    }
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": DETAIL_TYPE, "source": f"aws.{service}",
            "account": account_id, "time": stamp, "region": EVENT_REGION, "resources": [], "detail": detail}


def bucket_policy_parameters(arguments: dict) -> dict:
    """CloudTrail's requestParameters of an S3 bucket-policy write: the bucket, and the policy as an object
    (its text when it is not JSON)."""
    parameters = {"bucketName": arguments.get("bucket_name")}
    policy = arguments.get("policy")
    if policy is not None:
        text = policy.decode("utf-8", "replace") if isinstance(policy, bytes) else str(policy)
        try:
            parameters["bucketPolicy"] = json.loads(text)
        except ValueError:
            parameters["bucketPolicy"] = text
    return parameters


def watch_parameters(service: str, action: str, arguments: dict) -> dict:
    """CloudTrail's requestParameters of an EventBridge, CloudTrail or S3 write, from the backend's arguments."""
    if service == "s3":
        return bucket_policy_parameters(arguments)
    names = _SERVICE_ARGUMENT_NAMES.get(service, {})
    renamed = {}
    for name, value in arguments.items():
        if name in names:
            api = "rule" if action in _RULE_NAMED_AS_RULE and names[name] == "name" else names[name]
            renamed[api] = value
        else:
            renamed[name] = value
    parameters = parameters_of_arguments({k: v for k, v in renamed.items() if k not in ("rule",)})
    if "rule" in renamed:
        parameters["rule"] = renamed["rule"]
    return parameters


def event_for_change(action: str, arguments: dict, result, account_id: str, call: calls.Call | None,
                     service: str = "iam") -> dict:
    """The event of one change of the IAM model (or of what watches it), told as the call that made it
    (None: the account's root)."""
    now = datetime.now(timezone.utc)
    if service != "iam":
        parameters = watch_parameters(service, action, arguments)
    elif call is not None and call.parameters and call.action == action and call.service == "iam":
        parameters = request_parameters(call.parameters)
    else:
        parameters = parameters_of_arguments(arguments)
    caller = call.caller if call is not None else Caller(
        access_key_id=None, principal_arn=f"arn:aws:iam::{account_id}:root", account_id=account_id, kind=ROOT,
        user_id=account_id)
    source_ip = call.source_ip if call is not None else "127.0.0.1"
    user_agent = call.user_agent if call is not None else ""
    invoked_by = call.via if call is not None else None
    if invoked_by == CLOUDFORMATION:
        service_role = _cloudformation_role(call)
        if service_role:
            caller = role_session_caller(service_role, CLOUDFORMATION_SESSION)
        source_ip = user_agent = invoked_by
    identity = user_identity(caller, now)
    if invoked_by:
        identity["invokedBy"] = invoked_by
    return build_event(action=action, request_parameters=parameters,
                       response_elements=response_elements(action, result) if service == "iam" else None,
                       identity=identity, account_id=account_id, source_ip=source_ip, user_agent=user_agent, now=now,
                       service=service)


def put_event(event: dict) -> None:
    """Put the event on the default bus of us-east-1 (moto delivers it to matching rules)."""
    from moto.events.models import events_backends

    backend = events_backends[event["account"]][EVENT_REGION]
    # moto keeps `time` as epoch seconds (its input templates need a number);
    # services/events/targets.py delivers it as the ISO text AWS sends.
    moment = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    backend.put_events([{"Source": event["source"], "DetailType": event["detail-type"],
                         "Detail": json.dumps(event["detail"]), "Time": moment.timestamp(),
                         "Resources": event["resources"], "EventBusName": "default"}])


# The one point where an event leaves for EventBridge: None puts it on the bus at
# once; the AWS-like mode (localcloud/aws_like.py) sets its trail check and CloudTrail's delay.
deliver = None


def _send(event: dict) -> None:
    try:
        (deliver or put_event)(event)
    except Exception:
        log.exception("could not put the CloudTrail event for %s", event["detail"].get("eventName"))


def send_pending(call: calls.Call, request_id: str | None = None) -> list[dict]:
    """Send the events of what `call` changed, now that it is answered; the events sent."""
    sent = []
    while call.pending:
        event = call.pending.pop(0)
        if request_id:
            event["detail"]["requestID"] = request_id
        _send(event)
        sent.append(event)
    return sent


# --- where the IAM model changes -------------------------------------------------------------

_changing: contextvars.ContextVar[bool] = contextvars.ContextVar("localcloud_iam_change", default=False)


def _changed(action: str, arguments: dict, result, account_id: str, service: str = "iam") -> None:
    call = calls.current()
    try:
        event = event_for_change(action, arguments, result, account_id, call, service)
    except Exception:  # the change happened: keep it, and say loudly that its event could not be made
        log.exception("could not make the CloudTrail event for %s", action)
        return
    # CloudFormation's own writes are each an IAM call of their own, told at once: held until the stack's
    # call is answered, they would reach a rule the same stack made after them (its orchestrator's own)
    if call is not None and call.pending is not None and call.via != CLOUDFORMATION:
        call.pending.append(event)
    else:
        _send(event)


def _watch(original, action: str, owner_parameter: str | None = None, service: str = "iam"):
    signature = inspect.signature(original)

    @functools.wraps(original)
    def watched(self, *args, **kwargs):
        if _changing.get():  # a change inside another: AWS records the call, once
            return original(self, *args, **kwargs)
        token = _changing.set(True)
        try:
            result = original(self, *args, **kwargs)
        finally:
            _changing.reset(token)
        try:
            arguments = dict(signature.bind(self, *args, **kwargs).arguments)
        except TypeError:
            arguments = {}
        if owner_parameter:  # a model's own write: name its owner as the IAM call does
            arguments = {_snake(owner_parameter): self.name, **arguments}
        _changed(action, arguments, result, getattr(self, "account_id", ACCOUNT_ID), service)
        return result

    watched._localcloud = True
    return watched


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def targets() -> list[tuple[str, str, str]]:
    """(module, class, attribute) of every moto method `install` wraps."""
    return [("moto.iam.models", "IAMBackend", name) for name in BACKEND_WRITES] + \
        [("moto.iam.models", owner, "put_policy") for owner in MODEL_WRITES] + \
        [(module, owner, name) for (module, owner), (_, writes) in WATCH_WRITES.items() for name in writes]


def install() -> None:
    """Wrap the IAM model's writes so each one emits its CloudTrail event."""
    from moto.iam import models

    for name, action in BACKEND_WRITES.items():
        original = getattr(models.IAMBackend, name)
        if not getattr(original, "_localcloud", False):
            setattr(models.IAMBackend, name, _watch(original, action))
    for owner, (action, owner_parameter) in MODEL_WRITES.items():
        cls = getattr(models, owner)
        if not getattr(cls.put_policy, "_localcloud", False):
            cls.put_policy = _watch(cls.put_policy, action, owner_parameter)
    import importlib

    for (module, owner), (service, writes) in WATCH_WRITES.items():
        cls = getattr(importlib.import_module(module), owner)
        for name, action in writes.items():
            original = getattr(cls, name)
            if not getattr(original, "_localcloud", False):
                setattr(cls, name, _watch(original, action, service=service))
