"""Which runtimes run here: each Python with its own boto3, Node.js, and clear refusals for the rest."""

import base64
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from lambda_packages import zip_package
from moto import mock_aws

from workshop.localcloud.services.awslambda import runtimes, workers
from workshop.localcloud.services.cloudformation import stacks

PROBE = '''
import sys
def handler(event, context):
    import boto3, botocore
    found = {}
    for name in ("requests", "yaml", "moto", "workshop", "jupyterlab"):
        try:
            __import__(name)
            found[name] = True
        except ImportError:
            found[name] = False
    return {"python": "%d.%d" % sys.version_info[:2], "boto3": boto3.__version__,
            "botocore": botocore.__version__, "boto3_file": boto3.__file__, "kit_packages": found}
'''


def _pins(version: str) -> dict:
    lines = (runtimes.library_root() + f"/python/requirements-{version}.txt")
    with open(lines) as text:
        return dict(line.strip().split("==") for line in text if "==" in line)


@pytest.fixture
def lam():
    with mock_aws():
        workers.install("http://127.0.0.1:9")
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")

        def create(name, runtime, files=None, handler="app.handler", **extra):
            return client.create_function(FunctionName=name, Runtime=runtime, Role=role, Handler=handler,
                                          Code={"ZipFile": zip_package(files or {"app.py": PROBE})},
                                          Timeout=10, **extra)

        client.create = create
        yield client


def _invoke(client, name):
    response = client.invoke(FunctionName=name, Payload=b"{}")
    return response, json.loads(response["Payload"].read())


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_a_python_function_gets_its_own_interpreter_and_lambdas_boto3_for_it(lam, version):
    """python3.9 cannot use the kit's boto3 (it needs 3.10+): it gets the one built for 3.9."""
    if runtimes.find_python(version) is None:
        pytest.fail(f"python{version} is not installed: this test needs it (pyenv install {version})")
    lam.create(f"probe{version.replace('.', '')}", f"python{version}")
    response, result = _invoke(lam, f"probe{version.replace('.', '')}")
    assert "FunctionError" not in response, result
    assert result["python"] == version
    pins = _pins(version)
    assert result["boto3"] == pins["boto3"] and result["botocore"] == pins["botocore"]
    assert f"/python/{version}/boto3/" in result["boto3_file"]
    assert not any(result["kit_packages"].values()), result["kit_packages"]


def test_without_built_libraries_the_kits_boto3_serves_the_versions_it_supports(lam, monkeypatch, tmp_path):
    """A kit installed with pip (no `make lambda-runtimes`): its own boto3, linked, for 3.10+ only."""
    monkeypatch.setenv("LOCALCLOUD_LAMBDA_LIBRARIES", str(tmp_path))
    lam.create("linked", "python3.11")
    response, result = _invoke(lam, "linked")
    assert "FunctionError" not in response, result
    assert result["boto3"] == boto3.__version__ and not any(result["kit_packages"].values())
    with pytest.raises(ClientError, match=r"boto3 for Python 3\.9 .*make lambda-runtimes"):
        lam.create("old", "python3.9")


@pytest.mark.parametrize("runtime, words", [
    ("java21", ["runtime java21 is not run by the local cloud", "nothing you can install adds Java",
                "workshop deploy --target aws"]),
    ("dotnet8", ["runtime dotnet8", ".NET"]),
    ("ruby3.3", ["runtime ruby3.3", "Ruby"]),
    ("provided.al2023", ["runtime provided.al2023", "custom runtimes"]),
    ("go1.x", ["The runtime parameter of go1.x is no longer supported for creating or updating AWS Lambda "
               "functions"]),
    ("nodejs14.x", ["The runtime parameter of nodejs14.x is no longer supported", "nodejs22.x"]),
    ("python3.8", ["The runtime parameter of python3.8 is no longer supported"]),
])
def test_a_runtime_the_local_cloud_cannot_run_is_refused_at_create_function(lam, runtime, words):
    with pytest.raises(ClientError) as refused:
        lam.create("nope", runtime)
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    for word in words:
        assert word in error["Message"]
    assert "python3.13" in error["Message"]  # and it says what does run here
    with pytest.raises(ClientError):
        lam.get_function(FunctionName="nope")


