"""Starting a class: its folder, accounts, shared build, and the JupyterHub command (`make class`, the tests).

    settings = ClassSettings(class_dir=Path("build/class"), mode="demo", learners=["learner1", ...])
    accounts = prepare(settings)                  # accounts.json, OS users (system mode), the shared build
    subprocess.run(hub_command(), env=hub_environment(settings), cwd=settings.class_dir)

The hub itself is configured by class/jupyterhub_config.py, which reads the
settings `prepare` writes into the class's folder (class-settings.json), the
hub's working folder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from workshop.classroom.accounts import FACILITATOR, Accounts, AccountsError, ensure_system_user


def checkout() -> Path:
    from workshop.classroom.learner import project_root

    return project_root()


@dataclass
class ClassSettings:
    class_dir: Path
    mode: str = "demo"
    learners: list = field(default_factory=lambda: ["learner1", "learner2", "learner3"])
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    service_port: int = 8090
    idle_minutes: float = 30
    stuck_minutes: float = 10
    stuck_failures: int = 3
    lambda_idle_seconds: float = 60
    shared_build: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def shared_to_everyone(path: Path) -> str | None:
    """Why other OS users cannot use `path` (a folder on the way without o+x, the file without o+r), or None."""
    path = Path(path).resolve()
    for folder in reversed(path.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            return f"{folder} is not open to other users (mode {stat.filemode(folder.stat().st_mode)})"
    if not path.stat().st_mode & stat.S_IROTH:
        return f"{path} is not readable by other users"
    return None


def system_mode_problem() -> str | None:
    """Why learners cannot run as OS users of their own here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the hub runs as you, not as root, so it cannot start servers as other users"
    for needed in (Path(sys.executable), checkout() / "template.yaml"):
        problem = shared_to_everyone(needed)
        if problem:
            return f"learners' OS users could not run the kit: {problem}"
    return None


def prepare(settings: ClassSettings, stream=None, new_accounts: bool = False) -> Accounts:
    """The class's folder (0700), its accounts (kept across restarts), OS users, and one `sam build`."""
    stream = stream or sys.stdout
    settings.class_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(settings.class_dir, 0o700)
    path = settings.class_dir / "accounts.json"
    accounts = None
    if path.exists() and not new_accounts:
        accounts = Accounts.load(path)
        if accounts.mode != settings.mode or sorted(accounts.learners) != sorted(settings.learners):
            accounts = None  # another class: new accounts
    if accounts is None:
        accounts = Accounts.create(settings.mode, settings.learners)
        accounts.save(path)
    if settings.mode == "system":
        for name in [*accounts.learners, FACILITATOR]:
            ensure_system_user(name)
    if shutil.which("python3.13") is None:
        # as on Binder: the functions need no third-party packages, each learner deploys their source folders
        stream.write("python3.13 (the Lambda runtime) is not installed: learners deploy the functions from "
                     "their source folders, without a shared `sam build`.\n")
        settings.shared_build = None
    else:
        if settings.shared_build is None:
            settings.shared_build = checkout() / "build" / "class-sam-build"
        build_shared(settings.shared_build, stream)
    write_settings(settings)
    return accounts


def build_shared(build_dir: Path, stream) -> Path:
    """`sam build` once for the whole class, into a folder every learner can read."""
    from workshop.aws.deploy import DeployError, build

    log = io.StringIO()
    try:
        built = build(build_dir=build_dir, project_dir=checkout(), stream=log)
    except DeployError as exc:
        stream.write(log.getvalue())
        raise AccountsError(f"the class's shared build failed: {exc}") from None
    for folder, dirs, files in os.walk(build_dir):
        for name in dirs + files:
            target = os.path.join(folder, name)
            if not os.path.islink(target):
                os.chmod(target, os.stat(target).st_mode | stat.S_IROTH | (stat.S_IXOTH if name in dirs else 0))
    os.chmod(build_dir, 0o755)  # nosec B103: the functions' built code, read by every learner, no secret in it
    return built


SETTINGS_FILE = "class-settings.json"


def write_settings(settings: ClassSettings) -> Path:
    """What class/jupyterhub_config.py reads: one file in the class's folder (the hub's working folder)."""
    doc = {"class_dir": str(settings.class_dir.resolve()), "mode": settings.mode, "port": settings.port,
           "hub_port": settings.hub_port, "proxy_api_port": settings.proxy_api_port,
           "service_port": settings.service_port, "idle_minutes": settings.idle_minutes,
           "stuck_minutes": settings.stuck_minutes, "stuck_failures": settings.stuck_failures,
           "lambda_idle_seconds": settings.lambda_idle_seconds, "shared_build": str(settings.shared_build or "")}
    path = settings.class_dir / SETTINGS_FILE
    path.write_text(json.dumps(doc, indent=2))
    return path


def hub_environment(settings: ClassSettings, environ=None) -> dict:
    env = dict(os.environ if environ is None else environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    # The hub's own key file folder is not the learners': each has theirs in their home.
    env.pop("WORKSHOP_STATE_DIR", None)
    return env


def hub_command() -> list:
    hub = Path(sys.executable).with_name("jupyterhub")
    return [str(hub) if hub.exists() else "jupyterhub", "-f", str(checkout() / "class" / "jupyterhub_config.py")]
