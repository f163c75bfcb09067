"""SigV4 as AWS checks it, on a real local cloud process: who may sign, and what each protocol answers.

Every AWS API request is checked with the secret of the key it names
(server/authentication.py). Each refusal here is AWS's code in the client's
protocol: query (IAM, STS), JSON (Step Functions, DynamoDB), rest-json
(Lambda), rest-xml (S3). Each acceptance is a real client signing: boto3
(header, presigned, S3's SigV2 and its checksum trailers), the AWS SDK for
JavaScript v3 inside a Node.js function, the AWS CLI where it is installed,
and `sam deploy` (the e2e fixtures deploy the stack with it).
"""

from __future__ import annotations

import json
import shutil
import subprocess  # nosec B404: the AWS CLI, as an argument list
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode
from xml.etree import ElementTree

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from cloud_fixtures import logged_cloud
from lambda_packages import zip_package
from signing import presigned, signed_headers
from workshop.localcloud.server.credentials import Credentials

ACCOUNT = "123456789012"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                             "Resource": "*"}]})


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with logged_cloud(tmp_path_factory.mktemp("signatures")) as (running, _):
        yield running


def _client(cloud, service, key=None, secret=None, token=None, **config):
    return boto3.client(service, endpoint_url=cloud.endpoint, region_name="us-east-1",
                        aws_access_key_id=key or cloud.credentials.access_key_id,
                        aws_secret_access_key=secret or cloud.credentials.secret_access_key,
                        aws_session_token=token,
                        config=Config(retries={"total_max_attempts": 1}, **config))


def _refused(call) -> dict:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response


def _code(call) -> str:
    return _refused(call)["Error"]["Code"]


def _policies(cloud) -> set[str]:
    return {p["PolicyName"] for p in cloud.client("iam").list_policies(Scope="Local")["Policies"]}


# --- the right key: served -----------------------------------------------------------------------


def test_requests_signed_by_botocore_with_the_right_key_are_served_in_every_protocol_and_form(cloud):
    assert _client(cloud, "sts").get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"  # query
    _client(cloud, "iam").create_policy(PolicyName="signed-right", PolicyDocument=POLICY)
    _client(cloud, "stepfunctions").list_state_machines()  # JSON 1.0
    _client(cloud, "dynamodb").list_tables()  # JSON 1.0
    _client(cloud, "lambda").list_functions()  # rest-json, a dated path
    s3 = _client(cloud, "s3", s3={"addressing_style": "path"})
    s3.create_bucket(Bucket="signed-bucket")
    key = "a folder/with+odd=chars&more.json"
    s3.put_object(Bucket="signed-bucket", Key=key, Body=b'{"x": 1}')  # default checksum (trailer or header)
    s3.upload_fileobj(__import__("io").BytesIO(b"z" * 300_000), "signed-bucket", "big")
    assert s3.get_object(Bucket="signed-bucket", Key=key)["Body"].read() == b'{"x": 1}'
    listed = s3.list_objects_v2(Bucket="signed-bucket", Prefix="a folder/")["Contents"]
    assert [item["Key"] for item in listed] == [key]
    # presigned: S3's SigV2 (boto3's default), S3's SigV4, and IAM's query API as GET
    assert requests.get(s3.generate_presigned_url("get_object", Params={"Bucket": "signed-bucket", "Key": key}),
                        timeout=30).content == b'{"x": 1}'
    v4 = _client(cloud, "s3", signature_version="s3v4", s3={"addressing_style": "path"})
    assert requests.get(v4.generate_presigned_url("get_object", Params={"Bucket": "signed-bucket", "Key": key}),
                        timeout=30).content == b'{"x": 1}'
    listing = presigned(cloud.credentials, "GET", cloud.endpoint + "/?Action=ListPolicies&Version=2010-05-08&Scope=Local")
    answer = requests.get(listing, timeout=30)
    assert answer.status_code == 200 and "signed-right" in answer.text


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed on this machine")
def test_the_aws_cli_signs_as_the_local_cloud_checks(cloud):
    run = subprocess.run(["aws", "sts", "get-caller-identity", "--output", "json"], capture_output=True, text=True,
                         timeout=60, env={**_cli_env(), **cloud.environment()})  # nosec B603 B607
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    wrong = dict(cloud.environment(), AWS_SECRET_ACCESS_KEY="not-the-secret")
    run = subprocess.run(["aws", "iam", "list-users"], capture_output=True, text=True, timeout=60,
                         env={**_cli_env(), **wrong})  # nosec B603 B607
    assert run.returncode != 0 and "SignatureDoesNotMatch" in run.stderr


