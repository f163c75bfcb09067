"""Who is calling: every AWS API request's signature checked as AWS checks it, and the `Caller` it proves.

On AWS an access key id is not a secret: it appears in CloudTrail events, in
execution histories and e-mails built from them, in logs. What proves who
calls is the signature, made with the key's secret. So the local cloud checks
each request's signature with the secret of the key id it names:

* the learner's per-start key (`credentials.py`): the account's administrator;
* a Lambda worker's key (`identities.py`): its function's role, as a session;
* keys made by IAM `CreateAccessKey` (moto's IAM backend keeps their secret);
* temporary credentials from STS `AssumeRole` / `AssumeRoleWithWebIdentity`
  (moto's STS backend) and `GetSessionToken` (`install_sts_sessions`): their
  session token is required and checked, and once expired they are refused.

The signature is recomputed with botocore's own signer (`botocore.auth`:
SigV4 in the `Authorization` header and presigned in the query string, S3's
unnormalised paths, and S3's SigV2 that boto3 still presigns with), from
exactly the headers the request says it signed and its own `X-Amz-Date`, and
compared in constant time. Derived signing keys are cached per secret, date,
region and service. A request dated more than 15 minutes from now is refused,
as AWS refuses it; an S3 presigned URL past its `X-Amz-Expires` (or SigV2
`Expires`) too. Each failure answers as AWS does in the client's protocol
(`AuthenticationFailed.answer`): `SignatureDoesNotMatch` on the query and
rest-xml protocols, `InvalidSignatureException` on JSON, ...

The engine's own calls (the Step Functions engine's service integrations,
`inprocess.py`) carry their caller in the WSGI environ (`IN_PROCESS_CALLER`),
a key no HTTP request can set: they are the state machine's role, unsigned.

`Caller` is what the rest of the server knows about whoever calls: CloudTrail
records it (services/cloudtrail.py), the authorizer evaluates its policies.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email.utils import formatdate, parsedate_to_datetime
from html import escape
from typing import Callable, Mapping
from urllib.parse import unquote

from .address import ACCOUNT_ID
from .protocols import protocol_of

LEARNER_ADMIN, USER, ASSUMED_ROLE, ROOT, SERVICE = "learner-admin", "user", "assumed-role", "root", "service"
IN_PROCESS_CALLER = "localcloud.caller"  # environ key: not an HTTP_* key, so no request can carry it
SIGV4 = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600
_SIGV4_TIME = "%Y%m%dT%H%M%SZ"
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Caller:
    """Who a request comes from, as IAM sees them.

    `principal_arn` is what `aws:PrincipalArn` holds: the user, the root, or
    for an assumed role the role's ARN (`arn` is the session's, as CloudTrail
    and GetCallerIdentity name it). `user_id` is `aws:userid` (a role
    session's is ROLEID:SESSION). `expires` is set for temporary credentials,
    `source` says how they were made ("per-start key", "lambda:<function arn>",
    "sts:AssumeRole", "states.amazonaws.com" for the engine's calls, ...).
    `context` holds request-context keys only the maker of a server-side call
    knows, which the authorizer adds to the request's: a service principal's
    `aws:SourceArn` / `aws:SourceAccount`, `aws:CalledVia` of a call a service
    makes for its caller (server/authorization.py).
    """

    access_key_id: str | None
    principal_arn: str
    account_id: str
    kind: str
    user_id: str
    session_name: str | None = None
    session_policy: str | None = None
    expires: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    context: Mapping[str, object] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        if self.kind == ASSUMED_ROLE:
            return f"arn:aws:sts::{self.account_id}:assumed-role/{self.principal_arn.rsplit('/', 1)[-1]}/" \
                   f"{self.session_name}"
        return self.principal_arn

    @property
    def temporary(self) -> bool:
        return self.expires is not None or self.kind == ASSUMED_ROLE


# --- failures, answered as AWS answers them ------------------------------------------------------

# problem -> (query / JSON code, S3 code, S3 status), message for query+JSON, S3 message
MISSING, INCOMPLETE, UNKNOWN_KEY, INVALID_TOKEN, EXPIRED_TOKEN, MISMATCH, SKEWED, URL_EXPIRED = (
    "missing", "incomplete", "unknown-key", "invalid-token", "expired-token", "mismatch", "skewed", "url-expired")
_CODES = {
    MISSING: ("MissingAuthenticationToken", "MissingAuthenticationTokenException", "AccessDenied", 403),
    INCOMPLETE: ("IncompleteSignature", "IncompleteSignatureException", "AuthorizationHeaderMalformed", 400),
    UNKNOWN_KEY: ("InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId", 403),
    INVALID_TOKEN: ("InvalidClientTokenId", "UnrecognizedClientException", "InvalidToken", 400),
    EXPIRED_TOKEN: ("ExpiredToken", "ExpiredTokenException", "ExpiredToken", 400),
    MISMATCH: ("SignatureDoesNotMatch", "InvalidSignatureException", "SignatureDoesNotMatch", 403),
    SKEWED: ("SignatureDoesNotMatch", "InvalidSignatureException", "RequestTimeTooSkewed", 403),
    URL_EXPIRED: ("SignatureDoesNotMatch", "InvalidSignatureException", "AccessDenied", 403),
}
_S3_MESSAGES = {
    MISSING: "Access Denied",
    UNKNOWN_KEY: "The AWS Access Key Id you provided does not exist in our records.",
    INVALID_TOKEN: "The provided token is malformed or otherwise invalid.",
    EXPIRED_TOKEN: "The provided token has expired.",
    MISMATCH: "The request signature we calculated does not match the signature you provided. "
              "Check your key and signing method.",
    SKEWED: "The difference between the request time and the current time is too large.",
    URL_EXPIRED: "Request has expired",
}
TOKEN_INVALID = "The security token included in the request is invalid."  # nosec B105: AWS's error text
TOKEN_EXPIRED = "The security token included in the request is expired"  # nosec B105: AWS's error text
SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your "
                      "AWS Secret Access Key and signing method. Consult the service documentation for details.")
_KIT_HINT = ('The local cloud\'s key changes at every start: eval "$(workshop local env)" (or '
             "workshop.aws.session.connect()) gives the current one.")


class AuthenticationFailed(Exception):
    """A request whose signature does not prove a caller; `answer(environ)` is AWS's error for it."""

    def __init__(self, problem: str, message: str, service: str | None = None, s3_message: str | None = None,
                 details: Mapping[str, str] | None = None, hint: str = ""):
        super().__init__(message + (" " + hint if hint else ""))
        self.problem = problem
        self.message = message
        self.service = service
        self.s3_message = s3_message
        self.details = dict(details or {})
        self.hint = hint

    def answer(self, environ) -> tuple[str, list[tuple[str, str]], bytes]:
        """(status line, headers, body) in the protocol of the service the request is for."""
        query_code, json_code, s3_code, s3_status = _CODES[self.problem]
        common = [("Cache-Control", "no-store")]
        request_id = secrets.token_hex(16)
        protocol = _protocol(environ, self.service)
        if protocol == "rest-xml":
            message = self.s3_message or _S3_MESSAGES.get(self.problem, self.message)
            extra = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in self.details.items())
            hint = f"<Hint>{escape(self.hint)}</Hint>" if self.hint else ""
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{s3_code}</Code>'
                    f"<Message>{escape(message)}</Message>{extra}{hint}<RequestId>{request_id}</RequestId>"
                    f"<HostId>{request_id}</HostId></Error>").encode()
            return _status(s3_status), [("Content-Type", "application/xml"), *common], body
        message = self.message + (" " + self.hint if self.hint else "")
        if protocol in ("json", "rest-json"):
            body = json.dumps({"__type": json_code, "message": message, "Message": message}).encode()
            return _status(403), [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", json_code),
                                  ("x-amzn-RequestId", request_id), *common], body
        if protocol == "query":
            body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{query_code}</Code>"
                    f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
                    "</ErrorResponse>").encode()
            return _status(403), [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id), *common], body
        return _status(403), [("Content-Type", "text/plain; charset=utf-8"), *common], \
            f"{query_code}: {message}\n".encode("utf-8")


