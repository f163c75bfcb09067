"""What IAM holds for a target, read from IAM: the event only says which thing changed.

Documents are kept as the text IAM holds (the IAM client here does not parse
them): a duplicate key must reach the judge, which rejects it, and a restore
must give IAM back the text byte for byte. A target IAM no longer holds raises
`Gone`; IAM is eventually consistent, so `settled` reads again for a while
before "gone" counts.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.handlers import json_decode_policies

from .sdk_clients import per_sandbox, s3_client
from .targets import principal_kwargs
from .transient import aws_call, error_code


class Gone(Exception):
    """IAM no longer holds what the event named."""


def who(changed_by) -> str:
    """Who made a change, as CloudTrail's userIdentity names them (its ARN when it has one)."""
    if not isinstance(changed_by, dict):
        return "an unknown caller"
    issuer = (changed_by.get("sessionContext") or {}).get("sessionIssuer") or {}
    for name in (changed_by.get("arn"), issuer.get("arn") if isinstance(issuer, dict) else None,
                 changed_by.get("principalId"), changed_by.get("type")):
        if isinstance(name, str) and name:
            return name
    return "an unknown caller"


def gone_message(label: str, event_name, changed_by, event_time, why: str) -> str:
    """The alert for a change IAM no longer holds: what was seen, and what is gone. Nothing of it is
    in force, but a change that vanishes before it is judged (deleted again, its principal or policy
    deleted or renamed) is worth a human's look: it is how a permission is moved out of sight."""
    seen = f"{event_name or 'A change'} by {who(changed_by)}" + (f" at {event_time}" if event_time else "")
    return (f"{label}: {seen} was seen, but IAM no longer holds it ({why}). Nothing of it is in force, so "
            "nothing was reverted. It was undone, or its principal or policy deleted or renamed, before it "
            "could be judged: a rename is judged under the new name by its own event. Check who made the "
            "change and why.")


