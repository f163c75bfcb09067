"""The server process: start, health, the port-taken message, clean stop, named executions."""

import json
import os
import subprocess
import sys
import time

import pytest

from local_clients import cloud_client
from workshop.localcloud import clear_mailbox, read_mailbox
from workshop.localcloud.server import process


def test_it_answers_health(cloud):
    doc = cloud.health()
    assert doc["status"] == "ready" and doc["port"] == cloud.port
    assert cloud.start_seconds < 10


def test_a_taken_port_is_named_with_a_hint(cloud):
    result = subprocess.run([sys.executable, "-m", "workshop.localcloud", "up", "--port", str(cloud.port)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"port {cloud.port}" in result.stderr and "--port" in result.stderr


def test_executions_without_a_name_do_not_collide(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    machine = sfn.create_state_machine(
        name="unnamed", roleArn="arn:aws:iam::123456789012:role/r",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert first != second


def test_the_mailbox_route(cloud):
    sns = cloud_client(cloud, "sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")
    clear_mailbox(cloud.endpoint)
    sns.publish(TopicArn=topic, Subject="S", Message="M")
    assert [(m["to"], m["subject"], m["body"]) for m in read_mailbox(cloud.endpoint)] == [("a@example.com", "S", "M")]
    sns.publish(TopicArn=topic, Subject="S2", Message="M2")
    # a reader that has read one message asks only for what came after it
    assert [m["subject"] for m in read_mailbox(cloud.endpoint, since=1)] == ["S2"]
    assert read_mailbox(cloud.endpoint, since=2) == [] and read_mailbox(cloud.endpoint, since=9) == []
    assert clear_mailbox(cloud.endpoint) == 2 and read_mailbox(cloud.endpoint) == []


@pytest.mark.parametrize("since", ["-1", "x", "1.5", "\u0661"])
def test_the_mailbox_refuses_a_since_that_is_not_a_count(cloud, since):
    import urllib.error
    import urllib.parse
    import urllib.request

    from workshop.localcloud.services.mailbox import _request

    request = _request(cloud.endpoint, query="since=" + urllib.parse.quote(since))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert "since must be a whole number of messages" in json.loads(refused.value.read())["message"]


def test_an_iam_write_reaches_a_rule_target(cloud):
    iam, events, sqs = cloud_client(cloud, "iam"), cloud_client(cloud, "events"), cloud_client(cloud, "sqs")
    queue = sqs.create_queue(QueueName="trail")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="iam", EventPattern=json.dumps({"source": ["aws.iam"]}))
    events.put_targets(Rule="iam", Targets=[{"Id": "q", "Arn": arn}])
    iam.create_policy(PolicyName="p1", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    with pytest.raises(Exception):
        iam.create_policy(PolicyName="p1", PolicyDocument="{}")  # refused: emits nothing
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1
    assert json.loads(messages[0]["Body"])["detail"]["eventName"] == "CreatePolicy"


def test_stopping_ends_the_process_and_its_workers():
    cloud = process.LocalCloud().start()
    pid = cloud.proc.pid
    cloud.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert process.port_is_free(cloud.port)


def test_it_stops_by_itself_when_its_parent_is_gone():
    port = process.free_port()
    code = ("import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', 'workshop.localcloud', 'up', "
            f"'--port', '{port}', '--parent-pid', str(__import__('os').getpid())], "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid, flush=True)")
    parent = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    child = int(parent.stdout.split()[0])
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, 9)
        pytest.fail("the local cloud outlived the process that started it")


def _trail_queue(cloud, rule):
    events, sqs = cloud_client(cloud, "events"), cloud_client(cloud, "sqs")
    queue = sqs.create_queue(QueueName=rule)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.iam"],
                                                        "detail": {"eventName": ["PutUserPolicy"]}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    return sqs, queue


@pytest.mark.parametrize("signing", ["header", "presigned"])
def test_an_iam_write_sent_as_get_emits_its_cloudtrail_event(cloud, signing):
    """IAM's query API accepts GET: a write sent that way is a write all the same."""
    from urllib.parse import urlencode

    import urllib3
    from botocore.auth import SigV4Auth, SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    sqs, queue = _trail_queue(cloud, f"get-{signing}")
    cloud_client(cloud, "iam").create_user(UserName=f"u-{signing}")
    document = json.dumps({"Version": "2012-10-17",
                           "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})
    params = {"Action": "PutUserPolicy", "Version": "2010-05-08", "UserName": f"u-{signing}",
              "PolicyName": "via-get", "PolicyDocument": document}
    request = AWSRequest(method="GET", url=f"{cloud.endpoint}/?{urlencode(params)}")
    keys = Credentials(cloud.credentials.access_key_id, cloud.credentials.secret_access_key)
    (SigV4Auth if signing == "header" else SigV4QueryAuth)(keys, "iam", "us-east-1").add_auth(request)
    prepared = request.prepare()
    answer = urllib3.request("GET", prepared.url, headers=dict(prepared.headers))
    assert answer.status == 200, answer.data
    assert cloud_client(cloud, "iam").get_user_policy(UserName=f"u-{signing}", PolicyName="via-get")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    assert len(messages) == 1
    detail = json.loads(messages[0]["Body"])["detail"]
    assert detail["eventName"] == "PutUserPolicy"
    assert detail["requestParameters"] == {"userName": f"u-{signing}", "policyName": "via-get",
                                           "policyDocument": document}


def test_the_server_imports_jsonschema_without_the_slow_iri_checker(tmp_path):
    """API Gateway brings in jsonschema; its optional IRI checker (rfc3987-syntax) builds Earley parsers at
    import, seconds of every local cloud's start, for a format the local cloud never checks."""
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log, process.LocalCloud(log_file=log, extra_env={"PYTHONPROFILEIMPORTTIME": "1"}) as cloud:
        cloud_client(cloud, "apigateway").get_rest_apis()
    imported = {line.rsplit("|", 1)[-1].strip() for line in log_path.read_text().splitlines()
                if line.startswith("import time:")}
    assert {"moto.apigateway", "jsonschema"} <= imported, "the request did not reach moto's API Gateway"
    # An import stopped by the server is still listed (at a few microseconds); its parsers' module is not.
    assert "rfc3987_syntax.syntax_helpers" not in imported
