"""boto3 clients for a workshop target, and the environment `sam` runs with there.

    from workshop.aws.session import connect
    cloud = connect(target="local", endpoint="http://127.0.0.1:4566")
    iam = cloud.client("iam")

`target="local"`: the local cloud at `endpoint`, signed with the key it made
when it started (read from its 0600 key file, `workshop.localcloud.server.credentials`;
the key changes at every start and is read again when it does), us-east-1;
in the AWS-like mode with `--learner-policy`, the key of the learner's IAM
user instead (`Credentials.for_learner`).
`target="aws"`: the learner's own credentials (environment, profile, SSO...),
always in us-east-1 (IAM's CloudTrail events reach EventBridge only there),
whatever region the profile names, and never at a configured endpoint URL
(`AWS_ENDPOINT_URL`, `endpoint_url` in ~/.aws/config): those clients are made
with `Config(ignore_configured_endpoint_urls=True)`, so a shell that once
pointed the AWS CLI at the local cloud cannot send the AWS target there.
The notebooks' code is plain boto3 either way; only the endpoint differs.

In a notebook, `connect` also installs the kit's exception handler
(`workshop.failures`): a local cloud that stopped or restarted is explained
on one screen, not with a botocore traceback. The session remembers which
server process it first talked to, so it can tell a restart (a restarted
local cloud forgot the deployed stack) from a missing resource.

A rehearsal of the AWS path: `WORKSHOP_AWS_REHEARSAL=http://127.0.0.1:PORT`
(set by `make lab-like-aws`) sends the AWS target's calls (and `sam`'s) to
a local cloud started in the AWS-like mode (`workshop local up --like-aws`),
signed with that local cloud's key, so the AWS code paths (trail check,
region pin, required e-mail, AWS waits and hints) run end to end without an
account; the tests use it the same way. It accepts only a loopback local
cloud of this user (its key file) that runs in the AWS-like mode; the
learner's own AWS credentials are never sent to it. Unset, the AWS target is
AWS.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

from workshop.failures import LocalCloudRestarted as LocalCloudRestartedNote, WorkshopError, WrongEndpoint

REGION = "us-east-1"
DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
TARGETS = ("local", "aws")
REHEARSAL = "WORKSHOP_AWS_REHEARSAL"
AWS_TEST_ENDPOINT = REHEARSAL  # the tests rehearse the AWS path the same way
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def project_root() -> Path:
    """The kit's folder (the one with template.yaml): found from the current directory upwards."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").exists() and (folder / "statemachine").is_dir():
            return folder
    return Path(__file__).resolve().parents[3]


_CLIENT_LOCK = threading.Lock()
LOCAL_SAM_POLL_DELAY = 0.5  # seconds between `sam deploy`'s looks at a local stack's events


def default_endpoint() -> str:
    """The local cloud's URL: $WORKSHOP_ENDPOINT, else the usual port."""
    return os.environ.get("WORKSHOP_ENDPOINT") or DEFAULT_ENDPOINT


class StackNotFound(WorkshopError):
    """The stack the notebook works on is not deployed (yet)."""


def local_environment(endpoint: str, base: dict | None = None, credentials=None) -> dict:
    """The environment `sam` and boto3 need to talk to the local cloud at `endpoint` (its key included)."""
    from workshop.localcloud.server import credentials as credentials_module

    key = credentials or credentials_module.read(endpoint)
    env = dict(os.environ if base is None else base)
    env.update(key.environment())
    env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION})
    # `sam deploy` looks at the stack's events every 5 s, spaced for CloudFormation's API limits; the local
    # cloud has made the stack by the first look, so every deploy waited 5 s for nothing.
    env.setdefault("SAM_CLI_POLL_DELAY", str(LOCAL_SAM_POLL_DELAY))
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    return env