def _status(code: int) -> str:
    return {400: "400 BAD REQUEST", 403: "403 FORBIDDEN"}[code]


def _protocol(environ, service: str | None) -> str | None:
    if service:
        found = protocol_of(service)
        if found:
            return found
    if environ.get("HTTP_X_AMZ_TARGET") or "json" in environ.get("CONTENT_TYPE", ""):
        return "json"
    query = environ.get("QUERY_STRING", "")
    if "AWSAccessKeyId=" in query or environ.get("HTTP_AUTHORIZATION", "").startswith("AWS "):
        return "rest-xml"
    if "Action=" in query or "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        return "query"
    return None


# --- the secrets of the keys it knows ------------------------------------------------------------


@dataclass(frozen=True)
class KeySecret:
    """What proves a key: its secret, the session token it must come with (temporary keys), its caller."""

    secret_access_key: str
    session_token: str | None
    caller: Caller


_sessions: dict[str, KeySecret] = {}  # GetSessionToken's temporary keys (services/sts.py)
_assumed: dict[str, KeySecret] = {}  # AssumeRole's, found once in moto's STS backend
_workers: dict[str, KeySecret] = {}  # Lambda workers' (identities.py), made once each
_lock = threading.Lock()


def add_session(secret: KeySecret) -> None:
    with _lock:
        _sessions[secret.caller.access_key_id] = secret


