"""The AWS-like mode of the local cloud, and the kit's AWS target running against it.

Each behaviour the mode imitates (workshop/localcloud/aws_like.py names the AWS
page) is checked first as AWS's API shows it, then the kit's answer to it on
the AWS target: the trail check, the e-mail that must be confirmed, TestState
with the state machine's role, IAM's lag after CreatePolicy, the AWS waits,
a new account's Lambda concurrency (a first deploy that failed, replaced),
the lag of a new state machine definition (notebook 06's timeout demo).
The account limits and lags on their own: tests/functional/test_aws_like_mode.py.
"""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cloud_fixtures import AWS_EMAIL, AWS_LIKE_STACK, TRAIL, confirm_subscriptions, local_client

from workshop.aws import deploy as deploy_module
from workshop.teaching.builder import StackValuesUnreadable, StateMachineBuilder, stack_substitutions, try_state
from workshop.localcloud import health, read_mailbox
from workshop.localcloud.aws_like import CONFIRMATION_SUBJECT
from workshop.teaching.setup_check import check_setup, check_trail

pytestmark = pytest.mark.e2e

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                              "Resource": "*"}]})
STATES_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "states.amazonaws.com"}}]}
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "lambda.amazonaws.com"}}]}


def _name(kind="t"):
    return f"{kind}-{uuid.uuid4().hex[:8]}"


def _eventually(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


# --- 1. CloudTrail -> EventBridge: only through a logging trail, and late ---------------------------------


@pytest.fixture
def iam_events(aws_like_cloud):
    """An SQS queue that receives every CreatePolicy event the default bus gets (an EventBridge rule)."""
    sqs, events = local_client(aws_like_cloud, "sqs"), local_client(aws_like_cloud, "events")
    queue = sqs.create_queue(QueueName=_name("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = _name("rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.iam"], "detail": {
        "eventName": ["CreatePolicy"]}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])

    def received(policy_name):
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            detail = json.loads(message["Body"])["detail"]
            if detail["requestParameters"]["policyName"] == policy_name:
                return detail
        return None

    yield received
    events.remove_targets(Rule=rule, Ids=["q"])
    events.delete_rule(Name=rule)


def test_a_logging_trail_delivers_iam_events_late(aws_like_cloud, iam_events):
    name = _name("policy")
    local_client(aws_like_cloud, "iam").create_policy(PolicyName=name, PolicyDocument=POLICY)
    time.sleep(0.3)
    assert iam_events(name) is None, "delivered at once: the mode waits 2-4 s as CloudTrail does"
    detail = _eventually(lambda: iam_events(name))
    assert detail and detail["eventName"] == "CreatePolicy" and detail["eventSource"] == "iam.amazonaws.com"


