"""Notebook 07's IAM table (`workshop.teaching.ask_iam`) against a real local cloud: the decisions are the engine's.

The attacks' results are made here with the calls an attack records (`AttackResult.calls`); IAM is asked by
the kit about them: as the local cloud's own key (the administrator), about a learner holding exactly
policies/learner-policy*.json (SimulateCustomPolicy); as an IAM user, about that user (SimulatePrincipalPolicy),
whose policies here are the learner's plus what each test adds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from iam_principals import ACCOUNT, AttackerCloud, Principal, admin, allow, document, session_for, unique, user_with

from workshop.aws.session import connect
from workshop.teaching import ask_iam
from workshop.teaching.attacks import AttackResult
from workshop.aws.iam_simulation import learner_policy_files

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
MACHINE = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:security-orchestrator-StateMachine"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/security-orchestrator-IncidentsTable-abc"
RESTORE = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:security-orchestrator-RestorePolicy-abc"


def results() -> list:
    return [
        AttackResult("a forged execution", "", held=True, label="forged execution",
                     calls=[("states:StartExecution", MACHINE)]),
        AttackResult("a forged incident", "", held=True, label="forged incident",
                     calls=[("dynamodb:PutItem", TABLE), ("lambda:InvokeFunction", RESTORE)]),
        AttackResult("a rename", "", held=True, label="rename",
                     calls=[("iam:PutUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/workshop-user-1"),
                            ("iam:UpdateUser", f"arn:aws:iam::{ACCOUNT}:user/workshop-user-1")]),
        AttackResult("an edited link", "", held=None, label="edited deny link"),
        # a simulated resource of a type the simulation itself is authorized on (a group): asked about, not acted on
        AttackResult("a group join", "", held=True, label="group join",
                     calls=[("iam:CreateGroup", f"arn:aws:iam::{ACCOUNT}:group/workshop-group-1")]),
    ]


def rows(answers) -> dict:
    return {row.attack: row.cells()[1:] for row in answers.rows}


def test_as_the_administrator_it_asks_about_a_learner_holding_exactly_the_learner_policies(shared_cloud):
    answers = ask_iam(connect("local", shared_cloud.endpoint), results())
    assert answers.api == "SimulateCustomPolicy" and "policies/learner-policy*.json" in answers.heading()
    found = rows(answers)
    assert found["forged execution"] == ("states:StartExecution", MACHINE, "allowed",
                                         "learner-policy.json RunAndChangeTheOrchestratorsStateMachine",
                                         "the orchestrator")
    # the first call IAM denies is the row: the table write (allowed only through CloudFormation)
    assert found["forged incident"] == ("dynamodb:PutItem", TABLE, "implicitDeny", "no statement allows it", "IAM")
    # every call allowed: the row is the last, the one that does the harm
    assert found["rename"][:4] == ("iam:UpdateUser", f"arn:aws:iam::{ACCOUNT}:user/workshop-user-1", "allowed",
                                   "learner-policy-incidents.json WorkshopUsersForTheInlinePolicyDemo")
    assert found["edited deny link"] == ("—", "no AWS call", "—", "—", "not tried here")
    assert found["group join"][2:] == ("implicitDeny", "no statement allows it", "IAM")
    text = repr(answers)
    assert "forged execution | states:StartExecution" in text and "<table>" in answers._repr_html_()


@pytest.fixture(scope="module")
def learner_policy_arns(shared_cloud) -> list:
    """The learner's policies as a facilitator makes them: customer managed, named after their files."""
    iam, arns = admin(shared_cloud.endpoint, "iam"), []
    for path in learner_policy_files(ROOT):
        try:
            arns.append(iam.create_policy(PolicyName=path.stem, PolicyDocument=path.read_text())["Policy"]["Arn"])
        except ClientError as exc:  # made by an earlier run on this local cloud
            assert exc.response["Error"]["Code"] == "EntityAlreadyExists"
            arns.append(f"arn:aws:iam::{ACCOUNT}:policy/{path.stem}")
    return arns


def learner_user(endpoint: str, arns: list, inline: dict | None = None, boundary: str | None = None):
    """A `cloud` handle of a new IAM user holding the learner's policies (and `inline`, and a boundary)."""
    iam, name = admin(endpoint, "iam"), unique("workshop-learner")
    arn = iam.create_user(UserName=name, **({"PermissionsBoundary": boundary} if boundary else {}))["User"]["Arn"]
    for policy in arns:
        iam.attach_user_policy(UserName=name, PolicyArn=policy)
    if inline:
        iam.put_user_policy(UserName=name, PolicyName="extra", PolicyDocument=json.dumps(inline))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return AttackerCloud(connect("local", endpoint), Principal(endpoint, session_for(endpoint, key), arn, name)), arn


def test_as_an_iam_user_it_asks_about_that_user_and_names_what_decided(shared_cloud, learner_policy_arns):
    deny = {"Sid": "NoExecutions", "Effect": "Deny", "Action": "states:StartExecution", "Resource": "*"}
    cloud, arn = learner_user(shared_cloud.endpoint, learner_policy_arns, json.loads(document(deny)))
    answers = ask_iam(cloud, results())
    assert answers.api == "SimulatePrincipalPolicy" and arn in answers.heading()
    found = rows(answers)
    action, resource, decision, decided_by, held_by = found["forged execution"]
    assert (decision, held_by) == ("explicitDeny", "IAM") and decided_by.startswith("extra")
    assert found["forged incident"][2:] == ("implicitDeny", "no statement allows it", "IAM")
    assert found["rename"][2:] == ("allowed", "learner-policy-incidents WorkshopUsersForTheInlinePolicyDemo",
                                   "the orchestrator")
    assert found["group join"][2:] == ("implicitDeny", "no statement allows it", "IAM")


def test_a_permissions_boundary_that_allows_less_is_named(shared_cloud, learner_policy_arns):
    boundary = admin(shared_cloud.endpoint, "iam").create_policy(
        PolicyName=unique("workshop-boundary"),
        PolicyDocument=document(allow(["iam:*", "sts:GetCallerIdentity"], "*")))["Policy"]["Arn"]
    cloud, _ = learner_user(shared_cloud.endpoint, learner_policy_arns, boundary=boundary)
    found = rows(ask_iam(cloud, results()))
    assert found["forged execution"][2:] == ("implicitDeny", "the permissions boundary", "IAM")
    assert found["rename"][2] == "allowed"


def test_a_caller_iam_will_not_answer_gets_a_sentence_not_a_traceback(shared_cloud):
    user = user_with(shared_cloud.endpoint, document(allow("sts:GetCallerIdentity", "*")))
    answers = ask_iam(AttackerCloud(connect("local", shared_cloud.endpoint), user), results())
    assert answers.rows == [] and "IAM refused iam:SimulatePrincipalPolicy to you" in answers.heading()
    assert "not authorized to perform: iam:SimulatePrincipalPolicy" in repr(answers)
