"""What an executed notebook shows: its code cells' outputs, as text (for the papermill tests)."""

from pathlib import Path

import nbformat


def outputs(path: Path) -> list:
    notebook = nbformat.read(str(path), as_version=4)
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def output_text(path: Path) -> str:
    """Streams, text/plain and text/html of every output, joined.

    A cell's consecutive writes to one stream are one text, as Jupyter shows them: a kernel flushes
    its stdout on a timer, so on a busy machine one `print` can land in two stream outputs.
    """
    parts, stream = [], None
    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        stream = None
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "stream":
                if stream == output.get("name"):
                    parts[-1] += output.get("text", "")
                else:
                    parts.append(output.get("text", ""))
                stream = output.get("name")
                continue
            stream = None
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
