"""A class on JupyterHub: three learners, each with their own server and local cloud, and the facilitator's view.

The hub is started as `make class` starts it (class/jupyterhub_config.py);
learners log in through its login form, their servers are spawned through its
REST API, and notebooks 00-04 run inside each learner's server
(tests/support/class_fixtures.py). Where the tests run as root the learners
are separate OS users (useradd), as on a class server; elsewhere the demo
mode, and the file-isolation test says it cannot run.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

pytestmark = pytest.mark.e2e
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]

PROBE = """
import json, os, boto3
from botocore.exceptions import ClientError
from workshop.localcloud.server import credentials
mine = credentials.read(os.environ["WORKSHOP_ENDPOINT"])
found = {{}}
# my own key, sent to the other learner's local cloud
client = boto3.client("iam", endpoint_url={other_endpoint!r}, region_name="us-east-1",
                      aws_access_key_id=mine.access_key_id, aws_secret_access_key=mine.secret_access_key)
try:
    client.list_policies(Scope="Local")
    found["other_cloud"] = "answered"
except ClientError as exc:
    found["other_cloud"] = exc.response["Error"]["Code"]
for what, path in (("key_file", {other_key!r}), ("home", {other_home!r})):
    try:
        os.listdir(path) if what == "home" else open(path).read()
        found[what] = "read"
    except PermissionError:
        found[what] = "PermissionError"
