"""The functions' shared contract (`src/functions/_shared`), for the kit: the same rules, not a copy.

The functions write incidents by `_shared` (attribute names, the seal's
canonical serialisation); the kit reads the same items and checks the same
seals. So it loads that one package from the source tree, under a name of
its own (`workshop_function_contract`), instead of writing the rules again.

    from workshop.aws.function_contract import contract
    contract("seal").check(kms, key_arn, item)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from pathlib import Path

PACKAGE = "workshop_function_contract"
_loading = threading.Lock()


def contract_folder() -> Path:
    """Where `_shared` is: beside the kit's package in the source tree (an editable install, Binder, a
    clone), else in the project folder the notebooks run in."""
    beside = Path(__file__).resolve().parents[2] / "functions" / "_shared"
    if beside.is_dir():
        return beside
    from workshop.aws.session import project_root

    return project_root() / "src" / "functions" / "_shared"


def contract(module: str):
    """A module of the functions' contract (`seal`, `incident_item`, ...)."""
    with _loading:
        if PACKAGE not in sys.modules:
            folder = contract_folder()
            spec = importlib.util.spec_from_file_location(PACKAGE, folder / "__init__.py",
                                                          submodule_search_locations=[str(folder)])
            if spec is None or spec.loader is None:
                raise ImportError(f"the functions' contract is not at {folder}: run the kit from the project folder")
            package = importlib.util.module_from_spec(spec)
            sys.modules[PACKAGE] = package
            try:
                spec.loader.exec_module(package)
            except BaseException:
                del sys.modules[PACKAGE]
                raise
    return importlib.import_module(f"{PACKAGE}.{module}")
