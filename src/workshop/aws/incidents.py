"""The incidents table (DynamoDB): every reverted change and what became of it, read for people.

RevertPolicy writes an incident when it takes a change out of force: what IAM
held (the document), who changed it (CloudTrail's `userIdentity`), when, the
verdict and why, sealed with the stack's KMS HMAC key. AskUser adds the task
token; ReceiveDecision adds the decision, how it was made (a signed e-mail
link, or this kit's panel through the IAM-authorised endpoint), by whom and
when; RestorePolicy marks what it restored. It is the audit trail, and the
only source RestorePolicy restores from: only as sealed.

    from workshop.aws.incidents import list_incidents, pending_approvals, seal_status
    list_incidents(cloud.client("dynamodb"), table_name(outputs))     # newest first
    pending_approvals(dynamodb, table, iam=iam, kms=kms, seal_key=outputs["SealKeyArn"], s3=s3)

The kit only reads the table: deciding is ReceiveDecision's (the panel asks it
through `workshop.aws.decision_endpoint.panel_decider`). The table as a
notebook shows it is `workshop.display.incidents.incidents_view`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError

from workshop.aws.function_contract import contract
from workshop.aws.iam_changes import iam_call
from workshop.waiting import WaitTimeout, wait_for

STOOD = {"allow": "approved", "deny": "denied"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _when(text) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _plain(item: dict) -> dict:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in item.items()}


def _json(text, default):
    try:
        return json.loads(text) if text else default
    except (TypeError, ValueError):
        return default


@dataclass
class Incident:
    """One item of the incidents table, read for people."""

    incident_id: str
    kind: str
    label: str
    target: dict
    document: str
    changed_by: dict
    event_name: str
    event_time: str
    verdict: str
    why: str
    matches: list
    status: str
    execution_arn: str
    created_at: datetime | None
    task_token: str = ""
    deadline: datetime | None = None
    decision: str = ""
    decided_via: str = ""
    decided_by: str = ""
    decided_at: datetime | None = None
    revert: dict = field(default_factory=dict)
    restore: dict = field(default_factory=dict)
    planted: dict = field(default_factory=dict)  # an item set aside at this change's key (RevertPolicy reported it)
    item: dict = field(default_factory=dict, repr=False)  # the item as DynamoDB holds it (what the seal covers)

    @classmethod
    def from_item(cls, item: dict) -> "Incident":
        p = _plain(item)
        deadline = p.get("deadline")
        return cls(
            incident_id=p["incidentId"], kind=p.get("kind", ""), label=p.get("label", p["incidentId"]),
            target=_json(p.get("target"), {}), document=p.get("document", ""),
            changed_by=_json(p.get("changedBy"), {}), event_name=p.get("eventName", ""),
            event_time=p.get("eventTime", ""), verdict=p.get("verdict", ""), why=p.get("why", ""),
            matches=_json(p.get("matches"), []), status=p.get("status", ""),
            execution_arn=p.get("executionArn", ""), created_at=_when(p.get("createdAt")),
            task_token=p.get("taskToken", ""),
            deadline=datetime.fromtimestamp(int(deadline), timezone.utc) if deadline is not None else None,
            decision=p.get("decision", ""), decided_via=p.get("decidedVia", ""), decided_by=p.get("decidedBy", ""),
            decided_at=_when(p.get("decidedAt")), revert=_json(p.get("revert"), {}),
            restore=_json(p.get("restore"), {}), planted=_json(p.get("planted"), {}), item=dict(item))

    @property
    def name(self) -> str:
        """The policy's name (a managed or attached policy), or the inline policy's."""
        if self.kind == "inline":
            return self.target.get("policyName", "?")
        if self.kind == "membership":
            return self.target.get("groupName", "?")
        if self.kind == "trust":
            return self.target.get("principalName", "?")
        if self.kind == "bucket":
            return self.target.get("bucketName", "?")
        return str(self.target.get("policyArn", "?")).rsplit("/", 1)[-1]

    @property
    def who_changed(self) -> str:
        return self.changed_by.get("arn") or self.changed_by.get("type") or "?"

    @property
    def execution_name(self) -> str:
        return self.execution_arn.rsplit(":", 1)[-1]

    @property
    def version_id(self) -> str:
        """The policy version the change put in force ("" for inline policies and attachments)."""
        return self.target.get("versionId", "")

    @property
    def reason(self) -> str:
        """ValidatePolicy's verdict in words, without the change's label it starts with (shown beside it).
        A verdict that is a Lambda's error (what a Catch hands on, stack trace and all) gives its message."""
        why = self.why.removeprefix(f"{self.label}: ")
        try:
            error = json.loads(why)
        except ValueError:
            return why
        if not (isinstance(error, dict) and "errorMessage" in error):
            return why
        return (f"{error.get('errorType') or 'Error'}: {error['errorMessage']} (the document could not be judged, "
                "so it was reverted: fail closed)")

    def matched_actions(self) -> list:
        """The restricted actions the change allowed, as ValidatePolicy found them."""
        return [m.get("action") for m in self.matches]

    def time_left(self, now: datetime | None = None) -> timedelta | None:
        """How long the approval request still waits (negative once it timed out); None without a time limit."""
        if self.deadline is None:
            return None
        return self.deadline - (now or datetime.now(timezone.utc))

    def timed_out(self, now: datetime | None = None) -> bool:
        return not self.decision and self.deadline is not None and (now or datetime.now(timezone.utc)) > self.deadline

    @property
    def pending(self) -> bool:
        return self.status == "awaiting" and not self.decision and bool(self.task_token) and not self.timed_out()

    @property
    def outcome(self) -> str:
        if self.decision:
            verdict = STOOD.get(self.decision, self.decision)
            done = {"restored": "restored", "decided": "restore pending" if self.decision == "allow" else
                    "stays reverted"}.get(self.status, self.status)
            return f"{verdict} via {self.decided_via} ({done})"
        if self.status == "awaiting":
            return "timed out: stays reverted" if self.timed_out() else "waiting for a decision"
        return {"reverting": "being reverted", "reverted": "reverted, not asked yet",
                "expired": "timed out: stays reverted"}.get(self.status, self.status)


