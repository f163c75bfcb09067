"""Tests of the local cloud with real processes: its server, its Lambda workers (Python and Node.js in
bubblewrap), sam. The in-process ones patch moto as the unit tests do and get plain moto back after
each test (`aws_env`, `restore_moto`: tests/support/moto_fixtures.py)."""

import pytest
from schedule_clock import events  # noqa: F401 (the fixture of test_schedules.py)


@pytest.fixture(autouse=True)
def _plain_moto_after_each_test(aws_env, restore_moto):
    yield


@pytest.fixture(scope="module")
def cloud():
    """A real local cloud process for the module's tests, stopped after them."""
    from workshop.localcloud.server import process

    with process.LocalCloud() as running:
        yield running
