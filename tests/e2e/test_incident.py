"""The incident end to end: real `sam deploy`, plain boto3, the e-mail links, the state machine."""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from pathlib import Path
from urllib.parse import urljoin

import boto3
import pytest
import requests

from cloud_fixtures import local_client
from workshop.localcloud import read_mailbox
from polling import wait_for
from stack_incidents import default_document

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BAD = (ROOT / "policies/badpolicy.json").read_text()
GOOD = (ROOT / "policies/goodpolicy.json").read_text()


HARMLESS_SID = "RevertedBySecurityOrchestrator"

# --- waiting and reading (plain boto3 + HTTP) ---------------------------------------------
def clients(endpoint: str | None = None) -> dict:
    if endpoint:
        return {name: local_client(endpoint, name) for name in ("iam", "stepfunctions", "lambda")}
    return {name: boto3.client(name, region_name="us-east-1") for name in ("iam", "stepfunctions", "lambda")}


def policy_document(iam, arn: str, version: str | None = None) -> dict:
    if version is None:
        return default_document(arn, iam)[1]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return json.loads(document) if isinstance(document, str) else document


def is_reverted(iam, arn: str, bad_version: str) -> bool:
    versions = {v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]}
    document = policy_document(iam, arn)
    return bad_version not in versions and any(
        s.get("Sid") == HARMLESS_SID for s in document.get("Statement", []))


def incident_executions(sfn, machine_arn: str, policy_arn: str) -> list[dict]:
    """Executions for this policy started by someone other than the orchestrator itself."""
    found = []
    for execution in sfn.list_executions(stateMachineArn=machine_arn)["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        detail = json.loads(described["input"]).get("detail", {})
        arn = (detail.get("responseElements") or {}).get("policy", {}).get("arn") or \
            (detail.get("requestParameters") or {}).get("policyArn")
        if arn == policy_arn and detail.get("userIdentity", {}).get("type") != "AssumedRole":
            found.append(described)
    return found


def own_change_executions(sfn, machine_arn: str, policy_arn: str) -> list[dict]:
    found = []
    for execution in sfn.list_executions(stateMachineArn=machine_arn)["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        detail = json.loads(described["input"]).get("detail", {})
        if detail.get("userIdentity", {}).get("type") == "AssumedRole" and \
                (detail.get("requestParameters") or {}).get("policyArn") == policy_arn:
            found.append(described)
    return found


def the_incident(sfn, machine_arn: str, policy_arn: str) -> dict:
    def one():
        found = incident_executions(sfn, machine_arn, policy_arn)
        return found[0] if len(found) == 1 else None

    return wait_for(one, what=f"one incident execution for {policy_arn}")


def finished(sfn, execution_arn: str, timeout: float = 60) -> dict:
    return wait_for(lambda: (lambda d: d if d["status"] != "RUNNING" else None)(
        sfn.describe_execution(executionArn=execution_arn)), timeout=timeout, what=f"{execution_arn} to finish")


def waiting_at(sfn, execution_arn: str, state: str) -> bool:
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    return bool(entered) and entered[-1] == state


def mails_about(endpoint: str, text: str) -> list[dict]:
    return [m for m in read_mailbox(endpoint) if text in m["body"] or text in m["subject"]]


def mail_about(endpoint: str, text: str, subject_part: str = "") -> dict:
    return wait_for(lambda: next((m for m in mails_about(endpoint, text) if subject_part in m["subject"]), None),
                    what=f"an e-mail about {text} ({subject_part!r})")


def link(mail: dict, decision: str) -> str:
    return re.search(rf"(https?://\S+/{decision}\?\S+)", mail["body"]).group(1)


def submit_form(page_url: str, page_html: str) -> requests.Response:
    """Post the page's form as a browser would (action resolved against the page URL)."""
    form = re.search(r'<form method="post" action="([^"]*)">(.*?)</form>', page_html, re.S)
    assert form, "the page has no <form method=\"post\">"
    fields = {html.unescape(n): html.unescape(v) for n, v in
              re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2))}
    button = re.search(r'<button type="submit" name="([^"]+)" value="([^"]+)"', form.group(2))
    if button:
        fields[button.group(1)] = button.group(2)
    return requests.post(urljoin(page_url, html.unescape(form.group(1))), data=fields, timeout=60)


