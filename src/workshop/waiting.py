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
JupyterLab, text elsewhere).
"""

from __future__ import annotations

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


def _progress_bar(what: str, timeout: float, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=round(timeout, 1), desc=f"waiting for {what}", unit="s", leave=True,
                bar_format="{desc}: {bar} {n:.0f}/{total:.0f} s {postfix}")


def poll_intervals(cloud) -> dict:
    """How often to ask: every 0.5 s on the local cloud; on AWS from 1 s up to 5 s (API rate limits)."""
    if getattr(cloud, "is_local", True):
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
    bar = _progress_bar(what, timeout, progress)
    last_seen = None
    try:
        while True:
            value = check()
            if value:
                if bar is not None:
                    # A finished wait shows a full bar, however early it ended.
                    elapsed = clock() - start
                    bar.total = bar.n = max(round(elapsed, 1), 0.1)
                    bar.set_postfix_str(f"done in {elapsed:.1f} s")
                return value
            if describe is not None:
                last_seen = describe(value)
            elif isinstance(value, str) or value is None:
                last_seen = last_seen if value is None else value
            elapsed = clock() - start
            if bar is not None:
                bar.n = min(round(elapsed, 1), bar.total)
                if last_seen:
                    bar.set_postfix_str(str(last_seen)[:60])
                bar.refresh()
            if elapsed >= timeout:
                raise WaitTimeout(timeout_message(what, timeout, last_seen, hint), last_seen)
            sleep(min(interval, max(0.0, timeout - elapsed)) or interval)
            if max_interval is not None:
                interval = min(max_interval, interval * 1.5)
    finally:
        if bar is not None:
            bar.close()
