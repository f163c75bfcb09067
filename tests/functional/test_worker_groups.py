"""`make test` shares the tests out between pytest-xdist workers: the groups must hold.

tests/conftest.py gives every test that uses a session's processes (a local
cloud, its deployed stack, the class's hub) one `xdist_group`, and `--dist
loadgroup` is trusted to send a group to one worker. Some pytest and
pytest-xdist pairs do not (pytest 9.2 keeps a node id xdist cannot add the
group to): two workers then each start the session's processes and write the
same `build/` files, and the suite fails in ways that look like anything but
this. This runs a small suite the way the Makefile runs the real one, with the
installed pair, and reads which worker ran what.
"""

import subprocess
import sys
import textwrap

SUITE = '''
import os
import pytest

def _note(name):
    with open(os.environ["WORKER_LOG"], "a") as log:
        log.write(f"{name} {os.environ['PYTEST_XDIST_WORKER']}\\n")

@pytest.mark.xdist_group("stack")
@pytest.mark.parametrize("n", range(6))
def test_grouped_here(n):
    _note(f"here-{n}")

def test_free(): _note("free")
'''

OTHER = '''
import os
import pytest
from test_a import _note

@pytest.mark.xdist_group("stack")
@pytest.mark.parametrize("n", range(6))
def test_grouped_there(n):
    _note(f"there-{n}")

@pytest.mark.parametrize("n", range(6))
def test_anywhere(n):
    _note(f"anywhere-{n}")
'''


def test_tests_of_one_group_run_on_one_worker(tmp_path):
    (tmp_path / "test_a.py").write_text(textwrap.dedent(SUITE))
    (tmp_path / "test_b.py").write_text(textwrap.dedent(OTHER))
    log = tmp_path / "workers.log"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                          "-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder", "--rootdir", str(tmp_path),
                          "-c", "/dev/null", str(tmp_path)],
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "WORKER_LOG": str(log), "PYTHONPATH": str(tmp_path)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    ran = dict(line.split() for line in log.read_text().splitlines())
    assert len(ran) == 19, ran
    grouped = {worker for name, worker in ran.items() if name.startswith(("here", "there"))}
    assert len(grouped) == 1, f"one group ran on {sorted(grouped)}: {ran}"
