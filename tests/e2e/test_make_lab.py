"""`make lab`: the local cloud and JupyterLab start together and stop together."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from workshop.localcloud.server import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_lab_and_local_cloud_start_and_stop_together(tmp_path):
    lab_port, cloud_port = free_port(), free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "run_lab.py"), "--port", str(cloud_port), "--lab-port", str(lab_port),
         "--no-browser", "--IdentityProvider.token=t0ken"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = process.stdout.readline()
        assert f"Local cloud ready at http://127.0.0.1:{cloud_port}" in line, line
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{lab_port}/api/status?token=t0ken", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            pytest.fail("JupyterLab did not answer")
        assert requests.get(f"http://127.0.0.1:{cloud_port}/_localcloud/health", timeout=5).json()["status"] == "ready"
        children = psutil.Process(process.pid).children(recursive=True)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
        process.wait(timeout=60)
        output = process.stdout.read()
        assert "Stopping the local cloud." in output
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
        with pytest.raises(requests.RequestException):
            requests.get(f"http://127.0.0.1:{cloud_port}/_localcloud/health", timeout=2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
