"""CloudFormation: the SAM transform, local API URLs, Rules, state machine definitions."""

import json
import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from workshop.localcloud.services.cloudformation import models, stacks, templates

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = (ROOT / "template.yaml").read_text()


def _parsed():
    """The template as `sam deploy` uploads it: code and definition already in S3."""
    from moto.cloudformation.models import Stack

    template = Stack.parse_template(TEMPLATE)  # moto's own YAML reading, tags included
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "DefinitionUri"):
            if key in properties:
                properties[key] = f"s3://artifacts/{name}-{key}"
    return template


def test_the_sam_transform_gives_a_plain_template():
    plain = templates.sam_transform(_parsed())
    types = {r["Type"] for r in plain["Resources"].values()}
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    assert {"AWS::Lambda::Function", "AWS::StepFunctions::StateMachine", "AWS::ApiGateway::RestApi",
            "AWS::ApiGateway::Stage", "AWS::Events::Rule", "AWS::SNS::Subscription"} <= types
    machine = plain["Resources"]["StateMachine"]["Properties"]
    assert "DefinitionSubstitutions" in machine


def test_execute_api_urls_point_at_the_local_cloud():
    plain = templates.localize_api_urls(templates.sam_transform(_parsed()), "http://127.0.0.1:4566")
    assert plain["Outputs"]["ApproveUrl"]["Value"] == {
        "Fn::Sub": "http://127.0.0.1:4566/_localcloud/execute-api/${ServerlessRestApi}/Prod/allow"}
    env = plain["Resources"]["AskUser"]["Properties"]["Environment"]["Variables"]
    assert env["API_BASE_URL"] == {"Fn::Sub": "http://127.0.0.1:4566/_localcloud/execute-api/${ServerlessRestApi}/Prod"}
    assert "execute-api.${AWS::Region}" not in json.dumps(plain)


def test_the_templates_region_rule_passes_in_us_east_1_only():
    template = _parsed()
    templates.check_rules(template, {}, "us-east-1", "123456789012")
    with pytest.raises(templates.RuleFailed, match="deploy this stack with --region us-east-1"):
        templates.check_rules(template, {}, "eu-west-1", "123456789012")


def test_a_stack_outside_us_east_1_is_refused_with_the_assert_description():
    from botocore.exceptions import ClientError

    with mock_aws():
        stacks.install("http://127.0.0.1:4566")
        client = boto3.client("cloudformation", region_name="eu-west-1")
        with pytest.raises(ClientError, match="us-east-1"):
            client.create_change_set(StackName="s", ChangeSetName="c", TemplateBody=TEMPLATE,
                                     ChangeSetType="CREATE", Capabilities=["CAPABILITY_IAM"])


SMALL = json.dumps({"Parameters": {"Name": {"Type": "String", "Default": "a"}},
                    "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Name"}}}}})


