"""Fixtures shared across test folders, and how the tests share out between pytest-xdist workers.

`cloud_fixtures` (tests/support/cloud_fixtures.py): `local_cloud`, `sam_build`,
`deployed_stack`, `timeout_stack`, the AWS-like ones, used by tests/e2e,
tests/browser and tests/functional. They are session-scoped and lazy: a test
that asks for none of them starts nothing. `moto_fixtures`
(tests/support/moto_fixtures.py): `aws_env` and `restore_moto`, for tests that
run moto in-process.

The local clouds the tests start keep their key files in a folder of this
test run (WORKSHOP_STATE_DIR, inherited by every process the tests start,
pytest-xdist's workers included), so a learner's own local cloud and its key
are never touched.

With workers (`make test` starts two per core; `WORKERS=1` runs one process:
tests/README.md says why) the tests run with pytest-xdist's `--dist loadgroup`.
A session fixture that starts processes is made once per worker that asks for
it, so every test that uses one is sent to the same worker (an `xdist_group`,
named after the processes: `WORKER_GROUPS`), and a module whose fixtures start
something once for the module runs on one worker too. Everything else goes
wherever a worker is free.
"""

import os
import signal
import tempfile

import pytest

from workshop.localcloud.server.speedups import without_iri_syntax_checker

# The tests check no IRI format; jsonschema's checker for it (rfc3987-syntax) takes seconds to import in every
# worker that imports nbformat (see speedups.without_iri_syntax_checker).
without_iri_syntax_checker()

# The tests stop what they start as a terminal and JupyterHub do: Ctrl-C to `make lab`, SIGINT first to a
# learner's server. Started by a shell without job control (`make test &` in a script), the run would ignore
# SIGINT and so would every process it starts (an ignored signal stays ignored across exec): nothing would
# stop on Ctrl-C, and the hub would wait out its SIGINT time-out for every server. A handler here makes the
# processes the tests start begin with SIGINT as a terminal gives it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

if "WORKSHOP_STATE_DIR" not in os.environ:
    os.environ["WORKSHOP_STATE_DIR"] = tempfile.mkdtemp(prefix="workshop-test-state-")

pytest_plugins = ["cloud_fixtures", "class_fixtures", "moto_fixtures"]

# A session fixture that starts processes -> the group of the worker that runs every test using it.
WORKER_GROUPS = {
    "local_cloud": "session-stack",       # the session's local cloud, its deployed stack, JupyterLab on it
    "deployed_stack": "session-stack",
    "jupyter_lab": "session-stack",
    "timeout_stack": "timeout-stack",     # a local cloud of its own
    "aws_like_cloud": "aws-like",         # the AWS-like local cloud and its stack
    "aws_like_stack": "aws-like",
    "shared_cloud": "functional-cloud",   # tests/functional's one local cloud
    "class_run": "class",                 # the class's hub, its learners' servers
}
# Modules that must not run at the same time as each other, whatever worker they are on.
SHARED_GROUPS = {
    # Both run notebook 01, which builds into the checkout's .aws-sam/build (as a learner's deploy does).
    "tests/e2e/test_notebooks.py": "notebooks",
    "tests/e2e/test_notebooks_aws_like.py": "notebooks",
}
# The slow folders first, so that their long groups start while the quick tests fill the other workers.
FOLDER_ORDER = ("e2e", "browser", "functional", "unit")


def _group(item) -> str | None:
    groups = sorted({WORKER_GROUPS[name] for name in item.fixturenames if name in WORKER_GROUPS})
    if len(groups) > 1:
        raise pytest.UsageError(f"{item.nodeid} uses the processes of two worker groups ({groups}): one test "
                                "cannot run on two workers; split it, or give the fixtures one group")
    if groups:
        return groups[0]
    module = item.nodeid.split("::")[0]
    if module in SHARED_GROUPS:
        return SHARED_GROUPS[module]
    definitions = getattr(item, "_fixtureinfo", None)
    scopes = {d[-1].scope for d in definitions.name2fixturedefs.values()} if definitions else set()
    return module if scopes & {"module", "package", "class"} else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        group = _group(item)
        if group is not None and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))

    def folder(item):
        parts = item.nodeid.split("/")
        return FOLDER_ORDER.index(parts[1]) if len(parts) > 2 and parts[1] in FOLDER_ORDER else len(FOLDER_ORDER)

    items.sort(key=folder)  # stable: the order within a folder stays pytest's
