"""Fixtures shared across test folders.

`cloud_fixtures` (tests/support/cloud_fixtures.py): `local_cloud`, `sam_build`,
`deployed_stack`, `timeout_stack`, used by tests/e2e and tests/browser. They are
session-scoped and lazy: a test that asks for none of them starts nothing.

The local clouds the tests start keep their key files in a folder of this
test run (WORKSHOP_STATE_DIR, inherited by every process the tests start), so
a learner's own local cloud and its key are never touched.
"""

import os
import tempfile

if "WORKSHOP_STATE_DIR" not in os.environ:
    os.environ["WORKSHOP_STATE_DIR"] = tempfile.mkdtemp(prefix="workshop-test-state-")

pytest_plugins = ["cloud_fixtures", "class_fixtures"]
