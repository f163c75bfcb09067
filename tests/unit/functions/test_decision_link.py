"""A link AskUser signs is one ReceiveDecision accepts, and only that link.

Each function is loaded as Lambda loads it (its own folder first on the import
path), so each signs or checks with the copy of `_shared` its own package
carries, not with one helper both tests share.
"""

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from incident_steps import link_fields
from lambda_loader import FUNCTIONS, ROOT, load_function

ask_user = load_function("ask_user")
receive_decision = load_function("receive_decision")
validate_policy = load_function("validate_policy")
SECRET = b"k" * 64
BASE = "https://abc123.execute-api.us-east-1.amazonaws.com/Prod"
INCIDENT = "0123456789abcdef0123456789abcdef"
EXPIRES = 1_900_000_000
OTHER = {"allow": "deny", "deny": "allow"}


def _defined_in(function) -> Path:
    return Path(function.__code__.co_filename).parent


def test_each_function_runs_the_copy_its_own_folder_carries():
    assert _defined_in(ask_user.signed_fields) == FUNCTIONS / "ask_user" / "_shared"
    assert _defined_in(receive_decision.is_signed) == FUNCTIONS / "receive_decision" / "_shared"
    assert ask_user.signed_fields.__globals__ is not receive_decision.is_signed.__globals__
    engine = _defined_in(validate_policy.evaluate_policy)
    assert engine == FUNCTIONS / "validate_policy" / "iam" and (engine / "iam_actions.json.gz").is_file()


def _fields(decision: str, secret: bytes = SECRET) -> dict:
    link = ask_user.decision_links(BASE, secret, INCIDENT, EXPIRES)[decision]
    assert urlsplit(link).path == f"/Prod/{decision}"
    return link_fields(link)


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_a_link_ask_user_signs_is_one_receive_decision_accepts(decision):
    assert receive_decision.check_link(_fields(decision), decision, SECRET) == (INCIDENT, EXPIRES)


def _tampered(field: str, value: str) -> str:
    if field == "expires":
        return str(int(value) + 1)
    # Another hex digit in the last place: still the shape of a real one.
    return value[:-1] + ("0" if value[-1] != "0" else "1")


@pytest.mark.parametrize("decision", ["allow", "deny"])
@pytest.mark.parametrize("field", ["incident", "expires", "signature"])
def test_a_link_tampered_in_any_field_is_refused(decision, field):
    fields = _fields(decision)
    tampered = {**fields, field: _tampered(field, fields[field])}
    with pytest.raises(receive_decision.BadRequest) as refused:
        receive_decision.check_link(tampered, decision, SECRET)
    assert refused.value.status == 403


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_a_link_decides_only_its_own_decision_and_only_under_its_key(decision):
    for fields, checked_as, secret in ((_fields(decision), OTHER[decision], SECRET),
                                       (_fields(decision, b"x" * 64), decision, SECRET)):
        with pytest.raises(receive_decision.BadRequest) as refused:
            receive_decision.check_link(fields, checked_as, secret)
        assert refused.value.status == 403


def test_the_decision_reaches_the_execution_as_the_state_machine_reads_it():
    definition = json.loads((ROOT / "statemachine" / "security_orchestrator.asl.json").read_text())
    choices = {c["StringEquals"]: c["Next"] for c in definition["States"]["usersChoice"]["Choices"]}
    assert choices == {receive_decision.WIRE_VALUES["allow"]: "approved",
                       receive_decision.WIRE_VALUES["deny"]: "denied"}
    assert receive_decision.WIRE_VALUES["deny"] == "delete"  # the sample's word, kept on the wire
