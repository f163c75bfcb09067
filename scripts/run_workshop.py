#!/usr/bin/env python
"""`make workshop`: run the whole workshop against a fresh, throw-away local cloud.

Starts a local cloud on a free port, runs every notebook in order with
papermill into build/notebooks/ (.ipynb and .html), answering every exercise
right (notebook 04 denies); each notebook with exercises also runs once with a
typical wrong answer to each, into build/notebooks/wrong-answers/, so the
executed copies show both verdicts. Prints what happened and the reading time,
then stops the local cloud: it and everything deployed to it are gone, so the
approve/deny links in the exported HTML lead nowhere. Exits 1 if any notebook
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
    parser.add_argument("--decision", choices=("allow", "deny"), default="deny",
                        help="what notebook 04 answers (default: deny, the exercise's answer)")
    parser.add_argument("--no-wrong-answers", action="store_true",
                        help="skip the extra runs of the exercise notebooks with wrong answers")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML export")
    parser.add_argument("--endpoint", help="use a local cloud already running at this URL instead of starting one")
    args = parser.parse_args(argv)

    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    from workshop.teaching.notebook_run import run_all
    from workshop.teaching.reading_time import reading_times, summary

    def run(endpoint):
        print(f"Local cloud at {endpoint}; notebooks -> {args.out}", flush=True)
        return run_all(endpoint, out_dir=args.out, decision=args.decision, html=not args.no_html,
                       wrong_answers=not args.no_wrong_answers, announce=lambda line: print(line, flush=True))

    start = time.monotonic()
    if args.endpoint:
        report = run(args.endpoint)
    else:
        try:
            from workshop.localcloud import LocalCloud
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
    print(summary(reading_times()))
    print(f"Wall time {time.monotonic() - start:.1f} s. The local cloud of this run is stopped: "
          "links in the exported HTML lead nowhere.")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
