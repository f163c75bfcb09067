"""Firing policies, reading their versions, cleaning up; the stack views (moto in-process)."""

import json
from datetime import datetime, timezone

import boto3
import pytest
from moto import mock_aws

from workshop.aws.iam_changes import (FiredPolicy, _matches, delete_workshop_policies, fire_policy, fire_policy_version,
                               fire_user_policy, policy_versions, unique_policy_name)
from workshop.localcloud.server import credentials
from workshop.aws.session import connect
from workshop.display import show
from workshop.display.stack import architecture, outputs_table

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
    assert "The same call with the AWS CLI" in show(fired)._repr_html_() and repr(show(fired)) == repr(fired)
    assert "✅ in force" in show(versions)._repr_html_()
    edit = fire_policy_version(cloud, fired.arn, ROOT / "policies" / "goodpolicy.json")
    assert edit.event_name == "CreatePolicyVersion" and edit.version_id == "v2"
    assert "--set-as-default" in edit.cli
    assert policy_versions(cloud.client("iam"), fired.arn).default_document()["Statement"][0]["Sid"] == "ReadReports"


@mock_aws
def test_a_document_given_as_its_text_is_sent_as_it_is_spelt():
    """Text is no file name: longer than a file name may be, it must not be looked up as one."""
    cloud = InProcess()
    text = (ROOT / "policies" / "badpolicy.json").read_text().replace('"Version"', '"Version" ')
    fired = fire_policy(cloud, text, name="workshop-bad-policy-text")
    assert fired.document == text and fired.cli.endswith("--policy-document '<document>'")
    cloud.client("iam").create_user(UserName="u")
    inline = fire_user_policy(cloud, "u", "extra", text)
    assert inline.document == text and inline.cli.endswith("--policy-document '<document>'")


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


def test_show_has_a_view_for_each_record_of_the_aws_layer_only():
    with pytest.raises(TypeError, match="no view for dict"):
        show({"not": "a record"})


def test_architecture_is_mermaid_and_svg():
    bundle = architecture()._repr_mimebundle_()
    assert bundle["text/vnd.mermaid"].startswith("flowchart LR")
    assert bundle["image/svg+xml"].startswith("<svg") and "Step Functions" in bundle["image/svg+xml"]


def _crosses(segment, box, margin=0.0) -> bool:
    """Does the segment pass through the box (shrunk by `margin`)? Sampled finely: boxes are tens of px."""
    (x1, y1), (x2, y2) = segment
    bx, by, bw, bh = box
    for step in range(201):
        t = step / 200
        x, y = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
        if bx + margin < x < bx + bw - margin and by + margin < y < by + bh - margin:
            return True
    return False


def test_the_architecture_picture_has_no_label_on_a_box_or_a_line_and_no_line_through_a_box():
    from workshop.display.stack import architecture_layout

    layout = architecture_layout()
    width, height = layout["size"]
    assert width <= 900  # a notebook's width: nothing shrinks
    boxes, lines, labels = layout["boxes"], layout["lines"], layout["labels"]
    for edge, label in labels.items():
        x, y, w, h = label
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height, edge
        for name, box in boxes.items():
            bx, by, bw, bh = box
            assert x + w <= bx or bx + bw <= x or y + h <= by or by + bh <= y, f"{edge} label on the {name} box"
        for other, points in lines.items():
            if other != edge:
                assert not any(_crosses(s, label) for s in zip(points, points[1:])), f"{edge} label on {other}"
    for (a, b), points in lines.items():
        for name, box in boxes.items():
            if name not in (a, b):
                assert not any(_crosses(s, box, margin=1) for s in zip(points, points[1:])), f"{a}->{b} crosses {name}"


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
    from workshop.aws.session import StackNotFound

    with mock_aws():
        cloud = connect("aws")
        cloud._clients["cloudformation"] = boto3.client("cloudformation", region_name="us-east-1")
        with pytest.raises(StackNotFound, match="01_deploy"):
            cloud.stack_outputs("nope")


def test_the_aws_target_never_goes_to_a_configured_endpoint_url(monkeypatch, tmp_path):
    """AWS_ENDPOINT_URL (left over from the local cloud's `workshop local env`) and a profile's
    endpoint_url must not send the AWS target's calls to 127.0.0.1. (Dummy credentials: without them
    boto3 would look for an instance's, over the network.)"""
    from workshop.aws.session import AWS_TEST_ENDPOINT

    config = tmp_path / "config"
    config.write_text("[default]\nregion = eu-west-1\nendpoint_url = http://127.0.0.1:4566\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4566")
    monkeypatch.delenv(AWS_TEST_ENDPOINT, raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):  # the profile's region is the one to read
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    cloud = connect("aws")
    assert cloud.client("sts").meta.endpoint_url == "https://sts.us-east-1.amazonaws.com"
    assert cloud.client("iam").meta.endpoint_url.startswith("https://iam.")
    assert cloud.client("stepfunctions").meta.region_name == "us-east-1"
    assert cloud.configured_region() == "eu-west-1"


