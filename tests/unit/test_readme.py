"""The README and docs/ say true things: the Binder link, the reading times, the commands, the settings, the
paths and tests they name, the links between them, the decision's wire value, the policy names."""

import json
import re
from pathlib import Path

import pytest

from workshop.teaching.reading_time import (BUDGET_MINUTES, RESERVED, SECONDS_PER_CODE_CELL, SECONDS_PER_PICTURE,
                                            WORDS_PER_MINUTE, reading_times)

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = {path.relative_to(ROOT).as_posix(): path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))}
PAGES = {"README.md": README, **DOCS, "tests/README.md": (ROOT / "tests" / "README.md").read_text()}
MAX_README_LINES = 200

# Paths the docs name in the layout the code is being moved to, not there yet. Each must still be missing:
# once the move lands this test says which to take out of the list, and the list ends empty.

# Where a repository path may start; anything else in backticks (a module name, a command) is not a path.
_ROOTS = ("src/", "tests/", "docs/", "statemachine/", "policies/", "events/", "notebooks/", "scripts/", "tools/",
          "benchmarks/", "binder/", "localcloud/")
_ROOT_FILES = ("README.md", "Makefile", "template.yaml", "constraints.txt", "pyproject.toml")


def _section(text: str, heading: str) -> str:
    """The text under a `## heading` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section '## {heading}'"
    return match.group(1)


def _table_first_cells(text: str) -> list:
    return [row.split("|")[1].strip() for row in text.splitlines()
            if row.startswith("| ") and not row.startswith("| ---")][1:]


def test_the_maintainer_note_is_not_on_the_first_screen():
    assert README.startswith("# Security Orchestrator Workshop\n\nA notebook-driven workshop kit")
    assert README.index("There is no Binder link yet") > README.index("## Where to read more")


def test_the_readme_stays_short():
    assert len(README.splitlines()) <= MAX_README_LINES, "move detail into docs/ and link to it"


def test_the_readme_states_the_reading_time_model_the_test_holds():
    """The figures themselves are the executed notebooks' (tests/e2e/test_notebooks.py checks them)."""
    text = " ".join(README.split())
    assert (f"at {WORDS_PER_MINUTE} words a minute, plus {SECONDS_PER_PICTURE} seconds per picture and "
            f"{SECONDS_PER_CODE_CELL} seconds per code cell") in text
    assert f"The budget is {BUDGET_MINUTES} minutes" in text
    [(reserved_for, minutes)] = RESERVED.items()
    [notebook] = [name for name in reading_times() if reserved_for in name]
    assert f"the notebooks other than `{notebook}` must fit in {BUDGET_MINUTES - minutes} of them" in text
    assert f"none may take more than {BUDGET_MINUTES // 3}" in text  # a third of the budget


def _make_targets() -> set:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))


@pytest.mark.parametrize("page", list(PAGES))
def test_every_make_target_a_page_names_exists(page):
    targets = _make_targets()
    for target in set(re.findall(r"`make ([a-z-]+)[`;,\s]", PAGES[page])):
        assert target in targets, f"{page}: make {target} is not in the Makefile"


def test_the_readme_command_table_lists_every_make_target():
    table = "\n".join(row for row in README.splitlines() if row.startswith("| `make "))
    listed = set(re.findall(r"`make ([a-z-]+)`", table))
    assert listed == _make_targets(), (f"in the Makefile, not in the README's table: {_make_targets() - listed}; "
                                       f"in the table, not in the Makefile: {listed - _make_targets()}")


def _variables_read() -> set:
    """WORKSHOP_* / LOCALCLOUD_* names read from the environment by the kit, the scripts, the notebooks, Binder.

    A name starting with an underscore is the local cloud's message to its own workers, not a setting."""
    names = set()
    sources = [*ROOT.glob("src/**/*.py"), *ROOT.glob("scripts/*.py")]
    for path in sources:
        names |= set(re.findall(r"[\"']((?:WORKSHOP|LOCALCLOUD)_[A-Z_]+)[\"']", path.read_text()))
    for path in ROOT.glob("notebooks/**/*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        names |= set(re.findall(r"environ(?:\.get)?[\[(][\"']((?:WORKSHOP|LOCALCLOUD)_[A-Z_]+)", code))
    names |= set(re.findall(r"\$\{?((?:WORKSHOP|LOCALCLOUD)_[A-Z_]+)", (ROOT / "binder" / "start").read_text()))
    return names


def _settings_listed(text: str) -> set:
    listed = set()
    for cell in _table_first_cells(_section(text, "Settings")):
        listed |= set(re.findall(r"`([A-Z_]+)`", cell))
    return listed


def test_the_settings_tables_list_every_variable_the_code_reads_and_no_other():
    """The kit's variables in the README's table, the local cloud's in docs/local-cloud.md's."""
    kit, local = _settings_listed(README), _settings_listed(PAGES["docs/local-cloud.md"])
    read = _variables_read()
    assert {"WORKSHOP_TARGET", "WORKSHOP_ENDPOINT", "WORKSHOP_EMAIL"} <= read  # what the notebooks read
    assert all(name.startswith("WORKSHOP_") for name in kit), kit
    assert all(name.startswith("LOCALCLOUD_") for name in local), local
    listed = kit | local
    assert read - listed == set(), f"read by the code, missing from the settings tables: {read - listed}"
    assert listed - read == set(), f"in the settings tables, read by nothing: {listed - read}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text: str) -> set:
    seen, anchors = {}, set()
    for heading in re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), re.M):
        slug = _slug(heading)
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links(text: str) -> list:
    return re.findall(r"\]\(([^)\s]+)\)", re.sub(r"```.*?```", "", text, flags=re.S))


