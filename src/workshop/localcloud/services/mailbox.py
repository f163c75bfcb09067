"""SNS e-mail: messages to e-mail subscriptions land in a mailbox.

moto accepts `email` / `email-json` subscriptions but delivers nothing to
them. Here every delivery is kept, in order, as
`{"to", "subject", "body", "sent_at", "topic_arn", "message_id"}`:

* `GET /_localcloud/mailbox` returns the list (newest last),
  `GET /_localcloud/mailbox?since=N` only the messages after the first N (a
  reader waiting for a message asks for what is new, not the whole mailbox
  again; N counts from the last emptying), `DELETE /_localcloud/mailbox`
  empties it;
* `read_mailbox(endpoint)` / `clear_mailbox(endpoint)` do the same from Python,
  signed (SigV4) with the local cloud's per-start key: the mailbox holds
  decision links, so only that key reads it.

Subscriptions need no confirmation locally: moto marks an e-mail
subscription confirmed at once (on AWS the recipient clicks a link first).

Each delivery also names the subscription it was made to (`subscription_arn`),
and so the account: one mailbox serves every account of the local cloud.

Patch point: `moto.sns.models.Subscription.publish` (wrapped; the original
still serves every other protocol).

`install_unsubscribe_url` (`sns-unsubscribe-url`, a mend of moto's envelope):
the `UnsubscribeURL` of every JSON envelope (email-json, HTTP, SQS without raw
delivery) names the subscription it was delivered to, in its topic's region;
moto named one made-up subscription of its own in us-east-1.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

from ..server.address import MAILBOX_PATH

EMAIL_PROTOCOLS = ("email", "email-json")


class Mailbox:
    def __init__(self):
        self._messages: list[dict] = []
        self._lock = threading.Lock()

    def deliver(self, to: str, subject: str | None, body: str, **extra) -> dict:
        message = {"to": to, "subject": subject or "", "body": body,
                   "sent_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **extra}
        with self._lock:
            self._messages.append(message)
        return message

    def messages(self, since: int = 0) -> list[dict]:
        """The messages after the first `since` (all of them by default), oldest first."""
        with self._lock:
            return self._messages[since:]

    def clear(self) -> int:
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
        return count


MAILBOX = Mailbox()


def seam():
    from moto.sns.models import Subscription

    return Subscription, "publish"


def install(mailbox: Mailbox = MAILBOX) -> Mailbox:
    cls, name = seam()
    original = getattr(cls, name)
    if getattr(original, "_localcloud", False):
        return mailbox

    def publish(self, message, message_id, subject=None, message_attributes=None, group_id=None,
                deduplication_id=None, message_structure=None):
        if self.protocol not in EMAIL_PROTOCOLS:
            return original(self, message, message_id, subject=subject,
                            message_attributes=message_attributes, group_id=group_id,
                            deduplication_id=deduplication_id, message_structure=message_structure)
        if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(
                message_attributes, message):
            return None
        if message_structure == "json":
            message = self._parse_message_structure(message, self.protocol)
        body = message
        if self.protocol == "email-json":
            body = json.dumps(self.get_post_data(message, message_id, subject), indent=2)
        mailbox.deliver(self.endpoint, subject, body, topic_arn=self.topic.arn, subscription_arn=self.arn,
                        message_id=message_id)
        return None

    publish._localcloud = True
    setattr(cls, name, publish)
    return mailbox


def unsubscribe_url(subscription) -> str:
    """The link SNS puts in a JSON envelope: it unsubscribes the subscription the message was delivered to."""
    region = subscription.arn.split(":")[3]
    return f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription.arn}"


def install_unsubscribe_url() -> None:
    from moto.sns.models import Subscription

    original = Subscription.get_post_data

    def get_post_data(self, message, message_id, subject, message_attributes=None):
        data = original(self, message, message_id, subject, message_attributes)
        data["UnsubscribeURL"] = unsubscribe_url(self)
        return data

    get_post_data.__wrapped__ = original
    Subscription.get_post_data = get_post_data


# --- the HTTP route and the client side -------------------------------------------------


def handle(request):
    """`/_localcloud/mailbox`: GET lists, DELETE clears."""
    from werkzeug.wrappers import Response

    if request.method == "DELETE":
        return Response(json.dumps({"deleted": MAILBOX.clear()}), content_type="application/json")
    if request.method not in ("GET", "HEAD"):
        return Response(json.dumps({"message": "use GET to read the mailbox, DELETE to empty it"}),
                        status=405, content_type="application/json", headers={"Allow": "GET, HEAD, DELETE"})
    since = request.args.get("since", "0")
    if not since.isascii() or not since.isdigit():
        return Response(json.dumps({"message": f"since must be a whole number of messages (0 or more), not {since!r}"}),
                        status=400, content_type="application/json")
    return Response(json.dumps(MAILBOX.messages(int(since))), content_type="application/json")


SIGNING_SERVICE = "localcloud"  # the credential scope's service of the kit's own routes


def _request(endpoint: str, method: str = "GET", credentials=None, query: str = ""):
    """A mailbox request signed with the local cloud's per-start key (the mailbox holds decision links)."""
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    from ..server import credentials as credentials_module

    credentials = credentials or credentials_module.read(endpoint)
    signed = AWSRequest(method=method, url=endpoint.rstrip("/") + MAILBOX_PATH + (f"?{query}" if query else ""))
    SigV4Auth(BotoCredentials(credentials.access_key_id, credentials.secret_access_key), SIGNING_SERVICE,
              credentials.region).add_auth(signed)
    return urllib.request.Request(signed.url, method=method, headers=dict(signed.headers.items()))


def read_mailbox(endpoint: str, timeout: float = 10, credentials=None, since: int = 0) -> list[dict]:
    """The e-mails the local cloud at `endpoint` has delivered, oldest first (after the first `since`)."""
    import urllib.request

    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        raise ValueError(f"since is a count of messages already read (0 or more), not {since!r}")
    request = _request(endpoint, credentials=credentials, query=f"since={since}" if since else "")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310: the kit's configured endpoint
        return json.loads(response.read())


def clear_mailbox(endpoint: str, timeout: float = 10, credentials=None) -> int:
    import urllib.request

    request = _request(endpoint, "DELETE", credentials)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310: the kit's configured endpoint
        return json.loads(response.read())["deleted"]
