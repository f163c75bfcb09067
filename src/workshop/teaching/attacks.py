"""Attack and defence, side by side (notebook 07).

Each function does what an attacker with *some* access would do, with plain
boto3 and HTTP against the deployed stack, and reports what happened and
whether the defence held. Each attack worked on the design this kit started
from (or on the kit before its incidents were sealed and renames and group
joins watched); see docs/security.md's threat model for what the orchestrator
cannot stop. The same functions are the attacks of tests/e2e/test_defences.py.

Where the learner's own policy refuses the attacker's call (on AWS: no write
to the incidents table, no invoking RestorePolicy, no making or joining a
group), that refusal is reported as the first defence; where it is not
refused (the local cloud's own key is the account's administrator), the
orchestrator's own defence is what holds. Each result lists the calls the
attacker needed (`calls`: IAM action and resource), so IAM can be asked
about each (`workshop.teaching.attack_permissions`).

Every attack takes an optional `attacker`: a handle like `cloud` whose
clients make the attacker's own calls (the tests pass one signed with the key
of a user holding only the permission the attack names); without it the
attacker is `cloud`, as in notebook 07. What the attack needs in place
first (a victim, an approved group) and what it looks at afterwards are made
and read with `cloud`.

    from workshop.teaching import approve_with_token_from_history
    approve_with_token_from_history(cloud, outputs, run.arn)   # -> an AttackResult
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qs

from botocore.exceptions import ClientError

from workshop.aws import incidents
from workshop.aws.decision_endpoint import panel_decider, post_decision
from workshop.aws.executions import ExecutionHistory, find_token, follow, load_history, wait_for_end
from workshop.aws.guardrails import refused_by_guardrails
from workshop.aws.iam_changes import (IAM_CONSISTENCY_S, ROOT, FiredPolicy, execution_started_by, fire_policy,
                                      fire_policy_version, fire_set_default, fire_user_policy, iam_call,
                                      policy_versions, unique_policy_name)
from workshop.aws.mail import latest_email
from workshop.display.incidents import watch_incident
from workshop.waiting import poll_intervals, wait_for

ADMIN_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"


@dataclass
class AttackResult:
    """What was tried, with which access, what happened, and whether the defence held (None: not tried)."""

    attack: str
    needs: str
    happened: list = field(default_factory=list)
    held: bool | None = None
    target: str = ""  # what the attack aimed at (a policy ARN, a principal's name), for a closer look
    calls: list = field(default_factory=list)  # (IAM action, resource ARN) of each call the attack makes, in order
    label: str = ""  # the attack in a few words, for a table

    def __repr__(self) -> str:
        verdict = {True: "DEFENCE HELD", False: "DEFENCE BROKEN", None: "NOT TRIED HERE"}[self.held]
        return "\n".join([f"{verdict}: {self.attack} (needs: {self.needs})", *(f"  - {h}" for h in self.happened)])

    def _repr_html_(self) -> str:
        colour, verdict = {True: ("#1d8102", "🛡 defence held"), False: ("#d13212", "✗ defence broken"),
                           None: ("#555", "not tried here")}[self.held]
        items = "".join(f"<li>{html.escape(h)}</li>" for h in self.happened)
        return (f"<div style='border-left:4px solid {colour};padding:2px 10px;margin:4px 0'>"
                f"<strong style='color:{colour}'>{verdict}</strong> — {html.escape(self.attack)} "
                f"<small>(needs: {html.escape(self.needs)})</small><ul style='margin:4px 0'>{items}</ul></div>")


def _incident_of(cloud, outputs: dict, execution_arn: str):
    for incident in incidents.list_incidents(cloud.client("dynamodb"), incidents.table_name(outputs)):
        if incident.execution_arn == execution_arn:
            return incident
    return None


def _status(cloud, execution_arn: str) -> str:
    return cloud.client("stepfunctions").describe_execution(executionArn=execution_arn)["status"]


def _arn(like: str, service: str, resource: str, region: str = "") -> str:
    """An ARN of `service` in the account of the ARN `like`, in `region` or else in the region of `like` (IAM: none)."""
    parts = like.split(":")
    region = "" if service == "iam" else region or parts[3]
    return f"arn:{parts[1]}:{service}:{region}:{parts[4]}:{resource}"


# --- decisions --------------------------------------------------------------------------------


def approve_with_token_from_history(cloud, outputs: dict, execution_arn: str, attacker=None) -> AttackResult:
    """Read access to Step Functions shows AskUser's task token; post it to the public approve URL."""
    result = AttackResult("approve an incident with the task token read from the execution history",
                          "states:GetExecutionHistory (read-only) and the public endpoint",
                          calls=[("states:GetExecutionHistory", execution_arn)], label="token from the history")
    pages = (attacker or cloud).client("stepfunctions").get_paginator("get_execution_history")
    events = [event for page in pages.paginate(executionArn=execution_arn) for event in page["events"]]
    token = find_token(ExecutionHistory({"executionArn": execution_arn}, events).task_parameters("AskUser"))
    if not token:
        result.happened.append("No AskUser task in this execution's history: fire the bad policy first.")
        return result
    result.happened.append(f"GetExecutionHistory shows the task token ({token[:16]}…, {len(token)} characters).")
    answer = post_decision(outputs["ApproveUrl"], {"token": token}, "allow")
    result.happened.append(f"POST token=… to ApproveUrl: HTTP {answer.status} «{answer.title}»: {answer.message}")
    incident = _incident_of(cloud, outputs, execution_arn)
    status = _status(cloud, execution_arn)
    decided = bool(incident and incident.decision)
    result.happened.append(f"The execution is {status}; the incident is "
                           + ("decided: " + incident.decision if decided else "still undecided") + ".")
    result.held = 400 <= answer.status < 500 and status == "RUNNING" and not decided
    return result


