"""`make scan`: the scanners a security team runs, and every suppression says why.

* checkov, CloudFormation framework, on template.yaml;
* bandit on src/ (the Lambdas and the kit), every severity and confidence;
* the suppressions. Each stands where it applies, with a reason of at least
  three words:
  - checkov: in the resource's Metadata (`checkov: {skip: [{id: ..., comment: reason}]}`,
    or `bridgecrew:`), or an inline `checkov:skip=ID:reason` comment;
  - bandit: `# nosec B123: reason` (or `# nosec B123, B456: reason`) on a line
    of the finding.
  A bare `# nosec`, test ids without a reason, a reason that names a bandit
  test (bandit would read the word as one more test to skip), a skip without a
  reason in checkov's own report, and project-wide skips (a `.checkov.yaml`, a
  `.bandit` file) fail the scan.

It runs with the scanners' own venv (`.venv-scan`, from tools/scan-constraints.txt:
checkov pins boto3, networkx and pydantic far from the kit's lock). The checks of
the suppressions need only the standard library and PyYAML, so the kit's tests
import this module too.

    .venv-scan/bin/python tools/security_scan.py [--template T] [--src DIR] [--reports DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess  # nosec B404: runs checkov and bandit as argument lists, never through a shell
import sys
import tempfile
import tokenize
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MIN_REASON_WORDS = 3
# bandit's own reading of a comment (bandit/core/manager.py): any comment with this is a nosec
BANDIT_NOSEC = re.compile(r"#\s*nosec:?\s*(?P<tests>[^#]+)?#?")
NOSEC_WITH_REASON = re.compile(r"#\s*nosec\s+(?P<ids>B\d{3}(?:\s*,\s*B\d{3})*)\s*:(?P<reason>[^#]*)")
# checkov's inline suppression (checkov/common/comment/enum.py)
CHECKOV_INLINE = re.compile(
    r"(checkov:skip=|bridgecrew:skip=|cortex:skip=) *([A-Za-z_\d-]+(?:,[A-Za-z_\d-]+)*)?(:[^\n]*)?")
CHECKOV_NO_COMMENT = "No comment provided"  # what checkov records for a skip without a comment
PROJECT_WIDE_SKIPS = (".checkov.yaml", ".checkov.yml")
# bandit's noise about comments this scan has already checked: reason words it tried as
# test names, and a nosec line inside a larger statement than the finding's
BANDIT_NOISE = re.compile(r"Test in comment: .* is not a test name or id, ignoring"
                          r"|nosec encountered \(B\d+\), but no failed test")


def is_reason(text) -> bool:
    return (isinstance(text, str) and text.strip() != CHECKOV_NO_COMMENT
            and len(re.findall(r"[A-Za-z0-9]+", text)) >= MIN_REASON_WORDS)


# --- bandit's nosec comments ------------------------------------------------------------


def nosec_problems(source: str, where: str, test_names: frozenset[str] = frozenset()) -> list[str]:
    """Every `# nosec` in `source` names its test ids and says why; `test_names` are bandit's."""
    try:
        comments = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError) as exc:
        return [f"{where}: cannot be read for nosec comments ({exc})"]
    problems = []
    for comment in comments:
        found = BANDIT_NOSEC.search(comment.string)
        if not found:
            continue
        line = f"{where}:{comment.start[0]}"
        form = NOSEC_WITH_REASON.match(comment.string, found.start())
        if not form:
            problems.append(f"{line}: `{comment.string.strip()}`: write `# nosec BXXX: reason` "
                            "(the tests it excuses, and why the finding is safe here)")
            continue
        reason = form["reason"].strip()
        if not is_reason(reason):
            problems.append(f"{line}: `# nosec {form['ids']}` without a reason: say why the finding is safe here")
        named = sorted({word.lower() for word in re.findall(r"[a-z\d_]+", reason, re.I)} & test_names)
        if named:
            problems.append(f"{line}: the reason names bandit tests {named}, which bandit would skip too: reword it")
    return problems


# --- checkov's skips -------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...), whose values do not matter here."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def checkov_skip_problems(text: str, where: str) -> list[str]:
    """Every checkov skip in a CloudFormation template (Metadata or inline comment) has a reason."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        for inline in CHECKOV_INLINE.finditer(line):
            ids, reason = inline.group(2), (inline.group(3) or "")[1:]
            if not ids or not is_reason(reason):
                problems.append(f"{where}:{number}: `{inline.group(0).strip()}`: write "
                                f"`checkov:skip={ids or 'CKV_ID'}:reason` (why the finding is safe here)")
    try:
        template = yaml.load(text, Loader=_CfnLoader) or {}
    except yaml.YAMLError as exc:
        return problems + [f"{where}: not YAML ({exc})"]
    resources = template.get("Resources") if isinstance(template, dict) else None
    for name, resource in (resources or {}).items():
        metadata = (resource or {}).get("Metadata") or {}
        for tool in ("checkov", "bridgecrew"):
            for skip in (metadata.get(tool) or {}).get("skip") or []:
                skip = skip if isinstance(skip, dict) else {}
                if not skip.get("id") or not is_reason(skip.get("comment")):
                    problems.append(f"{where}: {name}: the {tool} skip of {skip.get('id') or '(no id)'} needs "
                                    "`id:` and a `comment:` that says why the finding is safe here")
    return problems


def checkov_report_problems(report) -> list[str]:
    """What checkov's JSON report says about parsing and skips (its own reading of the template)."""
    problems, scanned = [], 0
    for part in report if isinstance(report, list) else [report]:
        summary = part.get("summary") or {}
        scanned += summary.get("resource_count", 0)
        if summary.get("parsing_errors"):
            problems.append(f"checkov could not parse {part.get('results', {}).get('parsing_errors')}")
        for check in (part.get("results") or {}).get("skipped_checks") or []:
            if not is_reason((check.get("check_result") or {}).get("suppress_comment")):
                problems.append(f"{check.get('resource')}: checkov skips {check.get('check_id')} without a reason")
    if not scanned:
        problems.append("checkov scanned no resource: is the template there, and CloudFormation?")
    return problems


