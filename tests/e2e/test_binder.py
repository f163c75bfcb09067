"""binder/start as mybinder.org runs it: a clean environment, then the command it wraps.

`binder/start CMD...` must start the local cloud, deploy the stack without
`sam build` (Binder has no python3.13), run CMD with WORKSHOP_ENDPOINT and the
local cloud's key (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) set, and
leave nothing running once CMD ends (the local cloud and its Lambda workers
stop with it).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MARKER = "BINDER-START-OK"

# Runs as the command binder/start wraps: plain boto3 against WORKSHOP_ENDPOINT.
CHECK = r"""
import json, os, time, urllib.request
import boto3

endpoint = os.environ["WORKSHOP_ENDPOINT"]
health = json.load(urllib.request.urlopen(endpoint + "/_localcloud/health", timeout=5))
# binder/start exports the local cloud's endpoint and per-start key: plain boto3 needs nothing else.
assert os.environ["AWS_ENDPOINT_URL"] == endpoint and os.environ["AWS_ACCESS_KEY_ID"].startswith("LCAK")
kw = {}
stack = boto3.client("cloudformation", **kw).describe_stacks(StackName="security-orchestrator")["Stacks"][0]
# The source-deployed Lambdas run: a bad policy is reverted (ValidatePolicy, RevertPolicy).
iam = boto3.client("iam", **kw)
document = open("policies/badpolicy.json").read()
arn = iam.create_policy(PolicyName="binder-check", PolicyDocument=document)["Policy"]["Arn"]
deadline = time.monotonic() + 60
reverted = False
while not reverted and time.monotonic() < deadline:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    reverted = any(s.get("Sid") == "RevertedBySecurityOrchestrator" for s in document["Statement"])
    time.sleep(0.2)

def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if entry.isdigit() and int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return found

print("MARKER", json.dumps({"pid": health["pid"], "children": children(health["pid"]),
                            "stack": stack["StackStatus"], "outputs": [o["OutputKey"] for o in stack["Outputs"]],
                            "reverted": reverted, "cwd": os.getcwd()}), flush=True)
""".replace("MARKER", MARKER)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its parent has not reaped it yet


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(0.1)


def test_binder_start_serves_the_deployed_stack_and_leaves_nothing_running(tmp_path):
    port = free_port()
    clean = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path),
             "WORKSHOP_PORT": str(port)}
    command = ["env", "-i", *(f"{k}={v}" for k, v in clean.items()),
               str(ROOT / "binder" / "start"), "python", "-c", CHECK]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    assert lines, output[-4000:]
    seen = json.loads(lines[-1][len(MARKER):])

    assert seen["stack"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert {"ApproveUrl", "DenyUrl", "StateMachineArn"} <= set(seen["outputs"])
    assert seen["reverted"], "the stack deployed from the source folders did not revert the bad policy"
    assert seen["cwd"] == str(ROOT), "binder/start runs the command from the repository root"
    assert " build --template-file" not in output, "binder/start must not run `sam build`"

    # The command has ended: the local cloud and its Lambda workers stop by themselves.
    processes = [seen["pid"], *seen["children"]]
    wait_until(lambda: not any(alive(pid) for pid in processes), 20,
               f"the local cloud {processes} stopped after the command ended")
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on port {port}"


def test_binder_files_describe_a_repo2docker_build():
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert "-c ../constraints.txt" in requirements  # relative to the requirements file, as pip reads it
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    major_minor = runtime.removeprefix("python-")
    assert runtime.startswith("python-") and tuple(map(int, major_minor.split("."))) >= (3, 11)
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "-c constraints.txt" in post_build and "-e ." in post_build
    for script in ("postBuild", "start"):
        assert os.access(ROOT / "binder" / script, os.X_OK), f"binder/{script} must be executable"
    assert "--exit-with-pid" not in (ROOT / "binder" / "start").read_text()
