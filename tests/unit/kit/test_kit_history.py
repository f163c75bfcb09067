"""Per-state statuses, paths, tables and timelines from execution histories."""

import json

from execution_histories import DEFINITION, HistoryBuilder, alert_path, remediation_approved, remediation_waiting

from workshop.display.history import event_table, side_by_side, state_table, timeline


def test_succeeded_remediation_marks_its_path_and_leaves_the_rest_not_run():
    statuses = remediation_approved().history().statuses()
    assert statuses["AskUser"] == "succeeded"
    assert statuses["approved"] == "succeeded"
    assert statuses["denied"] == "not_run"
    assert statuses["AllowWithNotification"] == "not_run"
    assert set(statuses) == set(DEFINITION["States"])


def test_running_execution_waiting_for_a_human_is_in_progress_at_askuser():
    history = remediation_waiting().history()
    statuses = history.statuses()
    assert statuses["AskUser"] == "in_progress"
    assert statuses["TempRemove"] == "succeeded"
    assert history.path()[-1] == "AskUser"


def test_caught_error_with_an_exit_event():
    history = (HistoryBuilder().passes("CheckEvent", "ModifyState")
               .lambda_fails("ValidatePolicy").lambda_ok("TempRemove").ask_user().history())
    assert history.statuses()["ValidatePolicy"] == "caught_error"
    assert history.statuses()["TempRemove"] == "succeeded"


def test_caught_error_without_an_exit_event():
    # Step Functions may go straight from the failure to the Catch's Next state.
    history = (HistoryBuilder().passes("CheckEvent", "ModifyState")
               .lambda_fails("ValidatePolicy", exit_event=False).lambda_ok("TempRemove").history())
    assert history.statuses()["ValidatePolicy"] == "caught_error"


def test_retry_that_succeeds_is_succeeded():
    builder = HistoryBuilder().passes("CheckEvent", "ModifyState")
    builder.lambda_fails("ValidatePolicy", error="TransientError", exit_event=False)
    builder.add("LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails", {"input": "{}"})
    builder.add("LambdaFunctionStarted")
    builder.add("LambdaFunctionSucceeded", "lambdaFunctionSucceededEventDetails", {"output": "{}"})
    builder.exit("ValidatePolicy")
    assert builder.history().statuses()["ValidatePolicy"] == "succeeded"


def test_failed_execution_marks_the_fail_state_and_the_caught_task():
    history = (HistoryBuilder().passes("CheckEvent", "ModifyState").lambda_ok("ValidatePolicy")
               .passes("ChooseAction").lambda_fails("TempRemove", error="NoSuchEntity")
               .passes("NotifyFailure").enter("IncidentFailed").fail().history())
    statuses = history.statuses()
    assert statuses["TempRemove"] == "caught_error"
    assert statuses["IncidentFailed"] == "failed"
    assert history.failure()["error"] == "IncidentFailed"


def test_execution_that_failed_inside_a_state_marks_that_state_failed():
    history = (HistoryBuilder().passes("CheckEvent", "ModifyState")
               .lambda_fails("ValidatePolicy", error="Boom", exit_event=False).fail("Boom").history())
    assert history.statuses()["ValidatePolicy"] == "failed"


def test_task_parameters_of_the_callback_state_hold_the_token():
    params = remediation_waiting(token="abc").history().task_parameters("AskUser")
    assert params["Payload"]["token"] == "abc"


def test_event_table_lists_every_event_with_expandable_details():
    history = remediation_approved().history()
    page = event_table(history)._repr_html_()
    assert page.count("<tr>") == len(history.events) + 1
    assert "<details>" in page and "LambdaFunctionSucceeded" in page and "TaskSucceeded" in page


def test_state_table_and_timeline_show_each_state_with_its_duration():
    history = remediation_approved().history()
    assert "AskUser" in state_table(history)._repr_html_()
    svg = timeline(history)._repr_mimebundle_()["image/svg+xml"]
    assert svg.startswith("<svg") and svg.count("<rect") == len(history.runs())
    assert "AskUser" in svg


def test_side_by_side_shows_both_paths():
    bundle = side_by_side(alert_path().history(), remediation_approved().history(),
                          titles=["alert path", "remediation path"])._repr_mimebundle_()
    assert "AllowWithNotification" in bundle["text/html"] and "approved" in bundle["text/html"]
    assert "alert path" in bundle["text/html"]


def test_history_from_json_round_trip():
    builder = remediation_approved()
    events = json.loads(json.dumps(builder.events))
    from workshop.aws.executions import ExecutionHistory

    history = ExecutionHistory(builder.execution(), events)
    assert history.path()[-1] == "approved"
    assert history.statuses()["approved"] == "succeeded"


def test_execution_graph_is_a_coloured_svg_and_mermaid_bundle():
    from workshop.display.history import execution_graph

    definition = json.load(open("statemachine/security_orchestrator.asl.json"))
    history = remediation_waiting().history()
    bundle = execution_graph(history, definition)._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<svg")
    assert "text/vnd.mermaid" in bundle


def test_the_full_event_table_is_folded_under_the_state_table():
    history = remediation_approved().history()
    page = state_table(history, events=True)._repr_html_()
    assert f"<details><summary>Show all {len(history.events)} events" in page
    assert "TaskStateEntered" in page or "LambdaFunctionSucceeded" in page


def test_the_legend_names_only_the_colours_the_graph_uses():
    from workshop.display.history import execution_graph

    definition = json.load(open("statemachine/security_orchestrator.asl.json"))
    waiting = execution_graph(remediation_waiting().history(), definition)._repr_mimebundle_()["text/html"]
    assert "blue: in progress" in waiting and "green: succeeded" in waiting and "grey: not run" in waiting
    assert "orange: failed" not in waiting and "red: failed" not in waiting
    assert "orange dashed arrows" in waiting  # the Catch edges are orange in every graph
    caught = (HistoryBuilder().passes("CheckEvent", "ModifyState")
              .lambda_fails("ValidatePolicy", error="Boom", exit_event=False).fail("Boom").history())
    assert "red: failed" in execution_graph(caught, definition)._repr_mimebundle_()["text/html"]
