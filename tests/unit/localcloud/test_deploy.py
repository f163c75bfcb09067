"""workshop.aws.deploy: the failures a learner hits say what to do."""

import io
import os
import subprocess
import sys

import pytest

from workshop.aws import deploy
from workshop.localcloud.server import credentials


def test_a_local_cloud_that_is_not_running_says_start_it(monkeypatch, tmp_path):
    from workshop.localcloud import free_port

    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))  # no other local cloud of "the learner" to point at
    port = free_port()
    with pytest.raises(deploy.DeployError, match="To start it: `make local`") as caught:
        deploy.deploy(target="local", endpoint=f"http://127.0.0.1:{port}", stream=io.StringIO())
    assert str(port) in str(caught.value)


def test_the_cli_prints_the_problem_and_exits_1(capsys, monkeypatch, tmp_path):
    from workshop.localcloud import free_port

    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    assert deploy.main(["--endpoint", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "is not answering" in capsys.readouterr().err


def test_a_missing_sam_is_explained(monkeypatch, tmp_path):
    monkeypatch.setattr(deploy.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(deploy.shutil, "which", lambda name: None)
    with pytest.raises(deploy.DeployError, match="`sam` command"):
        deploy.sam_executable()


def test_aws_outside_us_east_1_is_a_note_not_a_stop():
    note = deploy.region_warning("eu-west-1")
    assert "eu-west-1" in note and "us-east-1" in note and "nothing to change" in note
    assert deploy.region_warning("us-east-1") is None


def test_aws_without_credentials_is_explained(tmp_path):
    # A separate process with a scrubbed environment: credentials that other
    # tests (or moto) leave in this process must not hide the message.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_REGION": "us-east-1",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_EC2_METADATA_DISABLED": "true"}
    code = ("from workshop.aws import deploy\nfrom workshop.aws.session import connect\n"
            "try:\n    deploy.check_aws(connect('aws'))\n"
            "except deploy.DeployError as exc:\n    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "no AWS credentials found" in result.stdout and "aws configure" in result.stdout, result


@pytest.mark.parametrize("address", ["learner@example.com", "a@EXAMPLE.org", "x@sub.example.net", "me@host.test",
                                     "me@invalid", "me@box.localhost", "me@my.example", "", "not-an-address"])
def test_addresses_that_receive_no_mail_are_placeholders(address):
    assert deploy.is_placeholder_address(address)


@pytest.mark.parametrize("address", ["me@security-orchestrator.dev", "a.b@mail.examples.com", "x@testing.org"])
def test_real_looking_addresses_are_not_placeholders(address):
    assert not deploy.is_placeholder_address(address)


def test_the_local_environment_points_sam_at_the_endpoint(tmp_path, monkeypatch):
    from workshop.aws.session import connect

    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    key = credentials.new("http://127.0.0.1:4566")
    credentials.write(key)
    env = connect("local", "http://127.0.0.1:4566").sam_environment(base={"AWS_PROFILE": "work", "PATH": "/bin"})
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == key.access_key_id and env["AWS_SECRET_ACCESS_KEY"] == key.secret_access_key
    assert "AWS_PROFILE" not in env and env["PATH"] == "/bin"


def test_a_local_cloud_that_stops_during_sam_deploy_stops_it_at_once(tmp_path):
    """sam retries a vanished endpoint for half a minute in silence; the deploy says why it stopped instead."""
    from workshop.localcloud import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing answers there: as if it just died
    marker = tmp_path / "finished"
    command = [sys.executable, "-c", f"import time; time.sleep(60); open({str(marker)!r}, 'w').close()"]
    with pytest.raises(deploy.DeployError, match="is not answering") as caught:
        deploy._run(command, dict(os.environ), tmp_path, io.StringIO(), endpoint=endpoint)
    assert not marker.exists()  # the command was stopped, not waited for
    assert "it stopped during" in str(caught.value) and "make local" in str(caught.value)


def test_the_aws_environment_keeps_the_profile_and_drops_every_endpoint_url(monkeypatch):
    from workshop.aws.session import AWS_TEST_ENDPOINT, connect

    monkeypatch.delenv(AWS_TEST_ENDPOINT, raising=False)
    env = connect("aws").sam_environment(base={
        "AWS_PROFILE": "work", "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_ENDPOINT_URL_CLOUDFORMATION": "http://127.0.0.1:4566", "PATH": "/bin"})
    assert env["AWS_PROFILE"] == "work" and env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert not [name for name in env if name.startswith("AWS_ENDPOINT_URL")]
    assert env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] == "true"
