"""The attacks on the orchestrator, each against the deployed stack: the orchestrator defends itself.

Every test here is an attack that worked on the design this kit started from
(the token in the links, the document taken from the event, RestorePolicy
restoring whatever its input said, only two IAM calls watched) or on the kit
before its incidents were sealed (a forged or edited item of the incidents
table, planted keys, a decision written to the table) and fails now. Plain
boto3 and HTTP against the session's local cloud, with the stack deployed by
the real `sam deploy`; where notebook 07 shows the same attack, the test runs
its implementation (`workshop.teaching.attacks`).

Every attack runs as the attacker its row of docs/security.md's threat model
names: an IAM user made in the test holding exactly that permission (the local
cloud evaluates IAM for it as for any principal), passed to the attack
functions as their `attacker`; or, where the row's attacker needs no AWS
permission at all (whoever holds a link, anyone on the public endpoint), no
credentials. Each such call goes through (the tests check it), so what holds
is the orchestrator's own defence, not IAM. What an attack needs in place
first (a victim policy, a change waiting for a human) and what the tests look
at afterwards are made and read with the local cloud's own key, the account's
administrator.
"""

from __future__ import annotations

import json
import threading

import pytest
import requests
from botocore.credentials import Credentials
from stack_incidents import (ADMIN_DOCUMENT, ADMINISTRATOR_ACCESS, BAD, GOOD, approval_mail, approval_mails,
                             attached, aws, cloudtrail_event, decide_by_link, default_document, finished,
                             harmless_in_force, incidents, incidents_about, inline_text, link, link_fields, mails_about,
                             new_principal, put_on_the_bus, rule_paused, states_entered, task_parameters, unique,
                             versions, waiting_at)

from iam_principals import allow, attacker_holding, denied, document, user_with
from polling import wait_for
from workshop.aws.decision_endpoint import SignedDecider
from workshop.aws.executions import find_token
from workshop.aws.session import connect
from workshop.teaching.attacks import (add_an_inline_policy, approve_with_an_edited_deny_link,
                                       approve_with_token_from_history, forge_an_execution, forge_an_incident_item,
                                       invoke_restore_directly, join_a_risky_group, plant_incident_keys,
                                       put_back_a_risky_version, rename_after_a_risky_grant)

STACK = "e2e-orchestrator"
ACCOUNT = "123456789012"

pytestmark = pytest.mark.e2e


def _refused(response: requests.Response, status: int | None = None) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text and response.headers.get("Cache-Control") == "no-store"


def waiting_incident(stack: dict, endpoint: str, document: str = BAD, kind: str = "policy"):
    """A new risky policy, reverted; its incident waits at AskUser: (arn, execution arn, approval mail)."""
    sfn = aws("stepfunctions")
    arn = aws("iam").create_policy(PolicyName=unique(kind), PolicyDocument=document)["Policy"]["Arn"]
    mail = approval_mail(endpoint, arn)
    [incident] = incidents_about(stack, arn)
    wait_for(lambda: waiting_at(sfn, incident["executionArn"], "AskUser"), what="the incident to wait at AskUser")
    return arn, incident["executionArn"], mail


def alert_run(stack: dict, arn: str) -> None:
    """Wait for the alert run a harmless change starts, so that later steps see a quiet policy."""
    wait_for(lambda: mails_about(aws_endpoint(stack), arn.rsplit("/", 1)[-1], "no restricted actions"),
             what=f"the alert for {arn}")


def aws_endpoint(stack: dict) -> str:
    return stack["ApiUrl"].split("/_localcloud/")[0]


def session(endpoint: str):
    return connect("local", endpoint)


def table_arn(stack: dict) -> str:
    return f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{stack['IncidentsTableName']}"


def restore_policy_arn() -> str:
    return next(f["FunctionArn"] for f in aws("lambda").list_functions()["Functions"]
                if f["FunctionName"].startswith(f"{STACK}-RestorePolicy"))


def start_executions(endpoint: str, stack: dict):
    """An attacker holding only states:StartExecution on the stack's state machine."""
    return attacker_holding(session(endpoint), allow("states:StartExecution", stack["StateMachineArn"]))


