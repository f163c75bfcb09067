"""The authorization corpus: for each rule of AWS's policy evaluation logic, a principal, a request and the
policies that apply, with the outcome AWS's documentation gives (each case cites its page).

The engine under test is `workshop.iam.evaluate_request`, the one the local cloud's authorizer and
iam:SimulatePrincipalPolicy use. Each case names the decision ("allowed", "explicitDeny",
"implicitDeny") and, for a denial, the policy type AWS's access-denied message names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from workshop.iam import (BOUNDARY, IDENTITY, RESOURCE, SCP, SESSION, Context, Policies, Principal, Request,
                          compile_policy, evaluate_request)

DENYALLOW = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html"
INTERPLAY = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html"
BASICS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html"
CROSS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html"
BOUNDARIES = "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html"
SESSIONS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session"
SCPS = "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html"
KMS = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html"
TRUST = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_manage-assume.html"
NOTACTION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html"
NOTRESOURCE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html"
NOTPRINCIPAL = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html"
RESOURCE_ELEMENT = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html"
OPERATORS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html"
CONDITION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html"
VARIABLES = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"
MULTIVALUED = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html"
SERVICE_PRINCIPALS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-services"
ROOT = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html"

A = "111122223333"
B = "444455556666"
USER = Principal(f"arn:aws:iam::{A}:user/alice", "user", A)
ROLE_ARN = f"arn:aws:iam::{A}:role/app"
SESSION_ARN = f"arn:aws:sts::{A}:assumed-role/app/worker"
ROLE_SESSION = Principal(SESSION_ARN, "assumed-role", A, ROLE_ARN)
OTHER = Principal(f"arn:aws:iam::{B}:user/bob", "user", B)
ROOT_USER = Principal(f"arn:aws:iam::{A}:root", "root", A)
EVENTS = Principal("events.amazonaws.com", "service", None)
BUCKET_OBJECT = "arn:aws:s3:::reports/2026/q4.csv"
SECRET = f"arn:aws:secretsmanager:us-east-1:{A}:secret:app-AbCdEf"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FUNCTION = f"arn:aws:lambda:us-east-1:{A}:function:worker"
RULE = f"arn:aws:events:us-east-1:{A}:rule/nightly"


def statement(effect, action, resource="*", principal=None, not_action=False, not_resource=False,
              not_principal=False, condition=None, sid=None):
    out = {"Effect": effect, ("NotAction" if not_action else "Action"): action}
    if resource is not None:
        out["NotResource" if not_resource else "Resource"] = resource
    if principal is not None:
        out["NotPrincipal" if not_principal else "Principal"] = principal
    if condition is not None:
        out["Condition"] = condition
    if sid:
        out["Sid"] = sid
    return out


def allow(action, resource="*", **kw):
    return statement("Allow", action, resource, **kw)


def deny(action, resource="*", **kw):
    return statement("Deny", action, resource, **kw)


def doc(*statements, kind="identity", name="policy"):
    return compile_policy({"Version": "2012-10-17", "Statement": list(statements)}, kind=kind, policy_id=name)


def resource_doc(*statements):
    return doc(*statements, kind="resource", name="resource-policy")


FULL_ACCESS = doc(allow("*"), name="FullAWSAccess")


@dataclass
class Case:
    principal: Principal
    action: str
    resource: str
    policies: Policies
    decision: str  # "allowed", "explicitDeny", "implicitDeny"
    source: str  # the AWS page that says so
    denied_by: str | None = None
    context: dict = field(default_factory=dict)


CASES = {
    # --- identity policies, explicit and implicit deny -----------------------------------------------
    "an identity policy allows": Case(
        USER, "s3:GetObject", BUCKET_OBJECT, Policies(identity=(doc(allow("s3:GetObject", "arn:aws:s3:::reports/*")),)),
        "allowed", DENYALLOW),
    "no policy allows: implicit deny": Case(
        USER, "s3:GetObject", BUCKET_OBJECT, Policies(), "implicitDeny", INTERPLAY, IDENTITY),
    "a policy allows another action only": Case(
        USER, "s3:PutObject", BUCKET_OBJECT, Policies(identity=(doc(allow("s3:GetObject")),)),
        "implicitDeny", INTERPLAY, IDENTITY),
    "an explicit deny beats an allow in another policy": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("s3:*")), doc(deny("s3:GetObject", "arn:aws:s3:::reports/*")))),
        "explicitDeny", INTERPLAY, IDENTITY),
    "a group's policy counts like the user's own": Case(
        USER, "sns:Publish", "arn:aws:sns:us-east-1:111122223333:alerts",
        Policies(identity=(compile_policy({"Statement": [allow("sns:Publish")]}, policy_id="team",
                                          policy_type="group"),)),
        "allowed", DENYALLOW),
    "action names match case-insensitively with wildcards": Case(
        USER, "s3:DeleteObject", BUCKET_OBJECT, Policies(identity=(doc(allow("S3:delete*")),)), "allowed",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html"),
    # --- NotAction, NotResource --------------------------------------------------------------------------
    "NotAction allows every other action": Case(
        USER, "sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q",
        Policies(identity=(doc(allow("iam:*", not_action=True)),)), "allowed", NOTACTION),
    "NotAction does not allow what it lists": Case(
        USER, "iam:CreateUser", f"arn:aws:iam::{A}:user/x",
        Policies(identity=(doc(allow("iam:*", not_action=True)),)), "implicitDeny", NOTACTION, IDENTITY),
    "Deny with NotAction denies every other action": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("*"), deny(["iam:*", "sts:*"], not_action=True)),)),
        "explicitDeny", NOTACTION, IDENTITY),
    "NotResource allows everything but what it lists": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("s3:*", "arn:aws:s3:::secret-bucket/*", not_resource=True)),)),
        "allowed", NOTRESOURCE),
    "NotResource excludes what it lists": Case(
        USER, "s3:GetObject", "arn:aws:s3:::secret-bucket/k",
        Policies(identity=(doc(allow("s3:*", "arn:aws:s3:::secret-bucket/*", not_resource=True)),)),
        "implicitDeny", NOTRESOURCE, IDENTITY),
    # --- resource ARNs: wildcards, case ------------------------------------------------------------------
    "a * inside an ARN segment stays in the segment": Case(
        USER, "dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{A}:table/prod",
        Policies(identity=(doc(allow("dynamodb:GetItem", "arn:aws:dynamodb:us-*1:table/prod")),)),
        "implicitDeny", RESOURCE_ELEMENT, IDENTITY),
    "a * ending an ARN segment runs on beyond the colons": Case(
        USER, "dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{A}:table/prod-x",
        Policies(identity=(doc(allow("dynamodb:GetItem", "arn:aws:dynamodb:*:table/prod-*")),)),
        "allowed", RESOURCE_ELEMENT),
    "resource names are case-sensitive": Case(
        USER, "iam:GetUser", f"arn:aws:iam::{A}:user/Bob",
        Policies(identity=(doc(allow("iam:GetUser", f"arn:aws:iam::{A}:user/bob")),)),
        "implicitDeny", RESOURCE_ELEMENT, IDENTITY),
    # --- resource-based policies in one account ----------------------------------------------------------
    "a bucket policy naming the user allows without an identity policy": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(resource=resource_doc(allow("s3:GetObject", "arn:aws:s3:::reports/*", principal={"AWS": USER.arn}))),
        "allowed", BASICS),
    "a resource policy naming the user is not limited by the user's boundary": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(boundary=doc(allow("sqs:*")),
                 resource=resource_doc(allow("s3:GetObject", principal={"AWS": USER.arn}))),
        "allowed", DENYALLOW),
    "a resource policy naming the role session allows despite boundary and session policy": Case(
        ROLE_SESSION, "secretsmanager:GetSecretValue", SECRET,
        Policies(boundary=doc(allow("sqs:*")), session=(doc(allow("sqs:*")),),
                 resource=resource_doc(allow("secretsmanager:GetSecretValue", principal={"AWS": SESSION_ARN}))),
        "allowed", DENYALLOW),
    "a resource policy naming the role allows the session without an identity policy": Case(
        ROLE_SESSION, "secretsmanager:GetSecretValue", SECRET,
        Policies(resource=resource_doc(allow("secretsmanager:GetSecretValue", principal={"AWS": ROLE_ARN}))),
        "allowed", DENYALLOW),
    "a resource policy naming the role is limited by the role's boundary": Case(
        ROLE_SESSION, "secretsmanager:GetSecretValue", SECRET,
        Policies(boundary=doc(allow("sqs:*")),
                 resource=resource_doc(allow("secretsmanager:GetSecretValue", principal={"AWS": ROLE_ARN}))),
        "implicitDeny", DENYALLOW, BOUNDARY),
    "a resource policy naming the role is limited by a session policy": Case(
        ROLE_SESSION, "secretsmanager:GetSecretValue", SECRET,
        Policies(session=(doc(allow("sqs:*")),),
                 resource=resource_doc(allow("secretsmanager:GetSecretValue", principal={"AWS": ROLE_ARN}))),
        "implicitDeny", DENYALLOW, SESSION),
    "a resource policy naming the account delegates to identity policies": Case(
        USER, "sns:Publish", "arn:aws:sns:us-east-1:111122223333:alerts",
        Policies(resource=resource_doc(allow("sns:Publish", principal={"AWS": f"arn:aws:iam::{A}:root"}))),
        "implicitDeny", DENYALLOW, IDENTITY),
    "a resource policy's explicit deny beats an identity allow": Case(
        ROLE_SESSION, "secretsmanager:GetSecretValue", SECRET,
        Policies(identity=(doc(allow("secretsmanager:*")),),
                 resource=resource_doc(deny("secretsmanager:GetSecretValue", principal="*"))),
        "explicitDeny", DENYALLOW, RESOURCE),
    "a resource policy's deny to others does not touch the listed role": Case(
        ROLE_SESSION, "secretsmanager:GetSecretValue", SECRET,
        Policies(identity=(doc(allow("secretsmanager:*")),),
                 resource=resource_doc(deny("secretsmanager:GetSecretValue", principal="*", condition={
                     "ArnNotEquals": {"aws:PrincipalArn": ROLE_ARN}}))),
        "allowed", DENYALLOW, context={"aws:PrincipalArn": ROLE_ARN}),
    "a resource policy allowing * with a condition": Case(
        USER, "sns:Publish", "arn:aws:sns:us-east-1:111122223333:alerts",
        Policies(resource=resource_doc(allow("SNS:Publish", principal={"AWS": "*"},
                                             condition={"StringEquals": {"AWS:SourceOwner": A}}))),
        "allowed", DENYALLOW, context={"aws:SourceOwner": A}),
    # --- resource policies that must allow: KMS key policies, role trust policies --------------------------
    "a KMS key policy must allow: identity alone is not enough": Case(
        USER, "kms:Decrypt", KEY,
        Policies(identity=(doc(allow("kms:*")),), resource=resource_doc(allow("kms:*", principal={"AWS": ROLE_ARN})),
                 resource_must_allow=True),
        "implicitDeny", KMS, RESOURCE),
    "a key policy enabling IAM policies (the account) plus an identity policy": Case(
        USER, "kms:Decrypt", KEY,
        Policies(identity=(doc(allow("kms:Decrypt")),),
                 resource=resource_doc(allow("kms:*", principal={"AWS": f"arn:aws:iam::{A}:root"})),
                 resource_must_allow=True),
        "allowed", KMS),
    "a key policy enabling IAM policies, but no identity policy allows": Case(
        USER, "kms:Decrypt", KEY,
        Policies(resource=resource_doc(allow("kms:*", principal={"AWS": A})), resource_must_allow=True),
        "implicitDeny", KMS, IDENTITY),
    "assuming a role needs the trust policy to allow": Case(
        USER, "sts:AssumeRole", ROLE_ARN,
        Policies(identity=(doc(allow("sts:AssumeRole")),),
                 resource=resource_doc(allow("sts:AssumeRole", None, principal={"Service": "lambda.amazonaws.com"})),
                 resource_must_allow=True),
        "implicitDeny", TRUST, RESOURCE),
    "a trust policy trusting the account plus an identity policy": Case(
        USER, "sts:AssumeRole", ROLE_ARN,
        Policies(identity=(doc(allow("sts:AssumeRole", ROLE_ARN)),),
                 resource=resource_doc(allow("sts:AssumeRole", None, principal={"AWS": f"arn:aws:iam::{A}:root"})),
                 resource_must_allow=True),
        "allowed", TRUST),
    # --- permissions boundaries ------------------------------------------------------------------------------
    "a boundary that does not allow the action": Case(
        USER, "iam:CreateUser", f"arn:aws:iam::{A}:user/x",
        Policies(identity=(doc(allow("*")),), boundary=doc(allow(["s3:*", "cloudwatch:*"]))),
        "implicitDeny", BOUNDARIES, BOUNDARY),
    "a boundary grants nothing on its own": Case(
        USER, "s3:GetObject", BUCKET_OBJECT, Policies(boundary=doc(allow("s3:*"))),
        "implicitDeny", BOUNDARIES, IDENTITY),
    "identity and boundary both allow": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("s3:GetObject")),), boundary=doc(allow("s3:*"))), "allowed", BOUNDARIES),
    "a boundary's explicit deny": Case(
        ROLE_SESSION, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("*")),), boundary=doc(allow("*"), deny("s3:*"))),
        "explicitDeny", BOUNDARIES, BOUNDARY),
    "NotPrincipal with Deny always denies a principal with a boundary": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("*")),), boundary=doc(allow("*")),
                 resource=resource_doc(deny("s3:*", principal={"AWS": [USER.arn, f"arn:aws:iam::{A}:root"]},
                                            not_principal=True))),
        "explicitDeny", BOUNDARIES, RESOURCE),
    "NotPrincipal with Deny spares the listed user and account": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("*")),),
                 resource=resource_doc(deny("s3:*", principal={"AWS": [USER.arn, f"arn:aws:iam::{A}:root"]},
                                            not_principal=True))),
        "allowed", NOTPRINCIPAL),
    "NotPrincipal listing the user but not its account still denies": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("*")),),
                 resource=resource_doc(deny("s3:*", principal={"AWS": [USER.arn]}, not_principal=True))),
        "explicitDeny", NOTPRINCIPAL, RESOURCE),
    # --- session policies -----------------------------------------------------------------------------------------
    "a session policy limits the role's permissions": Case(
        ROLE_SESSION, "s3:PutObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("s3:*")),), session=(doc(allow("s3:GetObject")),)),
        "implicitDeny", SESSIONS, SESSION),
    "a session policy grants nothing the role does not have": Case(
        ROLE_SESSION, "s3:PutObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("s3:GetObject")),), session=(doc(allow("s3:*")),)),
        "implicitDeny", SESSIONS, IDENTITY),
    "role and session policy both allow": Case(
        ROLE_SESSION, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("s3:*")),), session=(doc(allow("s3:GetObject")),)), "allowed", SESSIONS),
    "a session policy's explicit deny": Case(
        ROLE_SESSION, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("s3:*")),), session=(doc(allow("*"), deny("s3:GetObject")),)),
        "explicitDeny", SESSIONS, SESSION),
    # --- service control policies ------------------------------------------------------------------------------
    "SCPs allow at every level": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("s3:*")),), scps=((FULL_ACCESS,), (FULL_ACCESS,))), "allowed", SCPS),
    "an SCP's explicit deny beats an administrator": Case(
        USER, "cloudtrail:StopLogging", f"arn:aws:cloudtrail:us-east-1:{A}:trail/t",
        Policies(identity=(doc(allow("*")),),
                 scps=((FULL_ACCESS, doc(deny("cloudtrail:StopLogging"), name="p-protect")), (FULL_ACCESS,))),
        "explicitDeny", SCPS, SCP),
    "a level without an SCP allowing the action denies": Case(
        USER, "ec2:RunInstances", "*",
        Policies(identity=(doc(allow("*")),), scps=((FULL_ACCESS,), (doc(allow("s3:*"), name="p-s3"),))),
        "implicitDeny", SCPS, SCP),
    "an SCP grants nothing on its own": Case(
        USER, "s3:GetObject", BUCKET_OBJECT, Policies(scps=((FULL_ACCESS,),)), "implicitDeny", SCPS, IDENTITY),
    "SCPs limit the member account's root user": Case(
        ROOT_USER, "s3:DeleteBucket", "arn:aws:s3:::reports",
        Policies(scps=((FULL_ACCESS, doc(deny("s3:DeleteBucket"))),)), "explicitDeny", SCPS, SCP),
    "the root user needs no identity policy": Case(
        ROOT_USER, "iam:CreateUser", f"arn:aws:iam::{A}:user/x", Policies(), "allowed", ROOT),
    "an SCP limits a resource policy's grant too": Case(
        USER, "s3:GetObject", BUCKET_OBJECT,
        Policies(resource=resource_doc(allow("s3:GetObject", principal={"AWS": USER.arn})),
                 scps=((doc(allow("sqs:*")),),)),
        "implicitDeny", DENYALLOW, SCP),
    # --- cross-account ---------------------------------------------------------------------------------------
    "cross-account: both the resource and the identity policy allow": Case(
        OTHER, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("s3:GetObject")),),
                 resource=resource_doc(allow("s3:GetObject", principal={"AWS": f"arn:aws:iam::{B}:root"})),
                 resource_account=A),
        "allowed", CROSS),
    "cross-account: the resource policy alone is not enough": Case(
        OTHER, "s3:GetObject", BUCKET_OBJECT,
        Policies(resource=resource_doc(allow("s3:GetObject", principal={"AWS": OTHER.arn})), resource_account=A),
        "implicitDeny", CROSS, IDENTITY),
    "cross-account: the identity policy alone is not enough": Case(
        OTHER, "s3:GetObject", BUCKET_OBJECT,
        Policies(identity=(doc(allow("s3:*")),), resource_account=A), "implicitDeny", CROSS, RESOURCE),
    # --- AWS service principals ---------------------------------------------------------------------------------
    "a function policy lets EventBridge invoke for its rule": Case(
        EVENTS, "lambda:InvokeFunction", FUNCTION,
        Policies(resource=resource_doc(allow("lambda:InvokeFunction", FUNCTION,
                                             principal={"Service": "events.amazonaws.com"},
                                             condition={"ArnLike": {"AWS:SourceArn": RULE}}))),
        "allowed", SERVICE_PRINCIPALS, context={"aws:SourceArn": RULE, "aws:SourceAccount": A}),
    "a function policy for another rule does not": Case(
        EVENTS, "lambda:InvokeFunction", FUNCTION,
        Policies(resource=resource_doc(allow("lambda:InvokeFunction", FUNCTION,
                                             principal={"Service": "events.amazonaws.com"},
                                             condition={"ArnLike": {"AWS:SourceArn": RULE}}))),
        "implicitDeny", SERVICE_PRINCIPALS, RESOURCE,
        context={"aws:SourceArn": f"arn:aws:events:us-east-1:{A}:rule/other"}),
    "a service principal is not allowed by the account's identity policies": Case(
        EVENTS, "lambda:InvokeFunction", FUNCTION, Policies(identity=(doc(allow("*")),)),
        "implicitDeny", SERVICE_PRINCIPALS, RESOURCE),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_engine_decides_as_aws_documents(name):
    case = CASES[name]
    request = Request(case.action, case.resource, Context(case.context))
    decision = evaluate_request(case.principal, request, case.policies)
    assert (decision.decision, decision.policy_type if not decision.allowed else None) == \
        (case.decision, case.denied_by), f"{name}: see {case.source}"
    assert decision.allowed == (case.decision == "allowed")


# --- conditions: every operator family ----------------------------------------------------------------------

COND_CONTEXT = {
    "aws:username": "alice", "aws:PrincipalTag/team": "blue", "aws:SourceIp": "10.1.2.3",
    "aws:SecureTransport": True, "aws:CurrentTime": "2026-12-07T12:00:00Z", "aws:EpochTime": "1796644800",
    "s3:max-keys": "50", "aws:TagKeys": ["env", "team"], "aws:PrincipalArn": USER.arn,
    "aws:SourceArn": RULE, "test:blob": "aGVsbG8=", "aws:CalledVia": ["cloudformation.amazonaws.com"],
}

# (condition block, holds?) with the operator reference as the source of every row
CONDITION_CASES = [
    ({"StringEquals": {"aws:username": "alice"}}, True),
    ({"StringEquals": {"aws:username": "Alice"}}, False),  # case-sensitive
    ({"StringEquals": {"aws:username": ["bob", "alice"]}}, True),  # values: OR
    ({"StringNotEquals": {"aws:username": "bob"}}, True),
    ({"StringNotEquals": {"aws:username": ["bob", "alice"]}}, False),
    ({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}, True),
    ({"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}}, False),
    ({"StringLike": {"aws:username": "al*"}}, True),
    ({"StringLike": {"aws:username": "al?ce"}}, True),
    ({"StringNotLike": {"aws:username": "b*"}}, True),
    ({"NumericLessThan": {"s3:max-keys": "100"}}, True),
    ({"NumericLessThanEquals": {"s3:max-keys": "50"}}, True),
    ({"NumericGreaterThan": {"s3:max-keys": "50"}}, False),
    ({"NumericGreaterThanEquals": {"s3:max-keys": 50}}, True),
    ({"NumericEquals": {"s3:max-keys": "50"}}, True),
    ({"NumericNotEquals": {"s3:max-keys": "50"}}, False),
    ({"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}, True),
    ({"DateLessThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}, False),
    ({"DateLessThanEquals": {"aws:CurrentTime": "2026-12-07T12:00:00Z"}}, True),
    ({"DateGreaterThanEquals": {"aws:CurrentTime": "2027-01-01"}}, False),
    ({"DateEquals": {"aws:EpochTime": "2026-12-07T12:00:00Z"}}, True),  # epoch seconds against ISO 8601
    ({"DateNotEquals": {"aws:CurrentTime": "2026-12-07T12:00:00Z"}}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, True),
    ({"Bool": {"aws:SecureTransport": False}}, False),
    ({"BinaryEquals": {"test:blob": "aGVsbG8="}}, True),
    ({"BinaryEquals": {"test:blob": "d29ybGQ="}}, False),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, True),
    ({"IpAddress": {"aws:SourceIp": ["192.168.0.0/16", "10.1.2.3/32"]}}, True),
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, False),
    ({"ArnEquals": {"aws:PrincipalArn": USER.arn}}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/night*"}}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:events:*:rule/night*"}}, False),  # ArnLike: six parts, one by one
    ({"ArnNotLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/night*"}}, False),
    ({"ArnNotEquals": {"aws:PrincipalArn": ROLE_ARN}}, True),
    ({"Null": {"aws:username": "false"}}, True),
    ({"Null": {"aws:MultiFactorAuthAge": "true"}}, True),
    ({"Null": {"aws:username": "true"}}, False),
    # absent keys
    ({"StringEquals": {"aws:MultiFactorAuthAge": "1"}}, False),
    ({"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}, True),  # negated: true when absent
    ({"StringEqualsIfExists": {"aws:RequestedRegion": "eu-west-1"}}, True),
    ({"StringEqualsIfExists": {"aws:username": "bob"}}, False),
    ({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, False),
    # several operators and keys: AND
    ({"StringEquals": {"aws:username": "alice"}, "Bool": {"aws:SecureTransport": "false"}}, False),
    ({"StringEquals": {"aws:username": "alice", "aws:PrincipalTag/team": "blue"}}, True),
    # multivalued keys and set operators
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team", "owner"]}}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}, False),
    ({"ForAllValues:StringEquals": {"aws:RequestTag/x": ["env"]}}, True),  # absent: true
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["owner"]}}, False),
    ({"ForAnyValue:StringEquals": {"aws:NoSuchKey": ["owner"]}}, False),  # absent: false
    ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["env"]}}, True),
    ({"ForAllValues:StringLike": {"aws:TagKeys": ["e*", "t*"]}}, True),
    ({"ForAnyValue:StringEquals": {"aws:CalledVia": "cloudformation.amazonaws.com"}}, True),
    # policy variables in condition values
    ({"StringEquals": {"aws:username": "${aws:PrincipalTag/team}"}}, False),
    ({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/${aws:username}"}}, True),
    ({"StringEquals": {"aws:username": "${aws:NoSuchKey, 'alice'}"}}, True),  # the default
    ({"StringEquals": {"aws:username": "${aws:NoSuchKey}"}}, False),  # no value, no default: no match
]


@pytest.mark.parametrize("index", range(len(CONDITION_CASES)))
def test_every_condition_operator_family_as_the_reference_describes(index):
    condition, holds = CONDITION_CASES[index]
    policies = Policies(identity=(doc(allow("s3:GetObject", condition=condition)),))
    decision = evaluate_request(USER, Request("s3:GetObject", BUCKET_OBJECT, Context(COND_CONTEXT)), policies)
    assert decision.allowed == holds, f"{condition} (see {OPERATORS} and {CONDITION})"


def test_an_unknown_operator_fails_closed_for_allow_and_for_deny():
    odd = {"StringEqualz": {"aws:username": "alice"}}
    allowed = Policies(identity=(doc(allow("s3:GetObject", condition=odd)),))
    assert not evaluate_request(USER, Request("s3:GetObject", BUCKET_OBJECT, Context(COND_CONTEXT)), allowed).allowed
    denied = Policies(identity=(doc(allow("s3:*"), deny("s3:GetObject", condition=odd)),))
    decision = evaluate_request(USER, Request("s3:GetObject", BUCKET_OBJECT, Context(COND_CONTEXT)), denied)
    assert decision.decision == "explicitDeny"


def test_missing_context_keys_are_reported():
    policies = Policies(identity=(doc(allow("s3:GetObject", condition={"StringEquals": {"s3:prefix": "home/"}})),))
    decision = evaluate_request(USER, Request("s3:GetObject", BUCKET_OBJECT, Context()), policies)
    assert decision.missing_context == ("s3:prefix",)


# --- policy variables in Resource ------------------------------------------------------------------------

VARIABLE_CASES = [
    (f"arn:aws:iam::{A}:user/${{aws:username}}", f"arn:aws:iam::{A}:user/alice", True),
    (f"arn:aws:iam::{A}:user/${{aws:username}}", f"arn:aws:iam::{A}:user/bob", False),
    ("arn:aws:s3:::home/${aws:PrincipalTag/team}/*", "arn:aws:s3:::home/blue/notes.txt", True),
    ("arn:aws:s3:::home/${aws:PrincipalTag/missing, 'shared'}/*", "arn:aws:s3:::home/shared/x", True),
    ("arn:aws:s3:::home/${aws:PrincipalTag/missing}/*", "arn:aws:s3:::home/anything/x", False),
    ("arn:aws:s3:::odd/${*}", "arn:aws:s3:::odd/*", True),  # ${*} is a literal asterisk
    ("arn:aws:s3:::odd/${*}", "arn:aws:s3:::odd/x", False),
]


@pytest.mark.parametrize("index", range(len(VARIABLE_CASES)))
def test_policy_variables_in_resources(index):
    pattern, resource, allowed = VARIABLE_CASES[index]
    policies = Policies(identity=(doc(allow("s3:GetObject", pattern), allow("iam:GetUser", pattern)),))
    action = "iam:GetUser" if ":iam:" in resource else "s3:GetObject"
    context = Context({"aws:username": "alice", "aws:PrincipalTag/team": "blue"})
    assert evaluate_request(USER, Request(action, resource, context), policies).allowed == allowed, VARIABLES


def test_a_variable_value_is_literal_text_not_a_wildcard():
    policies = Policies(identity=(doc(allow("iam:GetUser", f"arn:aws:iam::{A}:user/${{aws:username}}")),))
    context = Context({"aws:username": "*"})
    assert not evaluate_request(USER, Request("iam:GetUser", f"arn:aws:iam::{A}:user/bob", context), policies).allowed


# --- AWS's access-denied messages -------------------------------------------------------------------------

MESSAGES = [
    (Policies(), f"User: {USER.arn} is not authorized to perform: s3:GetObject on resource: {BUCKET_OBJECT} "
                 "because no identity-based policy allows the s3:GetObject action"),
    (Policies(identity=(doc(allow("*"), deny("s3:*")),)),
     f"User: {USER.arn} is not authorized to perform: s3:GetObject on resource: {BUCKET_OBJECT} "
     "with an explicit deny in an identity-based policy"),
    (Policies(identity=(doc(allow("*")),), scps=((doc(allow("sqs:*")),),)),
     f"User: {USER.arn} is not authorized to perform: s3:GetObject on resource: {BUCKET_OBJECT} "
     "with an explicit deny in a service control policy"),
    (Policies(identity=(doc(allow("*")),), boundary=doc(allow("sqs:*"))),
     f"User: {USER.arn} is not authorized to perform: s3:GetObject on resource: {BUCKET_OBJECT} "
     "because no permissions boundary allows the s3:GetObject action"),
    (Policies(identity=(doc(allow("*")),), boundary=doc(allow("*"), deny("s3:GetObject"))),
     f"User: {USER.arn} is not authorized to perform: s3:GetObject on resource: {BUCKET_OBJECT} "
     "with an explicit deny in a permissions boundary"),
    (Policies(identity=(doc(allow("*")),), resource=resource_doc(deny("s3:*", principal="*"))),
     f"User: {USER.arn} is not authorized to perform: s3:GetObject on resource: {BUCKET_OBJECT} "
     "with an explicit deny in a resource-based policy"),
]


@pytest.mark.parametrize("index", range(len(MESSAGES)))
def test_denials_read_as_aws_writes_them(index):
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html"""
    policies, text = MESSAGES[index]
    request = Request("s3:GetObject", BUCKET_OBJECT)
    assert evaluate_request(USER, request, policies).message(USER, request) == text


def test_a_policy_is_parsed_once_per_distinct_text():
    text = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'
    assert compile_policy(text).statements is compile_policy(text, policy_id="other").statements
