"""Security Orchestrator Workshop kit, in layers that import only downwards.

    asl/, localcloud/         the ASL tools; the local cloud (moto and the kit's extensions)
    failures, waiting         one-screen errors; waiting with a progress bar
    aws/                      the workshop's AWS calls: session, deploy, IAM changes, incidents, executions (data)
    display/                  HTML views of that data (history, incidents, stack)
    widgets/                  the live editor, the approval panel, the dashboard
    teaching/                 the notebooks' builder, exercises, attacks, checks and clean-up
    cli                       the `workshop` command

tests/unit/test_layout.py holds the order and fails on an import that points up or goes round in a circle.
"""

__version__ = "0.1.0"