@pytest.mark.parametrize("breakage", ["stopped", "write events not selected", "global events left out"])
def test_without_a_trail_that_records_iam_writes_nothing_arrives(aws_like_cloud, iam_events, breakage):
    trails = local_client(aws_like_cloud, "cloudtrail")
    dropped_before = health(aws_like_cloud)["like_aws"]["dropped_events"]
    if breakage == "stopped":
        trails.stop_logging(Name=TRAIL)
    elif breakage == "write events not selected":
        trails.put_event_selectors(TrailName=TRAIL, EventSelectors=[
            {"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}])
    else:
        trails.update_trail(Name=TRAIL, IncludeGlobalServiceEvents=False)
    try:
        name = _name("policy")
        local_client(aws_like_cloud, "iam").create_policy(PolicyName=name, PolicyDocument=POLICY)
        assert health(aws_like_cloud)["like_aws"]["dropped_events"] == dropped_before + 1
        if breakage == "stopped":  # and nothing comes later either (once is enough: the same drop)
            time.sleep(3.5)  # longer than the longest delay
            assert iam_events(name) is None
    finally:
        trails.start_logging(Name=TRAIL)
        trails.put_event_selectors(TrailName=TRAIL, EventSelectors=[
            {"ReadWriteType": "All", "IncludeManagementEvents": True}])
        trails.update_trail(Name=TRAIL, IncludeGlobalServiceEvents=True)


def test_a_trail_whose_bucket_lacks_cloudtrails_policy_is_refused_as_aws_refuses_it(aws_like_cloud, aws_target):
    from workshop.aws.trail import bucket_policy, create_trail

    s3, trails = local_client(aws_like_cloud, "s3"), local_client(aws_like_cloud, "cloudtrail")
    bare, other = _name("bare"), _name("other")
    s3.create_bucket(Bucket=bare)
    with pytest.raises(ClientError) as refused:
        trails.create_trail(Name=_name("trail"), S3BucketName=bare, IsMultiRegionTrail=True)
    assert refused.value.response["Error"]["Code"] == "InsufficientS3BucketPolicyException"
    assert refused.value.response["Error"]["Message"] == f"Incorrect S3 bucket policy is detected for bucket: {bare}"
    s3.create_bucket(Bucket=other)  # CloudTrail's policy, but for another trail (aws:SourceArn)
    s3.put_bucket_policy(Bucket=other, Policy=json.dumps(bucket_policy(other, "123456789012", "someone-else")))
    with pytest.raises(ClientError, match="InsufficientS3BucketPolicyException"):
        trails.create_trail(Name=_name("trail"), S3BucketName=other)
    with pytest.raises(ClientError, match="InsufficientS3BucketPolicyException"):  # moving a trail there too
        trails.update_trail(Name=TRAIL, S3BucketName=bare)
    made = create_trail(aws_target, name=_name("made"))  # `workshop trail create`: bucket, policy, trail, logging
    try:
        assert trails.get_trail_status(Name=made.name)["IsLogging"]
        assert json.loads(s3.get_bucket_policy(Bucket=made.bucket)["Policy"]) == bucket_policy(
            made.bucket, "123456789012", made.name)
    finally:
        trails.delete_trail(Name=made.name)


def test_waiting_for_an_incident_checks_the_trail_first_and_says_why_at_once(aws_like_cloud, aws_target):
    from workshop.aws.iam_changes import execution_started_by, fire_policy, unique_policy_name
    from workshop.aws.trail import NoTrailLogging

    trails = local_client(aws_like_cloud, "cloudtrail")
    trails.stop_logging(Name=TRAIL)
    try:
        fired = fire_policy(aws_target, ROOT / "policies" / "goodpolicy.json", name=unique_policy_name("untrailed"))
        started = time.monotonic()
        with pytest.raises(NoTrailLogging) as said:
            execution_started_by(aws_target, "arn:aws:states:us-east-1:123456789012:stateMachine:any", fired)
        assert time.monotonic() - started < 30  # not the 7 minutes a delivered event may take
        assert f"the trail {TRAIL} is not logging" in str(said.value)
        assert f"aws cloudtrail start-logging --name {TRAIL}" in str(said.value)
    finally:
        trails.start_logging(Name=TRAIL)


def test_the_aws_checklist_finds_the_trail_or_says_how_to_make_one(aws_like_cloud, aws_target):
    trails = local_client(aws_like_cloud, "cloudtrail")
    assert check_trail(aws_target).ok
    trails.stop_logging(Name=TRAIL)
    try:
        check = check_trail(aws_target)
        assert not check.ok and not check.warning and "is not logging" in check.message
        assert f"aws cloudtrail start-logging --name {TRAIL} --region us-east-1" in check.fix
        report = check_setup("aws", stack_name="no-such-stack", email=AWS_EMAIL, tools=())
        assert not report.ok and report.title == "AWS checklist"
    finally:
        trails.start_logging(Name=TRAIL)
    report = check_setup("aws", stack_name="no-such-stack", email=AWS_EMAIL, tools=())
    assert report.ok, report.text()
    names = [c.name for c in report.checks]
    assert names[:5] == ["region", "AWS account", "CloudTrail trail", "approval e-mail", "permissions"]


def test_a_profile_in_another_region_is_a_warning_and_every_call_stays_in_us_east_1(aws_target, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    report = check_setup("aws", stack_name="no-such-stack", email=AWS_EMAIL, tools=())
    region = report.checks[0]
    assert region.name == "region" and region.warning and "eu-west-1" in region.message
    assert report.ok, "a region elsewhere must not stop the workshop"
    assert aws_target.client("iam").meta.region_name == "us-east-1"
    assert aws_target.sam_environment()["AWS_REGION"] == "us-east-1"


# --- 2. SNS e-mail: pending until the recipient confirms ---------------------------------------------------


def _confirmation_link(endpoint, address):
    for message in read_mailbox(endpoint):
        if message["subject"] == CONFIRMATION_SUBJECT and message["to"] == address:
            return next(word for word in message["body"].split() if "/_localcloud/sns/confirmation?" in word)
    return None


def test_an_email_subscription_waits_for_its_confirmation_link(aws_like_cloud):
    sns = local_client(aws_like_cloud, "sns")
    topic = sns.create_topic(Name=_name("topic"))["TopicArn"]
    address = f"{_name('someone')}@security-orchestrator.dev"
    assert sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)["SubscriptionArn"] == \
        "pending confirmation"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == ["PendingConfirmation"]
    sns.publish(TopicArn=topic, Subject="lost", Message="sent while pending")
    assert not [m for m in read_mailbox(aws_like_cloud) if m["to"] == address and m["subject"] == "lost"]

    link = _confirmation_link(aws_like_cloud, address)
    assert link and "Token=" in link
    forged = link.split("Token=")[0] + "Token=" + "0" * 128 + "&" + link.split("&", 2)[-1]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 400
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]] == \
        ["PendingConfirmation"]

    with urllib.request.urlopen(link, timeout=10) as page:  # no key: the link is public, as on AWS
        assert "Subscription confirmed" in page.read().decode()
    confirmed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]["SubscriptionArn"]
    assert confirmed.startswith(topic + ":")
    assert sns.get_subscription_attributes(SubscriptionArn=confirmed)["Attributes"]["PendingConfirmation"] == "false"
    sns.publish(TopicArn=topic, Subject="kept", Message="sent once confirmed")
    assert [m for m in read_mailbox(aws_like_cloud) if m["to"] == address and m["subject"] == "kept"]
    with pytest.raises(urllib.error.HTTPError):  # a token works once
        urllib.request.urlopen(link, timeout=10)


