"""The IAM and Organizations mends a permissions evaluation needs (seams.py): user boundaries, the access role."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from workshop.localcloud import seams

BOUNDARY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def test_moto_still_lacks_user_boundaries_and_the_access_roles_policy():
    """If moto mends these, this says so: then drop the seams and their docs/upstream.md sections."""
    from moto.iam.responses import IamResponse
    from moto.organizations.models import FakeAccount

    assert "put_user_permissions_boundary" not in IamResponse.__dict__
    import inspect

    assert "put_role_policy" not in inspect.getsource(FakeAccount.__init__)


def test_a_users_permissions_boundary_is_put_kept_at_create_and_deleted():
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="before")
        with pytest.raises(NotImplementedError):  # moto without the mend (a 500 from its server)
            iam.put_user_permissions_boundary(UserName="before", PermissionsBoundary=BOUNDARY)
        seams.install("eager")
        iam.put_user_permissions_boundary(UserName="before", PermissionsBoundary=BOUNDARY)
        assert iam.get_user(UserName="before")["User"]["PermissionsBoundary"] == {
            "PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": BOUNDARY}
        iam.delete_user_permissions_boundary(UserName="before")
        assert "PermissionsBoundary" not in iam.get_user(UserName="before")["User"]
        made = iam.create_user(UserName="bounded", PermissionsBoundary=BOUNDARY)["User"]
        assert made["PermissionsBoundary"]["PermissionsBoundaryArn"] == BOUNDARY
        assert iam.get_user(UserName="bounded")["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == BOUNDARY
        with pytest.raises(ClientError) as bad:
            iam.put_user_permissions_boundary(UserName="before", PermissionsBoundary="arn:aws:iam::123456789012:user/not-a-policy")
        assert bad.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_a_created_accounts_access_role_is_its_administrator():
    with mock_aws():
        seams.install("eager")
        organizations = boto3.client("organizations", region_name="us-east-1")
        organizations.create_organization(FeatureSet="ALL")
        status = organizations.create_account(AccountName="member", Email="member@example.com")["CreateAccountStatus"]
        from moto.iam.models import iam_backends

        role = iam_backends[status["AccountId"]]["global"].get_role("OrganizationAccountAccessRole")
        assert json.loads(role.policies["AdministratorAccess"]) == {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        trust = json.loads(role.assume_role_policy_document)
        assert trust["Statement"][0]["Principal"]["AWS"].endswith(":root")
