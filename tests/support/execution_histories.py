"""Execution histories shaped like Step Functions' own (Lambda tasks, callback task).

Built from a few lines per state, so each test says which path it is about.
The events and their fields are those `GetExecutionHistory` returns.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

START = datetime(2026, 11, 28, 10, 15, 31, tzinfo=timezone.utc)
SM_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:SecurityOrchestrator"
POLICY_ARN = "arn:aws:iam::123456789012:policy/workshop-bad-policy-1"
BAD_DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "VisualEditor0", "Effect": "Allow", "Action": ["s3:DeleteBucket", "s3:DeleteObject", "s3:GetObject"],
     "Resource": "*"}]}, indent=4)
MATCHES = [{"statement": 0, "sid": "VisualEditor0", "action": "s3:DeleteBucket", "grantedBy": "s3:DeleteBucket",
            "example": "s3:DeleteBucket", "conditional": False},
           {"statement": 0, "sid": "VisualEditor0", "action": "s3:DeleteObject", "grantedBy": "s3:DeleteObject",
            "example": "s3:DeleteObject", "conditional": False}]
STATE_TYPES = {"CheckEvent": "Choice", "ModifyState": "Pass", "ValidatePolicy": "Task", "ChooseAction": "Choice",
               "TempRemove": "Task", "AskUser": "Task", "usersChoice": "Choice", "approved": "Task",
               "denied": "Pass", "AllowWithNotification": "Task", "NotifyFailure": "Task",
               "IncidentFailed": "Fail", "NotifyTimeout": "Task", "ApprovalTimedOut": "Fail",
               "IgnoreOwnChange": "Succeed", "InvalidEvent": "Fail", "ModifyVersionState": "Pass"}
DEFINITION = {"StartAt": "CheckEvent", "States": {name: {"Type": t} for name, t in STATE_TYPES.items()}}


class HistoryBuilder:
    def __init__(self, name="exec-1", start=START):
        self.name = name
        self.arn = f"arn:aws:states:us-east-1:123456789012:execution:SecurityOrchestrator:{name}"
        self.clock = start
        self.events = []
        self.state = {"policyMeta": {"arn": POLICY_ARN, "versionId": "v1"}, "policy": BAD_DOCUMENT,
                      "eventName": "CreatePolicy", "approvalTimeoutSeconds": 86400}
        self.add("ExecutionStarted", "executionStartedEventDetails",
                 {"input": json.dumps({"detail": {"eventName": "CreatePolicy"}}), "roleArn": "arn:aws:iam::1:role/x"})
        self.status = "RUNNING"

    def add(self, kind, key=None, details=None, after=0.01):
        self.clock += timedelta(seconds=after)
        event = {"timestamp": self.clock.isoformat(), "type": kind, "id": len(self.events) + 1,
                 "previousEventId": len(self.events)}
        if key:
            event[key] = details or {}
        self.events.append(event)
        return event

    def enter(self, name):
        kind = STATE_TYPES[name]
        self.add(f"{kind}StateEntered", "stateEnteredEventDetails", {"name": name, "input": json.dumps(self.state)})
        return self

    def exit(self, name, after=0.01):
        kind = STATE_TYPES[name]
        self.add(f"{kind}StateExited", "stateExitedEventDetails", {"name": name, "output": json.dumps(self.state)},
                 after=after)
        return self

    def passes(self, *names):
        for name in names:
            self.enter(name).exit(name)
        return self

    def lambda_ok(self, name, output=None, after=0.2):
        self.enter(name)
        self.add("LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails",
                 {"resource": f"arn:aws:lambda:us-east-1:123456789012:function:{name}", "input": json.dumps(self.state)})
        self.add("LambdaFunctionStarted")
        self.add("LambdaFunctionSucceeded", "lambdaFunctionSucceededEventDetails",
                 {"output": json.dumps(output or {})}, after=after)
        return self.exit(name)

    def lambda_fails(self, name, error="InvalidPolicyDocument", exit_event=True):
        self.enter(name)
        self.add("LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails",
                 {"resource": f"arn:aws:lambda:us-east-1:123456789012:function:{name}", "input": "{}"})
        self.add("LambdaFunctionStarted")
        self.add("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails", {"error": error, "cause": "boom"})
        if exit_event:
            self.exit(name)
        return self

    def ask_user(self, token="TOKEN-123", answer=None):
        self.enter("AskUser")
        payload = {"token": token, "executionArn": self.arn, "enteredTime": self.clock.isoformat(),
                   "approvalTimeoutSeconds": 86400, "eventName": "CreatePolicy",
                   "policyMeta": {"arn": POLICY_ARN, "versionId": "v1"}, "policy": BAD_DOCUMENT,
                   "taskresult": {"action": "remedy", "matches": MATCHES,
                                  "message": "Policy workshop-bad-policy-1 (CreatePolicy): The policy allows restricted actions."}}
        self.add("TaskScheduled", "taskScheduledEventDetails",
                 {"resourceType": "lambda", "resource": "invoke.waitForTaskToken", "region": "us-east-1",
                  "parameters": json.dumps({"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:AskUser",
                                            "Payload": payload}), "timeoutInSeconds": 86400})
        self.add("TaskStarted", "taskStartedEventDetails", {"resourceType": "lambda", "resource": "invoke.waitForTaskToken"})
        self.add("TaskSubmitted", "taskSubmittedEventDetails",
                 {"resourceType": "lambda", "resource": "invoke.waitForTaskToken", "output": "{}"})
        if answer is not None:
            self.add("TaskSucceeded", "taskSucceededEventDetails",
                     {"resourceType": "lambda", "resource": "invoke.waitForTaskToken",
                      "output": json.dumps({"action": answer})}, after=5)
            self.exit("AskUser")
        return self

    def succeed(self):
        self.add("ExecutionSucceeded", "executionSucceededEventDetails", {"output": "{}"})
        self.status = "SUCCEEDED"
        return self

    def fail(self, error="IncidentFailed"):
        self.add("ExecutionFailed", "executionFailedEventDetails", {"error": error, "cause": "it failed"})
        self.status = "FAILED"
        return self

    def execution(self):
        return {"executionArn": self.arn, "name": self.name, "stateMachineArn": SM_ARN, "status": self.status,
                "startDate": START.isoformat(), "input": self.events[0]["executionStartedEventDetails"]["input"]}

    def history(self):
        from workshop.aws.executions import ExecutionHistory

        return ExecutionHistory(execution=self.execution(), events=[dict(e) for e in self.events],
                                definition=DEFINITION)


def remediation_waiting(name="exec-1", token="TOKEN-123"):
    return (HistoryBuilder(name).passes("CheckEvent", "ModifyState")
            .lambda_ok("ValidatePolicy", {"action": "remedy", "matches": MATCHES})
            .passes("ChooseAction").lambda_ok("TempRemove").ask_user(token))


def remediation_approved():
    return (HistoryBuilder("exec-approved").passes("CheckEvent", "ModifyState")
            .lambda_ok("ValidatePolicy").passes("ChooseAction").lambda_ok("TempRemove")
            .ask_user(answer="allow").passes("usersChoice").lambda_ok("approved").succeed())


def alert_path():
    return (HistoryBuilder("exec-alert").passes("CheckEvent", "ModifyState")
            .lambda_ok("ValidatePolicy", {"action": "alert"}).passes("ChooseAction")
            .enter("AllowWithNotification").exit("AllowWithNotification").succeed())
