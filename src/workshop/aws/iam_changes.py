"""Changes to IAM, made on purpose: firing a policy change, finding the execution it starts, cleaning up.

    from workshop.aws.iam_changes import fire_policy, execution_started_by, policy_versions
    fired = fire_policy(cloud, "../policies/badpolicy.json")   # a unique name per run
    execution_arn = execution_started_by(cloud, outputs["StateMachineArn"], fired)

Other watched calls fire the same way: `fire_policy_version`, `fire_set_default` and
`fire_user_policy` (an inline policy).

Everything here is plain boto3; `fired.cli` is the same call as an `aws` command.

Written for AWS as much as for the local cloud: CloudTrail hands IAM's events
to EventBridge late on AWS (seconds to minutes, and only through a trail), so
`execution_started_by` waits up to 7 minutes, polls from 1 s up to every 5 s, reads one
ListExecutions page (newest first) and describes each execution once, and a
time-out says to re-run the cell. IAM is eventually consistent: reads right
after CreatePolicy may answer NoSuchEntity for a while, so those reads are
retried (`iam_call`). `missing_policy_event` and `malformed_policy_event`
build CloudTrail-shaped events that `start_with_event` starts executions
with directly, so notebook 06 does not depend on when CloudTrail delivers.
Following an execution live is `workshop.display.incidents.watch_incident`.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from botocore.exceptions import ClientError

from workshop.aws.executions import ExecutionHistory, find_latest, timestamp, wait_for_end
from workshop.aws.guardrails import HeldByGuardrails, refused_action, refused_by_guardrails
from workshop.waiting import WaitTimeout, poll_intervals, wait_for

POLICY_PREFIX = "workshop-"
ROOT = Path(__file__).resolve().parents[3]
# IAM is eventually consistent: how long a read of something just created may miss it.
IAM_CONSISTENCY_S = 20.0
# One ListExecutions page: the change that started the execution is recent, so it is among the newest.
EXECUTIONS_PAGE = 50


def _code(exc) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def iam_call(call, *, timeout: float = IAM_CONSISTENCY_S, what: str = "IAM to show the change", **kwargs):
    """`call(**kwargs)`, retried while IAM answers NoSuchEntity for something created a moment ago.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
    """
    from botocore.exceptions import ClientError

    state = {}

    def attempt():
        try:
            return {"value": call(**kwargs)}
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
            state["error"] = exc
            return None

    try:
        return wait_for(attempt, what=what, timeout=timeout, interval=0.5, max_interval=2.0, progress=False)["value"]
    except WaitTimeout:
        raise state["error"] from None


def unique_policy_name(kind: str = "bad") -> str:
    """workshop-<kind>-policy-<UTC time>-<4 hex>: unique per run, easy to clean up by prefix."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{POLICY_PREFIX}{kind}-policy-{stamp}-{secrets.token_hex(2)}"


@dataclass
class FiredPolicy:
    """A watched IAM call made on purpose, and how to find the execution it starts.

    `workshop.display.records` shows it with the same call as an `aws` command."""

    name: str
    arn: str
    version_id: str
    event_name: str  # CreatePolicy | CreatePolicyVersion | SetDefaultPolicyVersion | Put*Policy | Attach*Policy
    document: str
    cli: str
    fired_at: datetime
    request: dict | None = None  # the CloudTrail requestParameters that name this change (other calls)

    def __repr__(self) -> str:
        return f"{self.event_name} {self.name} ({self.version_id})\n$ {self.cli}"


def _path_of(document) -> Path | None:
    """The file `document` names, or None when it is a dict or the policy's text itself (which, as a
    file name, may be too long for the file system even to look up)."""
    if not isinstance(document, (str, Path)) or str(document).lstrip().startswith("{"):
        return None
    path = Path(document)
    return path if path.is_file() else None


def _document_text(document) -> str:
    path = _path_of(document)
    if path is not None and path.suffix == ".json":
        return path.read_text()
    if isinstance(document, dict):
        return json.dumps(document, indent=4)
    return str(document)


def _file_arg(document) -> str:
    return f"file://{document}" if _path_of(document) is not None else "'<document>'"


