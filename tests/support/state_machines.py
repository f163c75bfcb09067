"""State machines in tests: create one under a fresh name, run it, wait for it by polling."""

import json
import time
import uuid

ROLE = "arn:aws:iam::123456789012:role/state-machine-role"


def create_role(iam) -> str:
    """Make ROLE, trusted by Step Functions and granted everything: the local cloud authorizes the engine's
    calls as that role's session, as AWS does, and the tests that use it are about the engine, not the grant."""
    name = ROLE.rsplit("/", 1)[-1]
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "states.amazonaws.com"}}]}))
    iam.put_role_policy(RoleName=name, PolicyName="everything", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    return ROLE


def create(sfn, definition: dict, prefix: str = "machine", **kwargs) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return sfn.create_state_machine(name=name, roleArn=ROLE, definition=json.dumps(definition),
                                    **kwargs)["stateMachineArn"]


def finished(sfn, execution_arn: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_arn} still running after {timeout} s")
        time.sleep(0.05)


def run(sfn, definition: dict, given=None, **kwargs) -> dict:
    """Create a machine for `definition`, run it with `given` as input, and return DescribeExecution's answer."""
    arn = create(sfn, definition, **kwargs)
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({} if given is None else given))
    return finished(sfn, started["executionArn"])


def history(sfn, execution_arn: str) -> list[dict]:
    return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
