"""A class's JupyterHub for the tests: started as `make class` starts it, driven through its own REST API.

    hub = ClassHub(tmp_path, learners=["ana", "ben", "cleo"], mode="system").start()
    session = hub.login("ana")                  # the hub's login form, as a browser posts it
    token = hub.token(session, "ana")           # the learner's own API token (POST /hub/api/users/ana/tokens)
    hub.spawn("ana", token)                     # POST /hub/api/users/ana/server, until ready
    hub.run_code("ana", token, "print(1)")      # in a kernel of ana's server (kernel REST API + websocket)
    hub.stop()

System mode needs root (real OS users are created with `useradd` and removed
at the end). This machine's Python lives under /root, which no other user may
enter: the hub then runs in a mount namespace of its own in which /root holds
nothing but the Python installations (pyenv), so that the learners' OS users
can run the kit; nothing outside that namespace changes. `system_mode_here()`
says whether all of that is possible.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
PYENV = Path("/root/.pyenv")


def system_mode_here() -> str | None:
    """Why the system mode cannot be tested here, or None when it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the tests do not run as root (system users need root)"
    for tool in ("useradd", "userdel", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def _needs_root_python_visible() -> bool:
    real = Path(os.path.realpath(sys.executable))
    return Path("/root") in real.parents and not os.stat("/root").st_mode & 0o001


def _namespace_wrapper(hidden: Path) -> list:
    """A mount namespace in which /root shows only pyenv's Pythons (the learners' users can run them)."""
    script = ("set -e; mount --bind \"$1\" \"$2\"; mount -t tmpfs -o mode=0755 tmpfs /root; mkdir /root/.pyenv; "
              "mount --bind \"$2\" /root/.pyenv; umount \"$2\" 2>/dev/null || true; shift 2; exec \"$@\"")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "class-hub", str(PYENV), str(hidden)]


# JupyterHub stops its services one by one, then its servers together, each given 20 s (SIGINT, SIGTERM,
# SIGKILL) at worst; it usually takes a few seconds.
HUB_STOP_SECONDS = 45


def _descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _end(processes: list) -> None:
    """Stop what is still running of `processes` (SIGTERM, then SIGKILL after 10 s)."""
    import psutil

    alive = [process for process in processes if process.is_running()]
    for process in alive:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _gone, alive = psutil.wait_procs(alive, timeout=10)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


