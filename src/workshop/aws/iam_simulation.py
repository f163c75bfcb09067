"""Ask IAM whether a principal may make a call, and what decided it (SimulatePrincipalPolicy, SimulateCustomPolicy).

    from workshop.aws.iam_simulation import simulator
    ask = simulator(cloud)                      # whom it asks about: ask.principal
    ask("dynamodb:PutItem", table_arn)          # -> IamAnswer(decision="implicitDeny", decided_by=...)

Notebook 07 asks it about each call an attack needed. On the local cloud the
answer comes from the engine that authorizes every request; on AWS, from IAM.

Whom it asks about:
- the caller, when the caller is an IAM user (the AWS-like mode's learner, a
  learner's IAM user on AWS): SimulatePrincipalPolicy reads what IAM holds for
  that user (its policies, its groups', its boundary, the SCPs of its account);
- otherwise (the local cloud's own key, which is the account's administrator;
  a role or an SSO session on AWS) a learner holding exactly
  `policies/learner-policy*.json`: SimulateCustomPolicy with those texts. Not
  an IAM user made to hold them: those policies grant what the orchestrator
  takes out of force (iam:PassRole, lambda:UpdateFunctionCode...), so such a
  user would hold nothing by the time it is asked (every answer a false
  deny), and each run would leave an incident waiting for a human.

The statement that decided is named by its policy and its `Sid`, read from the
policy text at the position IAM gives (`MatchedStatements`); a policy whose
text the kit does not have is named with its line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from workshop.aws.session import project_root
from workshop.failures import WorkshopError

LEARNER_POLICIES = "learner-policy*.json"
_REFUSED = ("AccessDenied", "AccessDeniedException")


class SimulationRefused(WorkshopError):
    """The caller may not ask IAM (its policy grants no iam:Simulate*)."""


@dataclass(frozen=True)
class IamAnswer:
    """IAM's answer about one call: its decision (EvalDecision) and what decided it, in words."""

    action: str
    resource: str
    decision: str  # "allowed", "implicitDeny" or "explicitDeny"
    decided_by: str

    @property
    def allowed(self) -> bool:
        return self.decision == "allowed"


def learner_policy_files(root: Path | None = None) -> list[Path]:
    return sorted(((root or project_root()) / "policies").glob(LEARNER_POLICIES))


@dataclass
class Simulator:
    """Asks IAM about calls of one principal (see the module docstring for whom)."""

    cloud: object
    principal: str  # whom, in words
    api: str  # "SimulatePrincipalPolicy" or "SimulateCustomPolicy"
    source_arn: str = ""
    texts: dict = field(default_factory=dict)  # {SourcePolicyId: (label, policy text)}: to name statements

    def __call__(self, action: str, resource: str) -> IamAnswer:
        iam = self.cloud.client("iam")
        try:
            if self.api == "SimulatePrincipalPolicy":
                answer = iam.simulate_principal_policy(PolicySourceArn=self.source_arn, ActionNames=[action],
                                                       ResourceArns=[resource])
            else:
                answer = iam.simulate_custom_policy(PolicyInputList=[text for _, text in self.texts.values()],
                                                    ActionNames=[action], ResourceArns=[resource])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _REFUSED:
                raise
            raise SimulationRefused(f"IAM refused iam:{self.api} to you, so it cannot say why each call is allowed "
                                    f"or denied: {exc.response['Error'].get('Message', '')}") from None
        [result] = answer["EvaluationResults"]
        return IamAnswer(action, resource, result["EvalDecision"], self._decided_by(result))

    def _decided_by(self, result: dict) -> str:
        if result.get("OrganizationsDecisionDetail", {}).get("AllowedByOrganizations") is False:
            return "a service control policy"
        if result.get("PermissionsBoundaryDecisionDetail", {}).get("AllowedByPermissionsBoundary") is False:
            return "the permissions boundary"
        named = [self._statement(s) for s in result.get("MatchedStatements", [])]
        if named:
            return "; ".join(dict.fromkeys(named))
        return "no statement allows it" if result["EvalDecision"] == "implicitDeny" else ""

    def _statement(self, matched: dict) -> str:
        policy_id = matched.get("SourcePolicyId", "?")
        label, text = self.texts.get(policy_id, (policy_id, ""))
        line = matched.get("StartPosition", {}).get("Line", 0)
        sid = _sid_at(text, line, matched.get("StartPosition", {}).get("Column", 0))
        return f"{label} {sid}" if sid else f"{label} (line {line})"


def _sid_at(text: str, line: int, column: int) -> str:
    """The Sid of the statement that starts at (line, column) of `text` (1-based), or ""."""
    lines = text.splitlines(keepends=True)
    if not text or not 1 <= line <= len(lines) or column < 1:
        return ""
    offset = sum(len(part) for part in lines[:line - 1]) + column - 1
    try:
        statement, _ = json.JSONDecoder().raw_decode(text, offset)
    except ValueError:
        return ""
    return statement.get("Sid", "") if isinstance(statement, dict) else ""


def simulator(cloud, root: Path | None = None) -> Simulator:
    """A Simulator for the caller when it is an IAM user, else for a learner holding exactly the learner policies."""
    files = learner_policy_files(root)
    caller = cloud.client("sts").get_caller_identity()["Arn"]
    if ":user/" in caller:
        texts = {path.stem: (path.stem, path.read_text()) for path in files}  # as a facilitator names them
        return Simulator(cloud, f"you ({caller})", "SimulatePrincipalPolicy", caller, texts)
    texts = {f"PolicyInputList.{i}": (path.name, path.read_text()) for i, path in enumerate(files, 1)}
    return Simulator(cloud, "a learner holding exactly policies/" + LEARNER_POLICIES, "SimulateCustomPolicy",
                     texts=texts)
