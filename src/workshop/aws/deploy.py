"""`workshop deploy`: `sam build` + `sam deploy`, to the local cloud or to AWS.

The same two commands run for both targets, always in us-east-1 (`--region`
and AWS_REGION, whatever the profile says: a region elsewhere is a warning,
not a stop); `--target local` only adds `AWS_ENDPOINT_URL` and the local
cloud's key, `--target aws` removes any configured endpoint URL (see
`TargetSession.sam_environment`). Artifacts go under the prefix `<stack
name>/`, so the clean-up can find them, in the account owner's bucket
`<stack name>-artifacts-<account id>` when it exists (`--s3-bucket`;
policies/deployer-role.yaml makes it), else in SAM's managed bucket
(`--resolve-s3`: the local cloud's administrator, an account of your own).
A learner never makes or configures a bucket: that takes actions the
orchestrator restricts by default (s3:DeleteBucket, s3:PutBucketPolicy...),
and its scan would take such a learner policy out of force. On AWS,
`EmailAddress` is required (a real address: example.com and
the other reserved domains receive nothing); left out on an update, the
stack keeps the address it has (sam passes `UsePreviousValue`). After a
deploy to AWS the output says to confirm the SNS subscription. From Python:

    from workshop.aws.deploy import deploy
    outputs = deploy(target="local", endpoint="http://127.0.0.1:4566",
                     stack_name="security-orchestrator",
                     parameters={"EmailAddress": "me@example.com"})
    outputs["ApproveUrl"]

Every failure a learner can hit raises `DeployError` with what happened and
what to do next (the CLI prints it and exits 1): the local cloud not running,
`sam` missing, AWS credentials or region wrong, a failed stack (its failing
resource and reason, from the stack events), an e-mail address that
cannot receive the approval requests.

CloudFormation deploys as a service role when there is one (`sam deploy
--role-arn`): the role given (`role_arn=`, `--role-arn`), else the account's `<stack name>-deployer` role if
it exists (policies/deployer-role.yaml, which an account owner deploys once,
and which the local cloud's AWS-like mode makes at start). Found by its name
so that a learner configures nothing: the learner policy lets a learner pass
only that role, and only to CloudFormation, so the stack's functions, roles,
topic, rule, table, secret and key change only through it. Without one (the
local cloud's administrator, an account of your own) sam deploys as you.

A stack whose first deploy failed ends in `ROLLBACK_COMPLETE`, and one whose
rollback or deletion failed in `ROLLBACK_FAILED` / `DELETE_FAILED`: in those
states CloudFormation can only delete it, and `sam deploy` would fail again
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-describing-stacks.html,
stack status codes). `FailedStack` says so on one screen, with the failing
resources' reasons from the stack events; `replace_failed=True`
(`workshop deploy --replace-failed`) deletes such a stack and deploys it anew.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess  # nosec B404: runs sam, the local cloud and Lambda workers as argument lists, never through a shell
import sys
import threading
from pathlib import Path

from workshop import progress
from workshop.aws.session import DEFAULT_ENDPOINT, REGION, checked_endpoint, connect
from workshop.failures import LocalCloudNotAnswering, WorkshopError

DEFAULT_STACK_NAME = "security-orchestrator"
DEFAULT_BUILD_DIR = ".aws-sam/build"  # sam's own default: its build.toml goes beside it, in .aws-sam
# deploy() parameter name -> template parameter
PARAMETER_NAMES = {"email": "EmailAddress", "restricted_actions": "RestrictedActions",
                   "approval_timeout": "ApprovalTimeoutSeconds", "decision_concurrency": "DecisionConcurrency",
                   "admin": "AdminPrincipalArns"}
# Stack statuses in which CloudFormation can only delete the stack (stack status codes page).
ONLY_DELETABLE = {
    "ROLLBACK_COMPLETE": "its first deploy failed and CloudFormation rolled it back",
    "ROLLBACK_FAILED": "its first deploy failed and so did the rollback",
    "DELETE_FAILED": "deleting it failed",
}
# A stack event that starts an operation: the failures after it are the latest operation's.
OPERATION_STARTS = ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "IMPORT_IN_PROGRESS")
CANCELLED = "Resource creation cancelled"  # resources stopped because another one failed
# What a failure reason means for this stack, and the fix.
KNOWN_CAUSES = (
    ("UnreservedConcurrentExecution",
     "Your account's Lambda concurrency leaves no room for DecisionConcurrency (Lambda keeps 100 executions "
     "unreserved, and new accounts get a small quota): deploy with DecisionConcurrency=0, the default, which "
     "reserves nothing; notebook 00 says what a reservation would need here."),
)
# RFC 2606 / RFC 6761: names reserved for examples and tests; no mailbox behind them.
_RESERVED_MAIL_DOMAIN = re.compile(r"(^|\.)(example\.(com|net|org)|[^.]+\.(example|invalid|test|localhost))$|"
                                   r"^(example|invalid|test|localhost)$", re.IGNORECASE)
EMAIL_VARIABLE = "WORKSHOP_EMAIL"
# A class's one `sam build` output, made by `make class` for every learner (forty builds of the same
# functions at the same minute would only load the class's server).
SHARED_BUILD_VARIABLE = "WORKSHOP_SHARED_BUILD"
DEPLOYER_ROLE_SUFFIX = "-deployer"  # policies/deployer-role.yaml names it for the stack
ARTIFACTS_BUCKET_INFIX = "-artifacts-"  # policies/deployer-role.yaml: <stack name>-artifacts-<account id>
_NO_BUCKET = ("404", "NoSuchBucket", "NotFound")
_REFUSED = ("403", "AccessDenied", "Forbidden")


class DeployError(WorkshopError):
    """A deploy failed; the message says what happened and what to do."""


def project_root() -> Path:
    """The checkout holding template.yaml (this file lives in src/workshop/aws/)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "template.yaml").is_file():
            return parent
    return Path.cwd()


