"""Build a state machine one section per notebook cell, validated as you go.

    from workshop.teaching import StateMachineBuilder
    sm = StateMachineBuilder.from_reference(substitutions=subs)   # plan: the file's states
    sm.add_given("CheckEvent", "ModifyState")     # states given by the file, shown compactly
    editor = sm.editor("ChooseAction")            # the live editor with the exercise's starting text
    sm.exercise("ChooseAction", editor.value)     # checked by running it (workshop.teaching.exercises)
    sm.add_remaining()                            # the rest of the file ("fast-forward")
    sm.deploy(cloud, arn)                         # refused until every exercise passed

After each step the whole definition is validated with `workshop.asl.validate`
(the ValidateStateMachineDefinition API's shape). With a *plan* (the names of
the states the notebook will add), diagnostics are sorted the way a learner
needs them (`workshop.asl.diagnostics`): a `Next` to a planned state not
written yet is "still to build", a typo is an error with a did-you-mean.

A state that fails its exercise is never put in the machine: the file's
version is used instead, and the output says so. `deploy` refuses a
definition whose exercises have not all passed unless asked with
`anyway=True`.

`${Name}` placeholders (the template's DefinitionSubstitutions) are replaced
by `substitutions` before validating, drawing or deploying, exactly as SAM
does at deploy time.
"""

from __future__ import annotations

import copy
import difflib
import html
import json
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from workshop.asl.diagnostics import diagnostics_html, split_diagnostics
from workshop.asl.substitution import substitute, substitutions_from
from workshop.aws.guardrails import refused_action, refused_by_guardrails
from workshop.display.html import Bundle, no_math
from workshop.failures import WorkshopError
from workshop.teaching.exercises import STATE_EXERCISES, check_state, starting_text
from workshop.teaching.reference import ACCOUNT, DEFAULT_SUBSTITUTIONS, REFERENCE, REFERENCE_NAME, reference_definition

class StackValuesUnreadable(WorkshopError):
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


FOLD_GIVEN_AT = 6  # more given states than this at once are listed folded


class BuildStep:
    """What one step shows: the states it added (compact), the diagnostics, then the graph so far."""

    def __init__(self, names, result: dict, graph: dict, parts: dict, given: dict | None = None,
                 built: list | None = None, plan=None, note: str = "", full_picture: str = ""):
        self.names = [names] if isinstance(names, str) else list(names)
        self.name = ", ".join(self.names)
        self.result, self.graph, self.parts = result, graph, parts
        self.given = given or {}
        self.built = list(built or [])
        self.plan = list(plan or [])
        self.note = note
        self.full_picture = full_picture  # the unfolded drawing, once the machine is complete
        self.valid_text = None  # what to say instead of "No errors." (an exercise's step: its verdict speaks)

    @property
    def errors(self) -> list:
        return self.parts["errors"]

    def _given_html(self) -> str:
        rows = []
        for name, state in self.given.items():  # the markdown above says what each does; its JSON says how
            rows.append(f"<details><summary><code>{html.escape(name)}</code> · {html.escape(str(state.get('Type')))}"
                        f"</summary><pre>{html.escape(json.dumps(state, indent=2))}</pre></details>")
        if len(rows) > FOLD_GIVEN_AT:  # a fast-forward: one line to open, not a page of summaries
            return (f"<details><summary>{len(rows)} states from the file (open to see each, with its comment)"
                    f"</summary>{''.join(rows)}</details>")
        return "".join(rows)

    def _progress(self) -> str:
        if not self.plan:
            return ""
        return f"<p style='color:#545b64'>States so far: {len(self.built)} of {len(self.plan)}.</p>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = dict(self.graph)
        note = f"<p>{html.escape(self.note)}</p>" if self.note else ""
        data["text/html"] = no_math(self._given_html() + note
                                    + diagnostics_html(self.parts, subject="The state machine", valid=self.valid_text)
                                    + self._progress() + _svg_html(self.graph.get("image/svg+xml"))
                                    + self.full_picture)
        data["text/plain"] = self.__repr__()
        return data

    def __repr__(self) -> str:
        return (f"{self.name}: {len(self.errors)} error(s), {len(self.parts['still_to_build'])} still to build, "
                f"{len(self.parts['warnings'])} warning(s)")


