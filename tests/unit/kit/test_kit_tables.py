"""Tables of sentences read from the left: JupyterLab and its HTML export right-align every cell otherwise."""

import json
import re
from datetime import datetime, timezone

import pytest

from workshop.aws.iam_changes import PolicyVersions
from workshop.aws.incidents import Incident
from workshop.display.html import table_html
from workshop.display.incidents import IncidentsView
from workshop.display.records import policy_versions_html
from workshop.teaching.cleanup import Leftovers
from workshop.teaching.exercises import verdict_table
from workshop.teaching.setup_check import Check, SetupReport

BAD = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:DeleteBucket", "Resource": "*"}]}
LABEL = "policy arn:aws:iam::123456789012:policy/workshop-bad-policy-1 version v1"
WHY = (f"{LABEL}: The policy allows restricted actions: s3:DeleteBucket (statement 0, Sid VisualEditor0 via "
       "s3:DeleteBucket on any resource); s3:DeleteObject (statement 0, Sid VisualEditor0 via "
       "s3:DeleteObject on any resource).")


def _incident(**fields) -> Incident:
    fields = {"verdict": "remedy", "why": WHY, **fields}
    return Incident(incident_id="abc", kind="managed", label=LABEL, target={}, document="{}", changed_by={},
                    event_name="CreatePolicy", event_time="", matches=[], status="reverted", execution_arn="",
                    created_at=datetime.now(timezone.utc), **fields)


VIEWS = {
    "set-up check": lambda: SetupReport("aws", [Check("region", False, "your configuration says eu-west-1",
                                                      "nothing to change", warning=True)])._repr_html_(),
    "plain table": lambda: table_html(["output", "value"], [("ApiUrl", "http://127.0.0.1:4566/x")]),
    "policy versions": lambda: policy_versions_html(PolicyVersions("arn:aws:iam::1:policy/p", [
        {"VersionId": "v2", "IsDefaultVersion": True, "CreateDate": "2026", "Document": BAD}])),
    "leftovers": lambda: Leftovers(["x"], [("SAM's bucket", "shared", "aws s3 rb")])._repr_html_(),
    "verdicts": lambda: verdict_table({"badpolicy": BAD}, ["s3:DeleteBucket"]).text,
    "incidents": lambda: IncidentsView([_incident()])._repr_html_(),
}


@pytest.mark.parametrize("view", VIEWS)
def test_every_cell_of_a_table_of_sentences_reads_from_the_left(view):
    cells = re.findall(r"<t[dh](?: [^>]*)?>", VIEWS[view]())
    assert cells and all("text-align:left" in cell for cell in cells if cell not in ("<th>",)), cells


def test_the_incidents_table_gives_the_verdict_without_the_change_it_names_beside_it_cut_between_words():
    page = IncidentsView([_incident()])._repr_html_()
    why = page.split("remedy<br><small>", 1)[1].split("</small>", 1)[0]
    assert LABEL not in why and why.startswith("The policy allows restricted actions: s3:DeleteBucket")
    assert why.endswith(" …") and WHY.removeprefix(f"{LABEL}: ").startswith(why.removesuffix(" …"))
    assert why.removesuffix(" …").split()[-1] in WHY.split()  # a whole word before the cut


def test_a_verdict_that_is_a_lambdas_error_shows_its_message_not_its_stack_trace():
    cause = json.dumps({"errorMessage": "the policy document is not JSON: Expecting property name",
                        "errorType": "InvalidPolicyDocument",
                        "stackTrace": ['  File "/var/task/app.py", line 133, in handler\n'], "requestId": "262d"})
    incident = _incident(verdict="InvalidPolicyDocument", why=f"{LABEL}: {cause}")
    assert incident.reason.startswith("InvalidPolicyDocument: the policy document is not JSON")
    assert "fail closed" in incident.reason
    page = IncidentsView([incident])._repr_html_()
    assert "stackTrace" not in page and "app.py" not in page


def test_the_incidents_table_keeps_the_moment_on_one_line():
    incident = _incident()
    page = IncidentsView([incident])._repr_html_()
    assert f"white-space:nowrap'>{incident.created_at:%Y-%m-%d %H:%M:%S}</td>" in page
