"""Validate an Amazon States Language definition offline.

`validate(definition)` returns what the Step Functions
`ValidateStateMachineDefinition` API returns:

    {"result": "OK" | "FAIL",
     "diagnostics": [{"severity", "code", "message", "location"}, ...]}

The result is FAIL iff there is at least one ERROR. Codes follow AWS where AWS
has one (SCHEMA_VALIDATION_FAILED, MISSING_END_STATE, ...); the rest are our
own and listed in `CODES` below. `location` is a JSON pointer to the field
(`/States/AskUser/Next`).

Also here: `validate_state(text, name)` for one state on its own (repeated keys
in its text included), `closest_state_name` (the did-you-mean of an unknown
`Next`), and `ACCEPTED_DISAGREEMENTS`: where the verdict knowingly differs from
both reference validators (tools/asl-reference), each with the AWS page that
states the rule. The calibration test fails on any other such difference.

Why hand-written rules instead of a JSON Schema: a schema would need the same
rules again for everything that is not structure (transitions, reachability,
paths, intrinsics, JSONata) and its generic messages ("Additional properties
are not allowed") do not tell a learner what to do. Importing jsonschema also
costs more than the CLI's whole per-definition budget.
"""

from __future__ import annotations

from workshop.asl import spec
from workshop.asl.intrinsics import FUNCTIONS, check_intrinsic, looks_like_intrinsic
from workshop.asl.jsonata_check import looks_like_expression
from workshop.asl.jsonpath import check_path, is_variable_name, looks_like_path
from workshop.asl.source import JsonTextError, escape_pointer, load_json

# Intrinsics allowed in Fail ErrorPath/CausePath: the ones that return a string.
STRING_INTRINSICS = {
    "States.Format", "States.JsonToString", "States.ArrayGetItem", "States.Base64Encode", "States.Base64Decode",
    "States.Hash", "States.UUID",
}

# Fields of a state machine that a definition may misplace among its States (reported as such, not as a state).
_MACHINE_FIELDS = {"Comment", "QueryLanguage", "StartAt", "TimeoutSeconds", "Version"}

# Every code this validator can emit, with its severity and meaning.
CODES = {
    # AWS's own codes
    "INVALID_JSON_DESCRIPTION": ("ERROR", "the text is not valid JSON"),
    "MISSING_DESCRIPTION": ("ERROR", "the definition is empty"),
    "SCHEMA_VALIDATION_FAILED": ("ERROR", "a field is missing, unknown, of the wrong type or out of range"),
    "INVALID_RESOURCE": ("ERROR", "a Task Resource does not have the shape of a Lambda, activity or integration ARN"),
    "MISSING_END_STATE": ("ERROR", "a state machine or branch has no terminal state"),
    "DUPLICATE_STATE_NAME": ("ERROR", "two states share a name"),
    "INVALID_STATE_NAME": ("ERROR", "a state name is empty, too long or has control characters"),
    "INVALID_LABEL_NAME": ("ERROR", "a Map Label is too long or has forbidden characters"),
    "NO_DOLLAR": ("WARNING", "a value looks like a path or intrinsic but its key does not end in .$"),
    "NO_PATH": ("WARNING", "a value looks like a path but the field is not a *Path field"),
    "PASS_RESULT_IS_STATIC": ("WARNING", "a Pass Result uses a path, which is never evaluated"),
    # our own codes
    "MISSING_TRANSITION_TARGET": ("ERROR", "StartAt/Next/Default/Catch Next names no state in scope"),
    "UNREACHABLE_STATE": ("ERROR", "no transition leads to a state"),
    "NEXT_AND_END": ("ERROR", "a state has both Next and End"),
    "MISSING_NEXT_OR_END": ("ERROR", "a state has neither Next nor End"),
    "INVALID_JSONPATH": ("ERROR", "a path is not valid JSONPath (or not a reference path where one is needed)"),
    "INVALID_INTRINSIC_FUNCTION": ("ERROR", "an intrinsic function call is malformed"),
    "INVALID_JSONATA": ("ERROR", "a {% ... %} JSONata expression does not parse, or is not opened and closed exactly"),
    "DUPLICATE_JSON_KEY": ("ERROR", "an object repeats a key"),
    "INVALID_VARIABLE_NAME": ("ERROR", "an Assign key is not a valid variable name"),
    "INVALID_ERROR_NAME": ("ERROR", "ErrorEquals misplaces States.ALL"),
    "RESERVED_ERROR_NAME": ("WARNING", "ErrorEquals names a States.* error Step Functions does not define (AWS "
                                       "accepts it: a workflow may raise such a name itself)"),
}


class Disagreement:
    """A rule where the kit knowingly gives another verdict than both reference validators.

    `code` is the kit's diagnostic code ("OK" where the kit accepts what both
    references refuse), `doc` the AWS page that states the rule, `reason` one
    sentence, `cases` the calibration case ids it covers (see
    tools/asl-reference/calibrate.py, which fails on a disagreement without one).
    """

    __slots__ = ("code", "doc", "reason", "cases")

    def __init__(self, code: str, doc: str, reason: str, cases: tuple[str, ...]):
        self.code, self.doc, self.reason, self.cases = code, doc, reason, cases

    def __repr__(self):
        return f"Disagreement({self.code!r}, {len(self.cases)} case(s))"


