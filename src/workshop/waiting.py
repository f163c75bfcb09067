"""Waiting for the cloud, with a progress bar, a timeout and a clear message.

    from workshop.waiting import wait_for
    status = wait_for(lambda: done() or None, what="the execution to finish",
                      timeout=30, hint="Is the EventBridge rule enabled?")

`check` is called every `interval` seconds until it returns something truthy,
which `wait_for` returns; with `max_interval` the pause grows by half each
time up to it (quick answers stay quick, a long wait stays cheap: on AWS the
kit polls every ~5 s, `poll_intervals`). After `timeout` seconds it raises `WaitTimeout`
whose message says what was awaited, for how long, what was last seen and
what to do next. In a notebook the progress shows as a tqdm bar (a widget in
JupyterLab, text elsewhere) from the first moment, with the seconds waited so
far and the most it will wait; it ticks every half second even while a check
is slow, and a wait that ended shows "done in N s".
"""

from __future__ import annotations

import threading
import time


class WaitTimeout(Exception):
    """Waited long enough; the message says for what and what to do next."""

    def __init__(self, message: str, last_seen=None):
        super().__init__(message)
        self.last_seen = last_seen


def timeout_message(what: str, timeout: float, last_seen: str | None = None, hint: str | None = None) -> str:
    parts = [f"Gave up after {timeout:g} s waiting for {what}."]
    if last_seen:
        parts.append(f"Last seen: {last_seen}.")
    if hint:
        parts.append(hint)
    return " ".join(parts)


class _Progress:
    """The bar: shown at once, ticking every half second even while a check blocks, full when done."""

    def __init__(self, what: str, timeout: float, clock):
        from tqdm.auto import tqdm

        self.timeout, self.clock, self.start = timeout, clock, clock()
        self.last_seen = ""
        self.lock = threading.Lock()
        self.bar = tqdm(total=max(timeout, 0.1), desc=f"waiting for {what}", leave=True,
                        bar_format="{desc}: {bar}{postfix}")
        self.tick()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="workshop-wait-progress", daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.wait(0.5):
            self.tick()

    def tick(self):
        with self.lock:
            elapsed = max(self.clock() - self.start, 0.0)
            self.bar.n = min(elapsed, self.bar.total)
            seen = f" - last seen: {self.last_seen[:60]}" if self.last_seen else ""
            self.bar.set_postfix_str(f"{elapsed:.0f} s of at most {self.timeout:g} s{seen}", refresh=False)
            self.bar.refresh()

    def done(self):
        with self.lock:
            elapsed = max(self.clock() - self.start, 0.0)
            self.bar.n = self.bar.total  # a finished wait shows a full bar, however early it ended
            self.bar.set_postfix_str(f"done in {elapsed:.1f} s", refresh=False)
            self.bar.refresh()

    def close(self):
        self.stopped.set()
        self.thread.join(timeout=2)
        with self.lock:
            self.bar.close()


def _progress_bar(what: str, timeout: float, enabled: bool, clock=time.monotonic):
    if not enabled:
        return None
    try:
        return _Progress(what, timeout, clock)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None


def poll_intervals(cloud) -> dict:
    """How often to ask: every 0.5 s on the local cloud; on AWS from 1 s up to 5 s (API rate limits). A
    rehearsal of the AWS target (the AWS-like local cloud on this machine) has no rate limits to spare: it
    asks as the local cloud does, and waits only for what it imitates (late events, IAM's lag)."""
    if getattr(cloud, "is_local", True) or getattr(cloud, "test_endpoint", None):
        return {"interval": 0.5}
    return {"interval": 1.0, "max_interval": 5.0}


def wait_for(check, *, what: str, timeout: float = 60.0, interval: float = 0.5, max_interval: float | None = None,
             hint: str | None = None, describe=None, progress: bool = True,
             clock=time.monotonic, sleep=time.sleep):
    """Call `check()` until it returns a truthy value, and return that value.

    `describe(value)` turns the last (falsy) value into the "last seen" text;
    by default, a non-empty string value is shown as is.
    Exceptions from `check` propagate: a broken call is not worth waiting on.
    """
    start = clock()
    bar = _progress_bar(what, timeout, progress, clock)
    last_seen = None
    try:
        while True:
            value = check()
            if value:
                if bar is not None:
                    bar.done()
                return value
            if describe is not None:
                last_seen = describe(value)
            elif isinstance(value, str) or value is None:
                last_seen = last_seen if value is None else value
            elapsed = clock() - start
            if bar is not None:
                bar.last_seen = str(last_seen or "")
                bar.tick()
            if elapsed >= timeout:
                raise WaitTimeout(timeout_message(what, timeout, last_seen, hint), last_seen)
            sleep(min(interval, max(0.0, timeout - elapsed)) or interval)
            if max_interval is not None:
                interval = min(max_interval, interval * 1.5)
    finally:
        if bar is not None:
            bar.close()
