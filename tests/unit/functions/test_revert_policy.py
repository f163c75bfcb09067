"""RevertPolicy: the change leaves force at once, is recorded once, and nobody is asked twice."""

import json
import threading

import pytest
from botocore.exceptions import ClientError
from incident_steps import BAD, EXECUTION, GOOD, attachment, inline, item, managed, revert, revert_change
from stack_incidents import default_document

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def version_ids(iam, arn):
    return sorted(v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"])


def test_a_new_bad_policy_is_swapped_for_the_harmless_version_and_recorded(stack):
    arn = stack.iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    result = revert_change(managed(arn, "v1"), event_id="ev-1")
    version, document = default_document(arn, stack.iam)
    assert document == revert.HARMLESS_DOCUMENT
    assert version == result["harmlessVersionId"] != "v1" and version_ids(stack.iam, arn) == [version]
    assert result["alreadyReverted"] is False and result["deletedVersionId"] == "v1"

    recorded = item(stack, result["incidentId"])
    assert recorded["document"] == BAD  # the text IAM held, byte for byte
    assert recorded["status"] == "reverted" and recorded["executionArn"] == EXECUTION
    assert json.loads(recorded["changedBy"])["arn"].endswith(":user/alice")
    assert recorded["verdict"] == "remedy" and "s3:DeleteBucket" in recorded["why"]
    assert recorded["wasDefault"] is True and recorded["kind"] == "managed"
    assert recorded["incidentKey"].startswith("managed|") and recorded["incidentKey"].endswith("|v1")


def test_another_execution_for_the_same_change_finds_it_handled(stack):
    arn = stack.iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    first = revert_change(managed(arn, "v1"), event_id="ev-1")
    # Another delivery (any event id: a forged repeat too) of the same version: already handled.
    again = revert_change(managed(arn, "v1"), event_id="ev-2", execution=EXECUTION + "-other")
    assert again["alreadyReverted"] is True
    assert version_ids(stack.iam, arn) == [first["harmlessVersionId"]]


def test_two_executions_at_the_same_moment_record_one_incident(stack, monkeypatch):
    """Both read the version before either deletes it: the conditional put lets one through."""
    arn = stack.iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    barrier = threading.Barrier(2)
    original = revert._put_sealed

    def claim_together(*args, **kwargs):
        barrier.wait(timeout=10)  # both have read IAM and are about to write the incident
        return original(*args, **kwargs)

    monkeypatch.setattr(revert, "_put_sealed", claim_together)
    results = []
    threads = [threading.Thread(target=lambda n=n: results.append(
        revert_change(managed(arn, "v1"), event_id="ev-1", execution=f"{EXECUTION}-{n}"))) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["alreadyReverted"] for r in results) == [False, True]
    assert len({r["incidentId"] for r in results}) == 1


def test_a_retry_of_the_same_execution_goes_on_to_ask(stack):
    # The first attempt reverted, then its answer was lost: the retry must not report a duplicate.
    arn = stack.iam.create_policy(PolicyName="bad", PolicyDocument=BAD)["Policy"]["Arn"]
    first = revert_change(managed(arn, "v1"))
    retried = revert_change(managed(arn, "v1"))
    assert retried["alreadyReverted"] is False and retried["incidentId"] == first["incidentId"]
    assert retried["harmlessVersionId"] == first["harmlessVersionId"]


def test_a_retry_after_a_half_done_first_attempt_finishes_the_revert(stack):
    arn = stack.iam.create_policy(PolicyName="edited", PolicyDocument=GOOD)["Policy"]["Arn"]
    stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)  # v2
    original = revert.revert_managed
    revert.revert_managed = lambda *a: (_ for _ in ()).throw(revert.TransientError("IAM was busy"))
    try:
        with pytest.raises(revert.TransientError):
            revert_change(managed(arn, "v2"))
    finally:
        revert.revert_managed = original
    result = revert_change(managed(arn, "v2"))  # the retry: same execution, the incident is its own
    assert result["alreadyReverted"] is False and "v2" not in version_ids(stack.iam, arn)


def test_a_policy_deleted_and_created_again_under_its_name_is_a_new_incident(stack):
    arn = stack.iam.create_policy(PolicyName="reborn", PolicyDocument=BAD)["Policy"]["Arn"]
    first = revert_change(managed(arn, "v1"))
    for version in stack.iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            stack.iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    stack.iam.delete_policy(PolicyArn=arn)
    assert stack.iam.create_policy(PolicyName="reborn", PolicyDocument=BAD)["Policy"]["Arn"] == arn  # v1 again
    second = revert_change(managed(arn, "v1"), event_id="ev-later", execution=EXECUTION + "-later")
    assert second["alreadyReverted"] is False and second["incidentId"] != first["incidentId"]