# The references are amazon-states-language-service (the AWS Toolkit's
# validator) and asl-validator; both are schema checkers, so most entries are
# rules AWS documents that a JSON schema cannot express.
_DG = "https://docs.aws.amazon.com/step-functions/latest/dg/"
_API = "https://docs.aws.amazon.com/step-functions/latest/apireference/"
ACCEPTED_DISAGREEMENTS: tuple[Disagreement, ...] = (
    Disagreement(
        "INVALID_RESOURCE", _API + "API_ValidateStateMachineDefinitionDiagnostic.html",
        "AWS reports INVALID_RESOURCE when a Task's Resource is not a valid Lambda, activity or integration ARN "
        "(state-task.html gives each shape: 12-digit account, region code, states:::SERVICE:ACTION); both references "
        "accept any string shaped arn:...",
        ("corpus/invalid/resource_bad_account", "corpus/invalid/resource_bad_suffix",
         "corpus/invalid/resource_wrong_service")),
    Disagreement(
        "INVALID_INTRINSIC_FUNCTION", _DG + "intrinsic-functions.html",
        "AWS documents each intrinsic's arguments (count and type, the five States.Hash algorithms, States.JsonMerge's "
        "'false', single-quoted strings with \\-escaped reserved characters); the kit checks literal arguments against "
        "them, the references only the call's outline.",
        ("corpus/invalid/fail_cause_path_bad_intrinsic", "corpus/invalid/intrinsic_array_length_of_string",
         "corpus/invalid/intrinsic_array_range_arity", "corpus/invalid/intrinsic_bad_escape",
         "corpus/invalid/intrinsic_double_quotes", "corpus/invalid/intrinsic_format_placeholder_mismatch",
         "corpus/invalid/intrinsic_hash_bad_algorithm", "corpus/invalid/intrinsic_json_merge_deep",
         "corpus/invalid/intrinsic_nested_bad")),
    Disagreement(
        "INVALID_ERROR_NAME", "https://states-language.net/spec.html#retrying-after-error",
        "The States Language (AWS's spec, used by concepts-error-handling.html) says States.ALL MUST appear alone in "
        "ErrorEquals and in the last Retrier/Catcher.",
        ("corpus/invalid/catch_states_all_not_last", "corpus/invalid/retry_states_all_not_alone",
         "corpus/invalid/retry_states_all_not_last")),
    Disagreement(
        "INVALID_JSONPATH", _DG + "amazon-states-language-paths.html",
        "ResultPath is a reference path into the state's input: it names one node (no wildcard) and cannot point into "
        "the read-only context object '$$'.",
        ("corpus/invalid/catch_result_path_wildcard", "corpus/invalid/result_path_context")),
    Disagreement(
        "INVALID_LABEL_NAME", _DG + "state-map-distributed.html",
        "AWS limits a Distributed Map's Label to 40 characters without whitespace or special characters, because it "
        "becomes part of the Map Run ARN; the references accept any string.",
        ("corpus/invalid/map_label_too_long", "corpus/invalid/map_label_with_space")),
    Disagreement(
        "INVALID_STATE_NAME", _API + "API_StateEnteredEventDetails.html",
        "AWS state names must not contain control characters (U+0000-001F, U+007F-009F); the references accept them.",
        ("corpus/invalid/state_name_control_char",)),
    Disagreement(
        "INVALID_VARIABLE_NAME", _DG + "workflow-variables.html#variable-name-syntax",
        "Variable names follow Unicode identifier rules (ID_Start, then ID_Continue; so no '-' and no leading digit) "
        "and $states is reserved; the references do not check Assign keys at all.",
        ("corpus/invalid/variable_name_starts_with_digit", "corpus/invalid/variable_name_states_reserved",
         "corpus/invalid/variable_name_with_dash")),
    Disagreement(
        "UNREACHABLE_STATE", _API + "API_ValidateStateMachineDefinition.html",
        "Step Functions refuses a state no transition reaches ('MISSING_TRANSITION_TARGET: State \"X\" is not "
        "reachable'); the references only look for some transition naming each state, which a closed loop of "
        "orphan states satisfies.",
        ("corpus/invalid/unreachable_cycle",)),
    Disagreement(
        "SCHEMA_VALIDATION_FAILED", _DG + "workflow-variables.html#assign-field-in-asl",
        "The Assign field takes a JSON object whose fields name the variables; the references accept any value.",
        ("corpus/invalid/assign_not_object",)),
    Disagreement(
        "SCHEMA_VALIDATION_FAILED", _DG + "state-task.html#task-state-example-credentials",
        "AWS documents Credentials as an object with the role to assume in RoleArn (a JSONPath state may use "
        "RoleArn.$ with a path or intrinsic, a JSONata state a {% %} RoleArn), nothing else; the AWS Toolkit does "
        "not look inside Credentials and asl-validator accepts any object.",
        ("corpus/invalid/credentials_missing_role", "corpus/invalid/credentials_unknown_field",
         "corpus/invalid/credentials_jsonpath_key_in_jsonata")),
    Disagreement(
        "SCHEMA_VALIDATION_FAILED", _DG + "state-task.html#task-state-fields",
        "AWS: HeartbeatSeconds must be a positive integer less than the TimeoutSeconds value.",
        ("corpus/invalid/heartbeat_not_below_timeout",)),
    Disagreement(
        "SCHEMA_VALIDATION_FAILED", _DG + "state-choice.html",
        "A choice rule is either a data test (Variable and one comparison) or a Boolean And/Or/Not of nested rules, "
        "and JSONata choice rules test a Condition; Variable next to And, or in a JSONata rule, is neither.",
        ("corpus/invalid/choice_variable_with_and", "corpus/invalid/jsonata_choice_with_variable")),
    Disagreement(
        "SCHEMA_VALIDATION_FAILED", _DG + "transforming-data.html",
        "JSONata states do not use '.$' on key names, and a state can only opt into JSONata from a JSONPath "
        "machine, not back to JSONPath from a JSONata machine.",
        ("corpus/invalid/jsonata_dollar_key", "corpus/invalid/jsonata_machine_state_back_to_jsonpath")),
    Disagreement(
        "SCHEMA_VALIDATION_FAILED", _DG + "state-map-distributed.html",
        "ItemReader, ItemBatcher, ResultWriter, ToleratedFailure* and Label are Distributed Map fields and "
        "ExecutionType is the Distributed Map's child workflow type; a Map without ProcessorConfig runs INLINE "
        "(state-map-inline.html), and ItemBatcher needs MaxItemsPerBatch or MaxInputBytesPerBatch.",
        ("corpus/invalid/map_inline_with_execution_type", "corpus/invalid/map_inline_with_item_reader",
         "corpus/invalid/map_inline_with_label", "corpus/invalid/map_no_processor_config_tolerated_failure",
         "corpus/invalid/map_item_batcher_empty")),
    Disagreement(
        "SCHEMA_VALIDATION_FAILED", _DG + "concepts-error-handling.html",
        "A retrier's IntervalSeconds is a positive integer (the first retry waits that long), so 0 is refused.",
        ("corpus/invalid/retry_interval_zero",)),
    Disagreement(
        "SCHEMA_VALIDATION_FAILED", _DG + "state-wait.html",
        "Wait timestamps follow RFC 3339 with an uppercase T between date and time and an uppercase Z; the "
        "references accept a lowercase t.",
        ("corpus/invalid/wait_timestamp_lowercase_t",)),
    Disagreement(
        "OK", _API + "API_UpdateMapRun.html",
        "A Map Run's toleratedFailurePercentage is a Float from 0 to 100 in the Step Functions API, so a decimal "
        "ToleratedFailurePercentage such as 5.5 is accepted; both references require an integer.",
        ("corpus/valid/map_distributed_full",)),
)


def accepted_disagreement(case: str, code: str) -> Disagreement | None:
    """The registered reason for the kit's verdict on `case` under rule `code`, if any."""
    for entry in ACCEPTED_DISAGREEMENTS:
        if entry.code == code and case in entry.cases:
            return entry
    return None


class Report:
    """Collects diagnostics in the API's shape."""

    __slots__ = ("diagnostics",)

    def __init__(self):
        self.diagnostics: list[dict] = []

    def add(self, code: str, message: str, location: str = ""):
        self.diagnostics.append(
            {"severity": CODES[code][0], "code": code, "message": message, "location": location or "/"}
        )

    def result(self) -> dict:
        failed = any(d["severity"] == "ERROR" for d in self.diagnostics)
        return {"result": "FAIL" if failed else "OK", "diagnostics": self.diagnostics}


def _child(loc: str, key) -> str:
    return f"{loc}/{escape_pointer(str(key))}"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_placeholder(value) -> bool:
    """A string holding a `${Name}` DefinitionSubstitutions placeholder."""
    return isinstance(value, str) and "${" in value and spec.PLACEHOLDER.search(value) is not None


def _type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class _Scope:
    """One state machine: the top level, a Parallel branch or a Map processor."""

    __slots__ = ("states", "states_loc", "start", "start_loc", "edges", "owner")

    def __init__(self, states, states_loc, start, start_loc, owner):
        self.states = states
        self.states_loc = states_loc
        self.start = start
        self.start_loc = start_loc
        self.edges: list[tuple[str, str, str]] = []  # (from state, target, location of the field)
        self.owner = owner  # name of the Parallel/Map state that holds it, or None


