"""The restricted actions a verdict looks for: action patterns and named risk sets.

RestrictedActions (ValidatePolicy's RESTRICTED_ACTIONS) is comma-separated
text of IAM action patterns (`s3:DeleteBucket`, `iam:Create*`) and risk sets
(`@privilege-escalation`, `@data-destruction`, see RISK_SETS).
"""

from __future__ import annotations

from .policy_document import action_pattern_problem


class ConfigurationError(Exception):
    """The restricted actions are missing or name something that is no action pattern nor risk set.

    The class name is the error name Step Functions sees when ValidatePolicy
    is deployed without what it needs (RESTRICTED_ACTIONS).
    """


# The actions that let a principal give itself more than it has, each on its
# own or as the IAM half of a "pass a role to a service" path, as the public
# escalation catalogues list them:
#   Rhino Security Labs, "AWS IAM Privilege Escalation - Methods and Mitigation"
#     https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/
#     https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation-part-2/
#   Bishop Fox, iam-vulnerable (31 paths), https://github.com/BishopFox/iam-vulnerable
#     and "Well, That Escalated Quickly", https://labs.bishopfox.com/tech-blog/privilege-escalation-in-aws
# iam:PassRole stands alone although every PassRole path also needs a compute
# action (ec2:RunInstances, lambda:CreateFunction, glue:CreateDevEndpoint,
# cloudformation:CreateStack, datapipeline:CreatePipeline, codebuild:CreateProject,
# sagemaker:CreateNotebookInstance/CreateTrainingJob/CreateProcessingJob): the
# principal may hold that half through another policy, which this function
# cannot see, while the compute actions alone grant no new role.
PRIVILEGE_ESCALATION = (
    # permissions on policies
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:PutUserPolicy",
    "iam:PutRolePolicy",
    "iam:PutGroupPolicy",
    "iam:AttachUserPolicy",
    "iam:AttachRolePolicy",
    "iam:AttachGroupPolicy",
    "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
    # permissions on other users' credentials
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    # passing a role to a service
    "iam:PassRole",
    # running code or a shell as an existing, more privileged role
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "glue:UpdateDevEndpoint",
    "cloudformation:UpdateStack",
    "sagemaker:CreatePresignedNotebookInstanceUrl",
    "ssm:SendCommand",
    "ssm:StartSession",
    "ec2-instance-connect:SendSSHPublicKey",
)

# Deleting data or what keeps it readable, in S3, DynamoDB, RDS and KMS.
DATA_DESTRUCTION = (
    "s3:DeleteBucket",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "dynamodb:DeleteTable",
    "dynamodb:DeleteItem",
    "dynamodb:PartiQLDelete",
    "dynamodb:BatchWriteItem",  # its DeleteRequest entries delete items
    "dynamodb:DeleteBackup",
    "rds:DeleteDBInstance",
    "rds:DeleteDBCluster",
    "rds:DeleteDBSnapshot",
    "rds:DeleteDBClusterSnapshot",
    "rds:DeleteGlobalCluster",
    "rds:DeleteDBInstanceAutomatedBackup",
    "rds:DeleteDBClusterAutomatedBackup",
    "kms:ScheduleKeyDeletion",
    "kms:DeleteImportedKeyMaterial",
)

RISK_SETS = {
    "@privilege-escalation": PRIVILEGE_ESCALATION,
    "@data-destruction": DATA_DESTRUCTION,
}


# --- restricted actions ---------------------------------------------------------------


def parse_restricted_actions(value: str | None) -> list[str]:
    if value is None:
        raise ConfigurationError(
            "RESTRICTED_ACTIONS is not set: deploy with the RestrictedActions parameter "
            "(comma-separated IAM actions or risk sets: " + ", ".join(RISK_SETS) + ")"
        )
    entries = [item.strip() for item in value.split(",") if item.strip()]
    if not entries:
        raise ConfigurationError(
            "RESTRICTED_ACTIONS names no action, so nothing would ever be reverted: "
            "set RestrictedActions to e.g. s3:DeleteBucket,s3:DeleteObject"
        )
    restricted_entries(entries)  # fail at start-up, not on the first incident
    return entries


def restricted_entries(restricted_actions) -> list[tuple[str, str | None]]:
    """(action pattern, risk set it came from or None), risk sets expanded, each once."""
    out, seen = [], set()
    for entry in restricted_actions:
        if entry.startswith("@"):
            if entry not in RISK_SETS:
                raise ConfigurationError(
                    f"unknown risk set {entry!r} in RestrictedActions: the known sets are "
                    + ", ".join(RISK_SETS)
                )
            members = [(member, entry) for member in RISK_SETS[entry]]
        else:
            problem = action_pattern_problem(entry)
            if problem:
                raise ConfigurationError(f"RestrictedActions names {entry!r}: {problem}")
            members = [(entry, None)]
        for pattern, risk_set in members:
            if pattern.lower() not in seen:
                seen.add(pattern.lower())
                out.append((pattern, risk_set))
    return out

