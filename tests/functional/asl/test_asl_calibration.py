"""The kit's validator against two outside references (tools/asl-reference).

Runs amazon-states-language-service (the AWS Toolkit's validator) and
asl-validator on the corpus, statemachine/ and every definition the notebooks
build, writes build/asl-calibration.md, and fails for each case where the kit's
verdict differs from both references without a reason registered next to the
rule (workshop.asl.validator.ACCEPTED_DISAGREEMENTS). `make test` installs the
references first (`make asl-reference`).
"""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("asl_calibrate", REPO / "tools" / "asl-reference" / "calibrate.py")
calibrate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibrate)


@pytest.fixture(scope="module")
def result():
    outcome = calibrate.calibrate(calibrate.all_cases(REPO))
    calibrate.write_report(outcome, REPO / "build")
    return outcome


def test_references_are_alive_and_discriminate():
    # Guards the harness itself: a broken validate.js that calls everything valid would hide every disagreement.
    good = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    bad = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}
    verdicts = calibrate.run_references([{"id": "good", "text": json.dumps(good)},
                                         {"id": "bad", "text": json.dumps(bad)}])
    for name in calibrate.REFERENCES:
        assert verdicts["good"][name]["valid"] is True, verdicts["good"][name]
        assert verdicts["bad"][name]["valid"] is False, verdicts["bad"][name]


def test_the_shared_compiled_schemas_give_the_verdicts_asl_validator_gives_as_it_ships():
    # validate.js compiles asl-validator's schemas once for every definition; asl-validator compiles them at
    # each call. A sample of every kind of case (corpus, statemachine/, notebooks), run both ways.
    cases = calibrate.all_cases(REPO)[::8]
    shared, fresh = calibrate.run_references(cases), calibrate.run_references(cases, fresh_ajv=True)
    assert len(fresh) == len(cases) and any(not row["asl_validator"]["valid"] for row in fresh.values())
    assert shared == fresh


def test_every_disagreement_with_both_references_has_a_reason(result):
    missing = calibrate.unexplained(result)
    assert not missing, (
        "The kit's verdict differs from both reference validators with no reason registered in "
        "workshop.asl.validator.ACCEPTED_DISAGREEMENTS (an AWS page and one sentence), so fix the kit or add one; "
        "details in build/asl-calibration.md: " + ", ".join(f"{case} ({code})" for case, code in missing))


def test_no_registered_reason_is_stale(result):
    stale = calibrate.stale_reasons(result)
    assert not stale, f"registered disagreements that no longer happen (remove them): {stale}"


def test_report_lists_disagreements_and_reasons(result):
    text = (REPO / "build" / "asl-calibration.md").read_text()
    against = [row for row in result["rows"] if row["against_both"]]
    assert against, "expected the kit to be stricter than the schema-based references somewhere"
    for row in against:
        assert row["id"] in text
    assert "NO REASON" not in text
    data = json.loads((REPO / "build" / "asl-calibration.json").read_text())
    assert data["cases"] == result["cases"] == len(data["verdicts"])
    assert {r["id"] for r in data["references_disagree"]} == {r["id"] for r in result["rows"]
                                                              if r["references_disagree"]}


def test_calibration_covers_corpus_statemachines_and_notebooks(result):
    ids = [row["id"] for row in result["rows"]]
    corpus = sorted((REPO / "tests" / "unit" / "asl" / "cases").glob("*/*.asl.json"))
    assert sum(i.startswith("corpus/") for i in ids) == len(corpus)
    assert "statemachine/security_orchestrator" in ids
    assert any(i.startswith("notebook/02_build_state_machine/") for i in ids)