def checked_endpoint(value) -> str:
    """The local cloud's endpoint as the kit uses it (`http://127.0.0.1:PORT`), or WrongEndpoint naming the value
    and the fix: no scheme, https:// (the local cloud speaks plain HTTP), another host, no port, a path."""
    from urllib.parse import urlparse

    text = value.strip().rstrip("/") if isinstance(value, str) else ""
    where = "the endpoint parameter (or WORKSHOP_ENDPOINT)"
    if not text:
        raise WrongEndpoint(f"endpoint = {value!r} is not a URL: write \"{DEFAULT_ENDPOINT}\" in {where}.")
    if "://" not in text:
        raise WrongEndpoint(f"endpoint = {value!r} has no scheme: write \"http://{text}\" in {where} (the local "
                            "cloud is a plain-HTTP server on this machine).")
    url = urlparse(text)
    rest = text.split("://", 1)[1]
    if url.scheme == "https":
        raise WrongEndpoint(f"endpoint = {value!r} uses https://, but the local cloud speaks plain HTTP (on "
                            f"127.0.0.1 nothing leaves this machine): write \"http://{rest}\" in {where}.")
    if url.scheme != "http":
        raise WrongEndpoint(f"endpoint = {value!r} is not an http:// URL: write \"http://{rest}\" in {where}.")
    try:
        port = url.port
    except ValueError:
        port = -1
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise WrongEndpoint(f"endpoint = {value!r} names the host {url.hostname or '(none)'}, but the local cloud "
                            f"listens on this machine only: write \"http://127.0.0.1:{port if port and port > 0 else 4566}\""
                            f" in {where}.")
    if port is None or port <= 0:
        host = url.netloc.split("]")[0] + "]" if url.netloc.startswith("[") else url.netloc.split(":")[0]
        raise WrongEndpoint(f"endpoint = {value!r} names no port (or not a number): write "
                            f"\"http://{host}:4566\" (the usual port; `make lab` prints the one it uses) "
                            f"in {where}.")
    if url.path or "?" in text or "#" in text:
        raise WrongEndpoint(f"endpoint = {value!r} has a path after the port: write \"http://{url.netloc}\" in "
                            f"{where}.")
    return f"http://{url.netloc}"


def local_env_command(endpoint: str) -> str:
    """`eval "$(.../workshop local env --port N)"`: what puts the local cloud's endpoint and key in a shell."""
    from urllib.parse import urlparse

    from workshop.localcloud.server.credentials import env_line

    return env_line(urlparse(endpoint).port)


def aws_test_endpoint(environ=None) -> str | None:
    """The AWS-like local cloud the AWS target rehearses on ($WORKSHOP_AWS_REHEARSAL), or None.

    Refuses (ValueError) anything but a loopback http URL of a local cloud of
    this user (its key file) in the AWS-like mode.
    """
    from urllib.parse import urlparse

    value = (os.environ if environ is None else environ).get(REHEARSAL)
    if not value:
        return None
    endpoint = value.rstrip("/")
    url = urlparse(endpoint)
    if url.scheme != "http" or url.hostname is None or url.netloc.rsplit(":", 1)[0] not in _LOOPBACK \
            or url.path or url.port is None:
        raise ValueError(f"{REHEARSAL}={value!r}: only a local cloud on this machine "
                         "(http://127.0.0.1:PORT) can stand in for AWS. Unset it for real AWS.")
    from workshop.localcloud import health
    from workshop.localcloud.server import credentials

    credentials.read(endpoint)  # a local cloud of this user, or CredentialsNotFound says how to start one
    doc = health(endpoint) or {}
    if not doc.get("like_aws"):
        raise ValueError(f"{REHEARSAL}={value!r}: that local cloud is not in the AWS-like mode; "
                         "start it with `make lab-like-aws` (or `workshop local up --like-aws`). Unset the variable "
                         "for real AWS.")
    return endpoint


