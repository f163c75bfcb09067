"""The engine's service calls with real sockets and a real server: HTTP once detached, the guard passed."""

import json

import pytest
from botocore.exceptions import EndpointConnectionError

from local_clients import cloud_client
from state_machines import finished
from workshop.localcloud.server import inprocess, process
from workshop.localcloud.server.authentication import engine_caller


def test_once_detached_the_same_client_goes_over_http():
    """The other half of tests/unit/localcloud/test_inprocess.py's attached app: a real HTTP call."""
    port = process.free_port()  # nothing listens there: an HTTP call could only fail
    served = []

    def app(environ, start_response):
        served.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"Functions": []}']

    inprocess.attach(app)
    try:
        client = inprocess.client("lambda", "eu-west-1", f"http://127.0.0.1:{port}",
                                  engine_caller("arn:aws:iam::123456789012:role/machine-role"))
        assert client.list_functions()["Functions"] == [] and len(served) == 1
        inprocess.detach()
        with pytest.raises(EndpointConnectionError):
            client.list_functions()
        assert len(served) == 1
    finally:
        inprocess.detach()
        inprocess.reset()


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
    described = finished(sfn, execution, timeout=30)
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


def test_a_shared_client_sent_over_http_is_refused(cloud):
    """Its placeholder key and zero signature are what a stolen or replayed in-process call would carry."""
    from botocore.exceptions import ClientError

    inprocess.detach()
    try:
        for service, call in (("dynamodb", "list_tables"), ("lambda", "list_functions")):
            client = inprocess.client(service, "us-east-1", cloud.endpoint,
                                      engine_caller("arn:aws:iam::123456789012:role/machine-role"))
            with pytest.raises(ClientError) as refused:
                getattr(client, call)()
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403), refused.value
            assert inprocess.PLACEHOLDER_KEY in str(refused.value)
    finally:
        inprocess.reset()