@per_sandbox
def iam_client():
    """An IAM client that hands policy documents back as IAM holds them (text), not parsed."""
    iam = boto3.client("iam", config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    iam.meta.events.unregister("after-call.iam", json_decode_policies)
    return iam


def document_text(raw) -> str:
    """A document as IAM returned it: URL-encoded JSON text (a raw JSON object is kept as it is)."""
    if isinstance(raw, (dict, list)):
        return json.dumps(raw)
    text = str(raw)
    return text if text.lstrip().startswith("{") else unquote(text)


def document_json(raw):
    """The document's JSON value, or its text when it is not JSON."""
    text = document_text(raw)
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


@dataclass(frozen=True)
class Held:
    """What IAM holds for a target now."""

    document: str  # the text, as IAM holds it
    in_force: bool  # a managed version: whether it is the default
    source: str  # the IAM call that read it, for the verdict
    policy_id: str | None = None  # the managed policy's id, when the reader knows it
    attached_version_id: str | None = None  # an attachment: the default version read


def policy_id(iam, arn: str) -> str:
    """The managed policy's id: a policy deleted and created again under its ARN is another policy."""
    try:
        return aws_call(iam.get_policy, PolicyArn=arn)["Policy"]["PolicyId"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise Gone(f"no policy {arn}") from exc
        raise


def is_attached(iam, target: dict) -> bool:
    paginator = {"user": lambda: iam.get_paginator("list_attached_user_policies"),
                 "role": lambda: iam.get_paginator("list_attached_role_policies"),
                 "group": lambda: iam.get_paginator("list_attached_group_policies")}[target["principalType"]]()

    def attached_policies(**kwargs):
        return [p["PolicyArn"] for page in paginator.paginate(**kwargs) for p in page["AttachedPolicies"]]

    return target["policyArn"] in aws_call(attached_policies, **principal_kwargs(target))


def _all(paginator, key: str, **kwargs) -> list:
    def listed(**arguments):
        return [item for page in paginator.paginate(**arguments) for item in page[key]]

    return aws_call(listed, **kwargs)


def groups_of(iam, user: str) -> list[str]:
    """The names of the groups a user is in."""
    return [g["GroupName"] for g in _all(iam.get_paginator("list_groups_for_user"), "Groups", UserName=user)]


def is_member(iam, user: str, group: str) -> bool:
    return group in groups_of(iam, user)


def default_version_text(iam, arn: str) -> str:
    """The text of a managed policy's default version (what an attachment grants)."""
    default = aws_call(iam.get_policy, PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return document_text(aws_call(iam.get_policy_version, PolicyArn=arn, VersionId=default)
                         ["PolicyVersion"]["Document"])


def principal_policies(iam, principal_type: str, name: str) -> list[dict]:
    """Every inline policy and attachment a user, role or group holds, as targets (kind inline or
    attachment) ValidatePolicy and RevertPolicy take."""
    inline_names = {"user": lambda: iam.get_paginator("list_user_policies"),
                    "role": lambda: iam.get_paginator("list_role_policies"),
                    "group": lambda: iam.get_paginator("list_group_policies")}[principal_type]()
    attached = {"user": lambda: iam.get_paginator("list_attached_user_policies"),
                "role": lambda: iam.get_paginator("list_attached_role_policies"),
                "group": lambda: iam.get_paginator("list_attached_group_policies")}[principal_type]()
    who = {f"{principal_type.capitalize()}Name": name}
    label = f"{principal_type} {name}"
    return [{"kind": "inline", "principalType": principal_type, "principalName": name, "policyName": policy,
             "label": f"inline policy {policy} of {label}"} for policy in _all(inline_names, "PolicyNames", **who)] + \
        [{"kind": "attachment", "principalType": principal_type, "principalName": name, "policyArn": p["PolicyArn"],
          "label": f"{p['PolicyArn']} attached to {label}"} for p in _all(attached, "AttachedPolicies", **who)]


def group_document(iam, group: str) -> tuple[str, list[str]]:
    """Everything a group's inline and attached policies allow, as one document (their statements
    side by side: IAM's union of them), and where each part came from. A part that is not a JSON
    policy makes the whole its unreadable text, so the judge refuses it (fail closed)."""
    parts = [(f"inline {name}", document_text(aws_call(iam.get_group_policy, GroupName=group, PolicyName=name)
                                              ["PolicyDocument"]))
             for name in _all(iam.get_paginator("list_group_policies"), "PolicyNames", GroupName=group)]
    parts += [(p["PolicyArn"], default_version_text(iam, p["PolicyArn"]))
              for p in _all(iam.get_paginator("list_attached_group_policies"), "AttachedPolicies", GroupName=group)]
    statements = []
    for _, text in parts:
        try:
            found = json.loads(text)["Statement"]
        except (ValueError, RecursionError, KeyError, TypeError):
            return text, [source for source, _ in parts]
        statements.extend(found if isinstance(found, list) else [found])
    return json.dumps({"Version": "2012-10-17", "Statement": statements}), [source for source, _ in parts]


def read_held(iam, target: dict, known_policy_id: str | None = None) -> Held:
    """What IAM holds for the target (a checked one, see targets.target_problem); raises Gone when
    it holds nothing (a version deleted, an inline policy removed, a policy detached, a principal
    deleted). `known_policy_id`: a managed policy's id, when the caller has read it."""
    kind = target["kind"]
    if kind == "bucket":
        return read_bucket_policy(target["bucketName"])
    try:
        if kind == "managed":
            arn, version_id = target["policyArn"], target["versionId"]
            version = aws_call(iam.get_policy_version, PolicyArn=arn, VersionId=version_id)["PolicyVersion"]
            return Held(document_text(version["Document"]), bool(version["IsDefaultVersion"]),
                        f"GetPolicyVersion {arn} {version_id}", known_policy_id)
        principal, name = target["principalType"], target["principalName"]
        if kind == "trust":
            role = aws_call(iam.get_role, RoleName=name)["Role"]
            return Held(document_text(role["AssumeRolePolicyDocument"]), True, f"GetRole {name} (its trust policy)",
                        role["RoleId"])
        if kind == "membership":
            group = target["groupName"]
            if not is_member(iam, name, group):
                raise Gone(f"user {name} is not in group {group}")
            document, sources = group_document(iam, group)
            return Held(document, True, f"the policies of group {group}: {', '.join(sources) or 'none'}")
        if kind == "inline":
            getter = {"user": iam.get_user_policy, "role": iam.get_role_policy,
                      "group": iam.get_group_policy}[principal]
            found = aws_call(getter, PolicyName=target["policyName"], **principal_kwargs(target))
            return Held(document_text(found["PolicyDocument"]), True,
                        f"Get{principal.capitalize()}Policy {name} {target['policyName']}")
        if not is_attached(iam, target):
            raise Gone(f"{target['policyArn']} is not attached to {principal} {name}")
        arn = target["policyArn"]
        policy = aws_call(iam.get_policy, PolicyArn=arn)["Policy"]
        default = policy["DefaultVersionId"]
        version = aws_call(iam.get_policy_version, PolicyArn=arn, VersionId=default)["PolicyVersion"]
        return Held(document_text(version["Document"]), True,
                    f"GetPolicyVersion {arn} {default} (its default, attached to {principal} {name})",
                    policy["PolicyId"], default)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise Gone(exc.response["Error"].get("Message", "NoSuchEntity")) from exc
        raise


def read_bucket_policy(bucket: str) -> Held:
    """The bucket's policy as S3 holds it (text); Gone when the bucket or its policy is gone."""
    try:
        found = aws_call(s3_client().get_bucket_policy, Bucket=bucket)["Policy"]
    except ClientError as exc:
        if error_code(exc) in ("NoSuchBucket", "NoSuchBucketPolicy"):
            raise Gone(f"bucket {bucket} holds no policy ({error_code(exc)})") from exc
        raise
    return Held(document_text(found), True, f"GetBucketPolicy {bucket}")


def settled(read, settle_seconds: float):
    """`read()`, again for up to `settle_seconds` while it raises Gone: IAM is eventually
    consistent, and "already gone" must not be a change IAM merely did not show yet."""
    deadline = time.monotonic() + settle_seconds
    while True:
        try:
            return read()
        except Gone:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