def iam_arn(resource: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:{resource}"


# --- §2 decisions only from the person who got the e-mail -----------------------------------------


def test_the_task_token_from_the_history_decides_nothing(deployed_stack, local_cloud):
    """Read access to Step Functions shows the token (AskUser's parameters): it no longer approves. The attacker
    holds states:GetExecutionHistory on that execution; the public endpoint takes anyone."""
    sfn = aws("stepfunctions")
    arn, execution, mail = waiting_incident(deployed_stack, local_cloud, kind="history")
    cloud = session(local_cloud)
    reader = attacker_holding(cloud, allow("states:GetExecutionHistory", execution))
    result = approve_with_token_from_history(cloud, deployed_stack, execution, attacker=reader)
    assert result.held and "GetExecutionHistory shows the task token" in result.happened[0], result
    token = find_token(task_parameters(sfn, execution, "AskUser"))
    assert token, "the token is in the history (waitForTaskToken needs it there)"
    for url in (deployed_stack["ApproveUrl"], deployed_stack["DenyUrl"]):  # in every form a request can carry it
        _refused(requests.post(url, data={"token": token}, timeout=60), 403)
        _refused(requests.post(url, json={"token": token}, timeout=60), 403)
        _refused(requests.post(url, params={"token": token}, timeout=60), 403)
        _refused(requests.get(url, params={"token": token}, timeout=60), 403)
    assert waiting_at(sfn, execution, "AskUser") and harmless_in_force(arn)
    assert "decision" not in incidents_about(deployed_stack, arn)[0]
    assert token not in mail["body"]  # nor is it in the e-mail
    assert decide_by_link(mail, "deny").status_code == 200


def test_a_deny_link_edited_into_an_allow_link_is_refused(deployed_stack, local_cloud):
    """The attacker holds a deny link (a forwarded e-mail, a screen share) and no AWS permission at all."""
    sfn = aws("stepfunctions")
    arn, execution, mail = waiting_incident(deployed_stack, local_cloud, kind="edited")
    result = approve_with_an_edited_deny_link(connect("local", local_cloud), deployed_stack, arn)
    assert result.held, result
    edited = link(mail, "deny").replace("/deny?", "/allow?")
    _refused(requests.get(edited, timeout=60), 403)  # opened, not only its form posted
    assert waiting_at(sfn, execution, "AskUser") and harmless_in_force(arn)
    assert decide_by_link(mail, "deny").status_code == 200  # the link as sent still works
    assert finished(sfn, execution)["status"] == "SUCCEEDED" and harmless_in_force(arn)


def test_allow_and_deny_within_milliseconds_one_decision_stands(deployed_stack, local_cloud):
    """Whoever holds the e-mail's two links, and no AWS permission, presses both at once."""
    sfn = aws("stepfunctions")
    arn, execution, mail = waiting_incident(deployed_stack, local_cloud, kind="race")
    barrier, answers = threading.Barrier(2), {}

    def press(decision):
        endpoint, fields = link_fields(link(mail, decision))
        barrier.wait(timeout=30)
        answers[decision] = requests.post(endpoint, data=fields, timeout=60)

    threads = [threading.Thread(target=press, args=(d,)) for d in ("allow", "deny")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = {d: r.status_code for d, r in answers.items()}
    assert sorted(statuses.values()) == [200, 409], statuses
    stood = next(d for d, s in statuses.items() if s == 200)
    loser = answers["deny" if stood == "allow" else "allow"]
    assert f"already {'approved' if stood == 'allow' else 'denied'}" in loser.text
    assert incidents_about(deployed_stack, arn)[0]["decision"] == stood
    assert finished(sfn, execution)["status"] == "SUCCEEDED"
    restored = default_document(arn)[1] == json.loads(BAD)
    assert restored == (stood == "allow")
    for decision in ("allow", "deny"):  # and later: still the one decision
        _refused(decide_by_link(mail, decision), 409)


@pytest.mark.parametrize("body, status", [("[" * 100_000, 413), ("[" * 3_000, 400),
                                          ('[{"a":' * 480 + "1" + "}]" * 480, 400)])
def test_huge_or_nested_decision_bodies_are_a_4xx(deployed_stack, body, status):
    """Anyone: the approve and deny URLs are public."""
    for url in (deployed_stack["ApproveUrl"], deployed_stack["DenyUrl"]):
        _refused(requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60), status)


# --- §1 IAM is the source of truth ------------------------------------------------------------


def test_a_forged_execution_cannot_make_a_harmless_policy_admin(deployed_stack, local_cloud):
    """states:StartExecution and a CloudTrail-shaped event naming a victim, an admin document in it, then an
    approval: the sample's RestorePolicy wrote that document into the victim."""
    sfn = aws("stepfunctions")
    victim = aws("iam").create_policy(PolicyName=unique("victim"), PolicyDocument=GOOD)["Policy"]["Arn"]
    alert_run(deployed_stack, victim)
    cloud = session(local_cloud)
    starter = start_executions(local_cloud, deployed_stack)
    result = forge_an_execution(cloud, deployed_stack, victim, attacker=starter)
    assert result.held, result
    assert not any("TempRemove" in line for line in result.happened), result
    assert default_document(victim) == ("v1", json.loads(GOOD)) and versions(victim) == ["v1"]
    assert "allows none of the restricted actions" in mails_about(local_cloud, victim.rsplit("/", 1)[-1],
                                                                  "no restricted actions")[-1]["body"]

    # A version IAM does not hold is nothing to judge, let alone to restore: the admin is told what was seen.
    forged = cloudtrail_event("CreatePolicyVersion",
                              {"policyArn": victim, "policyDocument": ADMIN_DOCUMENT, "setAsDefault": True},
                              {"policyVersion": {"versionId": "v1", "isDefaultVersion": True}})
    forged["detail"]["responseElements"]["policyVersion"]["versionId"] = "v9"
    again = starter.client("stepfunctions").start_execution(stateMachineArn=deployed_stack["StateMachineArn"],
                                                            input=json.dumps(forged))
    assert finished(sfn, again["executionArn"])["status"] == "SUCCEEDED"
    assert states_entered(sfn, again["executionArn"])[-1] == "ReportGone"
    assert versions(victim) == ["v1"] and not approval_mails(local_cloud, victim)


def test_a_forged_own_identity_does_not_wave_a_risky_change_through(deployed_stack, local_cloud):
    """The sample skipped any event whose userIdentity named the orchestrator's roles. The attacker holds
    states:StartExecution on the state machine."""
    revert_role = next(r["PhysicalResourceId"] for r in aws("cloudformation").describe_stack_resources(
        StackName="e2e-orchestrator")["StackResources"] if r["LogicalResourceId"] == "RevertPolicyRole")
    role_arn = aws("iam").get_role(RoleName=revert_role)["Role"]["Arn"]
    with rule_paused(deployed_stack):
        arn = aws("iam").create_policy(PolicyName=unique("disguised"), PolicyDocument=BAD)["Policy"]["Arn"]
    event = cloudtrail_event("CreatePolicy", {"policyName": arn.rsplit("/", 1)[-1]},
                             {"policy": {"arn": arn, "defaultVersionId": "v1"}},
                             user_identity={"type": "AssumedRole", "arn": f"{role_arn}/session",
                                            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn}}})
    starter = start_executions(local_cloud, deployed_stack)
    starter.client("stepfunctions").start_execution(stateMachineArn=deployed_stack["StateMachineArn"],
                                                    input=json.dumps(event))
    mail = approval_mail(local_cloud, arn)
    assert harmless_in_force(arn) and "v1" not in versions(arn)
    assert decide_by_link(mail, "deny").status_code == 200


