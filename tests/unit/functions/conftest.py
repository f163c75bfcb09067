"""The functions' unit tests run on moto with what the template gives them (`stack`); dummy
credentials come from `aws_env` (tests/support/moto_fixtures.py)."""

from contextlib import contextmanager
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from incident_steps import API_BASE_URL, ROLES, SECRET, TABLE
from moto_seams import seams_installed
from waiting_executions import create_incidents_table


class _Stack(SimpleNamespace):
    """What `_stack` made; the client of a service the setup does not use is made when a test first asks
    for it (each new client costs about 20 ms, and most tests use one or two)."""

    _LAZY = {"iam": "iam", "sns": "sns", "sfn": "stepfunctions", "sqs": "sqs"}

    def __getattr__(self, name):
        if name not in self._LAZY:
            raise AttributeError(name)
        client = boto3.client(self._LAZY[name])
        setattr(self, name, client)
        return client


@contextmanager
def _stack(monkeypatch):
    """moto (with the local cloud's mends of its data services) with what the template gives the
    functions: the incidents table, the decision secret, the seal key, the alert topic, and their
    names in the environment."""
    monkeypatch.setenv("INCIDENTS_TABLE", TABLE)
    monkeypatch.setenv("RESTRICTED_ACTIONS", "s3:DeleteBucket,s3:DeleteObject")
    monkeypatch.setenv("API_BASE_URL", API_BASE_URL)
    monkeypatch.setenv("IAM_SETTLE_SECONDS", "0")  # moto is consistent at once (a test sets its own)
    monkeypatch.setenv("ORCHESTRATOR_ROLE_ARNS", ",".join(ROLES))
    with seams_installed(), mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        dynamodb = boto3.client("dynamodb")
        create_incidents_table(dynamodb, TABLE)
        secret = boto3.client("secretsmanager").create_secret(Name="decision", SecretString=SECRET)["ARN"]
        monkeypatch.setenv("DECISION_SECRET_ARN", secret)
        topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
        monkeypatch.setenv("TOPIC_ARN", topic)
        kms = boto3.client("kms")
        seal_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("SEAL_KEY_ID", seal_key)
        yield _Stack(dynamodb=dynamodb, kms=kms, table=TABLE, topic=topic, secret=SECRET.encode(),
                     seal_key=seal_key)


@pytest.fixture
def stack(aws_env, monkeypatch):
    with _stack(monkeypatch) as clients:
        yield clients


@pytest.fixture
def stack_with_aws_policies(aws_env, monkeypatch):
    """The same, with AWS managed policies (AdministratorAccess, ...) in IAM, as in every account."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with _stack(monkeypatch) as clients:
        yield clients