def forget_sessions() -> None:
    with _lock:
        _sessions.clear()
        _assumed.clear()
        _workers.clear()


def worker_secret(access_key_id: str) -> KeySecret | None:
    """A Lambda worker's key: a session of its function's role named after the function, as Lambda makes one."""
    from . import identities

    found = _workers.get(access_key_id)
    worker = identities.worker_for(access_key_id)
    if worker is None:
        return None
    made = worker.credentials
    if found is None or found.secret_access_key != made.secret_access_key or found.caller.principal_arn != \
            worker.role_arn:
        found = KeySecret(made.secret_access_key, made.session_token, role_session_caller(
            worker.role_arn, worker.function_name, access_key_id=access_key_id,
            source="lambda:" + worker.function_arn))
        with _lock:
            _workers[access_key_id] = found
    return found


def learner_caller(access_key_id: str, account_id: str = ACCOUNT_ID) -> Caller:
    """The per-start key: the account's administrator (CloudTrail records it as the root)."""
    return Caller(access_key_id=access_key_id, principal_arn=f"arn:aws:iam::{account_id}:root",
                  account_id=account_id, kind=LEARNER_ADMIN, user_id=account_id, source="per-start key")


def role_id(role_arn: str) -> str:
    """The role's id (AROA...) from IAM; a stable stand-in for a role IAM does not hold."""
    account = _account_of(role_arn)
    try:
        from moto.iam.models import iam_backends

        return iam_backends[account]["aws"].get_role_by_arn(role_arn).id
    except Exception:  # a role deleted, or never made
        return "AROA" + hashlib.sha1(role_arn.encode(), usedforsecurity=False).hexdigest().upper()[:17]


def role_session_caller(role_arn: str, session_name: str, *, access_key_id: str | None = None,
                        source: str | None = None, expires: datetime | None = None,
                        session_policy: str | None = None) -> Caller:
    return Caller(access_key_id=access_key_id, principal_arn=role_arn, account_id=_account_of(role_arn),
                  kind=ASSUMED_ROLE, user_id=f"{role_id(role_arn)}:{session_name}", session_name=session_name,
                  session_policy=session_policy, expires=expires, source=source)


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else ACCOUNT_ID


_engine_callers: dict[str, Caller] = {}


def engine_caller(role_arn: str | None) -> Caller:
    """The Step Functions engine's calls: a session of the state machine's role, as Step Functions makes one."""
    if not role_arn:
        return replace(learner_caller("", ACCOUNT_ID), access_key_id=None, source="states.amazonaws.com")
    found = _engine_callers.get(role_arn)
    if found is None:
        # Step Functions names its role sessions with random letters
        session = "".join(secrets.choice(string.ascii_letters) for _ in range(32))
        found = role_session_caller(role_arn, session, source="states.amazonaws.com")
        with _lock:
            found = _engine_callers.setdefault(role_arn, found)
    return found


