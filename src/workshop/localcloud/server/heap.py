"""The server's long-lived heap kept out of Python's full garbage collections.

After a deploy the local cloud holds about half a million long-lived objects
(moto's models, AWS's ~1,600 managed policies per account, parsed templates
and state machine definitions). CPython's cyclic collector traverses all of
them at every full (generation 2) collection, which a burst of incidents
triggers about once a second: measured at 270-290 ms with the GIL held, a
quarter of a second in which no request moves, about 10 ms of the server's
CPU per incident of a 50-incident burst (`benchmarks/bench_localcloud.py`).

`Settler` moves what has survived into the permanent generation
(`gc.freeze()`) whenever the server has been quiet for a moment (`quiet_s`,
0.3 s: no HTTP request in flight and none that long) after allocating a lot
(a deploy, a burst): it collects what is not frozen yet, then freezes it, and
later full collections traverse only what was made since. That collection
costs what one of the unfrozen part would cost anyway, so a burst starting
right then waits tens of milliseconds, not a quarter of a second.

After a longer quiet (`full_quiet_s`, 2 s; a workshop is mostly that) a full
settle starts with `gc.unfreeze()` and collects everything, so a cycle frozen
earlier and dropped since is freed: freezing delays garbage until the server
next rests, it never keeps it. (Freezing from a `gc.callbacks` hook after each
automatic collection was tried: it corrupts the collector's lists.)
"""

from __future__ import annotations

import gc
import threading
import time


class Settler:
    """Freezes the surviving heap when the server is quiet after enough allocation."""

    def __init__(self, quiet_s: float = 0.3, full_quiet_s: float = 2.0, min_collections: int = 20,
                 poll_s: float = 0.1):
        self.quiet_s = quiet_s
        self.full_quiet_s = full_quiet_s
        self.min_collections = min_collections  # young collections since the last settle (~700 allocations each)
        self.poll_s = poll_s
        self.settles = 0
        self.full_settles = 0
        self._young = 0
        self._since_full = 0  # settles since the last one that unfroze
        self._in_flight = 0
        self._last_activity = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what the server tells it -----------------------------------------------------------

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._last_activity = time.monotonic()

    def request_ended(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._last_activity = time.monotonic()

    # --- the settling --------------------------------------------------------------------------

    def _on_collection(self, phase, info) -> None:
        if phase == "stop" and info.get("generation") == 0:
            self._young += 1

    def _quiet_for(self) -> float:
        with self._lock:
            return 0.0 if self._in_flight else time.monotonic() - self._last_activity

    def due(self) -> str | None:
        """"full", "young" or None: what to settle now."""
        quiet = self._quiet_for()
        if quiet >= self.full_quiet_s and self._since_full:
            return "full"
        if quiet >= self.quiet_s and self._young >= self.min_collections:
            return "young"
        return None

    def settle(self, full: bool = True) -> None:
        """Collect and freeze: everything (`full`, unfrozen first) or what is not frozen yet."""
        # No automatic collection in between: once unfrozen, one started by another thread's
        # allocation would traverse the whole heap a second time.
        enabled = gc.isenabled()
        gc.disable()
        try:
            if full:
                gc.unfreeze()  # what was frozen before is judged again: a dropped cycle is freed now
            gc.collect()  # the frozen part is not traversed
            gc.freeze()
        finally:
            if enabled:
                gc.enable()
        self._young = 0
        self.settles += 1
        if full:
            self.full_settles += 1
            self._since_full = 0
        else:
            self._since_full += 1

    def start(self) -> "Settler":
        gc.callbacks.append(self._on_collection)
        self._thread = threading.Thread(target=self._run, name="localcloud-heap", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            kind = self.due()
            if kind is not None:
                self.settle(full=kind == "full")

    def describe(self) -> dict:
        return {"settles": self.settles, "full_settles": self.full_settles, "frozen": gc.get_freeze_count()}
