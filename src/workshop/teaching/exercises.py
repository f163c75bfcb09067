"""The workshop's exercises, checked by what the learner's answer does, not by its shape.

    from workshop.teaching.exercises import check_state, check_policy, check_decision, exercise_answers
    result = check_state("ChooseAction", answer, builder)    # notebook 02 (via builder.exercise)
    check_policy(my_policy, restricted)                      # notebook 05
    check_decision(panel)                                    # notebook 04
    exercise_answers("right"), exercise_answers("wrong")     # papermill parameters for CI

**States (notebook 02).** Four states of the orchestrator are the learner's:
`ValidatePolicy` (a broken copy to fix from its diagnostics), `ChooseAction`,
the Retry/Catch of `TempRemove`, and the callback fields of `AskUser`. Every
other part of them, and every case's input, comes from the reference file
(`statemachine/security_orchestrator.asl.json`), so a change there flows
through. An answer is first validated alone (`validate_state`: duplicate
keys included; a `Next` to a state the machine will have is fine, a name no
planned state has is an error with a did-you-mean). Then the learner's state
and the file's state both run with TestState, the kit's offline evaluator
(the one the local cloud serves, on either target: no IAM role, no cost),
on the inputs that matter. The input of each case is what the file's
machine hands that state, computed by running the file's states before it
from `events/create_policy.json`. What the outside world answers a task is
simulated per case (the Lambda's verdict, an error at a given retry, a human
clicking Approve, or nobody answering) and depends on the state as written:
a task without `.waitForTaskToken` gets the Lambda's own reply instead of
the human's decision, a payload without the task token gets no answer at all
(it times out, or waits for ever without a time limit). The two runs are
compared on next state, status, error, output and what the task is sent;
any answer that behaves like the file's passes (choices in another order,
minimal forms), and a wrong one is told, per input, what happened and what
should have.

**The policy (notebook 05)** is judged by ValidatePolicy's own matcher
(`workshop.iam.evaluate_policy`, the engine deployed inside the function):
it must get "alert" under the stack's restricted actions and still allow each
action the developer needs on the resource they need it for.

**The decision (notebook 04)** is read from the approval panel: the incident's
policy allows restricted actions the request never asked for, so Deny is the
answer; Approve is explained with what it put back in force.
"""

from __future__ import annotations

import copy
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from workshop import iam, progress
from workshop.asl.diagnostics import diagnostics_html, split_diagnostics
from workshop.aws.executions import parse_json
from workshop.aws.session import project_root
from workshop.display.html import TEXT_CELL, Html, no_math
from workshop.teaching.reference import REFERENCE_NAME, reference_definition

TOKEN = "exercise-task-token"  # nosec B105: the stand-in task token a .waitForTaskToken task gets offline
FIXED_TIME = "2026-01-01T00:00:00.000Z"
SAMPLE_EVENT = Path("events") / "create_policy.json"
CALLBACK = ".waitForTaskToken"

# What the Lambdas answer on the way to a state, when the cases need one (as the functions return them).
VERDICT = {
    "remedy": {"action": "remedy", "message": "The policy allows restricted actions: s3:DeleteBucket (statement 0 "
                                              "via s3:DeleteBucket on *).",
               "matches": [{"statement": 0, "action": "s3:DeleteBucket", "resource": "*"}], "notes": []},
    "alert": {"action": "alert", "message": "The policy allows none of the restricted actions.", "matches": [],
              "notes": []},
}
REVERTED = {"harmlessVersionId": "v2", "deletedVersionId": "v1", "alreadyReverted": False,
            "incidentId": "0123456789abcdef0123456789abcdef"}
LAMBDA_REPLY = {"status": "sent", "messageId": "5f7c1e2a-0000-4000-8000-000000000001"}


# --- running one state ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one state did with one input (from TestState), in words a learner reads."""

    status: str                 # SUCCEEDED, CAUGHT_ERROR, RETRIABLE, FAILED, WAITS (no limit, nobody answers)
    next: str | None = None
    output: object = None
    error: str | None = None
    cause: str | None = None
    sent: object = None         # what a task was sent (after Parameters / Arguments)
    limit: int | None = None    # a task's time limit on this input, in seconds
    note: str = ""              # what the simulated world did, when it matters

    def words(self, should: bool = False) -> str:
        """"goes to X" (what it did), or "go to X" (what it should do)."""
        def verb(does, do):
            return do if should else does

        if self.status == "WAITS":
            return verb("waits", "wait") + " for ever (it has no time limit, and nobody answers)"
        if self.status == "RETRIABLE":
            return f"{verb('retries', 'retry')} {self.error}"
        if self.status == "CAUGHT_ERROR":
            return f"{verb('catches', 'catch')} {self.error} and {verb('goes', 'go')} to {self.next}"
        if self.status == "FAILED":
            return f"{verb('fails', 'fail')} with {self.error}{_short_cause(self.cause)}"
        return f"{verb('goes', 'go')} to {self.next}" if self.next else verb("ends", "end") + " the execution"

    def same_path(self, other: "Outcome") -> bool:
        return (self.status, self.next, self.error if self.status != "SUCCEEDED" else None) == \
               (other.status, other.next, other.error if other.status != "SUCCEEDED" else None)


def _short_cause(cause: str | None) -> str:
    if not cause:
        return ""
    for cut in (" in the input '", " in the context object '"):
        cause = cause.split(cut)[0]
    if "$$.Task.Token" in cause:
        cause += ": a task token exists only in a .waitForTaskToken task"
    return f" ({cause[:200]})"


