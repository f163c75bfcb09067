"""A learner's progress, told to the class's facilitator view (a no-op outside a class).

In a class (`make class`, JupyterHub) the kit's own checkpoints report what a
learner did, so the facilitator sees who is where and who is stuck without
looking over shoulders: the exercise checks, the deploy, the watch of an
incident and the approval panel call `record(...)`. Each event is one small
JSON document (notebook, step, outcome, message, answer, time) posted to the
facilitator service with the learner's own hub token (`JUPYTERHUB_API_TOKEN`,
which JupyterHub gives the learner's server and its kernels); the service
takes the learner's name from that token, never from the event.

Outside a hub (`make lab`, Binder, papermill in CI) there is no token or no
service address (`WORKSHOP_PROGRESS_URL`, set by the class's spawner) and
`record` returns False at once. A service that does not answer never breaks or
slows a learner's cell for long: one short try, and the event is dropped.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request

URL_VARIABLE = "WORKSHOP_PROGRESS_URL"
TOKEN_VARIABLE = "JUPYTERHUB_API_TOKEN"  # nosec B105: the name of a variable, not its value
# JupyterLab names the notebook a kernel was started for; papermill runs name it themselves.
NOTEBOOK_VARIABLE = "JPY_SESSION_NAME"
OUTCOMES = ("passed", "failed", "not-tried", "ok", "deployed", "reverted", "allow", "deny", "up", "down")
MAX_TEXT = 2000  # a message or an answer longer than this is cut: the view shows the start
TIMEOUT = 2.0

log = logging.getLogger("workshop.progress")


def enabled(environ=None) -> bool:
    """In a class: a service address (http) and the learner's hub token are both in the environment."""
    environ = os.environ if environ is None else environ
    url = environ.get(URL_VARIABLE) or ""
    return url.startswith(("http://", "https://")) and bool(environ.get(TOKEN_VARIABLE))


def notebook_name(default: str, environ=None) -> str:
    """The notebook the kernel runs ("02_build_state_machine"), else the step's usual notebook."""
    environ = os.environ if environ is None else environ
    named = os.path.basename(environ.get(NOTEBOOK_VARIABLE) or "")
    stem = named[:-len(".ipynb")] if named.endswith(".ipynb") else named
    return stem or default


def event(notebook: str, step: str, outcome: str, message: str | None = None, answer=None,
          environ=None, now: float | None = None) -> dict:
    """The event as it is sent (no learner name in it: the token names the learner)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    doc = {"notebook": notebook_name(notebook, environ), "step": step, "outcome": outcome,
           "time": time.time() if now is None else now}
    if message:
        doc["message"] = str(message)[:MAX_TEXT]
    if answer is not None:
        text = answer if isinstance(answer, str) else json.dumps(answer, indent=2, default=str)
        doc["answer"] = text[:MAX_TEXT]
    return doc


def record(notebook: str, step: str, outcome: str, message: str | None = None, answer=None,
           environ=None) -> bool:
    """Tell the facilitator view; True when the service took the event, False outside a class or on failure."""
    environ = os.environ if environ is None else environ
    if not enabled(environ):
        return False
    body = json.dumps(event(notebook, step, outcome, message, answer, environ)).encode()
    request = urllib.request.Request(
        environ[URL_VARIABLE].rstrip("/") + "/api/progress", data=body, method="POST",
        headers={"Authorization": f"token {environ[TOKEN_VARIABLE]}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # nosec B310: the class's own service
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.debug("progress event not delivered (%s): %s", step, exc)
        return False
