"""Reading and deciding incidents of the deployed test stack with plain boto3 and HTTP (e2e tests).

The stack is the session's `deployed_stack` (tests/support/cloud_fixtures.py); the
environment already points boto3 at its local cloud.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import requests

from polling import wait_for
from workshop.localcloud import read_mailbox

ROOT = Path(__file__).resolve().parents[2]
BAD = (ROOT / "policies/badpolicy.json").read_text()
GOOD = (ROOT / "policies/goodpolicy.json").read_text()
ADMIN_DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                                     "Resource": "*"}]})
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
HARMLESS_SID = "RevertedBySecurityOrchestrator"


def aws(service: str):
    return boto3.client(service, region_name="us-east-1")


def raw_iam():
    """IAM with documents as the text IAM holds (the functions read them so)."""
    from botocore.handlers import json_decode_policies

    iam = aws("iam")
    iam.meta.events.unregister("after-call.iam", json_decode_policies)
    return iam


def unique(kind: str) -> str:
    return f"def-{kind}-{uuid.uuid4().hex[:8]}"


# --- executions -------------------------------------------------------------------------------


def finished(sfn, execution_arn: str, timeout: float = 60) -> dict:
    return wait_for(lambda: (lambda d: d if d["status"] != "RUNNING" else None)(
        sfn.describe_execution(executionArn=execution_arn)), timeout=timeout, what=f"{execution_arn} to finish")


def states_entered(sfn, execution_arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def waiting_at(sfn, execution_arn: str, state: str) -> bool:
    entered = states_entered(sfn, execution_arn)
    return bool(entered) and entered[-1] == state and \
        sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"


def task_parameters(sfn, execution_arn: str, state: str) -> dict:
    """What a task state was scheduled with, as GetExecutionHistory shows anyone allowed to read it."""
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    entered = False
    for event in events:
        if event.get("stateEnteredEventDetails", {}).get("name") == state:
            entered = True
        details = event.get("taskScheduledEventDetails") or event.get("lambdaFunctionScheduledEventDetails")
        if entered and details:
            return json.loads(details.get("parameters") or details.get("input") or "{}")
    raise AssertionError(f"{state} was never scheduled in {execution_arn}")


def cloudtrail_event(event_name: str, request_parameters: dict, response_elements=None,
                     user_identity: dict | None = None) -> dict:
    """A CloudTrail-via-EventBridge event shaped like the local cloud's (and AWS's), with a fresh eventID."""
    sample = json.loads((ROOT / "events/create_policy.json").read_text())
    detail = sample["detail"]
    detail.update(eventName=event_name, eventID=str(uuid.uuid4()), requestParameters=request_parameters,
                  responseElements=response_elements,
                  eventTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    if user_identity is not None:
        detail["userIdentity"] = user_identity
    return sample


def put_on_the_bus(event: dict) -> None:
    """Hand an event to EventBridge, as CloudTrail does."""
    entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"]),
             "Resources": event.get("resources", [])}
    assert aws("events").put_events(Entries=[entry])["FailedEntryCount"] == 0


@contextmanager
def rule_paused(stack: dict):
    """The stack's EventBridge rule disabled for a moment: changes made now are never seen, as
    changes made before the stack existed (AWS delivers nothing to a disabled rule)."""
    events = aws("events")
    names = [name for name in events.list_rule_names_by_target(TargetArn=stack["StateMachineArn"])["RuleNames"]
             if "EventPattern" in events.describe_rule(Name=name)]  # not the reconciliation schedule
    assert names, "the stack's rule was not found"
    # The watch of the watch first: it would enable the orchestrator's rule again at once.
    guards = events.list_rule_names_by_target(TargetArn=stack["WatchGuardArn"])["RuleNames"] \
        if stack.get("WatchGuardArn") else []
    for name in guards + names:
        events.disable_rule(Name=name)
    try:
        yield
    finally:
        for name in names + guards:
            events.enable_rule(Name=name)


# --- mail and links ---------------------------------------------------------------------------


def approval_mails(endpoint: str, text: str) -> list[dict]:
    return [m for m in read_mailbox(endpoint) if m["subject"].startswith("Approval needed") and text in m["body"]]


def mails_about(endpoint: str, text: str, subject_part: str = "") -> list[dict]:
    return [m for m in read_mailbox(endpoint) if subject_part in m["subject"] and text in m["body"]]


def approval_mail(endpoint: str, text: str, timeout: float = 30) -> dict:
    return wait_for(lambda: (approval_mails(endpoint, text) or [None])[0], timeout=timeout,
                    what=f"the approval e-mail about {text}")


def link(mail: dict, decision: str) -> str:
    return re.search(rf"(https?://\S+/{decision}\?\S+)", mail["body"]).group(1)


def link_fields(url: str) -> tuple[str, dict]:
    """(the endpoint, the link's query fields): what the confirmation page's form posts."""
    parts = urlsplit(url)
    return url.split("?")[0], {k: v[0] for k, v in parse_qs(parts.query).items()}


def decide_by_link(mail: dict, decision: str) -> requests.Response:
    """Press the confirmation page's button of the e-mail's allow / deny link."""
    endpoint, fields = link_fields(link(mail, decision))
    return requests.post(endpoint, data=fields, timeout=60)


# --- the incidents table ----------------------------------------------------------------------


def incidents(stack: dict) -> list[dict]:
    """Every incident item, plain values."""
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    items = []
    for page in aws("dynamodb").get_paginator("scan").paginate(TableName=stack["IncidentsTableName"],
                                                               ConsistentRead=True):
        items += [{k: plain.deserialize(v) for k, v in item.items()} for item in page["Items"]]
    from workshop.aws.incidents import INCIDENT_KINDS

    return [i for i in items if i.get("kind") in INCIDENT_KINDS]


def incidents_about(stack: dict, text: str) -> list[dict]:
    return [i for i in incidents(stack) if text in i.get("target", "")]


# --- what IAM holds ---------------------------------------------------------------------------


def default_document(arn: str, iam=None) -> tuple[str, dict]:
    """The policy's default version and its document, read with `iam` (the functions' unit tests pass moto's)
    or the deployed stack's. A revert makes a new default and deletes the old one, and
    the tests poll while it does: a default read just before the revert is gone when its document is asked
    for, so it is read again."""
    iam = iam or aws("iam")
    for _ in range(5):
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        try:
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        except iam.exceptions.NoSuchEntityException:
            continue
        return version, json.loads(document) if isinstance(document, str) else document
    raise AssertionError(f"the default version of {arn} changed at each of five reads")


def harmless_in_force(arn: str) -> bool:
    return any(s.get("Sid") == HARMLESS_SID for s in default_document(arn)[1].get("Statement", []))


def versions(arn: str) -> list[str]:
    return sorted(v["VersionId"] for v in aws("iam").list_policy_versions(PolicyArn=arn)["Versions"])


def new_principal(kind: str) -> str:
    name = unique(kind)
    iam = aws("iam")
    {"user": lambda: iam.create_user(UserName=name),
     "role": lambda: iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
         "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]})),
     "group": lambda: iam.create_group(GroupName=name)}[kind]()
    return name


def inline_text(kind: str, principal: str, policy: str) -> str | None:
    """The inline policy's document text as IAM holds it, or None."""
    from urllib.parse import unquote

    from botocore.exceptions import ClientError

    try:
        raw = getattr(raw_iam(), f"get_{kind}_policy")(**{f"{kind.capitalize()}Name": principal},
                                                       PolicyName=policy)["PolicyDocument"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchEntity":
            return None
        raise
    return raw if raw.lstrip().startswith("{") else unquote(raw)


def attached(kind: str, principal: str) -> list[str]:
    listed = getattr(aws("iam"), f"list_attached_{kind}_policies")(**{f"{kind.capitalize()}Name": principal})
    return [p["PolicyArn"] for p in listed["AttachedPolicies"]]
