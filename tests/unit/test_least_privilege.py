"""Least privilege: every permission in template.yaml is used, every AWS call the code makes is granted.

* No statement grants `Resource: "*"` unless all its actions are ones IAM offers
  no resource-level permissions for (`NO_RESOURCE_LEVEL`), and no action is a
  wildcard.
* Each function's IAM actions (its role's policies, and what a KMS key's own
  policy grants its role by name: a key policy that names a principal of the
  account needs no grant in the principal's policies) are exactly the AWS
  calls its code makes: the
  code (`src/functions/<name>/app.py` and every definition of `_shared` it
  reaches, as packaged with it) is read with `ast` for boto3 clients and the
  client methods it calls or passes around (`iam.create_policy_version(...)`,
  `aws_call(iam.get_policy_version, ...)`), which botocore's service models
  turn into IAM actions (`iam:CreatePolicyVersion`). Granted but unused fails;
  used but not granted fails.
* The state machine's role is exactly what its definition calls: each Lambda
  it invokes and the topic it publishes to, no more, no less.
* The state machine may start itself (a principal judged again part by part
  starts an execution per part): it is named from the stack's name, and its
  grant names it the same way.
* The one hand-written role is API Gateway's account-level CloudWatch role
  (access logging needs it; SAM has no property for it): only API Gateway may
  assume it, its only grant is AWS's policy for pushing logs, and only the
  account setting uses it.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import botocore.session
import pytest
from cfn_template import load_template
import samtranslator
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SHARED = ROOT / "src" / "functions" / "_shared"

# Actions with no resource-level permissions: IAM accepts only "*" for them
# (the task token is the secret). Nothing else may use "*".
NO_RESOURCE_LEVEL = {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat",
                     # the reconciliation scan's listing of the account
                     "iam:ListPolicies", "iam:ListUsers", "iam:ListRoles", "iam:ListGroups",
                     "s3:ListAllMyBuckets"}
# The few operations whose IAM action is not named as the operation is.
ACTION_OF_OPERATION = {"s3:ListBuckets": "s3:ListAllMyBuckets"}
# S3 buckets' ARNs carry no account: such a grant is limited by aws:ResourceAccount instead.
BUCKETS = "arn:${AWS::Partition}:s3:::"
# AWS managed policies a function may carry (logs only, as SAM adds anyway).
ALLOWED_MANAGED_POLICIES = {"AWSLambdaBasicExecutionRole"}
API_GATEWAY_LOG_ROLE = "ApiGatewayCloudWatchRole"
# Attached AWS managed policies (AdministratorAccess, ...) are judged too: reading them is allowed.
AWS_MANAGED_POLICIES = "arn:${AWS::Partition}:iam::aws:policy/*"


# --- reading the template -------------------------------------------------------------


@pytest.fixture(scope="module")
def template():
    return load_template(TEMPLATE)


def _policy_templates() -> dict:
    path = Path(samtranslator.__file__).parent / "policy_templates_data" / "policy_templates.json"
    return json.loads(path.read_text())["Templates"]


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _logical_id(value):
    """The resource a Ref / GetAtt points at (None for anything else)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return _as_list(value["Fn::GetAtt"])[0]
    return None


def statements(resource: dict) -> list[dict]:
    """A SAM resource's policy statements, SAM policy templates expanded.

    Each: {"actions": [...], "resources": [...], "targets": {logical ids the
    resources point at}, "source": where it came from}.
    """
    templates = _policy_templates()
    found = []
    for policy in _as_list(resource.get("Properties", {}).get("Policies") or []):
        if isinstance(policy, str):
            found.append({"managed": policy, "source": policy})
            continue
        if "Statement" in policy:
            for statement in _as_list(policy["Statement"]):
                resources = _as_list(statement.get("Resource", []))
                found.append({"actions": _as_list(statement.get("Action", [])), "resources": resources,
                              "condition": statement.get("Condition") or {},
                              "targets": {t for t in map(_logical_id, resources) if t},
                              "effect": statement.get("Effect"), "source": statement.get("Sid", "inline")})
            continue
        (name, parameters), = policy.items()
        assert name in templates, f"unknown SAM policy template {name}"
        targets = {t for t in map(_logical_id, (parameters or {}).values()) if t}
        for statement in templates[name]["Definition"]["Statement"]:
            found.append({"actions": _as_list(statement["Action"]), "resources": _as_list(statement["Resource"]),
                          "targets": targets, "effect": statement.get("Effect", "Allow"), "source": name,
                          "parameters": parameters or {}})
    return found


