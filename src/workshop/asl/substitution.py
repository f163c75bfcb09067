"""`${Name}` placeholders: SAM's DefinitionSubstitutions, applied and read back.

    from workshop.asl.substitution import substitute, substitutions_from
    machine = substitute(template_definition, {"AskUserArn": "arn:aws:lambda:..."})
    substitutions_from(template_definition, deployed_definition)   # the values SAM used

The ASL tools (TestState, the validator's callers) and the notebook helpers
(builder, editor) both need this, so it lives here, below them.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def substitute(value, substitutions: dict):
    """Replace `${Name}` in every string of a JSON value (keys too), like SAM's DefinitionSubstitutions."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: str(substitutions.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [substitute(v, substitutions) for v in value]
    if isinstance(value, dict):
        return {substitute(k, substitutions): substitute(v, substitutions) for k, v in value.items()}
    return value


def substitute_text(text: str, substitutions: dict) -> str:
    """`substitute` on JSON text, keeping the text as written (a key written twice stays twice)."""
    import json

    return PLACEHOLDER.sub(lambda m: json.dumps(str(substitutions[m.group(1)]))[1:-1]
                           if m.group(1) in substitutions else m.group(0), text)


def substitutions_from(template_definition, deployed_definition) -> dict:
    """Read the values SAM substituted by lining up the template's definition with the deployed one."""
    found = {}

    def walk(template, deployed):
        if isinstance(template, str) and isinstance(deployed, str):
            if PLACEHOLDER.search(template):
                match = re.match(_regex_for(template), deployed, re.S)
                if match:
                    found.update(match.groupdict())
        elif isinstance(template, dict) and isinstance(deployed, dict):
            for key, value in template.items():
                if key in deployed:
                    walk(value, deployed[key])
        elif isinstance(template, list) and isinstance(deployed, list):
            for t, d in zip(template, deployed):
                walk(t, d)

    walk(template_definition, deployed_definition)
    return found


def _regex_for(template: str) -> str:
    parts, last, seen = [], 0, set()
    for match in PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[last:match.start()]))
        name = match.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
        seen.add(name)
        last = match.end()
    parts.append(re.escape(template[last:]))
    return "^" + "".join(parts) + "$"
