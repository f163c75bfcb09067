"""Read template.yaml with CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) as plain dicts."""

import copy
from functools import lru_cache
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict:
    """The template as dicts, a copy of its own for the caller. Parsing it takes a fifth of a second, and
    many tests read it (every function test's incidents table): it is parsed again only when it changed."""
    stat = Path(path).stat()
    return copy.deepcopy(_parsed(str(path), stat.st_mtime_ns, stat.st_size))


def resource_properties(logical_id: str, path: Path = TEMPLATE) -> dict:
    """One resource's Properties, a copy of its own (copying the whole template costs more than the test)."""
    stat = Path(path).stat()
    return copy.deepcopy(_parsed(str(path), stat.st_mtime_ns, stat.st_size)["Resources"][logical_id]["Properties"])


@lru_cache(maxsize=8)
def _parsed(path: str, mtime_ns: int, size: int) -> dict:
    return yaml.load(Path(path).read_text(), Loader=_CfnLoader)
