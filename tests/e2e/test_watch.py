"""Every path to a live permission is watched: the attacks that moved a permission out of the
orchestrator's sight, each against the session's deployed stack.

Each test performs the attack with plain boto3 against the local cloud and fails on the kit
that watched only the nine policy calls: a change that vanished before it was judged ended
silently, a rename or a group join put a restricted permission in force unseen.
"""

from __future__ import annotations

import json

import pytest
from stack_incidents import (ADMINISTRATOR_ACCESS, BAD, approval_mail, approval_mails, attached, aws,
                             cloudtrail_event, decide_by_link, finished, harmless_in_force, incidents_about, inline_text,
                             mails_about,
                             new_principal, put_on_the_bus, rule_paused, states_entered, unique)

from polling import wait_for

from workshop.localcloud import read_mailbox

pytestmark = pytest.mark.e2e


def _execution_for(stack: dict, event_id: str) -> str:
    """The execution EventBridge started for the event `event_id`."""
    sfn = aws("stepfunctions")

    def started():
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=stack["StateMachineArn"]):
            for execution in page["executions"]:
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                if event_id in described.get("input", ""):
                    return execution["executionArn"]
        return None

    return wait_for(started, what=f"the execution for event {event_id}")


def test_a_change_whose_principal_is_renamed_before_it_is_judged_is_an_alert(deployed_stack, local_cloud):
    """PutUserPolicy, then UpdateUser to a new name, the event arriving after the rename (on AWS events
    arrive minutes late): the execution found the old name gone and ended at AlreadyHandled, telling nobody."""
    iam, sfn = aws("iam"), aws("stepfunctions")
    before = new_principal("user")
    after = before + "-renamed"
    with rule_paused(deployed_stack):
        iam.put_user_policy(UserName=before, PolicyName="late", PolicyDocument=BAD)
        iam.update_user(UserName=before, NewUserName=after)
    late = cloudtrail_event("PutUserPolicy", {"userName": before, "policyName": "late", "policyDocument": BAD})
    put_on_the_bus(late)
    execution = _execution_for(deployed_stack, late["detail"]["eventID"])
    assert finished(sfn, execution)["status"] == "SUCCEEDED"
    assert states_entered(sfn, execution)[-2:] == ["CheckOwnOrGone", "ReportGone"]
    alert = wait_for(lambda: (mails_about(local_cloud, f"inline policy late of user {before}", "gone") or [None])[0],
                     what="the alert about the change that is gone")
    assert "PutUserPolicy by" in alert["body"] and "IAM no longer holds it" in alert["body"]
    assert late["detail"]["eventTime"] in alert["body"]


def _groups(user: str) -> list[str]:
    return [g["GroupName"] for g in aws("iam").list_groups_for_user(UserName=user)["Groups"]]


def test_renaming_a_user_does_not_keep_a_risky_permission_out_of_sight(deployed_stack, local_cloud):
    """An inline policy and AdministratorAccess made where nothing saw them (the rule's window, or before
    the stack), then UpdateUser to a new name: the sample-derived kit did not watch renames at all, and the
    renamed user kept both. Now the new name is judged part by part, each part its own incident."""
    iam = aws("iam")
    before = new_principal("user")
    after = before + "-renamed"
    with rule_paused(deployed_stack):
        iam.put_user_policy(UserName=before, PolicyName="extra", PolicyDocument=BAD)
        iam.attach_user_policy(UserName=before, PolicyArn=ADMINISTRATOR_ACCESS)
    iam.update_user(UserName=before, NewUserName=after)
    inline_mail = approval_mail(local_cloud, f"inline policy extra of user {after}")
    attached_mail = approval_mail(local_cloud, f"attached to user {after}")
    assert inline_text("user", after, "extra") is None and attached("user", after) == []
    report = wait_for(lambda: (mails_about(local_cloud, f"user {after} (renamed from {before})", "judged again")
                               or [None])[0], what="the report of the rename")
    assert "2 of its 2 policies and memberships allow a restricted action" in report["body"]
    assert decide_by_link(inline_mail, "deny").status_code == 200
    assert decide_by_link(attached_mail, "allow").status_code == 200
    wait_for(lambda: attached("user", after) == [ADMINISTRATOR_ACCESS], what="the approved attachment back")
    assert inline_text("user", after, "extra") is None


