"""The approval panel: pending approvals from the incidents table, deciding with your own credentials."""

import json
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws
from waiting_executions import create_incidents_table, waiting_machine

from workshop.aws.decision_endpoint import post_decision
from workshop.aws.incidents import get_incident, list_incidents
from workshop.display.incidents import incidents_view, statement_diff
from workshop.widgets.approvals import ApprovalPanel, decision_outcome

TABLE = "incidents"
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
def cloud(aws_env):
    """moto with an incidents table, a policy reverted to the harmless version, and executions
    waiting on real task tokens; `asked(...)` records an incident as RevertPolicy and AskUser do."""
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

        def panel(**kwargs):
            return ApprovalPanel(sfn, dynamodb, TABLE, iam=iam, who="arn:aws:iam::123456789012:user/admin",
                                 **{"wait_after_decision": 10, **kwargs})

        yield SimpleNamespace(dynamodb=dynamodb, sfn=sfn, iam=iam, asked=asked, panel=panel, policy=policy)


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
    assert "decided via panel" in html and "SendTaskSuccess with your own AWS credentials" in html


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
    assert recorded.decided_by == "arn:aws:iam::123456789012:user/admin"
    buttons = panel.buttons[incident.execution]
    assert buttons["allow"].disabled and buttons["deny"].disabled
    assert "Approved</strong> (via panel)" in panel.html() and "SUCCEEDED" in panel.html()
    assert cloud.panel().pending == []


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


def test_an_execution_that_ended_meanwhile_is_expired_and_the_decision_taken_back(cloud):
    incident = cloud.asked()
    panel = cloud.panel(wait_after_decision=0)
    panel.sfn = TimedOut()
    result = panel.press("allow")
    assert not result.ok and "expired" in result.title
    assert get_incident(cloud.dynamodb, TABLE, incident.id).decision == ""


def test_the_outcome_says_what_is_in_force(cloud):
    cloud.asked()
    panel = cloud.panel()
    assert not decision_outcome(cloud=None, panel=panel).decided  # before a click: no wait
    panel.press("deny")
    fake_cloud = SimpleNamespace(client=lambda service: {"iam": cloud.iam, "stepfunctions": cloud.sfn}[service])
    outcome = decision_outcome(fake_cloud, panel)
    assert outcome.decided and outcome.policy_restored is False
    assert "the harmless version stays in force" in repr(outcome)


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
