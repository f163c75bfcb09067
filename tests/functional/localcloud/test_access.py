"""The local cloud as an attacker meets it: a web page in the learner's browser,
a DNS-rebinding page, another local user without the key, a deployed function
that goes looking for the learner's secrets. Each defence has its attack here.

One real local cloud process for the module, started with a canary secret in
its environment and a HOME holding a canary `~/.aws/credentials`, as a
learner's shell would have.
"""

from __future__ import annotations

import json
import os
import stat
import uuid

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from lambda_packages import zip_package

from signing import signed_headers
from workshop.localcloud import LocalCloud
from workshop.localcloud.server import credentials

CANARY = "canary-" + uuid.uuid4().hex
EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learner-home")
    (folder / ".aws").mkdir()
    (folder / ".aws" / "credentials").write_text(f"[default]\naws_access_key_id = AKIA{CANARY}\n")
    return folder


@pytest.fixture(scope="module")
def cloud(home):
    with LocalCloud(extra_env={"LEARNER_SECRET": CANARY, "HOME": str(home)}) as running:
        yield running


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _signed_headers(cloud, body, key=None, service="iam", host=None, secret=None):
    """A form POST to / signed (with the cloud's key unless `key`, a key it never made, is given) for `host`."""
    keys = credentials.Credentials(cloud.endpoint, key or cloud.credentials.access_key_id,
                                   secret or ("x" if key else cloud.credentials.secret_access_key))
    host = host or f"127.0.0.1:{cloud.port}"
    return {**FORM, **signed_headers(keys, "POST", cloud.endpoint + "/", body.encode(), service, {**FORM, "Host": host})}


def _users(cloud):
    return [u["UserName"] for u in cloud.client("iam").list_users()["Users"]]


# --- the key ------------------------------------------------------------------------------


def test_the_key_file_is_private_and_the_key_changes_at_every_start(cloud):
    path = credentials.path_for(cloud.endpoint)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert credentials.read(cloud.endpoint) == cloud.credentials
    assert cloud.credentials.access_key_id.startswith("LCAK") and len(cloud.credentials.access_key_id) == 20
    assert cloud.credentials.secret_access_key not in repr(cloud.credentials)
    with LocalCloud() as other:
        assert other.credentials.access_key_id != cloud.credentials.access_key_id
        other_path = credentials.path_for(other.endpoint)
        assert other_path.exists()
    assert not other_path.exists(), "a stopped local cloud leaves its key behind"


def test_unsigned_requests_and_other_keys_are_refused_and_change_nothing(cloud):
    body = "Action=CreateUser&Version=2010-05-08&UserName={}"
    unsigned = requests.post(cloud.endpoint + "/", data=body.format("unsigned"), timeout=30,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 403 and "not signed" in unsigned.text
    assert "<Code>MissingAuthenticationToken</Code>" in unsigned.text
    forged = requests.post(cloud.endpoint + "/", data=body.format("forged"), timeout=30,
                           headers=_signed_headers(cloud, body.format("forged"), key="AKIAIOSFODNN7EXAMPLE"))
    assert forged.status_code == 403 and "was made by this local cloud" in forged.text
    assert "<Code>InvalidClientTokenId</Code>" in forged.text
    # the key id alone proves nothing: it is no secret (CloudTrail events carry it, as on AWS)
    guessed = requests.post(cloud.endpoint + "/", data=body.format("guessed"), timeout=30,
                            headers=_signed_headers(cloud, body.format("guessed"), secret="not-the-secret"))
    assert guessed.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in guessed.text
    # what another user, or a learner's old shell, gets with plain boto3 and a guessed key
    stranger = boto3.client("iam", endpoint_url=cloud.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ClientError) as refused:
        stranger.create_user(UserName="stranger")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert not {"unsigned", "forged", "guessed", "stranger"} & set(_users(cloud))
    cloud.client("iam").create_user(UserName="with-the-key")
    assert "with-the-key" in _users(cloud)


def test_presigned_urls_carry_the_key_too(cloud):
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="presign")
    s3.put_object(Bucket="presign", Key="k", Body=b"hello")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "k"})
    assert requests.get(url, timeout=30).content == b"hello"
    stranger = boto3.client("s3", endpoint_url=cloud.endpoint, region_name="us-east-1",
                            aws_access_key_id="AKIAOTHERUSER0000000", aws_secret_access_key="x")
    forged = stranger.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "k"})
    response = requests.get(forged, timeout=30)
    assert response.status_code == 403 and b"hello" not in response.content


