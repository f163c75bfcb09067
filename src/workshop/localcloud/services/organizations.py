"""Organizations: a created account's OrganizationAccountAccessRole is its administrator (`organizations-access-role-admin`).

`CreateAccount` makes, in the new member account, "an IAM role that grants
administrator permissions in the new account"; the management account's
principals reach the account by assuming it (Organizations API reference,
CreateAccount, RoleName; "Accessing a member account that has a management
account access role" in the user guide: the role carries a policy that allows
every action on every resource). moto creates the role with its trust policy
but with no permissions policy, so, once the local cloud evaluates IAM, the
role could do nothing. `install()` gives the role its administrator policy
(inline, "AdministratorAccess": Allow `*` on `*`) when moto creates an account.

Patch point: `moto.organizations.models.FakeAccount.__init__`, wrapped.
Registered in seams.py; docs/upstream.md has the issue.
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger("workshop.localcloud.organizations")

ADMINISTRATOR = json.dumps({"Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
POLICY_NAME = "AdministratorAccess"


def install_access_role_admin() -> None:
    from moto.iam.models import iam_backends
    from moto.organizations.models import FakeAccount

    original = FakeAccount.__init__

    def __init__(self, organization, **kwargs):
        original(self, organization, **kwargs)
        role_name = kwargs.get("RoleName", "OrganizationAccountAccessRole")
        backend = iam_backends[self.id]["global"]
        try:
            backend.put_role_policy(role_name, POLICY_NAME, ADMINISTRATOR)
        except Exception:  # moto made no role (it existed already): leave that role as it is
            log.debug("account %s keeps its own %s", self.id, role_name, exc_info=True)

    __init__.__wrapped__ = original
    FakeAccount.__init__ = __init__
