"""Distributed Map in the local cloud: the forms AWS's own samples use, run by moto's engine.

Fixes of moto bugs, registered in seams.py (`sfn-map-item-batcher`,
`sfn-map-tolerated-failures`, `sfn-map-s3-listing`, `sfn-map-result-writer`).
moto's engine runs a Distributed Map's items in threads of the parent
execution (no child executions are listed) and reads ItemReader JSON and CSV
objects from S3. What it lacked, mended here:

* `ItemBatcher` (MaxItemsPerBatch[Path], MaxInputBytesPerBatch[Path],
  BatchInput) and `ProcessorConfig.ExecutionType: EXPRESS` were refused by
  its grammar at CreateStateMachine. `prepare(definition)` takes them out of
  the text the grammar sees (EXPRESS children run as the STANDARD ones do:
  in-process either way) and hands the batcher to the Map state's processor
  after parsing; a batcher the local cloud cannot run (JSONata or intrinsic
  functions in it, any other field, no limit) is refused with
  InvalidDefinition naming the field. Each child then gets
  {"Items": [...], "BatchInput": ...}: items selected by ItemSelector first,
  then batched, as AWS does. A whole ToleratedFailurePercentage (30) is
  given to the grammar as 30.0 (it refused integers). Patch point:
  `AmazonStateLanguageParser.parse`.
* A child ran with its parent's context object, so `$$.Execution.Input`
  (and Id, Name, StartTime) were the parent's: on AWS each child is an
  execution of its own whose input is its item. Now each child's context is
  its own (patch point: `_eval_job`, below).
* A child that failed was counted and ignored: the Map succeeded with a null
  in its output. Now failures beyond ToleratedFailureCount /
  ToleratedFailurePercentage (0 by default) fail the Map Run and the state
  with `States.ExceedToleratedFailureThreshold`, as on AWS. Patch points:
  `DistributedIterationComponent._map_run`,
  `DistributedItemProcessorWorker._eval_job` (records each child's outcome).
* ItemReader `s3:listObjectsV2` read one page only (1000 objects), failed on
  an empty bucket and handed out boto3's datetime objects; now every page,
  each object as AWS gives it: {Etag, Key, LastModified (epoch seconds),
  Size, StorageClass}. Patch point: the reader's `_handle_list_objects_v2`.
* ResultWriter `s3:putObject` wrote a manifest that listed no results; now it
  writes SUCCEEDED_0.json / FAILED_0.json beside the manifest (one entry per
  child: Input, Output or Error/Cause, Status, dates), as AWS does. Patch
  point: the writer's `_handle_put_object`.
"""

from __future__ import annotations

import copy
import json
import threading
from datetime import datetime, timezone

BATCHER = "_localcloud_item_batcher"
TOLERANCES = "_localcloud_tolerances"  # which thresholds the state names (moto fills in 0 for both)
OUTCOMES = "_localcloud_outcomes"
_BATCHER_FIELDS = ("MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch",
                   "MaxInputBytesPerBatchPath", "BatchInput")
MAX_BATCH_BYTES = 256 * 1024


# --- the definition: what the grammar does not know ---------------------------------------


def _refused(location: str, problem: str):
    from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException

    class Refused(ASLParserException):
        def __repr__(self):  # what InvalidDefinition says (moto puts repr(exception) there)
            return f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: {problem} at {location}'"

    return Refused([f"{location}: {problem}"])


def _is_jsonata(value) -> bool:
    return isinstance(value, str) and value.strip().startswith("{%")


