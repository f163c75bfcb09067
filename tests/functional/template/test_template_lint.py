"""The template lints clean with the real cfn-lint and `sam validate --lint`."""

import os
import subprocess
import sys
from pathlib import Path

from workshop.aws import deploy as deploy_module

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
BIN = Path(sys.executable).parent


def _run(args):
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1")
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def test_cfn_lint_is_clean():
    result = _run([str(BIN / "cfn-lint"), str(TEMPLATE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_is_clean():
    result = _run(deploy_module.sam_command("validate", "--lint", "--template", str(TEMPLATE)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr
