"""The calibration's own parts that need no outside validator: the registered reasons, and the
definitions it reads out of the notebooks. The run against the two references is
tests/functional/asl/test_asl_calibration.py."""

import importlib.util
import json
from pathlib import Path

from workshop.asl.validator import ACCEPTED_DISAGREEMENTS, CODES, validate

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("asl_calibrate", REPO / "tools" / "asl-reference" / "calibrate.py")
calibrate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibrate)


def test_every_reason_names_an_aws_page_and_a_rule():
    for entry in ACCEPTED_DISAGREEMENTS:
        assert entry.code in CODES or entry.code == "OK", entry
        assert entry.doc.startswith(("https://docs.aws.amazon.com/", "https://states-language.net/")), entry.doc
        assert len(entry.reason) > 40 and entry.cases, entry


def test_notebook_02_builds_the_whole_reference_machine():
    reference = json.loads((REPO / "statemachine" / "security_orchestrator.asl.json").read_text())
    found = dict(calibrate.NotebookDefinitions(REPO / "notebooks" / "02_build_state_machine.ipynb",
                                               reference).definitions())
    built = [d for case, d in found.items() if case.endswith(":built")]
    assert len(built) == 1, list(found)
    assert set(built[0]["States"]) == set(reference["States"])
    assert built[0]["StartAt"] == reference["StartAt"]
    substituted = calibrate.substitute(built[0], calibrate.stand_ins())
    assert validate(json.dumps(substituted))["result"] == "OK"


def test_notebook_extraction_without_running(tmp_path):
    reference = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"},
                                             "C": {"Type": "Fail", "Error": "E"}}}
    cells = [
        "from workshop.teaching.builder import StateMachineBuilder\nsm = StateMachineBuilder(start_at='A')",
        "sm.add('A', {'Type': 'Pass', 'Next': 'B'})",
        "answer = {'Type': 'Succeed'}\nsm.add('B', answer)",
        "%time check = check_exercise(my_state)\nsm.add('C', check.used)",  # an expression: the reference's state
        "editor = asl_editor({'Type': 'Pass', 'Next': 'Nowhere'}, state_name='A')",
        "text = '{\"StartAt\": \"X\", \"States\": {\"X\": {\"Type\": \"Succeed\"}}}'",
        "print({'not': 'a definition', 'nested': {'Type': 'Pass', 'End': True}})",
    ]
    notebook = {"cells": [{"cell_type": "code", "source": c} for c in cells] + [{"cell_type": "markdown",
                                                                                  "source": "sm.add('Z', {})"}]}
    path = tmp_path / "99_try.ipynb"
    path.write_text(json.dumps(notebook))
    found = dict(calibrate.NotebookDefinitions(path, reference).definitions())
    assert found["sm:built"] == {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
                                                            "B": {"Type": "Succeed"},
                                                            "C": {"Type": "Fail", "Error": "E"}}}
    edited = next(d for case, d in found.items() if case.endswith(":as-A"))
    assert edited["States"]["A"] == {"Type": "Pass", "Next": "Nowhere"} and "B" in edited["States"]
    assert {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}} in found.values()
    assert not any(d.get("States", {}).get("State") == {"Type": "Pass", "End": True} for d in found.values())
