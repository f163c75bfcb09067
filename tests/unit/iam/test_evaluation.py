"""The IAM evaluation engine (ValidatePolicy's judge): IAM semantics of "does this policy allow a restricted
action?"."""

import json
import re

import pytest

from lambda_loader import ROOT
from sample_logic import sample_verdict
from workshop import iam

RESTRICTED = ["s3:DeleteBucket", "s3:DeleteObject"]


def doc(*statements, as_object=False):
    body = statements[0] if as_object else list(statements)
    return json.dumps({"Version": "2012-10-17", "Statement": body})


def allow(action=None, not_action=None, resource="*", **extra):
    statement = {"Effect": "Allow", "Resource": resource, **extra}
    if action is not None:
        statement["Action"] = action
    if not_action is not None:
        statement["NotAction"] = not_action
    return statement


def deny(action=None, not_action=None, resource="*", **extra):
    statement = allow(action, not_action, resource, **extra)
    statement["Effect"] = "Deny"
    return statement


def verdict(document, restricted=RESTRICTED):
    return iam.evaluate_policy(document, restricted)["action"]


# --- the sample's defects: each case fails on the sample's logic and passes now ---

SAMPLE_MISSES = {
    "service wildcard": doc(allow(["s3:*"])),
    "full wildcard": doc(allow("*")),
    "prefix wildcard": doc(allow(["s3:Delete*"])),
    "question-mark wildcard": doc(allow(["s3:DeleteBucke?"])),
    "NotAction grants the rest": doc(allow(not_action=["iam:*"])),
    "later statement": doc(allow(["s3:GetObject"]), allow(["s3:DeleteObject"])),
    "lower case": doc(allow(["s3:deletebucket"])),
    "upper case": doc(allow(["S3:DELETEOBJECT"])),
}


@pytest.mark.parametrize("case", sorted(SAMPLE_MISSES))
def test_sample_logic_missed_it_and_we_remedy(case):
    document = SAMPLE_MISSES[case]
    assert sample_verdict(document, RESTRICTED) in ("alert", "crash"), "the sample got this one right?"
    assert verdict(document) == "remedy"


def test_action_given_as_a_string():
    # The sample did a substring search on a string Action: s3:DeleteBucketPolicy "matched".
    document = doc(allow("s3:DeleteBucketPolicy"))
    assert sample_verdict(document, RESTRICTED) == "remedy"
    assert verdict(document) == "alert"
    assert verdict(doc(allow("s3:DeleteBucket"))) == "remedy"


def test_statement_as_an_object_is_read():
    document = doc(allow("s3:DeleteObject"), as_object=True)
    assert sample_verdict(document, RESTRICTED) == "crash"  # Statement[0] of an object
    assert verdict(document) == "remedy"


# --- IAM semantics ---

@pytest.mark.parametrize(
    "restricted, granted, expected",
    [
        ("iam:*", "iam:CreateUser", "remedy"),
        ("iam:Create*", "iam:*", "remedy"),
        ("iam:Create*", "iam:*User", "remedy"),
        ("iam:Create*", "iam:Delete*", "alert"),
        ("s3:Get?bject", "s3:GetObject", "remedy"),
        ("s3:DeleteObject", "s3:DeleteObjectVersion", "alert"),
        ("s3:DeleteObject*", "s3:DeleteObjectVersion", "remedy"),
        ("*", "ec2:RunInstances", "remedy"),
        ("ec2:*", "s3:*", "alert"),
        ("s3:Delete?", "s3:Delete", "alert"),
        ("s3:DeleteBucke?", "s3:Delete*", "remedy"),
        # Wildcards reach the actions AWS publishes (and names spelt out in the
        # policy): no S3 action is "Delete" plus one letter.
        ("s3:Delete?", "s3:Delete*", "alert"),
    ],
)
def test_wildcards_on_both_sides(restricted, granted, expected):
    assert verdict(doc(allow(granted)), [restricted]) == expected


def test_deny_grants_nothing():
    assert verdict(doc(deny(["s3:*"]))) == "alert"


def test_unconditional_deny_on_all_resources_wins():
    assert verdict(doc(allow("s3:*"), deny("s3:Delete*"))) == "alert"


def test_deny_of_one_action_leaves_the_other():
    result = iam.evaluate_policy(doc(allow("s3:*"), deny("s3:DeleteBucket")), RESTRICTED)
    assert result["action"] == "remedy"
    assert [m["action"] for m in result["matches"]] == ["s3:DeleteObject"]


