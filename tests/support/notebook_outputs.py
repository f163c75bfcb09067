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
