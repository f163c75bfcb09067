"""Every place the local cloud patches moto (seams.py): each seam pinned, each bug shown mended.

The registry is checked against the pinned moto (a moto upgrade that moves a
seam fails here, loudly), against the tests and docs/upstream.md it names,
and against what installing each group really changes.
"""

import inspect
import json
import re
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from workshop.localcloud import seams
from workshop.localcloud.services.awslambda import workers
from workshop.localcloud.services.cloudformation import stacks

ROOT = Path(__file__).resolve().parents[3]


def _test_names() -> set[str]:
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.update(re.findall(r"^def (test_\w+)\(", path.read_text(), re.MULTILINE))
    return names


@pytest.mark.parametrize("seam", seams.SEAMS, ids=lambda seam: seam.name)
def test_every_seam_has_its_target_its_test_and_its_upstream_issue_text(seam):
    """Fails loudly if moto moves a seam, or a seam names no test or (fix, speed patch) no issue text."""
    assert seam.kind in (seams.FIX, seams.SPEED, seams.SERVICE) and seam.group in seams.GROUPS
    assert seam.targets, f"{seam.name} names nothing it patches"
    for target in seam.targets:
        target.check(seam.name)  # raises "moto moved ..."
    assert seam.test in _test_names(), f"no test named {seam.test} shows {seam.name}"
    assert (seam.apply is None) == (seam.kind == seams.SERVICE), "fixes and speed patches are applied here"
    if seam.kind in (seams.FIX, seams.SPEED):
        upstream = (ROOT / "docs" / "upstream.md").read_text()
        assert f"### `{seam.upstream_section}`" in upstream, f"docs/upstream.md has no issue text for {seam.name}"


def test_every_upstream_section_belongs_to_a_seam():
    upstream = (ROOT / "docs" / "upstream.md").read_text()
    sections = set(re.findall(r"^### `([a-z0-9-]+)`", upstream, re.MULTILINE))
    assert sections == {seam.upstream_section for seam in seams.SEAMS if seam.upstream_section}


def test_seam_names_are_unique():
    names = [seam.name for seam in seams.SEAMS]
    assert len(names) == len(set(names))


def test_the_seams_still_hold_the_bugs_the_fixes_work_around():
    """If moto fixes one of these, the test says so: then drop the fix and its docs/upstream.md entry."""
    from moto.awslambda.models import LambdaFunction
    from moto.cloudformation.parsing import ResourceMap
    from moto.sns.models import Topic
    from moto.stepfunctions.parser.api import InvalidDefinition

    from moto.core.exceptions import AWSError

    assert '"Handled"' in inspect.getsource(LambdaFunction.invoke)
    assert "code" in InvalidDefinition.__dict__ and "self.TYPE" in inspect.getsource(AWSError.__init__)
    assert "TopicArn" not in inspect.getsource(Topic.get_cfn_attribute)
    from moto.events.models import EventBus

    own = EventBus.__dict__.get("physical_resource_id")
    assert own is None or getattr(own.fget, "_localcloud_fix", None) == "events-eventbus-ref"
    assert "DependsOn" not in inspect.getsource(ResourceMap.update)
    from moto.iam.models import Role
    from moto.sts.models import STSBackend
    from moto.sts.responses import TokenResponse

    assert "AKIAIOSFODNN7EXAMPLE" in inspect.getsource(getattr(TokenResponse.get_session_token, "__wrapped__",
                                                               TokenResponse.get_session_token))
    assert "user/moto" in inspect.getsource(STSBackend.get_caller_identity)
    from moto.sns.models import Subscription

    assert "2bcfbf39-05c3-41de-beaa-fcfcc21c8f55" in inspect.getsource(
        getattr(Subscription.get_post_data, "__wrapped__", Subscription.get_post_data))
    create = Role.create_from_cloudformation_json
    assert "ManagedPolicyArns" not in inspect.getsource(getattr(create, "__wrapped__", create))


def test_a_functions_exception_is_unhandled_as_lambda_says():
    from moto.awslambda.models import LambdaFunction

    calls = []

    class Fake:
        def invoke(self, body, request_headers, response_headers):
            calls.append(body)
            response_headers["x-amz-function-error"] = "Handled"
            return b"{}"

    saved = LambdaFunction.invoke
    try:
        LambdaFunction.invoke = Fake.invoke
        workers.install_function_error_unhandled()
        headers = {}
        LambdaFunction.invoke(object(), "{}", {}, headers)
        assert headers["x-amz-function-error"] == "Unhandled" and calls == ["{}"]
    finally:
        LambdaFunction.invoke = saved


