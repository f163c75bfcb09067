"""Step Functions: moto's ASL engine switched on, and executions always named.

* `execute_state_machine` makes moto run executions (its port of the
  LocalStack ASL interpreter): real histories, `waitForTaskToken`,
  `SendTaskSuccess`, service integrations. The engine calls the other
  services at `http://localhost:$MOTO_PORT`, so MOTO_PORT is set to the
  local cloud's port.
* moto's engine named an execution started without a name
  `...:execution:NAME:None`, so the second such StartExecution failed with
  ExecutionAlreadyExists. AWS picks a UUID; so does the patch here
  (`StepFunctionsParserBackend.start_execution`).
* the engine's own calls (Lambda, SNS, ... integrations) are signed with
  the server's per-start key (`install_engine_credentials`): moto signs them
  with a fixed dummy key, which the local cloud refuses.
* a task token whose task is over (timed out, answered) gets TaskTimedOut /
  TaskDoesNotExist, as on AWS; moto said InvalidToken (`install_task_token_errors`).
"""

from __future__ import annotations

import os
import uuid


def seam():
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    return StepFunctionsParserBackend, "start_execution"


def install(port: int, credentials=None) -> None:
    from moto.core.config import default_user_config

    os.environ["MOTO_PORT"] = str(port)
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    if credentials is not None:
        install_engine_credentials(credentials)

    cls, name = seam()
    original = getattr(cls, name)
    if getattr(original, "_localcloud", False):
        install_task_token_errors()
        return

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    start_execution._localcloud = True
    setattr(cls, name, start_execution)
    install_task_token_errors()
    install_engine_caches()


def install_engine_credentials(credentials) -> None:
    """Sign the engine's service calls with the server's key.

    moto's `boto_client_for(region, service, state_credentials)` builds every
    client the engine uses with the key "ak"; the local cloud refuses unknown
    keys, so the function is replaced where it is defined (modules imported
    later pick that up) and in every engine module that already imported it.
    """
    import sys

    from moto.stepfunctions.parser.asl.utils import boto_client

    original = getattr(boto_client.boto_client_for, "__wrapped__", boto_client.boto_client_for)

    def boto_client_for(region, service, state_credentials=None):
        client = original(region, service, state_credentials)
        # botocore keeps the credentials on the signer: swap them for the server's key
        from botocore.credentials import Credentials

        client._request_signer._credentials = Credentials(credentials.access_key_id,
                                                          credentials.secret_access_key)
        return client

    boto_client_for.__wrapped__ = original
    boto_client_for._localcloud = True
    boto_client.boto_client_for = boto_client_for
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for


def engine_client_seam():
    """moto's engine client factory; a test pins it (fails loudly if moto moves it)."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    return boto_client, "boto_client_for"


def install_engine_caches() -> None:
    """Parse each definition once, not once per execution.

    Profiling a burst of incidents showed about two thirds of the server's time
    in moto re-parsing the same ASL text for every execution (two per incident:
    the revert's own CloudTrail event starts one that ends at IgnoreOwnChange),
    and most of the rest building a JSONPath parser per path. The ANTLR parse
    tree is cached per definition text and each execution still gets fresh
    evaluation components from it (`Preprocessor().visit`), so no execution
    state is shared; parsed JSONPath expressions are immutable.
    """
    import functools

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    if getattr(ExecutionWorker._get_evaluation_entrypoint, "_localcloud", False):
        return

    @functools.lru_cache(maxsize=64)
    def parse_tree(definition: str):
        return AmazonStateLanguageParser.parse(definition)[1]

    def _get_evaluation_entrypoint(self):
        tree = parse_tree(self._evaluation_details.state_machine_details.definition)
        return Preprocessor().visit(tree)

    _get_evaluation_entrypoint._localcloud = True
    ExecutionWorker._get_evaluation_entrypoint = _get_evaluation_entrypoint
    if not hasattr(json_path.parse, "cache_info"):
        json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)


def backend(account_id: str, region: str):
    from moto.stepfunctions.responses import get_backend

    return get_backend(account_id, region)


def _finished_task_error(backend, task_token):
    """TaskTimedOut / TaskDoesNotExist for a token of a task that is over, else None."""
    from moto.stepfunctions.parser.api import TaskDoesNotExist, TaskTimedOut
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackConsumerTimeout

    for execution in backend._get_executions():
        try:
            endpoint = execution.exec_worker.env.callback_pool_manager.get(task_token)
        except AttributeError:
            continue
        if endpoint is not None:
            # nobody answered before the task ended: it timed out; else it was answered already
            if isinstance(endpoint.consumer_error, CallbackConsumerTimeout) or endpoint.get_outcome() is None:
                return TaskTimedOut("Task Timed Out: 'Provided task does not exist anymore'", "TaskTimedOut", 400)
            return TaskDoesNotExist("Task does not exist anymore", "TaskDoesNotExist", 400)
    return None


def install_task_token_errors() -> None:
    """A token whose task is over: TaskTimedOut / TaskDoesNotExist, as AWS answers, not InvalidToken.

    moto looks a token up among RUNNING executions only, so answering an
    approval after its timeout (the execution has FAILED) said "InvalidToken".
    Patch points: `StepFunctionsParserBackend.send_task_success` / `send_task_failure`.
    """
    from moto.stepfunctions.parser.api import InvalidToken
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend as cls

    for name in ("send_task_success", "send_task_failure"):
        original = getattr(cls, name)
        if getattr(original, "_localcloud", False):
            continue

        def wrapper(self, task_token, *args, __original=original, **kwargs):
            try:
                return __original(self, task_token, *args, **kwargs)
            except InvalidToken:
                error = _finished_task_error(self, task_token)
                if error is not None:
                    raise error from None
                raise

        wrapper._localcloud = True
        setattr(cls, name, wrapper)
