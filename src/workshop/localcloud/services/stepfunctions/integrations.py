"""Step Functions service integrations answering as AWS's do.

Mends of moto bugs, registered in seams.py (`sfn-sdk-metadata`,
`sfn-apigateway-invoke`, `sfn-sdk-timestamps`, group "stepfunctions"); each
wraps one moto seam, pinned by tests/unit/localcloud/test_stepfunctions.py.

* The optimized integrations built on AWS's Java SDK v1 (`lambda:invoke`,
  `sns:publish`, `sqs:sendMessage`, `dynamodb:*Item`) put the call's HTTP
  metadata in the task result, as AWS does:
  `SdkHttpMetadata` {AllHttpHeaders, HttpHeaders, HttpStatusCode} and
  `SdkResponseMetadata` {RequestId}; `lambda:invoke` also `ExecutedVersion`
  (which Lambda's Invoke now answers: services/awslambda, `lambda-executed-version`)
  and `StatusCode`. moto dropped them. The headers are the call's own (the
  engine's shared client remembers its last response per thread,
  `inprocess.last_response`), named as AWS names them. Patch points:
  each integration class's `_eval_service_task`.
* `arn:aws:states:::apigateway:invoke` calls the local API Gateway stage
  (services/apigateway.py's route) for an `ApiEndpoint` of the form
  `<api-id>.execute-api.<region>.amazonaws.com`: Method, Headers and
  QueryParameters (lists of values), Stage, Path, RequestBody (JSON or text);
  the result is {ResponseBody, Headers, StatusCode, StatusText}; a non-2XX
  status fails the task with `ApiGateway.<status>` and the body as cause.
  moto's version failed with a TypeError (its method did not take the
  arguments the engine passes), dropped every parameter but ApiEndpoint and
  Method, and called LocalStack's URL scheme over HTTP. Patch points:
  `StateTaskServiceApiGateway._eval_service_task`, `._from_error` and
  `._SUPPORTED_API_PARAM_BINDINGS`.
* aws-sdk task results hold timestamps as AWS's ISO text, not Python
  datetimes (`install_sdk_timestamps`).
"""

from __future__ import annotations

import email.utils
import http
import json
import re
import secrets
import time
from urllib.parse import urlencode

from ...server.address import EXECUTE_API_PREFIX

# how AWS's SDK writes the headers these integrations return
_HEADER_NAMES = {name.lower(): name for name in (
    "Connection", "Content-Length", "Content-Type", "Date", "x-amzn-RequestId", "X-Amz-Executed-Version",
    "x-amzn-Remapped-Content-Length", "X-Amzn-Trace-Id", "X-Amz-Function-Error", "x-amz-crc32", "Server",
    "x-amz-log-result", "x-amzn-ErrorType")}
_NOT_SENT = {"status", "server"}  # moto's internal status, werkzeug's server name


def _trace_id() -> str:
    return f"root=1-{int(time.time()):08x}-{secrets.token_hex(12)};sampled=0"


def sdk_metadata(status: int, headers: dict, body_length: int | None = None,
                 service: str = "") -> tuple[dict, dict]:
    """(SdkHttpMetadata, SdkResponseMetadata) for one call's response, as the Java SDK v1 reports it."""
    named = {}
    for name, value in headers.items():
        if name.lower() in _NOT_SENT or (service == "lambda" and name.lower() == "x-amz-crc32"):
            continue  # Lambda sends no checksum header (moto adds one)
        named[_HEADER_NAMES.get(name.lower(), name)] = str(value)
    named.setdefault("Connection", "keep-alive")
    named.setdefault("Date", email.utils.formatdate(usegmt=True))
    if body_length is not None:
        named.setdefault("Content-Length", str(body_length))
    named.setdefault("X-Amzn-Trace-Id", _trace_id())
    if service == "lambda":
        named.setdefault("x-amzn-Remapped-Content-Length", "0")
    ordered = dict(sorted(named.items(), key=lambda item: item[0].lower()))
    http_metadata = {"AllHttpHeaders": {name: [value] for name, value in ordered.items()},
                     "HttpHeaders": ordered, "HttpStatusCode": status}
    return http_metadata, {"RequestId": ordered.get("x-amzn-RequestId", "")}


