"""SAM applications deployed as a learner would: the real `sam build` and `sam deploy` against a local cloud.

`deploy_app(folder, cloud_endpoint, stack_name, workdir)` builds the app in
`folder` (into `workdir`, never inside the app) and deploys it unmodified;
it returns the stack outputs. `sam_init(template_folder, ...)` generates an
application from one of the templates the installed SAM CLI ships (what
`sam init` offers offline). The Pythons a python3.X app needs on PATH for
`sam build` are found as the local cloud finds them (pyenv included).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from workshop.aws import deploy as deploy_module
from workshop.aws.session import local_environment
from workshop.localcloud.services.awslambda import runtimes


def sam_templates() -> Path:
    """The `sam init` templates inside the installed SAM CLI."""
    import samcli

    return Path(samcli.__file__).parent / "lib" / "init" / "templates"


def sam_init(template: str, name: str, into: Path, **context) -> Path:
    """`sam init --location <bundled template> --no-input` (context: the template's choices, e.g. runtime)."""
    command = deploy_module.sam_command("init", "--location", str(sam_templates() / template),
                                         "--no-input", "--name", name, "--output-dir", str(into))
    if context:
        command += ["--extra-context", json.dumps(context)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
    assert done.returncode == 0, done.stdout + done.stderr
    return into / name


def _python_path(env: dict) -> str:
    folders = [os.path.dirname(found) for minor in runtimes.PYTHON_MINORS
               if (found := runtimes.find_python(f"3.{minor}"))]
    return os.pathsep.join(dict.fromkeys(folders + [env.get("PATH", "")]))


def deploy_app(folder: Path, endpoint: str, stack_name: str, workdir: Path, parameters: dict | None = None) -> dict:
    """`sam build` (into workdir) + `sam deploy` to the local cloud at `endpoint`; the stack outputs."""
    log = io.StringIO()
    env = local_environment(endpoint)
    env["PATH"] = _python_path(env)
    try:
        deploy_module.build(build_dir=workdir / "build", template="template.yaml", project_dir=folder,
                            env=env, stream=log)
        old_path = os.environ.get("PATH", "")
        os.environ["PATH"] = env["PATH"]
        try:
            return deploy_module.deploy(target="local", endpoint=endpoint, stack_name=stack_name,
                                        parameters=parameters, build_dir=workdir / "build", project_dir=folder,
                                        skip_build=True, stream=log)
        finally:
            os.environ["PATH"] = old_path
    except deploy_module.DeployError as exc:
        pytest.fail(f"{folder.name}: {exc}\n{log.getvalue()[-6000:]}")
