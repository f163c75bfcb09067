"""The approval panel's "in force now" for a bucket-policy incident, on the local cloud, read as the learner: an
IAM user holding exactly policies/learner-policy*.json, whose S3 and IAM calls the local cloud evaluates."""

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from iam_principals import admin, learner_user, unique

from workshop.aws.incidents import Incident, PendingApproval, Unreadable, document_in_force, is_restored
from workshop.widgets.approvals import approval_card_html

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]


def _policy(bucket: str, sid: str, principal) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def test_the_learner_sees_the_bucket_policy_in_force_now_and_whether_it_is_back(shared_cloud):
    endpoint = shared_cloud.endpoint
    s3 = admin(endpoint, "s3")
    bucket = unique("workshop-incident")
    s3.create_bucket(Bucket=bucket)
    risky = _policy(bucket, "AnyoneDeletes", "*")
    incident = Incident(incident_id="i", kind="bucket", label=f"the bucket policy of {bucket}",
                        target={"kind": "bucket", "bucketName": bucket}, document=risky, changed_by={},
                        event_name="PutBucketPolicy", event_time="", verdict="remedy", why="", matches=[],
                        status="pending", execution_arn="", created_at=datetime.now(timezone.utc))
    learner = learner_user(endpoint, ROOT)
    iam, learner_s3 = learner.client("iam"), learner.client("s3")

    assert document_in_force(iam, incident, s3=learner_s3) is None  # taken out: no bucket policy at all
    kept = _policy(bucket, "OwnerDeletes", {"AWS": "arn:aws:iam::123456789012:root"})
    s3.put_bucket_policy(Bucket=bucket, Policy=kept)
    now = document_in_force(iam, incident, s3=learner_s3)
    assert not isinstance(now, Unreadable) and now == json.loads(kept), now
    card = approval_card_html(PendingApproval(incident, now))
    assert "OwnerDeletes" in card and "AnyoneDeletes" in card and "could not be read" not in card
    assert not is_restored(iam, incident, s3=learner_s3)
    s3.put_bucket_policy(Bucket=bucket, Policy=risky)
    assert is_restored(iam, incident, s3=learner_s3)

    outsider = learner_user(endpoint, ROOT)  # the same, less the one grant that reads bucket policies
    admin(endpoint, "iam").put_user_policy(
        UserName=outsider.name, PolicyName="no-bucket-policies", PolicyDocument=json.dumps({"Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "s3:GetBucketPolicy", "Resource": "*"}]}))
    refused = document_in_force(outsider.client("iam"), incident, s3=outsider.client("s3"))
    assert isinstance(refused, Unreadable) and "AccessDenied" in str(refused), refused