# --- the browser ------------------------------------------------------------------------------


def test_a_foreign_web_page_cannot_act_even_with_a_signed_request(cloud):
    """A page cannot know the key, but even a request signed with it is refused from a foreign origin."""
    body = "Action=CreateUser&Version=2010-05-08&UserName=from-evil"
    headers = dict(_signed_headers(cloud, body), Origin=EVIL)
    response = requests.post(cloud.endpoint + "/", headers=headers, timeout=30, data=body)
    assert response.status_code == 403 and "evil.example" in response.text
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "from-evil" not in _users(cloud)


def test_the_reported_attack_a_page_posting_createstack_with_an_inline_lambda_runs_nothing(cloud, tmp_path):
    """The attack from the report: CloudFormation CreateStack whose custom resource runs inline code."""
    proof = tmp_path / "ran"
    template = {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.13", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": f"open({str(proof)!r}, 'w').write('x')\ndef handler(e, c): pass\n"}}},
        "Run": {"Type": "Custom::Run", "Properties": {"ServiceToken": {"Fn::GetAtt": ["Fn", "Arn"]}}}}}
    from urllib.parse import urlencode

    body = urlencode({"Action": "CreateStack", "Version": "2010-05-15", "StackName": "from-evil",
                      "TemplateBody": json.dumps(template)})
    for key in ("AKIAIOSFODNN7EXAMPLE", None):
        headers = dict(_signed_headers(cloud, body, key=key, service="cloudformation"), Origin=EVIL)
        response = requests.post(cloud.endpoint + "/", data=body, headers=headers, timeout=60)
        assert response.status_code == 403
    stacks = cloud.client("cloudformation").list_stacks()["StackSummaries"]
    assert "from-evil" not in [s["StackName"] for s in stacks]
    assert not proof.exists()


def test_a_preflight_from_a_foreign_origin_grants_nothing(cloud):
    response = requests.options(cloud.endpoint + "/", timeout=30, headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,x-amz-target,content-type"})
    assert response.status_code == 403
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_moto_global_cors_is_off(cloud):
    """Even where an Origin is allowed (the local cloud's own), no CORS grant is made for other pages to read."""
    body = "Action=ListUsers&Version=2010-05-08"
    headers = dict(_signed_headers(cloud, body), Origin=cloud.endpoint)
    response = requests.post(cloud.endpoint + "/", headers=headers, timeout=30, data=body)
    assert response.status_code == 200
    assert response.headers.get("Access-Control-Allow-Origin") in (None, cloud.endpoint)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}", "127.0.0.1:1",
                                  "localhost.evil.example:{port}", ""])
def test_a_rebinding_host_name_is_refused(cloud, host):
    """DNS rebinding: the attacker's name resolves to 127.0.0.1; the browser sends that name as Host."""
    body = "Action=CreateUser&Version=2010-05-08&UserName=rebound"
    headers = dict(_signed_headers(cloud, body, host=host.format(port=cloud.port) or None),
                   Host=host.format(port=cloud.port))
    response = requests.post(cloud.endpoint + "/", headers=headers, timeout=30, data=body)
    assert response.status_code == 403 and "Host" in response.text
    assert "rebound" not in _users(cloud)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_its_own_host_names_are_served(cloud, host):
    body = "Action=ListUsers&Version=2010-05-08"
    headers = dict(_signed_headers(cloud, body, host=host.format(port=cloud.port)), Host=host.format(port=cloud.port))
    response = requests.post(cloud.endpoint + "/", headers=headers, timeout=30, data=body)
    assert response.status_code == 200


def test_public_routes_stay_public_but_only_for_its_own_pages(cloud):
    assert requests.get(cloud.endpoint + "/_localcloud/health", timeout=30).json()["status"] == "ready"
    stage = cloud.endpoint + "/_localcloud/execute-api/nope/Prod/allow"
    # The e-mail's decision page posts its form from the local cloud's own origin: served (here a 404: no such API).
    own = requests.post(stage, headers={"Origin": cloud.endpoint}, data={"token": "t"}, timeout=30)
    assert own.status_code == 404
    foreign = requests.post(stage, headers={"Origin": EVIL}, data={"token": "t"}, timeout=30)
    assert foreign.status_code == 403


