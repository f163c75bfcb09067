"""The Step Functions `TestState` and `ValidateStateMachineDefinition` APIs, offline.

    from workshop.asl.test_state import test_state, validate_state_machine_definition
    test_state({"definition": json.dumps(state), "input": json.dumps(event),
                "inspectionLevel": "DEBUG"})
    test_state({"definition": machine_json, "stateName": "ValidatePolicy", "input": "...",
                "mock": {"errorOutput": {"error": "InvalidPolicyDocument", "cause": "..."}}})

Both take the request as boto3 sends it and return the response shape of the
AWS API (the members of botocore's stepfunctions service-2.json). A request
AWS would refuse raises `TestStateError` (a subclass per AWS error code:
`InvalidDefinition`, `InvalidExecutionInput`, `ValidationException`), whose
`code` and `message` a server can send back as the AWS error.

One state is evaluated the way Step Functions does, without running anything:
InputPath -> Parameters (paths, `.$`, intrinsic functions) -> the mocked
result -> ResultSelector -> ResultPath -> OutputPath for JSONPath states, and
Arguments / Output / Assign with `$states` for JSONata states. A mocked error
goes through Retry (RETRIABLE, while `stateConfiguration.retrierRetryCount`
is below MaxAttempts) and Catch (CAUGHT_ERROR with the catcher's Next). Choice
rules pick `nextState`; Wait does not wait. Offline there is nothing to call,
so a Task, Map or Parallel state needs a `mock`: without one `MockRequired`
is raised (the local cloud may catch it and invoke the real resource).

Reference paths (`$.a.b[0]`, `$$.Execution.Id`, `$var.x`) are read here;
other JSONPath queries (wildcards, filters, slices) and the intrinsic
functions are evaluated by moto's port of the LocalStack ASL interpreter
(`moto.stepfunctions.parser`), JSONata by jsonata-python. Both are imported
only when a state needs them, so importing this module stays cheap.
"""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import datetime, timezone

__all__ = [
    "test_state", "validate_state_machine_definition", "TestStateError", "InvalidDefinition",
    "InvalidExecutionInput", "ValidationException", "MockRequired",
]

INSPECTION_LEVELS = ("INFO", "DEBUG", "TRACE")
FIELD_VALIDATION_MODES = ("STRICT", "PRESENT", "NONE")
TESTABLE_TYPES = ("Task", "Pass", "Wait", "Choice", "Succeed", "Fail", "Map", "Parallel")
MOCKABLE_TYPES = ("Task", "Map", "Parallel")
DEFAULT_STATE_NAME = "TestState"
ACCOUNT = "123456789012"
REGION = "us-east-1"
# Errors no Retry or Catch can handle (the ASL spec: States.ALL does not match them).
UNHANDLED_ERRORS = {"States.Runtime", "States.DataLimitExceeded"}
_PLACEHOLDER = re.compile(r"\$\{[^}]+\}")
_SIMPLE_STEP = re.compile(r"\.([^.\[\]'\"()*@?\s]+)|\['((?:[^'\\]|\\.)*)'\]|\[(-?\d+)\]")
_JSONATA = re.compile(r"^\{%(.*)%\}$", re.S)


# --- errors ---------------------------------------------------------------------------


class TestStateError(Exception):
    """A request Step Functions would refuse; `code` is the AWS error code."""

    __test__ = False  # not a pytest test class, whatever its name
    code = "ValidationException"

    def __init__(self, message: str, diagnostics: list | None = None):
        super().__init__(message)
        self.message = message
        self.diagnostics = list(diagnostics or [])


class InvalidDefinition(TestStateError):
    code = "InvalidDefinition"


class InvalidExecutionInput(TestStateError):
    code = "InvalidExecutionInput"


class ValidationException(TestStateError):
    code = "ValidationException"


class MockRequired(ValidationException):
    """A Task/Map/Parallel state was tested offline without a mock."""


class _Failure(Exception):
    """The state failed at run time with a Step Functions error name and cause."""

    def __init__(self, error: str, cause: str):
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


def _runtime(cause: str) -> _Failure:
    return _Failure("States.Runtime", cause)


# --- reading the request ------------------------------------------------------------------


def _json_text(text, what: str, exc_class, default=None):
    """Parse a JSON text member of the request; errors name the member, line and column."""
    if text is None:
        return copy.deepcopy(default)
    if not isinstance(text, str):
        raise ValidationException(f"'{what}' must be a string holding JSON text, not {type(text).__name__}; "
                                  "pass json.dumps(value).")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise exc_class(f"'{what}' is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
                        "Pass json.dumps(value), not a Python repr.") from None


def _to_json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _diagnostic_text(diagnostics: list) -> str:
    return "; ".join(f"{d['code']} at {d.get('location', '/')}: {d['message']}" for d in diagnostics)