def machine_statements(template, machine: str = "StateMachine") -> list[dict]:
    """A state machine's statements; a grant naming a state machine of the stack by its `Name`
    (`!Sub "${AWS::StackName}-..."`) targets that state machine."""
    names = {json.dumps(r["Properties"].get("Name"), sort_keys=True): logical
             for logical, r in template["Resources"].items()
             if r["Type"] == "AWS::Serverless::StateMachine" and r["Properties"].get("Name")}
    found = []
    for statement in statements(template["Resources"][machine]):
        named = {names[json.dumps(v, sort_keys=True)] for v in statement.get("parameters", {}).values()
                 if json.dumps(v, sort_keys=True) in names}
        found.append(dict(statement, targets=statement.get("targets", set()) | named) if named else statement)
    return found


def functions(template) -> dict:
    return {name: resource for name, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"}


def granted_actions(resource) -> set[str]:
    return {action for statement in statements(resource) if statement.get("effect") == "Allow"
            for action in statement.get("actions", [])}


def key_policy_grants(template, function: str) -> set[str]:
    """What the stack's KMS keys' policies allow the function's role (SAM names it <Function>Role)."""
    role = {"Fn::GetAtt": [f"{function}Role", "Arn"]}
    granted = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::KMS::Key":
            continue
        for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
            principals = _as_list((statement.get("Principal") or {}).get("AWS", []) if isinstance(
                statement.get("Principal"), dict) else [])
            if statement["Effect"] == "Allow" and role in principals:
                granted |= set(_as_list(statement["Action"]))
    return granted


# --- reading the code -------------------------------------------------------------------


_session = botocore.session.get_session()


def _operations(service: str) -> tuple[str, dict[str, str]]:
    """(IAM action prefix, {client method name: operation name}) from botocore's service model."""
    model = _session.get_service_model(service)
    return model.signing_name, {xform_name(op): op for op in model.operation_names}


def _constant(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def boto3_services(tree: ast.AST) -> set[str]:
    """Services the module makes boto3 clients for: boto3.client("iam"), client(service_name="sns")."""
    services = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        owner = getattr(func.value, "id", None) if isinstance(func, ast.Attribute) else None
        if name != "client" or (isinstance(func, ast.Attribute) and owner not in ("boto3", "session", "_session")):
            continue
        service = _constant(node.args[0]) if node.args else None
        for keyword in node.keywords:
            if keyword.arg == "service_name":
                service = _constant(keyword.value)
        assert service, f"a boto3 client whose service is not a literal (line {node.lineno}): name it literally"
        services.add(service)
    return services


def used_actions(code) -> set[str]:
    """IAM actions of every client method the code (source text, or a list of syntax trees) calls,
    references or paginates."""
    trees = [ast.parse(code)] if isinstance(code, str) else code
    actions = set()
    for service in set().union(*map(boto3_services, trees)):
        prefix, methods = _operations(service)
        for node in (node for tree in trees for node in ast.walk(tree)):
            if isinstance(node, ast.Attribute) and node.attr in methods:
                action = f"{prefix}:{methods[node.attr]}"
                actions.add(ACTION_OF_OPERATION.get(action, action))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("get_paginator", "get_waiter") and node.args:
                method = _constant(node.args[0])
                if method in methods:
                    actions.add(f"{prefix}:{methods[method]}")
    return actions


def code_of(resource) -> Path:
    return ROOT / resource["Properties"]["CodeUri"] / "app.py"


def _shared_module(name: str) -> tuple[dict, dict]:
    """({top-level name: its definition}, {imported name: (module, name)}) of _shared/<name>.py."""
    tree = ast.parse((SHARED / f"{name}.py").read_text())
    definitions, imported = {}, {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            definitions[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(target, ast.Name):
                    definitions[target.id] = node
        elif isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
    return definitions, imported


def _references(node, imported: dict, local: str | None) -> set[tuple[str, str]]:
    """(module, name) of each `_shared` definition `node` names: directly, through an imported
    name, or as an attribute of an imported module (`attr.DECISION`)."""
    found = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name):
            if inner.id in imported and imported[inner.id][1] is not None:
                found.add(imported[inner.id])
            elif local is not None:
                found.add((local, inner.id))
        elif isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name) and \
                inner.value.id in imported and imported[inner.value.id][1] is None:
            found.add((imported[inner.value.id][0], inner.attr))
    return found


def function_code(resource) -> list[ast.AST]:
    """The syntax trees of the code a function runs: its app.py, and each definition of `_shared`
    it reaches (what one function does not use of `_shared` is not its call)."""
    app = ast.parse(code_of(resource).read_text())
    imported = {}  # name in app.py -> (_shared module, name), or (module, None) for a module
    for node in app.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "_shared":
            for alias in node.names:
                if node.module == "_shared":
                    imported[alias.asname or alias.name] = (alias.name, None)
                else:
                    imported[alias.asname or alias.name] = (node.module.split(".", 1)[1], alias.name)
    trees, seen = [app], set()
    wanted = _references(app, imported, None)
    while wanted:
        module, name = wanted.pop()
        definitions, module_imports = _shared_module(module)
        if (module, name) in seen or name not in definitions:
            continue
        seen.add((module, name))
        trees.append(definitions[name])
        wanted |= _references(definitions[name], module_imports, module)
    return trees


# --- the analysis itself works ------------------------------------------------------------


def test_the_code_reader_finds_calls_references_and_paginators():
    source = (
        "import boto3\n"
        "def _iam():\n    return boto3.client('iam', config=None)\n"
        "def work(iam):\n"
        "    _call(iam.get_policy_version, PolicyArn='a')\n"
        "    iam.create_policy_version(PolicyArn='a')\n"
        "    iam.get_paginator('list_policy_versions')\n"
        "    {}.get('x')\n"
        "def other():\n    boto3.client(service_name='stepfunctions').send_task_success(taskToken='t', output='{}')\n"
    )
    assert used_actions(source) == {"iam:GetPolicyVersion", "iam:CreatePolicyVersion", "iam:ListPolicyVersions",
                                    "states:SendTaskSuccess"}
    assert used_actions("def handler(event, context):\n    return event.get('policy')\n") == set()


def test_the_template_reader_expands_sam_policy_templates(template):
    machine = template["Resources"]["StateMachine"]
    expanded = [s for s in statements(machine) if s["source"] == "LambdaInvokePolicy"]
    assert expanded and all(s["actions"] == ["lambda:InvokeFunction"] for s in expanded)
    assert {t for s in expanded for t in s["targets"]} == {"ValidatePolicy", "RevertPolicy", "AskUser", "RestorePolicy"}


# --- the template ----------------------------------------------------------------------------


def _all_statements(template):
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            for statement in statements(resource):
                yield name, statement
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            for statement in machine_statements(template, name):
                yield name, statement
        elif resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and \
                name != API_GATEWAY_LOG_ROLE:
            pytest.fail(f"{name}: a hand-written IAM resource; give the function its Policies instead")


def test_no_statement_grants_every_resource_where_a_narrower_one_exists(template):
    broad = []
    for name, statement in _all_statements(template):
        if "managed" in statement:
            continue
        if "*" in statement["resources"] and not set(statement["actions"]) <= NO_RESOURCE_LEVEL:
            broad.append(f"{name} ({statement['source']}): {statement['actions']} on \"*\"")
    assert not broad, "Resource \"*\" where IAM allows a narrower resource:\n" + "\n".join(broad)


def test_no_action_is_a_wildcard_and_no_grant_reaches_another_account(template):
    for name, statement in _all_statements(template):
        if "managed" in statement:
            assert statement["managed"] in ALLOWED_MANAGED_POLICIES, f"{name}: managed policy {statement['managed']}"
            continue
        assert statement["effect"] == "Allow"
        for action in statement["actions"]:
            assert "*" not in action and "?" not in action, f"{name}: wildcard action {action}"
        for resource in statement["resources"]:
            if isinstance(resource, dict) and "Fn::Sub" in resource:
                text = _as_list(resource["Fn::Sub"])[0]
                if text == AWS_MANAGED_POLICIES:  # AWS's own policies: readable, never writable
                    assert all(a in ("iam:GetPolicy", "iam:GetPolicyVersion") for a in statement["actions"]), \
                        f"{name}: {statement['actions']} on AWS managed policies"
                    continue
                if text.startswith(BUCKETS):  # a bucket's ARN names no account: the condition must
                    condition = statement.get("condition", {}).get("StringEquals", {})
                    assert condition.get("aws:ResourceAccount") == {"Ref": "AWS::AccountId"}, \
                        f"{name}: {text} without aws:ResourceAccount = this account"
                    continue
                assert "${AWS::AccountId}" in text, f"{name}: {text} is not limited to this account"


@pytest.mark.parametrize("function", ["ValidatePolicy", "RevertPolicy", "AskUser", "ReceiveDecision", "RestorePolicy"])
def test_a_functions_permissions_are_exactly_the_calls_its_code_makes(template, function):
    resource = functions(template)[function]
    used = used_actions(function_code(resource))
    granted = granted_actions(resource) | key_policy_grants(template, function)
    unused = sorted(granted - used)
    missing = sorted(used - granted)
    assert not unused, f"{function} is granted actions its code never uses: {unused}"
    assert not missing, f"{function}'s code calls AWS actions it is not granted (AccessDenied on AWS): {missing}"


def test_the_seal_key_grants_its_functions_by_name_and_nobody_else(template):
    assert key_policy_grants(template, "RevertPolicy") == {"kms:GenerateMac", "kms:VerifyMac"}
    assert key_policy_grants(template, "RestorePolicy") == {"kms:VerifyMac"}
    assert key_policy_grants(template, "ValidatePolicy") == {"kms:VerifyMac"}
    for name in ("AskUser", "ReceiveDecision"):
        assert key_policy_grants(template, name) == set()


def test_every_function_is_checked(template):
    assert set(functions(template)) == {"ValidatePolicy", "RevertPolicy", "AskUser", "ReceiveDecision", "RestorePolicy"}
    for resource in functions(template).values():
        assert code_of(resource).is_file()


def test_the_judge_and_the_mailer_write_no_iam(template):
    """ValidatePolicy reads IAM and the table; AskUser writes only the task token to the table."""
    for name in ("ValidatePolicy", "AskUser", "ReceiveDecision"):
        used = used_actions(function_code(functions(template)[name]))
        writes = {a for a in used if a.startswith("iam:") and not a.split(":")[1].startswith(("Get", "List"))}
        assert not writes, f"{name} writes IAM: {writes}"


# --- the state machine's role -------------------------------------------------------------


def _task_states(states: dict):
    for name, state in states.items():
        if state.get("Type") == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from _task_states(branch["States"])
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _task_states(state[key]["States"])


def _substituted(value: str, substitutions: dict):
    """`${Name}` -> the logical id its DefinitionSubstitution points at."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        target = substitutions.get(value[2:-1])
        assert target is not None, f"{value} has no DefinitionSubstitution"
        return _logical_id(target)
    return None


def _rule_arn(name_sub) -> str:
    """The ARN of an EventBridge rule of the default bus whose name is the template's `!Sub` text."""
    return f"arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{name_sub['Fn::Sub']}"


@pytest.mark.parametrize("machine_name", ["StateMachine", "WatchGuard"])
def test_the_state_machine_may_call_exactly_what_its_definition_calls(template, machine_name):
    machine = template["Resources"][machine_name]
    properties = machine["Properties"]
    definition = json.loads((ROOT / properties["DefinitionUri"]).read_text())
    substitutions = properties.get("DefinitionSubstitutions", {})

    needed = set()
    for name, state in _task_states(definition["States"]):
        resource = state["Resource"]
        parameters = state.get("Parameters", {})
        if resource.startswith("arn:aws:states:::lambda:invoke"):
            needed.add(("lambda:InvokeFunction", _substituted(parameters.get("FunctionName"), substitutions)))
        elif resource.startswith("arn:aws:states:::sns:publish"):
            needed.add(("sns:Publish", _substituted(parameters.get("TopicArn"), substitutions)))
        elif resource == "arn:aws:states:::aws-sdk:eventbridge:enableRule":
            # only the stack's own rule, named by a substitution, never by the event
            name = parameters["Name"]
            assert name.startswith("${") and "Name.$" not in parameters, parameters
            needed.add(("events:EnableRule", _rule_arn(substitutions[name[2:-1]])))
        elif resource == "arn:aws:states:::states:startExecution":
            # only ever itself: the ARN comes from $$.StateMachine.Id (JudgeEachPart's ItemSelector)
            assert parameters == {"StateMachineArn.$": "$.stateMachineArn", "Input.$": "$.event"}, parameters
            assert definition["States"]["JudgeEachPart"]["ItemSelector"]["stateMachineArn.$"] == "$$.StateMachine.Id"
            needed.add(("states:StartExecution", "StateMachine"))
        else:
            target = _substituted(resource, substitutions)
            assert target in functions(template), f"{name}: {resource} is not one of the stack's functions"
            needed.add(("lambda:InvokeFunction", target))
    assert all(target for _, target in needed), needed

    granted = set()
    for statement in machine_statements(template, machine_name):
        assert "managed" not in statement, f"the state machine carries a managed policy: {statement['managed']}"
        rules = {_rule_arn({"Fn::Sub": r["Fn::Sub"].rsplit(":rule/", 1)[1]}) for r in statement["resources"]
                 if isinstance(r, dict) and ":rule/${AWS::StackName}-" in str(r.get("Fn::Sub"))}
        assert statement["targets"] or rules, f"{statement['source']}: grants on resources outside the stack"
        granted |= {(action, target) for action in statement["actions"] for target in statement["targets"] | rules}

    assert not sorted(granted - needed), f"the state machine may do what it never does: {sorted(granted - needed)}"
    assert not sorted(needed - granted), f"the state machine does what it may not: {sorted(needed - granted)}"


@pytest.mark.parametrize("machine_name", ["StateMachine", "WatchGuard"])
def test_the_rule_only_starts_this_state_machine(template, machine_name):
    rules = [event for event in (template["Resources"][machine_name]["Properties"].get("Events") or {}).values()
             if event["Type"] in ("EventBridgeRule", "CloudWatchEvent")]
    assert len(rules) == 1  # SAM gives the rule a role that may start this state machine only
    assert "Target" not in rules[0]["Properties"] or "RoleArn" not in rules[0]["Properties"]["Target"]


# --- API Gateway's log role ------------------------------------------------------------------


def test_the_api_gateway_log_role_only_lets_api_gateway_push_logs(template):
    role = template["Resources"][API_GATEWAY_LOG_ROLE]
    properties = role["Properties"]
    assert role["Type"] == "AWS::IAM::Role"
    assert set(properties) <= {"Description", "AssumeRolePolicyDocument", "ManagedPolicyArns"}, \
        "no inline policies or other grants on API Gateway's log role"
    assert properties["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert properties["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}]
    users = [name for name, resource in template["Resources"].items()
             if name != API_GATEWAY_LOG_ROLE and API_GATEWAY_LOG_ROLE in json.dumps(resource)]
    assert users == ["ApiGatewayAccount"]
    assert template["Resources"]["ApiGatewayAccount"]["Type"] == "AWS::ApiGateway::Account"
