"""`server-ast-parse-race`: parsing Python text in many threads at once never fails (server/python_fixes.py)."""

import ast
import gc
import sys
import threading
import time

from workshop.localcloud.server import python_fixes

# CPython versions whose AST conversion shares its depth counter between threads (python/cpython#106905)
AFFECTED = (3, 11) <= sys.version_info[:3] < (3, 11, 8) or (3, 12) <= sys.version_info[:3] < (3, 12, 2)
SOURCE = "[" + ",".join(f"({i}, '{i}', {{'k': [1, 2, 3]}})" for i in range(40)) + "]"


class _Cycle:
    """Garbage that only the cyclic collector frees, running Python code when it does: a collection in
    the middle of a conversion then lets another thread run."""

    def __init__(self):
        self.me = self

    def __del__(self):
        total = 0
        for step in range(20):
            total += step


def _parse_in_threads(seconds: float, threads: int = 8) -> list[str]:
    """SystemErrors raised while `threads` threads parse at once for up to `seconds`."""
    errors, stop = [], threading.Event()

    def work():
        while not stop.is_set():
            try:
                ast.literal_eval(SOURCE)
                for _ in range(50):
                    _Cycle()
            except SystemError as exc:
                errors.append(str(exc))
                return

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(50, 2, 2)
    workers = [threading.Thread(target=work) for _ in range(threads)]
    try:
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not errors:
            time.sleep(0.02)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
    return errors


def test_parsing_python_in_many_threads_at_once_never_fails(monkeypatch):
    module, name = python_fixes.seam()
    original = getattr(ast.parse, "__wrapped__", ast.parse)
    assert module is ast and name == "parse"
    monkeypatch.setattr(ast, "parse", original)
    if AFFECTED:  # the race is there without the mend, and found within a second
        assert any("recursion depth mismatch" in error for error in _parse_in_threads(2.0))
    python_fixes.install_ast_parse_lock()
    assert ast.parse is not original and ast.parse.__wrapped__ is original
    assert _parse_in_threads(1.0) == []
    assert ast.literal_eval("{'a': [1, 2]}") == {"a": [1, 2]}  # the same answers, one thread at a time
    python_fixes.install_ast_parse_lock()  # idempotent
    assert ast.parse.__wrapped__ is original
