"""The approval panel: pending approvals from histories, and what a click sends."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import boto3
import pytest
from kit_histories import POLICY_ARN, remediation_approved, remediation_waiting
from moto import mock_aws

from workshop.approvals import ApprovalPanel, pending_from_history, post_decision, statement_diff


class DecisionServer:
    """A stand-in for the stack's /allow and /deny pages, on 127.0.0.1."""

    def __init__(self, on_post=None, status=200):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                outer.requests.append({"path": self.path, "body": parse_qs(body),
                                       "content_type": self.headers.get("Content-Type")})
                code, title, text = (on_post(self.path, parse_qs(body)) if on_post else (status, "Approved", "Recorded."))
                page = f"<html><body><h1>{title}</h1><p>{text}</p></body></html>".encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/Prod"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def urls(self):
        return {"ApproveUrl": self.base + "/allow", "DenyUrl": self.base + "/deny"}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def decision_server():
    servers = []

    def start(**kwargs):
        servers.append(DecisionServer(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# --- the pending list -------------------------------------------------------------


def test_waiting_execution_is_pending_with_policy_matches_and_deadline():
    approval = pending_from_history(remediation_waiting(token="tok-1").history())
    assert approval.token == "tok-1"
    assert approval.policy_arn == POLICY_ARN and approval.policy_name == "workshop-bad-policy-1"
    assert approval.matched_actions() == ["s3:DeleteBucket", "s3:DeleteObject"]
    assert (approval.deadline - approval.arrived).total_seconds() == pytest.approx(86400, abs=1)


def test_finished_execution_is_not_pending():
    assert pending_from_history(remediation_approved().history()) is None


def test_diff_shows_the_restricted_actions_removed_and_the_harmless_statement():
    in_force = {"Version": "2012-10-17", "Statement": [{"Sid": "RevertedBySecurityOrchestrator", "Effect": "Allow",
                                                        "Action": "logs:GetLogGroupFields", "Resource": "*"}]}
    approval = pending_from_history(remediation_waiting().history())
    approval.in_force_document = in_force
    diff = approval.diff()
    assert '-        "s3:DeleteBucket",' in diff
    assert '+      "Action": "logs:GetLogGroupFields",' in diff
    assert statement_diff("{}", None).endswith("+(unknown)")


class FakeStepFunctions:
    """Only what the panel reads: RUNNING executions and their histories."""

    def __init__(self, builders):
        self.builders = {b.arn: b for b in builders}

    def get_paginator(self, name):
        fake = self

        class Paginator:
            def paginate(self, **kwargs):
                if name == "list_executions":
                    yield {"executions": [b.execution() for b in fake.builders.values()
                                          if b.status == kwargs.get("statusFilter", b.status)]}
                else:
                    yield {"events": [dict(e) for e in fake.builders[kwargs["executionArn"]].events]}

        return Paginator()

    def describe_execution(self, executionArn):
        return self.builders[executionArn].execution()


def test_panel_lists_only_waiting_executions_newest_first():
    older = remediation_waiting("older", token="t-old")
    newer = remediation_waiting("newer", token="t-new")
    for event in newer.events:
        event["timestamp"] = event["timestamp"].replace("10:15:", "10:45:")
    panel = ApprovalPanel(FakeStepFunctions([older, remediation_approved(), newer]), "sm", {},
                          wait_after_decision=0)
    assert [a.token for a in panel.pending] == ["t-new", "t-old"]
    assert "2 approval(s) waiting" in panel.html()


def test_empty_panel_says_what_to_do():
    panel = ApprovalPanel(FakeStepFunctions([remediation_approved()]), "sm", {})
    assert panel.pending == []
    assert "notebook 03" in panel.html()
    with pytest.raises(LookupError, match="03_fire_bad_policy"):
        panel.press("allow")


# --- clicking -----------------------------------------------------------------------


def test_approve_click_posts_the_token_form_encoded_to_the_approve_url(decision_server):
    server = decision_server()
    panel = ApprovalPanel(FakeStepFunctions([remediation_waiting(token="tok/+=42")]), "sm", server.urls(),
                          wait_after_decision=0)
    result = panel.press("allow")
    assert result.ok and result.title == "Approved"
    [request] = server.requests
    assert request["path"] == "/Prod/allow"
    assert request["body"]["token"] == ["tok/+=42"]
    assert request["content_type"] == "application/x-www-form-urlencoded"
    buttons = panel.buttons[panel.pending[0].execution_arn]
    assert buttons["allow"].disabled and buttons["deny"].disabled
    assert "Approved" in panel.html()


def test_deny_click_goes_to_the_deny_url(decision_server):
    server = decision_server()
    panel = ApprovalPanel(FakeStepFunctions([remediation_waiting()]), "sm", server.urls(), wait_after_decision=0)
    panel.press("deny")
    assert server.requests[0]["path"] == "/Prod/deny"


def test_a_refused_decision_shows_the_page_message_and_keeps_the_buttons(decision_server):
    server = decision_server(on_post=lambda path, form: (409, "Already decided", "This policy change was already approved or denied."))
    panel = ApprovalPanel(FakeStepFunctions([remediation_waiting()]), "sm", server.urls(), wait_after_decision=0)
    result = panel.press("allow")
    assert result.status == 409 and not result.ok
    assert "already approved or denied" in result.message
    assert not panel.buttons[panel.pending[0].execution_arn]["allow"].disabled


def test_unreachable_endpoint_says_what_to_check():
    result = post_decision("http://127.0.0.1:9/Prod/allow", "tok", "allow", timeout=2)
    assert result.status == 0 and "did not answer" in result.message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1:9/allow", "", None])
def test_the_token_goes_only_to_an_http_url(url):
    result = post_decision(url, "secret-token", "allow", timeout=2)
    assert result.status == 0 and result.title == "Not an approval link" and "ApproveUrl" in result.message
    assert "secret-token" not in result.message


# --- with a real (moto) execution history ---------------------------------------------------


CALLBACK_MACHINE = {
    "StartAt": "TempRemove",
    "States": {
        "TempRemove": {"Type": "Pass", "Result": {"harmlessVersionId": "v2"}, "ResultPath": "$.reverted",
                       "Next": "AskUser"},
        "AskUser": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
                    "Parameters": {"TopicArn": "TOPIC", "Message": {
                        "token.$": "$$.Task.Token", "enteredTime.$": "$$.State.EnteredTime",
                        "approvalTimeoutSeconds.$": "$.approvalTimeoutSeconds", "policyMeta.$": "$.policyMeta",
                        "policy.$": "$.policy", "taskresult.$": "$.taskresult", "eventName.$": "$.eventName"}},
                    "ResultPath": "$.decision", "Next": "usersChoice"},
        "usersChoice": {"Type": "Choice", "Choices": [
            {"Variable": "$.decision.action", "StringEquals": "allow", "Next": "approved"}], "Default": "denied"},
        "approved": {"Type": "Pass", "End": True},
        "denied": {"Type": "Pass", "End": True},
    },
}


@mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
def test_panel_on_a_moto_execution_resumes_it_after_approval(decision_server):
    sns = boto3.client("sns", region_name="us-east-1")
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    definition = json.dumps(CALLBACK_MACHINE).replace("TOPIC", topic)
    machine = sfn.create_state_machine(name="sm", definition=definition,
                                       roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({
        "approvalTimeoutSeconds": 600, "eventName": "CreatePolicy", "policy": '{"Statement": []}',
        "policyMeta": {"arn": POLICY_ARN, "versionId": "v1"},
        "taskresult": {"action": "remedy", "matches": [{"action": "s3:DeleteBucket"}]}}))["executionArn"]
    for _ in range(50):
        events = sfn.get_execution_history(executionArn=execution)["events"]
        if any(e["type"] == "TaskSubmitted" for e in events):
            break
        time.sleep(0.1)

    def receive_decision(path, form):  # what the ReceiveDecision Lambda does
        action = "allow" if path.endswith("/allow") else "delete"
        sfn.send_task_success(taskToken=form["token"][0], output=json.dumps({"action": action}))
        return 200, "Approved", "Your decision was recorded."

    server = decision_server(on_post=receive_decision)
    panel = ApprovalPanel(sfn, machine, server.urls(), wait_after_decision=10)
    [approval] = panel.pending
    assert approval.matched_actions() == ["s3:DeleteBucket"]
    assert approval.time_left().total_seconds() > 500
    panel.press("allow")
    assert panel.outcomes[execution] == "SUCCEEDED"
    assert "SUCCEEDED" in panel.html()
    assert ApprovalPanel(sfn, machine, server.urls()).pending == []


def test_outcome_before_any_click_does_not_wait_and_says_what_to_do():
    from workshop.approvals import decision_outcome

    panel = ApprovalPanel(FakeStepFunctions([remediation_waiting()]), "sm", {}, wait_after_decision=0)
    outcome = decision_outcome(cloud=None, panel=panel)
    assert not outcome.decided and "click Approve or Deny" in repr(outcome)


# --- nothing on the page stays "waiting" once decided ----------------------------------------------------


def test_after_a_decision_the_header_snapshot_and_repr_say_it_was_decided(decision_server):
    server = decision_server()
    panel = ApprovalPanel(FakeStepFunctions([remediation_waiting(token="t1")]), "sm", server.urls(),
                          wait_after_decision=0)
    assert "1 approval(s) waiting" in panel._header_widget.value
    panel.press("deny")
    assert "No approval is waiting any more" in panel._header_widget.value
    assert "1 decided here" in panel.html() and "approval(s) waiting" not in panel.html()
    assert "decided: deny" in repr(panel)
    assert panel.waiting() == [] and panel.decision_for(panel.pending[0].execution_arn).decision == "deny"
    with pytest.raises(LookupError):
        panel.press("allow")  # nothing is waiting any more: a second press does not reach the decided one


def test_the_email_view_follows_the_panels_decision(decision_server):
    from workshop.mail import Email

    server = decision_server()
    panel = ApprovalPanel(FakeStepFunctions([remediation_waiting(token="t1")]), "sm", server.urls(),
                          wait_after_decision=0)
    approval = panel.pending[0]
    shown = []

    class Tracked(Email):
        def update_display(self):
            shown.append(self._repr_html_())

    def status():
        result = panel.decision_for(approval.execution_arn)
        return "Open" if result is None else f"Already decided: {result.decision}"

    email = Tracked({"to": "a@example.com", "subject": "Approval needed", "sent_at": "now", "body": "links"},
                    status=status)
    panel.views.append(email)
    assert "Open" in repr(email)
    panel.press("allow")
    assert shown and "Already decided: allow" in shown[-1]


def test_no_waiting_request_means_no_open_email():
    from workshop.mail import approval_email

    panel = ApprovalPanel(FakeStepFunctions([remediation_approved()]), "sm", {})
    email = approval_email(cloud=None, panel=panel)
    assert email.message is None and "No approval is waiting" in repr(email)
