"""The notebooks as stored: no outputs, a papermill parameters cell, a goal and a recap."""

from pathlib import Path

import nbformat
import pytest

from workshop.teaching.notebook_run import notebook_paths, summary_lines

ROOT = Path(__file__).resolve().parents[3]
NOTEBOOKS = notebook_paths(ROOT)
EXPECTED = ["00_setup_check", "01_deploy", "02_build_state_machine", "03_fire_bad_policy", "04_decide",
            "05_execution_history", "06_going_further", "07_attack_and_defence", "08_cleanup"]


def test_the_numbered_notebooks_are_all_there():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    notebook = nbformat.read(str(path), as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_goal_and_recap(path):
    import papermill

    notebook = nbformat.read(str(path), as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = papermill.inspect_notebook(str(path))
    assert {"target", "endpoint", "stack_name"} <= set(params)
    # one switch for papermill and facilitators: WORKSHOP_TARGET, local unless it says otherwise
    assert params["target"]["default"] == 'os.environ.get("WORKSHOP_TARGET", "local")'
    assert "WORKSHOP_ENDPOINT" in tagged[0].source
    assert "**Goal:**" in notebook.cells[0].source
    assert notebook.cells[-1].cell_type == "markdown" and "## Recap" in notebook.cells[-1].source


def test_notebooks_where_a_human_decides_have_a_decision_parameter():
    import papermill

    assert papermill.inspect_notebook(str(ROOT / "notebooks" / "04_decide.ipynb"))["decision"]["default"] == "None"


def test_notebooks_with_exercises_take_their_answers_as_a_parameter():
    import papermill

    from workshop.teaching.notebook_run import has_exercises

    for path in NOTEBOOKS:
        if has_exercises(path):
            params = papermill.inspect_notebook(str(path))
            assert "answers" in params or "decision" in params, path.stem


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_are_short(path):
    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert len(cell.source.splitlines()) <= 12, cell.source


def test_notebook_02_takes_every_given_state_from_the_file_by_name():
    """No state is written out in the notebook: a change to the file flows through."""
    import ast

    notebook = nbformat.read(str(ROOT / "notebooks" / "02_build_state_machine.ipynb"), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                assert "Type" not in keys and "States" not in keys, cell.source


def test_at_least_five_exercises_across_the_notebooks_each_with_its_check_cell():
    tagged = {path.stem: [c for c in nbformat.read(str(path), as_version=4).cells
                          if "exercise" in c.metadata.get("tags", [])] for path in NOTEBOOKS}
    checks = [c for cells in tagged.values() for c in cells]
    assert len(checks) >= 5 and sum(bool(cells) for cells in tagged.values()) >= 3, tagged
    assert all(c.cell_type == "code" for c in checks)


def test_summary_lines_come_from_stdout_of_tagged_cells():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", metadata={"tags": ["summary"]}),
                                               nbformat.v4.new_code_cell("y")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="fact one\n"),
                                 nbformat.v4.new_output("stream", name="stderr", text="progress\n")]
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="not a fact\n")]
    assert summary_lines(notebook) == ["fact one"]


def test_html_export_shows_a_widgets_static_snapshot(tmp_path):
    import nbformat

    from workshop.teaching.notebook_run import WIDGET_VIEW, export_html

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("panel")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0},
        "text/html": "<p><strong>1 approval(s) waiting</strong></p>",
        "text/plain": "policy-x"})]
    notebook.cells = [cell]
    page = export_html(notebook, tmp_path / "out.html").read_text()
    assert "1 approval(s) waiting" in page
    assert WIDGET_VIEW in notebook.cells[0].outputs[0]["data"], "the executed notebook keeps its widget"


def test_01_says_where_the_local_clouds_address_goes_since_the_commands_it_prints_do_not_show_it():
    from types import SimpleNamespace

    from workshop.aws.session import local_environment

    said = nbformat.read(str(ROOT / "notebooks" / "01_deploy.ipynb"), as_version=4).cells[0].source
    env = local_environment("http://127.0.0.1:4566", base={}, credentials=SimpleNamespace(environment=dict))
    assert "`AWS_ENDPOINT_URL`" in said and env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"


def test_02_says_how_many_target_states_its_first_cell_adds_and_how_many_come_at_the_end():
    import json
    import re

    cells = nbformat.read(str(ROOT / "notebooks" / "02_build_state_machine.ipynb"), as_version=4).cells
    targets = [n for n in json.loads((ROOT / "statemachine" / "security_orchestrator.asl.json").read_text())["States"]
               if n.endswith("Target")]
    first = next(c.source for c in cells if c.source.startswith("sm.add_given("))
    given = [n for n in re.findall(r'"(\w+)"', first) if n in targets]
    words = next(c.source for c in cells if "`CreatePolicyTarget`" in c.source)
    later = {16: "sixteen", 18: "eighteen"}[len(targets) - len(given)]
    assert given == ["CreatePolicyTarget"] and f"the first comes now, the other {later} at the" in words
