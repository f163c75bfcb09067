"""The SAM template and the state machine: the sample's defects stay fixed, and the definition and
the template agree (the linters run in tests/functional/template/test_template_lint.py)."""

import json
import os
import re
from pathlib import Path

import pytest
from cfn_template import load_template

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def template():
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def machine(template):
    uri = template["Resources"]["StateMachine"]["Properties"]["DefinitionUri"]
    return uri, json.loads((ROOT / uri).read_text())


def functions(template):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_definition_uri_names_a_file_that_exists_with_that_exact_case(machine):
    uri, _ = machine
    folder = ROOT / Path(uri).parent
    assert Path(uri).name in os.listdir(folder), f"{uri} must exist with exactly this case"


def test_every_placeholder_is_substituted_and_every_substitution_used(template, machine):
    _, definition = machine
    text = json.dumps(definition)
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text))
    substitutions = template["Resources"]["StateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert placeholders == set(substitutions)


def test_alert_topic_is_a_real_reference_not_a_literal(template):
    substitutions = template["Resources"]["StateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert substitutions["AlertTopicArn"] == {"Ref": "AlertTopic"}
    for name, value in substitutions.items():
        assert isinstance(value, dict), f"{name} is a literal string: it must reference a resource or parameter"


def test_runtime_is_python_313_everywhere(template):
    assert template["Globals"]["Function"]["Runtime"] == "python3.13"
    for name, resource in functions(template).items():
        assert resource["Properties"].get("Runtime", "python3.13") == "python3.13", name
        code = ROOT / resource["Properties"]["CodeUri"] / "app.py"
        assert code.exists(), f"{name}: {code} is missing"


def test_function_names_are_the_ones_the_kit_promises(template):
    uris = sorted(Path(r["Properties"]["CodeUri"]).name for r in functions(template).values())
    assert uris == ["ask_user", "receive_decision", "restore_policy", "revert_policy", "validate_policy"]


WATCHED = {"CreatePolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion", "PutUserPolicy", "PutRolePolicy",
           "PutGroupPolicy", "AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy",
           "UpdateUser", "UpdateGroup", "AddUserToGroup", "PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary",
           "PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary", "UpdateAssumeRolePolicy", "PutBucketPolicy"}


def test_rule_watches_every_call_that_makes_a_permission_live(template):
    events = template["Resources"]["StateMachine"]["Properties"]["Events"]
    pattern = events["PolicyChanged"]["Properties"]["Pattern"]
    # a bucket policy grants without any IAM policy: S3's management event is watched too
    assert pattern["source"] == ["aws.iam", "aws.s3"]
    assert pattern["detail"]["eventSource"] == ["iam.amazonaws.com", "s3.amazonaws.com"]
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert set(pattern["detail"]["eventName"]) == WATCHED


def test_every_watched_call_has_its_own_state_and_anything_else_is_reported(machine):
    _, definition = machine
    states = definition["States"]
    routed, path_only = {}, set()
    for choice in states["WhichChange"]["Choices"]:
        event = choice["And"][0]["StringEquals"]
        if choice["Next"] == "PathChangeOnly":  # a new path, and no new name: nothing moved
            assert event in routed and "new" in json.dumps(states["WhichChange"]["Choices"]).lower()
            path_only.add(event)
        else:
            routed.setdefault(event, choice["Next"])
    # the reconciliation schedule's input is shaped like a watched call's event
    assert set(routed) == WATCHED | {"ReconciliationScan"} and path_only == {"UpdateUser", "UpdateGroup"}
    assert states["PathChangeOnly"]["Type"] == "Succeed"
    for event, state in routed.items():
        assert state == f"{event}Target" and states[state]["Next"] == "ModifyState"
    for choice in ("CheckEvent", "WhichChange"):
        assert states[choice]["Default"] == "ReportUnrecognisedEvent"  # fail closed: an e-mail, not silence
    report = states["ReportUnrecognisedEvent"]
    assert report["Resource"] == "arn:aws:states:::sns:publish" and report["Next"] == "InvalidEvent"


def test_approval_wait_has_a_timeout_from_the_parameter(template, machine):
    parameter = template["Parameters"]["ApprovalTimeoutSeconds"]
    assert parameter["Default"] == 86400
    _, definition = machine
    ask = definition["States"]["AskUser"]
    assert ask["Resource"].endswith(".waitForTaskToken")
    assert "TimeoutSeconds" in ask or "TimeoutSecondsPath" in ask
    timeout_catch = [c for c in ask["Catch"] if "States.Timeout" in c["ErrorEquals"]]
    assert timeout_catch, "an unanswered approval must be caught"
    # The timeout path notifies and never restores.
    path, state = [], timeout_catch[0]["Next"]
    while state:
        path.append(state)
        body = definition["States"][state]
        state = body.get("Next")
    assert "approved" not in path and any("sns:publish" in definition["States"][s].get("Resource", "") for s in path)


def test_stack_refuses_regions_other_than_us_east_1(template):
    assertions = [a for rule in template["Rules"].values() for a in rule["Assertions"]]
    assert {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]} in [a["Assert"] for a in assertions]
    assert any("us-east-1" in a["AssertDescription"] for a in assertions)


def test_outputs_name_the_api_urls_topic_and_state_machine(template):
    assert {"ApiUrl", "ApproveUrl", "DenyUrl", "DecisionUrl", "SealKeyArn", "AlertTopicArn",
            "StateMachineArn"} <= set(template["Outputs"])


def test_decision_endpoints_accept_post_and_the_panels_is_iam_authorised(template):
    events = template["Resources"]["ReceiveDecision"]["Properties"]["Events"]
    assert {e["Properties"]["Path"]: e["Properties"]["Method"].upper() for e in events.values()} == {
        "/allow": "ANY", "/deny": "ANY", "/decision": "POST"}
    auth = {e["Properties"]["Path"]: e["Properties"].get("Auth") for e in events.values()}
    assert auth["/allow"] is None and auth["/deny"] is None  # the e-mail's links: the signature is the check
    # API Gateway checks the caller's signature and execute-api:Invoke, and invokes the function under its
    # own permission: SAM's default (CALLER_CREDENTIALS) would need lambda:InvokeFunction of every decider.
    assert auth["/decision"] == {"Authorizer": "AWS_IAM", "InvokeRole": "NONE"}


def test_the_seal_key_lets_only_revert_policy_seal(template):
    key = template["Resources"]["SealKey"]
    properties = key["Properties"]
    assert (key["Type"], properties["KeySpec"], properties["KeyUsage"]) == \
        ("AWS::KMS::Key", "HMAC_256", "GENERATE_VERIFY_MAC")
    statements = {s["Sid"]: s for s in properties["KeyPolicy"]["Statement"]}
    allowed = [(s["Principal"], action) for s in statements.values() if s["Effect"] == "Allow"
               for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    revert_role = {"Fn::GetAtt": ["RevertPolicyRole", "Arn"]}
    restore_role = {"Fn::GetAtt": ["RestorePolicyRole", "Arn"]}
    assert [p for p, action in allowed if action == "kms:GenerateMac"] == [{"AWS": revert_role}]
    assert not [a for _, a in allowed if "*" in a or a in ("kms:CreateGrant", "kms:GenerateMac")
                and _ != {"AWS": revert_role}], "no wildcard, and no grant that could hand MACs to another"
    deny = statements["NobodyElseSeals"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "kms:GenerateMac")
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": revert_role}}
    verifiers = [p for p, action in allowed if action == "kms:VerifyMac"]
    assert {"AWS": [restore_role, revert_role, {"Fn::GetAtt": ["ValidatePolicyRole", "Arn"]}]} in verifiers
    for name in ("RevertPolicy", "RestorePolicy", "ValidatePolicy"):
        variables = template["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["SEAL_KEY_ID"] == {"Fn::GetAtt": ["SealKey", "Arn"]}


def _statements(resource):
    for policy in resource["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            yield from policy["Statement"]


def test_no_wildcard_resources_except_where_iam_allows_nothing_else(template):
    # states:SendTaskSuccess, and listing the account's policies, users, roles and groups (the
    # reconciliation scan; with the buckets), have no resource-level permissions: "*" is the only value.
    only_star = {"states:SendTaskSuccess", "iam:ListPolicies", "iam:ListUsers", "iam:ListRoles", "iam:ListGroups",
                 "s3:ListAllMyBuckets"}
    for name, resource in template["Resources"].items():
        for statement in _statements(resource):
            if statement.get("Resource") == "*":
                assert set(statement["Action"]) <= only_star, f"{name}: Resource '*' for {statement['Action']}"


def test_validate_policy_reads_iam_and_only_spends_approval_markers(template):
    actions = {a for s in _statements(template["Resources"]["ValidatePolicy"]) for a in s["Action"]}
    writes = {a for a in actions if not a.split(":")[1].startswith(("Get", "List"))}
    assert actions and writes == {"dynamodb:UpdateItem"}, actions


def test_invalid_policy_document_goes_to_the_revert_path(machine):
    _, definition = machine
    validate = definition["States"]["ValidatePolicy"]
    routes = {tuple(c["ErrorEquals"]): c["Next"] for c in validate["Catch"]}
    assert routes[("InvalidPolicyDocument",)] == "TempRemove"
    assert routes[("States.ALL",)] == "TempRemove"
    assert definition["States"]["ChooseAction"]["Default"] == "TempRemove", "an unknown verdict must fail closed"


def test_lambda_tasks_retry_transient_errors(machine):
    _, definition = machine
    for name in ("ValidatePolicy", "TempRemove", "AskUser", "approved"):
        errors = {e for r in definition["States"][name]["Retry"] for e in r["ErrorEquals"]}
        assert {"Lambda.ServiceException", "TransientError"} <= errors, name


def test_restore_failure_is_caught_and_notified(machine):
    _, definition = machine
    catch = definition["States"]["approved"]["Catch"]
    assert catch[0]["ErrorEquals"] == ["States.ALL"]
    assert definition["States"][catch[0]["Next"]]["Resource"] == "arn:aws:states:::sns:publish"


def test_own_changes_are_ignored_only_when_the_judge_says_so(machine):
    _, definition = machine
    states = definition["States"]
    assert states["ValidatePolicy"]["Parameters"]["orchestratorRoleArns"] == [
        "${RevertPolicyRoleArn}", "${RestorePolicyRoleArn}"]
    into = [(name, c) for name, s in states.items() for c in s.get("Choices", []) if c.get("Next") == "IgnoreOwnChange"]
    assert into == [("CheckOwnOrGone", {"Variable": "$.taskresult.action", "StringEquals": "ignore",
                                        "Next": "IgnoreOwnChange"})]


def test_restore_takes_the_incident_id_and_its_own_execution(machine):
    _, definition = machine
    assert definition["States"]["approved"]["Parameters"] == {"incidentId.$": "$.reverted.incidentId",
                                                              "executionId.$": "$$.Execution.Id"}
    payload = definition["States"]["AskUser"]["Parameters"]["Payload"]
    assert "policy.$" not in payload and payload["incidentId.$"] == "$.reverted.incidentId"


def test_a_repeated_delivery_does_not_ask_twice(machine):
    _, definition = machine
    assert definition["States"]["TempRemove"]["Next"] == "CheckDuplicate"
    check = definition["States"]["CheckDuplicate"]
    assert check["Choices"][0] == {"Variable": "$.reverted.gone", "IsPresent": True, "Next": "GoneBeforeRevert"}
    assert check["Choices"][1] == {"Variable": "$.reverted.alreadyReverted", "BooleanEquals": True,
                                   "Next": "AlreadyHandled"}
    assert check["Default"] == "AskUser"
    assert definition["States"]["AlreadyHandled"]["Type"] == "Succeed"


# --- what the scanners asked for: encryption, limits and an access log --------------------------


@pytest.fixture(scope="module")
def deployed_template():
    """The plain CloudFormation `sam deploy` makes of the template (the SAM transform)."""
    from moto.cloudformation.models import Stack

    from workshop.localcloud.services.cloudformation.templates import sam_transform

    template = Stack.parse_template(TEMPLATE.read_text())
    for name, resource in template["Resources"].items():
        for key in ("CodeUri", "DefinitionUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://artifacts/{name}"
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the transform needs a region
        return sam_transform(template)


def test_the_alert_topic_is_encrypted_with_the_aws_managed_sns_key(template):
    assert template["Resources"]["AlertTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"


def test_the_decision_function_has_reserved_concurrency_from_the_parameter(template, deployed_template):
    parameter = template["Parameters"]["DecisionConcurrency"]
    # Lambda keeps 100 executions unreserved and new accounts get far fewer: by default nothing is reserved,
    # or a new account's first deploy fails (tests/e2e/test_aws_like.py deploys in an account of 10)
    assert parameter["Type"] == "Number" and parameter["Default"] == 0 and parameter["MinValue"] == 0
    reserved = deployed_template["Resources"]["ReceiveDecision"]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {"Fn::If": ["ReserveDecisionConcurrency", {"Ref": "DecisionConcurrency"}, {"Ref": "AWS::NoValue"}]}
    # 0 means "reserve nothing" (a reservation of 0 would switch the endpoint off)
    assert template["Conditions"]["ReserveDecisionConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DecisionConcurrency"}, "0"]}]}


def test_the_transformed_template_makes_exactly_one_stage(deployed_template):
    """SAM adds a stage named "Stage" through its Deployment (unthrottled, unlogged) unless OpenApiVersion is set:
    https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-resource-api.html"""
    resources = deployed_template["Resources"].values()
    stages = [r["Properties"]["StageName"] for r in resources if r["Type"] == "AWS::ApiGateway::Stage"]
    stages += [r["Properties"]["StageName"] for r in resources
               if r["Type"] == "AWS::ApiGateway::Deployment" and "StageName" in r["Properties"]]
    assert stages == ["Prod"]


def _decision_stage(deployed_template):
    stages = [r for r in deployed_template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert len(stages) == 1
    return stages[0]["Properties"]


def test_the_decision_api_stage_is_throttled(deployed_template):
    settings = _decision_stage(deployed_template)["MethodSettings"]
    every_method = [s for s in settings if s["ResourcePath"] == "/*" and s["HttpMethod"] == "*"]
    assert len(every_method) == 1
    assert 0 < every_method[0]["ThrottlingRateLimit"] <= every_method[0]["ThrottlingBurstLimit"] <= 100


def test_the_decision_api_logs_every_request_without_the_links_secrets(deployed_template):
    access_log = _decision_stage(deployed_template)["AccessLogSetting"]
    log_group_id = access_log["DestinationArn"]["Fn::GetAtt"][0]
    log_group = deployed_template["Resources"][log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup" and log_group["Properties"]["RetentionInDays"] >= 90
    variables = set(re.findall(r"\$context\.[A-Za-z.]+", access_log["Format"]))
    assert {"$context.requestId", "$context.identity.sourceIp", "$context.status"} <= variables
    # the links carry the task token in the query string, and the form posts it in the body
    assert not re.search(r"querystring|\$input|\$request|requestOverride", access_log["Format"], re.I)
    # AWS refuses access logging until the account's CloudWatch role is set: the log group
    # (and so the stage that logs to it) waits for the account setting
    assert log_group["DependsOn"] == "ApiGatewayAccount"
    account = deployed_template["Resources"]["ApiGatewayAccount"]
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    role = deployed_template["Resources"]["ApiGatewayCloudWatchRole"]
    assert role["DeletionPolicy"] == role["UpdateReplacePolicy"] == "Retain", \
        "other APIs of the account log through this role: deleting the stack must not take it away"