def test_a_presigned_request_is_routed_by_the_scope_in_its_query():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    dispatcher = DomainDispatcherApplication(create_backend_app)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_HOST": "127.0.0.1:4566",
               "QUERY_STRING": "Action=ListUsers&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fiam%2Faws4_request"}
    assert "iam" not in (dispatcher.infer_service_region_host(dict(environ), "/") or "")  # moto's guess
    seams.install("eager")
    assert "iam" in DomainDispatcherApplication.infer_service_region_host(dispatcher, dict(environ), "/")


def test_an_event_delivered_whole_to_sqs_keeps_its_account():
    with mock_aws():
        seams.install("eager")
        events, sqs = boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventPattern=json.dumps({"source": ["shop"]}))
        events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": arn}])
        events.put_events(Entries=[{"Source": "shop", "DetailType": "order", "Detail": "{}"}])
        body = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert body["account"] == "123456789012" and body["detail-type"] == "order"


def test_a_targets_input_and_input_path_are_delivered_instead_of_the_event():
    with mock_aws():
        seams.install("eager")
        events, sqs = boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        arns = {}
        for name in ("constant", "path"):
            queue = sqs.create_queue(QueueName=name)["QueueUrl"]
            arns[name] = (queue, sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"])
        events.put_rule(Name="all", EventPattern=json.dumps({"source": ["shop"]}))
        events.put_targets(Rule="all", Targets=[
            {"Id": "c", "Arn": arns["constant"][1], "Input": json.dumps({"job": "<id> stays"})},
            {"Id": "p", "Arn": arns["path"][1], "InputPath": "$.detail"}])
        events.put_events(Entries=[{"Source": "shop", "DetailType": "order", "Detail": '{"n": 7}'}])
        bodies = {name: json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
                  for name, (queue, _) in arns.items()}
    assert bodies == {"constant": {"job": "<id> stays"}, "path": {"n": 7}}


def test_an_invalid_state_machine_definition_answers_invalid_definition():
    from moto.core.config import default_user_config

    from workshop.localcloud.services.stepfunctions import engine

    with mock_aws():
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        engine.install(4566, None)
        seams.install("stepfunctions")
        client = boto3.client("stepfunctions", region_name="us-east-1")
        with pytest.raises(ClientError) as refused:
            client.create_state_machine(name="m", definition='{"StartAt": "A", "States": {}}',
                                        roleArn="arn:aws:iam::123456789012:role/r")
    assert refused.value.response["Error"]["Code"] == "InvalidDefinition"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _cloud():
    stacks.install("http://127.0.0.1:4566")
    seams.install("eager")
    seams.install("cloudformation")
    return boto3.client("cloudformation", region_name="us-east-1")


def _by_change_set(client, name, template, kind="CREATE"):
    client.create_change_set(StackName=name, ChangeSetName=f"{name}-{kind}", TemplateBody=json.dumps(template),
                             ChangeSetType=kind, Capabilities=["CAPABILITY_IAM"])
    client.execute_change_set(ChangeSetName=f"{name}-{kind}", StackName=name)
    return client.describe_stacks(StackName=name)["Stacks"][0]


def _failures(client, name):
    return [(e["LogicalResourceId"], e["ResourceStatusReason"])
            for e in client.describe_stack_events(StackName=name)["StackEvents"]
            if e["ResourceStatus"].endswith("_FAILED")]


RULE_BEFORE_BUS = {"Resources": {
    "Rule": {"Type": "AWS::Events::Rule", "DependsOn": "Bus",
             "Properties": {"EventBusName": "orders", "EventPattern": {"source": ["shop"]}}},
    "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "orders"}},
}}


def test_depends_on_orders_a_change_set_as_it_orders_create_stack():
    with mock_aws():
        client = _cloud()
        stack = _by_change_set(client, "bus", RULE_BEFORE_BUS)
        assert stack["StackStatus"] == "CREATE_COMPLETE", _failures(client, "bus")
        events = boto3.client("events", region_name="us-east-1")
        assert [r["Name"] for r in events.list_rules(EventBusName="orders")["Rules"]]
        # an update that adds a second bus and its rule, rule first in the template
        update = json.loads(json.dumps(RULE_BEFORE_BUS))
        update["Resources"]["Rule2"] = {"Type": "AWS::Events::Rule", "DependsOn": ["Bus2"],
                                        "Properties": {"EventBusName": "refunds",
                                                       "EventPattern": {"source": ["shop"]}}}
        update["Resources"]["Bus2"] = {"Type": "AWS::Events::EventBus", "Properties": {"Name": "refunds"}}
        stack = _by_change_set(client, "bus", update, kind="UPDATE")
        assert stack["StackStatus"] == "UPDATE_COMPLETE", _failures(client, "bus")


def test_a_stack_is_deleted_each_resource_after_those_that_name_it(monkeypatch):
    from moto.cloudformation.parsing import ResourceMap

    # a chain of eight, each naming the one before by Ref, Sub, Join or DependsOn: in set order it is
    # deleted as the chain reversed once in 8! runs
    chain = [f"P{i}" for i in range(8)]
    names = [{"Ref": "P@"}, {"Fn::Sub": "${P@}-x"}, {"Fn::Sub": ["${Name}", {"Name": {"Ref": "P@"}}]},
             {"Fn::Join": ["", [{"Ref": "P@"}]]}]
    resources = {"P0": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "p0", "Type": "String", "Value": "first"}}}
    for i in range(1, 8):
        value = json.loads(json.dumps(names[i % 4]).replace("@", str(i - 1)))
        resources[f"P{i}"] = {"Type": "AWS::SSM::Parameter",
                              "Properties": {"Name": f"p{i}", "Type": "String", "Value": value}}
    resources["P7"]["Properties"]["Value"] = "last"
    resources["P7"]["DependsOn"] = "P6"
    deleted = []
    original = ResourceMap._delete_resource

    def recorded(self, parsed, resource_json):
        deleted.append(parsed.logical_resource_id)
        return original(self, parsed, resource_json)

    with mock_aws():
        client = _cloud()
        client.create_stack(StackName="chain", TemplateBody=json.dumps({"Resources": resources}))
        monkeypatch.setattr(ResourceMap, "_delete_resource", recorded)
        client.delete_stack(StackName="chain")
    assert deleted == list(reversed(chain))
    assert stacks.references({"Fn::GetAtt": ["Fn", "Arn"], "B": {"Fn::GetAtt": "Topic.TopicName"},
                              "DependsOn": ["Role"]}) == {"Fn", "Topic", "Role"}


