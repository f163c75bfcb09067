"""What an executed notebook shows: its code cells' outputs, as text (for the papermill tests)."""

from pathlib import Path

import nbformat


def outputs(path: Path) -> list:
    notebook = nbformat.read(str(path), as_version=4)
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def output_text(path: Path) -> str:
    """Streams, text/plain and text/html of every output, joined."""
    parts = []
    for output in outputs(path):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        for mime in ("text/plain", "text/html"):
            if mime in output.get("data", {}):
                parts.append(output["data"][mime])
    return "\n".join(parts)


def iam_rows(text: str) -> dict:
    """Notebook 07's IAM table, as its plain text shows it: {attack: (action, IAM says, decided by, held by)}."""
    header = text.index("attack | action | resource | IAM says | decided by | held by")
    rows = {}
    for line in text[header:].splitlines()[1:]:
        cells = line.split(" | ")
        if len(cells) != 6:
            break
        rows[cells[0]] = (cells[1], *cells[3:])
    return rows