def test_joining_a_group_that_holds_a_restricted_permission_is_an_incident_for_the_new_member(
        deployed_stack, local_cloud):
    """A group whose policy existed before the stack (or was approved earlier) holds s3:DeleteBucket; a user
    joins it: the sample-derived kit did not watch AddUserToGroup, so the user had it unseen. Now the user is
    taken out of the group and a human asked; approving puts the user back, once."""
    iam = aws("iam")
    group, user = new_principal("group"), new_principal("user")
    with rule_paused(deployed_stack):
        iam.put_group_policy(GroupName=group, PolicyName="cleanup", PolicyDocument=BAD)
    iam.add_user_to_group(GroupName=group, UserName=user)
    mail = approval_mail(local_cloud, f"user {user} added to group {group}")
    assert _groups(user) == [] and "AddUserToGroup" in mail["body"]
    [incident] = incidents_about(deployed_stack, f"user {user} added to group {group}")
    assert incident["kind"] == "membership" and "s3:DeleteBucket" in incident["document"]
    assert decide_by_link(mail, "allow").status_code == 200
    assert finished(aws("stepfunctions"), incident["executionArn"])["status"] == "SUCCEEDED"
    assert _groups(user) == [group]
    wait_for(lambda: len(incidents_about(deployed_stack, f"user {user} added to group {group}")) == 1 and
             len(approval_mails(local_cloud, f"user {user} added to group {group}")) == 1, timeout=3,
             what="no second incident for the approved join")


def _tamper_alert(stack: dict, endpoint: str, name: str) -> dict:
    """The alert about the rule or trail `name`; on a timeout the failure shows WatchGuard's executions,
    each with its last events, and the mails the local cloud holds (what was sent instead)."""
    try:
        return wait_for(lambda: (mails_about(endpoint, f'"name":"{name}"', "tampered") or [None])[0],
                        what=f"the alert about {name}")
    except AssertionError as timeout:
        sfn = aws("stepfunctions")
        story = []
        for execution in sfn.list_executions(stateMachineArn=stack["WatchGuardArn"])["executions"][:6]:
            events = sfn.get_execution_history(executionArn=execution["executionArn"], reverseOrder=True,
                                               maxResults=4)["events"]
            story.append(f"{execution['name']} {execution['status']}: " + "; ".join(
                e["type"] + " " + json.dumps({k: v for k, v in e.items() if k.endswith("EventDetails")})[:300]
                for e in events))
        subjects = [m["subject"] for m in read_mailbox(endpoint)][-8:]
        events, iam = aws("events"), aws("iam")
        targets = [(rule, target.get("RoleArn"), events.describe_rule(Name=rule)["State"])
                   for rule in events.list_rule_names_by_target(TargetArn=stack["WatchGuardArn"])["RuleNames"]
                   for target in events.list_targets_by_rule(Rule=rule)["Targets"]]
        roles = {r["Arn"]: iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]
                 for r in iam.list_roles()["Roles"] if "WatchTampered" in r["RoleName"]}
        raise AssertionError(f"{timeout}\nWatchGuard's executions:\n" + "\n".join(story)
                             + f"\nthe last mails' subjects: {subjects}\nits rules' targets (rule, role, state): "
                             f"{targets}\nits event roles and their inline policies: {roles}") from None


def _rule_state(name: str) -> str:
    return aws("events").describe_rule(Name=name)["State"]