def approve_with_an_edited_deny_link(cloud, outputs: dict, about: str) -> AttackResult:
    """Whoever sees the deny link (a forwarded e-mail, a screen share) edits /deny into /allow."""
    result = AttackResult("turn the e-mail's deny link into an approval by editing its path",
                          "a deny link (forwarded, shown, logged)", label="edited deny link")
    if not cloud.is_local:
        result.happened.append("On AWS the link is in your inbox: change /deny? into /allow? in it and open it; "
                               "the page says «This link is not valid».")
        return result
    mail = latest_email(cloud, about).message
    if not mail:
        result.happened.append(f"No approval e-mail about {about} in the local mailbox.")
        return result
    deny = next(word for word in mail["body"].split() if "/deny?" in word)
    edited = deny.replace("/deny?", "/allow?")
    fields = {k: v[0] for k, v in parse_qs(edited.split("?", 1)[-1]).items()}
    result.happened.append(f"The deny link, edited: …/allow?incident={fields.get('incident', '?')[:8]}…"
                           f"&signature={fields.get('signature', '?')[:8]}…")
    answer = post_decision(edited.split("?")[0], fields, "allow")
    result.happened.append(f"Its form posted to ApproveUrl: HTTP {answer.status} «{answer.title}»: {answer.message}")
    incident = next((i for i in incidents.list_incidents(cloud.client("dynamodb"), incidents.table_name(outputs))
                     if i.incident_id == fields.get("incident")), None)
    undecided = incident is not None and not incident.decision
    result.happened.append("The incident is " + ("still undecided." if undecided else "decided!"))
    result.held = 400 <= answer.status < 500 and undecided
    return result


# --- IAM writes -------------------------------------------------------------------------------


def _forged_event(victim_arn: str, document: dict) -> dict:
    event = json.loads((ROOT / "events" / "create_policy_version.json").read_text())
    detail = event["detail"]
    detail["eventID"] = str(uuid.uuid4())
    detail["requestParameters"].update(policyArn=victim_arn, policyDocument=json.dumps(document))
    detail["responseElements"]["policyVersion"]["versionId"] = "v1"
    return event