def _load_definition(request: dict) -> tuple[str, dict, dict | None]:
    """(state name, state, whole machine or None) after validating the definition."""
    from workshop.asl.source import JsonTextError, load_json
    from workshop.asl.validator import validate, validate_state

    text = request.get("definition")
    if text is None or (isinstance(text, str) and not text.strip()):
        raise ValidationException("'definition' is required: the JSON of one state, or of a whole state machine "
                                  "together with 'stateName'.")
    if isinstance(text, dict):
        doc = text
    else:
        try:
            doc, _ = load_json(text)
        except JsonTextError as exc:
            where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
            raise InvalidDefinition(f"Invalid State Machine Definition: the definition is not valid JSON: "
                                    f"{exc}{where}.") from None
    if not isinstance(doc, dict):
        raise InvalidDefinition("Invalid State Machine Definition: the definition must be a JSON object (a state "
                                "with \"Type\", or a state machine with \"StartAt\" and \"States\").")
    state_name = request.get("stateName")
    if state_name is not None:
        if "States" not in doc:
            raise InvalidDefinition("Invalid State Machine Definition: 'stateName' is given, so 'definition' must "
                                    "be a whole state machine (with StartAt and States), not a single state.")
        result = validate(text if isinstance(text, str) else json.dumps(doc))
        errors = [d for d in result["diagnostics"] if d["severity"] == "ERROR"]
        if errors:
            raise InvalidDefinition(f"Invalid State Machine Definition: {_diagnostic_text(errors)}", errors)
        states = doc.get("States") or {}
        if state_name not in states:
            names = ", ".join(sorted(states)) or "(none)"
            raise ValidationException(f"stateName '{state_name}' is not a state of the definition; its states "
                                      f"are: {names}.")
        state = dict(states[state_name])
        if "QueryLanguage" not in state and doc.get("QueryLanguage"):
            state["QueryLanguage"] = doc["QueryLanguage"]
        return state_name, state, doc
    if "States" in doc or "StartAt" in doc:
        raise ValidationException("The definition is a whole state machine: say which state to test with "
                                  "'stateName'.")
    if "Type" not in doc:
        raise InvalidDefinition("Invalid State Machine Definition: the state has no \"Type\" field (one of "
                                f"{', '.join(TESTABLE_TYPES)}).")
    name = DEFAULT_STATE_NAME
    # The text, not the parsed dict: a key written twice is an error (json keeps only the last one).
    result = validate_state(text if isinstance(text, str) else doc, name)
    # Next/Default/Catch targets live in the machine the state will join, not here.
    errors = [d for d in result["diagnostics"]
              if d["severity"] == "ERROR" and d["code"] not in ("MISSING_TRANSITION_TARGET", "MISSING_END_STATE")]
    if errors:
        for d in errors:
            d["location"] = d.get("location", "/").replace(f"/States/{name}", "", 1) or "/"
        raise InvalidDefinition(f"Invalid State Machine Definition: {_diagnostic_text(errors)}", errors)
    return name, doc, None


def _placeholders(value) -> list[str]:
    found: list[str] = []
    if isinstance(value, str):
        found.extend(_PLACEHOLDER.findall(value))
    elif isinstance(value, list):
        for item in value:
            found.extend(_placeholders(item))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.extend(_placeholders(key))
            found.extend(_placeholders(item))
    return found


# --- JSONPath -----------------------------------------------------------------------------


def _simple_steps(path: str, root_len: int) -> list | None:
    """The steps of `.a['b'][0]` after the root, or None if the path needs a full JSONPath engine."""
    steps, i = [], root_len
    while i < len(path):
        match = _SIMPLE_STEP.match(path, i)
        if not match:
            return None
        if match.group(1) is not None:
            steps.append(match.group(1))
        elif match.group(2) is not None:
            steps.append(re.sub(r"\\(.)", r"\1", match.group(2)))
        else:
            steps.append(int(match.group(3)))
        i = match.end()
    return steps


class _Scope:
    """What paths can read: the data (`$`), the context object (`$$`) and variables (`$name`)."""

    def __init__(self, context: dict, variables: dict):
        self.context = context
        self.variables = variables

    def read(self, path: str, data):
        if not isinstance(path, str) or not path.startswith("$"):
            raise _runtime(f"'{path}' is not a JSONPath: paths start with '$'.")
        if path.startswith("$$"):
            return self._query("$" + path[2:], self.context, path, "the context object")
        match = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", path)
        if match:
            name = match.group(1)
            if name not in self.variables:
                known = ", ".join(sorted(self.variables)) or "none are set"
                raise _runtime(f"The variable '${name}' is not defined ({known}); set it with 'variables' or an "
                               "Assign.")
            return self._query("$" + path[match.end():], self.variables[name], path, f"variable ${name}")
        return self._query(path, data, path, "the input")

    @staticmethod
    def _query(path: str, data, shown: str, what: str):
        steps = _simple_steps(path, 1)
        if steps is not None:
            node = data
            for step in steps:
                if isinstance(step, int) and isinstance(node, list) and -len(node) <= step < len(node):
                    node = node[step]
                elif isinstance(step, str) and isinstance(node, dict) and step in node:
                    node = node[step]
                else:
                    raise _runtime(f"Invalid path '{shown}': The JSONPath '{shown}' could not be found in "
                                   f"{what} '{_to_json(data)}'")
            return node
        from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError, extract_json

        try:
            return extract_json(path, data)
        except NoSuchJsonPathError:
            raise _runtime(f"Invalid path '{shown}': The JSONPath '{shown}' could not be found in {what} "
                           f"'{_to_json(data)}'") from None
        except Exception as exc:  # jsonpath-ng refuses the syntax
            raise _runtime(f"Invalid path '{shown}': {exc}") from None


