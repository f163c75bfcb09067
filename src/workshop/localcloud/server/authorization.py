"""IAM policy evaluation on every request: the local cloud's authorizer.

One step before moto serves a request (app.py), and before the server's own
in-process calls act for a principal (a state machine's integrations as its
role, a rule target as its role or by a function's resource policy, a Lambda
function as its role's session, CloudFormation as its caller or service
role), the request is evaluated as AWS evaluates it:

1. who: the Caller its signature proves (authentication.py; the engine's in-process
   calls carry theirs);
2. what: the operation and its parameters (operations.py), the IAM actions,
   resources and service condition keys they need (iam_requests.py);
3. against what: the caller's identity-based policies, boundary, session
   policy and tags, the resource's policy, the SCPs of its account
   (policy_sources.py), with the global condition keys of the request
   (`request_context`);
4. the decision: `workshop.iam.evaluate_request`, the engine ValidatePolicy
   and iam:SimulatePrincipalPolicy share.

A denial answers as the service answers it, in its protocol, with AWS's text
("User: arn:... is not authorized to perform: s3:GetObject on resource:
"arn:aws:s3:::b/k" because no identity-based policy allows the s3:GetObject
action"): `denial_response`.

Modes (`Authorizer.enabled`): on by default for every principal except the
learner's per-start key, the account's administrator ("learner-admin"), as a
learner with their own account is; `workshop local up --no-iam` turns
evaluation off, for comparison. In the AWS-like mode with `--learner-policy`
the learner is also an IAM user holding those policies (aws_like.py), whose
key is evaluated like any other.

Parsed policies are cached by their text (`workshop.iam.compile_policy`), so a
request costs the look-ups in moto's state and the evaluation of the
statements that could apply; `stats()` counts checks and their time
(benchmarks/bench_localcloud.py reports it).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from html import escape

from workshop.iam import Context, InvalidPolicyDocument, Policies, Principal, Request, compile_policy, evaluate_request

from . import iam_requests, policy_sources
from .address import ACCOUNT_ID
from .authentication import ASSUMED_ROLE, LEARNER_ADMIN, SERVICE, Caller, role_session_caller
from .operations import Operation, protocol_of

log = logging.getLogger("workshop.localcloud.authorization")

_PRINCIPAL_TYPES = {"user": "User", "assumed-role": "AssumedRole", "root": "Account", "service": "AWSService"}

# The server's authorizer, for the calls its services make themselves (a rule target, CloudFormation's
# resources, TestState's direct invocation); None when moto runs in-process without the server (unit tests).
_current: "Authorizer | None" = None


def install(authorizer: "Authorizer | None") -> None:
    global _current
    _current = authorizer


def current() -> "Authorizer | None":
    return _current if _current is not None and _current.enabled else None


def role_session(role_arn: str, session_name: str, context: dict | None = None) -> Caller:
    """The Caller of a session of `role_arn` the server opens for its own calls (as a service assumes a role);
    `context`: request-context keys those calls carry (aws:CalledVia, ...)."""
    return replace(role_session_caller(role_arn, session_name), context=dict(context or {}))


def service_principal(service: str, context: dict | None = None) -> Caller:
    """The Caller of an AWS service acting by a resource-based policy (events.amazonaws.com, with aws:SourceArn)."""
    return Caller(access_key_id=None, principal_arn=service, account_id="", kind=SERVICE, user_id=service,
                  source=service, context=dict(context or {}))


# CloudFormation acting for the caller of the request this thread serves (app.py sets it; the CloudFormation
# extension reads it while moto creates, updates and deletes the stack's resources in that request)
_acting = threading.local()
CALLED_VIA_CLOUDFORMATION = {"aws:CalledVia": ["cloudformation.amazonaws.com"],
                             "aws:CalledViaFirst": "cloudformation.amazonaws.com",
                             "aws:CalledViaLast": "cloudformation.amazonaws.com", "aws:ViaAWSService": True}


@contextmanager
def acting_for(caller: Caller, params: dict, region: str):
    _acting.value = (caller, params, region)
    try:
        yield
    finally:
        _acting.value = None


def cloudformation_actor(stack_role_arn: str | None = None) -> tuple[Caller | None, str | None]:
    """(the principal CloudFormation acts as in this request, why it cannot act), or (None, None) when nothing
    is evaluated (the administrator's key, IAM off, or no request). A service role (`--role-arn`, RoleARN, the
    stack's) is assumed by cloudformation.amazonaws.com; else CloudFormation uses the caller's own
    permissions, with aws:CalledVia cloudformation.amazonaws.com ("Forward access sessions")."""
    found = getattr(_acting, "value", None)
    if found is None or current() is None:
        return None, None
    caller, params, _ = found
    role_arn = params.get("RoleARN") or stack_role_arn
    if role_arn:
        denial = may_assume("cloudformation.amazonaws.com", role_arn)
        if denial is not None:
            return None, (f"Role {role_arn} is invalid or cannot be assumed: its trust policy does not let "
                          "cloudformation.amazonaws.com assume it")
        return role_session(role_arn, "AWSCloudFormation"), None
    return replace(caller, context={**caller.context, **CALLED_VIA_CLOUDFORMATION}), None


def acting_stack_name() -> str | None:
    found = getattr(_acting, "value", None)
    return found[1].get("StackName") if found else None


def may_assume(service: str, role_arn: str, context: dict | None = None) -> Denial | None:
    """Does the role's trust policy let `service` assume it? None when it does."""
    authorizer = current()
    if authorizer is None:
        return None
    return authorizer.decide(service_principal(service, context), "sts:AssumeRole", role_arn)


@dataclass(frozen=True)
class Denial:
    message: str
    action: str
    resource: str
    decision: str  # "explicitDeny" or "implicitDeny"
    policy_type: str | None


class Authorizer:
    """The decisions of one server: on (the default) or off (`--no-iam`)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._lock = threading.Lock()
        self._checks = 0
        self._seconds = 0.0
        self._denials = 0

    def describe(self) -> dict:
        return {"enabled": self.enabled, **self.stats()}

    def stats(self) -> dict:
        with self._lock:
            mean = self._seconds / self._checks * 1e6 if self._checks else 0.0
            return {"requests_checked": self._checks, "denials": self._denials, "mean_check_us": round(mean, 1)}

    def _count(self, started: float, denied: bool) -> None:
        with self._lock:
            self._checks += 1
            self._seconds += time.perf_counter() - started
            self._denials += bool(denied)

    # a request -------------------------------------------------------------------------------------
    def check_request(self, caller: Caller | None, op: Operation, source_ip: str = "127.0.0.1") -> Denial | None:
        """None when the request may be served; else why not."""
        if not self.enabled or caller is None or caller.kind == LEARNER_ADMIN:
            return None
        started = time.perf_counter()
        denial = None
        try:
            account = caller.account_id or ACCOUNT_ID
            needed = iam_requests.checks(op, account)
            if needed is None:
                action = f"{op.prefix}:{op.name or 'UnknownOperation'}"
                denial = Denial(f"User: {caller.arn} is not authorized to perform: {action} on resource: * "
                                "because the local cloud cannot tell which operation this request is "
                                f"({op.method} {op.path})", action, "*", "implicitDeny", None)
            else:
                for check in needed:
                    denial = self.decide(caller, check.action, check.resource, check.context, op, source_ip)
                    if denial is not None:
                        break
        finally:
            self._count(started, denial is not None)
        if denial is not None:
            log.info("denied: %s", denial.message)
        return denial

    def decide(self, caller: Caller, action: str, resource: str, extra: dict | None = None,
               op: Operation | None = None, source_ip: str = "127.0.0.1") -> Denial | None:
        """One action on one resource for this caller; None when allowed."""
        if not self.enabled or caller.kind == LEARNER_ADMIN:
            return None
        try:
            principal, policies, context = self.inputs(caller, action, resource, extra, op, source_ip)
        except InvalidPolicyDocument as exc:  # a policy IAM would refuse: fail closed
            message = (f"User: {caller.arn} is not authorized to perform: {action} on resource: "
                       f"{resource} because a policy that applies cannot be read ({exc})")
            return Denial(message, action, resource, "implicitDeny", None)
        if policies is None:  # the principal is gone
            return Denial(f"User: {caller.arn} is not authorized to perform: {action} on resource: "
                          f"{resource} because no identity-based policy allows the {action} action",
                          action, resource, "implicitDeny", "identity-based policy")
        request = Request(action, resource, context)
        decision = evaluate_request(principal, request, policies)
        if decision.allowed:
            return None
        return Denial(decision.message(principal, request), action, resource, decision.decision, decision.policy_type)

    def inputs(self, caller: Caller, action: str, resource: str, extra: dict | None = None,
               op: Operation | None = None, source_ip: str = "127.0.0.1"):
        """(Principal, Policies or None when the principal is gone, Context) for one check."""
        principal = principal_of(caller)
        own = policy_sources.principal_policies(principal) if caller.kind in ("user", ASSUMED_ROLE) else None
        if own is not None and not own.exists:
            return principal, None, Context()
        session = None
        if caller.kind == ASSUMED_ROLE and caller.session_policy:
            session = (compile_policy(caller.session_policy, policy_id="session-policy", policy_type="session"),)
        found = policy_sources.resource_policy(action, resource)
        scps = policy_sources.service_control_policies(principal.account) if principal.kind != "service" else None
        policies = Policies(identity=own.identity if own else (), boundary=own.boundary if own else None,
                            session=session, resource=found.document, resource_account=found.account,
                            resource_must_allow=found.must_allow, scps=scps)
        context = request_context(caller, principal, own, op, source_ip, found.account, found.tags)
        if extra:
            context = context.with_values(extra)
        return principal, policies, context


def principal_of(caller: Caller) -> Principal:
    """The engine's principal: a role session is named by its session ARN and evaluated by its role's."""
    if caller.kind == ASSUMED_ROLE:
        role = policy_sources.lookup_role(caller.account_id or ACCOUNT_ID, caller.principal_arn.rsplit("/", 1)[-1])
        role_arn = role.arn if role is not None else caller.principal_arn
        return Principal(caller.arn, "assumed-role", caller.account_id, role_arn)
    if caller.kind == SERVICE:
        return Principal(caller.principal_arn, "service", None)
    return Principal(caller.principal_arn, caller.kind, caller.account_id)


def request_context(caller: Caller, principal: Principal, own, op: Operation | None, source_ip: str,
                    resource_account: str | None, resource_tags=()) -> Context:
    """The global condition keys AWS sets for the request ("AWS global condition context keys"); the
    resource's tags (`aws:ResourceTag/...`) where the resource's policy source knows them."""
    now = datetime.now(timezone.utc)
    values = {
        "aws:CurrentTime": now, "aws:EpochTime": str(int(now.timestamp())),
        "aws:SecureTransport": False,  # the local cloud speaks plain HTTP on loopback
        "aws:SourceIp": source_ip, "aws:ResourceAccount": resource_account,
        "aws:PrincipalIsAWSService": principal.kind == "service",
    }
    if op is not None:
        values["aws:RequestedRegion"] = op.region
    if principal.kind != "service":
        values.update({
            "aws:PrincipalArn": principal.role_arn if principal.kind == "assumed-role" else principal.arn,
            "aws:PrincipalAccount": principal.account,
            "aws:PrincipalType": _PRINCIPAL_TYPES.get(principal.kind),
        })
        org = policy_sources.organization_id(principal.account) if principal.account else None
        if org:
            values["aws:PrincipalOrgID"] = org
    if principal.kind == "user":
        values["aws:username"] = principal.arn.rsplit("/", 1)[-1]
        values["aws:userid"] = own.user_id if own else caller.user_id
    elif principal.kind == "assumed-role":
        values["aws:userid"] = f"{own.user_id}:{caller.session_name}" if own and own.user_id else caller.user_id
        values["aws:MultiFactorAuthPresent"] = False
        values["aws:TokenIssueTime"] = now
    elif principal.kind == "root":
        values["aws:userid"] = principal.account
    tags = dict(own.tags) if own else {}
    tags.update(caller.tags or {})
    values.update({f"aws:PrincipalTag/{k}": v for k, v in tags.items()})
    values.update({f"aws:ResourceTag/{k}": v for k, v in resource_tags})
    values.update(caller.context)
    return Context(values)


# --- a denial in the service's protocol ---------------------------------------------------------------------

# services whose query-protocol error code for a denial is not AccessDenied
_QUERY_CODES = {"sns": "AuthorizationError"}
_XMLNS = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/", "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
          "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
          "sns": "http://sns.amazonaws.com/doc/2010-03-31/"}


def denial_response(service: str, denial: Denial) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) of AccessDenied as `service` answers it."""
    request_id = str(uuid.uuid4())
    protocol = protocol_of(service)
    message = denial.message
    if protocol == "rest-xml":  # S3 quotes the resource: on resource: "arn:aws:s3:::b/k"
        message = message.replace(f"on resource: {denial.resource}", f'on resource: "{denial.resource}"', 1)
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId>"
                f"<HostId>{request_id}</HostId></Error>").encode()
        return "403 Forbidden", [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body
    if protocol == "query":
        code = _QUERY_CODES.get(service, "AccessDenied")
        xmlns = _XMLNS.get(service, f"http://{service}.amazonaws.com/doc/")
        body = (f'<ErrorResponse xmlns="{xmlns}"><Error><Type>Sender</Type><Code>{code}</Code>'
                f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>").encode()
        return "403 Forbidden", [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body
    if protocol == "rest-json":
        body = json.dumps({"Type": "User", "Message": message, "message": message}).encode()
        return "403 Forbidden", [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException"),
                                 ("x-amzn-RequestId", request_id)], body
    # json protocol: 400 with __type, as DynamoDB, Step Functions, EventBridge, Logs, KMS, Secrets Manager answer
    body = json.dumps({"__type": "AccessDeniedException", "Message": message, "message": message}).encode()
    return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                               ("x-amzn-ErrorType", "AccessDeniedException"), ("x-amzn-RequestId", request_id)], body