def fire_policy(cloud, document, name: str | None = None) -> FiredPolicy:
    """iam:CreatePolicy with `document` (a path or a dict) under a unique workshop name."""
    name = name or unique_policy_name("bad")
    text = _document_text(document)
    fired_at = datetime.now(timezone.utc)
    policy = cloud.client("iam").create_policy(PolicyName=name, PolicyDocument=text)["Policy"]
    cli = f"{cloud.cli_prefix()} iam create-policy --policy-name {name} --policy-document {_file_arg(document)}"
    return FiredPolicy(name, policy["Arn"], policy["DefaultVersionId"], "CreatePolicy", text, cli, fired_at)


def fire_policy_version(cloud, policy_arn: str, document, set_as_default: bool = True) -> FiredPolicy:
    """iam:CreatePolicyVersion: an edit of an existing policy."""
    text = _document_text(document)
    fired_at = datetime.now(timezone.utc)
    version = iam_call(cloud.client("iam").create_policy_version, what="IAM to know the policy",
                       PolicyArn=policy_arn, PolicyDocument=text, SetAsDefault=set_as_default)["PolicyVersion"]
    cli = (f"{cloud.cli_prefix()} iam create-policy-version --policy-arn {policy_arn} "
           f"--policy-document {_file_arg(document)}" + (" --set-as-default" if set_as_default else ""))
    return FiredPolicy(policy_arn.rsplit("/", 1)[-1], policy_arn, version["VersionId"], "CreatePolicyVersion",
                       text, cli, fired_at)


def fire_set_default(cloud, policy_arn: str, version_id: str) -> FiredPolicy:
    """iam:SetDefaultPolicyVersion: put an existing version in force."""
    fired_at = datetime.now(timezone.utc)
    cloud.client("iam").set_default_policy_version(PolicyArn=policy_arn, VersionId=version_id)
    cli = f"{cloud.cli_prefix()} iam set-default-policy-version --policy-arn {policy_arn} --version-id {version_id}"
    return FiredPolicy(policy_arn.rsplit("/", 1)[-1], policy_arn, version_id, "SetDefaultPolicyVersion", "", cli,
                       fired_at, {"policyArn": policy_arn, "versionId": version_id})


def fire_user_policy(cloud, user: str, policy_name: str, document) -> FiredPolicy:
    """iam:PutUserPolicy: an inline policy on a user (no managed policy involved)."""
    text = _document_text(document)
    fired_at = datetime.now(timezone.utc)
    cloud.client("iam").put_user_policy(UserName=user, PolicyName=policy_name, PolicyDocument=text)
    cli = (f"{cloud.cli_prefix()} iam put-user-policy --user-name {user} --policy-name {policy_name} "
           f"--policy-document {_file_arg(document)}")
    return FiredPolicy(policy_name, f"user/{user}", "", "PutUserPolicy", text, cli, fired_at,
                       {"userName": user, "policyName": policy_name})


def _matches(execution_input: dict, fired: FiredPolicy) -> bool:
    detail = (execution_input or {}).get("detail") or {}
    if detail.get("eventName") != fired.event_name:
        return False
    if fired.request is not None:
        request = detail.get("requestParameters") or {}
        return all(request.get(key) == value for key, value in fired.request.items())
    response = detail.get("responseElements") or {}
    if fired.event_name == "CreatePolicy":
        return (response.get("policy") or {}).get("arn") == fired.arn
    return ((detail.get("requestParameters") or {}).get("policyArn") == fired.arn
            and (response.get("policyVersion") or {}).get("versionId") == fired.version_id)


def find_execution(sfn, state_machine_arn: str, fired: FiredPolicy, seen: set | None = None) -> str | None:
    """The execution the policy change started (matched on the CloudTrail event it carries).

    Reads one ListExecutions page (newest first) and describes only executions
    that started after the change and are not in `seen` (those already looked
    at: pass the same set on every poll), so a long wait stays a few calls.
    """
    since = fired.fired_at - timedelta(seconds=30)
    seen = set() if seen is None else seen
    page = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=EXECUTIONS_PAGE)["executions"]
    for execution in sorted(page, key=lambda e: timestamp(e["startDate"]), reverse=True):
        if timestamp(execution["startDate"]) < since:
            break
        if execution["executionArn"] in seen:
            continue
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        try:
            if _matches(json.loads(described.get("input") or "{}"), fired):
                return execution["executionArn"]
        except ValueError:
            pass
        seen.add(execution["executionArn"])
    return None


