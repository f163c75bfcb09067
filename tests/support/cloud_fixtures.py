"""The local cloud fixtures, shared by tests/e2e and tests/browser (a pytest plugin:
`pytest_plugins = ["cloud_fixtures"]` in tests/conftest.py; tests/support is on the path).

Session-scoped, shared by every test that asks for them (e2e and browser):

* `local_cloud` -> str: the endpoint (http://127.0.0.1:PORT) of a local cloud
  process started on a free port for the session and stopped after it
  (Lambda workers included).
* `sam_build` -> Path: the built template (`sam build` runs once per session,
  into a temporary build dir).
* `deployed_stack` -> dict: the stack outputs (ApiUrl, ApproveUrl, DenyUrl,
  AlertTopicArn, StateMachineArn, StateMachineName) of the real `sam deploy`
  (through `workshop.deploy`) to `local_cloud`, default parameters
  (EmailAddress learner@example.com), stack name `e2e-orchestrator`.
* `timeout_stack` -> dict: outputs of a second stack with
  ApprovalTimeoutSeconds=3, in a local cloud process of its own (so its rule
  does not react to the main stack's policies); its endpoint is `["endpoint"]`.

While a test uses `local_cloud` (directly or through `deployed_stack`),
AWS_ENDPOINT_URL points at it and the region and its per-start key are set,
so plain `boto3.client("iam")` talks to the local cloud. Nothing is set for
tests that do not ask for it (unit tests never see these variables).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from workshop import deploy as deploy_module
from workshop.localcloud import credentials
from workshop.localcloud.server import LocalCloud

MAIN_STACK = "e2e-orchestrator"
TIMEOUT_STACK = "e2e-orchestrator-timeout"
EMAIL = "learner@example.com"


def local_env(endpoint: str) -> dict:
    """AWS_ENDPOINT_URL, region and the key of the local cloud at `endpoint` (from its key file)."""
    return credentials.read(endpoint).environment()


def local_client(endpoint: str, service: str, **kwargs):
    """A boto3 client of `service` for the local cloud at `endpoint`, signed with its key."""
    import boto3

    return boto3.client(service, **{**credentials.read(endpoint).boto3_kwargs(), **kwargs})


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory):
    log = open(tmp_path_factory.mktemp("localcloud") / "server.log", "wb")
    with LocalCloud(log_file=log) as cloud:
        yield cloud.endpoint
    log.close()


@pytest.fixture(autouse=True)
def _local_cloud_environment(request, monkeypatch):
    """Point boto3 at the local cloud for tests that use it, and only for them."""
    if "local_cloud" not in request.fixturenames:
        yield
        return
    endpoint = request.getfixturevalue("local_cloud")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    for name, value in local_env(endpoint).items():
        monkeypatch.setenv(name, value)
    yield


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam-build")
    log = io.StringIO()
    try:
        return deploy_module.build(build_dir=build_dir, stream=log)
    except deploy_module.DeployError as exc:
        pytest.fail(f"{exc}\n{log.getvalue()}")


def _deploy(endpoint: str, built: Path, stack_name: str, parameters: dict) -> dict:
    log = io.StringIO()
    try:
        return deploy_module.deploy(target="local", endpoint=endpoint, stack_name=stack_name,
                                    parameters=parameters, build_dir=built.parent, skip_build=True, stream=log)
    except deploy_module.DeployError as exc:
        pytest.fail(f"{exc}\n{log.getvalue()}")


@pytest.fixture(scope="session")
def deployed_stack(local_cloud, sam_build) -> dict:
    return _deploy(local_cloud, sam_build, MAIN_STACK, {"EmailAddress": EMAIL})


@pytest.fixture(scope="session")
def timeout_stack(tmp_path_factory, sam_build) -> dict:
    log = open(tmp_path_factory.mktemp("localcloud-timeout") / "server.log", "wb")
    with LocalCloud(log_file=log) as cloud:
        outputs = _deploy(cloud.endpoint, sam_build, TIMEOUT_STACK,
                          {"EmailAddress": EMAIL, "ApprovalTimeoutSeconds": 3})
        yield {**outputs, "endpoint": cloud.endpoint}
    log.close()
