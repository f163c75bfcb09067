"""Step Functions: paths and Choice rules read as AWS reads them, and SendTaskFailure's cause kept.

Mends of moto bugs, registered in seams.py (group "stepfunctions"), each with
its issue text in docs/upstream.md:

* `sfn-jsonpath-definite` - a definite path (no wildcard, slice, filter, deep
  scan or list of indexes) selects one value: `$[1].Labels` is the label, not
  a one-element list. moto's `extract_json` made a list of any match whose
  parent was an array index. Patch point: `json_path.extract_json`, where it is
  defined and where the engine's modules imported it.
* `sfn-choice-missing-path` - a Choice rule whose Variable path is missing from
  the input fails the execution with States.Runtime (IsPresent excepted); moto
  let the rule evaluate to false, so a `Not` of it matched. Patch point:
  `ComparisonVariable._eval_body`.
* `sfn-task-failure-cause` - SendTaskFailure's `cause` reaches the TaskFailed
  event and the execution's cause; moto's response handler dropped it. Patch
  point: `StepFunctionResponse.send_task_failure`.
"""

from __future__ import annotations

import importlib
import re

_INDEFINITE = re.compile(r"\.\.|\*|\[\s*\?|\[[^\]'\"]*[:,][^\]'\"]*\]")


def is_definite(path: str) -> bool:
    """True when `path` can select one node only (Jayway's definite path): no `..`, `*`, filter, slice or index list."""
    return not _INDEFINITE.search(path)


def extract(path: str, data):
    """What the path selects, as AWS's JSONPath gives it: one value for a definite path, else a list."""
    from moto.stepfunctions.parser.asl.utils import json_path

    if not is_definite(path):
        return _original_extract(path, data)
    matches = json_path.parse(path).find(data)
    if not matches:
        raise json_path.NoSuchJsonPathError(json_path=path, data=data)
    return matches[0].value


def _original_extract(path, data):
    from moto.stepfunctions.parser.asl.utils import json_path

    original = getattr(json_path.extract_json, "__wrapped__", json_path.extract_json)
    return original(path, data)


def install_definite_paths() -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    current = json_path.extract_json
    if getattr(current, "_localcloud", False):
        return

    def extract_json(path, data):
        return extract(path, data)

    extract_json.__wrapped__ = current
    extract_json._localcloud = True
    json_path.extract_json = extract_json
    for name in USERS:  # the modules that imported it by name (seams.py lists them)
        module = importlib.import_module(name)
        if getattr(module, "extract_json", None) is current:
            module.extract_json = extract_json


_PARSER = "moto.stepfunctions.parser.asl."
USERS = tuple(_PARSER + name for name in (
    "eval.states", "component.intrinsic.argument.argument", "component.common.string.string_expression",
    *("component.state.choice.comparison.operator.implementations." + module
      for module in ("boolean_equals", "numeric", "string_operators", "timestamp_operators"))))


def install_choice_missing_path() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_operator_type import (
        ComparisonOperatorType,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_variable import (
        ComparisonVariable,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = ComparisonVariable.__dict__["_eval_body"]
    if getattr(original, "_localcloud", False):
        return

    def _eval_body(self, env):
        if self.comparison_function.operator_type != ComparisonOperatorType.IsPresent:
            self.variable.eval(env)
            value = env.stack[-1]
            if isinstance(value, NoSuchVariable):
                path = self.variable.string_sampler.literal_value
                cause = (f"Invalid path '{path}': The choice state's condition path references an invalid "
                         "value.")
                raise FailureEventException(failure_event=FailureEvent(
                    env=env, error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                        error=StatesErrorNameType.StatesRuntime.to_name(), cause=cause))))
            env.stack.pop()
        original(self, env)

    _eval_body._localcloud = True
    ComparisonVariable._eval_body = _eval_body


def install_task_failure_cause() -> None:
    from moto.stepfunctions.responses import EmptyResult, StepFunctionResponse

    if getattr(StepFunctionResponse.__dict__["send_task_failure"], "_localcloud", False):
        return

    def send_task_failure(self):
        self.stepfunction_backend.send_task_failure(self._get_param("taskToken"), error=self._get_param("error"),
                                                    cause=self._get_param("cause"))
        return EmptyResult()

    send_task_failure._localcloud = True
    StepFunctionResponse.send_task_failure = send_task_failure


def install_states_error_names() -> None:
    """Error names that begin with `States.` may be raised and caught by a workflow (`sfn-states-error-names`).

    AWS's service deploys and runs them (a Fail state's `States.Runtime` inside
    a Map, an `ErrorEquals` of a name of the workflow's own); moto refused them
    at CreateStateMachine ("Custom Error Names MUST NOT begin with the prefix
    'States.'"), and a `States.Runtime` raised inside an inline Map failed the
    execution with that refusal. Patch point: `CustomErrorName.__init__`.
    """
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName

    if getattr(CustomErrorName.__dict__["__init__"], "_localcloud", False):
        return

    def __init__(self, error_name):
        ErrorName.__init__(self, error_name=error_name)

    __init__._localcloud = True
    CustomErrorName.__init__ = __init__
