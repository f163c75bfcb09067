"""The reading-time model counts what a learner reads: cells, and what the cells show once run.

The workshop's figures come from the executed notebooks (tests/e2e/test_notebooks.py holds the budget); here,
the model on small notebooks made for each rule.
"""

import nbformat
import pytest

from workshop.teaching.reading_time import (INJECTED, SECONDS_PER_CODE_CELL, SECONDS_PER_PICTURE, WORDS_PER_MINUTE,
                                            reading_time, unfolded, words_in)


def _notebook(tmp_path, *cells):
    path = tmp_path / "99_sample.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=list(cells)), str(path))
    return reading_time(path)


def test_the_model_counts_words_and_code_cells_and_a_folded_blocks_summary_only(tmp_path):
    reading = _notebook(tmp_path,
                        nbformat.v4.new_markdown_cell(" ".join(["word"] * 200) + "<details><summary>Solution</summary>"
                                                      + " x" * 500 + "</details>"),
                        nbformat.v4.new_code_cell("a = 1"),
                        nbformat.v4.new_code_cell(""))
    assert (reading.words, reading.code_cells, reading.output_words) == (200 + 1 + 2, 2, 0)  # "=" is no word
    assert reading.seconds == pytest.approx(203 * 60 / WORDS_PER_MINUTE + 2 * SECONDS_PER_CODE_CELL)


def _output(**data):
    return nbformat.v4.new_output("display_data", data=data)


def test_what_the_cells_show_is_counted_as_jupyterlab_shows_it(tmp_path):
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="one two three\n"),
        _output(**{"text/html": "<p>four <b>five</b></p><details><summary>six</summary>hidden words</details>",
                   "text/plain": "ignored: the HTML is what is shown"}),
        _output(**{"text/html": "<details open><summary>seven</summary>eight <svg><text>label</text></svg></details>"}),
        _output(**{"image/svg+xml": "<svg/>", "text/plain": "a graph's plain text"}),
        _output(**{"text/plain": "nine ten"}),
        _output(**{"application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "progress bar"}),
    ]
    reading = _notebook(tmp_path, cell)
    assert reading.output_words == 10 and reading.pictures == 2
    assert reading.seconds == pytest.approx((1 + 10) * 60 / WORDS_PER_MINUTE + SECONDS_PER_CODE_CELL
                                            + 2 * SECONDS_PER_PICTURE)


def test_the_parameters_papermill_injects_are_not_read(tmp_path):
    injected = nbformat.v4.new_code_cell("target = 'local'\nendpoint = 'http://127.0.0.1:4566'")
    injected.metadata["tags"] = [INJECTED]
    assert _notebook(tmp_path, injected).code_cells == 0


def test_nested_folds_hide_everything_inside_the_outer_one():
    text = "a <details><summary>s</summary>b <details><summary>t</summary>c</details> d</details> e"
    assert unfolded(text).split() == ["a", "s", "e"]
    assert "y" in unfolded("<details open><summary>x</summary>y</details>")  # open: seen
