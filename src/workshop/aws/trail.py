"""A CloudTrail trail for the workshop, made the way AWS accepts it: `workshop trail create`.

    from workshop.aws.trail import create_trail, bucket_policy
    made = create_trail(cloud)                 # bucket + CloudTrail's bucket policy + multi-Region trail, logging
    print(made)                                # what was made, and the commands that remove it
    bucket_policy("my-bucket", "123456789012", "workshop-trail")   # the policy alone (a dict)

IAM's events reach EventBridge only through a trail that logs, and CloudTrail
refuses to create a trail whose S3 bucket does not let it write there
(`InsufficientS3BucketPolicyException`: "Incorrect S3 bucket policy is
detected for bucket: ..."). The bucket policy is the one AWS's page gives,
with its recommended `aws:SourceArn` condition naming the trail:
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html

On the command line, `workshop trail create` uses the same targets as the
notebooks: your AWS account (`--target aws`, the default), or the AWS-like
local cloud of a rehearsal (`--rehearsal http://127.0.0.1:4566`, or
WORKSHOP_AWS_REHEARSAL; see docs/aws.md). `workshop trail policy --bucket B`
prints the policy only.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from dataclasses import dataclass

from workshop.aws.session import REGION, connect
from workshop.failures import WorkshopError

POLICY_PAGE = "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html"
DEFAULT_TRAIL = "workshop-trail"
SERVICE = "cloudtrail.amazonaws.com"


def trail_arn(account: str, trail: str, region: str = REGION) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{trail}"


def bucket_policy(bucket: str, account: str, trail: str = DEFAULT_TRAIL, region: str = REGION,
                  prefix: str = "") -> dict:
    """CloudTrail's bucket policy for `bucket` (AWS's page, POLICY_PAGE): CloudTrail may read the bucket's ACL and
    write log files under [prefix/]AWSLogs/ACCOUNT/, for this trail only (aws:SourceArn)."""
    source = {"aws:SourceArn": trail_arn(account, trail, region)}
    folder = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AWSCloudTrailAclCheck20150319", "Effect": "Allow", "Principal": {"Service": SERVICE},
             "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{bucket}",
             "Condition": {"StringEquals": source}},
            {"Sid": "AWSCloudTrailWrite20150319", "Effect": "Allow", "Principal": {"Service": SERVICE},
             "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/{folder}AWSLogs/{account}/*",
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **source}}},
        ],
    }


def create_command() -> str:
    """The terminal command that makes a trail on this target (a rehearsal names its local cloud)."""
    import os

    from workshop.aws.session import REHEARSAL

    from workshop.localcloud.server.credentials import kit_command

    rehearsal = os.environ.get(REHEARSAL)
    command = f"{kit_command()} trail create"
    return f"{REHEARSAL}={rehearsal} {command}" if rehearsal else command


@dataclass
class TrailFinding:
    """Does a trail hand IAM's events to EventBridge now? What is wrong, and the fix, when not."""

    ok: bool
    message: str
    fix: str = ""
    unreadable: bool = False  # the trails could not be listed (no permission): a doubt, not a stop
    missing: bool = False     # no trail at all: the bucket policy is what the learner needs next


def _code(exc) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "") or type(exc).__name__


def find_recording_trail(cloud) -> TrailFinding:
    """A trail that hands IAM's write calls to EventBridge, or what is wrong with the ones there are.

    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html: "a CloudTrail
    trail with logging enabled is required". IAM's events are global service events recorded in us-east-1:
    the trail must be multi-Region or have its home in us-east-1, include global service events, log, and
    select management write events.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from workshop.localcloud.aws_like import selects_management_writes

    create = (f"`{create_command()}` makes one: an S3 bucket with CloudTrail's bucket policy ({POLICY_PAGE}; "
              "without it CloudTrail refuses the trail), a multi-Region trail, logging started. Or in the console: "
              "CloudTrail -> Trails -> Create trail. The first copy of management events is free")
    trail_client = cloud.client("cloudtrail")
    try:
        trails = trail_client.describe_trails(includeShadowTrails=True)["trailList"]
    except (BotoCoreError, ClientError) as exc:
        if "AccessDenied" in _code(exc) or _code(exc) in ("UnauthorizedOperation", "AuthorizationError"):
            return TrailFinding(False, f"could not list the trails ({_code(exc)})",
                                "ask your facilitator whether a trail logs management write events in us-east-1 "
                                "(cloudtrail:DescribeTrails is in policies/learner-policy.json)", unreadable=True)
        raise
    problems = []
    for trail in trails:
        label = trail.get("Name") or trail.get("TrailARN")
        arn = trail.get("TrailARN") or label
        home = trail.get("HomeRegion") or REGION
        if not trail.get("IsMultiRegionTrail") and home != REGION:
            problems.append((f"the trail {label} records only {home}; IAM's events are recorded in {REGION}",
                             f"`aws cloudtrail update-trail --name {label} --is-multi-region-trail --region {home}`"))
            continue
        if not trail.get("IncludeGlobalServiceEvents", True):
            problems.append((f"the trail {label} leaves out global service events (IAM's)",
                             f"`aws cloudtrail update-trail --name {label} --include-global-service-events "
                             f"--region {home}`"))
            continue
        try:
            status = trail_client.get_trail_status(Name=arn)
            selectors = trail_client.get_event_selectors(TrailName=arn)
        except (BotoCoreError, ClientError) as exc:
            problems.append((f"the trail {label} could not be read ({_code(exc)})",
                             "ask your facilitator whether it logs management write events"))
            continue
        if not status.get("IsLogging"):
            problems.append((f"the trail {label} is not logging",
                             f"`aws cloudtrail start-logging --name {label} --region {home}`"))
            continue
        if not selects_management_writes(selectors.get("EventSelectors") or [],
                                         selectors.get("AdvancedEventSelectors") or []):
            problems.append((f"the trail {label} does not record management write events",
                             f"`aws cloudtrail put-event-selectors --trail-name {label} --event-selectors "
                             f"'[{{\"ReadWriteType\":\"All\",\"IncludeManagementEvents\":true}}]' --region {home}`"))
            continue
        return TrailFinding(True, f"{label} logs management write events, IAM's included")
    if not problems:
        return TrailFinding(False, "no trail in the account: EventBridge receives IAM's CloudTrail events only "
                                   "through a trail with logging on, so no incident would start", create, missing=True)
    message, fix = problems[0]
    return TrailFinding(False, message + ": EventBridge would not receive IAM's events", fix)


class NoTrailLogging(WorkshopError):
    """On AWS no trail hands IAM's events to EventBridge: no incident can start."""