def find_tool(name: str) -> str | None:
    """A command beside this Python (the venv's bin/) or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def sam_command(*arguments: str) -> list[str]:
    """The argv of `sam ARGUMENTS...` as the kit runs it (workshop.aws.sam_cli says why not the `sam` script)."""
    from workshop.aws import sam_cli

    start = sam_cli.invocation(find_tool("sam"))
    if not start:
        raise _no_sam()
    return [*start, *arguments]


def shown_command(command: list[str]) -> str:
    """A command as the learner would type it: `sam ...`, however the kit starts sam."""
    from workshop.aws import sam_cli

    if command[1:3] == ["-c", sam_cli.ENTRY]:
        command = ["sam", *command[3:]]
    elif command and Path(command[0]).name == "sam":
        command = ["sam", *command[1:]]
    return " ".join(command)


def _no_sam() -> DeployError:
    return DeployError("the `sam` command (AWS SAM CLI) is not installed: install the kit's dependencies "
                       "(`pip install -e .` or `make workshop`), or see "
                       "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/"
                       "install-sam-cli.html")


def check_local_cloud(endpoint: str) -> None:
    from workshop.failures import other_local_cloud
    from workshop.localcloud import health

    if health(endpoint) is None:
        raise DeployError(str(LocalCloudNotAnswering(endpoint, elsewhere=other_local_cloud(endpoint))))


def region_warning(configured: str | None) -> str | None:
    """What to say when the learner's configuration names another region (the kit still uses us-east-1)."""
    if configured == REGION:
        return None
    return (f"Note: your AWS configuration says region {configured or '(none)'}; the workshop deploys to and calls "
            f"{REGION} only (IAM's CloudTrail events reach EventBridge only there), so nothing to change here. "
            f"For your own `aws` commands add `--region {REGION}`.")


