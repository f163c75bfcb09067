"""The matcher's worst case, shared by its test and its benchmark: many wildcard
Deny+NotAction statements behind an Allow of everything.

Each Deny denies every action except IAM ones holding one piece of
"createpolicyversion" (and S3 ones ending after it, a decoy). The word's
distinct letters come first: each of them doubled the states of the automaton
matcher this one replaced (16 such statements took it 37 s)."""

import json
from fnmatch import fnmatchcase

WORD = "createpolicyversion"
LETTERS = sorted(set(WORD))
PIECES = LETTERS + sorted({WORD[i:i + n] for n in (2, 3, 4) for i in range(len(WORD) - n + 1)})


def deny_not_action_document(count: int, last_piece: str | None = None) -> tuple[str, list[str]]:
    """(policy JSON, the piece each Deny statement keeps)."""
    chosen = [PIECES[i % len(PIECES)] for i in range(count)]
    if last_piece:
        chosen[-1] = last_piece
    statements = [{"Effect": "Allow", "Action": "*", "Resource": "*"}] + [
        {"Effect": "Deny", "NotAction": [f"iam:*{piece}*", f"s3:*{piece}?"], "Resource": "*"}
        for piece in chosen
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}), chosen


def surviving(action_names, chosen) -> list[str]:
    """Brute force: the IAM actions among `action_names` that no Deny statement covers."""
    return [n for n in action_names
            if n.lower().startswith("iam:") and all(fnmatchcase(n.lower(), f"iam:*{p}*") for p in chosen)]
