"""The server's long-lived heap kept out of Python's full garbage collections.

After a deploy the local cloud holds about half a million long-lived objects
(moto's models, AWS's ~1,600 managed policies per account, parsed templates
and state machine definitions). CPython's cyclic collector traverses all of
them at every full (generation 2) collection, which a burst of incidents
triggers about once a second: measured at 270-290 ms with the GIL held, a
quarter of a second in which no request moves, about 10 ms of the server's
CPU per incident of a 50-incident burst (`benchmarks/bench_localcloud.py`).

`Settler` moves what has survived into the permanent generation
(`gc.freeze()`) whenever the server has been quiet for a moment after
allocating a lot (a deploy, a burst): later full collections traverse only
what was made since. Each settle starts with `gc.unfreeze()` and a full
collection, so a cycle frozen earlier and dropped since is still freed: the
freeze delays garbage by one settle, it never keeps it. Quiet means no HTTP
request in flight and none for `quiet_s`; the settle holds the GIL for as
long as one full collection (the price paid now, while nothing waits, in
place of the same price paid mid-burst).
"""

from __future__ import annotations

import gc
import threading
import time


class Settler:
    """Freezes the surviving heap when the server is quiet after enough allocation."""

    def __init__(self, quiet_s: float = 0.3, min_collections: int = 20, poll_s: float = 0.1):
        self.quiet_s = quiet_s
        self.min_collections = min_collections  # young collections since the last settle (~700 allocations each)
        self.poll_s = poll_s
        self.settles = 0
        self._young = 0
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

    def due(self) -> bool:
        with self._lock:
            quiet = self._in_flight == 0 and time.monotonic() - self._last_activity >= self.quiet_s
        return quiet and self._young >= self.min_collections

    def settle(self) -> None:
        gc.unfreeze()  # what was frozen before is judged again: a dropped cycle is freed now
        gc.collect()
        gc.freeze()
        self._young = 0
        self.settles += 1

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
            if self.due():
                self.settle()

    def describe(self) -> dict:
        return {"settles": self.settles, "frozen": gc.get_freeze_count()}
