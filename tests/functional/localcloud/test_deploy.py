"""workshop.aws.deploy: the failures a learner hits say what to do."""

import io
import os
import subprocess
import sys

import pytest

from workshop.aws import deploy


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
