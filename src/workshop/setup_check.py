"""Is everything ready for the workshop? One check per line, each with a fix.

    from workshop.setup_check import check_setup
    check_setup(target="local", endpoint="http://127.0.0.1:4566")

Local target: the local cloud answers at the endpoint. AWS target: credentials
are found, STS knows who they are, and the region is us-east-1. Both: the
tools the notebooks call (sam, the Python packages) are present.
"""

from __future__ import annotations

import html
import importlib.util
import os
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from workshop.session import REGION, connect

PACKAGES = ("boto3", "ipywidgets", "papermill", "tqdm")


@dataclass
class Check:
    name: str
    ok: bool
    message: str
    fix: str = ""


@dataclass
class SetupReport:
    target: str
    checks: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def problems(self) -> list:
        return [c for c in self.checks if not c.ok]

    def text(self) -> str:
        lines = [f"Set-up check for target {self.target!r}:"]
        for c in self.checks:
            lines.append(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.message}"
                         + (f" -> {c.fix}" if c.fix and not c.ok else ""))
        lines.append("Ready for the workshop." if self.ok
                     else f"{len(self.problems())} problem(s): fix them and run this cell again.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{'✅' if c.ok else '❌'}</td><td>{html.escape(c.name)}</td>"
            f"<td>{html.escape(c.message)}</td><td>{'' if c.ok else html.escape(c.fix)}</td></tr>"
            for c in self.checks
        )
        verdict = ("<p><strong>Ready for the workshop.</strong></p>" if self.ok else
                   f"<p><strong>{len(self.problems())} problem(s)</strong>: fix them and run this cell again.</p>")
        return (f"<table><thead><tr><th></th><th>check</th><th>result</th><th>what to do</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>{verdict}")


def check_local_cloud(endpoint: str, timeout: float = 3.0) -> Check:
    """The local cloud answers at `endpoint` (its /_localcloud/health route is the kit's own)."""
    name = "local cloud"
    fix = ("start it with `make local` in a terminal (or use `make lab`, which starts it for you), "
           "then run this cell again")
    url = endpoint.rstrip("/") + "/_localcloud/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # nosec B310: the configured endpoint
            response.read(1)
        return Check(name, True, f"answering at {endpoint}")
    except urllib.error.HTTPError as exc:
        # Something answers, but not the kit's extensions: plain moto, or another service.
        return Check(name, False,
                     f"{endpoint} answers, but not as the workshop's local cloud (HTTP {exc.code} on /_localcloud/health)",
                     "stop whatever uses that port, or point `endpoint` at the local cloud; " + fix)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check(name, False, f"the local cloud is not running at {endpoint} ({reason})", fix)


def check_aws_credentials(session=None) -> list:
    """Credentials found, accepted by STS, region us-east-1."""
    import boto3

    checks = []
    base = session or boto3.Session()
    region = base.region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region == REGION:
        checks.append(Check("region", True, f"{REGION}"))
    else:
        checks.append(Check(
            "region", False,
            f"your AWS configuration says region {region or '(none)'}; the workshop runs in {REGION} only "
            "(IAM's CloudTrail events reach EventBridge only there)",
            f"nothing to change: the kit uses {REGION} for every call; set AWS_REGION={REGION} "
            "for your own `aws` commands too"))
    if base.get_credentials() is None:
        checks.append(Check("AWS credentials", False, "no AWS credentials found",
                            "run `aws configure` (or `aws sso login --profile NAME` and set AWS_PROFILE), "
                            "then restart the kernel"))
        return checks
    try:
        identity = boto3.Session(region_name=REGION, profile_name=base.profile_name).client(
            "sts").get_caller_identity()
        checks.append(Check("AWS credentials", True,
                            f"account {identity['Account']} as {identity['Arn']}"))
    except Exception as exc:  # expired tokens, wrong keys, no network
        checks.append(Check("AWS credentials", False, f"STS refused the credentials: {exc}",
                            "refresh them (`aws sso login`, or new access keys), then restart the kernel"))
    return checks


def find_tool(name: str) -> str | None:
    """A command on PATH or beside this Python (the venv's bin/)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def check_tools(tools=("sam",), packages=PACKAGES) -> list:
    checks = []
    if sys.version_info >= (3, 11):
        checks.append(Check("python", True, sys.version.split()[0]))
    else:
        checks.append(Check("python", False, f"Python {sys.version.split()[0]} is too old",
                            "use Python 3.11 or newer (`make lab` sets up the venv)"))
    for tool in tools:
        path = find_tool(tool)
        checks.append(Check(tool, True, path) if path else Check(
            tool, False, f"`{tool}` is not installed",
            "install the kit with `make lab` (it installs aws-sam-cli into the venv)"))
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    checks.append(Check("python packages", not missing,
                        "all present" if not missing else "missing: " + ", ".join(missing),
                        "run `make lab` (or `pip install -e .`) in the kit's venv"))
    return checks


def check_setup(target: str = "local", endpoint: str | None = None, tools=("sam",)) -> SetupReport:
    """Every check for `target`; display the result in a notebook, or print it."""
    cloud = connect(target, endpoint)
    report = SetupReport(target)
    if cloud.is_local:
        report.checks.append(check_local_cloud(cloud.endpoint))
    else:
        report.checks.extend(check_aws_credentials())
    report.checks.extend(check_tools(tools))
    return report
