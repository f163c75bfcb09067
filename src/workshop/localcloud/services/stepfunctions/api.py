"""ValidateStateMachineDefinition, TestState and StartSyncExecution in the local cloud.

moto serves none of them fully, so the server routes these Step Functions
operations (by their `X-Amz-Target`) here; StartSyncExecution runs an Express
machine's execution in moto's engine and answers when it ends; GetActivityTask
is activities.py's. The other two go to the kit's own offline
implementations in `workshop.asl.test_state`; notebook code is then the same
boto3 call on both targets.

TestState of a Task state without a `mock` calls the real (local) resource,
as AWS does: a Lambda function (plain function ARN or `lambda:invoke`) or
`sns:publish`. The state's data flow is computed once with a stand-in result
to learn what it would send, the resource is called with that, and the state
is run again with the real result (or the function's error) as its mock.
Other resources still need a mock, and the error says so. The call is made
as the `roleArn` the request names (the server's authorizer evaluates it as a
session of that role, as TestState "uses the role to call the resource"); a
denial fails the state with the service's error, as on AWS.

Note for plain boto3: botocore sends TestState to `sync-<host>`; with a
local endpoint create the client with `Config(inject_host_prefix=False)`
(the kit's `workshop.aws.session` does).
"""

from __future__ import annotations

import json

TARGET_PREFIX = "AWSStepFunctions."
OPERATIONS = ("TestState", "ValidateStateMachineDefinition", "StartSyncExecution", "GetActivityTask")
_LAMBDA_ARN = "arn:aws:lambda:"


def _error(code: str, message: str, status: int = 400):
    return status, {"__type": code, "message": message}


def handle(target: str, body: bytes, account_id: str, region: str) -> tuple[int, dict]:
    """(HTTP status, JSON body) for one request."""
    from workshop.asl import test_state as engine

    operation = target[len(TARGET_PREFIX):]
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return _error("SerializationException", "The request body is not JSON.")
    if not isinstance(request, dict):
        return _error("SerializationException", "The request body must be a JSON object.")
    if operation == "StartSyncExecution":
        return start_sync_execution(request, account_id, region)
    if operation == "GetActivityTask":
        from . import activities

        return activities.get_activity_task(request, account_id, region)
    try:
        if operation == "ValidateStateMachineDefinition":
            return 200, engine.validate_state_machine_definition(request)
        try:
            return 200, engine.test_state(request)
        except engine.MockRequired:
            return 200, _test_with_real_resource(engine, request, account_id, region)
    except engine.TestStateError as exc:
        return _error(exc.code, exc.message)
    except Exception as exc:  # an AWS-shaped error, never a dead request
        import logging

        logging.getLogger("workshop.localcloud").exception("%s failed", operation)
        return _error("InternalFailure", f"{operation} failed in the local cloud: {exc}", 500)


def _state(request: dict) -> dict:
    definition = json.loads(request["definition"])
    if "States" in definition:
        name = request.get("stateName") or definition.get("StartAt")
        return definition["States"][name]
    return definition


def _test_with_real_resource(engine, request: dict, account_id: str, region: str) -> dict:
    state = _state(request)
    resource = str(state.get("Resource", ""))
    if resource.endswith(".waitForTaskToken") or resource.endswith(".sync") or not (
            resource.startswith(_LAMBDA_ARN) or resource in ("arn:aws:states:::lambda:invoke",
                                                             "arn:aws:states:::sns:publish")):
        raise engine.MockRequired(
            f"The local cloud's TestState calls Lambda functions and sns:publish for real; for {resource or 'this state'} "
            "pass mock={'result': ...} or mock={'errorOutput': {...}}.")
    probe = dict(request, inspectionLevel="DEBUG",
                 mock={"result": "{}", "fieldValidationMode": "NONE"})
    first = engine.test_state(probe)
    data = first.get("inspectionData", {})
    sent = json.loads(data.get("afterParameters") or data.get("afterArguments") or data.get("afterInputPath") or "{}")

    publish = resource == "arn:aws:states:::sns:publish"
    denied = _denied(request, "sns:Publish", str(sent.get("TopicArn") or "*")) if publish else \
        _denied(request, "lambda:InvokeFunction", _function_arn(resource, sent, account_id, region))
    if denied:
        error = "SNS.AuthorizationErrorException" if publish else "Lambda.AWSLambdaException"
        mock = {"errorOutput": {"error": error, "cause": denied}}
    elif publish:
        mock = {"result": json.dumps(_sns_publish(sent, account_id, region))}
    else:
        if resource.startswith(_LAMBDA_ARN):
            function, payload = resource, sent
        else:
            function, payload = sent.get("FunctionName"), sent.get("Payload", {})
        output, failed = _invoke(function, payload, account_id, region)
        if failed:
            mock = {"errorOutput": {"error": output.get("errorType", "Lambda.Unknown"), "cause": json.dumps(output)}}
        elif resource.startswith(_LAMBDA_ARN):
            mock = {"result": json.dumps(output)}
        else:
            mock = {"result": json.dumps({"ExecutedVersion": "$LATEST", "Payload": output, "StatusCode": 200})}
    mock["fieldValidationMode"] = "NONE"
    return engine.test_state(dict(request, mock=mock))


