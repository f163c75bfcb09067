"""`make scan` (tools/security_scan.py): a suppression without a reason fails the scan.

The checks of the suppressions are read here directly; the real scan runs in
tests/functional/test_security_scan.py.
"""

from __future__ import annotations

import importlib.util
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
