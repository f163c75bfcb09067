"""How long the notebooks take to read, by a stated model (the workshop's budget is 45 minutes).

    from workshop.teaching.reading_time import reading_times, total_minutes
    times = reading_times(executed="build/notebooks")   # the notebooks as a learner sees them, run
    for name, reading in times.items():
        print(name, f"{reading.minutes:.1f} min")

The model: every word a learner reads (a token with a letter or a digit in it:
"→", "·", "=" are not words), at 200 words a minute: the notebook's
markdown and code, and what its cells show once run (stream text, the text
of HTML outputs, plain-text results), plus 15 seconds per picture (a graph,
a timeline) and 5 seconds per code cell (running it). What a learner opens
only when they want to is not counted: folded `<details>` blocks (a hidden
solution, the full event table, a state's JSON), a picture's own labels,
widgets without a text snapshot (progress bars). The outputs come from an
executed copy of each notebook (papermill's, as `make workshop` and the
end-to-end tests make them, the answers right); the parameters cell that
papermill injects is not counted. It is a model, not a stopwatch: what it is
for is to make the notebooks' length a number that a test holds
(`tests/e2e/test_notebooks.py` on the executed copies; the model itself in
`tests/unit/kit/test_kit_reading_time.py`). Learners who write their own
answers take longer (docs/facilitator.md plans the session).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from workshop.teaching.notebook_run import notebook_paths

WORDS_PER_MINUTE = 200
SECONDS_PER_CODE_CELL = 5
SECONDS_PER_PICTURE = 15
BUDGET_MINUTES = 45
# Kept free for the attack-and-defence notebook.
RESERVED = {"attack_and_defence": 8}
INJECTED = "injected-parameters"  # papermill's tag on the cell it adds

_DETAILS = re.compile(r"<details\b([^>]*)>|</details\s*>", re.I)
_OPEN = re.compile(r"\bopen\b", re.I)
_PICTURE = re.compile(r"<svg\b.*?</svg>|<img\b[^>]*>", re.S | re.I)
_HIDDEN = re.compile(r"<(style|script)\b.*?</\1>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"\S*\w\S*")  # a word has a letter or a digit: arrows, bullets and dashes are not read
WIDGET = "application/vnd.jupyter.widget-view+json"


@dataclass
class Reading:
    words: int
    code_cells: int
    pictures: int = 0
    output_words: int = 0

    @property
    def seconds(self) -> float:
        return ((self.words + self.output_words) * 60 / WORDS_PER_MINUTE + self.code_cells * SECONDS_PER_CODE_CELL
                + self.pictures * SECONDS_PER_PICTURE)

    @property
    def minutes(self) -> float:
        return self.seconds / 60


def unfolded(text: str) -> str:
    """`text` without what folded `<details>` blocks hide (an open one, `<details open>`, shows; so does every
    block's `<summary>`, the line a learner clicks)."""
    kept, hidden_from, depth, position = [], None, 0, 0
    for tag in _DETAILS.finditer(text):
        if tag.group(0).startswith("</"):
            depth -= 1
            if hidden_from is not None and depth == hidden_from:
                hidden_from, position = None, tag.end()
            continue
        depth += 1
        if hidden_from is None and not _OPEN.search(tag.group(1) or ""):
            summary = re.match(r"\s*<summary\b[^>]*>(.*?)</summary>", text[tag.end():], re.S | re.I)
            kept.append(text[position:tag.start()] + " " + (summary.group(1) if summary else "") + " ")
            hidden_from = depth - 1
    if hidden_from is None:
        kept.append(text[position:])
    return "".join(kept)


def words_in(text: str) -> int:
    """Words of a cell's source (markdown or code) a learner reads: all but what a folded block hides."""
    return len(_WORD.findall(unfolded(text)))


def _html_words(text: str) -> tuple[int, int]:
    """(words shown, pictures shown) of an HTML output."""
    text = unfolded(_HIDDEN.sub(" ", text))
    pictures = len(_PICTURE.findall(text))
    return len(_WORD.findall(html.unescape(_TAG.sub(" ", _PICTURE.sub(" ", text))))), pictures


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def output_reading(output) -> tuple[int, int]:
    """(words, pictures) a learner reads in one output, as JupyterLab shows it: HTML before a picture, a picture
    before plain text (Mermaid counts as the picture it draws)."""
    kind = output.get("output_type")
    if kind == "stream":
        return len(_WORD.findall(_text(output.get("text")))), 0
    if kind == "error":
        return len(_WORD.findall(_text(output.get("evalue")))) + 1, 0
    data = output.get("data") or {}
    if "text/html" in data:
        return _html_words(_text(data["text/html"]))
    if any(mime in data for mime in ("image/svg+xml", "image/png", "text/vnd.mermaid")):
        return 0, 1
    if WIDGET in data:  # a widget without a snapshot: a progress bar
        return 0, 0
    return len(_WORD.findall(_text(data.get("text/plain")))), 0


def reading_time(path: str | Path) -> Reading:
    """The reading of one notebook: stored (no outputs) or executed (its outputs counted too)."""
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    cells = [c for c in notebook.cells if INJECTED not in c.metadata.get("tags", [])]
    words = sum(words_in(cell.source) for cell in cells if cell.cell_type in ("markdown", "code"))
    code = [cell for cell in cells if cell.cell_type == "code"]
    shown = [output_reading(o) for cell in code for o in cell.get("outputs", [])]
    return Reading(words, len(code), sum(p for _, p in shown), sum(w for w, _ in shown))


def reading_times(root: Path | None = None, executed: str | Path | None = None) -> dict:
    """{notebook stem: Reading} for the workshop's numbered notebooks, in order; from the executed copies in
    `executed` (the model's full measure) or, without it, the stored notebooks (their words only)."""
    paths = notebook_paths(root)
    if executed is not None:
        paths = [Path(executed) / path.name for path in paths]
    return {path.stem: reading_time(path) for path in paths}


def total_minutes(times: dict) -> float:
    return sum(reading.minutes for reading in times.values())


def summary(times: dict) -> str:
    parts = [f"{name[:2]} {reading.minutes:.1f}" for name, reading in times.items()]
    return (f"Reading time ({WORDS_PER_MINUTE} words/min of cells and outputs, {SECONDS_PER_PICTURE} s per picture, "
            f"{SECONDS_PER_CODE_CELL} s per code cell): " + ", ".join(parts)
            + f"; total {total_minutes(times):.1f} of {BUDGET_MINUTES} min.")
