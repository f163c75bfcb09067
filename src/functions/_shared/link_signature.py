"""The signed approve / deny link: AskUser signs it, ReceiveDecision checks it.

A link names an incident, a decision (its path) and an expiry, and carries an
HMAC-SHA256 over the three under a secret only those two functions may read
(Secrets Manager, DECISION_SECRET_ARN). The task token is never in a link.
One decision's signature is not the other's: a deny link cannot be edited
into an allow link.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from .incident_keys import INCIDENT_ID_SHAPE
from .transient import aws_call

# The link's query fields, in the order the confirmation page repeats them.
FIELDS = ("incident", "expires", "signature")
_EXPIRES_SHAPE = re.compile(r"[0-9]{1,12}")
_SIGNATURE_SHAPE = re.compile(r"[0-9a-f]{64}")
SECRET_ARN_VARIABLE = "DECISION_SECRET_ARN"  # nosec B105: the name of a variable, not its value
_secrets: dict = {}


def sign(secret: bytes, incident_id: str, decision: str, expires: int) -> str:
    """HMAC-SHA256 over (incident, decision, expiry): what makes a link a decision."""
    message = f"{incident_id}\n{decision}\n{int(expires)}".encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signed_fields(secret: bytes, incident_id: str, decision: str, expires: int) -> dict:
    """The link's query fields for `decision` on the incident."""
    return {"incident": incident_id, "expires": str(int(expires)),
            "signature": sign(secret, incident_id, decision, expires)}


def well_formed(fields: dict) -> bool:
    """Whether the fields have the shapes signed links have (checked before any use of them)."""
    incident, expires, signed = (fields.get(name) for name in FIELDS)
    return all(isinstance(v, str) for v in (incident, expires, signed)) and bool(
        INCIDENT_ID_SHAPE.fullmatch(incident) and _EXPIRES_SHAPE.fullmatch(expires)
        and _SIGNATURE_SHAPE.fullmatch(signed))


def is_signed(secret: bytes, fields: dict, decision: str) -> bool:
    """Whether well-formed `fields` were signed for exactly `decision` (constant-time)."""
    return hmac.compare_digest(sign(secret, fields["incident"], decision, int(fields["expires"])),
                               fields["signature"])


def decision_secret(secretsmanager) -> bytes:
    """The signing key, read once per sandbox; `secretsmanager()` makes the client when it is read."""
    arn = os.environ[SECRET_ARN_VARIABLE]
    if arn not in _secrets:
        _secrets[arn] = aws_call(secretsmanager().get_secret_value, SecretId=arn)["SecretString"].encode("utf-8")
    return _secrets[arn]