# --- the tests ----------------------------------------------------------------------------


def _name(kind: str) -> str:
    return f"e2e-{kind}-{uuid.uuid4().hex[:8]}"


def _waiting_incident(aws, stack, arn, bad_version="v1"):
    """The policy is reverted and the incident waits at AskUser; returns the execution."""
    wait_for(lambda: is_reverted(aws["iam"], arn, bad_version), what=f"{arn} to be reverted")
    execution = the_incident(aws["stepfunctions"], stack["StateMachineArn"], arn)
    wait_for(lambda: waiting_at(aws["stepfunctions"], execution["executionArn"], "AskUser"),
             what="the incident to wait at AskUser")
    return execution


def _no_new_incident(aws, stack, arn):
    """The orchestrator's own changes were judged and ended at IgnoreOwnChange; nothing waits for a human again."""
    sfn = aws["stepfunctions"]
    own = wait_for(lambda: own_change_executions(sfn, stack["StateMachineArn"], arn), what="the own-change runs")
    for execution in own:
        done = finished(sfn, execution["executionArn"])
        assert done["status"] == "SUCCEEDED"
        names = [e["stateEnteredEventDetails"]["name"] for e in
                 sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
                 if "stateEnteredEventDetails" in e]
        assert names[0] == "CheckEvent" and "ValidatePolicy" in names and names[-1] == "IgnoreOwnChange", names
    assert len(incident_executions(sfn, stack["StateMachineArn"], arn)) == 1


