"""A member account of the local cloud's organization, and its administrator, for tests that act in one.

    account, owner = member_account(endpoint)      # owner: a session of its OrganizationAccountAccessRole

The management account's administrator (the per-start key) makes the organization when there is none
yet, and the account; a user of the management account allowed everything assumes the account's
OrganizationAccountAccessRole, as docs/aws.md tells an account owner to reach it.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from iam_principals import Principal, admin, document, session_for, unique, user_with

ANYTHING = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def organization_with_scps(endpoint: str) -> str:
    """The organization's root id; the organization made, and SCPs enabled, when they are not yet."""
    organizations = admin(endpoint, "organizations")
    try:
        organizations.create_organization(FeatureSet="ALL")
    except ClientError as exc:  # another test of the session made it
        assert exc.response["Error"]["Code"] == "AlreadyInOrganizationException", exc
    root = organizations.list_roots()["Roots"][0]["Id"]
    try:
        organizations.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "PolicyTypeAlreadyEnabledException", exc
    return root


def member_account(endpoint: str, name: str | None = None) -> tuple[str, Principal]:
    """(account id, its administrator through OrganizationAccountAccessRole) of a new member account."""
    organization_with_scps(endpoint)
    name = name or unique("workshop")
    account = admin(endpoint, "organizations").create_account(AccountName=name, Email=f"{name}@example.com")[
        "CreateAccountStatus"]["AccountId"]
    key = user_with(endpoint, document(ANYTHING)).client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="owner")["Credentials"]
    return account, Principal(endpoint, session_for(endpoint, key), f"arn:aws:sts::{account}:assumed-role/"
                              "OrganizationAccountAccessRole/owner", "owner")
