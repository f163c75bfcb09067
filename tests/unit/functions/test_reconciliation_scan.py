"""The reconciliation scan: everything risky the account holds that no human approved is found, once per
state, whatever existed before the stack or slipped past its rule."""

import json

from incident_steps import BAD, GOOD, judge, managed, record, restore_incident, revert_change

ACCOUNT = {"kind": "account", "label": "the reconciliation scan"}


def scan(event_id: str = "reconciliation-scan") -> dict:
    return judge(ACCOUNT, event_name="ReconciliationScan", event_id=event_id)


def changes(verdict: dict) -> list[tuple[str, str]]:
    return sorted((f["eventName"], json.dumps(f["requestParameters"], sort_keys=True)) for f in verdict["findings"])


def test_an_empty_or_quiet_account_is_clean_and_nobody_is_told(stack):
    assert scan()["action"] == "clean"
    stack.iam.create_policy(PolicyName="quiet", PolicyDocument=GOOD)
    stack.iam.create_user(UserName="reader")
    stack.iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=GOOD)
    verdict = scan()
    assert verdict["action"] == "clean" and "2 policies, attachments and memberships judged" in verdict["message"]


def test_what_existed_before_the_stack_is_found_part_by_part_and_administrators_are_left_alone(stack, monkeypatch):
    monkeypatch.setenv("ADMIN_PRINCIPAL_ARNS", "arn:aws:iam::123456789012:user/admin-*")
    arn = stack.iam.create_policy(PolicyName="old-risky", PolicyDocument=BAD)["Policy"]["Arn"]
    stack.iam.create_user(UserName="old-user")
    stack.iam.put_user_policy(UserName="old-user", PolicyName="cleanup", PolicyDocument=BAD)
    stack.iam.create_group(GroupName="old-group")
    stack.iam.attach_group_policy(GroupName="old-group", PolicyArn=arn)
    stack.iam.add_user_to_group(GroupName="old-group", UserName="old-user")
    stack.iam.create_user(UserName="admin-alice")
    stack.iam.put_user_policy(UserName="admin-alice", PolicyName="everything", PolicyDocument=BAD)
    stack.iam.create_role(RoleName="service", Path="/aws-service-role/x/", AssumeRolePolicyDocument="{}")
    stack.iam.put_role_policy(RoleName="service", PolicyName="aws-owned", PolicyDocument=BAD)

    verdict = scan()
    assert verdict["action"] == "reconcile"
    assert changes(verdict) == sorted([
        ("SetDefaultPolicyVersion", json.dumps({"policyArn": arn, "versionId": "v1"}, sort_keys=True)),
        ("PutUserPolicy", json.dumps({"policyName": "cleanup", "userName": "old-user"}, sort_keys=True)),
        ("AttachGroupPolicy", json.dumps({"groupName": "old-group", "policyArn": arn}, sort_keys=True)),
        ("AddUserToGroup", json.dumps({"groupName": "old-group", "userName": "old-user"}, sort_keys=True)),
    ])
    again = scan(event_id="another-run")
    assert [f["id"] for f in again["findings"]] == [f["id"] for f in verdict["findings"]]  # one incident per state
    assert all(f["id"].startswith("reconcile|") for f in verdict["findings"])


def test_a_state_a_human_approved_is_left_alone_and_a_planted_approval_is_not(stack):
    arn = stack.iam.create_policy(PolicyName="approved", PolicyDocument=BAD)["Policy"]["Arn"]
    incident = revert_change(managed(arn, "v1"))["incidentId"]
    record(stack, incident, "allow")
    restore_incident(incident)
    assert scan()["action"] == "clean"  # approved, sealed: decided

    # the approved incident's decision kept, its sealed target edited: the seal no longer verifies
    stack.dynamodb.update_item(TableName=stack.table, Key={"incidentId": {"S": incident}},
                               UpdateExpression="SET eventName = :n", ExpressionAttributeValues={":n": {"S": "x"}})
    assert scan()["action"] == "reconcile"


def test_a_managed_policy_only_administrators_hold_is_theirs_and_one_anybody_else_holds_is_judged(stack, monkeypatch):
    """The administrators' own managed policies (a learner's given policies in the AWS-like run) are left
    alone as their inline ones are; the same policy attached to anyone else too is judged."""
    monkeypatch.setenv("ADMIN_PRINCIPAL_ARNS", "arn:aws:iam::123456789012:user/learner")
    theirs = stack.iam.create_policy(PolicyName="learner-given", PolicyDocument=BAD)["Policy"]["Arn"]
    stack.iam.create_user(UserName="learner")
    stack.iam.attach_user_policy(UserName="learner", PolicyArn=theirs)
    assert scan()["action"] == "clean"

    stack.iam.create_user(UserName="someone")
    stack.iam.attach_user_policy(UserName="someone", PolicyArn=theirs)
    assert changes(scan()) == sorted([
        ("SetDefaultPolicyVersion", json.dumps({"policyArn": theirs, "versionId": "v1"}, sort_keys=True)),
        ("AttachUserPolicy", json.dumps({"policyArn": theirs, "userName": "someone"}, sort_keys=True)),
    ])
