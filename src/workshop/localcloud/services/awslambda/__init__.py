"""Lambda: deployed Python and Node.js code run here, without Docker.

`workers.py` runs each function in warm worker processes (the seam where
moto would start a container) and mends Invoke's answer; `runtimes.py` says
which runtimes this machine runs and with which SDK; `layers.py` gives a
function its layers (its account's, and AWS's public ones made from a
package registry); `function_urls.py` serves function URLs; `sandbox.py` wraps a
worker in bubblewrap where it can; `worker.py` and `worker.js` (with
`worker_hooks.mjs`) are the programs a worker runs.
"""