# What RevertPolicy takes out of force (an approval marker's kind is "approval", a role's trust
# baseline's "trust-baseline", the pointer to its last approved trust change "trust-approved").
INCIDENT_KINDS = ("managed", "inline", "attachment", "membership", "trust", "bucket")


def list_incidents(dynamodb, table: str) -> list:
    """Every incident of the table, newest first (approval markers left out)."""
    found = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page.get("Items", []):
            if item.get("kind", {}).get("S") in INCIDENT_KINDS:
                found.append(Incident.from_item(item))
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(found, key=lambda incident: incident.created_at or oldest, reverse=True)


def get_incident(dynamodb, table: str, incident_id: str) -> Incident | None:
    item = dynamodb.get_item(TableName=table, Key={"incidentId": {"S": incident_id}},
                             ConsistentRead=True).get("Item")
    return Incident.from_item(item) if item else None


def caller_arn(sts) -> str:
    """Who you are to AWS (sts:GetCallerIdentity): the ARN the decision endpoint records for your decisions."""
    try:
        return sts.get_caller_identity()["Arn"]
    except (ClientError, KeyError):
        return "unknown"


SEAL_UNCHECKED = "unchecked"


def seal_status(kms, seal_key: str, incident: Incident) -> str:
    """Whether the incident is as RevertPolicy sealed it: "sealed", "unsealed" (never RevertPolicy's), "altered"
    (changed since), or "unchecked: <why>" when KMS would not say (no kms:VerifyMac for you, no key)."""
    try:
        return contract("seal").check(kms, seal_key, incident.item)
    except ClientError as exc:
        return f"{SEAL_UNCHECKED}: {exc.response.get('Error', {}).get('Code', 'error')}"


def _document(raw):
    from urllib.parse import unquote

    if isinstance(raw, str):
        text = raw if raw.lstrip().startswith("{") else unquote(raw)
        try:
            return json.loads(text)
        except ValueError:
            return text
    return raw


@dataclass(frozen=True)
class Unreadable:
    """What is in force could not be read (the reader lacks the permission, or the service failed): never
    to be shown as "nothing in force", nor counted as restored."""

    why: str

    def __str__(self) -> str:
        return f"(could not be read: {self.why})"


# What IAM and S3 answer when there is nothing there: nothing of the change is in force.
_NOTHING_THERE = {"NoSuchEntity", "NoSuchBucketPolicy", "NoSuchBucket"}


