"""ValidatePolicy's handler: the event only points; the document judged is the one IAM holds."""

import json
import re

import pytest
from incident_steps import (BAD, CONTEXT, EXECUTION, GOOD, HUMAN, RESTORE_ROLE, REVERT_ROLE, ROLES, as_role, attachment, inline,
                            judge, managed, record, restore_incident, revert, revert_change, validate)

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action="*", resource="*"):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def deny(action="*", resource="*"):
    return {"Effect": "Deny", "Action": action, "Resource": resource}


def test_the_document_comes_from_iam_not_from_the_event(stack):
    """A forged event can carry any document: there is no document in the input at all."""
    arn = stack.iam.create_policy(PolicyName="good", PolicyDocument=GOOD)["Policy"]["Arn"]
    verdict = judge(managed(arn, "v1"))
    assert verdict["action"] == "alert"
    assert verdict["documentSource"] == f"GetPolicyVersion {arn} v1"
    stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)
    assert judge(managed(arn, "v2"))["action"] == "remedy"


def test_a_risky_version_that_is_not_the_default_is_reported_not_reverted(stack):
    arn = stack.iam.create_policy(PolicyName="staged", PolicyDocument=GOOD)["Policy"]["Arn"]
    stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=False)
    verdict = judge(managed(arn, "v2"), event_name="CreatePolicyVersion")
    assert verdict["action"] == "alert" and verdict["inForce"] is False
    assert "not the default" in verdict["message"] and "SetDefaultPolicyVersion" in verdict["message"]
    stack.iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    assert judge(managed(arn, "v2"), event_name="SetDefaultPolicyVersion")["action"] == "remedy"


def test_what_iam_does_not_show_yet_is_read_again_before_it_counts_as_gone(stack, monkeypatch):
    """IAM is eventually consistent: a version created a moment before the read may not show yet."""
    import threading

    monkeypatch.setenv("IAM_SETTLE_SECONDS", "3")
    arn = stack.iam.create_policy(PolicyName="late", PolicyDocument=GOOD)["Policy"]["Arn"]
    timer = threading.Timer(0.5, lambda: stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD,
                                                                          SetAsDefault=True))
    timer.start()
    try:
        assert judge(managed(arn, "v2"))["action"] == "remedy"  # v2 appears while the judge reads again
    finally:
        timer.join()


def test_a_version_or_policy_already_gone_is_gone(stack):
    arn = stack.iam.create_policy(PolicyName="p", PolicyDocument=BAD)["Policy"]["Arn"]
    assert judge(managed(arn, "v7"))["action"] == "gone"
    assert judge(managed(arn.replace("/p", "/nope"), "v1"))["action"] == "gone"


def test_a_principal_gone_before_the_judge_says_what_was_seen_and_what_is_gone(stack):
    """PutUserPolicy, then the user renamed (or deleted): the sample-derived kit ended silently."""
    stack.iam.create_user(UserName="before")
    stack.iam.put_user_policy(UserName="before", PolicyName="all", PolicyDocument=BAD)
    stack.iam.update_user(UserName="before", NewUserName="after")
    verdict = judge(inline("user", "before", "all"), event_name="PutUserPolicy")
    assert verdict["action"] == "gone"
    message = verdict["message"]
    assert message.startswith("inline policy all of user before: PutUserPolicy by arn:aws:iam::123456789012:user/alice")
    assert "at 2026-11-28T10:15:30Z was seen, but IAM no longer holds it" in message
    assert "before" in message.split("(", 1)[1] and "renamed" in message


def test_a_change_this_state_machine_already_reverted_is_handled_not_reported(stack):
    """A second delivery of an event whose change the first execution reverted: nothing to tell anyone."""
    arn = stack.iam.create_policy(PolicyName="twice", PolicyDocument=BAD)["Policy"]["Arn"]
    first = revert_change(managed(arn, "v1"), event_id="event-judged")
    assert first["alreadyReverted"] is False
    second = EXECUTION.rsplit(":", 1)[0] + ":e2"
    verdict = judge(managed(arn, "v1"), execution=second)
    assert verdict["action"] == "handled" and verdict["handledBy"] == EXECUTION


def test_an_item_planted_at_a_gone_changes_key_silences_nothing(stack):
    stack.iam.create_user(UserName="planted")
    target = inline("user", "planted", "gone")
    key = validate.incident_key(target, None, "event-judged")
    stack.dynamodb.put_item(TableName=stack.table, Item={"incidentId": {"S": validate.incident_id(key)},
                                                         "executionArn": {"S": EXECUTION}})
    assert judge(target, execution=EXECUTION.rsplit(":", 1)[0] + ":e2")["action"] == "gone"