def test_a_change_set_that_changes_nothing_fails_as_cloudformation_answers():
    with mock_aws():
        stacks.install("http://127.0.0.1:4566")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        s3.put_object(Bucket="artifacts", Key="template.json", Body=SMALL.encode())
        uploaded = "http://127.0.0.1:4566/artifacts/template.json"  # as `sam deploy` hands it over
        client = boto3.client("cloudformation", region_name="us-east-1")
        client.create_change_set(StackName="s", ChangeSetName="first", TemplateURL=uploaded, ChangeSetType="CREATE")
        client.execute_change_set(ChangeSetName="first", StackName="s")
        # what `sam deploy` sends again: the same template, every parameter kept
        same = client.describe_change_set(ChangeSetName=client.create_change_set(
            StackName="s", ChangeSetName="again", TemplateURL=uploaded, ChangeSetType="UPDATE",
            Parameters=[{"ParameterKey": "Name", "UsePreviousValue": True}])["Id"])
        assert (same["Status"], same["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
        assert same["StatusReason"] == stacks.NO_CHANGES and same["Changes"] == []
        other = client.describe_change_set(ChangeSetName=client.create_change_set(
            StackName="s", ChangeSetName="other", TemplateURL=uploaded, ChangeSetType="UPDATE",
            Parameters=[{"ParameterKey": "Name", "ParameterValue": "b"}])["Id"])
        assert other["Status"] == "CREATE_COMPLETE"  # a new parameter value is a change


def test_definition_from_s3_with_substitutions():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lc-bucket")
        s3.put_object(Bucket="lc-bucket", Key="sm.json", Body=b'{"Comment": "${Greeting}", "N": ${Count}}')
        text = stacks._state_machine_definition(
            {"DefinitionS3Location": {"Bucket": "lc-bucket", "Key": "sm.json"},
             "DefinitionSubstitutions": {"Greeting": "hello", "Count": 3}}, "123456789012")
    assert json.loads(text) == {"Comment": "hello", "N": 3}


def test_a_failing_resource_fails_the_stack_with_its_reason():
    with mock_aws():
        stacks.install("http://127.0.0.1:4566")
        client = boto3.client("cloudformation", region_name="us-east-1")
        template = {"Resources": {"Bad": {"Type": "AWS::ApiGateway::Deployment",
                                          "Properties": {"RestApiId": "nope"}}}}
        client.create_change_set(StackName="s", ChangeSetName="c", TemplateBody=json.dumps(template),
                                 ChangeSetType="CREATE")
        client.execute_change_set(ChangeSetName="c", StackName="s")
        stack = client.describe_stacks(StackName="s")["Stacks"][0]
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
        failed = [e for e in client.describe_stack_events(StackName="s")["StackEvents"]
                  if e["ResourceStatus"] == "CREATE_FAILED"]
        assert failed[0]["LogicalResourceId"] == "Bad" and failed[0]["ResourceStatusReason"]


LOGGED_API = {
    "Resources": {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "logged"}},
        "Method": {"Type": "AWS::ApiGateway::Method",
                   "Properties": {"RestApiId": {"Ref": "Api"}, "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                                  "HttpMethod": "GET", "AuthorizationType": "NONE",
                                  "Integration": {"Type": "HTTP", "IntegrationHttpMethod": "GET",
                                                  "Uri": "http://127.0.0.1:9/"}}},
        "Deployment": {"Type": "AWS::ApiGateway::Deployment", "DependsOn": "Method",
                       "Properties": {"RestApiId": {"Ref": "Api"}}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "DependsOn": "Account", "Properties": {"RetentionInDays": 365}},
        "Account": {"Type": "AWS::ApiGateway::Account",
                    "Properties": {"CloudWatchRoleArn": "arn:aws:iam::123456789012:role/api-logs"}},
        "Stage": {"Type": "AWS::ApiGateway::Stage",
                  "Properties": {"RestApiId": {"Ref": "Api"}, "DeploymentId": {"Ref": "Deployment"},
                                 "StageName": "Prod",
                                 "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*",
                                                     "ThrottlingRateLimit": 5, "ThrottlingBurstLimit": 10},
                                                    {"ResourcePath": "/allow", "HttpMethod": "POST",
                                                     "MetricsEnabled": True}],
                                 "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": ["Logs", "Arn"]},
                                                      "Format": "$context.requestId"}}},
    },
}


def test_stage_throttling_access_log_and_account_role_are_recorded_with_a_note(caplog):
    with mock_aws():
        stacks.install("http://127.0.0.1:4566")
        client = boto3.client("cloudformation", region_name="us-east-1")
        with caplog.at_level("WARNING", logger="workshop.localcloud.cloudformation"):
            client.create_stack(StackName="logged", TemplateBody=json.dumps(LOGGED_API))
        assert client.describe_stacks(StackName="logged")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        apigateway = boto3.client("apigateway", region_name="us-east-1")
        api_id = next(a["id"] for a in apigateway.get_rest_apis()["items"] if a["name"] == "logged")
        stage = apigateway.get_stage(restApiId=api_id, stageName="Prod")
        assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 5.0
        assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 10
        assert stage["methodSettings"]["~1allow/POST"]["metricsEnabled"] is True
        log_group = boto3.client("logs", region_name="us-east-1").describe_log_groups()["logGroups"][0]
        assert log_group["retentionInDays"] == 365
        assert stage["accessLogSettings"] == {"destinationArn": log_group["arn"].removesuffix(":*"),
                                              "format": "$context.requestId"}
        assert apigateway.get_account()["cloudwatchRoleArn"] == "arn:aws:iam::123456789012:role/api-logs"
    notes = [r.getMessage() for r in caplog.records]
    assert any("stage Prod" in n and "not enforced" in n for n in notes), notes
    assert any("arn:aws:iam::123456789012:role/api-logs recorded" in n for n in notes), notes


@pytest.mark.parametrize("written", [
    "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/",  # sam init hello-world
    "https://${ServerlessRestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/Prod/hello/",
])
def test_both_sub_forms_of_an_api_url_become_local(written):
    template = {"Outputs": {"Url": {"Value": {"Fn::Sub": written}}},
                "Resources": {"Fn": {"Properties": {"Environment": {"Variables": {"URL": {"Fn::Sub": [written, {}]}}}}}}}
    local = templates.localize_api_urls(template, "http://127.0.0.1:4566")
    expected = "http://127.0.0.1:4566/_localcloud/execute-api/${ServerlessRestApi}/Prod/hello/"
    assert local["Outputs"]["Url"]["Value"] == {"Fn::Sub": expected}
    assert local["Resources"]["Fn"]["Properties"]["Environment"]["Variables"]["URL"] == {"Fn::Sub": [expected, {}]}


