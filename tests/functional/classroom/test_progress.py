"""The kit's progress events: a no-op outside a class, and events shaped for the facilitator's service."""

import pytest

from workshop import progress


def test_outside_a_hub_recording_is_a_no_op_that_says_so():
    assert progress.record("02_build_state_machine", "exercise:ChooseAction", "passed", environ={}) is False
    only_token = {"JUPYTERHUB_API_TOKEN": "t"}
    assert progress.record("00_setup_check", "setup", "ok", environ=only_token) is False
    not_http = {"JUPYTERHUB_API_TOKEN": "t", "WORKSHOP_PROGRESS_URL": "file:///etc/passwd"}
    assert not progress.enabled(not_http)


def test_an_event_names_its_notebook_from_the_kernel_and_carries_no_learner():
    environ = {"JPY_SESSION_NAME": "/home/ana/notebooks/06_going_further.ipynb"}
    event = progress.event("03_fire_bad_policy", "incident", "reverted", "ok", {"a": 1}, environ=environ, now=5.0)
    assert event == {"notebook": "06_going_further", "step": "incident", "outcome": "reverted", "time": 5.0,
                     "message": "ok", "answer": '{\n  "a": 1\n}'}
    assert progress.event("01_deploy", "deploy", "deployed", environ={})["notebook"] == "01_deploy"


def test_long_texts_are_cut_and_unknown_outcomes_refused():
    assert len(progress.event("n", "s", "failed", "x" * 10_000, environ={})["message"]) == progress.MAX_TEXT
    with pytest.raises(ValueError, match="outcome 'maybe'"):
        progress.event("n", "s", "maybe", environ={})


def test_an_unreachable_service_never_raises():
    environ = {"JUPYTERHUB_API_TOKEN": "t", "WORKSHOP_PROGRESS_URL": "http://127.0.0.1:9/services/facilitator/"}
    assert progress.record("00_setup_check", "setup", "ok", environ=environ) is False