def test_invoking_restore_policy_directly_restores_nothing(deployed_stack, local_cloud):
    """The attacker holds lambda:InvokeFunction on RestorePolicy."""
    function = restore_policy_arn()
    cloud = session(local_cloud)
    invoker = attacker_holding(cloud, allow("lambda:InvokeFunction", function))
    lam = invoker.client("lambda")
    victim = aws("iam").create_policy(PolicyName=unique("direct"), PolicyDocument=GOOD)["Policy"]["Arn"]
    alert_run(deployed_stack, victim)
    # The sample's input: the ARN and the document to restore.
    result = invoke_restore_directly(cloud, STACK, victim, attacker=invoker)
    assert result.held and any("InvalidEvent" in line for line in result.happened), result
    assert default_document(victim) == ("v1", json.loads(GOOD))

    # A real incident nobody approved (yet): its id and its execution restore nothing.
    arn, execution, mail = waiting_incident(deployed_stack, local_cloud, kind="undecided")
    incident = {"incidentId": incidents_about(deployed_stack, arn)[0]["incidentId"], "executionId": execution}
    answer = lam.invoke(FunctionName=function, Payload=json.dumps(incident))
    assert answer.get("FunctionError") and "NotApproved" in answer["Payload"].read().decode()
    assert harmless_in_force(arn)
    assert decide_by_link(mail, "deny").status_code == 200
    answer = lam.invoke(FunctionName=function, Payload=json.dumps(incident))  # denied: still no
    assert answer.get("FunctionError") and "NotApproved" in answer["Payload"].read().decode()
    assert harmless_in_force(arn)


