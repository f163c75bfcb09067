"""A class on JupyterHub: each learner's own JupyterLab and local cloud, and the facilitator's view.

`make class` (scripts/run_class.py, class/jupyterhub_config.py) runs
JupyterHub on 127.0.0.1. The pieces the kit adds to it:

* `learner`      what a learner's single-user server starts with: their own
                 copy of the notebooks, their own local cloud (own port, own
                 per-start key in their own home), the stack deployed, and
                 JupyterLab; the local cloud stops with the server
* `accounts`     who the learners are: generated accounts and passwords
                 (`ClassAuthenticator`), system users where the hub runs as
                 root, the demo spawner for a laptop (one OS user: no isolation)
* `board`        learners' progress events -> what the facilitator reads
                 (exercises passed / failed / not tried, incidents, stuck)
* `facilitator`  the facilitator's view: a JupyterHub service (hub tokens and
                 OAuth) that takes progress events and shows the board
* `status`       the learner server's `/workshop/status` (local cloud up, the
                 facilitator's note) that the banner over each notebook reads

The learner's side of progress is `workshop.progress` (the kit's checkpoints
call it); nothing here is imported by the workshop's notebooks.
"""