def test_the_join_form_of_an_api_url_becomes_local():
    joined = {"Fn::Join": ["", ["https://", {"Ref": "Api"}, ".execute-api.", {"Ref": "AWS::Region"},
                                ".amazonaws.com/Prod/start"]]}
    assert templates.localize_api_urls({"Value": joined}, "http://127.0.0.1:4566") == {"Value": {"Fn::Join": [
        "", ["http://127.0.0.1:4566/_localcloud/execute-api/", {"Ref": "Api"}, "/Prod/start"]]}}
    other = {"Fn::Join": ["", ["https://example.com/", {"Ref": "Api"}]]}
    assert templates.localize_api_urls(other) == other


DEFENCES = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "TopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {
            "Topics": [{"Ref": "Topic"}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Sid": "NoSubscribers", "Effect": "Deny", "Principal": "*", "Action": "sns:Subscribe",
                 "Resource": {"Ref": "Topic"}}]}}},
        "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {
            "Description": "signs links", "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}}},
        "SecretPolicy": {"Type": "AWS::SecretsManager::ResourcePolicy", "Properties": {
            "SecretId": {"Ref": "Secret"}, "ResourcePolicy": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}}},
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True}}},
    },
    "Outputs": {"Secret": {"Value": {"Ref": "Secret"}}, "Table": {"Value": {"Ref": "Table"}},
                "Topic": {"Value": {"Ref": "Topic"}}},
}


def test_the_incidents_table_secret_and_policies_are_created_as_aws_shows_them():
    with mock_aws():
        stacks.install("http://127.0.0.1:4566")
        client = boto3.client("cloudformation", region_name="us-east-1")
        client.create_stack(StackName="defences", TemplateBody=json.dumps(DEFENCES))
        stack = client.describe_stacks(StackName="defences")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        value = secrets.get_secret_value(SecretId=outputs["Secret"])["SecretString"]
        assert len(value) == 64 and value.isalnum()  # generated, no punctuation
        # <LogicalId>-<random> without the stack's name, as CloudFormation names an unnamed secret
        assert re.fullmatch(r"arn:aws:secretsmanager:us-east-1:123456789012:secret:Secret-[A-Z0-9]{12}-\w{6}",
                            outputs["Secret"])
        again = models.SecretsManagerSecret.generated({"PasswordLength": 64,
                                                                       "ExcludePunctuation": True})
        assert again != value  # random each time
        policy = json.loads(secrets.get_resource_policy(SecretId=outputs["Secret"])["ResourcePolicy"])
        assert policy["Statement"][0]["Action"] == "secretsmanager:GetSecretValue"

        topic = boto3.client("sns", region_name="us-east-1").get_topic_attributes(TopicArn=outputs["Topic"])
        assert json.loads(topic["Attributes"]["Policy"])["Statement"][0]["Sid"] == "NoSubscribers"

        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        table = dynamodb.describe_table(TableName=outputs["Table"])["Table"]
        assert table["SSEDescription"]["Status"] == "ENABLED"
        backups = dynamodb.describe_continuous_backups(TableName=outputs["Table"])["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_a_bucket_made_by_cloudformation_keeps_its_versioning():
    """SAM's artifact bucket is versioned on AWS (its managed stack says so): a plain delete leaves the object."""
    from samcli.lib.bootstrap.bootstrap import _get_stack_template

    with mock_aws():
        stacks.install("http://127.0.0.1:4566")
        client = boto3.client("cloudformation", region_name="us-east-1")
        managed = _get_stack_template()
        client.create_stack(StackName="sam-managed", TemplateBody=managed if isinstance(managed, str)
                            else json.dumps(managed), Capabilities=["CAPABILITY_AUTO_EXPAND"])
        bucket = client.describe_stacks(StackName="sam-managed")["Stacks"][0]["Outputs"][0]["OutputValue"]
        s3 = boto3.client("s3", region_name="us-east-1")
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        s3.put_object(Bucket=bucket, Key="stack/template", Body=b"one")
        s3.delete_object(Bucket=bucket, Key="stack/template")
        listed = s3.list_object_versions(Bucket=bucket, Prefix="stack/")
        assert len(listed["Versions"]) == 1 and len(listed["DeleteMarkers"]) == 1
