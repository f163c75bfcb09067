"""The AWS path's explanations, on fake clients: a failed stack on one screen, the account's Lambda concurrency,
a new confirmation e-mail and who may ask for it, the clean-up of a versioned bucket and a trail's KMS key.
(End to end against the AWS-like local cloud: tests/e2e/test_aws_like.py.)"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from workshop.aws import deploy as deploy_module
from workshop.aws.mail import SubscribeDenied, request_confirmation
from workshop.teaching.cleanup import Leftovers, _delete_artifacts, _trail_keys
from workshop.teaching.setup_check import check_lambda_concurrency, reservation_room

STACK = "security-orchestrator"
REFUSED = ("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
           "below its minimum value of [100].")


def _error(code, message="refused"):
    return ClientError({"Error": {"Code": code, "Message": message}}, "Call")


class _Pages:
    def __init__(self, pages):
        self.pages = pages

    def paginate(self, **kwargs):
        return iter(self.pages)


class _Cloud:
    """A TargetSession stand-in whose clients are the given objects."""

    def __init__(self, target="aws", **clients):
        self.target, self.clients, self.region, self.is_local = target, clients, "us-east-1", target == "local"

    def client(self, name):
        return self.clients[name]


def _event(logical, status, reason=None, kind="AWS::Lambda::Function"):
    event = {"LogicalResourceId": logical, "ResourceStatus": status, "ResourceType": kind,
             "Timestamp": datetime.now(timezone.utc)}
    if reason:
        event["ResourceStatusReason"] = reason
    return event


class _Stacks:
    def __init__(self, events, status="ROLLBACK_COMPLETE"):
        self.events, self.status, self.deleted = events, status, False

    def get_paginator(self, name):
        assert name == "describe_stack_events"
        return _Pages([{"StackEvents": self.events[:2]}, {"StackEvents": self.events[2:]}])

    def describe_stacks(self, StackName):
        if self.deleted:
            raise _error("ValidationError", f"Stack with id {StackName} does not exist")
        return {"Stacks": [{"StackStatus": self.status}]}

    def delete_stack(self, StackName):
        self.deleted = True


# newest first, as DescribeStackEvents answers
FAILED_CREATE = [
    _event(STACK, "ROLLBACK_COMPLETE", kind="AWS::CloudFormation::Stack"),
    _event("ValidatePolicy", "CREATE_FAILED", "Resource creation cancelled"),
    _event("ReceiveDecision", "CREATE_FAILED", REFUSED),
    _event(STACK, "CREATE_IN_PROGRESS", "User Initiated", kind="AWS::CloudFormation::Stack"),
    _event("Older", "UPDATE_FAILED", "a failure of an operation before this one"),
]


def test_a_failed_stack_is_one_screen_with_its_reason_the_likely_cause_and_the_way_out():
    cloud = _Cloud(cloudformation=_Stacks(FAILED_CREATE))
    reasons = deploy_module.failure_reasons(STACK, cloud)
    assert reasons == [f"ReceiveDecision (AWS::Lambda::Function): {REFUSED}",
                       "ValidatePolicy (AWS::Lambda::Function): Resource creation cancelled"]
    message = str(deploy_module.FailedStack(STACK, "ROLLBACK_COMPLETE", reasons, "aws"))
    assert message.startswith(f"The stack {STACK} is ROLLBACK_COMPLETE: its first deploy failed")
    assert "can only delete it" in message and REFUSED in message
    assert "DecisionConcurrency=0" in message  # the cause this account has, and its fix
    assert "`workshop deploy --target aws --replace-failed`" in message and "replace_failed = True" in message
    assert len(message.splitlines()) <= 8  # one screen in a notebook


def test_a_deploy_stops_before_sam_on_a_stack_only_deletion_can_help(monkeypatch):
    stacks = _Stacks(FAILED_CREATE)
    cloud = _Cloud(target="local", cloudformation=stacks)
    cloud.sam_environment = lambda: {}
    monkeypatch.setattr(deploy_module, "check_local_cloud", lambda endpoint: None)
    monkeypatch.setattr(deploy_module, "connect", lambda target, endpoint=None: cloud)
    monkeypatch.setattr(deploy_module, "sam_command", lambda *arguments: ["sam", *arguments])
    monkeypatch.setattr(deploy_module, "deployer_role", lambda cloud, stack_name, given=None: None)
    monkeypatch.setattr(deploy_module, "artifacts_bucket", lambda cloud, stack_name: None)
    ran = []
    monkeypatch.setattr(deploy_module, "_run", lambda command, *args, **kwargs: ran.append(command) or 1)
    with pytest.raises(deploy_module.FailedStack, match="ROLLBACK_COMPLETE"):
        deploy_module.deploy(target="local", endpoint="http://127.0.0.1:1", skip_build=True, stream=_Null())
    assert not ran and not stacks.deleted
    with pytest.raises(deploy_module.DeployError):  # deleted, then sam runs (and fails here: exit 1)
        deploy_module.deploy(target="local", endpoint="http://127.0.0.1:1", skip_build=True, replace_failed=True,
                             stream=_Null())
    assert stacks.deleted and ran and ran[0][0] == "sam"  # sam runs only once the failed stack is gone


def test_the_cli_passes_replace_failed_and_the_decision_concurrency(monkeypatch):
    seen = {}
    monkeypatch.setattr(deploy_module, "deploy", lambda **kwargs: seen.update(kwargs) or {})
    assert deploy_module.main(["--target", "aws", "--replace-failed", "--decision-concurrency", "3"]) == 0
    assert seen["replace_failed"] is True and seen["parameters"]["DecisionConcurrency"] == 3
    deploy_module.main([])
    assert seen["replace_failed"] is False and seen["parameters"]["DecisionConcurrency"] is None


class _Null:
    def write(self, text):
        pass

    def flush(self):
        pass


class _Lambda:
    def __init__(self, total, unreserved, error=None):
        self.total, self.unreserved, self.error = total, unreserved, error

    def get_account_settings(self):
        if self.error:
            raise self.error
        return {"AccountLimit": {"ConcurrentExecutions": self.total, "UnreservedConcurrentExecutions": self.unreserved}}


def test_the_checklist_says_what_a_reservation_needs_and_offers_one_only_where_there_is_room():
    assert reservation_room(10) == 0 and reservation_room(100) == 0 and reservation_room(1000) == 900
    new_account = check_lambda_concurrency(_Cloud(**{"lambda": _Lambda(10, 10)}))
    assert new_account.ok and "No reservation is possible here" in new_account.message
    assert "10 concurrent executions" in new_account.message and "DecisionConcurrency at 0" in new_account.message
    roomy = check_lambda_concurrency(_Cloud(**{"lambda": _Lambda(1000, 995)}))
    assert roomy.ok and "DecisionConcurrency=N, N at most 895 here" in roomy.message
    denied = check_lambda_concurrency(_Cloud(**{"lambda": _Lambda(0, 0, _error("AccessDeniedException"))}))
    assert not denied.ok and denied.warning and "reserves no concurrency by default" in denied.fix


class _Sns:
    def __init__(self, error=None):
        self.error, self.calls = error, []

    def subscribe(self, **kwargs):
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return {"SubscriptionArn": "pending confirmation"}


def test_a_new_confirmation_is_asked_with_subscribe_by_a_principal_the_topic_allows():
    topic = "arn:aws:sns:us-east-1:123456789012:security-orchestrator-AlertTopic-X"
    sns = _Sns()
    said = request_confirmation(_Cloud(sns=sns), {"AlertTopicArn": topic}, "me@my-domain.dev")
    assert sns.calls == [{"TopicArn": topic, "Protocol": "email", "Endpoint": "me@my-domain.dev"}]
    assert "me@my-domain.dev" in said and "2 days" in said
    with pytest.raises(SubscribeDenied) as denied:
        request_confirmation(_Cloud(sns=_Sns(_error("AuthorizationError", "not authorized"))),
                             {"AlertTopicArn": topic}, "me@my-domain.dev")
    text = str(denied.value)
    assert "account root" in text and "AdminPrincipalArns" in text
    assert f"aws sns subscribe --topic-arn {topic} --protocol email --notification-endpoint me@my-domain.dev" in text


class _S3:
    def __init__(self, pages):
        self.pages, self.deleted = pages, []

    def get_paginator(self, name):
        assert name == "list_object_versions"
        return _Pages(self.pages)

    def delete_object(self, **kwargs):
        self.deleted.append(kwargs)


def test_the_clean_up_deletes_every_version_and_delete_marker_by_its_id():
    s3 = _S3([{"Versions": [{"Key": f"{STACK}/a", "VersionId": "1"}, {"Key": f"{STACK}/a", "VersionId": "2"}],
               "DeleteMarkers": [{"Key": f"{STACK}/b", "VersionId": "3"}]},
              {"Versions": [{"Key": f"{STACK}/b", "VersionId": "4"}]}])
    leftovers = Leftovers()
    _delete_artifacts(_Cloud(s3=s3), "sam-bucket", STACK, leftovers)
    assert [d["VersionId"] for d in s3.deleted] == ["1", "2", "3", "4"] and all(d["Bucket"] == "sam-bucket"
                                                                                for d in s3.deleted)
    assert leftovers.removed == [f"2 artifact(s) of {STACK} in s3://sam-bucket/{STACK}/ (4 version(s) and delete "
                                 "marker(s))"]


class _Trails:
    def describe_trails(self, includeShadowTrails):
        key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd"
        return {"trailList": [{"Name": "management-events", "HomeRegion": "us-east-1", "KmsKeyId": key},
                              {"Name": "plain", "HomeRegion": "us-east-1"}]}


def test_a_trails_kms_key_is_listed_with_its_monthly_cost_and_how_to_remove_it():
    leftovers = Leftovers()
    _trail_keys(_Cloud(cloudtrail=_Trails()), leftovers)
    [(what, why, command)] = leftovers.listed
    assert "key/1234abcd" in what and "management-events" in what
    assert "$1.00 a month" in why and "https://aws.amazon.com/kms/pricing/" in why
    assert command.startswith("aws cloudtrail delete-trail --name management-events --region us-east-1 && "
                              "aws kms schedule-key-deletion --key-id arn:aws:kms:us-east-1:123456789012:key/1234abcd")


@pytest.mark.parametrize("target", ["local", "aws"])
def test_sams_shared_bucket_is_left_with_a_way_to_remove_it_that_works_where_the_stack_ran(aws_env, target):
    import json

    import boto3
    from moto import mock_aws

    from workshop.teaching.cleanup import SAM_MANAGED_STACK, remove_leftovers

    template = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}},
                "Outputs": {"SourceBucket": {"Value": {"Ref": "Bucket"}}}}
    with mock_aws():
        clients = {name: boto3.client(name, region_name="us-east-1")
                   for name in ("cloudformation", "s3", "logs", "iam", "sts", "cloudtrail")}
        clients["cloudformation"].create_stack(StackName=SAM_MANAGED_STACK, TemplateBody=json.dumps(template))
        [(what, why, command)] = remove_leftovers(_Cloud(target=target, **clients), STACK).listed
    assert what.startswith(f"SAM's managed stack {SAM_MANAGED_STACK}")
    if target == "local":  # no S3 console there, and a bare `aws` command would go to AWS
        assert "S3 console" not in command and "aws " not in command and "local cloud" in command
    else:
        assert "S3 console" in command and f"aws cloudformation delete-stack --stack-name {SAM_MANAGED_STACK}" in command


class _Refusing:
    """An S3 client that answers HeadBucket with `code` (and says who asked)."""

    def __init__(self, code):
        self.code, self.asked = code, []

    def head_bucket(self, **kwargs):
        self.asked.append(kwargs)
        raise _error(self.code, "refused")


def test_the_deploy_uses_the_owners_artifacts_bucket_when_this_account_has_it(aws_env):
    import boto3
    from moto import mock_aws

    from workshop.aws.deploy import DeployError, artifacts_bucket

    with mock_aws():
        clients = {"s3": boto3.client("s3", region_name="us-east-1"),
                   "sts": boto3.client("sts", region_name="us-east-1")}
        assert artifacts_bucket(_Cloud(**clients), STACK) is None  # no owner's bucket: sam's --resolve-s3
        clients["s3"].create_bucket(Bucket=f"{STACK}-artifacts-123456789012")
        assert artifacts_bucket(_Cloud(**clients), STACK) == f"{STACK}-artifacts-123456789012"
        # a bucket of that name that is not this account's (or not readable): never written to, and said so
        refusing = _Refusing("403")
        refused = rf"{STACK}-artifacts-123456789012 cannot be used \(S3 answered 403\)"
        with pytest.raises(DeployError, match=refused) as error:
            artifacts_bucket(_Cloud(s3=refusing, sts=clients["sts"]), STACK)
        assert "policies/deployer-role.yaml" in str(error.value)
        assert refusing.asked == [{"Bucket": f"{STACK}-artifacts-123456789012", "ExpectedBucketOwner": "123456789012"}]


@pytest.mark.parametrize("target", ["local", "aws"])
def test_the_clean_up_lists_the_artifacts_in_the_owners_bucket_and_deletes_none(aws_env, target):
    import boto3
    from moto import mock_aws

    from workshop.teaching.cleanup import remove_leftovers

    bucket = f"{STACK}-artifacts-123456789012"
    with mock_aws():
        clients = {name: boto3.client(name, region_name="us-east-1")
                   for name in ("cloudformation", "s3", "logs", "iam", "sts", "cloudtrail")}
        clients["s3"].create_bucket(Bucket=bucket)
        clients["s3"].put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for key in ("a.zip", "b.zip", "template.yaml"):
            clients["s3"].put_object(Bucket=bucket, Key=f"{STACK}/{key}", Body=b"x")
        clients["s3"].put_object(Bucket=bucket, Key="another-stack/a.zip", Body=b"x")
        leftovers = remove_leftovers(_Cloud(target=target, **clients), STACK)
        left = clients["s3"].list_object_versions(Bucket=bucket)["Versions"]
    assert len(left) == 4 and not leftovers.removed
    [(what, why, command)] = leftovers.listed
    assert what == f"3 artifact(s) of {STACK} in s3://{bucket}/{STACK}/"
    assert "account owner's bucket" in why and "restricts" in why
    if target == "local":
        assert "local cloud" in command and "aws " not in command
    else:
        assert "account owner" in command and bucket in command and "every version" in command


def test_artifacts_the_caller_may_not_delete_from_sams_bucket_are_listed_not_a_failure():
    class _RefusingDeletes(_S3):
        def delete_object(self, **kwargs):
            raise _error("AccessDenied", "not authorized to perform: s3:DeleteObjectVersion")

    leftovers = Leftovers()
    s3 = _RefusingDeletes([{"Versions": [{"Key": f"{STACK}/a", "VersionId": "1"}]}])
    _delete_artifacts(_Cloud(s3=s3), "sam-bucket", STACK, leftovers)
    [(what, why, command)] = leftovers.listed
    assert f"s3://sam-bucket/{STACK}/" in what and "restricts" in why and not leftovers.removed


# --- the reconciliation scan never takes the deployer's own rights away ---------------------------------------


class _Caller:
    def __init__(self, arn):
        self.arn = arn

    def get_caller_identity(self):
        return {"Arn": self.arn, "Account": "123456789012"}


class _NoStack:
    def describe_stacks(self, StackName):
        raise _error("ValidationError", f"Stack with id {StackName} does not exist")


class _Stack:
    def __init__(self, admins):
        self.admins = admins

    def describe_stacks(self, StackName):
        return {"Stacks": [{"Parameters": [{"ParameterKey": "AdminPrincipalArns", "ParameterValue": self.admins}]}]}


@pytest.mark.parametrize("caller, named", [
    ("arn:aws:sts::123456789012:assumed-role/Admin/alice@example.org",
     ["arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:role/*/Admin"]),
    ("arn:aws:iam::123456789012:user/alice", ["arn:aws:iam::123456789012:user/alice"]),
    ("arn:aws:iam::123456789012:root", []),
])
def test_the_deployer_is_named_as_iam_names_the_principal(caller, named):
    assert deploy_module.admin_patterns(caller) == named


def test_a_first_deploy_without_admins_names_the_deployer_and_says_so(capsys):
    import sys
    parameters = {"EmailAddress": "me@my-domain.org"}
    cloud = _Cloud(sts=_Caller("arn:aws:sts::123456789012:assumed-role/Admin/alice"), cloudformation=_NoStack())
    deploy_module.keep_the_deployer_an_admin(cloud, STACK, parameters, sys.stdout)
    assert parameters["AdminPrincipalArns"] == ("arn:aws:iam::123456789012:role/Admin,"
                                                "arn:aws:iam::123456789012:role/*/Admin")
    assert "names you (arn:aws:iam::123456789012:role/Admin)" in capsys.readouterr().out


@pytest.mark.parametrize("given, deployed", [("arn:aws:iam::123456789012:role/Ops", None),
                                             (None, "arn:aws:iam::123456789012:role/Ops")])
def test_admins_given_or_deployed_are_kept_as_they_are(given, deployed, capsys):
    import sys
    parameters = {"AdminPrincipalArns": given} if given else {}
    cloud = _Cloud(sts=_Caller("arn:aws:iam::123456789012:user/alice"),
                   cloudformation=_Stack(deployed) if deployed else _NoStack())
    deploy_module.keep_the_deployer_an_admin(cloud, STACK, parameters, sys.stdout)
    assert parameters.get("AdminPrincipalArns") == given and capsys.readouterr().out == ""


def test_a_notebook_shows_which_bucket_and_role_the_deploy_uses_and_logs_the_rest(tmp_path):
    import io

    shown = io.StringIO()
    log = deploy_module.NotebookLog(shown, tmp_path)
    log.write("$ sam build --template-file template.yaml\n")
    log.write("Building codeuri: src/functions/ask_user\n")
    log.write("Build Succeeded\n")
    log.write(f"Artifacts go to the account owner's bucket s3://{STACK}-artifacts-123456789012/{STACK}/ "
              "(policies/deployer-role.yaml).\n")
    log.write(f"CloudFormation deploys as the service role arn:aws:iam::123456789012:role/{STACK}-deployer.\n")
    log.close()
    text = shown.getvalue()
    assert f"Artifacts go to the account owner's bucket s3://{STACK}-artifacts-123456789012/{STACK}/" in text
    assert f"role/{STACK}-deployer" in text and "Build Succeeded" in text
    assert "Building codeuri" not in text and "Building codeuri" in (tmp_path / "sam-build.log").read_text()