def test_an_event_without_the_document_is_judged_from_iam(deployed_stack, local_cloud):
    """CloudTrail leaves out a request field that is too large; the sample then ended at InvalidEvent. Not an
    attack: the administrator's key puts on the bus what CloudTrail sends (on AWS no principal can send an
    event with CloudTrail's source)."""
    with rule_paused(deployed_stack):
        arn = aws("iam").create_policy(PolicyName=unique("nodoc"), PolicyDocument=BAD)["Policy"]["Arn"]
    put_on_the_bus(cloudtrail_event("CreatePolicy", {"policyName": arn.rsplit("/", 1)[-1]},
                                    {"policy": {"arn": arn, "defaultVersionId": "v1"}}))
    mail = approval_mail(local_cloud, arn)
    assert harmless_in_force(arn) and "v1" not in versions(arn)
    assert '"s3:DeleteBucket"' in mail["body"]  # the document, as IAM held it
    [incident] = incidents_about(deployed_stack, arn)
    assert json.loads(incident["document"]) == json.loads(BAD)
    assert decide_by_link(mail, "deny").status_code == 200


def test_two_deliveries_at_the_same_moment_ask_one_human(deployed_stack, local_cloud):
    """EventBridge delivers at least once: two deliveries are two StartExecution calls with the same event, made
    here as the rule's target role makes them, by a principal holding only states:StartExecution."""
    sfn = aws("stepfunctions")
    starter = start_executions(local_cloud, deployed_stack)
    start = starter.client("stepfunctions").start_execution
    with rule_paused(deployed_stack):
        arn = aws("iam").create_policy(PolicyName=unique("twice"), PolicyDocument=BAD)["Policy"]["Arn"]
    event = json.dumps(cloudtrail_event("CreatePolicy", {"policyName": arn.rsplit("/", 1)[-1]},
                                        {"policy": {"arn": arn, "defaultVersionId": "v1"}}))
    barrier, started = threading.Barrier(2), []

    def deliver():
        barrier.wait(timeout=30)
        started.append(start(stateMachineArn=deployed_stack["StateMachineArn"], input=event))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mail = approval_mail(local_cloud, arn)

    def settled():
        ends = [states_entered(sfn, s["executionArn"])[-1:] for s in started]
        return ends if all(e and e[0] in ("AskUser", "AlreadyHandled") for e in ends) else None

    ends = sorted(e[0] for e in wait_for(settled, what="both executions to ask or stop"))
    assert ends == ["AlreadyHandled", "AskUser"]
    assert len(approval_mails(local_cloud, arn)) == 1 and len(incidents_about(deployed_stack, arn)) == 1
    assert decide_by_link(mail, "deny").status_code == 200


# --- §3 every way a risky permission becomes live -------------------------------------------------


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_set_default_policy_version_is_caught(deployed_stack, local_cloud, decision):
    """The attacker holds iam:CreatePolicyVersion and iam:SetDefaultPolicyVersion on the attack's policies."""
    sfn = aws("stepfunctions")
    cloud = session(local_cloud)
    editor = attacker_holding(cloud, allow(["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"],
                                           iam_arn("policy/workshop-staged-*")))
    result = put_back_a_risky_version(cloud, deployed_stack, BAD, attacker=editor)
    assert result.held, result
    arn, staged = result.target, {"VersionId": "v2"}  # a new policy's first added version
    notice = wait_for(lambda: next((m for m in mails_about(local_cloud, f"{arn} version {staged['VersionId']}",
                                                           "no restricted")), None),
                      what="the report of the staged version")
    assert "not the default" in notice["body"]
    mail = approval_mail(local_cloud, arn)
    assert f"Offending version: {staged['VersionId']}" in mail["body"]
    assert "SetDefaultPolicyVersion" in mail["body"] and harmless_in_force(arn)
    assert staged["VersionId"] not in versions(arn)
    [incident] = incidents_about(deployed_stack, arn)
    assert decide_by_link(mail, decision).status_code == 200
    assert finished(sfn, incident["executionArn"])["status"] == "SUCCEEDED"
    if decision == "allow":
        version, document = default_document(arn)
        assert document == json.loads(BAD) and version not in ("v1", staged["VersionId"])
        assert "v1" in versions(arn)  # the earlier version is kept
    else:
        assert harmless_in_force(arn) and staged["VersionId"] not in versions(arn)