def _run(state: dict, data, mock: dict | None, retry_count: int = 0) -> dict:
    from workshop.asl.test_state import TestStateError, test_state

    request = {"definition": json.dumps(state), "input": json.dumps(data), "inspectionLevel": "DEBUG"}
    if mock is not None:
        request["mock"] = {**mock, "fieldValidationMode": "NONE"}
        if "result" in mock:
            request["mock"]["result"] = json.dumps(mock["result"])
        context = {"Execution": {"StartTime": FIXED_TIME},
                   "State": {"EnteredTime": FIXED_TIME, "RetryCount": retry_count}}
        if str(state.get("Resource", "")).endswith(CALLBACK):
            context["Task"] = {"Token": TOKEN}
        request["context"] = json.dumps(context)
        request["stateConfiguration"] = {"retrierRetryCount": retry_count}
    try:
        return test_state(request)
    except TestStateError as exc:  # TestState refused the state or the input: report it as what happened
        return {"status": "FAILED", "error": exc.code, "cause": exc.message}


def _sent(response: dict):
    data = response.get("inspectionData") or {}
    for key in ("afterArguments", "afterParameters"):
        if key in data:
            return parse_json(data[key])
    return None


def _read_path(path: str, data):
    """A reference path (`$.a.b`) read from `data`, or None."""
    if not isinstance(path, str) or not path.startswith("$"):
        return None
    node = data
    for part in [p for p in path[1:].split(".") if p]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def time_limit(state: dict, data) -> int | None:
    """The time limit Step Functions would put on this task for this input (TimeoutSeconds[Path])."""
    if isinstance(state.get("TimeoutSeconds"), int):
        return state["TimeoutSeconds"]
    value = _read_path(state.get("TimeoutSecondsPath"), data)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _outcome(response: dict, **extra) -> Outcome:
    return Outcome(status=response.get("status", "FAILED"), next=response.get("nextState"),
                   output=parse_json(response.get("output")), error=response.get("error"), cause=response.get("cause"),
                   sent=_sent(response), **extra)