class TrailNotMade(WorkshopError):
    """The trail could not be made: the message says which step refused and what to do."""


@dataclass
class MadeTrail:
    name: str
    arn: str
    bucket: str
    bucket_created: bool

    def __repr__(self) -> str:
        made = "a new bucket" if self.bucket_created else "the bucket"
        return (f"Trail {self.name} logs IAM's events (multi-Region, management events) into {made} {self.bucket}, "
                f"which has CloudTrail's bucket policy ({POLICY_PAGE}).\nTo remove both later: "
                f"aws cloudtrail delete-trail --name {self.name} --region {REGION} && "
                f"aws s3 rb s3://{self.bucket} --force")


def create_trail(cloud, name: str = DEFAULT_TRAIL, bucket: str | None = None) -> MadeTrail:
    """A bucket (new unless `bucket` names one of yours) with CloudTrail's bucket policy, a multi-Region trail
    into it, and logging started. An existing trail of that name is only started, not changed."""
    from botocore.exceptions import BotoCoreError, ClientError

    account = cloud.client("sts").get_caller_identity()["Account"]
    trails = cloud.client("cloudtrail")
    existing = {t.get("Name"): t for t in trails.describe_trails(includeShadowTrails=False)["trailList"]}
    if name in existing:
        trails.start_logging(Name=name)
        trail = existing[name]
        return MadeTrail(name, trail.get("TrailARN", trail_arn(account, name)), trail.get("S3BucketName", "?"), False)
    s3 = cloud.client("s3")
    created = bucket is None
    bucket = bucket or f"{name}-{account}-{secrets.token_hex(3)}"
    step = "create the bucket"
    try:
        if created:
            s3.create_bucket(Bucket=bucket)  # us-east-1: no LocationConstraint
        step = "put CloudTrail's bucket policy on it"
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy(bucket, account, name)))
        step = "create the trail"
        made = trails.create_trail(Name=name, S3BucketName=bucket, IsMultiRegionTrail=True,
                                   IncludeGlobalServiceEvents=True)
        step = "start logging"
        trails.start_logging(Name=name)
    except (BotoCoreError, ClientError) as exc:
        raise TrailNotMade(f"Could not {step} ({exc}). The bucket policy CloudTrail needs is on {POLICY_PAGE}; "
                           f"the permissions: s3:CreateBucket, s3:PutBucketPolicy, cloudtrail:CreateTrail, "
                           "cloudtrail:StartLogging.") from None
    return MadeTrail(name, made["TrailARN"], bucket, created)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="workshop trail",
                                     description="A CloudTrail trail that hands IAM's events to EventBridge.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="a bucket with CloudTrail's bucket policy, a multi-Region trail, "
                                                "logging started")
    create.add_argument("--name", default=DEFAULT_TRAIL)
    create.add_argument("--bucket", default=None, help="an existing bucket of yours (default: a new one)")
    create.add_argument("--rehearsal", default=None, metavar="URL",
                        help="the AWS-like local cloud of a rehearsal (default $WORKSHOP_AWS_REHEARSAL)")
    policy = commands.add_parser("policy", help="print CloudTrail's bucket policy for a bucket")
    policy.add_argument("--bucket", required=True)
    policy.add_argument("--account", required=True)
    policy.add_argument("--name", default=DEFAULT_TRAIL)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command == "policy":
        print(json.dumps(bucket_policy(args.bucket, args.account, args.name), indent=2))
        print(f"(from {POLICY_PAGE})", file=sys.stderr)
        return 0
    import os

    from workshop.aws.session import REHEARSAL

    if args.rehearsal:
        os.environ[REHEARSAL] = args.rehearsal
    try:
        print(create_trail(connect("aws"), args.name, args.bucket))
    except (WorkshopError, ValueError) as exc:
        print(f"workshop trail: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
