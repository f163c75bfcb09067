"""Local cloud benchmarks: figures measured, never asserted.

    .venv/bin/python benchmarks/bench_localcloud.py     # prints JSON

run() -> dict with
* local_cloud_start_s            process start -> health answers
* lambda_invoke_warm_ms_p50      invoke of a deployed function served by its warm worker
* lambda_invoke_spawn_ms_p50     the same function, a fresh process per invoke (what a
                                 Docker-less "run it once" runtime would cost); same run
* lambda_warm_speedup            spawn / warm
* remediation_latency_ms_p50/_p99  iam.create_policy returning -> the default version is no
                                 longer the bad one (sequential, stack deployed with sam)
* burst_incidents_per_s          50 bad policies from 8 threads -> all reverted and their
                                 approval asked (e-mail in the mailbox); then checked:
* burst_unreverted / _lost / _doubled  policies not reverted / without their e-mail or
                                 incident / with more than one of either (all 0 when right)
* burst_incidents_per_s_without_iam, iam_burst_ratio  the same burst with IAM evaluation off
                                 (`--no-iam`), and the enforced figure over it
* iam_mean_check_us              the mean time of one request's IAM evaluation in the enforced run
* burst_server_cpu_ms_per_incident  the server process's CPU time over the timed burst, per
                                 incident: steadier than the rate on a shared machine, and the
                                 bound on it (one Python process: 1000 / this = incidents/s
                                 at best)
* deploy_s                       sam build + sam deploy of the stack
"""

from __future__ import annotations

import io
import json
import os
import queue
import statistics
import sys
import tempfile
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

BAD = (ROOT / "policies" / "badpolicy.json").read_text()
HANDLER = "import os\ndef handler(event, context):\n    return {'pid': os.getpid(), 'echo': event}\n"


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_lambda(invocations: int = 30) -> dict:
    """Warm worker vs a fresh process per invoke, same function, in-process moto."""
    import boto3
    from moto import mock_aws

    from workshop.localcloud.services.awslambda import workers

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    results = {}
    with mock_aws():
        runtime = workers.install("http://127.0.0.1:9")
        try:
            iam = boto3.client("iam", region_name="us-east-1")
            role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            client = boto3.client("lambda", region_name="us-east-1")
            client.create_function(FunctionName="bench", Runtime="python3.13", Role=role,
                                   Handler="app.handler", Code={"ZipFile": buffer.getvalue()})
            for mode in ("warm", "spawn"):
                runtime.spawn_per_invoke = mode == "spawn"
                client.invoke(FunctionName="bench", Payload=b"{}")  # the cold start is not measured
                timings = []
                for i in range(invocations):
                    started = time.perf_counter()
                    client.invoke(FunctionName="bench", Payload=json.dumps({"i": i}).encode())
                    timings.append((time.perf_counter() - started) * 1000)
                results[mode] = statistics.median(timings)
        finally:
            runtime.shutdown()
            workers._runtime = None
    return {"lambda_invoke_warm_ms_p50": round(results["warm"], 2),
            "lambda_invoke_spawn_ms_p50": round(results["spawn"], 2),
            "lambda_warm_speedup": round(results["spawn"] / results["warm"], 1)}


