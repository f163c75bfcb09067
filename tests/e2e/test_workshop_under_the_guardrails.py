"""The workshop in a member account guarded by policies/scp-workshop-guardrails.json, end to end.

An organization on a local cloud of its own; a member account made with `organizations create-account`;
its owner (through OrganizationAccountAccessRole) deploys policies/deployer-role.yaml with CloudFormation
(the deployer role and the artifacts bucket), as docs/aws.md tells an account owner to, and makes the learner, an IAM user holding exactly
policies/learner-policy*.json; then the SCP is attached. The learner deploys the stack with the kit's
`workshop deploy` (which finds the deployer role and passes it to `sam deploy --role-arn`): every resource is
created in the member account, under the SCP, as the deployer role.

Then the workshop's incident, all of it in the member account, with the kit's own calls as the learner
makes them in notebooks 03 and 04: the learner creates a risky workshop policy; CloudTrail records it
as the member account's, its EventBridge rule starts its state machine, whose functions (each as its role
there, under the SCP) revert the policy in its IAM, seal the incident in its table and mail the approval
through its topic; the learner reads the pending incident as the panel does (its seal checked with the
stack's key, which the learner policy names by CloudFormation's stack-name tag) and decides
through the panel's path, a SigV4-signed request to the IAM-authorised decision endpoint; the execution
resumes and IAM shows the outcome: approved, the policy is back; denied, it stays reverted.

And the cells of notebooks 06, 07 and 08 that start, stop or change the stack's executions or delete the
stack, each as the learner: the SCP refuses the call itself, and the cell shows what is true instead (the
schedule's latest scan, the deployed time limit, who may delete the stack), changing nothing.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from workshop.aws.iam_simulation import learner_policy_files
from iam_principals import Principal, admin, document, session_for, user_with
from polling import wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
STACK = "security-orchestrator"
ANYTHING = {"Effect": "Allow", "Action": "*", "Resource": "*"}


@pytest.fixture(scope="module")
def guarded_member(tmp_path_factory, sam_build):
    from botocore.credentials import Credentials

    from workshop.aws import deploy as deploy_module
    from workshop.localcloud import LocalCloud
    from workshop.localcloud.server import credentials

    log = open(tmp_path_factory.mktemp("localcloud-guarded") / "server.log", "wb")
    with LocalCloud(log_file=log) as cloud:
        endpoint = cloud.endpoint
        organizations = admin(endpoint, "organizations")
        organizations.create_organization(FeatureSet="ALL")
        root = organizations.list_roots()["Roots"][0]["Id"]
        organizations.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
        account = organizations.create_account(AccountName="workshop-lab", Email="lab@example.com")[
            "CreateAccountStatus"]["AccountId"]
        owner_key = user_with(endpoint, document(ANYTHING)).client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="owner")[
            "Credentials"]
        owner = Principal(endpoint, session_for(endpoint, owner_key), "", "")
        # what the account owner does once, before attaching the SCP (docs/aws.md, docs/facilitator.md)
        cfn = owner.client("cloudformation")
        cfn.create_stack(StackName=f"{STACK}-deployer", TemplateBody=(ROOT / "policies/deployer-role.yaml").read_text(),
                         Capabilities=["CAPABILITY_NAMED_IAM"])
        assert cfn.describe_stacks(StackName=f"{STACK}-deployer")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        iam = owner.client("iam")
        # the break-glass role the SCP exempts, made before the orchestrator watches the account (made after, its
        # policy granting everything is an incident like any other and is taken out of force)
        iam.create_role(RoleName="BreakGlass", AssumeRolePolicyDocument=document(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}))
        iam.put_role_policy(RoleName="BreakGlass", PolicyName="everything", PolicyDocument=document(ANYTHING))
        # two learners sharing the account (a pair), each holding exactly the learner policies
        for user in ("learner", "partner"):
            iam.create_user(UserName=user)
        for path in learner_policy_files(ROOT):
            policy = iam.create_policy(PolicyName=path.stem, PolicyDocument=path.read_text())["Policy"]["Arn"]
            for user in ("learner", "partner"):
                iam.attach_user_policy(UserName=user, PolicyArn=policy)
        key = iam.create_access_key(UserName="learner")["AccessKey"]
        partner_key = iam.create_access_key(UserName="partner")["AccessKey"]
        scp = organizations.create_policy(
            Name="workshop-guardrails", Type="SERVICE_CONTROL_POLICY", Description="the orchestrator's guardrails",
            Content=(ROOT / "policies/scp-workshop-guardrails.json").read_text())["Policy"]["PolicySummary"]["Id"]
        organizations.attach_policy(PolicyId=scp, TargetId=account)
        # the kit, sam and boto3 call as the member account's learner (its key in the local cloud's key file)
        credentials.write(replace(credentials.read(endpoint), learner_access_key_id=key["AccessKeyId"],
                                  learner_secret_access_key=key["SecretAccessKey"]))
        output = io.StringIO()
        try:
            # the account's administrators: its owner's access role and break-glass, and the learner who deploys
            # (as `workshop deploy --target aws` names the deployer). The scan judges everyone else: the partner,
            # and so the learner policies the partner holds.
            admins = ",".join(f"arn:aws:iam::{account}:{name}" for name in (
                "role/OrganizationAccountAccessRole", "role/BreakGlass", "user/learner"))
            outputs = deploy_module.deploy(target="local", endpoint=endpoint, stack_name=STACK,
                                           parameters={"EmailAddress": "learner@security-orchestrator.dev",
                                                       "AdminPrincipalArns": admins},
                                           build_dir=sam_build.parent, skip_build=True, stream=output)
        except deploy_module.DeployError as exc:
            pytest.fail(f"{exc}\n{output.getvalue()}")
        learner = Principal(endpoint, session_for(endpoint, key), f"arn:aws:iam::{account}:user/learner", "learner")
        partner = Principal(endpoint, session_for(endpoint, partner_key), f"arn:aws:iam::{account}:user/partner",
                            "partner")
        yield {"endpoint": endpoint, "owner": owner, "account": account, "outputs": outputs, "output": output.getvalue(), "learner": learner, "partner": partner,
               "credentials": Credentials(key["AccessKeyId"], key["SecretAccessKey"])}
    log.close()


def test_the_learner_deploys_into_the_guarded_account_through_the_deployer_role(guarded_member):
    account = guarded_member["account"]
    assert f"--role-arn arn:aws:iam::{account}:role/{STACK}-deployer" in guarded_member["output"]
    # the artifacts go to the owner's bucket (policies/deployer-role.yaml made it): the learner makes no bucket
    bucket = f"{STACK}-artifacts-{account}"
    assert f"--no-resolve-s3 --s3-bucket {bucket} --s3-prefix {STACK}" in guarded_member["output"]
    assert f"Artifacts go to the account owner's bucket s3://{bucket}/{STACK}/" in guarded_member["output"]
    s3 = guarded_member["owner"].client("s3")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"{STACK}/")["KeyCount"] > 0
    assert "aws-sam-cli-managed-default" not in [
        s["StackName"] for s in guarded_member["owner"].client("cloudformation").list_stacks()["StackSummaries"]]
    learner = guarded_member["learner"]
    assert learner.client("sts").get_caller_identity()["Account"] == account
    stack = learner.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE" and stack["RoleARN"].endswith(f"role/{STACK}-deployer")
    assert f":{account}:stateMachine:{STACK}-StateMachine" in guarded_member["outputs"]["StateMachineArn"]


def test_the_panels_signed_request_reaches_receive_decision_under_the_scp(guarded_member):
    """IAM and the SCP let the learner's signed request through (a refusal would be API Gateway's 403), the
    member account's ReceiveDecision runs it (its log group records the invocation) and its conditional write
    reaches that account's incidents table, which holds no such incident: nothing waits for that decision."""
    from workshop.aws.decision_endpoint import SignedDecider

    logs = guarded_member["owner"].client("logs")
    group = next(g["logGroupName"] for g in logs.describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{STACK}-ReceiveDecision")["logGroups"])
    before = len(logs.filter_log_events(logGroupName=group)["events"])
    decide = SignedDecider(guarded_member["outputs"]["DecisionUrl"], guarded_member["credentials"])
    result = decide(uuid.uuid4().hex, "deny")  # an incident id's shape (32 hex digits), of no incident
    assert (result.status, result.title) == (409, "Not waiting for a decision"), result
    started = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"][before:]]
    assert any(m.startswith("START RequestId") for m in started), started


# --- the cells of notebooks 06 and 08 that start, stop or change the stack's executions, as the learner ---


def _break_glass(member: dict) -> Principal:
    """A session of the member account's break-glass role (the SCP exempts it), which its owner made."""
    arn = f"arn:aws:iam::{member['account']}:role/BreakGlass"
    key = member["owner"].client("sts").assume_role(RoleArn=arn, RoleSessionName="break-glass")["Credentials"]
    return Principal(member["owner"].endpoint, session_for(member["owner"].endpoint, key), arn, "BreakGlass")


@pytest.fixture(scope="module")
def learner_cloud(guarded_member):
    """The notebooks' own `cloud`: connect() signs with the learner's key (the key file names it)."""
    from workshop.aws import connect

    return connect("local", guarded_member["learner"].endpoint)


def test_the_learner_is_refused_start_execution_by_the_scp_itself(guarded_member, learner_cloud):
    from iam_principals import denied

    machine = guarded_member["outputs"]["StateMachineArn"]
    error = denied(learner_cloud.client("stepfunctions").start_execution, stateMachineArn=machine, input="{}")
    assert error["Message"].endswith("with an explicit deny in a service control policy"), error


def test_notebook_06s_scan_shows_the_schedules_latest_run_when_the_scp_refuses_starting_one(guarded_member,
                                                                                            learner_cloud):
    from workshop.aws import held_by_guardrails, reconciliation_scan
    from workshop.aws.executions import scan_schedule

    machine = guarded_member["outputs"]["StateMachineArn"]
    before = reconciliation_scan(learner_cloud, machine, stack_name=STACK)
    assert held_by_guardrails(before) and before.action == "states:StartExecution", before
    assert "runs the scan every 15 minutes" in before.summary()
    assert before.shown is None and "has not run yet: the first run is due at about" in before.summary(), before
    # a run with the schedule's own input, as the schedule starts it (break-glass may start executions)
    schedule = scan_schedule(learner_cloud, machine)
    started = _break_glass(guarded_member).client("stepfunctions").start_execution(
        stateMachineArn=machine, input=schedule.input)["executionArn"]
    after = reconciliation_scan(learner_cloud, machine, stack_name=STACK)
    assert held_by_guardrails(after) and after.shown is not None and after.shown.arn == started, after
    assert "Its latest run started at" in after.summary() and "the next is due by" in after.summary(), after
    # the scan judged every policy of the member account but its administrators' and left the learner policies
    # in force (the partner holds them): it ends, or waits for a human only after taking out what it found
    # (TempRemove comes before AskUser); the partner's next call is still allowed
    from workshop.aws.executions import follow

    follow(learner_cloud, started, until="AskUser", timeout=120)
    partner = guarded_member["partner"].client("stepfunctions")
    assert partner.describe_execution(executionArn=started)["executionArn"] == started
    iam = guarded_member["owner"].client("iam")
    attached = {p["PolicyName"]: p["PolicyArn"] for p in iam.list_attached_user_policies(UserName="partner")[
        "AttachedPolicies"]}
    assert sorted(attached) == sorted(path.stem for path in learner_policy_files(ROOT)), attached
    for path in learner_policy_files(ROOT):
        policy = iam.get_policy(PolicyArn=attached[path.stem])["Policy"]
        held = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])["PolicyVersion"]
        assert held["Document"] == json.loads(path.read_text()), f"the scan took {path.name} out of force"