def forge_an_execution(cloud, outputs: dict, victim_arn: str, document: dict | None = None,
                       attacker=None) -> AttackResult:
    """StartExecution with a CloudTrail-shaped event naming a victim policy and an admin document."""
    result = AttackResult("make a harmless policy admin with a forged execution, then approve it",
                          "states:StartExecution on the state machine",
                          calls=[("states:StartExecution", outputs["StateMachineArn"])], label="forged execution")
    iam = cloud.client("iam")
    before = policy_versions(iam, victim_arn)
    forged = json.dumps(_forged_event(victim_arn, document or ADMIN_DOCUMENT))
    try:
        started = (attacker or cloud).client("stepfunctions").start_execution(
            stateMachineArn=outputs["StateMachineArn"], input=forged)
    except ClientError as exc:
        if not refused_by_guardrails(exc):
            raise
        result.happened.append("StartExecution refused by the account's guardrails (a service control policy): "
                               "only the stack's roles and break-glass may start its state machine.")
        after = policy_versions(iam, victim_arn)
        result.held = after.ids() == before.ids() and after.default_document() == before.default_document()
        return result
    result.happened.append(f"StartExecution with a CreatePolicyVersion event naming {victim_arn.rsplit('/', 1)[-1]} "
                           "v1, `\"Action\": \"*\"` in its document.")
    history = watch_incident_end(cloud, started["executionArn"])
    result.happened.append("Path: … " + " → ".join(history.path()[-3:]))
    verdict = history.output() if isinstance(history.output(), dict) else {}
    judged = (verdict.get("taskresult") or {}).get("documentSource")
    if judged:
        result.happened.append(f"ValidatePolicy judged what IAM holds ({judged}), not the event's document.")
    if history.status == "RUNNING":  # asked a human: the attacker approves (a fooled admin, or a stolen link)
        incident = _incident_of(cloud, outputs, started["executionArn"])
        if incident is not None:
            panel_decider(cloud, outputs)(incident.incident_id, "allow")
            wait_for_end(cloud, started["executionArn"])
    after = policy_versions(iam, victim_arn)
    result.happened.append(f"The victim's versions: before {before.ids()}, after {after.ids()}; its document in "
                           f"force {'unchanged' if after.default_document() == before.default_document() else 'CHANGED'}.")
    result.held = after.ids() == before.ids() and after.default_document() == before.default_document()
    return result


def watch_incident_end(cloud, execution_arn: str):
    """The execution once it ends or waits for a human (a forged one may do either)."""
    sfn = cloud.client("stepfunctions")

    def settled():
        history = load_history(sfn, execution_arn)
        path = history.path()
        return history if history.status != "RUNNING" or (path and path[-1] == "AskUser") else None

    return wait_for(settled, what="the forged execution to end", timeout=60, progress=False)


def _restore_function(cloud, stack_name: str) -> str:
    return next(r["PhysicalResourceId"] for r in cloud.stack_resources(stack_name)
                if r["LogicalResourceId"] == "RestorePolicy")


def _restore_arn(cloud, stack_name: str, like: str) -> str:
    """RestorePolicy's ARN (in the account of the ARN `like`)."""
    return _arn(like, "lambda", f"function:{_restore_function(cloud, stack_name)}", cloud.region)


def _invoke_restore(attacker, function_arn: str, payload: dict) -> tuple[bool, str]:
    """(refused, what happened) of invoking RestorePolicy with `payload` as an attacker would."""
    try:
        answer = attacker.client("lambda").invoke(FunctionName=function_arn, Payload=json.dumps(payload))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return True, f"Invoke refused ({code}): no policy of yours grants lambda:InvokeFunction on RestorePolicy."
    answered = json.loads(answer["Payload"].read() or b"{}")
    said = str(answered.get("errorMessage", answered)).split(". ")[0]  # its first sentence says why
    return bool(answer.get("FunctionError")), f"RestorePolicy answered {answered.get('errorType', 'success')}: {said}"


