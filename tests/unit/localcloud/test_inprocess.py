"""The engine's service calls: shared clients per role, served in-process as the state machine's role."""

import json

import pytest
from botocore.exceptions import EndpointConnectionError

from local_clients import cloud_client
from workshop.localcloud.server import inprocess, process
from workshop.localcloud.server.authentication import IN_PROCESS_CALLER, engine_caller

ROLE = "arn:aws:iam::123456789012:role/machine-role"


@pytest.fixture
def key():
    yield engine_caller(ROLE)
    inprocess.detach()
    inprocess.reset()


class Recorder:
    """A WSGI app that answers every call with an empty Lambda ListFunctions result."""

    def __init__(self):
        self.seen = []

    def __call__(self, environ, start_response):
        self.seen.append({k: v for k, v in environ.items() if isinstance(v, str) or k == IN_PROCESS_CALLER})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"Functions": []}']


def test_the_attached_app_serves_the_call_without_a_socket(key):
    port = process.free_port()  # nothing listens there: an HTTP call could only fail
    endpoint = f"http://127.0.0.1:{port}"
    app = Recorder()
    inprocess.attach(app)
    client = inprocess.client("lambda", "eu-west-1", endpoint, key)
    assert client.list_functions()["Functions"] == []
    seen = app.seen[0]
    assert seen["HTTP_HOST"] == f"127.0.0.1:{port}"  # the guard's own host name
    assert seen[IN_PROCESS_CALLER] is key  # the state machine's role, unsigned: no HTTP request can say so
    assert f"Credential={inprocess.PLACEHOLDER_KEY}/" in seen["HTTP_AUTHORIZATION"]  # a key no server accepts
    assert "/eu-west-1/lambda/aws4_request" in seen["HTTP_AUTHORIZATION"]
    assert seen["PATH_INFO"] == "/2015-03-31/functions" and seen["REQUEST_METHOD"] == "GET"

    inprocess.detach()  # without an app the same client goes over HTTP
    with pytest.raises(EndpointConnectionError):
        client.list_functions()


def test_a_percent_encoded_path_reaches_the_app_decoded_as_a_server_would(key):
    app = Recorder()
    inprocess.attach(app)
    s3 = inprocess.client("s3", "us-east-1", "http://127.0.0.1:9", key)
    try:
        s3.get_object(Bucket="items", Key="in put/a+b.json")
    except Exception:  # the recorder does not answer S3's shape
        pass
    seen = app.seen[-1]
    assert seen["PATH_INFO"] == "/items/in put/a+b.json"  # path-style: the Host stays the local cloud's
    assert seen["RAW_URI"].startswith("/items/in%20put/a%2Bb.json")
    assert seen["HTTP_HOST"] == "127.0.0.1:9"


def test_clients_are_made_once_per_service_region_and_role(key):
    endpoint = "http://127.0.0.1:9"
    first = inprocess.client("lambda", "us-east-1", endpoint, key)
    assert inprocess.client("lambda", "us-east-1", endpoint, engine_caller(ROLE)) is first
    assert inprocess.client("lambda", "eu-west-1", endpoint, key) is not first
    assert inprocess.client("lambda", "us-east-1", endpoint, engine_caller(ROLE + "-other")) is not first


def test_the_engine_factory_is_where_moto_builds_its_clients():
    """Fails loudly if moto moves the function every engine integration gets its client from."""
    import inspect

    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client

    from workshop.localcloud.services.stepfunctions import engine

    module, name = engine.engine_client_seam()
    assert module is boto_client and name == "boto_client_for"
    assert list(inspect.signature(getattr(module, name)).parameters) == ["region", "service", "state_credentials"]
    assert "boto_client_for" in lambda_eval_utils.__dict__  # imported by name: replaced there too


def test_the_engines_iam_call_passes_the_guard_and_is_in_cloudtrail(cloud):
    """An aws-sdk:iam task, served in-process, unsigned, as the state machine's role (IAM evaluates it so):
    CloudTrail records it as the role's session, as AWS records a state machine's calls."""
    iam, events, sqs, sfn = (cloud_client(cloud, s) for s in ("iam", "events", "sqs", "stepfunctions"))
    role = iam.create_role(RoleName="engine-iam-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName="engine-iam-role", PolicyName="create", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:CreatePolicy", "Resource": "*"}]}))
    queue = sqs.create_queue(QueueName="engine-trail")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="engine-iam", EventPattern=json.dumps({"source": ["aws.iam"],
                                                                "detail": {"eventName": ["CreatePolicy"]}}))
    events.put_targets(Rule="engine-iam", Targets=[{"Id": "q", "Arn": queue_arn}])
    document = json.dumps({"Version": "2012-10-17",
                           "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    machine = sfn.create_state_machine(
        name="engine-iam", roleArn=role,
        definition=json.dumps({"StartAt": "Create", "States": {"Create": {
            "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iam:createPolicy",
            "Parameters": {"PolicyName": "made-by-the-engine", "PolicyDocument": document}, "End": True}}}),
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    described = _finished(sfn, execution)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["Policy"]["PolicyName"] == "made-by-the-engine"
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    details = [json.loads(m["Body"])["detail"] for m in messages]
    assert [d["requestParameters"]["policyName"] for d in details] == ["made-by-the-engine"]
    identity = details[0]["userIdentity"]
    assert identity["type"] == "AssumedRole" and identity["sessionContext"]["sessionIssuer"]["arn"] == role
    assert identity["arn"].startswith("arn:aws:sts::123456789012:assumed-role/engine-iam-role/") \
        and "accessKeyId" not in identity
    assert details[0]["sourceIPAddress"] == details[0]["userAgent"] == "states.amazonaws.com"
    assert iam.get_policy(PolicyArn=json.loads(described["output"])["Policy"]["Arn"])


def _finished(sfn, execution_arn, timeout=30):
    import time

    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)
