"""How long the notebooks take to read, by a stated model (the workshop's budget is 45 minutes).

    from workshop.teaching.reading_time import reading_times, total_minutes
    for name, reading in reading_times().items():
        print(name, f"{reading.minutes:.1f} min")

The model: every word a learner reads in a stored notebook, markdown and code
alike, at 200 words a minute, plus 20 seconds per code cell (running it and
glancing at what it shows). Words inside a folded `<details>` block (a hidden
solution, an optional aside) are not counted: a learner opens them only when
stuck. Outputs are not counted either: notebooks are stored without them, and
the kit keeps long outputs folded (the full event table, each given state's
JSON). It is a model, not a stopwatch: what it is for is to make the notebooks'
length a number that a test holds (`tests/unit/kit/test_kit_reading_time.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from workshop.teaching.notebook_run import notebook_paths

WORDS_PER_MINUTE = 200
SECONDS_PER_CODE_CELL = 20
BUDGET_MINUTES = 45
# Kept free for the attack-and-defence notebook (issue 10), whichever branch brings it.
RESERVED = {"attack_and_defence": 8}

_FOLDED = re.compile(r"<details\b.*?</details>", re.S | re.I)
_WORD = re.compile(r"\S+")


@dataclass
class Reading:
    words: int
    code_cells: int

    @property
    def seconds(self) -> float:
        return self.words * 60 / WORDS_PER_MINUTE + self.code_cells * SECONDS_PER_CODE_CELL

    @property
    def minutes(self) -> float:
        return self.seconds / 60


def words_in(text: str) -> int:
    return len(_WORD.findall(_FOLDED.sub(" ", text)))


def reading_time(path: str | Path) -> Reading:
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    words = sum(words_in(cell.source) for cell in notebook.cells if cell.cell_type in ("markdown", "code"))
    code = sum(1 for cell in notebook.cells if cell.cell_type == "code")
    return Reading(words, code)


def reading_times(root: Path | None = None) -> dict:
    """{notebook stem: Reading} for the workshop's numbered notebooks, in order."""
    return {path.stem: reading_time(path) for path in notebook_paths(root)}


def total_minutes(times: dict) -> float:
    return sum(reading.minutes for reading in times.values())


def summary(times: dict) -> str:
    parts = [f"{name[:2]} {reading.minutes:.1f}" for name, reading in times.items()]
    return (f"Reading time ({WORDS_PER_MINUTE} words/min + {SECONDS_PER_CODE_CELL} s per code cell): "
            + ", ".join(parts) + f"; total {total_minutes(times):.1f} of {BUDGET_MINUTES} min.")
