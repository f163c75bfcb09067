"""The local cloud fixtures, shared by tests/e2e and tests/browser (a pytest plugin:
`pytest_plugins = ["cloud_fixtures"]` in tests/conftest.py; tests/support is on the path).

Session-scoped, shared by every test that asks for them (e2e and browser):

* `local_cloud` -> str: the endpoint (http://127.0.0.1:PORT) of a local cloud
  process started on a free port for the session and stopped after it
  (Lambda workers included).
* `sam_build` -> Path: the built template (`sam build` runs once per test run,
  into a temporary build dir that every pytest-xdist worker shares).
* `deployed_stack` -> dict: the stack outputs (ApiUrl, ApproveUrl, DenyUrl,
  AlertTopicArn, StateMachineArn, StateMachineName) of the real `sam deploy`
  (through `workshop.aws.deploy`) to `local_cloud`, default parameters
  (EmailAddress learner@example.com) but DecisionConcurrency=5 (the default
  reserves none; the plain local cloud has room), stack name `e2e-orchestrator`.
* `timeout_stack` -> dict: outputs of a second stack with
  ApprovalTimeoutSeconds=3, in a local cloud process of its own (so its rule
  does not react to the main stack's policies); its endpoint is `["endpoint"]`.

The AWS-like mode (`workshop.localcloud.aws_like`, delays compressed to
`AWS_LIKE`: CloudTrail events 1-3 s late and only through a trail, IAM reads
0.5 s behind creations, e-mail subscriptions pending until confirmed, a new
account's Lambda concurrency of 10, a new state machine definition used 3 s
late):

* `aws_like_cloud` -> str: the endpoint of an AWS-like local cloud for the
  session, with a logging multi-Region trail `workshop-trail` (as a
  facilitator sets up an account). A test that stops the trail starts it again.
* `aws_target` -> TargetSession: `connect("aws")` aimed at `aws_like_cloud`
  through WORKSHOP_AWS_REHEARSAL (set for that test
  only, AWS_ENDPOINT_URL and AWS_PROFILE unset): the kit's AWS code paths.
* `aws_like_stack` -> dict: outputs of the stack deployed to it with
  `workshop.aws.deploy.deploy(target="aws")` (EmailAddress `AWS_EMAIL`; its
  subscription left pending), stack name `e2e-aws-like`, as a learner with a
  new account gets there: a first deploy reserving DecisionConcurrency=5
  fails (ROLLBACK_COMPLETE; the `FailedStack` it raised is `["first_try"]`),
  the second, with `replace_failed=True` and the default (no reservation),
  replaces it.
* `confirm_subscriptions(endpoint)`: follow every confirmation link in the
  mailbox, as the learner does in their inbox.

While a test uses `local_cloud` (directly or through `deployed_stack`),
AWS_ENDPOINT_URL points at it and the region and its per-start key are set,
so plain `boto3.client("iam")` talks to the local cloud. Nothing is set for
tests that do not ask for it (unit tests never see these variables).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from workshop.aws import deploy as deploy_module
from workshop.localcloud import ACCOUNT_ID, LocalCloud
from workshop.localcloud.aws_like import CONFIRMATION_PATH, CONFIRMATION_SUBJECT, Settings
from workshop.localcloud.server import credentials
from workshop.aws.session import AWS_TEST_ENDPOINT, connect
from workshop.aws.iam_simulation import learner_policy_files

MAIN_STACK = "e2e-orchestrator"
TIMEOUT_STACK = "e2e-orchestrator-timeout"
AWS_LIKE_STACK = "e2e-aws-like"
EMAIL = "learner@example.com"
AWS_EMAIL = "learner@security-orchestrator.dev"  # not a reserved domain: the AWS target refuses those
# CloudTrail's delay (minutes on AWS) compressed, but never shorter than a loaded machine takes to make a policy
# and start an execution itself: notebook 06's time-out demo starts its own before CloudTrail's arrives, as on AWS.
AWS_LIKE = Settings(event_delay=(2.0, 4.0), iam_lag=0.5, lambda_concurrency_limit=10, definition_lag=3.0)
ROOT = Path(__file__).resolve().parents[2]
# the policies a learner is given (README, docs/aws.md): the whole workshop runs under them in the AWS-like run
LEARNER_POLICIES = tuple(str(p) for p in learner_policy_files(ROOT))
TRAIL = "workshop-trail"


def local_env(endpoint: str) -> dict:
    """AWS_ENDPOINT_URL, region and the key of the local cloud at `endpoint` (from its key file)."""
    return credentials.read(endpoint).environment()


def local_client(endpoint: str, service: str, **kwargs):
    """A boto3 client of `service` for the local cloud at `endpoint`, signed with its key (the per-start
    key: the account's administrator, also where the learner is an IAM user of their own)."""
    import boto3

    return boto3.client(service, **{**credentials.read(endpoint).administrator().boto3_kwargs(), **kwargs})


@contextlib.contextmanager
def logged_cloud(directory: Path, **options):
    """A local cloud of its own (a test module's), its log in `directory`/server.log: (cloud, log path)."""
    path = directory / "server.log"
    with open(path, "wb") as log, LocalCloud(log_file=log, **options) as cloud:
        yield cloud, path


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


def run_folder(tmp_path_factory, name: str) -> Path:
    """A folder of this test run that every pytest-xdist worker sees (each worker's base temp is a folder
    of the run's)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(exist_ok=True)
    return folder


@contextmanager
def one_at_a_time(lock_file: Path):
    """Held by one process of the test run at a time (an exclusive lock on `lock_file`)."""
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory) -> Path:
    """One `sam build` for the whole run: the first worker to need it builds, the others wait and share it."""
    folder = run_folder(tmp_path_factory, "sam-build")
    built = folder / "build" / "template.yaml"
    with one_at_a_time(folder / "lock"):
        if not (folder / "done").exists():
            log = io.StringIO()
            try:
                built = deploy_module.build(build_dir=folder / "build", stream=log)
            except deploy_module.DeployError as exc:
                pytest.fail(f"{exc}\n{log.getvalue()}")
            (folder / "done").touch()
    return built


def _deploy(endpoint: str, built: Path, stack_name: str, parameters: dict) -> dict:
    log = io.StringIO()
    try:
        return deploy_module.deploy(target="local", endpoint=endpoint, stack_name=stack_name,
                                    parameters=parameters, build_dir=built.parent, skip_build=True, stream=log)
    except deploy_module.DeployError as exc:
        pytest.fail(f"{exc}\n{log.getvalue()}")


@pytest.fixture(scope="session")
def deployed_stack(local_cloud, sam_build) -> dict:
    return _deploy(local_cloud, sam_build, MAIN_STACK, {"EmailAddress": EMAIL, "DecisionConcurrency": 5})


@pytest.fixture(scope="session")
def timeout_stack(tmp_path_factory, sam_build) -> dict:
    log = open(tmp_path_factory.mktemp("localcloud-timeout") / "server.log", "wb")
    with LocalCloud(log_file=log) as cloud:
        outputs = _deploy(cloud.endpoint, sam_build, TIMEOUT_STACK,
                          {"EmailAddress": EMAIL, "ApprovalTimeoutSeconds": 3})
        yield {**outputs, "endpoint": cloud.endpoint}
    log.close()


# --- the AWS-like mode ---------------------------------------------------------------------------------


def create_trail(endpoint: str, name: str = TRAIL) -> str:
    """A multi-Region trail that logs (management events by default), as on a prepared account: its bucket has
    CloudTrail's bucket policy (the AWS-like mode refuses the trail otherwise, as AWS does)."""
    import json

    from workshop.aws.trail import bucket_policy

    s3 = local_client(endpoint, "s3")
    s3.create_bucket(Bucket=f"{name}-logs")
    s3.put_bucket_policy(Bucket=f"{name}-logs", Policy=json.dumps(bucket_policy(f"{name}-logs", ACCOUNT_ID, name)))
    trails = local_client(endpoint, "cloudtrail")
    trails.create_trail(Name=name, S3BucketName=f"{name}-logs", IsMultiRegionTrail=True)
    trails.start_logging(Name=name)
    return name


def confirm_subscriptions(endpoint: str) -> list:
    """Follow every subscription confirmation link in the mailbox (what the learner clicks); the pages read."""
    from workshop.localcloud import read_mailbox

    pages = []
    for message in read_mailbox(endpoint):
        if message["subject"] != CONFIRMATION_SUBJECT:
            continue
        link = next(word for word in message["body"].split() if CONFIRMATION_PATH in word)
        try:
            with urllib.request.urlopen(link, timeout=10) as response:
                pages.append(response.read().decode())
        except urllib.error.HTTPError as exc:  # already confirmed: the link is used up
            pages.append(exc.read().decode())
    return pages


@pytest.fixture(scope="session")
def aws_like_cloud(tmp_path_factory):
    log = open(tmp_path_factory.mktemp("localcloud-aws-like") / "server.log", "wb")
    with LocalCloud(log_file=log, like_aws=AWS_LIKE) as cloud:
        create_trail(cloud.endpoint)
        yield cloud.endpoint
    log.close()


@pytest.fixture
def aws_target(aws_like_cloud, monkeypatch):
    monkeypatch.setenv(AWS_TEST_ENDPOINT, aws_like_cloud)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return connect("aws")


@pytest.fixture(scope="session")
def aws_like_stack(aws_like_cloud, sam_build) -> dict:
    log = io.StringIO()
    saved = os.environ.get(AWS_TEST_ENDPOINT)
    os.environ[AWS_TEST_ENDPOINT] = aws_like_cloud
    first_try = None
    try:
        try:  # what reserving concurrency did by default, in an account of 10
            deploy_module.deploy(target="aws", stack_name=AWS_LIKE_STACK,
                                 parameters={"EmailAddress": AWS_EMAIL, "DecisionConcurrency": 5},
                                 build_dir=sam_build.parent, skip_build=True, stream=log)
        except deploy_module.FailedStack as failed:
            first_try = failed
        outputs = deploy_module.deploy(target="aws", stack_name=AWS_LIKE_STACK, parameters={"EmailAddress": AWS_EMAIL},
                                       build_dir=sam_build.parent, skip_build=True, replace_failed=True, stream=log)
        return {**outputs, "first_try": first_try, "deploy_log": log.getvalue()}
    except deploy_module.DeployError as exc:
        pytest.fail(f"{exc}\n{log.getvalue()}")
    finally:
        if saved is None:
            os.environ.pop(AWS_TEST_ENDPOINT, None)
        else:
            os.environ[AWS_TEST_ENDPOINT] = saved
