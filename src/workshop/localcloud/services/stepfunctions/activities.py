"""Step Functions activities: tasks an outside worker polls for, as AWS documents them (concepts-activities.html).

moto keeps activities (CreateActivity, DescribeActivity, ...) but its engine
ran every execution with an empty activity store, so an activity task
failed with "The activity activity_arn does not exist", and moto serves no
GetActivityTask. Here:

* `sfn-activity-tasks` - each execution sees the account's activities, each
  with one shared queue of scheduled tasks (`store_for`). Patch point:
  `Execution.__init__` (the store it is given).
* GetActivityTask (routed here by the server, services/stepfunctions/api.py)
  long-polls an activity's queue for up to 60 s and answers `{taskToken,
  input}` (or no token), marking the task started with the worker's name;
  the worker then answers with SendTaskSuccess / SendTaskFailure /
  SendTaskHeartbeat as for any task token.
* `AWS::StepFunctions::Activity` is a CloudFormation resource
  (cloudformation/models.py).
"""

from __future__ import annotations

import threading
import time

POLL_SECONDS = 60  # GetActivityTask's long poll, as AWS
_stores: dict[tuple[str, str], dict] = {}
_lock = threading.Lock()


def store_for(account_id: str, region: str) -> dict:
    """{activity ARN: the engine's Activity (with its task queue)} for the account's activities, kept in step
    with CreateActivity / DeleteActivity."""
    from moto.stepfunctions.parser.backend.activity import Activity
    from moto.stepfunctions.responses import get_backend

    backend = get_backend(account_id, region)
    with _lock:
        store = _stores.setdefault((account_id, region), {})
        for arn, activity in backend.activities.items():
            if arn not in store:
                store[arn] = Activity(arn=arn, name=activity.name)
        for arn in [arn for arn in store if arn not in backend.activities]:
            del store[arn]
        return store


def seam():
    from moto.stepfunctions.parser.backend.execution import Execution

    return Execution, "__init__"


def install_activity_tasks() -> None:
    cls, name = seam()
    original = cls.__dict__[name]
    if getattr(original, "_localcloud_activities", False):
        return

    def __init__(self, *args, **kwargs):
        account_id = kwargs.get("account_id")
        region = kwargs.get("region_name")
        if account_id and region and not kwargs.get("activity_store"):
            kwargs["activity_store"] = store_for(account_id, region)
        original(self, *args, **kwargs)

    __init__._localcloud_activities = True
    __init__._localcloud = getattr(original, "_localcloud", False)
    __init__.__wrapped__ = original
    setattr(cls, name, __init__)


def _endpoint(backend, token: str):
    for execution in backend._get_executions():
        try:
            found = execution.exec_worker.env.callback_pool_manager.get(token)
        except AttributeError:
            continue
        if found is not None:
            return found
    return None


def get_activity_task(request: dict, account_id: str, region: str, wait: float = POLL_SECONDS) -> tuple[int, dict]:
    """GetActivityTask: the next scheduled task of the activity, or no token after the long poll."""
    from moto.stepfunctions.responses import get_backend

    arn = request.get("activityArn")
    backend = get_backend(account_id, region)
    if not isinstance(arn, str) or arn not in backend.activities:
        return 400, {"__type": "ActivityDoesNotExist", "message": f"Activity Does Not Exist: '{arn}'"}
    deadline = time.monotonic() + wait
    while True:
        store = store_for(account_id, region)
        activity = store.get(arn)
        task = None
        with _lock:
            if activity is not None and activity._tasks:
                task = activity.get_task()
        if task is not None:
            endpoint = _endpoint(backend, task.task_token)
            if endpoint is not None and endpoint.get_outcome() is None:
                endpoint.notify_activity_task_start(worker_name=request.get("workerName"))
                return 200, {"taskToken": task.task_token, "input": task.task_input}
            continue  # its execution is gone: the next one
        if time.monotonic() >= deadline:
            return 200, {}
        time.sleep(0.02)
