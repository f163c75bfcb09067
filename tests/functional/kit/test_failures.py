"""A local cloud that stopped or restarted is explained on one screen, in a real notebook kernel.

The kernel runs a notebook with papermill (as `make workshop` does) against a
local cloud that is not there, or that restarted under it: the cell's error
is the kit's one-screen message, not a botocore traceback.
"""

from __future__ import annotations

import nbformat
import pytest

from workshop.failures import LocalCloudNotAnswering, LocalCloudRestarted, explain
from workshop.localcloud import LocalCloud, free_port
from workshop.localcloud.server import credentials
from workshop.teaching.notebook_run import run_notebook
from workshop.aws.session import StackNotFound, connect

pytestmark = pytest.mark.e2e
SCREEN = 8  # lines: what fits above the fold of a notebook cell


@pytest.fixture(autouse=True)
def own_key_files(monkeypatch, tmp_path):
    """Key files of these tests' own: another local cloud of the test session would be "the learner's local
    cloud on another port", and the messages would point at it (test_a_typo_in_the_port_... wants that)."""
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path / "state"))


def _run_cells(tmp_path, *cells):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "99_failure.ipynb"
    nbformat.write(notebook, str(path))
    result = run_notebook(path, tmp_path / "out", {})
    executed = nbformat.read(str(tmp_path / "out" / path.name), as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    return result, errors


def _assert_one_screen(error, name):
    traceback = "\n".join(error["traceback"])
    assert error["ename"] == name, error
    assert "botocore" not in traceback and "Traceback" not in traceback and "File " not in traceback
    assert len(traceback.splitlines()) <= SCREEN, traceback
    return traceback


@pytest.mark.parametrize("stale_key", [False, True], ids=["never started", "killed, key file left"])
def test_a_local_cloud_that_is_not_there_is_one_screen_in_the_notebook(tmp_path, stale_key):
    endpoint = f"http://127.0.0.1:{free_port()}"
    if stale_key:  # a server killed hard leaves its key file: boto3 then fails to connect
        credentials.write(credentials.new(endpoint, pid=1))
    result, errors = _run_cells(
        tmp_path,
        f"from workshop.aws.session import connect\ncloud = connect('local', {endpoint!r})",
        "outputs = cloud.stack_outputs('security-orchestrator')")
    assert not result.ok and len(errors) == 1
    text = _assert_one_screen(errors[0], "LocalCloudNotAnswering")
    assert f"The local cloud at {endpoint} is not answering" in text
    assert "make local" in text and "make lab" in text and "Run 01_deploy.ipynb again" in text


def test_plain_boto3_in_a_cell_is_explained_too(tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"
    credentials.write(credentials.new(endpoint, pid=1))
    _, errors = _run_cells(
        tmp_path,
        f"from workshop.aws.session import connect\ncloud = connect('local', {endpoint!r})\niam = cloud.client('iam')",
        "iam.list_policies()")
    _assert_one_screen(errors[0], "LocalCloudNotAnswering")


def test_other_errors_keep_their_traceback(tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"
    _, errors = _run_cells(tmp_path, f"from workshop.aws.session import connect\ncloud = connect('local', {endpoint!r})",
                           "1 / 0")
    assert errors[0]["ename"] == "ZeroDivisionError" and len(errors[0]["traceback"]) > 1


def test_a_restart_under_a_running_notebook_is_noticed(tmp_path):
    first = LocalCloud().start()
    try:
        session = connect("local", first.endpoint)
        session.client("iam").create_policy(PolicyName="workshop-before-restart", PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'))
        key = first.credentials
    finally:
        first.stop()
    with pytest.raises(Exception) as gone:
        session.client("iam").list_policies()
    assert isinstance(explain(gone.value, session), LocalCloudNotAnswering)
    second = LocalCloud(port=first.port, credentials=key).start()  # what `make lab` does: same port, same key
    try:
        assert second.credentials.access_key_id == key.access_key_id
        assert session.restart_note()
        with pytest.raises(StackNotFound, match="The local cloud restarted"):
            session.stack_outputs("security-orchestrator")
        with pytest.raises(Exception) as missing:
            session.client("iam").get_policy(PolicyArn="arn:aws:iam::123456789012:policy/workshop-before-restart")
        explained = explain(missing.value, session)
        assert isinstance(explained, LocalCloudRestarted)
        assert "Run 01_deploy.ipynb again" in str(explained)
    finally:
        second.stop()


def test_a_typo_in_the_port_names_the_local_cloud_that_answers(tmp_path):
    with LocalCloud() as cloud:
        typo = f"http://127.0.0.1:{free_port()}"
        _, errors = _run_cells(tmp_path, f"from workshop.aws.session import connect\ncloud = connect('local', {typo!r})")
    text = _assert_one_screen(errors[0], "LocalCloudNotAnswering")
    assert f"Nothing answers on port {typo.rsplit(':', 1)[1]}" in text
    assert f"your local cloud is on {cloud.port} ({cloud.endpoint})" in text and "make local" not in text
