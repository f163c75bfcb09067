"""What a function's deployment package must hold, for the source folders and every packaged copy.

Each function folder is packaged alone. Besides app.py it carries the shared
contract (`_shared`) and ValidatePolicy the IAM evaluation engine (`iam`):
links in the source folders, real copies once `sam build` or `sam deploy`
packaged them. A copy must be its source byte for byte, and the code may
import only what the Lambda runtime has.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "src" / "functions"
SHARED = FUNCTIONS / "_shared"
IAM_ENGINE = ROOT / "src" / "workshop" / "iam"
# template logical id -> function folder
FOLDERS = {"ValidatePolicy": "validate_policy", "RevertPolicy": "revert_policy", "RestorePolicy": "restore_policy",
           "AskUser": "ask_user", "ReceiveDecision": "receive_decision"}
# What the Lambda runtime provides besides the standard library.
RUNTIME = {"boto3", "botocore"}


def carried(folder_name: str) -> dict[str, Path]:
    """The packages a function folder carries besides app.py: {name in the folder: its source}."""
    packages = {"_shared": SHARED}
    if folder_name == "validate_policy":
        packages["iam"] = IAM_ENGINE
    return packages


def source_files(folder: Path) -> dict[str, bytes]:
    """{path relative to `folder`: bytes} of every file below it (links followed), without the
    bytecode caches Python writes beside imported modules (neither source nor packaged by `sam build`)."""
    files = {}
    for here, folders, names in os.walk(folder, followlinks=True):
        folders[:] = [name for name in folders if name != "__pycache__"]
        for name in names:
            path = Path(here, name)
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return dict(sorted(files.items()))


def copy_differences(copy: Path, source: Path) -> list[str]:
    """What differs between a packaged copy and its source folder (empty when they are the same)."""
    if not copy.is_dir():
        return [f"{copy} is missing"]
    if copy.is_symlink():
        return [f"{copy} is a link, not a copy"]
    ours, theirs = source_files(copy), source_files(source)
    problems = [f"{copy.name}/{name} is missing" for name in sorted(set(theirs) - set(ours))]
    problems += [f"{copy.name}/{name} is not in {source}" for name in sorted(set(ours) - set(theirs))]
    problems += [f"{copy.name}/{name} differs from {source / name}" for name in sorted(set(ours) & set(theirs))
                 if ours[name] != theirs[name]]
    return problems


def imports(path: Path) -> set[str]:
    """Top-level modules a Python file imports absolutely (relative imports stay in its package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
    return found - {"__future__"}


def import_problems(folder: Path, folder_name: str) -> list[str]:
    """Imports the Lambda runtime could not satisfy from this package: anything but the standard
    library, boto3/botocore and the packages the folder carries; inside a carried package, anything
    but the standard library and (for `_shared`) boto3/botocore."""
    allowed = {"app.py": set(sys.stdlib_module_names) | RUNTIME | set(carried(folder_name)),
               "_shared": set(sys.stdlib_module_names) | RUNTIME,
               "iam": set(sys.stdlib_module_names)}
    problems = []
    for name in sorted(source_files(folder)):
        if not name.endswith(".py"):
            continue
        part = name.split("/", 1)[0]
        unknown = imports(folder / name) - allowed.get(part, set())
        if part not in allowed:
            problems.append(f"{folder.name}/{name}: a module outside app.py and the carried packages")
        elif unknown:
            problems.append(f"{folder.name}/{name} imports {sorted(unknown)}")
    return problems