@pytest.mark.parametrize("principal_type", ["user", "role", "group"])
def test_inline_policies_are_read_from_iam(stack, principal_type):
    name = f"someone-{principal_type}"
    create = {"user": lambda: stack.iam.create_user(UserName=name),
              "role": lambda: stack.iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}"),
              "group": lambda: stack.iam.create_group(GroupName=name)}[principal_type]
    create()
    put = {"user": stack.iam.put_user_policy, "role": stack.iam.put_role_policy,
           "group": stack.iam.put_group_policy}[principal_type]
    put(**{f"{principal_type.capitalize()}Name": name}, PolicyName="inline", PolicyDocument=BAD)
    verdict = judge(inline(principal_type, name, "inline"), event_name=f"Put{principal_type.capitalize()}Policy")
    assert verdict["action"] == "remedy" and verdict["matches"]
    assert judge(inline(principal_type, name, "other"))["action"] == "gone"


def test_attaching_an_aws_managed_policy_is_judged_by_its_default_version(stack_with_aws_policies):
    iam = stack_with_aws_policies.iam
    iam.create_role(RoleName="app", AssumeRolePolicyDocument="{}")
    assert judge(attachment("role", "app", ADMIN))["action"] == "gone"  # not attached (yet)
    iam.attach_role_policy(RoleName="app", PolicyArn=ADMIN)
    verdict = judge(attachment("role", "app", ADMIN), event_name="AttachRolePolicy")
    assert verdict["action"] == "remedy" and "AdministratorAccess" in verdict["documentSource"]
    iam.attach_role_policy(RoleName="app", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert judge(attachment("role", "app", "arn:aws:iam::aws:policy/ReadOnlyAccess"))["action"] == "alert"


def test_a_duplicate_key_in_what_iam_holds_is_rejected_not_resolved(stack):
    """The document is read as IAM's text: a parser that kept the last key would hide the grant."""
    text = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:DeleteBucket", '
            '"Action": "s3:GetObject", "Resource": "*"}]}')
    arn = stack.iam.create_policy(PolicyName="dup", PolicyDocument=text)["Policy"]["Arn"]
    with pytest.raises(validate.InvalidPolicyDocument, match="duplicate"):
        judge(managed(arn, "v1"))


def test_the_orchestrators_harmless_version_is_its_own_change(stack):
    arn = stack.iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    result = revert_change(managed(arn, "v1"))
    harmless = managed(arn, result["harmlessVersionId"])
    assert judge(harmless, changed_by=as_role(REVERT_ROLE))["action"] == "ignore"
    # The same harmless version by someone else is judged like any change: harmless, an alert.
    assert judge(harmless, changed_by=HUMAN)["action"] == "alert"


