"""EventBridge: rule targets moto does not deliver to (`targets.py`) and schedules that fire (`schedules.py`)."""
