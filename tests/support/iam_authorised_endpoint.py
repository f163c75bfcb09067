"""API Gateway's IAM-authorised method, played on 127.0.0.1 for unit tests of what calls it.

`IamAuthorisedEndpoint(handler, keys)` answers POSTs as a method with
`AuthorizationType: AWS_IAM` does: it verifies the request's SigV4 signature
(service `execute-api`, region us-east-1) with the secret of the key it
names, refuses what API Gateway refuses (403 with its messages), and hands
the proxy event, the caller named in `requestContext.identity` as API Gateway
names it, to `handler` (ReceiveDecision's, in process). The functions' own
clients reach moto in process as usual.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})")


def signature_problem(method: str, url: str, headers: dict, body: bytes, keys: dict) -> tuple[str | None, str]:
    """(the key id, "") for a request signed for execute-api with a known key's secret, else (None, why)."""
    match = _AUTH.fullmatch(headers.get("Authorization", ""))
    if not match:
        return None, "Missing Authentication Token"
    key, _, region, service, signed_headers, signature = match.groups()
    if service != "execute-api":
        return None, "Credential should be scoped to correct service: 'execute-api'. "
    if key not in keys:
        return None, "The security token included in the request is invalid."
    names = signed_headers.split(";")
    lowered = {k.lower(): v for k, v in headers.items()}
    request = AWSRequest(method=method, url=url, data=body, headers={n: lowered.get(n, "") for n in names})
    request.context["timestamp"] = lowered.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(key, keys[key][0]), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if expected != signature:
        return None, "The request signature we calculated does not match the signature you provided."
    return key, ""


class IamAuthorisedEndpoint:
    """`keys`: {access key id: (secret, the ARN API Gateway names as the caller)}."""

    def __init__(self, handler, keys: dict, path: str = "/decision"):
        self.requests: list = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                url = f"http://{self.headers['Host']}{self.path}"
                key, why = signature_problem("POST", url, dict(self.headers.items()), body, keys)
                outer.requests.append({"path": self.path, "key": key, "refused": why})
                if key is None:
                    self._answer(403, json.dumps({"message": why}).encode(), {"Content-Type": "application/json"})
                    return
                event = {"resource": path, "path": path, "httpMethod": "POST",
                         "headers": {"Content-Type": self.headers.get("Content-Type", "")},
                         "requestContext": {"resourcePath": path, "httpMethod": "POST", "stage": "Prod",
                                            "identity": {"accessKey": key, "userArn": keys[key][1],
                                                         "sourceIp": "127.0.0.1"}},
                         "body": body.decode("utf-8"), "isBase64Encoded": False}
                answer = handler(event, None)
                self._answer(answer["statusCode"], answer["body"].encode(), answer.get("headers") or {})

            def _answer(self, status, body, headers):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/Prod{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
