"""Is everything ready for the workshop? One check per line, each with a fix.

    from workshop.teaching import check_setup
    check_setup(target="local", endpoint="http://127.0.0.1:4566")
    check_setup(target="aws", stack_name="security-orchestrator", email="you@your-domain")

Local target: the local cloud answers at the endpoint. AWS target, the AWS
checklist: the account (STS), the region (a warning only: the kit calls
us-east-1 whatever the profile says), a CloudTrail trail that delivers IAM's
events (DescribeTrails + GetTrailStatus + GetEventSelectors: logging on,
IAM's Region, global service events, management write events; else the
commands that make one), the approval e-mail (an address that can receive
mail; once deployed, the subscription confirmed, else who may ask SNS for a
new confirmation and how), read access to the services the workshop uses,
and the account's Lambda concurrency (GetAccountSettings: the stack reserves
none by default; what a reservation for the decision endpoint would need, and
whether this account has room for one). Both: the tools the notebooks call
(sam, the Python packages) are present. A check with `warning=True` is shown
but does not stop the workshop.
"""

from __future__ import annotations

import html
import importlib.util
import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from workshop.aws.deploy import (EMAIL_VARIABLE, deployed_parameter, find_tool, is_placeholder_address,
                                 region_warning)
from workshop.aws.mail import subscribe_command, subscription_status
from workshop.aws.session import REGION, StackNotFound, connect
from workshop import progress
from workshop.display.html import TEXT_CELL

PACKAGES = ("boto3", "ipywidgets", "papermill", "tqdm")


@dataclass
class Check:
    name: str
    ok: bool
    message: str
    fix: str = ""
    warning: bool = False  # not ok, but the workshop can go on (shown, never blocking)
    details: tuple = ()    # (summary, text) shown folded under the table: what the fix needs in full


def _mark(check: Check) -> tuple[str, str]:
    if check.ok:
        return "ok", "✅"
    return ("warn", "⚠️") if check.warning else ("FAIL", "❌")


@dataclass
class SetupReport:
    target: str
    checks: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok or c.warning for c in self.checks)

    def problems(self) -> list:
        return [c for c in self.checks if not c.ok and not c.warning]

    @property
    def title(self) -> str:
        return "AWS checklist" if self.target == "aws" else f"Set-up check for target {self.target!r}"

    def text(self) -> str:
        lines = [f"{self.title}:"]
        for c in self.checks:
            lines.append(f"  [{_mark(c)[0]}] {c.name}: {c.message}"
                         + (f" -> {c.fix}" if c.fix and not c.ok else ""))
        lines.append("Ready for the workshop." if self.ok
                     else f"{len(self.problems())} problem(s): fix them and run this cell again.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td {TEXT_CELL}>{_mark(c)[1]}</td><td {TEXT_CELL}>{html.escape(c.name)}</td>"
            f"<td {TEXT_CELL}>{html.escape(c.message)}</td><td {TEXT_CELL}>{'' if c.ok else html.escape(c.fix)}</td>"
            "</tr>"
            for c in self.checks
        )
        verdict = ("<p><strong>Ready for the workshop.</strong></p>" if self.ok else
                   f"<p><strong>{len(self.problems())} problem(s)</strong>: fix them and run this cell again.</p>")
        folded = "".join(f"<details><summary>{html.escape(c.details[0])}</summary><pre>{html.escape(c.details[1])}"
                         "</pre></details>" for c in self.checks if c.details and not c.ok)
        return (f"<h4>{html.escape(self.title)}</h4>"
                f"<table><thead><tr><th></th><th {TEXT_CELL}>check</th><th {TEXT_CELL}>result</th>"
                f"<th {TEXT_CELL}>what to do</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>{verdict}{folded}")


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


def _error_code(exc) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "") or type(exc).__name__


def _denied(exc) -> bool:
    code = _error_code(exc)
    return "AccessDenied" in code or code in ("UnauthorizedOperation", "AuthorizationError")


