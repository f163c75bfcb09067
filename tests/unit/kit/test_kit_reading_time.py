"""The workshop's reading time holds its budget: 45 minutes for every notebook, by a stated model.

The model (workshop.teaching.reading_time): every word of a stored notebook, markdown and code, at 200 words a
minute, plus 20 seconds per code cell; folded `<details>` blocks (hidden solutions) are not counted.
Eight of the 45 minutes are kept for the attack-and-defence notebook, whichever branch brings it.
"""

import nbformat
import pytest

from workshop.teaching.reading_time import (BUDGET_MINUTES, RESERVED, SECONDS_PER_CODE_CELL, WORDS_PER_MINUTE, reading_time,
                                   reading_times, summary, total_minutes)


def test_the_whole_workshop_reads_within_the_budget():
    times = reading_times()
    print("\n" + summary(times))
    assert total_minutes(times) <= BUDGET_MINUTES, summary(times)


def test_the_time_kept_for_the_attack_and_defence_notebook_stays_free():
    times = reading_times()
    others = {name: t for name, t in times.items() if not any(key in name for key in RESERVED)}
    assert total_minutes(others) <= BUDGET_MINUTES - sum(RESERVED.values()), summary(times)


@pytest.mark.parametrize("name", list(reading_times()))
def test_no_notebook_takes_a_third_of_the_budget(name):
    assert reading_times()[name].minutes <= BUDGET_MINUTES / 3, f"{name}: {reading_times()[name].minutes:.1f} min"


def test_the_model_counts_words_and_code_cells_and_skips_folded_blocks(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(" ".join(["word"] * 200)
                                      + "<details><summary>Solution</summary>" + " x" * 500 + "</details>"),
        nbformat.v4.new_code_cell("a = 1"),
        nbformat.v4.new_code_cell(""),
    ])
    path = tmp_path / "99_sample.ipynb"
    nbformat.write(notebook, str(path))
    reading = reading_time(path)
    assert (reading.words, reading.code_cells) == (200 + 3, 2)
    assert reading.seconds == pytest.approx(203 * 60 / WORDS_PER_MINUTE + 2 * SECONDS_PER_CODE_CELL)
