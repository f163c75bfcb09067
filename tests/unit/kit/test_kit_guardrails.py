"""The cells that start, stop or change the stack's executions, when the account's SCP refuses the call: the
refusal is told apart from any other error, nothing is changed or put back, and what is shown is true."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from workshop.aws.executions import ExecutionHistory, ScanSchedule, next_run_due, scan_held, schedule_minutes
from workshop.aws.guardrails import HeldByGuardrails, held_by_guardrails, refused_action, refused_by_guardrails

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:security-orchestrator-StateMachine"
SCP_MESSAGE = ("User: arn:aws:iam::123456789012:user/learner is not authorized to perform: {action} on resource: "
               f"{MACHINE} with an explicit deny in a service control policy")
SCAN_INPUT = json.dumps({"detail-type": "Reconciliation scan", "detail": {"eventName": "ReconciliationScan"}})
T0 = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)


def refusal(action="states:StartExecution", code="AccessDeniedException", message=None) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message or SCP_MESSAGE.format(action=action)}},
                       action.split(":")[1])


def test_only_a_service_control_policys_deny_counts_as_the_guardrails():
    assert refused_by_guardrails(refusal())
    assert refused_by_guardrails(refusal(code="AccessDenied"))  # IAM's query protocol
    assert not refused_by_guardrails(refusal(message="User: x is not authorized to perform: states:StartExecution "
                                                     "because no identity-based policy allows it"))
    assert not refused_by_guardrails(refusal(code="ThrottlingException"))
    assert not refused_by_guardrails(RuntimeError("with an explicit deny in a service control policy"))
    assert refused_action(refusal("states:UpdateStateMachine"), "x") == "states:UpdateStateMachine"
    assert refused_action(refusal(message="explicit deny in a service control policy"), "fallback") == "fallback"


@pytest.mark.parametrize("expression, minutes", [("rate(15 minutes)", 15), ("rate(1 minute)", 1),
                                                 ("rate(2 hours)", 120), ("cron(0 * * * ? *)", None), (None, None)])
def test_the_schedules_interval(expression, minutes):
    assert schedule_minutes(expression) == minutes


def test_the_next_run_is_the_first_interval_boundary_not_before_now():
    assert next_run_due(T0, 15, T0 + timedelta(minutes=7)) == T0 + timedelta(minutes=15)
    assert next_run_due(T0, 15, T0 + timedelta(minutes=31)) == T0 + timedelta(minutes=45)
    assert next_run_due(T0, 15, T0) == T0 + timedelta(minutes=15)
    assert next_run_due(None, 15, T0) is None and next_run_due(T0, None, T0) is None


class _Sfn:
    """Step Functions as the learner reads it: executions (newest first) with their inputs."""

    def __init__(self, executions):
        self.executions = executions  # [(arn, start, input, status)]

    def list_executions(self, **kwargs):
        return {"executions": [{"executionArn": a, "startDate": s, "status": st} for a, s, _, st in self.executions]}

    def describe_execution(self, executionArn):
        arn, start, given, status = next(e for e in self.executions if e[0] == executionArn)
        return {"executionArn": arn, "startDate": start, "input": given, "status": status,
                "stateMachineArn": MACHINE}

    def get_paginator(self, name):
        sfn = self

        class Pages:
            def paginate(self, executionArn):
                start = next(e[1] for e in sfn.executions if e[0] == executionArn)
                yield {"events": [{"id": 1, "type": "ExecutionStarted", "timestamp": start}]}
        return Pages()

    def describe_state_machine_for_execution(self, **kwargs):
        return {"definition": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})}


class _Cloud:
    def __init__(self, sfn, resources=()):
        self.sfn, self.resources = sfn, list(resources)

    def client(self, name):
        if name == "stepfunctions":
            return self.sfn
        cloud = self

        class Cfn:
            def get_paginator(self, _):
                class Pages:
                    def paginate(self, StackName):
                        yield {"StackResourceSummaries": cloud.resources}
                return Pages()
        return Cfn()


SCHEDULE = ScanSchedule("security-orchestrator-Reconcile-ABC", "rate(15 minutes)", SCAN_INPUT)


def test_the_scan_shows_the_schedules_latest_run_not_a_newer_execution_of_something_else():
    sfn = _Sfn([("arn:other", T0 + timedelta(minutes=9), json.dumps({"detail": {"eventName": "CreatePolicy"}}),
                 "SUCCEEDED"),
                ("arn:scan", T0 + timedelta(minutes=5), SCAN_INPUT, "SUCCEEDED")])
    held = scan_held(_Cloud(sfn), MACHINE, SCHEDULE, SCP_MESSAGE, now=T0 + timedelta(minutes=12))
    assert held_by_guardrails(held) and held.shown.arn == "arn:scan"
    assert held.summary().startswith("Not run here: the account's guardrails refuse states:StartExecution")
    assert "runs the scan every 15 minutes" in held.summary()
    assert "latest run started at 2026-12-07 12:05:00 UTC (7 min 0 s ago) and is SUCCEEDED" in held.summary()
    assert "the next is due by 12:20:00 UTC" in held.summary()


def test_before_any_run_the_scan_says_when_the_first_is_due_from_the_rules_creation():
    resources = [{"PhysicalResourceId": SCHEDULE.rule, "LastUpdatedTimestamp": T0}]
    held = scan_held(_Cloud(_Sfn([]), resources), MACHINE, SCHEDULE, SCP_MESSAGE, stack_name="s",
                     now=T0 + timedelta(minutes=3))
    assert held.shown is None and held.path() == [] and held.status == "NOT_STARTED"
    assert "It has not run yet: the first run is due at about 12:15:00 UTC." in held.summary()
    unknown = scan_held(_Cloud(_Sfn([])), MACHINE, SCHEDULE, SCP_MESSAGE, now=T0)
    assert "within 15 minutes of the deployment" in unknown.summary()


class _DemoSfn:
    """Step Functions whose publishing UpdateStateMachine fails with `error`; it records every update."""

    def __init__(self, error: ClientError):
        from workshop.teaching import approval_timeout as demo

        self.error, self.calls = error, []
        self.deployed = json.dumps({"StartAt": "M", "States": {"M": {"Type": "Pass", "Parameters": {
            demo.KEY: "States.StringToJson('86400')"}, "End": True}}})

    def client(self, name):  # the `cloud` handle too
        return self

    def describe_state_machine(self, **kwargs):
        return {"definition": self.deployed}

    def update_state_machine(self, **kwargs):
        self.calls.append(kwargs)
        if kwargs.get("publish"):
            raise self.error
        return {}

    def list_executions(self, **kwargs):
        return {"executions": []}


def test_a_refused_publish_is_not_put_back_and_the_demo_shows_the_deployed_limit():
    from workshop.teaching import approval_timeout as demo

    sfn = _DemoSfn(refusal("states:UpdateStateMachine"))
    held = demo.approval_timeout_demo(sfn, MACHINE, "policies/badpolicy.json", seconds=3)
    assert isinstance(held, HeldByGuardrails) and held.action == "states:UpdateStateMachine"
    assert len(sfn.calls) == 1 and sfn.calls[0]["publish"]  # refused, so nothing to put back
    assert "The deployed limit is 86400 s" in held.summary() and "None of the stack's recent executions" in \
        held.summary()


def test_another_error_of_the_demo_is_raised_and_the_definition_put_back():
    from workshop.teaching import approval_timeout as demo

    sfn = _DemoSfn(refusal(code="ThrottlingException", message="Rate exceeded"))
    with pytest.raises(ClientError, match="Rate exceeded"):
        demo.approval_timeout_demo(sfn, MACHINE, "policies/badpolicy.json", seconds=3)
    assert sfn.calls[-1] == {"stateMachineArn": MACHINE, "definition": sfn.deployed}


def test_the_clean_up_says_which_executions_it_could_not_stop_and_why():
    from workshop.teaching.cleanup import stop_running_executions

    class Sfn:
        def get_paginator(self, name):
            class Pages:
                def paginate(self, **kwargs):
                    yield {"executions": [{"executionArn": "arn:e1", "startDate": T0},
                                          {"executionArn": "arn:e2", "startDate": T0}]}
            return Pages()

        def stop_execution(self, **kwargs):
            raise refusal("states:StopExecution")

    class Cloud:
        def stack_outputs(self, name):
            return {"StateMachineArn": MACHINE}

        def client(self, name):
            return Sfn()

    said = stop_running_executions(Cloud(), "security-orchestrator")
    assert said.startswith("Stopped 0 of 2 running execution(s). The account's guardrails keep "
                           "states:StopExecution"), said


def test_an_execution_history_is_not_a_refusal():
    assert not held_by_guardrails(ExecutionHistory(execution={}, events=[]))
