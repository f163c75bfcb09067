"""The AWS-like mode of the local cloud: where AWS is slower or stricter, behave like AWS.

    workshop local up --like-aws                       # delays as on AWS (see DEFAULT_SETTINGS)
    workshop local up --like-aws --event-delay 1-3 --iam-lag 0.5
    workshop local up --like-aws --learner-policy policies/learner-policy*.json
    LocalCloud(like_aws=Settings(event_delay=(1, 3), iam_lag=0.5))   # the tests' fixture

The plain local cloud is fast and forgiving, so code written against it can
stop or mislead a learner on a real account. In this mode the kit's AWS
target (`target="aws"`, see `workshop.aws.session`) runs end to end here, and
every behaviour below is one the kit must cope with on AWS. Each follows an
AWS documentation page:

1. **CloudTrail reaches EventBridge only through a trail, and late.** An IAM
   write call becomes an "AWS API Call via CloudTrail" event on the default
   bus only while a trail is logging (`StartLogging`) that records
   management write events and global service events (IAM's, which are
   recorded in us-east-1: a multi-Region trail, or one whose home Region is
   us-east-1); without one the event is dropped. A delivered event arrives
   after a delay drawn uniformly from `event_delay` seconds.
   - https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html
     ("a CloudTrail trail with logging enabled is required"; delivery is best effort)
   - https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-management-events-with-cloudtrail.html
     (read and write management events, event selectors)
   - https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-create-and-update-a-trail-by-using-the-aws-cli-update-trail.html
     (global service events: IAM's are recorded in us-east-1)
   - https://docs.aws.amazon.com/awscloudtrail/latest/userguide/how-cloudtrail-works.html
     (CloudTrail delivers within an average of about 5 minutes; not guaranteed)
   AWS documents no figure for the EventBridge path; the default range
   (20-120 s) is chosen to make the learner's watch cell wait, as it does on
   AWS, and the tests compress it (1-3 s).

2. **E-mail subscriptions wait for the recipient.** An `email` /
   `email-json` subscription is `PendingConfirmation` until confirmed:
   `Subscribe` answers "pending confirmation", `ListSubscriptions(ByTopic)`
   shows `PendingConfirmation` as its ARN, `GetSubscriptionAttributes` says
   `PendingConfirmation: "true"`, and a publish delivers nothing to it. The
   mailbox receives "AWS Notification - Subscription Confirmation" with a
   link; following it (a plain GET, as on AWS; the token is the secret) or
   `ConfirmSubscription` with the token confirms it. Tokens last three days.
   - https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html
   - https://docs.aws.amazon.com/sns/latest/api/API_ConfirmSubscription.html
   - https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html

3. **TestState assumes the role it is given.** Without a `mock`, `roleArn`
   is required (ValidationException); a `roleArn` that is not an IAM role
   ARN is `InvalidArn`; a role that does not exist in the account, or whose
   trust policy does not let `states.amazonaws.com` assume it, is
   `AccessDeniedException`, as CreateStateMachine answers for such a role.
   - https://docs.aws.amazon.com/step-functions/latest/dg/test-state-isolation.html
     ("When you specify a mock, specifying the role becomes optional";
     IAM permissions for using TestState)
   - https://docs.aws.amazon.com/step-functions/latest/apireference/API_TestState.html

4. **IAM is eventually consistent.** For `iam_lag` seconds after a policy,
   policy version, role or user is created, reads of it (GetPolicy,
   GetPolicyVersion, ListPolicyVersions, GetRole, ...) answer
   `NoSuchEntity`, as a read that reaches a server the change has not
   reached yet does. (AWS: "may", at random; here always, so the kit's
   handling is tested every time.)
   - https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
   - https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_manage-versions.html

5. **The learner is an IAM user, not the account's administrator**
   (`--learner-policy FILE...`). As a learner given an account by a
   facilitator is, the learner is the IAM user `learner` holding those
   policies (each file a customer managed policy named after the file,
   attached to the user), and the key the kit, `sam` and `workshop local env`
   use is that user's (credentials.py: `learner_*` in the key file); the
   local cloud evaluates its every request against them, as AWS does
   (server/authorization.py). The per-start key stays the account's
   administrator, for what a facilitator prepares (a trail, an SCP).

Where it hooks in (nothing else of the local cloud changes): CloudTrail's
one delivery point (`cloudtrail.deliver`); moto's SNS backend and response
methods for subscriptions; the server's IAM handler and its TestState route
call `iam_read_refused` / `iam_written` / `test_state_refusal`; the public
route `/_localcloud/sns/confirmation` serves the confirmation link.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from html import escape
from urllib.parse import parse_qs, urlencode

from .server.address import SNS_CONFIRMATION_PATH

log = logging.getLogger("workshop.localcloud.aws_like")

EVENT_REGION = "us-east-1"
CONFIRMATION_PATH = SNS_CONFIRMATION_PATH
CONFIRMATION_SUBJECT = "AWS Notification - Subscription Confirmation"
TOKEN_LIFETIME_S = 3 * 24 * 3600
EMAIL_PROTOCOLS = ("email", "email-json")
STATES_PRINCIPALS = ("states.amazonaws.com", f"states.{EVENT_REGION}.amazonaws.com")
ASSUME_DENIED = ("Neither the global service principal states.amazonaws.com, nor the regional one "
                 "is authorized to assume the provided role.")


LEARNER_USER = "learner"


@dataclass(frozen=True)
class Settings:
    """How slow the AWS-like mode is: `event_delay` (min, max) seconds, `iam_lag` seconds; and the policies
    the learner's IAM user holds (`learner_policies`: JSON files; none: the learner is the administrator)."""

    event_delay: tuple[float, float] = (20.0, 120.0)
    iam_lag: float = 2.0
    learner_policies: tuple[str, ...] = ()

    def __post_init__(self):
        low, high = self.event_delay
        if not 0 <= low <= high:
            raise ValueError(f"event_delay must be (min, max) with 0 <= min <= max, not {self.event_delay!r}")
        if self.iam_lag < 0:
            raise ValueError(f"iam_lag must be 0 or more seconds, not {self.iam_lag!r}")
        for path in self.learner_policies:
            learner_policy(path)  # a file that is no policy fails at start, saying which and why

    def cli_args(self) -> list[str]:
        low, high = self.event_delay
        args = ["--like-aws", "--event-delay", f"{low:g}-{high:g}", "--iam-lag", f"{self.iam_lag:g}"]
        if self.learner_policies:
            args += ["--learner-policy", *self.learner_policies]
        return args

    def describe(self) -> dict:
        return asdict(self)


