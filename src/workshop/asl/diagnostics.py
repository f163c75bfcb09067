"""The validator's diagnostics sorted for someone building a state machine state by state, and shown.

    from workshop.asl.diagnostics import split_diagnostics, diagnostics_html
    parts = split_diagnostics(validate(text)["diagnostics"], definition, plan=["CheckEvent", ...])
    diagnostics_html(parts, subject="The state machine")

`validate` reports a `Next` to a state not written yet, "no end state" and
"unreachable" as errors, as Step Functions would. While a machine is built
state by state most of those are "still to build", not mistakes: given a
*plan* (the names of the states the machine will have), a `Next` to a planned
state not written yet is still to build; a `Next` to a name that is neither
written nor planned is an error with a did-you-mean; "no end state" and
"unreachable" wait until every planned state is in. A single state checked on
its own (`single_state=`) gets no whole-machine diagnostics.

The notebook builder, its exercises and the live editor all show the sorted
diagnostics with `diagnostics_html`, so a learner reads them the same way
wherever they appear.
"""

from __future__ import annotations

import html

from workshop.asl.validator import closest_state_name

COLOURS = {"errors": "#d13212", "warnings": "#ec7211", "still_to_build": "#545b64", "valid": "#1d8102"}


def value_at(document, location: str):
    """The value at a JSON-pointer `location` of `document`, or None."""
    node = document
    for token in [t for t in (location or "").split("/")[1:]]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.lstrip("-").isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _unknown_target(diagnostic: dict, target: str, known) -> dict:
    field = diagnostic.get("location", "").rsplit("/", 1)[-1] or "Next"
    guess = closest_state_name(target, sorted(known))
    hint = f" Did you mean '{guess}'?" if guess else ""
    return {**diagnostic, "message": f"{field} '{target}' names no state of this state machine, written or still to "
                                     f"come.{hint}"}


def split_diagnostics(diagnostics: list, definition: dict | None = None, plan=None,
                      single_state: str | None = None) -> dict:
    """{"errors", "still_to_build", "warnings"} from validate()'s diagnostics.

    `definition`: what was validated (to read which state a transition names).
    `plan`: the state names the notebook will add; None when unknown, and then
    every missing target is taken as still to build. `single_state`: the name
    of a state checked on its own, which drops whole-machine diagnostics.
    """
    out = {"errors": [], "still_to_build": [], "warnings": []}
    built = set((definition or {}).get("States") or {})
    planned = set(plan or ())
    remaining = planned - built
    for d in diagnostics:
        code = d.get("code")
        if code == "MISSING_TRANSITION_TARGET":
            target = value_at(definition, d.get("location", "")) if definition is not None else None
            if plan is None or not isinstance(target, str):
                out["still_to_build"].append(d)
            elif target in planned:
                if not single_state:
                    out["still_to_build"].append({**d, "message": f"'{target}' comes later in this notebook."})
            else:
                out["errors"].append(_unknown_target(d, target, planned | built))
        elif code in ("MISSING_END_STATE", "UNREACHABLE_STATE"):
            if single_state:
                continue
            if plan is None and code == "MISSING_END_STATE" or remaining:
                out["still_to_build"].append({**d, "message": _not_yet(d)})
            else:
                out["errors"].append(d)
        elif d.get("severity") == "ERROR":
            out["errors"].append(d)
        else:
            out["warnings"].append(d)
    return out


def _not_yet(diagnostic: dict) -> str:
    """A whole-machine diagnostic while states are still to come: what is not there yet, not a mistake."""
    message = diagnostic.get("message", "")
    if diagnostic.get("code") == "UNREACHABLE_STATE" and message.count("'") >= 2:
        return f"nothing leads to {message.split(chr(39))[1]} yet (the state that does comes later)"
    if diagnostic.get("code") == "MISSING_END_STATE":
        return "no state ends the execution yet"
    return message


def _rows(items, colour) -> str:
    return "".join(f"<li style='color:{colour}'><code>{html.escape(d['code'])}</code> at "
                   f"<code>{html.escape(d.get('location') or '/')}</code>: {html.escape(d['message'])}</li>"
                   for d in items)


def diagnostics_html(parts: dict, subject: str | None = None, valid: str | None = None) -> str:
    """Sorted diagnostics as HTML: errors, or "No errors."; then what is still to build (one line); then warnings.

    `subject` ("This state", "The state machine") completes "No errors." with "... is valid so far".
    `valid`: a neutral line said instead of "No errors." (where a verdict above already gives the status).
    """
    errors, todo, warnings = parts["errors"], parts["still_to_build"], parts["warnings"]
    if errors:
        text = (f"<p><strong style='color:{COLOURS['errors']}'>Errors ({len(errors)})</strong> to fix:</p>"
                f"<ul>{_rows(errors, COLOURS['errors'])}</ul>")
    elif valid:
        text = f"<p style='color:{COLOURS['still_to_build']}'>{html.escape(valid)}</p>"
    else:
        so_far = f" {html.escape(subject)} is valid so far." if subject else ""
        text = f"<p style='color:{COLOURS['valid']}'><strong>No errors.</strong>{so_far}</p>"
    if todo:
        named = sorted({d["message"].split("'")[1] for d in todo
                        if d.get("code") == "MISSING_TRANSITION_TARGET" and d["message"].count("'") >= 2})
        others = [d for d in todo if d.get("code") != "MISSING_TRANSITION_TARGET"]
        line = ", ".join(f"<code>{html.escape(name)}</code>" for name in named)
        notes = "".join(f"<br>{html.escape(d['message'])}" for d in others)
        count = f" ({len(named)})" if named else ""  # the states named; the notes below are not states
        text += (f"<details style='color:{COLOURS['still_to_build']}'><summary><strong>Still to build"
                 f"{count}</strong>: named, written later (not a mistake)</summary>"
                 f"{line or '—'}{notes}</details>")
    if warnings:
        text += (f"<p><strong style='color:{COLOURS['warnings']}'>Warnings ({len(warnings)})</strong>:</p>"
                 f"<ul>{_rows(warnings, COLOURS['warnings'])}</ul>")
    return text
