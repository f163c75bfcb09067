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


class _Recording:
    """A Step Functions client that records what the helper asks of it."""

    def __init__(self, definition, publish_fails=False):
        self.definition, self.publish_fails, self.calls = definition, publish_fails, []

    def describe_state_machine(self, **kwargs):
        return {"definition": self.definition}

    def update_state_machine(self, **kwargs):
        self.calls.append(("update", kwargs))
        if kwargs.get("publish"):
            if self.publish_fails:
                raise RuntimeError("throttled")
            return {"stateMachineVersionArn": kwargs["stateMachineArn"] + ":7"}
        return {}

    def delete_state_machine_version(self, **kwargs):
        self.calls.append(("delete", kwargs))

    def client(self, name):
        return self


def test_the_short_limit_lives_in_a_version_and_the_deployed_definition_is_back_at_once():
    from workshop.teaching.approval_timeout import shortened_approval_timeout, time_limits

    deployed = json.dumps(substitute(reference_definition(), DEFAULT_SUBSTITUTIONS))
    sfn = _Recording(deployed)
    with shortened_approval_timeout(sfn, "arn:sm", 3) as short:
        assert short.version_arn == "arn:sm:7" and "ModifyState" in str(short)
        (_, published), (_, restored) = sfn.calls
        assert published["publish"] is True and time_limits(published["definition"]) == [3]
        assert restored == {"stateMachineArn": "arn:sm", "definition": deployed}  # byte for byte, before any start
    assert sfn.calls[-1] == ("delete", {"stateMachineVersionArn": "arn:sm:7"})
    assert time_limits(deployed) == [86400]

    kept = _Recording(deployed)
    with shortened_approval_timeout(kept, "arn:sm", 3, in_force=True):
        assert [kind for kind, _ in kept.calls] == ["update"]  # the short limit is the machine's too, for now
    assert kept.calls[1:] == [("update", {"stateMachineArn": "arn:sm", "definition": deployed}),
                              ("delete", {"stateMachineVersionArn": "arn:sm:7"})]
    interrupted = _Recording(deployed)
    with pytest.raises(KeyboardInterrupt):
        with shortened_approval_timeout(interrupted, "arn:sm", 3, in_force=True):
            raise KeyboardInterrupt
    assert interrupted.calls[-2] == ("update", {"stateMachineArn": "arn:sm", "definition": deployed})
    failing = _Recording(deployed, publish_fails=True)
    with pytest.raises(RuntimeError, match="throttled"):
        with shortened_approval_timeout(failing, "arn:sm", 3):
            pass
    assert failing.calls[-1] == ("update", {"stateMachineArn": "arn:sm", "definition": deployed})