def test_the_test_endpoint_override_refuses_anything_but_an_aws_like_local_cloud(monkeypatch, tmp_path):
    from workshop.aws.session import AWS_TEST_ENDPOINT, aws_test_endpoint

    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    for value in ("https://127.0.0.1:4566", "http://example.org:4566", "http://127.0.0.1", "http://10.0.0.1:4566",
                  "http://127.0.0.1:4566/path"):
        with pytest.raises(ValueError, match="only a local cloud on this machine"):
            aws_test_endpoint({AWS_TEST_ENDPOINT: value})
    with pytest.raises(credentials.CredentialsNotFound):  # no local cloud of this user there
        aws_test_endpoint({AWS_TEST_ENDPOINT: "http://127.0.0.1:9"})
    assert aws_test_endpoint({}) is None


@mock_aws
def test_finding_the_execution_reads_one_page_and_describes_each_execution_once():
    from workshop.aws.iam_changes import find_execution

    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(name="m", roleArn=role, definition=json.dumps(
        {"StartAt": "W", "States": {"W": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    for i in range(3):
        sfn.start_execution(stateMachineArn=machine, name=f"other-{i}", input="{}")
    calls = []
    original = sfn.describe_execution
    sfn.describe_execution = lambda **kw: calls.append(kw["executionArn"]) or original(**kw)
    listed = []
    original_list = sfn.list_executions
    sfn.list_executions = lambda **kw: listed.append(kw) or original_list(**kw)
    seen = set()
    fired = _fired("CreatePolicy")
    assert find_execution(sfn, machine, fired, seen) is None
    assert find_execution(sfn, machine, fired, seen) is None
    assert len(calls) == 3 and len(seen) == 3  # the second poll described nothing again
    assert all("nextToken" not in kw and kw["maxResults"] == 50 for kw in listed)
    event = json.loads((ROOT / "events" / "create_policy.json").read_text())
    event["detail"]["responseElements"]["policy"]["arn"] = fired.arn
    started = sfn.start_execution(stateMachineArn=machine, name="mine", input=json.dumps(event))["executionArn"]
    assert find_execution(sfn, machine, fired, seen) == started


def test_polling_on_aws_backs_off_to_five_seconds(tmp_path, monkeypatch):
    from workshop.localcloud.server import credentials
    from workshop.waiting import poll_intervals, wait_for

    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    credentials.write(credentials.new("http://127.0.0.1:9"))  # the key file a local cloud there would leave

    class Clock:
        now = 0.0
        pauses = []

        def __call__(self):
            return self.now

        def sleep(self, seconds):
            self.pauses.append(seconds)
            self.now += seconds

    clock = Clock()
    aws = poll_intervals(InProcess())
    with pytest.raises(Exception, match="Gave up after 60 s"):
        wait_for(lambda: None, what="x", timeout=60, progress=False, clock=clock, sleep=clock.sleep, **aws)
    assert clock.pauses[0] == 1.0 and max(clock.pauses) == 5.0 and len(clock.pauses) < 20
    assert poll_intervals(connect("local", "http://127.0.0.1:9")) == {"interval": 0.5}
    rehearsal = type("Rehearsal", (InProcess,), {"test_endpoint": "http://127.0.0.1:9"})()
    assert poll_intervals(rehearsal) == {"interval": 0.5}  # the AWS-like cloud on this machine: no rate limits


@mock_aws
def test_stack_substitutions_fall_back_to_stand_ins_only_on_the_local_target():
    from workshop.teaching.builder import StackValuesUnreadable, stack_substitutions
    from workshop.teaching.reference import DEFAULT_SUBSTITUTIONS

    class Local(InProcess):
        is_local = True

    assert stack_substitutions(Local(), None) == DEFAULT_SUBSTITUTIONS
    with pytest.raises(StackValuesUnreadable, match="state machine ARN is missing"):
        stack_substitutions(InProcess(), None)
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:gone"
    assert stack_substitutions(Local(), missing) == DEFAULT_SUBSTITUTIONS
    with pytest.raises(StackValuesUnreadable, match="could not be read"):
        stack_substitutions(InProcess(), missing)
