"""Firing policies, reading their versions, cleaning up; the stack views (moto in-process)."""

import json
from datetime import datetime, timezone

import boto3
import pytest
from moto import mock_aws

from workshop.incident import (FiredPolicy, _matches, delete_workshop_policies, fire_policy, fire_policy_version,
                               policy_versions, unique_policy_name)
from workshop.localcloud import credentials
from workshop.session import connect
from workshop.stack import architecture, outputs_table

ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]


class InProcess:
    """connect("aws")-like target whose clients hit moto in this process."""

    is_local = False

    def client(self, name):
        return boto3.client(name, region_name="us-east-1")

    def cli_prefix(self):
        return "aws --region us-east-1"


def test_unique_names_share_the_cleanup_prefix():
    a, b = unique_policy_name("bad"), unique_policy_name("bad")
    assert a != b and a.startswith("workshop-bad-policy-")


@mock_aws
def test_fire_policy_creates_it_and_shows_the_cli_line():
    cloud = InProcess()
    fired = fire_policy(cloud, ROOT / "policies" / "badpolicy.json", name="workshop-bad-policy-t")
    assert fired.version_id == "v1" and fired.arn.endswith(":policy/workshop-bad-policy-t")
    assert fired.cli.startswith("aws --region us-east-1 iam create-policy --policy-name workshop-bad-policy-t "
                                "--policy-document file://")
    versions = policy_versions(cloud.client("iam"), fired.arn)
    assert versions.ids() == ["v1"] and "s3:DeleteBucket" in repr(versions)
    edit = fire_policy_version(cloud, fired.arn, ROOT / "policies" / "goodpolicy.json")
    assert edit.event_name == "CreatePolicyVersion" and edit.version_id == "v2"
    assert "--set-as-default" in edit.cli
    assert policy_versions(cloud.client("iam"), fired.arn).default_document()["Statement"][0]["Sid"] == "ReadReports"


@mock_aws
def test_cleanup_deletes_only_workshop_policies_with_all_their_versions():
    cloud = InProcess()
    iam = cloud.client("iam")
    mine = fire_policy(cloud, ROOT / "policies" / "badpolicy.json", name="workshop-x")
    fire_policy_version(cloud, mine.arn, ROOT / "policies" / "goodpolicy.json")
    iam.create_user(UserName="u")
    iam.attach_user_policy(UserName="u", PolicyArn=mine.arn)
    iam.create_policy(PolicyName="not-mine", PolicyDocument=(ROOT / "policies" / "goodpolicy.json").read_text())
    assert delete_workshop_policies(iam) == ["workshop-x"]
    assert [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]] == ["not-mine"]


def _fired(event_name, version="v1"):
    return FiredPolicy("p", "arn:aws:iam::123456789012:policy/p", version, event_name, "{}", "", datetime.now(timezone.utc))


def test_execution_input_matches_the_change_that_started_it():
    event = json.loads((ROOT / "events" / "create_policy.json").read_text())
    event["detail"]["responseElements"]["policy"]["arn"] = "arn:aws:iam::123456789012:policy/p"
    assert _matches(event, _fired("CreatePolicy"))
    assert not _matches(event, _fired("CreatePolicyVersion"))
    edit = json.loads((ROOT / "events" / "create_policy_version.json").read_text())
    edit["detail"]["requestParameters"]["policyArn"] = "arn:aws:iam::123456789012:policy/p"
    assert _matches(edit, _fired("CreatePolicyVersion", "v2"))
    assert not _matches(edit, _fired("CreatePolicyVersion", "v3"))  # the orchestrator's own revert


def test_architecture_is_mermaid_and_svg():
    bundle = architecture()._repr_mimebundle_()
    assert bundle["text/vnd.mermaid"].startswith("flowchart LR")
    assert bundle["image/svg+xml"].startswith("<svg") and "Step Functions" in bundle["image/svg+xml"]


def test_outputs_table_lists_every_output():
    html = outputs_table({"ApproveUrl": "http://x/allow", "DenyUrl": "http://x/deny"})._repr_html_()
    assert "ApproveUrl" in html and "http://x/deny" in html


def test_local_target_uses_the_endpoint_its_key_and_us_east_1(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKSHOP_ENDPOINT", "http://127.0.0.1:9999")
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path / "state"))
    cloud = connect("local")
    with pytest.raises(credentials.CredentialsNotFound, match="make local"):
        cloud.client("iam")  # nothing runs there: say how to start it
    first = credentials.new("http://127.0.0.1:9999")
    credentials.write(first)
    client = cloud.client("iam")
    assert cloud.endpoint == "http://127.0.0.1:9999"
    assert client.meta.endpoint_url == "http://127.0.0.1:9999" and client.meta.region_name == "us-east-1"
    assert client._request_signer._credentials.access_key == first.access_key_id
    second = credentials.new("http://127.0.0.1:9999")  # the local cloud restarted: a new key
    credentials.write(second)
    assert cloud.client("iam")._request_signer._credentials.access_key == second.access_key_id
    assert "--endpoint-url http://127.0.0.1:9999" in cloud.cli_prefix()
    assert connect("aws").endpoint is None and connect("aws").region == "us-east-1"
    with pytest.raises(ValueError):
        connect("azure")


def test_stack_not_deployed_says_which_notebook_to_run():
    from workshop.session import StackNotFound

    with mock_aws():
        cloud = connect("aws")
        cloud._clients["cloudformation"] = boto3.client("cloudformation", region_name="us-east-1")
        with pytest.raises(StackNotFound, match="01_deploy"):
            cloud.stack_outputs("nope")