def _check_batcher(batcher, location: str, distributed: bool) -> dict:
    if not distributed:
        raise _refused(location, "ItemBatcher is only allowed in a Map whose ItemProcessor.ProcessorConfig.Mode "
                                 "is DISTRIBUTED")
    if not isinstance(batcher, dict):
        raise _refused(location, "ItemBatcher must be a JSON object")
    for field, value in batcher.items():
        where = f"{location}/{field}"
        if field not in _BATCHER_FIELDS:
            raise _refused(where, f"the field '{field}' is not supported (ItemBatcher takes "
                                  + ", ".join(_BATCHER_FIELDS) + ")")
        if _is_jsonata(value) or (field == "BatchInput" and "{%" in json.dumps(value)):
            raise _refused(where, "JSONata expressions in ItemBatcher are not run by the local cloud; "
                                  "give a number, a JSONPath field (…Path) or a static BatchInput")
        if field in ("MaxItemsPerBatch", "MaxInputBytesPerBatch") and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise _refused(where, f"{field} must be a positive integer")
        if field == "MaxInputBytesPerBatch" and value > MAX_BATCH_BYTES:
            raise _refused(where, f"MaxInputBytesPerBatch must be at most {MAX_BATCH_BYTES} (256 KiB)")
        if field.endswith("Path") and not (isinstance(value, str) and value.startswith("$")):
            raise _refused(where, f"{field} must be a reference path starting with '$'")
        if field == "BatchInput":
            _check_batch_input(value, where)
    if not any(field in batcher for field in _BATCHER_FIELDS[:4]):
        raise _refused(location, "ItemBatcher needs MaxItemsPerBatch, MaxInputBytesPerBatch or one of their "
                                 "…Path forms")
    return batcher


def _check_batch_input(value, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$"):
                if not (isinstance(item, str) and item.startswith("$")):
                    raise _refused(f"{where}/{key}", "intrinsic functions in BatchInput are not run by the local "
                                                     "cloud; use a JSONPath ($. or $$.) or a static value")
            else:
                _check_batch_input(item, f"{where}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_batch_input(item, f"{where}/{index}")


def prepare(definition: str) -> tuple[str, dict[str, dict]]:
    """(the text moto's grammar accepts, {distributed Map name: {"batcher"?, "tolerances"}}).

    The text comes back unchanged when it needs nothing (or is not JSON: the
    grammar then says what is wrong with it).
    """
    try:
        document = json.loads(definition)
    except ValueError:
        return definition, {}
    if not isinstance(document, dict) or not isinstance(document.get("States"), dict):
        return definition, {}
    document = copy.deepcopy(document)
    maps: dict[str, dict] = {}
    changed = _prepare_states(document["States"], "/States", maps)
    return (json.dumps(document) if changed else definition), maps


def _prepare_states(states: dict, location: str, maps: dict) -> bool:
    changed = False
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        where = f"{location}/{name}"
        if state.get("Type") == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
            distributed = isinstance(config, dict) and config.get("Mode") == "DISTRIBUTED"
            if distributed and config.get("ExecutionType") == "EXPRESS":
                config["ExecutionType"] = "STANDARD"  # children run in-process either way
                changed = True
            if distributed or "ItemBatcher" in state:
                if name in maps:
                    raise _refused(where, f"two distributed Map states are named '{name}'; the local cloud needs "
                                          "distinct names")
                maps[name] = {"tolerances": {kind for kind in ("Count", "Percentage")
                                             if f"ToleratedFailure{kind}" in state
                                             or f"ToleratedFailure{kind}Path" in state}}
            percentage = state.get("ToleratedFailurePercentage")
            if isinstance(percentage, int) and not isinstance(percentage, bool):
                state["ToleratedFailurePercentage"] = float(percentage)  # the grammar takes 30.0, not 30
                changed = True
            if "ItemBatcher" in state:
                maps[name]["batcher"] = _check_batcher(state.pop("ItemBatcher"), f"{where}/ItemBatcher", distributed)
                changed = True
            if isinstance(processor, dict) and isinstance(processor.get("States"), dict):
                changed |= _prepare_states(processor["States"], f"{where}/ItemProcessor/States", maps)
        elif state.get("Type") == "Parallel":
            for index, branch in enumerate(state.get("Branches") or []):
                if isinstance(branch, dict) and isinstance(branch.get("States"), dict):
                    changed |= _prepare_states(branch["States"], f"{where}/Branches/{index}/States", maps)
    return changed


def _attach(program, maps: dict[str, dict]) -> None:
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap

    seen: set[int] = set()
    stack = [program]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, Component):
            if isinstance(item, StateMap) and item.name in maps:
                found = maps[item.name]
                setattr(item.iteration_component, BATCHER, found.get("batcher"))
                setattr(item.iteration_component, TOLERANCES, found["tolerances"])
            stack.extend(vars(item).values())


def parser_seam():
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    return AmazonStateLanguageParser, "parse"


def install_item_batcher() -> None:
    """ItemBatcher and EXPRESS children (`sfn-map-item-batcher`): the definitions, and the batches made
    where the Map Run starts."""
    install_definitions()
    install_map_runs()


def install_definitions() -> None:
    cls, name = parser_seam()
    original = cls.__dict__[name]
    if getattr(original.__func__, "_localcloud", False):
        return
    parse = original.__func__

    def prepared_parse(definition: str):
        text, maps = prepare(definition)
        program, tree = parse(text)
        if maps:
            _attach(program, maps)
        return program, tree

    prepared_parse._localcloud = True
    setattr(cls, name, staticmethod(prepared_parse))


# --- batching -------------------------------------------------------------------------------


def _path_value(env, path: str, where: str):
    from moto.stepfunctions.parser.asl.utils.json_path import extract_json

    source = env.states.context_object.context_object_data if path.startswith("$$") else env.stack[-1]
    return extract_json(path[1:] if path.startswith("$$") else path, source)


def _limit(env, batcher: dict, field: str) -> int | None:
    if field in batcher:
        return batcher[field]
    if field + "Path" in batcher:
        value = _path_value(env, batcher[field + "Path"], field + "Path")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"ItemBatcher.{field}Path must point at a positive integer, not {value!r}")
        return value
    return None