def check_aws(cloud, stream=None) -> str:
    """The account id, after checking the credentials; a region elsewhere is only a note (the kit pins us-east-1)."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    note = region_warning(cloud.configured_region())
    if note and stream is not None:
        stream.write(note + "\n")
    try:
        identity = cloud.client("sts").get_caller_identity()
    except NoCredentialsError:
        raise DeployError("no AWS credentials found: run `aws configure` (or `aws sso login`), "
                          "or deploy to the local cloud with --target local.") from None
    except EndpointConnectionError as exc:
        raise DeployError(f"AWS could not be reached ({exc}): check your network or proxy, "
                          "or deploy to the local cloud with --target local.") from None
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"your AWS credentials were refused ({exc}): refresh them "
                          "(`aws sso login` or new access keys), or deploy with --target local.") from None
    return identity["Account"]


# What a learner needs of sam's output in a notebook: the outcome of each command, and where the deploy goes
# (the kit's own lines between two commands); the rest goes to a log file.
_OUTCOME = re.compile(r"^\s*(Build Succeeded|Build Failed|Successfully created/updated stack|No changes to deploy|"
                      r"Error:|Failed to create|.*_FAILED\s|Artifacts go to |CloudFormation deploys as )")
LOG_DIR = Path("build") / "logs"


class NotebookLog:
    """sam's output in a notebook: each command and its outcome shown, every line kept in a log file.

    In a terminal (`workshop deploy`) sam's output streams as it comes; in a notebook its hundreds of lines
    would bury what matters, so they go to build/logs/sam-<command>.log and the notebook says where.
    """

    def __init__(self, shown, folder: Path):
        self.shown, self.folder = shown, folder
        self.log = None
        self.lines = 0
        self.path = None

    def write(self, text: str) -> None:
        if text.startswith("$ "):
            self._close()
            command = text.split()[2] if len(text.split()) > 2 else "command"
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path = self.folder / f"sam-{command}.log"
            self.log = self.path.open("w")
            self.shown.write(text)
            return
        if self.log is None:
            self.shown.write(text)
            return
        self.log.write(text)
        self.lines += text.count("\n")
        for line in text.splitlines():
            if _OUTCOME.match(line):
                self.shown.write(line.strip() + "\n")

    def flush(self) -> None:
        if self.log is not None:
            self.log.flush()
        self.shown.flush()

    def _close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.shown.write(f"  ({self.lines} lines of output in {self.path})\n")
            self.log, self.lines = None, 0

    def close(self) -> None:
        self._close()
        self.shown.flush()


def _in_a_notebook(stream) -> bool:
    return type(stream).__module__.startswith("ipykernel")


def _run(command: list[str], env: dict, cwd: Path, stream, endpoint: str | None = None) -> int:
    """Run `command`, streaming its output. With a local `endpoint`, stop it as soon as the local cloud is
    gone (sam would otherwise retry for half a minute in silence) and say so."""
    shown = shown_command(command)
    stream.write("$ " + shown + "\n")
    stream.flush()
    proc = subprocess.Popen(command, env=env, cwd=str(cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)  # nosec B603: the kit's own sam command
    gone = threading.Event()
    if endpoint:
        threading.Thread(target=_watch_local_cloud, args=(endpoint, proc, gone), daemon=True).start()
    tail = []
    for line in proc.stdout:
        stream.write(line)
        tail = (tail + [line])[-40:]
    stream.flush()
    code = proc.wait()
    _run.tail = "".join(tail)
    if code != 0 and isinstance(stream, NotebookLog):  # what went wrong is in the last lines: show them
        stream.shown.write("".join(tail))
    if gone.is_set():
        raise DeployError(str(LocalCloudNotAnswering(endpoint, f"it stopped during `{' '.join(shown.split()[:2])}`")))
    return code


def _watch_local_cloud(endpoint: str, proc, gone: threading.Event, every: float = 1.0) -> None:
    from workshop.localcloud import health

    misses = 0
    while proc.poll() is None:
        misses = 0 if health(endpoint, timeout=2) is not None else misses + 1
        if misses >= 2:
            gone.set()
            proc.terminate()
            return
        threading.Event().wait(every)


def build(*, build_dir: str | Path = DEFAULT_BUILD_DIR, template: str | Path = "template.yaml",
          project_dir: str | Path | None = None, env: dict | None = None, stream=None) -> Path:
    """`sam build` into build_dir (relative to the project); returns the built template's path."""
    root = Path(project_dir) if project_dir else project_root()
    build_path = (root / build_dir).resolve()
    env = dict(os.environ if env is None else env)
    env["SAM_CLI_TELEMETRY"] = "0"
    code = _run(sam_command("build", "--template-file", str(root / template), "--build-dir", str(build_path)),
                env, root, stream or sys.stdout)
    if code != 0:
        raise DeployError(f"`sam build` failed (exit {code}); its output is above. "
                          "A Python syntax error in src/functions/ or a template error are the usual causes.")
    return build_path / "template.yaml"