def test_confirm_subscription_needs_the_token(aws_like_cloud):
    sns = local_client(aws_like_cloud, "sns")
    topic = sns.create_topic(Name=_name("topic"))["TopicArn"]
    address = f"{_name('api')}@security-orchestrator.dev"
    sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint=address)
    with pytest.raises(ClientError, match="InvalidParameter"):
        sns.confirm_subscription(TopicArn=topic, Token="not-the-token")
    token = _confirmation_link(aws_like_cloud, address).split("Token=")[1].split("&")[0]
    arn = sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"]
    assert arn.startswith(topic + ":")


# --- 3. TestState assumes the role it is given ------------------------------------------------------------


def test_teststate_checks_the_role_as_step_functions_does(aws_like_cloud):
    iam = local_client(aws_like_cloud, "iam")
    sfn = local_client(aws_like_cloud, "stepfunctions", config=Config(inject_host_prefix=False))
    good, lambda_only = _name("sm-role"), _name("fn-role")
    iam.create_role(RoleName=good, AssumeRolePolicyDocument=json.dumps(STATES_TRUST))
    iam.create_role(RoleName=lambda_only, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
    time.sleep(0.6)  # past IAM's lag
    state = json.dumps({"Type": "Pass", "End": True})
    account = "123456789012"
    with pytest.raises(ClientError, match="ValidationException"):
        sfn.test_state(definition=state)  # no role and no mock
    for role in (f"arn:aws:iam::{account}:role/{_name('missing')}", f"arn:aws:iam::{account}:role/{lambda_only}",
                 f"arn:aws:iam::999999999999:role/{good}"):
        with pytest.raises(ClientError) as refused:
            sfn.test_state(definition=state, roleArn=role)
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError, match="InvalidArn"):
        sfn.test_state(definition=state, roleArn="not-an-arn")
    assert sfn.test_state(definition=state, roleArn=f"arn:aws:iam::{account}:role/{good}")["status"] == "SUCCEEDED"
    task = json.dumps({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True})
    assert sfn.test_state(definition=task, mock={"result": "{}"})["status"] == "SUCCEEDED"  # a mock needs no role


def test_try_state_reports_access_denied_as_a_permission_problem(aws_like_cloud, aws_target):
    builder = StateMachineBuilder(start_at="P")
    builder.add("P", {"Type": "Pass", "Result": {"ok": True}, "End": True})
    builder.role_arn = "arn:aws:iam::123456789012:role/not-assumable-by-states"
    result = try_state(aws_target, builder, "P", {})
    assert "permission problem" in result.note and "iam:PassRole" in result.note
    assert "does not offer the TestState API" not in result.note
    assert result.source == "offline" and result.response["status"] == "SUCCEEDED"


# --- 4. IAM is eventually consistent ----------------------------------------------------------------------


