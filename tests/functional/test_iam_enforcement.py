"""IAM evaluated on real calls: principals holding exactly a given policy, against a real local cloud.

Each test makes the calls a principal would (boto3, signed with the principal's own key) and checks what
the local cloud answers: the call served, or AWS's AccessDenied in the service's protocol with AWS's text.
The per-start key is the account's administrator and is never evaluated.
"""

from __future__ import annotations

import json

import pytest
from iam_principals import ACCOUNT, admin, denied, document, role_with, session_for, unique, user_with
from state_machines import finished

pytestmark = pytest.mark.e2e


@pytest.fixture
def cloud(shared_cloud) -> str:
    """The functional tests' local cloud: no orchestrator stack runs there (the session's `local_cloud` may have
    one deployed), which would revert the risky policies these principals hold while a test uses them."""
    return shared_cloud.endpoint


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


# --- a denial in each protocol, with AWS's text ---------------------------------------------------------


def test_a_user_may_do_what_its_policy_allows_and_nothing_else(cloud):
    bucket = unique("reports")
    admin(cloud, "s3").create_bucket(Bucket=bucket)
    admin(cloud, "s3").put_object(Bucket=bucket, Key="q4.csv", Body=b"1,2")
    user = user_with(cloud, document(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*")))
    assert user.client("s3").get_object(Bucket=bucket, Key="q4.csv")["Body"].read() == b"1,2"
    error = denied(user.client("s3").delete_object, Bucket=bucket, Key="q4.csv")  # rest-xml: S3
    assert (error["Code"], error["Status"]) == ("AccessDenied", 403)
    assert error["Message"] == (f'User: {user.arn} is not authorized to perform: s3:DeleteObject on resource: '
                                f'"arn:aws:s3:::{bucket}/q4.csv" because no identity-based policy allows the '
                                's3:DeleteObject action')


@pytest.mark.parametrize("service, call, kwargs, code, status", [
    ("sns", "create_topic", {"Name": "t"}, "AuthorizationError", 403),  # query
    ("iam", "list_roles", {}, "AccessDenied", 403),  # query
    ("dynamodb", "list_tables", {}, "AccessDeniedException", 400),  # json
    ("stepfunctions", "list_state_machines", {}, "AccessDeniedException", 400),  # json
    ("secretsmanager", "list_secrets", {}, "AccessDeniedException", 400),  # json
    ("lambda", "list_functions", {}, "AccessDeniedException", 403),  # rest-json
    ("apigateway", "get_rest_apis", {}, "AccessDeniedException", 403),  # rest-json
    ("cloudformation", "list_stacks", {}, "AccessDenied", 403),  # query
])
def test_a_denial_answers_in_the_services_protocol(cloud, service, call, kwargs, code, status):
    user = user_with(cloud, None)
    error = denied(getattr(user.client(service), call), **kwargs)
    assert (error["Code"], error["Status"]) == (code, status)
    assert error["Message"].startswith(f"User: {user.arn} is not authorized to perform: ")
    assert "because no identity-based policy allows the" in error["Message"]


def test_get_caller_identity_needs_no_permission(cloud):
    user = user_with(cloud, None)
    assert user.client("sts").get_caller_identity()["Arn"] == user.arn


def test_an_explicit_deny_beats_an_allow_in_a_group(cloud):
    group = unique("group")
    iam = admin(cloud, "iam")
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="all-sqs", PolicyDocument=document(allow("sqs:*")))
    user = user_with(cloud, document(deny("sqs:DeleteQueue")), groups=(group,))
    queue = user.client("sqs").create_queue(QueueName=unique("q"))["QueueUrl"]  # from the group's policy
    error = denied(user.client("sqs").delete_queue, QueueUrl=queue)
    assert "with an explicit deny in an identity-based policy" in error["Message"]


# --- conditions and variables on real requests ------------------------------------------------------------


def test_conditions_read_the_request(cloud):
    bucket = unique("homes")
    admin(cloud, "s3").create_bucket(Bucket=bucket)
    user = user_with(cloud, document(
        allow("s3:ListBucket", f"arn:aws:s3:::{bucket}", Condition={"StringLike": {"s3:prefix": "home/${aws:username}/*"}}),
        allow("s3:PutObject", f"arn:aws:s3:::{bucket}/home/${{aws:username}}/*"),
        allow("sqs:ListQueues", Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"}})))
    s3 = user.client("s3")
    s3.put_object(Bucket=bucket, Key=f"home/{user.name}/notes.txt", Body=b"mine")
    assert denied(s3.put_object, Bucket=bucket, Key="home/someone-else/notes.txt", Body=b"x")["Code"] == "AccessDenied"
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"home/{user.name}/")["KeyCount"] == 1
    assert denied(s3.list_objects_v2, Bucket=bucket)["Code"] == "AccessDenied"  # no prefix: the condition fails
    user.client("sqs").list_queues()
    assert denied(user.client("sqs", region_name="eu-west-1").list_queues)["Code"]


def test_iam_policy_arn_condition_limits_what_may_be_attached(cloud):
    iam = admin(cloud, "iam")
    target = unique("workshop-target")
    iam.create_user(UserName=target)
    harmless = iam.create_policy(PolicyName=unique("workshop-harmless"),
                                 PolicyDocument=document(allow("s3:GetObject")))["Policy"]["Arn"]
    user = user_with(cloud, document(allow("iam:AttachUserPolicy", Condition={
        "ArnLike": {"iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/workshop-*"}})))
    user.client("iam").attach_user_policy(UserName=target, PolicyArn=harmless)
    error = denied(user.client("iam").attach_user_policy, UserName=target,
                   PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    assert f"iam:AttachUserPolicy on resource: arn:aws:iam::{ACCOUNT}:user/{target}" in error["Message"]


# --- permissions boundaries, session policies, trust policies ------------------------------------------------


def test_a_users_permissions_boundary_limits_its_policy(cloud):
    iam = admin(cloud, "iam")
    boundary = iam.create_policy(PolicyName=unique("boundary"),
                                 PolicyDocument=document(allow("sqs:*")))["Policy"]["Arn"]
    user = user_with(cloud, document(allow("*")), boundary=boundary)
    user.client("sqs").list_queues()
    error = denied(user.client("sns").list_topics)
    assert "because no permissions boundary allows the sns:ListTopics action" in error["Message"]
    iam.delete_user_permissions_boundary(UserName=user.name)
    user.client("sns").list_topics()  # the boundary is gone: the policy alone decides


def test_a_session_policy_limits_the_role_session(cloud):
    role = role_with(cloud, document(allow("sqs:*"), allow("sns:*")),
                     {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]})
    user = user_with(cloud, document(allow("sts:AssumeRole", role)))
    credentials = user.client("sts").assume_role(RoleArn=role, RoleSessionName="limited",
                                                 Policy=document(allow("sqs:ListQueues")))["Credentials"]
    from iam_principals import Principal

    session = Principal(cloud, session_for(cloud, credentials), "", "")
    session.client("sqs").list_queues()
    error = denied(session.client("sns").list_topics)
    assert f"assumed-role/{role.rsplit('/', 1)[-1]}/limited is not authorized" in error["Message"]
    assert "because no session policy allows the sns:ListTopics action" in error["Message"]


def test_assuming_a_role_needs_its_trust_policy(cloud):
    role = role_with(cloud, document(allow("sqs:*")), {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]})
    user = user_with(cloud, document(allow("sts:AssumeRole")))
    error = denied(user.client("sts").assume_role, RoleArn=role, RoleSessionName="nope")
    assert "because no resource-based policy allows the sts:AssumeRole action" in error["Message"]


# --- resource-based policies -------------------------------------------------------------------------------


def test_a_secrets_resource_policy_denies_even_an_administrator_session(cloud):
    secrets = admin(cloud, "secretsmanager")
    arn = secrets.create_secret(Name=unique("kept"), SecretString="s3cr3t")["ARN"]
    reader = user_with(cloud, document(allow("secretsmanager:*")))
    assert reader.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"] == "s3cr3t"
    secrets.put_resource_policy(SecretId=arn, ResourcePolicy=document(
        {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/only-this"}}}))
    error = denied(reader.client("secretsmanager").get_secret_value, SecretId=arn)
    assert error["Message"].endswith("with an explicit deny in a resource-based policy")


def test_a_topic_policy_naming_a_user_grants_without_an_identity_policy(cloud):
    sns = admin(cloud, "sns")
    topic = sns.create_topic(Name=unique("alerts"))["TopicArn"]
    user = user_with(cloud, None)
    assert denied(user.client("sns").publish, TopicArn=topic, Message="hi")["Code"] == "AuthorizationError"
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=document(
        {"Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "sns:Publish", "Resource": topic}))
    assert user.client("sns").publish(TopicArn=topic, Message="hi")["MessageId"]


def test_a_kms_key_policy_must_allow(cloud):
    kms = admin(cloud, "kms")
    user = user_with(cloud, document(allow("kms:*")))
    only_root = document({"Sid": "Enable IAM policies", "Effect": "Allow",
                          "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"})
    shared = kms.create_key(Policy=only_root)["KeyMetadata"]["KeyId"]
    user.client("kms").encrypt(KeyId=shared, Plaintext=b"x")  # the key policy delegates to IAM policies
    private = kms.create_key(Policy=document({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/x"},
                                              "Action": "kms:*", "Resource": "*"}))["KeyMetadata"]["KeyId"]
    error = denied(user.client("kms").encrypt, KeyId=private, Plaintext=b"x")
    assert "because no resource-based policy allows the kms:Encrypt action" in error["Message"]


def test_a_condition_on_a_keys_tag_reads_the_keys_tags(cloud):
    kms = admin(cloud, "kms")
    keys = {team: kms.create_key(Tags=[{"TagKey": "team", "TagValue": team}])["KeyMetadata"]["KeyId"]
            for team in ("blue", "red")}
    user = user_with(cloud, document(allow("kms:Encrypt", Condition={"StringEquals": {"aws:ResourceTag/team": "blue"}})))
    user.client("kms").encrypt(KeyId=keys["blue"], Plaintext=b"x")
    error = denied(user.client("kms").encrypt, KeyId=keys["red"], Plaintext=b"x")
    assert "because no identity-based policy allows the kms:Encrypt action" in error["Message"], error


# --- service control policies ---------------------------------------------------------------------------------


def test_an_scp_limits_a_member_accounts_administrator_but_never_the_management_account(cloud):
    organizations = admin(cloud, "organizations")
    try:
        organizations.create_organization(FeatureSet="ALL")
    except Exception as exc:  # a second run in one session: the organization is there already
        assert "AlreadyInOrganization" in str(exc)
    root = organizations.list_roots()["Roots"][0]["Id"]
    try:
        organizations.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    except Exception as exc:
        assert "PolicyTypeAlreadyEnabled" in str(exc)
    member = organizations.create_account(AccountName=unique("member"),
                                          Email=f"{unique('m')}@example.com")["CreateAccountStatus"]["AccountId"]
    scp = organizations.create_policy(
        Name=unique("no-buckets"), Type="SERVICE_CONTROL_POLICY", Description="no new buckets",
        Content=document(allow("*"), deny("s3:CreateBucket")))["Policy"]["PolicySummary"]["Id"]
    organizations.attach_policy(PolicyId=scp, TargetId=member)
    # the management account's principals reach the member through its OrganizationAccountAccessRole
    caller = user_with(cloud, document(allow("*")))
    credentials = caller.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="admin")["Credentials"]
    from iam_principals import Principal

    member_admin = Principal(cloud, session_for(cloud, credentials), "", "")
    assert member_admin.client("sts").get_caller_identity()["Account"] == member
    member_admin.client("sqs").create_queue(QueueName=unique("q"))  # administrator rights (the role's policy)
    error = denied(member_admin.client("s3").create_bucket, Bucket=unique("blocked"))
    assert error["Message"].endswith("with an explicit deny in a service control policy")
    # the management account: SCPs never apply, even to a policy that would match
    organizations.attach_policy(PolicyId=scp, TargetId=organizations.list_roots()["Roots"][0]["Id"])
    caller.client("s3").create_bucket(Bucket=unique("allowed"))


# --- iam:SimulatePrincipalPolicy / SimulateCustomPolicy -------------------------------------------------------


def test_simulate_principal_policy_says_why(cloud):
    user = user_with(cloud, document(allow("s3:*"), dict(deny("s3:DeleteBucket"), Sid="KeepBuckets")))
    results = admin(cloud, "iam").simulate_principal_policy(
        PolicySourceArn=user.arn, ActionNames=["s3:GetObject", "s3:DeleteBucket", "sqs:SendMessage"],
        ResourceArns=["arn:aws:s3:::b"])["EvaluationResults"]
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in results}
    assert decisions == {"s3:GetObject": "allowed", "s3:DeleteBucket": "explicitDeny",
                         "sqs:SendMessage": "implicitDeny"}
    denying = next(r for r in results if r["EvalActionName"] == "s3:DeleteBucket")["MatchedStatements"]
    assert [(s["SourcePolicyId"], s["SourcePolicyType"]) for s in denying] == [("exactly", "user")]


def test_simulate_custom_policy_reports_missing_context(cloud):
    policy = document(allow("s3:ListBucket", Condition={"StringLike": {"s3:prefix": "home/*"}}))
    iam = admin(cloud, "iam")
    bare = iam.simulate_custom_policy(PolicyInputList=[policy], ActionNames=["s3:ListBucket"])["EvaluationResults"][0]
    assert bare["EvalDecision"] == "implicitDeny" and bare["MissingContextValues"] == ["s3:prefix"]
    given = iam.simulate_custom_policy(PolicyInputList=[policy], ActionNames=["s3:ListBucket"], ContextEntries=[
        {"ContextKeyName": "s3:prefix", "ContextKeyValues": ["home/a"], "ContextKeyType": "string"}])
    assert given["EvaluationResults"][0]["EvalDecision"] == "allowed"


# --- the server's own calls as their principals ---------------------------------------------------------------


STATES_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "states.amazonaws.com"}}]}


def test_a_state_machines_integration_runs_with_exactly_its_roles_permissions(cloud):
    queue = admin(cloud, "sqs").create_queue(QueueName=unique("jobs"))["QueueUrl"]
    definition = json.dumps({"StartAt": "Send", "States": {"Send": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl": queue, "MessageBody": "job"}, "End": True}}})
    sfn = admin(cloud, "stepfunctions")
    results = {}
    for label, policy in (("may", document(allow("sqs:SendMessage"))), ("may not", document(allow("sns:Publish")))):
        role = role_with(cloud, policy, STATES_TRUST)
        machine = sfn.create_state_machine(name=unique("send"), roleArn=role, definition=definition)["stateMachineArn"]
        results[label] = finished(sfn, sfn.start_execution(stateMachineArn=machine)["executionArn"])
    assert results["may"]["status"] == "SUCCEEDED", results["may"]
    assert results["may not"]["status"] == "FAILED"
    history = sfn.get_execution_history(executionArn=results["may not"]["executionArn"])["events"]
    cause = next(e for e in history if e["type"] == "TaskFailed")["taskFailedEventDetails"]["cause"]
    assert "is not authorized to perform: sqs:SendMessage" in cause


def test_cloudformation_creates_resources_as_its_caller_or_its_service_role(cloud):
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    deployer_policy = document(allow(["cloudformation:*"]), allow("iam:PassRole"))
    deployer = user_with(cloud, deployer_policy)
    cfn = deployer.client("cloudformation")
    name = unique("stack")
    cfn.create_change_set(StackName=name, ChangeSetName="first", ChangeSetType="CREATE", TemplateBody=template)
    cfn.execute_change_set(StackName=name, ChangeSetName="first")
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
               if e["LogicalResourceId"] == "Topic"]
    assert any(f"User: {deployer.arn} is not authorized to perform: sns:CreateTopic" in r for r in reasons), reasons
    service_role = role_with(cloud, document(allow("sns:*")), {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "cloudformation.amazonaws.com"}}]})
    other = unique("stack")
    cfn.create_change_set(StackName=other, ChangeSetName="first", ChangeSetType="CREATE", TemplateBody=template,
                          RoleARN=service_role)
    cfn.execute_change_set(StackName=other, ChangeSetName="first")
    assert cfn.describe_stacks(StackName=other)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_cloudformation_deletes_a_stack_as_the_service_role_it_was_made_with(cloud):
    """DeleteStack names no role: CloudFormation deletes as the stack's, so a deployer who may not delete the
    secret itself deletes the stack."""
    template = json.dumps({"Resources": {"Secret": {"Type": "AWS::SecretsManager::Secret",
                                                    "Properties": {"SecretString": "x"}}}})
    deployer = user_with(cloud, document(allow(["cloudformation:*"]), allow("iam:PassRole")))
    service_role = role_with(cloud, document(allow("secretsmanager:*")), {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "cloudformation.amazonaws.com"}}]})
    cfn = deployer.client("cloudformation")
    name = unique("stack")
    cfn.create_change_set(StackName=name, ChangeSetName="first", ChangeSetType="CREATE", TemplateBody=template,
                          RoleARN=service_role)
    cfn.execute_change_set(StackName=name, ChangeSetName="first")
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    cfn.delete_stack(StackName=name)
    left = [(s["StackStatus"], s.get("StackStatusReason")) for s in cfn.list_stacks()["StackSummaries"]
            if s["StackName"] == name and s["StackStatus"] != "DELETE_COMPLETE"]
    assert not left, left


