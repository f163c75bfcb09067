"""CloudTrail events come from the IAM model, whatever wrote it, and carry key ids but never a secret.

On a real local cloud: CloudFormation's own IAM writes (a stack's role, its inline
and managed policies) are recorded as AWS records them, `invokedBy` CloudFormation,
as the caller or as the stack's service role; a Lambda function's write names its
key id, and no secret or session token reaches an event, an execution history,
an e-mail, the health answer, an error or the server's log.
"""

from __future__ import annotations

import json
import time
from urllib.parse import unquote

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from cloud_fixtures import logged_cloud
from lambda_packages import zip_package
from signing import presigned, signed_headers
from workshop.localcloud import read_mailbox
from workshop.localcloud.server.credentials import Credentials

ACCOUNT = "123456789012"
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    with logged_cloud(tmp_path_factory.mktemp("cloudtrail"), verbose=True) as running:  # request lines logged
        yield running


@pytest.fixture(scope="module")
def cloud(logged):
    return logged[0]


def _trail(cloud, name, pattern=None):
    """A queue that receives the IAM events of the default bus (as a rule target does)."""
    sqs, events = cloud.client("sqs"), cloud.client("events")
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern or {"source": ["aws.iam"]}))
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    return sqs, queue


def _received(sqs, queue, expected, timeout=10) -> list[dict]:
    found, deadline = [], time.monotonic() + timeout
    while len(found) < expected and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []):
            found.append(json.loads(message["Body"])["detail"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return found


def _template(role_name: str) -> str:
    return json.dumps({"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {
            "RoleName": role_name, "AssumeRolePolicyDocument": TRUST, "ManagedPolicyArns": [READ_ONLY],
            "Policies": [{"PolicyName": "inline", "PolicyDocument": POLICY}]}},
        "Managed": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "ManagedPolicyName": f"{role_name}-managed", "PolicyDocument": POLICY, "Roles": [{"Ref": "Role"}]}},
    }})


