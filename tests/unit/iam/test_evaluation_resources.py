"""The IAM evaluation engine (ValidatePolicy's judge) knows resources, IAM's identity-policy grammar and risk sets.

The false-alarm cases here each got the wrong answer from the automaton
matcher this one replaced (commit c85e91c), which ignored `Resource`.
"""

import json

import pytest

from cfn_template import load_template
from policy_worst_case import deny_not_action_document, surviving
from workshop import iam

RESTRICTED = ["s3:DeleteBucket", "s3:DeleteObject"]
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"


def doc(*statements, **top):
    return json.dumps({"Version": "2012-10-17", **top, "Statement": list(statements)})


def allow(action="*", resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action="*", resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def judge(document, restricted=RESTRICTED, **options):
    return iam.evaluate_policy(document, restricted, **options)


# --- the false alarms --------------------------------------------------------------


def test_allow_everything_on_a_dynamodb_table_grants_no_s3_deletion():
    result = judge(doc(allow("*", TABLE)))
    assert result["action"] == "alert"
    assert judge(doc(allow("*", TABLE)), ["dynamodb:DeleteTable"])["action"] == "remedy"


def test_a_deny_on_all_of_s3_covers_the_bucket():
    document = doc(allow("*"), deny("s3:*", "arn:aws:s3:::*"))
    assert judge(document, ["s3:DeleteBucket"], partition="aws")["action"] == "alert"


def test_a_deny_on_bucket_arns_leaves_deletes_through_an_access_point():
    # DeleteObject also acts on access-point objects (arn:aws:s3:<region>:<account>:accesspoint/...),
    # which arn:aws:s3:::* does not name: those deletes stay allowed.
    result = judge(doc(allow("*"), deny("s3:*", "arn:aws:s3:::*")), partition="aws")
    assert result["action"] == "remedy"
    [match] = result["matches"]
    assert match["action"] == "s3:DeleteObject" and match["resourceType"] == "accesspointobject"
    assert match["resource"].startswith("arn:aws:s3:${Region}:${Account}:accesspoint/")
    both = deny("s3:*", ["arn:aws:s3:::*", "arn:aws:s3:*:*:accesspoint/*"])
    assert judge(doc(allow("*"), both), partition="aws")["action"] == "alert"


def test_a_deny_on_every_arn_covers_s3_in_any_partition():
    assert judge(doc(allow("*"), deny("s3:*", "arn:*")))["action"] == "alert"
    assert judge(doc(allow("*"), deny("*", "arn:*")))["action"] == "alert"


def test_not_resource_star_grants_nothing():
    statement = {"Effect": "Allow", "Action": "*", "NotResource": "*"}
    assert judge(doc(statement))["action"] == "alert"


# --- resource awareness --------------------------------------------------------------


def test_the_match_names_the_resource_that_made_it():
    result = judge(doc(allow("s3:DeleteObject", "arn:aws:s3:::logs/*")), ["s3:DeleteObject"])
    [match] = result["matches"]
    assert match["resource"] == "arn:aws:s3:::logs/*" and match["resourceType"] == "object"
    assert match["inDatabase"] is True
    assert "arn:aws:s3:::logs/*" in result["message"]


def test_allow_on_a_bucket_arn_grants_delete_bucket_not_delete_object():
    result = judge(doc(allow("s3:*", "arn:aws:s3:::logs")))
    assert [m["action"] for m in result["matches"]] == ["s3:DeleteBucket"]


def test_allow_on_object_arns_grants_delete_object_not_delete_bucket():
    result = judge(doc(allow("s3:*", "arn:aws:s3:::logs/*")))
    assert [m["action"] for m in result["matches"]] == ["s3:DeleteObject"]


def test_an_action_without_resource_types_matches_any_resource():
    # s3:ListAllMyBuckets has no resource-level permissions: it applies to "*".
    assert judge(doc(allow("s3:List*", TABLE)), ["s3:ListAllMyBuckets"])["action"] == "remedy"


def test_not_resource_grants_what_lies_outside_it():
    outside_objects = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:*:s3:::*/*"}
    # A bucket ARN holds no "/", so every bucket lies outside.
    result = judge(doc(outside_objects))
    assert [(m["action"], m["resourceType"]) for m in result["matches"]] == [
        ("s3:DeleteBucket", "bucket"), ("s3:DeleteObject", "accesspointobject")]
    outside_buckets_and_objects = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:*:s3:::*"}
    result = judge(doc(outside_buckets_and_objects))
    assert [(m["action"], m["resourceType"]) for m in result["matches"]] == [
        ("s3:DeleteObject", "accesspointobject")]
    everything_s3 = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:*:s3:*"}
    assert judge(doc(everything_s3))["action"] == "alert"


def test_deny_with_not_resource_covers_what_it_does_not_exempt():
    scratch_exempt = {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::scratch/*"}
    # Deleting objects in scratch stays allowed; deleting buckets is denied.
    result = judge(doc(allow("s3:*", "*"), scratch_exempt), partition="aws")
    assert [m["action"] for m in result["matches"]] == ["s3:DeleteObject"]
    # An Allow only on another bucket's objects is entirely denied.
    assert judge(doc(allow("s3:*", "arn:aws:s3:::prod/*"), scratch_exempt), partition="aws")["action"] == "alert"


def test_a_narrow_deny_does_not_cover_a_wider_allow():
    assert judge(doc(allow("s3:DeleteObject", "arn:aws:s3:::*/*"),
                     deny("s3:DeleteObject", "arn:aws:s3:::prod/*")), partition="aws")["action"] == "remedy"
    assert judge(doc(allow("s3:DeleteObject", "arn:aws:s3:::prod/*"),
                     deny("s3:DeleteObject", "arn:aws:s3:::prod/*")), partition="aws")["action"] == "alert"