def _cli_env() -> dict:
    import os

    return {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}


NODE_SDK = """
const { STSClient, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');
const { IAMClient, CreatePolicyCommand } = require('@aws-sdk/client-iam');
const { S3Client, PutObjectCommand, GetObjectCommand } = require('@aws-sdk/client-s3');
const { SFNClient, ListStateMachinesCommand } = require('@aws-sdk/client-sfn');
exports.handler = async (event) => {
  const who = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  await new IAMClient({}).send(new CreatePolicyCommand({ PolicyName: event.policy, PolicyDocument: event.document }));
  const s3 = new S3Client({ forcePathStyle: true });
  await s3.send(new PutObjectCommand({ Bucket: event.bucket, Key: 'from node/é.txt', Body: 'hello from node' }));
  const back = await (await s3.send(new GetObjectCommand({ Bucket: event.bucket, Key: 'from node/é.txt' }))).Body.transformToString();
  await new SFNClient({}).send(new ListStateMachinesCommand({}));
  let wrong = 'accepted';
  try {
    await new STSClient({ credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: 'wrong',
                                        sessionToken: process.env.AWS_SESSION_TOKEN } })
      .send(new GetCallerIdentityCommand({}));
  } catch (e) { wrong = e.name; }
  return { arn: who.Arn, back, wrong };
};
"""


def test_the_nodejs_sdk_in_a_function_signs_with_the_functions_own_credentials(cloud):
    iam, lam = cloud.client("iam"), cloud.client("lambda")
    role = iam.create_role(RoleName="node-signer", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.put_role_policy(RoleName="node-signer", PolicyName="its-calls", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "iam:CreatePolicy", "s3:PutObject", "s3:GetObject", "states:ListStateMachines"]}]}))
    cloud.client("s3").create_bucket(Bucket="node-bucket")
    lam.create_function(FunctionName="node-signer", Runtime="nodejs20.x", Role=role, Handler="index.handler",
                        Code={"ZipFile": zip_package({"index.js": NODE_SDK})}, Timeout=30)
    answer = lam.invoke(FunctionName="node-signer", Payload=json.dumps(
        {"policy": "from-node", "document": POLICY, "bucket": "node-bucket"}))
    result = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, result
    assert result == {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/node-signer/node-signer",
                      "back": "hello from node", "wrong": "SignatureDoesNotMatch"}
    assert "from-node" in _policies(cloud)


# --- a wrong secret, a wrong date, an expired token or URL: refused ---------------------------------


def test_a_wrong_secret_is_refused_with_each_protocols_code_and_changes_nothing(cloud):
    wrong = {"secret": "not-the-secret"}
    assert _code(lambda: _client(cloud, "iam", **wrong).create_policy(
        PolicyName="wrong-secret", PolicyDocument=POLICY)) == "SignatureDoesNotMatch"
    assert _code(lambda: _client(cloud, "sts", **wrong).get_caller_identity()) == "SignatureDoesNotMatch"
    assert _code(lambda: _client(cloud, "stepfunctions", **wrong).list_state_machines()) == "InvalidSignatureException"
    assert _code(lambda: _client(cloud, "dynamodb", **wrong).list_tables()) == "InvalidSignatureException"
    assert _code(lambda: _client(cloud, "lambda", **wrong).list_functions()) == "InvalidSignatureException"
    s3 = _client(cloud, "s3", s3={"addressing_style": "path"}, **wrong)
    refused = _refused(lambda: s3.create_bucket(Bucket="wrong-secret"))
    assert refused["Error"]["Code"] == "SignatureDoesNotMatch"
    assert refused["ResponseMetadata"]["HTTPStatusCode"] == 403
    message = _refused(lambda: _client(cloud, "iam", **wrong).list_users())["Error"]["Message"]
    assert message.startswith("The request signature we calculated does not match the signature you provided.")
    assert cloud.credentials.secret_access_key not in message
    assert "wrong-secret" not in _policies(cloud)
    assert "wrong-secret" not in {b["Name"] for b in cloud.client("s3").list_buckets()["Buckets"]}


