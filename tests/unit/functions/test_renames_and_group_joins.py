"""A rename and a group join put permissions in force under a name nothing judged: both are judged
from what IAM holds, the join reverted (the user taken out of the group) and restored on approval."""

import json

import pytest
from incident_steps import (BAD, GOOD, RESTORE_ROLE, as_role, item, judge, membership, principal, record,
                            restore_incident, revert_change, validate)


def _group(stack, name: str, inline: str | None = None, attached: str | None = None) -> str:
    stack.iam.create_group(GroupName=name)
    if inline:
        stack.iam.put_group_policy(GroupName=name, PolicyName="inline", PolicyDocument=inline)
    if attached:
        arn = stack.iam.create_policy(PolicyName=f"{name}-attached", PolicyDocument=attached)["Policy"]["Arn"]
        stack.iam.attach_group_policy(GroupName=name, PolicyArn=arn)
    return name


def _member(stack, user: str, group: str) -> None:
    stack.iam.create_user(UserName=user)
    stack.iam.add_user_to_group(GroupName=group, UserName=user)


def _groups(stack, user: str) -> list[str]:
    return [g["GroupName"] for g in stack.iam.list_groups_for_user(UserName=user)["Groups"]]


@pytest.mark.parametrize("inline, attached", [(BAD, None), (None, BAD), (GOOD, BAD)])
def test_joining_a_group_is_judged_by_everything_the_group_holds(stack, inline, attached):
    group = _group(stack, "ops", inline, attached)
    _member(stack, "newcomer", group)
    verdict = judge(membership("newcomer", group), event_name="AddUserToGroup")
    assert verdict["action"] == "remedy" and "the policies of group ops" in verdict["documentSource"]
    assert any(m["action"] == "s3:DeleteBucket" for m in verdict["matches"])


def test_a_quiet_group_is_only_reported(stack):
    _member(stack, "reader", _group(stack, "readers", GOOD, GOOD))
    assert judge(membership("reader", "readers"), event_name="AddUserToGroup")["action"] == "alert"


def test_an_unreadable_group_policy_is_not_judged_quiet(stack, monkeypatch):
    _member(stack, "someone", _group(stack, "odd", GOOD))
    # the _shared copy the function loaded: a part of the group that is not JSON
    monkeypatch.setitem(validate.read_held.__globals__, "group_document", lambda iam, group: ("not json", ["x"]))
    with pytest.raises(validate.InvalidPolicyDocument):  # the state machine catches it: TempRemove
        judge(membership("someone", "odd"), event_name="AddUserToGroup")


def test_a_join_is_reverted_recorded_and_restored_on_approval_and_the_restore_is_not_asked_again(stack):
    _member(stack, "joiner", _group(stack, "admins", BAD))
    target = membership("joiner", "admins")
    reverted = revert_change(target, verdict=judge(target, event_name="AddUserToGroup"))
    assert _groups(stack, "joiner") == [] and reverted["removedFromGroup"] == "admins"
    recorded = item(stack, reverted["incidentId"])
    assert recorded["kind"] == "membership" and "s3:DeleteBucket" in recorded["document"]

    record(stack, reverted["incidentId"], "allow")
    restored = restore_incident(reverted["incidentId"])
    assert restored["addedToGroup"] == "admins" and _groups(stack, "joiner") == ["admins"]
    assert restore_incident(reverted["incidentId"])["alreadyRestored"] is True  # safe to run twice
    # the restore's own AddUserToGroup: recognised once, by its approval marker
    assert judge(target, changed_by=as_role(RESTORE_ROLE), event_name="AddUserToGroup",
                 event_id="restore-event")["action"] == "ignore"
    assert judge(target, changed_by=as_role(RESTORE_ROLE), event_name="AddUserToGroup",
                 event_id="a-later-event")["action"] == "remedy"


def test_a_join_already_undone_is_gone(stack):
    _member(stack, "left", _group(stack, "g", BAD))
    stack.iam.remove_user_from_group(GroupName="g", UserName="left")
    assert judge(membership("left", "g"), event_name="AddUserToGroup")["action"] == "gone"


def test_a_renamed_user_is_judged_again_part_by_part(stack):
    _group(stack, "quiet", GOOD)
    _group(stack, "loud", BAD)
    stack.iam.create_user(UserName="before")
    stack.iam.put_user_policy(UserName="before", PolicyName="risky", PolicyDocument=BAD)
    stack.iam.put_user_policy(UserName="before", PolicyName="fine", PolicyDocument=GOOD)
    arn = stack.iam.create_policy(PolicyName="attached-bad", PolicyDocument=BAD)["Policy"]["Arn"]
    stack.iam.attach_user_policy(UserName="before", PolicyArn=arn)
    for group in ("quiet", "loud"):
        stack.iam.add_user_to_group(GroupName=group, UserName="before")
    stack.iam.update_user(UserName="before", NewUserName="after")

    verdict = judge(principal("user", "after", "before"), event_name="UpdateUser")
    assert verdict["action"] == "reconcile"
    assert sorted((f["eventName"], json.dumps(f["requestParameters"], sort_keys=True)) for f in verdict["findings"]) == [
        ("AddUserToGroup", json.dumps({"groupName": "loud", "userName": "after"}, sort_keys=True)),
        ("AttachUserPolicy", json.dumps({"policyArn": arn, "userName": "after"}, sort_keys=True)),
        ("PutUserPolicy", json.dumps({"policyName": "risky", "userName": "after"}, sort_keys=True)),
    ]
    assert "3 of its 5 policies and memberships" in verdict["message"]


def test_a_renamed_role_or_group_with_nothing_risky_is_only_reported(stack):
    stack.iam.create_group(GroupName="renamed")
    stack.iam.put_group_policy(GroupName="renamed", PolicyName="fine", PolicyDocument=GOOD)
    verdict = judge(principal("group", "renamed"), event_name="UpdateGroup")
    assert verdict["action"] == "alert" and verdict["findings"] == []


def test_a_renamed_principal_renamed_again_is_gone(stack):
    verdict = judge(principal("user", "nobody"), event_name="UpdateUser")
    assert verdict["action"] == "gone" and "no user nobody" in verdict["message"]


def test_revert_policy_takes_one_change_not_a_principal(stack):
    stack.iam.create_user(UserName="whole")
    with pytest.raises(Exception, match="not a whole principal"):
        revert_change(principal("user", "whole"))
