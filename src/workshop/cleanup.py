"""Clean-up helpers for notebook 08 (the stack, policies and users: see stack.py and incident.py)."""

from __future__ import annotations

from workshop.history import list_executions


def stop_running_executions(cloud, stack_name: str) -> str:
    """Stop every RUNNING execution of the stack's state machine (pending approvals die with them)."""
    try:
        outputs = cloud.stack_outputs(stack_name)
    except Exception as exc:
        return f"Nothing to stop: {exc}"
    sfn = cloud.client("stepfunctions")
    running = list_executions(sfn, outputs["StateMachineArn"], status="RUNNING")
    for execution in running:
        sfn.stop_execution(executionArn=execution["executionArn"], error="WorkshopCleanup",
                           cause="Stopped by notebooks/08_cleanup.ipynb")
    return f"Stopped {len(running)} running execution(s)."


def clear_mailbox(cloud) -> str:
    """Empty the local cloud's mailbox (on AWS your inbox is yours to tidy)."""
    if not cloud.is_local:
        return "On AWS: delete the workshop's e-mails from your inbox if you like."
    try:
        from workshop.localcloud.mailbox import clear_mailbox as clear
    except ImportError:
        return "This local cloud has no mailbox to clear."
    clear(cloud.endpoint)
    return "The local mailbox is empty."
