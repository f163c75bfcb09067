"""Waiting in tests: poll a condition, fail with what was awaited (no fixed sleeps)."""

import time


def wait_for(predicate, timeout: float = 60, interval: float = 0.1, what: str = "the condition"):
    """Call `predicate()` until it returns something truthy and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