def test_approving_restores_the_policy_without_a_new_incident(deployed_stack, local_cloud):
    aws = clients()
    arn = aws["iam"].create_policy(PolicyName=_name("approve"), PolicyDocument=BAD)["Policy"]["Arn"]
    execution = _waiting_incident(aws, deployed_stack, arn)

    mail = mail_about(local_cloud, arn, "Approval needed")
    assert mail["to"] == "learner@example.com"
    approve, deny = link(mail, "allow"), link(mail, "deny")
    assert approve.startswith(deployed_stack["ApproveUrl"]) and deny.startswith(deployed_stack["DenyUrl"])

    page = requests.get(approve, timeout=60)  # what an e-mail scanner does: decides nothing
    assert page.status_code == 200 and '<form method="post"' in page.text
    time.sleep(0.3)
    assert aws["stepfunctions"].describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING"

    answer = submit_form(approve, page.text)
    assert answer.status_code == 200 and "Approved" in answer.text
    done = finished(aws["stepfunctions"], execution["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert policy_document(aws["iam"], arn) == json.loads(BAD)
    _no_new_incident(aws, deployed_stack, arn)


def test_denying_keeps_the_policy_reverted(deployed_stack, local_cloud):
    aws = clients()
    arn = aws["iam"].create_policy(PolicyName=_name("deny"), PolicyDocument=BAD)["Policy"]["Arn"]
    execution = _waiting_incident(aws, deployed_stack, arn)
    deny = link(mail_about(local_cloud, arn, "Approval needed"), "deny")
    answer = submit_form(deny, requests.get(deny, timeout=60).text)
    assert answer.status_code == 200 and "Denied" in answer.text
    done = finished(aws["stepfunctions"], execution["executionArn"])
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"])["decision"]["action"] == "delete"
    assert is_reverted(aws["iam"], arn, "v1")
    _no_new_incident(aws, deployed_stack, arn)


def test_a_harmless_policy_only_raises_an_alert(deployed_stack, local_cloud):
    aws = clients()
    arn = aws["iam"].create_policy(PolicyName=_name("good"), PolicyDocument=GOOD)["Policy"]["Arn"]
    execution = the_incident(aws["stepfunctions"], deployed_stack["StateMachineArn"], arn)
    done = finished(aws["stepfunctions"], execution["executionArn"])
    assert done["status"] == "SUCCEEDED"
    mail = mail_about(local_cloud, arn.rsplit("/", 1)[-1], "no restricted actions")
    assert "allows none of the restricted actions" in mail["body"]
    policy = aws["iam"].get_policy(PolicyArn=arn)["Policy"]
    assert policy["DefaultVersionId"] == "v1" and policy_document(aws["iam"], arn) == json.loads(GOOD)


def test_a_risky_edit_of_a_harmless_policy_is_reverted(deployed_stack, local_cloud):
    aws = clients()
    arn = aws["iam"].create_policy(PolicyName=_name("edit"), PolicyDocument=GOOD)["Policy"]["Arn"]
    first = the_incident(aws["stepfunctions"], deployed_stack["StateMachineArn"], arn)
    assert finished(aws["stepfunctions"], first["executionArn"])["status"] == "SUCCEEDED"

    version = aws["iam"].create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)
    bad_version = version["PolicyVersion"]["VersionId"]
    wait_for(lambda: is_reverted(aws["iam"], arn, bad_version), what="the edit to be reverted")
    edits = wait_for(lambda: [e for e in incident_executions(aws["stepfunctions"], deployed_stack["StateMachineArn"], arn)
                              if e["executionArn"] != first["executionArn"]], what="the edit's incident")
    assert len(edits) == 1
    mail = mail_about(local_cloud, arn, "Approval needed")
    assert f"Offending version: {bad_version}" in mail["body"] and "CreatePolicyVersion" in mail["body"]
    deny = link(mail, "deny")
    submit_form(deny, requests.get(deny, timeout=60).text)
    assert finished(aws["stepfunctions"], edits[0]["executionArn"])["status"] == "SUCCEEDED"
    versions = {v["VersionId"] for v in aws["iam"].list_policy_versions(PolicyArn=arn)["Versions"]}
    assert "v1" in versions and bad_version not in versions


def test_nobody_answering_times_out_with_the_policy_reverted(timeout_stack):
    aws = clients(timeout_stack["endpoint"])
    arn = aws["iam"].create_policy(PolicyName=_name("timeout"), PolicyDocument=BAD)["Policy"]["Arn"]
    wait_for(lambda: is_reverted(aws["iam"], arn, "v1"), what="the revert")
    execution = the_incident(aws["stepfunctions"], timeout_stack["StateMachineArn"], arn)
    done = finished(aws["stepfunctions"], execution["executionArn"], timeout=60)
    assert done["status"] == "FAILED" and done["error"] == "ApprovalTimedOut"
    assert is_reverted(aws["iam"], arn, "v1")
    mail = mail_about(timeout_stack["endpoint"], arn, "timed out")
    assert "stays reverted" in mail["subject"]
    approve = link(mail_about(timeout_stack["endpoint"], arn, "Approval needed"), "allow")
    late = submit_form(approve, requests.get(approve, timeout=60).text)
    assert late.status_code == 410 and "expired" in late.text  # too late: said so, never a 5xx


def test_a_failing_step_ends_the_incident_failed_and_notified(deployed_stack, local_cloud):
    """AskUser deployed with a wrong topic: sns:Publish fails, the incident fails, the policy stays reverted.

    As on AWS, the function's role may publish to the stack's topic only, so the other topic is refused
    before SNS looks for it (AuthorizationError, not NotFound)."""
    aws = clients()
    functions = [f for f in aws["lambda"].list_functions()["Functions"]
                 if f["FunctionName"].startswith("e2e-orchestrator-AskUser")]
    ask_user = functions[0]
    variables = dict(ask_user["Environment"]["Variables"])
    broken = dict(variables, TOPIC_ARN=variables["TOPIC_ARN"] + "-missing")
    aws["lambda"].update_function_configuration(FunctionName=ask_user["FunctionName"],
                                                Environment={"Variables": broken})
    try:
        arn = aws["iam"].create_policy(PolicyName=_name("fails"), PolicyDocument=BAD)["Policy"]["Arn"]
        wait_for(lambda: is_reverted(aws["iam"], arn, "v1"), what="the revert")
        execution = the_incident(aws["stepfunctions"], deployed_stack["StateMachineArn"], arn)
        done = finished(aws["stepfunctions"], execution["executionArn"])
        assert done["status"] == "FAILED" and done["error"] == "IncidentFailed"
        mail = mail_about(local_cloud, arn, "Security incident failed")
        assert "AuthorizationError" in mail["body"] and "sns:Publish" in mail["body"]
        assert is_reverted(aws["iam"], arn, "v1")
    finally:
        aws["lambda"].update_function_configuration(FunctionName=ask_user["FunctionName"],
                                                    Environment={"Variables": variables})


def test_the_stack_deploys_with_encryption_limits_and_access_log(deployed_stack, local_cloud):
    """What the scanners asked for reaches the deployed resources (the e-mails above still arrive)."""
    resources = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in boto3.client("cloudformation")
                 .describe_stack_resources(StackName="e2e-orchestrator")["StackResources"]}
    topic = boto3.client("sns").get_topic_attributes(TopicArn=deployed_stack["AlertTopicArn"])["Attributes"]
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"

    concurrency = boto3.client("lambda").get_function_concurrency(FunctionName=resources["ReceiveDecision"])
    assert int(concurrency["ReservedConcurrentExecutions"]) == 5  # the fixture's DecisionConcurrency (default: 0)

    apigateway = boto3.client("apigateway")
    stage = apigateway.get_stage(restApiId=resources["ServerlessRestApi"], stageName="Prod")
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 5.0
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 10
    log_group = next(g for g in boto3.client("logs").describe_log_groups()["logGroups"]
                     if g["logGroupName"] == resources["DecisionApiAccessLogs"])
    assert log_group["retentionInDays"] == 365
    assert stage["accessLogSettings"]["destinationArn"] == log_group["arn"].removesuffix(":*")
    role = boto3.client("iam").get_role(RoleName=resources["ApiGatewayCloudWatchRole"])["Role"]
    assert apigateway.get_account()["cloudwatchRoleArn"] == role["Arn"]