def test_notebook_06s_timeout_demo_and_failing_lambda_change_nothing_under_the_scp(guarded_member, learner_cloud):
    from workshop.aws import held_by_guardrails, malformed_policy_event, run_event
    from workshop.teaching import approval_timeout_demo

    machine = guarded_member["outputs"]["StateMachineArn"]
    sfn = guarded_member["owner"].client("stepfunctions")
    deployed = sfn.describe_state_machine(stateMachineArn=machine)["definition"]
    timed_out = approval_timeout_demo(learner_cloud, machine, ROOT / "policies" / "badpolicy.json", seconds=3)
    assert held_by_guardrails(timed_out) and timed_out.action == "states:UpdateStateMachine", timed_out
    assert "The deployed limit is 86400 s" in timed_out.summary(), timed_out
    assert sfn.describe_state_machine(stateMachineArn=machine)["definition"] == deployed
    failed = run_event(learner_cloud, machine, malformed_policy_event(learner_cloud), "a malformed event",
                       instead_through="NotifyFailure")
    assert held_by_guardrails(failed) and failed.action == "states:StartExecution", failed
    assert failed.shown is None or "NotifyFailure" in failed.shown.path(), failed


def test_notebook_08_says_who_may_delete_the_stack_when_the_scp_keeps_it(guarded_member, learner_cloud):
    from workshop.aws import delete_stack

    said = delete_stack(learner_cloud, STACK)
    assert said.startswith(f"The stack {STACK} stays") and "cloudformation:DeleteStack" in said, said
    stack = guarded_member["owner"].client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"


