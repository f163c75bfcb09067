"""The approval panel: pending approvals from the incidents table, decided through the signed endpoint.

The panel's decider is the kit's own (`SignedDecider`, SigV4 for execute-api);
the endpoint is API Gateway's IAM-authorised method played on 127.0.0.1
(tests/support/iam_authorised_endpoint.py), which verifies the signature and
hands the request to ReceiveDecision in process, as on AWS.
"""

import json
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import boto3
import pytest
from botocore.credentials import Credentials
from iam_authorised_endpoint import IamAuthorisedEndpoint
from lambda_loader import load_function
from moto import mock_aws
from waiting_executions import create_incidents_table, waiting_machine

from workshop.aws.decision_endpoint import SignedDecider, post_decision
from workshop.aws.incidents import get_incident, list_incidents
from workshop.display.incidents import incidents_view, statement_diff
from workshop.widgets.approvals import ApprovalPanel, NotADecision, decision_from, decision_outcome

TABLE = "incidents"
ADMIN = "arn:aws:iam::123456789012:user/admin"  # who API Gateway names for the panel's key
receive_decision = load_function("receive_decision")
BAD = {"Version": "2012-10-17", "Statement": [{"Sid": "Wide", "Effect": "Allow",
                                               "Action": ["s3:DeleteBucket", "s3:DeleteObject"], "Resource": "*"}]}
HARMLESS = {"Version": "2012-10-17", "Statement": [{"Sid": "RevertedBySecurityOrchestrator", "Effect": "Allow",
                                                    "Action": "logs:GetLogGroupFields", "Resource": "*"}]}
# After AskUser, the decision's path as the workshop's machine has it (usersChoice reads the action).
AFTER_ASKING = {
    "usersChoice": {"Type": "Choice", "Choices": [
        {"Variable": "$.decision.action", "StringEquals": "allow", "Next": "approved"}], "Default": "denied"},
    "approved": {"Type": "Pass", "End": True},
    "denied": {"Type": "Pass", "End": True},
}


@pytest.fixture
def cloud(aws_env, monkeypatch):
    """moto with an incidents table, a policy reverted to the harmless version, and executions
    waiting on real task tokens; `asked(...)` records an incident as RevertPolicy and AskUser do."""
    monkeypatch.setenv("INCIDENTS_TABLE", TABLE)
    endpoint = IamAuthorisedEndpoint(receive_decision.handler, {"panelkey": ("panelsecret", ADMIN)})
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        dynamodb, sfn, iam = boto3.client("dynamodb"), boto3.client("stepfunctions"), boto3.client("iam")
        create_incidents_table(dynamodb, TABLE)
        machine = waiting_machine(sfn, boto3.client("sqs"), sns=boto3.client("sns"), name="tokens", state="AskUser",
                                  result_path="$.decision", then=AFTER_ASKING)
        policy = iam.create_policy(PolicyName="workshop-bad-policy-1", PolicyDocument=json.dumps(BAD))["Policy"]
        iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=json.dumps(HARMLESS), SetAsDefault=True)

        def asked(minutes_ago=0, deadline_in=3600, **fields):
            execution, token = machine.start()
            created = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
            target = {"kind": "managed", "policyArn": policy["Arn"], "versionId": "v1",
                      "label": f"policy {policy['Arn']} version v1"}
            item = {"incidentId": uuid.uuid4().hex, "kind": "managed", "target": json.dumps(target),
                    "label": target["label"], "document": json.dumps(BAD, indent=4),
                    "changedBy": json.dumps({"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/mallory"}),
                    "eventName": "CreatePolicy", "eventTime": "2026-11-28T10:15:30Z", "verdict": "remedy",
                    "why": "allows s3:DeleteBucket", "matches": json.dumps([{"action": "s3:DeleteBucket"},
                                                                             {"action": "s3:DeleteObject"}]),
                    "status": "awaiting", "executionArn": execution, "createdAt": created.isoformat(),
                    "taskToken": token, "deadline": int((datetime.now(timezone.utc) + timedelta(
                        seconds=deadline_in)).timestamp()), **fields}
            dynamodb.put_item(TableName=TABLE, Item={
                k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in item.items()})
            return SimpleNamespace(id=item["incidentId"], execution=execution)

        def panel(decide=None, **kwargs):
            decide = decide or SignedDecider(endpoint.url, Credentials("panelkey", "panelsecret"), "us-east-1")
            return ApprovalPanel(sfn, dynamodb, TABLE, decide, iam=iam, who="shown only: not what is recorded",
                                 **{"wait_after_decision": 10, **kwargs})

        yield SimpleNamespace(dynamodb=dynamodb, sfn=sfn, iam=iam, asked=asked, panel=panel, policy=policy,
                              endpoint=endpoint)
    endpoint.close()


