"""An incident is evidence: sealed by RevertPolicy, bound to its execution, restored only as sealed.

The attacker here can write the incidents table (and, for the direct invoke,
call RestorePolicy), but cannot make the seal key's MACs: forged items,
edited targets, planted keys, copied seals and spent approval markers must
all decide nothing.
"""

import json

import pytest
from incident_steps import (ACCOUNT, BAD, EXECUTION, GOOD, RESTORE_ROLE, as_role, attachment, ask_user, inline,
                            item, judge, managed, record, restore, restore_incident, revert, revert_change)
from lambda_loader import load_function

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
OTHER_MACHINE_EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:attackers-machine:e1"
shared_seal = load_function("revert_policy").seal  # the packaged contract, as the functions import it


def raw_item(stack, incident_id):
    return stack.dynamodb.get_item(TableName=stack.table, Key={"incidentId": {"S": incident_id}},
                                   ConsistentRead=True)["Item"]


def put(stack, fields):
    stack.dynamodb.put_item(TableName=stack.table, Item=fields)


def attached(stack, user):
    return [p["PolicyArn"] for p in stack.iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]


# --- the seal ----------------------------------------------------------------------------------


def test_the_seal_covers_every_sealed_field_and_nothing_added_later(stack):
    arn = stack.iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    incident = revert_change(managed(arn, "v1"))["incidentId"]
    sealed = raw_item(stack, incident)
    assert shared_seal.check(stack.kms, stack.seal_key, sealed) == shared_seal.SEALED
    for name in shared_seal.SEALED_FIELDS:
        changed = dict(sealed)
        changed[name] = {"S": "changed"} if sealed.get(name, {}).get("S") != "changed" else {"S": "other"}
        assert shared_seal.check(stack.kms, stack.seal_key, changed) == shared_seal.ALTERED, name
        removed = {k: v for k, v in sealed.items() if k != name}
        if name in sealed:
            assert shared_seal.check(stack.kms, stack.seal_key, removed) == shared_seal.ALTERED, name
    later = {**sealed, "status": {"S": "awaiting"}, "taskToken": {"S": "t"}, "decision": {"S": "allow"},
             "decidedBy": {"S": "someone"}, "restore": {"S": "{}"}}
    assert shared_seal.check(stack.kms, stack.seal_key, later) == shared_seal.SEALED
    unsealed = {k: v for k, v in sealed.items() if k != "seal"}
    assert shared_seal.check(stack.kms, stack.seal_key, unsealed) == shared_seal.UNSEALED
    assert shared_seal.check(stack.kms, stack.seal_key, {**sealed, "seal": {"S": "not base64!"}}) == \
        shared_seal.ALTERED
    other_key = stack.kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    assert shared_seal.check(stack.kms, other_key, sealed) == shared_seal.ALTERED


def test_the_sealed_message_stays_within_what_kms_macs_whatever_the_document():
    huge = {"incidentId": {"S": "0" * 32}, "document": {"S": "x" * 20_000}, "target": {"S": "y" * 5_000},
            "changedBy": {"S": "z" * 9_000}, "eventTime": {"S": "t" * 50_000}}
    assert len(shared_seal.message(huge)) < 4096
    assert shared_seal.message(huge) == shared_seal.message(dict(reversed(list(huge.items()))))


@pytest.mark.parametrize("arn, machine", [
    (EXECUTION, f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:orchestrator"),
    ("arn:aws-cn:states:cn-north-1:1:execution:m:n", "arn:aws-cn:states:cn-north-1:1:stateMachine:m"),
    ("arn:aws:states:us-east-1:1:stateMachine:m", None), ("arn:aws:states:us-east-1:1:execution:m:", None),
    ("", None), (None, None), ("arn:aws:lambda:us-east-1:1:execution:m:n", None)])
def test_an_executions_state_machine_is_read_from_its_arn(arn, machine):
    assert shared_seal.state_machine_of(arn) == machine


# --- a forged item, a direct invoke --------------------------------------------------------------


def test_a_forged_approved_item_invoked_directly_changes_no_iam(stack_with_aws_policies):
    """The attack that worked: PutItem an incident that attaches AdministratorAccess, decision allow,
    then invoke RestorePolicy with its id (and the execution it names)."""
    stack = stack_with_aws_policies
    stack.iam.create_user(UserName="victim")
    target = attachment("user", "victim", ADMIN)
    forged_execution = EXECUTION + "-forged"
    put(stack, {"incidentId": {"S": "f" * 32}, "kind": {"S": "attachment"}, "target": {"S": json.dumps(target)},
                "document": {"S": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})},
                "executionArn": {"S": forged_execution}, "status": {"S": "decided"}, "decision": {"S": "allow"},
                "seal": {"S": "AAAA"}})
    with pytest.raises(restore.TamperedIncident, match="do not match its seal"):
        restore_incident("f" * 32, execution=forged_execution)
    assert attached(stack, "victim") == []