DEFAULT_SETTINGS = Settings()


def learner_policy(path: str) -> tuple[str, str]:
    """(policy name, document) of a learner policy file; ValueError says what is wrong with it."""
    from pathlib import Path

    from workshop.iam import InvalidPolicyDocument, parse_policy_document, parse_statements

    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ValueError(f"--learner-policy {path}: cannot read it ({exc.strerror})") from None
    try:
        parse_statements(parse_policy_document(text))
    except InvalidPolicyDocument as exc:
        raise ValueError(f"--learner-policy {path}: IAM would refuse this policy: {exc}") from None
    return file.stem, text


def parse_delay(text: str) -> tuple[float, float]:
    """"1-3" -> (1.0, 3.0); "5" -> (5.0, 5.0). ValueError says what is expected."""
    parts = str(text).split("-")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not 0 <= values[0] <= values[-1]:
        raise ValueError(f"--event-delay takes seconds as MIN-MAX (e.g. 1-3) or one number, not {text!r}")
    return values[0], values[-1]


# --- 1. CloudTrail: the trail gate and the delay -----------------------------------------------------


def selects_management_writes(basic: list, advanced: list) -> bool:
    """Do a trail's event selectors (basic, advanced; as GetEventSelectors answers) record IAM's writes?

    Also what the kit's trail check asks of a real trail (workshop.teaching.setup_check).
    """
    if advanced:
        for selector in advanced:
            fields = {f.get("Field"): f for f in selector.get("FieldSelectors") or []}
            if "Management" not in ((fields.get("eventCategory") or {}).get("Equals") or []):
                continue
            if "true" in [str(v).lower() for v in (fields.get("readOnly") or {}).get("Equals") or []]:
                continue
            if "iam.amazonaws.com" in ((fields.get("eventSource") or {}).get("NotEquals") or []):
                continue
            return True
        return False
    if not basic:  # no selectors: a trail records every management event
        return True
    return any(s.get("IncludeManagementEvents", True) is not False and s.get("ReadWriteType", "All") in
               ("All", "WriteOnly") and "iam.amazonaws.com" not in (s.get("ExcludeManagementEventSources") or [])
               for s in basic)


