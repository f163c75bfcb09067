"""iam:SimulatePrincipalPolicy and iam:SimulateCustomPolicy, answered by the engine that authorizes every request.

So a learner can ask why: the same `workshop.iam.evaluate_request` the
authorizer uses, with the principal's policies read from moto's IAM (a user's
own and its groups', a group's, a role's), its permissions boundary, and the
SCPs of its account when it is a member of an organization; or, for
SimulateCustomPolicy, only the policies given. The answer has AWS's shape
(IAM API reference, SimulatePrincipalPolicy / EvaluationResult): per action
and resource `EvalDecision` (allowed / explicitDeny / implicitDeny),
`MatchedStatements` (the statements that decided it, with their policy and
position), `MissingContextValues`, `OrganizationsDecisionDetail` and
`PermissionsBoundaryDecisionDetail` where those policies apply, and
`EvalDecisionDetails` when a resource policy is simulated.

Inputs as AWS takes them: `PolicyInputList` (more identity policies),
`PermissionsBoundaryPolicyInputList` (instead of the entity's boundary),
`ActionNames`, `ResourceArns` (default `*`), `ResourcePolicy`,
`ResourceOwner`, `CallerArn`, `ContextEntries` (ContextKeyName /
ContextKeyValues / ContextKeyType).
"""

from __future__ import annotations

import json
import re
import uuid
from html import escape

from workshop.iam import (Context, InvalidPolicyDocument, Policies, Principal, Request, compile_policy,
                          evaluate_request)

from . import policy_sources

_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"


class SimulationError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _members(form: dict, name: str) -> list[str]:
    found = []
    for key, value in form.items():
        match = re.fullmatch(re.escape(name) + r"\.member\.(\d+)", key)
        if match:
            found.append((int(match.group(1)), value))
    return [value for _, value in sorted(found)]


def _context_entries(form: dict) -> dict:
    entries = {}
    indexes = sorted({int(m.group(1)) for key in form
                      for m in [re.match(r"ContextEntries\.member\.(\d+)\.", key)] if m})
    for index in indexes:
        prefix = f"ContextEntries.member.{index}."
        name = form.get(prefix + "ContextKeyName")
        kind = (form.get(prefix + "ContextKeyType") or "string").lower()
        values = _members(form, prefix + "ContextKeyValues")
        if name:
            entries[name] = values if kind.endswith("list") else (values[0] if values else "")
    return entries


def _compiled(text: str, kind: str, policy_id: str, policy_type: str):
    try:
        return compile_policy(text, kind=kind, policy_id=policy_id, policy_type=policy_type)
    except InvalidPolicyDocument as exc:
        raise SimulationError("MalformedPolicyDocument", f"{policy_id}: {exc}") from None


