"""The e2e fixtures (`local_cloud`, `sam_build`, `deployed_stack`, `timeout_stack`)
live in tests/support/cloud_fixtures.py, loaded for every test by
tests/conftest.py, so tests/browser shares the same session local cloud and
stack; see that module for what each fixture gives."""
