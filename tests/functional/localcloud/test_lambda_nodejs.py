"""Node.js functions in warm workers (worker.js): handler lookup, context, errors, logs, the SDK."""

import base64
import json

import boto3
import pytest
from lambda_packages import zip_package
from moto import mock_aws

from workshop.localcloud import seams
from workshop.localcloud.services.awslambda import workers

COMMONJS = """
const crypto = require('crypto');
const SANDBOX = crypto.randomUUID();  // one per warm worker
class PolicyError extends Error { constructor(m) { super(m); this.name = 'PolicyError'; } }
exports.handler = async (event, context) => {
  console.log('got', event.say || '');
  console.error('to stderr');
  if (event.fail) throw new PolicyError('IAM said: slow down');
  if (event.throwString) throw 'plain words';
  if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep * 1000));
  return { sandbox: SANDBOX, name: context.functionName, requestId: context.awsRequestId,
           arn: context.invokedFunctionArn, memory: context.memoryLimitInMB,
           remaining: context.getRemainingTimeInMillis(), greeting: process.env.GREETING,
           region: process.env.AWS_REGION, endpoint: process.env.AWS_ENDPOINT_URL,
           home: process.env.HOME, node: process.version };
};
"""



@pytest.fixture
def lam():
    with mock_aws():
        runtime = workers.install("http://127.0.0.1:9")
        seams.install("eager")
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")

        def create(name, files, handler="index.handler", runtime_name="nodejs20.x", **extra):
            client.create_function(FunctionName=name, Runtime=runtime_name, Role=role, Handler=handler,
                                   Code={"ZipFile": zip_package(files)}, Timeout=extra.pop("Timeout", 2), **extra)
            return name

        client.create = create
        client.runtime = runtime
        yield client


def _invoke(client, name, event=None, **kwargs):
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    return response, json.loads(response["Payload"].read())


def test_a_commonjs_handler_runs_warm_with_the_lambda_context(lam):
    lam.create("cjs", {"index.js": COMMONJS}, Environment={"Variables": {"GREETING": "hello"}})
    response, first = _invoke(lam, "cjs")
    _, second = _invoke(lam, "cjs")
    assert "FunctionError" not in response
    assert first["sandbox"] == second["sandbox"] and lam.runtime.cold_starts == 1
    assert first["name"] == "cjs" and first["arn"].endswith(":function:cjs")
    assert first["memory"] == "128" and 0 < first["remaining"] <= 2000
    assert first["requestId"] != second["requestId"]
    assert first["greeting"] == "hello" and first["region"] == "us-east-1"
    assert first["endpoint"] == "http://127.0.0.1:9"
    assert first["node"].startswith("v")


