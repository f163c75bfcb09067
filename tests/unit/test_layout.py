"""The kit's shape holds: imports point down the layers, nothing imports in a circle, each layer keeps to its job.

Every module under src/workshop is read with `ast`, and every import counts,
also one inside a function: `import a.b`, `from a import b` (an edge to the
module a.b when b is a submodule, else to a), relative imports, and
`importlib.import_module("a.b")` with a literal name (one computed at run
time is not seen). The layers, lowest first; a module may import its own
layer and lower ones:

    asl, iam                  ASL tools; IAM policy evaluation (nothing else of the kit)
    localcloud                the local cloud (asl and iam only)
    failures, waiting,        one-screen errors; waiting with a progress bar;
    progress                  a learner's progress told to a class's facilitator view
    aws                       the workshop's AWS calls, returning data (no HTML)
    display                   HTML views of that data (no boto3)
    widgets                   live widgets (no boto3: they ask aws)
    teaching                  builder, exercises, attacks, checks, clean-up
    classroom                 a class on JupyterHub: the learner's server start, the facilitator's view
    cli                       the `workshop` command
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

LAYERS = [
    ("the package itself", ("workshop",)),
    ("asl, iam", ("workshop.asl", "workshop.iam")),
    ("localcloud", ("workshop.localcloud",)),
    ("failures, waiting, progress", ("workshop.failures", "workshop.waiting", "workshop.progress")),
    ("aws", ("workshop.aws",)),
    ("display", ("workshop.display",)),
    ("widgets", ("workshop.widgets",)),
    ("teaching", ("workshop.teaching",)),
    ("classroom", ("workshop.classroom",)),
    ("cli", ("workshop.cli",)),
]
KNOWN_CYCLES: list = []  # no circle is allowed anywhere


# --- reading the imports ----------------------------------------------------------------------


def module_names(src: Path = SRC) -> dict:
    """{dotted module name: path} of every module of the kit."""
    names = {}
    for path in sorted((src / "workshop").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported_names(name: str, path: Path, modules) -> set:
    """The kit modules `name` imports (anywhere in it), as dotted names; a name that is no module is kept as is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(name, path).split(".")
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return {n for n in found if n == "workshop" or n.startswith("workshop.")}


def import_graph(src: Path = SRC) -> dict:
    modules = module_names(src)
    return {name: imported_names(name, path, modules) - {name} for name, path in modules.items()}