@pytest.mark.parametrize("kind, decision", [("user", "allow"), ("role", "deny"), ("group", "allow")])
def test_an_inline_policy_is_caught(deployed_stack, local_cloud, kind, decision):
    """The attacker holds iam:Put{User,Role,Group}Policy on the principal."""
    sfn = aws("stepfunctions")
    written = BAD.replace('"Version"', '"Version" ')  # spelt its own way: restored byte for byte
    cloud = session(local_cloud)
    if kind == "user":  # notebook 07's attack
        writer = attacker_holding(cloud, allow("iam:PutUserPolicy", iam_arn("user/workshop-user-*")))
        result = add_an_inline_policy(cloud, deployed_stack, written, attacker=writer)
        assert result.held, result
        principal = result.target
    else:
        principal = new_principal(kind)
        writer = attacker_holding(cloud, allow(f"iam:Put{kind.capitalize()}Policy", iam_arn(f"{kind}/{principal}")))
        getattr(writer.client("iam"), f"put_{kind}_policy")(**{f"{kind.capitalize()}Name": principal},
                                                            PolicyName="extra", PolicyDocument=written)
    mail = approval_mail(local_cloud, f"of {kind} {principal}")
    assert inline_text(kind, principal, "extra") is None
    [incident] = incidents_about(deployed_stack, principal)
    assert incident["document"] == written and f"Put{kind.capitalize()}Policy" in mail["body"]
    assert decide_by_link(mail, decision).status_code == 200
    assert finished(sfn, incident["executionArn"])["status"] == "SUCCEEDED"
    assert inline_text(kind, principal, "extra") == (written if decision == "allow" else None)
    if decision == "allow":  # the restore's own Put is recognised: nobody is asked again
        wait_for(lambda: len(incidents_about(deployed_stack, principal)) == 1 and
                 len(approval_mails(local_cloud, f"of {kind} {principal}")) == 1, timeout=3,
                 what="no second incident")


@pytest.mark.parametrize("kind, decision", [("user", "deny"), ("role", "allow"), ("group", "deny")])
def test_attaching_administrator_access_is_caught(deployed_stack, local_cloud, kind, decision):
    """The attacker holds iam:Attach{User,Role,Group}Policy on the principal."""
    sfn = aws("stepfunctions")
    principal = new_principal(kind)
    attacher = attacker_holding(session(local_cloud), allow(f"iam:Attach{kind.capitalize()}Policy",
                                                            iam_arn(f"{kind}/{principal}")))
    getattr(attacher.client("iam"), f"attach_{kind}_policy")(**{f"{kind.capitalize()}Name": principal},
                                          PolicyArn=ADMINISTRATOR_ACCESS)
    mail = approval_mail(local_cloud, f"{kind} {principal}")
    assert attached(kind, principal) == []
    [incident] = incidents_about(deployed_stack, principal)
    assert json.loads(incident["document"])["Statement"][0]["Action"] == "*"
    assert decide_by_link(mail, decision).status_code == 200
    assert finished(sfn, incident["executionArn"])["status"] == "SUCCEEDED"
    assert attached(kind, principal) == ([ADMINISTRATOR_ACCESS] if decision == "allow" else [])


def test_a_risky_grant_renamed_before_the_orchestrator_acts_stays_out_of_force(deployed_stack, local_cloud):
    """PutUserPolicy "Action": "*", then UpdateUser at once: the sample-derived kit's execution for the old name
    found nothing and the renamed user kept "*". Now one incident takes it out of force and asks. The attacker
    holds iam:PutUserPolicy and iam:UpdateUser on the user (IAM checks a rename against both names)."""
    sfn = aws("stepfunctions")
    cloud = session(local_cloud)
    renamer = attacker_holding(cloud, allow(["iam:PutUserPolicy", "iam:UpdateUser"], iam_arn("user/workshop-user-*")))
    result = rename_after_a_risky_grant(cloud, deployed_stack, attacker=renamer)
    assert result.held, result
    after = result.target
    before = after.removesuffix("-renamed")
    assert inline_text("user", after, "extra") is None and attached("user", after) == []
    # under the new name, or the old one had the orchestrator been quicker than the rename: one incident either way
    [incident] = [i for i in incidents_about(deployed_stack, before) if i.get("status") == "awaiting"]
    target = json.loads(incident["target"])
    assert (target["principalName"] in (before, after), target["policyName"]) == (True, "extra")
    assert json.loads(incident["document"]) == json.loads(ADMIN_DOCUMENT)
    mail = approval_mail(local_cloud, f"inline policy extra of user {target['principalName']}")
    assert decide_by_link(mail, "deny").status_code == 200
    assert finished(sfn, incident["executionArn"])["status"] == "SUCCEEDED"
    assert inline_text("user", after, "extra") is None
    assert len(approval_mails(local_cloud, f"inline policy extra of user {target['principalName']}")) == 1