def test_a_key_the_local_cloud_never_made_is_refused_as_aws_refuses_an_unknown_key(cloud):
    stranger = {"key": "AKIAIOSFODNN7EXAMPLE", "secret": "x"}
    assert _code(lambda: _client(cloud, "iam", **stranger).list_users()) == "InvalidClientTokenId"
    assert _code(lambda: _client(cloud, "stepfunctions", **stranger).list_state_machines()) == \
        "UnrecognizedClientException"
    assert _code(lambda: _client(cloud, "s3", **stranger).list_buckets()) == "InvalidAccessKeyId"


@pytest.mark.parametrize("minutes", [-20, 20])
def test_a_request_dated_more_than_15_minutes_off_is_refused_as_aws_refuses_it(cloud, minutes):
    when = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    body = b"Action=ListUsers&Version=2010-05-08"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = requests.post(cloud.endpoint + "/", data=body, timeout=30,
                           headers={**form, **signed_headers(cloud.credentials, "POST", cloud.endpoint + "/", body,
                                                             "iam", form, at=when)})
    assert answer.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in answer.text
    assert ("Signature expired" if minutes < 0 else "Signature not yet current") in answer.text
    target = {"X-Amz-Target": "AWSStepFunctions.ListStateMachines", "Content-Type": "application/x-amz-json-1.0"}
    answer = requests.post(cloud.endpoint + "/", data=b"{}", timeout=30, headers={
        **target, **signed_headers(cloud.credentials, "POST", cloud.endpoint + "/", b"{}", "states", target, at=when)})
    assert answer.status_code == 403 and answer.json()["__type"] == "InvalidSignatureException"
    url = cloud.endpoint + "/"
    answer = requests.get(url, timeout=30, headers=signed_headers(cloud.credentials, "GET", url, service="s3",
                                                                   at=when))
    assert answer.status_code == 403 and "<Code>RequestTimeTooSkewed</Code>" in answer.text
    assert "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>" in answer.text
    # and within the window: served
    near = datetime.now(timezone.utc) - timedelta(minutes=10)
    answer = requests.post(cloud.endpoint + "/", data=body, timeout=30,
                           headers={**form, **signed_headers(cloud.credentials, "POST", cloud.endpoint + "/", body,
                                                             "iam", form, at=near)})
    assert answer.status_code == 200


def test_a_presigned_url_past_its_expiry_is_refused(cloud):
    cloud.client("s3").create_bucket(Bucket="presigned-expiry")
    cloud.client("s3").put_object(Bucket="presigned-expiry", Key="k", Body=b"fresh")
    url = cloud.endpoint + "/presigned-expiry/k"
    fresh = presigned(cloud.credentials, "GET", url, "s3", expires=60)
    assert requests.get(fresh, timeout=30).content == b"fresh"
    old = presigned(cloud.credentials, "GET", url, "s3", expires=60, at=datetime.now(timezone.utc) - timedelta(minutes=2))
    answer = requests.get(old, timeout=30)
    assert answer.status_code == 403 and "<Code>AccessDenied</Code>" in answer.text
    assert "<Message>Request has expired</Message>" in answer.text and "<X-Amz-Expires>60</X-Amz-Expires>" in answer.text
    # S3's SigV2 (boto3's default presigned URL): Expires in the past
    v2 = cloud.client("s3").generate_presigned_url("get_object", Params={"Bucket": "presigned-expiry", "Key": "k"},
                                                   ExpiresIn=1)
    time.sleep(2.1)
    answer = requests.get(v2, timeout=30)
    assert answer.status_code == 403 and "Request has expired" in answer.text
    # IAM's query API holds a presigned request for 15 minutes, as STS does
    listing = cloud.endpoint + "/?Action=ListUsers&Version=2010-05-08"
    answer = requests.get(presigned(cloud.credentials, "GET", listing, at=datetime.now(timezone.utc)
                                    - timedelta(minutes=20)), timeout=30)
    assert answer.status_code == 403 and "Signature expired" in answer.text


