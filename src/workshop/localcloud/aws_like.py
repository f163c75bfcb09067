"""The AWS-like mode of the local cloud: where AWS is slower or stricter, behave like AWS.

    workshop local up --like-aws                       # delays as on AWS (see DEFAULT_SETTINGS)
    workshop local up --like-aws --event-delay 1-3 --iam-lag 0.5 --lambda-concurrency-limit 10
    workshop local up --like-aws --learner-policy policies/learner-policy*.json
    LocalCloud(like_aws=Settings(event_delay=(2, 4), iam_lag=0.5))   # the tests' fixture

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
   AWS, and the tests compress it (2-4 s).

2. **E-mail subscriptions wait for the recipient.** An `email` /
   `email-json` subscription is `PendingConfirmation` until confirmed:
   `Subscribe` answers "pending confirmation", `ListSubscriptions(ByTopic)`
   shows `PendingConfirmation` as its ARN, `GetSubscriptionAttributes` says
   `PendingConfirmation: "true"`, and a publish delivers nothing to it. The
   mailbox receives "AWS Notification - Subscription Confirmation" with a
   link; following it (a plain GET, as on AWS; the token is the secret) or
   `ConfirmSubscription` with the token confirms it. Tokens last two days
   ("Confirmation tokens are valid for two days"), and SNS deletes an
   unconfirmed subscription after 48 hours: then the link is refused and a
   new `Subscribe` starts again (a new pending subscription, a new e-mail).
   `Subscribe` for an address still pending sends a new confirmation e-mail
   (AWS documents no answer for that case; this is what the learner needs to
   rehearse). Days pass on a clock `day_length` real seconds long per day
   (86400 by default; the tests compress it).
   - https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html
   - https://docs.aws.amazon.com/sns/latest/api/API_ConfirmSubscription.html
   - https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html
   - https://docs.aws.amazon.com/sns/latest/dg/sns-delete-subscription-topic.html
     ("Amazon SNS automatically deletes unconfirmed subscriptions after 48 hours")

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

5. **Lambda has an account concurrency quota.** `GetAccountSettings`
   answers `ConcurrentExecutions` = `lambda_concurrency_limit` (1000, AWS's
   default; new accounts get less) and what is left unreserved. A
   reservation (`PutFunctionConcurrency`, or `ReservedConcurrentExecutions`
   of a function CloudFormation creates) that would leave fewer than 100
   executions unreserved is refused with AWS's
   `InvalidParameterValueException` ("Specified ReservedConcurrentExecutions
   for function decreases account's UnreservedConcurrentExecution below its
   minimum value of [100]."), so a stack that reserves any in an account of
   10 fails to create.
   - https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html
     ("as long as you leave at least 100 simultaneous executions unreserved")
   - https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html
   - https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
     ("New AWS accounts have reduced concurrency and memory quotas")

6. **A stack whose creation failed can only be deleted.** It ends in
   `ROLLBACK_COMPLETE` (the local cloud's CloudFormation does that in both
   modes); here an update of a stack in `ROLLBACK_COMPLETE`,
   `ROLLBACK_FAILED`, `DELETE_FAILED` or `UPDATE_ROLLBACK_FAILED`
   (`CreateChangeSet` of type UPDATE, what `sam deploy` sends, or
   `UpdateStack`) is refused with CloudFormation's `ValidationError`
   "Stack:<stack id> is in ROLLBACK_COMPLETE state and can not be updated."
   - https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-describing-stacks.html
     (stack status codes: ROLLBACK_COMPLETE, "When in this state, only a delete
     operation can be performed")

7. **A new definition takes a few seconds to be used.** For
   `definition_lag` seconds after `UpdateStateMachine` changes a definition,
   executions started on the state machine's (unqualified) ARN run the
   previous definition (AWS: "may"; here always). An execution started on a
   version ARN runs that version: versions do not change.
   - https://docs.aws.amazon.com/step-functions/latest/apireference/API_UpdateStateMachine.html
     ("Executions started immediately after you call UpdateStateMachine may
     use the previous state machine definition and roleArn")
   - https://docs.aws.amazon.com/step-functions/latest/dg/concepts-state-machine-version.html

8. **A trail's bucket must let CloudTrail write.** CreateTrail (and an
   UpdateTrail that names a bucket) is refused with
   `InsufficientS3BucketPolicyException` ("Incorrect S3 bucket policy is
   detected for bucket: NAME") unless the bucket's policy allows the service
   principal cloudtrail.amazonaws.com `s3:GetBucketAcl` on the bucket and
   `s3:PutObject` on `[prefix/]AWSLogs/ACCOUNT/*` with the ACL
   bucket-owner-full-control (conditions on `aws:SourceArn` /
   `aws:SourceAccount` must name the trail / account). `workshop trail
   create` makes such a bucket (`workshop.aws.trail`).
   - https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html
   - https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_CreateTrail.html (its errors)

9. **The learner is an IAM user, not the account's administrator**
   (`--learner-policy FILE...`). As a learner given an account by a
   facilitator is, the learner is the IAM user `learner` holding those
   policies (each file a customer managed policy named after the file,
   attached to the user), and the key the kit, `sam` and `workshop local env`
   use is that user's (credentials.py: `learner_*` in the key file); the
   local cloud evaluates its every request against them, as AWS does
   (server/authorization.py). The per-start key stays the account's
   administrator, for what a facilitator prepares (a trail, an SCP). As an
   account owner does once (docs/facilitator.md), the administrator makes the
   CloudFormation service role and the artifacts bucket of
   policies/deployer-role.yaml at start: the learner deploys through them
   (`sam deploy --role-arn ... --s3-bucket ...`), as on AWS.

Where it hooks in (nothing else of the local cloud changes): CloudTrail's
one delivery point (`cloudtrail.deliver`); moto's SNS backend and response
methods for subscriptions; moto's Lambda backend (reservations) and a
`GetAccountSettings` response; moto's CloudFormation backend (updates of a
failed stack); the Step Functions engine's `update_state_machine` and
`start_execution`; the server's IAM handler and its TestState route call
`iam_read_refused` / `iam_written` / `test_state_refusal`; CloudTrail's
CreateTrail / UpdateTrail call `trail_refusal`; the public route
`/_localcloud/sns/confirmation` serves the confirmation link. Each moto
attribute it changes is registered in seams.py (group "aws-like").
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
TOKEN_LIFETIME_DAYS = 2  # and SNS deletes an unconfirmed subscription after 48 hours
DAY_S = 24 * 3600.0
EMAIL_PROTOCOLS = ("email", "email-json")
STATES_PRINCIPALS = ("states.amazonaws.com", f"states.{EVENT_REGION}.amazonaws.com")
ASSUME_DENIED = ("Neither the global service principal states.amazonaws.com, nor the regional one "
                 "is authorized to assume the provided role.")
UNRESERVED_MINIMUM = 100
RESERVATION_REFUSED = ("Specified ReservedConcurrentExecutions for function decreases account's "
                       f"UnreservedConcurrentExecution below its minimum value of [{UNRESERVED_MINIMUM}].")
# Lambda's code-size quotas, as GetAccountSettings reports them (https://docs.aws.amazon.com/lambda/latest/dg/
# gettingstarted-limits.html): 75 GB of storage, 250 MB unzipped, 50 MB zipped.
CODE_SIZE_LIMITS = {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800}
ACCOUNT_SETTINGS_PATH = r"{0}/(?P<api_version>[^/]+)/account-settings/?$"
# CloudFormation: only a delete can follow these (the stack status codes page)
NOT_UPDATABLE = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED")


LEARNER_USER = "learner"
DEPLOYER_ROLE_TEMPLATE = "deployer-role.yaml"  # in the checkout's policies/, beside the learner policies


@dataclass(frozen=True)
class Settings:
    """How slow and how strict the AWS-like mode is.

    `event_delay` (min, max) seconds CloudTrail takes; `iam_lag` seconds IAM reads lag behind creations;
    `lambda_concurrency_limit` the account's Lambda concurrency (AWS's default 1000; a new account's may
    be 10); `definition_lag` seconds a new state machine definition takes to be used; `day_length` real
    seconds per day on the clock SNS confirmation tokens expire by; `learner_policies` the policies the
    learner's IAM user holds (JSON files; none: the learner is the administrator).
    """

    event_delay: tuple[float, float] = (20.0, 120.0)
    iam_lag: float = 2.0
    lambda_concurrency_limit: int = 1000
    definition_lag: float = 5.0
    day_length: float = DAY_S
    learner_policies: tuple[str, ...] = ()

    def __post_init__(self):
        low, high = self.event_delay
        if not 0 <= low <= high:
            raise ValueError(f"event_delay must be (min, max) with 0 <= min <= max, not {self.event_delay!r}")
        if self.iam_lag < 0:
            raise ValueError(f"iam_lag must be 0 or more seconds, not {self.iam_lag!r}")
        if isinstance(self.lambda_concurrency_limit, bool) or not isinstance(self.lambda_concurrency_limit, int) \
                or self.lambda_concurrency_limit < 1:
            raise ValueError("lambda_concurrency_limit must be a whole number of executions, 1 or more, not "
                             f"{self.lambda_concurrency_limit!r}")
        if self.definition_lag < 0:
            raise ValueError(f"definition_lag must be 0 or more seconds, not {self.definition_lag!r}")
        if not self.day_length > 0:
            raise ValueError(f"day_length must be more than 0 seconds, not {self.day_length!r}")
        for path in self.learner_policies:
            learner_policy(path)  # a file that is no policy fails at start, saying which and why

    def cli_args(self) -> list[str]:
        low, high = self.event_delay
        args = ["--like-aws", "--event-delay", f"{low:g}-{high:g}", "--iam-lag", f"{self.iam_lag:g}",
                "--lambda-concurrency-limit", str(self.lambda_concurrency_limit),
                "--definition-lag", f"{self.definition_lag:g}", "--day-length", f"{self.day_length:g}"]
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


def _make_artifacts_bucket(properties: dict, account_id: str) -> str:
    """The deployer template's artifacts bucket in `account_id`: its name (`Fn::Sub` of the account id),
    versioning and default encryption. Not its bucket policy (it denies requests without TLS, and the local
    cloud speaks plain HTTP; moto's CloudFormation does not make bucket policies either)."""
    from moto.s3.models import s3_backends

    name = properties["BucketName"]
    if isinstance(name, dict):
        name = name["Fn::Sub"].replace("${AWS::AccountId}", account_id)
    s3 = s3_backends[account_id]["aws"]
    s3.create_bucket(name, EVENT_REGION)
    if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(name, "Enabled")
    encryption = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
    if encryption:
        # moto keeps the configuration as its XML reads (one rule: a mapping)
        s3.put_bucket_encryption(name, {"Rule": {"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": encryption[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]}}})
    return name


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


