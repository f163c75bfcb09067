"""The local cloud's extensions under bad input, in-process.

* Replay: an event delivered twice starts one execution (executions are named
  after the CloudTrail eventID, see targets.execution_name).
* The CloudTrail emitter never raises on garbage; Lambda's rules for an Invoke payload.

The running server under garbage, and its stopping: tests/functional/localcloud/test_robustness.py.
"""

from __future__ import annotations

import json
import re
import time

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from workshop.localcloud.services import cloudtrail
from workshop.localcloud.services.awslambda import workers
from workshop.localcloud.services.events import targets
from workshop.localcloud.services.stepfunctions import engine

# Step Functions' rules for a name: 1-80 characters; no whitespace, brackets,
# wildcards, special characters or control characters.
VALID_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}")


@pytest.fixture(autouse=True)
def _restore_lambda_invoke():
    """workers.install() also wraps LambdaFunction.invoke (the payload check): put it back."""
    from moto.awslambda.models import LambdaFunction

    saved = LambdaFunction.__dict__["invoke"]
    yield
    LambdaFunction.invoke = saved


# --- execution names from events ------------------------------------------------------


def test_an_execution_is_named_after_the_cloudtrail_event_id():
    event = {"id": "envelope-id", "detail": {"eventID": "6c0d1f0e-93b2-4e51-9c5c-0a8f5cbb8f00"}}
    assert targets.execution_name(event) == "6c0d1f0e-93b2-4e51-9c5c-0a8f5cbb8f00"


def test_without_an_event_id_the_eventbridge_id_names_it():
    assert targets.execution_name({"id": "abc-123", "detail": {}}) == "abc-123"
    assert targets.execution_name({"id": "abc-123", "detail": "not an object"}) == "abc-123"


def test_without_any_id_a_fresh_uuid_names_it():
    first, second = (targets.execution_name({"detail": {}}) for _ in range(2))
    assert first != second and VALID_NAME.fullmatch(first)


@pytest.mark.parametrize("raw", [
    "with space", "wild*card?", "a/b:c;d", "[x]{y}<z>", "tab\tnew\nline", "ctl\x00\x1f\x7f\x9f",
    "é-ünïcode", "x" * 200, "'; DROP TABLE executions; --", "${jndi:ldap://x}",
])
def test_an_unusual_event_id_becomes_a_valid_distinct_name(raw):
    name = targets.execution_name({"detail": {"eventID": raw}})
    assert VALID_NAME.fullmatch(name), name
    # a changed id keeps a digest of the original: a near-twin does not share the name
    twin = targets.execution_name({"detail": {"eventID": raw + "!"}})
    assert twin != name


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.integers(), st.none()), st.one_of(st.text(max_size=100), st.none()))
def test_any_event_id_gives_a_valid_name(event_id, envelope_id):
    name = targets.execution_name({"id": envelope_id, "detail": {"eventID": event_id}})
    assert VALID_NAME.fullmatch(name), repr(name)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=120), st.text(min_size=1, max_size=120))
def test_different_event_ids_give_different_names(a, b):
    if a == b:
        return
    # (ids with no usable character at all fall back to fresh UUIDs: distinct anyway)
    assert targets.execution_name({"detail": {"eventID": a}}) != \
        targets.execution_name({"detail": {"eventID": b}})


# --- replay: the same event twice, one execution -----------------------------------------


def _machine(sfn, name="m"):
    return sfn.create_state_machine(
        name=name, roleArn="arn:aws:iam::123456789012:role/r",
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 2, "End": True}}}),
    )["stateMachineArn"]


def _executions(sfn, machine, expected, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        found = sfn.list_executions(stateMachineArn=machine)["executions"]
        if len(found) >= expected or time.monotonic() > deadline:
            time.sleep(0.3)  # and nothing more arrives
            return sfn.list_executions(stateMachineArn=machine)["executions"]
        time.sleep(0.05)


def test_an_event_delivered_twice_starts_one_execution_named_after_it():
    with mock_aws():
        engine.install(port=5000)
        targets.install()
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        events = boto3.client("events", region_name="us-east-1")
        machine = _machine(sfn)
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["aws.iam"]}))
        events.put_targets(Rule="r", Targets=[{"Id": "sm", "Arn": machine}])
        detail = json.dumps({"eventName": "CreatePolicy", "eventID": "11111111-2222-3333-4444-555555555555"})
        entry = {"Source": "aws.iam", "DetailType": "AWS API Call via CloudTrail", "Detail": detail}

        events.put_events(Entries=[entry])
        events.put_events(Entries=[entry])  # the replay: another envelope id, the same CloudTrail event
        other = dict(entry, Detail=json.dumps({"eventName": "CreatePolicy", "eventID": "another-event"}))
        events.put_events(Entries=[other])

        executions = _executions(sfn, machine, 2)
        assert sorted(e["name"] for e in executions) == ["11111111-2222-3333-4444-555555555555", "another-event"]


def test_a_replay_after_the_first_run_ended_is_dropped_too():
    with mock_aws():
        engine.install(port=5000)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="quick", roleArn="arn:aws:iam::123456789012:role/r",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
        event = {"id": "e1", "detail": {"eventID": "ev-1"}}
        first = targets.start_execution_for(machine, event, "ev-1")
        deadline = time.monotonic() + 10
        while sfn.describe_execution(executionArn=first)["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        again = targets.start_execution_for(machine, dict(event, id="e2"), "ev-1")
        assert again is None  # refused (ExecutionAlreadyExists), logged, not raised
        assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]] == [first]


# --- the CloudTrail emitter with garbage ----------------------------------------------------


@pytest.mark.parametrize("form", [
    {}, {"\ufffd\x00garbage": [""]}, {"Action": ["CreatePolicy"]}, {"Action": ["CreatePolicy"], "": ["", "="]},
    {"Action": ["A" * 10000]},
    {"Action": ["CreatePolicy"], "Tags.member.1.Key": ["k"], "Tags.member.1.Value": ["v"],
     "Tags.member.2.Key": ["only-a-key"]},
    {"Action": ["CreatePolicyVersion"], "Tags.member.x": ["1"]},
    {"Action": ["CreatePolicy"], "Tags.member.a.Key": ["k"], "Tags.member.a.Value": ["v"]},
])
@pytest.mark.parametrize("arguments", [{}, {"policy_arn": None, "tags": "not a list"}, {"tags": [1, "x", {}]},
                                       {"policy_document": object()}])
def test_the_cloudtrail_emitter_never_raises_on_garbage(form, arguments, monkeypatch):
    from workshop.localcloud.server import calls
    from workshop.localcloud.server.authentication import learner_caller

    put = []
    monkeypatch.setattr(cloudtrail, "put_event", put.append)
    call = calls.Call(learner_caller("LCAKTEST"), service="iam", parameters=form,
                      action=(form.get("Action") or [None])[0])
    with calls.serving(call):
        cloudtrail._changed("CreatePolicy", arguments, None, "123456789012")
    assert [event["detail"]["eventName"] for event in put] == ["CreatePolicy"]


def test_which_invoke_payloads_lambda_refuses():
    for good in (None, "", b"", "{}", b"[1]", "\"text\"", "null", "3"):
        assert workers.invalid_payload(good) is None, good
    for bad in ("{not json", b"\xff\xfe", "[1,", "{" * 5000):
        assert "Could not parse request body into json" in workers.invalid_payload(bad)
