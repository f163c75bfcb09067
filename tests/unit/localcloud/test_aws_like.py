"""The AWS-like mode's rules, on their own (the mode end to end: tests/e2e/test_aws_like.py)."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from workshop.localcloud import aws_like
from workshop.localcloud.aws_like import AwsLikeMode, Settings, parse_delay, trail_records_iam_writes, \
    trusts_step_functions


def _trail(logging=True, multi_region=True, region="eu-west-1", global_events=True, basic=(), advanced=()):
    return SimpleNamespace(status=SimpleNamespace(is_logging=logging), is_multi_region=multi_region,
                           region_name=region, include_global_service_events=global_events,
                           get_event_selectors=lambda: (list(basic), list(advanced)))


def test_a_trail_records_iam_writes_only_when_every_condition_holds():
    assert trail_records_iam_writes(_trail())
    assert trail_records_iam_writes(_trail(multi_region=False, region="us-east-1"))
    assert not trail_records_iam_writes(_trail(logging=False))
    assert not trail_records_iam_writes(_trail(multi_region=False, region="eu-west-1"))  # IAM's are in us-east-1
    assert not trail_records_iam_writes(_trail(global_events=False))


@pytest.mark.parametrize("basic, recorded", [
    ([{"ReadWriteType": "All", "IncludeManagementEvents": True}], True),
    ([{"ReadWriteType": "WriteOnly"}], True),
    ([{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}], False),
    ([{"ReadWriteType": "All", "IncludeManagementEvents": False}], False),
    ([{"ReadWriteType": "All", "ExcludeManagementEventSources": ["iam.amazonaws.com"]}], False),
    ([{"ReadWriteType": "ReadOnly"}, {"ReadWriteType": "WriteOnly"}], True),
])
def test_basic_event_selectors(basic, recorded):
    assert trail_records_iam_writes(_trail(basic=basic)) is recorded


@pytest.mark.parametrize("fields, recorded", [
    ([{"Field": "eventCategory", "Equals": ["Management"]}], True),
    ([{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["false"]}], True),
    ([{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["true"]}], False),
    ([{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}],
     False),
    ([{"Field": "eventCategory", "Equals": ["Management"]},
      {"Field": "eventSource", "NotEquals": ["iam.amazonaws.com"]}], False),
])
def test_advanced_event_selectors(fields, recorded):
    assert trail_records_iam_writes(_trail(advanced=[{"FieldSelectors": fields}])) is recorded


@pytest.mark.parametrize("trust, assumable", [
    ({"Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
     True),
    ({"Statement": {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "states.us-east-1.amazonaws.com"]},
                    "Action": ["sts:TagSession", "sts:AssumeRole"]}}, True),
    ({"Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:*"}]}, True),
    ({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]}, True),
    ({"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
     False),
    ({"Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
                     "Action": "sts:AssumeRoleWithSAML"}]}, False),
    ({"Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"},
                    {"Effect": "Deny", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
     False),
    ("not json", False), ({}, False),
])
def test_the_trust_policy_must_let_step_functions_assume_the_role(trust, assumable):
    assert trusts_step_functions(trust) is assumable


def test_settings_and_the_delay_option():
    assert parse_delay("1-3") == (1.0, 3.0) and parse_delay("5") == (5.0, 5.0) and parse_delay("0.5-0.5") == (0.5, 0.5)
    for bad in ("3-1", "a-b", "-1", "1-2-3", ""):
        with pytest.raises(ValueError, match="MIN-MAX"):
            parse_delay(bad)
    with pytest.raises(ValueError):
        Settings(event_delay=(2, 1))
    with pytest.raises(ValueError):
        Settings(iam_lag=-1)
    for bad in ({"lambda_concurrency_limit": 0}, {"lambda_concurrency_limit": 2.5}, {"lambda_concurrency_limit": True},
                {"definition_lag": -1}, {"day_length": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Settings(**bad)
    assert Settings((1, 3), 0.5, 10, 2, 60).cli_args() == [
        "--like-aws", "--event-delay", "1-3", "--iam-lag", "0.5", "--lambda-concurrency-limit", "10",
        "--definition-lag", "2", "--day-length", "60"]
    assert Settings().lambda_concurrency_limit == 1000 and Settings().day_length == 86400


def test_the_cli_passes_every_setting_to_the_mode(monkeypatch):
    from workshop.localcloud.server import cli, process

    started = {}
    monkeypatch.setattr(process, "serve", lambda port, parent_pid=None, like_aws=None, iam=True: started.update(
        settings=like_aws, iam=iam) or 0)
    monkeypatch.setattr(cli.os, "_exit", lambda code: None)
    learner_policy = str(Path(__file__).resolve().parents[3] / "policies" / "learner-policy.json")
    wanted = Settings((1, 3), 0.5, 10, 2, 60, (learner_policy,))
    cli.main(["up", "--port", "1", *wanted.cli_args()])
    assert started["settings"] == wanted and started["iam"] is True
    cli.main(["up", "--port", "1", "--like-aws", "--no-iam"])
    assert started["settings"] == Settings() and started["iam"] is False


class _Function:
    def __init__(self, reserved=None):
        self.reserved_concurrency, self.code_size = reserved, 100


def test_a_reservation_is_refused_when_it_leaves_fewer_than_100_unreserved():
    from moto.awslambda.exceptions import InvalidParameterValueException

    mode = AwsLikeMode(Settings(lambda_concurrency_limit=1000))
    other, mine = _Function("500"), _Function(None)
    backend = SimpleNamespace(list_functions=lambda: [other, mine])
    mode.check_reservation(backend, mine, 400)  # 1000 - 500 - 400 = 100 left: allowed
    with pytest.raises(InvalidParameterValueException) as refused:
        mode.check_reservation(backend, mine, 401)
    assert refused.value.message == aws_like.RESERVATION_REFUSED
    mine.reserved_concurrency = 400
    mode.check_reservation(backend, mine, 400)  # a reservation replaced is not counted twice
    new_account = AwsLikeMode(Settings(lambda_concurrency_limit=10))
    with pytest.raises(InvalidParameterValueException):
        new_account.check_reservation(SimpleNamespace(list_functions=lambda: []), None, 1)
    new_account.check_reservation(SimpleNamespace(list_functions=lambda: []), None, 0)  # throttling is allowed
    settings = new_account.account_settings(SimpleNamespace(list_functions=lambda: [_Function(), _Function()]))
    assert settings["AccountLimit"]["ConcurrentExecutions"] == settings["AccountLimit"][
        "UnreservedConcurrentExecutions"] == 10
    assert settings["AccountUsage"] == {"TotalCodeSize": 200, "FunctionCount": 2}


def test_only_failed_stacks_refuse_updates_with_cloudformations_message():
    from moto.cloudformation.exceptions import ValidationError

    def stack(status):
        return SimpleNamespace(name="s", stack_id=f"arn:aws:cloudformation:us-east-1:1:stack/s/{status}", status=status)

    for status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"):
        with pytest.raises(ValidationError) as refused:
            aws_like.refuse_update(SimpleNamespace(stacks={"id": stack(status)}), "s")
        assert refused.value.message == (f"Stack:arn:aws:cloudformation:us-east-1:1:stack/s/{status} is in {status} "
                                         "state and can not be updated.")
    for status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
        aws_like.refuse_update(SimpleNamespace(stacks={"id": stack(status)}), "s")


def test_a_new_definition_lags_for_definition_lag_seconds(monkeypatch):
    clock = [50.0]
    monkeypatch.setattr(aws_like.time, "monotonic", lambda: clock[0])
    mode = AwsLikeMode(Settings(definition_lag=2))
    arn = "arn:aws:states:us-east-1:1:stateMachine:m"
    mode._definitions[arn] = (clock[0], "previous")
    assert mode.lagging_definition(arn) == "previous" and mode.lagging_definition(arn + ":1") is None
    clock[0] += 2
    assert mode.lagging_definition(arn) is None


def test_delays_are_drawn_from_the_range():
    mode = AwsLikeMode(Settings((1, 3), 0.5))
    draws = [mode.delay() for _ in range(200)]
    assert all(1 <= d <= 3 for d in draws) and max(draws) - min(draws) > 1


def test_iam_reads_lag_only_for_what_was_just_created(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(aws_like.time, "monotonic", lambda: clock[0])
    mode = AwsLikeMode(Settings((1, 1), 2.0))
    arn = "arn:aws:iam::123456789012:policy/p"
    mode.iam_written(b"Action=CreatePolicy&PolicyName=p",
                     f"<CreatePolicyResponse><CreatePolicyResult><Policy><Arn>{arn}</Arn></Policy>"
                     "</CreatePolicyResult></CreatePolicyResponse>".encode())
    read = f"Action=GetPolicyVersion&PolicyArn={arn}&VersionId=v1".encode()
    refused = mode.iam_read_refused(read)
    assert b"<Code>NoSuchEntity</Code>" in refused and arn.encode() in refused
    assert mode.iam_read_refused(b"Action=GetPolicy&PolicyArn=arn:aws:iam::123456789012:policy/other") is None
    assert mode.iam_read_refused(b"Action=CreatePolicyVersion&PolicyArn=" + arn.encode()) is None  # writes pass
    mode.iam_written(b"Action=CreateRole&RoleName=r", b"<x/>")
    assert b"The role with name r cannot be found." in mode.iam_read_refused(b"Action=GetRole&RoleName=r")
    clock[0] += 2.5
    assert mode.iam_read_refused(read) is None and mode.iam_read_refused(b"Action=GetRole&RoleName=r") is None


def test_teststate_requests_the_mode_leaves_alone():
    mode = AwsLikeMode(Settings())
    assert mode.test_state_refusal("AWSStepFunctions.ValidateStateMachineDefinition", b"{}", "1") is None
    assert mode.test_state_refusal("AWSStepFunctions.TestState", b"not json", "1") is None
    status, error = mode.test_state_refusal("AWSStepFunctions.TestState", b'{"definition": "{}"}', "1")
    assert status == 400 and error["__type"] == "ValidationException"
    status, error = mode.test_state_refusal("AWSStepFunctions.TestState",
                                            b'{"roleArn": "arn:aws:iam::1:user/u"}', "1")
    assert error["__type"] == "InvalidArn"


def test_the_cli_refuses_delays_without_the_mode_and_bad_ranges(capsys):
    from workshop.localcloud.server.cli import main

    assert main(["up", "--port", "1", "--event-delay", "1-2"]) == 2
    assert "need --like-aws" in capsys.readouterr().err
    assert main(["up", "--port", "1", "--like-aws", "--event-delay", "3-1"]) == 2
    assert "MIN-MAX" in capsys.readouterr().err
    assert main(["up", "--port", "1", "--lambda-concurrency-limit", "10"]) == 2
    assert "need --like-aws" in capsys.readouterr().err
    assert main(["up", "--port", "1", "--like-aws", "--lambda-concurrency-limit", "0"]) == 2
    assert "lambda_concurrency_limit" in capsys.readouterr().err


# --- 5. a trail's bucket must let CloudTrail write -----------------------------------------------------------

TRAIL_ARN = "arn:aws:cloudtrail:us-east-1:123456789012:trail/workshop-trail"


def _cloudtrail_policy(bucket="logs", prefix="", source=TRAIL_ARN, acl="bucket-owner-full-control"):
    from workshop.aws.trail import bucket_policy

    policy = bucket_policy(bucket, "123456789012", "workshop-trail", prefix=prefix)
    for statement in policy["Statement"]:
        statement["Condition"]["StringEquals"]["aws:SourceArn"] = source
    policy["Statement"][1]["Condition"]["StringEquals"]["s3:x-amz-acl"] = acl
    return policy


@pytest.mark.parametrize("policy, allowed", [
    (_cloudtrail_policy(), True),
    (_cloudtrail_policy(prefix="audit"), False),  # written for a prefix the trail does not use
    (_cloudtrail_policy(source="arn:aws:cloudtrail:us-east-1:123456789012:trail/another"), False),
    (_cloudtrail_policy(acl="private"), False),
    ({"Version": "2012-10-17", "Statement": [_cloudtrail_policy()["Statement"][0]]}, False),  # the ACL check alone
    ({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:*",
         "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"]}]}, True),  # broader, unconditioned: enough
    ({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "s3:*",
         "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"]}]}, False),  # not CloudTrail's principal
    (None, False),
])
def test_cloudtrail_may_write_only_where_the_bucket_policy_lets_this_trail(policy, allowed):
    assert aws_like.cloudtrail_may_write(policy, "logs", "", "123456789012", TRAIL_ARN) is allowed


def test_a_policy_for_a_prefix_fits_a_trail_with_that_prefix():
    assert aws_like.cloudtrail_may_write(_cloudtrail_policy(prefix="audit"), "logs", "audit", "123456789012",
                                         TRAIL_ARN)
