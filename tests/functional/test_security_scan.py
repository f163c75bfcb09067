"""`make scan` (tools/security_scan.py): a suppression without a reason fails the scan.

The checks of the suppressions are read here directly; the last tests run the
real scan (checkov and bandit from `.venv-scan`) on copies with a planted
reasonless suppression or an unexcused finding, and see it fail.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("security_scan", ROOT / "tools" / "security_scan.py")
security_scan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(security_scan)


# --- bandit's nosec comments --------------------------------------------------------------------


@pytest.mark.parametrize("line", [
    'KEY = "testing"  # nosec B105: moto\'s dummy key, not a secret',
    "import subprocess  # nosec B404, B603: runs sam as a list, no shell",
    'url = "x"  # a note # nosec B310: the configured http endpoint only',
    'text = "# nosec"  # a string is not a comment',
])
def test_a_nosec_with_test_ids_and_a_reason_is_accepted(line):
    assert security_scan.nosec_problems(line + "\n", "m.py") == []


@pytest.mark.parametrize("line, complaint", [
    ("import subprocess  # nosec", "write `# nosec BXXX: reason`"),
    ("import subprocess  #nosec", "write `# nosec BXXX: reason`"),
    ("import subprocess  # nosec: B404", "write `# nosec BXXX: reason`"),
    ("import subprocess  # nosec B404", "write `# nosec BXXX: reason`"),
    ("import subprocess  # nosec B404:", "without a reason"),
    ("import subprocess  # nosec B404: fine", "without a reason"),
    ("import subprocess  # nosec B404:  # runs sam as a list", "without a reason"),
    ("import subprocess  # nosecurity needed here", "write `# nosec BXXX: reason`"),
])
def test_a_nosec_without_ids_or_reason_fails(line, complaint):
    problems = security_scan.nosec_problems("x = 1\n" + line + "\n", "m.py")
    assert len(problems) == 1 and problems[0].startswith("m.py:2:") and complaint in problems[0], problems


def test_a_reason_that_names_a_bandit_test_fails_as_bandit_would_skip_that_test_too():
    line = "value = run(text)  # nosec B307: this is no eval of user input\n"
    assert security_scan.nosec_problems(line, "m.py") == []
    problems = security_scan.nosec_problems(line, "m.py", frozenset({"eval", "exec_used"}))
    assert len(problems) == 1 and "['eval']" in problems[0]


def test_unreadable_source_is_a_problem_not_a_pass():
    assert security_scan.nosec_problems('x = """never closed\n', "m.py")


# --- checkov's skips ------------------------------------------------------------------------------


def _template(metadata: str = "", inline: str = "") -> str:
    return textwrap.dedent("""\
        Resources:
          Topic:
            Type: AWS::SNS::Topic{inline}
        {metadata}
            Properties:
              DisplayName: !Sub "${{AWS::StackName}}"
        """).format(inline=inline, metadata=textwrap.indent(textwrap.dedent(metadata), "    "))


def test_a_metadata_skip_with_a_reason_is_accepted():
    metadata = """\
        Metadata:
          checkov:
            skip:
              - id: CKV_AWS_26
                comment: The topic carries only public notices, never a link.
        """
    assert security_scan.checkov_skip_problems(_template(metadata), "t.yaml") == []


@pytest.mark.parametrize("skip", [
    "- id: CKV_AWS_26",
    "- id: CKV_AWS_26\n  comment: ''",
    "- id: CKV_AWS_26\n  comment: No comment provided",
    "- id: CKV_AWS_26\n  comment: accepted",
    "- comment: The topic carries only public notices.",
])
@pytest.mark.parametrize("tool", ["checkov", "bridgecrew"])
def test_a_metadata_skip_without_id_or_reason_fails(tool, skip):
    metadata = f"Metadata:\n  {tool}:\n    skip:\n" + textwrap.indent(skip, "      ") + "\n"
    problems = security_scan.checkov_skip_problems(_template(metadata), "t.yaml")
    assert len(problems) == 1 and "Topic" in problems[0] and tool in problems[0], problems


