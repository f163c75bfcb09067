"""workshop.aws.deploy: the failures a learner hits say what to do."""

import pytest

from workshop.aws import deploy
from workshop.localcloud.server import credentials


def test_a_missing_sam_is_explained(monkeypatch, tmp_path):
    monkeypatch.setattr(deploy.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(deploy.shutil, "which", lambda name: None)
    from workshop.aws import sam_cli

    monkeypatch.setattr(sam_cli.importlib.util, "find_spec", lambda name: None)  # no samcli in this Python either
    with pytest.raises(deploy.DeployError, match="`sam` command"):
        deploy.sam_command("build")


def test_aws_outside_us_east_1_is_a_note_not_a_stop():
    note = deploy.region_warning("eu-west-1")
    assert "eu-west-1" in note and "us-east-1" in note and "nothing to change" in note
    assert deploy.region_warning("us-east-1") is None


@pytest.mark.parametrize("address", ["learner@example.com", "a@EXAMPLE.org", "x@sub.example.net", "me@host.test",
                                     "me@invalid", "me@box.localhost", "me@my.example", "", "not-an-address"])
def test_addresses_that_receive_no_mail_are_placeholders(address):
    assert deploy.is_placeholder_address(address)


@pytest.mark.parametrize("address", ["me@security-orchestrator.dev", "a.b@mail.examples.com", "x@testing.org"])
def test_real_looking_addresses_are_not_placeholders(address):
    assert not deploy.is_placeholder_address(address)


def test_the_local_environment_points_sam_at_the_endpoint(tmp_path, monkeypatch):
    from workshop.aws.session import connect

    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path))
    key = credentials.new("http://127.0.0.1:4566")
    credentials.write(key)
    env = connect("local", "http://127.0.0.1:4566").sam_environment(base={"AWS_PROFILE": "work", "PATH": "/bin"})
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == key.access_key_id and env["AWS_SECRET_ACCESS_KEY"] == key.secret_access_key
    assert "AWS_PROFILE" not in env and env["PATH"] == "/bin"


def test_the_aws_environment_keeps_the_profile_and_drops_every_endpoint_url(monkeypatch):
    from workshop.aws.session import AWS_TEST_ENDPOINT, connect

    monkeypatch.delenv(AWS_TEST_ENDPOINT, raising=False)
    env = connect("aws").sam_environment(base={
        "AWS_PROFILE": "work", "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_ENDPOINT_URL_CLOUDFORMATION": "http://127.0.0.1:4566", "PATH": "/bin"})
    assert env["AWS_PROFILE"] == "work" and env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert not [name for name in env if name.startswith("AWS_ENDPOINT_URL")]
    assert env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] == "true"


class _Iam:
    """GetRole answering as IAM does for a role that exists, does not, or may not be read."""

    def __init__(self, answer):
        self.answer, self.asked = answer, []

    def client(self, service):
        assert service == "iam"
        return self

    def get_role(self, RoleName):
        from botocore.exceptions import ClientError

        self.asked.append(RoleName)
        if isinstance(self.answer, str) and not self.answer.startswith("arn:"):
            raise ClientError({"Error": {"Code": self.answer, "Message": self.answer}}, "GetRole")
        return {"Role": {"Arn": self.answer}}


def test_the_deployer_role_is_found_by_the_stacks_name_or_deploys_as_the_caller():
    found = _Iam("arn:aws:iam::123456789012:role/security-orchestrator-deployer")
    assert deploy.deployer_role(found, "security-orchestrator") == found.answer
    assert found.asked == ["security-orchestrator-deployer"]
    for code in ("NoSuchEntity", "AccessDenied"):
        assert deploy.deployer_role(_Iam(code), "security-orchestrator") is None
    with pytest.raises(deploy.DeployError, match="deployer role security-orchestrator-deployer"):
        deploy.deployer_role(_Iam("Throttling"), "security-orchestrator")


def test_a_deploy_role_given_wins_and_must_be_a_role_arn():
    asked = _Iam("NoSuchEntity")
    given = "arn:aws:iam::123456789012:role/ci/Deployer"
    assert deploy.deployer_role(asked, "security-orchestrator", given) == given and not asked.asked
    with pytest.raises(deploy.DeployError, match="'security-orchestrator-deployer' is not an IAM role ARN"):
        deploy.deployer_role(asked, "security-orchestrator", "security-orchestrator-deployer")


def test_the_kit_starts_the_installed_sam_cli_without_the_iri_checker_and_shows_it_as_sam():
    from workshop.aws import sam_cli

    command = deploy.sam_command("deploy", "--stack-name", "x")
    assert command[:3] == [deploy.sys.executable, "-c", sam_cli.ENTRY] and command[3:] == ["deploy", "--stack-name", "x"]
    assert deploy.shown_command(command) == "sam deploy --stack-name x"
    assert deploy.shown_command(["/opt/bin/sam", "build"]) == "sam build"


def test_a_sam_from_elsewhere_runs_as_it_is_when_samcli_is_not_importable(monkeypatch):
    from workshop.aws import sam_cli

    monkeypatch.setattr(sam_cli.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(deploy, "find_tool", lambda name: "/opt/bin/sam")
    assert deploy.sam_command("build") == ["/opt/bin/sam", "build"]
    monkeypatch.setattr(deploy, "find_tool", lambda name: None)
    with pytest.raises(deploy.DeployError, match="`sam` command"):
        deploy.sam_command("build")


def test_sam_looks_at_a_local_stack_every_half_second_unless_the_learner_set_it():
    from types import SimpleNamespace

    from workshop.aws.session import LOCAL_SAM_POLL_DELAY, local_environment

    key = SimpleNamespace(environment=dict)
    assert local_environment("http://127.0.0.1:4566", base={}, credentials=key)["SAM_CLI_POLL_DELAY"] == "0.5"
    assert LOCAL_SAM_POLL_DELAY < 5  # sam's own default, spaced for AWS's API limits
    mine = local_environment("http://127.0.0.1:4566", base={"SAM_CLI_POLL_DELAY": "2"}, credentials=key)
    assert mine["SAM_CLI_POLL_DELAY"] == "2"
