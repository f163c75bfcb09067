"""Where the local cloud answers, and as which account: fixed values every part of it shares.

One server on 127.0.0.1 (its port chosen at start, 4566 by default), one
account and one home region, and the paths of the kit's own routes beside
AWS's (served by `server/app.py`, guarded by `server/access.py`).
"""

HOST = "127.0.0.1"
DEFAULT_PORT = 4566
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

KIT_PREFIX = "/_localcloud/"
HEALTH_PATH = KIT_PREFIX + "health"
MAILBOX_PATH = KIT_PREFIX + "mailbox"
SNS_CONFIRMATION_PATH = KIT_PREFIX + "sns/confirmation"  # the AWS-like mode's confirmation link
EXECUTE_API_PREFIX = KIT_PREFIX + "execute-api/"  # + <api id>/<stage>/<path>: API Gateway stages
LAMBDA_URL_PREFIX = KIT_PREFIX + "lambda-url/"  # + <url id>/<path>: Lambda function URLs


def endpoint_for(port: int) -> str:
    return f"http://{HOST}:{port}"
