"""Fixtures shared across test folders.

`cloud_fixtures` (tests/support/cloud_fixtures.py): `local_cloud`, `sam_build`,
`deployed_stack`, `timeout_stack`, used by tests/e2e and tests/browser. They are
session-scoped and lazy: a test that asks for none of them starts nothing.
"""

pytest_plugins = ["cloud_fixtures"]
