"""Load each Lambda's app.py as its own module (they are all named `app`)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "src" / "functions"


def load_function(name: str):
    path = FUNCTIONS / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