def find_cycles(graph: dict) -> list:
    """One circle per group of modules that import each other, as [a, b, ..., a]; [] when there is none."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []

    def connect(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_circle_in(graph, group) for group in groups]


def _circle_in(graph: dict, group: set) -> list:
    start = min(group)
    paths = [[start]]
    while paths:  # breadth first: the shortest way back to the start
        path = paths.pop(0)
        for target in sorted(graph.get(path[-1], ())):
            if target == start:
                return path + [start]
            if target in group and target not in path:
                paths.append(path + [target])
    raise AssertionError(f"no circle through {start} in {sorted(group)}")


def layer_of(name: str):
    for number, (_label, prefixes) in enumerate(LAYERS):
        if any(name == prefix or (prefix != "workshop" and name.startswith(prefix + ".")) for prefix in prefixes):
            return number
    return None


def upward_imports(graph: dict) -> list:
    """(importer, imported) for every import that points to a higher layer."""
    return [(a, b) for a, targets in sorted(graph.items()) for b in sorted(targets)
            if layer_of(b) is not None and layer_of(a) is not None and layer_of(b) > layer_of(a)]


# --- the tests of the checks themselves ----------------------------------------------------------------


def test_the_cycle_finder_finds_a_circle_a_self_import_and_nothing_in_a_tree():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) == []
    found = find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "x"}, "d": {"a"}, "x": set(), "s": {"s"}})
    assert sorted(map(tuple, found)) == [("a", "b", "c", "a"), ("s", "s")]
    two = find_cycles({"p": {"q"}, "q": {"p", "r"}, "r": {"s"}, "s": {"r"}})
    assert sorted(map(tuple, two)) == [("p", "q", "p"), ("r", "s", "r")]


def test_imports_inside_functions_and_submodules_named_in_from_imports_count(tmp_path):
    kit = tmp_path / "workshop"
    (kit / "aws").mkdir(parents=True)
    (kit / "__init__.py").write_text("")
    (kit / "aws" / "__init__.py").write_text("from workshop.aws.session import connect\n")
    (kit / "aws" / "session.py").write_text("def connect():\n    from workshop.display import views\n")
    (kit / "display").mkdir()
    (kit / "display" / "__init__.py").write_text("")
    (kit / "display" / "views.py").write_text("from . import shown\nfrom workshop.aws import connect\n")
    (kit / "display" / "shown.py").write_text("import importlib\nimportlib.import_module('workshop.aws.session')\n")
    graph = import_graph(tmp_path)
    assert graph["workshop.aws.session"] == {"workshop.display.views"}
    assert graph["workshop.display.views"] == {"workshop.display.shown", "workshop.aws"}
    assert graph["workshop.display.shown"] == {"workshop.aws.session"}
    assert [tuple(c) for c in find_cycles(graph)] == [
        ("workshop.aws", "workshop.aws.session", "workshop.display.views", "workshop.aws")]
    assert upward_imports(graph) == [("workshop.aws.session", "workshop.display.views")]


# --- the kit ----------------------------------------------------------------------------------------------


def test_no_module_of_the_kit_imports_in_a_circle():
    cycles = [c for c in find_cycles(import_graph()) if set(c) not in KNOWN_CYCLES]
    modules = module_names()
    assert not cycles, "import circles:\n" + "\n".join(
        " -> ".join(str(modules[m].relative_to(ROOT)) for m in circle) for circle in cycles)


def test_the_known_circle_is_still_there_else_remove_its_exception():
    found = [set(c) for c in find_cycles(import_graph())]
    for known in KNOWN_CYCLES:
        assert known in found, f"{sorted(known)} no longer import each other: delete it from KNOWN_CYCLES"


def test_every_module_has_a_layer_and_every_import_names_a_module():
    modules = module_names()
    graph = import_graph()
    assert [m for m in modules if layer_of(m) is None] == [], "put each module in a layer (LAYERS)"
    missing = sorted((a, b) for a, targets in graph.items() for b in targets if b not in modules)
    assert missing == [], f"imports of kit modules that do not exist: {missing}"


def test_imports_point_down_the_layers():
    wrong = upward_imports(import_graph())
    assert wrong == [], "imports that point up:\n" + "\n".join(
        f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})" for a, b in wrong)


def _modules_of(package: str) -> dict:
    return {name: path for name, path in module_names().items() if name == package or name.startswith(package + ".")}


def test_the_aws_layer_returns_data_and_never_builds_html():
    views = ("_repr_html_", "_repr_mimebundle_", "_ipython_display_")
    found = [f"{name}: {node.name}" for name, path in _modules_of("workshop.aws").items()
             for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)
             and node.name in views]
    assert found == []


def _boto3_operations() -> set:
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    names = {"get_paginator", "get_waiter", "can_paginate"}
    for service in ("cloudformation", "cloudtrail", "dynamodb", "iam", "lambda", "logs", "s3", "sns", "sqs",
                    "stepfunctions", "sts"):
        names |= {xform_name(op) for op in session.get_service_model(service).operation_names}
    return names


@pytest.mark.parametrize("package", ["workshop.display", "workshop.widgets"])
def test_views_and_widgets_never_call_boto3_themselves(package):
    operations = _boto3_operations()
    found = []
    for name, path in _modules_of(package).items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{name} imports {m}" for m in modules if m.split(".")[0] in ("boto3", "botocore")]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in operations:
                found.append(f"{name} line {node.lineno} calls .{node.func.attr}()")
    assert found == [], "ask workshop.aws instead:\n" + "\n".join(found)


def test_a_package_face_never_hides_one_of_its_modules():
    """`from workshop.aws import deploy` must give the module: a face binding that name would shadow it."""
    modules = module_names()
    clashes = []
    for name, path in modules.items():
        if path.name != "__init__.py":
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom):
                clashes += [f"{name} binds {alias.asname or alias.name}" for alias in node.names
                            if f"{name}.{alias.asname or alias.name}" in modules
                            and f"{node.module}.{alias.name}" != f"{name}.{alias.asname or alias.name}"]
    assert clashes == []
