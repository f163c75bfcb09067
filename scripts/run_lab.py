#!/usr/bin/env python
"""`make lab`: the local cloud and JupyterLab together, stopped together.

Starts the local cloud (port 4566, or a free one if that is taken), tells the
notebooks where it is (WORKSHOP_ENDPOINT) and gives JupyterLab its endpoint
and per-start key (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...: plain boto3 in a
notebook works), then runs JupyterLab on 127.0.0.1 with the notebooks folder
open. Kernels talk to JupyterLab over IPC: Unix sockets in a private folder
(mode 0700, a short path under the temporary directory, as socket paths are
limited to about 100 characters), not TCP ports any local user could reach.

If the local cloud stops while JupyterLab runs (it crashed, or someone killed
it), it is started again on the same port with the same key, so open
notebooks reach it without a restart, and the terminal says so. A restarted
local cloud starts empty: the notebooks notice (`workshop.failures`) and say
to run 01_deploy again. Ctrl-C (or closing JupyterLab) stops both.
The stack is deployed by notebook 01, as a learner would.

`--like-aws` (`make lab-like-aws`) rehearses the AWS path without an
account: the local cloud runs in the AWS-like mode (a trail needed, events
late, subscriptions to confirm, IAM lagging) and the notebooks use the AWS
target against it (WORKSHOP_TARGET=aws, WORKSHOP_AWS_REHEARSAL). As on a new
account there is no trail yet: notebook 00's checklist says how to make one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess  # nosec B404: runs JupyterLab as an argument list, never through a shell
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


REHEARSAL_MESSAGE = (
    "AWS rehearsal: the notebooks use the AWS target against the AWS-like local cloud at {endpoint} (nothing "
    "reaches AWS). Approval e-mails go to {email}, in the local mailbox. As on a new account there is no trail: "
    "notebook 00 says how to make one (in a terminal: WORKSHOP_AWS_REHEARSAL={endpoint} .venv/bin/workshop trail "
    "create).")
REHEARSAL_EMAIL = "learner@aws-rehearsal.workshop"  # stays in the local mailbox; not a domain reserved for examples


def rehearsal_environment(endpoint: str, environ) -> dict:
    """What JupyterLab's notebooks need to run the AWS path against the AWS-like local cloud at `endpoint`."""
    from workshop.aws.session import REHEARSAL

    return {"WORKSHOP_TARGET": "aws", REHEARSAL: endpoint,
            "WORKSHOP_EMAIL": environ.get("WORKSHOP_EMAIL") or REHEARSAL_EMAIL}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4566, help="local cloud port (default 4566)")
    parser.add_argument("--lab-port", type=int, default=8888, help="JupyterLab port (default 8888)")
    parser.add_argument("--like-aws", action="store_true",
                        help="rehearse the AWS path: the AWS-like local cloud, the notebooks on the AWS target")
    args, lab_args = parser.parse_known_args(argv)

    from workshop.failures import SUPERVISED_ENV
    from workshop.localcloud import port_is_free
    from workshop.localcloud.supervisor import Supervisor

    port = args.port if port_is_free(args.port) else None
    if port is None:
        print(f"Port {args.port} is taken (another local cloud?); using a free port instead.", flush=True)
    log = (ROOT / "build" / "local-cloud.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    sockets = tempfile.mkdtemp(prefix="workshop-lab-")
    with log.open("w") as log_file:
        like_aws = None
        if args.like_aws:
            from workshop.localcloud.aws_like import DEFAULT_SETTINGS as like_aws
        supervisor = Supervisor(port, log_file, say=lambda line: print(line, flush=True), like_aws=like_aws)
        try:
            print(f"Local cloud ready at {supervisor.endpoint} (log: {log.relative_to(ROOT)})", flush=True)
            env = dict(os.environ, WORKSHOP_ENDPOINT=supervisor.endpoint, SAM_CLI_TELEMETRY="0",
                       **{SUPERVISED_ENV: "1"}, **supervisor.cloud.environment())
            if args.like_aws:
                env.update(rehearsal_environment(supervisor.endpoint, os.environ))
                print(REHEARSAL_MESSAGE.format(endpoint=supervisor.endpoint, email=env["WORKSHOP_EMAIL"]), flush=True)
            command = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={args.lab_port}",
                       f"--ServerApp.root_dir={ROOT}", "--LabApp.default_url=/lab/tree/notebooks",
                       "--KernelManager.transport=ipc", f"--KernelManager.ip={sockets}/kernel", *lab_args]
            if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in lab_args:
                command.append("--allow-root")  # containers often run as root; JupyterLab refuses without it
            print("Stop with Ctrl-C: it stops JupyterLab and the local cloud.", flush=True)
            supervisor.start_watching()
            try:
                return subprocess.call(command, cwd=ROOT, env=env)  # nosec B603: this python running JupyterLab
            except KeyboardInterrupt:
                return 0
        finally:
            print("Stopping the local cloud.", flush=True)
            supervisor.stop()
            shutil.rmtree(sockets, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