def stack_outputs(stack_name: str, cloud) -> dict:
    stack = cloud.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def deployed_parameter(cloud, stack_name: str, name: str) -> str | None:
    """A parameter's value in the deployed stack, or None (no stack, no such parameter)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stack = cloud.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    except (BotoCoreError, ClientError):
        return None
    return next((p.get("ParameterValue") for p in stack.get("Parameters") or [] if p["ParameterKey"] == name), None)


def is_placeholder_address(address: str | None) -> bool:
    """No mail can reach it: empty, not an address, or a domain reserved for examples (RFC 2606)."""
    if not address or "@" not in address:
        return True
    return bool(_RESERVED_MAIL_DOMAIN.search(address.rsplit("@", 1)[1].strip()))


def check_email(cloud, stack_name: str, parameters: dict) -> None:
    """On AWS the approval requests must reach a real inbox: DeployError says how to give one."""
    given = parameters.get("EmailAddress")
    how = (f"set {EMAIL_VARIABLE}=you@your-domain before starting JupyterLab (the notebooks read it), or "
           "deploy_parameters = {\"EmailAddress\": \"you@your-domain\"} in notebook 01, or "
           "`workshop deploy --target aws --email you@your-domain`")
    if given:
        if is_placeholder_address(given):
            raise DeployError(f"EmailAddress {given!r} cannot receive mail (a domain reserved for examples): "
                              f"the approval requests would be lost. {how[0].upper()}{how[1:]}.")
        return
    kept = deployed_parameter(cloud, stack_name, "EmailAddress")
    if kept and not is_placeholder_address(kept):
        return  # sam keeps the deployed address (UsePreviousValue) when none is given
    raise DeployError(f"EmailAddress is required on AWS: the approval requests are e-mailed there. {how[0].upper()}"
                      f"{how[1:]}.")


def admin_patterns(caller_arn: str) -> list[str]:
    """The AdminPrincipalArns entries that name the caller as IAM names the principal: an assumed role's
    session is its role (with any path: the session ARN drops it), a user is its user ARN."""
    found = re.fullmatch(r"arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([^/]+)/.+", caller_arn)
    if found:
        partition, account, role = found.groups()
        return [f"arn:{partition}:iam::{account}:role/{role}", f"arn:{partition}:iam::{account}:role/*/{role}"]
    if re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:(user|role)/.+", caller_arn):
        return [caller_arn]
    return []  # the root: never judged by the scan


def keep_the_deployer_an_admin(cloud, stack_name: str, parameters: dict, stream) -> None:
    """The reconciliation scan takes out of force every risky permission no human approved, except
    AdminPrincipalArns': with none given (and none deployed), whoever deploys is named, so the first scan
    never takes the deployer's own administrator rights away. Said in the output, with how to change it."""
    if parameters.get("AdminPrincipalArns") or deployed_parameter(cloud, stack_name, "AdminPrincipalArns"):
        return
    caller = cloud.client("sts").get_caller_identity()["Arn"]
    patterns = admin_patterns(caller)
    if not patterns:
        return
    parameters["AdminPrincipalArns"] = ",".join(patterns)
    stream.write(f"AdminPrincipalArns: none given, so the stack names you ({patterns[0]}) as its administrator: "
                 "the reconciliation scan leaves your permissions alone and you may subscribe to its topic. "
                 "Name your other administrators with deploy_parameters = {\"AdminPrincipalArns\": \"arn1,arn2\"} "
                 "(or `workshop deploy --admin ...`).\n")