# On AWS, CloudTrail hands IAM events to EventBridge with a delay (seconds to a few
# minutes, best effort); the local cloud does it at once.
START_TIMEOUT = {"local": 30.0, "aws": 420.0}
START_HINT = {
    "local": ("CloudTrail -> EventBridge -> Step Functions did not start it. Is the stack deployed "
              "(notebook 01) and its EventBridge rule enabled?"),
    "aws": ("On AWS CloudTrail hands IAM's events to EventBridge only through a trail that logs management "
            "write events (notebook 00 checks it), and late: from seconds to several minutes. Run this cell "
            "again to keep waiting (it looks for the same execution). Still nothing? Check the trail in "
            "notebook 00 and that the stack is in us-east-1."),
}


def execution_started_by(cloud, state_machine_arn: str, fired: FiredPolicy, timeout: float | None = None) -> str:
    """Wait for the execution the change started (CloudTrail -> EventBridge -> Step Functions); its ARN."""
    sfn = cloud.client("stepfunctions")
    kind = "local" if cloud.is_local else "aws"
    if not cloud.is_local:  # say at once when no trail can deliver the event, instead of after minutes
        from workshop.aws.trail import NoTrailLogging, find_recording_trail

        found = find_recording_trail(cloud)
        if not found.ok and not found.unreadable:
            raise NoTrailLogging(f"No execution can start for {fired.event_name} {fired.name}: {found.message}.\n"
                                 f"  - {found.fix}.\n  - Then run the cell that makes the change again, and this one: this "
                                 "change was not recorded, so no execution will come for it.")
    seen = set()
    return wait_for(
        lambda: find_execution(sfn, state_machine_arn, fired, seen),
        what=f"the execution started by {fired.event_name} {fired.name}",
        timeout=START_TIMEOUT[kind] if timeout is None else timeout,
        hint=START_HINT[kind], **poll_intervals(cloud))


# --- executions started directly (notebook 06), independent of CloudTrail's timing -------------------------

SAMPLE_EVENT = ROOT / "events" / "create_policy.json"


