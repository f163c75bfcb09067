"""RestorePolicy: only an approval recorded in the incidents table restores, and it restores exactly."""

import json

import pytest
from botocore.exceptions import ClientError
from incident_steps import (BAD, GOOD, RESTORE_ROLE, as_role, attachment, inline, item, judge, managed, record,
                            restore, restore_incident, revert_change)
from stack_incidents import default_document

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
# Spelt as a person writes it: the restore must give IAM back this text, not a re-serialised dict.
HAND_WRITTEN = '{\n  "Version": "2012-10-17",\n  "Statement": [{"Sid": "Mine", "Effect": "Allow",\n' \
               '    "Action": ["s3:DeleteObject"], "Resource": "arn:aws:s3:::logs/*"}]\n}\n'


def restore_client():
    """An IAM client that shows documents as text, as the functions read them."""
    from botocore.handlers import json_decode_policies
    import boto3

    iam = boto3.client("iam")
    iam.meta.events.unregister("after-call.iam", json_decode_policies)
    return iam


def reverted(stack, text=BAD, name="bad"):
    arn = stack.iam.create_policy(PolicyName=name, PolicyDocument=text)["Policy"]["Arn"]
    return arn, revert_change(managed(arn, "v1"))["incidentId"]


def test_nothing_is_restored_without_an_allow_in_the_table(stack):
    arn, incident = reverted(stack)
    before = default_document(arn, stack.iam)
    with pytest.raises(restore.NotApproved, match="no recorded approval"):
        restore_incident(incident)
    record(stack, incident, "deny")
    with pytest.raises(restore.NotApproved, match="deny"):
        restore_incident(incident)
    assert default_document(arn, stack.iam) == before


def test_an_approved_policy_gets_back_exactly_the_text_iam_held(stack):
    arn, incident = reverted(stack, HAND_WRITTEN, "hand")
    record(stack, incident, "allow")
    result = restore_incident(incident)
    version = result["restoredVersionId"]
    assert default_document(arn, stack.iam)[0] == version
    iam = restore_client()  # the text, as IAM holds it
    text = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    assert text == HAND_WRITTEN and item(stack, incident)["document"] == HAND_WRITTEN
    assert item(stack, incident)["status"] == "restored"
    # The harmless placeholder made room and went: only the restored version is left.
    assert [v["VersionId"] for v in stack.iam.list_policy_versions(PolicyArn=arn)["Versions"]] == [version]


def test_running_twice_is_safe(stack):
    arn, incident = reverted(stack)
    record(stack, incident, "allow")
    first = restore_incident(incident)
    second = restore_incident(incident)
    assert second["alreadyRestored"] is True and second["restoredVersionId"] == first["restoredVersionId"]
    assert len(stack.iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 1


def test_the_restore_is_recognised_as_an_approved_own_change(stack):
    arn, incident = reverted(stack)
    record(stack, incident, "allow")
    version = restore_incident(incident)["restoredVersionId"]
    assert judge(managed(arn, version), changed_by=as_role(RESTORE_ROLE))["action"] == "ignore"


def test_a_restore_into_five_versions_keeps_every_version_the_policy_had(stack):
    arn = stack.iam.create_policy(PolicyName="full", PolicyDocument=GOOD)["Policy"]["Arn"]
    for _ in range(3):
        stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=GOOD, SetAsDefault=True)
    stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)  # v5
    incident = revert_change(managed(arn, "v5"))["incidentId"]
    record(stack, incident, "allow")
    result = restore_incident(incident)
    ids = sorted(v["VersionId"] for v in stack.iam.list_policy_versions(PolicyArn=arn)["Versions"])
    assert ids == sorted(["v1", "v2", "v3", "v4", result["restoredVersionId"]])
    assert default_document(arn, stack.iam) == (result["restoredVersionId"], json.loads(BAD))


def test_an_approved_inline_policy_is_put_back_under_its_name(stack):
    stack.iam.create_role(RoleName="app", AssumeRolePolicyDocument="{}")
    stack.iam.put_role_policy(RoleName="app", PolicyName="risky", PolicyDocument=HAND_WRITTEN)
    incident = revert_change(inline("role", "app", "risky"), event_id="ev-put")["incidentId"]
    with pytest.raises(ClientError, match="NoSuchEntity"):
        stack.iam.get_role_policy(RoleName="app", PolicyName="risky")
    record(stack, incident, "allow")
    restore_incident(incident)
    found = stack.iam.get_role_policy(RoleName="app", PolicyName="risky")["PolicyDocument"]
    assert found == json.loads(HAND_WRITTEN)
    assert judge(inline("role", "app", "risky"), changed_by=as_role(RESTORE_ROLE))["action"] == "ignore"


def test_an_approved_attachment_is_attached_again(stack_with_aws_policies):
    iam = stack_with_aws_policies.iam
    iam.create_user(UserName="ops")
    iam.attach_user_policy(UserName="ops", PolicyArn=ADMIN)
    incident = revert_change(attachment("user", "ops", ADMIN), event_id="ev-attach")["incidentId"]
    assert iam.list_attached_user_policies(UserName="ops")["AttachedPolicies"] == []
    record(stack_with_aws_policies, incident, "allow")
    restore_incident(incident)
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName="ops")["AttachedPolicies"]] == [ADMIN]
    assert judge(attachment("user", "ops", ADMIN), changed_by=as_role(RESTORE_ROLE))["action"] == "ignore"


def test_a_denied_inline_policy_stays_deleted(stack):
    stack.iam.create_user(UserName="u")
    stack.iam.put_user_policy(UserName="u", PolicyName="risky", PolicyDocument=BAD)
    incident = revert_change(inline("user", "u", "risky"))["incidentId"]
    record(stack, incident, "deny")
    with pytest.raises(restore.NotApproved):
        restore_incident(incident)
    assert stack.iam.list_user_policies(UserName="u")["PolicyNames"] == []


@pytest.mark.parametrize("given", [{}, {"incidentId": ""}, {"incidentId": 7},
                                   {"policyMeta": {"arn": "arn:aws:iam::123456789012:policy/victim"},
                                    "policy": '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'}])
def test_anything_but_an_incident_id_is_refused(stack, given):
    """The sample's RestorePolicy restored whatever `policy` said: the forged-execution attack."""
    with pytest.raises(restore.InvalidEvent):
        restore.handler(given, None)


def test_an_unknown_incident_restores_nothing(stack):
    with pytest.raises(restore.InvalidEvent, match="no incident"):
        restore_incident("0" * 32)
