"""boto3 clients for a workshop target.

    from workshop.session import connect
    cloud = connect(target="local", endpoint="http://127.0.0.1:4566")
    iam = cloud.client("iam")

`target="local"`: the local cloud at `endpoint`, signed with the key it made
when it started (read from its 0600 key file, `workshop.localcloud.credentials`;
the key changes at every start and is read again when it does), us-east-1.
`target="aws"`: the learner's own credentials (environment, profile, SSO...),
always in us-east-1 (IAM's CloudTrail events reach EventBridge only there).
The notebooks' code is plain boto3 either way; only the endpoint differs.

In a notebook, `connect` also installs the kit's exception handler
(`workshop.failures`): a local cloud that stopped or restarted is explained
on one screen, not with a botocore traceback. The session remembers which
server process it first talked to, so it can tell a restart (a restarted
local cloud forgot the deployed stack) from a missing resource.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

from workshop.failures import LocalCloudRestarted as LocalCloudRestartedNote, WorkshopError

REGION = "us-east-1"
DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
TARGETS = ("local", "aws")


def project_root() -> Path:
    """The kit's folder (the one with template.yaml): found from the current directory upwards."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").exists() and (folder / "statemachine").is_dir():
            return folder
    return Path(__file__).resolve().parents[2]


def default_endpoint() -> str:
    """The local cloud's URL: $WORKSHOP_ENDPOINT, else the usual port."""
    return os.environ.get("WORKSHOP_ENDPOINT") or DEFAULT_ENDPOINT


class StackNotFound(WorkshopError):
    """The stack the notebook works on is not deployed (yet)."""


@dataclass
class TargetSession:
    """Where the workshop runs, and boto3 clients for it."""

    target: str = "local"
    endpoint: str | None = None
    region: str = REGION
    _clients: dict = field(default_factory=dict, repr=False)
    _server_pid: int | None = field(default=None, repr=False)  # the local cloud process first seen
    _restarted: str = field(default="", repr=False)

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"target must be 'local' or 'aws', not {self.target!r}")
        if self.target == "local":
            self.endpoint = (self.endpoint or default_endpoint()).rstrip("/")
            from workshop.localcloud.credentials import CredentialsNotFound

            try:
                self._server_pid = self.local_credentials().pid
            except CredentialsNotFound:  # not running yet: the first call says so, on one screen
                self._server_pid = None
        else:
            self.endpoint = None

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    def local_credentials(self):
        """The local cloud's current key (its key file); says how to start it when there is none."""
        from workshop.localcloud import credentials

        key = credentials.read(self.endpoint)
        if self._server_pid is None:
            self._server_pid = key.pid
        elif key.pid != self._server_pid and not self._restarted:
            self._restarted = (f"the server process was {self._server_pid}, it is now {key.pid}, "
                               "started after this notebook connected")
            from workshop.failures import announce

            announce(LocalCloudRestartedNote(self.endpoint, self._restarted))
        return key

    def restart_note(self) -> str:
        """Why the local cloud is not the one this session first talked to, or "" (it is the same)."""
        if self.is_local and not self._restarted:
            from workshop.localcloud.credentials import CredentialsNotFound

            try:
                self.local_credentials()
            except CredentialsNotFound:  # not running: that is not a restart (yet)
                return ""
        return self._restarted

    def boto3_session(self) -> boto3.Session:
        if self.is_local:
            key = self.local_credentials()
            return boto3.Session(region_name=self.region, aws_access_key_id=key.access_key_id,
                                 aws_secret_access_key=key.secret_access_key)
        return boto3.Session(region_name=self.region)

    def client(self, service: str):
        """A cached boto3 client for `service` on this target (made anew when the local cloud restarted)."""
        if self.is_local:
            key = self.local_credentials().access_key_id
            if self._clients.get("__key__") != key:
                self._clients.clear()
                self._clients["__key__"] = key
        if service not in self._clients:
            config = Config(retries={"max_attempts": 3, "mode": "standard"},
                            connect_timeout=5, read_timeout=60,
                            # TestState's endpoint has a "sync-" host prefix on AWS; on an
                            # endpoint URL like 127.0.0.1 that prefix would break the host.
                            inject_host_prefix=not self.is_local)
            kwargs = {"config": config}
            if self.is_local:
                kwargs["endpoint_url"] = self.endpoint
            self._clients[service] = self.boto3_session().client(service, **kwargs)
        return self._clients[service]

    def cli_prefix(self) -> str:
        """How the same call looks with the AWS CLI on this target."""
        if self.is_local:
            return f"aws --endpoint-url {self.endpoint} --region {self.region}"
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