def test_a_python_that_is_not_installed_is_refused_naming_what_to_install_when_strict(lam, monkeypatch):
    real = runtimes.find_python
    monkeypatch.setattr(runtimes, "find_python", lambda version: None if version == "3.12" else real(version))
    monkeypatch.setenv("LOCALCLOUD_STRICT_RUNTIMES", "1")
    with pytest.raises(ClientError, match=r"runtime python3\.12: Python 3\.12 is not installed on this machine.*"
                                          r"pyenv install 3\.12"):
        lam.create("py312", "python3.12")


def test_a_python_that_is_not_installed_runs_on_the_local_clouds_own_and_says_so(lam, monkeypatch):
    """Binder and many laptops have no python3.13: the workshop's functions must still run there."""
    import sys

    own = "%d.%d" % sys.version_info[:2]
    real = runtimes.find_python
    monkeypatch.setattr(runtimes, "find_python", lambda version: None if version == "3.12" else real(version))
    launch = runtimes.launch_for("python3.12")
    assert launch.executable == real(own)
    assert "Python 3.12 is not installed here" in launch.note and f"Python {own}" in launch.note
    lam.create("py312", "python3.12")
    response = lam.invoke(FunctionName="py312", Payload=b"{}", LogType="Tail")
    ran = json.loads(response["Payload"].read())
    assert "FunctionError" not in response and ran["python"] == own and ran["boto3"]
    logs = base64.b64decode(response["LogResult"]).decode()
    assert "Python 3.12 is not installed here" in logs


def test_without_node_a_nodejs_function_is_refused_naming_what_to_install(lam, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ClientError, match=r"runtime nodejs22\.x: Node\.js 18 or later is not installed.*"
                                          r"apt-get install nodejs"):
        lam.create("node", "nodejs22.x", {"index.js": "exports.handler = async () => 1;"}, handler="index.handler")


def test_changing_to_an_unsupported_runtime_is_refused_and_the_function_keeps_its_own(lam):
    lam.create("keep", "python3.13")
    with pytest.raises(ClientError, match="runtime java17"):
        lam.update_function_configuration(FunctionName="keep", Runtime="java17")
    assert lam.get_function(FunctionName="keep")["Configuration"]["Runtime"] == "python3.13"
    assert _invoke(lam, "keep")[1]["python"] == "3.13"


def test_a_container_image_function_is_refused():
    with pytest.raises(runtimes.UnsupportedRuntime, match="PackageType: Image"):
        runtimes.check(None, "Image")


def test_a_function_whose_runtime_vanished_after_create_answers_invalid_runtime(lam, monkeypatch):
    lam.create("gone", "nodejs20.x", {"index.js": "exports.handler = async () => 1;"}, handler="index.handler")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName="gone", Payload=b"{}")
    assert refused.value.response["Error"]["Code"] == "InvalidRuntimeException"
    assert "Node.js 18 or later is not installed" in refused.value.response["Error"]["Message"]


def test_a_stack_with_an_unsupported_function_fails_on_that_function_with_the_reason():
    template = {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
        "Fine": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.13", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": "def handler(e, c):\n    return 1\n"}}},
        "Legacy": {"Type": "AWS::Lambda::Function", "DependsOn": "Fine", "Properties": {
            "Runtime": "java11", "Handler": "Handler::handleRequest", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": "irrelevant"}}}}}
    with mock_aws():
        workers.install("http://127.0.0.1:9")
        stacks.install("http://127.0.0.1:4566")
        client = boto3.client("cloudformation", region_name="us-east-1")
        client.create_change_set(StackName="s", ChangeSetName="c", TemplateBody=json.dumps(template),
                                 ChangeSetType="CREATE", Capabilities=["CAPABILITY_IAM"])
        client.execute_change_set(ChangeSetName="c", StackName="s")
        assert client.describe_stacks(StackName="s")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
        failed = [e for e in client.describe_stack_events(StackName="s")["StackEvents"]
                  if e["ResourceStatus"] == "CREATE_FAILED"]
        assert [e["LogicalResourceId"] for e in failed] == ["Legacy"]
        assert "runtime java11 is not run by the local cloud" in failed[0]["ResourceStatusReason"]
