"""tests/functional: one component with real processes. `shared_cloud` is one local cloud for the session."""

import pytest

from workshop.localcloud import LocalCloud


@pytest.fixture(scope="session")
def shared_cloud(tmp_path_factory):
    """A local cloud process shared by the functional tests that ask for it (each makes its own names)."""
    log = open(tmp_path_factory.mktemp("functional-cloud") / "server.log", "wb")
    with LocalCloud(log_file=log) as running:
        yield running
    log.close()