def test_disabling_the_orchestrators_rule_is_reported_at_once_and_undone(deployed_stack, local_cloud):
    """events:DisableRule on the stack's own rule, then a change nobody sees: the sample-derived kit stayed
    blind until someone noticed. Now the admin is told at once and the rule is enabled again."""
    events = aws("events")
    [rule] = [name for name in events.list_rule_names_by_target(TargetArn=deployed_stack["StateMachineArn"])["RuleNames"]
              if name.endswith("-iam-changes")]
    events.disable_rule(Name=rule)
    wait_for(lambda: _rule_state(rule) == "ENABLED", what="the watch enabled again")
    alert = _tamper_alert(deployed_stack, local_cloud, rule)
    assert alert["body"].startswith("DisableRule (events.amazonaws.com)")
    arn = aws("iam").create_policy(PolicyName=f"after-{rule[-6:]}", PolicyDocument=BAD)["Policy"]["Arn"]
    approval_mail(local_cloud, arn)  # the watch sees again


def test_stopping_cloudtrail_is_reported_at_once(deployed_stack, local_cloud):
    """Without a logging trail no IAM event reaches EventBridge (on AWS): StopLogging is an alert."""
    cloudtrail, s3 = aws("cloudtrail"), aws("s3")
    bucket = new_principal("user").lower()[:40] + "-trail"
    s3.create_bucket(Bucket=bucket)
    trail = cloudtrail.create_trail(Name=bucket, S3BucketName=bucket, IsMultiRegionTrail=True)["Name"]
    cloudtrail.start_logging(Name=trail)
    cloudtrail.stop_logging(Name=trail)
    alert = _tamper_alert(deployed_stack, local_cloud, trail)
    assert alert["body"].startswith("StopLogging (cloudtrail.amazonaws.com)")


def test_removing_a_roles_permissions_boundary_judges_what_it_holds_again(deployed_stack, local_cloud):
    """A role holds a risky inline policy kept harmless by a permissions boundary (both set where nothing
    judged them); DeleteRolePermissionsBoundary puts the policy in force: the sample-derived kit did not watch
    boundaries. Now the role is judged again and the policy taken out of force until a human decides."""
    iam = aws("iam")
    role = new_principal("role")
    boundary = iam.create_policy(PolicyName=f"{role}-boundary", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    with rule_paused(deployed_stack):
        iam.put_role_policy(RoleName=role, PolicyName="cleanup", PolicyDocument=BAD)
        iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=boundary["Policy"]["Arn"])
    iam.delete_role_permissions_boundary(RoleName=role)
    mail = approval_mail(local_cloud, f"inline policy cleanup of role {role}")
    assert inline_text("role", role, "cleanup") is None
    assert "permissions boundary removed" in wait_for(
        lambda: (mails_about(local_cloud, f"role {role} (permissions boundary removed)", "judged again")
                 or [None])[0], what="the report of the boundary's removal")["body"]
    assert decide_by_link(mail, "deny").status_code == 200


def test_one_scan_run_finds_a_risky_policy_made_before_the_stack(deployed_stack, local_cloud):
    """A policy allowing s3:DeleteBucket made where no rule saw it (before the stack; here, with its rule
    disabled, as AWS delivers nothing to a disabled rule): the sample-derived kit never looked at it. One run
    of the reconciliation schedule finds it, and it becomes an incident like any other."""
    from cfn_template import load_template

    sfn = aws("stepfunctions")
    with rule_paused(deployed_stack):
        arn = aws("iam").create_policy(PolicyName=new_principal("user") + "-before", PolicyDocument=BAD)["Policy"]["Arn"]
    schedule = load_template()["Resources"]["StateMachine"]["Properties"]["Events"]["Reconcile"]["Properties"]
    scan = sfn.start_execution(stateMachineArn=deployed_stack["StateMachineArn"], input=schedule["Input"])
    assert finished(sfn, scan["executionArn"], timeout=120)["status"] == "SUCCEEDED"
    entered = states_entered(sfn, scan["executionArn"])
    assert "JudgeEachPart" in entered and entered[-1] == "ReportPartsJudged"
    mail = approval_mail(local_cloud, arn)
    assert harmless_in_force(arn) and "SetDefaultPolicyVersion" in mail["body"]
    assert decide_by_link(mail, "allow").status_code == 200
    wait_for(lambda: not harmless_in_force(arn), what="the approved policy back")
    again = sfn.start_execution(stateMachineArn=deployed_stack["StateMachineArn"], input=schedule["Input"])
    assert finished(sfn, again["executionArn"], timeout=120)["status"] == "SUCCEEDED"
    report = json.dumps(sfn.describe_execution(executionArn=again["executionArn"]).get("output", ""))
    assert arn not in report  # decided: the next run leaves it alone


