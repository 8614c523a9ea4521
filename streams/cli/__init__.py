"""The ``riskmon`` command: the composition root, the only place that wires every layer."""

from streams.cli.main import main

__all__ = ["main"]