def recording_trail(account_id: str, source: str = "aws.iam"):
    """A trail of the account that records the event's source's write calls now, or None: IAM's (a
    global service) need a trail as `trail_records_iam_writes` says; EventBridge's regional ones a
    logging trail that selects management writes; CloudTrail records the calls on its own trails
    (StopLogging is a stopped trail's last record) while it has one."""
    from moto.cloudtrail.models import cloudtrail_backends

    for backend in list(cloudtrail_backends[account_id].values()):
        for trail in list(backend.trails.values()):
            if source == "aws.cloudtrail" or (trail_records_iam_writes(trail) if source == "aws.iam" else (
                    bool(trail.status.is_logging) and selects_management_writes(*trail.get_event_selectors()))):
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
        self._definitions: dict[str, tuple] = {}          # state machine ARN -> (monotonic time, definition before)
        self._definition_lock = threading.Lock()          # updates and starts of state machines, one at a time
        self.dropped_events = 0                           # CloudTrail events no trail recorded
        self.delivered_events = 0

    def describe(self) -> dict:
        return {**self.settings.describe(), "dropped_events": self.dropped_events,
                "delivered_events": self.delivered_events}

    # installing -----------------------------------------------------------------------------------
    def install(self) -> None:
        from .services import cloudtrail

        from .server import wiring

        cloudtrail.deliver = self.deliver
        self._install_sns()
        self._install_lambda_concurrency()
        # moto's CloudFormation and Step Functions engine load slowly: changed when the server loads them
        wiring.after("cloudformation", self._install_failed_stacks)
        wiring.after("stepfunctions", self._install_definition_lag)

    # 9. the learner as an IAM user ------------------------------------------------------------------
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
        self.install_deployer_role(backend)
        key = backend.create_access_key(LEARNER_USER)
        backend.access_keys.pop(key.access_key_id, None)
        key.access_key_id = credentials.learner_access_key_id
        key.secret_access_key = credentials.learner_secret_access_key
        backend.access_keys[key.access_key_id] = key
        log.info("AWS-like mode: the learner is %s with %d policies", user.arn, len(self.settings.learner_policies))

    @staticmethod
    def install_deployer_role(backend) -> str | None:
        """Make what policies/deployer-role.yaml makes, as the account's administrator would deploy it: the
        CloudFormation service role (name, trust, inline policies) and the artifacts bucket (versioned,
        encrypted). Its role's ARN, or None without the file."""
        from pathlib import Path

        import yaml

        path = Path(__file__).resolve().parents[3] / "policies" / DEPLOYER_ROLE_TEMPLATE
        if not path.is_file():
            log.warning("AWS-like mode: no %s, so the learner deploys with no service role", path)
            return None
        resources = yaml.safe_load(path.read_text())["Resources"]
        (role,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
        made = backend.create_role(role["RoleName"], json.dumps(role["AssumeRolePolicyDocument"]), "/", None,
                                   role.get("Description", ""), [], "3600")
        for policy in role.get("Policies", []):
            backend.put_role_policy(role["RoleName"], policy["PolicyName"], json.dumps(policy["PolicyDocument"]))
        for bucket in [r["Properties"] for r in resources.values() if r["Type"] == "AWS::S3::Bucket"]:
            _make_artifacts_bucket(bucket, backend.account_id)
        return made.arn

    # 1. CloudTrail -----------------------------------------------------------------------------------
    def delay(self) -> float:
        low, high = self.settings.event_delay
        return self._random.uniform(low, high)

    def deliver(self, event: dict) -> None:
        """Put a CloudTrail event on the bus later, if a trail records it now; else drop it."""
        from .services import cloudtrail

        if recording_trail(event["account"], event.get("source", "aws.iam")) is None:
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
            mode.lapse_expired()
            existing = self._find_subscription(topic_arn, endpoint, protocol)
            subscription = subscribe(self, topic_arn, endpoint, protocol)
            if protocol in EMAIL_PROTOCOLS and existing is None:
                mode.hold(subscription)
            elif protocol in EMAIL_PROTOCOLS and mode.is_pending(subscription.arn):
                mode.hold(subscription, again=True)
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
            mode.lapse_expired()
            return shown(respond_list(self))

        def list_subscriptions_by_topic(self):
            mode.lapse_expired()
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

    def token_lifetime(self) -> float:
        """Seconds a confirmation token (and an unconfirmed subscription) lasts: two days on this mode's clock."""
        return TOKEN_LIFETIME_DAYS * self.settings.day_length

    def hold(self, subscription, again: bool = False) -> str:
        """Mark an e-mail subscription pending and send its confirmation message; returns the token.

        `again`: a Subscribe for an address still pending, which gets a new message (and a new two days).
        """
        from .services.mailbox import MAILBOX

        token = secrets.token_hex(64)
        with self._lock:
            self._pending[subscription.arn] = _Pending(token, subscription.topic.arn, subscription.arn,
                                                       time.time() + self.token_lifetime())
        subscription.attributes.update({"PendingConfirmation": "true", "ConfirmationWasAuthenticated": "false"})
        if not again:
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

    def lapse_expired(self) -> list:
        """Delete the subscriptions still unconfirmed when their token expired, as SNS does after 48 hours;
        returns their ARNs. Their links are refused from then on; a new Subscribe starts again."""
        from moto.sns.models import sns_backends

        now = time.time()
        with self._lock:
            lapsed = [p for p in self._pending.values() if p.expires <= now]
            for pending in lapsed:
                del self._pending[pending.subscription_arn]
        for pending in lapsed:
            parts = pending.topic_arn.split(":")
            backend = sns_backends[parts[4]][parts[3]]
            subscription = backend.subscriptions.get(pending.subscription_arn)
            if subscription is not None:
                _count(subscription.topic, pending=-1)
                backend.unsubscribe(pending.subscription_arn)
            log.info("SNS: the subscription %s was not confirmed within two days: deleted",
                     pending.subscription_arn.rsplit(":", 1)[-1])
        return [p.subscription_arn for p in lapsed]

    def confirm(self, topic_arn: str, token: str) -> str | None:
        """The confirmed subscription's ARN, or None for a wrong, expired or used token."""
        from moto.sns.models import sns_backends

        self.lapse_expired()
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

    # 5. Lambda's account concurrency -------------------------------------------------------------------
    def _install_lambda_concurrency(self) -> None:
        from moto.awslambda import urls
        from moto.awslambda.models import LambdaBackend
        from moto.awslambda.responses import LambdaResponse

        mode = self
        if getattr(LambdaBackend.put_function_concurrency, "_aws_like", False):  # once per process
            return
        create, put = LambdaBackend.create_function, LambdaBackend.put_function_concurrency

        def create_function(self, spec):
            wanted = spec.get("ReservedConcurrentExecutions")
            if wanted not in (None, ""):  # CloudFormation's AWS::Lambda::Function reserves as it creates
                mode.check_reservation(self, None, wanted)
            return create(self, spec)

        def put_function_concurrency(self, function_name, reserved_concurrency):
            mode.check_reservation(self, self.get_function(function_name), reserved_concurrency)
            return put(self, function_name, reserved_concurrency)

        def get_account_settings(self):
            return 200, {}, json.dumps(mode.account_settings(self.backend))

        for owner, name, patched in ((LambdaBackend, "create_function", create_function),
                                     (LambdaBackend, "put_function_concurrency", put_function_concurrency),
                                     (LambdaResponse, "get_account_settings", get_account_settings)):
            patched._aws_like = True
            setattr(owner, name, patched)
        urls.url_paths.setdefault(ACCOUNT_SETTINGS_PATH, LambdaResponse.dispatch)

    @staticmethod
    def reserved(backend, leaving_out=None) -> int:
        """Executions the account's functions reserve (but `leaving_out`'s, a reservation being replaced)."""
        return sum(int(fn.reserved_concurrency) for fn in backend.list_functions()
                   if fn is not leaving_out and fn.reserved_concurrency not in (None, ""))

    def check_reservation(self, backend, function, wanted) -> None:
        """Refuse, as Lambda does, a reservation that would leave fewer than 100 executions unreserved."""
        from moto.awslambda.exceptions import InvalidParameterValueException

        wanted = int(wanted)
        if wanted <= 0:  # reserving 0 (throttling a function) takes nothing from the others
            return
        unreserved = self.settings.lambda_concurrency_limit - self.reserved(backend, function) - wanted
        if unreserved < UNRESERVED_MINIMUM:
            raise InvalidParameterValueException(RESERVATION_REFUSED)

    def account_settings(self, backend) -> dict:
        """GetAccountSettings: the account's concurrency quota and what is unreserved, its code storage."""
        functions = list(backend.list_functions())
        limit = self.settings.lambda_concurrency_limit
        return {"AccountLimit": {**CODE_SIZE_LIMITS, "ConcurrentExecutions": limit,
                                 "UnreservedConcurrentExecutions": limit - self.reserved(backend)},
                "AccountUsage": {"TotalCodeSize": sum(int(getattr(fn, "code_size", 0) or 0) for fn in functions),
                                 "FunctionCount": len(functions)}}

    # 6. A stack whose creation failed can only be deleted ------------------------------------------------
    def _install_failed_stacks(self) -> None:
        from moto.cloudformation.models import CloudFormationBackend

        if getattr(CloudFormationBackend.update_stack, "_aws_like", False):  # once per process
            return
        create_change_set, update_stack = CloudFormationBackend.create_change_set, CloudFormationBackend.update_stack

        def create_change_set_checked(self, *args, **kwargs):
            # moto's order: stack_name, change_set_name, template, parameters, description, change_set_type
            change_set_type = kwargs.get("change_set_type", args[5] if len(args) > 5 else None)
            if change_set_type == "UPDATE":
                refuse_update(self, kwargs.get("stack_name", args[0] if args else None))
            return create_change_set(self, *args, **kwargs)

        def update_stack_checked(self, *args, **kwargs):
            refuse_update(self, kwargs.get("name", args[0] if args else None))
            return update_stack(self, *args, **kwargs)

        for name, patched in (("create_change_set", create_change_set_checked),
                              ("update_stack", update_stack_checked)):
            patched._aws_like = True
            setattr(CloudFormationBackend, name, patched)

    # 7. A new definition takes a few seconds to be used ------------------------------------------------
    def _install_definition_lag(self) -> None:
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend as backend_cls

        mode = self
        if getattr(backend_cls.update_state_machine, "_aws_like", False):  # once per process
            return
        update, start = backend_cls.update_state_machine, backend_cls.start_execution

        def update_state_machine(self, arn, definition=None, *args, **kwargs):
            with mode._definition_lock:
                try:
                    before = self.describe_state_machine(arn).definition
                except Exception:  # moto answers for a missing machine itself
                    before = None
                result = update(self, arn, definition, *args, **kwargs)
                if definition is not None and before is not None and definition != before:
                    mode._definitions[arn] = (time.monotonic(), before)
                return result

        def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
            with mode._definition_lock:
                previous = mode.lagging_definition(state_machine_arn)
                if previous is None:
                    return start(self, state_machine_arn, name, execution_input, trace_header)
                machine = self.describe_state_machine(state_machine_arn)
                current, machine.definition = machine.definition, previous
                try:  # the engine copies the machine as it is now: this execution keeps the previous one
                    return start(self, state_machine_arn, name, execution_input, trace_header)
                finally:
                    machine.definition = current

        for name, patched in (("update_state_machine", update_state_machine), ("start_execution", start_execution)):
            patched._aws_like = True
            setattr(backend_cls, name, patched)

    def lagging_definition(self, state_machine_arn: str) -> str | None:
        """The definition an execution started now on `state_machine_arn` still gets, when a newer one
        was set less than `definition_lag` seconds ago; else None. A version ARN never lags."""
        changed = self._definitions.get(state_machine_arn)
        if changed is None:
            return None
        if time.monotonic() - changed[0] >= self.settings.definition_lag:
            self._definitions.pop(state_machine_arn, None)
            return None
        return changed[1]

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


    # 8. A trail's bucket must let CloudTrail write ------------------------------------------------------
    def trail_refusal(self, target: str, body: bytes, account_id: str, region: str) -> tuple[int, dict] | None:
        """(status, AWS error) when CloudTrail would refuse CreateTrail / UpdateTrail for the bucket's policy;
        else None (moto answers, a bucket that does not exist included)."""
        if not target.endswith((".CreateTrail", ".UpdateTrail")):
            return None
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return None
        if not isinstance(request, dict) or not isinstance(request.get("S3BucketName"), str):
            return None
        bucket_name, name = request["S3BucketName"], str(request.get("Name", ""))
        if name.startswith("arn:"):
            name = name.rsplit("/", 1)[-1]
        policy = _bucket_policy(account_id, bucket_name)
        if policy is _NO_BUCKET:
            return None
        prefix = str(request.get("S3KeyPrefix") or "")
        arn = f"arn:aws:cloudtrail:{region}:{account_id}:trail/{name}"
        if cloudtrail_may_write(policy, bucket_name, prefix, account_id, arn):
            return None
        return 400, {"__type": "InsufficientS3BucketPolicyException",
                     "message": f"Incorrect S3 bucket policy is detected for bucket: {bucket_name}"}


_NO_BUCKET = object()
CLOUDTRAIL_SERVICE = "cloudtrail.amazonaws.com"


def _bucket_policy(account_id: str, bucket_name: str):
    """The bucket's policy as a dict (None: the bucket has none), or _NO_BUCKET."""
    from moto.s3.models import s3_backends

    try:
        bucket = s3_backends[account_id]["aws"].get_bucket(bucket_name)
    except Exception:  # moto's MissingBucket: CreateTrail answers S3BucketDoesNotExistException itself
        return _NO_BUCKET
    raw = getattr(bucket, "policy", None)
    if not raw:
        return None
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError:
        return None


def _glob_matches(pattern: str, value: str) -> bool:
    """IAM's `*` and `?` (any run, one character; "/" included), nothing else special."""
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def cloudtrail_may_write(policy, bucket: str, prefix: str, account_id: str, trail_arn: str) -> bool:
    """Does the bucket policy let CloudTrail read the bucket's ACL and write this trail's log files?

    What AWS's page asks (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html):
    an Allow for the service principal cloudtrail.amazonaws.com of s3:GetBucketAcl on the bucket, and of
    s3:PutObject on [prefix/]AWSLogs/ACCOUNT/* with the ACL bucket-owner-full-control. Conditions on
    aws:SourceArn / aws:SourceAccount must name this trail / account; any other condition key is taken as
    not met.
    """
    if not isinstance(policy, dict):
        return False
    statements = policy.get("Statement")
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list):
        return False
    folder = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    log_file = f"arn:aws:s3:::{bucket}/{folder}AWSLogs/{account_id}/CloudTrail/us-east-1/2026/01/01/x.json.gz"
    context = {"aws:sourcearn": trail_arn, "aws:sourceaccount": account_id,
               "s3:x-amz-acl": "bucket-owner-full-control"}

    def allows(action: str, resource: str, keys: set) -> bool:
        for statement in statements:
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            principal = statement.get("Principal")
            services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
            if principal != "*" and CLOUDTRAIL_SERVICE not in services:
                continue
            if not any(_glob_matches(str(a).lower(), action) for a in _as_list(statement.get("Action"))):
                continue
            if not any(_glob_matches(str(r), resource) for r in _as_list(statement.get("Resource"))):
                continue
            if _conditions_met(statement.get("Condition"), context, keys):
                return True
        return False

    return (allows("s3:getbucketacl", f"arn:aws:s3:::{bucket}", {"aws:sourcearn", "aws:sourceaccount"})
            and allows("s3:putobject", log_file, {"aws:sourcearn", "aws:sourceaccount", "s3:x-amz-acl"}))


