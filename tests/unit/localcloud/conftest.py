"""Unit tests of the local cloud's extensions, in-process with moto.

The extensions patch moto classes: every test here runs with dummy credentials and
gets plain moto back afterwards (`aws_env`, `restore_moto`: tests/support/moto_fixtures.py).
"""

import pytest
from schedule_clock import events  # noqa: F401 (the fixture of test_schedules.py)


@pytest.fixture(autouse=True)
def _plain_moto_after_each_test(aws_env, restore_moto):
    yield