def trail_records_iam_writes(trail) -> bool:
    """Logging, IAM's Region (multi-Region or home us-east-1), global service events, management writes."""
    return (bool(trail.status.is_logging)
            and (trail.is_multi_region or trail.region_name == EVENT_REGION)
            and bool(trail.include_global_service_events)
            and selects_management_writes(*trail.get_event_selectors()))


def recording_trail(account_id: str):
    """A trail of the account that records IAM write calls now, or None."""
    from moto.cloudtrail.models import cloudtrail_backends

    for backend in list(cloudtrail_backends[account_id].values()):
        for trail in list(backend.trails.values()):
            if trail_records_iam_writes(trail):
                return trail
    return None


# --- 2. SNS e-mail subscriptions that wait for a confirmation ----------------------------------------


@dataclass
class _Pending:
    token: str
    topic_arn: str
    subscription_arn: str
    expires: float


# --- 3. TestState's role -------------------------------------------------------------------------------


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _matches_any(patterns, value: str) -> bool:
    return any(isinstance(p, str) and fnmatch.fnmatchcase(value.lower(), p.lower()) for p in _as_list(patterns))


def trusts_step_functions(trust_policy) -> bool:
    """Does the role's trust policy let Step Functions call sts:AssumeRole (and no Deny stop it)?"""
    if isinstance(trust_policy, str):
        try:
            trust_policy = json.loads(trust_policy)
        except ValueError:
            return False
    if not isinstance(trust_policy, dict):
        return False
    allowed = False
    for statement in _as_list(trust_policy.get("Statement") or []):
        if not isinstance(statement, dict) or not _matches_any(statement.get("Action") or [], "sts:AssumeRole"):
            continue
        principal = statement.get("Principal")
        if isinstance(principal, dict):
            names = _as_list(principal.get("Service") or []) + _as_list(principal.get("AWS") or [])
        else:
            names = _as_list(principal or [])
        if not any(n == "*" or n in STATES_PRINCIPALS for n in names if isinstance(n, str)):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


# --- 4. IAM's eventual consistency ------------------------------------------------------------------------


_READS = {
    # action -> what it reads: ("policy", PolicyArn) or ("version", PolicyArn, VersionId) or ("role"/"user", Name)
    "GetPolicy": ("policy",), "ListPolicyVersions": ("policy",), "ListEntitiesForPolicy": ("policy",),
    "GetPolicyVersion": ("version",), "GetRole": ("role",), "ListRolePolicies": ("role",),
    "ListAttachedRolePolicies": ("role",), "GetRolePolicy": ("role",), "GetUser": ("user",),
    "ListUserPolicies": ("user",), "ListAttachedUserPolicies": ("user",),
}
_MISSING_MESSAGES = {
    "policy": "Policy {0} was not found.",
    "version": "Policy {0} version {1} does not exist or is not attachable.",
    "role": "The role with name {0} cannot be found.",
    "user": "The user with name {0} cannot be found.",
}


def _form(body: bytes) -> dict:
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _first(form: dict, name: str) -> str:
    return (form.get(name) or [""])[0]


def _xml_text(xml: bytes, tag: str) -> str | None:
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(xml)
    except (ParseError, ValueError):
        return None
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == tag:
            return element.text
    return None