# --- the pending list -------------------------------------------------------------


def test_the_panel_lists_incidents_waiting_for_a_decision_newest_first(cloud):
    older, newer = cloud.asked(minutes_ago=30), cloud.asked(minutes_ago=1)
    cloud.asked(decision="deny", decidedVia="link")
    cloud.asked(deadline_in=-5)  # timed out: nothing to decide any more
    cloud.asked(status="reverted")  # not asked yet: no token
    panel = cloud.panel()
    assert [a.incident.incident_id for a in panel.pending] == [newer.id, older.id]
    assert "2 approval(s) waiting" in panel.html()
    incident = panel.pending[0].incident
    assert incident.name == "workshop-bad-policy-1" and incident.version_id == "v1"
    assert incident.matched_actions() == ["s3:DeleteBucket", "s3:DeleteObject"]
    assert 3500 < incident.time_left().total_seconds() <= 3600


def test_a_card_shows_who_changed_what_and_the_diff_against_what_is_in_force(cloud):
    cloud.asked()
    html = cloud.panel().html()
    assert "Policy workshop-bad-policy-1" in html and "user/mallory" in html
    assert "s3:DeleteBucket" in html and "RevertedBySecurityOrchestrator" in html
    assert "decided via panel" in html and "signed with your own AWS credentials" in html


def test_the_diff_shows_the_restricted_actions_removed_and_the_harmless_statement():
    diff = statement_diff(json.dumps(BAD), HARMLESS)
    assert '-        "s3:DeleteBucket",' in diff
    assert '+      "Action": "logs:GetLogGroupFields",' in diff
    assert statement_diff("{}", None).endswith("+(nothing: taken out of force)")


def test_an_empty_panel_says_what_to_do(cloud):
    panel = cloud.panel()
    assert panel.pending == [] and "notebook 03" in panel.html()
    with pytest.raises(LookupError, match="03_fire_bad_policy"):
        panel.press("allow")


# --- deciding ---------------------------------------------------------------------------


def test_approve_records_it_via_panel_and_resumes_the_execution(cloud):
    incident = cloud.asked()
    panel = cloud.panel()
    result = panel.press("allow")
    assert result.ok and result.title == "Approved" and "decided via panel" in result.message
    assert panel.outcomes[incident.execution] == "SUCCEEDED"
    output = json.loads(cloud.sfn.describe_execution(executionArn=incident.execution)["output"])
    assert output["decision"] == {"action": "allow", "incidentId": incident.id, "decidedVia": "panel",
                                  "decidedAt": output["decision"]["decidedAt"]}
    recorded = get_incident(cloud.dynamodb, TABLE, incident.id)
    assert recorded.decision == "allow" and recorded.decided_via == "panel"
    assert recorded.decided_by == ADMIN  # the signer API Gateway named, not what the panel says of itself
    assert [r["key"] for r in cloud.endpoint.requests] == ["panelkey"]
    buttons = panel.buttons[incident.execution]
    assert buttons["allow"].disabled and buttons["deny"].disabled
    assert "Approved</strong> (via panel)" in panel.html() and "SUCCEEDED" in panel.html()
    assert cloud.panel().pending == []