# --- trust policies and bucket policies ---------------------------------------------------------

EC2 = "Service:ec2.amazonaws.com"  # who new_principal("role") trusts
STRANGER = "arn:aws:iam::999988887777:root"  # another account


def _trust(*principals: str) -> str:
    by_kind: dict = {}
    for principal in principals:
        kind, _, value = principal.partition(":") if principal.startswith("Service:") else ("AWS", "", principal)
        by_kind.setdefault(kind, []).append(value)
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": by_kind, "Action": "sts:AssumeRole"}]})


def _trusted(role: str) -> list[str]:
    document = aws("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    document = document if isinstance(document, dict) else json.loads(document)
    found = []
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        for kind, values in statement["Principal"].items():
            for value in values if isinstance(values, list) else [values]:
                found.append(f"Service:{value}" if kind == "Service" else value)
    return sorted(found)


def test_opening_a_privileged_roles_trust_policy_is_taken_out_until_a_human_decides(deployed_stack, local_cloud):
    """A role holds s3:DeleteBucket (made where nothing judged it); UpdateAssumeRolePolicy lets another account
    assume it: the sample-derived kit did not watch trust policies, so the other account had the permission
    unseen. Now the new grants are taken out (with no trust policy known to be decided, every grant: fail
    closed, and the e-mail says so); approving puts the policy back, and from then on only what is new is."""
    iam = aws("iam")
    role = new_principal("role")
    label = f"the trust policy of role {role}"
    with rule_paused(deployed_stack):
        iam.put_role_policy(RoleName=role, PolicyName="cleanup", PolicyDocument=BAD)
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=_trust(EC2, STRANGER))
    mail = approval_mail(local_cloud, label)
    assert _trusted(role) == [] and "every principal but the account's administrators" in mail["body"]
    assert decide_by_link(mail, "allow").status_code == 200
    wait_for(lambda: _trusted(role) == sorted([EC2, STRANGER]), what="the approved trust policy back")
    other = f"arn:aws:iam::{deployed_stack['StateMachineArn'].split(':')[4]}:user/{new_principal('user')}"
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=_trust(EC2, STRANGER, other))
    second = wait_for(lambda: (approval_mails(local_cloud, label)[1:] or [None])[0], what="the second trust incident")
    assert _trusted(role) == sorted([EC2, STRANGER]) and f"Taken out of its trust policy: AWS:{other}." in second["body"]
    assert decide_by_link(second, "deny").status_code == 200


def _revert_policy_role(stack: dict) -> str:
    """RevertPolicy's role, as the deployed definition names it (the orchestrator's own roles)."""
    definition = json.loads(aws("stepfunctions").describe_state_machine(
        stateMachineArn=stack["StateMachineArn"])["definition"])
    roles = definition["States"]["ValidatePolicy"]["Parameters"]["orchestratorRoleArns"]
    return next(arn for arn in roles if "RevertPolicyRole" in arn).rsplit("/", 1)[-1]


