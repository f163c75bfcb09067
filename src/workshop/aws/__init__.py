"""The workshop's AWS calls, returning data (never HTML): the same boto3 code on the local cloud and on AWS.

    from workshop.aws import connect, fire_policy, policy_versions, load_history

    session         connect(target, endpoint): boto3 clients for the target; `sam`'s environment
    deploy          `workshop deploy`: sam build + sam deploy (from workshop.aws.deploy import deploy)
    stack           lint the template, delete the stack
    iam_changes     fire a policy change, find the execution it starts, build CloudTrail events, clean up
    incidents       the incidents table: read it, whether an incident's seal holds, what is in force now
    executions      an execution's history as data; waiting on executions
    guardrails      a call the account's SCP refuses, and what a cell shows instead
    mail            the approval e-mail and the SNS subscription
    decision_endpoint   post to the stack's approve/deny URLs as a browser does; the panel's signed decisions
    function_contract   the functions' shared contract (src/functions/_shared), loaded for the kit

The names below are the ones the notebooks use.
"""

from workshop.aws.guardrails import held_by_guardrails
from workshop.aws.executions import find_latest, load_history, reconciliation_scan, wait_for_end
from workshop.aws.iam_changes import (delete_workshop_policies, delete_workshop_users, fire_policy, fire_policy_version,
                                      malformed_policy_event, policy_versions, run_event, start_with_event,
                                      unique_policy_name)
from workshop.aws.mail import subscription_status
from workshop.aws.session import connect, project_root
from workshop.aws.stack import delete_stack, lint_template

__all__ = ["connect", "project_root", "lint_template", "delete_stack", "subscription_status", "fire_policy",
           "fire_policy_version", "policy_versions", "unique_policy_name", "start_with_event", "malformed_policy_event",
           "delete_workshop_policies", "delete_workshop_users", "load_history", "find_latest", "wait_for_end",
           "reconciliation_scan", "run_event", "held_by_guardrails"]