def test_the_mailbox_needs_the_key_and_moto_api_is_off(cloud):
    sns = cloud.client("sns")
    topic = sns.create_topic(Name="access-mail")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="learner@example.com")
    sns.publish(TopicArn=topic, Subject="links", Message="approve: http://secret-link")
    mailbox = cloud.endpoint + "/_localcloud/mailbox"

    def signed_by(key, secret, method):
        return signed_headers(credentials.Credentials(cloud.endpoint, key, secret), method, mailbox,
                              service="localcloud")

    # an IAM user's own key is a proven caller, but not the learner: the mailbox is the learner's inbox
    iam = cloud.client("iam")
    iam.create_user(UserName="mail-reader")
    reader = iam.create_access_key(UserName="mail-reader")["AccessKey"]
    key_id = cloud.credentials.access_key_id
    for method in ("GET", "DELETE"):
        for headers in ({}, {"Authorization": f"Bearer {key_id}"}, signed_by("AKIAIOSFODNN7EXAMPLE", "x", method),
                        signed_by(key_id, "not-the-secret", method),
                        signed_by(reader["AccessKeyId"], reader["SecretAccessKey"], method)):
            response = requests.request(method, mailbox, headers=headers, timeout=30)
            assert response.status_code == 403 and "secret-link" not in response.text
    own = signed_by(key_id, cloud.credentials.secret_access_key, "GET")
    assert "secret-link" in requests.get(mailbox, headers=own, timeout=30).text
    for path in ("/moto-api/", "/moto-api/reset", "/moto-api/data.json"):
        headers = signed_headers(cloud.credentials, "POST", cloud.endpoint + path, service="localcloud")
        response = requests.post(cloud.endpoint + path, headers=headers, timeout=30)
        assert response.status_code == 403
    assert "access-mail" in str(sns.list_topics())


# --- the Lambda sandbox ------------------------------------------------------------------------

SNOOP = r'''
import glob, os

def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except Exception as exc:
        return ""

def handler(event, context):
    seen = {"environ": "\n".join(f"{k}={v}" for k, v in os.environ.items())}
    for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
        seen[path] = _read(path)
    for path in (event["home"] + "/.aws/credentials", os.path.expanduser("~/.aws/credentials"),
                 "/root/.aws/credentials"):
        seen[path] = _read(path)
    try:
        open("/var/task/written", "w").write("x")
        seen["code_writable"] = "yes"
    except OSError:
        seen["code_writable"] = "no"
    seen["home"] = os.environ.get("HOME", "")
    return seen
'''


def _deploy_function(cloud, name, source):
    iam, lam = cloud.client("iam"), cloud.client("lambda")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler",
                        Code={"ZipFile": zip_package({"app.py": source})}, Timeout=10)
    return lam


def test_a_function_cannot_read_the_learners_home_or_the_servers_environment(cloud, home):
    lam = _deploy_function(cloud, "snoop", SNOOP)
    answer = lam.invoke(FunctionName="snoop", Payload=json.dumps({"home": str(home)}))
    seen = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, seen
    leaks = [where for where, text in seen.items() if CANARY in text]
    assert not leaks, f"the function read the learner's secret from {leaks}"
    assert cloud.credentials.secret_access_key not in json.dumps(seen), "the function saw the server's secret"
    assert cloud.credentials.access_key_id not in json.dumps(seen), "the function saw the server's key"
    assert seen["home"] != str(home) and not seen["home"].startswith(os.path.expanduser("~"))
    assert seen["code_writable"] == "no", "the code package is read-only on Lambda"
    health = cloud.health()
    assert health["lambda_isolation"].startswith("sandbox"), health["lambda_isolation"]


PACKAGES = r'''
import importlib

def handler(event, context):
    found = {}
    for name in ("boto3", "botocore", "requests", "moto", "workshop", "yaml"):
        try:
            importlib.import_module(name)
            found[name] = True
        except ImportError:
            found[name] = False
    return found
'''


def test_a_function_imports_boto3_as_on_lambda_and_nothing_of_the_kit(cloud):
    """Lambda's Python runtimes ship boto3; `requests` & co. work on AWS only when packaged."""
    lam = _deploy_function(cloud, "packages", PACKAGES)
    found = json.loads(lam.invoke(FunctionName="packages", Payload=b"{}")["Payload"].read())
    assert found == {"boto3": True, "botocore": True, "requests": False, "moto": False, "workshop": False,
                     "yaml": False}
