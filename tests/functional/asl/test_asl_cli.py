"""`workshop asl validate|graph`, run as a user runs it: a command in its own process."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parents[2] / "unit" / "asl" / "cases"  # the corpus of the unit tests
GOOD = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}'
BAD = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nope", "End": true}}}'


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "workshop.cli", "asl", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def files(tmp_path):
    good = tmp_path / "good.asl.json"
    good.write_text(GOOD)
    bad = tmp_path / "bad.asl.json"
    bad.write_text(BAD)
    return good, bad


def test_all_ok_exits_0(files):
    good, _ = files
    proc = run_cli("validate", good)
    assert proc.returncode == 0, proc.stderr
    assert f"{good}: OK" in proc.stdout


def test_any_fail_exits_1_and_reports_readably(files):
    good, bad = files
    proc = run_cli("validate", good, bad)
    assert proc.returncode == 1
    assert f"{bad}: FAIL" in proc.stdout
    assert "NEXT_AND_END at /States/A" in proc.stdout
    assert "MISSING_TRANSITION_TARGET at /States/A/Next" in proc.stdout
    assert "1 OK, 1 FAIL" in proc.stdout


def test_json_output_is_one_object_per_file_per_line(files):
    good, bad = files
    proc = run_cli("validate", "--json", good, bad)
    assert proc.returncode == 1
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(o["file"], o["result"]) for o in lines] == [(str(good), "OK"), (str(bad), "FAIL")]
    assert {d["code"] for d in lines[1]["diagnostics"]} == {"NEXT_AND_END", "MISSING_TRANSITION_TARGET"}


def test_unreadable_file_is_a_fail_not_a_crash(tmp_path, files):
    good, _ = files
    missing = tmp_path / "nope.asl.json"
    proc = run_cli("validate", "--json", missing, good)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    first = json.loads(proc.stdout.splitlines()[0])
    assert first["result"] == "FAIL"
    assert first["diagnostics"][0]["code"] == "UNREADABLE_FILE"
    assert "No such file" in first["diagnostics"][0]["message"]


@pytest.mark.parametrize("argv", [["validate"], ["frobnicate", "x"], ["graph"], ["graph", "x", "--format", "png"], []])
def test_usage_errors_exit_2(argv):
    proc = run_cli(*argv)
    assert proc.returncode == 2
    assert "usage" in proc.stderr.lower()


def test_batch_over_the_corpus_matches_the_labels():
    paths = sorted(CASES.glob("*/*.asl.json"))
    proc = run_cli("validate", "--json", *paths)
    assert proc.returncode == 1
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(paths)
    for path, outcome in zip(paths, results):
        expected = "FAIL" if path.parent.name == "invalid" else "OK"
        assert outcome["result"] == expected, path.name


def test_graph_mermaid_and_svg(tmp_path, files):
    good, _ = files
    proc = run_cli("graph", good)
    assert proc.returncode == 0
    assert proc.stdout.startswith("flowchart TD")
    proc = run_cli("graph", good, "--format", "svg")
    assert proc.returncode == 0
    root = ET.fromstring(proc.stdout)
    assert root.tag.endswith("svg")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    proc = run_cli("graph", broken)
    assert proc.returncode == 1 and "not valid JSON" in proc.stderr


def test_validate_keeps_imports_lean(files):
    # `workshop asl validate` runs on hundreds of files per batch: it must not pay
    # for the renderer, jsonschema, boto3 or moto (nor JSONata for JSONPath files).
    good, _ = files
    code = (
        "import sys\n"
        "from workshop.cli import main\n"
        f"assert main(['asl', 'validate', {str(good)!r}]) == 0\n"
        "heavy = ['workshop.asl.graph', 'jsonschema', 'boto3', 'moto', 'jsonata', 'jsonpath_ng', 'cfnlint']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
