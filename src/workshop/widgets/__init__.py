"""Live notebook widgets; they ask `workshop.aws` for data and never call boto3 themselves.

    from workshop.widgets import approval_panel, asl_editor

    editor          the live ASL editor: type a state, see it checked and drawn
    approvals       the approval panel (Approve / Deny), its e-mail, what a decision led to
    dashboard       the approval panel refreshed by itself, for a workshop leader

The names below are the ones the notebooks use.
"""

from workshop.widgets.approvals import approval_email, approval_panel, decision_outcome
from workshop.widgets.dashboard import approvals_dashboard, open_dashboard
from workshop.widgets.editor import asl_editor

__all__ = ["asl_editor", "approval_panel", "approval_email", "decision_outcome", "approvals_dashboard",
           "open_dashboard"]