def test_joining_a_group_whose_risky_policy_was_approved_takes_the_user_out_and_asks(deployed_stack, local_cloud):
    """A group's policy allowing s3:DeleteBucket, reverted and approved by a human; then a user joins the group:
    the sample-derived kit did not watch AddUserToGroup. Now the user is taken out and a human asked; the
    group keeps what was approved. The attacker holds iam:AddUserToGroup on the group; the group and its
    approval are in place before."""
    sfn = aws("stepfunctions")
    cloud = session(local_cloud)
    joiner = attacker_holding(cloud, allow("iam:AddUserToGroup", iam_arn("group/workshop-group-*")))
    result = join_a_risky_group(cloud, deployed_stack, attacker=joiner)
    assert result.held, result
    user = result.target
    [incident] = incidents_about(deployed_stack, f"user {user} added to group")
    group = json.loads(incident["target"])["groupName"]
    assert incident["kind"] == "membership" and "s3:DeleteBucket" in incident["document"]
    assert [g["GroupName"] for g in aws("iam").list_groups_for_user(UserName=user)["Groups"]] == []
    [approved] = incidents_about(deployed_stack, f"inline policy cleanup of group {group}")
    assert (approved["decision"], approved["decidedVia"]) == ("allow", "panel")
    assert json.loads(inline_text("group", group, "cleanup")) == json.loads(BAD)  # what the human approved stays
    mail = approval_mail(local_cloud, f"user {user} added to group {group}")
    assert "AddUserToGroup" in mail["body"]
    assert decide_by_link(mail, "deny").status_code == 200
    assert finished(sfn, incident["executionArn"])["status"] == "SUCCEEDED"
    assert aws("iam").list_groups_for_user(UserName=user)["Groups"] == []


def test_an_unrecognised_event_is_e_mailed_not_dropped(deployed_stack, local_cloud):
    """Started by a principal holding only states:StartExecution, as a forged execution is."""
    sfn = aws("stepfunctions")
    event = cloudtrail_event("PutUserPolicy", {"policyName": "x"})  # no userName: cannot say whose
    starter = start_executions(local_cloud, deployed_stack)
    started = starter.client("stepfunctions").start_execution(stateMachineArn=deployed_stack["StateMachineArn"],
                                                              input=json.dumps(event))
    done = finished(sfn, started["executionArn"])
    assert done["status"] == "FAILED" and done["error"] == "InvalidEvent"
    notice = wait_for(lambda: (mails_about(local_cloud, event["detail"]["eventID"], "Unrecognised") or [None])[0],
                      what="the e-mail about the unrecognised event")
    assert "check the change by hand" in notice["subject"].lower() or "Check the change by hand" in notice["body"]


# --- the incident is evidence: sealed, bound to its execution, restored only as sealed ------------------


def test_a_forged_incident_and_a_direct_invoke_change_no_iam(deployed_stack, local_cloud):
    """PutItem an approved incident attaching AdministratorAccess to a user, invoke RestorePolicy with it:
    the sample and the unsealed kit attached it. The attacker holds dynamodb:PutItem on the table and
    lambda:InvokeFunction on RestorePolicy (the learner policy grants neither: notebook 07's AWS-like run)."""
    cloud = session(local_cloud)
    forger = attacker_holding(cloud, allow("dynamodb:PutItem", table_arn(deployed_stack)),
                              allow("lambda:InvokeFunction", restore_policy_arn()))
    result = forge_an_incident_item(cloud, deployed_stack, STACK, attacker=forger)
    assert result.held, result
    assert result.happened[0].startswith("PutItem: incident"), result  # written: the seal is what holds
    assert any("TamperedIncident" in line for line in result.happened), result


