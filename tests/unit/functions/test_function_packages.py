"""Each function folder is packaged alone: it carries the shared contract (ValidatePolicy also the
IAM evaluation engine) by a relative link, and imports only what the Lambda runtime has.

The packaged copies (`sam build`, and the zip `sam deploy` makes of a source folder) are
checked against these sources in tests/e2e/test_function_packages.py.
"""

import os

import pytest
from cfn_template import load_template
from function_packages import (FOLDERS, FUNCTIONS, IAM_ENGINE, ROOT, SHARED, carried, copy_differences,
                               import_problems)


@pytest.fixture(scope="module")
def template():
    return load_template(ROOT / "template.yaml")


def test_the_template_packages_each_folder_alone_with_app_handler(template):
    for logical_id, folder in FOLDERS.items():
        properties = template["Resources"][logical_id]["Properties"]
        assert properties["CodeUri"].rstrip("/") == f"src/functions/{folder}"
        assert properties.get("Handler", template["Globals"]["Function"].get("Handler")) == "app.handler"


@pytest.mark.parametrize("folder", sorted(FOLDERS.values()))
def test_a_folder_holds_app_py_and_links_to_what_it_carries(folder):
    path = FUNCTIONS / folder
    assert {p.name for p in path.iterdir() if p.name != "__pycache__"} == {"app.py", *carried(folder)}
    for name, source in carried(folder).items():
        link = path / name
        assert link.is_symlink(), f"{link} must be a link to {source}, not a copy that can drift"
        # Relative, so the link holds in any clone; packaging turns it into a copy.
        assert not os.path.isabs(os.readlink(link))
        assert link.resolve() == source.resolve()


@pytest.mark.parametrize("folder", sorted(FOLDERS.values()))
def test_a_function_imports_only_what_the_lambda_runtime_has(folder):
    assert import_problems(FUNCTIONS / folder, folder) == []


def test_the_checks_find_a_foreign_import_a_stray_module_and_a_copy_that_differs(tmp_path):
    package = tmp_path / "validate_policy"
    (package / "_shared").mkdir(parents=True)
    for path in SHARED.glob("*.py"):
        (package / "_shared" / path.name).write_bytes(path.read_bytes())
    assert copy_differences(package / "_shared", SHARED) == []
    (package / "_shared" / "transient.py").write_bytes((SHARED / "transient.py").read_bytes() + b"\n")
    (package / "_shared" / "targets.py").unlink()
    assert copy_differences(package / "_shared", SHARED) == [
        "_shared/targets.py is missing", f"_shared/transient.py differs from {SHARED / 'transient.py'}"]
    assert copy_differences(package / "iam", IAM_ENGINE) == [f"{package / 'iam'} is missing"]

    (package / "app.py").write_text("import json\nimport boto3\nfrom _shared import decisions\nimport requests\n")
    (package / "helpers.py").write_text("import os\n")
    (package / "_shared" / "extra.py").write_text("from workshop import iam\n")
    assert import_problems(package, "validate_policy") == [
        "validate_policy/_shared/extra.py imports ['workshop']",
        "validate_policy/app.py imports ['requests']",
        "validate_policy/helpers.py: a module outside app.py and the carried packages"]