@dataclass
class TargetSession:
    """Where the workshop runs, and boto3 clients for it."""

    target: str = "local"
    endpoint: str | None = None
    region: str = REGION
    test_endpoint: str | None = None  # AWS target in a rehearsal: the AWS-like local cloud (module docstring)
    _clients: dict = field(default_factory=dict, repr=False)
    _server_pid: int | None = field(default=None, repr=False)  # the local cloud process first seen
    _restarted: str = field(default="", repr=False)

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"target must be 'local' or 'aws', not {self.target!r}")
        if self.target == "local":
            self.endpoint = checked_endpoint(self.endpoint or default_endpoint())
            from workshop.localcloud import CredentialsNotFound

            try:
                self._server_pid = self.local_credentials().pid
            except CredentialsNotFound:  # not running yet: the first call says so, on one screen
                self._server_pid = None
                self._check_port()
        else:
            self.endpoint = None
            self.test_endpoint = aws_test_endpoint()

    def _check_port(self) -> None:
        """Nothing of this user's answers at the endpoint: if another local cloud of theirs does, the port is a
        typo, said now (one screen) rather than as advice to start a second, empty local cloud."""
        from workshop.failures import LocalCloudNotAnswering, other_local_cloud
        from workshop.localcloud import health
        from workshop.localcloud.server import credentials

        if not any(credentials.state_dir().glob("localcloud-*.json")):  # no local cloud of this user anywhere
            return
        if health(self.endpoint, timeout=1) is None:
            elsewhere = other_local_cloud(self.endpoint)
            if elsewhere:
                raise LocalCloudNotAnswering(self.endpoint, elsewhere=elsewhere)

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @property
    def api_endpoint(self) -> str | None:
        """Where the clients go: the local cloud, the AWS-like one of a rehearsal, or None for AWS itself."""
        return self.endpoint if self.is_local else self.test_endpoint

    def local_credentials(self):
        """The local cloud's current key (its key file); says how to start it when there is none."""
        from workshop.localcloud.server import credentials

        key = credentials.read(self.api_endpoint)
        if self._server_pid is None:
            self._server_pid = key.pid
        elif key.pid != self._server_pid and not self._restarted:
            self._restarted = (f"the server process was {self._server_pid}, it is now {key.pid}, "
                               "started after this notebook connected")
            from workshop.failures import announce

            announce(LocalCloudRestartedNote(self.api_endpoint, self._restarted))
        return key

    def restart_note(self) -> str:
        """Why the local cloud is not the one this session first talked to, or "" (it is the same)."""
        if self.is_local and not self._restarted:
            from workshop.localcloud import CredentialsNotFound

            try:
                self.local_credentials()
            except CredentialsNotFound:  # not running: that is not a restart (yet)
                return ""
        return self._restarted

    def boto3_session(self) -> boto3.Session:
        if self.api_endpoint:
            key = self.local_credentials().for_learner()
            return boto3.Session(region_name=self.region, aws_access_key_id=key.access_key_id,
                                 aws_secret_access_key=key.secret_access_key)
        return boto3.Session(region_name=self.region)

    def configured_region(self) -> str | None:
        """The region the learner's AWS configuration names (the kit uses us-east-1 whatever it says)."""
        return (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                or boto3.Session().region_name)

    def client(self, service: str):
        """A cached boto3 client for `service` on this target (made anew when the local cloud restarted)."""
        if self.api_endpoint:
            key = self.local_credentials().for_learner().access_key_id
            if self._clients.get("__key__") != key:
                self._clients.clear()
                self._clients["__key__"] = key
        if service not in self._clients:
            config = Config(retries={"max_attempts": 3, "mode": "standard"},
                            connect_timeout=5, read_timeout=60,
                            # TestState's endpoint has a "sync-" host prefix on AWS; on an
                            # endpoint URL like 127.0.0.1 that prefix would break the host.
                            inject_host_prefix=not self.api_endpoint,
                            # AWS_ENDPOINT_URL (or endpoint_url in a profile) must not send the AWS target elsewhere.
                            ignore_configured_endpoint_urls=not self.is_local)
            kwargs = {"config": config}
            if self.api_endpoint:
                kwargs["endpoint_url"] = self.api_endpoint
            # One boto3 session for every client of this target: each new session reads botocore's
            # endpoint and service data again (a new session per client tripled a notebook's client CPU).
            # boto3 sessions are not thread-safe; the panel makes clients from a thread.
            with _CLIENT_LOCK:
                if "__session__" not in self._clients:
                    self._clients["__session__"] = self.boto3_session()
                self._clients[service] = self._clients["__session__"].client(service, **kwargs)
        return self._clients[service]

    def sam_environment(self, base: dict | None = None) -> dict:
        """The environment `sam` runs with on this target: region us-east-1, the right endpoint and key.

        AWS: the learner's environment without any configured endpoint URL
        (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>) and with
        AWS_IGNORE_CONFIGURED_ENDPOINT_URLS for a profile's; local (and the
        AWS target of a rehearsal): the local cloud's endpoint and key.
        """
        if self.api_endpoint:
            return local_environment(self.api_endpoint, base, self.local_credentials())
        env = dict(os.environ if base is None else base)
        for name in [n for n in env if n == "AWS_ENDPOINT_URL" or n.startswith("AWS_ENDPOINT_URL_")]:
            env.pop(name)
        env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
        env.update({"AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region})
        return env

    def cli_prefix(self) -> str:
        """How the same call looks with the AWS CLI on this target, as a line that works pasted into a terminal:
        on the local cloud its key comes first (`workshop local env`, by its full path: the venv need not be
        on the terminal's PATH)."""
        if self.is_local:
            return f"{local_env_command(self.endpoint)} && aws --endpoint-url {self.endpoint} --region {self.region}"
        return f"aws --region {self.region}"

    def stack_outputs(self, stack_name: str) -> dict:
        """The stack's outputs as {key: value}; StackNotFound says what to do."""
        cfn = self.client("cloudformation")
        try:
            stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
        except Exception as exc:  # botocore ClientError: "Stack ... does not exist"
            if "does not exist" in str(exc) or "ValidationError" in str(exc):
                restart = self.restart_note()
                raise StackNotFound(
                    f"The stack {stack_name!r} is not deployed on the {self.target} target: "
                    "run notebooks/01_deploy.ipynb first."
                    + (f"\nThe local cloud restarted ({restart}): a restart forgets everything deployed."
                       if restart else "")
                ) from None
            raise
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}

    def stack_resources(self, stack_name: str) -> list[dict]:
        cfn = self.client("cloudformation")
        pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name)
        return [r for page in pages for r in page["StackResourceSummaries"]]


def connect(target: str = "local", endpoint: str | None = None) -> TargetSession:
    """Clients for the workshop target (see the module docstring)."""
    from workshop.failures import install_notebook_handler

    session = TargetSession(target=target, endpoint=endpoint)
    install_notebook_handler(session)
    return session
