"""The papermill tests read a notebook's outputs as Jupyter shows them."""

import nbformat

from notebook_outputs import output_text


def _write(tmp_path, cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = cells
    path = tmp_path / "run.ipynb"
    nbformat.write(notebook, str(path))
    return path


def test_one_print_split_into_two_stream_outputs_reads_as_one_line(tmp_path):
    split = nbformat.v4.new_code_cell("print('a', 'b')", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="9 of 10 defences held."),
        nbformat.v4.new_output("stream", name="stdout", text=" Not tried here: one.\n")])
    text = output_text(_write(tmp_path, [split]))
    assert "9 of 10 defences held. Not tried here: one." in text


def test_other_streams_outputs_and_cells_stay_apart(tmp_path):
    first = nbformat.v4.new_code_cell("", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="out"),
        nbformat.v4.new_output("stream", name="stderr", text="err"),
        nbformat.v4.new_output("display_data", data={"text/plain": "shown"}),
        nbformat.v4.new_output("stream", name="stdout", text="after")])
    second = nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output("stream", name="stdout", text="next")])
    assert output_text(_write(tmp_path, [first, second])).split("\n") == ["out", "err", "shown", "after", "next"]