# --- the SDK metadata of the optimized integrations -----------------------------------------

_SDK_V1_INTEGRATIONS = (
    ("state_task_service_lambda", "StateTaskServiceLambda"),
    ("state_task_service_sns", "StateTaskServiceSns"),
    ("state_task_service_sqs", "StateTaskServiceSqs"),
    ("state_task_service_dynamodb", "StateTaskServiceDynamoDB"),
)
_SERVICE_MODULES = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."


def metadata_seams():
    import importlib

    return [(getattr(importlib.import_module(_SERVICE_MODULES + module), name), "_eval_service_task")
            for module, name in _SDK_V1_INTEGRATIONS]


def install_sdk_metadata() -> None:
    from ...server import inprocess

    for cls, name in metadata_seams():
        original = cls.__dict__[name]
        if getattr(original, "_localcloud", False):
            continue

        def _eval_service_task(self, env, *args, __original=original, **kwargs):
            inprocess.forget_last_response()
            __original(self, env, *args, **kwargs)
            last = inprocess.last_response()
            if last is None or env.is_mocked_mode() or not env.stack or not isinstance(env.stack[-1], dict):
                return
            status, headers, length = last
            result = dict(env.stack[-1])
            result["SdkHttpMetadata"], result["SdkResponseMetadata"] = sdk_metadata(
                status, headers, length, self._get_boto_service_name())
            # AWS's SDK writes the fields in name order (ExecutedVersion, Payload, SdkHttpMetadata, ...)
            env.stack[-1] = dict(sorted(result.items()))

        _eval_service_task._localcloud = True
        setattr(cls, name, _eval_service_task)


# --- API Gateway --------------------------------------------------------------------------

API_GATEWAY_PARAMETERS = ("ApiEndpoint", "Method", "Headers", "Stage", "Path", "QueryParameters", "RequestBody",
                          "AllowNullValues", "AuthType")
_API_ENDPOINT = re.compile(r"^(?:https?://)?([a-z0-9]+)\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/?$")


class ApiGatewayCallError(Exception):
    """A non-2XX answer: the task fails with ApiGateway.<status>."""

    def __init__(self, status: int, body: str):
        super().__init__(body)
        self.status = status
        self.body = body


def _values(mapping, field: str) -> list[tuple[str, str]]:
    if mapping is None:
        return []
    if not isinstance(mapping, dict):
        raise ValueError(f"The '{field}' field must be a JSON object of lists of strings.")
    pairs = []
    for key, values in mapping.items():
        for value in values if isinstance(values, list) else [values]:
            pairs.append((str(key), value if isinstance(value, str) else json.dumps(value)))
    return pairs


def api_gateway_request(parameters: dict) -> tuple[str, str, list, bytes]:
    """(method, local path with query, headers, body) for the task's parameters; ValueError when unusable."""
    endpoint = str(parameters.get("ApiEndpoint", ""))
    found = _API_ENDPOINT.match(endpoint)
    if not found:
        raise ValueError(f"ApiEndpoint {endpoint!r} is not '<api-id>.execute-api.<region>.amazonaws.com': "
                         "the local cloud serves the stages of the API Gateway APIs it holds")
    method = str(parameters.get("Method", "")).upper()
    if method not in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        raise ValueError(f"Method {parameters.get('Method')!r} is not one of GET, POST, PUT, DELETE, PATCH, "
                         "HEAD, OPTIONS")
    headers = _values(parameters.get("Headers"), "Headers")
    for name, _ in headers:
        lowered = name.lower()
        if lowered.startswith(("x-forwarded", "x-amz", "x-amzn")) or lowered in _FORBIDDEN_HEADERS:
            raise ValueError(f"The 'Headers' field contains unsupported values: {name}")
    body = b""
    if "RequestBody" in parameters and parameters["RequestBody"] is not None:
        if method not in ("POST", "PUT", "PATCH"):
            raise ValueError(f"RequestBody is only supported for PATCH, POST and PUT, not {method}")
        given = parameters["RequestBody"]
        body = (given if isinstance(given, str) else json.dumps(given)).encode("utf-8")
        if not isinstance(given, str):
            headers.append(("Content-Type", "application/json"))
    stage = str(parameters.get("Stage") or "$default")
    path = "/".join(part for part in str(parameters.get("Path") or "").split("/") if part)
    query = urlencode(_values(parameters.get("QueryParameters"), "QueryParameters"))
    local = f"{EXECUTE_API_PREFIX}{found.group(1)}/{stage}" + (f"/{path}" if path else "") + (f"?{query}" if query else "")
    return method, local, headers, body


