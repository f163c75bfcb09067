"""Clean-up helpers for notebook 08 (the stack, policies and users: see workshop.aws.stack and iam_changes).

    stop_running_executions(cloud, stack_name)
    remove_leftovers(cloud, stack_name)     # what the stack's deletion leaves behind, removed or listed

What deleting the stack does not remove, and what happens to it here:

* the functions' log groups of an older version of the stack (made by Lambda
  itself, outside the stack; the template now owns them and sets their
  retention): `/aws/lambda/<stack name>-*`, deleted;
* the artifacts `sam deploy --s3-prefix <stack name>` uploaded:
  - to the account owner's bucket `<stack name>-artifacts-<account id>`
    (policies/deployer-role.yaml; `workshop deploy` uses it when it exists):
    listed, never deleted. Deleting objects is among the actions the
    orchestrator restricts by default, so no learner policy grants it (the
    orchestrator's scan would take that policy out of force); the owner
    empties the bucket;
  - to SAM's managed bucket (`--resolve-s3`, an account without that bucket):
    every version and delete marker under `<stack name>/`
    (`ListObjectVersions`), deleted by version id. The bucket is versioned: a
    delete without a version id only adds a delete marker and the object stays
    (and is billed): https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeletingObjectVersions.html.
    Refused (a caller holding only the learner policies), they are listed;
* SAM's managed stack `aws-sam-cli-managed-default` and its bucket: shared by
  every SAM deploy of the account and region, so listed with the commands
  that remove them, never deleted;
* the README's `aws iam create-policy --policy-name my-bad-policy` (from a
  terminal, outside the workshop's `workshop-` names) and a CloudTrail trail
  named `workshop-trail` (notebook 00's command): listed with the commands;
* a trail's KMS key: a trail made in the CloudTrail console may encrypt its
  log files with a new customer managed key, which costs $1.00 a month while
  it exists (https://aws.amazon.com/kms/pricing/): listed, with its trail and
  the command that schedules its deletion (after the trail is gone).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from workshop.aws.executions import list_executions
from workshop.aws.guardrails import refused_action, refused_by_guardrails
from workshop.display.html import TEXT_CELL

SAM_MANAGED_STACK = "aws-sam-cli-managed-default"
README_POLICY = "my-bad-policy"
WORKSHOP_TRAIL = "workshop-trail"
KMS_KEY_MONTHLY_USD = 1.00  # a customer managed key, prorated by the hour (https://aws.amazon.com/kms/pricing/)


def stop_running_executions(cloud, stack_name: str) -> str:
    """Stop every RUNNING execution of the stack's state machine (pending approvals die with them)."""
    try:
        outputs = cloud.stack_outputs(stack_name)
    except Exception as exc:
        return f"Nothing to stop: {exc}"
    sfn = cloud.client("stepfunctions")
    running = list_executions(sfn, outputs["StateMachineArn"], status="RUNNING")
    stopped = 0
    for execution in running:
        try:
            sfn.stop_execution(executionArn=execution["executionArn"], error="WorkshopCleanup",
                               cause="Stopped by notebooks/08_cleanup.ipynb")
        except ClientError as exc:
            if not refused_by_guardrails(exc):
                raise
            return (f"Stopped {stopped} of {len(running)} running execution(s). The account's guardrails keep "
                    f"{refused_action(exc, 'states:StopExecution')} for the stack's own roles and break-glass: the "
                    "others wait for a decision until their approval time limit ends them, unless break-glass stops "
                    "them or deletes the stack.")
        stopped += 1
    return f"Stopped {stopped} running execution(s)."


def clear_mailbox(cloud) -> str:
    """Empty the local cloud's mailbox (on AWS your inbox is yours to tidy)."""
    if not cloud.is_local:
        return "On AWS: delete the workshop's e-mails from your inbox if you like."
    try:
        from workshop.localcloud import clear_mailbox as clear
    except ImportError:
        return "This local cloud has no mailbox to clear."
    clear(cloud.endpoint)
    return "The local mailbox is empty."


