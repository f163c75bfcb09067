"""ASL validation speed: `workshop asl validate` against cfn-lint's state machine check.

* asl_validate_ms_per_definition: the CLI over the whole labelled corpus (plus
  statemachine/*.asl.json) in one batch subprocess, process start and imports
  included, divided by the number of definitions. Best of a few runs, since a
  subprocess timing is noisy on a shared machine.
* asl_cfnlint_ms_per_definition: cfn-lint's Python API on a sample of the same
  definitions, each wrapped in a minimal CloudFormation template with an
  AWS::StepFunctions::StateMachine `Definition`, so cfn-lint runs its state
  machine rules on it. Measured in-process after cfn-lint is imported.
* asl_speedup: the ratio (goal: at least 50).
* asl_cfnlint_agreement: on that sample, the share of definitions where
  cfn-lint's verdict (any error-level match or none) agrees with the corpus
  label, to show what the slower tool buys (context, not a goal).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "unit" / "asl" / "cases"
CFNLINT_SAMPLE = 20
RUNS = 3


def _definitions() -> list[Path]:
    paths = sorted(CORPUS.glob("*/*.asl.json")) + sorted((ROOT / "statemachine").glob("*.asl.json"))
    if not paths:
        raise RuntimeError(f"no definitions found under {CORPUS}")
    return paths


def _time_cli(paths: list[Path]) -> float:
    """Seconds for one `workshop asl validate --json` subprocess over all paths."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "workshop.cli", "asl", "validate", "--json", *map(str, paths)],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )
    elapsed = time.perf_counter() - started
    lines = proc.stdout.splitlines()
    if proc.returncode not in (0, 1) or len(lines) != len(paths):
        raise RuntimeError(f"workshop asl validate failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


def _cfn_template(definition: dict) -> str:
    return json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
                               "Action": "sts:AssumeRole"}]}}},
            "StateMachine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
                "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                "Definition": definition,
            }},
        },
    })


def _cfnlint_sample(paths: list[Path]) -> list[tuple[str, bool]]:
    """(template, labelled invalid) for an evenly spread sample of definitions that parse to an object."""
    definitions = []
    for path in paths:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(value, dict):
            definitions.append((value, path.parent.name == "invalid"))
    step = max(1, len(definitions) // CFNLINT_SAMPLE)
    return [(_cfn_template(d), invalid) for d, invalid in definitions[::step][:CFNLINT_SAMPLE]]


def _time_cfnlint(sample: list[tuple[str, bool]]) -> tuple[float, float]:
    """(mean seconds per template, share agreeing with the labels) for cfn-lint's Python API."""
    from cfnlint.api import ManualArgs, lint

    config = ManualArgs(regions=["us-east-1"])
    agree = 0
    started = time.perf_counter()
    for template, invalid in sample:
        matches = lint(template, config=config)
        # cfn-lint rule ids starting with E are errors; W/I are warnings and notes.
        agree += any(m.rule.id.startswith("E") for m in matches) == invalid
    elapsed = time.perf_counter() - started
    return elapsed / len(sample), agree / len(sample)


def run() -> dict:
    paths = _definitions()
    cli_seconds = min(_time_cli(paths) for _ in range(RUNS))
    ours_ms = cli_seconds * 1000 / len(paths)
    sample = _cfnlint_sample(paths)
    cfnlint_seconds, agreement = _time_cfnlint(sample)
    cfnlint_ms = cfnlint_seconds * 1000
    return {
        "asl_definitions": len(paths),
        "asl_validate_ms_per_definition": round(ours_ms, 3),
        "asl_cfnlint_sample": len(sample),
        "asl_cfnlint_ms_per_definition": round(cfnlint_ms, 1),
        "asl_speedup": round(cfnlint_ms / ours_ms, 1),
        "asl_cfnlint_agreement": round(agreement, 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
