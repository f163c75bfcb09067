"""The approval e-mail as the learner receives it, and whether the subscription is confirmed (data).

On the local cloud, SNS e-mail lands in a mailbox the kit can read; on AWS
it goes to the address given at deploy time ("check your inbox"), and only
once the recipient confirmed the subscription: SNS sends nothing to a
subscription that is `PendingConfirmation`
(https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html).
"Confirmation tokens are valid for two days" (same page), and SNS deletes a
subscription still unconfirmed after 48 hours
(https://docs.aws.amazon.com/sns/latest/dg/sns-delete-subscription-topic.html):
then the stack's own subscription is gone, and deploying again with the same
address changes nothing (CloudFormation sees no change). A new confirmation
e-mail comes from `Subscribe`, by a principal the topic policy lets subscribe:
the account root, or one named in the stack's `AdminPrincipalArns`
(`request_confirmation`).

    from workshop.aws.mail import latest_email, request_confirmation, subscription_status
    subscription_status(cloud, outputs).message()   # "confirm it now" while it is pending
    request_confirmation(cloud, outputs, "you@your-domain")   # a lost or lapsed confirmation, sent again

How they look in a notebook is `workshop.display.records`; the e-mail of the
request the approval panel waits on is `workshop.widgets.approvals.approval_email`.
"""

from __future__ import annotations

from dataclasses import dataclass

from workshop.failures import WorkshopError
from workshop.waiting import WaitTimeout, wait_for

CONFIRMATION_DAYS = 2  # SNS Subscribe: "Confirmation tokens are valid for two days"


@dataclass
class Email:
    """An e-mail as the local mailbox holds it ({"to", "subject", "sent_at", "body"}), or a note saying why
    there is none to show."""

    message: dict | None
    note: str = ""

    def __repr__(self) -> str:
        if not self.message:
            return self.note
        m = self.message
        return f"To: {m['to']}\nSubject: {m['subject']}\nDate: {m['sent_at']}\n\n{m['body']}"


PENDING = "PendingConfirmation"


class SubscriptionStatus:
    """The e-mail subscriptions of the stack's alert topic: confirmed, pending, or none."""

    def __init__(self, target: str, addresses: dict, error: str = ""):
        self.target = target
        self.addresses = addresses  # address -> "confirmed" | "pending"
        self.error = error

    @property
    def pending(self) -> list:
        return sorted(a for a, state in self.addresses.items() if state == "pending")

    @property
    def confirmed(self) -> list:
        return sorted(a for a, state in self.addresses.items() if state == "confirmed")

    @property
    def ok(self) -> bool:
        return bool(self.confirmed) and not self.pending

    def message(self) -> str:
        if self.error:
            return f"Could not read the topic's subscriptions ({self.error})."
        if self.pending:
            return (f"Confirm the SNS subscription now: {', '.join(self.pending)} has not confirmed it yet, and SNS "
                    "delivers nothing until then. Open \"AWS Notification - Subscription Confirmation\" in that "
                    f"inbox and click \"Confirm subscription\" (check the spam folder); its link lasts "
                    f"{CONFIRMATION_DAYS} days. The approval panel in notebook 04 works either way.")
        if self.confirmed:
            where = "the local mailbox" if self.target == "local" else ", ".join(self.confirmed)
            return f"The approval e-mails go to {where}: the subscription is confirmed."
        return ("The alert topic has no e-mail subscription: SNS deletes one not confirmed within two days, and "
                "deploying again with the same address changes nothing. Ask for a new confirmation e-mail: "
                "`request_confirmation(cloud, outputs, \"you@your-domain\")` (workshop.aws.mail) or `aws sns "
                "subscribe --protocol email`, as the account root or a principal in the stack's AdminPrincipalArns.")

    def __repr__(self) -> str:
        return self.message()


def subscription_status(cloud, outputs: dict) -> SubscriptionStatus:
    """Is the stack's e-mail subscription confirmed? (`outputs` from `cloud.stack_outputs(stack_name)`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    addresses = {}
    try:
        pages = cloud.client("sns").get_paginator("list_subscriptions_by_topic").paginate(
            TopicArn=outputs["AlertTopicArn"])
        for page in pages:
            for subscription in page["Subscriptions"]:
                if subscription.get("Protocol") in ("email", "email-json"):
                    state = "pending" if subscription["SubscriptionArn"] == PENDING else "confirmed"
                    addresses[subscription["Endpoint"]] = state
    except (BotoCoreError, ClientError, KeyError) as exc:
        return SubscriptionStatus(cloud.target, {}, error=f"{type(exc).__name__}: {exc}")
    return SubscriptionStatus(cloud.target, addresses)


class SubscribeDenied(WorkshopError):
    """The topic policy lets only the account root and the stack's AdminPrincipalArns subscribe."""


def subscribe_command(topic_arn: str, address: str, region: str = "us-east-1") -> str:
    return (f"aws sns subscribe --topic-arn {topic_arn} --protocol email --notification-endpoint {address} "
            f"--region {region}")


def request_confirmation(cloud, outputs: dict, address: str) -> str:
    """Ask SNS for a new confirmation e-mail to `address` (lost, or lapsed after two days): `Subscribe` again.

    The stack's topic policy denies sns:Subscribe to every principal but the account root and those named
    in its AdminPrincipalArns parameter (its messages carry the approval links): `SubscribeDenied` says
    who may, with the command to run as them."""
    from botocore.exceptions import ClientError

    topic = outputs["AlertTopicArn"]
    try:
        cloud.client("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint=address)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("AuthorizationError", "AccessDenied",
                                                               "AccessDeniedException"):
            raise
        raise SubscribeDenied(
            f"SNS refused the subscription ({exc.response['Error'].get('Message', 'AuthorizationError')}): the "
            "topic policy lets only the account root and the principals in the stack's AdminPrincipalArns "
            "subscribe, because its messages carry the approval links.\n"
            f"Run, as one of them: {subscribe_command(topic, address, cloud.region)}\n"
            "Or deploy once with --parameter-overrides AdminPrincipalArns=<the role you work with> (as someone "
            "allowed to update the stack), then ask again.") from None
    return (f"SNS sent \"AWS Notification - Subscription Confirmation\" to {address}: click its link within "
            f"{CONFIRMATION_DAYS} days.")


def read_messages(cloud) -> list:
    from workshop.localcloud import read_mailbox

    return read_mailbox(cloud.endpoint)


def latest_email(cloud, contains: str = "", timeout: float = 15.0) -> Email:
    """The newest e-mail whose subject or body contains `contains` (waits for it a little)."""
    if not cloud.is_local:
        return Email(None, "On AWS the e-mail goes to the address you deployed with (EmailAddress): check your "
                           "inbox. SNS delivers it only once you confirmed the subscription (notebook 01 and 03 "
                           "say whether you did).")

    def find():
        for message in reversed(read_messages(cloud)):
            if contains in message.get("subject", "") or contains in message.get("body", ""):
                return message
        return None

    try:
        return Email(wait_for(find, what=f"the e-mail about {contains or 'the policy'}", timeout=timeout,
                              progress=False))
    except WaitTimeout as exc:
        return Email(None, f"{exc} The AskUser Lambda publishes it to the SNS topic; look at its logs.")