def iam_error(code: str, message: str) -> bytes:
    """An IAM (query protocol) error body, as AWS sends it."""
    return (f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>").encode()


# --- the mode ----------------------------------------------------------------------------------------------


class AwsLikeMode:
    """The state and the hooks of the AWS-like mode, for one server process."""

    def __init__(self, settings: Settings = DEFAULT_SETTINGS, endpoint: str = "http://127.0.0.1:4566"):
        self.settings = settings
        self.endpoint = endpoint.rstrip("/")
        self._random = secrets.SystemRandom()
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}          # subscription ARN -> its confirmation
        self._created: dict[tuple, float] = {}            # IAM entity key -> monotonic time it was created
        self.dropped_events = 0                           # CloudTrail events no trail recorded
        self.delivered_events = 0

    def describe(self) -> dict:
        return {**self.settings.describe(), "dropped_events": self.dropped_events,
                "delivered_events": self.delivered_events}

    # installing -----------------------------------------------------------------------------------
    def install(self) -> None:
        from .services import cloudtrail

        cloudtrail.deliver = self.deliver
        self._install_sns()

    # 5. the learner as an IAM user ------------------------------------------------------------------
    def install_learner(self, credentials, account_id: str) -> None:
        """Make the learner's IAM user with its policies and the key `credentials.learner_*` names."""
        if not self.settings.learner_policies or not credentials.learner_access_key_id:
            return
        from moto.iam.models import iam_backends

        backend = iam_backends[account_id]["global"]
        user = backend.create_user("us-east-1", LEARNER_USER)
        for path in self.settings.learner_policies:
            name, document = learner_policy(path)
            policy = backend.create_policy(description=f"the learner's policy ({path})", path="/",
                                           policy_document=document, policy_name=name, tags=[])
            backend.attach_user_policy(policy.arn, LEARNER_USER)
        key = backend.create_access_key(LEARNER_USER)
        backend.access_keys.pop(key.access_key_id, None)
        key.access_key_id = credentials.learner_access_key_id
        key.secret_access_key = credentials.learner_secret_access_key
        backend.access_keys[key.access_key_id] = key
        log.info("AWS-like mode: the learner is %s with %d policies", user.arn, len(self.settings.learner_policies))

    # 1. CloudTrail -----------------------------------------------------------------------------------
    def delay(self) -> float:
        low, high = self.settings.event_delay
        return self._random.uniform(low, high)

    def deliver(self, event: dict) -> None:
        """Put a CloudTrail event on the bus later, if a trail records it now; else drop it."""
        from .services import cloudtrail

        if recording_trail(event["account"]) is None:
            self.dropped_events += 1
            log.info("CloudTrail event %s dropped: no trail records IAM's management write events "
                     "(CreateTrail, StartLogging)", event["detail"].get("eventName"))
            return
        timer = threading.Timer(self.delay(), self._put_later, args=(cloudtrail.put_event, event))
        timer.daemon = True
        timer.start()

    def _put_later(self, put_event, event: dict) -> None:
        try:
            put_event(event)
            self.delivered_events += 1
        except Exception:  # a timer thread: log it, nobody else would see it
            log.exception("could not deliver the CloudTrail event %s", event["detail"].get("eventID"))

    # 2. SNS --------------------------------------------------------------------------------------------
    def _install_sns(self) -> None:
        from moto.sns.models import SNSBackend, Subscription
        from moto.sns.responses import SNSResponse

        mode = self
        if getattr(SNSBackend.subscribe, "_aws_like", False):  # once per process
            return
        subscribe, publish = SNSBackend.subscribe, Subscription.publish
        respond_subscribe = SNSResponse.subscribe
        respond_list, respond_list_by_topic = SNSResponse.list_subscriptions, SNSResponse.list_subscriptions_by_topic

        def subscribe_pending(self, topic_arn, endpoint, protocol):
            existing = self._find_subscription(topic_arn, endpoint, protocol)
            subscription = subscribe(self, topic_arn, endpoint, protocol)
            if protocol in EMAIL_PROTOCOLS and existing is None:
                mode.hold(subscription)
            return subscription

        def publish_confirmed(self, message, message_id, subject=None, **kwargs):
            if self.protocol in EMAIL_PROTOCOLS and mode.is_pending(self.arn):
                log.info("SNS: nothing delivered to %s: its subscription is pending confirmation",
                         self.arn.rsplit(":", 1)[-1])
                return None
            return publish(self, message, message_id, subject=subject, **kwargs)

        def shown(result):
            # Only what the API answers changes: moto itself (Topic.publish) lists the real objects.
            listed = []
            for subscription in result.result.get("Subscriptions") or []:
                if mode.is_pending(subscription.arn):
                    subscription = copy.copy(subscription)
                    subscription.arn = "PendingConfirmation"
                listed.append(subscription)
            result.result["Subscriptions"] = listed
            return result

        def list_subscriptions(self):
            return shown(respond_list(self))

        def list_subscriptions_by_topic(self):
            return shown(respond_list_by_topic(self))

        def respond_to_subscribe(self):
            result = respond_subscribe(self)
            arn = (result.result or {}).get("SubscriptionArn") if hasattr(result, "result") else None
            wants_arn = str(self._get_param("ReturnSubscriptionArn") or "").lower() == "true"
            if arn and mode.is_pending(arn) and not wants_arn:
                result.result["SubscriptionArn"] = "pending confirmation"
            return result

        def confirm_subscription(self):
            from moto.core.responses import ActionResult
            from moto.sns.exceptions import SNSInvalidParameter

            arn = mode.confirm(self._get_param("TopicArn"), self._get_param("Token"))
            if arn is None:
                raise SNSInvalidParameter("Invalid token")
            return ActionResult({"SubscriptionArn": arn})

        for owner, name, patched in ((SNSBackend, "subscribe", subscribe_pending),
                                     (Subscription, "publish", publish_confirmed),
                                     (SNSResponse, "list_subscriptions", list_subscriptions),
                                     (SNSResponse, "list_subscriptions_by_topic", list_subscriptions_by_topic),
                                     (SNSResponse, "subscribe", respond_to_subscribe),
                                     (SNSResponse, "confirm_subscription", confirm_subscription)):
            patched._aws_like = True
            setattr(owner, name, patched)

    def hold(self, subscription) -> str:
        """Mark an e-mail subscription pending and send its confirmation message; returns the token."""
        from .services.mailbox import MAILBOX

        token = secrets.token_hex(64)
        with self._lock:
            self._pending[subscription.arn] = _Pending(token, subscription.topic.arn, subscription.arn,
                                                       time.time() + TOKEN_LIFETIME_S)
        subscription.attributes.update({"PendingConfirmation": "true", "ConfirmationWasAuthenticated": "false"})
        _count(subscription.topic, pending=+1)
        link = self.endpoint + CONFIRMATION_PATH + "?" + urlencode(
            {"TopicArn": subscription.topic.arn, "Token": token, "Endpoint": subscription.endpoint})
        body = (f"You have chosen to subscribe to the topic:\n{subscription.topic.arn}\n\n"
                "To confirm this subscription, click or visit the link below (If this was in error no action "
                f"is necessary):\nConfirm subscription: {link}\n\n"
                "Please do not reply directly to this email. If you wish to remove yourself from receiving all "
                "future SNS subscription confirmation requests please send an email to sns-opt-out")
        MAILBOX.deliver(subscription.endpoint, CONFIRMATION_SUBJECT, body, topic_arn=subscription.topic.arn,
                        message_id=str(uuid.uuid4()), kind="SubscriptionConfirmation")
        return token

    def is_pending(self, subscription_arn: str) -> bool:
        with self._lock:
            return subscription_arn in self._pending

    def confirm(self, topic_arn: str, token: str) -> str | None:
        """The confirmed subscription's ARN, or None for a wrong, expired or used token."""
        from moto.sns.models import sns_backends

        with self._lock:
            match = next((p for p in self._pending.values() if p.topic_arn == topic_arn
                          and secrets.compare_digest(p.token, token or "")), None)
            if match is None or match.expires < time.time():
                return None
            del self._pending[match.subscription_arn]
        parts = topic_arn.split(":")
        subscription = sns_backends[parts[4]][parts[3]].subscriptions.get(match.subscription_arn)
        if subscription is not None:
            subscription.attributes.update({"PendingConfirmation": "false"})
            _count(subscription.topic, pending=-1, confirmed=+1)
        return match.subscription_arn

    def confirmation_page(self, request):
        """GET /_localcloud/sns/confirmation?TopicArn&Token: confirm, as AWS's link does."""
        from werkzeug.wrappers import Response

        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                   "Content-Security-Policy": "default-src 'none'"}
        if request.method not in ("GET", "HEAD"):
            return Response("Use the link from the confirmation e-mail.\n", status=405,
                            headers={**headers, "Allow": "GET, HEAD"}, content_type="text/plain")
        arn = self.confirm(request.args.get("TopicArn", ""), request.args.get("Token", ""))
        if arn is None:
            return Response("<h1>Subscription not confirmed</h1><p>The link is wrong, expired or already "
                            "used.</p>", status=400, headers=headers, content_type="text/html")
        return Response(f"<h1>Subscription confirmed!</h1><p>You have successfully subscribed.</p>"
                        f"<p>Your subscription's id is: {escape(arn)}</p>", headers=headers,
                        content_type="text/html")

    # 3. TestState's role -------------------------------------------------------------------------------
    def test_state_refusal(self, target: str, body: bytes, account_id: str) -> tuple[int, dict] | None:
        """(status, AWS error) when Step Functions would refuse the TestState request's role; else None."""
        if not target.endswith(".TestState"):
            return None
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return None  # the API answers malformed JSON itself
        if not isinstance(request, dict):
            return None
        role_arn = request.get("roleArn")
        if not role_arn:
            if request.get("mock") is None:
                return 400, {"__type": "ValidationException",
                             "message": "roleArn is required unless a mock is specified."}
            return None
        parts = str(role_arn).split(":", 5)
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "iam"] or not parts[5].startswith("role/"):
            return 400, {"__type": "InvalidArn", "message": f"Invalid Arn: 'Resource type not valid in this "
                                                            f"context: {role_arn}'"}
        role = _role_by_arn(account_id, role_arn) if parts[4] == account_id else None
        if role is None or not trusts_step_functions(role.assume_role_policy_document):
            return 400, {"__type": "AccessDeniedException", "message": ASSUME_DENIED}
        return None

    # 4. IAM's eventual consistency -------------------------------------------------------------------
    def iam_written(self, body: bytes, response_xml: bytes) -> None:
        """Remember what a successful IAM call created (reads of it lag for `iam_lag` s)."""
        form = _form(body)
        action = _first(form, "Action")
        key = None
        if action == "CreatePolicy":
            arn = _xml_text(response_xml, "Arn")
            key = ("policy", arn) if arn else None
        elif action == "CreatePolicyVersion":
            version = _xml_text(response_xml, "VersionId")
            key = ("version", _first(form, "PolicyArn"), version) if version else None
        elif action == "CreateRole":
            key = ("role", _first(form, "RoleName"))
        elif action == "CreateUser":
            key = ("user", _first(form, "UserName"))
        if key and self.settings.iam_lag > 0:
            with self._lock:
                now = time.monotonic()
                self._created = {k: t for k, t in self._created.items() if now - t < self.settings.iam_lag}
                self._created[key] = now

    def iam_read_refused(self, body: bytes) -> bytes | None:
        """A NoSuchEntity body when the call reads an entity created less than `iam_lag` s ago."""
        if self.settings.iam_lag <= 0:
            return None
        form = _form(body)
        kind = _READS.get(_first(form, "Action"))
        if kind is None:
            return None
        kind = kind[0]
        if kind in ("policy", "version"):
            arn, version = _first(form, "PolicyArn"), _first(form, "VersionId")
            candidates = [(("policy", arn), _MISSING_MESSAGES["policy"].format(arn))]
            if kind == "version":
                candidates.append((("version", arn, version), _MISSING_MESSAGES["version"].format(arn, version)))
        else:
            name = _first(form, "RoleName" if kind == "role" else "UserName")
            candidates = [((kind, name), _MISSING_MESSAGES[kind].format(name))]
        now = time.monotonic()
        with self._lock:
            lagging = [message for key, message in candidates
                       if now - self._created.get(key, -1e9) < self.settings.iam_lag]
        if not lagging:
            return None
        message = lagging[0]
        return iam_error("NoSuchEntity", message)


def _count(topic, pending: int = 0, confirmed: int = 0) -> None:
    topic.subscriptions_pending = max(0, int(getattr(topic, "subscriptions_pending", 0) or 0) + pending)
    topic.subscriptions_confimed = max(0, int(getattr(topic, "subscriptions_confimed", 0) or 0) + confirmed)


def _role_by_arn(account_id: str, role_arn: str):
    from moto.iam.models import iam_backends

    try:
        return iam_backends[account_id]["aws"].get_role_by_arn(role_arn)
    except Exception:  # moto's IAMNotFoundException: no such role
        return None
