"""A Lambda worker's key says whose it is, with the same secret each time, made once per function."""

from workshop.localcloud.server import identities

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:stack-Judge-1"
ROLE = "arn:aws:iam::123456789012:role/stack-JudgeRole-1"


def test_a_workers_key_names_its_function_and_role_with_the_same_secret(monkeypatch):
    made = identities.credentials_for(FUNCTION, ROLE, "stack-Judge-1")
    assert made.access_key_id.startswith(identities.ACCESS_KEY_PREFIX) and len(made.access_key_id) == 20
    macs = []
    real = identities._mac
    monkeypatch.setattr(identities, "_mac", lambda label, text: macs.append(label) or real(label, text))
    for _ in range(3):  # each signed call of the function asks again
        worker = identities.worker_for(made.access_key_id)
        assert (worker.function_arn, worker.role_arn, worker.function_name) == (FUNCTION, ROLE, "stack-Judge-1")
        assert worker.credentials == made
    assert macs == [], "the HMACs are made once per function and role, not at every call"
    other = identities.credentials_for(FUNCTION, ROLE + "-other", "stack-Judge-1")
    assert other.access_key_id != made.access_key_id and other.secret_access_key != made.secret_access_key
    assert identities.worker_for("ASIALOCALNOTAKEY0000") is None