_FORBIDDEN_HEADERS = {h.lower() for h in (
    "Authorization", "Connection", "Content-md5", "Expect", "Host", "Max-Forwards", "Proxy-Authenticate",
    "Server", "TE", "Transfer-Encoding", "Trailer", "Upgrade", "Via", "Www-Authenticate")}


def api_gateway_output(status: int, headers: list[tuple[str, str]], body: bytes) -> dict:
    """The task result AWS documents: ResponseBody (JSON when it parses), Headers (lists), StatusCode, StatusText."""
    text = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        parsed = text
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name, []).append(value)
    grouped.setdefault("Date", [email.utils.formatdate(usegmt=True)])
    grouped.setdefault("Content-Length", [str(len(body))])
    grouped.setdefault("Connection", ["keep-alive"])
    grouped.setdefault("x-amzn-RequestId", [secrets.token_hex(16)])
    grouped.setdefault("X-Amzn-Trace-Id", [_trace_id()])
    return {"Headers": grouped, "ResponseBody": parsed, "StatusCode": status,
            "StatusText": http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else ""}


def api_gateway_seam():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_api_gateway import (
        StateTaskServiceApiGateway,
    )

    return StateTaskServiceApiGateway, "_eval_service_task"


def install_api_gateway() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    from ...server import inprocess

    cls, name = api_gateway_seam()
    if getattr(cls.__dict__[name], "_localcloud", False):
        return
    original_from_error = cls._from_error

    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, *args, **kwargs):
        method, path, headers, body = api_gateway_request(normalised_parameters)
        status, answer_headers, answer = inprocess.call(method, path, headers, body)
        if not 200 <= status < 300:
            raise ApiGatewayCallError(status, answer.decode("utf-8", "replace"))
        env.stack.append(api_gateway_output(status, answer_headers, answer))

    def _from_error(self, env, ex):
        if isinstance(ex, (ApiGatewayCallError, ValueError)):
            error = f"ApiGateway.{ex.status}" if isinstance(ex, ApiGatewayCallError) else "ApiGateway.ValueError"
            cause = ex.body if isinstance(ex, ApiGatewayCallError) else str(ex)
            return FailureEvent(
                env=env, error_name=CustomErrorName(error), event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                    error=error, cause=cause, resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type())))
        return original_from_error(self, env, ex)

    _eval_service_task._localcloud = True
    _from_error._localcloud = True
    setattr(cls, name, _eval_service_task)
    cls._from_error = _from_error
    # the engine drops every parameter not listed here before the task sees it
    cls._SUPPORTED_API_PARAM_BINDINGS = {"invoke": set(API_GATEWAY_PARAMETERS)}


# --- aws-sdk integrations: timestamps as AWS writes them ---------------------------


def sdk_timestamp(moment) -> str:
    """A timestamp as Step Functions' aws-sdk integrations write it: ISO 8601 in UTC, "Z", fraction only if any."""
    from datetime import timezone

    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micro = moment.microsecond
    if micro:
        text += f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}"
    return text + "Z"


def _json_ready(value):
    """`value` with every date / datetime made text (the rest as it is)."""
    from datetime import date, datetime

    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, datetime):
        return sdk_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def sdk_result_seam():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    return StateTaskServiceAwsSdk, "_eval_service_task"


def install_sdk_timestamps() -> None:
    """aws-sdk task results hold text, not Python datetimes.

    moto's engine left boto3's datetime objects in the state's output, so an
    execution whose output held one (IAM CreatePolicy's CreateDate, S3's
    LastModified...) answered DescribeExecution with a 500 (json.dumps fails).
    AWS writes them as ISO 8601 text ("2026-12-01T09:50:00.123Z").
    """
    cls, name = sdk_result_seam()
    original = getattr(cls, name)
    if getattr(original, "_localcloud", False):
        return

    def _eval_service_task(self, env, *args, **kwargs):
        original(self, env, *args, **kwargs)
        if env.stack:
            env.stack[-1] = _json_ready(env.stack[-1])

    _eval_service_task._localcloud = True
    setattr(cls, name, _eval_service_task)


