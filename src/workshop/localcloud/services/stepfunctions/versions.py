"""Step Functions versions: an execution started on a version ARN runs that version (`sfn-version-executions`).

A mend of moto's engine, registered in seams.py (group "stepfunctions");
the issue text is in docs/upstream.md. What AWS documents
(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-state-machine-version.html,
https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html):

* `StartExecution` on a version ARN (`arn:...:stateMachine:NAME:3`) runs that
  version's definition, whatever the state machine holds now. moto's engine
  failed (500: a version has no `_handle_name_input_idempotency`).
* Its execution belongs to the state machine: `DescribeExecution`,
  `GetExecutionHistory` and `ListExecutions` on the unqualified ARN find it,
  and `DescribeExecution` names the version in `stateMachineVersionArn`.
  (`ListExecutions` on the version ARN, which AWS answers with the version's
  executions, still lists none here.)
* `DescribeStateMachineForExecution` answers the definition and role the
  execution ran with (moto answered what the state machine holds now).
* `DeleteStateMachineVersion` deletes a version (moto did not implement it);
  executions already started on it go on.
"""

from __future__ import annotations

import threading

_starting = threading.Lock()


def _version_and_source(backend, arn: str):
    """(version, its state machine) when `arn` names a published version, else (None, None)."""
    from moto.stepfunctions.models import StateMachineVersion

    try:
        found = backend.describe_state_machine(arn)
    except Exception:  # not found: moto answers for it itself
        return None, None
    if not isinstance(found, StateMachineVersion):
        return None, None
    return found, backend.describe_state_machine(found.source_arn)


def _execution(backend, execution_arn: str):
    for machine in backend.state_machines:
        for execution in machine.executions:
            if execution.execution_arn == execution_arn:
                return execution
    return None


def _snapshot(execution):
    """The state machine as it was when `execution` started (moto's engine keeps that copy), or None."""
    return getattr(execution, "state_machine", None)


def install_version_executions() -> list:
    """Executions on version ARNs (start, describe, list), the definition an execution ran, version deletion.

    Patch points: `StepFunctionsParserBackend.start_execution`; `StepFunctionResponse.describe_execution`,
    `describe_state_machine_for_execution`; added: `StateMachineVersion._handle_name_input_idempotency`,
    `StepFunctionResponse.delete_state_machine_version`. Returns what it added to moto.
    """
    from moto.stepfunctions.models import StateMachineVersion
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    added = []
    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        version, source = _version_and_source(self, state_machine_arn)
        if version is None:
            return original_start(self, state_machine_arn, name, execution_input, trace_header)
        with _starting:
            existing = source._handle_name_input_idempotency(name, execution_input)
            if existing is not None:
                return existing
            # moto's engine copies the machine it starts and shares its backend: a version has none
            version.backend = self
            try:
                execution = original_start(self, state_machine_arn, name, execution_input, trace_header)
            finally:
                del version.backend
            # Kept in the state machine's list only: the engine's copy of a state machine leaves out its
            # own executions (running ones hold locks) but would copy those of its versions.
            version.executions[:] = [e for e in version.executions if e is not execution]
            source.executions.append(execution)
            return execution

    start_execution.__wrapped__ = original_start
    StepFunctionsParserBackend.start_execution = start_execution

    if "_handle_name_input_idempotency" not in StateMachineVersion.__dict__:
        def no_duplicate(self, name, execution_input):
            return None  # start_execution asked the state machine, which holds every execution of its versions

        StateMachineVersion._handle_name_input_idempotency = no_duplicate
        added.append((StateMachineVersion, "_handle_name_input_idempotency"))

    original_describe = StepFunctionResponse.describe_execution

    def describe_execution(self):
        result = original_describe(self)
        snapshot = _snapshot(_execution(self.stepfunction_backend, self._get_param("executionArn")))
        if isinstance(snapshot, StateMachineVersion):
            result.result["stateMachineArn"] = snapshot.source_arn
            result.result["stateMachineVersionArn"] = snapshot.arn
        return result

    StepFunctionResponse.describe_execution = describe_execution

    original_for_execution = StepFunctionResponse.describe_state_machine_for_execution

    def describe_state_machine_for_execution(self):
        result = original_for_execution(self)
        snapshot = _snapshot(_execution(self.stepfunction_backend, self._get_param("executionArn")))
        if snapshot is not None:
            result.result["definition"] = snapshot.definition
            result.result["roleArn"] = snapshot.roleArn
            result.result["stateMachineArn"] = getattr(snapshot, "source_arn", snapshot.arn)
        return result

    StepFunctionResponse.describe_state_machine_for_execution = describe_state_machine_for_execution

    if "delete_state_machine_version" not in StepFunctionResponse.__dict__:
        def delete_state_machine_version(self):
            from moto.core.responses import EmptyResult

            arn = self._get_param("stateMachineVersionArn")
            version, source = _version_and_source(self.stepfunction_backend, arn)
            if version is not None:
                source.versions.pop(version.version, None)
                if source.latest_version is version:
                    source.latest_version = None
            return EmptyResult()

        StepFunctionResponse.delete_state_machine_version = delete_state_machine_version
        added.append((StepFunctionResponse, "delete_state_machine_version"))
    return added