def test_dependency_order_keeps_template_order_otherwise_and_survives_cycles():
    resources = {"C": {"DependsOn": ["A", "Missing"]}, "B": {}, "A": {"DependsOn": "B"},
                 "X": {"DependsOn": "Y"}, "Y": {"DependsOn": "X"}}
    assert list(stacks.dependency_order(resources)) == ["B", "A", "C", "Y", "X"]


def test_getatt_topic_arn_and_topic_name():
    template = {"Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "alerts"}}},
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Topic", "TopicArn"]}},
                    "Name": {"Value": {"Fn::GetAtt": ["Topic", "TopicName"]}},
                    "Ref": {"Value": {"Ref": "Topic"}}}}
    with mock_aws():
        client = _cloud()
        stack = _by_change_set(client, "topic", template)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs == {"Arn": "arn:aws:sns:us-east-1:123456789012:alerts", "Name": "alerts",
                       "Ref": "arn:aws:sns:us-east-1:123456789012:alerts"}


def test_getatt_state_machine_arn():
    from moto.core.config import default_user_config

    from workshop.localcloud.services.stepfunctions import engine

    template = {"Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "RoleArn": "arn:aws:iam::123456789012:role/r", "StateMachineName": "m",
        "DefinitionString": json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})}}},
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Machine", "Arn"]}}}}
    with mock_aws():
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        engine.install(4566, None)
        client = _cloud()
        stack = _by_change_set(client, "machine-arn", template)
        assert stack["StackStatus"] == "CREATE_COMPLETE", _failures(client, "machine-arn")
    assert stack["Outputs"][0]["OutputValue"] == "arn:aws:states:us-east-1:123456789012:stateMachine:m"


def test_ref_to_an_event_bus_is_its_name():
    template = {"Resources": {"Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "orders"}}},
                "Outputs": {"Name": {"Value": {"Ref": "Bus"}}}}
    with mock_aws():
        client = _cloud()
        stack = _by_change_set(client, "bus-ref", template)
    assert stack["Outputs"][0]["OutputValue"] == "orders"


def test_a_failure_is_blamed_on_the_resource_that_failed_not_on_one_made_on_its_way():
    template = {"Resources": {
        "Deployment": {"Type": "AWS::ApiGateway::Deployment",
                       "Properties": {"RestApiId": "nope", "Description": {"Fn::GetAtt": ["Topic", "TopicName"]}}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "made-on-the-way"}}}}
    with mock_aws():
        client = _cloud()
        stack = _by_change_set(client, "blame", template)
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
        assert [logical for logical, _ in _failures(client, "blame")] == ["Deployment"]
        assert "Deployment" in next(e["ResourceStatusReason"] for e in client.describe_stack_events(
            StackName="blame")["StackEvents"] if e["ResourceStatus"] == "ROLLBACK_IN_PROGRESS")


