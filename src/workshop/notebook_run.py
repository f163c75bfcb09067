"""Run the workshop notebooks end to end with papermill (for `make workshop`, CI and benchmarks).

    from workshop.notebook_run import run_all
    report = run_all(endpoint, out_dir="build/notebooks", decision="allow")
    print(report.text())

Each notebook runs in a fresh kernel (the venv's `python3`), in order, with the
parameters injected (`target`, `endpoint`, `stack_name`, and `decision` where
the notebook has one). Outputs go to `out_dir`, optionally also as HTML. After
the first failure the rest is skipped, except the clean-up notebook, which
always runs so that the next run starts clean.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from workshop.session import project_root

KERNEL = "python3"
CLEANUP = "08_cleanup"


def notebook_paths(root: Path | None = None) -> list:
    return sorted((root or project_root()).joinpath("notebooks").glob("[0-9][0-9]_*.ipynb"))


@dataclass
class NotebookResult:
    name: str
    ok: bool
    seconds: float
    output: Path | None = None
    html: Path | None = None
    error: str = ""
    summary: list = field(default_factory=list)
    skipped: bool = False


@dataclass
class RunReport:
    results: list = field(default_factory=list)
    out_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    def text(self) -> str:
        lines = []
        for r in self.results:
            state = "skipped" if r.skipped else ("ok" if r.ok else "FAILED")
            lines.append(f"  {r.name:<26} {state:<8} {r.seconds:6.1f} s")
            if r.error:
                lines.append(f"      {r.error}")
        facts = [line for r in self.results for line in r.summary]
        if facts:
            lines.append("What happened:")
            lines.extend(f"  - {fact}" for fact in facts)
        lines.append(f"Output: {self.out_dir} (.ipynb and .html)")
        lines.append(("All notebooks ran." if self.ok else "Some notebooks failed: open the output notebook "
                      "named above to see the failing cell.") + f" Total {self.seconds:.1f} s.")
        return "\n".join(lines)


def summary_lines(notebook) -> list:
    """Text output of the cells tagged `summary`: the facts a notebook established."""
    lines = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or "summary" not in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = output.get("text") if output.get("name") == "stdout" else None
            elif "application/vnd.jupyter.widget-view+json" in (output.get("data") or {}):
                text = None  # a progress bar
            else:
                text = (output.get("data") or {}).get("text/plain")
            if text:
                lines.extend(line.strip().strip("'\"") for line in str(text).splitlines() if line.strip())
    return lines


def _error_text(exc) -> str:
    name = getattr(exc, "ename", type(exc).__name__)
    value = getattr(exc, "evalue", str(exc))
    return f"{name}: {value}".strip()[:500]


def run_notebook(path: Path, out_dir: Path, parameters: dict, html: bool = False,
                 timeout: float = 300) -> NotebookResult:
    import nbformat
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / path.name
    wanted = papermill.inspect_notebook(str(path))
    params = {k: v for k, v in parameters.items() if k in wanted}
    start = time.monotonic()
    error = ""
    try:
        papermill.execute_notebook(str(path), str(output), parameters=params, kernel_name=KERNEL,
                                   cwd=str(path.parent), progress_bar=False, log_output=False,
                                   execution_timeout=timeout)
    except Exception as exc:  # papermill's PapermillExecutionError, dead kernels, timeouts
        error = _error_text(exc)
    seconds = time.monotonic() - start
    summary, html_path = [], None
    if output.exists():
        notebook = nbformat.read(str(output), as_version=4)
        summary = summary_lines(notebook)
        if html:
            html_path = export_html(notebook, output.with_suffix(".html"))
    return NotebookResult(path.stem, not error, seconds, output, html_path, error, summary)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def static_outputs(notebook):
    """A copy whose widget outputs show their static HTML snapshot.

    A headless run saves no widget state, so an HTML export would draw a widget
    (the approval panel) as nothing; the kit's widgets carry a text/html
    snapshot beside the widget view, and that is what the export should show.
    """
    import copy

    notebook = copy.deepcopy(notebook)
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            if WIDGET_VIEW in data and "text/html" in data:
                del data[WIDGET_VIEW]
    return notebook


def export_html(notebook, target: Path) -> Path:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(static_outputs(notebook))
    target.write_text(body, encoding="utf-8")
    return target


def run_all(endpoint: str | None, out_dir: str | Path = "build/notebooks", decision: str = "allow",
            target: str = "local", stack_name: str = "security-orchestrator", html: bool = True,
            notebooks: list | None = None, announce=None) -> RunReport:
    out_dir = Path(out_dir).resolve()
    parameters = {"target": target, "stack_name": stack_name, "decision": decision}
    if endpoint:
        parameters["endpoint"] = endpoint
    report = RunReport(out_dir=out_dir)
    failed = False
    for path in notebooks or notebook_paths():
        if failed and path.stem != CLEANUP:
            report.results.append(NotebookResult(path.stem, False, 0.0, skipped=True))
            continue
        if announce:
            announce(f"running {path.name} ...")
        result = run_notebook(path, out_dir, parameters, html=html)
        report.results.append(result)
        if announce:
            announce(f"  {'ok' if result.ok else 'FAILED'} in {result.seconds:.1f} s"
                     + (f": {result.error}" if result.error else ""))
        failed = failed or not result.ok
    return report