def test_reads_right_after_a_creation_miss_it_and_the_kit_reads_again(aws_like_cloud, aws_target):
    from workshop.aws.iam_changes import fire_policy, policy_versions

    iam = local_client(aws_like_cloud, "iam")
    arn = iam.create_policy(PolicyName=_name("lag"), PolicyDocument=POLICY)["Policy"]["Arn"]
    with pytest.raises(ClientError) as missing:
        iam.get_policy(PolicyArn=arn)
    assert missing.value.response["Error"]["Code"] == "NoSuchEntity"
    time.sleep(0.6)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Arn"] == arn

    fired = fire_policy(aws_target, ROOT / "policies" / "goodpolicy.json", name=_name("workshop-lag"))
    versions = policy_versions(aws_target.client("iam"), fired.arn)  # at once: the kit retries NoSuchEntity
    assert versions.ids() == ["v1"]


# --- the AWS target's session and its deploy ----------------------------------------------------------------


def test_the_aws_target_goes_to_the_test_endpoint_only_with_its_key(aws_like_cloud, aws_target, monkeypatch):
    client = aws_target.client("sts")
    assert client.meta.endpoint_url == aws_like_cloud
    monkeypatch.setenv("WORKSHOP_AWS_REHEARSAL", "http://198.51.100.7:4566")
    from workshop.aws.session import connect

    with pytest.raises(ValueError, match="only a local cloud on this machine"):
        connect("aws")


def test_on_aws_the_email_must_be_real_and_a_redeploy_keeps_the_deployed_one(aws_like_cloud, aws_like_stack,
                                                                                  aws_target, sam_build):
    log = io.StringIO()
    for address in ("learner@example.com", "me@test", ""):
        with pytest.raises(deploy_module.DeployError, match="EmailAddress"):
            deploy_module.deploy(target="aws", stack_name=_name("new-stack"), parameters={"EmailAddress": address},
                                 build_dir=sam_build.parent, skip_build=True, stream=log)
    # notebook 01 without WORKSHOP_EMAIL, after a deploy from the CLI with a real address
    deploy_module.deploy(target="aws", stack_name=AWS_LIKE_STACK, parameters={"EmailAddress": None},
                         build_dir=sam_build.parent, skip_build=True, stream=log)
    assert deploy_module.deployed_parameter(aws_target, AWS_LIKE_STACK, "EmailAddress") == AWS_EMAIL
    assert "Confirm the SNS subscription now" in log.getvalue() and AWS_EMAIL in log.getvalue()


