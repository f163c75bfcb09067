"""Runtime libraries compiled once per worker interpreter, read-only to functions."""

import io
import json
import os
import zipfile

import boto3
import pytest
from moto import mock_aws

from workshop.localcloud import lambda_bytecode, lambda_runtime, sandbox


def test_the_cache_holds_boto3_compiled_for_that_interpreter(tmp_path):
    library_dir, _ = lambda_runtime.runtime_libraries(str(tmp_path / "libs"))
    interpreter = lambda_runtime._interpreter_for("python3.13")
    prefix = lambda_bytecode.prefix_for(interpreter, library_dir, str(tmp_path))
    assert prefix is not None
    assert lambda_bytecode.prefix_for(interpreter, library_dir, str(tmp_path)) == prefix  # made once
    import subprocess

    tag = subprocess.run([interpreter, "-I", "-S", "-c", "import sys; print(sys.implementation.cache_tag)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    compiled = [name for _, _, names in os.walk(prefix) for name in names]
    assert any(name == f"__init__.{tag}.pyc" for name in compiled)
    # keyed by the path the worker imports from (the library folder), so the worker finds them
    assert os.path.isdir(prefix + os.path.join(library_dir, "botocore"))


def test_a_failing_warm_up_leaves_workers_as_before(tmp_path):
    assert lambda_bytecode.prefix_for("/bin/false", str(tmp_path), str(tmp_path)) is None


WRITER = '''
import os, sys

def handler(event, context):
    prefix = sys.pycache_prefix
    target = os.path.join(prefix, "planted.pyc") if prefix else None
    try:
        with open(target, "wb") as planted:
            planted.write(b"not bytecode")
        wrote = True
    except OSError:
        wrote = False
    seen = sum(len(names) for _, _, names in os.walk(prefix)) if prefix else 0
    return {"prefix": prefix, "wrote": wrote, "dont_write": sys.dont_write_bytecode, "seen": seen}
'''


@pytest.mark.skipif(sandbox.bwrap() is None, reason="needs bubblewrap: without a sandbox the worker runs as the server")
def test_a_function_cannot_plant_bytecode_for_other_functions():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", WRITER)
    with mock_aws():
        runtime = lambda_runtime.install("http://127.0.0.1:9")
        try:
            role = boto3.client("iam", region_name="us-east-1").create_role(
                RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            client = boto3.client("lambda", region_name="us-east-1")
            client.create_function(FunctionName="writer", Runtime="python3.13", Role=role, Handler="app.handler",
                                   Code={"ZipFile": buffer.getvalue()})
            result = json.loads(client.invoke(FunctionName="writer", Payload=b"{}")["Payload"].read())
        finally:
            runtime.shutdown()
    assert result["prefix"], "the worker runs with the shared bytecode cache"
    assert result["seen"] > 100, "and sees it (boto3 and botocore compiled)"
    assert result["wrote"] is False and result["dont_write"] is True