def check_aws_credentials(cloud) -> list:
    """The account STS says the credentials belong to, and the region (a warning: the kit pins us-east-1)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    checks = []
    note = region_warning(cloud.configured_region())
    checks.append(Check("region", True, REGION) if note is None else Check(
        "region", False, f"your AWS configuration says region {cloud.configured_region() or '(none)'}; the kit "
        f"calls {REGION} for everything (IAM's CloudTrail events reach EventBridge only there)",
        f"nothing to change for the notebooks; add `--region {REGION}` to your own `aws` commands", warning=True))
    try:
        identity = cloud.client("sts").get_caller_identity()
    except NoCredentialsError:
        checks.append(Check("AWS account", False, "no AWS credentials found",
                            "run `aws configure` (or `aws sso login --profile NAME` and set AWS_PROFILE), "
                            "then restart the kernel"))
        return checks
    except (BotoCoreError, ClientError) as exc:  # expired tokens, wrong keys, no network
        checks.append(Check("AWS account", False, f"STS refused the credentials: {exc}",
                            "refresh them (`aws sso login`, or new access keys), then restart the kernel"))
        return checks
    checks.append(Check("AWS account", True, f"account {identity['Account']} as {identity['Arn']}"))
    return checks


def check_trail(cloud) -> Check:
    """A CloudTrail trail that hands IAM's write calls to EventBridge (else the incident never starts):
    `workshop.aws.trail.find_recording_trail`, as a checklist line."""
    from workshop.aws.trail import find_recording_trail

    from workshop.aws.trail import POLICY_PAGE, bucket_policy

    found = find_recording_trail(cloud)
    details = ()
    if found.missing:
        account = cloud.client("sts").get_caller_identity()["Account"]
        details = (f"CloudTrail's bucket policy, for a bucket of your own (from {POLICY_PAGE})",
                   json.dumps(bucket_policy("BUCKET", account), indent=2).replace("BUCKET", "<your bucket>"))
    return Check("CloudTrail trail", found.ok, found.message, found.fix, warning=found.unreadable, details=details)


def check_email(cloud, stack_name: str | None, email: str | None) -> Check:
    """The approval e-mail: an address that receives mail; once deployed, a confirmed subscription."""
    name = "approval e-mail"
    outputs = None
    if stack_name:
        try:
            outputs = cloud.stack_outputs(stack_name)
        except StackNotFound:
            outputs = None
    if outputs is None:
        if email and not is_placeholder_address(email):
            return Check(name, True, f"{email} (notebook 01 deploys with it; then confirm the subscription e-mail)")
        what = f"{email!r} cannot receive mail" if email else "no address yet"
        return Check(name, False, f"{what}: on AWS the approval requests are e-mailed",
                     f"set {EMAIL_VARIABLE}=you@your-domain before starting JupyterLab (or EmailAddress in "
                     "notebook 01's deploy_parameters)")
    status = subscription_status(cloud, outputs)
    deployed = deployed_parameter(cloud, stack_name, "EmailAddress")
    if status.ok:
        return Check(name, True, status.message())
    admins = [arn for arn in (deployed_parameter(cloud, stack_name, "AdminPrincipalArns") or "").split(",") if arn]
    who = ("the principals in the stack's AdminPrincipalArns (" + ", ".join(admins) + ")" if admins else
           "the account root (the stack's AdminPrincipalArns is empty)")
    again = (f"if that e-mail is lost or more than two days old, ask SNS for a new one: "
             f"`{subscribe_command(outputs['AlertTopicArn'], deployed or email or 'you@your-domain', REGION)}`, run "
             f"as {who}: the topic policy lets nobody else subscribe")
    fix = (f"confirm the subscription sent to {deployed}; " + again) if status.pending else again
    return Check(name, False, status.message(), fix, warning=True)


def check_permissions(cloud, stack_name: str = "security-orchestrator") -> Check:
    """One cheap read per service the workshop uses: an AccessDenied here is one in the notebooks.

    Only reads are tried (nothing is created); the writes are first used by 01's deploy.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    probes = (
        ("cloudformation:DescribeStacks", lambda: cloud.client("cloudformation").describe_stacks(StackName=stack_name)),
        ("iam:ListPolicies", lambda: cloud.client("iam").list_policies(Scope="Local", MaxItems=1)),
        ("states:ListStateMachines", lambda: cloud.client("stepfunctions").list_state_machines(maxResults=1)),
        ("lambda:ListFunctions", lambda: cloud.client("lambda").list_functions(MaxItems=1)),
        ("sns:ListTopics", lambda: cloud.client("sns").list_topics()),
        ("logs:DescribeLogGroups", lambda: cloud.client("logs").describe_log_groups(
            logGroupNamePrefix=f"/aws/lambda/{stack_name}-", limit=1)),
    )
    denied = []
    for action, probe in probes:
        try:
            probe()
        except (BotoCoreError, ClientError) as exc:
            if _denied(exc):
                denied.append(action)
            elif _error_code(exc) != "ValidationError":  # "Stack ... does not exist": allowed, not deployed yet
                raise
    if denied:
        return Check("permissions", False, "AccessDenied for " + ", ".join(denied),
                     "ask your facilitator for the workshop's permission set (policies/learner-policy.json; "
                     "docs/facilitator.md)")
    return Check("permissions", True, "read access to CloudFormation, IAM, Step Functions, Lambda, SNS and "
                                      "CloudWatch Logs; the full set the workshop needs is policies/learner-policy.json")


