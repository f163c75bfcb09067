"""The local cloud: one moto server process on 127.0.0.1 with thin extensions.

moto emulates the AWS APIs; the kit mends what it lacks so that notebook and
test code is plain boto3 and the unmodified `sam` CLI, the only difference
from real AWS being the endpoint URL:

* `server/`     the process (start, stop, health), its WSGI app and route
                table, who may talk to it (host, origin, key), the AWS
                protocols it reads, moto's speed patches, and `workshop local ...`
* `services/`   one module or package per gap moto leaves in an AWS service:
                Lambda (warm workers), Step Functions (engine, TestState,
                integrations, Distributed Map), EventBridge (targets,
                schedules), CloudTrail, SNS e-mail (mailbox), API Gateway, CloudFormation
* `seams.py`    every place the kit patches moto, each named with its test and
                its upstream note (docs/upstream.md)
* `aws_like.py` the AWS-like mode (`--like-aws`): a trail needed, late events,
                subscriptions to confirm, TestState's role checked, IAM lagging

Start it with `workshop local up` or, from Python,
`with LocalCloud() as cloud: ... cloud.endpoint ...`. This module is the
kit's way in; importing it does not pull in moto.
"""

from .server.address import ACCOUNT_ID, DEFAULT_PORT, REGION

__all__ = ["ACCOUNT_ID", "DEFAULT_PORT", "REGION", "LocalCloud", "PortInUse", "health", "free_port",
           "port_is_free", "running_local_clouds", "read_mailbox", "clear_mailbox", "Credentials", "CredentialsNotFound"]


def __getattr__(name):  # lazy: `import workshop.localcloud` must not pull in moto
    if name in ("LocalCloud", "PortInUse", "health", "free_port", "port_is_free", "running_local_clouds"):
        from .server import process

        return getattr(process, name)
    if name in ("read_mailbox", "clear_mailbox"):
        from .services import mailbox

        return getattr(mailbox, name)
    if name in ("Credentials", "CredentialsNotFound"):
        from .server import credentials

        return getattr(credentials, name)
    raise AttributeError(name)
