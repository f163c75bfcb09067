"""HTML views of what `workshop.aws` returns; nothing here calls AWS itself.

    from workshop.display import execution_graph, state_table, show

    html            Html, Bundle, no_math, the status palette: what every view is made of
    history         an execution: its graph coloured by status, state and event tables, timeline, side by side
    incidents       the incidents table, an incident followed live, a policy's diff
    stack           the architecture, the stack's resources and outputs
    records         show(record): a fired change, a policy's versions, the e-mail and its subscription

The names below are the ones the notebooks use.
"""

from workshop.display.history import event_table, execution_graph, side_by_side, state_table, timeline
from workshop.display.incidents import incidents_view, watch_incident
from workshop.display.records import show
from workshop.display.stack import architecture, outputs_table, resources_table

__all__ = ["show", "execution_graph", "event_table", "state_table", "timeline", "side_by_side", "incidents_view",
           "watch_incident", "architecture", "outputs_table", "resources_table"]