print("PROBE " + json.dumps(found))
"""


def _probe(run, learner, other) -> dict:
    output = run.hub.run_code(learner.name, learner.token, PROBE.format(
        other_endpoint=other.endpoint, other_key=other.key_file, other_home=other.home))
    return json.loads([x for x in output.splitlines() if x.startswith("PROBE ")][-1][len("PROBE "):])


def test_each_learner_ran_the_notebooks_in_their_own_server(class_run):
    print(f"\nclass timings ({class_run.mode} mode): "
          + ", ".join(f"{k} {v:.0f} s" for k, v in class_run.seconds.items()))
    for learner in class_run.learners:
        print(f"  {learner.name}: {learner.notebook_seconds}")
    for learner in class_run.learners:
        assert learner.results and set(learner.results.values()) == {"ok"}, (learner.name, learner.results)
    endpoints = {learner.endpoint for learner in class_run.learners}
    assert len(endpoints) == 3, "each learner has a local cloud of their own, on their own port"
    assert len({learner.key_file for learner in class_run.learners}) == 3
    for learner in class_run.learners:
        assert learner.key_file.startswith(learner.home + "/"), "the key file is in the learner's own home"


def test_a_learners_key_is_refused_by_another_learners_local_cloud(class_run):
    found = _probe(class_run, class_run.ana, class_run.ben)
    assert found["other_cloud"] in ("InvalidClientTokenId", "UnrecognizedClientException"), found


def test_learners_cannot_read_each_others_key_file_or_home(class_run):
    if class_run.mode != "system":
        pytest.skip("the tests do not run as root: learners share one OS user in the demo mode (no file isolation)")
    assert len({learner.uid for learner in class_run.learners}) == 3 and 0 not in {l.uid for l in class_run.learners}
    found = _probe(class_run, class_run.ana, class_run.ben)
    assert found["key_file"] == "PermissionError" and found["home"] == "PermissionError", found
    found = _probe(class_run, class_run.cleo, class_run.ana)
    assert found["key_file"] == "PermissionError" and found["home"] == "PermissionError", found


def test_the_facilitator_sees_each_learners_progress(class_run):
    board = class_run.board()
    ana, ben, cleo = (board[learner.name] for learner in class_run.learners)
    states = ("ValidatePolicy", "ChooseAction", "TempRemove", "AskUser")
    assert [ana["exercises"][s]["outcome"] for s in states] == ["passed"] * 4
    assert ana["exercises"]["decision"]["outcome"] == "passed"
    assert ana["exercises"]["developer_policy"]["outcome"] == "not-tried"  # notebook 05 was not run
    assert ana["notebook"] == "04_decide"
    assert ana["incidents_fired"] >= 1 and ana["incidents_decided"] >= 1 and ana["decisions"][-1] == "deny"
    assert ana["cloud"] == "up" and ana["server_running"] is True
    assert not ana["stuck"] and ana["minutes_since_progress"] < 10

    assert [ben["exercises"][s]["outcome"] for s in states] == ["failed"] * 4
    assert ben["exercises"]["decision"]["outcome"] == "failed" and ben["decisions"][-1] == "allow"
    wrong = ben["exercises"]["ChooseAction"]
    assert "your state fails with States.Runtime" in wrong["message"]
    assert '"$.action"' in wrong["answer"], "the last wrong answer is kept for the facilitator"
    assert ben["last_wrong"]["name"] == "decision" and "Approve put" in ben["last_wrong"]["message"]
    assert not ben["stuck"], "one failure of each exercise is not stuck"

    assert cleo["exercises"]["ChooseAction"]["failures_in_a_row"] == 3
    assert cleo["stuck"] and cleo["why_stuck"] == ["ChooseAction failed 3 times in a row"]
    assert cleo["exercises"]["ValidatePolicy"]["failures_in_a_row"] == 1


def test_the_facilitators_page_lists_the_class_and_learners_are_kept_out(class_run):
    hub, facilitator = class_run.hub, class_run.facilitator_token
    page = hub.api("GET", "/services/facilitator/", facilitator)
    assert page.status_code == 200
    for learner in class_run.learners:
        assert f"data-learner='{learner.name}'" in page.text
    assert page.text.count("<tr class='stuck'") == 1
    answer = hub.api("GET", f"/services/facilitator/learner/{class_run.ben.name}", facilitator)
    assert answer.status_code == 200 and "Last wrong answer" in answer.text
    for path in ("/services/facilitator/", "/services/facilitator/api/board"):
        assert hub.api("GET", path, class_run.ana.token).status_code == 403, "a learner does not see the class"


def test_a_learner_cannot_post_progress_as_another(class_run):
    hub, ana, ben = class_run.hub, class_run.ana, class_run.ben
    url = "/services/facilitator/api/progress"
    event = {"learner": ben.name, "step": "setup", "outcome": "ok", "notebook": "00_setup_check"}
    answer = hub.api("POST", url, ana.token, json=event)
    assert answer.status_code == 201 and answer.json()["learner"] == ana.name
    assert requests.post(hub.url + url, json=event, timeout=10).status_code == 403
    assert hub.api("POST", url, "not-a-hub-token", json=event).status_code == 403
    assert hub.api("POST", url, ana.token, json={"step": "setup", "outcome": "hacked"}).status_code == 400
    board = class_run.board()
    assert board[ben.name]["notebook"] == "04_decide", "nothing was filed under ben's name"


def test_the_note_reaches_every_learners_server_and_the_cloud_stops_with_it(class_run):
    hub, facilitator = class_run.hub, class_run.facilitator_token
    note = "Take a 5 minute break"
    assert hub.api("POST", "/services/facilitator/note", facilitator, data={"note": note},
                   allow_redirects=False).status_code in (200, 302)
    for learner in class_run.learners:
        status = hub.api("GET", f"/user/{learner.name}/workshop/status", learner.token).json()
        assert status["cloud"] == {"endpoint": learner.endpoint, "up": True}
        assert status["note"] == note
    # ben's, not cleo's: the browser test still shows cleo stuck (a learner whose cloud is down is away)
    ben = class_run.ben
    hub.stop_server(ben.name, ben.token)
    from polling import wait_for

    from workshop.localcloud import health

    wait_for(lambda: health(ben.endpoint, timeout=1) is None, timeout=60, what="ben's local cloud to stop")
    wait_for(lambda: class_run.board()[ben.name]["cloud"] == "down", timeout=30, what="the view to say so")
    assert health(class_run.ana.endpoint) is not None, "the others' local clouds keep running"


def test_make_class_refuses_system_users_it_cannot_make():
    """`make class CLASS_MODE=system` where learners' users could not run the kit says why (no hub starts)."""
    from workshop.classroom.hub import system_mode_problem

    problem = system_mode_problem()
    done = subprocess.run([sys.executable, "scripts/run_class.py", "--mode", "system", "--port", "1"],
                          capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    if problem is None:
        pytest.skip("this machine allows system users: nothing to refuse")
    assert done.returncode == 1 and "System users are not possible here" in done.stderr and problem in done.stderr
