"""The facilitator's board: every learner's progress events, read as where they are and who is stuck.

Events come from the kit's checkpoints (`workshop.progress`) through the
facilitator service, which adds the learner's name from their hub token and
the time it took the event. `Board.summaries(now)` answers, per learner:

* the notebook they are on (that of their latest progress event);
* each exercise: passed, failed or not tried, with the last wrong answer and
  the message it got;
* incidents fired (watched to the revert) and decided (from the panel);
* whether their local cloud is up (their server's start reports it);
* minutes since their last progress (a step done: a failed or skipped
  exercise is activity, not progress);
* stuck: no progress for `stuck_minutes`, or the same exercise failed
  `stuck_failures` times in a row (a pass resets the count); a learner whose
  local cloud is down is away, not stuck.

Nothing here does I/O except `EventLog`, which appends each event to a
JSON-lines file so that a restarted service keeps the class's progress.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# The exercises in the order the notebooks ask them (step names as the kit records them).
EXERCISES = [("02_build_state_machine", "ValidatePolicy"), ("02_build_state_machine", "ChooseAction"),
             ("02_build_state_machine", "TempRemove"), ("02_build_state_machine", "AskUser"),
             ("04_decide", "decision"), ("05_execution_history", "developer_policy")]
EXERCISE_PREFIX = "exercise:"
# Events about the learner's environment, not about what they did: they do not count as progress.
ENVIRONMENT_STEPS = {"local-cloud", "stack"}
STUCK_MINUTES = 10.0
STUCK_FAILURES = 3
FIELDS = {"notebook": 80, "step": 80, "outcome": 20, "message": 2000, "answer": 2000}


class BadEvent(ValueError):
    """An event the board refuses (the service answers 400 with this message)."""


def clean_event(body, learner: str, received: float) -> dict:
    """The event as the board keeps it: known fields only, strings cut to size, the learner and time added."""
    from workshop.progress import OUTCOMES

    if not isinstance(body, dict):
        raise BadEvent("a progress event is a JSON object: {\"notebook\", \"step\", \"outcome\", ...}")
    event = {}
    for name, limit in FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadEvent(f"{name} must be text, not {type(value).__name__}")
        event[name] = value[:limit]
    for name in ("step", "outcome"):
        if not event.get(name):
            raise BadEvent(f"a progress event needs a {name}")
    if event["outcome"] not in OUTCOMES:
        raise BadEvent(f"outcome {event['outcome']!r} is not one of {', '.join(OUTCOMES)}")
    # The learner and the time are the service's: whatever the body says about them is ignored.
    event["learner"] = learner
    event["time"] = received
    return event


@dataclass
class ExerciseState:
    notebook: str
    name: str
    outcome: str = "not-tried"
    failures_in_a_row: int = 0
    message: str = ""
    answer: str = ""
    time: float | None = None


@dataclass
class LearnerSummary:
    name: str
    notebook: str = ""
    exercises: dict = field(default_factory=dict)   # name -> ExerciseState
    incidents_fired: int = 0
    incidents_decided: int = 0
    decisions: list = field(default_factory=list)
    cloud: str = "unknown"                          # up, down, unknown
    started: float | None = None                    # when their local cloud last came up
    last_progress: float | None = None
    last_wrong: ExerciseState | None = None
    minutes_since_progress: float | None = None
    stuck: bool = False
    why_stuck: list = field(default_factory=list)

    def as_dict(self) -> dict:
        doc = {k: v for k, v in self.__dict__.items() if k not in ("exercises", "last_wrong")}
        doc["exercises"] = {name: dict(state.__dict__) for name, state in self.exercises.items()}
        doc["last_wrong"] = dict(self.last_wrong.__dict__) if self.last_wrong else None
        return doc


class Board:
    """Every learner's events, in the order the service took them."""

    def __init__(self, stuck_minutes: float = STUCK_MINUTES, stuck_failures: int = STUCK_FAILURES):
        self.stuck_minutes, self.stuck_failures = stuck_minutes, stuck_failures
        self._events: dict[str, list] = {}
        self._lock = threading.Lock()

    def add(self, event: dict) -> None:
        with self._lock:
            self._events.setdefault(event["learner"], []).append(event)

    def learners(self) -> list:
        with self._lock:
            return sorted(self._events)

    def summary(self, learner: str, now: float | None = None) -> LearnerSummary:
        now = time.time() if now is None else now
        with self._lock:
            events = list(self._events.get(learner, ()))
        found = LearnerSummary(learner, exercises={name: ExerciseState(notebook, name) for notebook, name in EXERCISES})
        for event in events:
            step, outcome = event["step"], event["outcome"]
            if step == "local-cloud":
                found.cloud = "up" if outcome == "up" else "down"
                if outcome == "up":
                    found.started = event["time"]
                continue
            if step in ENVIRONMENT_STEPS:
                continue
            found.notebook = event.get("notebook") or found.notebook
            if outcome not in ("failed", "not-tried"):  # trying again is activity; getting on is progress
                found.last_progress = event["time"]
            if step.startswith(EXERCISE_PREFIX):
                name = step[len(EXERCISE_PREFIX):]
                state = found.exercises.setdefault(name, ExerciseState(event.get("notebook", ""), name))
                if outcome == "not-tried" and state.outcome != "not-tried":
                    continue  # running the cell again without an answer does not undo an attempt
                state.outcome, state.time = outcome, event["time"]
                if outcome == "failed":
                    state.failures_in_a_row += 1
                    state.message, state.answer = event.get("message", ""), event.get("answer", "")
                    found.last_wrong = state
                elif outcome == "passed":
                    state.failures_in_a_row = 0
            elif step == "incident" and outcome == "reverted":
                found.incidents_fired += 1
            elif step == "decision" and outcome in ("allow", "deny"):
                found.incidents_decided += 1
                found.decisions.append(outcome)
        since = found.last_progress or found.started
        if since is not None:
            found.minutes_since_progress = max(0.0, (now - since) / 60)
        if found.cloud != "down":
            if found.minutes_since_progress is not None and found.minutes_since_progress >= self.stuck_minutes:
                found.why_stuck.append(f"no progress for {found.minutes_since_progress:.0f} min")
            for state in found.exercises.values():
                if state.outcome == "failed" and state.failures_in_a_row >= self.stuck_failures:
                    found.why_stuck.append(f"{state.name} failed {state.failures_in_a_row} times in a row")
        found.stuck = bool(found.why_stuck)
        return found

    def summaries(self, now: float | None = None, names=()) -> list:
        """One summary per learner with events, and per name in `names` (learners who did nothing yet)."""
        return [self.summary(name, now) for name in sorted(set(self.learners()) | set(names))]


class EventLog:
    """The board's events on disk (JSON lines, mode 0600), read back when the service starts again."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load_into(self, board: Board) -> int:
        count = 0
        try:
            with open(self.path) as handle:
                for line in handle:
                    try:
                        board.add(json.loads(line))
                        count += 1
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a crash
        except FileNotFoundError:
            pass
        return count

    def append(self, event: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(json.dumps(event) + "\n")
