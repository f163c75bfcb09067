"""Step Functions task tokens: each answered once, as AWS documents (`sfn-task-token-answered-once`).

A mend of moto's engine, registered in seams.py (group "stepfunctions");
the issue text is in docs/upstream.md.
"""

from __future__ import annotations

import threading

TASK_CLOSED = "Task Timed Out: 'Provided task does not exist anymore'"  # what AWS answers
_answers = threading.Lock()


def _endpoint_for(backend, task_token):
    """The callback endpoint of `task_token` in any execution (running or over), else None."""
    for execution in backend._get_executions():
        try:
            endpoint = execution.exec_worker.env.callback_pool_manager.get(task_token)
        except AttributeError:  # an execution whose worker has no environment yet
            continue
        if endpoint is not None:
            return endpoint
    return None


def _task_closed():
    from moto.stepfunctions.parser.api import TaskTimedOut

    return TaskTimedOut(TASK_CLOSED, "TaskTimedOut", 400)


def install_task_token_errors() -> None:
    """A token whose task is over, answered or timed out, is refused with TaskTimedOut, as AWS documents.

    AWS: TaskTimedOut "The task token has either expired or the task
    associated with the token has already been closed". moto accepted a second
    SendTaskSuccess sent before the engine had moved on (the first answer's
    output was then replaced by the second's), and, once the execution had
    ended, said InvalidToken (it looks tokens up in RUNNING executions only).
    The check and the answer happen under one lock, so of two answers sent at
    once exactly one is taken.
    Patch points: `StepFunctionsParserBackend.send_task_success` / `send_task_failure` /
    `send_task_heartbeat`.
    """
    from moto.stepfunctions.parser.api import InvalidToken
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend as cls

    for name in ("send_task_success", "send_task_failure", "send_task_heartbeat"):
        original = getattr(cls, name)
        if getattr(original, "_localcloud", False):
            continue

        def wrapper(self, task_token, *args, __original=original, **kwargs):
            with _answers:
                endpoint = _endpoint_for(self, task_token)
                if endpoint is not None and (endpoint.get_outcome() is not None or endpoint.consumer_error is not None):
                    raise _task_closed()
                try:
                    return __original(self, task_token, *args, **kwargs)
                except InvalidToken:
                    if endpoint is not None:  # issued, and its execution is over
                        raise _task_closed() from None
                    raise

        wrapper._localcloud = True
        setattr(cls, name, wrapper)


def early_answer_seam():
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint

    return CallbackEndpoint, "setup_heartbeat_endpoint"


def install_early_answers() -> None:
    """An answer that arrives before the task waits for it is not lost (`sfn-task-token-early-answer`).

    A task with HeartbeatSeconds sets up its heartbeat watch only after it has
    recorded TaskSubmitted (for an activity: after the worker took it), and then
    waits for a heartbeat or an answer to wake it. An answer sent before that
    (a function that calls SendTaskSuccess while its own Invoke is still being
    answered) had found no watch to wake: the token was spent and the task
    waited for a heartbeat that never came. The watch now starts awake when the
    answer is already there. Patch point: `CallbackEndpoint.setup_heartbeat_endpoint`.
    """
    cls, name = early_answer_seam()
    original = cls.__dict__[name]
    if getattr(original, "_localcloud", False):
        return

    def setup_heartbeat_endpoint(self, heartbeat_seconds):
        endpoint = original(self, heartbeat_seconds)
        if self.get_outcome() is not None:  # answered already: wake the first wait at once
            endpoint.notify()
        return endpoint

    setup_heartbeat_endpoint._localcloud = True
    setattr(cls, name, setup_heartbeat_endpoint)