def deployer_role(cloud, stack_name: str, given: str | None = None) -> str | None:
    """The service role CloudFormation deploys the stack as: the one given, else the account's
    `<stack name>-deployer` if it exists, else None (sam deploys as the caller)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if given:
        if not re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+", given):
            raise DeployError(f"the deploy role {given!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME): "
                              "fix --role-arn.")
        return given
    try:
        return cloud.client("iam").get_role(RoleName=stack_name + DEPLOYER_ROLE_SUFFIX)["Role"]["Arn"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchEntity", "AccessDenied", "AccessDeniedException"):
            return None  # no deployer role here (or not yours to see): sam deploys as you
        raise DeployError(f"could not look up the deployer role {stack_name}{DEPLOYER_ROLE_SUFFIX} ({exc}).") from None
    except BotoCoreError as exc:
        raise DeployError(f"could not look up the deployer role {stack_name}{DEPLOYER_ROLE_SUFFIX} ({exc}).") from None


def artifacts_bucket_name(stack_name: str, account_id: str) -> str:
    return f"{stack_name}{ARTIFACTS_BUCKET_INFIX}{account_id}"


def artifacts_bucket(cloud, stack_name: str) -> str | None:
    """The account owner's bucket for the stack's artifacts (policies/deployer-role.yaml), or None when the
    account has none (sam then uses its managed bucket). DeployError when S3 refuses to say: the name is
    another account's (bucket names are global), or your policies do not let you look at it."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        account = cloud.client("sts").get_caller_identity()["Account"]
        name = artifacts_bucket_name(stack_name, account)
        # ExpectedBucketOwner: a bucket of that name in another account is refused, never written to
        cloud.client("s3").head_bucket(Bucket=name, ExpectedBucketOwner=account)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in _NO_BUCKET:
            return None
        if code in _REFUSED:
            raise DeployError(
                f"the artifacts bucket {name} cannot be used (S3 answered {code}): another account owns that name, "
                "or your policies do not let you look at it (the learner policies may look only at their own "
                "account's bucket, once it exists). Ask the account owner to deploy policies/deployer-role.yaml, "
                "which makes the bucket, and to attach the current policies/learner-policy*.json (docs/aws.md).") \
                from None
        raise DeployError(f"could not look for the artifacts bucket of {stack_name} ({exc}).") from None
    except BotoCoreError as exc:
        raise DeployError(f"could not look for the artifacts bucket of {stack_name} ({exc}).") from None
    return name


def confirm_subscription_note(address: str | None) -> str:
    to = f" to {address}" if address else ""
    return (f"Confirm the SNS subscription now: AWS sent \"AWS Notification - Subscription Confirmation\"{to}; "
            "open it and click \"Confirm subscription\". Until then no approval e-mail is delivered "
            "(the approval panel in notebook 04 works either way).")


def failure_reasons(stack_name: str, cloud) -> list[str]:
    """"Resource (Type): reason" for each failed resource of the latest operation (the stack events, newest
    first, back to the event that started it); resources only cancelled because another failed come last."""
    from botocore.exceptions import BotoCoreError, ClientError

    failed, cancelled = [], []
    try:
        pages = cloud.client("cloudformation").get_paginator("describe_stack_events").paginate(StackName=stack_name)
        for page in pages:
            for event in page["StackEvents"]:
                is_stack = event.get("ResourceType") == "AWS::CloudFormation::Stack"
                if is_stack and event.get("ResourceStatus") in OPERATION_STARTS:
                    return failed + cancelled
                if is_stack or not event.get("ResourceStatus", "").endswith("_FAILED"):
                    continue
                reason = event.get("ResourceStatusReason") or "no reason given"
                line = f"{event['LogicalResourceId']} ({event.get('ResourceType', '?')}): {reason}"
                (cancelled if reason.startswith(CANCELLED) else failed).append(line)
    except (BotoCoreError, ClientError):
        pass
    return failed + cancelled