def _batch_input(env, template):
    if isinstance(template, dict):
        made = {}
        for key, value in template.items():
            if key.endswith(".$"):
                made[key[:-2]] = _path_value(env, value, "BatchInput")
            else:
                made[key] = _batch_input(env, value)
        return made
    if isinstance(template, list):
        return [_batch_input(env, item) for item in template]
    return template


def batches(items: list, max_items: int | None, max_bytes: int | None, batch_input=None) -> list[dict]:
    """`items` in {"Items": [...], "BatchInput"?} batches within both limits (a lone item too big: ValueError)."""
    made: list[dict] = []
    current: list = []

    def payload(group):
        batch = {"Items": group}
        if batch_input is not None:
            batch["BatchInput"] = batch_input
        return batch

    def size(group) -> int:
        return len(json.dumps(payload(group), separators=(",", ":")).encode("utf-8"))

    for index, item in enumerate(items):
        candidate = current + [item]
        if current and ((max_items and len(candidate) > max_items) or (max_bytes and size(candidate) > max_bytes)):
            made.append(payload(current))
            candidate = [item]
        if max_bytes and size(candidate) > max_bytes:
            raise ValueError(f"item {index} alone is larger than ItemBatcher.MaxInputBytesPerBatch ({max_bytes} bytes)")
        current = candidate
    if current:
        made.append(payload(current))
    return made


def _selected(env, eval_input, items: list) -> list:
    """Each item through ItemSelector (or the legacy Parameters) as the child would get it."""
    from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData

    selector = eval_input.item_selector or eval_input.parameters
    if selector is None:
        return items
    map_input = env.stack[-1]
    selected = []
    for index, item in enumerate(items):
        frame = env.open_inner_frame()
        try:
            frame.states.context_object.context_object_data["Map"] = MapData(Item=ItemData(Index=index, Value=item))
            frame.states.reset(input_value=map_input)
            frame.stack.append(map_input)
            selector.eval(frame)
            selected.append(frame.stack[-1])
        finally:
            env.delete_frame(frame)
    # the children get the batch itself, not a selection of it
    eval_input.item_selector = None
    eval_input.parameters = None
    return selected


def _fail(env, error: str, cause: str):
    """A States.* failure of the Map state (`error` names a StatesErrorNameType member)."""
    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    kind = getattr(StatesErrorNameType, error.replace(".", ""))
    return FailureEventException(failure_event=FailureEvent(
        env=env, error_name=StatesErrorName(typ=kind), event_type=HistoryEventType.EvaluationFailed,
        event_details=EventDetails(evaluationFailedEventDetails=EvaluationFailedEventDetails(
            error=error, cause=cause))))


