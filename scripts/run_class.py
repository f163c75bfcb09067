#!/usr/bin/env python
"""`make class`: a JupyterHub for a class on this machine, each learner with their own local cloud.

    make class                                  three learners, the mode this machine allows
    make class CLASS_LEARNERS=12                twelve learners (learner1..learner12)
    make class CLASS_LEARNERS=ana,ben,chloe     named learners
    make class CLASS_MODE=demo                  one OS user for everybody (a laptop): no isolation

Starts JupyterHub (class/jupyterhub_config.py) on http://127.0.0.1:8000 and
prints each learner's and the facilitator's password (kept in
build/class/accounts.json, mode 0600, across restarts). Each learner logs in
and gets JupyterLab with their own copy of the notebooks and their own local
cloud with the stack deployed; the facilitator opens
/services/facilitator/ for the class's progress and the note to broadcast.

"system" mode (the default when run as root and the kit is readable by other
users) makes one OS user per learner: real isolation. "demo" mode runs every
learner as you, each in a home of their own under build/class/homes: their
local clouds and keys are separate, but files are not; it says so.
Ctrl-C stops the hub, every learner's server and every local cloud.
"""

from __future__ import annotations

import argparse
import os
import subprocess  # nosec B404: runs JupyterHub as an argument list, never through a shell
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def learner_names(value: str) -> list:
    value = (value or "3").strip()
    if value.isdigit():
        return [f"learner{i}" for i in range(1, int(value) + 1)]
    return [name.strip() for name in value.split(",") if name.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", default=os.environ.get("CLASS_LEARNERS", "3"),
                        help="a number (learner1..N) or comma-separated names (default 3)")
    parser.add_argument("--mode", choices=("auto", "system", "demo"), default=os.environ.get("CLASS_MODE") or "auto")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CLASS_PORT", "8000")))
    parser.add_argument("--idle-minutes", type=float, default=30, help="stop a learner's idle server after this")
    parser.add_argument("--new-accounts", action="store_true", help="new passwords for everybody")
    args = parser.parse_args(argv)

    from workshop.classroom.accounts import AccountsError
    from workshop.classroom.hub import ClassSettings, hub_command, hub_environment, prepare, system_mode_problem

    proxy = ROOT / "class" / "node_modules" / ".bin" / "configurable-http-proxy"
    if not proxy.exists():
        print("JupyterHub's proxy is not installed: run `make class` (it runs `npm ci` in class/).", file=sys.stderr)
        return 1
    problem = system_mode_problem()
    mode = args.mode
    if mode == "auto":
        mode = "demo" if problem else "system"
    elif mode == "system" and problem:
        print(f"System users are not possible here: {problem}. Use `make class CLASS_MODE=demo`.", file=sys.stderr)
        return 1
    from workshop.localcloud import free_port

    # The hub's API, the proxy's API and the facilitator's service only talk among themselves: any free port.
    settings = ClassSettings(class_dir=ROOT / "build" / "class", mode=mode, learners=learner_names(args.learners),
                             port=args.port, idle_minutes=args.idle_minutes, hub_port=free_port(),
                             proxy_api_port=free_port(), service_port=free_port())
    print("Building the Lambda functions once for the whole class (sam build) ...", flush=True)
    try:
        accounts = prepare(settings, new_accounts=args.new_accounts)
    except AccountsError as exc:
        print(f"make class: {exc}", file=sys.stderr)
        return 1
    if mode == "demo":
        print("DEMO MODE: every learner's server runs as your OS user (" + (problem or "asked for") + "). Each "
              "learner has their own local cloud, port and key, but any learner's code can read every file you "
              "can, other learners' keys included. For a room of people, run it as root on a class server "
              "(system users) or use The Littlest JupyterHub / Kubernetes (docs/facilitator.md).", flush=True)
    else:
        print("System users: each learner's server runs as their own OS user (home mode 0700).", flush=True)
    width = max(len(n) for n in accounts.passwords())
    print(f"\nThe class at {settings.url} (accounts in {settings.class_dir / 'accounts.json'}):")
    for name, password in accounts.learners.items():
        print(f"  {name:<{width}}  {password}")
    for name, password in accounts.facilitators.items():
        print(f"  {name:<{width}}  {password}   (the facilitator: {settings.url}/services/facilitator/)")
    print(f"\nIdle servers stop after {settings.idle_minutes:g} min. Ctrl-C stops the class.\n", flush=True)
    try:
        return subprocess.call(hub_command(), cwd=str(settings.class_dir),  # nosec B603: the venv's jupyterhub
                               env=hub_environment(settings))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
