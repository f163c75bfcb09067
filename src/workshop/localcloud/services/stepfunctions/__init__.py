"""Step Functions: moto's ASL engine switched on and mended.

`engine.py` switches it on (execution names, the engine's own calls);
`api.py` serves TestState and ValidateStateMachineDefinition; `history.py`,
`task_tokens.py`, `integrations.py` and `distributed_map.py` mend what moto's
engine gets wrong, each registered in seams.py with its upstream note.
"""
