"""Step Functions: moto's ASL engine switched on and mended; the extension point of its fixes.

`install(port, credentials)` switches the engine on and puts the kit's own
engine plumbing in place; the mends of moto's bugs below are registered in
moto_fixes.py (the one extension point for upstream fixes, applied with the
"stepfunctions" group) and their issue text is in docs/upstream.md. Each
wraps one moto seam named in its docstring, pinned by a test (`SEAMS` in
tests/unit/localcloud/conftest.py, and the seam tests in test_stepfunctions.py).

* `execute_state_machine` on: moto runs executions (its port of the
  LocalStack ASL interpreter): real histories, `waitForTaskToken`,
  `SendTaskSuccess`, service integrations.
* an execution started without a name gets a UUID, as on AWS
  (`install_execution_names`; moto named it "None", so a second one collided).
* the engine's service calls go through shared boto3 clients signed with the
  server's per-start key and served in-process (`install_engine_credentials`,
  inprocess.py); one evaluation program per definition
  (`install_engine_caches`).
* a task token is answered once; an answer or heartbeat after that, or after
  the task timed out, gets TaskTimedOut as AWS documents
  (`install_task_token_errors`).
* GetExecutionHistory pages (`install_history_pages`).
* aws-sdk task results hold timestamps as AWS's ISO text (`install_sdk_timestamps`).
* integrations (Lambda's ExecutedVersion, SDK metadata, apigateway:invoke):
  stepfunctions_integrations.py; Distributed Map: stepfunctions_map.py.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
import uuid


def seam():
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    return StepFunctionsParserBackend, "start_execution"


def install(port: int, credentials=None) -> None:
    from moto.core.config import default_user_config

    os.environ["MOTO_PORT"] = str(port)
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    if credentials is not None:
        install_engine_credentials(credentials, port)

    install_execution_names()
    install_engine_caches()
    # moto's Step Functions bugs (history paging, task tokens, integrations, Distributed Map) are
    # mended by moto_fixes.py, which extensions.ensure applies with this group


def install_execution_names() -> None:
    """An execution started without a name gets a UUID, as on AWS (moto named it "None")."""
    cls, name = seam()
    original = getattr(cls, name)
    if getattr(original, "_localcloud", False):
        return

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    start_execution._localcloud = True
    setattr(cls, name, start_execution)


def install_engine_credentials(credentials, port: int | None = None) -> None:
    """The engine's service calls: signed with the server's key, on shared clients, served in-process.

    moto's `boto_client_for(region, service, state_credentials)` builds a new
    client for every call the engine makes, signed with the key "ak" (which
    the local cloud refuses), talking HTTP to localhost:$MOTO_PORT. The
    replacement hands out `inprocess.client(...)`: one client per service and
    region, signed with the server's key, whose calls the server's WSGI app
    serves in-process once the server has attached it (see inprocess.py).
    It replaces the function where it is defined (modules imported later pick
    that up) and in every engine module that already imported it.
    """
    import sys

    from moto.stepfunctions.parser.asl.utils import boto_client

    from . import inprocess

    endpoint = f"http://127.0.0.1:{port or os.environ.get('MOTO_PORT', '5000')}"
    original = getattr(boto_client.boto_client_for, "__wrapped__", boto_client.boto_client_for)

    def boto_client_for(region, service, state_credentials=None):
        return inprocess.client(service, region, endpoint, credentials)

    boto_client_for.__wrapped__ = original
    boto_client_for._localcloud = True
    inprocess.reset()
    current = boto_client.boto_client_for
    boto_client.boto_client_for = boto_client_for
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) in (
                original, current):
            module.boto_client_for = boto_client_for


def engine_client_seam():
    """moto's engine client factory; a test pins it (fails loudly if moto moves it)."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    return boto_client, "boto_client_for"


def install_engine_caches() -> None:
    """One evaluation program per definition, shared by its executions; JSONPath parsed once.

    Profiling a burst of incidents showed moto re-parsing the same ASL text
    for every execution (two per incident: the revert's own CloudTrail event
    starts one that ends at IgnoreOwnChange), then re-building the program's
    components from the parse tree (a fifth of the server's CPU), and building
    a JSONPath parser per path.

    Sharing the program is safe because moto's components keep no execution
    state: every evaluation reads and writes its `Environment` (a Map state
    already runs one program from several iteration threads at once). The one
    exception is `EvalComponent.heap_key`, a key made lazily on first use (a
    Retry's attempt counter lives under it in the environment): two executions
    making it at once could each get another key, so `shared_program` makes
    every component's key before the program is shared. Parsed JSONPath
    expressions are immutable.
    """
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    if getattr(ExecutionWorker._get_evaluation_entrypoint, "_localcloud", False):
        return

    def _get_evaluation_entrypoint(self):
        return shared_program(self._evaluation_details.state_machine_details.definition)

    _get_evaluation_entrypoint._localcloud = True
    ExecutionWorker._get_evaluation_entrypoint = _get_evaluation_entrypoint
    if not hasattr(json_path.parse, "cache_info"):
        json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)


def _shared_program(definition: str):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    program = AmazonStateLanguageParser.parse(definition)[0]
    _make_heap_keys(program)
    return program