def test_another_account_let_into_revert_policys_role_is_taken_out_and_lambda_keeps_the_role(
        deployed_stack, local_cloud):
    """An administrator lets another account assume RevertPolicy's role (which may write IAM). The role has no
    sealed trust baseline, so every grant not known is taken out (fail closed), but the trust the template gives
    the orchestrator's own function roles is known: the Lambda service keeps it, so the orchestrator still runs
    its own functions. The e-mail names the grant taken out."""
    from workshop.aws.function_contract import contract

    iam, role = aws("iam"), _revert_policy_role(deployed_stack)
    deployed = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    deployed = json.dumps(deployed) if isinstance(deployed, dict) else deployed
    policies = contract("resource_policies")
    assert policies.grants(deployed) == policies.grants(contract("trust_baseline").FUNCTION_ROLE_TRUST), deployed
    opened = json.loads(deployed)
    opened["Statement"].append({"Effect": "Allow", "Principal": {"AWS": STRANGER}, "Action": "sts:AssumeRole"})
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(opened))
    mail = approval_mail(local_cloud, f"the trust policy of role {role}")
    assert f"Taken out of its trust policy: AWS:{STRANGER}." in mail["body"], mail["body"]
    assert _trusted(role) == ["Service:lambda.amazonaws.com"]
    assert decide_by_link(mail, "deny").status_code == 200


def _bucket_policy(bucket: str, **grants: tuple) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": action,
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}
        for sid, (principal, action) in grants.items()]})


def _sids(bucket: str) -> list[str]:
    s3 = aws("s3")
    try:
        return [s.get("Sid") for s in json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]]
    except s3.exceptions.from_code("NoSuchBucketPolicy"):
        return []


def test_a_bucket_policy_letting_anyone_delete_loses_that_statement_and_keeps_the_rest(deployed_stack, local_cloud):
    """s3:PutBucketPolicy grants s3:DeleteObject to everyone, no IAM policy involved: the sample-derived kit
    watched IAM only. Now that statement is taken out (the public read stays) until a human decides."""
    s3 = aws("s3")
    bucket = unique("bucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=_bucket_policy(
        bucket, PublicRead=("*", "s3:GetObject"), AnyoneDeletes=({"AWS": "*"}, "s3:DeleteObject")))
    mail = approval_mail(local_cloud, f"the bucket policy of {bucket}")
    assert _sids(bucket) == ["PublicRead"] and "s3:DeleteObject" in mail["body"]
    assert decide_by_link(mail, "allow").status_code == 200
    wait_for(lambda: _sids(bucket) == ["PublicRead", "AnyoneDeletes"], what="the approved bucket policy back")


def test_one_scan_run_finds_a_risky_bucket_policy_and_an_opened_trust_policy_made_before_the_stack(
        deployed_stack, local_cloud):
    """A bucket policy letting anyone delete, and a trust policy opened to another account on a role whose
    restricted permission a human approved, both made where no rule saw them: one scan run finds both."""
    from cfn_template import load_template

    iam, s3, sfn = aws("iam"), aws("s3"), aws("stepfunctions")
    role = new_principal("role")
    iam.put_role_policy(RoleName=role, PolicyName="cleanup", PolicyDocument=BAD)  # approved: decided
    assert decide_by_link(approval_mail(local_cloud, f"inline policy cleanup of role {role}"), "allow").status_code == 200
    wait_for(lambda: inline_text("role", role, "cleanup") is not None, what="the approved policy back")
    bucket = unique("bucket")
    with rule_paused(deployed_stack):
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=_trust(EC2, STRANGER))
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_policy(Bucket=bucket, Policy=_bucket_policy(bucket, AnyoneDeletes=("*", "s3:DeleteObject")))
    schedule = load_template()["Resources"]["StateMachine"]["Properties"]["Events"]["Reconcile"]["Properties"]
    scan = sfn.start_execution(stateMachineArn=deployed_stack["StateMachineArn"], input=schedule["Input"])
    assert finished(sfn, scan["executionArn"], timeout=120)["status"] == "SUCCEEDED"
    approval_mail(local_cloud, f"the bucket policy of {bucket}")
    approval_mail(local_cloud, f"the trust policy of role {role}")
    assert _sids(bucket) == [] and _trusted(role) == []
    assert inline_text("role", role, "cleanup") is not None  # the approved permission itself is left alone