@dataclass
class Case:
    """One input that matters, and what the world answers the state's task (if it has one)."""

    label: str                      # "action = 'alert'": how the learner reads this input
    input: dict
    result: object = None           # the task's answer (a Lambda's result, a human's decision)
    error: str | None = None        # ... or the error the task fails with
    retry_count: int = 0
    callback: bool = False          # the answer comes from a human, through the task token
    compare_limit: bool = False     # the task's time limit must be the file's
    accept: object = None           # (mine, file's) -> problem text or None, instead of "do as the file does"
    accepted: str = ""              # what an accepted answer did right, in words (with `accept`)
    why: str = ""                   # why the expected path (or time limit) is the right one
    why_output: str = ""            # why the expected output is the right one (said only when the output differs)

    def run(self, state: dict) -> Outcome:
        if state.get("Type") not in ("Task", "Map", "Parallel"):
            return _outcome(_run(state, self.input, None))
        limit = time_limit(state, self.input)
        resource = str(state.get("Resource", ""))
        if not self.callback:
            mock = {"errorOutput": {"error": self.error, "cause": f"{self.error} (simulated)"}} if self.error \
                else {"result": self.result}
            return _outcome(_run(state, self.input, mock, self.retry_count), limit=limit)
        # A human answers through the e-mail's links, which carry the task token.
        probe = _run(state, self.input, {"result": {}}, self.retry_count)
        if probe.get("status") == "FAILED":
            return _outcome(probe, limit=limit)
        if not resource.endswith(CALLBACK):
            reply = {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": LAMBDA_REPLY} \
                if resource.startswith("arn:aws:states:::lambda:invoke") else LAMBDA_REPLY
            note = ("it is not a .waitForTaskToken task, so it did not wait for the human: it went on with the "
                    "Lambda's own reply")
            return _outcome(_run(state, self.input, {"result": reply}), limit=limit, note=note)
        note = ""
        answer = self.result
        if TOKEN not in json.dumps(_sent(probe)):
            answer = None
            note = ("the Lambda was sent no task token, so the e-mail's links could not carry one: no decision can "
                    "reach the execution")
        if answer is None and limit is None:
            return Outcome("WAITS", sent=_sent(probe), limit=None, note=note)
        mock = {"errorOutput": {"error": "States.Timeout", "cause": f"no answer within {limit} s"}} \
            if answer is None else {"result": answer}
        return _outcome(_run(state, self.input, mock), limit=limit, note=note)


def _describe_value(value) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 90 else text[:87] + "..."


def difference(mine, theirs, where: str = "") -> str:
    """The first way `mine` differs from `theirs`, in words ("" when equal)."""
    if mine == theirs:
        return ""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        missing = [k for k in theirs if k not in mine]
        extra = [k for k in mine if k not in theirs]
        if missing:
            prefix = where + "." if where else ""
            named = ", ".join(prefix + k for k in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3
                                                                  else "")
            text = f"{named} {'is' if len(missing) == 1 else 'are'} missing"
            alike = [(m, e) for m in missing for e in extra if m.lower() == e.lower()]
            if alike:
                return f"{text}: your answer wrote {prefix}{alike[0][1]}, and keys are case-sensitive"
            if extra and len(extra) <= 3:
                return f"{text}; your answer wrote " + ", ".join(prefix + k for k in extra) + " instead"
            return text
        for key in theirs:
            if mine[key] != theirs[key]:
                return difference(mine[key], theirs[key], f"{where}.{key}" if where else key)
        if extra:
            return f"{where + '.' if where else ''}{extra[0]} is there but should not be"
    return f"{where or 'it'} is {_describe_value(mine)} where it should be {_describe_value(theirs)}"


def judge(case: Case, mine: Outcome, theirs: Outcome, states: tuple | None = None) -> str | None:
    """What went wrong with this input (None: it behaves as it should).

    `states` (the answer's state, the file's state) lets the message name the field that makes the difference.
    A case's `why` is said only where it concerns what went wrong: the path or the time limit (`why`), the
    output (`why_output`).
    """
    note = f" ({mine.note})" if mine.note else ""
    why = f" {case.why}" if case.why else ""
    mine_state, theirs_state = states or ({}, {})
    if case.accept is not None:
        problem = case.accept(mine, theirs)
        return f"With {case.label}, your state {mine.words()}{note}; {problem}.{why}" if problem else None
    if not mine.same_path(theirs):
        hint = _path_hint(mine, case.input)
        return (f"With {case.label}, your state {mine.words()}{note}; it should {theirs.words(should=True)}."
                f"{hint}{why}")
    if case.compare_limit and mine.limit != theirs.limit:
        yours = f"{mine.limit} s" if mine.limit is not None else "without a limit"
        return (f"With {case.label}, your state waits {yours}; it should wait {theirs.limit} s, the time the input "
                f"gives.{why}")
    if mine.status in ("SUCCEEDED", "CAUGHT_ERROR") and mine.output != theirs.output:
        hint = _output_hint(mine, mine_state, theirs_state)
        why_output = f" {case.why_output}" if case.why_output else ""
        return (f"With {case.label}, your state {mine.words()} as it should, but its output differs: "
                f"{difference(mine.output, theirs.output)}{note}.{hint}{why_output}")
    if theirs.sent is not None and mine.sent != theirs.sent:
        return (f"With {case.label}, your state's task is sent something else: "
                f"{difference(mine.sent, theirs.sent)}.")
    return None


_CONTEXT_ROOTS = ("Task", "Execution", "State", "StateMachine", "Map")
_INVALID_PATH = re.compile(r"Invalid path '(\$\.[^']*)'")


def _path_hint(mine: Outcome, data) -> str:
    """A path the answer wrote that reads nothing: the context object's `$$`, or where the key really is."""
    found = _INVALID_PATH.search(str(mine.cause or ""))
    if mine.status != "FAILED" or not found:
        return ""
    path = found.group(1)
    first = path[2:].split(".")[0].split("[")[0]
    if first in _CONTEXT_ROOTS:
        return (f" {path} reads the state's input; {first} belongs to the context object (facts about the "
                f"execution), which a path reads with two dollars: ${path}.")
    last = path.rsplit(".", 1)[-1]
    places = _paths_to_key(data, last)
    if places:
        return f" There is no {path} in the input; {last} is at {places[0]}."
    return ""


def _paths_to_key(data, key: str, where: str = "$") -> list:
    found = []
    if isinstance(data, dict):
        for name, value in data.items():
            here = f"{where}.{name}"
            if name == key:
                found.append(here)
            found.extend(_paths_to_key(value, key, here))
    return found[:3]


def _catcher(state: dict, error: str | None):
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict) and (error in (catcher.get("ErrorEquals") or [])
                                          or "States.ALL" in (catcher.get("ErrorEquals") or [])):
            return catcher
    return None


def _output_hint(mine: Outcome, mine_state: dict, theirs_state: dict) -> str:
    """The field of the answer that makes its output differ: a Catch's or the state's ResultPath, OutputPath..."""
    if mine.status == "CAUGHT_ERROR":
        ours, files = _catcher(mine_state, mine.error), _catcher(theirs_state, mine.error)
        if ours is None or files is None:
            return ""
        wanted = files.get("ResultPath", "$")
        if "ResultPath" not in ours and wanted != "$":
            return (f" Your Catch of {mine.error} has no ResultPath, so the error replaces the whole data; give it "
                    f"\"ResultPath\": \"{wanted}\" to add the error beside the data.")
        if ours.get("ResultPath", "$") != wanted:
            return f" Your Catch of {mine.error} has ResultPath {ours.get('ResultPath', '$')!r}; it should be {wanted!r}."
        return ""
    for field, meaning in (("ResultPath", "where the result goes"), ("ResultSelector", "what is kept of the result"),
                           ("OutputPath", "what is passed on"), ("InputPath", "what the task reads")):
        if mine_state.get(field) == theirs_state.get(field):
            continue
        yours, wanted = mine_state.get(field), theirs_state.get(field)
        if field == "ResultPath" and yours in (None, "$") and wanted not in (None, "$"):
            said = "Your ResultPath is $" if yours else "Your state has no ResultPath (the default is $)"
            return f" {said}: the result replaces the whole data. \"ResultPath\": \"{wanted}\" adds it beside it."
        if isinstance(yours, str) and isinstance(wanted, str) and yours.lower() == wanted.lower():
            return f" Your {field} {yours!r} should be {wanted!r}: letter case matters."
        return f" Your {field} ({meaning}) is {json.dumps(yours)}; it should be {json.dumps(wanted)}."
    return ""


# --- the state exercises -------------------------------------------------------------------------------


def _machine(builder) -> dict:
    from workshop.asl.substitution import substitute

    return substitute(builder._reference(), builder.substitutions)


