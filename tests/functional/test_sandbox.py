"""The Lambda sandbox on every path: a function never reads another local cloud's key file.

Real local clouds in each mode this machine supports (sandbox.py): bubblewrap,
and the Landlock fence the local cloud falls back to without it. Next to each,
a second local cloud whose key file (in the shared state dir) the function
tries to read, with the learner's home. Without any sandbox the local cloud
says so loudly, at start and in `workshop local status`. And `make setup`
leaves bubblewrap installed where it can.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404: make and the kit's own CLI, as argument lists
import sys
from pathlib import Path

import pytest

from lambda_packages import zip_package
from workshop.localcloud import LocalCloud
from workshop.localcloud.server import credentials
from workshop.localcloud.services.awslambda import landlock, sandbox

ROOT = Path(__file__).resolve().parents[2]
READER = """
import json, os

def handler(event, context):
    seen = {}
    for path in event["paths"]:
        try:
            with open(path) as handle:
                seen[path] = handle.read()
        except OSError as exc:
            seen[path] = "refused: " + type(exc).__name__
    for folder in event["folders"]:
        try:
            seen[folder] = os.listdir(folder)
        except OSError as exc:
            seen[folder] = "refused: " + type(exc).__name__
    return seen
"""

MODES = [pytest.param({}, "bubblewrap", id="bubblewrap",
                      marks=pytest.mark.skipif(sandbox.bwrap() is None, reason="bubblewrap cannot run here")),
         pytest.param({"LOCALCLOUD_SANDBOX": "landlock"}, "landlock", id="landlock",
                      marks=pytest.mark.skipif(not landlock.available(), reason="this kernel has no Landlock"))]


@pytest.mark.parametrize("settings, mode", MODES)
def test_a_function_cannot_read_another_local_clouds_key_file(settings, mode, tmp_path):
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = learner-secret\n")
    with LocalCloud(extra_env=settings) as other, LocalCloud(extra_env={**settings, "HOME": str(home)}) as cloud:
        health = cloud.health()
        assert health["lambda_sandbox"] == mode and health["lambda_isolation"].startswith("sandbox")
        iam, lam = cloud.client("iam"), cloud.client("lambda")
        role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam.create_function(FunctionName="reader", Runtime="python3.13", Role=role, Handler="app.handler",
                            Code={"ZipFile": zip_package({"app.py": READER})}, Timeout=30)
        theirs = credentials.path_for(other.endpoint)
        ours = credentials.path_for(cloud.endpoint)
        event = {"paths": [str(theirs), str(ours), str(home / ".aws" / "credentials")],
                 "folders": [str(theirs.parent), str(home)]}
        answer = lam.invoke(FunctionName="reader", Payload=json.dumps(event))
        seen = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, seen
        assert all(str(value).startswith("refused") for value in seen.values()), seen
        assert other.credentials.secret_access_key not in json.dumps(seen)


def test_without_a_sandbox_the_local_cloud_says_so_loudly(tmp_path):
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log, LocalCloud(log_file=log, extra_env={"LOCALCLOUD_NO_SANDBOX": "1"}) as cloud:
        health = cloud.health()
        assert health["lambda_sandbox"] == "environment"
        assert health["lambda_isolation"].startswith("environment only")
        status = subprocess.run([sys.executable, "-m", "workshop.localcloud", "status", "--port", str(cloud.port)],
                                capture_output=True, text=True, timeout=60)  # nosec B603
        assert status.returncode == 0
        assert "WARNING: Lambda functions run without bubblewrap's sandbox" in status.stderr
    said = log_path.read_text()
    assert "WARNING: Lambda functions run without bubblewrap's sandbox" in said
    assert "a function can read every file you can" in said


@pytest.mark.skipif(os.geteuid() != 0 and shutil.which("sudo") is None, reason="no root and no sudo: make setup "
                    "cannot install bubblewrap here, and says so")
def test_make_setup_leaves_bubblewrap_working():
    done = subprocess.run(["make", "-s", "setup"], cwd=ROOT, capture_output=True, text=True, timeout=900)  # nosec B603 B607
    assert done.returncode == 0, done.stderr
    found = subprocess.run([sys.executable, "-c", "from workshop.localcloud.services.awslambda import sandbox; "
                            "print(sandbox.mode())"], capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if not k.startswith("LOCALCLOUD_")})  # nosec B603
    assert shutil.which("bwrap") and found.stdout.strip() == "bubblewrap", (done.stderr, found.stderr)
