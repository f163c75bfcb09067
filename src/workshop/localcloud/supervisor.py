"""One local cloud kept running on one port with one key, for as long as a learner's JupyterLab runs.

`make lab` and a class's learner server (`workshop.classroom.learner`) both
start JupyterLab beside a local cloud. If the local cloud stops while
JupyterLab runs (it crashed, or someone killed it), it is started again on the
same port with the same key, so open notebooks reach it without a restart, and
whoever watches is told. A restarted local cloud starts empty: the notebooks
notice (`workshop.failures`) and say to run 01_deploy again.
"""

from __future__ import annotations

import threading
import time

RESTART_MESSAGE = ("The local cloud stopped (exit {code}); starting it again on {endpoint} with the same key. "
                   "It starts empty: run 01_deploy.ipynb again (the notebooks will say so too).")


class Supervisor:
    """Keeps one local cloud running on one port with one key until stopped."""

    def __init__(self, port, log, say=print, poll: float = 1.0, like_aws=None):
        from .server.process import LocalCloud

        self.log, self.say, self.poll, self.like_aws = log, say, poll, like_aws
        self.cloud = LocalCloud(port=port, log_file=log, like_aws=like_aws).start()
        self.endpoint = self.cloud.endpoint
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="localcloud-supervisor", daemon=True)

    def start_watching(self):
        self._thread.start()

    def _watch(self):
        from .server.process import LocalCloud

        while not self._stop.wait(self.poll):
            code = self.cloud.proc.poll() if self.cloud.proc is not None else None
            if code is None:
                continue
            self.say(RESTART_MESSAGE.format(code=code, endpoint=self.endpoint))
            for _attempt in range(30):  # the dead server's port may take a moment to free
                if self._stop.is_set():
                    return
                try:
                    cloud = LocalCloud(port=self.cloud.port, log_file=self.log, like_aws=self.like_aws,
                                       credentials=self.cloud.credentials).start()
                    if self._stop.is_set():  # stopped while this one started: `stop` may have missed it
                        cloud.stop()
                        return
                    self.cloud = cloud
                    break
                except Exception as exc:  # port still held, or a slow start: try again shortly
                    last = exc
                    time.sleep(1)
            else:
                self.say(f"The local cloud could not be restarted ({last}): stop `make lab` (Ctrl-C) and start it "
                         "again.")
                return
            self.restarts += 1
            self.say(f"Local cloud running again at {self.endpoint} (restart {self.restarts}).")

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.cloud.stop()