class ClassHub:
    def __init__(self, folder: Path, learners: list, mode: str = "demo", stuck_failures: int = 3,
                 stuck_minutes: float = 10, lambda_idle_seconds: float = 60, shared_build: Path | None = None):
        from workshop.classroom.hub import ClassSettings
        from workshop.localcloud import free_port

        self.folder = Path(folder)
        self.suffix = uuid.uuid4().hex[:4]
        self.settings = ClassSettings(
            class_dir=self.folder / "class", mode=mode, learners=list(learners), port=free_port(),
            hub_port=free_port(), proxy_api_port=free_port(), service_port=free_port(),
            stuck_failures=stuck_failures, stuck_minutes=stuck_minutes, lambda_idle_seconds=lambda_idle_seconds,
            shared_build=shared_build)
        self.url = self.settings.url
        self.process = None
        self.accounts = None
        self.log_path = self.folder / "hub.log"
        self._hidden = None

    # --- life ----------------------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> "ClassHub":
        from workshop.classroom.hub import hub_command, hub_environment, prepare

        self.folder.mkdir(parents=True, exist_ok=True)
        self.accounts = prepare(self.settings, stream=open(os.devnull, "w"))
        command = hub_command()
        if self.settings.mode == "system" and _needs_root_python_visible():
            self._hidden = Path(f"/tmp/class-hub-pyenv-{self.suffix}")  # nosec B108: an empty mount point
            self._hidden.mkdir(mode=0o700)
            command = _namespace_wrapper(self._hidden) + command
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=str(self.settings.class_dir), env=hub_environment(self.settings),
                                        stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)

        def answers():
            if self.process.poll() is not None:
                raise AssertionError(f"the hub exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                return requests.get(f"{self.url}/hub/api/", timeout=2).ok and \
                    requests.get(f"{self.url}/services/facilitator/api/note", timeout=2).status_code == 403
            except requests.RequestException:
                return False

        wait_for(answers, timeout=timeout, interval=0.2, what="the hub and the facilitator's service to answer")
        return self

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # The learners' servers, the hub's services and its proxy run in sessions of their own: if the hub
            # does not get to stop one, nothing else would.
            started = _descendants(self.process.pid)
            os.killpg(self.process.pid, signal.SIGTERM)  # the hub stops every server (cleanup_servers)
            try:
                self.process.wait(timeout=HUB_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                kept = Path(__file__).resolve().parents[2] / "build" / "class-test-hub-stop.log"
                kept.parent.mkdir(exist_ok=True)
                shutil.copyfile(self.log_path, kept)  # why the hub did not stop in time
            _end(started)
        if self._hidden is not None:
            shutil.rmtree(self._hidden, ignore_errors=True)
        if self.settings.mode == "system" and self.accounts is not None:
            for name in [*self.accounts.learners, *self.accounts.facilitators]:
                remove_system_user(name)

    # --- a learner, through the hub's API ---------------------------------------------------------------
    def password(self, name: str) -> str:
        return self.accounts.passwords()[name]

    def login(self, name: str, password: str | None = None) -> requests.Session:
        session = requests.Session()
        page = session.get(f"{self.url}/hub/login", timeout=10)
        page.raise_for_status()
        xsrf = session.cookies.get("_xsrf", "")
        done = session.post(f"{self.url}/hub/login?next=", timeout=30, allow_redirects=False,
                            data={"username": name, "password": password or self.password(name), "_xsrf": xsrf})
        if done.status_code != 302:
            raise AssertionError(f"{name} could not log in: HTTP {done.status_code}")
        return session

    def token(self, session: requests.Session, name: str) -> str:
        xsrf = session.cookies.get("_xsrf", "")
        made = session.post(f"{self.url}/hub/api/users/{name}/tokens", timeout=10,
                            headers={"X-XSRFToken": xsrf}, json={"note": "class test", "expires_in": 3600})
        made.raise_for_status()
        return made.json()["token"]

    def api(self, method: str, path: str, token: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", headers={"Authorization": f"token {token}"},
                                timeout=kwargs.pop("timeout", 30), **kwargs)

    def spawn(self, name: str, token: str) -> None:
        started = self.api("POST", f"/hub/api/users/{name}/server", token)
        if started.status_code not in (201, 202, 400):  # 400: already running
            raise AssertionError(f"spawning {name}: HTTP {started.status_code} {started.text}")

    def wait_ready(self, name: str, token: str, timeout: float = 240) -> dict:
        def ready():
            model = self.api("GET", f"/hub/api/users/{name}", token).json()
            server = (model.get("servers") or {}).get("")
            if server is None and model.get("pending") is None:
                raise AssertionError(f"{name}'s server stopped while starting:\n{self.log_tail()}")
            return server if server and server.get("ready") else None

        return wait_for(ready, timeout=timeout, interval=0.5, what=f"{name}'s server to be ready")

    def stop_server(self, name: str, token: str) -> None:
        self.api("DELETE", f"/hub/api/users/{name}/server", token)

    def run_code(self, name: str, token: str, code: str, timeout: float = 300) -> str:
        """Run `code` in a fresh kernel of the learner's server; its output (stdout and results) as text."""
        # a thread of its own: a test's browser (Playwright) may be running an event loop in this one
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _run_in_kernel(self.url, name, token, code, timeout)).result()


async def _run_in_kernel(url: str, name: str, token: str, code: str, timeout: float) -> str:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    headers = {"Authorization": f"token {token}"}
    kernel = requests.post(f"{url}/user/{name}/api/kernels", headers=headers, json={"name": "python3"}, timeout=60)
    kernel.raise_for_status()
    kernel_id = kernel.json()["id"]
    ws_url = url.replace("http://", "ws://") + f"/user/{name}/api/kernels/{kernel_id}/channels"
    socket = await websocket_connect(HTTPRequest(ws_url, headers=headers, request_timeout=60))
    msg_id = uuid.uuid4().hex
    socket.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": name, "session": uuid.uuid4().hex, "msg_type": "execute_request",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    output, status, error, idle = [], None, "", False
    deadline = time.monotonic() + timeout
    try:
        while status is None or not idle:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the code in {name}'s kernel did not finish in {timeout:.0f} s:\n"
                                     + "".join(output)[-2000:])
            raw = await asyncio.wait_for(socket.read_message(), timeout=left)
            if raw is None:
                raise AssertionError(f"{name}'s kernel connection closed")
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                output.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "execute_reply":
                status = content["status"]
            elif kind == "status":
                idle = content.get("execution_state") == "idle"
    finally:
        socket.close()
        requests.delete(f"{url}/user/{name}/api/kernels/{kernel_id}", headers=headers, timeout=30)
    if status != "ok":
        raise AssertionError(f"the code in {name}'s kernel failed: {error}\n" + "".join(output)[-3000:])
    return "".join(output)


def remove_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    subprocess.run(["userdel", "--remove", "--force", name], capture_output=True)