def _conditions_met(condition, context: dict, keys: set) -> bool:
    if condition is None:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, pairs in condition.items():
        if not isinstance(pairs, dict):
            return False
        test = operator.removesuffix("IfExists")
        for key, wanted in pairs.items():
            key = key.lower()
            if key not in keys:
                return False
            value = context[key]
            allowed = [str(w) for w in _as_list(wanted)]
            if test in ("StringEquals", "ArnEquals"):
                ok = value in allowed
            elif test == "StringEqualsIgnoreCase":
                ok = value.lower() in [w.lower() for w in allowed]
            elif test in ("StringLike", "ArnLike"):
                ok = any(_glob_matches(w, value) for w in allowed)
            else:
                return False
            if not ok:
                return False
    return True


def refuse_update(backend, name_or_id) -> None:
    """CloudFormation's answer to an update of a stack that can only be deleted now (a ValidationError)."""
    from moto.cloudformation.exceptions import ValidationError

    for stack in list(backend.stacks.values()):
        if name_or_id in (stack.name, stack.stack_id) and stack.status in NOT_UPDATABLE:
            raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")


def _count(topic, pending: int = 0, confirmed: int = 0) -> None:
    topic.subscriptions_pending = max(0, int(getattr(topic, "subscriptions_pending", 0) or 0) + pending)
    topic.subscriptions_confimed = max(0, int(getattr(topic, "subscriptions_confimed", 0) or 0) + confirmed)


def _role_by_arn(account_id: str, role_arn: str):
    from moto.iam.models import iam_backends

    try:
        return iam_backends[account_id]["aws"].get_role_by_arn(role_arn)
    except Exception:  # moto's IAMNotFoundException: no such role
        return None
