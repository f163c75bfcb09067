"""tests/functional: one component with real processes. `shared_cloud` is one local cloud for the session."""

import pytest

from state_machines import create_role

from workshop.localcloud import LocalCloud


@pytest.fixture(scope="session")
def shared_cloud(tmp_path_factory):
    """A local cloud process shared by the functional tests that ask for it (each makes its own names),
    with the role their state machines run as."""
    log = open(tmp_path_factory.mktemp("functional-cloud") / "server.log", "wb")
    with LocalCloud(log_file=log) as running:
        create_role(running.client("iam"))
        yield running
    log.close()