def test_a_stacks_role_gets_its_managed_policies_and_each_iam_write_is_in_cloudtrail(cloud):
    sqs, queue = _trail(cloud, "stack-writes")
    cloudformation, iam = cloud.client("cloudformation"), cloud.client("iam")
    cloudformation.create_stack(StackName="roles", TemplateBody=_template("stack-role"),
                                Capabilities=["CAPABILITY_NAMED_IAM"])
    attached = iam.list_attached_role_policies(RoleName="stack-role")["AttachedPolicies"]
    assert {p["PolicyArn"] for p in attached} == {READ_ONLY, f"arn:aws:iam::{ACCOUNT}:policy/stack-role-managed"}
    # the inline policy is JSON text, as IAM holds it (botocore reads it back into the document)
    assert iam.get_role_policy(RoleName="stack-role", PolicyName="inline")["PolicyDocument"] == POLICY
    details = _received(sqs, queue, 5)
    assert sorted(d["eventName"] for d in details) == sorted(
        ["CreateRole", "PutRolePolicy", "AttachRolePolicy", "CreatePolicy", "AttachRolePolicy"])
    for detail in details:
        identity = detail["userIdentity"]
        assert identity["invokedBy"] == detail["sourceIPAddress"] == detail["userAgent"] == \
            "cloudformation.amazonaws.com"
        assert identity["type"] == "Root" and identity["accessKeyId"] == cloud.credentials.access_key_id
    inline = next(d for d in details if d["eventName"] == "PutRolePolicy")
    assert inline["requestParameters"]["roleName"] == "stack-role"
    assert json.loads(inline["requestParameters"]["policyDocument"]) == POLICY
    cloudformation.delete_stack(StackName="roles")  # its managed policies detached first, as CloudFormation does
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.get_role(RoleName="stack-role")
    _received(sqs, queue, 10, timeout=2)  # the deletion's own events

    # with a service role (`--role-arn`), CloudFormation writes as that role's session
    deployer = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    _received(sqs, queue, 1)  # the deployer role's own CreateRole, by the learner
    cloudformation.create_stack(StackName="roles-by-a-role", TemplateBody=_template("other-role"), RoleARN=deployer,
                                Capabilities=["CAPABILITY_NAMED_IAM"])
    details = _received(sqs, queue, 5)
    assert len(details) == 5
    for detail in details:
        identity = detail["userIdentity"]
        assert identity["type"] == "AssumedRole" and identity["invokedBy"] == "cloudformation.amazonaws.com"
        assert identity["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/AWSCloudFormation"
        assert identity["sessionContext"]["sessionIssuer"]["arn"] == deployer


def test_a_rule_a_stack_makes_after_its_role_does_not_receive_the_roles_events(cloud):
    """Each of CloudFormation's IAM writes is told when it is made, not once the whole stack is made."""
    sqs = cloud.client("sqs")
    queue = sqs.create_queue(QueueName="late-rule")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    template = json.loads(_template("before-the-rule"))
    template["Resources"]["Rule"] = {"Type": "AWS::Events::Rule", "DependsOn": ["Role", "Managed"], "Properties": {
        "EventPattern": {"source": ["aws.iam"]}, "Targets": [{"Id": "q", "Arn": arn}]}}
    cloud.client("cloudformation").create_stack(StackName="role-then-rule", TemplateBody=json.dumps(template),
                                                Capabilities=["CAPABILITY_NAMED_IAM"])
    assert _received(sqs, queue, 1, timeout=2) == []
    cloud.client("iam").put_role_policy(RoleName="before-the-rule", PolicyName="later", PolicyDocument=json.dumps(POLICY))
    assert [d["eventName"] for d in _received(sqs, queue, 1)] == ["PutRolePolicy"]  # the rule does work


def test_an_iam_write_sent_presigned_is_in_cloudtrail(cloud):
    from signing import presigned

    sqs, queue = _trail(cloud, "presigned-writes")
    url = presigned(cloud.credentials, "GET", cloud.endpoint + "/?Action=CreatePolicy&Version=2010-05-08"
                    "&PolicyName=presigned-write&PolicyDocument=" + requests.utils.quote(json.dumps(POLICY)))
    assert requests.get(url, timeout=30).status_code == 200
    [detail] = _received(sqs, queue, 1)
    assert detail["eventName"] == "CreatePolicy" and detail["requestParameters"]["policyName"] == "presigned-write"


LEAKY = """
import os, boto3

def handler(event, context):
    boto3.client("iam").create_policy(PolicyName=event["name"], PolicyDocument=event["document"])
    return {name: os.environ[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
"""


def test_no_secret_reaches_an_event_a_history_an_email_the_health_answer_an_error_or_the_log(logged):
    cloud, log_path = logged
    iam, lam, sfn, sns, events = (cloud.client(s) for s in ("iam", "lambda", "stepfunctions", "sns", "events"))
    sqs, queue = _trail(cloud, "leaks", {"source": ["aws.iam"], "detail": {"eventName": ["CreatePolicy"]}})
    topic = sns.create_topic(Name="leaks")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="admin@example.com")
    # one role for the function, the machine and the rule's target, each service trusted and each call granted
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {
        "Service": ["lambda.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com"]}}]}
    role = iam.create_role(RoleName="leaky", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    _grant(iam, "leaky", "iam:CreatePolicy", "sns:Publish", "states:StartExecution")
    # the event goes on as the orchestrator's does: into an execution, and from it into an e-mail
    machine = sfn.create_state_machine(name="leaks", roleArn=role, definition=json.dumps(
        {"StartAt": "Mail", "States": {"Mail": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                                                "Parameters": {"TopicArn": topic, "Message.$": "$"}, "End": True}}}))[
        "stateMachineArn"]
    events.put_targets(Rule="leaks", Targets=[{"Id": "machine", "Arn": machine, "RoleArn": role}])
    lam.create_function(FunctionName="leaky", Runtime="python3.13", Role=role, Handler="app.handler",
                        Code={"ZipFile": zip_package({"app.py": LEAKY})}, Timeout=30)
    answer = lam.invoke(FunctionName="leaky", Payload=json.dumps({"name": "by-a-function",
                                                                  "document": json.dumps(POLICY)}))
    own = json.loads(answer["Payload"].read())  # the function's credentials, as its own code sees them
    assert "FunctionError" not in answer, own
    [detail] = _received(sqs, queue, 1)
    assert detail["userIdentity"]["accessKeyId"] == own["AWS_ACCESS_KEY_ID"]  # the key id: no secret, as on AWS
    assert detail["userIdentity"]["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/leaky/leaky"

    # a refused request that carried the function's token: its error shows the canonical request, not the token
    worker = Credentials(cloud.endpoint, own["AWS_ACCESS_KEY_ID"], "not-its-secret")
    body = b"Action=ListUsers&Version=2010-05-08"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = requests.post(cloud.endpoint + "/", data=body, timeout=30, headers={**form, **signed_headers(
        worker, "POST", cloud.endpoint + "/", body, "iam", form, token=own["AWS_SESSION_TOKEN"])})
    assert refused.status_code == 403 and "SignatureDoesNotMatch" in refused.text

    executions = _executions(sfn, machine)
    history = [sfn.get_execution_history(executionArn=e["executionArn"]) for e in executions]
    deadline = time.monotonic() + 10
    while not read_mailbox(cloud.endpoint) and time.monotonic() < deadline:
        time.sleep(0.1)
    places = {"event": json.dumps(detail), "history": json.dumps(history, default=str),
              "mailbox": json.dumps(read_mailbox(cloud.endpoint)), "health": json.dumps(cloud.health()),
              "error": refused.text, "log": log_path.read_text(errors="replace")}
    assert "by-a-function" in places["history"] and "by-a-function" in places["mailbox"]
    secrets = {"the function's secret": own["AWS_SECRET_ACCESS_KEY"], "its session token": own["AWS_SESSION_TOKEN"],
               "the per-start secret": cloud.credentials.secret_access_key}
    leaks = [f"{what} in the {where}" for where, text in places.items() for what, secret in secrets.items()
             if secret in text]
    assert not leaks


def test_a_presigned_urls_token_and_signature_stay_out_of_the_servers_request_log(logged):
    cloud, log_path = logged
    cloud.client("iam").create_role(RoleName="presigner", AssumeRolePolicyDocument=json.dumps(TRUST))
    _grant(cloud.client("iam"), "presigner", "iam:ListRoles", "s3:GetObject")
    made = cloud.client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/presigner",
                                           RoleSessionName="presigner")["Credentials"]
    session = Credentials(cloud.endpoint, made["AccessKeyId"], made["SecretAccessKey"])
    sigv4 = presigned(session, "GET", cloud.endpoint + "/?Action=ListRoles&Version=2010-05-08", "iam",
                      token=made["SessionToken"])
    cloud.client("s3").create_bucket(Bucket="presigned-logs")
    cloud.client("s3").put_object(Bucket="presigned-logs", Key="object", Body=b"shared")
    s3 = boto3.client("s3", endpoint_url=cloud.endpoint, region_name="us-east-1", aws_access_key_id=made["AccessKeyId"],
                      aws_secret_access_key=made["SecretAccessKey"], aws_session_token=made["SessionToken"],
                      config=Config(s3={"addressing_style": "path"}))
    sigv2 = s3.generate_presigned_url("get_object", Params={"Bucket": "presigned-logs", "Key": "object"})
    assert "Signature=" in sigv2 and "X-Amz-Signature" not in sigv2  # boto3's default S3 form: SigV2
    for url in (sigv4, sigv2):
        answer = requests.get(url, timeout=30)
        assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 10
    while "/presigned-logs/object?" not in log_path.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.1)
    log = unquote(log_path.read_text(errors="replace"))  # as the URLs' own quoting left them, or not
    assert "Action=ListRoles" in log and "/presigned-logs/object?" in log  # the request lines are there
    signatures = [unquote(url.split("Signature=")[1].split("&")[0]) for url in (sigv4, sigv2)]
    shown = [value for value in (made["SessionToken"], *signatures) if value in log]
    assert not shown