def test_when_cloudtrails_own_execution_reverted_first_on_the_day_long_limit_the_demo_says_so(monkeypatch, capsys):
    """Only on a quick CloudTrail (never on AWS, where it takes minutes): followed if it runs the short limit,
    else stopped, with what happened and what to do."""
    from types import SimpleNamespace

    from workshop.teaching import approval_timeout as demo

    deployed = json.dumps(substitute(reference_definition(), DEFAULT_SUBSTITUTIONS))
    short, _ = with_timeout(json.loads(deployed), 3)

    class Sfn(_Recording):  # the demo's Step Functions and IAM clients
        ran = [deployed]  # what CloudTrail's execution ran, attempt by attempt (the last one repeats)
        get_policy_version = None  # only handed to iam_call, which is replaced below

        def describe_state_machine_for_execution(self, executionArn):
            return {"definition": self.ran.pop(0) if len(self.ran) > 1 else self.ran[0]}

        def stop_execution(self, **kwargs):
            self.calls.append(("stop", kwargs))

    sfn = Sfn(deployed)
    fired = SimpleNamespace(arn="arn:aws:iam::123456789012:policy/workshop-timeout", name="workshop-timeout",
                            document="{}", version_id="v1")
    ended = {"direct": SimpleNamespace(path=lambda: ["TempRemove", "CheckDuplicate", "AlreadyHandled"]),
             "other": SimpleNamespace(path=lambda: ["AskUser", "NotifyTimeout", "ApprovalTimedOut"])}
    started = []
    for name, value in {"fire_policy": lambda *a, **k: fired, "iam_call": lambda *a, **k: None,
                        "account_id": lambda cloud: "123456789012", "cloudtrail_event": lambda *a: {},
                        "start_with_event": lambda cloud, arn, event, prefix: started.append(arn) or "direct",
                        "wait_for_end": lambda cloud, arn, timeout: ended[arn],
                        "find_execution": lambda *a: "other"}.items():
        monkeypatch.setattr(demo, name, value)
    with pytest.raises(demo.TimeoutDemoRaced, match="Run this cell again") as raced:
        demo.approval_timeout_demo(sfn, "arn:sm", "policies/badpolicy.json", seconds=3)
    assert started == ["arn:sm:7"] * demo.ATTEMPTS  # the demo's own executions ran the version, one per policy
    assert "86400 s to decide" in str(raced.value)
    stop = ("stop", {"executionArn": "other", "error": "WorkshopTimeoutDemo",
                     "cause": "CloudTrail's execution of the demo's policy ran the deployed time limit"})
    assert sfn.calls.count(stop) == demo.ATTEMPTS
    assert "Once more, with a new policy." in capsys.readouterr().out
    # the first policy's CloudTrail execution started before the short limit was used, the second's after
    Sfn.ran = [deployed, json.dumps(short)]
    started.clear()
    assert demo.approval_timeout_demo(Sfn(deployed), "arn:sm", "policies/badpolicy.json", seconds=3) is ended["other"]
    assert started == ["arn:sm:7", "arn:sm:7"]
    capsys.readouterr()
    Sfn.ran = [json.dumps(short)]  # CloudTrail's execution started while the short limit was deployed
    assert demo.approval_timeout_demo(sfn, "arn:sm", "policies/badpolicy.json", seconds=3) is ended["other"]
    said = capsys.readouterr().out
    assert "to decide (the limit is set in ModifyState)" in said  # where, not a bare state name
    assert "The execution started on version 7 ended at AlreadyHandled" in said  # which execution, by name
    assert "CloudTrail's own execution for workshop-timeout had reverted the change first" in said


def test_a_demo_execution_that_found_the_change_already_reverted_follows_cloudtrails(monkeypatch, capsys):
    """CloudTrail's execution may revert before the demo's ValidatePolicy reads IAM: the demo's own then
    judges the harmless version in force ("alert"), and the one to follow is CloudTrail's."""
    import json
    from types import SimpleNamespace

    from workshop.teaching import approval_timeout as demo

    short, _ = with_timeout(json.loads(json.dumps(substitute(reference_definition(), DEFAULT_SUBSTITUTIONS))), 3)

    class Sfn(_Recording):
        get_policy_version = None

        def describe_state_machine_for_execution(self, executionArn):
            return {"definition": json.dumps(short)}

    fired = SimpleNamespace(arn="arn:aws:iam::123456789012:policy/workshop-timeout", name="workshop-timeout",
                            document="{}", version_id="v1")
    ended = {"direct": SimpleNamespace(path=lambda: ["ValidatePolicy", "ChooseAction", "AllowWithNotification"]),
             "other": SimpleNamespace(path=lambda: ["AskUser", "NotifyTimeout", "ApprovalTimedOut"])}
    for name, value in {"fire_policy": lambda *a, **k: fired, "iam_call": lambda *a, **k: None,
                        "account_id": lambda cloud: "123456789012", "cloudtrail_event": lambda *a: {},
                        "start_with_event": lambda cloud, arn, event, prefix: "direct",
                        "wait_for_end": lambda cloud, arn, timeout: ended[arn],
                        "find_execution": lambda *a: "other"}.items():
        monkeypatch.setattr(demo, name, value)
    assert demo.approval_timeout_demo(Sfn(json.dumps(short)), "arn:sm", "badpolicy.json", seconds=3) is ended["other"]
    assert "ended at AllowWithNotification: CloudTrail's own execution" in capsys.readouterr().out