def invoke_restore_directly(cloud, stack_name: str, victim_arn: str, attacker=None) -> AttackResult:
    """lambda:InvokeFunction on RestorePolicy with the sample's input: an ARN and a document to restore."""
    function = _restore_arn(cloud, stack_name, victim_arn)
    result = AttackResult("invoke RestorePolicy directly with a victim policy and an admin document",
                          "lambda:InvokeFunction on RestorePolicy", calls=[("lambda:InvokeFunction", function)],
                          label="RestorePolicy invoked")
    iam = cloud.client("iam")
    before = policy_versions(iam, victim_arn)
    refused, answer = _invoke_restore(attacker or cloud, function,
                                      {"policyMeta": {"arn": victim_arn, "versionId": "v1"},
                                       "policy": json.dumps(ADMIN_DOCUMENT)})
    result.happened.append(answer)
    after = policy_versions(iam, victim_arn)
    result.happened.append(f"The victim's versions: before {before.ids()}, after {after.ids()}.")
    result.held = refused and after.ids() == before.ids() and after.default_document() == before.default_document()
    return result


# --- the incidents table ------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _write_item(attacker, outputs: dict, item: dict) -> str:
    """PutItem as the attacker; "" when it was written, else why not."""
    try:
        attacker.client("dynamodb").put_item(TableName=incidents.table_name(outputs), Item=item)
        return ""
    except ClientError as exc:
        return exc.response.get("Error", {}).get("Code", "refused")


def _execution_arn(outputs: dict, name: str) -> str:
    """An execution ARN of the stack's state machine (what a forger puts in an item)."""
    return outputs["StateMachineArn"].replace(":stateMachine:", ":execution:") + f":{name}"


def _table_arn(outputs: dict) -> str:
    return _arn(outputs["StateMachineArn"], "dynamodb", f"table/{incidents.table_name(outputs)}")


def forge_an_incident_item(cloud, outputs: dict, stack_name: str, attacker=None) -> AttackResult:
    """PutItem an approved incident that attaches AdministratorAccess to a user, then invoke RestorePolicy."""
    function = _restore_arn(cloud, stack_name, outputs["StateMachineArn"])
    result = AttackResult("forge an approved incident in the table, then have RestorePolicy restore it",
                          "dynamodb:PutItem on the incidents table and lambda:InvokeFunction on RestorePolicy",
                          calls=[("dynamodb:PutItem", _table_arn(outputs)), ("lambda:InvokeFunction", function)],
                          label="forged incident")
    iam, attacker = cloud.client("iam"), attacker or cloud
    user = f"workshop-victim-{secrets.token_hex(3)}"
    iam.create_user(UserName=user)
    execution, forged = _execution_arn(outputs, f"forged-{uuid.uuid4()}"), secrets.token_hex(16)
    target = {"kind": "attachment", "principalType": "user", "principalName": user, "policyArn": ADMINISTRATOR_ACCESS,
              "label": f"{ADMINISTRATOR_ACCESS} attached to user {user}"}
    refused = _write_item(attacker, outputs, {
        "incidentId": {"S": forged}, "kind": {"S": "attachment"}, "target": {"S": json.dumps(target)},
        "label": {"S": target["label"]}, "document": {"S": json.dumps(ADMIN_DOCUMENT)},
        "executionArn": {"S": execution}, "status": {"S": "decided"}, "decision": {"S": "allow"},
        "decidedVia": {"S": "panel"}, "createdAt": {"S": _now()},
        "seal": {"S": secrets.token_urlsafe(32)}})  # a made-up seal: a real one needs the seal key
    result.happened.append(f"PutItem refused ({refused}): your policy grants no write to the incidents table."
                           if refused else f"PutItem: incident {forged[:8]}…, decision allow, attaching "
                           f"AdministratorAccess to {user}, with a made-up seal.")
    denied, answer = _invoke_restore(attacker, function, {"incidentId": forged, "executionId": execution})
    result.happened.append(answer)
    # IAM shows a user made a moment ago only after a while (eventual consistency): read as the kit does
    attached = [p["PolicyArn"] for p in iam_call(iam.list_attached_user_policies, what="IAM to show the new user",
                                                 UserName=user)["AttachedPolicies"]]
    result.happened.append(f"{user}'s attached policies now: {attached or 'none'}.")
    if not attached:  # nothing was granted: the stand-in victim goes
        iam.delete_user(UserName=user)
    result.held = denied and ADMINISTRATOR_ACCESS not in attached
    return result