def test_a_conditional_deny_covers_nothing_whatever_its_resource():
    conditional = deny("s3:*", "*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})
    assert judge(doc(allow("s3:*"), conditional))["action"] == "remedy"


def test_unknown_partition_keeps_other_partitions_open():
    # Without the account's partition, arn:aws:s3:::* does not cover an aws-cn bucket.
    document = doc(allow("*"), deny("s3:*", "arn:aws:s3:::*"))
    assert judge(document, ["s3:DeleteBucket"])["action"] == "remedy"
    assert judge(document, ["s3:DeleteBucket"], partition="aws-cn")["action"] == "remedy"
    # An Allow naming another partition's resources grants nothing in this one.
    assert judge(doc(allow("s3:*", "arn:aws-cn:s3:::*")), partition="aws")["action"] == "alert"


def test_resource_arns_are_case_sensitive_for_a_deny():
    # IAM compares ARNs case-sensitively; a Deny on a differently cased ARN covers nothing.
    document = doc(allow("s3:DeleteBucket", "arn:aws:s3:::logs"), deny("s3:*", "arn:aws:s3:::LOGS"))
    assert judge(document, partition="aws")["action"] == "remedy"


def test_an_action_missing_from_the_database_applies_to_every_resource():
    result = judge(doc(allow("s3:DeleteEverythingNow", TABLE)), ["s3:Delete*"])
    assert result["action"] == "remedy"
    [match] = result["matches"]
    assert match["example"] == "s3:DeleteEverythingNow" and match["inDatabase"] is False
    assert "not in the IAM database" in result["message"] and "every resource" in result["message"]


def test_a_restricted_name_missing_from_the_database_is_flagged():
    result = judge(doc(allow("s3:*")), ["s3:DeleteBuckets"])
    assert result["action"] == "remedy"  # s3:* could be that action: fail closed
    assert any("s3:DeleteBuckets" in note and "spelling" in note for note in result["notes"])


def test_a_restricted_pattern_that_matches_nothing_is_flagged():
    result = judge(doc(allow("*")), ["s3:Nothing*"])
    assert result["action"] == "alert"
    assert any("matches no action" in note for note in result["notes"])


def test_a_policy_variable_in_a_deny_not_resource_may_exempt_the_allowed_resources():
    # Users whose name starts with x keep deleting in their own folder.
    own_folder_only = {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::home/${aws:username}/*"}
    document = doc(allow("s3:DeleteObject", "arn:aws:s3:::home/x*"), own_folder_only)
    assert judge(document, partition="aws")["action"] == "remedy"


def test_a_policy_variable_in_a_deny_resource_covers_no_fixed_name():
    # Alice's bucket is denied only to alice; bob may delete it.
    document = doc(allow("s3:DeleteBucket", "arn:aws:s3:::alice"),
                   deny("s3:*", "arn:aws:s3:::${aws:username}"))
    assert judge(document, partition="aws")["action"] == "remedy"
    # "?" in a Deny matches one character of the name, not the variable's text.
    document = doc(allow("s3:DeleteBucket", "arn:aws:s3:::${aws:username}"),
                   deny("s3:*", "arn:aws:s3:::?{aws:username}"))
    assert judge(document, partition="aws")["action"] == "remedy"


def test_a_policy_variable_in_an_allow_may_name_any_resource():
    assert judge(doc(allow("s3:DeleteBucket", "arn:aws:s3:::${aws:username}")))["action"] == "remedy"
    assert judge(doc(allow("s3:DeleteBucket", "arn:aws:s3:::${aws:username}"),
                     deny("s3:*", "arn:aws:s3:::*")), partition="aws")["action"] == "alert"


# --- IAM's identity-policy grammar --------------------------------------------------------


@pytest.mark.parametrize("key", ["Principal", "NotPrincipal"])
def test_a_principal_is_rejected_with_the_fix(key):
    statement = allow("s3:GetObject", "*", **{key: {"AWS": "arn:aws:iam::123456789012:root"}})
    with pytest.raises(iam.InvalidPolicyDocument) as info:
        judge(doc(statement))
    message = str(info.value)
    assert key in message and "statement 0" in message
    assert "Remove" in message and "resource-based policy" in message


@pytest.mark.parametrize(
    "document, fragments",
    [
        (doc(allow(), Statements=[]), ["'Statements'", "Version, Id, Statement"]),
        (doc(dict(allow(), Actions="s3:*")), ["unknown key 'Actions'", "Did you mean 'Action'"]),
        (doc({"effect": "Allow", "Action": "*", "Resource": "*"}), ["'effect'", "Did you mean 'Effect'"]),
        (doc(dict(allow(), Resources="*")), ["'Resources'", "Did you mean 'Resource'"]),
        (json.dumps({"Version": "2020-01-01", "Statement": [allow()]}), ["Version", "2012-10-17"]),
        (doc({"Effect": "Allow", "Action": "*"}), ["exactly one of Resource and NotResource"]),
        (doc({"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "*"}),
         ["exactly one of Resource and NotResource"]),
        (doc(allow(resource=[])), ["Resource is an empty list"]),
        (doc(allow(resource=["*", 3])), ["every resource must be a string"]),
        (doc(allow(Condition="aws:SecureTransport")), ["Condition", "not an object"]),
        (doc(allow(Sid=7)), ["Sid"]),
        (doc(allow("DeleteBucket")), ["'DeleteBucket'", "prefaced by a vendor"]),
        (doc(allow("s3:Get:Object")), ["exactly one colon"]),
        (doc(allow("*:Delete*")), ["must not contain wildcards"]),
        (doc(allow("s3:DeleteBucket", "arn:aws:s3:::a\u0001b")), ["control character"]),
    ],
)
def test_documents_iam_rejects_are_invalid(document, fragments):
    with pytest.raises(iam.InvalidPolicyDocument) as info:
        judge(document)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_id_and_sid_are_accepted():
    assert judge(doc(allow("s3:GetObject", Sid="Read"), Id="reports"))["action"] == "alert"


def test_deeply_nested_json_is_invalid_not_a_crash():
    with pytest.raises(iam.InvalidPolicyDocument):
        judge('{"Statement": ' + "[" * 100_000 + "]" * 100_000 + "}")


# --- risk sets -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(iam.RISK_SETS))
def test_every_risk_set_member_is_an_action_aws_publishes(name):
    database = iam.default_database()
    for member in iam.RISK_SETS[name]:
        assert database.get(member) is not None and database.get(member).name == member


@pytest.mark.parametrize("granted, resource", [
    ("iam:PutUserPolicy", "arn:aws:iam::123456789012:user/alice"),
    ("iam:CreatePolicyVersion", "arn:aws:iam::123456789012:policy/*"),
    ("iam:AttachRolePolicy", "*"),
    ("iam:PassRole", "arn:aws:iam::123456789012:role/ops"),
    ("lambda:UpdateFunctionCode", "arn:aws:lambda:us-east-1:123456789012:function:deploy"),
    ("iam:*", "*"),
])
def test_privilege_escalation_catches_the_catalogued_paths(granted, resource):
    result = judge(doc(allow(granted, resource)), ["@privilege-escalation"])
    assert result["action"] == "remedy"
    assert {m["riskSet"] for m in result["matches"]} == {"@privilege-escalation"}
    assert "[@privilege-escalation]" in result["message"]


def test_privilege_escalation_ignores_reading_and_other_resources():
    assert judge(doc(allow(["iam:Get*", "iam:List*"])), ["@privilege-escalation"])["action"] == "alert"
    # Write access to S3 objects escalates nothing.
    assert judge(doc(allow("s3:*", "arn:aws:s3:::data/*")), ["@privilege-escalation"])["action"] == "alert"
    # PutUserPolicy on a role ARN matches no user.
    assert judge(doc(allow("iam:PutUserPolicy", "arn:aws:iam::123456789012:role/x")),
                 ["@privilege-escalation"])["action"] == "alert"


@pytest.mark.parametrize("granted, resource", [
    ("dynamodb:DeleteTable", TABLE),
    ("rds:DeleteDBInstance", "arn:aws:rds:us-east-1:123456789012:db:prod"),
    ("rds:DeleteDBCluster", "*"),
    ("kms:ScheduleKeyDeletion", "arn:aws:kms:us-east-1:123456789012:key/*"),
    ("s3:DeleteObjectVersion", "arn:aws:s3:::logs/*"),
])
def test_data_destruction_catches_deletions(granted, resource):
    result = judge(doc(allow(granted, resource)), ["@data-destruction"])
    assert result["action"] == "remedy"
    assert result["matches"][0]["action"] == granted


def test_data_destruction_ignores_reads():
    reads = ["s3:Get*", "dynamodb:GetItem", "dynamodb:Query", "rds:Describe*", "kms:Decrypt"]
    assert judge(doc(allow(reads)), ["@data-destruction"])["action"] == "alert"


def test_sets_and_actions_mix_and_each_action_counts_once():
    entries = iam.restricted_entries(["s3:DeleteBucket", "@data-destruction", "iam:*"])
    patterns = [p for p, _ in entries]
    assert patterns.count("s3:DeleteBucket") == 1 and "iam:*" in patterns
    assert dict(entries)["s3:DeleteBucket"] is None  # named first, as a plain action
    assert dict(entries)["dynamodb:DeleteTable"] == "@data-destruction"


def test_an_unknown_risk_set_names_the_known_ones():
    for call in (lambda: iam.parse_restricted_actions("s3:DeleteBucket,@privesc"),
                 lambda: judge(doc(allow()), ["@privesc"])):
        with pytest.raises(iam.ConfigurationError) as info:
            call()
        assert "@privesc" in str(info.value)
        assert "@privilege-escalation" in str(info.value) and "@data-destruction" in str(info.value)


@pytest.mark.parametrize("value", ["DeleteBucket", "s3:Delete:Bucket", "*:DeleteBucket", " , "])
def test_malformed_restricted_actions_fail_at_configuration(value):
    with pytest.raises(iam.ConfigurationError):
        iam.parse_restricted_actions(value)


def test_the_default_is_the_samples_two_s3_actions_and_their_permanent_forms():
    parameter = load_template()["Parameters"]["RestrictedActions"]
    permanent = ["s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy"]
    assert iam.parse_restricted_actions(parameter["Default"]) == RESTRICTED + permanent


@pytest.mark.parametrize("action", ["s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy"])
def test_the_permanent_forms_of_the_samples_damage_are_remedied_by_default(action):
    default = iam.parse_restricted_actions(load_template()["Parameters"]["RestrictedActions"]["Default"])
    assert judge(doc(allow(action)), default)["action"] == "remedy"
    assert judge(doc(allow(action)), RESTRICTED)["action"] == "alert"  # the sample's two alone let it through


# --- the worst case: many wildcard Deny+NotAction statements ---------------------------------------


def _iam_actions_surviving(chosen):
    return surviving([a.name for a in iam.default_database().matching("iam:*")], chosen)


def test_a_hundred_wildcard_deny_not_action_statements_are_judged():
    document, chosen = deny_not_action_document(100)
    survivors = _iam_actions_surviving(chosen)
    assert survivors  # the brute-force answer: IAM actions no Deny covers
    result = judge(document, ["iam:*"])
    assert result["action"] == "remedy"
    assert [m["example"] for m in result["matches"]] == survivors[:1]


def test_a_hundred_wildcard_deny_not_action_statements_that_cover_everything():
    document, chosen = deny_not_action_document(100, last_piece="tag")
    assert not _iam_actions_surviving(chosen)
    assert judge(document, ["iam:*"])["action"] == "alert"
    assert judge(document, ["@privilege-escalation"])["action"] == "alert"
