"""CloudFormation stacks in tests: create one from a template and wait for it by polling."""

import json
import time
import uuid


def deploy(cloudformation, template: dict, prefix: str = "stack", **kwargs) -> dict:
    """Create a stack of `template`; its description once it is complete ({"Outputs": {key: value}, ...})."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template),
                                Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"], **kwargs)
    deadline = time.monotonic() + 60
    while True:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"stack {name} still {stack['StackStatus']} after 60 s")
        time.sleep(0.05)
    assert stack["StackStatus"] == "CREATE_COMPLETE", (stack["StackStatus"], stack.get("StackStatusReason"))
    stack["Outputs"] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return stack