@dataclass
class Leftovers:
    """What the clean-up removed, and what it left for you with the command that removes it."""

    removed: list = field(default_factory=list)
    listed: list = field(default_factory=list)  # (what, why it stays, command)

    def __repr__(self) -> str:
        lines = [f"Removed: {item}" for item in self.removed] or ["Nothing else to remove."]
        for what, why, command in self.listed:
            lines.append(f"Left: {what} ({why}). To remove it: {command}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        removed = "".join(f"<li>{html.escape(item)}</li>" for item in self.removed) or "<li>nothing else</li>"
        listed = "".join(f"<tr><td {TEXT_CELL}>{html.escape(what)}</td><td {TEXT_CELL}>{html.escape(why)}</td>"
                         f"<td {TEXT_CELL}><code>{html.escape(command)}</code></td></tr>"
                         for what, why, command in self.listed)
        table = (f"<p>Left in place (remove them yourself if nothing else uses them):</p><table><thead><tr>"
                 f"<th {TEXT_CELL}>what</th><th {TEXT_CELL}>why it stays</th><th {TEXT_CELL}>command</th></tr>"
                 f"</thead><tbody>{listed}</tbody></table>"
                 if self.listed else "<p>Nothing else is left.</p>")
        return f"<p>Removed:</p><ul>{removed}</ul>{table}"


def _delete_old_log_groups(cloud, stack_name: str, leftovers: Leftovers) -> None:
    logs = cloud.client("logs")
    prefix = f"/aws/lambda/{stack_name}-"
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        for group in page["logGroups"]:
            logs.delete_log_group(logGroupName=group["logGroupName"])
            leftovers.removed.append(f"log group {group['logGroupName']}")


def _sam_bucket(cloud) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stack = cloud.client("cloudformation").describe_stacks(StackName=SAM_MANAGED_STACK)["Stacks"][0]
    except (BotoCoreError, ClientError):
        return None
    return next((o["OutputValue"] for o in stack.get("Outputs") or [] if o["OutputKey"] == "SourceBucket"), None)


def _owners_bucket(cloud, stack_name: str) -> str | None:
    from workshop.aws.deploy import DeployError, artifacts_bucket

    try:
        return artifacts_bucket(cloud, stack_name)
    except DeployError:  # not this account's, or not readable: nothing of the workshop's can be in it
        return None


def _owners_artifacts(cloud, bucket: str, stack_name: str, leftovers: Leftovers) -> None:
    """The stack's artifacts in the account owner's bucket: listed with the owner's way to remove them."""
    keys = 0
    for page in cloud.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{stack_name}/"):
        keys += len(page.get("Contents") or [])
    if not keys:
        return
    why = ("the account owner's bucket (policies/deployer-role.yaml): deleting objects is an action the orchestrator "
           "restricts, so the learner policies do not grant it")
    if cloud.is_local:
        command = "nothing to run: the local cloud keeps nothing once it stops"
    else:
        command = (f"as the account owner, S3 console -> {bucket} -> Show versions -> select {stack_name}/ -> Delete "
                   "(the bucket is versioned: every version must go); they cost cents a month if left")
    leftovers.listed.append((f"{keys} artifact(s) of {stack_name} in s3://{bucket}/{stack_name}/", why, command))


def _delete_artifacts(cloud, bucket: str, stack_name: str, leftovers: Leftovers) -> None:
    """Every version and delete marker under `<stack name>/`: deleted by version id, so nothing stays."""
    s3 = cloud.client("s3")
    versions = set()
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=f"{stack_name}/"):
            for item in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
                s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
                versions.add((item["Key"], item["VersionId"]))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("AccessDenied", "403"):
            raise
        leftovers.listed.append((
            f"the artifacts of {stack_name} in s3://{bucket}/{stack_name}/",
            "your policies do not let you delete them (deleting objects is an action the orchestrator restricts)",
            f"as someone who may: S3 console -> {bucket} -> Show versions -> select {stack_name}/ -> Delete"))
    if versions:
        keys = len({key for key, _ in versions})
        leftovers.removed.append(f"{keys} artifact(s) of {stack_name} in s3://{bucket}/{stack_name}/ "
                                 f"({len(versions)} version(s) and delete marker(s))")