def _moto_key(access_key_id: str) -> KeySecret | None:
    """A key moto's IAM holds: an active key of an existing user, or an STS session's."""
    try:
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends
    except ImportError:
        return None
    for account_id in list(iam_backends.keys()):
        backend = iam_backends[account_id].get("aws")
        key = backend.access_keys.get(access_key_id) if backend is not None else None
        if key is None:
            continue
        if key.user_name is None:  # a temporary key: the STS session that holds it
            return _assumed_role(access_key_id, account_id, sts_backends)
        user = backend.users.get(key.user_name)
        if user is None or key not in user.access_keys or key.status != "Active":
            return None
        tags = {tag["Key"]: tag["Value"] for tag in backend.tagger.list_tags_for_resource(user.arn).get("Tags", [])} \
            if hasattr(backend, "tagger") else {}
        return KeySecret(key.secret_access_key, None, Caller(
            access_key_id=access_key_id, principal_arn=user.arn, account_id=account_id, kind=USER,
            user_id=user.id, tags=tags, source="iam:CreateAccessKey"))
    return None


def _assumed_role(access_key_id: str, account_id: str, sts_backends) -> KeySecret | None:
    found = _assumed.get(access_key_id)
    if found is not None:
        return found
    backend = sts_backends[account_id].get("aws")
    session = backend.get_assumed_role_from_access_key(access_key_id) if backend is not None else None
    if session is None:
        return None
    expires = session.expiration.replace(tzinfo=timezone.utc) if session.expiration.tzinfo is None \
        else session.expiration
    found = KeySecret(session.secret_access_key, session.session_token, role_session_caller(
        session.role_arn, session.session_name, access_key_id=access_key_id, source="sts:AssumeRole",
        expires=expires, session_policy=session.policy))
    with _lock:
        _assumed[access_key_id] = found
    return found


# --- the check ---------------------------------------------------------------------------------


@dataclass
class _Signed:
    """What a request says about its signature."""

    form: str  # "header", "query" (presigned SigV4), "v2-header", "v2-query"
    access_key_id: str
    signature: str
    service: str | None = None
    region: str | None = None
    scope_date: str | None = None
    terminator: str | None = None
    signed_headers: tuple[str, ...] = ()
    timestamp: str | None = None  # SigV4's ISO 8601 basic time
    expires: str | None = None  # presigned: X-Amz-Expires (seconds) or SigV2's Expires (epoch)
    token: str | None = None


class Authenticator:
    """Checks requests for one server: its per-start key, and every other key the local cloud made."""

    def __init__(self, learner_key_id: str, learner_secret: str, account_id: str = ACCOUNT_ID,
                 clock: Callable[[], float] = time.time):
        self.account_id = account_id
        self.clock = clock
        self._learner = KeySecret(learner_secret, None, learner_caller(learner_key_id, account_id))

    def secret_for(self, access_key_id: str) -> KeySecret | None:
        if access_key_id == self._learner.caller.access_key_id:
            return self._learner
        worker = worker_secret(access_key_id)
        if worker is not None:
            return worker
        session = _sessions.get(access_key_id)
        if session is not None:
            return session
        return _moto_key(access_key_id)

    def authenticate(self, environ, body: Callable[[], bytes]) -> Caller:
        """The request's caller, or AuthenticationFailed. `body()` reads the body (only when a hash needs it)."""
        caller = environ.get(IN_PROCESS_CALLER)
        if isinstance(caller, Caller):
            return caller
        signed = _parse(environ)
        known = self.secret_for(signed.access_key_id)
        s3 = signed.service == "s3" or signed.form.startswith("v2")
        if known is None:
            raise AuthenticationFailed(
                UNKNOWN_KEY, TOKEN_INVALID, signed.service,
                details={"AWSAccessKeyId": signed.access_key_id} if s3 else None,
                hint=f"(No key {signed.access_key_id!r} was made by this local cloud or its IAM. {_KIT_HINT})")
        self._check_token(signed, known)
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        expires = known.caller.expires
        if expires is not None and now >= expires:
            raise AuthenticationFailed(EXPIRED_TOKEN, TOKEN_EXPIRED, signed.service)
        if signed.form.startswith("v2"):
            _check_v2(environ, signed, known.secret_access_key, now)
        else:
            _check_v4(environ, signed, known.secret_access_key, now, body)
        return known.caller

    @staticmethod
    def _check_token(signed: _Signed, known: KeySecret) -> None:
        expected = known.session_token
        if expected is None and signed.token is None:
            return
        if expected is None or signed.token is None or not _same(signed.token, expected):
            raise AuthenticationFailed(
                INVALID_TOKEN, TOKEN_INVALID, signed.service,
                hint="(A session token was sent with a key that takes none: unset AWS_SESSION_TOKEN.)"
                if expected is None else "")