def _svg_html(svg: str | None) -> str:
    return f"<details open><summary>The state machine so far</summary><div>{svg}</div></details>" if svg else ""


class DefinitionNotValid(WorkshopError):
    """The built definition has errors: it is not deployed."""


class DeployResult:
    """What the deploy cell did: updated the state machine, or refused and why."""

    def __init__(self, deployed: bool, message: str, description: dict | None = None):
        self.deployed, self.message, self.description = deployed, message, description or {}

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        colour = "#1d8102" if self.deployed else "#b35c00"
        return no_math("<p style='color:%s'>%s</p>" % (colour, html.escape(self.message).replace("\n", "<br>")))


class StateMachineBuilder:
    def __init__(self, start_at: str, comment: str = "", substitutions: dict | None = None, plan=None,
                 reference: dict | None = None):
        self.definition = {"StartAt": start_at, "States": {}}
        if comment:
            self.definition = {"Comment": comment, **self.definition}
        self.substitutions = dict(DEFAULT_SUBSTITUTIONS if substitutions is None else substitutions)
        # the deployed state machine's own role (from stack_substitutions): what TestState assumes
        self.role_arn = getattr(substitutions, "role_arn", None)
        self.plan = list(plan) if plan is not None else None
        self.reference = reference
        self.exercises: dict = {}  # state name -> workshop.teaching.exercises.ExerciseResult

    @classmethod
    def from_reference(cls, substitutions: dict | None = None, path: str | Path = REFERENCE) -> "StateMachineBuilder":
        """A builder whose plan is the file's states (same StartAt and Comment), to be built in any order."""
        reference = reference_definition(path)
        return cls(reference["StartAt"], reference.get("Comment", ""), substitutions,
                   plan=list(reference["States"]), reference=reference)

    def _reference(self) -> dict:
        if self.reference is None:
            self.reference = reference_definition()
        return self.reference

    def reference_state(self, name: str) -> dict:
        """A state of the reference file, by name (a copy)."""
        states = self._reference()["States"]
        if name not in states:
            from workshop.asl.validator import closest_state_name

            guess = closest_state_name(name, list(states))
            raise KeyError(f"{REFERENCE_NAME} has no state {name!r}" + (f"; did you mean {guess!r}?" if guess else ""))
        return copy.deepcopy(states[name])

    def substituted(self) -> dict:
        return substitute(self.definition, self.substitutions)

    def validate(self) -> dict:
        from workshop.asl import validate

        return validate(json.dumps(self.substituted()))

    def graph(self) -> dict:
        from workshop.asl.graph import graph_bundle

        return graph_bundle(self.substituted())

    def _step(self, names, given: dict | None = None, note: str = "") -> BuildStep:
        from workshop.asl.graph import full_picture_html

        result = self.validate()
        parts = split_diagnostics(result["diagnostics"], self.substituted(), self.plan)
        complete = not parts["still_to_build"] and not parts["errors"]
        return BuildStep(names, result, self.graph(), parts, given=given, built=list(self.definition["States"]),
                         plan=self.plan, note=note,
                         full_picture=full_picture_html(self.substituted()) if complete else "")

    def add(self, name: str, state: dict) -> BuildStep:
        """Add (or replace) a state, then validate and draw the whole definition."""
        self.definition["States"][name] = copy.deepcopy(state)
        return self._step(name)

    def add_given(self, *names: str) -> BuildStep:
        """Add states as the reference file has them, shown compactly (each one's JSON folds open)."""
        given = {name: self.reference_state(name) for name in names}
        self.definition["States"].update(copy.deepcopy(given))
        return self._step(names, given=given)

    def add_remaining(self) -> BuildStep:
        """Every state of the file not added yet ("fast-forward"), in the file's order."""
        names = [n for n in self._reference()["States"] if n not in self.definition["States"]]
        return self.add_given(*names)

    def editor(self, name: str, **kwargs):
        """The live editor, holding the exercise's starting text for state `name`."""
        from workshop.widgets.editor import asl_editor  # ipywidgets: only when an editor is asked for

        text = starting_text(name, self)
        kwargs.setdefault("rows", min(32, text.count("\n") + 2))
        return asl_editor(text, state_name=name, substitutions=self.substitutions, plan=self.plan, **kwargs)

    def exercise(self, name: str, answer):
        """Check the learner's state by running it; add it if it passes, else the file's version."""
        result = check_state(name, answer, self)
        self.exercises[name] = result
        self.definition["States"][name] = copy.deepcopy(result.used)
        result.step = self._step(name)
        if not result.ok:  # one status per cell: the verdict above it, not a green "No errors." for the file's state
            result.step.valid_text = f"The machine so far holds the file's {name} in place of yours."
        return result

    def pending_exercises(self) -> list:
        """The exercises of the plan that have not passed (not tried, or failed)."""
        names = [n for n in STATE_EXERCISES if self.plan is None or n in self.plan]
        return [n for n in names if not (n in self.exercises and self.exercises[n].ok)]

    def show(self) -> Bundle:
        return Bundle(self.graph())

    def compare(self, reference: dict | None = None) -> "Comparison":
        """The built definition against the reference file, both substituted, by what each state does: a state
        written by the learner that passed its exercise behaves as the file's (TestState said so)."""
        reference = substitute(reference or self._reference(), self.substitutions)
        checked = {name: len(result.cases) for name, result in self.exercises.items() if result.ok}
        return Comparison(self.substituted(), reference, checked, standing_in=self.pending_exercises())

    def deploy(self, cloud, state_machine_arn: str, anyway: bool = False) -> DeployResult:
        """Update the deployed state machine with the built definition.

        Refused (nothing changes) while the definition has errors, and while an
        exercise has not passed, unless `anyway` (the failed states are the
        file's versions either way: a wrong state is never deployed).
        """
        parts = split_diagnostics(self.validate()["diagnostics"], self.substituted(), self.plan)
        problems = parts["errors"] + parts["still_to_build"]
        if problems:
            raise DefinitionNotValid(
                "The definition is not complete and valid, so it was not deployed:\n"
                + "\n".join(f"  - {d['code']} at {d.get('location', '/')}: {d['message']}" for d in problems[:8])
                + "\nFix the states above (or run the cells that add them), then run this cell again.")
        pending = self.pending_exercises()
        if pending and not anyway:
            return DeployResult(False, (
                f"Not deployed: {len(pending)} exercise(s) have not passed yet ({', '.join(pending)}). The deployed "
                "state machine keeps the definition it has (the file's from 01_deploy, unless this cell deployed "
                "yours before), so the next notebooks work either way.\nFix them and run this cell again, or set "
                "deploy_anyway = True in the parameters to "
                "deploy what you built (it holds the file's version of each of those states)."))
        sfn = cloud.client("stepfunctions")
        try:
            sfn.update_state_machine(stateMachineArn=state_machine_arn, definition=json.dumps(self.substituted()))
        except ClientError as exc:
            if not refused_by_guardrails(exc):
                raise
            return DeployResult(False, (
                f"Not deployed: the account's guardrails keep {refused_action(exc, 'states:UpdateStateMachine')} "
                "for the stack's own roles, so only a stack update through the deployer role changes the "
                "orchestrator. The deployed state machine keeps the file's definition (from 01_deploy), so the "
                "next notebooks work either way; what you built is checked above."))
        description = sfn.describe_state_machine(stateMachineArn=state_machine_arn)
        note = (f" ({', '.join(pending)} from the file: deployed anyway, as asked)" if pending else "")
        return DeployResult(True, f"Updated {description['name']}{note}: the definition {self.compare().summary()}",
                            description)