def plant_incident_keys(cloud, outputs: dict, versions: int = 4, attacker=None) -> AttackResult:
    """Plant items at the keys of a quiet policy's next versions, then put `"Action": "*"` in force in it."""
    result = AttackResult("plant 'already handled' incidents at a policy's next keys, then make it admin",
                          "dynamodb:PutItem on the incidents table and iam:CreatePolicyVersion on a policy",
                          label="planted keys")
    iam, machine, attacker = cloud.client("iam"), outputs["StateMachineArn"], attacker or cloud
    quiet = fire_policy(cloud, ROOT / "policies" / "goodpolicy.json", name=unique_policy_name("planted"))
    result.target = quiet.arn
    result.calls = [("dynamodb:PutItem", _table_arn(outputs)), ("iam:CreatePolicyVersion", quiet.arn)]
    watch_incident(cloud, machine, quiet, until=None)
    policy_id = iam.get_policy(PolicyArn=quiet.arn)["Policy"]["PolicyId"]
    planted, refused = [], ""
    for version in range(2, 2 + versions):  # RevertPolicy's key for a version: sha256("managed|<id>|vN")
        key = f"managed|{policy_id}|v{version}"
        item_id = hashlib.sha256(key.encode()).hexdigest()[:32]
        refused = _write_item(attacker, outputs, {
            "incidentId": {"S": item_id}, "incidentKey": {"S": key}, "kind": {"S": "managed"},
            "status": {"S": "reverted"}, "executionArn": {"S": _execution_arn(outputs, f"planted-{version}")},
            "createdAt": {"S": _now()}})
        if refused:
            break
        planted.append(item_id)
    result.happened.append(f"PutItem refused ({refused}): your policy grants no write to the incidents table."
                           if refused else f"PutItem: {len(planted)} items at the keys of "
                           f"{quiet.name} v2…v{1 + versions}, each looking handled.")
    admin = fire_policy_version(attacker, quiet.arn, ADMIN_DOCUMENT)
    run = watch_incident(cloud, machine, admin, until="AskUser")
    path = run.path()
    result.happened.append(f"CreatePolicyVersion {admin.version_id} with \"Action\": \"*\": "
                           + " → ".join(path[-3:]))
    incident = _incident_of(cloud, outputs, run.arn)
    if incident is not None and incident.planted:
        result.happened.append(f"The real incident went on under a fresh key; the planted item "
                               f"{incident.planted.get('incidentId', '?')[:8]}… is reported "
                               f"({incident.planted.get('why')}).")
    after = policy_versions(iam, quiet.arn)
    harmless = any(s.get("Sid") == "RevertedBySecurityOrchestrator"
                   for s in (after.default_document() or {}).get("Statement", []))
    result.held = (path[-1:] == ["AskUser"] and "TempRemove" in path and harmless
                   and (bool(refused) or (incident is not None and incident.planted.get("incidentId") in planted)))
    return result


# --- the paths the sample did not watch -----------------------------------------------------------


