"""A trust policy that lets someone new into a role holding a restricted permission, and a bucket policy that
lets anyone outside the administrators do a restricted action, are incidents: the new grants or the risky
statements are taken out of force (the rest stays), the whole document is restored on approval, and the scan
finds both wherever they came from."""

import json

import pytest
from incident_steps import (ACCOUNT, BAD, GOOD, RESTORE_ROLE, REVERT_ROLE, as_role, item, judge, record,
                            restore_incident, revert_change, validate)

ADMIN = f"arn:aws:iam::{ACCOUNT}:user/admin-alice"
APP = f"arn:aws:iam::{ACCOUNT}:user/app"
STRANGER = "arn:aws:iam::999988887777:root"
SCAN = {"kind": "account", "label": "the reconciliation scan"}


def trust_of(*principals: str, condition: dict | None = None) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [dict(statement, Condition=condition) if condition
                                                                else statement]})


def trust(role: str) -> dict:
    return {"kind": "trust", "principalType": "role", "principalName": role, "label": f"the trust policy of role {role}"}


def bucket(name: str) -> dict:
    return {"kind": "bucket", "bucketName": name, "label": f"the bucket policy of {name}"}


def principals_in_force(stack, role: str) -> list[str]:
    document = stack.iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    document = document if isinstance(document, dict) else json.loads(document)
    return sorted(p for s in document["Statement"] if s["Effect"] == "Allow" for p in _aws(s["Principal"]))


def _aws(principal) -> list[str]:
    found = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
    return found if isinstance(found, list) else [found]


@pytest.fixture
def admins(monkeypatch):
    monkeypatch.setenv("ADMIN_PRINCIPAL_ARNS", f"arn:aws:iam::{ACCOUNT}:user/admin-*")


def _role(stack, name: str, trust_document: str, risky: bool = True) -> None:
    stack.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_document)
    stack.iam.put_role_policy(RoleName=name, PolicyName="work", PolicyDocument=BAD if risky else GOOD)


# --- trust policies --------------------------------------------------------------------------


def test_opening_a_role_that_holds_no_restricted_permission_is_no_incident(stack, admins):
    _role(stack, "reader", trust_of(APP), risky=False)
    stack.iam.update_assume_role_policy(RoleName="reader", PolicyDocument=trust_of(APP, STRANGER))
    verdict = judge(trust("reader"), event_name="UpdateAssumeRolePolicy")
    assert verdict["action"] == "alert" and "holds no restricted permission" in verdict["message"]


def test_without_a_baseline_only_the_administrators_stay_and_approval_restores_the_whole_policy(stack, admins):
    """Fail closed: the kit cannot tell which principal is new, so every one but the administrators' is taken out
    until a human decides; the e-mail says so. Approving puts the policy back as it was changed, and that
    policy is known from then on: a later change is judged against it."""
    _role(stack, "deployer", trust_of(ADMIN, APP))
    stack.iam.update_assume_role_policy(RoleName="deployer", PolicyDocument=trust_of(ADMIN, APP, STRANGER))
    verdict = judge(trust("deployer"), event_name="UpdateAssumeRolePolicy")
    assert verdict["action"] == "remedy" and verdict["newPrincipals"] == [f"AWS:{APP}", f"AWS:{STRANGER}"]
    assert "no trust baseline is recorded" in verdict["message"]
    reverted = revert_change(trust("deployer"), verdict=verdict)
    assert principals_in_force(stack, "deployer") == [ADMIN]
    assert reverted["baselineKnown"] is False and reverted["takenOutPrincipals"] == [f"AWS:{APP}", f"AWS:{STRANGER}"]
    assert "AWS:" + STRANGER not in reverted["trustPolicyInForce"]
    incident = item(stack, reverted["incidentId"])
    assert incident["kind"] == "trust" and STRANGER in incident["document"]
    # RevertPolicy's own UpdateAssumeRolePolicy lets nobody new in: not an incident
    assert judge(trust("deployer"), changed_by=as_role(REVERT_ROLE), event_name="UpdateAssumeRolePolicy",
                 event_id="revert-event")["action"] == "ignore"

    record(stack, reverted["incidentId"], "allow")
    assert restore_incident(reverted["incidentId"])["restoredTrustOf"] == "deployer"
    assert principals_in_force(stack, "deployer") == sorted([ADMIN, APP, STRANGER])
    assert judge(trust("deployer"), changed_by=as_role(RESTORE_ROLE), event_name="UpdateAssumeRolePolicy",
                 event_id="restore-event")["action"] == "ignore"
    # one more principal: only that one is new now
    other = f"arn:aws:iam::{ACCOUNT}:user/other"
    stack.iam.create_user(UserName="other")
    stack.iam.update_assume_role_policy(RoleName="deployer", PolicyDocument=trust_of(ADMIN, APP, STRANGER, other))
    verdict = judge(trust("deployer"), event_name="UpdateAssumeRolePolicy", event_id="later")
    assert verdict["action"] == "remedy" and verdict["newPrincipals"] == [f"AWS:{other}"]
    assert "a human approved in incident" in verdict["message"]
    revert_change(trust("deployer"), event_id="later", verdict=verdict)
    assert principals_in_force(stack, "deployer") == sorted([ADMIN, APP, STRANGER])