def test_an_error_comes_back_as_lambda_returns_it(lam):
    lam.create("fails", {"index.js": COMMONJS})
    response, error = _invoke(lam, "fails", {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "PolicyError" and error["errorMessage"] == "IAM said: slow down"
    assert error["trace"][0] == "PolicyError: IAM said: slow down"
    assert any("index.js" in frame for frame in error["trace"])
    assert "stackTrace" not in error and "requestId" not in error  # Node.js errors have neither
    _, thrown = _invoke(lam, "fails", {"throwString": True})
    assert thrown == {"errorType": "string", "errorMessage": "plain words", "trace": []}


def test_console_output_is_logged_with_the_request_id_and_start_end_report(lam):
    lam.create("logs", {"index.js": COMMONJS})
    response, result = _invoke(lam, "logs", {"say": "ping"}, LogType="Tail")
    tail = base64.b64decode(response["LogResult"]).decode()
    assert f"\t{result['requestId']}\tINFO\tgot ping" in tail
    assert f"\t{result['requestId']}\tERROR\tto stderr" in tail
    assert "START RequestId: " in tail and "END RequestId: " in tail and "Init Duration:" in tail
    logs = boto3.client("logs", region_name="us-east-1")
    stream = logs.describe_log_streams(logGroupName="/aws/lambda/logs")["logStreams"][0]["logStreamName"]
    messages = [e["message"] for e in logs.get_log_events(logGroupName="/aws/lambda/logs",
                                                          logStreamName=stream)["events"]]
    assert any(m.endswith("INFO\tgot ping") for m in messages)
    _, _ = _invoke(lam, "logs", {"fail": True})
    messages = [e["message"] for e in logs.filter_log_events(logGroupName="/aws/lambda/logs")["events"]]
    assert any("ERROR\tInvoke Error \t" in m and '"errorType":"PolicyError"' in m for m in messages)


def test_callback_and_legacy_context_handlers(lam):
    lam.create("callback", {"index.js": "exports.handler = (event, context, callback) => {\n"
                                         "  setTimeout(() => callback(null, {via: 'callback', n: event.n}), 10);\n};\n"})
    assert _invoke(lam, "callback", {"n": 3})[1] == {"via": "callback", "n": 3}
    lam.create("cb-error", {"index.js": "exports.handler = (e, c, cb) => cb(new TypeError('bad input'));\n"})
    response, error = _invoke(lam, "cb-error")
    assert response["FunctionError"] and error["errorType"] == "TypeError"
    lam.create("succeed", {"index.js": "exports.handler = function (e, context) { context.succeed({ok: 1}); };\n"})
    assert _invoke(lam, "succeed")[1] == {"ok": 1}
    # a plain function that returns a value without the callback: Lambda answers null
    lam.create("sync", {"index.js": "exports.handler = (event) => ({ignored: true});\n"})
    response, result = _invoke(lam, "sync")
    assert result is None and "FunctionError" not in response


def test_es_modules_nested_exports_and_folders(lam):
    lam.create("esm", {"app.mjs": "export const handler = async (e) => ({kind: 'mjs', n: e.n});\n"},
               handler="app.handler")
    assert _invoke(lam, "esm", {"n": 1})[1] == {"kind": "mjs", "n": 1}
    lam.create("typed", {"package.json": '{"type": "module"}',
                         "src/app.js": "export const handlers = { main: async () => 'module .js' };\n"},
               handler="src/app.handlers.main")
    assert _invoke(lam, "typed")[1] == "module .js"
    lam.create("nested", {"lib/index.js": "module.exports = { api: { get: async () => 'nested' } };\n"},
               handler="lib/index.api.get")
    assert _invoke(lam, "nested")[1] == "nested"


def test_the_aws_sdk_v3_resolves_without_packaging_and_a_packaged_copy_wins(lam):
    lam.create("sdk-cjs", {"index.js": "const { SFNClient } = require('@aws-sdk/client-sfn');\n"
                                       "const { SNSClient } = require('@aws-sdk/client-sns');\n"
                                       "exports.handler = async () => [typeof SFNClient, typeof SNSClient];\n"})
    assert _invoke(lam, "sdk-cjs")[1] == ["function", "function"]
    lam.create("sdk-esm", {"index.mjs": "import { IAMClient } from '@aws-sdk/client-iam';\n"
                                        "import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';\n"
                                        "export const handler = async () => [typeof IAMClient, "
                                        "typeof DynamoDBDocumentClient];\n"})
    assert _invoke(lam, "sdk-esm")[1] == ["function", "function"]
    own = {"node_modules/@aws-sdk/client-sfn/package.json": '{"name": "@aws-sdk/client-sfn", "main": "own.js"}',
           "node_modules/@aws-sdk/client-sfn/own.js": "exports.SFNClient = 'the function\\'s own copy';\n",
           "index.mjs": "import { SFNClient } from '@aws-sdk/client-sfn';\nexport const handler = async () => SFNClient;\n"}
    lam.create("sdk-own", own)
    assert _invoke(lam, "sdk-own")[1] == "the function's own copy"


@pytest.mark.parametrize("files, handler, error_type, words", [
    ({"index.js": "exports.other = async () => 1;"}, "index.handler", "Runtime.HandlerNotFound",
     "index.handler is undefined or not exported"),
    ({"index.js": "exports.handler = async () => 1;"}, "missing.handler", "Runtime.ImportModuleError",
     "Cannot find module 'missing'"),
    ({"index.js": "exports.handler = async () => {"}, "index.handler", "Runtime.UserCodeSyntaxError",
     "SyntaxError"),
    ({"index.js": "require('left-pad'); exports.handler = async () => 1;"}, "index.handler",
     "Runtime.ImportModuleError", "Cannot find module 'left-pad'"),
    ({"index.js": "exports.handler = async () => 1;"}, "index", "Runtime.MalformedHandlerName", "Bad handler"),
])
def test_init_failures_are_named_as_lambda_names_them(lam, files, handler, error_type, words):
    lam.create("broken", files, handler=handler)
    response, error = _invoke(lam, "broken", LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == error_type and words in error["errorMessage"]
    assert "Uncaught Exception" in base64.b64decode(response["LogResult"]).decode()


def test_a_timeout_kills_the_node_worker(lam):
    lam.create("slow", {"index.js": COMMONJS})
    _, before = _invoke(lam, "slow")
    response, error = _invoke(lam, "slow", {"sleep": 10})
    assert response["FunctionError"] and "Task timed out after 2.00 seconds" in error["errorMessage"]
    _, after = _invoke(lam, "slow")
    assert after["sandbox"] != before["sandbox"]


def test_nodejs24_refuses_callback_handlers_as_lambda_does(lam):
    source = {"index.js": "exports.handler = (event, context, callback) => callback(null, 1);\n"}
    lam.create("cb24", source, runtime_name="nodejs24.x")
    response, error = _invoke(lam, "cb24")
    assert response["FunctionError"] and "callback-based function handlers" in error["errorMessage"]
    lam.create("cb22", source, runtime_name="nodejs22.x")
    assert _invoke(lam, "cb22")[1] == 1


def test_a_node_function_cannot_read_the_learners_home(lam):
    import os

    home = os.path.expanduser("~")
    assert os.listdir(home)  # the learner's home has something a function must not see
    lam.create("snoop", {"index.js": "const fs = require('fs');\nexports.handler = async (e) => {\n"
                                     "  try { return fs.readdirSync(e.path); } catch (err) { return err.code; }\n};\n"})
    assert _invoke(lam, "snoop", {"path": home})[1] == "ENOENT"
    assert _invoke(lam, "snoop", {"path": "/var/task"})[1] == ["index.js"]