def test_a_sealed_incident_restores_only_in_its_own_execution(stack):
    arn = stack.iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    incident = revert_change(managed(arn, "v1"))["incidentId"]
    record(stack, incident, "allow")
    with pytest.raises(restore.NotThisExecution, match="is sealed to execution"):
        restore_incident(incident, execution=EXECUTION + "-other")
    assert "restoredVersionId" in restore_incident(incident)


# --- a pending target changed before the human clicks ------------------------------------------------


def test_a_pending_targets_change_restores_nothing_to_anyone(stack_with_aws_policies):
    """AdministratorAccess attached to alice is reverted; while it waits, a table writer changes the
    target to mallory; the human approves (alice's change). Neither gets it: the restore refuses."""
    stack = stack_with_aws_policies
    for user in ("alice", "mallory"):
        stack.iam.create_user(UserName=user)
    stack.iam.attach_user_policy(UserName="alice", PolicyArn=ADMIN)
    incident = revert_change(attachment("user", "alice", ADMIN))["incidentId"]
    assert attached(stack, "alice") == []
    stack.dynamodb.update_item(TableName=stack.table, Key={"incidentId": {"S": incident}},
                               UpdateExpression="SET target = :t",
                               ExpressionAttributeValues={":t": {"S": json.dumps(attachment("user", "mallory",
                                                                                            ADMIN))}})
    record(stack, incident, "allow")
    with pytest.raises(restore.TamperedIncident, match="changed after RevertPolicy sealed them"):
        restore_incident(incident)
    assert attached(stack, "alice") == [] and attached(stack, "mallory") == []


# --- planted keys ----------------------------------------------------------------------------------


def _planted(stack, arn, version, **fields):
    """An item planted at the key RevertPolicy will use for `version` of the policy (its id is public)."""
    policy_id = stack.iam.get_policy(PolicyArn=arn)["Policy"]["PolicyId"]
    key = f"managed|{policy_id}|{version}"
    planted_id = revert.incident_id(key)
    put(stack, {"incidentId": {"S": planted_id}, "incidentKey": {"S": key}, "status": {"S": "reverted"},
                "executionArn": {"S": EXECUTION + "-planted"}, **fields})
    return planted_id


def test_a_planted_key_decides_nothing_the_change_is_reverted_asked_and_reported(stack):
    arn = stack.iam.create_policy(PolicyName="quiet", PolicyDocument=GOOD)["Policy"]["Arn"]
    planted = [_planted(stack, arn, f"v{n}") for n in range(2, 6)]
    stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)  # v2
    result = revert_change(managed(arn, "v2"))
    assert result["alreadyReverted"] is False and result["incidentId"] not in planted
    assert result["planted"] == {"incidentId": planted[0], "why": shared_seal.WHY[shared_seal.UNSEALED],
                                 "executionArn": EXECUTION + "-planted"}
    assert "v2" not in [v["VersionId"] for v in stack.iam.list_policy_versions(PolicyArn=arn)["Versions"]]
    recorded = item(stack, result["incidentId"])
    assert recorded["incidentKey"].startswith(f"managed|") and "|displaced|" in recorded["incidentKey"]
    assert json.loads(recorded["planted"])["incidentId"] == planted[0]
    assert shared_seal.check(stack.kms, stack.seal_key, raw_item(stack, result["incidentId"])) == shared_seal.SEALED
    assert item(stack, planted[0])["status"] == "reverted"  # left as evidence of the attempt


def test_the_fresh_key_is_found_again_by_a_retry_and_a_second_delivery_is_not_asked_twice(stack):
    arn = stack.iam.create_policy(PolicyName="quiet", PolicyDocument=GOOD)["Policy"]["Arn"]
    _planted(stack, arn, "v2")
    stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)
    first = revert_change(managed(arn, "v2"))
    assert revert_change(managed(arn, "v2"))["incidentId"] == first["incidentId"]  # a retry: its own
    again = revert_change(managed(arn, "v2"), event_id="ev-2", execution=EXECUTION + "-second")
    assert again["alreadyReverted"] is True  # the version is gone: nothing in force, nobody asked again