def test_a_new_account_with_a_concurrency_of_10_recovers_a_failed_first_deploy_with_replace_failed(
        aws_like_cloud, aws_like_stack, aws_target):
    from workshop.localcloud.aws_like import RESERVATION_REFUSED
    from workshop.teaching.setup_check import check_lambda_concurrency

    first = aws_like_stack["first_try"]  # DecisionConcurrency=5, what the template reserved by default
    assert isinstance(first, deploy_module.FailedStack) and first.status == "ROLLBACK_COMPLETE", first
    assert RESERVATION_REFUSED in str(first) and "DecisionConcurrency=0" in str(first) and "--replace-failed" in str(first)
    assert "deleting it before deploying again" in aws_like_stack["deploy_log"]
    assert deploy_module.stack_status(aws_target, AWS_LIKE_STACK) in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    settings = aws_target.client("lambda").get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == settings["UnreservedConcurrentExecutions"] == 10  # nothing reserved
    assert "No reservation is possible here" in check_lambda_concurrency(aws_target).message
    resources = aws_target.client("cloudformation").describe_stack_resources(StackName=AWS_LIKE_STACK)["StackResources"]
    api = next(r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::ApiGateway::RestApi")
    # the throttled, logged stage only: no "Stage" stage beside it
    assert [stage["stageName"] for stage in aws_target.client("apigateway").get_stages(restApiId=api)["item"]] == ["Prod"]


def test_the_subscription_status_says_confirm_it_until_it_is_confirmed(aws_like_cloud, aws_like_stack, aws_target):
    from workshop.aws.mail import subscription_status
    from workshop.display import show

    status = subscription_status(aws_target, aws_like_stack)
    assert status.pending == [AWS_EMAIL] and not status.ok
    assert "Confirm the SNS subscription now" in show(status)._repr_html_()
    assert any("Subscription confirmed" in page for page in confirm_subscriptions(aws_like_cloud))
    status = subscription_status(aws_target, aws_like_stack)
    assert status.ok and status.confirmed == [AWS_EMAIL]


def test_stack_substitutions_on_aws_raise_instead_of_using_stand_ins(aws_like_cloud, aws_like_stack, aws_target):
    subs = stack_substitutions(aws_target, aws_like_stack["StateMachineArn"])
    assert AWS_LIKE_STACK in subs["ValidatePolicyArn"] and subs.role_arn.startswith("arn:aws:iam::")
    with pytest.raises(StackValuesUnreadable, match="could not be read"):
        stack_substitutions(aws_target, aws_like_stack["StateMachineArn"] + "-gone")
    iam = local_client(aws_like_cloud, "iam")
    role = _name("other-machine")
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(STATES_TRUST))["Role"]["Arn"]
    other = local_client(aws_like_cloud, "stepfunctions").create_state_machine(
        name=_name("other"), roleArn=role_arn,
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    with pytest.raises(StackValuesUnreadable, match="ValidatePolicyArn"):
        stack_substitutions(aws_target, other)


def test_try_state_uses_the_state_machines_own_role(aws_like_stack, aws_target):
    subs = stack_substitutions(aws_target, aws_like_stack["StateMachineArn"])
    builder = StateMachineBuilder(start_at="P", substitutions=subs)
    builder.add("P", {"Type": "Pass", "Parameters": {"topic": "${AlertTopicArn}"}, "End": True})
    result = try_state(aws_target, builder, "P", {})
    assert result.source == "target" and result.note is None
    assert json.loads(result.response["output"]) == {"topic": aws_like_stack["AlertTopicArn"]}


def test_an_incident_on_the_aws_target_waits_for_cloudtrail_and_reaches_the_human(aws_like_stack, aws_target):
    from workshop.aws.iam_changes import fire_policy
    from workshop.display.incidents import watch_incident

    fired = fire_policy(aws_target, ROOT / "policies" / "badpolicy.json", name=_name("workshop-bad"))
    assert "--endpoint-url" not in fired.cli and fired.cli.startswith("aws --region us-east-1 iam create-policy")
    run = watch_incident(aws_target, aws_like_stack["StateMachineArn"], fired, until="AskUser")
    assert run.path()[-1] == "AskUser" and "TempRemove" in run.path()


def test_the_timeout_demo_and_the_missing_policy_need_no_cloudtrail_timing(aws_like_cloud, aws_like_stack,
                                                                               aws_target):
    from workshop.aws.executions import wait_for_end
    from workshop.aws.iam_changes import malformed_policy_event, missing_policy_event, start_with_event
    from workshop.teaching.approval_timeout import approval_timeout_demo

    machine = aws_like_stack["StateMachineArn"]
    # The mode runs the previous definition for 3 s after UpdateStateMachine: only a version is sure to run the
    # 2 s limit. No trail logs meanwhile (as on AWS, where CloudTrail's own execution comes minutes later), so
    # the demo's execution is the only one and cannot lean on CloudTrail's.
    trails = local_client(aws_like_cloud, "cloudtrail")
    trails.stop_logging(Name=TRAIL)
    try:
        timed_out = approval_timeout_demo(aws_target, machine, ROOT / "policies" / "badpolicy.json", seconds=2)
    finally:
        trails.start_logging(Name=TRAIL)
    assert timed_out.path()[-2:] == ["NotifyTimeout", "ApprovalTimedOut"], timed_out.path()
    from workshop.teaching.approval_timeout import time_limits

    assert time_limits(aws_target.client("stepfunctions").describe_state_machine_for_execution(
        executionArn=timed_out.arn)["definition"]) == [2]
    definition = json.loads(aws_target.client("stepfunctions").describe_state_machine(stateMachineArn=machine)[
        "definition"])
    assert "'86400'" in definition["States"]["ModifyState"]["Parameters"]["approvalTimeoutSeconds.$"]

    event = missing_policy_event(aws_target)
    assert event["account"] == "123456789012" and "workshop-missing-policy-" in event["detail"]["requestParameters"][
        "policyName"]
    nothing = wait_for_end(aws_target, start_with_event(aws_target, machine, event), timeout=60)
    assert nothing.status == "SUCCEEDED" and nothing.path()[-1] == "ReportGone"  # IAM holds no such policy: told, not judged
    failed = wait_for_end(aws_target, start_with_event(aws_target, machine, malformed_policy_event(aws_target)),
                          timeout=60)
    assert failed.status == "FAILED" and failed.statuses()["TempRemove"] == "caught_error"
    assert "InvalidTarget" in json.dumps(failed.events, default=str)
