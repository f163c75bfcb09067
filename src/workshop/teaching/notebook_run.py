"""Run the workshop notebooks end to end with papermill (for `make workshop`, CI and benchmarks).

    from workshop.teaching.notebook_run import run_all
    report = run_all(endpoint, out_dir="build/notebooks")
    print(report.text())

Each notebook runs in a fresh kernel (the venv's `python3`), in order, with the
parameters injected (`target`, `endpoint`, `stack_name`, and where the notebook
has them `decision` and `answers`: the right answers to its exercises, from
`workshop.teaching.exercises.exercise_answers("right")`). Outputs go to `out_dir`,
optionally also as HTML. After the first failure the rest is skipped, except
the clean-up notebook, which always runs so that the next run starts clean.

With `wrong_answers` (the default), every notebook with exercises (a cell
tagged `exercise`) first runs once more with a typical wrong answer to each,
into `out_dir/wrong-answers/`, against the same local cloud: the executed
copies show what a learner who got it wrong is told. A wrong decision uses up
the waiting incident, so the notebook that fires one runs again before the
right decision. Each exercise cell's verdict is part of the report.

Kernels talk to papermill over IPC (Unix sockets in a private folder), not
TCP: nothing else on the machine can reach them, and ipykernel has nothing to
warn about.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from workshop.aws.session import project_root
from workshop.teaching.exercises import exercise_answers

KERNEL = "python3"
CLEANUP_SUFFIX = "_cleanup"
WRONG_DIR = "wrong-answers"
# As a learner types them: the buttons' labels (the notebooks accept them in any case, and "allow" / "deny").
RIGHT_DECISION, WRONG_DECISION = "Deny", "Approve"
# A notebook whose wrong-answer run uses up what another made (stem suffix -> stem suffix): that one runs again.
NEEDS_BEFORE_WRONG = {"_decide": "_fire_bad_policy"}


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
        lines.append(f"Output: {self.out_dir} (.ipynb and .html; the wrong answers' runs in {WRONG_DIR}/)")
        lines.append(("All notebooks ran." if self.ok else "Some notebooks failed: open the output notebook "
                      "named above to see the failing cell.") + f" Total {self.seconds:.1f} s.")
        return "\n".join(lines)


def has_exercises(path: Path) -> bool:
    import nbformat

    return any("exercise" in cell.metadata.get("tags", []) for cell in nbformat.read(str(path), as_version=4).cells)


def exercise_lines(notebook) -> list:
    """The first line of each exercise cell's verdict."""
    lines = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or "exercise" not in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            text = (output.get("data") or {}).get("text/plain") if output.get("output_type") != "stream" else None
            if text and str(text).strip():
                lines.append("exercise: " + str(text).strip().splitlines()[0].strip("'\"")[:200])
    return lines


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


def ipc_kernel_manager(folder: Path):
    """A kernel manager class whose kernels listen on Unix sockets in `folder` (a private one), not on TCP,
    and are shut down without the SIGINT that makes an idle ipykernel log an error."""
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", str(Path(folder) / "kernel"))
            super().__init__(**kwargs)

        async def _async_interrupt_kernel(self):
            # jupyter_client sends SIGINT before every shutdown; to a kernel idle at the end of a run it
            # only makes ipykernel print "ERROR | KeyboardInterrupt caught in kernel". A stuck kernel
            # still gets SIGTERM, then SIGKILL, from the shutdown itself.
            if not self.shutting_down:
                await super()._async_interrupt_kernel()

    return IpcKernelManager


def run_notebook(path: Path, out_dir: Path, parameters: dict, html: bool = False,
                 timeout: float = 300, label: str | None = None) -> NotebookResult:
    import nbformat
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / path.name
    wanted = papermill.inspect_notebook(str(path))
    params = {k: v for k, v in parameters.items() if k in wanted}
    start = time.monotonic()
    error = ""
    sockets = Path(tempfile.mkdtemp(prefix="workshop-kernel-"))  # mode 0700: this user's only
    try:
        papermill.execute_notebook(str(path), str(output), parameters=params, kernel_name=KERNEL,
                                   cwd=str(path.parent), progress_bar=False, log_output=False,
                                   execution_timeout=timeout, start_timeout=180,  # a busy machine starts slowly
                                   kernel_manager_class=ipc_kernel_manager(sockets))
    except Exception as exc:  # papermill's PapermillExecutionError, dead kernels, timeouts
        error = _error_text(exc)
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    seconds = time.monotonic() - start
    summary, html_path = [], None
    notebook = None
    if output.exists():
        try:
            notebook = nbformat.read(str(output), as_version=4)
        except ValueError as exc:  # papermill stopped before writing it whole (NotJSONError is one)
            error = error or f"the executed notebook {output} could not be read ({exc})"
    if notebook is not None:
        summary = summary_lines(notebook) + exercise_lines(notebook)
        if html:
            html_path = export_html(notebook, output.with_suffix(".html"))
    return NotebookResult(label or path.stem, not error, seconds, output, html_path, error, summary)


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


def run_all(endpoint: str | None, out_dir: str | Path = "build/notebooks", decision: str = RIGHT_DECISION,
            target: str = "local", stack_name: str = "security-orchestrator", html: bool = True,
            notebooks: list | None = None, announce=None, wrong_answers: bool = True) -> RunReport:
    out_dir = Path(out_dir).resolve()
    parameters = {"target": target, "stack_name": stack_name, "decision": decision,
                  "answers": exercise_answers("right")}
    if endpoint:
        parameters["endpoint"] = endpoint
    wrong = {**parameters, "decision": WRONG_DECISION, "answers": exercise_answers("wrong")}
    paths = list(notebooks or notebook_paths())
    report = RunReport(out_dir=out_dir)
    failed = False

    def run(path, params, folder, label):
        nonlocal failed
        if announce:
            announce(f"running {label} ...")
        result = run_notebook(path, folder, params, html=html, label=label)
        report.results.append(result)
        if announce:
            announce(f"  {'ok' if result.ok else 'FAILED'} in {result.seconds:.1f} s"
                     + (f": {result.error}" if result.error else ""))
        failed = failed or not result.ok

    for path in paths:
        if failed and not path.stem.endswith(CLEANUP_SUFFIX):
            report.results.append(NotebookResult(path.stem, False, 0.0, skipped=True))
            continue
        if wrong_answers and has_exercises(path):
            run(path, wrong, out_dir / WRONG_DIR, f"{path.stem} (wrong answers)")
            for suffix, before in NEEDS_BEFORE_WRONG.items():
                needed = [p for p in paths if p.stem.endswith(before)]
                if path.stem.endswith(suffix) and needed and not failed:
                    # the wrong answer used up the incident: a new one for the right answer
                    run(needed[0], parameters, out_dir, f"{needed[0].stem} (again, for {path.stem})")
            if failed:
                continue
        run(path, parameters, out_dir, path.stem)
    return report
