"""What one learner of a class costs: memory at rest and during notebook 03, CPU for 00-04, cold starts.

    .venv/bin/python benchmarks/run.py class

A learner's server in a class (`workshop.classroom.learner`) is a local cloud
with the stack deployed, a JupyterLab server and a kernel per open notebook.
Measured here on one learner's worth of processes, outside the hub (the hub,
its proxy and the facilitator's service are shared by the class):

* cloud_warm_mb                 local cloud (server + Lambda workers, resident) at its peak over
                                notebooks 03 and 04, workers warm: what a local cloud held before
                                idle workers were stopped (the issue measured ~640 MB)
* cloud_rest_mb                 the same local cloud at rest, after the idle-worker period
                                (LOCALCLOUD_LAMBDA_IDLE_SECONDS, 5 s here; 60 s by default)
* cloud_server_rest_mb          the server process alone at rest (its heap after deploy and use)
* cloud_rest_over_warm          rest / warm (goal: at most 0.5 of the issue's 640 MB)
* cloud_peak_mb_notebook_03     the local cloud's peak while notebook 03 runs (workers started)
* kernel_peak_mb_notebook_03    the notebook's kernel at its peak in 03
* jupyter_server_mb             a JupyterLab server at rest (what jupyterhub-singleuser runs)
* learner_rest_mb               cloud at rest + JupyterLab server + one idle kernel
* learner_notebook_03_mb        cloud peak + JupyterLab server + the kernel's peak, during 03
* learners_per_gb_at_rest / _during_03  1024 / those
* learner_cpu_s_00_04           CPU of every process one learner's 00-04 used (kernels, sam,
                                local cloud, workers), stack deployed with the shared build
* learners_per_core_65_min      65 min of learner time for 00-04 (docs/facilitator.md) over
                                that CPU: how many learners one core serves if their work is
                                spread over the session (bursts, e.g. everyone deploying at the
                                same minute, queue instead)
* cold_start_after_idle_ms      an invoke that finds its worker stopped for idleness (a cold
                                start) vs `warm_invoke_ms`, the same function warm
"""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
IDLE_SECONDS = 5
NOTEBOOKS = ["00_setup_check", "01_deploy", "02_build_state_machine", "03_fire_bad_policy", "04_decide"]
LEARNER_MINUTES_00_04 = 65
HANDLER = "def handler(event, context):\n    return {'echo': event}\n"


def _tree_mb(pid: int) -> tuple[float, float]:
    """(the process, the process and all its descendants): resident MB."""
    import psutil

    process = psutil.Process(pid)
    own = process.memory_info().rss
    total = own
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return own / 2**20, total / 2**20