def test_inline_skips_need_a_reason_too():
    good = _template(inline="  # checkov:skip=CKV_AWS_26:the topic carries only public notices")
    assert security_scan.checkov_skip_problems(good, "t.yaml") == []
    for inline in ("  # checkov:skip=CKV_AWS_26", "  # checkov:skip=CKV_AWS_26:", "  # bridgecrew:skip=CKV_AWS_26"):
        problems = security_scan.checkov_skip_problems(_template(inline=inline), "t.yaml")
        assert len(problems) == 1 and problems[0].startswith("t.yaml:3:"), (inline, problems)


def test_checkovs_own_report_of_a_skip_without_a_comment_fails():
    def report(comment, resources=1):
        return {"check_type": "cloudformation",
                "results": {"skipped_checks": [{"check_id": "CKV_AWS_26", "resource": "AWS::SNS::Topic.Topic",
                                                "check_result": {"result": "SKIPPED", "suppress_comment": comment}}]},
                "summary": {"passed": 0, "failed": 0, "skipped": 1, "parsing_errors": 0,
                            "resource_count": resources}}

    assert security_scan.checkov_report_problems(report("The topic carries only public notices.")) == []
    assert "without a reason" in security_scan.checkov_report_problems(report("No comment provided"))[0]
    assert "no resource" in security_scan.checkov_report_problems(report("The topic is public.", 0))[0]


def test_project_wide_skip_files_fail(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    assert security_scan.project_wide_skip_problems(tmp_path, tmp_path / "src") == []
    (tmp_path / ".checkov.yaml").write_text("skip-check: [CKV_AWS_26]\n")
    (tmp_path / "src" / "pkg" / ".bandit").write_text("[bandit]\nskips: B404\n")
    assert len(security_scan.project_wide_skip_problems(tmp_path, tmp_path / "src")) == 2


def test_every_suppression_in_the_repository_says_why():
    assert security_scan.suppression_problems(ROOT / "template.yaml", ROOT / "src") == []


# --- the real scan ----------------------------------------------------------------------------------


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


def test_the_scan_passes_with_every_suppression_explained(scan_python, project_copy):
    done = _scan(scan_python, project_copy / "template.yaml", project_copy / "src", project_copy / "reports")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checkov (cloudformation): 0 failed" in done.stdout and "bandit: 0 findings" in done.stdout


def test_the_scan_fails_on_a_suppression_without_a_reason(scan_python, project_copy):
    runner = project_copy / "src" / "runner.py"
    runner.write_text("import subprocess  # nosec B404\n")
    template = project_copy / "template.yaml"
    text = template.read_text()
    reason = ("            comment: It calls only public AWS APIs (IAM reads, DynamoDB) and reaches no private resource; "
              "a VPC would add NAT or endpoints and protect nothing.\n")
    assert reason in text
    template.write_text(text.replace(reason, ""))
    done = _scan(scan_python, template, project_copy / "src", project_copy / "reports")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bandit: 0 findings" in done.stdout  # bandit itself honours the bare nosec: the check is what fails
    assert f"{runner}:1: `# nosec B404`: write `# nosec BXXX: reason`" in done.stderr
    assert "ValidatePolicy: checkov skips CKV_AWS_117 without a reason" in done.stderr
    assert "scan FAILED: suppressions" in done.stderr


def test_the_scan_fails_on_an_unexcused_finding(scan_python, project_copy):
    (project_copy / "src" / "runner.py").write_text("import hashlib\nDIGEST = hashlib.sha1(b'x').hexdigest()\n")
    template = project_copy / "template.yaml"
    template.write_text(template.read_text().replace("      KmsMasterKeyId: alias/aws/sns\n", ""))
    done = _scan(scan_python, template, project_copy / "src", project_copy / "reports")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "runner.py:2: B324" in done.stdout and "CKV_AWS_26 AWS::SNS::Topic.AlertTopic" in done.stdout
    assert "scan FAILED: checkov, bandit" in done.stderr