@pytest.mark.parametrize("kind", ["copied seal", "other state machine", "garbage seal"])
def test_a_sealed_looking_item_is_a_duplicate_only_if_it_is_this_state_machines(stack, kind):
    donor_arn = stack.iam.create_policy(PolicyName="donor", PolicyDocument=BAD)["Policy"]["Arn"]
    donor = raw_item(stack, revert_change(managed(donor_arn, "v1"), execution=EXECUTION)["incidentId"])
    arn = stack.iam.create_policy(PolicyName="quiet", PolicyDocument=GOOD)["Policy"]["Arn"]
    policy_id = stack.iam.get_policy(PolicyArn=arn)["Policy"]["PolicyId"]
    key = f"managed|{policy_id}|v2"
    if kind == "copied seal":  # a genuine item of this state machine, copied under the key to come
        planted = {**donor, "incidentId": {"S": revert.incident_id(key)}}
    elif kind == "other state machine":  # really sealed, but for an execution of another machine
        planted = {"incidentId": {"S": revert.incident_id(key)}, "incidentKey": {"S": key},
                   "executionArn": {"S": OTHER_MACHINE_EXECUTION}}
        planted["seal"] = shared_seal.seal(stack.kms, stack.seal_key, planted)
    else:
        planted = {**donor, "incidentId": {"S": revert.incident_id(key)}, "seal": {"S": "c2VhbGVk"}}
    put(stack, planted)
    stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)
    result = revert_change(managed(arn, "v2"), event_id="ev-real", execution=EXECUTION + "-real")
    assert result["alreadyReverted"] is False and result["planted"]["incidentId"] == revert.incident_id(key)


def test_the_mail_reports_the_planted_item(stack):
    arn = stack.iam.create_policy(PolicyName="quiet", PolicyDocument=GOOD)["Policy"]["Arn"]
    planted = _planted(stack, arn, "v2")
    stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)
    incident = item(stack, revert_change(managed(arn, "v2"))["incidentId"])
    raw = raw_item(stack, incident["incidentId"])
    subject, body = ask_user.compose_email(raw, {"allow": "A", "deny": "D"},
                                           ask_user.deadline("2026-11-28T10:15:30Z", 60), EXECUTION)
    assert body.startswith("WARNING: the incidents table held a planted item") and planted in body


# --- approval markers: single use, one incident ---------------------------------------------------------


def test_an_approval_marker_lets_one_change_through_once(stack):
    arn = stack.iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    incident = revert_change(managed(arn, "v1"))["incidentId"]
    record(stack, incident, "allow")
    version = restore_incident(incident)["restoredVersionId"]
    own = as_role(RESTORE_ROLE)
    assert judge(managed(arn, version), changed_by=own, event_id="restore-event")["action"] == "ignore"
    assert judge(managed(arn, version), changed_by=own, event_id="restore-event")["action"] == "ignore"  # its retry
    # The same state put in force again with the restore role (misused, or a forged event): judged.
    assert judge(managed(arn, version), changed_by=own, event_id="later-event")["action"] == "remedy"


def test_a_planted_marker_or_one_of_an_unapproved_incident_lets_nothing_through(stack):
    stack.iam.create_user(UserName="bob")
    stack.iam.put_user_policy(UserName="bob", PolicyName="extra", PolicyDocument=BAD)
    target = inline("user", "bob", "extra")
    incident = revert_change(target)["incidentId"]  # reverted, not decided
    stack.iam.put_user_policy(UserName="bob", PolicyName="extra", PolicyDocument=BAD)
    marker = restore.approval_marker_id(restore.state_key(target, None, BAD))
    put(stack, {"incidentId": {"S": marker}, "kind": {"S": "approval"}, "approvedIncident": {"S": incident}})
    own = as_role(RESTORE_ROLE)
    assert judge(target, changed_by=own)["action"] == "remedy"  # its incident holds no approval
    put(stack, {"incidentId": {"S": marker}, "kind": {"S": "approval"}, "approvedIncident": {"S": "0" * 32}})
    assert judge(target, changed_by=own)["action"] == "remedy"  # names no incident at all


def test_a_later_approval_of_the_same_state_arms_the_marker_again(stack):
    stack.iam.create_user(UserName="carol")
    target = inline("user", "carol", "extra")
    for round_ in range(2):
        stack.iam.put_user_policy(UserName="carol", PolicyName="extra", PolicyDocument=BAD)
        incident = revert_change(target, event_id=f"ev-{round_}", execution=f"{EXECUTION}-{round_}")["incidentId"]
        record(stack, incident, "allow")
        restore_incident(incident, execution=f"{EXECUTION}-{round_}")
        assert judge(target, changed_by=as_role(RESTORE_ROLE), event_id=f"restored-{round_}")["action"] == "ignore"
        stack.iam.delete_user_policy(UserName="carol", PolicyName="extra")