def data_before(builder, target: str, results: dict | None = None) -> dict:
    """The data the file's machine hands `target`, from the sample CloudTrail event.

    The file's states before `target` run with TestState; their tasks answer
    `results[name]` (VERDICT["remedy"], REVERTED, ... by default).
    """
    machine = _machine(builder)
    answers = {"ValidatePolicy": VERDICT["remedy"], "TempRemove": REVERTED, **(results or {})}
    data = json.loads((project_root() / SAMPLE_EVENT).read_text())
    name = machine["StartAt"]
    for _ in range(len(machine["States"]) + 1):
        if name == target:
            return data
        state = machine["States"][name]
        mock = {"result": answers.get(name, {})} if state.get("Type") in ("Task", "Map", "Parallel") else None
        response = _run(state, data, mock)
        if response.get("status") != "SUCCEEDED" or not response.get("nextState"):
            raise RuntimeError(f"The file's {name} did not lead on towards {target} from {SAMPLE_EVENT} "
                               f"({response.get('status')}: {response.get('error') or response.get('cause')}).")
        data, name = parse_json(response["output"]), response["nextState"]
    raise RuntimeError(f"{target} is not on the path the file's machine takes from {SAMPLE_EVENT}.")


def _with(data: dict, path: str, value) -> dict:
    data = copy.deepcopy(data)
    node, parts = data, [p for p in path.lstrip("$").split(".") if p]
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return data


def _without(data: dict, path: str) -> dict:
    data = copy.deepcopy(data)
    node, parts = data, [p for p in path.lstrip("$").split(".") if p]
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(parts[-1], None)
    return data


def _not_notify_only(mine: Outcome, theirs: Outcome):
    if mine.status == "SUCCEEDED" and mine.next == "AllowWithNotification":
        return "without a verdict it must never take the notify-only path (fail closed: revert when unsure)"
    return None


def _choose_action_cases(builder) -> list:
    base = data_before(builder, "ChooseAction", {"ValidatePolicy": VERDICT["remedy"]})
    alert = data_before(builder, "ChooseAction", {"ValidatePolicy": VERDICT["alert"]})
    verdict_path = next((c.get("Variable") for c in builder.reference_state("ChooseAction").get("Choices", [])
                         if c.get("StringEquals") == "remedy"), "$.taskresult.action")
    return [
        Case("action = 'remedy'", base),
        Case("action = 'alert'", alert, why="A policy that allows no restricted action is only reported."),
        Case("action = 'review' (a verdict it does not know)", _with(base, verdict_path, "review"),
             why="Fail closed: anything but a clear 'alert' is reverted."),
        Case("no action at all in the verdict", _without(base, verdict_path), accept=_not_notify_only,
             accepted="fine: it does not take the notify-only path"),
    ]


def _validate_policy_cases(builder) -> list:
    data = data_before(builder, "ValidatePolicy")
    return [
        Case("the Lambda's verdict 'remedy'", data, result=VERDICT["remedy"],
             why_output="The next states still need the policy: the verdict is added beside it (ResultPath)."),
        Case("the Lambda's verdict 'alert'", data, result=VERDICT["alert"]),
        Case("a policy that is not valid JSON (InvalidPolicyDocument)", data, error="InvalidPolicyDocument",
             why="A policy that cannot be read is reverted: fail closed."),
        Case("IAM busy on the first try (TransientError)", data, error="TransientError",
             why="A transient error is worth another try."),
        Case("an error nobody expected (States.TaskFailed)", data, error="States.TaskFailed",
             why="Fail closed: whatever goes wrong, the policy is reverted."),
    ]


def _temp_remove_cases(builder) -> list:
    data = data_before(builder, "TempRemove")
    return [
        Case("a revert that works", data, result=REVERTED),
        Case("IAM busy on the first try (TransientError)", data, error="TransientError",
             why="IAM throttles bursts: a transient error is retried."),
        Case("Lambda throttled on the first try (Lambda.TooManyRequestsException)", data,
             error="Lambda.TooManyRequestsException", why="Lambda's own transient errors are retried too."),
        Case("IAM still busy after 10 attempts (TransientError)", data, error="TransientError", retry_count=10,
             why="Retries end: then Catch tells the admin (NotifyFailure).",
             why_output="NotifyFailure tells the admin which policy failed and why: it needs the data and the error."),
        Case("a policy deleted meanwhile (NoSuchEntity) on the first try", data, error="NoSuchEntity",
             why="Not transient: retrying only delays the admin's alert."),
    ]


def _ask_user_cases(builder) -> list:
    data = data_before(builder, "AskUser")
    path = builder.reference_state("AskUser").get("TimeoutSecondsPath", "$.approvalTimeoutSeconds")
    quick = _with(data, path, 60)
    return [
        Case("Approve clicked (the page sends {\"action\": \"allow\"})", data, result={"action": "allow"},
             callback=True),
        Case("Deny clicked (the page sends {\"action\": \"delete\"})", data, result={"action": "delete"},
             callback=True),
        Case(f"nobody answering, and {path.lstrip('$.')} = 60 in the input", quick, result=None, callback=True,
             compare_limit=True, why="The wait is bounded by the stack's ApprovalTimeoutSeconds, which the input "
                                     "carries (TimeoutSecondsPath)."),
    ]


def _strip_callback(state: dict) -> dict:
    state = copy.deepcopy(state)
    state["Resource"] = str(state.get("Resource", "")).removesuffix(CALLBACK)
    state.pop("TimeoutSecondsPath", None)
    payload = (state.get("Parameters") or {}).get("Payload")
    if isinstance(payload, dict):
        for key in [k for k, v in payload.items() if v == "$$.Task.Token"]:
            del payload[key]
    return state