def test_an_invalid_definition_in_a_stack_is_reported_as_invalid_definition():
    template = {"Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "DefinitionString": json.dumps({"StartAt": "Missing", "States": {}})}}}}
    with mock_aws():
        from moto.core.config import default_user_config

        from workshop.localcloud.services.stepfunctions import engine

        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        engine.install(4566, None)
        seams.install("stepfunctions")
        client = _cloud()
        _by_change_set(client, "machine", template)
        (logical, reason), = _failures(client, "machine")
    assert logical == "Machine" and "(Service error: InvalidDefinition)" in reason


# --- the registry against what installing really changes -------------------------------------

_ABSENT = object()


def _value(target):
    return target.owner_object().__dict__.get(target.attribute, _ABSENT)


def _kits(value) -> bool:
    """Whether `value` (a function, a method wrapper, a property, a stand-in object) is the local cloud's code."""
    for inner in (value, getattr(value, "__func__", None), getattr(value, "fget", None)):
        if inner is not None and str(getattr(inner, "__module__", "") or "").startswith("workshop.localcloud"):
            return True
    return type(value).__module__.startswith("workshop.localcloud")


def _patched_anywhere():
    """(owner, attribute, value) of every attribute of moto (and xmltodict) that holds the kit's code."""
    import sys

    for name, module in list(sys.modules.items()):
        if module is None or not (name.startswith("moto.") or name == "xmltodict"):
            continue
        for attribute, value in list(vars(module).items()):
            if _kits(value):
                yield module, attribute, value
            if isinstance(value, type) and value.__module__ == name:
                for member, held in list(vars(value).items()):
                    if _kits(held):
                        yield value, member, held


def test_each_group_changes_its_targets_and_nothing_unregistered(monkeypatch):
    """Installing a group through the server's wiring changes exactly the targets its seams name
    (no seam claims what it does not patch), and no attribute of moto holds the kit's code unregistered."""
    from workshop.localcloud import aws_like
    from workshop.localcloud.server import credentials, inprocess, wiring
    from workshop.localcloud.services import cloudtrail
    from workshop.localcloud.services.events import targets

    monkeypatch.setattr(wiring, "_installed", set())
    monkeypatch.setattr(targets, "_engine_ready", targets._engine_ready)
    monkeypatch.setattr(cloudtrail, "deliver", cloudtrail.deliver)  # the AWS-like mode replaces it
    changed = [(seam, target) for seam in seams.SEAMS for target in seam.targets if target.change != seams.READ]
    before = {target: _value(target) for _, target in changed}
    endpoint = "http://127.0.0.1:9"
    steps = [(seams.DATA, lambda: seams.install(seams.DATA)),  # what the functions' unit tests install
             (seams.EAGER, lambda: wiring.install_eager(9, endpoint, credentials.new(endpoint)))]
    steps += [(group, lambda group=group: wiring.ensure(group))
              for group in (seams.STEPFUNCTIONS, seams.APIGATEWAY, seams.CLOUDFORMATION)]
    steps += [(seams.AWS_LIKE, lambda: aws_like.AwsLikeMode(aws_like.Settings(), endpoint).install())]
    assert [group for group, _ in steps] == list(seams.GROUPS)
    with mock_aws():
        try:
            done = set()
            for group, step in steps:
                step()
                done.add(group)
                for seam, target in changed:
                    now = _value(target)
                    if seam.group in done:
                        assert now is not before[target], f"{seam.name} ({group}) did not change {target}"
                    elif not any(other.group in done for other, same in changed if same == target):
                        assert now is before[target], f"installing {group} changed {target} of {seam.name}"
            registered = {(id(target.owner_object()), target.attribute) for _, target in changed}
            values = [_value(target) for _, target in changed]
            unregistered = [f"{getattr(owner, '__name__', owner)}.{attribute}"
                            for owner, attribute, value in _patched_anywhere()
                            if (id(owner), attribute) not in registered and not any(value is v for v in values)]
            assert not unregistered, f"moto holds the kit's code at seams not in seams.py: {unregistered}"
        finally:
            inprocess.reset()