def _trail_keys(cloud, leftovers: Leftovers) -> None:
    """The KMS key each trail encrypts its log files with: a customer managed key bills every month."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        trails = cloud.client("cloudtrail").describe_trails(includeShadowTrails=False)["trailList"]
    except (BotoCoreError, ClientError):
        return
    for trail in trails:
        key = trail.get("KmsKeyId")
        if not key:
            continue
        name, home = trail.get("Name", "?"), trail.get("HomeRegion") or cloud.region
        leftovers.listed.append((
            f"the KMS key {key} of the CloudTrail trail {name}",
            f"a customer managed key costs ${KMS_KEY_MONTHLY_USD:.2f} a month while it exists "
            "(https://aws.amazon.com/kms/pricing/); if you made this trail for the workshop, neither is needed "
            "any more",
            f"aws cloudtrail delete-trail --name {name} --region {home} && aws kms schedule-key-deletion "
            f"--key-id {key} --pending-window-in-days 7 --region {key.split(':')[3] if key.count(':') >= 5 else home}"))


def _exists(call, **kwargs) -> bool:
    from botocore.exceptions import ClientError

    try:
        call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchEntity", "TrailNotFoundException"):
            return False
        raise
    return True


def remove_leftovers(cloud, stack_name: str) -> Leftovers:
    """After the stack is deleted: remove what was the workshop's alone, list what may be shared."""
    leftovers = Leftovers()
    region = f"--region {cloud.region}"
    _delete_old_log_groups(cloud, stack_name, leftovers)
    owners = _owners_bucket(cloud, stack_name)
    if owners:
        _owners_artifacts(cloud, owners, stack_name, leftovers)
    bucket = _sam_bucket(cloud)
    if bucket:
        _delete_artifacts(cloud, bucket, stack_name, leftovers)
        if cloud.is_local:  # no console, and an `aws` command without the local endpoint would reach AWS
            leftovers.listed.append((
                f"SAM's managed stack {SAM_MANAGED_STACK} and its bucket {bucket}",
                "every `sam deploy --resolve-s3` to this local cloud shares them",
                "nothing to run: the local cloud keeps nothing once it stops"))
        else:
            leftovers.listed.append((
                f"SAM's managed stack {SAM_MANAGED_STACK} and its bucket {bucket}",
                "every `sam deploy --resolve-s3` of this account and region shares them",
                f"empty the bucket (S3 console -> {bucket} -> Empty: it is versioned, every version must go), then "
                f"aws cloudformation delete-stack --stack-name {SAM_MANAGED_STACK} {region}"))
    iam = cloud.client("iam")
    account = cloud.client("sts").get_caller_identity()["Account"]
    readme_policy = f"arn:aws:iam::{account}:policy/{README_POLICY}"
    if _exists(iam.get_policy, PolicyArn=readme_policy):
        leftovers.listed.append((f"the policy {README_POLICY}", "created from a terminal (README), and not named "
                                 "workshop-*: it may be someone else's",
                                 f"aws iam delete-policy --policy-arn {readme_policy}"))
    if _exists(cloud.client("cloudtrail").get_trail_status, Name=WORKSHOP_TRAIL):
        leftovers.listed.append((f"the CloudTrail trail {WORKSHOP_TRAIL}", "notebook 00's command made it; other "
                                 "tools may rely on a trail", f"aws cloudtrail delete-trail --name {WORKSHOP_TRAIL} "
                                 f"{region} (and empty its S3 bucket)"))
    _trail_keys(cloud, leftovers)
    return leftovers
