"""Failures a learner can meet, explained on one screen instead of a traceback.

    from workshop.failures import WorkshopError, LocalCloudNotAnswering
    raise LocalCloudNotAnswering("http://127.0.0.1:4566")

`WorkshopError` is the kit's own error type: its message says what happened
and what to do next, and in a notebook it is shown as that message alone
(IPython calls `_render_traceback_` instead of printing frames).

`install_notebook_handler(session)` (called by `workshop.aws.session.connect`
inside IPython) registers a custom exception handler for the errors boto3
raises when the local cloud is gone: a connection refused, a time-out, the
key file missing, or, after a restart, "does not exist" answers about what
the old process had deployed. Those become one screen: the local cloud at URL
is not answering (or restarted), how to start it (`make local`; under
`make lab` it restarts by itself) and that a restart forgets the deployed
stack, so 01_deploy must run again. Any other error keeps IPython's usual
traceback.
"""

from __future__ import annotations

import os

# Set by `make lab` (scripts/run_lab.py) in JupyterLab's environment: it restarts a local cloud that stops.
SUPERVISED_ENV = "WORKSHOP_LOCALCLOUD_SUPERVISED"


class WorkshopError(Exception):
    """An error whose message is the whole story: shown without a traceback in a notebook."""

    def _render_traceback_(self) -> list:
        lines = str(self).splitlines() or [""]
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {lines[0]}", *lines[1:]]


def _how_to_start(endpoint: str) -> str:
    if os.environ.get(SUPERVISED_ENV):
        return ("`make lab` restarts it by itself (its terminal says when): wait a few seconds, then run "
                "this cell again.")
    port = endpoint.rsplit(":", 1)[-1].strip("/")
    extra = "" if port == "4566" else f" (this notebook uses port {port}: `workshop local up --port {port}`)"
    return f"`make local` in a terminal, left running{extra}; or `make lab`, which starts and restarts it for you."


def other_local_cloud(endpoint: str) -> str | None:
    """Another local cloud of this user's that answers, when none answers at `endpoint` (a typo in the port)."""
    from workshop.localcloud import running_local_clouds

    others = running_local_clouds(exclude=endpoint)
    return others[0] if others else None


class WrongEndpoint(WorkshopError, ValueError):
    """The endpoint a learner typed cannot be the local cloud's: the message names the value and the fix."""


_FORGETS = ("A restarted local cloud starts empty: it forgets the deployed stack and any incident waiting for a "
            "decision.")
_AGAIN = "Run 01_deploy.ipynb again, then this notebook from the top."


class _LocalCloudProblem(WorkshopError):
    def __init__(self, endpoint: str, headline: str, *steps: str):
        self.endpoint = endpoint
        super().__init__(headline + "".join(f"\n  - {step}" for step in steps))


class LocalCloudNotAnswering(_LocalCloudProblem):
    """Nothing answers at the local cloud's URL (and, when another local cloud of the learner's does, says so)."""

    def __init__(self, endpoint: str, detail: str = "", elsewhere: str | None = None):
        if elsewhere:
            port = endpoint.rsplit(":", 1)[-1].strip("/")
            super().__init__(endpoint, f"Nothing answers on port {port} ({endpoint}); your local cloud is on "
                                       f"{elsewhere.rsplit(':', 1)[-1]} ({elsewhere}).",
                             f"Set endpoint = \"{elsewhere}\" in the parameters cell (or WORKSHOP_ENDPOINT before "
                             "starting JupyterLab), then run the notebook from the top.")
            return
        super().__init__(endpoint, f"The local cloud at {endpoint} is not answering{f' ({detail})' if detail else ''}.",
                         f"To start it: {_how_to_start(endpoint)}", f"{_FORGETS} {_AGAIN}")


class LocalCloudRestarted(_LocalCloudProblem):
    """The local cloud answering now is not the one this notebook deployed to."""

    def __init__(self, endpoint: str, detail: str = ""):
        super().__init__(endpoint, f"The local cloud at {endpoint} restarted since this notebook connected"
                                   f"{f' ({detail})' if detail else ''}.", _FORGETS, _AGAIN)


def announce(error: WorkshopError) -> None:
    """Say it once where the learner looks: the notebook's output (else stderr), without raising."""
    import sys

    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            import html

            display(HTML("<pre style='color:#b71c1c;white-space:pre-wrap'>" + html.escape(str(error)) + "</pre>"))
            return
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        pass
    print(str(error), file=sys.stderr)


def _connection_errors() -> tuple:
    from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError

    from urllib.error import URLError

    from workshop.localcloud import CredentialsNotFound

    return (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError, CredentialsNotFound,
            ConnectionError, URLError)


# Answers about things a restart forgot (the old process's stack, state machine, executions, policies).
_GONE = ("does not exist", "DoesNotExist", "NoSuchEntity", "ResourceNotFound", "not found")


def explain(error: BaseException, session) -> WorkshopError | None:
    """The one-screen explanation of `error` for a local `session`, or None when it is something else."""
    if session is None or not getattr(session, "is_local", False) or isinstance(error, WorkshopError):
        return None
    endpoint = session.endpoint
    if isinstance(error, _connection_errors()):
        from workshop.localcloud import health

        if health(endpoint, timeout=1) is None:
            return LocalCloudNotAnswering(endpoint, type(error).__name__, elsewhere=other_local_cloud(endpoint))
        restart = session.restart_note()
        return LocalCloudRestarted(endpoint, restart) if restart else None
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError) and any(word in str(error) for word in _GONE):
        restart = session.restart_note()
        if restart:
            return LocalCloudRestarted(endpoint, restart)
    return None


_HANDLED_SESSIONS: list = []


def install_notebook_handler(session) -> bool:
    """Show local-cloud failures of this kernel on one screen (IPython only); True if installed."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return False
    shell = get_ipython()
    if shell is None or not session.is_local:
        return False
    _HANDLED_SESSIONS[:] = [session]  # the newest connect() decides which endpoint is meant
    from botocore.exceptions import BotoCoreError, ClientError

    def handler(shell, etype, value, tb, tb_offset=None):
        explained = explain(value, _HANDLED_SESSIONS[0] if _HANDLED_SESSIONS else None)
        if explained is None:
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
            return None
        stb = explained._render_traceback_()
        shell._showtraceback(type(explained), explained, stb)
        return stb

    shell.set_custom_exc((BotoCoreError, ClientError, *_connection_errors()), handler)
    return True
