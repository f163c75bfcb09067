"""Build a state machine one state per notebook cell, validated as you go.

    from workshop.builder import StateMachineBuilder
    sm = StateMachineBuilder(start_at="CheckEvent", substitutions=subs)
    sm.add("CheckEvent", {...})     # shows diagnostics and the graph so far

After each `add`, the definition is validated with `workshop.asl.validate`
(the ValidateStateMachineDefinition API's shape). Diagnostics about states
that are named but not written yet (a `Next` to a state still to come, no end
state yet) are listed as "still to build", not as errors.

`${Name}` placeholders (the template's DefinitionSubstitutions) are replaced
by `substitutions` before validating, drawing or deploying, exactly as SAM
does at deploy time.
"""

from __future__ import annotations

import copy
import difflib
import html
import json
import re
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from workshop.history import Bundle

STILL_TO_BUILD = {"MISSING_TRANSITION_TARGET", "MISSING_END_STATE"}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
ACCOUNT = "123456789012"
# Stand-ins used before the stack is deployed (same shapes as the real values).
DEFAULT_SUBSTITUTIONS = {
    "ValidatePolicyArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:ValidatePolicy",
    "RevertPolicyArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:RevertPolicy",
    "AskUserArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:AskUser",
    "RestorePolicyArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:RestorePolicy",
    "RevertPolicyRoleArn": f"arn:aws:iam::{ACCOUNT}:role/RevertPolicyRole",
    "RestorePolicyRoleArn": f"arn:aws:iam::{ACCOUNT}:role/RestorePolicyRole",
    "AlertTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:AlertTopic",
    "ApprovalTimeoutSeconds": "86400",
}
REFERENCE = Path(__file__).resolve().parents[2] / "statemachine" / "security_orchestrator.asl.json"


def substitute(value, substitutions: dict):
    """Replace `${Name}` in every string of a JSON value (keys too), like SAM's DefinitionSubstitutions."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: str(substitutions.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [substitute(v, substitutions) for v in value]
    if isinstance(value, dict):
        return {substitute(k, substitutions): substitute(v, substitutions) for k, v in value.items()}
    return value


def substitutions_from(template_definition, deployed_definition) -> dict:
    """Read the values SAM substituted by lining up the template's definition with the deployed one."""
    found = {}

    def walk(template, deployed):
        if isinstance(template, str) and isinstance(deployed, str):
            if PLACEHOLDER.search(template):
                match = re.match(_regex_for(template), deployed, re.S)
                if match:
                    found.update(match.groupdict())
        elif isinstance(template, dict) and isinstance(deployed, dict):
            for key, value in template.items():
                if key in deployed:
                    walk(value, deployed[key])
        elif isinstance(template, list) and isinstance(deployed, list):
            for t, d in zip(template, deployed):
                walk(t, d)

    walk(template_definition, deployed_definition)
    return found


def _regex_for(template: str) -> str:
    parts, last, seen = [], 0, set()
    for match in PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[last:match.start()]))
        name = match.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
        seen.add(name)
        last = match.end()
    parts.append(re.escape(template[last:]))
    return "^" + "".join(parts) + "$"


def reference_definition(path: str | Path = REFERENCE) -> dict:
    return json.loads(Path(path).read_text())


class StackValuesUnreadable(Exception):
    """On AWS, the deployed stack's values could not all be read: stand-ins would break the real machine."""


class StackSubstitutions(dict):
    """The `${Name}` values of the deployed stack, and its state machine's role (`role_arn`) when known."""

    role_arn: str | None = None