def test_denied_the_trust_policy_stays_as_the_revert_left_it_and_is_the_baseline(stack, admins):
    _role(stack, "ops", trust_of(ADMIN))
    stack.iam.update_assume_role_policy(RoleName="ops", PolicyDocument=trust_of(ADMIN, STRANGER))
    reverted = revert_change(trust("ops"), verdict=judge(trust("ops"), event_name="UpdateAssumeRolePolicy"))
    record(stack, reverted["incidentId"], "deny")
    assert principals_in_force(stack, "ops") == [ADMIN]
    stack.iam.update_assume_role_policy(RoleName="ops", PolicyDocument=trust_of(ADMIN, STRANGER))
    again = judge(trust("ops"), event_name="UpdateAssumeRolePolicy", event_id="again")
    assert again["action"] == "remedy" and again["newPrincipals"] == [f"AWS:{STRANGER}"]
    assert "the trust baseline recorded at" in again["message"]


def test_a_planted_baseline_naming_the_attacker_counts_for_nothing(stack, admins):
    """Whoever can write the table plants a baseline that already lets the stranger in: it carries no seal."""
    _role(stack, "target", trust_of(ADMIN))
    role_id = stack.iam.get_role(RoleName="target")["Role"]["RoleId"]
    trust_baseline_id = validate.trust_baseline.trust_baseline_id  # the key anybody can compute
    stack.dynamodb.put_item(TableName=stack.table, Item={
        "incidentId": {"S": trust_baseline_id(role_id)}, "kind": {"S": "trust-baseline"},
        "policyId": {"S": role_id}, "document": {"S": trust_of(ADMIN, STRANGER)}})
    stack.iam.update_assume_role_policy(RoleName="target", PolicyDocument=trust_of(ADMIN, STRANGER))
    verdict = judge(trust("target"), event_name="UpdateAssumeRolePolicy")
    assert verdict["action"] == "remedy" and verdict["newPrincipals"] == [f"AWS:{STRANGER}"]
    assert "does not verify" in verdict["message"]