def _write_result(path, data, result):
    """ResultPath: put `result` into (a copy of) `data` at the reference path."""
    if path is None:
        return copy.deepcopy(data)
    if path == "$":
        return copy.deepcopy(result)
    steps = _simple_steps(path, 1) if path.startswith("$") and not path.startswith("$$") else None
    if not steps:
        raise _runtime(f"Invalid ResultPath '{path}': it must be a reference path such as $.field or $.a['b'][0].")
    out = copy.deepcopy(data)
    if not isinstance(out, dict):
        raise _runtime(f"Unable to apply ResultPath '{path}': the state input is {_to_json(data)[:60]}, not a "
                       "JSON object, so there is nowhere to put the result. Use ResultPath \"$\" or null.")
    node = out
    for step, following in zip(steps, steps[1:] + [None]):
        last = following is None
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                raise _runtime(f"Unable to apply ResultPath '{path}': index {step} is not in the array.")
            if last:
                node[step] = copy.deepcopy(result)
            else:
                node = node[step]
            continue
        if not isinstance(node, dict):
            raise _runtime(f"Unable to apply ResultPath '{path}': '{step}' is under a value that is not an object.")
        if last:
            node[step] = copy.deepcopy(result)
        else:
            if not isinstance(node.get(step), (dict, list)):
                node[step] = {}
            node = node[step]
    return out


# --- intrinsic functions and payload templates ---------------------------------------------


class _IntrinsicEnv:
    """The slice of moto's Environment its intrinsic-function components read."""

    class _States:
        def __init__(self, data, context):
            self._data = data
            self.context_object = type("ContextObject", (), {"context_object_data": context})()

        def get_input(self):
            return self._data

    def __init__(self, data, scope: _Scope):
        self.stack = [data]
        self.states = self._States(data, scope.context)
        self.next_field_name = None

    @staticmethod
    def is_running() -> bool:
        return True


def _bind_variables(component, scope: _Scope, seen=None):
    """Read `$name` arguments from our variables (moto's own reader needs a JSONata engine)."""
    from moto.stepfunctions.parser.asl.component.intrinsic.argument.argument import ArgumentVar

    seen = seen if seen is not None else set()
    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, ArgumentVar):
        expression = component.string_variable_sample.expression
        component._eval_argument = lambda env, expression=expression: copy.deepcopy(scope.read(expression, None))
        return
    children = getattr(component, "__dict__", {}).values()
    for child in children:
        for item in (child if isinstance(child, (list, tuple)) else [child]):
            if hasattr(item, "__dict__") and type(item).__module__.startswith("moto.stepfunctions"):
                _bind_variables(item, scope, seen)


def _intrinsic(text: str, data, scope: _Scope):
    from workshop.asl.intrinsics import IntrinsicSyntaxError, parse_intrinsic

    try:
        parse_intrinsic(text)
    except IntrinsicSyntaxError as exc:
        raise _Failure("States.IntrinsicFailure", f"'{text}' is not a valid intrinsic function call: {exc}") from None
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.parse.intrinsic.intrinsic_parser import IntrinsicParser

    function, _ = IntrinsicParser.parse(text)
    _bind_variables(function, scope)
    env = _IntrinsicEnv(data, scope)
    import logging

    logger = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # moto logs every failed evaluation at ERROR
    try:
        function.eval(env)
    except _Failure:
        raise
    except FailureEventException as exc:
        pair = exc.extract_error_cause_pair() or (None, None)
        raise _Failure(pair[0] or "States.IntrinsicFailure", pair[1] or f"'{text}' failed.") from None
    except Exception as exc:
        raise _Failure("States.IntrinsicFailure",
                       f"'{text}' failed: {type(exc).__name__}: {exc}") from None
    finally:
        logger.setLevel(level)
    return env.stack[-1]


def _dynamic(value: str, data, scope: _Scope):
    if value.startswith("States."):
        return _intrinsic(value, data, scope)
    return copy.deepcopy(scope.read(value, data))