UNRESERVED_MINIMUM = 100  # PutFunctionConcurrency: "leave at least 100 simultaneous executions unreserved"
CONCURRENCY_DOCS = "https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html"
QUOTA_DOCS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"


def reservation_room(unreserved: int) -> int:
    """The most executions DecisionConcurrency could reserve in an account with `unreserved` left: Lambda
    keeps 100 unreserved (0 when there is no room at all)."""
    return max(0, int(unreserved) - UNRESERVED_MINIMUM)


def check_lambda_concurrency(cloud) -> Check:
    """The account's Lambda concurrency (GetAccountSettings), and what a reservation would need.

    The stack reserves nothing by default (DecisionConcurrency=0): new accounts get a reduced quota (often
    10), and Lambda refuses any reservation that leaves fewer than 100 executions unreserved, so a default
    reservation would fail a new account's first deploy. A reservation is offered only where there is room.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    name = "Lambda concurrency"
    try:
        limits = cloud.client("lambda").get_account_settings()["AccountLimit"]
    except (BotoCoreError, ClientError) as exc:
        return Check(name, False, f"could not read the account's Lambda settings ({_error_code(exc)})",
                     "nothing to do for the workshop: the stack reserves no concurrency by default "
                     "(lambda:GetAccountSettings is in policies/learner-policy.json)", warning=True)
    total, unreserved = limits.get("ConcurrentExecutions", 0), limits.get("UnreservedConcurrentExecutions", 0)
    room = reservation_room(unreserved)
    said = f"{total} concurrent executions in this account, {unreserved} unreserved; the stack reserves none " \
           "by default (DecisionConcurrency=0)"
    if room:
        return Check(name, True, f"{said}. To cap the public decision endpoint, deploy with DecisionConcurrency=N, "
                                 f"N at most {room} here (Lambda keeps {UNRESERVED_MINIMUM} unreserved: "
                                 f"{CONCURRENCY_DOCS})")
    return Check(name, True, f"{said}. No reservation is possible here: Lambda keeps {UNRESERVED_MINIMUM} "
                             f"executions unreserved and this account has {total} (new accounts get a reduced "
                             f"quota, raised with use or on request: {QUOTA_DOCS}); leave DecisionConcurrency at 0")


def aws_checklist(cloud, stack_name: str | None = None, email: str | None = None) -> list:
    """The AWS target's checks: account, region, trail, e-mail, permissions, Lambda concurrency."""
    checks = check_aws_credentials(cloud)
    if not all(c.ok or c.warning for c in checks):
        return checks  # without credentials nothing else can be asked
    return checks + [check_trail(cloud), check_email(cloud, stack_name, email),
                     check_permissions(cloud, stack_name or "security-orchestrator"), check_lambda_concurrency(cloud)]


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


def check_setup(target: str = "local", endpoint: str | None = None, tools=("sam",), stack_name: str | None = None,
                email: str | None = None) -> SetupReport:
    """Every check for `target` (the AWS checklist on AWS); display the result in a notebook, or print it."""
    cloud = connect(target, endpoint)
    report = SetupReport(target)
    if cloud.is_local:
        report.checks.append(check_local_cloud(cloud.endpoint))
    else:
        report.checks.extend(aws_checklist(cloud, stack_name, email))
    report.checks.extend(check_tools(tools))
    problems = report.problems()
    progress.record("00_setup_check", "setup", "ok" if report.ok else "failed",
                    "; ".join(f"{c.name}: {c.message}" for c in problems) or None)
    return report