def test_a_pending_targets_change_restores_it_to_nobody(deployed_stack, local_cloud):
    """AdministratorAccess attached to one user is reverted; a table writer changes the pending incident's
    target to another user; the human approves the genuine link. Nobody gets it, and the admin is told why.
    The attacker holds dynamodb:UpdateItem on the table."""
    sfn = aws("stepfunctions")
    writer = attacker_holding(session(local_cloud), allow("dynamodb:UpdateItem", table_arn(deployed_stack)))
    victim, beneficiary = new_principal("user"), new_principal("user")
    aws("iam").attach_user_policy(UserName=victim, PolicyArn=ADMINISTRATOR_ACCESS)
    mail = approval_mail(local_cloud, f"user {victim}")
    [incident] = incidents_about(deployed_stack, victim)
    wait_for(lambda: waiting_at(sfn, incident["executionArn"], "AskUser"), what="the incident to wait at AskUser")
    changed = json.loads(incident["target"]) | {"principalName": beneficiary}
    writer.client("dynamodb").update_item(TableName=deployed_stack["IncidentsTableName"],
                                Key={"incidentId": {"S": incident["incidentId"]}}, UpdateExpression="SET target = :t",
                                ExpressionAttributeValues={":t": {"S": json.dumps(changed)}})
    assert decide_by_link(mail, "allow").status_code == 200
    done = finished(sfn, incident["executionArn"])
    assert done["status"] == "FAILED" and "approved" in states_entered(sfn, incident["executionArn"])
    assert attached("user", victim) == [] and attached("user", beneficiary) == []
    notice = wait_for(lambda: (mails_about(local_cloud, incident["executionArn"], "failed") or [None])[0],
                      what="the failure notice")
    assert "TamperedIncident" in notice["body"] and "changed after RevertPolicy sealed them" in notice["body"]


def test_planted_keys_leave_the_real_incident_to_revert_and_ask(deployed_stack, local_cloud):
    """Items planted at the keys of a quiet policy's next versions: the sample-derived kit ended the real
    change at AlreadyHandled with "Action": "*" in force. Now it is reverted, asked, and the plant reported.
    The attacker holds dynamodb:PutItem on the table and iam:CreatePolicyVersion on the attack's policies."""
    cloud = session(local_cloud)
    planter = attacker_holding(cloud, allow("dynamodb:PutItem", table_arn(deployed_stack)),
                               allow("iam:CreatePolicyVersion", iam_arn("policy/workshop-planted-*")))
    result = plant_incident_keys(cloud, deployed_stack, attacker=planter)
    assert result.held and result.happened[0].startswith("PutItem: 4 items"), result
    incident = sorted((i for i in incidents(deployed_stack) if i.get("planted")), key=lambda i: i["createdAt"])[-1]
    policy = json.loads(incident["target"])["policyArn"]
    assert harmless_in_force(policy)
    mail = approval_mail(local_cloud, policy)
    assert "WARNING: the incidents table held a planted item" in mail["body"]
    assert decide_by_link(mail, "deny").status_code == 200


