"""A learner's server in a class: their notebooks, their own local cloud with the stack, then JupyterLab.

JupyterHub's spawner runs this instead of `jupyterhub-singleuser` (as the
learner's OS user where the spawner gives one, in their home), with the
arguments the hub passes on:

    python -m workshop.classroom.learner [jupyterhub-singleuser arguments...]

The same start as `make lab` (scripts/run_lab.py) and Binder (binder/start):

1. the workshop's notebooks are copied into `~/notebooks` (a learner's own
   copy; notebooks already there are theirs and are never overwritten);
2. a local cloud is started on a free port with a per-start key written in
   the learner's own state folder (`~/.cache/workshop`, mode 0700), kept
   running by `workshop.localcloud.supervisor` (restarted on the same port
   with the same key if it dies);
3. the stack is deployed to it (every start: a local cloud starts empty),
   from the class's shared `sam build` output when `make class` made one, so
   that notebook 00 can begin at once;
4. `jupyterhub-singleuser` runs with the local cloud's endpoint and key in its
   environment (plain boto3 in a notebook talks to it), kernels on Unix
   sockets in a private folder, and the class's JupyterLab settings
   (class/jupyter: the banner over each notebook with the local cloud's state
   and the facilitator's note, `workshop.classroom.status`; no question about
   JupyterLab's news feed, which a room without internet cannot reach);
5. when the server stops (the hub stops it, the idle culler, or it dies) the
   local cloud stops with it, Lambda workers included.

The facilitator's view is told when the local cloud comes up and goes down
(`workshop.progress`, with the server's own hub token). The deploy is not the
learner's progress: it runs without the progress address.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess  # nosec B404: starts the deploy and JupyterLab as argument lists, never through a shell
import sys
import tempfile
from pathlib import Path

STACK_NAME = "security-orchestrator"
CLASS_JUPYTER = "class/jupyter"  # the class's JupyterLab settings and banner extension, in the checkout
NOTEBOOKS = "notebooks"


def project_root() -> Path:
    """The checkout (template.yaml beside src/): the learner reads it, never writes to it."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "template.yaml").is_file() and (parent / NOTEBOOKS).is_dir():
            return parent
    raise RuntimeError(f"the workshop's checkout (template.yaml, notebooks/) is not above {here}")


def copy_notebooks(source: Path, home: Path) -> list:
    """Copy the workshop's notebooks into `home/notebooks`; a notebook already there is the learner's: kept."""
    copied = []
    for path in sorted(source.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        target = home / NOTEBOOKS / path.relative_to(source)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied.append(target)
    return copied


def deploy_stack(endpoint: str, environment: dict, log, shared_build: str | None, attempts: int = 2) -> bool:
    """Deploy the stack to the learner's local cloud (in a process of its own, so this one stays small).

    A second try follows a failed one: forty learners logging in at once load a class server enough
    for a deploy to give up on its first try."""
    command = [sys.executable, "-m", "workshop.cli", "deploy", "--target", "local", "--endpoint", endpoint,
               "--stack-name", STACK_NAME]
    env = {k: v for k, v in environment.items() if k not in ("WORKSHOP_PROGRESS_URL", "WORKSHOP_SHARED_BUILD")}
    if shared_build and (Path(shared_build) / "template.yaml").is_file():
        env["WORKSHOP_SHARED_BUILD"] = shared_build  # `workshop deploy` deploys it as it is: no build
    else:
        command += ["--no-build"]  # the functions need no third-party packages (as on Binder)
    for attempt in range(1, attempts + 1):
        log.write(f"Deploying {STACK_NAME} to {endpoint} (try {attempt} of {attempts})\n")
        log.flush()
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              stdin=subprocess.DEVNULL, cwd=str(project_root()))  # nosec B603: the kit's own deploy
        log.write(done.stdout)
        log.flush()
        if done.returncode == 0:
            return True
        print(f"The stack's deploy at start failed (try {attempt} of {attempts}):\n"
              + "\n".join(done.stdout.splitlines()[-15:]), flush=True)
    return False


def server_command(argv: list, sockets: str) -> list:
    singleuser = Path(sys.executable).with_name("jupyterhub-singleuser")
    command = [str(singleuser) if singleuser.exists() else "jupyterhub-singleuser", *argv,
               "--KernelManager.transport=ipc", f"--KernelManager.ip={sockets}/kernel"]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in argv:
        command.append("--allow-root")  # the demo mode on a machine that runs everything as root
    return command


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from workshop import progress
    from workshop.failures import SUPERVISED_ENV
    from workshop.localcloud.server import credentials
    from workshop.localcloud.supervisor import Supervisor

    home = Path(os.environ.get("HOME") or Path.home())
    os.chdir(home)
    root = project_root()
    # Progress reports are the learner's kernels' to make; this process tells only its own two facts.
    reporting = {k: os.environ[k] for k in (progress.URL_VARIABLE, progress.TOKEN_VARIABLE) if k in os.environ}
    copy_notebooks(root / NOTEBOOKS, home)
    state = credentials.state_dir()
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    log = open(state / "local-cloud.log", "a")  # noqa: SIM115: open for the server's whole life
    sockets = tempfile.mkdtemp(prefix="workshop-kernels-")

    def say(line: str) -> None:
        print(line, flush=True)
        if "starting it again" in line:
            progress.record("", "local-cloud", "down", line, environ=reporting)
        elif "running again" in line:
            progress.record("", "local-cloud", "up", line, environ=reporting)

    # The hub's token and addresses are JupyterLab's, not the local cloud's (it runs the learner's Lambda code).
    hub_env = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("JUPYTERHUB_")}
    supervisor = Supervisor(None, log, say=say)
    server = None
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        if server is not None and server.poll() is None:
            server.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        print(f"Local cloud ready at {supervisor.endpoint} (log: {state / 'local-cloud.log'})", flush=True)
        cloud_env = supervisor.cloud.environment()
        progress.record("", "local-cloud", "up", supervisor.endpoint, environ=reporting)
        deployed = deploy_stack(supervisor.endpoint, {**os.environ, **cloud_env}, log,  # no hub token in it
                                os.environ.get("WORKSHOP_SHARED_BUILD"))
        progress.record("01_deploy", "stack", "deployed" if deployed else "failed",
                        None if deployed else f"the deploy at start failed: see {state / 'local-cloud.log'}",
                        environ=reporting)
        if not deployed:
            print(f"The stack could not be deployed at start ({state / 'local-cloud.log'}): notebook 01 "
                  "deploys it again.", flush=True)
        if stopping:
            return 0
        jupyter = str(root / CLASS_JUPYTER)
        env = {**os.environ, **hub_env, **cloud_env, "WORKSHOP_ENDPOINT": supervisor.endpoint, SUPERVISED_ENV: "1",
               "SAM_CLI_TELEMETRY": "0",
               "JUPYTER_PATH": os.pathsep.join(filter(None, [jupyter, os.environ.get("JUPYTER_PATH")])),
               "JUPYTER_CONFIG_PATH": os.pathsep.join(filter(None, [jupyter, os.environ.get("JUPYTER_CONFIG_PATH")]))}
        supervisor.start_watching()
        server = subprocess.Popen(server_command(argv, sockets), env=env,  # nosec B603: the venv's jupyterhub-singleuser, no shell
                                  cwd=str(home))
        while True:
            try:
                return server.wait()
            except InterruptedError:  # a signal arrived: stop() forwarded it; keep waiting for the server
                continue
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        supervisor.stop()
        progress.record("", "local-cloud", "down", "the learner's server stopped", environ=reporting)
        shutil.rmtree(sockets, ignore_errors=True)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