@pytest.mark.parametrize("page", list(PAGES))
def test_every_relative_link_reaches_a_file_and_its_anchor(page):
    here = (ROOT / page).parent
    for link in _links(PAGES[page]):
        if re.match(r"[a-z]+:", link):
            continue  # https:, mailto: - not ours to check offline
        path, _, anchor = link.partition("#")
        target = (here / path).resolve() if path else ROOT / page
        assert target.exists(), f"{page}: the link {link} leads to no file"
        if anchor:
            assert target.suffix == ".md", f"{page}: {link} has an anchor into a file that is not Markdown"
            assert anchor in _anchors(target.read_text()), f"{page}: {link} names a heading {target.name} lacks"


def _paths_named(text: str) -> set:
    """Repository paths a page names: in backticks, or first on a line of a code block (the layout tree)."""
    candidates = set(re.findall(r"`([^`\s]+)`", re.sub(r"```.*?```", "", text, flags=re.S)))
    paths = set()
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        firsts = {line.split()[0] for line in block.splitlines() if line.strip() and not line[0].isspace()}
        paths |= {first for first in firsts if re.fullmatch(r"[a-z]+/", first)}  # a top folder of a layout tree
        candidates |= firsts
    for candidate in candidates:
        candidate = candidate.split("::")[0]
        if candidate.startswith(_ROOTS) or candidate in _ROOT_FILES:
            paths.add(candidate)
    return paths


def _exists(path: str) -> bool:
    local = "src/workshop/" + path if path.startswith("localcloud/") else path
    pattern = re.sub(r"<[^>]+>", "*", local)
    if "*" in pattern:
        return any(ROOT.glob(pattern.rstrip("/")))
    return (ROOT / local).exists()


@pytest.mark.parametrize("page", list(PAGES))
def test_every_path_a_page_names_exists(page):
    for path in sorted(_paths_named(PAGES[page])):
        assert _exists(path), f"{page} names {path}, which is not in the repository"


@pytest.mark.parametrize("page", list(PAGES))
def test_every_test_a_page_names_exists(page):
    for path, name in re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", PAGES[page]):
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"{page}: {path} has no test {name}"


def test_the_threat_model_names_a_test_for_every_row():
    table = _section(DOCS["docs/security.md"], "Threat model")
    rows = [row for row in table.splitlines() if row.startswith("| ") and not row.startswith("| ---")][1:]
    assert len(rows) >= 9
    for row in rows:
        last = row.rstrip(" |").rsplit("|", 1)[1]
        assert "::test_" in last or "the same test" in last, f"no test for: {row[:80]}"


@pytest.mark.parametrize("page", list(PAGES))
def test_no_page_cites_an_issue_number_or_a_branch(page):
    text = PAGES[page]
    assert not re.search(r"\bissues? #?\d+", text, re.I), f"{page} cites an issue number"
    assert "whichever branch" not in text


def test_the_deny_wire_value_is_the_one_the_state_machine_reads():
    machine = json.loads((ROOT / "statemachine" / "security_orchestrator.asl.json").read_text())
    choices = {c["StringEquals"]: c["Next"] for c in machine["States"]["usersChoice"]["Choices"]}
    assert choices == {"delete": "denied", "allow": "approved"}
    assert machine["States"]["usersChoice"]["Default"] == "denied"
    design = DOCS["docs/design.md"]
    assert re.search(r"^\| deny \| `/deny`, \*\*Deny\*\* \| `deny` \| `\"delete\"` \| `denied`", design, re.M)
    assert re.search(r"^\| approve \| `/allow`, \*\*Approve\*\* \| `allow` \| `\"allow\"` \| `approved`", design, re.M)
    named_in = [page for page, text in PAGES.items() if "`\"delete\"`" in text]
    assert named_in == ["docs/design.md"], f"the wire value is named in one place only, not {named_in}"


def test_every_policy_a_page_creates_from_a_terminal_is_one_the_learner_policy_allows():
    policy = json.loads((ROOT / "policies" / "learner-policy.json").read_text())
    allowed = [resource.rsplit("policy/", 1)[1] for statement in policy["Statement"]
               if statement["Effect"] == "Allow" and "iam:CreatePolicy" in statement["Action"]
               for resource in ([statement["Resource"]] if isinstance(statement["Resource"], str)
                                else statement["Resource"])]
    created = [name for text in PAGES.values() for name in re.findall(r"create-policy --policy-name (\S+)", text)]
    assert created
    for name in created:
        assert any(re.fullmatch(pattern.replace("*", ".*"), name) for pattern in allowed), \
            f"the learner policy does not let a learner create {name} (it allows {allowed})"
