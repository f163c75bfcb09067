"""`make scan` for real: checkov and bandit from `.venv-scan` on the repository, and on copies with a
planted reasonless suppression or an unexcused finding, which fail it (the checks of the suppressions
themselves: tests/unit/test_security_scan.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scan_python() -> Path:
    """The scanners' venv, made by the Makefile as `make scan` makes it (a no-op once made)."""
    done = subprocess.run(["make", "--no-print-directory", "scan-tools"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return ROOT / ".venv-scan" / "bin" / "python"


def _scan(scan_python: Path, template: Path, src: Path, reports: Path):
    return subprocess.run([str(scan_python), str(ROOT / "tools" / "security_scan.py"), "--template", str(template),
                           "--src", str(src), "--reports", str(reports)], capture_output=True, text=True, timeout=300)


@pytest.fixture()
def project_copy(tmp_path):
    """template.yaml and a small src/ with one excused finding, copied for planting."""
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "runner.py").write_text(
        "import subprocess  # nosec B404: runs a fixed command as a list, never a shell\n")
    return tmp_path


def test_the_repository_passes_the_scan(scan_python):
    """`make scan` itself: checkov on template.yaml and bandit on src/, reports in build/scan (make test runs it here)."""
    done = subprocess.run([str(scan_python), str(ROOT / "tools" / "security_scan.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checkov (cloudformation): 0 failed" in done.stdout and "bandit: 0 findings" in done.stdout


def test_the_scan_fails_on_a_suppression_without_a_reason_and_on_an_unexcused_finding(scan_python, project_copy):
    """One planted copy, every way to fail (one checkov and bandit run: each costs seconds of start). The
    repository's own scan above is the control: the same template and suppressions with reasons pass."""
    runner = project_copy / "src" / "runner.py"
    runner.write_text("import subprocess  # nosec B404\nimport hashlib\nDIGEST = hashlib.sha1(b'x').hexdigest()\n")
    template = project_copy / "template.yaml"
    text = template.read_text()
    reason = ("            comment: It calls only public AWS APIs (IAM reads, DynamoDB) and reaches no private resource; "
              "a VPC would add NAT or endpoints and protect nothing.\n")
    assert reason in text and "      KmsMasterKeyId: alias/aws/sns\n" in text
    template.write_text(text.replace(reason, "").replace("      KmsMasterKeyId: alias/aws/sns\n", ""))
    done = _scan(scan_python, template, project_copy / "src", project_copy / "reports")
    assert done.returncode == 1, done.stdout + done.stderr
    # bandit itself honours the bare nosec (its one finding is the hash): the suppression check is what fails
    assert "runner.py:3: B324" in done.stdout and "B404" not in done.stdout
    assert f"{runner}:1: `# nosec B404`: write `# nosec BXXX: reason`" in done.stderr
    assert "ValidatePolicy: checkov skips CKV_AWS_117 without a reason" in done.stderr
    assert "CKV_AWS_26 AWS::SNS::Topic.AlertTopic" in done.stdout
    assert "scan FAILED: checkov, bandit, suppressions" in done.stderr