def test_conditional_deny_does_not_take_the_action_away():
    conditional = deny("s3:Delete*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})
    assert verdict(doc(allow("s3:*"), conditional)) == "remedy"


def test_narrower_deny_does_not_take_the_action_away():
    narrow = deny("s3:Delete*", resource="arn:aws:s3:::prod-bucket/*")
    assert verdict(doc(allow("s3:*"), narrow)) == "remedy"


def test_deny_with_not_resource_is_narrower():
    narrow = deny("s3:*", NotResource="arn:aws:s3:::scratch/*")
    narrow.pop("Resource")
    assert verdict(doc(allow("s3:*"), narrow)) == "remedy"


def test_deny_with_star_among_resources_covers_all():
    assert verdict(doc(allow("s3:*"), deny("s3:*", resource=["arn:aws:s3:::a", "*"]))) == "alert"


def test_deny_not_action_denies_everything_outside_its_list():
    # Deny everything except reads: the Allow of s3:* keeps only reads.
    assert verdict(doc(allow("s3:*"), deny(not_action=["s3:Get*", "s3:List*"]))) == "alert"
    assert verdict(doc(allow("s3:*"), deny(not_action=["s3:Delete*"]))) == "remedy"


def test_conditional_allow_still_counts():
    statement = allow("s3:DeleteBucket", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    result = iam.evaluate_policy(doc(statement), RESTRICTED)
    assert result["action"] == "remedy"
    assert result["matches"][0]["conditional"] is True


def test_allow_on_a_narrow_resource_still_counts():
    assert verdict(doc(allow("s3:DeleteObject", resource="arn:aws:s3:::one/*"))) == "remedy"


def test_not_action_that_lists_the_restricted_ones_is_harmless():
    assert verdict(doc(allow(not_action=["s3:Delete*"]))) == "alert"
    assert verdict(doc(allow(not_action=["s3:DeleteBucket"]))) == "remedy"


def test_empty_statement_list_grants_nothing():
    assert verdict(json.dumps({"Version": "2012-10-17", "Statement": []})) == "alert"


def test_matches_name_statement_sid_and_action():
    document = doc(allow("s3:GetObject", Sid="Read"), allow(["s3:Delete*"], Sid="Cleanup"))
    result = iam.evaluate_policy(document, RESTRICTED)
    assert {(m["statement"], m["sid"], m["action"], m["grantedBy"]) for m in result["matches"]} == {
        (1, "Cleanup", "s3:DeleteBucket", "s3:Delete*"),
        (1, "Cleanup", "s3:DeleteObject", "s3:Delete*"),
    }
    assert "statement 1" in result["message"] and "Cleanup" in result["message"]


def test_example_action_is_allowed_by_the_statement():
    result = iam.evaluate_policy(doc(allow("iam:Create*")), ["iam:*"])
    example = result["matches"][0]["example"]
    assert re.fullmatch(r"iam:create.*", example, re.IGNORECASE)
    assert iam.default_database().get(example).name == example  # spelt as AWS spells it


def test_badpolicy_file_is_remedy():
    text = (ROOT / "policies" / "badpolicy.json").read_text()
    assert verdict(text) == "remedy"
    assert verdict((ROOT / "policies" / "goodpolicy.json").read_text()) == "alert"


def test_url_encoded_document_from_cloudtrail():
    from urllib.parse import quote

    assert verdict(quote(doc(allow("s3:*")))) == "remedy"


# --- documents IAM would reject, or that are ambiguous ---

@pytest.mark.parametrize(
    "text, fragment",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('"just a string"', "JSON object"),
        ('{"Version": "2012-10-17"}', "no Statement"),
        ('{"Statement": "s3:*"}', "object or a list"),
        ('{"Statement": ["s3:*"]}', "not an object"),
        ('{"Statement": [{"Effect": "allow", "Action": "s3:*", "Resource": "*"}]}', "Effect"),
        ('{"Statement": [{"Effect": "Permit", "Action": "s3:*", "Resource": "*"}]}', "Effect"),
        ('{"Statement": [{"Action": "s3:*", "Resource": "*"}]}', "Effect"),
        ('{"Statement": [{"Effect": "Allow", "Resource": "*"}]}', "exactly one of Action and NotAction"),
        ('{"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"}]}',
         "exactly one of Action and NotAction"),
        ('{"Statement": [{"Effect": "Allow", "Action": ["s3:*", 5], "Resource": "*"}]}', "must be a string"),
        ('{"Statement": [{"Effect": "Allow", "Action": {"a": 1}, "Resource": "*"}]}', "string or a list"),
        ('{"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}', "empty list"),
        ('{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Action": "s3:*", "Resource": "*"}]}',
         "duplicate key 'Action'"),
        ('{"Statement": [], "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
         "duplicate key 'Statement'"),
    ],
)
def test_invalid_documents_raise_invalid_policy_document(text, fragment):
    with pytest.raises(iam.InvalidPolicyDocument) as info:
        iam.evaluate_policy(text, RESTRICTED)
    assert fragment in str(info.value)
    assert type(info.value).__name__ == "InvalidPolicyDocument"


def test_duplicate_key_hiding_a_grant_is_not_silently_resolved():
    # Python's json keeps the last key; IAM's verdict is ambiguous: refuse.
    text = '{"Statement": [{"Effect": "Allow", "Action": "s3:DeleteBucket", "Action": "s3:GetObject", "Resource": "*"}]}'
    assert json.loads(text)["Statement"][0]["Action"] == "s3:GetObject"
    with pytest.raises(iam.InvalidPolicyDocument):
        iam.evaluate_policy(text, RESTRICTED)


def test_a_grant_on_every_resource_is_said_in_words_not_as_an_arn_template():
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:DeleteBucket",
                                                          "Resource": "*"}]}
    one = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:DeleteBucket",
                                                   "Resource": "arn:aws:s3:::reports"}]}
    said = iam.evaluate_policy(everything, ["s3:DeleteBucket"])["message"]
    assert "on any resource)" in said and "${" not in said
    assert "on arn:aws:s3:::reports)" in iam.evaluate_policy(one, ["s3:DeleteBucket"])["message"]