# --- aws-sdk and states:startExecution: AWS's parameter and result names -------------------------

def _operation_model(service: str, action: str):
    """botocore's model of `service`'s `action` (snake_case), or None when botocore has no such operation."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    models = _service_models
    if service not in models:
        try:
            models[service] = botocore.session.get_session().get_service_model(service)
        except UnknownServiceError:
            models[service] = None
    model = models[service]
    if model is None:
        return None
    for name in model.operation_names:
        if _snake(name) == action:
            return model.operation_model(name)
    return None


_service_models: dict = {}


def _snake(name: str) -> str:
    from moto.stepfunctions.parser.utils import camel_to_snake_case

    return camel_to_snake_case(name)


def _epoch_milliseconds(value):
    from datetime import datetime

    if isinstance(value, dict):
        return {key: _epoch_milliseconds(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_epoch_milliseconds(item) for item in value]
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


# Step Functions' aws-sdk service names that are not boto3's (supported-services-awssdk.html lists
# "eventbridge" for the API boto3 calls "events").
SDK_SERVICE_NAMES = {"eventbridge": "events"}


def install_sdk_service_names() -> None:
    """`arn:aws:states:::aws-sdk:eventbridge:*` reaches EventBridge (`sfn-sdk-service-names`).

    moto's engine turns the resource's service name into a boto3 client's name through
    `StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES`, which knows only sfn/states: a task
    on `aws-sdk:eventbridge:enableRule` (the name AWS documents) asked boto3 for a client
    "eventbridge", which does not exist, and failed. The mend adds the documented names."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )

    overrides = dict(StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES)
    if all(overrides.get(name) == boto for name, boto in SDK_SERVICE_NAMES.items()):
        return
    StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES = {**overrides, **SDK_SERVICE_NAMES}


def names_seam():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )

    return StateTaskService, ("_normalise_parameters", "_normalise_response")


def install_sdk_names() -> None:
    """Parameters in AWS's PascalCase reach the API; results come back in PascalCase (`sfn-sdk-names`).

    AWS (supported-services-awssdk.html): "parameters ... in PascalCase, even if the native service API
    is camelCase" and the results likewise. moto's engine left both steps empty, so
    `arn:aws:states:::states:startExecution` and `aws-sdk:sfn:*` tasks failed on `StateMachineArn`
    and an aws-sdk result of a camelCase service kept `executions` / `nextToken`. The mend
    maps names through botocore's model of the operation (moto's own `_to_boto_request` /
    `_from_boto_response`, which nothing called), for the aws-sdk and Step Functions
    integrations; the other optimized integrations keep their hand-made shapes. The Step
    Functions integration's dates are epoch milliseconds, as its results on AWS show them.
    Patch points: `StateTaskService._normalise_parameters` / `._normalise_response`.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    cls, (parameters_name, response_name) = names_seam()
    if getattr(cls.__dict__[parameters_name], "_localcloud", False):
        return
    mapped = (StateTaskServiceAwsSdk, StateTaskServiceSfn)

    def _normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        if not isinstance(self, mapped) or not isinstance(parameters, dict):
            return
        operation = _operation_model(self._get_boto_service_name(boto_service_name),
                                     self._get_boto_service_action(service_action_name))
        if operation is not None and operation.input_shape is not None:
            self._to_boto_request(parameters, operation.input_shape)

    def _normalise_response(self, response, boto_service_name=None, service_action_name=None):
        if not isinstance(self, mapped) or not isinstance(response, dict):
            return
        operation = _operation_model(self._get_boto_service_name(boto_service_name),
                                     self._get_boto_service_action(service_action_name))
        if operation is not None and operation.output_shape is not None:
            self._from_boto_response(response, operation.output_shape)
        if isinstance(self, StateTaskServiceSfn):  # the Java SDK v1's dates: epoch milliseconds
            response.update(_epoch_milliseconds(response))

    _normalise_parameters._localcloud = True
    _normalise_response._localcloud = True
    setattr(cls, parameters_name, _normalise_parameters)
    setattr(cls, response_name, _normalise_response)
