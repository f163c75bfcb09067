"""Every IAM call that makes a permission live reaches the state machine as AWS delivers it.

CloudTrail's documented shapes (the IAM API's parameters, camel-cased; these calls
return nothing, so `responseElements` is null), the template's rule matching each,
and a disabled rule delivering nothing (AWS managed policies in a running local cloud:
tests/functional/localcloud/test_watched_iam_calls.py).
"""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import boto3
import yaml
from moto import mock_aws

from workshop.localcloud.services import cloudtrail
from workshop.localcloud.services.events import targets
from workshop.localcloud.services.stepfunctions import engine

ROOT = Path(__file__).resolve().parents[3]
DOCUMENT = (ROOT / "policies/badpolicy.json").read_text()
POLICY = "arn:aws:iam::123456789012:policy/p"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"

# call -> (the IAM API's parameters, CloudTrail's requestParameters for them)
CALLS = {
    "SetDefaultPolicyVersion": ({"PolicyArn": POLICY, "VersionId": "v3"}, {"policyArn": POLICY, "versionId": "v3"}),
    "PutUserPolicy": ({"UserName": "u", "PolicyName": "n", "PolicyDocument": DOCUMENT},
                      {"userName": "u", "policyName": "n", "policyDocument": DOCUMENT}),
    "PutRolePolicy": ({"RoleName": "r", "PolicyName": "n", "PolicyDocument": DOCUMENT},
                      {"roleName": "r", "policyName": "n", "policyDocument": DOCUMENT}),
    "PutGroupPolicy": ({"GroupName": "g", "PolicyName": "n", "PolicyDocument": DOCUMENT},
                       {"groupName": "g", "policyName": "n", "policyDocument": DOCUMENT}),
    "AttachUserPolicy": ({"UserName": "u", "PolicyArn": ADMIN}, {"userName": "u", "policyArn": ADMIN}),
    "AttachRolePolicy": ({"RoleName": "r", "PolicyArn": ADMIN}, {"roleName": "r", "policyArn": ADMIN}),
    "AttachGroupPolicy": ({"GroupName": "g", "PolicyArn": ADMIN}, {"groupName": "g", "policyArn": ADMIN}),
    "UpdateUser": ({"UserName": "u", "NewUserName": "v"}, {"userName": "u", "newUserName": "v"}),
    "UpdateGroup": ({"GroupName": "g", "NewGroupName": "h"}, {"groupName": "g", "newGroupName": "h"}),
    "AddUserToGroup": ({"GroupName": "g", "UserName": "u"}, {"groupName": "g", "userName": "u"}),
    "PutRolePermissionsBoundary": ({"RoleName": "r", "PermissionsBoundary": POLICY},
                                   {"roleName": "r", "permissionsBoundary": POLICY}),
    "DeleteRolePermissionsBoundary": ({"RoleName": "r"}, {"roleName": "r"}),
    "UpdateAssumeRolePolicy": ({"RoleName": "r", "PolicyDocument": DOCUMENT},
                               {"roleName": "r", "policyDocument": DOCUMENT}),
}
# Watched by the rule, and routed by the state machine, though moto keeps no user boundaries.
NOT_IN_MOTO = {"PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary"}
# Watched by the same rule, not IAM's: S3's management event (tests/unit/localcloud/test_cloudtrail.py).
OTHER_SERVICES = {"PutBucketPolicy"}


def _event(action: str) -> dict:
    """The event the IAM model emits for the call sent over HTTP (its form is CloudTrail's requestParameters)."""
    from workshop.localcloud.server import calls
    from workshop.localcloud.server.authentication import learner_caller

    parameters, _ = CALLS[action]
    form = parse_qs(urlencode({"Action": action, **parameters}))
    call = calls.Call(learner_caller("LCAKTEST"), service="iam", action=action, parameters=form)
    return cloudtrail.event_for_change(action, {}, None, "123456789012", call)


def _rule_pattern() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    return template["Resources"]["StateMachine"]["Properties"]["Events"]["PolicyChanged"]["Properties"]["Pattern"]


def test_each_watched_call_is_emitted_with_cloudtrails_request_parameters_and_no_response():
    for action, (_, expected) in CALLS.items():
        detail = _event(action)["detail"]
        assert action in cloudtrail.IAM_WRITE_ACTIONS
        assert detail["eventName"] == action and detail["eventSource"] == "iam.amazonaws.com"
        assert detail["requestParameters"] == expected, action
        assert detail["responseElements"] is None, action


def test_the_templates_rule_matches_every_watched_call():
    from moto.events.models import EventPattern

    matcher = EventPattern.load(json.dumps(_rule_pattern()))
    for action in CALLS:
        assert matcher.matches_event(_event(action)), action
    assert set(_rule_pattern()["detail"]["eventName"]) == {"CreatePolicy", "CreatePolicyVersion", *CALLS, *NOT_IN_MOTO,
                                                           *OTHER_SERVICES}


def test_a_disabled_rule_delivers_nothing():
    with mock_aws():
        engine.install(port=5000)
        targets.install()
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        events = boto3.client("events", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="m", roleArn="arn:aws:iam::123456789012:role/r",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["aws.iam"]}))
        events.put_targets(Rule="r", Targets=[{"Id": "sm", "Arn": machine}])
        entry = {"Source": "aws.iam", "DetailType": "AWS API Call via CloudTrail", "Detail": "{}"}
        events.disable_rule(Name="r")
        events.put_events(Entries=[entry])
        assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
        events.enable_rule(Name="r")
        events.put_events(Entries=[entry])
        assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1
