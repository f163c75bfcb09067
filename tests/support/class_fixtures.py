"""The class fixture, shared by tests/e2e and tests/browser (a pytest plugin, see tests/conftest.py).

* `class_run` -> ClassRun: a class's JupyterHub (system users where the tests
  run as root, else the demo mode: `.mode` says which) with three learners,
  each logged in through the hub's login form, their servers spawned through
  the hub's REST API in parallel (each start deploys the stack), and the
  notebooks run inside each learner's server (papermill in a kernel of it: as
  the learner, with the learner's local cloud, environment and hub token):

  - `.ana`:  00, 02, 03, 04, every exercise right, Deny in 04;
  - `.ben`:  00, 02, 03, 04 with the typical wrong answers in 02 and Approve in 04
    (failed exercises, flagged);
  - `.cleo`: 00, 02 with the wrong answers, then ChooseAction checked wrong twice
    more (the same exercise failed three times in a row: stuck).

  Notebook 01 redeploys the stack each start already deployed (sam deploy: a
  minute on this 2-core machine with three at once, and notebook 01 itself is
  run by tests/e2e/test_notebooks.py); WORKSHOP_CLASS_TEST_FULL=1 runs 00-04
  for all three (measured: the fixture takes about 250 s then, against about
  150 s).

  Each learner's `.endpoint`, `.key_file`, `.uid`, `.home` and `.token` are
  read from inside their server. The hub stops (every server and local cloud
  with it) at the end of the session; system users made for it are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from class_hub import ClassHub, system_mode_here

ALL = ["00_setup_check", "01_deploy", "02_build_state_machine", "03_fire_bad_policy", "04_decide"]
FULL = os.environ.get("WORKSHOP_CLASS_TEST_FULL") == "1"
NOTEBOOKS = ALL if FULL else [n for n in ALL if n != "01_deploy"]
STUCK_NOTEBOOKS = ALL if FULL else ["00_setup_check", "02_build_state_machine"]

RUN = """
import json, os
from pathlib import Path
from workshop.localcloud.server import credentials
from workshop.teaching.exercises import exercise_answers
from workshop.teaching.notebook_run import run_notebook

home = Path.home()
endpoint = os.environ["WORKSHOP_ENDPOINT"]
params = {{"target": "local", "endpoint": endpoint, "decision": {decision!r}, "answers": exercise_answers({kind!r})}}
from workshop.aws import connect
try:
    connect("local", endpoint).stack_outputs("security-orchestrator")  # deployed when the server started
except Exception as exc:
    log = credentials.state_dir() / "local-cloud.log"
    raise RuntimeError(f"no stack after the start ({{exc}}); the start's log ends:\\n" + log.read_text()[-3000:])
results, seconds = {{}}, {{}}
for name in {notebooks!r}:
    path = home / "notebooks" / (name + ".ipynb")
    os.environ["JPY_SESSION_NAME"] = str(path)  # as JupyterLab names a notebook's kernel
    result = run_notebook(path, home / "runs", params, timeout=240)
    results[name], seconds[name] = result.error or "ok", round(result.seconds, 1)
{extra}
print("RESULT " + json.dumps({{"results": results, "seconds": seconds, "endpoint": endpoint, "uid": os.getuid(), "home": str(home),
                               "key_file": str(credentials.path_for(endpoint))}}))
"""

AGAIN = """
from workshop.aws import connect
from workshop.teaching import StateMachineBuilder, stack_substitutions
from workshop.teaching.exercises import check_state
os.environ["JPY_SESSION_NAME"] = str(home / "notebooks" / "02_build_state_machine.ipynb")
cloud = connect("local", endpoint)
outputs = cloud.stack_outputs("security-orchestrator")
sm = StateMachineBuilder.from_reference(substitutions=stack_substitutions(cloud, outputs["StateMachineArn"]))
for _ in range(2):  # the learner runs the exercise cell again with the same wrong answer
    check_state("ChooseAction", exercise_answers("wrong")["ChooseAction"], sm)
"""


@dataclass
class Learner:
    name: str
    token: str = ""
    endpoint: str = ""
    key_file: str = ""
    home: str = ""
    uid: int = -1
    results: dict = field(default_factory=dict)
    notebook_seconds: dict = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class ClassRun:
    hub: ClassHub
    mode: str
    ana: Learner
    ben: Learner
    cleo: Learner
    facilitator_token: str
    seconds: dict = field(default_factory=dict)

    @property
    def learners(self) -> list:
        return [self.ana, self.ben, self.cleo]

    def board(self) -> dict:
        answer = self.hub.api("GET", "/services/facilitator/api/board", self.facilitator_token)
        answer.raise_for_status()
        return {row["name"]: row for row in answer.json()["learners"]}


def _run_learner(hub: ClassHub, learner: Learner, kind: str, decision: str, extra: str = "",
                 notebooks: list = NOTEBOOKS) -> Learner:
    started = time.monotonic()
    output = hub.run_code(learner.name, learner.token,
                          RUN.format(decision=decision, kind=kind, notebooks=notebooks, extra=extra), timeout=420)
    line = [x for x in output.splitlines() if x.startswith("RESULT ")][-1]
    found = json.loads(line[len("RESULT "):])
    learner.results, learner.endpoint, learner.uid = found["results"], found["endpoint"], found["uid"]
    learner.notebook_seconds = found["seconds"]
    learner.home, learner.key_file = found["home"], found["key_file"]
    learner.seconds = time.monotonic() - started
    return learner


@pytest.fixture(scope="session")
def class_run():
    why_not = system_mode_here()
    mode = "demo" if why_not else "system"
    # Learners' OS users must reach the shared build: a folder open to all, the class's own folder 0700 in it.
    folder = Path(tempfile.mkdtemp(prefix="workshop-class-test-"))
    os.chmod(folder, 0o755)
    suffix = os.urandom(2).hex()
    names = [f"ana-{suffix}", f"ben-{suffix}", f"cleo-{suffix}"]
    hub = ClassHub(folder, names, mode=mode, shared_build=folder / "sam-build")
    timings = {}
    try:
        started = time.monotonic()
        hub.start()
        timings["hub_start_s"] = time.monotonic() - started
        learners = [Learner(name) for name in names]
        for learner in learners:
            learner.token = hub.token(hub.login(learner.name), learner.name)
        facilitator = hub.token(hub.login("facilitator"), "facilitator")
        started = time.monotonic()
        for learner in learners:
            hub.spawn(learner.name, learner.token)
        for learner in learners:
            hub.wait_ready(learner.name, learner.token)
        timings["spawn_three_s"] = time.monotonic() - started
        started = time.monotonic()
        ana, ben, cleo = learners
        with ThreadPoolExecutor(3) as pool:
            runs = [pool.submit(_run_learner, hub, ana, "right", "deny"),
                    pool.submit(_run_learner, hub, ben, "wrong", "allow"),
                    pool.submit(_run_learner, hub, cleo, "wrong", "deny", AGAIN, STUCK_NOTEBOOKS)]
            for run in runs:
                run.result()
        timings["notebooks_00_04_three_learners_s"] = time.monotonic() - started
        yield ClassRun(hub, mode, ana, ben, cleo, facilitator, timings)
    except Exception:
        kept = Path(__file__).resolve().parents[2] / "build" / "class-test-hub.log"
        kept.parent.mkdir(exist_ok=True)
        shutil.copyfile(hub.log_path, kept)
        print(f"the hub's log: {kept}\n{hub.log_tail(40)}")
        raise
    finally:
        hub.stop()
        shutil.rmtree(folder, ignore_errors=True)
