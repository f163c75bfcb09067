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
def pytest_runtest_teardown(item, nextitem):
    if nextitem is None:
        # The session ends with this test: the other folders' session fixtures (a local cloud, the class's
        # hub) stop here too, on whichever worker ran them, and stopping them needs their processes.
        return (yield)
    with forbidden():
        return (yield)