def _payload(template, data, scope: _Scope):
    """A payload template (Parameters, ResultSelector, ItemSelector, Assign) against `data`."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                out[key[:-2]] = _dynamic(value, data, scope)
            else:
                out[key] = _payload(value, data, scope)
        return out
    if isinstance(template, list):
        return [_payload(item, data, scope) for item in template]
    return copy.deepcopy(template)


# --- JSONata --------------------------------------------------------------------------------


def _jsonata(value, bindings: dict):
    """Evaluate `{% ... %}` strings anywhere in `value`; everything else is literal."""
    if isinstance(value, str):
        match = _JSONATA.match(value.strip())
        if not match:
            return value
        try:
            import jsonata
        except ImportError:  # pragma: no cover - jsonata-python is a kit dependency
            raise _runtime("JSONata expressions need the jsonata-python package.") from None
        try:
            return jsonata.Jsonata(match.group(1)).evaluate(None, bindings)
        except Exception as exc:
            raise _Failure("States.QueryEvaluationError", f"The JSONata expression '{match.group(1).strip()}' "
                           f"failed: {exc}") from None
    if isinstance(value, dict):
        return {key: _jsonata(item, bindings) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonata(item, bindings) for item in value]
    return copy.deepcopy(value)


# --- Choice rules ---------------------------------------------------------------------------


def _timestamp(value):
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _string_matches(value: str, pattern: str) -> bool:
    regex, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if ch == "*" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(regex), value, re.S) is not None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_COMPARE = {"Equals": lambda a, b: a == b, "LessThan": lambda a, b: a < b, "GreaterThan": lambda a, b: a > b,
            "LessThanEquals": lambda a, b: a <= b, "GreaterThanEquals": lambda a, b: a >= b}


def _compare(kind: str, op: str, actual, expected) -> bool:
    if kind == "String":
        if not isinstance(actual, str) or not isinstance(expected, str):
            return False
        if op == "Matches":
            return _string_matches(actual, expected)
        return _COMPARE[op](actual, expected)
    if kind == "Numeric":
        if not _is_number(actual) or not _is_number(expected):
            return False
        return _COMPARE[op](actual, expected)
    if kind == "Boolean":
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if kind == "Timestamp":
        a, b = _timestamp(actual), _timestamp(expected)
        return a is not None and b is not None and _COMPARE[op](a, b)
    return False


_OPERATOR = re.compile(r"^(String|Numeric|Boolean|Timestamp)(Equals|LessThanEquals|GreaterThanEquals|LessThan|"
                       r"GreaterThan|Matches)(Path)?$")


def _rule_matches(rule: dict, data, scope: _Scope) -> bool:
    if "And" in rule:
        return all(_rule_matches(r, data, scope) for r in rule["And"])
    if "Or" in rule:
        return any(_rule_matches(r, data, scope) for r in rule["Or"])
    if "Not" in rule:
        return not _rule_matches(rule["Not"], data, scope)
    variable = rule.get("Variable")
    if "IsPresent" in rule:
        try:
            scope.read(variable, data)
            present = True
        except _Failure:
            present = False
        return present == bool(rule["IsPresent"])
    value = scope.read(variable, data)
    for op, test in (("IsNull", lambda v: v is None), ("IsNumeric", _is_number),
                     ("IsString", lambda v: isinstance(v, str)), ("IsBoolean", lambda v: isinstance(v, bool)),
                     ("IsTimestamp", lambda v: _timestamp(v) is not None)):
        if op in rule:
            return test(value) == bool(rule[op])
    for key, expected in rule.items():
        match = _OPERATOR.match(key)
        if match:
            kind, op, is_path = match.groups()
            if is_path:
                expected = scope.read(expected, data)
            return _compare(kind, op, value, expected)
    raise _runtime(f"The Choice rule {_to_json(rule)[:120]} has no comparison operator.")


# --- mocks ----------------------------------------------------------------------------------

# Output members of the service integrations the workshop uses: (type, required).
_MOCK_SHAPES = {
    "arn:aws:states:::lambda:invoke": {"StatusCode": int, "Payload": object, "ExecutedVersion": str,
                                       "FunctionError": str, "LogResult": str, "SdkHttpMetadata": dict,
                                       "SdkResponseMetadata": dict},
    "arn:aws:states:::sns:publish": {"MessageId": str, "SequenceNumber": str, "SdkHttpMetadata": dict,
                                     "SdkResponseMetadata": dict},
    "arn:aws:states:::http:invoke": {"StatusCode": int, "StatusText": str, "Headers": dict,
                                     "ResponseBody": object},
}


def _integration(resource: str) -> str:
    return re.sub(r"\.(sync(:2)?|waitForTaskToken)$", "", resource or "")


def _check_mock_result(resource: str, result, mode: str):
    shape = _MOCK_SHAPES.get(_integration(resource))
    if shape is None or mode == "NONE" or resource.endswith(".waitForTaskToken"):
        return
    if not isinstance(result, dict):
        raise ValidationException(f"The mocked result for {resource} must be a JSON object like the API's "
                                  f"response ({', '.join(shape)}); or set mock.fieldValidationMode to NONE.")
    for key, value in result.items():
        if key not in shape:
            if mode == "STRICT":
                raise ValidationException(f"The mocked result for {resource} has a field '{key}' the API does not "
                                          f"return (it returns {', '.join(shape)}); set fieldValidationMode to "
                                          "NONE to allow it.")
            continue
        expected = shape[key]
        ok = expected is object or (isinstance(value, expected) and not (expected is int and isinstance(value, bool)))
        if not ok:
            raise ValidationException(f"The mocked field '{key}' for {resource} must be "
                                      f"{'an integer' if expected is int else 'a ' + expected.__name__}, not "
                                      f"{_to_json(value)[:40]}.")


def _read_mock(request: dict, state: dict, state_type: str):
    mock = request.get("mock")
    if mock is None:
        if request.get("context") is not None:
            raise ValidationException("'context' may only be given together with 'mock'.")
        return None
    if not isinstance(mock, dict):
        raise ValidationException("'mock' must be an object with 'result' or 'errorOutput'.")
    if state_type not in MOCKABLE_TYPES:
        raise ValidationException(f"A mock can only be given for Task, Map or Parallel states, not a {state_type} "
                                  "state: remove 'mock'.")
    has_result, has_error = mock.get("result") is not None, mock.get("errorOutput") is not None
    if has_result == has_error:
        raise ValidationException("'mock' needs exactly one of 'result' (JSON text) or 'errorOutput' "
                                  "({'error': ..., 'cause': ...}).")
    mode = mock.get("fieldValidationMode") or "STRICT"
    if mode not in FIELD_VALIDATION_MODES:
        raise ValidationException(f"mock.fieldValidationMode must be one of {', '.join(FIELD_VALIDATION_MODES)}, "
                                  f"not '{mode}'.")
    if has_error:
        error_output = mock["errorOutput"]
        if not isinstance(error_output, dict) or not error_output.get("error"):
            raise ValidationException("mock.errorOutput needs an 'error' (the error name a Retry or Catch matches).")
        return {"error": str(error_output["error"]), "cause": str(error_output.get("cause") or "")}
    result = _json_text(mock["result"], "mock.result", ValidationException)
    if state_type == "Task":
        _check_mock_result(state.get("Resource", ""), result, mode)
    if state_type == "Map" and not isinstance(result, list) and mode != "NONE":
        raise ValidationException("The mocked result of a Map state must be a JSON array (one item per "
                                  "iteration).")
    if state_type == "Parallel" and not isinstance(result, list) and mode != "NONE":
        raise ValidationException("The mocked result of a Parallel state must be a JSON array (one item per "
                                  "branch).")
    return {"result": result}


# --- Retry and Catch ------------------------------------------------------------------------


def _error_matches(names: list, error: str) -> bool:
    if error in UNHANDLED_ERRORS:
        return False
    for name in names or []:
        if name == error or name == "States.ALL":
            return True
        if name == "States.TaskFailed" and error != "States.Timeout":
            return True
    return False


def _backoff(retrier: dict, attempt: int) -> int:
    interval = retrier.get("IntervalSeconds", 1)
    rate = retrier.get("BackoffRate", 2.0)
    seconds = interval * (rate ** attempt)
    if "MaxDelaySeconds" in retrier:
        seconds = min(seconds, retrier["MaxDelaySeconds"])
    return int(math.floor(seconds)) if seconds < 1e12 else int(1e12)


# --- running one state ----------------------------------------------------------------------


class _Run:
    def __init__(self, name, state, request, scope, level):
        self.name = name
        self.state = state
        self.type = state.get("Type")
        self.request = request
        self.scope = scope
        self.level = level
        self.jsonata = state.get("QueryLanguage") == "JSONata"
        self.inspection: dict = {}
        self.assigned = False

    def note(self, key, value):
        self.inspection[key] = _to_json(value)

    # JSONata helpers
    def bindings(self, data, **extra) -> dict:
        states = {"input": data, "context": self.scope.context}
        states.update(extra)
        out = dict(self.scope.variables)
        out["states"] = states
        return out

    def assign(self, assign, data, bindings=None):
        if assign is None:
            return
        if not isinstance(assign, dict):
            raise _runtime("Assign must be a JSON object of variable names to values.")
        values = _jsonata(assign, bindings) if self.jsonata else _payload(assign, data, self.scope)
        # Every value is computed from the variables as they were before this state.
        self.scope.variables.update(values)
        self.assigned = True

    def flow_result(self, output) -> dict:
        response = {"output": _to_json(output), "status": "SUCCEEDED"}
        if self.state.get("Next") and self.type not in ("Choice", "Succeed", "Fail"):
            response["nextState"] = self.state["Next"]
        return response

    # JSONPath input / output processing
    def input_path(self, raw):
        path = self.state.get("InputPath", "$")
        data = {} if path is None else copy.deepcopy(self.scope.read(path, raw))
        self.note("afterInputPath", data)
        return data

    def output_path(self, data):
        path = self.state.get("OutputPath", "$")
        return {} if path is None else copy.deepcopy(self.scope.read(path, data))

    def run(self, raw, mock) -> dict:
        self.note("input", raw)
        handler = getattr(self, f"state_{self.type.lower()}")
        return handler(raw, mock)

    def state_pass(self, raw, mock):
        if self.jsonata:
            output = _jsonata(self.state["Output"], self.bindings(raw)) if "Output" in self.state else raw
            self.assign(self.state.get("Assign"), raw, self.bindings(raw))
            return self.flow_result(output)
        data = self.input_path(raw)
        effective = data
        if "Parameters" in self.state:
            effective = _payload(self.state["Parameters"], data, self.scope)
        self.note("afterParameters", effective)
        result = copy.deepcopy(self.state["Result"]) if "Result" in self.state else effective
        self.note("result", result)
        self.assign(self.state.get("Assign"), result)
        after = _write_result(self.state.get("ResultPath", "$"), raw, result)
        self.note("afterResultPath", after)
        return self.flow_result(self.output_path(after))

    def state_wait(self, raw, mock):
        if self.jsonata:
            bindings = self.bindings(raw)
            for key in ("Seconds", "Timestamp"):
                if key in self.state:
                    self.check_wait(key, _jsonata(self.state[key], bindings))
            output = _jsonata(self.state["Output"], bindings) if "Output" in self.state else raw
            self.assign(self.state.get("Assign"), raw, bindings)
            return self.flow_result(output)
        data = self.input_path(raw)
        if "SecondsPath" in self.state:
            self.check_wait("Seconds", self.scope.read(self.state["SecondsPath"], data))
        if "TimestampPath" in self.state:
            self.check_wait("Timestamp", self.scope.read(self.state["TimestampPath"], data))
        self.assign(self.state.get("Assign"), data)
        return self.flow_result(self.output_path(data))  # offline: no waiting

    def check_wait(self, key, value):
        if key == "Seconds" and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise _runtime(f"The Wait state's seconds must be a non-negative integer, got {_to_json(value)}.")
        if key == "Timestamp" and _timestamp(value) is None:
            raise _runtime(f"The Wait state's timestamp must be an ISO 8601 time such as "
                               f"2026-11-28T10:15:30Z, got {_to_json(value)}.")

    def state_succeed(self, raw, mock):
        if self.jsonata:
            output = _jsonata(self.state["Output"], self.bindings(raw)) if "Output" in self.state else raw
        else:
            output = self.output_path(self.input_path(raw))
        return {"output": _to_json(output), "status": "SUCCEEDED"}

    def state_fail(self, raw, mock):
        def text(field):
            if self.jsonata:
                value = _jsonata(self.state.get(field), self.bindings(raw))
            elif f"{field}Path" in self.state:
                value = _dynamic(self.state[f"{field}Path"], raw, self.scope)
            else:
                value = self.state.get(field)
            if value is not None and not isinstance(value, str):
                raise _runtime(f"The Fail state's {field} must be a string, got {_to_json(value)}.")
            return value

        response = {"status": "FAILED"}
        error, cause = text("Error"), text("Cause")
        if error is not None:
            response["error"] = error
        if cause is not None:
            response["cause"] = cause
        return response

    def state_choice(self, raw, mock):
        if self.jsonata:
            bindings = self.bindings(raw)
            for rule in self.state.get("Choices", []):
                if _jsonata(rule.get("Condition"), bindings) is True:
                    self.assign(rule.get("Assign"), raw, bindings)
                    output = _jsonata(rule["Output"], bindings) if "Output" in rule else (
                        _jsonata(self.state["Output"], bindings) if "Output" in self.state else raw)
                    return {"output": _to_json(output), "nextState": rule["Next"], "status": "SUCCEEDED"}
            return self.choice_default(raw, bindings)
        data = self.input_path(raw)
        for rule in self.state.get("Choices", []):
            if _rule_matches(rule, data, self.scope):
                self.assign(rule.get("Assign"), data)
                return {"output": _to_json(self.output_path(data)), "nextState": rule["Next"], "status": "SUCCEEDED"}
        return self.choice_default(data, None)

    def choice_default(self, data, bindings):
        if "Default" not in self.state:
            return {"status": "FAILED", "error": "States.NoChoiceMatched",
                    "cause": f"No Choice rule matched and there is no Default in state '{self.name}'."}
        self.assign(self.state.get("Assign"), data, bindings)
        if self.jsonata:
            output = _jsonata(self.state["Output"], bindings) if "Output" in self.state else data
        else:
            output = self.output_path(data)
        return {"output": _to_json(output), "nextState": self.state["Default"], "status": "SUCCEEDED"}

    # Task, Map and Parallel: a mocked invocation
    def state_task(self, raw, mock):
        return self.invoke(raw, mock)

    state_map = state_parallel = state_task

    def effective_input(self, raw):
        if self.jsonata:
            arguments = self.state.get("Arguments")
            effective = _jsonata(arguments, self.bindings(raw)) if arguments is not None else raw
            if self.type == "Map":
                items = _jsonata(self.state["Items"], self.bindings(raw)) if "Items" in self.state else raw
                self.map_items(items, raw)
            else:
                self.note("afterArguments", effective)
            return effective
        data = self.input_path(raw)
        if self.type == "Map":
            items_path = self.state.get("ItemsPath", "$")
            items = self.scope.read(items_path, data)
            self.note("afterItemsPath", items)
            self.map_items(items, data)
            return data
        effective = _payload(self.state["Parameters"], data, self.scope) if "Parameters" in self.state else data
        self.note("afterParameters", effective)
        return effective

    def map_items(self, items, data=None):
        if not isinstance(items, list):
            raise _runtime(f"The Map state's items must be a JSON array, got {_to_json(items)[:80]}.")
        selector = self.state.get("ItemSelector", self.state.get("Parameters"))
        if selector is not None:
            selected = []
            for index, item in enumerate(items):
                self.scope.context.setdefault("Map", {})["Item"] = {"Index": index, "Value": item}
                if self.jsonata:
                    selected.append(_jsonata(selector, self.bindings(data)))
                else:
                    selected.append(_payload(selector, data, self.scope))
            self.scope.context.pop("Map", None)
            self.note("afterItemSelector", selected)
        for key in ("MaxConcurrency", "ToleratedFailureCount", "ToleratedFailurePercentage"):
            if key in self.state and not isinstance(self.state[key], str):
                self.inspection[key[0].lower() + key[1:]] = self.state[key]

    def invoke(self, raw, mock):
        effective = self.effective_input(raw)
        if not self.jsonata:
            data = self.scope.read(self.state.get("InputPath", "$"), raw) if self.state.get("InputPath", "$") else {}
            for field in ("TimeoutSecondsPath", "HeartbeatSecondsPath"):
                if field in self.state:
                    seconds = self.scope.read(self.state[field], data)
                    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
                        raise _runtime(f"{field} '{self.state[field]}' must point at a positive integer, got "
                                       f"{_to_json(seconds)}.")
        self.trace_request(effective)
        if "error" in mock:
            return self.handle_error(raw, mock["error"], mock["cause"])
        result = mock["result"]
        self.note("result", result)
        self.trace_response(result)
        if self.jsonata:
            bindings = self.bindings(raw, result=result)
            self.assign(self.state.get("Assign"), raw, bindings)
            output = _jsonata(self.state["Output"], bindings) if "Output" in self.state else result
            return self.flow_result(output)
        selected = _payload(self.state["ResultSelector"], result, self.scope) if "ResultSelector" in self.state \
            else result
        self.note("afterResultSelector", selected)
        self.assign(self.state.get("Assign"), selected)
        after = _write_result(self.state.get("ResultPath", "$"), raw, selected)
        self.note("afterResultPath", after)
        return self.flow_result(self.output_path(after))

    def handle_error(self, raw, error, cause):
        response = {"error": error, "cause": cause}
        config = self.request.get("stateConfiguration") or {}
        attempts_so_far = config.get("retrierRetryCount") or 0
        for index, retrier in enumerate(self.state.get("Retry") or []):
            if _error_matches(retrier.get("ErrorEquals"), error):
                if attempts_so_far < retrier.get("MaxAttempts", 3):
                    self.inspection["errorDetails"] = {"retryIndex": index,
                                                       "retryBackoffIntervalSeconds": _backoff(retrier,
                                                                                               attempts_so_far)}
                    response.update(status="RETRIABLE", nextState=self.name)
                    return response
                break  # this retrier is exhausted: on to Catch
        for index, catcher in enumerate(self.state.get("Catch") or []):
            if _error_matches(catcher.get("ErrorEquals"), error):
                error_output = {"Error": error, "Cause": cause}
                if self.jsonata:
                    bindings = self.bindings(raw, errorOutput=error_output)
                    self.assign(catcher.get("Assign"), raw, bindings)
                    output = _jsonata(catcher["Output"], bindings) if "Output" in catcher else error_output
                else:
                    self.assign(catcher.get("Assign"), error_output)
                    output = _write_result(catcher.get("ResultPath", "$"), raw, error_output)
                    self.note("afterResultPath", output)
                self.inspection["errorDetails"] = {"catchIndex": index}
                response.update(status="CAUGHT_ERROR", nextState=catcher["Next"], output=_to_json(output))
                return response
        response["status"] = "FAILED"
        return response

    # TRACE: the HTTP request and response of an HTTP Task
    def is_http(self) -> bool:
        return self.type == "Task" and _integration(self.state.get("Resource", "")) == "arn:aws:states:::http:invoke"

    def trace_request(self, effective):
        if self.level != "TRACE" or not self.is_http() or not isinstance(effective, dict):
            return
        url = str(effective.get("ApiEndpoint", ""))
        query = effective.get("QueryParameters")
        if isinstance(query, dict) and query:
            from urllib.parse import urlencode

            url += ("&" if "?" in url else "?") + urlencode(query)
        headers = effective.get("Headers") or {}
        body = effective.get("RequestBody")
        self.inspection["request"] = {
            "protocol": "https", "method": str(effective.get("Method", "GET")), "url": url,
            "headers": ", ".join(f"{k}: {v}" for k, v in headers.items()) if isinstance(headers, dict) else str(headers),
            "body": body if isinstance(body, str) or body is None else _to_json(body),
        }
        if self.inspection["request"]["body"] is None:
            del self.inspection["request"]["body"]

    def trace_response(self, result):
        if self.level != "TRACE" or not self.is_http() or not isinstance(result, dict):
            return
        headers = result.get("Headers") or {}
        body = result.get("ResponseBody")
        self.inspection["response"] = {
            "protocol": "https", "statusCode": str(result.get("StatusCode", 200)),
            "statusMessage": str(result.get("StatusText", "OK")),
            "headers": ", ".join(f"{k}: {v}" for k, v in headers.items()) if isinstance(headers, dict) else str(headers),
            "body": body if isinstance(body, str) else _to_json(body),
        }


def _default_context(name: str, raw, request: dict, now: str) -> dict:
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:TestStateMachine"
    config = request.get("stateConfiguration") or {}
    return {
        "Execution": {
            "Id": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:TestStateMachine:test-state",
            "Input": raw, "Name": "test-state", "StartTime": now, "RedriveCount": 0,
            "RoleArn": request.get("roleArn") or f"arn:aws:iam::{ACCOUNT}:role/TestStateRole",
        },
        "State": {"EnteredTime": now, "Name": name, "RetryCount": config.get("retrierRetryCount") or 0},
        "StateMachine": {"Id": machine, "Name": "TestStateMachine"},
    }


def test_state(request: dict, *, substitutions: dict | None = None) -> dict:
    """Run one state like the Step Functions TestState API; return its response.

    `substitutions` fills `${Name}` placeholders (SAM's DefinitionSubstitutions)
    in the definition first; placeholders left in the tested state are refused,
    as AWS would refuse them.
    """
    if not isinstance(request, dict):
        raise ValidationException("The request must be a dict of TestState parameters (definition, input, ...).")
    request = dict(request)
    if substitutions and isinstance(request.get("definition"), str):
        from workshop.asl.substitution import substitute_text

        request["definition"] = substitute_text(request["definition"], substitutions)
    level = request.get("inspectionLevel") or "INFO"
    if level not in INSPECTION_LEVELS:
        raise ValidationException(f"inspectionLevel must be one of {', '.join(INSPECTION_LEVELS)}, not '{level}'.")
    name, state, _ = _load_definition(request)
    state_type = state.get("Type")
    if state_type not in TESTABLE_TYPES:
        raise InvalidDefinition(f"Invalid State Machine Definition: TestState cannot run a state of Type "
                                f"'{state_type}'.")
    leftover = _placeholders(state)
    if leftover:
        names = ", ".join(sorted(set(leftover)))
        raise InvalidDefinition(f"Invalid State Machine Definition: the state still contains the placeholder(s) "
                                f"{names}; substitute them first (test_state(..., substitutions=...) or "
                                "workshop.asl.substitution.substitute) as `sam deploy` does.")
    raw = _json_text(request.get("input"), "input", InvalidExecutionInput, default={})
    mock = _read_mock(request, state, state_type)
    if state_type in MOCKABLE_TYPES and mock is None:
        what = state.get("Resource") or f"a {state_type} state"
        raise MockRequired(f"The offline TestState cannot call {what}: pass mock={{'result': json.dumps(...)}} "
                           "for a result, or mock={'errorOutput': {'error': ..., 'cause': ...}} for an error.")
    variables = _json_text(request.get("variables"), "variables", ValidationException, default={})
    if not isinstance(variables, dict):
        raise ValidationException("'variables' must be a JSON object of variable names to values.")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    context = _default_context(name, raw, request, now)
    given = _json_text(request.get("context"), "context", ValidationException, default=None)
    if given is not None:
        if not isinstance(given, dict):
            raise ValidationException("'context' must be a JSON object (the context object, $$).")
        for key, value in given.items():
            if isinstance(value, dict) and isinstance(context.get(key), dict):
                context[key].update(value)
            else:
                context[key] = value
    if state_type == "Task" and str(state.get("Resource", "")).endswith(".waitForTaskToken"):
        context.setdefault("Task", {}).setdefault("Token", "test-state-task-token")
    scope = _Scope(context, dict(variables))
    run = _Run(name, state, request, scope, level)
    try:
        response = run.run(raw, mock)
    except _Failure as failure:
        response = {"error": failure.error, "cause": failure.cause, "status": "FAILED"}
    if level != "INFO":
        inspection = dict(run.inspection)
        if request.get("variables") is not None or run.assigned:
            inspection["variables"] = _to_json(scope.variables)
        response["inspectionData"] = inspection
    return response


test_state.__test__ = False  # a function named test_* that is not a pytest test


# --- ValidateStateMachineDefinition -----------------------------------------------------------


def _express_problems(doc, loc="") -> list[dict]:
    """Express workflows cannot wait for a callback or a .sync job."""
    found = []
    states = doc.get("States") if isinstance(doc, dict) else None
    if not isinstance(states, dict):
        return found
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        where = f"{loc}/States/{name}"
        resource = state.get("Resource")
        if isinstance(resource, str) and re.search(r"\.(sync(:2)?|waitForTaskToken)$", resource):
            found.append({"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED",
                          "message": f"Express state machines do not support the '{resource.rsplit('.', 1)[1]}' "
                                     "integration pattern; use a STANDARD state machine or a request-response "
                                     "integration.", "location": f"{where}/Resource"})
        for i, branch in enumerate(state.get("Branches") or []):
            found.extend(_express_problems(branch, f"{where}/Branches/{i}"))
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                found.extend(_express_problems(state[key], f"{where}/{key}"))
    return found


def validate_state_machine_definition(request: dict) -> dict:
    """The ValidateStateMachineDefinition API: {"result", "diagnostics", "truncated"}."""
    from workshop.asl.validator import validate

    if not isinstance(request, dict) or request.get("definition") in (None, ""):
        raise ValidationException("'definition' is required and must be at least 1 character long.")
    machine_type = request.get("type") or "STANDARD"
    if machine_type not in ("STANDARD", "EXPRESS"):
        raise ValidationException(f"type must be STANDARD or EXPRESS, not '{machine_type}'.")
    severity = request.get("severity") or "ERROR"
    if severity not in ("ERROR", "WARNING"):
        raise ValidationException(f"severity must be ERROR or WARNING, not '{severity}'.")
    max_results = request.get("maxResults")
    if max_results is None or max_results == 0:
        max_results = 100
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 0 <= max_results <= 100:
        raise ValidationException(f"maxResults must be an integer from 0 to 100, not {max_results!r}.")
    definition = request["definition"]
    result = validate(definition)
    diagnostics = list(result["diagnostics"])
    if machine_type == "EXPRESS" and result["result"] == "OK":
        doc = json.loads(definition) if isinstance(definition, str) else definition
        diagnostics.extend(_express_problems(doc))
    failed = any(d["severity"] == "ERROR" for d in diagnostics)
    wanted = [d for d in diagnostics if severity == "WARNING" or d["severity"] == "ERROR"]
    # Errors first, as the API lists them, then warnings.
    wanted.sort(key=lambda d: d["severity"] != "ERROR")
    return {"result": "FAIL" if failed else "OK", "diagnostics": wanted[:max_results],
            "truncated": len(wanted) > max_results}