class Peak:
    """The highest resident memory of a process tree (and of the newest kernel) while a block runs."""

    def __init__(self, cloud_pid: int, every: float = 0.1):
        self.cloud_pid, self.every = cloud_pid, every
        self.cloud = 0.0
        self.kernel = 0.0
        self._stop = threading.Event()

    def _kernels(self):
        import psutil

        return [p for p in psutil.Process().children(recursive=True)
                if "ipykernel_launcher" in " ".join(p.cmdline())]

    def _run(self):
        while not self._stop.wait(self.every):
            try:
                self.cloud = max(self.cloud, _tree_mb(self.cloud_pid)[1])
                for kernel in self._kernels():
                    self.kernel = max(self.kernel, kernel.memory_info().rss / 2**20)
            except Exception:  # a process ended between listing and reading
                continue

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _jupyter_server_mb(folder: Path) -> float:
    """A JupyterLab server (jupyter_server with the lab extension) at rest, resident MB."""
    import subprocess

    from workshop.localcloud import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             f"--ServerApp.root_dir={folder}", "--IdentityProvider.token=bench",
                             *(["--allow-root"] if os.geteuid() == 0 else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=bench", timeout=1)  # nosec B310
                break
            except OSError:
                time.sleep(0.2)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token=bench", timeout=10).read()  # nosec B310
        time.sleep(2)
        return _tree_mb(proc.pid)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _idle_kernel_mb(folder: Path) -> float:
    from jupyter_client.manager import KernelManager

    sockets = tempfile.mkdtemp(prefix="bench-kernel-")
    manager = KernelManager(kernel_name="python3", transport="ipc", ip=f"{sockets}/kernel")
    manager.start_kernel(cwd=str(folder))
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        # what every notebook's first cell imports
        client.execute_interactive("from workshop.aws import connect, project_root", timeout=60)
        client.stop_channels()
        return _tree_mb(manager.provisioner.process.pid)[0]
    finally:
        manager.shutdown_kernel(now=True)


def _cold_start_after_idle(cloud) -> dict:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    iam, lam = cloud.client("iam"), cloud.client("lambda")
    role = iam.create_role(RoleName=f"bench-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    name = f"bench-idle-{uuid.uuid4().hex[:6]}"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                        Code={"ZipFile": buffer.getvalue()})
    lam.invoke(FunctionName=name, Payload=b"{}")  # cold
    start = time.perf_counter()
    lam.invoke(FunctionName=name, Payload=b"{}")
    warm = (time.perf_counter() - start) * 1000
    time.sleep(IDLE_SECONDS * 2)  # the worker is stopped for idleness
    start = time.perf_counter()
    lam.invoke(FunctionName=name, Payload=b"{}")
    cold = (time.perf_counter() - start) * 1000
    return {"warm_invoke_ms": round(warm, 1), "cold_start_after_idle_ms": round(cold, 1)}


def run() -> dict:
    from workshop.aws.deploy import build
    from workshop.localcloud import LocalCloud
    from workshop.teaching.notebook_run import run_notebook
    from workshop.teaching.exercises import exercise_answers

    os.environ["LOCALCLOUD_LAMBDA_IDLE_SECONDS"] = str(IDLE_SECONDS)
    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    folder = Path(tempfile.mkdtemp(prefix="bench-class-"))
    built = build(build_dir=folder / "sam-build", project_dir=ROOT, stream=io.StringIO())
    os.environ["WORKSHOP_SHARED_BUILD"] = str(built.parent)  # as a class's learners deploy
    figures = {}
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    with LocalCloud() as cloud:
        parameters = {"target": "local", "endpoint": cloud.endpoint, "decision": "deny",
                      "answers": exercise_answers("right")}
        warm = 0.0
        for name in NOTEBOOKS:
            path = ROOT / "notebooks" / f"{name}.ipynb"
            with Peak(cloud.proc.pid) as peak:
                result = run_notebook(path, folder / "out", parameters)
            if not result.ok:
                raise RuntimeError(f"{name} failed: {result.error}")
            if name == "03_fire_bad_policy":
                figures["cloud_peak_mb_notebook_03"] = round(peak.cloud)
                figures["kernel_peak_mb_notebook_03"] = round(peak.kernel)
            if name in ("03_fire_bad_policy", "04_decide"):
                warm = max(warm, peak.cloud)
        figures["cloud_warm_mb"] = round(warm)
        time.sleep(IDLE_SECONDS + 10)  # idle workers stop; the heap's full settle runs after 2 s of quiet
        server, total = _tree_mb(cloud.proc.pid)
        figures["cloud_rest_mb"] = round(total)
        figures["cloud_server_rest_mb"] = round(server)
        figures.update(_cold_start_after_idle(cloud))
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
           + self_after.ru_utime + self_after.ru_stime - self_before.ru_utime - self_before.ru_stime)
    figures["learner_cpu_s_00_04"] = round(cpu, 1)
    figures["learners_per_core_65_min"] = round(LEARNER_MINUTES_00_04 * 60 / cpu, 1)
    figures["cloud_rest_over_warm"] = round(figures["cloud_rest_mb"] / figures["cloud_warm_mb"], 2)
    figures["jupyter_server_mb"] = round(_jupyter_server_mb(folder))
    kernel = _idle_kernel_mb(folder)
    figures["learner_rest_mb"] = round(figures["cloud_rest_mb"] + figures["jupyter_server_mb"] + kernel)
    figures["learner_notebook_03_mb"] = round(figures["cloud_peak_mb_notebook_03"] + figures["jupyter_server_mb"]
                                              + figures["kernel_peak_mb_notebook_03"])
    figures["learners_per_gb_at_rest"] = round(1024 / figures["learner_rest_mb"], 2)
    figures["learners_per_gb_during_03"] = round(1024 / figures["learner_notebook_03_mb"], 2)
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
