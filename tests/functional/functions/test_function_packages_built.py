"""What each function's package holds once packaged: the shared contract (and ValidatePolicy's IAM
engine) as real copies, byte for byte the sources, in both ways the kit deploys.

* `sam build` (the session's build, `sam_build`): each function's build folder.
* Without `sam build` (`workshop deploy --no-build`, and the automatic path when python3.13 is
  missing, as on Binder): `sam deploy` zips each source folder itself. `sam package` is the part
  of `sam deploy` that does it; it uploads to the local cloud's S3, and the test reads the zips back.

Then a link AskUser signs in one package is checked by ReceiveDecision in the other, each loaded
from its package as Lambda loads it.
"""

from __future__ import annotations

import io
import subprocess  # nosec B404: runs the real sam CLI as an argument list
import zipfile
from pathlib import Path

import pytest
from cfn_template import load_template
from cloud_fixtures import local_client
from function_packages import FOLDERS, FUNCTIONS, ROOT, carried, copy_differences, import_problems
from incident_steps import link_fields
from lambda_loader import load_function

from workshop.aws import deploy as deploy_module
from workshop.aws.session import local_environment

pytestmark = pytest.mark.e2e
BUCKET = "e2e-function-packages"
SECRET = b"k" * 64
INCIDENT = "0123456789abcdef0123456789abcdef"
EXPIRES = 1_900_000_000


@pytest.fixture(scope="session")
def built_packages(sam_build) -> dict[str, Path]:
    """{logical id: the function's folder in the session's `sam build`}."""
    return {logical_id: sam_build.parent / logical_id for logical_id in FOLDERS}


@pytest.fixture(scope="session")
def uploaded_packages(local_cloud, tmp_path_factory) -> dict[str, Path]:
    """{logical id: the zip `sam deploy` uploads for the source folder, unzipped}."""
    folder = tmp_path_factory.mktemp("uploaded-packages")
    local_client(local_cloud, "s3").create_bucket(Bucket=BUCKET)
    packaged = folder / "packaged.yaml"
    done = subprocess.run(  # nosec B603: the kit's own sam, fixed arguments
        deploy_module.sam_command("package", "--template-file", str(ROOT / "template.yaml"), "--s3-bucket", BUCKET,
                                  "--output-template-file", str(packaged), "--region", deploy_module.REGION),
        cwd=ROOT, env={**local_environment(local_cloud), "SAM_CLI_TELEMETRY": "0"},
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    s3 = local_client(local_cloud, "s3")
    unzipped = {}
    for logical_id in FOLDERS:
        uri = load_template(packaged)["Resources"][logical_id]["Properties"]["CodeUri"]
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        unzipped[logical_id] = folder / logical_id
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            archive.extractall(unzipped[logical_id])
    return unzipped


@pytest.fixture(params=["sam build", "sam deploy of the source folders"])
def packages(request) -> dict[str, Path]:
    fixture = "built_packages" if request.param == "sam build" else "uploaded_packages"
    return request.getfixturevalue(fixture)


def test_each_package_holds_copies_of_what_it_carries_byte_for_byte(packages):
    problems = []
    for logical_id, folder in FOLDERS.items():
        package = packages[logical_id]
        if (package / "app.py").read_bytes() != (FUNCTIONS / folder / "app.py").read_bytes():
            problems.append(f"{logical_id}/app.py differs from its source")
        for name, source in carried(folder).items():
            problems += [f"{logical_id}: {problem}" for problem in copy_differences(package / name, source)]
        problems += import_problems(package, folder)
    assert not problems, "\n".join(problems)


def test_a_link_one_package_signs_is_one_the_other_accepts(built_packages, uploaded_packages):
    for signing, checking in ((built_packages, uploaded_packages), (uploaded_packages, built_packages)):
        ask_user = load_function("ask_user", signing["AskUser"])
        receive_decision = load_function("receive_decision", checking["ReceiveDecision"])
        assert Path(receive_decision.is_signed.__code__.co_filename).parent == checking["ReceiveDecision"] / "_shared"
        for decision, link in ask_user.decision_links("https://x/Prod", SECRET, INCIDENT, EXPIRES).items():
            fields = link_fields(link)
            assert receive_decision.check_link(fields, decision, SECRET) == (INCIDENT, EXPIRES)
            with pytest.raises(receive_decision.BadRequest):
                receive_decision.check_link({**fields, "expires": str(EXPIRES + 1)}, decision, SECRET)