class _Validator:
    def __init__(self, report: Report):
        self.report = report
        self.add = report.add
        self.scopes: list[_Scope] = []
        self.state_names: dict[str, str] = {}  # name -> location of its first definition
        self.default_language = "JSONPath"

    # ---------------------------------------------------------------- top level

    def run(self, doc):
        if not isinstance(doc, dict):
            self.add("SCHEMA_VALIDATION_FAILED",
                     f"The definition must be a JSON object with StartAt and States, not {_type_name(doc)}.", "/")
            return
        for key in doc:
            if key not in spec.TOP_LEVEL_FIELDS:
                self.add("SCHEMA_VALIDATION_FAILED",
                         f"Field '{key}' is not supported at the top level of a state machine; allowed fields are "
                         f"{', '.join(sorted(spec.TOP_LEVEL_FIELDS))}.", _child("", key))
        if "Comment" in doc and not isinstance(doc["Comment"], str):
            self.add("SCHEMA_VALIDATION_FAILED", "Comment must be a string.", "/Comment")
        if "Version" in doc and doc["Version"] != "1.0":
            self.add("SCHEMA_VALIDATION_FAILED",
                     f"Version must be \"1.0\" (the only ASL version), not {doc['Version']!r}.", "/Version")
        if "TimeoutSeconds" in doc:
            self.check_int(doc["TimeoutSeconds"], "/TimeoutSeconds", "TimeoutSeconds", 0, spec.MAX_SECONDS, "JSONPath")
        language = doc.get("QueryLanguage", "JSONPath")
        if language not in spec.QUERY_LANGUAGES:
            self.add("SCHEMA_VALIDATION_FAILED",
                     f"QueryLanguage must be \"JSONPath\" or \"JSONata\", not {language!r}.", "/QueryLanguage")
            language = "JSONPath"
        self.default_language = language
        self.machine(doc, "", None, top=True)
        self.check_transitions()

    def machine(self, node: dict, loc: str, owner, top=False, allowed=None):
        """Check a (nested) state machine: StartAt, States, and each state."""
        if not top:
            allowed = allowed or spec.BRANCH_FIELDS
            for key in node:
                if key not in allowed:
                    self.add("SCHEMA_VALIDATION_FAILED",
                             f"Field '{key}' is not supported here; a nested state machine has only "
                             f"{', '.join(sorted(allowed))}.", _child(loc, key))
        start = node.get("StartAt")
        if "StartAt" not in node:
            self.add("SCHEMA_VALIDATION_FAILED", "StartAt is required: name the first state to run.", loc or "/")
        elif not isinstance(start, str):
            self.add("SCHEMA_VALIDATION_FAILED", "StartAt must be a string naming a state.", _child(loc, "StartAt"))
            start = None
        states = node.get("States")
        states_loc = _child(loc, "States")
        if "States" not in node:
            self.add("SCHEMA_VALIDATION_FAILED", "States is required: an object mapping state names to states.",
                     loc or "/")
            return
        if not isinstance(states, dict) or not states:
            self.add("SCHEMA_VALIDATION_FAILED", "States must be a non-empty object of named states.", states_loc)
            return
        scope = _Scope(states, states_loc, start, _child(loc, "StartAt"), owner)
        self.scopes.append(scope)
        # A malformed state may well have been meant as the terminal one: do
        # not pile a MISSING_END_STATE on top of its own error.
        terminal = False
        for name, state in states.items():
            state_loc = _child(states_loc, name)
            self.state_name(name, state_loc)
            if not isinstance(state, dict) and name in _MACHINE_FIELDS:
                self.add("SCHEMA_VALIDATION_FAILED",
                         f"'{name}' is a field of the state machine (or of a state), not a state: move it out of "
                         f"States, next to StartAt.", state_loc)
                continue
            if not isinstance(state, dict):
                self.add("SCHEMA_VALIDATION_FAILED", f"State '{name}' must be an object with a Type.", state_loc)
                terminal = True
                continue
            self.state(name, state, state_loc, scope)
            if state.get("End") is True or state.get("Type") in ("Succeed", "Fail"):
                terminal = True
        if not terminal:
            where = "the state machine" if top else f"the states inside '{owner}'"
            self.add("MISSING_END_STATE",
                     f"No terminal state in {where}: give at least one state \"End\": true, "
                     "or add a Succeed or Fail state.", states_loc)

    def state_name(self, name: str, loc: str):
        if not name:
            self.add("INVALID_STATE_NAME", "A state name must not be empty.", loc)
        elif len(name) > spec.MAX_STATE_NAME:
            self.add("INVALID_STATE_NAME",
                     f"State name '{name[:20]}...' is {len(name)} characters; the limit is {spec.MAX_STATE_NAME}.", loc)
        elif spec.CONTROL_CHARS.search(name):
            self.add("INVALID_STATE_NAME", f"State name {name!r} contains control characters; remove them.", loc)
        if name in self.state_names:
            self.add("DUPLICATE_STATE_NAME",
                     f"State name '{name}' is already used at {self.state_names[name]}; state names must be unique "
                     "across the whole state machine, including Parallel branches and Map processors.", loc)
        else:
            self.state_names[name] = loc

    # ---------------------------------------------------------------- states

    def state(self, name: str, st: dict, loc: str, scope: _Scope):
        kind = st.get("Type")
        if kind not in spec.STATE_TYPES:
            if "Type" not in st:
                message = f"State '{name}' has no Type; use one of {', '.join(spec.STATE_TYPES)}."
            else:
                message = f"Type {kind!r} is not a state type; use one of {', '.join(spec.STATE_TYPES)}."
            self.add("SCHEMA_VALIDATION_FAILED", message, _child(loc, "Type") if "Type" in st else loc)
            return
        language = self.language_of(st, loc)
        allowed = (spec.JSONATA_FIELDS if language == "JSONata" else spec.JSONPATH_FIELDS)[kind]
        for key in st:
            if key not in allowed:
                self.unknown_field(key, kind, language, _child(loc, key))
        if "Comment" in st and not isinstance(st["Comment"], str):
            self.add("SCHEMA_VALIDATION_FAILED", "Comment must be a string.", _child(loc, "Comment"))
        if kind not in ("Choice", "Succeed", "Fail"):  # for these, Next/End were refused as unknown fields
            self.flow(name, st, loc, scope)
        if language == "JSONPath":
            for field in ("InputPath", "OutputPath"):
                if field in st and st[field] is not None:
                    self.path(st[field], _child(loc, field), field)
        else:
            if "Output" in st:
                self.jsonata_template(st["Output"], _child(loc, "Output"))
        if "Assign" in st:
            self.assign(st["Assign"], _child(loc, "Assign"), language)
        getattr(self, "state_" + kind.lower())(name, st, loc, scope, language)

    def language_of(self, st: dict, loc: str) -> str:
        language = st.get("QueryLanguage", self.default_language)
        if language not in spec.QUERY_LANGUAGES:
            self.add("SCHEMA_VALIDATION_FAILED",
                     f"QueryLanguage must be \"JSONPath\" or \"JSONata\", not {language!r}.", _child(loc, "QueryLanguage"))
            return self.default_language
        if self.default_language == "JSONata" and language == "JSONPath":
            self.add("SCHEMA_VALIDATION_FAILED",
                     "A state cannot switch back to JSONPath when the state machine's QueryLanguage is JSONata; "
                     "remove QueryLanguage here or set the top-level QueryLanguage to JSONPath.",
                     _child(loc, "QueryLanguage"))
        return language

    def unknown_field(self, key: str, kind: str, language: str, loc: str):
        if language == "JSONata" and key in spec.JSONPATH_ONLY:
            hint = ("is a JSONPath field and this state uses JSONata; use Arguments, Output and Assign "
                    "with {% ... %} expressions instead, or set \"QueryLanguage\": \"JSONPath\" on the state")
        elif language == "JSONPath" and key in spec.JSONATA_ONLY:
            hint = ("is a JSONata field and this state uses JSONPath; set \"QueryLanguage\": \"JSONata\" on the "
                    "state (or the state machine), or use the JSONPath fields (Parameters, ResultPath, ...)")
        elif key in ("Next", "End") and kind in ("Choice", "Succeed", "Fail"):
            hint = {"Choice": "is not allowed in a Choice state; transitions come from Choices[].Next and Default",
                    "Succeed": "is not allowed in a Succeed state; it always ends the execution",
                    "Fail": "is not allowed in a Fail state; it always ends the execution"}[kind]
        else:
            allowed = (spec.JSONATA_FIELDS if language == "JSONata" else spec.JSONPATH_FIELDS)[kind]
            hint = f"is not supported in a {kind} state; allowed fields are {', '.join(sorted(allowed))}"
        self.add("SCHEMA_VALIDATION_FAILED", f"Field '{key}' {hint}.", loc)

    def flow(self, name: str, st: dict, loc: str, scope: _Scope):
        """Pass, Task, Wait, Parallel and Map need exactly one of Next and End."""
        has_next = "Next" in st
        end = st.get("End")
        if "End" in st and not isinstance(end, bool):
            self.add("SCHEMA_VALIDATION_FAILED", "End must be true (or left out).", _child(loc, "End"))
        elif end is False and has_next:
            # Both reference validators refuse it, and no AWS page shows it.
            self.add("SCHEMA_VALIDATION_FAILED",
                     f"\"End\": false is not allowed; State '{name}' continues with Next, so remove \"End\".",
                     _child(loc, "End"))
        if has_next and end is True:
            self.add("NEXT_AND_END", f"State '{name}' has both Next and \"End\": true; keep only one.", loc)
        elif not has_next and end is not True:
            self.add("MISSING_NEXT_OR_END",
                     f"State '{name}' has neither Next nor \"End\": true; add \"Next\": \"<state>\" to continue, "
                     "or \"End\": true to finish here.", loc)
        if has_next:
            self.transition(scope, name, st["Next"], _child(loc, "Next"))

    def transition(self, scope: _Scope, source: str, target, loc: str):
        if not isinstance(target, str):
            self.add("SCHEMA_VALIDATION_FAILED", "A transition target must be a string naming a state.", loc)
            return
        scope.edges.append((source, target, loc))

    # Pass ------------------------------------------------------------------

    def state_pass(self, name, st, loc, scope, language):
        if language == "JSONPath":
            self.result_path(st, loc)
            if "Parameters" in st:
                self.payload(st["Parameters"], _child(loc, "Parameters"))
            if "Result" in st:
                self.static_result(st["Result"], _child(loc, "Result"))

    def static_result(self, value, loc):
        """Result is copied as-is: a `.$` key or a path in it is never evaluated."""
        if isinstance(value, dict):
            for key, child in value.items():
                if key.endswith(".$"):
                    self.add("PASS_RESULT_IS_STATIC",
                             f"'{key}' in Result is not evaluated: Result is static. Move it to Parameters to "
                             "evaluate the path or intrinsic.", _child(loc, key))
                else:
                    self.static_result(child, _child(loc, key))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                self.static_result(child, _child(loc, index))
        elif looks_like_path(value) or looks_like_intrinsic(value):
            self.add("PASS_RESULT_IS_STATIC",
                     f"{value!r} in Result is a plain string, not evaluated: Result is static. Use Parameters with "
                     "a '.$' key to evaluate it.", loc)

    # Task ------------------------------------------------------------------

    def state_task(self, name, st, loc, scope, language):
        self.resource(st, loc, required=True)
        if language == "JSONPath":
            self.result_path(st, loc)
            for field in ("Parameters", "ResultSelector"):
                if field in st:
                    self.payload(st[field], _child(loc, field))
        elif "Arguments" in st:
            self.jsonata_template(st["Arguments"], _child(loc, "Arguments"))
        self.timeouts(st, loc, language)
        if "Credentials" in st:
            self.credentials(st["Credentials"], _child(loc, "Credentials"), language)
        self.retry_catch(name, st, loc, scope, language)

    def resource(self, st, loc, required):
        rloc = _child(loc, "Resource")
        if "Resource" not in st:
            if required:
                self.add("SCHEMA_VALIDATION_FAILED",
                         "Resource is required: the ARN of a Lambda function, an activity, or a service integration "
                         "such as \"arn:aws:states:::lambda:invoke\".", loc)
            return
        value = st["Resource"]
        if not isinstance(value, str):
            self.add("INVALID_RESOURCE", "Resource must be an ARN string.", rloc)
        elif _is_placeholder(value):
            return  # filled in by DefinitionSubstitutions at deploy time
        elif not (spec.LAMBDA_ARN.fullmatch(value) or spec.ACTIVITY_ARN.fullmatch(value)
                  or spec.INTEGRATION_ARN.fullmatch(value)):
            self.add("INVALID_RESOURCE", resource_problem(value), rloc)

    def timeouts(self, st, loc, language):
        timeout = st.get("TimeoutSeconds")
        heartbeat = st.get("HeartbeatSeconds")
        for field, path_field in (("TimeoutSeconds", "TimeoutSecondsPath"), ("HeartbeatSeconds", "HeartbeatSecondsPath")):
            if field in st:
                self.check_int(st[field], _child(loc, field), field, 1, spec.MAX_SECONDS, language)
            if path_field in st:
                self.reference_path(st[path_field], _child(loc, path_field), path_field)
            if field in st and path_field in st:
                self.add("SCHEMA_VALIDATION_FAILED",
                         f"Use either {field} or {path_field}, not both.", _child(loc, path_field))
        # Compared only when both are literal numbers (paths and JSONata are known at run time only).
        if _is_int(heartbeat) and _is_int(timeout) and heartbeat >= timeout:
            self.add("SCHEMA_VALIDATION_FAILED",
                     f"HeartbeatSeconds ({heartbeat}) must be smaller than TimeoutSeconds ({timeout}).",
                     _child(loc, "HeartbeatSeconds"))

    def credentials(self, value, loc, language):
        if not isinstance(value, dict):
            self.add("SCHEMA_VALIDATION_FAILED", "Credentials must be an object with RoleArn.", loc)
            return
        keys = set(value) - {"RoleArn", "RoleArn.$"}
        for key in keys:
            self.add("SCHEMA_VALIDATION_FAILED", f"Field '{key}' is not supported in Credentials; use RoleArn.",
                     _child(loc, key))
        if "RoleArn" not in value and "RoleArn.$" not in value:
            self.add("SCHEMA_VALIDATION_FAILED", "Credentials needs RoleArn (the IAM role to assume).", loc)
        if language == "JSONata":
            self.jsonata_template(value, loc)
        else:
            self.payload(value, loc)

    # Retry / Catch -----------------------------------------------------------

    def retry_catch(self, name, st, loc, scope, language):
        if "Retry" in st:
            self.retriers(st["Retry"], _child(loc, "Retry"))
        if "Catch" in st:
            self.catchers(name, st["Catch"], _child(loc, "Catch"), scope, language)

    def error_equals(self, item: dict, loc: str, is_last: bool, what: str):
        eloc = _child(loc, "ErrorEquals")
        errors = item.get("ErrorEquals")
        if "ErrorEquals" not in item:
            self.add("SCHEMA_VALIDATION_FAILED", f"Each {what} needs ErrorEquals, e.g. [\"States.ALL\"].", loc)
            return
        if not isinstance(errors, list) or not errors:
            self.add("SCHEMA_VALIDATION_FAILED",
                     "ErrorEquals must be a non-empty array of error names, e.g. [\"States.TaskFailed\"].", eloc)
            return
        for index, error in enumerate(errors):
            if not isinstance(error, str) or not error:
                self.add("SCHEMA_VALIDATION_FAILED", "Each ErrorEquals entry must be a non-empty string.",
                         _child(eloc, index))
            elif error.startswith("States.") and error not in spec.PREDEFINED_ERRORS:
                # Step Functions deploys and runs these (a workflow may raise a States.* name from a Fail
                # state, and AWS's own patterns catch such names); the prefix is only reserved by convention.
                self.add("RESERVED_ERROR_NAME",
                         f"{error!r} is not one of Step Functions' own errors; AWS accepts it (a state of this "
                         f"workflow may raise it), but names starting with 'States.' are meant for the predefined "
                         f"ones: {', '.join(sorted(spec.PREDEFINED_ERRORS))}.", _child(eloc, index))
        if "States.ALL" in errors:
            if len(errors) != 1:
                self.add("INVALID_ERROR_NAME",
                         "States.ALL must be the only entry in its ErrorEquals; it already matches every error.", eloc)
            elif not is_last:
                self.add("INVALID_ERROR_NAME",
                         f"The {what} with States.ALL must be the last one; later ones could never match.", eloc)

    def retriers(self, value, loc):
        if not isinstance(value, list):
            self.add("SCHEMA_VALIDATION_FAILED", "Retry must be an array of retriers.", loc)
            return
        for index, item in enumerate(value):
            iloc = _child(loc, index)
            if not isinstance(item, dict):
                self.add("SCHEMA_VALIDATION_FAILED", "Each retrier must be an object.", iloc)
                continue
            for key in item:
                if key not in spec.RETRIER_FIELDS:
                    self.add("SCHEMA_VALIDATION_FAILED",
                             f"Field '{key}' is not supported in a retrier; allowed fields are "
                             f"{', '.join(sorted(spec.RETRIER_FIELDS))}.", _child(iloc, key))
            self.error_equals(item, iloc, index == len(value) - 1, "retrier")
            if "IntervalSeconds" in item:
                self.check_int(item["IntervalSeconds"], _child(iloc, "IntervalSeconds"), "IntervalSeconds", 1,
                               spec.MAX_SECONDS, "JSONPath")
            if "MaxAttempts" in item:
                self.check_int(item["MaxAttempts"], _child(iloc, "MaxAttempts"), "MaxAttempts", 0, spec.MAX_SECONDS,
                               "JSONPath")
            if "MaxDelaySeconds" in item:
                self.check_int(item["MaxDelaySeconds"], _child(iloc, "MaxDelaySeconds"), "MaxDelaySeconds", 1,
                               spec.MAX_DELAY_SECONDS, "JSONPath")
            if "BackoffRate" in item:
                rate = item["BackoffRate"]
                if not _is_number(rate) or rate < 1.0:
                    self.add("SCHEMA_VALIDATION_FAILED",
                             f"BackoffRate must be a number of at least 1.0, not {rate!r}.", _child(iloc, "BackoffRate"))
            if "JitterStrategy" in item and item["JitterStrategy"] not in ("FULL", "NONE"):
                self.add("SCHEMA_VALIDATION_FAILED",
                         f"JitterStrategy must be \"FULL\" or \"NONE\", not {item['JitterStrategy']!r}.",
                         _child(iloc, "JitterStrategy"))

    def catchers(self, name, value, loc, scope, language):
        if not isinstance(value, list):
            self.add("SCHEMA_VALIDATION_FAILED", "Catch must be an array of catchers.", loc)
            return
        allowed = spec.CATCHER_FIELDS_JSONATA if language == "JSONata" else spec.CATCHER_FIELDS_JSONPATH
        for index, item in enumerate(value):
            iloc = _child(loc, index)
            if not isinstance(item, dict):
                self.add("SCHEMA_VALIDATION_FAILED", "Each catcher must be an object.", iloc)
                continue
            for key in item:
                if key not in allowed:
                    self.add("SCHEMA_VALIDATION_FAILED",
                             f"Field '{key}' is not supported in a {language} catcher; allowed fields are "
                             f"{', '.join(sorted(allowed))}.", _child(iloc, key))
            self.error_equals(item, iloc, index == len(value) - 1, "catcher")
            if "Next" not in item:
                self.add("SCHEMA_VALIDATION_FAILED", "Each catcher needs Next: the state to go to on the error.", iloc)
            else:
                self.transition(scope, name, item["Next"], _child(iloc, "Next"))
            if language == "JSONPath" and "ResultPath" in item and item["ResultPath"] is not None:
                self.path(item["ResultPath"], _child(iloc, "ResultPath"), "ResultPath", reference=True, result=True)
            if language == "JSONata" and "Output" in item:
                self.jsonata_template(item["Output"], _child(iloc, "Output"))
            if "Assign" in item:
                self.assign(item["Assign"], _child(iloc, "Assign"), language)

    # Choice ------------------------------------------------------------------

    def state_choice(self, name, st, loc, scope, language):
        choices = st.get("Choices")
        cloc = _child(loc, "Choices")
        if "Choices" not in st:
            self.add("SCHEMA_VALIDATION_FAILED", "A Choice state needs Choices: a non-empty array of rules.", loc)
        elif not isinstance(choices, list) or not choices:
            self.add("SCHEMA_VALIDATION_FAILED", "Choices must be a non-empty array of choice rules.", cloc)
        else:
            for index, rule in enumerate(choices):
                self.choice_rule(rule, _child(cloc, index), language, top=True, scope=scope, state=name)
        if "Default" in st:
            self.transition(scope, name, st["Default"], _child(loc, "Default"))

    def choice_rule(self, rule, loc, language, top, scope=None, state=None):
        if not isinstance(rule, dict):
            self.add("SCHEMA_VALIDATION_FAILED", "A choice rule must be an object.", loc)
            return
        if language == "JSONata":
            self.jsonata_rule(rule, loc, scope, state)
            return
        operators = [key for key in rule if key in spec.COMPARISONS or key in ("And", "Or", "Not")]
        for key in rule:
            if key in spec.COMPARISONS or key in ("And", "Or", "Not", "Variable", "Comment"):
                continue
            if key in ("Next", "Assign") and top:
                continue
            if key in ("Next", "Assign"):
                message = (f"'{key}' is allowed only on a top-level choice rule, not inside And/Or/Not; move it to "
                           "the enclosing rule.")
            elif key == "Condition":
                message = "Condition is a JSONata field; set \"QueryLanguage\": \"JSONata\" or use Variable + an operator."
            else:
                message = f"'{key}' is not a choice rule field or comparison operator."
            self.add("SCHEMA_VALIDATION_FAILED", message, _child(loc, key))
        if top:
            if "Next" not in rule:
                self.add("SCHEMA_VALIDATION_FAILED",
                         "Each top-level choice rule needs Next: the state to go to when it matches.", loc)
            else:
                self.transition(scope, state, rule["Next"], _child(loc, "Next"))
            if "Assign" in rule:
                self.assign(rule["Assign"], _child(loc, "Assign"), language)
        if len(operators) != 1:
            if not operators:
                message = ("A choice rule needs one comparison (e.g. \"Variable\": \"$.x\", \"StringEquals\": \"y\") "
                           "or one of And, Or, Not.")
            else:
                message = f"A choice rule can have only one comparison operator, found {', '.join(operators)}."
            self.add("SCHEMA_VALIDATION_FAILED", message, loc)
            return
        operator = operators[0]
        oloc = _child(loc, operator)
        value = rule[operator]
        if operator in ("And", "Or"):
            if "Variable" in rule:
                self.add("SCHEMA_VALIDATION_FAILED", f"Variable cannot be used with {operator}; put it in the nested rules.",
                         _child(loc, "Variable"))
            if not isinstance(value, list) or not value:
                self.add("SCHEMA_VALIDATION_FAILED", f"{operator} must be a non-empty array of choice rules.", oloc)
                return
            for index, nested in enumerate(value):
                self.choice_rule(nested, _child(oloc, index), language, top=False)
            return
        if operator == "Not":
            if "Variable" in rule:
                self.add("SCHEMA_VALIDATION_FAILED", "Variable cannot be used with Not; put it in the nested rule.",
                         _child(loc, "Variable"))
            if not isinstance(value, dict):
                self.add("SCHEMA_VALIDATION_FAILED", "Not must be a single choice rule object.", oloc)
                return
            self.choice_rule(value, oloc, language, top=False)
            return
        if "Variable" not in rule:
            self.add("SCHEMA_VALIDATION_FAILED",
                     f"{operator} needs a Variable: the path to compare, e.g. \"Variable\": \"$.status\".", loc)
        else:
            self.path(rule["Variable"], _child(loc, "Variable"), "Variable")
        self.comparison_value(operator, value, oloc)

    def comparison_value(self, operator, value, loc):
        kind = spec.COMPARISONS[operator]
        if kind in ("string", "timestamp", "path") and _is_placeholder(value):
            return  # filled in by DefinitionSubstitutions at deploy time
        if kind == "path":
            self.path(value, loc, operator)
            return
        if kind == "string":
            ok = isinstance(value, str)
        elif kind == "number":
            ok = _is_number(value)
        elif kind == "boolean":
            ok = isinstance(value, bool)
        else:  # timestamp
            ok = isinstance(value, str) and spec.TIMESTAMP.fullmatch(value) is not None
        if not ok:
            expected = {"string": "a string", "number": "a number", "boolean": "true or false",
                        "timestamp": "an RFC 3339 timestamp such as \"2026-01-01T00:00:00Z\""}[kind]
            hint = f"; to compare with a value from the input use {operator}Path" if looks_like_path(value) else ""
            self.add("SCHEMA_VALIDATION_FAILED", f"{operator} must be {expected}, not {value!r}{hint}.", loc)
        elif kind == "string" and looks_like_path(value) and operator != "StringMatches":
            self.add("NO_PATH",
                     f"{operator} compares with the literal string {value!r}; to compare with the value at that "
                     f"path use {operator}Path.", loc)

    def jsonata_rule(self, rule, loc, scope, state):
        for key in rule:
            if key not in ("Condition", "Next", "Comment", "Output", "Assign"):
                if key in spec.COMPARISONS or key in ("Variable", "And", "Or", "Not"):
                    message = (f"'{key}' is a JSONPath choice field; in JSONata write the test as "
                               "\"Condition\": \"{% ... %}\".")
                else:
                    message = f"'{key}' is not supported in a JSONata choice rule; use Condition, Next, Output, Assign."
                self.add("SCHEMA_VALIDATION_FAILED", message, _child(loc, key))
        if "Condition" not in rule:
            self.add("SCHEMA_VALIDATION_FAILED",
                     "A JSONata choice rule needs Condition, e.g. \"{% $states.input.ok %}\".", loc)
        else:
            condition = rule["Condition"]
            if isinstance(condition, bool):
                pass
            elif looks_like_expression(condition):
                self.jsonata(condition, _child(loc, "Condition"))
            else:
                self.add("SCHEMA_VALIDATION_FAILED",
                         "Condition must be a JSONata expression \"{% ... %}\" (or true/false).", _child(loc, "Condition"))
        if "Next" not in rule:
            self.add("SCHEMA_VALIDATION_FAILED", "Each choice rule needs Next.", loc)
        else:
            self.transition(scope, state, rule["Next"], _child(loc, "Next"))
        if "Output" in rule:
            self.jsonata_template(rule["Output"], _child(loc, "Output"))
        if "Assign" in rule:
            self.assign(rule["Assign"], _child(loc, "Assign"), "JSONata")

    # Wait --------------------------------------------------------------------

    def state_wait(self, name, st, loc, scope, language):
        present = [f for f in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if f in st]
        if len(present) != 1:
            fields = "Seconds or Timestamp" if language == "JSONata" else "Seconds, Timestamp, SecondsPath or TimestampPath"
            found = f" (found {', '.join(present)})" if present else ""
            self.add("SCHEMA_VALIDATION_FAILED", f"A Wait state needs exactly one of {fields}{found}.", loc)
        if "Seconds" in st:
            self.check_int(st["Seconds"], _child(loc, "Seconds"), "Seconds", 0, spec.MAX_SECONDS, language)
        if "Timestamp" in st:
            value = st["Timestamp"]
            tloc = _child(loc, "Timestamp")
            if language == "JSONata" and looks_like_expression(value):
                self.jsonata(value, tloc)
            elif _is_placeholder(value):
                pass
            elif not (isinstance(value, str) and spec.TIMESTAMP.fullmatch(value)):
                hint = "; to read it from the input use TimestampPath" if looks_like_path(value) else ""
                self.add("SCHEMA_VALIDATION_FAILED",
                         f"Timestamp must be an RFC 3339 timestamp such as \"2026-01-01T00:00:00Z\", not {value!r}{hint}.",
                         tloc)
        for field in ("SecondsPath", "TimestampPath"):
            if field in st:
                self.reference_path(st[field], _child(loc, field), field)

    # Succeed / Fail ------------------------------------------------------------

    def state_succeed(self, name, st, loc, scope, language):
        pass  # only InputPath/OutputPath (or Output), checked for every state

    def state_fail(self, name, st, loc, scope, language):
        for field in ("Error", "Cause"):
            path_field = field + "Path"
            floc = _child(loc, field)
            if field in st:
                value = st[field]
                if not isinstance(value, str):
                    self.add("SCHEMA_VALIDATION_FAILED", f"{field} must be a string.", floc)
                elif language == "JSONata" and looks_like_expression(value):
                    self.jsonata(value, floc)
                elif language == "JSONPath" and (looks_like_path(value) or looks_like_intrinsic(value)):
                    self.add("NO_PATH",
                             f"{field} is the literal string {value!r}; to read it from the input use {path_field}.",
                             floc)
            if path_field in st:
                value = st[path_field]
                ploc = _child(loc, path_field)
                if isinstance(value, str) and looks_like_intrinsic(value):
                    name = value.split("(", 1)[0].strip()
                    if name in FUNCTIONS and name not in STRING_INTRINSICS:
                        self.add("INVALID_INTRINSIC_FUNCTION",
                                 f"{path_field} needs a string, and {name} does not return one; use one of "
                                 f"{', '.join(sorted(STRING_INTRINSICS))}.", ploc)
                    else:
                        self.intrinsic(value, ploc)
                else:
                    self.reference_path(value, ploc, path_field)
                if field in st:
                    self.add("SCHEMA_VALIDATION_FAILED", f"Use either {field} or {path_field}, not both.", ploc)

    # Parallel ------------------------------------------------------------------

    def state_parallel(self, name, st, loc, scope, language):
        if language == "JSONPath":
            self.result_path(st, loc)
            for field in ("Parameters", "ResultSelector"):
                if field in st:
                    self.payload(st[field], _child(loc, field))
        elif "Arguments" in st:
            self.jsonata_template(st["Arguments"], _child(loc, "Arguments"))
        branches = st.get("Branches")
        bloc = _child(loc, "Branches")
        if "Branches" not in st:
            self.add("SCHEMA_VALIDATION_FAILED", "A Parallel state needs Branches: an array of state machines.", loc)
        elif not isinstance(branches, list) or not branches:
            self.add("SCHEMA_VALIDATION_FAILED",
                     "Branches must be a non-empty array of objects, each with StartAt and States.", bloc)
        else:
            for index, branch in enumerate(branches):
                if not isinstance(branch, dict):
                    self.add("SCHEMA_VALIDATION_FAILED", "Each branch must be an object with StartAt and States.",
                             _child(bloc, index))
                    continue
                self.machine(branch, _child(bloc, index), name)
        self.retry_catch(name, st, loc, scope, language)

    # Map -----------------------------------------------------------------------

    def state_map(self, name, st, loc, scope, language):
        distributed = self.map_processor(name, st, loc)
        if language == "JSONPath":
            self.result_path(st, loc)
            if "ItemsPath" in st:
                self.reference_path(st["ItemsPath"], _child(loc, "ItemsPath"), "ItemsPath")
            for field in ("Parameters", "ItemSelector", "ResultSelector"):
                if field in st:
                    self.payload(st[field], _child(loc, field))
            if "Parameters" in st and "ItemSelector" in st:
                self.add("SCHEMA_VALIDATION_FAILED",
                         "Use ItemSelector (Parameters is its older name), not both.", _child(loc, "Parameters"))
        else:
            if "Items" in st:
                items = st["Items"]
                if looks_like_expression(items):
                    self.jsonata(items, _child(loc, "Items"))
                elif isinstance(items, list):
                    self.jsonata_template(items, _child(loc, "Items"))
                else:
                    self.add("SCHEMA_VALIDATION_FAILED",
                             "Items must be an array or a JSONata expression \"{% ... %}\".", _child(loc, "Items"))
            if "ItemSelector" in st:
                self.jsonata_template(st["ItemSelector"], _child(loc, "ItemSelector"))
        self.check_int_or_path(st, loc, "MaxConcurrency", 0, None, language)
        self.check_int_or_path(st, loc, "ToleratedFailureCount", 0, None, language)
        self.check_int_or_path(st, loc, "ToleratedFailurePercentage", 0, 100, language, number=True)
        if not distributed:
            for field in spec.DISTRIBUTED_ONLY:
                if field in st:
                    self.add("SCHEMA_VALIDATION_FAILED",
                             f"{field} is only for a Distributed Map; set ItemProcessor.ProcessorConfig.Mode to "
                             "\"DISTRIBUTED\" (with an ExecutionType) or remove it.", _child(loc, field))
        if "Label" in st:
            self.label(st["Label"], _child(loc, "Label"))
        if "ItemReader" in st:
            self.map_io_config(st["ItemReader"], _child(loc, "ItemReader"), "ItemReader", "ReaderConfig", language)
        if "ResultWriter" in st:
            self.map_io_config(st["ResultWriter"], _child(loc, "ResultWriter"), "ResultWriter", "WriterConfig", language)
        if "ItemBatcher" in st:
            self.item_batcher(st["ItemBatcher"], _child(loc, "ItemBatcher"), language)
        self.retry_catch(name, st, loc, scope, language)

    def map_processor(self, name, st, loc) -> bool:
        """Check ItemProcessor/Iterator; return True for a Distributed Map."""
        has_processor = "ItemProcessor" in st
        if has_processor == ("Iterator" in st):
            message = ("A Map state needs ItemProcessor (the states to run for each item)."
                       if not has_processor else
                       "Use ItemProcessor (Iterator is its older name), not both.")
            self.add("SCHEMA_VALIDATION_FAILED", message, loc)
        field = "ItemProcessor" if has_processor else "Iterator"
        node = st.get(field)
        ploc = _child(loc, field)
        if node is None:
            return False
        if not isinstance(node, dict):
            self.add("SCHEMA_VALIDATION_FAILED", f"{field} must be an object with StartAt and States.", ploc)
            return False
        allowed = spec.ITERATOR_FIELDS if has_processor else spec.BRANCH_FIELDS
        self.machine(node, ploc, name, allowed=allowed)
        config = node.get("ProcessorConfig", {})
        cloc = _child(ploc, "ProcessorConfig")
        if not isinstance(config, dict):
            self.add("SCHEMA_VALIDATION_FAILED", "ProcessorConfig must be an object with Mode.", cloc)
            return False
        for key in config:
            if key not in ("Mode", "ExecutionType"):
                self.add("SCHEMA_VALIDATION_FAILED",
                         f"Field '{key}' is not supported in ProcessorConfig; use Mode and ExecutionType.",
                         _child(cloc, key))
        mode = config.get("Mode", "INLINE")
        if mode not in ("INLINE", "DISTRIBUTED"):
            self.add("SCHEMA_VALIDATION_FAILED", f"Mode must be \"INLINE\" or \"DISTRIBUTED\", not {mode!r}.",
                     _child(cloc, "Mode"))
            return False
        execution = config.get("ExecutionType")
        if mode == "DISTRIBUTED":
            if execution not in ("STANDARD", "EXPRESS"):
                self.add("SCHEMA_VALIDATION_FAILED",
                         "A Distributed Map needs ExecutionType \"STANDARD\" or \"EXPRESS\" for its child workflows.",
                         _child(cloc, "ExecutionType") if "ExecutionType" in config else cloc)
            return True
        if "ExecutionType" in config:
            self.add("SCHEMA_VALIDATION_FAILED",
                     "ExecutionType applies only to Mode \"DISTRIBUTED\"; remove it for an inline Map.",
                     _child(cloc, "ExecutionType"))
        return False

    def label(self, value, loc):
        if _is_placeholder(value):
            return
        if not isinstance(value, str) or not value:
            self.add("INVALID_LABEL_NAME", "Label must be a non-empty string.", loc)
        elif len(value) > spec.MAX_LABEL:
            self.add("INVALID_LABEL_NAME", f"Label is {len(value)} characters; the limit is {spec.MAX_LABEL}.", loc)
        elif spec.LABEL_FORBIDDEN.search(value):
            bad = spec.LABEL_FORBIDDEN.search(value).group(0)
            self.add("INVALID_LABEL_NAME", f"Label {value!r} contains {bad!r}; use letters, digits, '-' and '_'.", loc)

    def map_io_config(self, value, loc, what, config_field, language):
        if not isinstance(value, dict):
            self.add("SCHEMA_VALIDATION_FAILED", f"{what} must be an object.", loc)
            return
        allowed = {"Resource", config_field, "Arguments" if language == "JSONata" else "Parameters"}
        for key in value:
            if key not in allowed:
                self.add("SCHEMA_VALIDATION_FAILED",
                         f"Field '{key}' is not supported in {what}; allowed fields are {', '.join(sorted(allowed))}.",
                         _child(loc, key))
        self.resource(value, loc, required=(what == "ItemReader" or "Parameters" in value or "Arguments" in value))
        if "Parameters" in value and language == "JSONPath":
            self.payload(value["Parameters"], _child(loc, "Parameters"))
        if "Arguments" in value and language == "JSONata":
            self.jsonata_template(value["Arguments"], _child(loc, "Arguments"))
        config = value.get(config_field)
        if config is not None and not isinstance(config, dict):
            self.add("SCHEMA_VALIDATION_FAILED", f"{config_field} must be an object.", _child(loc, config_field))
        elif config and config_field == "ReaderConfig":
            self.check_int_or_path(config, _child(loc, config_field), "MaxItems", 1, 100000000, language)

    def item_batcher(self, value, loc, language):
        if not isinstance(value, dict):
            self.add("SCHEMA_VALIDATION_FAILED", "ItemBatcher must be an object.", loc)
            return
        allowed = {"MaxItemsPerBatch", "MaxInputBytesPerBatch", "BatchInput"}
        if language == "JSONPath":
            allowed |= {"MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"}
        for key in value:
            if key not in allowed:
                self.add("SCHEMA_VALIDATION_FAILED",
                         f"Field '{key}' is not supported in ItemBatcher; allowed fields are {', '.join(sorted(allowed))}.",
                         _child(loc, key))
        if not any(k in value for k in allowed - {"BatchInput"}):
            self.add("SCHEMA_VALIDATION_FAILED",
                     "ItemBatcher needs MaxItemsPerBatch or MaxInputBytesPerBatch (or their *Path forms).", loc)
        self.check_int_or_path(value, loc, "MaxItemsPerBatch", 1, None, language)
        self.check_int_or_path(value, loc, "MaxInputBytesPerBatch", 1, 262144, language)
        if "BatchInput" in value:
            if language == "JSONata":
                self.jsonata_template(value["BatchInput"], _child(loc, "BatchInput"))
            else:
                self.payload(value["BatchInput"], _child(loc, "BatchInput"))

    # ---------------------------------------------------------------- values

    def check_int(self, value, loc, field, low, high, language) -> bool:
        if language == "JSONata" and looks_like_expression(value):
            self.jsonata(value, loc)
            return True
        if not _is_int(value) or value < low or (high is not None and value > high):
            upper = f" and at most {high}" if high is not None else ""
            self.add("SCHEMA_VALIDATION_FAILED",
                     f"{field} must be a whole number of at least {low}{upper}, not {value!r}.", loc)
            return False
        return True

    def check_int_or_path(self, node, loc, field, low, high, language, number=False):
        path_field = field + "Path"
        if field in node:
            value = node[field]
            floc = _child(loc, field)
            if language == "JSONata" and looks_like_expression(value):
                self.jsonata(value, floc)
            elif number:
                if not _is_number(value) or value < low or value > high:
                    self.add("SCHEMA_VALIDATION_FAILED",
                             f"{field} must be a number from {low} to {high}, not {value!r}.", floc)
            else:
                self.check_int(value, floc, field, low, high, language)
        if path_field in node:
            self.reference_path(node[path_field], _child(loc, path_field), path_field)
            if field in node:
                self.add("SCHEMA_VALIDATION_FAILED", f"Use either {field} or {path_field}, not both.",
                         _child(loc, path_field))

    def result_path(self, st, loc):
        if "ResultPath" in st and st["ResultPath"] is not None:
            self.path(st["ResultPath"], _child(loc, "ResultPath"), "ResultPath", reference=True, result=True)

    def reference_path(self, value, loc, field):
        self.path(value, loc, field, reference=True)

    def path(self, value, loc, field, reference=False, result=False):
        if _is_placeholder(value):
            return
        if not isinstance(value, str):
            self.add("SCHEMA_VALIDATION_FAILED", f"{field} must be a path string such as \"$.field\".", loc)
            return
        reason = check_path(value, reference=reference, allow_context=not result, allow_variables=not result)
        if reason:
            kind = "a reference path (one node, like \"$.result\")" if reference else "a JSONPath"
            self.add("INVALID_JSONPATH", f"{field} {value!r} is not {kind}: {reason}.", loc)

    def intrinsic(self, value: str, loc: str):
        reason = check_intrinsic(value)
        if reason:
            self.add("INVALID_INTRINSIC_FUNCTION", f"Invalid intrinsic function {value!r}: {reason}.", loc)

    def payload(self, value, loc):
        """Parameters, ResultSelector, ItemSelector: `.$` keys take paths or intrinsics."""
        if isinstance(value, dict):
            for key, child in value.items():
                cloc = _child(loc, key)
                if key.endswith(".$"):
                    self.dynamic_value(key, child, cloc)
                else:
                    self.payload(child, cloc)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                self.payload(child, _child(loc, index))
        elif looks_like_path(value) or looks_like_intrinsic(value):
            key = loc.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
            self.add("NO_DOLLAR",
                     f"{value!r} is passed as a literal string; if it should be evaluated, rename the key to "
                     f"'{key}.$'.", loc)

    def dynamic_value(self, key, value, loc):
        if _is_placeholder(value):
            return
        if not isinstance(value, str):
            self.add("SCHEMA_VALIDATION_FAILED",
                     f"'{key}' ends in '.$', so its value must be a path or intrinsic function string, not "
                     f"{_type_name(value)}; drop the '.$' for a literal value.", loc)
        elif value.startswith("$"):
            reason = check_path(value)
            if reason:
                self.add("INVALID_JSONPATH", f"{value!r} is not a valid path: {reason}.", loc)
        elif value.startswith("States."):
            self.intrinsic(value, loc)
        else:
            self.add("INVALID_JSONPATH",
                     f"'{key}' ends in '.$', so {value!r} must be a path (\"$.field\", \"$$.Execution.Id\", "
                     "\"$variable\") or an intrinsic function (\"States.Format(...)\"); drop the '.$' for a literal.",
                     loc)

    def assign(self, value, loc, language):
        if not isinstance(value, dict):
            self.add("SCHEMA_VALIDATION_FAILED", "Assign must be an object mapping variable names to values.", loc)
            return
        for key, child in value.items():
            cloc = _child(loc, key)
            name = key[:-2] if language == "JSONPath" and key.endswith(".$") else key
            if not is_variable_name(name) or len(name) > spec.MAX_VARIABLE_NAME:
                hint = f" (for example {name.replace('-', '_')!r})" if "-" in name and is_variable_name(
                    name.replace("-", "_")) else ""
                self.add("INVALID_VARIABLE_NAME",
                         f"{name!r} is not a valid variable name: start with a letter or '_', then letters, digits "
                         f"or '_' (no '-', spaces or dots){hint}, at most {spec.MAX_VARIABLE_NAME} characters.", cloc)
            elif language == "JSONata" and name == "states":
                self.add("INVALID_VARIABLE_NAME", "'states' is reserved for $states in JSONata; pick another name.",
                         cloc)
            if language == "JSONata":
                self.jsonata_template(child, cloc)
            elif key.endswith(".$"):
                self.dynamic_value(key, child, cloc)
            else:
                self.payload(child, cloc)

    def jsonata(self, value: str, loc: str):
        from workshop.asl.jsonata_check import check_expression  # lazy: only JSONata definitions pay for it

        reason = check_expression(value)
        if reason:
            self.add("INVALID_JSONATA", f"{reason}.", loc)

    def jsonata_template(self, value, loc):
        """Arguments, Output, Assign values...: any string may be a `{% %}` expression."""
        if isinstance(value, dict):
            for key, child in value.items():
                cloc = _child(loc, key)
                if key.endswith(".$"):
                    self.add("SCHEMA_VALIDATION_FAILED",
                             f"'{key}': keys ending in '.$' are JSONPath syntax; in JSONata write the value as "
                             f"\"{{% ... %}}\" and drop the '.$'.", cloc)
                self.jsonata_template(child, cloc)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                self.jsonata_template(child, _child(loc, index))
        elif looks_like_expression(value):
            self.jsonata(value, loc)

    # ---------------------------------------------------------------- transitions

    def check_transitions(self):
        """Targets exist in the same scope; every state is reachable from StartAt."""
        scope_of = {}
        for scope in self.scopes:
            for name in scope.states:
                scope_of.setdefault(name, scope)
        for scope in self.scopes:
            if scope.start is not None and scope.start not in scope.states:
                self.add("MISSING_TRANSITION_TARGET", self.missing_message("StartAt", scope.start, scope, scope_of),
                         scope.start_loc)
            successors: dict[str, list[str]] = {}
            for source, target, loc in scope.edges:
                if target in scope.states:
                    successors.setdefault(source, []).append(target)
                else:
                    field = loc.rsplit("/", 1)[-1]
                    self.add("MISSING_TRANSITION_TARGET", self.missing_message(field, target, scope, scope_of), loc)
            if scope.start not in scope.states:
                continue  # reachability is meaningless without a start
            seen = {scope.start}
            todo = [scope.start]
            while todo:
                for nxt in successors.get(todo.pop(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            for name in scope.states:
                if name not in seen and (isinstance(scope.states[name], dict) or name not in _MACHINE_FIELDS):
                    self.add("UNREACHABLE_STATE",
                             f"State '{name}' cannot be reached from StartAt '{scope.start}'; point a Next, Default "
                             "or Catch at it, or delete it.", _child(scope.states_loc, name))

    @staticmethod
    def missing_message(field, target, scope, scope_of) -> str:
        other = scope_of.get(target)
        if other is not None and other is not scope:
            inside = f"inside '{other.owner}'" if other.owner else "at the top level"
            return (f"{field} '{target}' names a state {inside}, outside this "
                    f"{'branch' if scope.owner else 'state machine'}; transitions cannot cross Parallel or Map "
                    "boundaries.")
        guess = closest_state_name(target, scope.states)
        hint = f" Did you mean '{guess}'?" if guess else ""
        names = ", ".join(sorted(scope.states)[:10])
        return f"{field} '{target}' names no state here.{hint} Existing states are: {names}."


def closest_state_name(name: str, candidates) -> str | None:
    """The existing state name `name` was most likely meant to be, or None.

    "TempRemoval" -> "TempRemove", "tempremove" -> "TempRemove". The builder
    and the editor use it for the same hint in their own words.
    """
    candidates = [c for c in candidates if isinstance(c, str)]
    if not isinstance(name, str) or not candidates or name in candidates:
        return None
    folded = {c.casefold(): c for c in candidates}
    if name.casefold() in folded:
        return folded[name.casefold()]
    import difflib  # lazy: only a broken transition pays for it

    matches = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[matches[0]] if matches else None


def resource_problem(value: str) -> str:
    """Why a Task Resource string is not an ARN Step Functions accepts, and what shape would be."""
    shapes = ("A Task Resource is a Lambda function ARN (arn:aws:lambda:us-east-1:123456789012:function:NAME), "
              "an activity ARN (arn:aws:states:us-east-1:123456789012:activity:NAME), a service integration "
              "(arn:aws:states:::SERVICE:ACTION, optionally .sync or .waitForTaskToken), or a ${Placeholder} that "
              "DefinitionSubstitutions fills in.")
    parts = value.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return f"Resource {value!r} is not an ARN: it must have the shape arn:PARTITION:SERVICE:REGION:ACCOUNT:... " \
               + shapes
    partition, service, region, account = parts[1:5]
    problems = []
    if not spec.PARTITION.fullmatch(partition):
        problems.append(f"the partition {partition!r} is not one of aws, aws-cn, aws-us-gov")
    if service == "lambda":
        kind, example = "a Lambda function ARN", "arn:aws:lambda:us-east-1:123456789012:function:NAME"
        if parts[5:6] != ["function"] or len(parts) < 7 or not parts[6]:
            problems.append("it must continue with ':function:' and the function name")
    elif service == "states" and not region and not account:
        kind, example = "a service integration ARN", "arn:aws:states:::sns:publish"
        problems.append(f"{':'.join(parts[5:])!r} is not SERVICE:ACTION with an optional .sync, .sync:2 or "
                        ".waitForTaskToken suffix")
        region = account = None  # integrations carry no region or account
    elif service == "states":
        kind, example = "an activity ARN", "arn:aws:states:us-east-1:123456789012:activity:NAME"
        if parts[5:6] != ["activity"] or len(parts) < 7 or not parts[6]:
            problems.append("it must continue with ':activity:' and the activity name")
    else:
        return (f"Resource {value!r} is an ARN of the {service!r} service, which a Task cannot run directly; to call "
                f"{service} use its service integration (arn:aws:states:::{service}:ACTION) or the AWS SDK "
                f"integration (arn:aws:states:::aws-sdk:{service}:ACTION). " + shapes)
    if region is not None and not spec.REGION.fullmatch(region):
        problems.append(f"the region {region!r} is not a region code such as us-east-1")
    if account is not None and not spec.ACCOUNT.fullmatch(account):
        problems.append(f"the account {account!r} is not a 12-digit account ID")
    if not problems:
        problems.append("the name has characters an ARN does not allow")
    return (f"Resource {value!r} does not have the shape of {kind}: {'; '.join(problems)}. It should look like "
            f"{example}. " + shapes)


def validate_state(state, name: str = "State") -> dict:
    """Validate one state (JSON text or a dict) as the only state of a machine named `name`.

    What the editor and TestState check before a state joins its machine: the
    same result and diagnostics as `validate`, locations under
    `/States/<name>`, and repeated keys in the state's text reported too
    (they are lost once the text is parsed into a dict).
    """
    prefix = _child("/States", name)
    if isinstance(state, (bytes, bytearray)):
        state = state.decode("utf-8", errors="replace")
    if not isinstance(state, str):
        return validate({"StartAt": name, "States": {name: state}})
    try:
        doc, repeats = load_json(state)
    except JsonTextError:
        return validate(state)  # the same INVALID_JSON_DESCRIPTION diagnostic as for a machine
    outcome = validate({"StartAt": name, "States": {name: doc}})
    if repeats:
        report = Report()
        _report_repeats(report, [(prefix + loc, key) for loc, key in repeats])
        outcome = {"result": "FAIL", "diagnostics": report.diagnostics + outcome["diagnostics"]}
    return outcome


def _report_repeats(report: Report, repeats):
    for loc, key in repeats:
        code = "DUPLICATE_STATE_NAME" if loc.endswith("/States") else "DUPLICATE_JSON_KEY"
        what = "State name" if code == "DUPLICATE_STATE_NAME" else "Key"
        report.add(code, f"{what} '{key}' appears twice in the same object; JSON keeps only the last one, so "
                         "rename or merge them.", _child(loc, key))


def validate(definition) -> dict:
    """Validate a definition given as JSON text (str/bytes) or as a parsed dict.

    Returns {"result": "OK"|"FAIL", "diagnostics": [...]}, the shape of the
    Step Functions ValidateStateMachineDefinition response.
    """
    report = Report()
    if isinstance(definition, (bytes, bytearray)):
        try:
            definition = definition.decode("utf-8")
        except UnicodeDecodeError as exc:
            report.add("INVALID_JSON_DESCRIPTION", f"The definition is not UTF-8 text: {exc}.", "/")
            return report.result()
    if definition is None or (isinstance(definition, str) and not definition.strip()):
        report.add("MISSING_DESCRIPTION", "The definition is empty; give a JSON object with StartAt and States.", "/")
        return report.result()
    if isinstance(definition, str):
        try:
            doc, repeats = load_json(definition)
        except JsonTextError as exc:
            where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
            report.add("INVALID_JSON_DESCRIPTION", f"The definition is not valid JSON: {exc}{where}.", "/")
            return report.result()
        _report_repeats(report, repeats)
    else:
        doc = definition
    _Validator(report).run(doc)
    return report.result()
