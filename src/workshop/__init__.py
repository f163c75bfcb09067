"""Security Orchestrator Workshop kit: local cloud, ASL tools, widgets, history, CLI."""

__version__ = "0.1.0"
