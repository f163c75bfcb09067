"""CloudFormation resources and template features SAM applications use, created as AWS documents them."""

import json
import re

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from stacks import deploy
from state_machines import finished, history

ROLE = "arn:aws:iam::123456789012:role/state-machine-role"
YAML_DEFINITION = """\
Comment: a definition file in YAML
StartAt: Greet
States:
  Greet:
    Type: Pass
    Result:
      greeting: ${Greeting}
    End: true
"""


@pytest.fixture(scope="module")
def clients(shared_cloud):
    return {name: shared_cloud.client(name) for name in ("cloudformation", "stepfunctions", "s3", "lambda",
                                                         "events", "apigateway")}


def test_a_yaml_definition_file_is_deployed_and_an_unnamed_machine_is_named_after_its_logical_id(clients):
    """AWS (aws-resource-stepfunctions-statemachine.html): DefinitionS3Location names a definition file in
    JSON or YAML; without StateMachineName, CloudFormation names the machine LogicalId-<random suffix>."""
    clients["s3"].create_bucket(Bucket="definitions")
    clients["s3"].put_object(Bucket="definitions", Key="greet.asl.yaml", Body=YAML_DEFINITION.encode())
    stack = deploy(clients["cloudformation"], {"Resources": {"Greeter": {
        "Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "RoleArn": ROLE, "DefinitionS3Location": {"Bucket": "definitions", "Key": "greet.asl.yaml"},
            "DefinitionSubstitutions": {"Greeting": "hello"}}}},
        "Outputs": {"Arn": {"Value": {"Ref": "Greeter"}}}}, prefix="yaml-definition")
    arn = stack["Outputs"]["Arn"]
    assert re.fullmatch(r"Greeter-[A-Za-z0-9]{12}", arn.rsplit(":", 1)[1]), arn
    described = clients["stepfunctions"].describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"])["States"]["Greet"]["Result"] == {"greeting": "hello"}


def test_a_buckets_eventbridge_notification_set_in_the_template_sends_object_created(shared_cloud, clients):
    """AWS (aws-properties-s3-bucket-notificationconfiguration.html, EventBridge.html in the S3 guide):
    EventBridgeConfiguration {EventBridgeEnabled: true} sends the bucket's events to the default bus, where
    a rule on source aws.s3 / detail-type "Object Created" receives them."""
    sqs = shared_cloud.client("sqs")
    queue = sqs.create_queue(QueueName="object-created")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack = deploy(clients["cloudformation"], {"Resources": {
        "Uploads": {"Type": "AWS::S3::Bucket", "Properties": {
            "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}}},
        "Created": {"Type": "AWS::Events::Rule", "Properties": {
            "EventPattern": {"source": ["aws.s3"], "detail-type": ["Object Created"]},
            "Targets": [{"Id": "queue", "Arn": queue_arn}]}}},
        "Outputs": {"Bucket": {"Value": {"Ref": "Uploads"}}}}, prefix="s3-events")
    bucket = stack["Outputs"]["Bucket"]
    clients["s3"].put_object(Bucket=bucket, Key="in/report.csv", Body=b"a,b\n")
    messages = []
    for _ in range(20):
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            break
    event = json.loads(messages[0]["Body"])
    assert event["detail-type"] == "Object Created"
    assert event["detail"]["bucket"]["name"] == bucket and event["detail"]["object"]["key"] == "in/report.csv"


API_SNIPPET = """\
openapi: "3.0.1"
info: {title: included-api, version: "1"}
paths:
  /hello:
    get:
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates: {application/json: '{"statusCode": 200}'}
"""


def test_an_aws_include_inside_resource_properties_is_replaced_by_its_snippet(clients):
    """AWS (create-reusable-transform-function-snippets-and-add-to-your-template-with-aws-include-transform.html):
    Fn::Transform with Name AWS::Include puts the YAML or JSON snippet at Location (an S3 URI) in its place;
    a snippet that cannot be read fails the request."""
    clients["s3"].create_bucket(Bucket="snippets")
    clients["s3"].put_object(Bucket="snippets", Key="api.yaml", Body=API_SNIPPET.encode())
    include = {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://snippets/api.yaml"}}}
    stack = deploy(clients["cloudformation"], {"Resources": {"Api": {
        "Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": include}}},
        "Outputs": {"Api": {"Value": {"Ref": "Api"}}}}, prefix="include")
    api = clients["apigateway"].get_rest_api(restApiId=stack["Outputs"]["Api"])
    assert api["name"] == "included-api"
    paths = [r["path"] for r in clients["apigateway"].get_resources(restApiId=api["id"])["items"]]
    assert "/hello" in paths
    missing = {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://snippets/none.yaml"}}}
    with pytest.raises(ClientError, match="AWS::Include"):
        clients["cloudformation"].create_stack(StackName="include-missing", TemplateBody=json.dumps(
            {"Resources": {"Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": missing}}}}))


def test_an_activity_made_by_cloudformation_gives_its_task_to_a_polling_worker(shared_cloud, clients):
    """AWS (aws-resource-stepfunctions-activity.html, concepts-activities.html): Ref is the activity's ARN;
    an execution reaching the activity's Task waits until a worker's GetActivityTask takes the task
    ({taskToken, input}); the worker's heartbeat and SendTaskSuccess answer it."""
    stack = deploy(clients["cloudformation"], {"Resources": {
        "Review": {"Type": "AWS::StepFunctions::Activity", "Properties": {"Name": "manual-review"}},
        "Flow": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "RoleArn": ROLE, "DefinitionString": {"Fn::Sub": json.dumps({"StartAt": "Review", "States": {
                "Review": {"Type": "Task", "Resource": "${Review}", "HeartbeatSeconds": 30,
                           "Parameters": {"document.$": "$.document"}, "End": True}}})}}}},
        "Outputs": {"Activity": {"Value": {"Ref": "Review"}}, "Name": {"Value": {"Fn::GetAtt": ["Review", "Name"]}},
                    "Flow": {"Value": {"Ref": "Flow"}}}}, prefix="activity")
    activity = stack["Outputs"]["Activity"]
    assert activity.endswith(":activity:manual-review") and stack["Outputs"]["Name"] == "manual-review"
    sfn = shared_cloud.client("stepfunctions", config=Config(read_timeout=70))
    execution = sfn.start_execution(stateMachineArn=stack["Outputs"]["Flow"],
                                    input=json.dumps({"document": "d-1"}))["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="reviewer-1")
    assert json.loads(task["input"]) == {"document": "d-1"}
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"approved": True}))
    described = finished(sfn, execution)
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"approved": True}
    started = [e for e in history(sfn, execution) if e["type"] == "ActivityStarted"]
    assert started[0]["activityStartedEventDetails"]["workerName"] == "reviewer-1"
