"""Calibrate the kit's ASL validator against two outside validators.

    .venv/bin/python tools/asl-reference/calibrate.py      # or: make asl-calibration

Runs `workshop.asl.validate` and the two references of `validate.js`
(amazon-states-language-service, the AWS Toolkit's validator, and
asl-validator) on every definition the kit has: the labelled corpus
(tests/unit/asl/cases), statemachine/*.asl.json, and the definitions the
notebooks build. Writes build/asl-calibration.md and .json listing

* every case where the kit's verdict (OK / FAIL) differs from BOTH
  references, with the reason registered next to the rule in
  `workshop.asl.validator.ACCEPTED_DISAGREEMENTS` (or "NO REASON");
* every case where the two references disagree with each other.

tests/functional/asl/test_asl_calibration.py runs it in `make test` and fails on any
disagreement with both references that has no registered reason, and on any
registered reason whose case no longer disagrees.

Notebook definitions are read without running the notebooks: the code cells
are parsed (ast) and every `<builder>.add("Name", {...})` with a literal state
is replayed onto the `StateMachineBuilder(start_at=...)` it belongs to. A state
given as an expression (e.g. an exercise's `check.used`) is taken from the
reference definition, whose state is the exercise's right answer; literal
states and machines written anywhere else in a notebook (answers, starters)
are checked too. A builder made with `StateMachineBuilder.from_reference()`
gets its states from the reference by name (`add_given("A", ...)`,
`add_remaining()`, `exercise("A", ...)`), as the kit does; the states its
exercises start from and their typical wrong answers (`workshop.teaching.exercises`),
each put in the reference machine, are cases of that notebook too.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CASES = REPO / "tests" / "unit" / "asl" / "cases"
STATE_TYPES = {"Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
REFERENCES = ("aws_toolkit", "asl_validator")
REFERENCE_NAMES = {
    "aws_toolkit": "amazon-states-language-service (AWS Toolkit)",
    "asl_validator": "asl-validator",
}


class ReferenceToolMissing(RuntimeError):
    """node or the reference packages are not installed."""


# ----------------------------------------------------------------------------- cases


def corpus_cases(root: Path = CASES) -> list[dict]:
    return [{"id": f"corpus/{path.parent.name}/{path.name[:-len('.asl.json')]}", "text": _read(path)}
            for path in sorted(root.glob("*/*.asl.json"))]


def statemachine_cases(repo: Path = REPO) -> list[dict]:
    out = []
    for path in sorted((repo / "statemachine").glob("*.asl.json")):
        text = _read(path)
        name = path.name[:-len(".asl.json")]
        out.append({"id": f"statemachine/{name}", "text": text})
        out.append({"id": f"statemachine/{name}+substituted",
                    "text": json.dumps(substitute(json.loads(text), stand_ins()), indent=2)})
    return out


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def stand_ins() -> dict:
    """The values the builder puts in for ${Name} placeholders before a stack exists."""
    from workshop.teaching.reference import DEFAULT_SUBSTITUTIONS

    return dict(DEFAULT_SUBSTITUTIONS)


def substitute(value, values: dict):
    """Replace ${Name} in every string, as SAM's DefinitionSubstitutions (and the builder) do."""
    from workshop.asl.substitution import substitute as replace_placeholders

    return replace_placeholders(value, values)


def notebook_cases(repo: Path = REPO) -> list[dict]:
    reference = json.loads(_read(repo / "statemachine" / "security_orchestrator.asl.json"))
    values = stand_ins()
    out = []
    for path in sorted((repo / "notebooks").glob("*.ipynb")):
        for case_id, definition in NotebookDefinitions(path, reference).definitions():
            out.append({"id": f"notebook/{path.stem}/{case_id}",
                        "text": json.dumps(substitute(definition, values), indent=2)})
    return out