def _reverted(iam, arn):
    return iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] != "v1"


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` (Linux /proc; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _burst(cloud, kwargs: dict, burst: int, threads: int) -> dict:
    """`burst` bad policies from `threads` threads; timed until each is reverted and its approval asked.

    The clock stops when every policy has its approval e-mail (AskUser runs
    after the revert); only then is each policy checked (reverted, exactly one
    e-mail, exactly one incident execution), so the checking does not load
    the server while it is timed.
    """
    import boto3

    from workshop.localcloud import read_mailbox

    prefix = f"burst-{uuid.uuid4().hex[:8]}"
    # One client per thread, made before the clock starts, as each learner's notebook holds one:
    # making one per policy cost the load generator about 10 ms of CPU each, on the same two cores
    # the server needs.
    clients = [boto3.session.Session().client("iam", **kwargs) for _ in range(threads)]
    free = queue.SimpleQueue()
    for client in clients:
        free.put(client)

    def create(index):
        client = free.get()
        try:
            return client.create_policy(PolicyName=f"{prefix}-{index:02d}", PolicyDocument=BAD)["Policy"]["Arn"]
        finally:
            free.put(client)

    # Each poll reads only what is new (`since`): the poller runs on the cores the server needs, and the
    # whole mailbox, read twenty times a second, cost the two processes about 3 ms of CPU a poll.
    mails, read = [], [0]

    def asked():
        new = read_mailbox(cloud.endpoint, credentials=cloud.credentials, since=read[0])
        read[0] += len(new)
        mails.extend(m for m in new if m["subject"].startswith("Approval needed") and prefix in m["body"])
        return mails

    cpu_before = _process_cpu_s(cloud.proc.pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        arns = list(pool.map(create, range(burst)))
    deadline = time.perf_counter() + 300
    mails = asked()
    while len(mails) < burst and time.perf_counter() < deadline:
        time.sleep(0.05)
        mails = asked()
    elapsed = time.perf_counter() - started
    cpu_after = _process_cpu_s(cloud.proc.pid)

    iam = boto3.client("iam", **kwargs)
    sfn = boto3.client("stepfunctions", **kwargs)
    mails_per_policy = {arn: sum(arn in m["body"] for m in mails) for arn in arns}
    incidents = {arn: 0 for arn in arns}
    machine = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"])
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
        for execution in page["executions"]:
            detail = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])["detail"]
            arn = ((detail.get("responseElements") or {}).get("policy") or {}).get("arn")
            if arn in incidents and detail["userIdentity"]["type"] != "AssumedRole":  # not the revert's own event
                incidents[arn] += 1
    for execution in sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]:
        sfn.stop_execution(executionArn=execution["executionArn"], error="BenchDone")  # nobody will answer
    return {"burst_incidents_per_s": round(sum(1 for n in mails_per_policy.values() if n) / elapsed, 2),
            "burst_unreverted": sum(1 for arn in arns if not _reverted(iam, arn)),
            "burst_lost": sum(1 for arn in arns if not mails_per_policy[arn] or not incidents[arn]),
            "burst_doubled": sum(1 for arn in arns if mails_per_policy[arn] > 1 or incidents[arn] > 1),
            "burst_server_cpu_ms_per_incident": (round((cpu_after - cpu_before) * 1000 / burst, 1)
                                                 if cpu_before is not None and cpu_after is not None else None)}


def bench_incidents(sequential: int = 20, burst: int = 50, threads: int = 8, iam: bool = True) -> dict:
    import boto3

    from workshop.aws.deploy import deploy
    from workshop.localcloud import LocalCloud

    figures = {}
    started = time.perf_counter()
    cloud = LocalCloud(iam=iam).start()
    figures["local_cloud_start_s"] = round(time.perf_counter() - started, 3)
    try:
        kwargs = cloud.credentials.boto3_kwargs()
        with tempfile.TemporaryDirectory() as build_dir:
            started = time.perf_counter()
            deploy(target="local", endpoint=cloud.endpoint, stack_name="bench", build_dir=build_dir,
                   stream=io.StringIO())
            figures["deploy_s"] = round(time.perf_counter() - started, 2)
        iam = boto3.client("iam", **kwargs)

        latencies = []
        for _ in range(sequential + 1):  # the first one pays the cold starts: not counted
            arn = iam.create_policy(PolicyName=f"bench-{uuid.uuid4().hex[:10]}", PolicyDocument=BAD)["Policy"]["Arn"]
            created = time.perf_counter()
            while not _reverted(iam, arn):
                time.sleep(0.005)
            latencies.append((time.perf_counter() - created) * 1000)
        latencies = latencies[1:]
        figures["remediation_latency_ms_p50"] = round(statistics.median(latencies), 1)
        figures["remediation_latency_ms_p99"] = round(_percentile(latencies, 0.99), 1)

        figures.update(_burst(cloud, kwargs, burst, threads))
        health = cloud.health() or {}
        figures["lambda_cold_starts"] = health.get("lambda_cold_starts")
        figures["iam_mean_check_us"] = (health.get("iam") or {}).get("mean_check_us")
    finally:
        cloud.stop()
    return figures


def run() -> dict:
    figures = {}
    figures.update(bench_lambda())
    figures.update(bench_incidents())
    # the same burst with IAM evaluation off, side by side: what evaluating every request costs
    without = bench_incidents(sequential=1, iam=False)
    figures["burst_incidents_per_s_without_iam"] = without["burst_incidents_per_s"]
    if without["burst_incidents_per_s"]:
        figures["iam_burst_ratio"] = round(figures["burst_incidents_per_s"] / without["burst_incidents_per_s"], 2)
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