def stack_status(cloud, stack_name: str) -> str | None:
    """The stack's status, or None when there is no such stack."""
    from botocore.exceptions import ClientError

    try:
        return cloud.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise DeployError(f"could not read the stack {stack_name} ({exc}): check your permissions "
                          "(cloudformation:DescribeStacks, in policies/learner-policy.json).") from None


def _replace_command(target: str) -> str:
    return (f"`workshop deploy --target {target} --replace-failed` (notebook 01: set `replace_failed = True` in its "
            "parameters cell)")


class FailedStack(DeployError):
    """The stack is in a state CloudFormation can only delete; the message says why it failed and what to do."""

    def __init__(self, stack_name: str, status: str, reasons: list, target: str):
        self.stack_name, self.status, self.reasons = stack_name, status, list(reasons)
        lines = [f"The stack {stack_name} is {status}: {ONLY_DELETABLE[status]}, so CloudFormation can only "
                 "delete it; deploying again cannot update it."]
        if reasons:
            lines.append("Why (from the stack events): " + reasons[0])
            lines += [f"  also: {reason}" for reason in reasons[1:3]]
        hints = [hint for marker, hint in KNOWN_CAUSES if any(marker in reason for reason in reasons)]
        lines += hints
        if status == "DELETE_FAILED":
            lines.append(f"Fix what holds the resources above, then run {_replace_command(target)}: it deletes the "
                         "stack again and deploys it anew.")
        else:
            lines.append(f"Fix the cause, then run {_replace_command(target)}: it deletes the failed stack and "
                         "deploys it anew.")
        super().__init__("\n".join(lines))


def replace_failed_stack(cloud, stack_name: str, status: str, stream, timeout: float | None = None) -> None:
    """Delete a stack CloudFormation can only delete, and wait until it is gone (FailedStack if it is not)."""
    from workshop.waiting import poll_intervals, wait_for

    stream.write(f"The stack {stack_name} is {status} ({ONLY_DELETABLE[status]}): deleting it before deploying "
                 "again (--replace-failed).\n")
    cfn = cloud.client("cloudformation")
    cfn.delete_stack(StackName=stack_name)

    def gone():
        now = stack_status(cloud, stack_name)
        if now == "DELETE_FAILED":
            raise FailedStack(stack_name, now, failure_reasons(stack_name, cloud), cloud.target)
        return now in (None, "DELETE_COMPLETE")

    wait_for(gone, what=f"the failed stack {stack_name} to be deleted",
             timeout=timeout or (60.0 if cloud.is_local else 900.0), **poll_intervals(cloud),
             hint="A deletion can take a few minutes on AWS: run the deploy again to keep waiting.")
    stream.write(f"The failed stack {stack_name} is deleted.\n")


def deploy(*, target: str = "local", endpoint: str | None = None, stack_name: str = DEFAULT_STACK_NAME,
           parameters: dict | None = None, build_dir: str | Path = DEFAULT_BUILD_DIR,
           template: str | Path = "template.yaml", project_dir: str | Path | None = None,
           skip_build: bool = False, replace_failed: bool = False, role_arn: str | None = None,
           stream=None) -> dict:
    """sam build + sam deploy; returns the stack outputs (ApiUrl, ApproveUrl, DenyUrl, ...).

    A stack CloudFormation can only delete (ROLLBACK_COMPLETE, ROLLBACK_FAILED, DELETE_FAILED) raises
    `FailedStack`, unless `replace_failed`: then it is deleted first and deployed anew.
    In a notebook (and no `stream` given) each command and its outcome are shown and sam's full output goes to
    build/logs/ (NotebookLog)."""
    root = Path(project_dir) if project_dir else project_root()
    if stream is None and _in_a_notebook(sys.stdout):
        log = NotebookLog(sys.stdout, root / LOG_DIR)
        try:
            return deploy(target=target, endpoint=endpoint, stack_name=stack_name, parameters=parameters,
                          build_dir=build_dir, template=template, project_dir=root, skip_build=skip_build,
                          replace_failed=replace_failed, role_arn=role_arn, stream=log)
        finally:
            log.close()
    try:
        outputs = _deploy(target=target, endpoint=endpoint, stack_name=stack_name, parameters=parameters,
                          build_dir=build_dir, template=template, root=root, skip_build=skip_build,
                          replace_failed=replace_failed, role_arn=role_arn, stream=stream or sys.stdout)
    except DeployError as exc:
        progress.record("01_deploy", "deploy", "failed", str(exc))
        raise
    progress.record("01_deploy", "deploy", "deployed", f"{stack_name}: {len(outputs)} outputs")
    return outputs