def _parse(environ) -> _Signed:
    """Which signature the request carries; AuthenticationFailed when none, or a malformed one."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth:
        scheme, _, rest = auth.partition(" ")
        if scheme == SIGV4:
            return _parse_v4_header(environ, rest)
        if scheme == "AWS" and ":" in rest:
            key, _, signature = rest.strip().rpartition(":")
            return _Signed("v2-header", key, signature, service="s3",
                           token=environ.get("HTTP_X_AMZ_SECURITY_TOKEN"))
        raise AuthenticationFailed(INCOMPLETE, f"Unsupported AWS 'algorithm': '{scheme}'. The local cloud checks "
                                               f"{SIGV4} (and S3's 'AWS' SigV2).")
    query = _query_pairs(environ.get("QUERY_STRING", ""))
    if "X-Amz-Credential" in query or "X-Amz-Signature" in query or "X-Amz-Algorithm" in query:
        return _parse_v4_query(query)
    if "AWSAccessKeyId" in query and "Signature" in query:
        return _Signed("v2-query", query["AWSAccessKeyId"], query["Signature"], service="s3",
                       expires=query.get("Expires"), token=query.get("x-amz-security-token"))
    raise AuthenticationFailed(
        MISSING, "Request is missing Authentication Token",
        hint='(The request is not signed. Sign it with the local cloud\'s key: eval "$(workshop local env)" '
             "sets it for the AWS CLI, sam and boto3.)")


def _query_pairs(query: str) -> dict[str, str]:
    pairs = {}
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name:
            pairs.setdefault(unquote(name), unquote(value.replace("+", " ")))
    return pairs


def _parse_v4_header(environ, rest: str) -> _Signed:
    fields = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        if name:
            fields[name] = value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields]
    if missing:
        raise AuthenticationFailed(INCOMPLETE, " ".join(
            f"Authorization header requires '{name}' parameter." for name in missing))
    timestamp = environ.get("HTTP_X_AMZ_DATE")
    if not timestamp and environ.get("HTTP_DATE"):
        try:
            timestamp = parsedate_to_datetime(environ["HTTP_DATE"]).astimezone(timezone.utc).strftime(_SIGV4_TIME)
        except (TypeError, ValueError):
            timestamp = None
    signed = _credential(fields["Credential"], fields["Signature"], "header")
    if not timestamp:
        raise AuthenticationFailed(INCOMPLETE, "Authorization header requires existence of either a 'X-Amz-Date' "
                                               "or a 'Date' header.", signed.service)
    signed.signed_headers = tuple(name.strip().lower() for name in fields["SignedHeaders"].split(";") if name.strip())
    signed.timestamp = timestamp
    signed.token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
    return signed


def _parse_v4_query(query: dict[str, str]) -> _Signed:
    missing = [name for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                                 "X-Amz-SignedHeaders") if name not in query]
    if missing:
        raise AuthenticationFailed(INCOMPLETE, "AWS query-string parameters must include "
                                   + ", ".join(f"'{name}'" for name in missing) + ".")
    if query["X-Amz-Algorithm"] != SIGV4:
        raise AuthenticationFailed(INCOMPLETE, f"X-Amz-Algorithm only supports '{SIGV4}'.")
    signed = _credential(query["X-Amz-Credential"], query["X-Amz-Signature"], "query")
    signed.signed_headers = tuple(name.lower() for name in query["X-Amz-SignedHeaders"].split(";") if name)
    signed.timestamp = query["X-Amz-Date"]
    signed.expires = query.get("X-Amz-Expires")
    signed.token = query.get("X-Amz-Security-Token")
    return signed


def _credential(credential: str, signature: str, form: str) -> _Signed:
    parts = credential.split("/")
    if len(parts) != 5 or not parts[0]:
        raise AuthenticationFailed(INCOMPLETE, f"Credential should have exactly 5 slash-delimited elements "
                                               f"(key/date/region/service/aws4_request), not '{credential}'.")
    key, date, region, service, terminator = parts
    return _Signed(form, key, signature, service=service, region=region, scope_date=date, terminator=terminator)


def _aws_time(text: str) -> datetime:
    """SigV4's YYYYMMDDTHHMMSSZ (strptime is a tenth of the whole check's time)."""
    if len(text) != 16 or text[8] != "T" or text[15] != "Z" or not (text[:8] + text[9:15]).isdigit():
        raise ValueError(text)
    return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]), int(text[11:13]),
                    int(text[13:15]), tzinfo=timezone.utc)


def _check_v4(environ, signed: _Signed, secret: str, now: datetime, body: Callable[[], bytes]) -> None:
    service = signed.service
    if signed.terminator != "aws4_request":
        raise AuthenticationFailed(MISMATCH, f"Credential should be scoped with a valid terminator: "
                                             f"'aws4_request', not '{signed.terminator}'. ", service)
    if service != service.lower():
        raise AuthenticationFailed(MISMATCH, f"Credential should be scoped to correct service: "
                                             f"'{service.lower()}'. ", service)
    try:
        moment = _aws_time(signed.timestamp)
    except ValueError:
        raise AuthenticationFailed(INCOMPLETE, f"Date must be in ISO-8601 'basic format'. Got "
                                               f"'{signed.timestamp}'. See http://en.wikipedia.org/wiki/ISO_8601",
                                   service) from None
    if signed.scope_date != signed.timestamp[:8]:
        raise AuthenticationFailed(MISMATCH, f"Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                                             f"version of date from HTTP: '{signed.scope_date}' != "
                                             f"'{signed.timestamp[:8]}', from '{signed.timestamp}'.", service)
    _check_time(signed, moment, now)
    s3 = service == "s3"
    presigned = signed.form == "query"
    content_hash = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
    hashed_header = content_hash is not None and "x-amz-content-sha256" in signed.signed_headers
    payload = None
    if not (presigned and s3) and not hashed_header:
        payload = body()  # the canonical request hashes the body itself
    canonical, to_sign, expected = _recompute(environ, signed, secret, payload)
    if not _same(expected, signed.signature):
        details = {"AWSAccessKeyId": signed.access_key_id, "StringToSign": to_sign,
                   "SignatureProvided": signed.signature, "CanonicalRequest": _redacted(canonical, signed)} \
            if s3 else None
        message = SIGNATURE_MISMATCH + (
            f"\n\nThe Canonical String for this request should have been\n'{_redacted(canonical, signed)}'\n\n"
            f"The String-to-Sign should have been\n'{to_sign}'\n")
        raise AuthenticationFailed(MISMATCH, message, service, details=details)
    if hashed_header and _HEX_SHA256.match(content_hash):
        if not _same(hashlib.sha256(body()).hexdigest(), content_hash):
            raise AuthenticationFailed(
                MISMATCH, "The provided 'x-amz-content-sha256' header does not match what was computed.", service,
                s3_message="The provided 'x-amz-content-sha256' header does not match what was computed.")


def _same(a: str, b: str) -> bool:
    """Equal, compared in constant time (bytes: a text that is not ASCII is compared too, not an error)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


