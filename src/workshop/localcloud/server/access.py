"""Who may talk to the local cloud: its own host names, its own origin, its own key.

A server on 127.0.0.1 is not private: every local user can connect to it, a
web page in the learner's browser can send it requests (a form post needs no
CORS permission), and a DNS-rebinding page reaches it under a foreign host
name. moto answers all of them (and its global CORS even lets a page read the
answers). Each request passes three checks here, in this order, before
anything is served:

1. `Host` must be `127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT`
   (DNS rebinding sends the attacker's host name);
2. an `Origin` header, when present, must be the local cloud's own
   (`http://127.0.0.1:PORT`, ...): browsers add it to every cross-origin
   request and to every POST, so a foreign page is refused, a pre-flight
   included, and nothing grants it CORS;
3. AWS API requests must be signed with a key the server knows: its
   per-start key (`credentials.py`), a key it handed a Lambda worker, or its
   own engine's. The key id is read from SigV4's `Credential=` (header) or
   `X-Amz-Credential` (presigned query), or S3's older `AWS KEY:` header and
   `AWSAccessKeyId` query (boto3's default presigned S3 URLs).

Routes that are public on AWS stay public here, behind checks 1 and 2: the
API Gateway stages (`/_localcloud/execute-api/...`, the e-mail's approve /
deny links), Lambda function URLs (`/_localcloud/lambda-url/...`; one whose
AuthType is AWS_IAM wants a signed request itself), the SNS confirmation link of the AWS-like mode and the health
check. The mailbox holds those links, so it needs
the key (as `Authorization: Bearer <key id>`). moto's own `/moto-api`
(reset, state dump) is refused to everyone: nothing in the kit needs it.

Each refusal is a 403 whose text says which check failed and what to do, in
the wire format the client speaks (`refusal`), so boto3 and the AWS CLI show
it as an ordinary AWS error (`InvalidClientTokenId`, ...) and a browser as
text.
"""

from __future__ import annotations

import json
from html import escape
from urllib.parse import unquote

from .address import EXECUTE_API_PREFIX, HEALTH_PATH, KIT_PREFIX, LAMBDA_URL_PREFIX, SNS_CONFIRMATION_PATH
from .protocols import key_of, scope_service

# rest-json services (no X-Amz-Target): their SDKs parse JSON errors
_REST_JSON = {"lambda", "apigateway", "execute-api", "scheduler", "pipes", "xray"}
# The SNS confirmation link (AWS-like mode) is public as on AWS: its token is the secret.
PUBLIC_ROUTES = (HEALTH_PATH, EXECUTE_API_PREFIX, SNS_CONFIRMATION_PATH)


class Refused(Exception):
    """A request the local cloud does not serve; str() is the reason shown to the client."""

    def __init__(self, reason: str, about_key: bool = False):
        super().__init__(reason)
        self.about_key = about_key


def refusal(environ, refused: Refused) -> tuple[list[tuple[str, str]], bytes]:
    """(headers, body) of the 403, shaped as the client's protocol expects its errors."""
    reason = str(refused)
    auth = environ.get("HTTP_AUTHORIZATION", "") + "&" + unquote(environ.get("QUERY_STRING", ""))
    service = scope_service(auth)
    common = [("Cache-Control", "no-store")]
    if environ.get("HTTP_X_AMZ_TARGET") or "json" in environ.get("CONTENT_TYPE", "") or service in _REST_JSON:
        code = "UnrecognizedClientException" if refused.about_key else "AccessDeniedException"
        body = json.dumps({"__type": code, "message": reason, "Message": reason}).encode()
        return [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code), *common], body
    if service is not None:
        code = ("InvalidAccessKeyId" if service == "s3" else "InvalidClientTokenId") if refused.about_key \
            else "AccessDenied"
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(reason)}</Message>"
                f"</Error><RequestId>localcloud-refused</RequestId></ErrorResponse>").encode()
        return [("Content-Type", "text/xml"), *common], body
    return [("Content-Type", "text/plain; charset=utf-8"), *common], reason.encode("utf-8") + b"\n"


def own_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})


def own_origins(port: int) -> frozenset[str]:
    return frozenset("http://" + host for host in own_hosts(port))


def bearer_of(environ) -> str | None:
    value = environ.get("HTTP_AUTHORIZATION", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else None


class Guard:
    """The three checks, for one server (its port and the keys it accepts)."""

    def __init__(self, port: int, is_known_key):
        self.port = port
        self.hosts = own_hosts(port)
        self.origins = own_origins(port)
        self.is_known_key = is_known_key

    def check(self, environ) -> None:
        """Raise Refused with the reason, or return for a request that may be served."""
        host = environ.get("HTTP_HOST", "")
        if host.lower() not in self.hosts:
            raise Refused(
                f"refused: Host {host!r} is not this local cloud's own. It answers only "
                f"http://127.0.0.1:{self.port} (or localhost / [::1] on that port); other host names "
                "are how a web page re-binds DNS to reach a local server."
            )
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin.lower() not in self.origins:
            raise Refused(
                f"refused: a request from the web page at {origin!r}. The local cloud serves only "
                "its own pages, the kit and AWS tools (which send no Origin)."
            )
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            raise Refused("refused: moto's own /moto-api (reset, state dump) is switched off in the local cloud.")
        if path in (PUBLIC_ROUTES[0], PUBLIC_ROUTES[2]) or path.startswith(PUBLIC_ROUTES[1]):
            return
        if path.startswith(LAMBDA_URL_PREFIX):  # public as on AWS; an AWS_IAM URL checks its own signature
            return
        if path.startswith(KIT_PREFIX):
            if not self.is_known_key(bearer_of(environ)):
                raise Refused(
                    "refused: this local cloud route needs the local cloud's key as "
                    "'Authorization: Bearer <access key id>' (the kit sends it; see `workshop local env`)."
                )
            return
        key = key_of(environ)
        if key is None:
            raise Refused(
                "refused: the request is not signed. Sign it with the local cloud's key: "
                'eval "$(workshop local env)" sets it for the AWS CLI, sam and boto3.', about_key=True,
            )
        if not self.is_known_key(key):
            raise Refused(
                "refused: the request is signed with a key this local cloud did not make. Its key "
                'changes at every start: eval "$(workshop local env)" (or use workshop.aws.session.connect()) '
                "to get the current one.", about_key=True,
            )
