"""ValidatePolicy's matcher: typical documents, its worst case, and the matcher it replaced.

* validate_data_load_ms: reading the IAM data (iam_actions.json.gz) once, what
  a cold start pays.
* validate_typical_ms: one verdict on policies/badpolicy.json (warm, mean).
* validate_worst_{k}_ms: k wildcard Deny+NotAction statements with `iam:*`
  restricted (tests/support/policy_worst_case.py), a fresh evaluation each
  time (no verdict cache is shared between documents of different sizes).
* validate_worst_100_star_ms: the same 100 statements with `*` restricted
  (every action AWS publishes is a candidate).
* validate_worst_100_share_of_timeout: that worst case against the Lambda's 30 s.
* validate_old_{k}_ms, validate_speedup_at_{k}: the automaton matcher this one
  replaced (commit c85e91c, read with `git show`) on the same documents; its
  time roughly doubled with each such statement.
* validate_old_growth_per_statement: that factor, measured.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from policy_worst_case import deny_not_action_document  # noqa: E402
from workshop import iam  # noqa: E402
from workshop.iam import globs  # noqa: E402

OLD_COMMIT = "c85e91c"
OLD_SIZES = (8, 10, 12)
NEW_SIZES = (12, 100)
LAMBDA_TIMEOUT_SECONDS = 30


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _old_matcher(folder: Path):
    text = subprocess.run(["git", "show", f"{OLD_COMMIT}:src/functions/validate_policy/app.py"],
                          cwd=ROOT, capture_output=True, text=True)
    if text.returncode != 0:
        return None  # a clone without that history: no baseline
    path = folder / "old_validate_policy.py"
    path.write_text(text.stdout)
    return _load(path, "old_validate_policy")


def _best_ms(call, runs=3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def run() -> dict:
    figures = {}
    figures["validate_data_load_ms"] = round(_best_ms(iam.IamDatabase.load), 1)

    database = iam.default_database()
    bad = (ROOT / "policies" / "badpolicy.json").read_text()
    restricted = ["s3:DeleteBucket", "s3:DeleteObject"]
    iam.evaluate_policy(bad, restricted)
    started, rounds = time.perf_counter(), 200
    for _ in range(rounds):
        iam.evaluate_policy(bad, restricted)
    figures["validate_typical_ms"] = round((time.perf_counter() - started) * 1000 / rounds, 3)

    def fresh(document, entries):
        # The judge's caches live per call; clear the process-wide glob caches too.
        for cached in (globs.globs_intersect, globs.glob_includes, globs._glob, globs._action_regex):
            cached.cache_clear()
        database.matching.cache_clear()
        return iam.evaluate_policy(document, entries, database=database)

    new = {}
    for size in NEW_SIZES:
        document, _ = deny_not_action_document(size)
        new[size] = _best_ms(lambda d=document: fresh(d, ["iam:*"]))
        figures[f"validate_worst_{size}_ms"] = round(new[size], 1)
    document, _ = deny_not_action_document(100)
    figures["validate_worst_100_star_ms"] = round(_best_ms(lambda: fresh(document, ["*"]), runs=1), 1)
    figures["validate_worst_100_share_of_timeout"] = round(
        figures["validate_worst_100_star_ms"] / 1000 / LAMBDA_TIMEOUT_SECONDS, 4)

    with tempfile.TemporaryDirectory() as folder:
        old = _old_matcher(Path(folder))
        if old is None:
            figures["validate_old_baseline"] = f"unavailable (no commit {OLD_COMMIT})"
            return figures
        old_ms = {}
        for size in OLD_SIZES:
            document, _ = deny_not_action_document(size)
            old_ms[size] = _best_ms(lambda d=document: old.evaluate_policy(d, ["iam:*"]), runs=1)
            figures[f"validate_old_{size}_ms"] = round(old_ms[size], 1)
    small, large = OLD_SIZES[0], OLD_SIZES[-1]
    figures["validate_old_growth_per_statement"] = round((old_ms[large] / old_ms[small]) ** (1 / (large - small)), 2)
    figures[f"validate_speedup_at_{large}"] = round(old_ms[large] / new[large], 1)
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