def _without_token(state: dict) -> dict:
    state = copy.deepcopy(state)
    payload = (state.get("Parameters") or {}).get("Payload")
    for key in [k for k, v in payload.items() if v == "$$.Task.Token"]:
        del payload[key]
    return state


def _broken_validate_policy(state: dict) -> dict:
    """The file's ValidatePolicy with three real mistakes, for the learner to fix from the diagnostics."""
    state = copy.deepcopy(state)
    state["ResultPath"] = str(state.get("ResultPath", "$.taskresult")).removeprefix("$.")
    following = str(state.get("Next", ""))
    state["Next"] = following[:-2] + following[-1] + following[-2] if len(following) > 2 else following + "s"  # a typo
    for retrier in state.get("Retry") or []:
        retrier["BackoffRate"] = 0.5
        break
    return state


def _retry_everything(state: dict) -> dict:
    """Two mistakes learners make together: every error retried, and a Catch that forgets its ResultPath."""
    state = copy.deepcopy(state)
    for retrier in state.get("Retry") or []:
        retrier["ErrorEquals"] = ["States.ALL"]
    for catcher in state.get("Catch") or []:
        catcher.pop("ResultPath", None)
    return state


def _reads_action_at_the_top(state: dict) -> dict:
    return json.loads(json.dumps(state).replace('"$.taskresult.action"', '"$.action"'))


def _replaces_everything(state: dict) -> dict:
    state = copy.deepcopy(state)
    state["ResultPath"] = "$"
    return state


@dataclass
class StateExercise:
    name: str
    task: str                       # what to do, in one sentence (shown with the result)
    cases: object                   # builder -> [Case]
    starter: object                 # the file's state -> what the editor starts with
    wrong: object                   # the file's state -> a typical wrong answer (CI runs it)


STATE_EXERCISES = {
    "ValidatePolicy": StateExercise(
        "ValidatePolicy", "fix the broken ValidatePolicy from its diagnostics",
        _validate_policy_cases, _broken_validate_policy, _replaces_everything),
    "ChooseAction": StateExercise(
        "ChooseAction", "write the Choice that picks the path from ValidatePolicy's verdict",
        _choose_action_cases, lambda state: {"Type": "Choice", "Choices": [], "Default": "TempRemove"},
        _reads_action_at_the_top),
    "TempRemove": StateExercise(
        "TempRemove", "add Retry (transient errors) and Catch (everything else, to NotifyFailure) to TempRemove",
        _temp_remove_cases, lambda state: {k: v for k, v in state.items() if k not in ("Retry", "Catch")},
        _retry_everything),
    "AskUser": StateExercise(
        "AskUser", "make AskUser wait for the human: .waitForTaskToken, the task token in the payload, "
                   "the time limit from the input",
        _ask_user_cases, _strip_callback, _without_token),
}


def starting_text(name: str, builder) -> str:
    """The text the exercise's editor starts with."""
    return json.dumps(STATE_EXERCISES[name].starter(builder.reference_state(name)), indent=2)


def exercise_answers(kind: str = "right", reference: dict | None = None) -> dict:
    """Papermill parameters (`answers`) with a right or a typical wrong answer for every exercise."""
    if kind not in ("right", "wrong"):
        raise ValueError(f"kind must be 'right' or 'wrong', not {kind!r}")
    states = (reference or reference_definition())["States"]
    answers = {}
    for name, exercise in STATE_EXERCISES.items():
        answers[name] = copy.deepcopy(states[name]) if kind == "right" else exercise.wrong(states[name])
    answers["developer_policy"] = copy.deepcopy(DEVELOPER_POLICY if kind == "right" else NEAR_ADMIN_POLICY)
    return answers


@dataclass
class CaseResult:
    case: Case
    mine: Outcome
    theirs: Outcome
    problem: str | None

    @property
    def row_text(self) -> str:
        """What this input's row says: the problem without the input's label, which the row shows beside it."""
        if not self.problem:
            return _as_expected(self)
        text = self.problem.removeprefix(f"With {self.case.label}, ")
        return text[:1].upper() + text[1:]


@dataclass
class ExerciseResult:
    """A checked exercise: passed or not, why, and which state the machine uses."""

    name: str
    ok: bool
    attempted: bool
    message: str
    used: dict
    reference: dict
    answer: object = None
    errors: list = field(default_factory=list)   # validation diagnostics of the answer
    cases: list = field(default_factory=list)    # CaseResult per input
    step: object = None                          # the builder's view after the state was added

    @property
    def problems(self) -> list:
        return [c.problem for c in self.cases if c.problem]

    def __repr__(self) -> str:
        lines = [self.message, *[f"  - {p}" for p in self.problems[:3]]]
        if self.errors:
            lines += [f"  - {d['code']} at {d.get('location') or '/'}: {d['message']}" for d in self.errors]
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None):
        colour = "#1d8102" if self.ok else ("#545b64" if not self.attempted else "#d13212")
        mark = "✓" if self.ok else ("…" if not self.attempted else "✗")
        parts = [f"<h4 style='color:{colour}'>{mark} Exercise {html.escape(self.name)}</h4>",
                 f"<p style='color:{colour}'><strong>{html.escape(self.message)}</strong></p>"]
        if self.errors:
            parts.append(diagnostics_html({"errors": self.errors, "still_to_build": [], "warnings": []}))
        if self.cases:
            left = TEXT_CELL
            rows = "".join(
                f"<tr><td {left}>{'✓' if not c.problem else '✗'}</td><td {left}>{html.escape(c.case.label)}</td>"
                f"<td {left}>{html.escape(c.row_text)}</td></tr>" for c in self.cases)
            parts.append(f"<p>Checked by running your state with TestState on:</p>"
                         f"<table><tbody>{rows}</tbody></table>")
        parts.append(f"<details><summary>Show the solution (the file's {html.escape(self.name)})</summary>"
                     f"<pre>{html.escape(json.dumps(self.reference, indent=2))}</pre></details>")
        data = {"text/plain": repr(self), "text/html": no_math("".join(parts))}
        if self.step is not None:
            step = self.step._repr_mimebundle_()
            data["text/html"] += step["text/html"]
            for mime in ("image/svg+xml", "text/vnd.mermaid"):
                if mime in step:
                    data[mime] = step[mime]
        return data


