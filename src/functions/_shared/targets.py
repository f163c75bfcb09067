"""What changed, as the state machine's *Target states name it (the `target` of the input).

* managed: a policy version (`policyArn`, `versionId`);
* inline: a principal's inline policy (`principalType`, `principalName`, `policyName`);
* attachment: a managed policy attached to a principal (`principalType`, `principalName`, `policyArn`);
* membership: a user in a group (`principalType` "user", `principalName`, `groupName`): what the
  user gains is everything the group's inline and attached policies allow;
* principal: everything a user, role or group holds under its (new) name (`principalType`,
  `principalName`): a rename is judged again under the name it now has;
* trust: a role's trust policy (`principalType` "role", `principalName`): who may assume it;
* bucket: an S3 bucket's policy (`bucketName`): who it lets do what to the bucket;
* account: everything of the account (the reconciliation scan).

All but principal and account are incidents of their own; a principal or the account is judged part by
part, each risky part a change of its own (ValidatePolicy's findings).

Every function that takes a target checks it the same way (`checked_target`),
each raising its own error: the name Step Functions sees.
"""

from __future__ import annotations

PRINCIPAL_TYPES = ("user", "role", "group")
REQUIRED = {"managed": ("policyArn", "versionId"),
            "inline": ("principalType", "principalName", "policyName"),
            "attachment": ("principalType", "principalName", "policyArn"),
            "membership": ("principalType", "principalName", "groupName"),
            "principal": ("principalType", "principalName"),
            "trust": ("principalType", "principalName"),
            "bucket": ("bucketName",),
            "account": ()}
KINDS = tuple(REQUIRED)


def target_problem(target) -> str | None:
    """What is wrong with `target`, or None when it names a change."""
    if not isinstance(target, dict) or target.get("kind") not in KINDS:
        return f"the input has no target of kind {', '.join(KINDS)} (the output of ModifyState)"
    for key in REQUIRED[target["kind"]]:
        if not isinstance(target.get(key), str) or not target[key]:
            return f"the {target['kind']} target has no {key}"
    if "principalType" in REQUIRED[target["kind"]] and target["principalType"] not in PRINCIPAL_TYPES:
        return f"principalType must be one of {', '.join(PRINCIPAL_TYPES)}"
    if target["kind"] == "membership" and target["principalType"] != "user":
        return "a membership's principalType must be user (only users join groups)"
    if target["kind"] == "trust" and target["principalType"] != "role":
        return "a trust policy's principalType must be role (only roles are assumed)"
    return None


def checked_target(target, invalid: type[Exception], function: str) -> dict:
    """`target` when it names a change, else `invalid` saying what is wrong."""
    problem = target_problem(target)
    if problem:
        raise invalid(f"{function}: {problem}")
    return target


def principal_kwargs(target: dict) -> dict:
    """The principal as IAM's API names it: {"UserName": ...}, {"RoleName": ...} or {"GroupName": ...}."""
    return {f"{target['principalType'].capitalize()}Name": target["principalName"]}