class NotebookDefinitions:
    """The state machine definitions a notebook builds or writes, found without running it."""

    def __init__(self, path: Path, reference: dict):
        self.path = path
        self.reference = reference
        self.builders: dict[str, dict] = {}  # variable -> {"StartAt", "States", "Comment"?}
        self.literals: dict[str, object] = {}  # variable -> literal value bound to it
        self.loose: list[tuple[str, dict, str | None]] = []  # (where, state or machine, state name if known)
        self.filled: list[str] = []
        self.from_reference: set[str] = set()  # builders whose states come from the reference by name
        self.exercise_cases = False

    def definitions(self) -> list[tuple[str, dict]]:
        notebook = json.loads(_read(self.path))
        for index, cell in enumerate(notebook.get("cells", [])):
            if cell.get("cell_type") == "code":
                self._cell(index, "".join(cell.get("source", [])))
        out = []
        seen = set()
        for variable, machine in self.builders.items():
            if machine["States"]:
                out.append((f"{variable}:built", machine))
        built = next((m for m in self.builders.values() if m["States"]), None)
        if self.exercise_cases:
            from workshop.teaching.exercises import STATE_EXERCISES

            for name, exercise in STATE_EXERCISES.items():
                state = self.reference.get("States", {}).get(name)
                if state is not None:
                    self.loose.append((f"exercise-{name}-start", exercise.starter(state), name))
                    self.loose.append((f"exercise-{name}-wrong", exercise.wrong(state), name))
        for where, value, name in self.loose:
            if "States" in value:
                out.append((where, value))
            elif name and built is not None and name in built["States"]:
                out.append((f"{where}:as-{name}", {**built, "States": {**built["States"], name: value}}))
            else:
                label = name or "State"
                out.append((where, {"StartAt": label, "States": {label: value}}))
        unique = []
        for where, definition in out:
            key = json.dumps(definition, sort_keys=True)
            if key not in seen:
                seen.add(key)
                unique.append((where, definition))
        return unique

    def _cell(self, index: int, source: str):
        # Cell magics and shell escapes are not Python; blank them out, keep line numbers.
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            return
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self._assign(node.targets[0].id, node.value)
        self._visit(index, tree)

    def _visit(self, index: int, node: ast.AST):
        if isinstance(node, ast.Call):
            self._call(index, node)
        if self._consumed(node):
            return
        if isinstance(node, (ast.Dict, ast.Constant)):
            value = _literal(node)
            if _is_definition(value):
                self.loose.append((f"cell{index}:line{node.lineno}", value, None))
                return
            if value is not None:
                return  # plain data: the dicts inside it are not definitions of their own
        for child in ast.iter_child_nodes(node):
            self._visit(index, child)

    def _assign(self, variable: str, value: ast.AST):
        if isinstance(value, ast.Call) and _call_name(value) == "from_reference":
            machine = {"Comment": self.reference["Comment"]} if self.reference.get("Comment") else {}
            machine.update({"StartAt": self.reference.get("StartAt"), "States": {}})
            self.builders[variable] = machine
            self.from_reference.add(variable)
            self.exercise_cases = True
            return
        if isinstance(value, ast.Call) and _call_name(value) == "StateMachineBuilder":
            start = next((_literal(k.value) for k in value.keywords if k.arg == "start_at"), None)
            if start is None and value.args:
                start = _literal(value.args[0])
            comment = next((_literal(k.value) for k in value.keywords if k.arg == "comment"), None)
            machine = {"Comment": comment} if isinstance(comment, str) and comment else {}
            machine.update({"StartAt": start, "States": {}})
            self.builders[variable] = machine
            return
        literal = _literal(value)
        if literal is not None:
            self.literals[variable] = literal

    def _call(self, index: int, call: ast.Call):
        target = call.func
        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                and target.value.id in self.from_reference):
            states = self.builders[target.value.id]["States"]
            known = self.reference.get("States", {})
            if target.attr == "add_remaining":
                states.update({n: s for n, s in known.items() if n not in states})
                return
            if target.attr in ("add_given", "exercise"):
                names = [_literal(a) for a in (call.args if target.attr == "add_given" else call.args[:1])]
                states.update({n: known[n] for n in names if isinstance(n, str) and n in known})
                return
        if not (isinstance(target, ast.Attribute) and target.attr == "add" and isinstance(target.value, ast.Name)
                and target.value.id in self.builders and len(call.args) >= 2):
            name = next((_literal(k.value) for k in call.keywords if k.arg in ("state_name", "name")), None)
            for arg in call.args:
                value = _literal(arg)
                if _is_definition(value):
                    self.loose.append((f"cell{index}:line{arg.lineno}", value, name if isinstance(name, str) else None))
                    arg._calibration_consumed = True
            return
        name = _literal(call.args[0])
        if not isinstance(name, str):
            return
        state = _literal(call.args[1])
        if state is None and isinstance(call.args[1], ast.Name):
            state = self.literals.get(call.args[1].id)
        if not isinstance(state, dict):
            # An expression (an exercise's checked answer): its right answer is the reference's state.
            state = self.reference.get("States", {}).get(name)
            self.filled.append(name)
        else:
            call.args[1]._calibration_consumed = True
        if isinstance(state, dict):
            self.builders[target.value.id]["States"][name] = state

    @staticmethod
    def _consumed(node) -> bool:
        return getattr(node, "_calibration_consumed", False)


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _literal(node: ast.AST):
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return json.loads(value)  # an answer given as JSON text (e.g. a papermill parameter)
        except ValueError:
            return value
    return value


