"""IAM: a user's permissions boundary, which moto's IAM keeps for roles only (`iam-user-permissions-boundary`).

moto answers `PutUserPermissionsBoundary` and `DeleteUserPermissionsBoundary`
with a 500 (its IAM responses have no such methods) and `CreateUser` drops
its `PermissionsBoundary`, so a boundary, which the local cloud's authorizer
evaluates as AWS does, could be set on roles only. `install()` adds both
calls, keeps CreateUser's boundary, and shows it in GetUser (as a role's
`PermissionsBoundary`: type and policy ARN), checking the ARN as moto checks
a role's ("Value (...) for parameter PermissionsBoundary is invalid.").

Patch points: `moto.iam.models.User` (`permissions_boundary_arn`,
`permissions_boundary`), `moto.iam.responses.IamResponse`
(`put_user_permissions_boundary`, `delete_user_permissions_boundary` added;
`create_user` wrapped). Registered in seams.py; docs/upstream.md has the issue.
"""

from __future__ import annotations


def install_user_permissions_boundary() -> list:
    """Apply the mend; returns the attributes it added to moto."""
    from moto.iam.exceptions import IAMException as RESTError
    from moto.core.responses import EmptyResult
    from moto.iam.models import User
    from moto.iam.responses import IamResponse

    added = []

    def permissions_boundary(self):
        arn = getattr(self, "permissions_boundary_arn", None)
        return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn} if arn else None

    def checked(backend, arn):
        if not arn or not backend.policy_arn_regex.match(arn):
            raise RESTError("InvalidParameterValue", f"Value ({arn}) for parameter PermissionsBoundary is invalid.")
        return arn

    def put_user_permissions_boundary(self):
        user = self.backend.get_user(self._get_param("UserName"))
        user.permissions_boundary_arn = checked(self.backend, self._get_param("PermissionsBoundary"))
        return EmptyResult()

    def delete_user_permissions_boundary(self):
        user = self.backend.get_user(self._get_param("UserName"))
        user.permissions_boundary_arn = None
        return EmptyResult()

    original_create_user = IamResponse.create_user

    def create_user(self):
        boundary = self._get_param("PermissionsBoundary")
        if boundary:
            checked(self.backend, boundary)
        result = original_create_user(self)
        if boundary:
            self.backend.get_user(self._get_param("UserName")).permissions_boundary_arn = boundary
        return result

    create_user.__wrapped__ = original_create_user
    for owner, name, value in ((User, "permissions_boundary_arn", None),
                               (User, "permissions_boundary", property(permissions_boundary)),
                               (IamResponse, "put_user_permissions_boundary", put_user_permissions_boundary),
                               (IamResponse, "delete_user_permissions_boundary", delete_user_permissions_boundary)):
        if name not in owner.__dict__:
            setattr(owner, name, value)
            added.append((owner, name))
    IamResponse.create_user = create_user
    return added
