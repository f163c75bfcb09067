"""A learner's JupyterLab in a real browser: decide an incident from the panel, see the graph.

JupyterLab runs on the workshop notebooks (with the test stack's name injected,
as papermill does), its kernels pointed at the session's local cloud with the
stack deployed. The test creates the incident with plain boto3, then does what
a learner does: open the notebook, Run → Run All Cells, click a button, re-run
the outcome cell; it checks what the page shows and, with boto3, what happened.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def _card(page, policy_name: str):
    """The approval card of one policy (the innermost widget box holding its name and buttons)."""
    return (page.locator(".jp-NotebookPanel .widget-vbox")
            .filter(has_text=f"Policy {policy_name}")
            .filter(has=page.get_by_role("button", name="Approve")).last)


def _card_of(page, incident):
    card = _card(page, incident.policy_name)
    card.scroll_into_view_if_needed()
    assert "s3:DeleteBucket" in card.inner_text()
    assert "RevertedBySecurityOrchestrator" in card.inner_text()  # the diff shows the harmless version
    return card


def test_approve_one_request_and_deny_another_from_the_panel(lab, page, new_incident, screenshots):
    """One notebook, as a learner has it: two requests wait; Approve on one restores its policy, Deny on the
    other keeps its harmless version, and the outcome cell, run again after each click, tells that click."""
    approved, denied = new_incident("browser-approve"), new_incident("browser-deny")
    notebook = lab.open(page, "notebooks/04_decide.ipynb")
    notebook.run_all()  # decision=None: nothing blocks, the outcome cell says "No decision yet"
    outcome_cell = notebook.index_of("decision_outcome(cloud, panel)")
    outcome = notebook.cells().nth(outcome_cell).locator(".jp-OutputArea")
    assert "No decision yet" in outcome.inner_text()

    card = _card_of(page, approved)
    page.screenshot(path=str(screenshots / "panel_before.png"))
    card.get_by_role("button", name="Approve").click()
    card.get_by_text("The execution is now SUCCEEDED").wait_for()
    assert "Approved (via panel)" in card.inner_text() and "decided via panel" in card.inner_text()
    notebook.run_cell(outcome_cell)
    outcome.get_by_text("the original document is in force again").wait_for()
    assert "SUCCEEDED" in outcome.inner_text() and approved.policy_name in outcome.inner_text()
    outcome.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "panel_outcome.png"))
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "panel_after.png"))
    assert approved.status() == "SUCCEEDED"
    assert approved.is_restored(), approved.document()

    card = _card_of(page, denied)
    card.get_by_role("button", name="Deny").click()
    card.get_by_text("The execution is now SUCCEEDED").wait_for()
    assert "Denied" in card.inner_text()
    notebook.run_cell(outcome_cell)
    outcome.get_by_text("the harmless version stays in force").wait_for()
    assert "SUCCEEDED" in outcome.inner_text() and denied.policy_name in outcome.inner_text()
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "panel_deny_after.png"))
    assert denied.status() == "SUCCEEDED"
    assert denied.is_reverted(), denied.document()
    assert not denied.is_restored()


def test_build_notebook_an_exercise_typed_in_the_editor_then_the_whole_graph(lab, page, screenshots):
    notebook = lab.open(page, "notebooks/02_build_state_machine.ipynb")
    editor_cell = notebook.index_of('sm.editor("ChooseAction")')
    notebook.run_all_above(editor_cell + 1)
    editor = notebook.cells().nth(editor_cell).locator("textarea")
    editor.scroll_into_view_if_needed()
    # Wrong first: a fail-open Default. The live diagnostics say nothing is wrong with the JSON...
    editor.fill('{"Type": "Choice", "Choices": [{"Variable": "$.taskresult.action", "StringEquals": "remedy", '
                '"Next": "TempRemove"}], "Default": "AllowWithNotification"}')
    output = notebook.cells().nth(editor_cell).locator(".jp-OutputArea")
    output.get_by_text("No errors.").wait_for()
    check = notebook.cells().nth(editor_cell + 1).locator(".jp-OutputArea")
    notebook.run_cell(editor_cell + 1)
    # ...but running it shows which input goes wrong.
    check.get_by_text("went wrong on").wait_for()
    assert "Your state goes to AllowWithNotification; it should go to TempRemove" in check.inner_text()
    check.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "exercise_wrong.png"))
    # A typo is caught while typing, with a did-you-mean.
    editor.fill('{"Type": "Choice", "Choices": [{"Variable": "$.taskresult.action", "StringEquals": "alert", '
                '"Next": "AllowWithNotification"}], "Default": "TempRemoval"}')
    output.get_by_text("Did you mean 'TempRemove'?").wait_for()
    editor.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "exercise_typo.png"))
    # The minimal right answer passes.
    editor.fill('{"Type": "Choice", "Choices": [{"Variable": "$.taskresult.action", "StringEquals": "alert", '
                '"Next": "AllowWithNotification"}], "Default": "TempRemove"}')
    output.get_by_text("No errors.").wait_for()
    notebook.run_cell(editor_cell + 1)
    check.get_by_text("Correct: your ChooseAction behaves as it should").wait_for()
    check.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "exercise_right.png"))

    # Then every state, validated and drawn (the other exercises untouched: the file's states stand in).
    # Stop before the last section, which would deploy into the session's shared stack.
    last_state = notebook.index_of("sm.add_remaining()")
    notebook.run_all_above(last_state + 1)

    output = notebook.cells().nth(last_state).locator(".jp-OutputArea")
    # JupyterLab draws the Mermaid diagram (or the SVG beside it) once the output arrives.
    graph = output.locator("svg").filter(has_text="IncidentFailed").first
    graph.wait_for()
    graph.scroll_into_view_if_needed()
    text = graph.text_content()
    for state in ("CheckEvent", "ValidatePolicy", "TempRemove", "AskUser", "usersChoice", "IncidentFailed"):
        assert state in text, f"{state} is missing from the drawn graph"
    box = graph.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 200, box
    # The whole graph: a window tall enough for it, as on a big screen.
    page.set_viewport_size({"width": 1400, "height": int(box["height"]) + 400})
    graph.scroll_into_view_if_needed()
    graph.screenshot(path=str(screenshots / "graph.png"))
