"""What the notebooks teach with: the builder and its exercises, the attacks, the checks and the clean-up.

    from workshop.teaching import StateMachineBuilder, check_policy, check_setup

    reference         the state machine file every exercise is judged against
    builder           build the state machine cell by cell, validated as you go; try one state (TestState)
    exercises         the exercises, checked by what the answer does
    attacks           attack and defence, side by side (notebook 07)
    attack_permissions  IAM asked why each attack was refused or let through to the orchestrator
    approval_timeout  a shorter approval time limit for a moment; the time-out seen in seconds
    setup_check       is everything ready? one check per line, each with a fix
    cleanup           what deleting the stack leaves behind, removed or listed
    notebook_run      run every notebook with papermill (`make workshop`, CI)
    reading_time      how long the notebooks take to read

The names below are the ones the notebooks use.
"""

from workshop.teaching.approval_timeout import approval_timeout_demo
from workshop.teaching.attack_permissions import ask_iam
from workshop.teaching.attacks import (add_an_inline_policy, approve_with_an_edited_deny_link,
                                       approve_with_token_from_history, forge_an_execution, forge_an_incident_item,
                                       invoke_restore_directly, join_a_risky_group, plant_incident_keys,
                                       put_back_a_risky_version, rename_after_a_risky_grant)
from workshop.teaching.builder import StateMachineBuilder, stack_substitutions, try_state
from workshop.teaching.cleanup import clear_mailbox, remove_leftovers, stop_running_executions
from workshop.teaching.exercises import check_decision, check_policy, restricted_actions, verdict_table
from workshop.teaching.setup_check import check_setup

__all__ = ["check_setup", "StateMachineBuilder", "stack_substitutions", "try_state", "check_decision",
           "check_policy", "restricted_actions", "verdict_table", "approval_timeout_demo",
           "approve_with_token_from_history", "approve_with_an_edited_deny_link", "forge_an_execution",
           "invoke_restore_directly", "forge_an_incident_item", "plant_incident_keys", "put_back_a_risky_version",
           "add_an_inline_policy", "rename_after_a_risky_grant", "join_a_risky_group", "ask_iam",
           "stop_running_executions",
           "clear_mailbox", "remove_leftovers"]
