"""The facilitator's board: events read as where each learner is, and who is stuck."""

import json

import pytest

from workshop.classroom.board import BadEvent, Board, EventLog, clean_event
from workshop.classroom.facilitator import board_html, learner_html

T0 = 1_000_000.0


def _add(board, learner, step, outcome, at, **extra):
    board.add(clean_event({"step": step, "outcome": outcome, **extra}, learner, T0 + at))


def test_exercises_passed_failed_and_not_tried_with_the_last_wrong_answer():
    board = Board()
    _add(board, "ana", "local-cloud", "up", 0)
    _add(board, "ana", "exercise:ValidatePolicy", "not-tried", 10, notebook="02_build_state_machine")
    _add(board, "ana", "exercise:ValidatePolicy", "failed", 20, notebook="02_build_state_machine",
         message="Not yet: 2 errors", answer='{"Type": "Task"}')
    _add(board, "ana", "exercise:ValidatePolicy", "not-tried", 25, notebook="02_build_state_machine")
    _add(board, "ana", "exercise:ChooseAction", "passed", 30, notebook="02_build_state_machine")
    found = board.summary("ana", now=T0 + 90)
    assert found.exercises["ValidatePolicy"].outcome == "failed", "a cell run again without an answer undoes nothing"
    assert found.exercises["ValidatePolicy"].message == "Not yet: 2 errors"
    assert found.last_wrong.answer == '{"Type": "Task"}'
    assert found.exercises["ChooseAction"].outcome == "passed"
    assert found.exercises["TempRemove"].outcome == "not-tried"
    assert found.notebook == "02_build_state_machine" and found.cloud == "up"
    assert found.minutes_since_progress == pytest.approx(1.0)
    assert not found.stuck


def test_stuck_after_the_same_exercise_fails_m_times_in_a_row_and_a_pass_resets_it():
    board = Board(stuck_failures=3)
    for at in (1, 2, 3):
        _add(board, "ben", "exercise:AskUser", "failed", at, message=f"try {at}")
    found = board.summary("ben", now=T0 + 4)
    assert found.stuck and found.why_stuck == ["AskUser failed 3 times in a row"]
    _add(board, "ben", "exercise:AskUser", "passed", 5)
    _add(board, "ben", "exercise:AskUser", "failed", 6)
    assert not board.summary("ben", now=T0 + 7).stuck


def test_stuck_after_n_minutes_without_progress_failures_do_not_count_and_away_is_not_stuck():
    board = Board(stuck_minutes=10)
    _add(board, "cleo", "local-cloud", "up", 0)
    _add(board, "cleo", "deploy", "deployed", 60, notebook="01_deploy")
    _add(board, "cleo", "exercise:ChooseAction", "failed", 500)
    found = board.summary("cleo", now=T0 + 60 + 11 * 60)
    assert found.stuck and found.why_stuck == ["no progress for 11 min"], "a failure is activity, not progress"
    assert found.notebook == "01_deploy"  # an event without a notebook leaves it as it was
    _add(board, "cleo", "local-cloud", "down", 700)
    assert not board.summary("cleo", now=T0 + 60 + 11 * 60).stuck, "a learner whose server stopped is away"


def test_no_event_yet_counts_from_the_local_clouds_start():
    board = Board(stuck_minutes=10)
    _add(board, "dan", "local-cloud", "up", 0)
    _add(board, "dan", "stack", "deployed", 30)
    found = board.summary("dan", now=T0 + 15 * 60)
    assert found.last_progress is None and found.stuck, "the stack deployed at start is not the learner's progress"


def test_incidents_fired_and_decided():
    board = Board()
    _add(board, "eve", "incident", "reverted", 1)
    _add(board, "eve", "incident", "failed", 2)
    _add(board, "eve", "decision", "deny", 3)
    found = board.summary("eve", now=T0 + 4)
    assert (found.incidents_fired, found.incidents_decided, found.decisions) == (1, 1, ["deny"])


@pytest.mark.parametrize("body, message", [
    ([], "a progress event is a JSON object"),
    ({"outcome": "ok"}, "needs a step"),
    ({"step": "setup"}, "needs a outcome"),
    ({"step": "setup", "outcome": "pwned"}, "is not one of"),
    ({"step": {"a": 1}, "outcome": "ok"}, "step must be text"),
])
def test_a_malformed_event_is_refused(body, message):
    with pytest.raises(BadEvent, match=message):
        clean_event(body, "ana", T0)


def test_the_learner_and_time_are_the_services_never_the_bodys():
    event = clean_event({"step": "setup", "outcome": "ok", "learner": "ben", "time": 1, "extra": "x" * 10,
                         "message": "m" * 5000}, "ana", T0)
    assert event["learner"] == "ana" and event["time"] == T0 and "extra" not in event
    assert len(event["message"]) == 2000


def test_the_event_log_brings_the_board_back(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    first = Board()
    for event in (clean_event({"step": "exercise:TempRemove", "outcome": "passed"}, "ana", T0),
                  clean_event({"step": "decision", "outcome": "allow"}, "ben", T0 + 1)):
        first.add(event)
        log.append(event)
    with open(tmp_path / "events.jsonl", "a") as handle:
        handle.write('{"cut short by a crash')
    again = Board()
    assert log.load_into(again) == 2
    assert again.summary("ana").exercises["TempRemove"].outcome == "passed"
    assert (tmp_path / "events.jsonl").stat().st_mode & 0o777 == 0o600


def test_the_page_highlights_stuck_learners_and_escapes_what_learners_wrote():
    board = Board(stuck_failures=1)
    _add(board, "ana", "exercise:ChooseAction", "failed", 1, message="<script>alert(1)</script>",
         answer="<img src=x onerror=alert(1)>")
    _add(board, "ben", "exercise:ChooseAction", "passed", 1)
    page = board_html(board.summaries(now=T0 + 2), "/services/facilitator/", {"ana": True, "ben": False})
    assert page.count("<tr class='stuck'") == 1 and "data-learner='ana'" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "class='cloud-down'>down" in page, "a learner whose server is stopped shows the local cloud down"
    detail = learner_html(board.summary("ana", now=T0 + 2), "/services/facilitator/")
    assert "<img" not in detail and "&lt;img src=x" in detail


def test_the_learners_page_shows_the_last_wrong_answer_and_each_other_exercises():
    board = Board()
    _add(board, "ben", "exercise:ChooseAction", "failed", 1, message="reads $.action", answer='{"Variable": "$.action"}')
    _add(board, "ben", "exercise:decision", "failed", 2, message="Approve put it back", answer="allow")
    page = learner_html(board.summary("ben", now=T0 + 3), "/services/facilitator/")
    assert "<pre id='answer'>allow</pre>" in page and "Last wrong answer: decision" in page
    assert "<details data-exercise='ChooseAction'>" in page and "{&quot;Variable&quot;: &quot;$.action&quot;}" in page