def stack_substitutions(cloud, state_machine_arn: str | None) -> StackSubstitutions:
    """The substitutions of the deployed stack.

    On the local target, stand-ins fill what cannot be read (nothing is harmed
    there). On AWS every value must come from the deployed state machine:
    otherwise StackValuesUnreadable names what is missing, rather than
    writing ARNs of account 123456789012 into a real state machine.
    """
    values = StackSubstitutions(DEFAULT_SUBSTITUTIONS)
    problem = "the stack's state machine ARN is missing (deploy with notebook 01 first)"
    if state_machine_arn:
        try:
            machine = cloud.client("stepfunctions").describe_state_machine(stateMachineArn=state_machine_arn)
            found = substitutions_from(reference_definition(), json.loads(machine["definition"]))
            values.update(found)
            values.role_arn = machine.get("roleArn")
            missing = sorted(set(DEFAULT_SUBSTITUTIONS) - set(found))
            problem = (f"{', '.join(missing)} could not be read from the deployed definition (it no longer matches "
                       "statemachine/security_orchestrator.asl.json: redeploy with notebook 01)") if missing else ""
        except (BotoCoreError, ClientError, KeyError, ValueError) as exc:
            problem = f"the deployed state machine could not be read ({type(exc).__name__}: {exc})"
    if problem and not getattr(cloud, "is_local", True):
        raise StackValuesUnreadable(f"On AWS the builder needs the deployed stack's values, and {problem}. "
                                    "Nothing was changed.")
    return values


def split_diagnostics(diagnostics: list) -> dict:
    """{"errors", "still_to_build", "warnings"} from validate()'s diagnostics."""
    out = {"errors": [], "still_to_build": [], "warnings": []}
    for d in diagnostics:
        if d.get("code") in STILL_TO_BUILD:
            out["still_to_build"].append(d)
        elif d.get("severity") == "ERROR":
            out["errors"].append(d)
        else:
            out["warnings"].append(d)
    return out


def _diagnostics_html(parts: dict) -> str:
    def rows(items, colour):
        return "".join(f"<li style='color:{colour}'><code>{html.escape(d['code'])}</code> at "
                       f"<code>{html.escape(d.get('location', '/'))}</code>: {html.escape(d['message'])}</li>"
                       for d in items)

    if not any(parts.values()):
        return "<p style='color:#1d8102'><strong>Valid</strong>: no diagnostics.</p>"
    text = ""
    if parts["errors"]:
        text += f"<p><strong style='color:#d13212'>{len(parts['errors'])} error(s)</strong> to fix:</p><ul>{rows(parts['errors'], '#d13212')}</ul>"
    else:
        text += "<p style='color:#1d8102'><strong>No errors.</strong></p>"
    if parts["still_to_build"]:
        text += f"<p><strong>Still to build</strong> ({len(parts['still_to_build'])}): states named but not written yet.</p><ul>{rows(parts['still_to_build'], '#545b64')}</ul>"
    if parts["warnings"]:
        text += f"<p><strong>Warnings</strong>:</p><ul>{rows(parts['warnings'], '#ec7211')}</ul>"
    return text


class BuildStep:
    """What one `add` shows: the diagnostics, then the graph so far."""

    def __init__(self, name: str, result: dict, graph: dict):
        self.name, self.result, self.graph = name, result, graph
        self.parts = split_diagnostics(result["diagnostics"])

    @property
    def errors(self) -> list:
        return self.parts["errors"]

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = dict(self.graph)
        data["text/html"] = (f"<h4>After adding {html.escape(self.name)}</h4>" + _diagnostics_html(self.parts)
                             + _svg_html(self.graph.get("image/svg+xml")))
        data["text/plain"] = self.__repr__()
        return data

    def __repr__(self) -> str:
        return (f"{self.name}: {len(self.errors)} error(s), {len(self.parts['still_to_build'])} still to build, "
                f"{len(self.parts['warnings'])} warning(s)")


def _svg_html(svg: str | None) -> str:
    return f"<div>{svg}</div>" if svg else ""


