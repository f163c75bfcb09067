"""The whole workshop run (every notebook, papermill, local cloud) against the kernel floor.

`workshop_run_s`: all notebooks in order against a fresh local cloud, as
`make workshop` runs them (without the HTML export).
`kernel_floor_s`: papermill on a one-cell notebook, once per workshop notebook,
in the same run: what starting the kernels alone costs. The ratio says how much
of the run is the workshop's own work.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _kernel_floor(count: int, folder: Path) -> float:
    import nbformat
    import papermill
    from nbformat.v4 import new_code_cell, new_notebook

    from workshop.teaching.notebook_run import KERNEL

    notebook = new_notebook(cells=[new_code_cell("1 + 1")])
    notebook.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    source = folder / "one_cell.ipynb"
    nbformat.write(notebook, str(source))
    start = time.perf_counter()
    for i in range(count):
        papermill.execute_notebook(str(source), str(folder / f"one_cell_{i}.ipynb"), kernel_name=KERNEL,
                                   progress_bar=False, log_output=False)
    return time.perf_counter() - start


def run() -> dict:
    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    from workshop.localcloud import LocalCloud
    from workshop.teaching.notebook_run import notebook_paths, run_all

    notebooks = notebook_paths(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        with LocalCloud() as cloud:
            start = time.perf_counter()
            report = run_all(cloud.endpoint, out_dir=Path(tmp) / "notebooks", html=False, wrong_answers=False)
            workshop_s = time.perf_counter() - start
        if not report.ok:
            raise RuntimeError("the workshop run failed:\n" + report.text())
        floor_s = _kernel_floor(len(notebooks), Path(tmp))
    figures = {
        "notebooks": len(notebooks),
        "workshop_run_s": round(workshop_s, 1),
        "kernel_floor_s": round(floor_s, 1),
        "workshop_over_floor": round(workshop_s / floor_s, 1),
    }
    figures.update({f"notebook_{r.name[:2]}_s": round(r.seconds, 1) for r in report.results})
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