def exceeds(failed: int, total: int, count: int | None, percentage: float | None) -> bool:
    """Whether `failed` of `total` children is more than the Map tolerates: more than a threshold it names."""
    if failed == 0:
        return False
    if count is not None and failed > count:
        return True
    if percentage is not None and total and failed * 100.0 / total > percentage:
        return True
    return False


def map_run_seam():
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )

    return DistributedIterationComponent, "_map_run"


def worker_seam():
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
        DistributedItemProcessorWorker,
    )

    return DistributedItemProcessorWorker, "_eval_job"


def install_map_runs() -> None:
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramError, ProgramStopped

    cls, name = map_run_seam()
    original = cls.__dict__[name]
    if not getattr(original, "_localcloud", False):
        def _map_run(self, env, eval_input):
            items = env.stack.pop()
            batcher = getattr(self, BATCHER, None)
            if batcher:
                try:
                    selected = _selected(env, eval_input, items)
                    items = batches(selected, _limit(env, batcher, "MaxItemsPerBatch"),
                                    _limit(env, batcher, "MaxInputBytesPerBatch"),
                                    _batch_input(env, batcher["BatchInput"]) if "BatchInput" in batcher else None)
                except ValueError as problem:
                    raise _fail(env, "States.Runtime", str(problem)) from None
            record = eval_input.map_run_record
            setattr(record, OUTCOMES, {})
            env.stack.append(items)
            original(self, env, eval_input)
            outcomes = getattr(record, OUTCOMES)
            failed = sum(1 for outcome in outcomes.values() if outcome["Status"] != "SUCCEEDED")
            given = getattr(self, TOLERANCES, None) or {"Count", "Percentage"}  # neither given: none tolerated
            if exceeds(failed, len(items), eval_input.tolerated_failure_count if "Count" in given else None,
                       eval_input.tolerated_failure_percentage if "Percentage" in given else None):
                raise _fail(env, "States.ExceedToleratedFailureThreshold",
                            "The specified tolerated failure threshold was exceeded")

        _map_run._localcloud = True
        setattr(cls, name, _map_run)

    worker, job_method = worker_seam()
    original_job = worker.__dict__[job_method]
    if getattr(original_job, "_localcloud", False):
        return
    lock = threading.Lock()

    def _eval_job(self, env, job):
        started = datetime.now(timezone.utc)
        _child_context(env, job, self._map_run_record, started)
        original_job(self, env, job)
        state = env.program_state()
        outcome = {"Input": job.job_input, "StartDate": started, "StopDate": datetime.now(timezone.utc)}
        if isinstance(state, ProgramEnded):
            outcome.update(Status="SUCCEEDED", Output=job.job_output)
        elif isinstance(state, ProgramStopped):
            outcome.update(Status="ABORTED")
        elif isinstance(state, ProgramError):
            error = state.error or {}
            outcome.update(Status="FAILED", Error=error.get("error"), Cause=error.get("cause"))
        else:
            outcome.update(Status="FAILED", Error="States.Runtime", Cause="the child did not finish")
        with lock:
            getattr(self._map_run_record, OUTCOMES, {})[job.job_index] = outcome

    _eval_job._localcloud = True
    setattr(worker, job_method, _eval_job)


def child_execution_arn(map_run_arn: str) -> str:
    """A child workflow execution's ARN: the Map Run's `...:mapRun:MACHINE/LABEL:ID` as `...:execution:MACHINE/LABEL:UUID`."""
    import uuid

    head = map_run_arn.replace(":mapRun:", ":execution:", 1).rsplit(":", 1)[0]
    return f"{head}:{uuid.uuid4()}"


