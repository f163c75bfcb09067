"""Notebook 06's shorter approval timeout changes only the time limit, in whatever definition is deployed."""

import json

import pytest

from workshop.teaching.approval_timeout import NoApprovalTimeout, with_timeout
from workshop.asl.substitution import substitute
from workshop.teaching.reference import DEFAULT_SUBSTITUTIONS, reference_definition


def test_only_the_time_limit_literal_changes():
    deployed = substitute(reference_definition(), DEFAULT_SUBSTITUTIONS)
    mine = json.loads(json.dumps(deployed))
    mine["States"]["ChooseAction"]["Choices"].reverse()  # a learner's own definition from 02 stays theirs
    shorter, changed = with_timeout(mine, 3)
    assert sorted(changed) == ["/States/ModifyState/Parameters"]  # the one state that shapes every kind of change
    assert shorter["States"]["ModifyState"]["Parameters"]["approvalTimeoutSeconds.$"] == "States.StringToJson('3')"
    shorter["States"]["ModifyState"]["Parameters"]["approvalTimeoutSeconds.$"] = \
        mine["States"]["ModifyState"]["Parameters"]["approvalTimeoutSeconds.$"]
    assert shorter == mine


def test_a_definition_without_the_limit_is_refused_with_a_reason():
    class Client:
        def describe_state_machine(self, **kwargs):
            return {"definition": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})}

        def update_state_machine(self, **kwargs):
            raise AssertionError("nothing may change")

    class Cloud:
        def client(self, name):
            return Client()

    from workshop.teaching.approval_timeout import shortened_approval_timeout

    with pytest.raises(NoApprovalTimeout, match="Run 02 again"):
        with shortened_approval_timeout(Cloud(), "arn:sm", 3):
            pass