def in_force_now(iam, incident: Incident, consistency_timeout: float = 0.0, s3=None):
    """What holds now where the incident's change was: a document (a role's trust policy, a bucket's policy
    read with `s3` too), the attached policy's ARN, the group a membership joins, or None when nothing is
    there; `Unreadable` when it could not be read (no permission, no `s3` for a bucket policy).

    `consistency_timeout`: how long to read again while IAM does not show what was written a
    moment ago (eventual consistency; `iam_changes.iam_call`).
    """
    target = incident.target

    def read(call, **kwargs):
        return iam_call(call, timeout=consistency_timeout, **kwargs)

    try:
        if incident.kind == "managed":
            policy = read(iam.get_policy, PolicyArn=target["policyArn"])["Policy"]
            return _document(read(iam.get_policy_version, PolicyArn=target["policyArn"],
                                  VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"])
        if incident.kind == "bucket":
            if s3 is None:
                return Unreadable("a bucket policy is read with S3 (s3:GetBucketPolicy), and no S3 client was given")
            return _document(s3.get_bucket_policy(Bucket=target["bucketName"])["Policy"])
        if incident.kind == "trust":
            return _document(read(iam.get_role, RoleName=target["principalName"])["Role"]["AssumeRolePolicyDocument"])
        principal = target["principalType"]
        key = {f"{principal.capitalize()}Name": target["principalName"]}
        if incident.kind == "inline":
            getter = {"user": iam.get_user_policy, "role": iam.get_role_policy, "group": iam.get_group_policy}
            return _document(read(getter[principal], PolicyName=target["policyName"], **key)["PolicyDocument"])
        if incident.kind == "membership":
            groups = [g["GroupName"] for g in read(iam.list_groups_for_user, UserName=target["principalName"])["Groups"]]
            return target["groupName"] if target["groupName"] in groups else None
        if incident.kind != "attachment":
            return Unreadable(f"an incident of kind {incident.kind!r} names nothing the kit reads")
        lister = {"user": iam.list_attached_user_policies, "role": iam.list_attached_role_policies,
                  "group": iam.list_attached_group_policies}
        attached = [p["PolicyArn"] for p in read(lister[principal], **key)["AttachedPolicies"]]
        return target["policyArn"] if target["policyArn"] in attached else None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") in _NOTHING_THERE:
            return None
        return Unreadable(f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": "))
    except KeyError as exc:
        return Unreadable(f"the incident's target names no {exc.args[0]}")


def document_in_force(iam, incident: Incident, s3=None):
    """What the panel compares with the incident's document: the document in force now where the change was
    (for an attachment or a membership, the document the incident recorded while the link holds again; None
    when it does not), or `Unreadable`."""
    now = in_force_now(iam, incident, s3=s3)
    link = {"attachment": "policyArn", "membership": "groupName"}.get(incident.kind)
    if link is None or isinstance(now, Unreadable):
        return now
    return _document(incident.document) if now == incident.target.get(link) else None


def is_restored(iam, incident: Incident, consistency_timeout: float = 0.0, s3=None) -> bool:
    """Is exactly what the incident took out of force in force again? (Read until it shows, up to
    `consistency_timeout` seconds: IAM is eventually consistent.) `s3`: for a bucket policy."""
    def restored():
        now = in_force_now(iam, incident, consistency_timeout=min(consistency_timeout, 2.0), s3=s3)
        if isinstance(now, Unreadable):
            return False
        if incident.kind == "attachment":
            return now == incident.target.get("policyArn")
        if incident.kind == "membership":
            return now == incident.target.get("groupName")
        return now is not None and now == _document(incident.document)

    if not consistency_timeout:
        return restored()
    try:
        return wait_for(restored, what="IAM to show the restore", timeout=consistency_timeout, progress=False)
    except WaitTimeout:
        return False


def table_name(outputs: dict) -> str:
    """The incidents table of the deployed stack (its IncidentsTableName output)."""
    name = outputs.get("IncidentsTableName")
    if not name:
        raise LookupError("The stack has no IncidentsTableName output: it predates the incidents table. "
                          "Redeploy it (notebook 01).")
    return name


# --- waiting for a human -----------------------------------------------------------------------


@dataclass
class PendingApproval:
    """An incident waiting for a decision, with what IAM holds now where its change was, and its seal."""

    incident: Incident
    in_force_document: object = None
    seal: str = ""  # seal_status(): "" when not checked


def pending_approvals(dynamodb, table: str, iam=None, kms=None, seal_key: str | None = None, s3=None) -> list:
    """Every incident waiting for a decision, newest first (with what is in force now, given `iam`, and `s3`
    for a bucket policy; and whether its seal holds, given `kms` and the stack's `seal_key`)."""
    found = []
    for incident in list_incidents(dynamodb, table):
        if not incident.pending:
            continue
        approval = PendingApproval(incident)
        if iam is not None:
            approval.in_force_document = document_in_force(iam, incident, s3=s3)
        if kms is not None and seal_key:
            approval.seal = seal_status(kms, seal_key, incident)
        found.append(approval)
    return found