def _child_context(env, job, record, started) -> None:
    """The job's context object is its own child execution's: `$$.Execution.Input` is the item (its input),
    `$$.Execution.Id` / `Name` / `StartTime` the child's (the frame's Execution was the parent's, shared)."""
    data = env.states.context_object.context_object_data
    arn = child_execution_arn(getattr(record, "map_run_arn", "") or "")
    data["Execution"] = {**data.get("Execution", {}), "Id": arn, "Name": arn.rsplit(":", 1)[1],
                         "Input": copy.deepcopy(job.job_input),
                         "StartTime": started.strftime("%Y-%m-%dT%H:%M:%S.") + f"{started.microsecond // 1000:03d}Z"}


# --- ItemReader: S3 listings as AWS hands them out ----------------------------------------------


def reader_seam():
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
        ResourceEvalS3,
    )

    return ResourceEvalS3, "_handle_list_objects_v2"


def install_listing_reader() -> None:
    cls, name = reader_seam()
    if getattr(cls.__dict__[name], "_localcloud", False):
        return

    def _handle_list_objects_v2(env, resource_runtime_part, state_credentials):
        client = cls._get_s3_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
        parameters = dict(env.stack.pop())
        items = []
        for page in client.get_paginator("list_objects_v2").paginate(**parameters):
            for found in page.get("Contents", []):
                items.append({"Etag": found.get("ETag"), "Key": found["Key"],
                              "LastModified": int(found["LastModified"].timestamp()),
                              "Size": found.get("Size"), "StorageClass": found.get("StorageClass", "STANDARD")})
        env.stack.append(items)

    _handle_list_objects_v2._localcloud = True
    setattr(cls, name, staticmethod(_handle_list_objects_v2))


# --- ResultWriter: the results, not only an empty manifest ---------------------------------------


def writer_seam():
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (  # noqa: E501
        ResourceEvalS3,
    )

    return ResourceEvalS3, "_handle_put_object"


def _result_entry(record, index: int, outcome: dict) -> dict:
    from .integrations import sdk_timestamp

    entry = {"ExecutionArn": f"{record.map_run_arn.replace(':mapRun:', ':execution:')}:{index}",
             "Input": json.dumps(outcome["Input"]), "InputDetails": {"Included": True},
             "Name": str(index), "StartDate": sdk_timestamp(outcome["StartDate"]),
             "StateMachineArn": record.map_run_arn.rsplit("/", 1)[0].replace(":mapRun:", ":stateMachine:"),
             "Status": outcome["Status"], "StopDate": sdk_timestamp(outcome["StopDate"])}
    if outcome["Status"] == "SUCCEEDED":
        entry.update(Output=json.dumps(outcome["Output"]), OutputDetails={"Included": True})
    elif outcome["Status"] == "FAILED":
        entry.update(Error=outcome.get("Error"), Cause=outcome.get("Cause"))
    return entry


def install_result_writer() -> None:
    cls, name = writer_seam()
    if getattr(cls.__dict__[name], "_localcloud", False):
        return

    def _handle_put_object(env, resource_runtime_part, state_credentials):
        parameters = dict(env.stack.pop())
        env.stack.pop()  # the children's outputs: written to S3 instead
        client = cls._get_s3_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
        record = env.map_run_record_pool_manager.get_all()[-1]
        prefix = parameters.get("Prefix") or ""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        folder = f"{prefix}{record.map_run_arn.split(':')[-1]}/"
        outcomes = getattr(record, OUTCOMES, {})
        files: dict[str, list] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        for status in ("SUCCEEDED", "FAILED"):
            entries = [_result_entry(record, index, outcome) for index, outcome in sorted(outcomes.items())
                       if (outcome["Status"] == "SUCCEEDED") == (status == "SUCCEEDED")]
            if entries:
                body = json.dumps(entries).encode("utf-8")
                key = f"{folder}{status}_0.json"
                client.put_object(Bucket=parameters["Bucket"], Key=key, Body=body)
                files[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": parameters["Bucket"], "MapRunArn": record.map_run_arn, "ResultFiles": files}
        key = f"{folder}manifest.json"
        client.put_object(Bucket=parameters["Bucket"], Key=key, Body=json.dumps(manifest).encode("utf-8"))
        env.stack.append({"MapRunArn": record.map_run_arn,
                          "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": key}})

    _handle_put_object._localcloud = True
    setattr(cls, name, staticmethod(_handle_put_object))

