#!/usr/bin/env python
"""`make workshop`: run the whole workshop against a fresh local cloud.

Starts a local cloud on a free port, runs every notebook in order with
papermill (decisions made automatically) into build/notebooks/ (.ipynb and
.html), prints what happened, stops the local cloud. Exits 1 if any notebook
failed, 2 if the local cloud did not start.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "notebooks"), help="where the run notebooks go")
    parser.add_argument("--decision", choices=("allow", "deny"), default="allow",
                        help="what notebook 04 answers (default: allow)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML export")
    parser.add_argument("--endpoint", help="use a local cloud already running at this URL instead of starting one")
    args = parser.parse_args(argv)

    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    from workshop.notebook_run import run_all

    def run(endpoint):
        print(f"Local cloud at {endpoint}; notebooks -> {args.out}", flush=True)
        return run_all(endpoint, out_dir=args.out, decision=args.decision, html=not args.no_html,
                       announce=lambda line: print(line, flush=True))

    start = time.monotonic()
    if args.endpoint:
        report = run(args.endpoint)
    else:
        try:
            from workshop.localcloud.server import LocalCloud
        except ImportError as exc:
            print(f"The local cloud is not installed ({exc}): reinstall the kit with `make lab`.", file=sys.stderr)
            return 2
        try:
            cloud = LocalCloud()
            cloud.__enter__()
        except Exception as exc:
            print(f"The local cloud did not start: {exc}", file=sys.stderr)
            return 2
        try:
            report = run(cloud.endpoint)
        finally:
            cloud.__exit__(None, None, None)
    print()
    print(report.text())
    print(f"Wall time {time.monotonic() - start:.1f} s.")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
