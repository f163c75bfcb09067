"""The workshop's own definitions (statemachine/*.asl.json) must validate OK."""

from pathlib import Path

import pytest

from workshop.asl import validate

REPO = Path(__file__).resolve().parents[3]
DEFINITIONS = sorted((REPO / "statemachine").glob("*.asl.json"))


def test_there_is_at_least_one_definition():
    # Fails (rather than silently passing) if the folder is empty or moved.
    assert DEFINITIONS, f"no statemachine/*.asl.json under {REPO}"


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_definition_validates_ok(path):
    outcome = validate(path.read_text(encoding="utf-8"))
    errors = [(d["code"], d["location"], d["message"]) for d in outcome["diagnostics"] if d["severity"] == "ERROR"]
    assert outcome["result"] == "OK", errors