def cloudtrail_event(account: str, policy_name: str, document: str, version_id: str = "v1",
                     event_id: str | None = None) -> dict:
    """A CreatePolicy event as EventBridge delivers it (shaped like events/create_policy.json), for `account`."""
    event = json.loads(SAMPLE_EVENT.read_text())
    now = datetime.now(timezone.utc)
    arn = f"arn:aws:iam::{account}:policy/{policy_name}"
    detail = event["detail"]
    event.update({"id": str(uuid.uuid4()), "account": account, "time": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    detail.update({"eventID": event_id or str(uuid.uuid4()), "requestID": str(uuid.uuid4()),
                   "eventTime": event["time"], "recipientAccountId": account})
    detail["userIdentity"].update({"accountId": account, "arn": f"arn:aws:iam::{account}:user/workshop-learner"})
    detail["requestParameters"] = {"policyName": policy_name, "policyDocument": document}
    detail["responseElements"]["policy"].update({"policyName": policy_name, "arn": arn,
                                                 "defaultVersionId": version_id})
    return event


def account_id(cloud) -> str:
    return cloud.client("sts").get_caller_identity()["Account"]


def missing_policy_event(cloud) -> dict:
    """A CreatePolicy event for a policy of *your* account that does not exist: IAM answers NoSuchEntity,
    so there is nothing to judge and the execution ends at ReportGone, telling the admin (the event is only a pointer).

    (The sample in events/ names account 123456789012: on AWS that is AccessDenied, not NoSuchEntity.)
    """
    name = unique_policy_name("missing")
    return cloudtrail_event(account_id(cloud), name, _document_text(ROOT / "policies" / "badpolicy.json"))


def malformed_policy_event(cloud) -> dict:
    """A CreatePolicy event of your account whose policy ARN is a number, as no IAM call records it:
    ValidatePolicy and RevertPolicy refuse it (not a transient error), so the incident fails and is notified."""
    event = missing_policy_event(cloud)
    event["detail"]["responseElements"]["policy"]["arn"] = 42
    return event


def start_with_event(cloud, state_machine_arn: str, event: dict, prefix: str = "workshop") -> str:
    """StartExecution with `event` as input, as EventBridge would; the execution's ARN."""
    name = f"{prefix}-{event['detail']['eventID']}"[:80]
    return cloud.client("stepfunctions").start_execution(
        stateMachineArn=state_machine_arn, name=name, input=json.dumps(event))["executionArn"]


def run_event(cloud, state_machine_arn: str, event: dict, what: str, instead_through,
              timeout: float = 60.0) -> ExecutionHistory | HeldByGuardrails:
    """`start_with_event`, followed to its end. Where the account's guardrails keep StartExecution for the
    stack, the newest of its own executions that went through `instead_through` is shown instead."""
    try:
        execution_arn = start_with_event(cloud, state_machine_arn, event)
    except ClientError as exc:
        if not refused_by_guardrails(exc):
            raise
        shown = find_latest(cloud.client("stepfunctions"), state_machine_arn, instead_through)
        note = ("They keep StartExecution for the stack's own roles and its EventBridge rules, so a hand-made "
                "event cannot start the state machine here (notebook 07 shows why). "
                + ("The newest of the stack's own executions that took the same path is shown."
                   if shown is not None else "None of the stack's recent executions took this path yet."))
        return HeldByGuardrails(refused_action(exc, "states:StartExecution"), what, str(exc), note, shown)
    return wait_for_end(cloud, execution_arn, timeout=timeout)


def granted_actions(document) -> str:
    """What a policy document allows or denies, in one line ("Allow s3:GetObject; Deny NOT iam:*")."""
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    parts = []
    for s in statements:
        key = "Action" if "Action" in s else "NotAction"
        actions = s.get(key)
        actions = [actions] if isinstance(actions, str) else actions
        parts.append(f"{s.get('Effect')} {'NOT ' if key == 'NotAction' else ''}{', '.join(actions or [])}")
    return "; ".join(parts)


@dataclass
class PolicyVersions:
    """Every version of a managed policy, each with its document (`workshop.display.records` shows them)."""

    arn: str
    versions: list

    def default_document(self):
        return next((v["Document"] for v in self.versions if v["IsDefaultVersion"]), None)

    def ids(self) -> list:
        return [v["VersionId"] for v in self.versions]

    def __repr__(self) -> str:
        return "\n".join(f"{v['VersionId']}{' (default)' if v['IsDefaultVersion'] else ''}: "
                         f"{granted_actions(v['Document'])}" for v in self.versions)


def policy_versions(iam, policy_arn: str, consistency_timeout: float = IAM_CONSISTENCY_S) -> PolicyVersions:
    """Every version of the policy with its document (read again while IAM does not show it yet)."""
    versions = []
    listed = iam_call(iam.list_policy_versions, timeout=consistency_timeout, what="IAM to show the new policy",
                      PolicyArn=policy_arn)
    for v in listed["Versions"]:
        document = iam_call(iam.get_policy_version, timeout=consistency_timeout, what="IAM to show the version",
                            PolicyArn=policy_arn, VersionId=v["VersionId"])["PolicyVersion"]["Document"]
        if isinstance(document, str):
            document = json.loads(urllib.parse.unquote(document))
        versions.append({**v, "Document": document})
    versions.sort(key=lambda v: int(v["VersionId"].lstrip("v") or 0))
    return PolicyVersions(policy_arn, versions)


def delete_workshop_users(iam, prefix: str = POLICY_PREFIX) -> list:
    """Delete every IAM user whose name starts with `prefix` (its inline and attached policies first)."""
    deleted = []
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            name = user["UserName"]
            if not name.startswith(prefix):
                continue
            for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
                iam.delete_user_policy(UserName=name, PolicyName=policy)
            for policy in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
                iam.detach_user_policy(UserName=name, PolicyArn=policy["PolicyArn"])
            iam.delete_user(UserName=name)
            deleted.append(name)
    return deleted


def delete_workshop_policies(iam, prefix: str = POLICY_PREFIX) -> list:
    """Delete every customer-managed policy whose name starts with `prefix` (detaching it first)."""
    deleted = []
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for policy in page["Policies"]:
            if not policy["PolicyName"].startswith(prefix):
                continue
            arn = policy["Arn"]
            entities = iam.list_entities_for_policy(PolicyArn=arn)
            for user in entities.get("PolicyUsers", []):
                iam.detach_user_policy(UserName=user["UserName"], PolicyArn=arn)
            for group in entities.get("PolicyGroups", []):
                iam.detach_group_policy(GroupName=group["GroupName"], PolicyArn=arn)
            for role in entities.get("PolicyRoles", []):
                iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
            for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
                if not version["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=arn)
            deleted.append(policy["PolicyName"])
    return deleted