def test_notebook_07s_forged_execution_is_held_by_the_scp_itself(guarded_member, learner_cloud):
    from workshop.teaching import forge_an_execution

    victim = learner_cloud.client("iam").create_policy(
        PolicyName=f"workshop-victim-{uuid.uuid4().hex[:6]}",
        PolicyDocument=(ROOT / "policies" / "goodpolicy.json").read_text())["Policy"]["Arn"]
    result = forge_an_execution(learner_cloud, guarded_member["outputs"], victim)
    assert result.held is True and any("refused by the account's guardrails" in h for h in result.happened), result


# --- an incident decided end to end in the member account -------------------------------------------

HARMLESS_SID = "RevertedBySecurityOrchestrator"


def test_an_incident_in_the_guarded_account_is_reverted_mailed_and_decided_there_from_the_panel(guarded_member):
    from workshop.aws import connect
    from workshop.aws.decision_endpoint import panel_decider
    from workshop.aws.executions import follow, wait_for_end
    from workshop.aws.iam_changes import execution_started_by, fire_policy, policy_versions
    from workshop.aws.incidents import get_incident, pending_approvals, table_name
    from workshop.localcloud import read_mailbox

    account, outputs, endpoint = guarded_member["account"], guarded_member["outputs"], guarded_member["endpoint"]
    cloud = connect("local", endpoint)  # the kit as the learner: the key file holds the member's learner's key
    assert cloud.client("sts").get_caller_identity()["Arn"] == guarded_member["learner"].arn
    machine = outputs["StateMachineArn"]
    bad = ROOT / "policies" / "badpolicy.json"
    fired = {decision: fire_policy(cloud, bad) for decision in ("allow", "deny")}
    runs = {decision: execution_started_by(cloud, machine, change) for decision, change in fired.items()}
    iam = cloud.client("iam")
    for decision, change in fired.items():
        assert f":{account}:policy/" in change.arn
        follow(cloud, runs[decision], until="AskUser")
        event = json.loads(cloud.client("stepfunctions").describe_execution(executionArn=runs[decision])["input"])
        assert event["account"] == event["detail"]["recipientAccountId"] == account
        assert event["detail"]["userIdentity"]["arn"] == guarded_member["learner"].arn
        versions = policy_versions(iam, change.arn)
        assert change.version_id not in versions.ids(), versions
        assert versions.default_document()["Statement"][0]["Sid"] == HARMLESS_SID

    for change in fired.values():  # AskUser's mail, through the member account's topic to its subscriber
        mail = wait_for(lambda: next((m for m in read_mailbox(endpoint) if m["subject"].startswith(
            "Approval needed") and change.arn in m["body"]), None), timeout=30, what=f"the mail about {change.arn}")
        assert mail["topic_arn"].startswith(f"arn:aws:sns:us-east-1:{account}:{STACK}-AlertTopic-")
        assert mail["subscription_arn"].startswith(mail["topic_arn"] + ":")
        assert outputs["ApproveUrl"] in mail["body"] and outputs["DenyUrl"] in mail["body"]

    table = table_name(outputs)
    pending = {approval.incident.target.get("policyArn"): approval for approval in pending_approvals(
        cloud.client("dynamodb"), table, iam=iam, kms=cloud.client("kms"), seal_key=outputs["SealKeyArn"])}
    decide = panel_decider(cloud, outputs)
    for decision, change in fired.items():
        approval = pending[change.arn]
        assert approval.seal == "sealed", approval.seal  # the panel checks it with the stack-tagged key
        result = decide(approval.incident.incident_id, decision)
        assert result.ok, result
        assert wait_for_end(cloud, runs[decision]).status == "SUCCEEDED"
        decided = get_incident(cloud.client("dynamodb"), table, approval.incident.incident_id)
        assert (decided.decision, decided.decided_via, decided.decided_by) == (
            decision, "panel", guarded_member["learner"].arn)

    assert policy_versions(iam, fired["allow"].arn).default_document() == json.loads(bad.read_text())
    assert policy_versions(iam, fired["deny"].arn).default_document()["Statement"][0]["Sid"] == HARMLESS_SID
