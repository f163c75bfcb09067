#!/usr/bin/env python
"""`make lab`: the local cloud and JupyterLab together, stopped together.

Starts the local cloud (port 4566, or a free one if that is taken), tells the
notebooks where it is (WORKSHOP_ENDPOINT) and gives JupyterLab its endpoint
and per-start key (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...: plain boto3 in a
notebook works), then runs JupyterLab on 127.0.0.1 with the notebooks folder
open. Ctrl-C (or closing JupyterLab) stops both.
The stack is deployed by notebook 01, as a learner would.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4566, help="local cloud port (default 4566)")
    parser.add_argument("--lab-port", type=int, default=8888, help="JupyterLab port (default 8888)")
    args, lab_args = parser.parse_known_args(argv)

    from workshop.localcloud.server import LocalCloud, port_is_free

    port = args.port if port_is_free(args.port) else None
    if port is None:
        print(f"Port {args.port} is taken (another local cloud?); using a free port instead.", flush=True)
    log = (ROOT / "build" / "local-cloud.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as log_file, LocalCloud(port=port, log_file=log_file) as cloud:
        print(f"Local cloud ready at {cloud.endpoint} (log: {log.relative_to(ROOT)})", flush=True)
        env = dict(os.environ, WORKSHOP_ENDPOINT=cloud.endpoint, SAM_CLI_TELEMETRY="0", **cloud.environment())
        command = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={args.lab_port}",
                   f"--ServerApp.root_dir={ROOT}", "--LabApp.default_url=/lab/tree/notebooks", *lab_args]
        if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in lab_args:
            command.append("--allow-root")  # containers often run as root; JupyterLab refuses without it
        try:
            return subprocess.call(command, cwd=ROOT, env=env)
        except KeyboardInterrupt:
            return 0
        finally:
            print("Stopping the local cloud.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
