"""The stack's template checked before a deploy, and the deployed stack deleted (notebooks 01 and 08).

    from workshop.aws.stack import lint_template, delete_stack, template_resources

Its views (architecture, resources and outputs tables) are `workshop.display.stack`.
"""

from __future__ import annotations

import os
import subprocess  # nosec B404: runs sam as an argument list, never through a shell
import sys

from botocore.exceptions import ClientError

from workshop.aws.deploy import DeployError, sam_command, shown_command
from workshop.aws.guardrails import refused_action, refused_by_guardrails
from workshop.aws.session import project_root
from workshop.waiting import wait_for


def template_resources(template: str = "template.yaml") -> dict:
    """{logical id: type} of the template's Resources, as written (before SAM's transform adds its own)."""
    import yaml

    class TemplateLoader(yaml.SafeLoader):
        """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values: only names and types
        are wanted here."""

    def any_tag(loader, suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_scalar(node)

    TemplateLoader.add_multi_constructor("!", any_tag)
    document = yaml.load((project_root() / template).read_text(), Loader=TemplateLoader)  # nosec B506: a SafeLoader subclass; its only addition reads tags as plain values
    return {name: (body or {}).get("Type", "?") for name, body in (document.get("Resources") or {}).items()}


def delete_stack(cloud, stack_name: str, timeout: float = 120.0) -> str:
    """Delete the stack and wait until it is gone. Returns what happened, in words."""
    cfn = cloud.client("cloudformation")
    try:
        cfn.describe_stacks(StackName=stack_name)
    except Exception:
        return f"The stack {stack_name} is not deployed: nothing to delete."
    try:
        cfn.delete_stack(StackName=stack_name)
    except ClientError as exc:
        if not refused_by_guardrails(exc):
            raise
        return (f"The stack {stack_name} stays: the account's guardrails keep "
                f"{refused_action(exc, 'cloudformation:DeleteStack')} for the stack's own roles and break-glass, "
                f"so that nobody else can take the orchestrator away. Ask whoever holds break-glass to run: "
                f"aws cloudformation delete-stack --stack-name {stack_name} --region {cloud.region}")

    def gone():
        try:
            stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        except Exception:
            return "gone"
        if stack["StackStatus"] == "DELETE_COMPLETE":
            return "gone"
        if stack["StackStatus"] == "DELETE_FAILED":
            raise RuntimeError(f"Deleting {stack_name} failed: {stack.get('StackStatusReason', '')}. "
                               "Look at the stack's events, fix what holds it and run this cell again.")
        return None

    wait_for(gone, what=f"the stack {stack_name} to be deleted", timeout=timeout,
             hint="On AWS a deletion can take a few minutes: run this cell again to keep waiting.")
    return f"The stack {stack_name} is deleted."


def lint_template(template: str = "template.yaml", stream=None) -> str:
    """`sam validate --lint`: the template is valid SAM and passes cfn-lint. Prints the command and its output."""
    stream = stream or sys.stdout
    try:
        command = sam_command("validate", "--lint", "--template-file", template, "--region", "us-east-1")
    except DeployError:
        raise RuntimeError("`sam` is not installed: run `make lab` (it installs aws-sam-cli into the venv).") from None
    stream.write("$ " + shown_command(command) + "\n")
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    # Validation is offline; dummy credentials keep sam from looking for real ones.
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    done = subprocess.run(command, cwd=str(project_root()), env=env,  # nosec B603: sam, no shell
                          capture_output=True, text=True)
    output = (done.stdout + done.stderr).strip()
    stream.write(output + "\n")
    if done.returncode != 0:
        raise RuntimeError(f"`sam validate --lint` found problems (exit {done.returncode}): fix template.yaml "
                           "as the lines above say, then run this cell again.")
    return output