_CREDENTIAL_PARAMETERS = re.compile(r"((?:X-Amz-Security-Token|X-Amz-Signature|Signature|x-amz-security-token)=)[^&\s\"']*",
                                    re.IGNORECASE)


def redact(text: str) -> str:
    """A request line fit for a log: a presigned URL's session token and signature left out."""
    return _CREDENTIAL_PARAMETERS.sub(r"\1<redacted>", text)


class RedactCredentials:
    """A logging filter: the request lines werkzeug logs (`--verbose`) never carry a presigned URL's token."""

    def filter(self, record) -> bool:
        if record.args:
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        record.msg = redact(record.msg) if isinstance(record.msg, str) else record.msg
        return True


def _redacted(canonical: str, signed: _Signed) -> str:
    """A canonical request to show: the session token in it is a credential, never echoed."""
    return canonical.replace(signed.token, "<session token>") if signed.token else canonical


def _check_time(signed: _Signed, moment: datetime, now: datetime) -> None:
    service = signed.service
    if signed.form == "query" and service == "s3":
        try:
            lifetime = int(signed.expires or 0)
        except ValueError:
            lifetime = -1
        if not 0 < lifetime <= MAX_PRESIGNED_EXPIRES:
            raise AuthenticationFailed(INCOMPLETE, "X-Amz-Expires must be less than a week (in seconds) that is "
                                                   "604800", service,
                                       s3_message="X-Amz-Expires must be less than a week (in seconds) that is 604800")
        if now > moment + timedelta(seconds=lifetime):
            raise AuthenticationFailed(URL_EXPIRED, "Request has expired", service, details={
                "X-Amz-Expires": str(lifetime), "Expires": (moment + timedelta(seconds=lifetime)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"), "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
        if moment > now + MAX_SKEW:
            raise AuthenticationFailed(URL_EXPIRED, "Request is not valid yet", service, s3_message="Request is not valid yet")
        return
    # Header signatures, and presigned URLs of services other than S3 (which, as STS does,
    # hold for 15 minutes whatever X-Amz-Expires says)
    stamp, current = signed.timestamp, now.strftime(_SIGV4_TIME)
    if moment < now - MAX_SKEW:
        raise AuthenticationFailed(SKEWED, f"Signature expired: {stamp} is now earlier than "
                                           f"{(now - MAX_SKEW).strftime(_SIGV4_TIME)} ({current} - 15 min.)", service,
                                   details=_skew_details(moment, now))
    if moment > now + MAX_SKEW:
        raise AuthenticationFailed(SKEWED, f"Signature not yet current: {stamp} is still later than "
                                           f"{(now + MAX_SKEW).strftime(_SIGV4_TIME)} ({current} + 15 min.)", service,
                                   details=_skew_details(moment, now))


def _skew_details(moment: datetime, now: datetime) -> dict:
    return {"RequestTime": formatdate(moment.timestamp(), usegmt=True),
            "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "MaxAllowedSkewMilliseconds": "900000"}


@functools.lru_cache(maxsize=512)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key, made once per secret, day, region and service."""
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@functools.lru_cache(maxsize=None)
def _signer_class(s3: bool, presigned: bool):
    """botocore's SigV4 signer for the request's form, told which headers were signed and with which key."""
    from botocore import auth

    base = {(False, False): auth.SigV4Auth, (True, False): auth.S3SigV4Auth,
            (False, True): auth.SigV4QueryAuth, (True, True): auth.S3SigV4QueryAuth}[(s3, presigned)]

    class Recompute(base):
        def __init__(self, service, region, signed_headers, key):
            self.credentials = None
            self._service_name, self._region_name = service, region
            self._signed_headers, self._key = signed_headers, key

        def headers_to_sign(self, request):
            # exactly what the request says it signed, not botocore's own choice of headers
            from botocore.awsrequest import HTTPHeaders

            chosen = HTTPHeaders()
            for name in self._signed_headers:
                chosen[name] = request.headers.get(name, "")
            return chosen

        def signature(self, string_to_sign, request):
            return hmac.new(self._key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()

    return Recompute


def _header(environ, name: str) -> str | None:
    if name == "content-type":
        return environ.get("CONTENT_TYPE")
    if name == "content-length":
        return environ.get("CONTENT_LENGTH")
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


def _recompute(environ, signed: _Signed, secret: str, payload: bytes | None) -> tuple[str, str, str]:
    """(canonical request, string to sign, signature) as botocore computes them for this request."""
    from botocore.awsrequest import AWSRequest

    presigned = signed.form == "query"
    query = environ.get("QUERY_STRING", "")
    if presigned:  # the signature is not part of what it signs
        query = "&".join(part for part in query.split("&") if not part.startswith("X-Amz-Signature="))
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/"
    path = path.split("?", 1)[0] or "/"
    headers = {name: value for name in signed.signed_headers if (value := _header(environ, name)) is not None}
    request = AWSRequest(method=environ.get("REQUEST_METHOD", "GET"),
                         url=f"http://{environ.get('HTTP_HOST', '')}{path}" + (f"?{query}" if query else ""),
                         headers=headers, data=payload or b"")
    request.context["timestamp"] = signed.timestamp
    key = signing_key(secret, signed.scope_date, signed.region, signed.service)
    signer = _signer_class(signed.service == "s3", presigned)(signed.service, signed.region,
                                                              signed.signed_headers, key)
    canonical = signer.canonical_request(request)
    to_sign = signer.string_to_sign(request, canonical)
    return canonical, to_sign, signer.signature(to_sign, request)


# --- S3's SigV2 (boto3's default presigned S3 URLs) ---------------------------------------------


@functools.lru_cache(maxsize=None)
def _v2_signer_class():
    """botocore's S3 SigV2 signer, with the date (or Expires) the request was signed with instead of now."""
    from botocore.auth import HmacV1Auth

    class RequestDated(HmacV1Auth):
        def __init__(self, credentials, date: str):
            super().__init__(credentials)
            self._date = date

        def _get_date(self):
            return self._date

    return RequestDated


def _check_v2(environ, signed: _Signed, secret: str, now: datetime) -> None:
    from botocore.awsrequest import HTTPHeaders
    from botocore.credentials import Credentials as BotoCredentials
    from urllib.parse import urlsplit

    headers = HTTPHeaders()
    if signed.form == "v2-query":
        try:
            expires = int(signed.expires or "")
        except ValueError:
            raise AuthenticationFailed(INCOMPLETE, "Invalid date (should be seconds since epoch): "
                                                   f"{signed.expires}", "s3",
                                       s3_message=f"Invalid date (should be seconds since epoch): {signed.expires}") \
                from None
        if now.timestamp() > expires:
            raise AuthenticationFailed(URL_EXPIRED, "Request has expired", "s3", details={
                "Expires": datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
        date = str(expires)
        for name, value in _query_pairs(environ.get("QUERY_STRING", "")).items():
            if name.lower().startswith("x-amz-") or name.lower() in ("content-md5", "content-type"):
                headers[name.lower()] = value
    else:
        date = environ.get("HTTP_DATE", "")
        try:
            moment = parsedate_to_datetime(date) if date else None
        except (TypeError, ValueError):
            moment = None
        amz_date = environ.get("HTTP_X_AMZ_DATE")
        if moment is None and amz_date:
            date, moment = "", None
        if moment is not None and abs(moment - now) > MAX_SKEW:
            raise AuthenticationFailed(SKEWED, "The difference between the request time and the current time is "
                                               "too large.", "s3", details=_skew_details(moment, now))
        for name, value in environ.items():
            if name.startswith("HTTP_X_AMZ_"):
                headers[name[5:].lower().replace("_", "-")] = value
        for name in ("content-md5", "content-type"):
            value = _header(environ, name) if name == "content-type" else environ.get("HTTP_CONTENT_MD5")
            if value:
                headers[name] = value
    signer = _v2_signer_class()(BotoCredentials(signed.access_key_id, secret, signed.token), date)
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/"
    split = urlsplit(f"http://{environ.get('HTTP_HOST', '')}{path}")
    if signed.token and "x-amz-security-token" not in headers:
        headers["x-amz-security-token"] = signed.token
    to_sign = signer.canonical_string(environ.get("REQUEST_METHOD", "GET"), split, headers)
    expected = signer.sign_string(to_sign)
    if not _same(expected, signed.signature):
        raise AuthenticationFailed(MISMATCH, SIGNATURE_MISMATCH, "s3", details={
            "AWSAccessKeyId": signed.access_key_id, "StringToSign": _redacted(to_sign, signed),
            "SignatureProvided": signed.signature})
