"""Every unit test runs with processes and sockets forbidden (tests/support/no_processes.py),
from its fixtures' setup to their teardown: what needs a real process is a functional test."""

import pytest

from no_processes import forbidden


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with forbidden():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with forbidden():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    with forbidden():
        return (yield)
