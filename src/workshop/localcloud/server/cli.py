"""`workshop local ...`: run the local cloud.

    workshop local up [--port N]      serve on 127.0.0.1:N (default 4566) until Ctrl-C
    workshop local up --like-aws [--event-delay 20-120] [--iam-lag 2] [--lambda-concurrency-limit 1000]
                                 [--definition-lag 5] [--day-length 86400]
                                      the AWS-like mode (aws_like.py): a trail needed, events late,
                                      subscriptions to confirm, TestState's role checked, IAM lagging,
                                      Lambda's concurrency quota, failed stacks only deletable,
                                      new definitions used after a few seconds
    workshop local up --like-aws --learner-policy FILE...
                                      and the learner is an IAM user holding those policies
                                      (policies/learner-policy*.json): `workshop local env` gives its key
    workshop local up --no-iam        serve every signed request without evaluating IAM policies
                                      (by default every principal but the learner's per-start key is
                                      evaluated as AWS evaluates it)
    workshop local status [--port N]  is one running there?
    workshop local env [--port N]     print `export` lines for its endpoint and key:
                                      eval "$(workshop local env)" and plain aws / sam / boto3 use it
                                      (--admin: the per-start key, when the learner is an IAM user)
    workshop local mailbox [--port N] print the e-mails it delivered
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from .address import DEFAULT_PORT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workshop local", description="The local cloud: moto-based AWS on 127.0.0.1.")
    # `workshop local` alone means `workshop local up`, what a learner most often wants
    sub = parser.add_subparsers(dest="command")
    up = sub.add_parser("up", help="run the local cloud until Ctrl-C")
    up.add_argument("--port", type=int, default=int(os.environ.get("LOCALCLOUD_PORT", DEFAULT_PORT)))
    up.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    up.add_argument("--verbose", action="store_true", help="log requests and Lambda cold starts")
    up.add_argument("--like-aws", action="store_true",
                    help="behave like AWS where it is slower or stricter (see workshop.localcloud.aws_like)")
    up.add_argument("--event-delay", default=None, metavar="MIN-MAX",
                    help="with --like-aws: seconds CloudTrail takes to deliver an event (default 20-120)")
    up.add_argument("--iam-lag", type=float, default=None, metavar="SECONDS",
                    help="with --like-aws: seconds IAM reads answer NoSuchEntity after a creation (default 2)")
    up.add_argument("--lambda-concurrency-limit", type=int, default=None, metavar="N",
                    help="with --like-aws: the account's Lambda concurrency (default 1000; a new account's may "
                         "be 10): reservations that leave under 100 unreserved are refused")
    up.add_argument("--definition-lag", type=float, default=None, metavar="SECONDS",
                    help="with --like-aws: seconds executions still run the previous state machine definition "
                         "after UpdateStateMachine (default 5)")
    up.add_argument("--day-length", type=float, default=None, metavar="SECONDS",
                    help="with --like-aws: real seconds per day on the clock SNS confirmation tokens expire by "
                         "(two days; default 86400)")
    up.add_argument("--learner-policy", nargs="+", default=None, metavar="FILE",
                    help="with --like-aws: the learner is an IAM user holding these policy files")
    up.add_argument("--no-iam", action="store_true",
                    help="do not evaluate IAM policies (by default every principal but the per-start key is)")
    for name, text in (("status", "is a local cloud answering on the port?"),
                       ("env", "print export lines (endpoint, key, region): eval \"$(workshop local env)\""),
                       ("mailbox", "print the e-mails the local cloud delivered (JSON)")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--port", type=int, default=int(os.environ.get("LOCALCLOUD_PORT", DEFAULT_PORT)))
        if name == "env":
            command.add_argument("--admin", action="store_true",
                                 help="the per-start key (the account's administrator), not the learner's user")
    return parser


def _quiet_sam_bucket_policy() -> None:
    """Drop moto's two lines about AWS::S3::BucketPolicy, which only the artifact buckets' stacks use here
    (SAM's own, `--resolve-s3`; the account owner's, policies/deployer-role.yaml): moto does not model
    bucket policies, and nothing local needs one (theirs deny plain HTTP, which the local cloud speaks).
    Every other resource type moto cannot create still warns."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*AWS::S3::BucketPolicy.*", category=UserWarning)

    class DropBucketPolicy(logging.Filter):
        def filter(self, record):
            return "AWS::S3::BucketPolicy" not in record.getMessage()

    logging.getLogger("moto").addFilter(DropBucketPolicy())


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("--port") or argv[0] in ("--verbose", "--no-iam", "--like-aws"):
        argv = ["up", *argv]
    args = _parser().parse_args(argv)
    endpoint = f"http://127.0.0.1:{args.port}"
    if args.command == "up":
        from .process import PortInUse, serve

        from .authentication import RedactCredentials

        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(asctime)s %(name)s %(message)s")
        logging.getLogger("werkzeug").addFilter(RedactCredentials())
        if not args.verbose:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            # samtranslator's metrics notes and the ASL engine's "IsPresent: no such path" are noise here
            logging.getLogger("samtranslator").setLevel(logging.ERROR)
            logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
            _quiet_sam_bucket_policy()
        like_aws = None
        tuned = {"iam_lag": args.iam_lag, "lambda_concurrency_limit": args.lambda_concurrency_limit,
                 "definition_lag": args.definition_lag, "day_length": args.day_length}
        if args.like_aws:
            from ..aws_like import DEFAULT_SETTINGS, Settings, parse_delay

            try:
                like_aws = Settings(
                    event_delay=parse_delay(args.event_delay) if args.event_delay else DEFAULT_SETTINGS.event_delay,
                    **{name: getattr(DEFAULT_SETTINGS, name) if value is None else value
                       for name, value in tuned.items()}, learner_policies=tuple(args.learner_policy or ()))
            except ValueError as exc:
                print(f"workshop local up: {exc}", file=sys.stderr)
                return 2
            if like_aws.learner_policies and args.no_iam:
                print("workshop local up: --learner-policy means nothing with --no-iam (no policy would be "
                      "evaluated): drop one of them", file=sys.stderr)
                return 2
        elif args.event_delay or any(value is not None for value in tuned.values()) or args.learner_policy:
            print("workshop local up: --event-delay, --iam-lag, --lambda-concurrency-limit, --definition-lag, "
                  "--day-length and --learner-policy need --like-aws", file=sys.stderr)
            return 2
        try:
            code = serve(args.port, parent_pid=args.parent_pid, like_aws=like_aws, iam=not args.no_iam)
        except PortInUse as exc:
            print(f"workshop local up: {exc}", file=sys.stderr)
            return 1
        # Executions waiting for a task token live in threads: do not wait for them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if args.command == "status":
        from .process import health

        doc = health(endpoint)
        if doc is None:
            print(f"no local cloud answers at {endpoint}: start it with `make local` (or `workshop local up --port {args.port}`)")
            return 1
        print(json.dumps(doc, indent=2))
        if doc.get("lambda_sandbox") not in (None, "bubblewrap"):
            print(f"WARNING: Lambda functions run without bubblewrap's sandbox: {doc.get('lambda_isolation')}",
                  file=sys.stderr)
        return 0
    if args.command == "env":
        import shlex

        from .credentials import CredentialsNotFound, read

        try:
            key = read(endpoint)
        except CredentialsNotFound as exc:
            print(f"workshop local env: {exc}", file=sys.stderr)
            return 1
        if args.admin:
            key = key.administrator()
        for name, value in key.environment().items():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    if args.command == "mailbox":
        from .credentials import CredentialsNotFound
        from ..services.mailbox import read_mailbox

        try:
            print(json.dumps(read_mailbox(endpoint), indent=2))
        except (OSError, CredentialsNotFound):
            print(f"no local cloud answers at {endpoint}: start it with `make local`", file=sys.stderr)
            return 1
        return 0
    return 2
