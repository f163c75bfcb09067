"""KMS: HMAC keys that seal and verify as AWS KMS does (`kms-mac-checks`, `cfn-kms-key-properties`).

The orchestrator seals each incident with an HMAC KMS key (GenerateMac) and
verifies the seal before a restore (VerifyMac), so the local cloud's KMS must
refuse what AWS refuses. moto computes and compares HMACs correctly (a changed
message, another key or another algorithm does not verify), but:

* GenerateMac and VerifyMac accept a MAC algorithm the key does not support
  (an `HMAC_256` key answers `HMAC_SHA_512`; AWS: InvalidKeyUsageException),
  and a key that is disabled or pending deletion (AWS: DisabledException,
  KMSInvalidStateException); VerifyMac compares the MACs with `!=`.
  `install_mac_checks` adds the checks and a constant-time comparison.
* `AWS::KMS::Key` in CloudFormation ignores `KeySpec` and `KeyUsage` (every
  key is `SYMMETRIC_DEFAULT` / `ENCRYPT_DECRYPT`, so a template's HMAC key
  cannot MAC at all), stores `KeyPolicy` as a dict (GetKeyPolicy then fails)
  and drops `Tags`. `install_cloudformation_key_properties` creates the key
  the template describes, with the `aws:cloudformation:stack-name`,
  `stack-id` and `logical-id` tags CloudFormation adds (`stack_tags`).

Mends of moto registered in seams.py, with the issue texts in docs/upstream.md.
Key policies are not evaluated here: that is the local cloud's IAM evaluation.
"""

from __future__ import annotations

import hmac
import json

MAC_CHECKS = "kms-mac-checks"
CFN_KEY_PROPERTIES = "cfn-kms-key-properties"
# An HMAC key spec -> the one MAC algorithm AWS KMS accepts for it.
MAC_ALGORITHM_OF_KEY_SPEC = {"HMAC_224": "HMAC_SHA_224", "HMAC_256": "HMAC_SHA_256",
                             "HMAC_384": "HMAC_SHA_384", "HMAC_512": "HMAC_SHA_512"}


def _error(code: str, message: str):
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def usable_for_mac(backend, key_id: str, mac_algorithm: str):
    """The key, when `key_id` may MAC with `mac_algorithm` now; else the error AWS KMS answers."""
    from moto.kms.exceptions import InvalidKeyUsageException

    key = backend.keys[backend.any_id_to_key_id(key_id)]
    if key.key_state == "PendingDeletion":
        raise _error("KMSInvalidStateException", f"{key.arn} is pending deletion.")
    if key.key_state == "Disabled" or not key.enabled:
        raise _error("DisabledException", f"{key.arn} is disabled.")
    if key.key_usage != "GENERATE_VERIFY_MAC" or MAC_ALGORITHM_OF_KEY_SPEC.get(key.key_spec) != mac_algorithm:
        raise InvalidKeyUsageException()
    return key


def install_mac_checks() -> None:
    """GenerateMac / VerifyMac refuse a disabled key and an algorithm the key does not support;
    VerifyMac compares in constant time.

    Patch points: `KmsBackend.generate_mac` / `verify_mac`.
    """
    from moto.kms.exceptions import KMSInvalidMacException
    from moto.kms.models import KmsBackend as cls

    original_generate = cls.generate_mac
    if getattr(original_generate, "_localcloud_fix", None) == MAC_CHECKS:
        return

    def generate_mac(self, message, key_id, mac_algorithm, grant_tokens, dry_run):
        usable_for_mac(self, key_id, mac_algorithm)
        return original_generate(self, message=message, key_id=key_id, mac_algorithm=mac_algorithm,
                                 grant_tokens=grant_tokens, dry_run=dry_run)

    def verify_mac(self, message, key_id, mac_algorithm, mac, grant_tokens, dry_run):
        usable_for_mac(self, key_id, mac_algorithm)
        expected, _, _ = original_generate(self, message=message, key_id=key_id, mac_algorithm=mac_algorithm,
                                           grant_tokens=grant_tokens, dry_run=dry_run)
        if not isinstance(mac, str) or not hmac.compare_digest(expected.encode(), mac.encode()):
            raise KMSInvalidMacException()

    for name, replacement, original in (("generate_mac", generate_mac, original_generate),
                                        ("verify_mac", verify_mac, cls.verify_mac)):
        replacement._localcloud_fix = MAC_CHECKS
        replacement.__wrapped__ = original
        setattr(cls, name, replacement)


def stack_tags(kwargs: dict) -> list[dict]:
    """The tags CloudFormation puts on every resource it makes that takes tags (a policy's
    `aws:ResourceTag/aws:cloudformation:stack-name` condition finds the stack's key by them)."""
    stack_id, logical_id = kwargs.get("StackId"), kwargs.get("LogicalId")
    if not stack_id or not logical_id:
        return []
    name = str(stack_id).split("/")[1] if "/" in str(stack_id) else str(stack_id)  # arn:...:stack/NAME/ID
    return [{"TagKey": "aws:cloudformation:stack-name", "TagValue": name},
            {"TagKey": "aws:cloudformation:stack-id", "TagValue": str(stack_id)},
            {"TagKey": "aws:cloudformation:logical-id", "TagValue": str(logical_id)}]


def install_cloudformation_key_properties() -> None:
    """`AWS::KMS::Key` created with its KeySpec, KeyUsage, KeyPolicy (as JSON text), Tags, Enabled.

    Patch point: `moto.kms.models.Key.create_from_cloudformation_json`.
    """
    from moto.kms.models import Key, kms_backends

    current = Key.__dict__["create_from_cloudformation_json"].__func__
    if getattr(current, "_localcloud_fix", None) == CFN_KEY_PROPERTIES:
        return

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        properties = cloudformation_json.get("Properties") or {}
        policy = properties.get("KeyPolicy")
        tags = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in properties.get("Tags") or []
                if isinstance(tag, dict) and "Key" in tag and "Value" in tag] + stack_tags(kwargs)
        key = kms_backends[account_id][region_name].create_key(
            policy=json.dumps(policy) if isinstance(policy, (dict, list)) else policy,
            key_usage=properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
            key_spec=properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
            description=properties.get("Description"), tags=tags,
            multi_region=bool(properties.get("MultiRegion", False)))
        key.key_rotation_status = bool(properties.get("EnableKeyRotation", False))
        if str(properties.get("Enabled", True)).lower() == "false":
            key.enabled, key.key_state = False, "Disabled"
        return key

    create_from_cloudformation_json._localcloud_fix = CFN_KEY_PROPERTIES
    create_from_cloudformation_json.__wrapped__ = current
    Key.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
