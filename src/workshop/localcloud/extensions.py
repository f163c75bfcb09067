"""Which extension is installed when: cheap ones at start, heavy ones on first use.

moto's Step Functions engine (the ASL parser) and its CloudFormation (which
imports every service, API Gateway's OpenAPI validator included) take about
2.5 s to import on a small machine. The local cloud answers sooner by
installing them just before the first request that needs them:

    states            -> stepfunctions
    cloudformation    -> stepfunctions, apigateway, cloudformation
    apigateway        -> apigateway
    (execute-api route, EventBridge -> Step Functions target: the same, from code)

Each group also applies its fixes of upstream moto bugs (moto_fixes.py).
`ensure()` is idempotent and thread-safe; a request that needs a group waits
until it is installed, so no request ever sees unpatched moto.
"""

from __future__ import annotations

import os
import threading

_lock = threading.RLock()
_installed: set[str] = set()
_endpoint = "http://127.0.0.1:4566"
_port = 4566
_credentials = None  # the server's per-start key (credentials.Credentials)

# credential-scope service -> extension groups its requests need
NEEDS = {
    "states": ("stepfunctions",),
    "cloudformation": ("stepfunctions", "apigateway", "cloudformation"),
    "apigateway": ("apigateway",),
}


def install_eager(port: int, endpoint: str, credentials=None) -> None:
    """What every request may need, cheap to import: Lambda, EventBridge (targets, schedules), SNS mail, config."""
    global _endpoint, _port, _credentials
    from moto.core.config import default_user_config

    from . import eventbridge_targets, lambda_runtime, mailbox, moto_fixes, schedules

    _endpoint, _port, _credentials = endpoint, port, credentials
    os.environ["MOTO_PORT"] = str(port)  # moto's ASL engine calls services at localhost:$MOTO_PORT
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    lambda_runtime.install(endpoint)
    eventbridge_targets.install()
    schedules.install()
    mailbox.install()
    moto_fixes.install("eager")


def ensure(*groups: str) -> None:
    for group in groups:
        if group in _installed:
            continue
        with _lock:
            if group in _installed:
                continue
            if group == "stepfunctions":
                from . import stepfunctions

                stepfunctions.install(_port, _credentials)
            elif group == "apigateway":
                from . import apigateway

                apigateway.install()
            elif group == "cloudformation":
                from . import cloudformation

                cloudformation.install(_endpoint)
            else:
                raise ValueError(f"unknown extension group {group!r}")
            from . import moto_fixes

            moto_fixes.install(group)
            _installed.add(group)


def ensure_for_scope(service: str) -> None:
    needs = NEEDS.get(service)
    if needs:
        ensure(*needs)


def install_all(port: int, endpoint: str, credentials=None) -> None:
    install_eager(port, endpoint, credentials)
    ensure("stepfunctions", "apigateway", "cloudformation")
