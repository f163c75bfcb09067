"""`make bench`: run every benchmark module, write build/bench.json, print a table.

Each `benchmarks/bench_*.py` has `run() -> dict` of figures measured in the
same run as their baseline (ratios, not absolute timings, are the goals).
A module that fails is reported and the others still run.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "build" / "bench.json"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    names = set(argv if argv is not None else sys.argv[1:])
    results, failed = {}, []
    for path in sorted(HERE.glob("bench_*.py")):
        if names and path.stem not in names and path.stem.removeprefix("bench_") not in names:
            continue
        started = time.perf_counter()
        print(f"== {path.stem}", flush=True)
        try:
            figures = _load(path).run()
        except Exception:  # one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(path.stem)
            continue
        figures["_seconds"] = round(time.perf_counter() - started, 1)
        results[path.stem] = figures
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\n{'figure':<44} value")
    for module, figures in results.items():
        for key, value in figures.items():
            if not key.startswith("_"):
                print(f"{module + '.' + key:<44} {value}")
    print(f"\nwritten to {OUT.relative_to(ROOT)}")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