def test_cloudformation_deletes_as_its_caller_on_the_resources_it_made(cloud):
    """A topic policy's delete is checked on its topic, as the deleting user; a delete the user may not do
    leaves the stack DELETE_FAILED with AWS's reason (the call itself succeeds), and the stack deletes later."""
    name = unique("stack")
    template = json.dumps({"Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "TopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {
            "Topics": [{"Ref": "Topic"}], "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Principal": "*", "Action": "sns:Subscribe", "Resource": {"Ref": "Topic"}}]}}}}})
    own_topics = f"arn:aws:sns:us-east-1:{ACCOUNT}:{name}-*"
    may = user_with(cloud, document(allow("cloudformation:*"), allow("sns:*", own_topics)))
    may_not = user_with(cloud, document(allow("cloudformation:*"), allow("sns:*", own_topics),
                                              deny("sns:SetTopicAttributes", own_topics)))
    cfn = may.client("cloudformation")
    cfn.create_change_set(StackName=name, ChangeSetName="first", ChangeSetType="CREATE", TemplateBody=template)
    cfn.execute_change_set(StackName=name, ChangeSetName="first")
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    may_not.client("cloudformation").delete_stack(StackName=name)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "DELETE_FAILED"
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName=name)["StackEvents"]]
    assert any(f"User: {may_not.arn} is not authorized to perform: sns:SetTopicAttributes on resource: "
               f"{own_topics[:-2]}-" in r for r in reasons), reasons
    cfn.delete_stack(StackName=name)
    assert not [s for s in cfn.list_stacks()["StackSummaries"]
                if s["StackName"] == name and s["StackStatus"] != "DELETE_COMPLETE"]