class StateMachineBuilder:
    def __init__(self, start_at: str, comment: str = "", substitutions: dict | None = None):
        self.definition = {"StartAt": start_at, "States": {}}
        if comment:
            self.definition = {"Comment": comment, **self.definition}
        self.substitutions = dict(DEFAULT_SUBSTITUTIONS if substitutions is None else substitutions)
        # the deployed state machine's own role (from stack_substitutions): what TestState assumes
        self.role_arn = getattr(substitutions, "role_arn", None)

    def substituted(self) -> dict:
        return substitute(self.definition, self.substitutions)

    def validate(self) -> dict:
        from workshop.asl import validate

        return validate(json.dumps(self.substituted()))

    def graph(self) -> dict:
        from workshop.asl.graph import graph_bundle

        return graph_bundle(self.substituted())

    def add(self, name: str, state: dict) -> BuildStep:
        """Add (or replace) a state, then validate and draw the whole definition."""
        self.definition["States"][name] = copy.deepcopy(state)
        return BuildStep(name, self.validate(), self.graph())

    def show(self) -> Bundle:
        return Bundle(self.graph())

    def compare(self, reference: dict | None = None) -> "Comparison":
        """The built definition against the reference file, both substituted."""
        reference = substitute(reference or reference_definition(), self.substitutions)
        return Comparison(self.substituted(), reference)

    def deploy(self, cloud, state_machine_arn: str) -> dict:
        """Update the deployed state machine with the built definition (only if it validates)."""
        result = self.validate()
        if result["result"] != "OK":
            raise ValueError("The definition does not validate yet: fix the errors listed above first.")
        sfn = cloud.client("stepfunctions")
        sfn.update_state_machine(stateMachineArn=state_machine_arn, definition=json.dumps(self.substituted()))
        return sfn.describe_state_machine(stateMachineArn=state_machine_arn)


class Comparison:
    def __init__(self, built: dict, reference: dict):
        self.built, self.reference = built, reference

    @property
    def identical(self) -> bool:
        return self.built == self.reference

    def diff(self) -> str:
        a = json.dumps(self.reference, indent=2, sort_keys=True).splitlines()
        b = json.dumps(self.built, indent=2, sort_keys=True).splitlines()
        return "\n".join(difflib.unified_diff(a, b, "statemachine/security_orchestrator.asl.json", "built here",
                                              lineterm=""))

    def __repr__(self) -> str:
        if self.identical:
            return "The built definition is the same as statemachine/security_orchestrator.asl.json."
        return "The built definition differs from the file:\n" + self.diff()

    def _repr_html_(self) -> str:
        if self.identical:
            return ("<p style='color:#1d8102'><strong>Identical</strong> to "
                    "<code>statemachine/security_orchestrator.asl.json</code> (placeholders substituted).</p>")
        return f"<p><strong>Differs</strong> from the file:</p><pre>{html.escape(self.diff())}</pre>"


# --- trying one state on its own (TestState) ----------------------------------------------


class StateTest:
    """The answer of TestState for one state (from the target, or from the kit's offline evaluator)."""

    def __init__(self, name, response=None, note=None, source="target"):
        self.name, self.response, self.note, self.source = name, response, note, source

    @property
    def supported(self) -> bool:
        return self.response is not None

    def _repr_html_(self) -> str:
        note = f"<p><em>{html.escape(self.note)}</em></p>" if self.note else ""
        if not self.supported:
            return note
        r = self.response
        out = r.get("output")
        try:
            out = json.dumps(json.loads(out), indent=2)
        except (TypeError, ValueError):
            pass
        rows = [("status", r.get("status")), ("next state", r.get("nextState", "(end)")),
                ("error", r.get("error")), ("cause", r.get("cause"))]
        table = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows if v)
        return (f"<p>TestState on <strong>{html.escape(self.name)}</strong>:</p><table>{table}</table>"
                f"<pre>{html.escape(str(out or ''))}</pre>{note}")

    def __repr__(self) -> str:
        if not self.supported:
            return self.note
        text = f"{self.name}: {self.response.get('status')} -> {self.response.get('nextState', '(end)')}"
        return text + (f"\n{self.note}" if self.note else "")


# Errors with which the TestState API judges the request itself: a real answer, not a missing API.
_TESTSTATE_ANSWERS = {"InvalidDefinition", "InvalidExecutionInput", "ValidationException", "InvalidArn"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}
# Stands in for the machine's role on the local cloud before the stack is deployed (it checks no role).
STAND_IN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/WorkshopTestState"


def _permission_note(exc, role_arn: str | None) -> str:
    return (f"TestState was refused ({str(exc)[:300]}). That is a permission problem, not a problem with your "
            f"state: your credentials need states:TestState and iam:PassRole on {role_arn or 'the role'}, and "
            "the role must trust states.amazonaws.com (the stack's state machine role does; the learner's "
            "permission set is policies/learner-policy.json). Meanwhile the kit evaluated the state offline:")


