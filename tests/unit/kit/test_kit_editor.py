"""The live ASL editor widget: typing updates the diagnostics and the graph, debounced."""

import threading
import time
from pathlib import Path

import ipywidgets as widgets
import pytest

from workshop.widgets.editor import ASLEditor, analyse, asl_editor

ROOT = Path(__file__).resolve().parents[3]
MACHINE_TEXT = (ROOT / "statemachine" / "security_orchestrator.asl.json").read_text()


def graph_data(editor):
    assert len(editor.graph.outputs) == 1
    return editor.graph.outputs[0]["data"]


def test_the_editor_is_a_container_of_textarea_diagnostics_and_graph():
    editor = asl_editor()
    assert isinstance(editor, widgets.VBox)
    assert isinstance(editor.textarea, widgets.Textarea)
    assert isinstance(editor.diagnostics, widgets.HTML)
    assert isinstance(editor.graph, widgets.Output)
    assert editor.textarea in editor.children and editor.graph in editor.children
    assert "monospace" in editor.style_html.value and "resize:vertical" in editor.style_html.value
    assert "workshop-asl-editor" in editor.textarea._dom_classes
    assert "Type a state" in editor.diagnostics.value
    assert editor.graph.outputs == ()


def test_typing_then_refresh_updates_the_diagnostics_and_the_graph():
    editor = asl_editor(debounce_ms=10_000)  # the timer never fires during this test
    editor.textarea.value = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}'
    assert editor.pending
    editor.refresh()
    assert "No errors" in editor.diagnostics.value
    data = graph_data(editor)
    assert "text/vnd.mermaid" in data and "<svg" in data["image/svg+xml"]
    assert '"A"' in data["text/vnd.mermaid"]

    editor.value = '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "nope", "End": true}}}'
    analysis = editor.flush()
    assert analysis["result"] == "FAIL"
    assert "Errors (1)" in editor.diagnostics.value and "INVALID_RESOURCE" in editor.diagnostics.value
    assert "/States/A/Resource" in editor.diagnostics.value
    assert not editor.pending
    editor.close()


def test_the_whole_workshop_machine_is_valid_and_drawn():
    editor = asl_editor(MACHINE_TEXT, debounce_ms=0)
    assert editor.analysis["kind"] == "machine"
    assert editor.analysis["result"] == "OK"
    assert "No errors" in editor.diagnostics.value
    assert "ValidatePolicy" in graph_data(editor)["text/vnd.mermaid"]


def test_a_single_state_with_a_missing_next_is_still_to_build_not_an_error():
    editor = asl_editor({"Type": "Pass", "Next": "ValidatePolicy"}, debounce_ms=0)
    assert editor.analysis["kind"] == "state"
    assert editor.analysis["result"] == "OK"
    assert editor.analysis["errors"] == []
    assert "Still to build" in editor.diagnostics.value
    assert "ValidatePolicy" in editor.diagnostics.value
    assert "No errors" in editor.diagnostics.value
    # The state is drawn as a one-state machine pointing at the missing state.
    assert editor.definition == {"StartAt": "ThisState", "States": {"ThisState": {"Type": "Pass",
                                                                                  "Next": "ValidatePolicy"}}}
    assert "missing: ValidatePolicy" in graph_data(editor)["text/vnd.mermaid"]


def test_single_state_diagnostics_point_into_the_state():
    analysis = analyse('{"Type": "Pass", "InputPath": "detail", "End": true}')
    assert analysis["errors"][0]["code"] == "INVALID_JSONPATH"
    assert analysis["errors"][0]["location"] == "/InputPath"


def test_warnings_are_listed_in_their_own_group():
    editor = asl_editor('{"Type": "Pass", "Parameters": {"id": "$.detail.eventID"}, "End": true}', debounce_ms=0)
    assert editor.analysis["warnings"] and not editor.analysis["errors"]
    assert "Warnings (1)" in editor.diagnostics.value and "NO_DOLLAR" in editor.diagnostics.value


def test_invalid_json_shows_line_and_column_and_keeps_the_last_graph():
    editor = asl_editor('{"Type": "Pass", "End": true}', debounce_ms=0)
    before = graph_data(editor)
    editor.value = '{\n  "Type": "Pass",\n  "End": true,\n}'
    analysis = editor.analysis
    assert analysis["kind"] == "invalid_json"
    assert analysis["json_error"]["line"] == 4 and analysis["json_error"]["column"] == 1
    assert "Not valid JSON at line 4, column 1" in editor.diagnostics.value
    assert graph_data(editor) == before


@pytest.mark.parametrize("text", ["{", "[1, 2]", '"just a string"', "null", '{"Comment": "no type"}', "NaN",
                                  '{"Type": "Pass", "Type": "Task"}', '{"StartAt": 5, "States": []}', "\x00"])
def test_nothing_a_learner_types_raises(text):
    editor = asl_editor(debounce_ms=0)
    editor.value = text
    assert editor.analysis["result"] == "FAIL"
    assert editor.diagnostics.value


def test_debounce_coalesces_quick_changes_into_one_validation():
    seen = []
    done = threading.Event()

    def on_change(analysis):
        seen.append(analysis["text"])
        done.set()

    editor = asl_editor(debounce_ms=300, on_change=on_change)
    seen.clear()  # the initial check of the (empty) text
    done.clear()
    for text in ['{"Ty', '{"Type": "Pa', '{"Type": "Pass", "End": tr', '{"Type": "Pass", "End": true}']:
        editor.value = text
    assert seen == []  # nothing checked while typing
    assert done.wait(5)
    time.sleep(0.2)  # no second, late validation either
    assert seen == ['{"Type": "Pass", "End": true}']
    assert editor.analysis["result"] == "OK"
    assert "No errors" in editor.diagnostics.value
    editor.close()