def test_an_edit_of_a_policy_that_already_has_five_versions(stack):
    arn = stack.iam.create_policy(PolicyName="full", PolicyDocument=GOOD)["Policy"]["Arn"]
    for _ in range(3):
        stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=GOOD, SetAsDefault=True)
    stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=True)  # v5
    result = revert_change(managed(arn, "v5"))
    version, document = default_document(arn, stack.iam)
    assert document == revert.HARMLESS_DOCUMENT
    # The four earlier versions are all kept: only the risky one went.
    assert version_ids(stack.iam, arn) == sorted(["v1", "v2", "v3", "v4", version])
    assert result["deletedVersionId"] == "v5"


def test_a_version_that_is_not_the_default_is_deleted_without_a_swap(stack):
    arn = stack.iam.create_policy(PolicyName="staged", PolicyDocument=GOOD)["Policy"]["Arn"]
    stack.iam.create_policy_version(PolicyArn=arn, PolicyDocument=BAD, SetAsDefault=False)  # v2
    result = revert_change(managed(arn, "v2"))
    assert default_document(arn, stack.iam)[0] == "v1" and result["harmlessVersionId"] is None
    assert version_ids(stack.iam, arn) == ["v1"] and item(stack, result["incidentId"])["wasDefault"] is False


def test_what_is_already_gone_asks_nobody(stack):
    arn = stack.iam.create_policy(PolicyName="p", PolicyDocument=GOOD)["Policy"]["Arn"]
    assert revert_change(managed(arn, "v4"))["alreadyReverted"] is True
    assert revert_change(managed(arn.replace("/p", "/none"), "v1"))["alreadyReverted"] is True
    stack.iam.create_user(UserName="u")
    assert revert_change(inline("user", "u", "nothing"))["alreadyReverted"] is True


@pytest.mark.parametrize("principal_type", ["user", "role", "group"])
def test_an_inline_policy_is_deleted_and_its_text_kept(stack, principal_type):
    name = f"p-{principal_type}"
    {"user": lambda: stack.iam.create_user(UserName=name),
     "role": lambda: stack.iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}"),
     "group": lambda: stack.iam.create_group(GroupName=name)}[principal_type]()
    key = {f"{principal_type.capitalize()}Name": name}
    getattr(stack.iam, f"put_{principal_type}_policy")(**key, PolicyName="risky", PolicyDocument=BAD)
    result = revert_change(inline(principal_type, name, "risky"), event_id="ev-put")
    with pytest.raises(ClientError, match="NoSuchEntity"):
        getattr(stack.iam, f"get_{principal_type}_policy")(**key, PolicyName="risky")
    assert item(stack, result["incidentId"])["document"] == BAD
    # A later put under the same name is another change: another incident.
    getattr(stack.iam, f"put_{principal_type}_policy")(**key, PolicyName="risky", PolicyDocument=BAD)
    later = revert_change(inline(principal_type, name, "risky"), event_id="ev-put-2", execution=EXECUTION + "-2")
    assert later["alreadyReverted"] is False and later["incidentId"] != result["incidentId"]


def test_an_attachment_is_detached(stack_with_aws_policies):
    iam = stack_with_aws_policies.iam
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=ADMIN)
    result = revert_change(attachment("group", "admins", ADMIN), event_id="ev-attach")
    assert iam.list_attached_group_policies(GroupName="admins")["AttachedPolicies"] == []
    recorded = item(stack_with_aws_policies, result["incidentId"])
    assert json.loads(recorded["document"])["Statement"][0]["Action"] == "*"
    assert recorded["attachedVersionId"] == "v1" and result["detachedPolicyArn"] == ADMIN


@pytest.mark.parametrize("given", [{}, {"target": {"kind": "managed", "policyArn": "a"}},
                                   {"target": {"kind": "managed", "policyArn": "a", "versionId": "v1"}}])
def test_input_that_names_nothing_is_an_error_not_a_silent_success(stack, given):
    with pytest.raises(revert.InvalidEvent):
        revert.handler(given, None)


def test_iam_errors_are_raised_not_swallowed(stack):
    stack.iam.create_user(UserName="u")
    stack.iam.put_user_policy(UserName="u", PolicyName="p", PolicyDocument=BAD)

    def refused(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteUserPolicy")

    iam = stack.iam  # this test's own client: the function's is kept for the sandbox
    iam.delete_user_policy = refused
    with pytest.raises(ClientError, match="AccessDenied"):
        revert.revert_inline(iam, inline("user", "u", "p"))


def test_throttling_becomes_transient_error_for_the_retry():
    def throttled(**kwargs):
        raise ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "ListPolicyVersions")

    with pytest.raises(revert.TransientError):
        revert.aws_call(throttled)