def _decider_user(stack: dict, granted: bool = True) -> tuple[str, Credentials]:
    """An IAM user of the local cloud holding only execute-api:Invoke on the decision method (or, not
    `granted`, no policy at all), with an access key: the panel's decider, named by its key."""
    iam = aws("iam")
    name = new_principal("user")
    api = stack["DecisionUrl"].split("/execute-api/")[1].split("/")[0]
    if granted:
        iam.put_user_policy(UserName=name, PolicyName="exactly", PolicyDocument=document(
            allow("execute-api:Invoke", f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}/*/POST/decision")))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return iam.get_user(UserName=name)["User"]["Arn"], Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def test_the_panel_decides_through_the_endpoint_and_the_item_records_the_callers_arn(deployed_stack, local_cloud):
    sfn = aws("stepfunctions")
    arn, execution, _ = waiting_incident(deployed_stack, local_cloud, kind="panel")
    incident = incidents_about(deployed_stack, arn)[0]["incidentId"]
    unsigned = requests.post(deployed_stack["DecisionUrl"], json={"incident": incident, "decision": "deny"},
                             timeout=60)
    assert unsigned.status_code == 403 and "Missing Authentication Token" in unsigned.text
    outsider_arn, outsider = _decider_user(deployed_stack, granted=False)  # signs correctly, holds no grant
    refused = SignedDecider(deployed_stack["DecisionUrl"], outsider)(incident, "allow")
    assert refused.status == 403 and f"User: {outsider_arn} is not authorized to perform: execute-api:Invoke" \
        in refused.message, refused
    decider_arn, credentials = _decider_user(deployed_stack)
    result = SignedDecider(deployed_stack["DecisionUrl"], credentials)(incident, "deny")
    assert result.status == 200 and decider_arn in result.message, result
    recorded = incidents_about(deployed_stack, arn)[0]
    assert (recorded["decision"], recorded["decidedVia"], recorded["decidedBy"]) == ("deny", "panel", decider_arn)
    assert finished(sfn, execution)["status"] == "SUCCEEDED" and harmless_in_force(arn)
    again = SignedDecider(deployed_stack["DecisionUrl"], credentials)(incident, "allow")
    assert again.status == 409 and "already denied" in again.message


def test_a_decision_written_to_the_table_without_the_endpoint_decides_nothing(deployed_stack, local_cloud):
    """The learner's old panel wrote the decision to the table itself: a table writer "approves" by writing
    it. Nothing follows: the execution waits for the decision endpoint, and nothing is restored. The attacker
    holds dynamodb:UpdateItem on the table."""
    sfn = aws("stepfunctions")
    arn, execution, mail = waiting_incident(deployed_stack, local_cloud, kind="written")
    incident = incidents_about(deployed_stack, arn)[0]["incidentId"]
    writer = attacker_holding(session(local_cloud), allow("dynamodb:UpdateItem", table_arn(deployed_stack)))
    writer.client("dynamodb").update_item(
        TableName=deployed_stack["IncidentsTableName"], Key={"incidentId": {"S": incident}},
        UpdateExpression="SET decision = :d, decidedVia = :v, decidedBy = :b, #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":d": {"S": "allow"}, ":v": {"S": "panel"}, ":b": {"S": "a table writer"},
                                   ":s": {"S": "decided"}})
    assert waiting_at(sfn, execution, "AskUser") and harmless_in_force(arn)
    # The genuine link now finds the incident "decided": a table writer can block a decision, never make one.
    assert decide_by_link(mail, "allow").status_code == 409
    assert waiting_at(sfn, execution, "AskUser") and harmless_in_force(arn)
    sfn.stop_execution(executionArn=execution, error="TestDone")


# --- the stack's resource policies, evaluated: principals holding exactly a grant make the call --------------


def _stack_resource(logical_id: str) -> str:
    return next(r["PhysicalResourceId"] for r in aws("cloudformation").describe_stack_resources(
        StackName=STACK)["StackResources"] if r["LogicalResourceId"] == logical_id)


def test_an_sns_grant_on_everything_does_not_subscribe_to_the_links_topic(deployed_stack, local_cloud):
    """Whoever subscribes receives every approval link: the topic policy keeps everyone but the
    stack's administrators out, whatever their own policy grants (same-account allow, explicit deny)."""
    user = user_with(local_cloud, document({"Effect": "Allow", "Action": "sns:*", "Resource": "*"}))
    topic = deployed_stack["AlertTopicArn"]
    error = denied(user.client("sns").subscribe, TopicArn=topic, Protocol="email", Endpoint="thief@attacker.dev")
    assert error["Code"] == "AuthorizationError" and "explicit deny in a resource-based policy" in error["Message"]
    assert user.client("sns").list_topics()["Topics"]  # the grant itself works: only the topic refuses
    error = denied(user.client("sns").publish, TopicArn=topic, Subject="Approve", Message="a forged approval e-mail")
    assert error["Code"] == "AuthorizationError" and "explicit deny in a resource-based policy" in error["Message"]
    assert not [s for s in aws("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
                if s["Endpoint"] == "thief@attacker.dev"]


def test_a_secrets_manager_grant_on_everything_does_not_read_the_link_signing_secret(deployed_stack, local_cloud):
    """The secret signs the links: read, it forges an approval. Only AskUser's and ReceiveDecision's roles
    may read it, whatever a principal's own policy grants."""
    user = user_with(local_cloud, document({"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}))
    secret = _stack_resource("DecisionSecret")
    error = denied(user.client("secretsmanager").get_secret_value, SecretId=secret)
    assert error["Code"] == "AccessDeniedException" and "explicit deny in a resource-based policy" in error["Message"]
    assert user.client("secretsmanager").describe_secret(SecretId=secret)["ARN"] == secret  # not a read