def project_wide_skip_problems(root: Path, src: Path) -> list[str]:
    found = [root / name for name in PROJECT_WIDE_SKIPS if (root / name).exists()]
    found += sorted(src.rglob(".bandit"))
    return [f"{path}: project-wide skips are not accepted; suppress each finding where it stands, with a reason"
            for path in found]


def suppression_problems(template: Path, src: Path, test_names: frozenset[str] = frozenset()) -> list[str]:
    problems = checkov_skip_problems(template.read_text(), str(template))
    for path in sorted(src.rglob("*.py")):
        problems += nosec_problems(path.read_text(), str(path), test_names)
    return problems


# --- the scanners ----------------------------------------------------------------------------


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        sys.exit(f"{name} is not installed beside {sys.executable}: run `make scan` (it makes .venv-scan)")
    return str(path)


def bandit_test_names() -> frozenset[str]:
    """The names bandit accepts in a nosec comment besides ids (empty where bandit is not installed)."""
    try:
        from bandit.core import extension_loader
    except ImportError:
        return frozenset()
    manager = extension_loader.MANAGER
    return frozenset(name.lower() for name in (*manager.plugins_by_name, *manager.blacklist_by_name))


def run_checkov(template: Path, reports: Path) -> tuple[int, list[str]]:
    with tempfile.TemporaryDirectory() as home:  # no ~/.checkov.yaml of the user's
        done = subprocess.run(  # nosec B603: checkov from this venv, fixed arguments, no shell
            [_tool("checkov"), "--file", str(template), "--framework", "cloudformation", "--skip-download",
             "--output", "json"],
            cwd=template.parent, env=dict(os.environ, HOME=home), capture_output=True, text=True)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
        return done.returncode or 1, ["checkov gave no JSON report"]
    (reports / "checkov.json").write_text(json.dumps(report, indent=1))
    for part in report if isinstance(report, list) else [report]:
        for check in (part.get("results") or {}).get("failed_checks") or []:
            first, last = check.get("file_line_range") or (0, 0)
            print(f"{template.name}:{first}-{last}: {check['check_id']} {check['resource']}: {check['check_name']}")
        summary = part.get("summary") or {}
        print(f"checkov ({part.get('check_type')}): {summary.get('failed', 0)} failed, {summary.get('passed', 0)} "
              f"passed, {summary.get('skipped', 0)} suppressed where they stand")
    return done.returncode, checkov_report_problems(report)


def run_bandit(src: Path, reports: Path) -> tuple[int, list[str]]:
    report_file = reports / "bandit.json"
    done = subprocess.run(  # nosec B603: bandit from this venv, fixed arguments, no shell
        [_tool("bandit"), "--recursive", str(src), "--format", "json", "--output", str(report_file), "--quiet"],
        capture_output=True, text=True)
    for line in done.stderr.splitlines():
        if line.strip() and not BANDIT_NOISE.search(line):
            print(line, file=sys.stderr)
    if not report_file.exists():
        return done.returncode or 1, ["bandit wrote no report"]
    report = json.loads(report_file.read_text())
    for issue in report["results"]:
        print(f"{issue['filename']}:{issue['line_number']}: {issue['test_id']} "
              f"[{issue['issue_severity']}/{issue['issue_confidence']}] {issue['issue_text']}")
    totals = report["metrics"]["_totals"]
    print(f"bandit: {len(report['results'])} findings; {totals['skipped_tests']} suppressed where they stand")
    return done.returncode, [f"bandit could not scan {e['filename']}: {e['reason']}" for e in report["errors"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--reports", type=Path, default=ROOT / "build" / "scan")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # in order with the scanners' messages on stderr
    args.reports.mkdir(parents=True, exist_ok=True)
    template, src = args.template.resolve(), args.src.resolve()

    checkov_code, problems = run_checkov(template, args.reports)
    bandit_code, bandit_problems = run_bandit(src, args.reports)
    problems += bandit_problems
    problems += project_wide_skip_problems(template.parent, src)
    problems += suppression_problems(template, src, bandit_test_names())
    for problem in problems:
        print(f"suppression check: {problem}", file=sys.stderr)
    failed = [name for name, code in (("checkov", checkov_code), ("bandit", bandit_code)) if code]
    if failed or problems:
        print(f"scan FAILED: {', '.join(failed + (['suppressions'] if problems else []))}", file=sys.stderr)
        return 1
    print("scan clean: checkov and bandit found nothing unexcused; every suppression says why")
    return 0


if __name__ == "__main__":
    sys.exit(main())
