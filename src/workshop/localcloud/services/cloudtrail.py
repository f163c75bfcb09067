"""CloudTrail -> EventBridge: IAM write calls emit "AWS API Call via CloudTrail" events.

moto keeps no trail. The server hands every successful IAM write call it
served (`IAM_WRITE_ACTIONS`) to `emit_iam_call`, which puts an event on the
default bus in us-east-1 (where AWS delivers IAM's CloudTrail events) shaped
like a real one - see `events/create_policy.json`: `detail.requestParameters`
as sent (the policy document is the JSON text of the request),
`detail.responseElements` from the response (`policy` for CreatePolicy,
`policyVersion` for CreatePolicyVersion, null for calls that return nothing),
a fresh `eventID`, `readOnly`, `eventType: AwsApiCall`, `managementEvent`,
`recipientAccountId`, `eventCategory`. Refused calls emit nothing.

Who called: credentials a local Lambda worker uses map back to the
function's execution role (`server/identities.py`) and are
recorded as `AssumedRole` with `sessionContext.sessionIssuer`, as AWS records a
Lambda function's calls; an IAM user's access key as `IAMUser`; anything else
(e.g. the dummy `testing` keys) as the account's `Root`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs

# The response echoes what the request sent: parse it without DTDs or entities.
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from ..server.identities import identity_for_access_key

log = logging.getLogger("workshop.localcloud.cloudtrail")

EVENT_REGION = "us-east-1"
DETAIL_TYPE = "AWS API Call via CloudTrail"
IAM_WRITE_ACTIONS = frozenset({
    "CreatePolicy", "CreatePolicyVersion", "DeletePolicy", "DeletePolicyVersion",
    "SetDefaultPolicyVersion", "AttachRolePolicy", "DetachRolePolicy", "PutRolePolicy",
    "DeleteRolePolicy", "AttachUserPolicy", "DetachUserPolicy", "PutUserPolicy",
    "DeleteUserPolicy", "AttachGroupPolicy", "DetachGroupPolicy", "PutGroupPolicy",
    "CreateRole", "DeleteRole", "CreateUser", "DeleteUser", "UpdateAssumeRolePolicy",
})
_BOOLEAN_PARAMETERS = {"SetAsDefault"}


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


# --- response elements ---------------------------------------------------------------


def _strip(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root, name):
    for element in root.iter():
        if _strip(element.tag) == name:
            return element
    return None


def _fields(element) -> dict[str, str]:
    return {_strip(child.tag): (child.text or "") for child in element}


def cloudtrail_date(value: str | None) -> str:
    """IAM's CloudTrail dates read "Nov 28, 2026, 10:15:30 AM"."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        moment = datetime.now(timezone.utc)
    return moment.strftime("%b %-d, %Y, %-I:%M:%S %p")


def response_elements(action: str, response_xml: bytes | str) -> dict | None:
    try:
        root = fromstring(response_xml)
    except (ParseError, DefusedXmlException):
        return None
    if action == "CreatePolicy":
        element = _find(root, "Policy")
        if element is None:
            return None
        f = _fields(element)
        return {"policy": {
            "policyName": f.get("PolicyName"),
            "policyId": f.get("PolicyId"),
            "arn": f.get("Arn"),
            "path": f.get("Path", "/"),
            "defaultVersionId": f.get("DefaultVersionId", "v1"),
            "attachmentCount": int(f.get("AttachmentCount") or 0),
            "permissionsBoundaryUsageCount": int(f.get("PermissionsBoundaryUsageCount") or 0),
            "isAttachable": (f.get("IsAttachable", "true").lower() == "true"),
            "createDate": cloudtrail_date(f.get("CreateDate")),
            "updateDate": cloudtrail_date(f.get("UpdateDate") or f.get("CreateDate")),
        }}
    if action == "CreatePolicyVersion":
        element = _find(root, "PolicyVersion")
        if element is None:
            return None
        f = _fields(element)
        return {"policyVersion": {
            "versionId": f.get("VersionId"),
            "isDefaultVersion": f.get("IsDefaultVersion", "false").lower() == "true",
            "createDate": cloudtrail_date(f.get("CreateDate")),
        }}
    return None


# --- who called -----------------------------------------------------------------------


def _principal_id(prefix: str, text: str) -> str:
    return prefix + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest().upper()[:17]


def user_identity(access_key: str, account_id: str, now: datetime | None = None) -> dict:
    worker = identity_for_access_key(access_key)
    if worker and worker.get("role_arn"):
        role_arn = worker["role_arn"]
        role_name = role_arn.rsplit("/", 1)[-1]
        role_id = _role_id(role_arn, account_id) or _principal_id("AROA", role_arn)
        session = worker["session_name"]
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session}",
            "accountId": account_id,
            "accessKeyId": access_key,
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": role_id, "arn": role_arn,
                                  "accountId": account_id, "userName": role_name},
                "attributes": {"creationDate": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "mfaAuthenticated": "false"},
            },
        }
    user = _iam_user_for_key(access_key, account_id)
    if user is not None:
        return {"type": "IAMUser", "principalId": user.id, "arn": user.arn, "accountId": account_id,
                "accessKeyId": access_key, "userName": user.name}
    return {"type": "Root", "principalId": account_id, "arn": f"arn:aws:iam::{account_id}:root",
            "accountId": account_id, "accessKeyId": access_key}


def _iam_backend(account_id: str):
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["aws"]


def _role_id(role_arn: str, account_id: str) -> str | None:
    try:
        return _iam_backend(account_id).get_role_by_arn(role_arn).id
    except Exception:
        return None


def _iam_user_for_key(access_key: str, account_id: str):
    try:
        backend = _iam_backend(account_id)
        for user in list(backend.users.values()):
            if any(key.access_key_id == access_key for key in user.access_keys):
                return user
    except Exception:
        return None
    return None


# --- the event -----------------------------------------------------------------------------


def build_event(*, action: str, form: dict[str, list[str]], response_xml: bytes | str, access_key: str,
                account_id: str, source_ip: str = "127.0.0.1", user_agent: str = "",
                request_id: str | None = None, now: datetime | None = None) -> dict:
    """The EventBridge event (as a rule target receives it) for one successful IAM call."""
    now = now or datetime.now(timezone.utc)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    detail = {
        "eventVersion": "1.09",
        "userIdentity": user_identity(access_key, account_id, now),
        "eventTime": stamp,
        "eventSource": "iam.amazonaws.com",
        "eventName": action,
        "awsRegion": EVENT_REGION,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": request_parameters(form),
        "responseElements": response_elements(action, response_xml),
        "requestID": request_id or str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": "iam.amazonaws.com"},
    }
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": DETAIL_TYPE, "source": "aws.iam",
            "account": account_id, "time": stamp, "region": EVENT_REGION, "resources": [], "detail": detail}


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


def emit_iam_call(*, body: bytes, response_xml: bytes, access_key: str, account_id: str,
                  source_ip: str = "127.0.0.1", user_agent: str = "", request_id: str | None = None) -> dict | None:
    """Called by the server after a successful IAM call; returns the event it put, if any."""
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    action = (form.get("Action") or [""])[0]
    if action not in IAM_WRITE_ACTIONS:
        return None
    event = build_event(action=action, form=form, response_xml=response_xml, access_key=access_key,
                        account_id=account_id, source_ip=source_ip, user_agent=user_agent,
                        request_id=request_id)
    try:
        (deliver or put_event)(event)
    except Exception:
        log.exception("could not put the CloudTrail event for %s", action)
    return event
