"""What the server installs in moto, and when: cheap extensions at start, heavy ones on first use.

The services (`services/`) do not know each other; this module wires them:
it installs each service's extension, hands the events service the way to
start a state machine, and applies the registered fixes and speed patches of
each group (`seams.py`).

moto's Step Functions engine (the ASL parser) and its CloudFormation (which
imports every service, API Gateway's OpenAPI validator included) take about
2.5 s to import on a small machine. The local cloud answers sooner by
installing them just before the first request that needs them:

    states            -> stepfunctions
    cloudformation    -> stepfunctions, apigateway, cloudformation
    apigateway        -> apigateway
    (execute-api route, EventBridge -> Step Functions target: the same, from code)

`ensure()` is idempotent and thread-safe; a request that needs a group waits
until it is installed, so no request ever sees unpatched moto. `after(group,
install)` runs `install` once that group is in place (at once if it is): the
AWS-like mode changes moto's CloudFormation and Step Functions only then, so
it does not import them at start.
"""

from __future__ import annotations

import os
import threading

from .address import DEFAULT_PORT, endpoint_for

_lock = threading.RLock()
_installed: set[str] = set()
_endpoint = endpoint_for(DEFAULT_PORT)
_port = DEFAULT_PORT
_credentials = None  # the server's per-start key (credentials.Credentials)
_after: dict[str, list] = {}  # group -> what to install once it is installed

# credential-scope service -> extension groups its requests need
NEEDS = {
    "states": ("stepfunctions",),
    "cloudformation": ("stepfunctions", "apigateway", "cloudformation"),
    "apigateway": ("apigateway",),
}


def install_eager(port: int, endpoint: str, credentials=None):
    """What every request may need, cheap to import: each call served in its caller's account, Lambda, EventBridge (targets, schedules), SNS mail, config,
    CloudTrail from the IAM model, STS's sessions, and the mends of moto's data services (atomic conditional
    writes, KMS MACs).

    Returns the Lambda runtime (its warm workers), which the server reports and stops.
    """
    global _endpoint, _port, _credentials
    from moto.core.config import default_user_config

    from .. import seams
    from . import accounts
    from ..services import cloudtrail, mailbox
    from ..services.awslambda import function_urls, workers
    from ..services.events import schedules, targets

    _endpoint, _port, _credentials = endpoint, port, credentials
    accounts.install()  # before anything is served: each call in its caller's account
    os.environ["MOTO_PORT"] = str(port)  # moto's ASL engine calls services at localhost:$MOTO_PORT
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    runtime = workers.install(endpoint)
    function_urls.install(endpoint)
    # a state machine target's execution needs the engine: installed with its first event
    targets.install(engine_ready=lambda: ensure("stepfunctions"))
    schedules.install()
    mailbox.install()
    seams.install("data")
    cloudtrail.install()
    seams.install("eager")
    return runtime


def ensure(*groups: str) -> None:
    for group in groups:
        if group in _installed:
            continue
        with _lock:
            if group in _installed:
                continue
            if group == "stepfunctions":
                from ..services.stepfunctions import engine

                engine.install(_port, _credentials)
            elif group == "apigateway":
                from ..services import apigateway

                apigateway.install(_endpoint, _credentials)
            elif group == "cloudformation":
                from ..services.cloudformation import stacks

                stacks.install(_endpoint)
            else:
                raise ValueError(f"unknown extension group {group!r}")
            from .. import seams

            seams.install(group)
            for install in _after.pop(group, []):
                install()
            _installed.add(group)


def after(group: str, install) -> None:
    """Run `install()` once `group` is installed: now if it is, else right after it (before any request
    that needs the group goes on)."""
    with _lock:
        if group in _installed:
            install()
        else:
            _after.setdefault(group, []).append(install)


def ensure_for_scope(service: str) -> None:
    needs = NEEDS.get(service)
    if needs:
        ensure(*needs)


def install_all(port: int, endpoint: str, credentials=None):
    runtime = install_eager(port, endpoint, credentials)
    ensure("stepfunctions", "apigateway", "cloudformation")
    return runtime