def test_an_approved_restore_is_its_own_change_and_nothing_else_by_its_role_is(stack):
    arn = stack.iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    incident = revert_change(managed(arn, "v1"))["incidentId"]
    record(stack, incident, "allow")
    restored = restore_incident(incident)["restoredVersionId"]
    assert judge(managed(arn, restored), changed_by=as_role(RESTORE_ROLE))["action"] == "ignore"

    # A risky version the restore role did NOT restore (a forged identity, or the role misused): an incident.
    stack.iam.create_policy_version(
        PolicyArn=arn, SetAsDefault=True,
        PolicyDocument=json.dumps({"Version": "2012-10-17",
                                   "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    newest = stack.iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    assert judge(managed(arn, newest), changed_by=as_role(RESTORE_ROLE))["action"] == "remedy"
    assert judge(managed(arn, newest), changed_by=as_role(REVERT_ROLE))["action"] == "remedy"


def test_a_busy_table_during_the_approved_restore_check_is_retried_not_judged(stack):
    """DynamoDB answers 500 (InternalServerError) once botocore's own retries are spent: that is
    the state machine's TransientError to retry, not an error that sends the change to the revert
    path (an approved change reverted again, the human asked again)."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    arn = stack.iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    incident = revert_change(managed(arn, "v1"))["incidentId"]
    record(stack, incident, "allow")
    restored = restore_incident(incident)["restoredVersionId"]
    sent = BaseClient._make_api_call

    def busy_table(client, operation, parameters):
        if client.meta.service_model.service_name == "dynamodb" and operation == "GetItem":
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "Internal server error"},
                               "ResponseMetadata": {"HTTPStatusCode": 500}}, operation)
        return sent(client, operation, parameters)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(BaseClient, "_make_api_call", busy_table)
        with pytest.raises(validate.TransientError, match="InternalServerError"):
            judge(managed(arn, restored), changed_by=as_role(RESTORE_ROLE))
    assert judge(managed(arn, restored), changed_by=as_role(RESTORE_ROLE))["action"] == "ignore"


def test_a_claimed_own_role_in_a_forged_event_ignores_nothing_risky(stack):
    arn = stack.iam.create_policy(PolicyName="victim", PolicyDocument=BAD)["Policy"]["Arn"]
    assert judge(managed(arn, "v1"), changed_by=as_role(REVERT_ROLE))["action"] == "remedy"


def test_the_harmless_document_is_the_same_in_the_judge_and_the_revert():
    assert validate.HARMLESS_DOCUMENT == revert.HARMLESS_DOCUMENT


def test_handler_reads_restricted_actions_from_the_environment(stack, monkeypatch):
    monkeypatch.setenv("RESTRICTED_ACTIONS", " ec2:RunInstances , iam:Create* ")
    arn = stack.iam.create_policy(PolicyName="p1", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*"}]}
    ))["Policy"]["Arn"]
    result = judge(managed(arn, "v1"))
    assert result["action"] == "remedy" and result["matches"][0]["action"] == "iam:Create*"
    assert result["message"].startswith(f"policy {arn} version v1: ")


def test_handler_without_restricted_actions_fails_loudly(stack, monkeypatch):
    monkeypatch.delenv("RESTRICTED_ACTIONS", raising=False)
    with pytest.raises(validate.ConfigurationError, match="RESTRICTED_ACTIONS"):
        judge(managed("arn:aws:iam::123456789012:policy/p", "v1"))


@pytest.mark.parametrize("given", [{}, {"target": None}, {"target": {"kind": "managed"}},
                                   {"target": {"kind": "inline", "principalType": "computer",
                                               "principalName": "x", "policyName": "y"}},
                                   {"target": {"kind": "everything"}}])
def test_a_malformed_input_raises_not_returns(stack, given):
    with pytest.raises(validate.InvalidTarget):
        validate.handler(given, None)


def test_the_handler_takes_the_partition_from_its_own_arn_not_the_event(stack, monkeypatch):
    monkeypatch.setenv("RESTRICTED_ACTIONS", "s3:DeleteBucket")
    arn = stack.iam.create_policy(PolicyName="p1", PolicyDocument=doc(allow("*"), deny("s3:*", "arn:aws:s3:::*")))[
        "Policy"]["Arn"]
    # A forged event cannot move the judgement to another partition: it is not even asked.
    event = {"target": managed(arn.replace("arn:aws:", "arn:aws-cn:"), "v1"), "changedBy": HUMAN,
             "orchestratorRoleArns": ROLES}
    event["target"]["policyArn"] = arn
    assert validate.handler(event, CONTEXT)["action"] == "alert"
    assert validate.handler(event, None)["action"] == "remedy"  # partition unknown: any


def test_the_handler_reports_risk_sets(stack, monkeypatch):
    monkeypatch.setenv("RESTRICTED_ACTIONS", "s3:DeleteBucket,s3:DeleteObject,@privilege-escalation")
    arn = stack.iam.create_policy(PolicyName="p2", PolicyDocument=doc(
        allow("iam:PutRolePolicy", "arn:aws:iam::123456789012:role/*")))["Policy"]["Arn"]
    result = judge(managed(arn, "v1"), event_name="CreatePolicyVersion")
    assert result["action"] == "remedy" and arn in result["policyName"]
    assert re.search(r"iam:PutRolePolicy \[@privilege-escalation\] \(statement 0", result["message"])


def test_a_change_another_execution_reverted_first_is_its_duplicate_at_the_revert_too(stack):
    """Two executions of one change judged at once: the one that reverts second finds the version gone,
    and the sealed incident of the first says why (no alert); anything else gone is reported."""
    arn = stack.iam.create_policy(PolicyName="raced", PolicyDocument=BAD)["Policy"]["Arn"]
    assert revert_change(managed(arn, "v1"))["alreadyReverted"] is False
    second = revert_change(managed(arn, "v1"), execution=EXECUTION.rsplit(":", 1)[0] + ":e2")
    assert second["alreadyReverted"] is True and second["handledBy"] == EXECUTION and "gone" not in second
    stack.iam.create_user(UserName="vanished")
    gone = revert_change(inline("user", "vanished", "never-there"))
    assert gone["alreadyReverted"] is True and "gone" in gone and "was seen, but IAM no longer holds it" in gone["message"]