def _grant(iam, role_name: str, *actions: str) -> None:
    """What the role's calls need: IAM evaluates them as the role's, as on AWS."""
    iam.put_role_policy(RoleName=role_name, PolicyName="its-calls", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}))


def _executions(sfn, machine, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        found = sfn.list_executions(stateMachineArn=machine)["executions"]
        if (found and all(e["status"] != "RUNNING" for e in found)) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_refused_iam_write_changes_nothing_and_emits_nothing(cloud):
    sqs, queue = _trail(cloud, "refused-writes")
    stranger = cloud.client("iam", aws_secret_access_key="not-the-secret", config=Config(retries={"max_attempts": 0}))
    with pytest.raises(ClientError):
        stranger.create_policy(PolicyName="never-made", PolicyDocument=json.dumps(POLICY))
    with pytest.raises(ClientError):
        cloud.client("iam").put_role_policy(RoleName="no-such-role", PolicyName="p", PolicyDocument=json.dumps(POLICY))
    assert _received(sqs, queue, 1, timeout=2) == []


def test_an_inline_policy_a_stack_makes_reads_back_as_json_text(cloud):
    """IAM keeps a document as JSON text; moto kept CloudFormation's parsed object and answered its repr."""
    from urllib.parse import unquote

    from botocore.handlers import json_decode_policies

    cloud.client("cloudformation").create_stack(StackName="json-roles", TemplateBody=_template("json-role"),
                                                Capabilities=["CAPABILITY_NAMED_IAM"])
    iam = cloud.client("iam")
    iam.meta.events.unregister("after-call.iam", json_decode_policies)  # the text, as IAM answers it
    [name] = iam.list_role_policies(RoleName="json-role")["PolicyNames"]
    text = unquote(iam.get_role_policy(RoleName="json-role", PolicyName=name)["PolicyDocument"])
    assert json.loads(text) == POLICY
