"""Step Functions: moto's ASL engine switched on, its executions named, its calls served in-process.

`install(port, credentials)` (the server's wiring calls it with the first
Step Functions or CloudFormation request):

* `execute_state_machine` on: moto runs executions (its port of the
  LocalStack ASL interpreter): real histories, `waitForTaskToken`,
  `SendTaskSuccess`, service integrations.
* an execution started without a name gets a UUID, as on AWS
  (`install_execution_names`; moto named it "None", so a second one collided).
* the engine's service calls are the state machine's role's (or the task's
  `Credentials.RoleArn`), on shared boto3 clients served in-process
  (`install_engine_credentials`, server/inprocess.py), so IAM evaluates them
  as the role's, as on AWS.

Registered in seams.py and applied with the "stepfunctions" group: one
evaluation program per definition (`install_engine_caches`, a speed patch)
and the definition parser's error codes (`install_parser_error_codes`). The
other mends of moto's Step Functions live beside this module: history.py
(GetExecutionHistory pages), task_tokens.py (a token answered once),
integrations.py (Lambda, SNS, SQS, DynamoDB, aws-sdk and API Gateway tasks),
distributed_map.py; api.py serves TestState and ValidateStateMachineDefinition.
"""

from __future__ import annotations

import functools
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
        install_engine_credentials(credentials, port)

    install_execution_names()


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


def install_engine_credentials(credentials=None, port: int | None = None) -> None:
    """The engine's service calls: as the state machine's role, on shared clients, served in-process.

    moto's `boto_client_for(region, service, state_credentials)` builds a new
    client for every call the engine makes, signed with the key "ak" (which
    the local cloud refuses), talking HTTP to localhost:$MOTO_PORT. The
    replacement hands out `inprocess.client(...)`: one client per service,
    region and role (`state_credentials.role_arn`: the execution role, or the
    task's `Credentials`), whose calls the server's WSGI app serves in-process
    as that role's session once the server has attached it (see server/inprocess.py).
    It replaces the function where it is defined (modules imported later pick
    that up) and in every engine module that already imported it.
    """
    import sys

    from moto.stepfunctions.parser.asl.utils import boto_client

    from ...server import inprocess
    from ...server.authentication import engine_caller

    endpoint = f"http://127.0.0.1:{port or os.environ.get('MOTO_PORT', '5000')}"
    original = getattr(boto_client.boto_client_for, "__wrapped__", boto_client.boto_client_for)

    def boto_client_for(region, service, state_credentials=None):
        return inprocess.client(service, region, endpoint, engine_caller(getattr(state_credentials, "role_arn", None)))

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


def install_parser_error_codes() -> list:
    """The definition parser's errors reach the client with their code (`sfn-parser-error-codes`).

    moto's parser exceptions (`InvalidDefinition`, `TaskDoesNotExist`, ...)
    declare `code` / `status_code`; moto's AWSError reads `TYPE` / `STATUS`, so
    the client got an empty error code. Returns the attributes added.
    """
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import api

    added = []
    for value in vars(api).values():
        if isinstance(value, type) and issubclass(value, AWSError) and value is not AWSError:
            code = value.__dict__.get("code")
            if isinstance(code, str) and not value.__dict__.get("TYPE"):
                value.TYPE = code
                value.STATUS = value.__dict__.get("status_code", value.STATUS)
                added.extend([(value, "TYPE"), (value, "STATUS")])
    return added


def express_arn(execution_arn: str) -> str:
    """`arn:...:execution:MACHINE:NAME` -> AWS's Express form `arn:...:express:MACHINE:NAME:UUID`."""
    head, sep, rest = execution_arn.partition(":execution:")
    if not sep:
        return execution_arn
    return f"{head}:express:{rest}:{uuid.uuid4()}"


def machine_type(machine) -> str:
    """STANDARD or EXPRESS (moto keeps the type in `type`; its `sm_type` always says STANDARD)."""
    return str(getattr(machine, "type", None) or "STANDARD")


def express_arn_seam():
    from moto.stepfunctions.parser.backend.execution import Execution

    return Execution, "__init__"


def install_express_execution_arns() -> None:
    """An Express execution's ARN has AWS's Express form (`sfn-express-execution-arns`).

    AWS (concepts-standard-vs-express.html, API_StartExecution.html): an Express
    execution is `arn:aws:states:REGION:ACCOUNT:express:MACHINE:NAME:ID`;
    moto gave it the Standard `...:execution:MACHINE:NAME`, which applications
    that parse the ARN (the type, the machine) read wrongly.
    Patch point: `Execution.__init__` (the ARN is made just before it).
    """
    cls, name = express_arn_seam()
    original = cls.__dict__[name]
    if getattr(original, "_localcloud", False):
        return

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if machine_type(self.state_machine) == "EXPRESS":
            self.exec_arn = self.execution_arn = express_arn(self.exec_arn)

    __init__._localcloud = True
    __init__.__wrapped__ = original
    setattr(cls, name, __init__)