def test_a_condition_dropped_from_a_known_principal_is_a_new_grant(stack, admins):
    only_from_the_office = {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
    _role(stack, "guarded", trust_of(ADMIN))
    stack.iam.update_assume_role_policy(RoleName="guarded", PolicyDocument=trust_of(APP, condition=only_from_the_office))
    first = revert_change(trust("guarded"), verdict=judge(trust("guarded"), event_name="UpdateAssumeRolePolicy"))
    record(stack, first["incidentId"], "allow")
    restore_incident(first["incidentId"])
    stack.iam.update_assume_role_policy(RoleName="guarded", PolicyDocument=trust_of(APP))
    verdict = judge(trust("guarded"), event_name="UpdateAssumeRolePolicy", event_id="widened")
    assert verdict["action"] == "remedy" and verdict["newPrincipals"] == [f"AWS:{APP}"]


# --- bucket policies -------------------------------------------------------------------------


def _bucket_policy(name: str, *statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _statement(sid: str, principal, action: str, name: str) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": action,
            "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]}


def _policy_sids(stack, name: str) -> list[str] | None:
    try:
        text = stack.s3.get_bucket_policy(Bucket=name)["Policy"]
    except stack.s3.exceptions.from_code("NoSuchBucketPolicy"):
        return None
    return [s.get("Sid") for s in json.loads(text)["Statement"]]


@pytest.fixture
def s3(stack):
    import boto3

    stack.s3 = boto3.client("s3", region_name="us-east-1")
    return stack


def test_a_bucket_policy_granting_a_restricted_action_to_anyone_loses_that_statement_only(s3, admins):
    s3.s3.create_bucket(Bucket="reports")
    s3.s3.put_bucket_policy(Bucket="reports", Policy=_bucket_policy(
        "reports", _statement("PublicRead", "*", "s3:GetObject", "reports"),
        _statement("AnyoneDeletes", {"AWS": "*"}, "s3:DeleteObject", "reports"),
        _statement("AdminsDelete", {"AWS": ADMIN}, "s3:DeleteObject", "reports")))
    verdict = judge(bucket("reports"), event_name="PutBucketPolicy")
    assert verdict["action"] == "remedy" and len(verdict["riskyStatements"]) == 1
    assert [m["action"] for m in verdict["matches"]] == ["s3:DeleteObject"]
    reverted = revert_change(bucket("reports"), verdict=verdict)
    assert _policy_sids(s3, "reports") == ["PublicRead", "AdminsDelete"] and reverted["removedStatements"] == 1
    assert judge(bucket("reports"), changed_by=as_role(REVERT_ROLE), event_name="PutBucketPolicy",
                 event_id="revert-event")["action"] == "ignore"
    record(s3, reverted["incidentId"], "allow")
    restore_incident(reverted["incidentId"])
    assert _policy_sids(s3, "reports") == ["PublicRead", "AnyoneDeletes", "AdminsDelete"]
    assert judge(bucket("reports"), changed_by=as_role(RESTORE_ROLE), event_name="PutBucketPolicy",
                 event_id="restore-event")["action"] == "ignore"


@pytest.mark.parametrize("principal", [{"AWS": ADMIN}, {"AWS": ACCOUNT}, {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}])
def test_a_grant_to_the_administrators_or_to_the_account_itself_is_only_reported(s3, admins, principal):
    s3.s3.create_bucket(Bucket="kept")
    s3.s3.put_bucket_policy(Bucket="kept", Policy=_bucket_policy(
        "kept", _statement("Inside", principal, "s3:DeleteObject", "kept")))
    assert judge(bucket("kept"), event_name="PutBucketPolicy")["action"] == "alert"


def test_a_bucket_policy_with_nothing_but_the_risky_grant_is_deleted_and_a_changed_one_fails_closed(s3, admins):
    s3.s3.create_bucket(Bucket="only")
    s3.s3.put_bucket_policy(Bucket="only", Policy=_bucket_policy(
        "only", _statement("CrossAccount", {"AWS": STRANGER}, "s3:DeleteBucket", "only")))
    revert_change(bucket("only"), verdict=judge(bucket("only"), event_name="PutBucketPolicy"))
    assert _policy_sids(s3, "only") is None
    # judged one document, another is in force by the revert: every statement for outsiders goes
    s3.s3.put_bucket_policy(Bucket="only", Policy=_bucket_policy(
        "only", _statement("Reads", {"AWS": STRANGER}, "s3:GetObject", "only"),
        _statement("Mine", {"AWS": ADMIN}, "s3:GetObject", "only")))
    revert_change(bucket("only"), event_id="event-2",
                  verdict={"action": "remedy", "riskyStatements": ["0" * 64], "documentDigest": "not this one"})
    assert _policy_sids(s3, "only") == ["Mine"]


# --- the scan --------------------------------------------------------------------------------


def test_the_scan_finds_a_risky_bucket_policy_and_an_opened_trust_policy_made_before_the_stack(s3, admins):
    s3.s3.create_bucket(Bucket="old-bucket")
    s3.s3.put_bucket_policy(Bucket="old-bucket", Policy=_bucket_policy(
        "old-bucket", _statement("Everyone", "*", "s3:DeleteObject", "old-bucket")))
    s3.s3.create_bucket(Bucket="no-policy")
    _role(s3, "old-role", trust_of(ADMIN, STRANGER))
    _role(s3, "quiet-role", trust_of(STRANGER), risky=False)
    verdict = judge(SCAN, event_name="ReconciliationScan", event_id="reconciliation-scan")
    found = sorted((f["eventName"], json.dumps(f["requestParameters"], sort_keys=True)) for f in verdict["findings"])
    assert ("PutBucketPolicy", json.dumps({"bucketName": "old-bucket"})) in found
    assert ("UpdateAssumeRolePolicy", json.dumps({"roleName": "old-role"})) in found
    assert ("PutRolePolicy", json.dumps({"policyName": "work", "roleName": "old-role"}, sort_keys=True)) in found
    assert not any("quiet-role" in f or "no-policy" in f for _, f in found)
    assert "the policies of 2 buckets and the trust policies of 1 roles" in verdict["message"]


def test_the_scan_leaves_a_trust_policy_a_human_approved_alone(s3, admins):
    _role(s3, "approved-role", trust_of(ADMIN))
    s3.iam.update_assume_role_policy(RoleName="approved-role", PolicyDocument=trust_of(ADMIN, STRANGER))
    reverted = revert_change(trust("approved-role"),
                             verdict=judge(trust("approved-role"), event_name="UpdateAssumeRolePolicy"))
    record(s3, reverted["incidentId"], "allow")
    restore_incident(reverted["incidentId"])
    verdict = judge(SCAN, event_name="ReconciliationScan", event_id="reconciliation-scan")
    assert not [f for f in verdict["findings"] if f["eventName"] == "UpdateAssumeRolePolicy"]


def test_the_orchestrators_own_roles_hold_what_they_need_and_are_not_disarmed(stack, admins):
    """RevertPolicy's and RestorePolicy's roles may put bucket policies (a restricted action by default) to take
    risky statements out and back: a change to their policies is reported, never reverted (that would disarm
    the orchestrator in the middle of a stack update), and the scan leaves them alone; their trust stays guarded."""
    from incident_steps import inline

    name = REVERT_ROLE.rsplit("/", 1)[-1]
    _role(stack, name, trust_of(ADMIN))
    verdict = judge(inline("role", name, "work"), event_name="PutRolePolicy")
    assert verdict["action"] == "alert" and "orchestrator's own roles" in verdict["message"]
    scan = judge(SCAN, event_name="ReconciliationScan", event_id="reconciliation-scan")
    assert not [f for f in scan["findings"] if name in json.dumps(f["requestParameters"])]
    stack.iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_of(ADMIN, STRANGER))
    assert judge(trust(name), event_name="UpdateAssumeRolePolicy")["action"] == "remedy"


LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [  # what SAM gives a function's role
    {"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}}]})


def _trusted(stack, role: str) -> list[str]:
    document = stack.iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    document = document if isinstance(document, dict) else json.loads(document)
    return sorted(f"{kind}:{value}" for s in document["Statement"] if s["Effect"] == "Allow"
                  for kind, values in s["Principal"].items()
                  for value in (values if isinstance(values, list) else [values]))


@pytest.mark.parametrize("role_arn", [REVERT_ROLE, RESTORE_ROLE])
def test_another_account_let_into_an_orchestrator_role_is_taken_out_and_lambda_keeps_it(stack, admins, role_arn):
    """An administrator adds another account to the trust of RevertPolicy's (or RestorePolicy's) role, which has
    no sealed baseline: the new grant is taken out (fail closed), the Lambda service the template trusts stays,
    so the orchestrator keeps working; the e-mail names what was taken out and what stayed."""
    name = role_arn.rsplit("/", 1)[-1]
    _role(stack, name, LAMBDA_TRUST)
    opened = json.loads(LAMBDA_TRUST)
    opened["Statement"].append({"Effect": "Allow", "Principal": {"AWS": STRANGER}, "Action": "sts:AssumeRole"})
    stack.iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(opened))
    verdict = judge(trust(name), event_name="UpdateAssumeRolePolicy")
    assert verdict["action"] == "remedy" and verdict["newPrincipals"] == [f"AWS:{STRANGER}"], verdict
    assert "the trust the stack's template gives its own function roles" in verdict["message"]
    reverted = revert_change(trust(name), verdict=verdict)
    assert _trusted(stack, name) == ["Service:lambda.amazonaws.com"]
    assert reverted["takenOutPrincipals"] == [f"AWS:{STRANGER}"]
    # the change RevertPolicy made lets nobody new in: its own, not an incident
    assert judge(trust(name), changed_by=as_role(REVERT_ROLE), event_name="UpdateAssumeRolePolicy",
                 event_id="revert-event")["action"] == "ignore"


def test_a_role_outside_the_orchestrator_gets_no_template_trust_for_free(stack, admins):
    """The Lambda service in a trust policy is known only for the orchestrator's own roles: any other role
    without a baseline still loses it with the rest (fail closed)."""
    _role(stack, "someone-elses-function", LAMBDA_TRUST)
    opened = json.loads(LAMBDA_TRUST)
    opened["Statement"].append({"Effect": "Allow", "Principal": {"AWS": STRANGER}, "Action": "sts:AssumeRole"})
    stack.iam.update_assume_role_policy(RoleName="someone-elses-function", PolicyDocument=json.dumps(opened))
    verdict = judge(trust("someone-elses-function"), event_name="UpdateAssumeRolePolicy")
    assert verdict["newPrincipals"] == [f"AWS:{STRANGER}", "Service:lambda.amazonaws.com"], verdict