def test_refresh_is_what_the_timer_calls_and_counts_validations():
    calls = []
    editor = ASLEditor(debounce_ms=10_000, on_change=calls.append)
    assert editor.validations == 1
    editor.value = '{"Type": "Succeed"}'
    editor.value = '{"Type": "Fail"}'
    assert editor.validations == 1
    editor._timer_fired()  # as if the timer ran out
    assert editor.validations == 2 and calls[-1]["text"] == '{"Type": "Fail"}'
    editor.close()


def test_zero_debounce_checks_every_change_synchronously():
    calls = []
    editor = asl_editor(debounce_ms=0, on_change=calls.append)
    editor.value = '{"Type": "Succeed"}'
    editor.value = '{"Type": "Fail"}'
    assert [c["text"] for c in calls] == ["", '{"Type": "Succeed"}', '{"Type": "Fail"}']


def test_a_failing_on_change_is_reported_not_raised():
    def broken(_analysis):
        raise RuntimeError("oops")

    editor = asl_editor('{"Type": "Succeed"}', debounce_ms=0, on_change=broken)
    assert "on_change failed" in editor.diagnostics.value and "oops" in editor.diagnostics.value


def test_substitutions_fill_placeholders_before_checking():
    state = {"Type": "Task", "Resource": "${ValidatePolicyArn}", "End": True}
    editor = asl_editor(state, debounce_ms=0,
                        substitutions={"ValidatePolicyArn": "arn:aws:lambda:us-east-1:123456789012:function:V"})
    assert editor.definition["States"]["ThisState"]["Resource"].startswith("arn:aws:lambda")
    assert "${ValidatePolicyArn}" in editor.value  # the text stays as the learner wrote it
    assert editor.analysis["result"] == "OK"


def test_clearing_the_text_clears_the_graph():
    editor = asl_editor('{"Type": "Succeed"}', debounce_ms=0)
    assert editor.graph.outputs
    editor.value = "   "
    assert editor.graph.outputs == ()
    assert editor.analysis["kind"] == "empty"


def test_the_editor_carries_a_static_snapshot_for_html_exports():
    from workshop.widgets.editor import asl_editor

    editor = asl_editor({"Type": "Choice", "Choices": [], "Default": "TempRemove"}, debounce_ms=0,
                        state_name="ChooseAction")
    editor.refresh()
    bundle = editor._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "TempRemove" in bundle["text/html"] and "<svg" in bundle["text/html"]


# --- with a plan: the states the machine will have ---------------------------------------------------------

PLAN = ["CheckEvent", "ValidatePolicy", "ChooseAction", "TempRemove", "AllowWithNotification"]


def test_with_a_plan_a_typo_is_an_error_with_a_did_you_mean_and_planned_targets_are_not_listed():
    editor = asl_editor({"Type": "Choice", "Choices": [
        {"Variable": "$.taskresult.action", "StringEquals": "alert", "Next": "AllowWithNotification"}],
        "Default": "TempRemoval"}, debounce_ms=0, state_name="ChooseAction", plan=PLAN)
    analysis = editor.analysis
    assert [(d["code"], d["location"]) for d in analysis["errors"]] == [("MISSING_TRANSITION_TARGET", "/Default")]
    assert "Did you mean 'TempRemove'?" in analysis["errors"][0]["message"]
    assert analysis["still_to_build"] == []  # AllowWithNotification is planned: nothing to say about it
    assert "MISSING_END_STATE" not in editor.diagnostics.value  # not for a lone state


def test_a_key_written_twice_in_the_editor_is_an_error():
    editor = asl_editor('{"Type": "Pass", "Next": "A", "Next": "B"}', debounce_ms=0)
    assert [d["code"] for d in editor.analysis["errors"]] == ["DUPLICATE_JSON_KEY"]
    assert editor.analysis["errors"][0]["location"] == "/Next"


def test_a_whole_machine_with_a_plan_sorts_its_diagnostics_too():
    text = '{"StartAt": "CheckEvent", "States": {"CheckEvent": {"Type": "Pass", "Next": "ValidatePolicy"}}}'
    analysis = analyse(text, plan=PLAN)
    assert analysis["errors"] == [] and {d["code"] for d in analysis["still_to_build"]} == {
        "MISSING_TRANSITION_TARGET", "MISSING_END_STATE"}


def test_the_editor_and_the_builder_show_diagnostics_the_same_way():
    from workshop.asl.diagnostics import diagnostics_html
    from workshop.teaching.builder import StateMachineBuilder

    state = {"Type": "Task", "Resource": "nope", "Next": "B"}
    editor = asl_editor({"StartAt": "A", "States": {"A": state}}, debounce_ms=0)
    step = StateMachineBuilder(start_at="A").add("A", state)
    assert editor.analysis["errors"] == step.parts["errors"] and editor.analysis["still_to_build"]
    assert editor.diagnostics.value == diagnostics_html(step.parts, subject="The state machine")
    assert editor.diagnostics.value in step._repr_mimebundle_()["text/html"]
