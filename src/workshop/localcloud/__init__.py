"""The local cloud: one moto server process on 127.0.0.1 with thin extensions.

moto emulates the AWS APIs; each module here mends one gap so that notebook
and test code is plain boto3 and the unmodified `sam` CLI, the only
difference from real AWS being the endpoint URL:

* `lambda_runtime`       runs deployed Python and Node.js handlers in warm worker processes
* `runtimes`             which Lambda runtimes run here, with which SDK; the others refused at create
* `cloudtrail`           IAM write calls -> "AWS API Call via CloudTrail" events
* `eventbridge_targets`  rule targets that are state machines or Lambda functions get their events
* `schedules`            rate() / cron() rules fire on time
* `apigateway`           the deployed stage's URLs invoke Lambda proxy integrations
* `mailbox`              SNS e-mail deliveries land in a readable mailbox
* `cloudformation`       the SAM transform and what `sam deploy` needs
* `stepfunctions`        moto's ASL engine switched on, executions named
* `moto_fixes`           upstream moto bugs mended, one extension point (docs/upstream.md)
* `extensions`           which extension is installed when (heavy ones on first use)
* `aws_like`             the AWS-like mode (`--like-aws`): a trail needed, late events,
                         subscriptions to confirm, TestState's role checked, IAM lagging
* `moto_dispatch`        moto's per-request and per-state costs cut (registered in moto_fixes)
* `heap`                 the surviving heap frozen when quiet: no full garbage collection mid-burst
* `server`               wiring (one WSGI app, one port), start / stop

Start it with `workshop local up` or, from Python,
`with LocalCloud() as cloud: ... cloud.endpoint ...`.
"""

DEFAULT_PORT = 4566
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


def __getattr__(name):  # lazy: `import workshop.localcloud` must not pull in moto
    if name == "LocalCloud":
        from .server import LocalCloud

        return LocalCloud
    if name == "read_mailbox":
        from .mailbox import read_mailbox

        return read_mailbox
    raise AttributeError(name)
