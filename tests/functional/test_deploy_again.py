"""Deploying an unchanged stack again changes nothing, and `sam deploy` says so, as it does against AWS."""

from __future__ import annotations

import io

import pytest
from cloud_fixtures import EMAIL, MAIN_STACK

pytestmark = pytest.mark.e2e


def test_a_second_deploy_of_the_same_stack_says_no_changes_to_deploy(local_cloud, deployed_stack, sam_build):
    from workshop.aws import deploy as deploy_module
    from workshop.aws.session import connect

    cfn = connect("local", local_cloud).client("cloudformation")

    def deploy(log):
        return deploy_module.deploy(target="local", endpoint=local_cloud, stack_name=MAIN_STACK,
                                    parameters={"EmailAddress": EMAIL}, build_dir=sam_build.parent, skip_build=True,
                                    stream=log)

    deploy(io.StringIO())  # the session's stack as this test deploys it, whatever the tests before it changed
    before = cfn.describe_stacks(StackName=MAIN_STACK)["Stacks"][0]
    log = io.StringIO()
    outputs = deploy(log)
    assert f"No changes to deploy. Stack {MAIN_STACK} is up to date" in log.getvalue(), log.getvalue()[-2000:]
    assert outputs == deployed_stack
    after = cfn.describe_stacks(StackName=MAIN_STACK)["Stacks"][0]
    assert after["StackStatus"] == before["StackStatus"]  # no update ran
    assert after.get("LastUpdatedTime") == before.get("LastUpdatedTime")
