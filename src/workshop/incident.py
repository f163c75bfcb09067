"""Fire a policy change and watch the incident it starts.

    from workshop.incident import fire_policy, watch_incident, policy_versions
    fired = fire_policy(cloud, "../policies/badpolicy.json")   # a unique name per run
    run = watch_incident(cloud, outputs["StateMachineArn"], fired, until="AskUser")

The other watched calls fire the same way: `fire_policy_version`, `fire_set_default`,
`fire_inline_policy` (a user's, role's or group's) and `fire_attachment`.

Everything here is plain boto3; `fired.cli` is the same call as an `aws` command.
"""

from __future__ import annotations

import html
import json
import secrets
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from workshop.history import STATUS_COLOURS, ExecutionHistory, list_executions, load_history, _ts
from workshop.waiting import wait_for

POLICY_PREFIX = "workshop-"
ROOT = Path(__file__).resolve().parents[2]


def unique_policy_name(kind: str = "bad") -> str:
    """workshop-<kind>-policy-<UTC time>-<4 hex>: unique per run, easy to clean up by prefix."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{POLICY_PREFIX}{kind}-policy-{stamp}-{secrets.token_hex(2)}"


@dataclass
class FiredPolicy:
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

    def _repr_html_(self) -> str:
        return (f"<p>{self.event_name} <strong>{html.escape(self.name)}</strong> → version "
                f"{html.escape(self.version_id)}<br><small>{html.escape(self.arn)}</small></p>"
                f"<p>The same call with the AWS CLI:</p><pre>$ {html.escape(self.cli)}</pre>")


def _document_text(document) -> str:
    if isinstance(document, (str, Path)) and Path(document).suffix == ".json" and Path(document).exists():
        return Path(document).read_text()
    if isinstance(document, dict):
        return json.dumps(document, indent=4)
    return str(document)


def _file_arg(document) -> str:
    if isinstance(document, (str, Path)) and Path(document).exists():
        return f"file://{document}"
    return "'<document>'"


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
    version = cloud.client("iam").create_policy_version(
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


def fire_inline_policy(cloud, kind: str, principal: str, policy_name: str, document) -> FiredPolicy:
    """iam:Put{User,Role,Group}Policy: an inline policy on a user, role or group (`kind`)."""
    text = _document_text(document)
    fired_at = datetime.now(timezone.utc)
    key = {f"{kind}Name": principal, "policyName": policy_name}
    getattr(cloud.client("iam"), f"put_{kind}_policy")(**{f"{kind.capitalize()}Name": principal},
                                                       PolicyName=policy_name, PolicyDocument=text)
    cli = (f"{cloud.cli_prefix()} iam put-{kind}-policy --{kind}-name {principal} --policy-name {policy_name} "
           f"--policy-document {_file_arg(document)}")
    return FiredPolicy(policy_name, f"{kind}/{principal}", "", f"Put{kind.capitalize()}Policy", text, cli, fired_at,
                       key)


def fire_attachment(cloud, kind: str, principal: str, policy_arn: str) -> FiredPolicy:
    """iam:Attach{User,Role,Group}Policy: a managed policy (AWS's own ones too) attached to a principal."""
    fired_at = datetime.now(timezone.utc)
    getattr(cloud.client("iam"), f"attach_{kind}_policy")(**{f"{kind.capitalize()}Name": principal},
                                                          PolicyArn=policy_arn)
    cli = f"{cloud.cli_prefix()} iam attach-{kind}-policy --{kind}-name {principal} --policy-arn {policy_arn}"
    return FiredPolicy(policy_arn.rsplit("/", 1)[-1], policy_arn, "", f"Attach{kind.capitalize()}Policy", "", cli,
                       fired_at, {f"{kind}Name": principal, "policyArn": policy_arn})


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


def find_execution(sfn, state_machine_arn: str, fired: FiredPolicy) -> str | None:
    """The execution the policy change started (matched on the CloudTrail event it carries)."""
    since = fired.fired_at - timedelta(seconds=30)
    for execution in list_executions(sfn, state_machine_arn):
        if _ts(execution["startDate"]) < since:
            break
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        try:
            if _matches(json.loads(described.get("input") or "{}"), fired):
                return execution["executionArn"]
        except ValueError:
            continue
    return None


def progress_html(history: ExecutionHistory) -> str:
    marks = {"succeeded": "✓", "failed": "✗", "caught_error": "!", "in_progress": "…"}
    steps = " → ".join(
        f"<span style='color:{STATUS_COLOURS[r.status]}'>{html.escape(r.name)} {marks.get(r.status, '')}</span>"
        for r in history.runs())
    return f"<p>Execution <code>{html.escape(history.name)}</code>: <strong>{history.status}</strong><br>{steps}</p>"


class _LiveView:
    """A display that updates in place in a notebook (printed lines elsewhere)."""

    def __init__(self):
        self.handle, self.last = None, None
        try:
            from IPython import get_ipython
            from IPython.display import HTML, display

            if get_ipython() is not None:
                self._html = HTML
                self.handle = display(HTML("<p>waiting for the execution to start…</p>"), display_id=True)
        except ImportError:  # pragma: no cover
            pass

    def show(self, history: ExecutionHistory):
        text = progress_html(history)
        if text == self.last:
            return
        self.last = text
        if self.handle is not None:
            self.handle.update(self._html(text))


# On AWS, CloudTrail hands IAM events to EventBridge with a delay (usually well under
# five minutes); the local cloud does it at once.
START_TIMEOUT = {"local": 30.0, "aws": 420.0}


def watch_incident(cloud, state_machine_arn: str, fired: FiredPolicy, until: str | None = "AskUser",
                   start_timeout: float | None = None, timeout: float = 60.0) -> ExecutionHistory:
    """Wait for the execution the change started, then follow it live until it waits at `until` or ends."""
    sfn = cloud.client("stepfunctions")
    if start_timeout is None:
        start_timeout = START_TIMEOUT["local" if cloud.is_local else "aws"]
    execution_arn = wait_for(
        lambda: find_execution(sfn, state_machine_arn, fired),
        what=f"the execution started by {fired.event_name} {fired.name}", timeout=start_timeout,
        hint=("CloudTrail -> EventBridge -> Step Functions did not start it. Is the stack deployed "
              "(notebook 01) and its EventBridge rule enabled? On AWS, is the stack in us-east-1 "
              "and CloudTrail on?"))
    view = _LiveView()
    state = {}

    def reached():
        history = load_history(sfn, execution_arn)
        state["history"] = history
        view.show(history)
        runs = history.runs()
        if history.status != "RUNNING":
            return history
        if until and runs and runs[-1].name == until and runs[-1].status == "in_progress":
            # Waiting at the callback only once the task was handed over (the e-mail went out).
            if any(e["type"] in ("TaskSubmitted",) for e in runs[-1].events) or len(runs[-1].events) > 2:
                return history
        return None

    return wait_for(reached, what=f"the execution to reach {until or 'its end'}", timeout=timeout,
                        describe=lambda _: "at " + (state["history"].path() or ["(start)"])[-1]
                        if state.get("history") else None,
                    hint="Look at the event table in notebook 05 to see where it stopped.")


def wait_for_end(cloud, execution_arn: str, timeout: float = 60.0) -> ExecutionHistory:
    sfn = cloud.client("stepfunctions")

    def ended():
        history = load_history(sfn, execution_arn)
        return history if history.status != "RUNNING" else None

    return wait_for(ended, what="the execution to end", timeout=timeout,
                    hint="If it waits at AskUser, nobody has decided yet: use the panel in notebook 04.")


def _actions(document) -> str:
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
    arn: str
    versions: list

    def default_document(self):
        return next((v["Document"] for v in self.versions if v["IsDefaultVersion"]), None)

    def ids(self) -> list:
        return [v["VersionId"] for v in self.versions]

    def __repr__(self) -> str:
        return "\n".join(f"{v['VersionId']}{' (default)' if v['IsDefaultVersion'] else ''}: {_actions(v['Document'])}"
                         for v in self.versions)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{v['VersionId']}</td><td>{'✅ in force' if v['IsDefaultVersion'] else ''}</td>"
            f"<td>{html.escape(str(v.get('CreateDate', '')))}</td><td>{html.escape(_actions(v['Document']))}</td></tr>"
            for v in self.versions)
        return (f"<p>Versions of <code>{html.escape(self.arn.rsplit('/', 1)[-1])}</code>:</p><table><thead><tr>"
                f"<th>version</th><th>default</th><th>created</th><th>grants</th></tr></thead><tbody>{rows}</tbody></table>")


def policy_versions(iam, policy_arn: str) -> PolicyVersions:
    versions = []
    for v in iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]:
        document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=v["VersionId"])["PolicyVersion"]["Document"]
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