def _function_arn(resource: str, sent: dict, account_id: str, region: str) -> str:
    name = resource if resource.startswith(_LAMBDA_ARN) else str(sent.get("FunctionName") or "")
    if name.startswith("arn:"):
        return name
    return f"arn:aws:lambda:{region}:{account_id}:function:{name}"


def _denied(request: dict, action: str, resource: str) -> str | None:
    """AWS's denial text when the request's role may not call the resource; None when it may (or no role)."""
    from ...server import authorization

    authorizer = authorization.current()
    if authorizer is None or not request.get("roleArn"):
        return None
    denial = authorizer.decide(authorization.role_session(request["roleArn"], "TestState"), action, resource)
    return denial.message if denial else None


def _invoke(function: str | None, payload, account_id: str, region: str):
    from moto.awslambda.utils import get_backend

    if not function:
        raise ValueError("the state names no FunctionName")
    fn = get_backend(account_id, region).get_function(function)
    headers: dict = {}
    raw = fn.invoke(json.dumps(payload), {}, headers)
    output = json.loads(raw) if raw else None
    return output, bool(headers.get("x-amz-function-error"))


def _sns_publish(parameters: dict, account_id: str, region: str) -> dict:
    from moto.sns.models import sns_backends

    backend = sns_backends[account_id][region]
    message_id = backend.publish(
        message=parameters.get("Message") if isinstance(parameters.get("Message"), str)
        else json.dumps(parameters.get("Message")),
        arn=parameters.get("TopicArn"), subject=parameters.get("Subject"))
    return {"MessageId": message_id}


# --- StartSyncExecution ----------------------------------------------------------------------

SYNC_LIMIT_SECONDS = 300  # an Express workflow runs at most five minutes


def start_sync_execution(request: dict, account_id: str, region: str) -> tuple[int, dict]:
    """Start an Express machine's execution and answer when it ends, as StartSyncExecution does.

    AWS (API_StartSyncExecution.html): a 200 with the execution's status, output
    or error and cause, whatever the outcome; a STANDARD machine is refused
    (StateMachineTypeNotSupported).
    """
    import time

    from moto.core.exceptions import AWSError
    from moto.stepfunctions.responses import get_backend

    from . import engine

    backend = get_backend(account_id, region)
    arn = request.get("stateMachineArn")
    if not isinstance(arn, str) or not arn:
        return _error("ValidationException", "1 validation error detected: Value null at 'stateMachineArn' failed "
                                             "to satisfy constraint: Member must not be null")
    try:
        machine = backend.describe_state_machine(arn)
        if engine.machine_type(machine) != "EXPRESS":
            return _error("StateMachineTypeNotSupported",
                          "This operation is not supported by this type of state machine")
        execution = backend.start_execution(arn, request.get("name"), request.get("input") or "{}",
                                            request.get("traceHeader"))
    except AWSError as exc:
        return _error(getattr(exc, "error_type", None) or getattr(exc, "code", "ValidationException"),
                      getattr(exc, "message", str(exc)))
    deadline = time.monotonic() + SYNC_LIMIT_SECONDS
    while execution.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.005)
    status = execution.status if execution.status != "RUNNING" else "TIMED_OUT"
    answer = {"executionArn": execution.exec_arn, "stateMachineArn": arn, "name": execution.name,
              "startDate": execution.start_date.timestamp(),
              "stopDate": (execution.stop_date.timestamp() if execution.stop_date else time.time()),
              "status": status, "input": json.dumps(execution.input_data, separators=(",", ":")),
              "inputDetails": {"included": True},
              "billingDetails": {"billedMemoryUsedInMB": 64,
                                 "billedDurationInMilliseconds": max(100, int(
                                     ((execution.stop_date.timestamp() if execution.stop_date else time.time())
                                      - execution.start_date.timestamp()) * 1000))}}
    if status == "SUCCEEDED":
        answer["output"] = json.dumps(execution.output, separators=(",", ":"))
        answer["outputDetails"] = {"included": True}
    else:
        for field in ("error", "cause"):
            if getattr(execution, field, None) is not None:
                answer[field] = getattr(execution, field)
    return 200, answer
