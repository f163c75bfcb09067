"""`make lab`: the local cloud and JupyterLab start together, stop together, and a dead local cloud comes back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

from workshop.localcloud import free_port, health
from workshop.localcloud.server import credentials

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[3]
TOKEN = "t0ken"


class Lab:
    """scripts/run_lab.py in its own process group, its terminal output collected line by line."""

    def __init__(self, tmp_path):
        self.lab_port, self.cloud_port = free_port(), free_port()
        self.runtime = tmp_path / "runtime"
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(self.runtime),
                   JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "run_lab.py"), "--port", str(self.cloud_port),
             "--lab-port", str(self.lab_port), "--no-browser", f"--IdentityProvider.token={TOKEN}"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_text(self, text: str, timeout: float = 90):
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"{text!r} never appeared:\n{self.output[-3000:]}")
            time.sleep(0.2)

    def api(self, method: str, path: str, **kwargs):
        return requests.request(method, f"http://127.0.0.1:{self.lab_port}{path}", timeout=10,
                                headers={"Authorization": f"token {TOKEN}"}, **kwargs)

    def wait_for_lab(self, timeout: float = 90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.api("GET", "/api/status").ok:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        pytest.fail("JupyterLab did not answer")

    def kill(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def lab(tmp_path):
    started = Lab(tmp_path)
    try:
        yield started
    finally:
        started.kill()


def test_lab_and_local_cloud_start_and_stop_together(lab):
    lab.wait_for_text(f"Local cloud ready at http://127.0.0.1:{lab.cloud_port}")
    lab.wait_for_lab()
    endpoint = f"http://127.0.0.1:{lab.cloud_port}"
    assert health(endpoint)["status"] == "ready"
    assert "Stop with Ctrl-C" in lab.output
    children = psutil.Process(lab.process.pid).children(recursive=True)
    os.killpg(lab.process.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
    try:
        lab.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make lab did not stop within 60 s of Ctrl-C:\n{lab.output[-3000:]}")
    lab.wait_for_text("Stopping the local cloud.", timeout=5)
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    assert health(endpoint, timeout=2) is None
    assert "starting it again" not in lab.output


# A starter that watches its local cloud every 20 ms: had the terminal's Ctrl-C reached the local cloud,
# the watcher would see it die before the starter stops it, and start it again.
CTRL_C_STARTER = """
import sys, time
from workshop.localcloud.supervisor import Supervisor
supervisor = Supervisor(None, None, say=lambda line: print(line, flush=True), poll=0.02)
supervisor.start_watching()
try:  # the pid line is the test's cue to press Ctrl-C: said inside, so the interrupt always lands here
    print("pid", supervisor.cloud.proc.pid, flush=True)
    time.sleep(120)
except KeyboardInterrupt:
    time.sleep(1)  # time enough for a local cloud stopped by the same Ctrl-C to be seen gone
finally:
    print("stopping", flush=True)
    supervisor.stop()
"""


def test_ctrl_c_in_the_terminal_stops_the_local_cloud_once_and_never_restarts_it():
    starter = subprocess.Popen([sys.executable, "-c", CTRL_C_STARTER], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        first = starter.stdout.readline()
        assert first.startswith("pid "), first + starter.stdout.read()
        cloud = psutil.Process(int(first.split()[1]))
        os.killpg(starter.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        output = first + starter.communicate(timeout=60)[0]
    finally:
        if starter.poll() is None:
            os.killpg(starter.pid, signal.SIGKILL)
            starter.wait()
    assert "starting it again" not in output, output
    assert "stopping" in output and starter.returncode == 0, output
    cloud.wait(timeout=30)


def test_kernels_talk_over_ipc_not_tcp(lab):
    from jupyter_client import BlockingKernelClient

    lab.wait_for_lab()
    started = lab.api("POST", "/api/kernels", json={"name": "python3"})
    assert started.status_code == 201, started.text
    kernel = started.json()
    path = lab.runtime / f"kernel-{kernel['id']}.json"
    connection = json.loads(path.read_text())
    assert connection["transport"] == "ipc" and "/workshop-lab-" in connection["ip"]
    assert Path(connection["ip"]).parent.stat().st_mode & 0o777 == 0o700
    client = BlockingKernelClient(connection_file=str(path))
    client.load_connection_file()
    # A round trip on the shell socket alone: the request waits in the socket until the kernel is up, and the
    # answer comes back on it. (jupyter_client's wait_for_ready calls a kernel dead when one heartbeat is late,
    # as happens on a busy machine while the kernel starts.)
    client.start_channels(iopub=False, stdin=False, hb=False, control=False)
    try:
        asked = client.execute("", silent=True, user_expressions={"answer": "6 * 7"})
        deadline = time.monotonic() + 60
        while True:
            reply = client.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if reply["parent_header"].get("msg_id") == asked:
                break
        assert reply["content"]["status"] == "ok", reply["content"]
        assert reply["content"]["user_expressions"]["answer"]["data"]["text/plain"] == "42"
    finally:
        client.stop_channels()
    assert "Kernel is running over TCP" not in lab.output
    assert lab.api("DELETE", f"/api/kernels/{kernel['id']}").status_code == 204


def test_a_local_cloud_that_dies_comes_back_on_the_same_port_with_the_same_key(lab):
    lab.wait_for_text(f"Local cloud ready at http://127.0.0.1:{lab.cloud_port}")
    endpoint = f"http://127.0.0.1:{lab.cloud_port}"
    before = credentials.read(endpoint)
    pid = health(endpoint)["pid"]
    assert psutil.Process(pid).ppid() == lab.process.pid  # the local cloud run_lab started
    os.kill(pid, signal.SIGKILL)
    lab.wait_for_text("The local cloud stopped (exit -9); starting it again on " + endpoint)
    lab.wait_for_text(f"Local cloud running again at {endpoint} (restart 1).")
    after = credentials.read(endpoint)
    assert after.access_key_id == before.access_key_id and after.pid != before.pid
    assert health(endpoint)["status"] == "ready" and health(endpoint)["pid"] == after.pid
    assert "run 01_deploy.ipynb again" in lab.output
