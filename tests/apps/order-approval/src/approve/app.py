"""The approver's link: a function URL that sends the workflow's task token back with the decision."""

import json

import boto3

sfn = boto3.client("stepfunctions")


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    token, decision = query.get("token"), query.get("decision")
    if not token or decision not in ("approve", "reject"):
        return {"statusCode": 400, "body": "a link needs a token and decision=approve|reject"}
    sfn.send_task_success(taskToken=token, output=json.dumps({"decision": decision}))
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": f"Recorded: {decision}"}
