"""Lambda's REPORT line: the function's peak memory, its process found once per worker."""

import os
from types import SimpleNamespace

from workshop.localcloud.services.awslambda import workers


def test_the_peak_is_the_largest_under_the_worker_and_its_process_is_found_once(monkeypatch):
    here = os.getpid()  # stands for the interpreter under a sandbox whose own process is "1"
    walked = []
    monkeypatch.setattr(workers, "_children", lambda pid: walked.append(pid) or ([here] if pid == 1 else []))
    real = workers._peak_kb
    monkeypatch.setattr(workers, "_peak_kb", lambda pid: 1024 if pid == 1 else real(pid))
    worker = SimpleNamespace(proc=SimpleNamespace(pid=1), memory_pid=None)
    first = workers._peak_memory_mb(worker)
    assert worker.memory_pid == here and first == real(here) // 1024 > 1
    walked.clear()
    assert workers._peak_memory_mb(worker) >= first and walked == [], "later invocations read the one process"
    worker.memory_pid = 2 ** 22 + 1  # gone (no such pid): found again
    assert workers._peak_memory_mb(worker) >= first and worker.memory_pid == here