def _source(arn: str):
    """(Principal, identity documents, boundary) of the entity a PolicySourceArn names."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam":
        raise SimulationError("InvalidInput", f"Invalid ARN: {arn} is not the ARN of a user, group or role.")
    account, resource = parts[4], parts[5]
    backend = policy_sources._iam(account)
    name = resource.rsplit("/", 1)[-1]
    if resource.startswith("user/"):
        principal = Principal(arn, "user", account)
        own = policy_sources.principal_policies(principal)
        if not own.exists:
            raise SimulationError("NoSuchEntity", f"The user with name {name} cannot be found.", 404)
        return principal, own.identity, own.boundary
    if resource.startswith("role/"):
        role = policy_sources.lookup_role(account, arn)
        if role is None:
            raise SimulationError("NoSuchEntity", f"The role with name {name} cannot be found.", 404)
        principal = Principal(f"arn:aws:sts::{account}:assumed-role/{name}/SimulatedSession", "assumed-role",
                              account, role.arn)
        own = policy_sources.principal_policies(principal)
        return principal, own.identity, own.boundary
    if resource.startswith("group/"):
        group = backend.groups.get(name)
        if group is None:
            raise SimulationError("NoSuchEntity", f"The group with name {name} cannot be found.", 404)
        documents = [policy_sources._compiled(doc, "identity", policy_name, "group")
                     for policy_name, doc in group.policies.items()]
        documents += [policy_sources._managed(p) for p in group.managed_policies.values()]
        return Principal(arn, "user", account), tuple(documents), None
    raise SimulationError("InvalidInput", f"Invalid ARN: {arn} is not the ARN of a user, group or role.")


def simulate(form: dict, account: str) -> list[dict]:
    """The EvaluationResults of one SimulatePrincipalPolicy / SimulateCustomPolicy request (its query form)."""
    action = form.get("Action")
    inputs = tuple(_compiled(text, "identity", f"PolicyInputList.{i}", "none")
                   for i, text in enumerate(_members(form, "PolicyInputList"), 1))
    boundaries = [_compiled(text, "identity", f"PermissionsBoundaryPolicyInputList.{i}", "none")
                  for i, text in enumerate(_members(form, "PermissionsBoundaryPolicyInputList"), 1)]
    if action == "SimulatePrincipalPolicy":
        if not form.get("PolicySourceArn"):
            raise SimulationError("ValidationError", "PolicySourceArn is required.")
        principal, identity, boundary = _source(form["PolicySourceArn"])
        scps = policy_sources.service_control_policies(principal.account)
    else:
        if not inputs:
            raise SimulationError("ValidationError", "PolicyInputList is required.")
        principal, identity, boundary, scps = Principal(f"arn:aws:iam::{account}:user/SimulatedUser", "user",
                                                        account), (), None, None
    if boundaries:
        boundary = boundaries[0]
    caller = form.get("CallerArn")
    if caller:
        principal = Principal(caller, "user", caller.split(":")[4] or account)
    resource_policy = None
    if form.get("ResourcePolicy"):
        resource_policy = _compiled(form["ResourcePolicy"], "resource", "ResourcePolicy", "resource")
    owner = form.get("ResourceOwner")
    owner_account = owner.split(":")[4] if owner and owner.startswith("arn:") else owner
    context_values = _context_entries(form)
    actions = _members(form, "ActionNames")
    if not actions:
        raise SimulationError("ValidationError", "ActionNames is required.")
    resources = _members(form, "ResourceArns") or ["*"]
    policies = Policies(identity=identity + inputs, boundary=boundary, resource=resource_policy,
                        resource_account=owner_account or None, scps=scps)
    results = []
    for name in actions:
        for resource in resources:
            values = {"aws:PrincipalArn": principal.role_arn or principal.arn, "aws:PrincipalAccount": principal.account,
                      "aws:username": principal.arn.rsplit("/", 1)[-1] if principal.kind == "user" else None,
                      **context_values}
            request = Request(name, resource, Context(values))
            decision = evaluate_request(principal, request, policies)
            results.append(_result(name, resource, decision, policies))
    return results


def _result(action: str, resource: str, decision, policies: Policies) -> dict:
    wanted_allow = decision.decision == "allowed"
    matched = [(document, statement) for document, statement in decision.matched
               if decision.decision != "implicitDeny" and statement.allow == wanted_allow]
    result = {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision.decision,
              "MatchedStatements": [_statement(document, statement) for document, statement in _unique(matched)],
              "MissingContextValues": list(decision.missing_context)}
    if policies.scps is not None:
        result["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": decision.scps_allow is not False}
    if policies.boundary is not None:
        result["PermissionsBoundaryDecisionDetail"] = {
            "AllowedByPermissionsBoundary": decision.boundary_allows is not False}
    if policies.resource is not None:
        resource_decided = any(d is policies.resource for d, _ in matched)
        result["EvalDecisionDetails"] = {"IAM Policy": decision.decision,
                                         "Resource Policy": decision.decision if resource_decided else "implicitDeny"}
    return result


def _unique(pairs):
    seen = set()
    for document, statement in pairs:
        key = (id(document), statement.index)
        if key not in seen:
            seen.add(key)
            yield document, statement


def _statement(document, statement) -> dict:
    start, end = _position(document.text, statement.index)
    return {"SourcePolicyId": document.id, "SourcePolicyType": document.type if document.type in (
        "user", "group", "role", "aws-managed", "user-managed", "resource") else "none",
            "StartPosition": start, "EndPosition": end}


def _position(text: str, index: int) -> tuple[dict, dict]:
    """Where the index-th statement object starts and ends in the policy text, as (Line, Column), 1-based."""
    span = _statement_spans(text)
    if index >= len(span):
        return {"Line": 1, "Column": 1}, {"Line": 1, "Column": 1}
    return _line_column(text, span[index][0]), _line_column(text, span[index][1])


def _statement_spans(text: str) -> list[tuple[int, int]]:
    decoder = json.JSONDecoder()
    found = re.search(r'"Statement"\s*:\s*', text)
    if not found:
        return []
    position = found.end()
    if position < len(text) and text[position] == "{":
        _, end = decoder.raw_decode(text, position)
        return [(position, end)]
    spans = []
    position += 1
    while position < len(text):
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            break
        try:
            _, end = decoder.raw_decode(text, position)
        except ValueError:
            break
        spans.append((position, end))
        position = end
    return spans


def _line_column(text: str, offset: int) -> dict:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return {"Line": line, "Column": column}


# --- the answer, in IAM's query protocol ---------------------------------------------------------------------


def _xml(value, tag: str) -> str:
    if isinstance(value, dict):
        if tag in ("EvalDecisionDetails",):
            entries = "".join(f"<entry><key>{escape(k)}</key><value>{escape(str(v))}</value></entry>"
                              for k, v in value.items())
            return f"<{tag}>{entries}</{tag}>"
        return f"<{tag}>" + "".join(_xml(v, k) for k, v in value.items()) + f"</{tag}>"
    if isinstance(value, list):
        return f"<{tag}>" + "".join(_xml(v, "member") for v in value) + f"</{tag}>"
    if isinstance(value, bool):
        return f"<{tag}>{'true' if value else 'false'}</{tag}>"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def respond(form: dict, account: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) of the Simulate* call in `form`."""
    action = form.get("Action", "SimulatePrincipalPolicy")
    request_id = str(uuid.uuid4())
    try:
        results = simulate(form, account)
    except SimulationError as exc:
        body = (f'<ErrorResponse xmlns="{_XMLNS}"><Error><Type>Sender</Type><Code>{exc.code}</Code>'
                f"<Message>{escape(exc.message)}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>")
        reason = {400: "Bad Request", 404: "Not Found"}.get(exc.status, "Bad Request")
        return f"{exc.status} {reason}", [("Content-Type", "text/xml")], body.encode()
    body = (f'<{action}Response xmlns="{_XMLNS}"><{action}Result><IsTruncated>false</IsTruncated>'
            + _xml(results, "EvaluationResults")
            + f"</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
            f"</{action}Response>")
    return "200 OK", [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()
