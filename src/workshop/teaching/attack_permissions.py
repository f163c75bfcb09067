"""Why each attack of notebook 07 was refused or let through: IAM asked about the calls the attacker needed.

    from workshop.teaching import ask_iam
    ask_iam(cloud, results)    # a table: attack, action, resource, IAM's decision, what decided, what held

For each attack (an `AttackResult` of `workshop.teaching.attacks`) the row is
the first of its calls IAM denies (IAM stops the attack there), else its last
call (the one that would do the harm): IAM allowed every call, so what held is
the orchestrator. IAM is asked with `workshop.aws.iam_simulation` about you
when you are an IAM user, else about a learner holding exactly
`policies/learner-policy*.json`; the heading says which.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from workshop.aws.iam_simulation import IamAnswer, SimulationRefused, simulator
from workshop.display.html import TEXT_CELL, no_math

HEADERS = ("attack", "action", "resource", "IAM says", "decided by", "held by")


@dataclass(frozen=True)
class AttackRow:
    attack: str
    answer: IamAnswer | None  # None: the attack makes no AWS call (a link anyone holding it can edit)
    held_by: str

    def cells(self) -> tuple:
        if self.answer is None:
            return self.attack, "—", "no AWS call", "—", "—", self.held_by
        a = self.answer
        return self.attack, a.action, a.resource, a.decision, a.decided_by or "—", self.held_by


def _held_by(result, answer: IamAnswer | None) -> str:
    if result.held is None:
        return "not tried here"
    if result.held is False:
        return "nobody: DEFENCE BROKEN"
    return "IAM" if answer is not None and not answer.allowed else "the orchestrator"


def _row(ask, result) -> AttackRow:
    answer = None
    for action, resource in result.calls:
        answer = ask(action, resource)
        if not answer.allowed:
            break
    return AttackRow(result.label or result.attack, answer, _held_by(result, answer))


class IamAnswers:
    """The table a notebook shows (HTML), with its rows as data."""

    def __init__(self, principal: str, api: str, rows: list, refused: str = ""):
        self.principal, self.api, self.rows, self.refused = principal, api, rows, refused

    def heading(self) -> str:
        return self.refused or f"IAM's answers ({self.api}) for {self.principal}:"

    def __repr__(self) -> str:
        return "\n".join([self.heading(), " | ".join(HEADERS), *(" | ".join(row.cells()) for row in self.rows)])

    def _repr_html_(self) -> str:
        head = "".join(f"<th {TEXT_CELL}>{html.escape(h)}</th>" for h in HEADERS)
        body = "".join("<tr>" + "".join(f"<td {TEXT_CELL}>{_cell(i, c)}</td>" for i, c in enumerate(row.cells()))
                       + "</tr>" for row in self.rows)
        return no_math(f"<p>{html.escape(self.heading())}</p>"
                       + (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>" if self.rows else ""))


def _cell(index: int, value: str) -> str:
    text = html.escape(value)
    return f"<code>{text}</code>" if HEADERS[index] in ("action", "resource") and value.count(":") else text


def ask_iam(cloud, results: list) -> IamAnswers:
    """IAM's answer about the call each attack in `results` needed (see the module docstring)."""
    ask = simulator(cloud)
    try:
        rows = [_row(ask, result) for result in results]
    except SimulationRefused as refused:
        return IamAnswers(ask.principal, ask.api, [], refused=str(refused))
    return IamAnswers(ask.principal, ask.api, rows)