def _deploy(*, target, endpoint, stack_name, parameters, build_dir, template, root, skip_build,
            replace_failed, role_arn, stream) -> dict:
    parameters = {k: v for k, v in (parameters or {}).items() if v is not None and v != ""}
    if target == "local":
        endpoint = checked_endpoint(endpoint or os.environ.get("LOCALCLOUD_ENDPOINT") or DEFAULT_ENDPOINT)
        check_local_cloud(endpoint)
        from workshop.localcloud import CredentialsNotFound

        cloud = connect("local", endpoint)
        try:
            env = cloud.sam_environment()
        except CredentialsNotFound as exc:
            raise DeployError(f"{exc} (something answers at {endpoint}, but not a local cloud of yours).") from None
    elif target == "aws":
        cloud = connect("aws")
        check_aws(cloud, stream)
        check_email(cloud, stack_name, parameters)
        keep_the_deployer_an_admin(cloud, stack_name, parameters, stream)
        env = cloud.sam_environment()
    else:
        raise DeployError(f"unknown target {target!r}: use --target local or --target aws")
    env["SAM_CLI_TELEMETRY"] = "0"
    sam_command()  # no sam: say so before anything is built or deployed
    shared = os.environ.get(SHARED_BUILD_VARIABLE)
    if shared and not skip_build and (Path(shared) / "template.yaml").is_file():
        stream.write(f"Using the class's shared build in {shared} (`make class` ran `sam build` once for every "
                     "learner).\n")
        build_dir, skip_build = Path(shared), True
    status = stack_status(cloud, stack_name)
    if status in ONLY_DELETABLE:
        if not replace_failed:
            raise FailedStack(stack_name, status, failure_reasons(stack_name, cloud), target)
        replace_failed_stack(cloud, stack_name, status, stream)
    built = (root / build_dir / "template.yaml").resolve()
    if not skip_build and shutil.which("python3.13") is None:
        # Binder and many laptops lack the Lambda runtime's Python; the functions
        # need no third-party packages, so `sam deploy` can package their folders.
        stream.write("python3.13 (the Lambda runtime) is not installed: deploying the functions from their "
                     "source folders without `sam build` (they need no third-party packages).\n")
        built = (root / template).resolve()
    elif not skip_build or not built.is_file():
        built = build(build_dir=build_dir, template=template, project_dir=root, env=env, stream=stream)
    bucket = artifacts_bucket(cloud, stack_name)
    if bucket:
        stream.write(f"Artifacts go to the account owner's bucket s3://{bucket}/{stack_name}/ "
                     "(policies/deployer-role.yaml).\n")
        where = ["--no-resolve-s3", "--s3-bucket", bucket]  # samconfig.toml's resolve_s3 would clash
    else:
        stream.write(f"Artifacts go to SAM's managed bucket (--resolve-s3) under {stack_name}/: this account has no "
                     f"bucket {artifacts_bucket_name(stack_name, '<account id>')} (policies/deployer-role.yaml "
                     "makes it).\n")
        where = ["--resolve-s3"]
    command = sam_command("deploy", "--template-file", str(built), "--stack-name", stack_name,
                          *where, "--s3-prefix", stack_name, "--capabilities", "CAPABILITY_IAM", "--region", REGION,
                          "--no-confirm-changeset", "--no-fail-on-empty-changeset")
    role = deployer_role(cloud, stack_name, role_arn)
    if role:
        stream.write(f"CloudFormation deploys as the service role {role}.\n")
        command += ["--role-arn", role]
    overrides = [f"{k}={v}" for k, v in parameters.items()]
    if overrides:
        command += ["--parameter-overrides", *overrides]
    code = _run(command, env, root, stream, endpoint=endpoint if target == "local" else None)
    if code != 0:
        reasons = failure_reasons(stack_name, cloud)
        status = stack_status(cloud, stack_name)
        if status in ONLY_DELETABLE:
            raise FailedStack(stack_name, status, reasons, target)
        if reasons:
            raise DeployError(f"the stack {stack_name} failed to deploy:\n  " + "\n  ".join(reasons)
                              + "\nFix the cause and run the deploy again.")
        raise DeployError(f"`sam deploy` failed (exit {code}); its output is above.")
    outputs = stack_outputs(stack_name, cloud)
    if not cloud.is_local:
        stream.write("\n" + confirm_subscription_note(parameters.get("EmailAddress")
                                                      or deployed_parameter(cloud, stack_name, "EmailAddress")) + "\n")
    return outputs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="workshop deploy",
                                     description="sam build + sam deploy to the local cloud or to AWS (us-east-1).")
    parser.add_argument("--target", choices=("local", "aws"), default="local")
    parser.add_argument("--endpoint", default=None, help=f"local cloud URL (default {DEFAULT_ENDPOINT})")
    parser.add_argument("--stack-name", default=DEFAULT_STACK_NAME)
    parser.add_argument("--email", default=os.environ.get(EMAIL_VARIABLE) or None,
                        help=f"where approval requests go (EmailAddress; default ${EMAIL_VARIABLE}); "
                             "required on AWS for a new stack")
    parser.add_argument("--restricted-actions", default=None, help="comma-separated IAM actions")
    parser.add_argument("--approval-timeout", type=int, default=None, help="seconds an approval request waits")
    parser.add_argument("--decision-concurrency", type=int, default=None,
                        help="Lambda executions reserved for the decision endpoint (DecisionConcurrency; default 0, "
                             "none: most new accounts have no room for a reservation)")
    parser.add_argument("--admin", default=None, metavar="ARN,...",
                        help="principal ARNs (wildcards allowed) of your administrators (AdminPrincipalArns; default "
                             "on AWS: you, the deployer)")
    parser.add_argument("--replace-failed", action="store_true",
                        help="a stack whose first deploy (or deletion) failed can only be deleted: delete it and "
                             "deploy it anew")
    parser.add_argument("--role-arn", default=None, metavar="ARN",
                        help="the CloudFormation service role to deploy as (default: the account's <stack name>-deployer "
                             "role if there is one, else you)")
    parser.add_argument("--build-dir", default=DEFAULT_BUILD_DIR)
    parser.add_argument("--no-build", action="store_true",
                        help="skip `sam build`: deploy the functions from their source folders")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    parameters = {"EmailAddress": args.email, "RestrictedActions": args.restricted_actions,
                  "ApprovalTimeoutSeconds": args.approval_timeout, "DecisionConcurrency": args.decision_concurrency,
                  "AdminPrincipalArns": args.admin}
    try:
        outputs = deploy(target=args.target, endpoint=args.endpoint, stack_name=args.stack_name,
                         parameters=parameters, build_dir="." if args.no_build else args.build_dir,
                         skip_build=args.no_build, replace_failed=args.replace_failed, role_arn=args.role_arn)
    except DeployError as exc:
        print(f"\nworkshop deploy: {exc}", file=sys.stderr)
        return 1
    print("\nStack outputs:")
    width = max((len(k) for k in outputs), default=0)
    for key, value in outputs.items():
        print(f"  {key:<{width}}  {value}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
