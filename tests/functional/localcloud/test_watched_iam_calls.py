"""The local cloud holds the AWS managed policies a learner attaches (the watched calls: tests/unit)."""

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def test_the_local_cloud_has_aws_managed_policies_to_attach(cloud):
    iam = cloud.client("iam")
    policy = iam.get_policy(PolicyArn=ADMIN)["Policy"]
    document = iam.get_policy_version(PolicyArn=ADMIN, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert document["Document"]["Statement"] == [{"Action": "*", "Effect": "Allow", "Resource": "*"}]
    assert not [p for p in iam.list_policies(Scope="Local")["Policies"] if p["Arn"].startswith("arn:aws:iam::aws:")]
    iam.create_role(RoleName="watched", AssumeRolePolicyDocument="{}")
    iam.attach_role_policy(RoleName="watched", PolicyArn=ADMIN)
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="watched")["AttachedPolicies"]] == [ADMIN]
