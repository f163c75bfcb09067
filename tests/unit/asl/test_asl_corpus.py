"""The labelled corpus: every case under cases/ checked against its label.

cases/valid/*.asl.json      must validate OK with no diagnostics at all;
cases/invalid/*.asl.json    break exactly one rule: FAIL, and the only ERROR
                            code is the one in the sidecar *.expect.json,
                            reported at the sidecar's location (if given);
cases/warning/*.asl.json    stay OK and carry exactly the sidecar's WARNING.
"""

import json
from pathlib import Path

import pytest

from workshop.asl import validate
from workshop.asl.source import load_json
from workshop.asl.validator import CODES

CASES = Path(__file__).parent / "cases"


def _cases(kind):
    return sorted(CASES.glob(f"{kind}/*.asl.json"))


def _expect(path: Path) -> dict:
    return json.loads(path.with_name(path.name.replace(".asl.json", ".expect.json")).read_text())


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _summary(outcome):
    return [(d["severity"], d["code"], d["location"], d["message"]) for d in outcome["diagnostics"]]


@pytest.mark.parametrize("path", _cases("valid"), ids=lambda p: p.name)
def test_valid_case_is_ok_without_diagnostics(path):
    outcome = validate(_read(path))
    assert outcome["result"] == "OK", _summary(outcome)
    assert outcome["diagnostics"] == []


@pytest.mark.parametrize("path", _cases("invalid"), ids=lambda p: p.name)
def test_invalid_case_fails_with_exactly_its_code(path):
    expect = _expect(path)
    outcome = validate(_read(path))
    assert outcome["result"] == "FAIL", _summary(outcome)
    errors = [d for d in outcome["diagnostics"] if d["severity"] == "ERROR"]
    assert {d["code"] for d in errors} == {expect["code"]}, _summary(outcome)
    if "location" in expect:
        assert expect["location"] in {d["location"] for d in errors}, _summary(outcome)


@pytest.mark.parametrize("path", _cases("warning"), ids=lambda p: p.name)
def test_warning_case_stays_ok_with_its_warning(path):
    expect = _expect(path)
    outcome = validate(_read(path))
    assert outcome["result"] == "OK", _summary(outcome)
    assert [(d["severity"], d["code"], d["location"]) for d in outcome["diagnostics"]] == [
        ("WARNING", expect["code"], expect["location"])
    ]


def test_corpus_is_large_and_covers_every_code():
    paths = _cases("valid") + _cases("invalid") + _cases("warning")
    assert len(paths) >= 150
    labelled = {_expect(p)["code"] for p in _cases("invalid") + _cases("warning")}
    # Every code the validator can emit has at least one case that triggers it.
    assert set(CODES) - labelled == set()


def test_dict_input_gives_same_result_as_text():
    for path in _cases("valid")[:20] + _cases("invalid")[20:60]:
        text = _read(path)
        try:
            parsed, repeats = load_json(text)
        except ValueError:
            continue
        if repeats:
            continue  # a dict cannot carry duplicate keys
        assert validate(parsed)["result"] == validate(text)["result"], path.name


def test_every_diagnostic_has_the_api_shape():
    for path in _cases("invalid") + _cases("warning"):
        for item in validate(_read(path))["diagnostics"]:
            assert set(item) == {"severity", "code", "message", "location"}
            assert item["severity"] in ("ERROR", "WARNING")
            assert item["location"].startswith("/")
            assert len(item["message"]) > 20