def test_a_deleted_resource_is_checked_on_what_its_refs_named(cloud):
    """A function permission has no ARN of its own: its delete is checked on the function its (resolved) Ref
    names, so a user granted the permissions on that function only may delete the stack."""
    from lambda_packages import zip_package

    role = role_with(cloud, document(allow("logs:*")), {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]})
    function = admin(cloud, "lambda").create_function(
        FunctionName=unique("fn"), Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": zip_package({"app.py": "def handler(event, context):\n    return event\n"})})["FunctionArn"]
    template = json.dumps({"Parameters": {"Function": {"Type": "String"}}, "Resources": {"Invoke": {
        "Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": {"Ref": "Function"}, "Action": "lambda:InvokeFunction",
            "Principal": "sns.amazonaws.com"}}}})
    user = user_with(cloud, document(allow("cloudformation:*"),
                                           allow(["lambda:AddPermission", "lambda:RemovePermission"], function)))
    cfn, name = user.client("cloudformation"), unique("stack")
    cfn.create_change_set(StackName=name, ChangeSetName="first", ChangeSetType="CREATE", TemplateBody=template,
                          Parameters=[{"ParameterKey": "Function", "ParameterValue": function}])
    cfn.execute_change_set(StackName=name, ChangeSetName="first")
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    cfn.delete_stack(StackName=name)
    left = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == name]
    assert [s["StackStatus"] for s in left] == ["DELETE_COMPLETE"], left