def _assumed(cloud, role_name, seconds):
    iam = cloud.client("iam")
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument="{}")
    # botocore refuses DurationSeconds under 900 before sending: the local cloud grants what it is asked
    sts = cloud.client("sts", config=Config(parameter_validation=False))
    return sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role_name}", RoleSessionName="session",
                           DurationSeconds=seconds)["Credentials"]


def test_assumed_role_credentials_need_their_token_and_stop_at_their_expiry(cloud):
    made = _assumed(cloud, "short-lived", 3)
    session = {"key": made["AccessKeyId"], "secret": made["SecretAccessKey"]}
    assert _client(cloud, "sts", token=made["SessionToken"], **session).get_caller_identity()["Arn"] == \
        f"arn:aws:sts::{ACCOUNT}:assumed-role/short-lived/session"
    assert _code(lambda: _client(cloud, "sts", **session).get_caller_identity()) == "InvalidClientTokenId"
    assert _code(lambda: _client(cloud, "sts", token="not-its-token", **session).get_caller_identity()) == \
        "InvalidClientTokenId"
    expires = made["Expiration"]
    time.sleep(max(0.0, (expires - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    for service, code in (("sts", "ExpiredToken"), ("stepfunctions", "ExpiredTokenException"), ("s3", "ExpiredToken")):
        client = _client(cloud, service, token=made["SessionToken"], **session)
        call = client.list_buckets if service == "s3" else \
            client.get_caller_identity if service == "sts" else client.list_state_machines
        assert _code(call) == code, service


def test_web_identity_sessions_need_their_secret_and_token_and_an_unsigned_request_for_one_is_refused(cloud):
    cloud.client("iam").create_role(RoleName="web-identity", AssumeRolePolicyDocument="{}")
    asked = {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/web-identity", "RoleSessionName": "web-session",
             "WebIdentityToken": "an-oidc-token", "DurationSeconds": 900}
    # botocore sends this call unsigned, as AWS takes it; moto checks neither the token nor the trust policy,
    # so the local cloud wants it signed, else any local process could have any role
    assert _code(lambda: _client(cloud, "sts").assume_role_with_web_identity(**asked)) == "MissingAuthenticationToken"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", **asked}).encode()
    answer = requests.post(cloud.endpoint + "/", data=body, timeout=30, headers={**form, **signed_headers(
        cloud.credentials, "POST", cloud.endpoint + "/", body, "sts", form)})
    assert answer.status_code == 200, answer.text
    made = {name: ElementTree.fromstring(answer.content).find(f".//{{*}}{name}").text
            for name in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    session = {"key": made["AccessKeyId"], "secret": made["SecretAccessKey"]}
    assert _client(cloud, "sts", token=made["SessionToken"], **session).get_caller_identity()["Arn"] == \
        f"arn:aws:sts::{ACCOUNT}:assumed-role/web-identity/web-session"
    assert _code(lambda: _client(cloud, "sts", **session).get_caller_identity()) == "InvalidClientTokenId"
    assert _code(lambda: _client(cloud, "sts", key=made["AccessKeyId"], secret="not-its-secret",
                                 token=made["SessionToken"]).get_caller_identity()) == "SignatureDoesNotMatch"


def test_keys_made_by_iam_work_until_deactivated_or_deleted(cloud):
    iam = cloud.client("iam")
    iam.create_user(UserName="key-owner")
    key = iam.create_access_key(UserName="key-owner")["AccessKey"]
    owner = {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    assert _client(cloud, "sts", **owner).get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/key-owner"
    assert _code(lambda: _client(cloud, "sts", key=key["AccessKeyId"], secret="x").get_caller_identity()) == \
        "SignatureDoesNotMatch"
    iam.update_access_key(UserName="key-owner", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert _code(lambda: _client(cloud, "sts", **owner).get_caller_identity()) == "InvalidClientTokenId"
    iam.update_access_key(UserName="key-owner", AccessKeyId=key["AccessKeyId"], Status="Active")
    assert _client(cloud, "sts", **owner).get_caller_identity()
    iam.delete_access_key(UserName="key-owner", AccessKeyId=key["AccessKeyId"])
    assert _code(lambda: _client(cloud, "sts", **owner).get_caller_identity()) == "InvalidClientTokenId"


def test_get_session_token_makes_a_session_of_the_caller_that_expires(cloud):
    iam = cloud.client("iam")
    iam.create_user(UserName="session-user")
    key = iam.create_access_key(UserName="session-user")["AccessKey"]
    user = _client(cloud, "sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"],
                   parameter_validation=False)
    made = user.get_session_token(DurationSeconds=3)["Credentials"]
    assert made["AccessKeyId"] != key["AccessKeyId"] and made["AccessKeyId"] != "AKIAIOSFODNN7EXAMPLE"
    session = _client(cloud, "sts", key=made["AccessKeyId"], secret=made["SecretAccessKey"],
                      token=made["SessionToken"])
    assert session.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/session-user"
    refused = _refused(lambda: session.get_session_token())
    assert refused["Error"]["Code"] == "AccessDenied"
    assert "Cannot call GetSessionToken with session credentials" in refused["Error"]["Message"]
    time.sleep(max(0.0, (made["Expiration"] - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    assert _code(lambda: session.get_caller_identity()) == "ExpiredToken"


def test_get_caller_identity_names_the_caller_the_signature_proves(cloud):
    assert cloud.client("sts").get_caller_identity() | {"ResponseMetadata": None} == {
        "UserId": ACCOUNT, "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:root", "ResponseMetadata": None}
    made = _assumed(cloud, "who-am-i", 900)
    identity = _client(cloud, "sts", key=made["AccessKeyId"], secret=made["SecretAccessKey"],
                       token=made["SessionToken"]).get_caller_identity()
    role_id = cloud.client("iam").get_role(RoleName="who-am-i")["Role"]["RoleId"]
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/who-am-i/session"
    assert identity["UserId"] == f"{role_id}:session"


def test_an_iam_write_signed_for_iam_in_upper_case_is_refused_as_aws_refuses_it(cloud):
    """An upper-case scope once wrote a policy that CloudTrail never saw; AWS refuses the scope outright."""
    body = f"Action=CreatePolicy&Version=2010-05-08&PolicyName=upper-case-scope&PolicyDocument={POLICY}".encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = requests.post(cloud.endpoint + "/", data=body, timeout=30, headers={
        **form, **signed_headers(cloud.credentials, "POST", cloud.endpoint + "/", body, "IAM", form)})
    assert answer.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in answer.text
    assert "Credential should be scoped to correct service: &#x27;iam&#x27;" in answer.text
    assert "upper-case-scope" not in _policies(cloud)


def test_an_unsigned_request_is_refused_and_says_how_to_sign(cloud):
    answer = requests.post(cloud.endpoint + "/", data=b"Action=ListUsers&Version=2010-05-08", timeout=30,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 403 and "<Code>MissingAuthenticationToken</Code>" in answer.text
    assert "workshop local env" in answer.text


def test_the_key_id_is_no_secret_a_signature_needs_the_secret(cloud):
    """Knowing the per-start key id (CloudTrail events carry it) signs nothing."""
    guessed = Credentials(cloud.endpoint, cloud.credentials.access_key_id, "a guessed secret")
    body = b"Action=CreateUser&Version=2010-05-08&UserName=by-key-id-alone"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = requests.post(cloud.endpoint + "/", data=body, timeout=30, headers={
        **form, **signed_headers(guessed, "POST", cloud.endpoint + "/", body, "iam", form)})
    assert answer.status_code == 403
    assert "by-key-id-alone" not in {u["UserName"] for u in cloud.client("iam").list_users()["Users"]}
