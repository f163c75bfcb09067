"""Every path to a live permission is watched: the attacks that moved a permission out of the
orchestrator's sight, each against the session's deployed stack.

Each test performs the attack with plain boto3 against the local cloud and fails on the kit
that watched only the nine policy calls: a change that vanished before it was judged ended
silently, a rename or a group join put a restricted permission in force unseen.
"""

from __future__ import annotations

import json

import pytest
from stack_incidents import (BAD, aws, cloudtrail_event, finished, mails_about, new_principal, put_on_the_bus,
                             rule_paused, states_entered)

from polling import wait_for

pytestmark = pytest.mark.e2e


def _execution_for(stack: dict, event_id: str) -> str:
    """The execution EventBridge started for the event `event_id`."""
    sfn = aws("stepfunctions")

    def started():
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=stack["StateMachineArn"]):
            for execution in page["executions"]:
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                if event_id in described.get("input", ""):
                    return execution["executionArn"]
        return None

    return wait_for(started, what=f"the execution for event {event_id}")


def test_a_change_whose_principal_is_renamed_before_it_is_judged_is_an_alert(deployed_stack, local_cloud):
    """PutUserPolicy, then UpdateUser to a new name, the event arriving after the rename (on AWS events
    arrive minutes late): the execution found the old name gone and ended at AlreadyHandled, telling nobody."""
    iam, sfn = aws("iam"), aws("stepfunctions")
    before = new_principal("user")
    after = before + "-renamed"
    with rule_paused(deployed_stack):
        iam.put_user_policy(UserName=before, PolicyName="late", PolicyDocument=BAD)
        iam.update_user(UserName=before, NewUserName=after)
    late = cloudtrail_event("PutUserPolicy", {"userName": before, "policyName": "late", "policyDocument": BAD})
    put_on_the_bus(late)
    execution = _execution_for(deployed_stack, late["detail"]["eventID"])
    assert finished(sfn, execution)["status"] == "SUCCEEDED"
    assert states_entered(sfn, execution)[-2:] == ["CheckOwnOrGone", "ReportGone"]
    alert = wait_for(lambda: (mails_about(local_cloud, f"inline policy late of user {before}", "gone") or [None])[0],
                     what="the alert about the change that is gone")
    assert "PutUserPolicy by" in alert["body"] and "IAM no longer holds it" in alert["body"]
    assert late["detail"]["eventTime"] in alert["body"]
