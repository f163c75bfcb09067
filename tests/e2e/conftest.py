"""Fixtures for end-to-end tests against a real local cloud process.

Session-scoped, shared by every e2e test (notebook runs included):

* `local_cloud` -> str: the endpoint (http://127.0.0.1:PORT) of a local cloud
  process started on a free port for the session and stopped after it
  (Lambda workers included).
* `sam_build` -> Path: the built template (`sam build` runs once per session,
  into a temporary build dir).
* `deployed_stack` -> dict: the stack outputs (ApiUrl, ApproveUrl, DenyUrl,
  AlertTopicArn, StateMachineArn, StateMachineName) of the real `sam deploy`
  (through `workshop.deploy`) to `local_cloud`, default parameters
  (EmailAddress learner@example.com), stack name `e2e-orchestrator`.
* `timeout_stack` -> dict: outputs of a second stack with
  ApprovalTimeoutSeconds=3, in a local cloud process of its own (so its rule
  does not react to the main stack's policies); its endpoint is `["endpoint"]`.

While a test uses `local_cloud` (directly or through `deployed_stack`),
AWS_ENDPOINT_URL points at it and the region / dummy credentials are set, so
plain `boto3.client("iam")` talks to the local cloud. Nothing is set for
tests that do not ask for it (unit tests never see these variables).
"""

# The fixtures live in tests/support/cloud_fixtures.py (loaded for every test by
# tests/conftest.py) so that tests/browser shares the same session local cloud
# and stack; these names stay importable from here as before.
from cloud_fixtures import EMAIL, MAIN_STACK, TIMEOUT_STACK, local_env  # noqa: F401,E402
