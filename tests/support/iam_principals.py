"""Principals holding exactly a given policy, on a real local cloud (the functional IAM tests use them).

    session = user_with(endpoint, {"Statement": [...]})      # an IAM user, its key, a boto3 Session
    session.client("s3").list_buckets()

The per-start key (the account's administrator) makes the user; the user's
calls are then evaluated by the local cloud's authorizer like any principal's.
"""

from __future__ import annotations

import json
import uuid

import boto3
from botocore.exceptions import ClientError

from workshop.localcloud.server import credentials

ACCOUNT = "123456789012"


def admin(endpoint: str, service: str):
    """A client signed with the per-start key: the account's administrator (never evaluated)."""
    return boto3.client(service, **credentials.read(endpoint).administrator().boto3_kwargs())


def document(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def session_for(endpoint: str, key: dict) -> boto3.Session:
    return boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                         aws_session_token=key.get("SessionToken"), region_name="us-east-1")


class Principal:
    """A user (or a role session) and clients signed with its key, all pointed at the local cloud."""

    def __init__(self, endpoint: str, session: boto3.Session, arn: str, name: str):
        self.endpoint, self.session, self.arn, self.name = endpoint, session, arn, name

    def client(self, service: str, **kwargs):
        from botocore.config import Config

        return self.session.client(service, endpoint_url=self.endpoint,
                                   config=Config(retries={"max_attempts": 1}, inject_host_prefix=False,
                                                 s3={"addressing_style": "path"}), **kwargs)


def user_with(endpoint: str, policy: str | dict | None, name: str | None = None, boundary: str | None = None,
              groups: tuple = ()) -> Principal:
    """An IAM user holding exactly `policy` (inline; None: none at all) and, optionally, a boundary."""
    iam = admin(endpoint, "iam")
    name = name or unique("user")
    kwargs = {"PermissionsBoundary": boundary} if boundary else {}
    arn = iam.create_user(UserName=name, **kwargs)["User"]["Arn"]
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="exactly",
                            PolicyDocument=policy if isinstance(policy, str) else json.dumps(policy))
    for group in groups:
        iam.add_user_to_group(GroupName=group, UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Principal(endpoint, session_for(endpoint, key), arn, name)


def learner_user(endpoint: str, root) -> Principal:
    """An IAM user holding exactly the learner's policy files (`root`: the project), each a managed policy."""
    from workshop.aws.iam_simulation import learner_policy_files

    iam = admin(endpoint, "iam")
    name = unique("learner")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    for path in learner_policy_files(root):
        policy = iam.create_policy(PolicyName=unique(path.stem), PolicyDocument=path.read_text())["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Principal(endpoint, session_for(endpoint, key), arn, name)


def role_with(endpoint: str, policy: str | dict, trust: str | dict, name: str | None = None) -> str:
    """A role holding exactly `policy`, trusting what `trust` says; its ARN."""
    iam = admin(endpoint, "iam")
    name = name or unique("role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust if isinstance(trust, str)
                          else json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="exactly",
                        PolicyDocument=policy if isinstance(policy, str) else json.dumps(policy))
    return arn


def denied(call, *args, **kwargs) -> dict:
    """The error of a call that must be refused: {"Code", "Message", "Status"}; fails if it succeeds."""
    try:
        call(*args, **kwargs)
    except ClientError as exc:
        error = dict(exc.response["Error"])
        error["Status"] = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        return error
    raise AssertionError(f"{getattr(call, '__name__', call)} was allowed")


class AttackerCloud:
    """A `cloud` handle (workshop.aws.session.TargetSession's shape) whose clients are a principal's: what the
    attack functions of workshop.teaching.attacks take as `attacker`. All else (the endpoint, the region, how a
    call looks with the AWS CLI) is the session's."""

    def __init__(self, cloud, principal: Principal):
        self._cloud, self.principal, self._clients = cloud, principal, {}

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.principal.client(service)
        return self._clients[service]

    def __getattr__(self, name):
        return getattr(self._cloud, name)


def attacker_holding(cloud, *statements) -> AttackerCloud:
    """An IAM user holding exactly `statements` (inline), as an `attacker` handle on the session `cloud`."""
    return AttackerCloud(cloud, user_with(cloud.endpoint, document(*statements)))


def allow(action, resource) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}