def put_back_a_risky_version(cloud, outputs: dict, document=None, attacker=None) -> AttackResult:
    """A risky version staged as non-default (reported, not in force), then made the default."""
    result = AttackResult("put a risky policy version in force with SetDefaultPolicyVersion",
                          "iam:CreatePolicyVersion and iam:SetDefaultPolicyVersion on a policy",
                          label="SetDefaultPolicyVersion")
    machine = outputs["StateMachineArn"]
    good = fire_policy(cloud, ROOT / "policies" / "goodpolicy.json", name=unique_policy_name("staged"))
    watch_incident(cloud, machine, good, until=None)
    result.target = good.arn
    result.calls = [("iam:CreatePolicyVersion", good.arn), ("iam:SetDefaultPolicyVersion", good.arn)]
    staged = fire_policy_version(attacker or cloud, good.arn, document or ROOT / "policies" / "badpolicy.json",
                                 set_as_default=False)
    report = watch_incident(cloud, machine, staged, until=None)
    result.happened.append(f"CreatePolicyVersion {staged.version_id} (not the default): "
                           + " → ".join(report.path()[-2:]) + " — reported, not in force.")
    made_default = fire_set_default(attacker or cloud, good.arn, staged.version_id)
    run = watch_incident(cloud, machine, made_default, until="AskUser")
    result.happened.append("SetDefaultPolicyVersion: " + " → ".join(run.path()[-3:]))
    after = policy_versions(cloud.client("iam"), good.arn)
    harmless = any(s.get("Sid") == "RevertedBySecurityOrchestrator"
                   for s in (after.default_document() or {}).get("Statement", []))
    result.happened.append(f"Versions now {after.ids()}; in force: "
                           + ("the harmless version." if harmless else "NOT the harmless version."))
    result.held = harmless and staged.version_id not in after.ids()
    return result


def add_an_inline_policy(cloud, outputs: dict, document=None, attacker=None) -> AttackResult:
    """PutUserPolicy: a risky inline policy on a user (no managed policy involved at all)."""
    result = AttackResult("give a user a risky inline policy with PutUserPolicy", "iam:PutUserPolicy on a user",
                          label="inline policy")
    iam = cloud.client("iam")
    user = f"workshop-user-{secrets.token_hex(3)}"
    user_arn = iam.create_user(UserName=user)["User"]["Arn"]
    result.target, result.calls = user, [("iam:PutUserPolicy", user_arn)]
    fired = fire_user_policy(attacker or cloud, user, "extra", document or ROOT / "policies" / "badpolicy.json")
    run = watch_incident(cloud, outputs["StateMachineArn"], fired, until="AskUser")
    result.happened.append(f"PutUserPolicy on {user}: " + " → ".join(run.path()[-3:]))
    remaining = iam.list_user_policies(UserName=user)["PolicyNames"]
    incident = _incident_of(cloud, outputs, run.arn)
    result.happened.append(f"The user's inline policies now: {remaining or 'none'}; the incidents table keeps "
                           f"the document for a restore ({len(incident.document) if incident else 0} characters).")
    result.held = remaining == [] and incident is not None
    return result


def rename_after_a_risky_grant(cloud, outputs: dict, attacker=None) -> AttackResult:
    """PutUserPolicy `"Action": "*"`, then UpdateUser to a new name at once: the execution for the old name
    finds nothing (on AWS its event arrives minutes late), so the new name would keep it unjudged."""
    result = AttackResult("give a user \"Action\": \"*\", then rename the user before the orchestrator acts",
                          "iam:PutUserPolicy and iam:UpdateUser on a user", label="rename")
    iam, attacker = cloud.client("iam"), attacker or cloud
    before = f"workshop-user-{secrets.token_hex(3)}"
    after = result.target = f"{before}-renamed"
    user_arn = iam.create_user(UserName=before)["User"]["Arn"]
    result.calls = [("iam:PutUserPolicy", user_arn), ("iam:UpdateUser", user_arn)]
    fire_user_policy(attacker, before, "extra", ADMIN_DOCUMENT)
    renamed_at = datetime.now(timezone.utc)
    iam_call(attacker.client("iam").update_user, what="IAM to show the new user", UserName=before, NewUserName=after)
    rename = FiredPolicy(after, f"user/{after}", "", "UpdateUser", "",
                         f"{cloud.cli_prefix()} iam update-user --user-name {before} --new-user-name {after}",
                         renamed_at, {"userName": before, "newUserName": after})
    run = follow(cloud, execution_started_by(cloud, outputs["StateMachineArn"], rename), until=None)
    result.happened.append(f"PutUserPolicy \"*\" on {before}, then UpdateUser: {run.path()[-1]}.")

    def asked():  # under the new name (or the old one, had the orchestrator been quicker than the rename)
        return next((i for i in incidents.list_incidents(cloud.client("dynamodb"), incidents.table_name(outputs))
                     if i.kind == "inline" and i.pending and i.target.get("policyName") == "extra"
                     and i.target.get("principalName") in (before, after)), None)

    incident = wait_for(asked, what="the incident about the renamed user's policy", timeout=60, progress=False,
                        **poll_intervals(cloud))
    kept = iam_call(iam.list_user_policies, what="IAM to show the new user", UserName=after)["PolicyNames"]
    result.happened.append(f"«{incident.label}» waits for a decision; the user's inline policies now: "
                           f"{kept or 'none'}.")
    result.held = "extra" not in kept
    return result