@pytest.mark.parametrize("typed, meant", [("Deny", "deny"), ("DENY", "deny"), (" deny ", "deny"),
                                          ("Approve", "allow"), ("approve", "allow"), ("allow", "allow")])
def test_a_decision_is_a_buttons_label_in_any_case(typed, meant):
    assert decision_from(typed) == meant


@pytest.mark.parametrize("typed", ["maybe", "delete", "", None, True])
def test_anything_else_is_refused_on_one_screen_with_what_works(typed):
    with pytest.raises(NotADecision) as refused:
        decision_from(typed)
    assert repr(typed) in str(refused.value) and '"approve" or "deny"' in str(refused.value)
    assert refused.value._render_traceback_()[0].startswith("\x1b[31mNotADecision")  # a message, no frames


def test_the_deny_button_label_presses_deny(cloud):
    incident = cloud.asked()
    result = cloud.panel().press("Deny")
    assert result.ok and result.decision == "deny"
    output = json.loads(cloud.sfn.describe_execution(executionArn=incident.execution)["output"])
    assert output["decision"]["action"] == "delete"


def test_deciding_everything_since_a_moment_leaves_what_came_before_waiting(cloud):
    earlier = cloud.asked(minutes_ago=20)  # the learner's own, from an earlier notebook
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    made = [cloud.asked(minutes_ago=1), cloud.asked()]
    panel = cloud.panel(wait_after_decision=0)
    batch = panel.decide_all("Deny", arrived_after=since)
    assert batch.ok == 2 and sorted(i.incident_id for i in batch.decided) == sorted(m.id for m in made)
    assert [i.incident_id for i in batch.left] == [earlier.id]
    assert "Denied 2 incident(s) this notebook made." in repr(batch)
    assert "Left alone, still waiting for you: 1 incident(s)" in repr(batch)
    assert [a.incident.incident_id for a in cloud.panel().pending] == [earlier.id]
    assert get_incident(cloud.dynamodb, TABLE, earlier.id).decision == ""


def test_deny_sends_delete(cloud):
    incident = cloud.asked()
    cloud.panel().press("deny")
    output = json.loads(cloud.sfn.describe_execution(executionArn=incident.execution)["output"])
    assert output["decision"]["action"] == "delete"


def test_a_decision_made_meanwhile_by_the_link_stands_and_the_panel_says_so(cloud):
    incident = cloud.asked()
    panel = cloud.panel()
    cloud.dynamodb.update_item(TableName=TABLE, Key={"incidentId": {"S": incident.id}},
                               UpdateExpression="SET decision = :d, decidedVia = :v, decidedAt = :t",
                               ExpressionAttributeValues={":d": {"S": "deny"}, ":v": {"S": "link"},
                                                          ":t": {"S": "2026-11-28T10:16:00Z"}})
    result = panel.press("allow")
    assert not result.ok and result.title == "Already decided" and "denied (via link" in result.message
    assert get_incident(cloud.dynamodb, TABLE, incident.id).decision == "deny"
    assert cloud.sfn.describe_execution(executionArn=incident.execution)["status"] == "RUNNING"
    assert not panel.buttons[incident.execution]["allow"].disabled


class TimedOut:
    """Step Functions for a task that is over (as AWS and the local cloud answer; moto's mock accepts it)."""

    def send_task_success(self, **kwargs):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "Task Timed Out"}}, "SendTaskSuccess")


def test_an_execution_that_ended_meanwhile_is_expired_and_the_decision_taken_back(cloud, monkeypatch):
    incident = cloud.asked()
    panel = cloud.panel(wait_after_decision=0)
    client = boto3.client
    monkeypatch.setattr(receive_decision.boto3, "client",
                        lambda service, *a, **k: TimedOut() if service == "stepfunctions" else client(service, *a, **k))
    result = panel.press("allow")
    assert not result.ok and "expired" in result.title
    assert get_incident(cloud.dynamodb, TABLE, incident.id).decision == ""