def test_the_stack_deploys_its_incidents_table_secret_and_topic_policy(deployed_stack):
    resources = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in boto3.client("cloudformation")
                 .describe_stack_resources(StackName="e2e-orchestrator")["StackResources"]}
    dynamodb = boto3.client("dynamodb")
    table = dynamodb.describe_table(TableName=deployed_stack["IncidentsTableName"])["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "incidentId", "KeyType": "HASH"}]
    assert table["SSEDescription"]["Status"] == "ENABLED"
    backups = dynamodb.describe_continuous_backups(TableName=deployed_stack["IncidentsTableName"])
    assert backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
        "PointInTimeRecoveryStatus"] == "ENABLED"

    secrets = boto3.client("secretsmanager")
    value = secrets.get_secret_value(SecretId=resources["DecisionSecret"])["SecretString"]
    assert len(value) == 64 and value.isalnum()  # GenerateSecretString, no punctuation
    policy = json.loads(secrets.get_resource_policy(SecretId=resources["DecisionSecret"])["ResourcePolicy"])
    [deny] = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "secretsmanager:GetSecretValue"
    readers = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert len(readers) == 3 and "-AskUserRole-" in readers[0] and "-ReceiveDecisionRole-" in readers[1]
    assert readers[2].endswith(":role/e2e-orchestrator-deployer")  # the stack's deployer service role, by name

    topic = boto3.client("sns").get_topic_attributes(TopicArn=deployed_stack["AlertTopicArn"])["Attributes"]
    statements = {s["Sid"]: s for s in json.loads(topic["Policy"])["Statement"]}
    assert statements["OnlyTheOrchestratorPublishes"]["Action"] == "sns:Publish"
    assert statements["OnlyAdministratorsSubscribe"]["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == [
        "arn:aws:iam::123456789012:root"]