def try_state(cloud, builder: StateMachineBuilder, name: str, state_input: dict, mock: dict | None = None,
              role_arn: str | None = None) -> StateTest:
    """Run one state on its own with the Step Functions TestState API.

    `mock` ({"result": "<json>"} or {"errorOutput": {"error", "cause"}}) stands in for the task's
    answer, as in the API. TestState assumes `role_arn`, by default the deployed state machine's
    own role (`builder.role_arn`, from `stack_substitutions`), which may call what the state calls.
    AccessDenied is reported as the permission problem it is. If the target does not offer
    TestState, the kit's offline evaluator answers instead, and the result says so.
    """
    state = substitute(builder.definition["States"][name], builder.substitutions)
    role_arn = role_arn or builder.role_arn or (STAND_IN_ROLE if getattr(cloud, "is_local", True) else None)
    request = {"definition": json.dumps(state), "input": json.dumps(state_input)}
    if role_arn:
        request["roleArn"] = role_arn
    if mock is not None:
        request["mock"] = mock
    denied = None
    try:
        response = cloud.client("stepfunctions").test_state(**request)
        response.pop("ResponseMetadata", None)
        return StateTest(name, response)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in _DENIED:
            denied = _permission_note(exc, role_arn)
        elif code in _TESTSTATE_ANSWERS:
            return StateTest(name, {"status": "FAILED", "error": code, "cause": str(exc)})
        missing = f"{type(exc).__name__}: {str(exc)[:160]}"
    try:
        from workshop.asl.test_state import test_state as offline_test_state
    except ImportError:
        return StateTest(name, note=(
            f"TestState is not available on this target yet ({missing}). Nothing is wrong with your state: "
            "the validation above still applies, and the whole machine runs in notebook 03."))
    try:
        response = offline_test_state(request)
    except Exception as exc:  # the offline evaluator refuses what AWS would refuse
        return StateTest(name, {"status": "FAILED", "error": type(exc).__name__, "cause": str(exc)},
                         note=denied or "Evaluated offline by the kit.", source="offline")
    if denied:
        return StateTest(name, response, source="offline", note=denied)
    if not getattr(cloud, "is_local", True):
        return StateTest(name, response, source="offline", note=(
            f"TestState failed on AWS ({missing}); the kit's offline TestState evaluated the state instead."))
    return StateTest(name, response, source="offline", note=(
        f"This target does not offer the TestState API yet ({missing.split(':')[0]}): the kit's offline "
        "TestState evaluated the state, the same way."))


# --- the exercise -------------------------------------------------------------------------------


def _without_comments(value):
    if isinstance(value, dict):
        return {k: _without_comments(v) for k, v in value.items() if k != "Comment"}
    if isinstance(value, list):
        return [_without_comments(v) for v in value]
    return value


class ExerciseCheck:
    def __init__(self, ok: bool, message: str, used: dict):
        self.ok, self.message, self.used = ok, message, used

    def __repr__(self):
        return self.message

    def _repr_html_(self):
        colour = "#1d8102" if self.ok else "#d13212"
        return f"<p style='color:{colour}'>{html.escape(self.message)}</p>"


def check_exercise(answer, solution: dict, name: str) -> ExerciseCheck:
    """Compare a learner's state with the solution; without an answer, use the solution and say so."""
    if answer is None:
        return ExerciseCheck(False, f"No answer yet for {name}: the solution was used so the notebook can go on. "
                                    "Write your own, set `my_state` to it and run the cell again.", solution)
    if _without_comments(answer) == _without_comments(solution):
        return ExerciseCheck(True, f"Correct: {name} does what the orchestrator needs.", answer)
    hints = []
    for key in sorted(set(solution) | set(answer)):
        if key == "Comment":
            continue
        if key not in answer:
            hints.append(f"it has no {key}")
        elif key not in solution:
            hints.append(f"{key} is not needed")
        elif _without_comments(answer[key]) != _without_comments(solution[key]):
            hints.append(f"look again at {key}")
    return ExerciseCheck(False, f"Not quite: {'; '.join(hints)}.", answer)
