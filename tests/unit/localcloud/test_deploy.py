"""workshop.deploy: the failures a learner hits say what to do."""

import io
import os
import subprocess
import sys

import pytest

from workshop import deploy
from workshop.localcloud import credentials


def test_a_local_cloud_that_is_not_running_says_start_it(monkeypatch):
    from workshop.localcloud.server import free_port

    port = free_port()
    with pytest.raises(deploy.DeployError, match="start it with `make local`") as caught:
        deploy.deploy(target="local", endpoint=f"http://127.0.0.1:{port}", stream=io.StringIO())
    assert str(port) in str(caught.value)


def test_the_cli_prints_the_problem_and_exits_1(capsys):
    from workshop.localcloud.server import free_port

    assert deploy.main(["--endpoint", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "is not answering" in capsys.readouterr().err


def test_a_missing_sam_is_explained(monkeypatch, tmp_path):
    monkeypatch.setattr(deploy.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(deploy.shutil, "which", lambda name: None)
    with pytest.raises(deploy.DeployError, match="`sam` command"):
        deploy.sam_executable()


def test_aws_outside_us_east_1_is_explained(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with pytest.raises(deploy.DeployError, match="only to us-east-1"):
        deploy.check_aws({"AWS_REGION": "eu-west-1"})


def test_aws_without_credentials_is_explained(tmp_path):
    # A separate process with a scrubbed environment: credentials that other
    # tests (or moto) leave in this process must not hide the message.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_REGION": "us-east-1",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_EC2_METADATA_DISABLED": "true"}
    code = ("from workshop import deploy\n"
            "try:\n    deploy.check_aws({'AWS_REGION': 'us-east-1'})\n"
            "except deploy.DeployError as exc:\n    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "no AWS credentials found" in result.stdout and "aws configure" in result.stdout, result


def test_the_local_environment_points_sam_at_the_endpoint():
    key = credentials.new("http://127.0.0.1:4566")
    env = deploy.local_environment("http://127.0.0.1:4566", base={"AWS_PROFILE": "work", "PATH": "/bin"},
                                   credentials=key)
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == key.access_key_id and env["AWS_SECRET_ACCESS_KEY"] == key.secret_access_key
    assert "AWS_PROFILE" not in env and env["PATH"] == "/bin"


def test_a_local_cloud_that_stops_during_sam_deploy_stops_it_at_once(tmp_path):
    """sam retries a vanished endpoint for half a minute in silence; the deploy says why it stopped instead."""
    from workshop.localcloud.server import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing answers there: as if it just died
    marker = tmp_path / "finished"
    command = [sys.executable, "-c", f"import time; time.sleep(60); open({str(marker)!r}, 'w').close()"]
    with pytest.raises(deploy.DeployError, match="is not answering") as caught:
        deploy._run(command, dict(os.environ), tmp_path, io.StringIO(), endpoint=endpoint)
    assert not marker.exists()  # the command was stopped, not waited for
    assert "it stopped during" in str(caught.value) and "make local" in str(caught.value)