_DENIED = ("AccessDenied", "AccessDeniedException")


def _refused(call, **kwargs) -> str:
    """Make an IAM call as the attacker; "" when it was made, else the code of the refusal."""
    try:
        call(**kwargs)
        return ""
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in _DENIED:
            raise
        return code


def join_a_risky_group(cloud, outputs: dict, attacker=None) -> AttackResult:
    """A group whose risky policy a human approved earlier; AddUserToGroup gives a new member all of it.

    The group and its approval are what the attack finds in place (made with `cloud`; in the notebook the
    learner's own policy refuses that first); the attacker's call is the join."""
    result = AttackResult("add a user to a group whose risky policy a human approved earlier",
                          "iam:AddUserToGroup on a risky group", label="group join")
    iam, machine = cloud.client("iam"), outputs["StateMachineArn"]
    group, user = f"workshop-group-{secrets.token_hex(3)}", f"workshop-user-{secrets.token_hex(3)}"
    group_arn = _arn(machine, "iam", f"group/{group}")
    result.calls = [("iam:CreateGroup", group_arn), ("iam:PutGroupPolicy", group_arn),
                    ("iam:AddUserToGroup", group_arn)]
    refused = _refused(iam.create_group, GroupName=group)
    if refused:
        result.happened.append(f"CreateGroup refused ({refused}): your policy makes, changes and joins no group.")
        result.held = True
        return result
    document = (ROOT / "policies" / "badpolicy.json").read_text()
    iam_call(iam.put_group_policy, what="IAM to show the new group", GroupName=group, PolicyName="cleanup",
             PolicyDocument=document)
    grant = FiredPolicy("cleanup", f"group/{group}", "", "PutGroupPolicy", document, "", datetime.now(timezone.utc),
                        {"groupName": group, "policyName": "cleanup"})
    asked = follow(cloud, execution_started_by(cloud, machine, grant), until="AskUser")
    approved = _incident_of(cloud, outputs, asked.arn)
    panel_decider(cloud, outputs)(approved.incident_id, "allow")
    wait_for_end(cloud, asked.arn)
    back = incidents.is_restored(iam, incidents.get_incident(cloud.client("dynamodb"), incidents.table_name(outputs),
                                                             approved.incident_id), IAM_CONSISTENCY_S)
    result.happened.append(f"{group}'s risky policy: reverted, approved, "
                           + ("in force again." if back else "NOT back in force."))
    iam.create_user(UserName=user)
    result.target = user
    joined_at = datetime.now(timezone.utc)
    iam_call((attacker or cloud).client("iam").add_user_to_group, what="IAM to show the new user", GroupName=group,
             UserName=user)
    join = FiredPolicy(group, f"group/{group}", "", "AddUserToGroup", "",
                       f"{cloud.cli_prefix()} iam add-user-to-group --group-name {group} --user-name {user}",
                       joined_at, {"groupName": group, "userName": user})
    run = follow(cloud, execution_started_by(cloud, machine, join), until="AskUser")
    result.happened.append(f"AddUserToGroup {user}: " + " → ".join(run.path()[-3:]))
    groups = [g["GroupName"] for g in iam_call(iam.list_groups_for_user, UserName=user)["Groups"]]
    incident = _incident_of(cloud, outputs, run.arn)
    result.happened.append(f"Its groups now: {groups or 'none'}.")
    result.held = (back and group not in groups and run.path()[-1:] == ["AskUser"]
                   and incident is not None and incident.kind == "membership")
    return result