def _is_definition(value) -> bool:
    return isinstance(value, dict) and (
        value.get("Type") in STATE_TYPES or ("StartAt" in value and isinstance(value.get("States"), dict)))


def all_cases(repo: Path = REPO) -> list[dict]:
    return corpus_cases(repo / "tests" / "unit" / "asl" / "cases") + statemachine_cases(repo) + notebook_cases(repo)


# ----------------------------------------------------------------------------- verdicts


def run_references(cases: list[dict], fresh_ajv: bool = False) -> dict[str, dict]:
    """{case id: {"aws_toolkit": verdict, "asl_validator": verdict}} from validate.js.

    `fresh_ajv`: asl-validator as it ships, compiling its schemas at every call, instead of validate.js's one
    shared compiled copy (to check that sharing changes no verdict)."""
    script = HERE / "validate.js"
    if not (HERE / "node_modules" / "amazon-states-language-service").is_dir() or not (
            HERE / "node_modules" / "asl-validator").is_dir():
        raise ReferenceToolMissing(f"the reference validators are not installed in {HERE / 'node_modules'}: "
                                   "run `make asl-reference` (npm ci from package-lock.json)")
    # Two node processes, so both cores work.
    workers = max(1, min(2, os.cpu_count() or 1, len(cases)))
    chunks = [cases[i::workers] for i in range(workers)]

    env = {**os.environ, "ASL_REFERENCE_FRESH_AJV": "1" if fresh_ajv else "0"}

    def run(chunk):
        return subprocess.run(["node", str(script)], input=json.dumps(chunk), capture_output=True, text=True,
                              cwd=HERE, timeout=600, env=env)

    try:
        with ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(run, chunks))
    except FileNotFoundError:
        raise ReferenceToolMissing("node is not on PATH; the reference validators need Node.js 18 or later") from None
    rows = {}
    for proc in done:
        if proc.returncode != 0:
            raise RuntimeError(f"validate.js failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        rows.update((row["id"], row) for row in json.loads(proc.stdout))
    return rows


def kit_verdict(text: str) -> dict:
    from workshop.asl.validator import validate

    outcome = validate(text)
    return {"valid": outcome["result"] == "OK", "diagnostics": outcome["diagnostics"]}


def calibrate(cases: list[dict]) -> dict:
    from workshop.asl.validator import accepted_disagreement

    references = run_references(cases)
    rows = []
    for case in cases:
        kit = kit_verdict(case["text"])
        refs = references[case["id"]]
        row = {"id": case["id"], "kit": kit, **{name: refs[name] for name in REFERENCES}}
        against_both = all(kit["valid"] != refs[name]["valid"] for name in REFERENCES)
        row["against_both"] = against_both
        row["references_disagree"] = refs["aws_toolkit"]["valid"] != refs["asl_validator"]["valid"]
        if against_both:
            codes = sorted({d["code"] for d in kit["diagnostics"] if d["severity"] == "ERROR"}) or ["OK"]
            row["reasons"] = {code: accepted_disagreement(case["id"], code) for code in codes}
        rows.append(row)
    return {"cases": len(rows), "rows": rows}


def unexplained(result: dict) -> list[tuple[str, str]]:
    """(case, code) pairs where the kit disagrees with both references and no reason is registered."""
    return [(row["id"], code) for row in result["rows"] if row["against_both"]
            for code, reason in row["reasons"].items() if reason is None]


def stale_reasons(result: dict) -> list[tuple[str, str]]:
    """Registered (case, code) pairs that no longer disagree with both references (or no longer exist)."""
    from workshop.asl.validator import ACCEPTED_DISAGREEMENTS

    live = {(row["id"], code) for row in result["rows"] if row["against_both"] for code in row["reasons"]}
    return [(case, entry.code) for entry in ACCEPTED_DISAGREEMENTS for case in entry.cases
            if (case, entry.code) not in live]


# ----------------------------------------------------------------------------- report


def _verdict(v: dict) -> str:
    return "OK" if v["valid"] else "FAIL"


def _first_message(v: dict) -> str:
    errors = [d for d in v["diagnostics"] if d.get("severity") == "ERROR"]
    if not errors:
        return ""
    d = errors[0]
    text = f"{d['code']}: {d['message']}" if d.get("code") and "location" in d else d["message"]
    return text.replace("|", "\\|").replace("\n", " ")[:160]


def markdown(result: dict) -> str:
    rows = result["rows"]
    against = [r for r in rows if r["against_both"]]
    refs = [r for r in rows if r["references_disagree"]]
    missing = unexplained(result)
    lines = [
        "# ASL validator calibration",
        "",
        f"{result['cases']} definitions (corpus, statemachine/, notebooks) checked by the kit and by two references: "
        f"{REFERENCE_NAMES['aws_toolkit']} and {REFERENCE_NAMES['asl_validator']}. "
        "Written by tools/asl-reference/calibrate.py.",
        "",
        f"* kit differs from both references: {len(against)} case(s), "
        f"{len(missing)} without a registered reason",
        f"* the references disagree with each other: {len(refs)} case(s)",
        "",
        "## Kit against both references",
        "",
        "| case | kit | rule | reason | AWS page |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in against:
        for code, reason in row["reasons"].items():
            why = reason.reason if reason else "**NO REASON: fix the kit or register one**"
            doc = reason.doc if reason else ""
            lines.append(f"| {row['id']} | {_verdict(row['kit'])} | {code} | {why} | {doc} |")
    lines += ["", "## The references disagree with each other", "",
              "| case | kit | AWS Toolkit | asl-validator | first objection |", "| --- | --- | --- | --- | --- |"]
    for row in refs:
        objecting = row["aws_toolkit"] if not row["aws_toolkit"]["valid"] else row["asl_validator"]
        lines.append(f"| {row['id']} | {_verdict(row['kit'])} | {_verdict(row['aws_toolkit'])} | "
                     f"{_verdict(row['asl_validator'])} | {_first_message(objecting)} |")
    return "\n".join(lines) + "\n"


def as_json(result: dict) -> dict:
    def reason(r):
        return None if r is None else {"doc": r.doc, "reason": r.reason}

    return {
        "cases": result["cases"],
        "against_both": [{"id": r["id"], "kit": _verdict(r["kit"]),
                          "reasons": {code: reason(x) for code, x in r["reasons"].items()}}
                         for r in result["rows"] if r["against_both"]],
        "references_disagree": [{"id": r["id"], "kit": _verdict(r["kit"]),
                                 "aws_toolkit": _verdict(r["aws_toolkit"]),
                                 "asl_validator": _verdict(r["asl_validator"])}
                                for r in result["rows"] if r["references_disagree"]],
        "verdicts": {r["id"]: {"kit": _verdict(r["kit"]), **{n: _verdict(r[n]) for n in REFERENCES}}
                     for r in result["rows"]},
    }


def write_report(result: dict, build: Path = REPO / "build") -> tuple[Path, Path]:
    build.mkdir(parents=True, exist_ok=True)
    md, js = build / "asl-calibration.md", build / "asl-calibration.json"
    md.write_text(markdown(result), encoding="utf-8")
    js.write_text(json.dumps(as_json(result), indent=2) + "\n", encoding="utf-8")
    return md, js


def main() -> int:
    result = calibrate(all_cases())
    md, _ = write_report(result)
    missing = unexplained(result)
    print(f"{result['cases']} definitions; report in {md.relative_to(REPO)}")
    for case, code in missing:
        print(f"NO REASON: {case} ({code}): the kit disagrees with both references", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