class Comparison:
    """The built definition against the file's, state by state, by behaviour.

    Three kinds of state: the same as the file's; written by the learner and checked by running it (its
    exercise passed: TestState found it behaves as the file's on every input that matters); or different
    with nothing to say it behaves the same. Only the last, and anything outside the states, get a diff.
    """

    def __init__(self, built: dict, reference: dict, checked: dict | None = None, standing_in: list | None = None):
        """`standing_in`: the exercises not passed yet, whose states are the file's in place of the learner's."""
        self.built, self.reference = built, reference
        self.standing_in = list(standing_in or [])
        self.checked = dict(checked or {})  # state name -> how many inputs its exercise ran it on
        built_states, file_states = built.get("States") or {}, reference.get("States") or {}
        self.same = [n for n in file_states if built_states.get(n) == file_states[n]]
        self.yours = [n for n in file_states if n in built_states and built_states[n] != file_states[n]
                      and n in self.checked]
        self.differ = [n for n in file_states if n in built_states and built_states[n] != file_states[n]
                       and n not in self.checked]
        self.missing = [n for n in file_states if n not in built_states]
        self.extra = [n for n in built_states if n not in file_states]
        self.top = {k for k in set(built) | set(reference) if k != "States" and built.get(k) != reference.get(k)}

    @property
    def identical(self) -> bool:
        return self.built == self.reference

    @property
    def behaves_the_same(self) -> bool:
        return not (self.differ or self.missing or self.extra or self.top)

    def summary(self) -> str:
        total = len(self.reference.get("States") or {})
        if self.identical:
            return f"is the file's, state for state ({total} states)"
        parts = []
        if self.yours:
            parts.append(f"{len(self.yours)} written by you ({', '.join(self.yours)}), each checked with TestState "
                         "to behave as the file's")
        if self.same:
            parts.append(f"{len(self.same)} as in the file")
        for names, what in ((self.differ, "different from the file's, unchecked"), (self.missing, "missing"),
                            (self.extra, "not in the file")):
            if names:
                parts.append(f"{len(names)} {what} ({', '.join(names)})")
        if self.top:
            parts.append(f"the definition's {', '.join(sorted(self.top))} differ")
        verdict = "behaves as the file's" if self.behaves_the_same else "differs from the file's in behaviour"
        return f"{verdict}: " + "; ".join(parts)

    def diff(self) -> str:
        """A diff of what differs without a check that it behaves the same (the checked states left out)."""
        def shown(definition):
            states = definition.get("States") or {}
            return {**{k: v for k, v in definition.items() if k != "States"},
                    "States": {n: s for n, s in states.items() if n not in self.yours and n not in self.same}}

        a = json.dumps(shown(self.reference), indent=2, sort_keys=True).splitlines()
        b = json.dumps(shown(self.built), indent=2, sort_keys=True).splitlines()
        return "\n".join(difflib.unified_diff(a, b, "statemachine/security_orchestrator.asl.json", "built here",
                                              lineterm=""))

    def stand_ins(self) -> str:
        """What the comparison cannot credit to the learner: the file's states in place of theirs."""
        if not self.standing_in:
            return ""
        names = self.standing_in
        listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
        return (f" Not yours yet: the file's {listed} stand{'s' if len(names) == 1 else ''} in for your answer"
                f"{'s' if len(names) > 1 else ''} until {'its exercise passes' if len(names) == 1 else 'their exercises pass'}.")

    def __repr__(self) -> str:
        text = (f"Compared with statemachine/security_orchestrator.asl.json, the built definition {self.summary()}."
                f"{self.stand_ins()}")
        return text if self.behaves_the_same else text + "\n" + self.diff()

    def _repr_html_(self) -> str:
        colour = "#1d8102" if self.behaves_the_same and not self.standing_in else "#b35c00"
        head = (f"<p style='color:{colour}'>Compared with <code>statemachine/security_orchestrator.asl.json</code> "
                f"(placeholders substituted), the built definition {html.escape(self.summary())}."
                f"{html.escape(self.stand_ins())}</p>")
        if self.behaves_the_same:
            return no_math(head)
        return no_math(head + f"<p>Where it differs:</p><pre>{html.escape(self.diff())}</pre>")


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
        shown = (f"<details><summary>Its output (the data the next state gets)</summary><pre>{html.escape(str(out))}"
                 "</pre></details>") if out else ""
        return no_math(f"<p>TestState on <strong>{html.escape(self.name)}</strong>:</p><table>{table}</table>"
                       f"{shown}{note}")

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
        from workshop.failures import explain

        explained = explain(exc, cloud) if getattr(cloud, "is_local", False) else None
        if explained is not None:  # the local cloud is gone: say so, do not quietly evaluate offline
            raise explained from None
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
