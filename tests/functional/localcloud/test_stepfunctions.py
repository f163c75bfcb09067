"""Step Functions in the local cloud: the engine's patches, each against a real local cloud (their seams: tests/unit)."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from local_clients import cloud_client
from state_machines import finished
from waiting_executions import waiting_machine
from workshop.localcloud.services.stepfunctions import engine

ROLE = "arn:aws:iam::123456789012:role/r"


@pytest.fixture(scope="module")
def cloud(cloud):
    """The local cloud with the role the module's machines run as: the engine's calls are authorized as that
    role's session, as on AWS, and these tests are about the engine, not about what a role is granted."""
    iam = cloud_client(cloud, "iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "states.amazonaws.com"}}]}))
    iam.put_role_policy(RoleName="r", PolicyName="everything", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    return cloud


def machine(sfn, name, definition, **kwargs):
    return sfn.create_state_machine(name=name, roleArn=ROLE, definition=json.dumps(definition),
                                    **kwargs)["stateMachineArn"]


def history(sfn, execution_arn):
    return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


# --- one program per definition -------------------------------------------------------------

RETRYING = {"StartAt": "Get", "States": {"Get": {
    "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iam:getRole",
    "Parameters": {"RoleName": "no-such-role"},
    "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1}],
    "End": True}}}


def test_concurrent_executions_of_a_shared_program_keep_their_own_retry_counts(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    arn = machine(sfn, "shared-retries", RETRYING)
    with ThreadPoolExecutor(6) as pool:
        executions = list(pool.map(lambda _: sfn.start_execution(stateMachineArn=arn)["executionArn"], range(6)))
    for execution in executions:
        assert finished(sfn, execution)["status"] == "FAILED"
        attempts = [e for e in history(sfn, execution) if e["type"] == "TaskScheduled"]
        assert len(attempts) == 3  # the first try and two retries, for each execution


def test_executions_of_one_definition_share_one_program_with_its_heap_keys_made():
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    text = json.dumps(RETRYING)
    program = engine.shared_program(text)
    assert engine.shared_program(text) is program
    assert engine.shared_program(json.dumps(RETRYING, indent=1)) is not program
    made = []

    def visit(item, seen=set()):
        if id(item) in seen:
            return
        seen.add(id(item))
        if isinstance(item, EvalComponent):
            made.append(item.__dict__.get("_EvalComponent__heap_key"))
        if isinstance(item, (list, tuple)):
            for child in item:
                visit(child)
        elif hasattr(item, "__dict__") and type(item).__module__.startswith("moto.stepfunctions"):
            for child in vars(item).values():
                visit(child)

    visit(program)
    # made before sharing: two executions making one lazily could each get another key
    assert made and all(made)


# --- aws-sdk results -------------------------------------------------------------------------


def test_an_sdk_result_with_timestamps_is_described_with_aws_text(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    iam = cloud_client(cloud, "iam")
    iam.create_role(RoleName="dated", AssumeRolePolicyDocument="{}")
    arn = machine(sfn, "sdk-dates", {"StartAt": "Get", "States": {"Get": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iam:getRole",
        "Parameters": {"RoleName": "dated"}, "End": True}}})
    described = finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert described["status"] == "SUCCEEDED"
    created = json.loads(described["output"])["Role"]["CreateDate"]
    assert isinstance(created, str) and created.endswith("Z") and created[10] == "T"


# --- GetExecutionHistory ---------------------------------------------------------------------

PASSES = {"StartAt": "P0", "States": {**{f"P{i}": {"Type": "Pass", "Next": f"P{i + 1}"} for i in range(9)},
                                      "P9": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def long_history(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine(sfn, "history-pages", PASSES),
                                    input=json.dumps({"secret": "s"}))["executionArn"]
    assert finished(sfn, execution)["status"] == "SUCCEEDED"
    return sfn, execution


def test_history_pages_with_max_results_and_next_token(long_history):
    sfn, execution = long_history
    everything = sfn.get_execution_history(executionArn=execution)["events"]
    assert len(everything) == 22 and "nextToken" not in sfn.get_execution_history(executionArn=execution)
    first = sfn.get_execution_history(executionArn=execution, maxResults=5)
    assert [e["id"] for e in first["events"]] == [1, 2, 3, 4, 5] and first["nextToken"]
    second = sfn.get_execution_history(executionArn=execution, maxResults=5, nextToken=first["nextToken"])
    assert [e["id"] for e in second["events"]] == [6, 7, 8, 9, 10]
    pages = list(sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution, PaginationConfig={"PageSize": 4}))
    assert [len(p["events"]) for p in pages] == [4, 4, 4, 4, 4, 2]
    assert [e["id"] for p in pages for e in p["events"]] == list(range(1, 23))


def test_history_in_reverse_order(long_history):
    sfn, execution = long_history
    newest = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=3)
    assert [e["id"] for e in newest["events"]] == [22, 21, 20]
    assert newest["events"][0]["type"] == "ExecutionSucceeded"
    older = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=3,
                                      nextToken=newest["nextToken"])
    assert [e["id"] for e in older["events"]] == [19, 18, 17]
    every = [e["id"] for p in sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution, reverseOrder=True, PaginationConfig={"PageSize": 7}) for e in p["events"]]
    assert every == list(range(22, 0, -1))


def test_history_without_execution_data(long_history):
    sfn, execution = long_history
    events = sfn.get_execution_history(executionArn=execution, includeExecutionData=False)["events"]
    started = events[0]["executionStartedEventDetails"]
    assert "input" not in started and started["roleArn"] == ROLE
    assert "secret" not in json.dumps(events, default=str)
    assert "secret" in json.dumps(sfn.get_execution_history(executionArn=execution)["events"], default=str)


def test_a_token_of_another_request_is_refused(long_history, cloud):
    sfn, execution = long_history
    token = sfn.get_execution_history(executionArn=execution, maxResults=2)["nextToken"]
    for bad in ({"nextToken": "garbage"}, {"nextToken": token, "reverseOrder": True}):
        with pytest.raises(ClientError) as caught:
            sfn.get_execution_history(executionArn=execution, maxResults=2, **bad)
        assert caught.value.response["Error"]["Code"] == "InvalidToken"


# --- task tokens ----------------------------------------------------------------------------


def _waiting(sfn, cloud, name, timeout=None):
    """An execution waiting on a task token (an SQS message carries it); (execution, token)."""
    return waiting_machine(sfn, cloud_client(cloud, "sqs"), name=name, timeout_seconds=timeout,
                           then={"After": {"Type": "Pass", "End": True}}, role_arn=ROLE).start()


def test_a_second_answer_right_after_the_first_is_refused(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    execution, token = _waiting(sfn, cloud, "answered-once")
    sfn.send_task_success(taskToken=token, output='{"answer": 1}')
    for late in (lambda: sfn.send_task_success(taskToken=token, output='{"answer": 2}'),
                 lambda: sfn.send_task_failure(taskToken=token, error="Late"),
                 lambda: sfn.send_task_heartbeat(taskToken=token)):
        with pytest.raises(ClientError) as caught:
            late()
        assert caught.value.response["Error"]["Code"] == "TaskTimedOut"
        assert "does not exist anymore" in caught.value.response["Error"]["Message"]
    described = finished(sfn, execution)
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"answer": 1}
    with pytest.raises(ClientError) as caught:  # and after the execution ended
        sfn.send_task_success(taskToken=token, output='{"answer": 3}')
    assert caught.value.response["Error"]["Code"] == "TaskTimedOut"


def test_of_two_answers_sent_at_once_exactly_one_is_taken(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    for round_ in range(3):
        execution, token = _waiting(sfn, cloud, f"answer-race-{round_}")

        def answer(n):
            try:
                sfn.send_task_success(taskToken=token, output=json.dumps({"answer": n}))
                return n
            except ClientError as refused:
                assert refused.response["Error"]["Code"] == "TaskTimedOut"
                return None

        with ThreadPoolExecutor(4) as pool:
            taken = [n for n in pool.map(answer, range(4)) if n is not None]
        assert len(taken) == 1
        assert json.loads(finished(sfn, execution)["output"]) == {"answer": taken[0]}


def test_an_invalid_definition_answers_invalid_definition(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    with pytest.raises(ClientError) as caught:
        sfn.create_state_machine(name="broken", roleArn=ROLE, definition='{"StartAt": "X", "States": {}}')
    assert caught.value.response["Error"]["Code"] == "InvalidDefinition"


# --- Lambda: ExecutedVersion and the SDK metadata ------------------------------------------------

ECHO = "def handler(event, context):\n    return {'echo': event}\n"


def python_function(cloud, name: str, source: str, **kwargs) -> str:
    """A python3.13 function with `source` as app.py; its ARN."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    role = cloud_client(cloud, "iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return cloud_client(cloud, "lambda").create_function(
        FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()}, **kwargs)["FunctionArn"]


@pytest.fixture(scope="module")
def echo_function(cloud):
    arn = python_function(cloud, "echo", ECHO, Publish=True)
    lam = cloud_client(cloud, "lambda")
    lam.create_alias(FunctionName="echo", Name="live", FunctionVersion="1")
    return arn


def test_lambda_invoke_names_the_version_that_ran(cloud, echo_function):
    lam = cloud_client(cloud, "lambda")
    assert lam.invoke(FunctionName="echo", Payload=b"{}")["ExecutedVersion"] == "$LATEST"
    assert lam.invoke(FunctionName="echo", Qualifier="1", Payload=b"{}")["ExecutedVersion"] == "1"
    assert lam.invoke(FunctionName="echo", Qualifier="live", Payload=b"{}")["ExecutedVersion"] == "1"


def test_a_lambda_invoke_task_returns_what_aws_returns(cloud, echo_function):
    sfn = cloud_client(cloud, "stepfunctions")
    arn = machine(sfn, "lambda-metadata", {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": echo_function, "Payload.$": "$"}, "End": True}}})
    output = json.loads(finished(sfn, sfn.start_execution(stateMachineArn=arn, input='{"n": 1}')["executionArn"])["output"])
    assert list(output) == ["ExecutedVersion", "Payload", "SdkHttpMetadata", "SdkResponseMetadata", "StatusCode"]
    assert output["ExecutedVersion"] == "$LATEST" and output["StatusCode"] == 200
    assert output["Payload"] == {"echo": {"n": 1}}
    meta = output["SdkHttpMetadata"]
    assert meta["HttpStatusCode"] == 200
    headers = meta["HttpHeaders"]
    for name in ("Connection", "Content-Length", "Content-Type", "Date", "X-Amz-Executed-Version",
                 "x-amzn-Remapped-Content-Length", "x-amzn-RequestId", "X-Amzn-Trace-Id"):
        assert name in headers, name
    assert headers["X-Amz-Executed-Version"] == "$LATEST" and headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(json.dumps({"echo": {"n": 1}}, separators=(",", ":"))) or \
        int(headers["Content-Length"]) > 0
    assert meta["AllHttpHeaders"] == {name: [value] for name, value in headers.items()}
    assert output["SdkResponseMetadata"] == {"RequestId": headers["x-amzn-RequestId"]}


def test_an_sns_publish_task_carries_the_sdk_metadata_too(cloud):
    sfn, sns = cloud_client(cloud, "stepfunctions"), cloud_client(cloud, "sns")
    topic = sns.create_topic(Name="metadata")["TopicArn"]
    arn = machine(sfn, "sns-metadata", {"StartAt": "Say", "States": {"Say": {
        "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {"TopicArn": topic, "Message": "hello"}, "End": True}}})
    output = json.loads(finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])["output"])
    assert set(output) == {"MessageId", "SdkHttpMetadata", "SdkResponseMetadata"}
    assert output["SdkHttpMetadata"]["HttpStatusCode"] == 200


# --- API Gateway ----------------------------------------------------------------------------------

PROXY = '''import json
def handler(event, context):
    headers = {k.lower(): v for k, v in (event["headers"] or {}).items()}
    status = 201 if event["httpMethod"] == "POST" else 200
    if event["path"].endswith("/missing"):
        status = 404
    return {"statusCode": status, "headers": {"x-answer": "yes"},
            "body": json.dumps({"method": event["httpMethod"], "path": event["path"],
                                "query": event["multiValueQueryStringParameters"], "body": event["body"],
                                "key": headers.get("key")})}
'''


@pytest.fixture(scope="module")
def rest_api(cloud):
    function = python_function(cloud, "proxy", PROXY)
    apigw = cloud_client(cloud, "apigateway")
    api = apigw.create_rest_api(name="bills")["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/")
    proxy = apigw.create_resource(restApiId=api, parentId=root, pathPart="{proxy+}")["id"]
    apigw.put_method(restApiId=api, resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=proxy, httpMethod="ANY", type="AWS_PROXY",
                          integrationHttpMethod="POST",
                          uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function}/invocations")
    apigw.create_deployment(restApiId=api, stageName="prod")
    return api


def _invoke_api(sfn, name, parameters):
    arn = machine(sfn, name, {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::apigateway:invoke", "Parameters": parameters, "End": True}}})
    return finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])


def test_apigateway_invoke_calls_the_local_stage(cloud, rest_api):
    sfn = cloud_client(cloud, "stepfunctions")
    described = _invoke_api(sfn, "apigw-post", {
        "ApiEndpoint": f"{rest_api}.execute-api.us-east-1.amazonaws.com", "Method": "POST", "Stage": "prod",
        "Path": "bills/add", "Headers": {"key": ["v1"]}, "QueryParameters": {"billId": ["123", "456"]},
        "RequestBody": {"billId": "my-new-bill"}, "AuthType": "NO_AUTH"})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert list(output) == ["Headers", "ResponseBody", "StatusCode", "StatusText"]
    assert output["StatusCode"] == 201 and output["StatusText"] == "Created"
    assert output["Headers"]["x-answer"] == ["yes"]
    assert output["ResponseBody"] == {"method": "POST", "path": "/bills/add", "query": {"billId": ["123", "456"]},
                                      "body": '{"billId": "my-new-bill"}', "key": "v1"}


def test_apigateway_invoke_fails_with_the_status_as_aws_names_it(cloud, rest_api):
    sfn = cloud_client(cloud, "stepfunctions")
    endpoint = f"{rest_api}.execute-api.us-east-1.amazonaws.com"
    missing = _invoke_api(sfn, "apigw-404", {"ApiEndpoint": endpoint, "Method": "GET", "Stage": "prod",
                                             "Path": "bills/missing"})
    assert missing["status"] == "FAILED" and missing["error"] == "ApiGateway.404"
    assert json.loads(missing["cause"])["path"] == "/bills/missing"
    no_stage = _invoke_api(sfn, "apigw-stage", {"ApiEndpoint": endpoint, "Method": "GET", "Stage": "nope"})
    assert no_stage["error"] == "ApiGateway.403"
    elsewhere = _invoke_api(sfn, "apigw-host", {"ApiEndpoint": "example.com", "Method": "GET"})
    assert elsewhere["error"] == "ApiGateway.ValueError" and "ApiEndpoint" in elsewhere["cause"]
    forbidden = _invoke_api(sfn, "apigw-header", {"ApiEndpoint": endpoint, "Method": "GET", "Stage": "prod",
                                                  "Headers": {"Authorization": ["x"]}})
    assert forbidden["error"] == "ApiGateway.ValueError" and "Authorization" in forbidden["cause"]


# --- Distributed Map -----------------------------------------------------------------------------


def distributed(processor=None, execution_type="STANDARD", **fields):
    processor = processor or {"StartAt": "Keep", "States": {"Keep": {"Type": "Pass", "End": True}}}
    return {"StartAt": "Map", "States": {"Map": {
        "Type": "Map", "End": True, **fields,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type}, **processor}}}}


@pytest.fixture(scope="module")
def items_bucket(cloud):
    s3 = cloud_client(cloud, "s3")
    s3.create_bucket(Bucket="map-items")
    s3.put_object(Bucket="map-items", Key="in/data.json", Body=json.dumps([{"n": i} for i in range(5)]))
    s3.put_object(Bucket="map-items", Key="in/data.csv", Body="id,name\n1,a\n2,b\n3,c\n")
    return s3


def _run(sfn, name, definition, given=None):
    arn = machine(sfn, name, definition)
    return finished(sfn, sfn.start_execution(stateMachineArn=arn, input=json.dumps(given or {}))["executionArn"])


def test_a_distributed_map_reads_json_and_csv_from_s3(cloud, items_bucket):
    sfn = cloud_client(cloud, "stepfunctions")
    from_json = _run(sfn, "dmap-json", distributed(ItemReader={
        "Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "map-items", "Key": "in/data.json"}}))
    assert json.loads(from_json["output"]) == [{"n": i} for i in range(5)]
    from_csv = _run(sfn, "dmap-csv", distributed(ItemReader={
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
        "Parameters": {"Bucket": "map-items", "Key": "in/data.csv"}}))
    assert json.loads(from_csv["output"]) == [{"id": "1", "name": "a"}, {"id": "2", "name": "b"},
                                              {"id": "3", "name": "c"}]


def test_a_distributed_map_over_an_s3_listing_gets_every_object_as_aws_lists_it(cloud):
    sfn, s3 = cloud_client(cloud, "stepfunctions"), cloud_client(cloud, "s3")
    s3.create_bucket(Bucket="map-listing")
    for i in range(1003):  # more than one page of ListObjectsV2
        s3.put_object(Bucket="map-listing", Key=f"objects/{i:04d}", Body=b"x" * (i % 7))
    listed = _run(sfn, "dmap-list", distributed(ItemReader={
        "Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "map-listing", "Prefix": "objects/"}}))
    assert listed["status"] == "SUCCEEDED", listed
    items = json.loads(listed["output"])
    assert len(items) == 1003
    assert sorted(items[0]) == ["Etag", "Key", "LastModified", "Size", "StorageClass"]
    assert isinstance(items[0]["LastModified"], int) and items[6]["Size"] == 6
    s3.create_bucket(Bucket="map-empty")
    empty = _run(sfn, "dmap-empty", distributed(ItemReader={
        "Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "map-empty"}}))
    assert empty["status"] == "SUCCEEDED" and json.loads(empty["output"]) == []


def test_item_batcher_batches_selected_items_with_the_batch_input(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    described = _run(sfn, "dmap-batches", distributed(
        ItemsPath="$.items", ItemSelector={"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
        ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"run.$": "$.run", "fixed": 1}}),
        {"items": ["a", "b", "c"], "run": "nightly"})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [
        {"Items": [{"value": "a", "index": 0}, {"value": "b", "index": 1}],
         "BatchInput": {"run": "nightly", "fixed": 1}},
        {"Items": [{"value": "c", "index": 2}], "BatchInput": {"run": "nightly", "fixed": 1}}]


def test_item_batcher_limits_come_from_paths_and_bytes_too(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    by_path = _run(sfn, "dmap-batch-path", distributed(ItemsPath="$.items",
                                                       ItemBatcher={"MaxItemsPerBatchPath": "$.size"}),
                   {"items": list(range(7)), "size": 3})
    assert [len(b["Items"]) for b in json.loads(by_path["output"])] == [3, 3, 1]
    by_bytes = _run(sfn, "dmap-batch-bytes", distributed(ItemsPath="$.items",
                                                         ItemBatcher={"MaxInputBytesPerBatch": 40}),
                    {"items": ["x" * 10] * 5})
    batches = json.loads(by_bytes["output"])
    assert all(len(json.dumps(b, separators=(",", ":"))) <= 40 for b in batches)
    assert [item for b in batches for item in b["Items"]] == ["x" * 10] * 5 and len(batches) > 1


def test_express_children_run(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    described = _run(sfn, "dmap-express", distributed(execution_type="EXPRESS", ItemsPath="$.items",
                                                      ItemBatcher={"MaxItemsPerBatch": 10}), {"items": [1, 2]})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"Items": [1, 2]}]


@pytest.mark.parametrize("batcher, field", [
    ({"MaxItemsPerBatch": 0}, "/States/Map/ItemBatcher/MaxItemsPerBatch"),
    ({"BatchInput": {}}, "/States/Map/ItemBatcher"),
    ({"MaxItemsPerBatch": 2, "Batchsize": 3}, "/States/Map/ItemBatcher/Batchsize"),
    ({"MaxItemsPerBatch": "{% $states.input.size %}"}, "/States/Map/ItemBatcher/MaxItemsPerBatch"),
    ({"MaxItemsPerBatch": 2, "BatchInput": {"n.$": "States.ArrayLength($.items)"}},
     "/States/Map/ItemBatcher/BatchInput/n.$"),
])
def test_a_batcher_the_local_cloud_cannot_run_is_refused_naming_the_field(cloud, batcher, field):
    sfn = cloud_client(cloud, "stepfunctions")
    with pytest.raises(ClientError) as caught:
        machine(sfn, "dmap-refused", distributed(ItemsPath="$.items", ItemBatcher=batcher))
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidDefinition" and field in error["Message"], error


def test_an_inline_map_may_not_batch(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    inline = {"StartAt": "Map", "States": {"Map": {"Type": "Map", "End": True, "ItemBatcher": {"MaxItemsPerBatch": 2},
                                                   "ItemProcessor": {"StartAt": "P", "States": {
                                                       "P": {"Type": "Pass", "End": True}}}}}}
    with pytest.raises(ClientError) as caught:
        machine(sfn, "imap-batch", inline)
    assert "DISTRIBUTED" in caught.value.response["Error"]["Message"]


FAILS_ON_TWO = {"StartAt": "Check", "States": {
    "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Fail"}], "Default": "Ok"},
    "Fail": {"Type": "Fail", "Error": "Boom", "Cause": "two"},
    "Ok": {"Type": "Pass", "End": True}}}


def test_failed_children_beyond_the_tolerance_fail_the_map(cloud):
    sfn = cloud_client(cloud, "stepfunctions")
    strict = _run(sfn, "dmap-strict", distributed(FAILS_ON_TWO, ItemsPath="$.items"), {"items": [1, 2, 3]})
    assert strict["status"] == "FAILED" and strict["error"] == "States.ExceedToleratedFailureThreshold"
    tolerant = _run(sfn, "dmap-tolerant", distributed(FAILS_ON_TWO, ItemsPath="$.items", ToleratedFailureCount=1),
                    {"items": [1, 2, 3]})
    assert tolerant["status"] == "SUCCEEDED", tolerant
    by_share = _run(sfn, "dmap-share", distributed(FAILS_ON_TWO, ItemsPath="$.items", ToleratedFailurePercentage=30),
                    {"items": [1, 2, 3]})
    assert by_share["status"] == "FAILED"  # one of three is 33% > 30%


def test_the_result_writer_writes_each_childs_result(cloud, items_bucket):
    sfn, s3 = cloud_client(cloud, "stepfunctions"), items_bucket
    described = _run(sfn, "dmap-writer", distributed(
        FAILS_ON_TWO, ItemsPath="$.items", ToleratedFailureCount=1,
        ResultWriter={"Resource": "arn:aws:states:::s3:putObject",
                      "Parameters": {"Bucket": "map-items", "Prefix": "results"}}), {"items": [1, 2, 3]})
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    manifest_key = output["ResultWriterDetails"]["Key"]
    assert output["ResultWriterDetails"]["Bucket"] == "map-items" and manifest_key.startswith("results/")
    manifest = json.loads(s3.get_object(Bucket="map-items", Key=manifest_key)["Body"].read())
    assert manifest["MapRunArn"] == output["MapRunArn"] and manifest["DestinationBucket"] == "map-items"
    succeeded = json.loads(s3.get_object(Bucket="map-items",
                                         Key=manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])["Body"].read())
    failed = json.loads(s3.get_object(Bucket="map-items", Key=manifest["ResultFiles"]["FAILED"][0]["Key"])["Body"].read())
    assert sorted(json.loads(r["Input"]) for r in succeeded) == [1, 3]
    assert all(r["Status"] == "SUCCEEDED" and "Output" in r for r in succeeded)
    assert [(json.loads(r["Input"]), r["Status"], r["Error"], r["Cause"]) for r in failed] == [(2, "FAILED", "Boom", "two")]
