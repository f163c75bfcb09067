"""CloudFormation: what the unmodified `sam deploy` needs.

`templates.py` (the SAM transform, local API URLs, Rules: functions on
templates), `stacks.py` (where moto parses and creates stacks, and the mends
of its bugs), `models.py` (resource types moto skips; imported on first use).
"""