class ReadOnly:
    """A client that may read, and fails the test on any write."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        if name in ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items",
                    "send_task_success", "send_task_failure"):
            raise AssertionError(f"the panel called {name}: it must only ask the decision endpoint")
        return getattr(self._client, name)


def test_the_panel_writes_no_table_and_sends_no_task_answer_itself(cloud):
    incident = cloud.asked()
    panel = cloud.panel(wait_after_decision=0)
    panel.dynamodb, panel.sfn = ReadOnly(panel.dynamodb), ReadOnly(panel.sfn)
    assert panel.press("deny").ok
    assert get_incident(cloud.dynamodb, TABLE, incident.id).decision == "deny"


def test_a_request_not_signed_with_a_key_api_gateway_knows_decides_nothing(cloud):
    incident = cloud.asked()
    for credentials, message in ((Credentials("panelkey", "a-wrong-secret"), "signature we calculated"),
                                 (Credentials("otherkey", "x"), "security token included")):
        result = cloud.panel(decide=SignedDecider(cloud.endpoint.url, credentials)).press("allow")
        assert result.status == 403 and message in result.message and "execute-api:Invoke" in result.message
    assert get_incident(cloud.dynamodb, TABLE, incident.id).decision == ""
    no_key = SignedDecider(cloud.endpoint.url, None)("0" * 32, "allow")
    assert no_key.status == 0 and "No AWS credentials" in no_key.title
    elsewhere = SignedDecider("file:///etc/passwd", Credentials("panelkey", "panelsecret"))("0" * 32, "allow")
    assert elsewhere.status == 0 and "DecisionUrl" in elsewhere.message


def test_the_outcome_says_what_is_in_force(cloud):
    cloud.asked()
    panel = cloud.panel()
    assert not decision_outcome(cloud=None, panel=panel).decided  # before a click: no wait
    panel.press("deny")
    fake_cloud = SimpleNamespace(client=lambda service: {"iam": cloud.iam, "stepfunctions": cloud.sfn}[service])
    outcome = decision_outcome(fake_cloud, panel)
    assert outcome.decided and outcome.policy_restored is False
    assert "the harmless version stays in force" in repr(outcome)


def test_the_outcome_is_of_the_newest_decision_made_in_the_panel(cloud):
    """A learner decides the newer request, then the older one: running the outcome cell again tells the
    decision just made, not the request the panel lists first."""
    older, newer = cloud.asked(minutes_ago=5), cloud.asked()
    panel = cloud.panel()
    assert [a.incident.execution_arn for a in panel.waiting()][:2] == [newer.execution, older.execution]
    fake_cloud = SimpleNamespace(client=lambda service: {"iam": cloud.iam, "stepfunctions": cloud.sfn}[service])
    assert panel.press("deny", execution_arn=newer.execution).ok
    assert repr(decision_outcome(fake_cloud, panel)).startswith("Deny: execution " + newer.execution.rsplit(":", 1)[-1])
    assert panel.press("deny", execution_arn=older.execution).ok
    outcome = decision_outcome(fake_cloud, panel)
    assert repr(outcome).startswith("Deny: execution " + older.execution.rsplit(":", 1)[-1]), outcome


def test_the_incidents_view_lists_every_incident_with_its_decision(cloud):
    cloud.asked(decision="allow", decidedVia="link", decidedBy="e-mail link (signed) from 198.51.100.7",
                decidedAt="2026-11-28T10:16:00Z", status="restored")
    cloud.asked()
    incidents = list_incidents(cloud.dynamodb, TABLE)
    assert [i.outcome for i in incidents] == ["waiting for a decision", "approved via link (restored)"]
    view = incidents_view(SimpleNamespace(client=lambda s: cloud.dynamodb), {"IncidentsTableName": TABLE})
    assert len(view) == 2 and "198.51.100.7" in view._repr_html_() and "user/mallory" in repr(view)
    with pytest.raises(LookupError, match="Redeploy"):
        incidents_view(SimpleNamespace(client=lambda s: cloud.dynamodb), {})


def test_the_incidents_view_says_which_items_revertpolicy_never_sealed(cloud):
    from workshop.aws.function_contract import contract

    kms = boto3.client("kms")
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    real, planted = cloud.asked(minutes_ago=2), cloud.asked(minutes_ago=1)
    item = cloud.dynamodb.get_item(TableName=TABLE, Key={"incidentId": {"S": real.id}})["Item"]
    cloud.dynamodb.update_item(TableName=TABLE, Key={"incidentId": {"S": real.id}}, UpdateExpression="SET seal = :s",
                               ExpressionAttributeValues={":s": contract("seal").seal(kms, key, item)})
    clients = {"dynamodb": cloud.dynamodb, "kms": kms}
    view = incidents_view(SimpleNamespace(client=clients.get), {"IncidentsTableName": TABLE, "SealKeyArn": key})
    rows = repr(view).splitlines()
    assert "not an incident: RevertPolicy never sealed it" in rows[0]  # the planted item, newest
    assert rows[1].endswith("-> waiting for a decision")  # the sealed one, as it stands
    assert planted.id and "never sealed" in view._repr_html_()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1:9/allow", "", None])
def test_fields_go_only_to_an_http_url(url):
    result = post_decision(url, {"token": "secret-token"}, "allow", timeout=2)
    assert result.status == 0 and result.title == "Not an approval link" and "ApproveUrl" in result.message
    assert "secret-token" not in result.message


# --- nothing on the page stays "waiting" once decided ----------------------------------------------------


def test_after_a_decision_the_header_snapshot_and_repr_say_it_was_decided(cloud):
    cloud.asked()
    panel = cloud.panel(wait_after_decision=0)
    assert "1 approval(s) waiting" in panel._header_widget.value
    panel.press("deny")
    assert "No approval is waiting any more" in panel._header_widget.value
    assert "1 decided here" in panel.html() and "approval(s) waiting" not in panel.html()
    assert "decided: deny" in repr(panel)
    assert panel.waiting() == [] and panel.decision_for(panel.pending[0].incident.execution_arn).decision == "deny"
    with pytest.raises(LookupError):
        panel.press("allow")  # nothing is waiting any more: a second press does not reach the decided one


def test_a_decided_card_counts_no_time_left_in_the_snapshot_nor_in_the_widget(cloud):
    cloud.asked()
    panel = cloud.panel(wait_after_decision=0)
    arn = panel.pending[0].incident.execution_arn
    assert " left" in panel.html() and " left" in panel._text_widgets[arn].value
    panel.press("deny")
    assert " left<br>" not in panel.html() and " left<br>" not in panel._text_widgets[arn].value
    assert "Arrived: " in panel.html()


def test_the_verdict_names_the_change_once(cloud):
    label = f"policy {cloud.policy['Arn']} version v1"
    cloud.asked(why=f"{label}: The policy allows restricted actions: s3:DeleteBucket.")
    html = cloud.panel().html()
    assert html.count(f"{label}: ") == 1 and "The policy allows restricted actions: s3:DeleteBucket." in html


def test_the_email_view_follows_the_panels_decision(cloud):
    from workshop.display.records import EmailView

    cloud.asked()
    panel = cloud.panel(wait_after_decision=0)
    approval = panel.pending[0]
    shown = []

    class Tracked(EmailView):
        def update_display(self):
            shown.append(self._repr_html_())

    def status():
        result = panel.decision_for(approval.incident.execution_arn)
        return "Open" if result is None else f"Already decided: {result.decision}"

    email = Tracked({"to": "a@example.com", "subject": "Approval needed", "sent_at": "now", "body": "links"},
                    status=status)
    panel.views.append(email)
    assert "Open" in repr(email)
    panel.press("allow")
    assert shown and "Already decided: allow" in shown[-1]


def test_no_waiting_request_means_no_open_email(cloud):
    from workshop.widgets.approvals import approval_email

    email = approval_email(cloud=None, panel=cloud.panel())
    assert email.message is None and "No approval is waiting" in repr(email)