def _as_expected(result: "CaseResult") -> str:
    text = result.mine.words()
    return f"{text}: {result.case.accepted}" if result.case.accepted else text


def _parse_answer(answer):
    """(state dict or None, text or None, error message or None)."""
    from workshop.asl.source import JsonTextError, load_json

    if isinstance(answer, dict):
        return answer, json.dumps(answer), None
    if isinstance(answer, str):
        try:
            doc, _ = load_json(answer)
        except JsonTextError as exc:
            where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
            return None, answer, f"Your answer is not valid JSON{where}: {exc}."
        if not isinstance(doc, dict):
            return None, answer, "Your answer must be one state: a JSON object with \"Type\"."
        return doc, answer, None
    return None, None, f"Your answer must be a state (a dict, or its JSON text), not {type(answer).__name__}."


def _told(result, notebook: str, exercise: str, attempted: bool, answer=None):
    """The verdict, also told to the class's facilitator view (a no-op outside a class)."""
    outcome = "passed" if result.ok else ("failed" if attempted else "not-tried")
    problems = [] if result.ok else list(getattr(result, "problems", None) or [])
    message = " ".join([result.message, *problems[:1]])  # the facilitator sees what went wrong, not only that
    progress.record(notebook, f"exercise:{exercise}", outcome, message, answer if attempted else None)
    return result


def check_state(name: str, answer, builder) -> ExerciseResult:
    """Check the learner's `answer` for state `name`: validate it alone, then run it against the file's."""
    result = _check_state(name, answer, builder)
    return _told(result, "02_build_state_machine", name, result.attempted, answer)


def _check_state(name: str, answer, builder) -> ExerciseResult:
    from workshop.asl.substitution import substitute, substitute_text
    from workshop.asl.validator import validate_state

    exercise = STATE_EXERCISES[name]
    reference = builder.reference_state(name)
    starter = exercise.starter(reference)
    keep = f"The machine keeps the file's {name} ({REFERENCE_NAME}) until yours passes."
    if answer is None or _same_json(answer, starter):
        return ExerciseResult(name, False, False, f"No answer yet: {exercise.task}, in the editor above, then run "
                                                  f"this cell again. {keep}", reference, reference)
    doc, text, problem = _parse_answer(answer)
    if problem:
        return ExerciseResult(name, False, True, f"{problem} {keep}", reference, reference, answer)
    result = validate_state(substitute_text(text, builder.substitutions), name)
    machine = {"StartAt": name, "States": {name: substitute(doc, builder.substitutions)}}
    parts = split_diagnostics(result["diagnostics"], machine, builder.plan, single_state=name)
    errors = [{**d, "location": d.get("location", "/").replace(f"/States/{name}", "", 1) or "/"}
              for d in parts["errors"]]
    if errors:
        return ExerciseResult(name, False, True, f"Your {name} has {len(errors)} error(s) to fix first. {keep}",
                              reference, reference, answer, errors=errors)
    mine_state = substitute(doc, builder.substitutions)
    theirs_state = substitute(reference, builder.substitutions)
    results = []
    for case in exercise.cases(builder):
        mine, theirs = case.run(mine_state), case.run(theirs_state)
        results.append(CaseResult(case, mine, theirs, judge(case, mine, theirs, (mine_state, theirs_state))))
    failed = [r for r in results if r.problem]
    if failed:
        message = (f"Not yet: your {name} went wrong on {len(failed)} of {len(results)} inputs (✗ below). "
                   f"The machine keeps the file's {name} until yours passes.")
        return ExerciseResult(name, False, True, message, reference, reference, answer, cases=results)
    return ExerciseResult(name, True, True, f"Correct: your {name} behaves as it should on all {len(results)} "
                                            "inputs; it is now in the machine.", doc, reference, answer,
                          cases=results)


def _same_json(answer, value) -> bool:
    try:
        parsed = json.loads(answer) if isinstance(answer, str) else answer
    except ValueError:
        return False
    return parsed == value


# --- the policy (notebook 05) -----------------------------------------------------------------------

BUCKET = "arn:aws:s3:::example-reports"
# (action, a request the developer makes, the resource as the exercise names it)
NEEDS = [("s3:GetObject", f"{BUCKET}/2026/q4.csv", f"{BUCKET}/*"),
         ("s3:PutObject", f"{BUCKET}/2026/q4.csv", f"{BUCKET}/*"),
         ("s3:ListBucket", BUCKET, BUCKET)]
