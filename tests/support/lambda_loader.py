"""Load each Lambda's app.py as Lambda does: its own folder first on the import path.

The functions are all named `app` and each imports `_shared` (and ValidatePolicy
`iam`) from its own folder, as top-level packages. So each load imports those
afresh from that folder and takes them out of `sys.modules` again afterwards:
every loaded function keeps its own copy's modules, as each deployed function
has its own, and a copy that differs shows as a difference in behaviour.
"""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "src" / "functions"
SHARED = FUNCTIONS / "_shared"
# Top-level packages a function folder carries besides app.py.
PACKAGED = ("_shared", "iam")


def _packaged(name: str) -> bool:
    return name.split(".", 1)[0] in PACKAGED


def load_function(name: str, folder: Path | None = None):
    """The function `name` from its source folder, or from `folder` (a built or unzipped copy)."""
    folder = Path(folder) if folder is not None else FUNCTIONS / name
    saved = {key: sys.modules.pop(key) for key in list(sys.modules) if _packaged(key)}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"lambda_{name}", folder / "app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
        for key in [key for key in sys.modules if _packaged(key)]:
            del sys.modules[key]
        sys.modules.update(saved)
    return module