def _make_heap_keys(root) -> int:
    """Give every evaluation component under `root` its heap key now; how many there are."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    stack = [root]
    count = 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, Component):
            if isinstance(item, EvalComponent):
                item.heap_key  # noqa: B018 -- made and stored on first access
                count += 1
            stack.extend(vars(item).values())
    return count


# parsed once per definition text (a state machine's versions and updates are new texts)
shared_program = functools.lru_cache(maxsize=64)(_shared_program)


def backend(account_id: str, region: str):
    from moto.stepfunctions.responses import get_backend

    return get_backend(account_id, region)


# --- task tokens: answered once --------------------------------------------------------

TASK_CLOSED = "Task Timed Out: 'Provided task does not exist anymore'"  # what AWS answers
_answers = threading.Lock()


def _endpoint_for(backend, task_token):
    """The callback endpoint of `task_token` in any execution (running or over), else None."""
    for execution in backend._get_executions():
        try:
            endpoint = execution.exec_worker.env.callback_pool_manager.get(task_token)
        except AttributeError:  # an execution whose worker has no environment yet
            continue
        if endpoint is not None:
            return endpoint
    return None


def _task_closed():
    from moto.stepfunctions.parser.api import TaskTimedOut

    return TaskTimedOut(TASK_CLOSED, "TaskTimedOut", 400)


def install_task_token_errors() -> None:
    """A token whose task is over, answered or timed out, is refused with TaskTimedOut, as AWS documents.

    AWS: TaskTimedOut "The task token has either expired or the task
    associated with the token has already been closed". moto accepted a second
    SendTaskSuccess sent before the engine had moved on (the first answer's
    output was then replaced by the second's), and, once the execution had
    ended, said InvalidToken (it looks tokens up in RUNNING executions only).
    The check and the answer happen under one lock, so of two answers sent at
    once exactly one is taken.
    Patch points: `StepFunctionsParserBackend.send_task_success` / `send_task_failure` /
    `send_task_heartbeat`.
    """
    from moto.stepfunctions.parser.api import InvalidToken
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend as cls

    for name in ("send_task_success", "send_task_failure", "send_task_heartbeat"):
        original = getattr(cls, name)
        if getattr(original, "_localcloud", False):
            continue

        def wrapper(self, task_token, *args, __original=original, **kwargs):
            with _answers:
                endpoint = _endpoint_for(self, task_token)
                if endpoint is not None and (endpoint.get_outcome() is not None or endpoint.consumer_error is not None):
                    raise _task_closed()
                try:
                    return __original(self, task_token, *args, **kwargs)
                except InvalidToken:
                    if endpoint is not None:  # issued, and its execution is over
                        raise _task_closed() from None
                    raise

        wrapper._localcloud = True
        setattr(cls, name, wrapper)


# --- GetExecutionHistory: pages, order, execution data -----------------------------------

HISTORY_PAGE = 100  # AWS's default page; 1000 at most
_DATA_FIELDS = ("input", "output", "inputDetails", "outputDetails")


def history_page(events: list[dict], execution_arn: str, max_results: int = 0, reverse: bool = False,
                 next_token: str | None = None, include_data: bool = True) -> dict:
    """One GetExecutionHistory answer: {"events": [...], "nextToken"?}.

    The token names the execution, the order and the id of the last event
    handed out, so events added while the execution runs are neither skipped
    nor repeated on the next page.
    """
    from moto.stepfunctions.parser.api import InvalidToken

    if max_results < 0 or max_results > 1000:
        from moto.stepfunctions.exceptions import ValidationException

        raise ValidationException(
            f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy "
            "constraint: Member must have value less than or equal to 1000")
    size = max_results or HISTORY_PAGE
    ordered = sorted(events, key=lambda e: e["id"], reverse=reverse)
    if next_token:
        try:
            token = json.loads(base64.urlsafe_b64decode(next_token.encode()))
            after = int(token["after"]) if token["arn"] == execution_arn and token["reverse"] == reverse else None
        except (ValueError, TypeError, KeyError):
            after = None
        if after is None:  # garbage, or the token of another execution or order
            raise InvalidToken()  # AWS: "Invalid Token: 'Invalid token'"
        ordered = [e for e in ordered if (e["id"] < after if reverse else e["id"] > after)]
    page = ordered[:size]
    if not include_data:
        page = [_without_data(event) for event in page]
    answer = {"events": page}
    if len(ordered) > size:
        answer["nextToken"] = base64.urlsafe_b64encode(json.dumps(
            {"arn": execution_arn, "reverse": reverse, "after": page[-1]["id"]}).encode()).decode()
    return answer


def _without_data(event: dict) -> dict:
    return {key: ({k: v for k, v in value.items() if k not in _DATA_FIELDS}
                  if key.endswith("EventDetails") and isinstance(value, dict) else value)
            for key, value in event.items()}


def history_seam():
    from moto.stepfunctions.responses import StepFunctionResponse

    return StepFunctionResponse, "get_execution_history"


def install_history_pages() -> None:
    """GetExecutionHistory honours maxResults, nextToken, reverseOrder and includeExecutionData.

    moto answered every event at once, oldest first, whatever was asked, with
    no nextToken (so boto3's paginator made one page).
    """
    from moto.core.responses import ActionResult

    cls, name = history_seam()
    if getattr(getattr(cls, name), "_localcloud", False):
        return

    def get_execution_history(self):
        arn = self._get_param("executionArn")
        events = self.stepfunction_backend.get_execution_history(arn)["events"]
        include = self._get_param("includeExecutionData")
        return ActionResult(history_page(
            events, arn, max_results=self._get_int_param("maxResults") or 0,
            reverse=bool(self._get_param("reverseOrder")), next_token=self._get_param("nextToken"),
            include_data=include is None or bool(include)))

    get_execution_history._localcloud = True
    setattr(cls, name, get_execution_history)


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