DEVELOPER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "ReadAndWriteReports", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": f"{BUCKET}/*"},
        {"Sid": "ListReports", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET},
    ],
}
STARTER_POLICY = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{BUCKET}/*"}]}
TOO_BROAD_POLICY = {"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": [BUCKET, f"{BUCKET}/*"]}]}
# What a learner who reads "no restricted action" literally writes: ValidatePolicy alerts, least privilege it is not.
# The template's RestrictedActions default (a test holds the two equal).
DEFAULT_RESTRICTED = "s3:DeleteBucket,s3:DeleteObject,s3:DeleteObjectVersion,s3:PutLifecycleConfiguration,s3:PutBucketPolicy"
NEAR_ADMIN_POLICY = {"Version": "2012-10-17",
                     "Statement": [{"Sid": "Everything", "Effect": "Allow",
                                    "NotAction": DEFAULT_RESTRICTED.split(","), "Resource": "*"}]}


def restricted_actions(cloud=None, stack_name: str | None = None) -> str:
    """The restricted actions in force: the deployed stack's RestrictedActions (what ValidatePolicy is
    given), else the template's default (what a deploy gives)."""
    if cloud is not None and stack_name:
        from workshop.aws.deploy import deployed_parameter

        return deployed_parameter(cloud, stack_name, "RestrictedActions") or DEFAULT_RESTRICTED
    return DEFAULT_RESTRICTED


@dataclass
class PolicyCheck:
    ok: bool
    message: str
    used: dict
    answer: object = None
    verdict: dict | None = None

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        colour = "#1d8102" if self.ok else "#d13212"
        solution = html.escape(json.dumps(DEVELOPER_POLICY, indent=2))
        return no_math(f"<h4 style='color:{colour}'>{'✓' if self.ok else '✗'} Exercise: the developer's policy</h4>"
                f"<p style='color:{colour}'>{html.escape(self.message)}</p>"
                f"<details><summary>Show a solution</summary><pre>{solution}</pre></details>")


def check_policy(answer, restricted: str = DEFAULT_RESTRICTED) -> PolicyCheck:
    """Is `answer` least privilege for the developer: ValidatePolicy says "alert", it grants what the
    developer needs, and nothing else (no other action, no other resource)?"""
    return _told(_check_policy(answer, restricted), "05_execution_history", "developer_policy", True, answer)


def _check_policy(answer, restricted: str = DEFAULT_RESTRICTED) -> PolicyCheck:
    fallback = json.loads((project_root() / "policies" / "goodpolicy.json").read_text())
    instead = " The next cell fires policies/goodpolicy.json instead of yours."
    listed = [a.strip() for a in restricted.split(",") if a.strip()]
    text = json.dumps(answer) if isinstance(answer, dict) else answer
    try:
        verdict = iam.evaluate_policy(text, listed)
        iam.parse_statements(iam.parse_policy_document(text))  # what IAM would refuse, refused here first
    except iam.InvalidPolicyDocument as exc:
        return PolicyCheck(False, f"IAM would refuse this document: {exc}{instead}", fallback, answer)
    if verdict["action"] != "alert":
        return PolicyCheck(False, f"ValidatePolicy says {verdict['action']}: {verdict['message']} It would be reverted "
                                  f"at once. Name the actions the developer needs instead.{instead}",
                           fallback, answer, verdict)
    missing = [f"{action} on {shown}" for action, example, shown in NEEDS
               if not _grants(iam, text, action, example)]
    if missing:
        return PolicyCheck(False, f"ValidatePolicy says alert, but the developer also needs {', '.join(missing)}."
                                  f"{instead}", fallback, answer, verdict)
    excess = beyond_the_need(text)
    if excess:
        return PolicyCheck(False, "ValidatePolicy says alert, and the developer gets what they need, but not only "
                                  f"that: {'; '.join(excess)}. Least privilege: grant s3:GetObject and s3:PutObject "
                                  f"on {BUCKET}/*, s3:ListBucket on {BUCKET}, nothing else.{instead}",
                           fallback, answer, verdict)
    document = answer if isinstance(answer, dict) else json.loads(answer)
    return PolicyCheck(True, "Correct: ValidatePolicy says alert (no restricted action), and the developer can read, "
                             "upload and list the reports, and nothing more. The next cell fires your policy.",
                       document, answer, verdict)


# Actions asked about first, so that what a statement grants too much is named by a telling example; "*" finds
# anything else. Each is asked of the same engine ValidatePolicy uses.
_PROBES = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "iam:CreateUser", "ec2:RunInstances", "s3:*", "*"]


def beyond_the_need(document) -> list:
    """What `document` grants beyond the developer's need, one line per statement that grants it.

    The need is taken away with explicit Denies (the three actions, each on the resource the exercise names)
    and whatever the document still allows is judged by ValidatePolicy's engine: an action or a resource
    outside the need is found wherever the engine finds a restricted one.
    """
    policy = iam.parse_policy_document(document)
    statements = policy.get("Statement")
    statements = [statements] if isinstance(statements, dict) else list(statements or [])
    needs = {}
    for action, _, resource in NEEDS:
        needs.setdefault(resource, []).append(action)
    masked = {**policy, "Statement": statements + [{"Effect": "Deny", "Action": actions, "Resource": resource}
                                                   for resource, actions in needs.items()]}
    parsed = iam.parse_statements(masked)
    needed = {action.lower() for action, _, _ in NEEDS}
    found: dict = {}
    for match in iam.evaluate_policy(json.dumps(masked), _PROBES)["matches"]:
        if match["statement"] >= len(statements):
            continue
        what = found.setdefault(match["statement"], {"actions": [], "elsewhere": [], "via": match["grantedBy"]})
        kind = "elsewhere" if match["example"].lower() in needed else "actions"
        if match["example"] not in what[kind]:
            what[kind].append(match["example"])
    lines = []
    for index, what in sorted(found.items()):
        statement = parsed[index]
        name = f"statement {index}" + (f" (Sid {statement.sid})" if statement.sid else "")
        parts = []
        if what["actions"]:
            wildcard = statement.actions is None or any(c in what["via"] for c in "*?")
            more = " and more" if len(what["actions"]) > 2 or wildcard else ""
            if statement.actions is None:
                via = " (its NotAction allows every action but " + ", ".join(statement.not_actions) + ")"
            else:
                via = f" (through {what['via']})" if wildcard else ""
            parts.append(f"{', '.join(what['actions'][:2])}{more}{via}")
        if what["elsewhere"]:
            resources = (", ".join(statement.resources) if statement.resources is not None
                         else "every resource but " + ", ".join(statement.not_resources))
            parts.append(f"{', '.join(what['elsewhere'])} beyond the reports bucket (its Resource: {resources})")
        lines.append(f"{name} also grants " + "; and ".join(parts))
    return lines


DEVELOPER_ARN = "arn:aws:iam::123456789012:user/developer"


def _grants(app, document, action: str, arn: str) -> bool:
    """Is the developer's request for `action` on `arn` allowed with this policy alone (the engine's decision)?"""
    developer = app.Principal(DEVELOPER_ARN, "user", "123456789012")
    context = app.Context({"aws:username": "developer", "aws:PrincipalArn": DEVELOPER_ARN,
                           "aws:PrincipalAccount": "123456789012", "aws:SecureTransport": True,
                           "aws:RequestedRegion": "us-east-1"})
    policies = app.Policies(identity=(app.compile_policy(document),))
    return app.evaluate_request(developer, app.Request(action, arn, context), policies).allowed


# --- the decision (notebook 04) ------------------------------------------------------------------------


@dataclass
class DecisionCheck:
    ok: bool
    decided: bool
    message: str

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        colour = "#1d8102" if self.ok else ("#545b64" if not self.decided else "#d13212")
        return no_math(f"<h4 style='color:{colour}'>{'✓' if self.ok else ('…' if not self.decided else '✗')} Exercise: "
                f"your decision</h4><p style='color:{colour}'>{html.escape(self.message)}</p>"
                "<details><summary>Show the answer</summary><p>Deny. The request was to read files; the policy "
                "also allows restricted actions on every resource. Denying keeps the harmless version, and the "
                "developer gets a policy that grants only what they need (notebook 05).</p></details>")


def check_decision(panel) -> DecisionCheck:
    """The learner's Approve/Deny in the panel, judged: the incident's policy allows far more than reading."""
    result = _check_decision(panel)
    decisions = [r.decision for r in panel.results.values() if r.ok]
    return _told(result, "04_decide", "decision", result.decided, decisions[0] if decisions else None)


def _check_decision(panel) -> DecisionCheck:
    decided = [(a.incident, panel.results[a.incident.execution_arn]) for a in panel.pending
               if a.incident.execution_arn in panel.results and panel.results[a.incident.execution_arn].ok]
    if not decided:
        return DecisionCheck(False, False, "No decision yet: click Approve or Deny in the panel above, then run this "
                                           "cell again.")
    incident, result = decided[0]
    actions = ", ".join(str(a) for a in incident.matched_actions()) or "actions IAM could not even read"
    if result.decision == "deny":
        return DecisionCheck(True, True, f"Right: Deny. {incident.name} allows {actions}, far beyond reading "
                                         "files; it stays reverted to the harmless version.")
    return DecisionCheck(False, True, (
        f"Approve put {incident.name} back in force as written: anyone it is attached to may now use "
        f"{actions}. The request was to read files, so Deny was the answer. (No harm done here: the policy is "
        "attached to no one. Run 03 and this notebook again to decide once more.)"))


# --- other restricted actions (notebook 06) ---------------------------------------------------------


def verdict_table(policies: dict, settings: list):
    """ValidatePolicy's verdict on each policy (name -> document) under each RestrictedActions setting.

    The deployed function's own code decides, here in the kernel: what a redeploy with that setting
    would do, without redeploying.
    """
    head = "".join(f"<th {TEXT_CELL}><code>{html.escape(s)}</code></th>" for s in settings)
    rows, plain = [], []
    for name, document in policies.items():
        cells = []
        for setting in settings:
            verdict = iam.evaluate_policy(json.dumps(document), [a.strip() for a in setting.split(",") if a.strip()])
            actions = sorted({m["example"] for m in verdict["matches"]})
            shown = ", ".join(actions[:3]) + (f" and {len(actions) - 3} more" if len(actions) > 3 else "")
            text = verdict["action"] + (f": {shown}" if actions else "")
            colour = "#d13212" if verdict["action"] == "remedy" else "#1d8102"
            cells.append(f"<td style='color:{colour};text-align:left;vertical-align:top'>{html.escape(text)}</td>")
            plain.append(f"{name} under {setting}: {text}")
        rows.append(f"<tr><td {TEXT_CELL}>{html.escape(name)}</td>{''.join(cells)}</tr>")
    return Html(f"<table><thead><tr><th {TEXT_CELL}>policy</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
                plain="\n".join(plain))
